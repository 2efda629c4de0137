"""Small torch.nn models written for the tests, and a safetensors writer: each test builds its own
checkpoint. A decoder laid out as transformers lays out Qwen2 (embeddings, a stack of blocks, norm, head),
and an MMDiT-like stack as diffusers lays out QwenImageTransformer2DModel (two input projections, blocks
that take and return both streams with keyword arguments, a norm and an output projection)."""
import json
import os
import struct

import torch
from torch import nn

_DTYPE_NAMES = {torch.float32: "F32", torch.bfloat16: "BF16", torch.float16: "F16", torch.int64: "I64"}


def save_safetensors(tensors, path):
    header, offset, blobs = {}, 0, []
    for name, tensor in tensors.items():
        data = tensor.detach().contiguous().cpu()
        raw = data.view(torch.uint8).numpy().tobytes() if data.dtype != torch.bfloat16 else data.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": _DTYPE_NAMES[data.dtype], "shape": list(data.shape), "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        blobs.append(raw)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)


def save_model(module, folder, config=None):
    """The module's weights as model.safetensors (with a config.json) in `folder`."""
    os.makedirs(folder, exist_ok=True)
    save_safetensors(dict(module.state_dict()), os.path.join(folder, "model.safetensors"))
    with open(os.path.join(folder, "config.json"), "w") as f:
        json.dump(config or {"architectures": [type(module).__name__]}, f)
    return folder


class Block(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.input_layernorm = nn.LayerNorm(width)
        self.q_proj = nn.Linear(width, width)
        self.k_proj = nn.Linear(width, width)
        self.v_proj = nn.Linear(width, width)
        self.o_proj = nn.Linear(width, width, bias=False)
        self.post_attention_layernorm = nn.LayerNorm(width)
        self.up_proj = nn.Linear(width, 4 * width, bias=False)
        self.down_proj = nn.Linear(4 * width, width, bias=False)

    def forward(self, x):
        h = self.input_layernorm(x)
        q, k, v = self.q_proj(h), self.k_proj(h), self.v_proj(h)
        scores = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1)
        x = x + self.o_proj(scores @ v)
        return x + self.down_proj(torch.nn.functional.gelu(self.up_proj(self.post_attention_layernorm(x))))


class DecoderInner(nn.Module):
    def __init__(self, vocabulary, width, layers):
        super().__init__()
        self.embed_tokens = nn.Embedding(vocabulary, width)
        self.layers = nn.ModuleList(Block(width) for _ in range(layers))
        self.norm = nn.LayerNorm(width)
        # Not in the checkpoint: made at construction, as transformers makes rotary frequencies.
        self.register_buffer("position_scale", torch.linspace(0.5, 1.5, width), persistent=False)


class Decoder(nn.Module):
    def __init__(self, vocabulary=96, width=48, layers=6):
        super().__init__()
        self.model = DecoderInner(vocabulary, width, layers)
        self.lm_head = nn.Linear(width, vocabulary, bias=False)

    def decoder(self):
        """Where the embedding, the layers and the norm are (a later module tree moves them)."""
        return self.model

    def forward(self, input_ids):
        inner = self.decoder()
        x = inner.embed_tokens(input_ids) * inner.position_scale
        for layer in inner.layers:
            x = layer(x)
        return self.lm_head(inner.norm(x))


class NewerDecoderInner(nn.Module):
    """A later version of Decoder's module tree: the decoder one level deeper, as transformers 5 moved
    Qwen2.5-VL's `model.layers` to `model.language_model.layers`. Checkpoints of Decoder load into it."""

    def __init__(self, vocabulary, width, layers):
        super().__init__()
        self.language_model = DecoderInner(vocabulary, width, layers)


class NewerDecoder(Decoder):
    def __init__(self, vocabulary=96, width=48, layers=6):
        super().__init__(vocabulary, width, layers)
        self.model = NewerDecoderInner(vocabulary, width, layers)

    def decoder(self):
        return self.model.language_model


class JointBlock(nn.Module):
    """Two streams that attend jointly, modulated by a time embedding; keyword arguments in, a tuple out."""

    def __init__(self, width):
        super().__init__()
        self.img_mod = nn.Linear(width, 2 * width)
        self.txt_mod = nn.Linear(width, 2 * width)
        self.img_qkv = nn.Linear(width, 3 * width)
        self.txt_qkv = nn.Linear(width, 3 * width)
        self.img_out = nn.Linear(width, width)
        self.txt_out = nn.Linear(width, width)
        self.img_mlp = nn.Sequential(nn.Linear(width, 2 * width), nn.GELU(), nn.Linear(2 * width, width))

    def forward(self, hidden_states, encoder_hidden_states, temb, rotary=None):
        img_shift, img_scale = self.img_mod(temb).unsqueeze(1).chunk(2, dim=-1)
        txt_shift, txt_scale = self.txt_mod(temb).unsqueeze(1).chunk(2, dim=-1)
        img = hidden_states * (1 + img_scale) + img_shift
        txt = encoder_hidden_states * (1 + txt_scale) + txt_shift
        if rotary is not None:
            img = img * rotary[0]
            txt = txt * rotary[1]
        q_i, k_i, v_i = self.img_qkv(img).chunk(3, dim=-1)
        q_t, k_t, v_t = self.txt_qkv(txt).chunk(3, dim=-1)
        q, k, v = torch.cat([q_t, q_i], 1), torch.cat([k_t, k_i], 1), torch.cat([v_t, v_i], 1)
        joint = torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1) @ v
        txt_len = encoder_hidden_states.shape[1]
        encoder_hidden_states = encoder_hidden_states + self.txt_out(joint[:, :txt_len])
        hidden_states = hidden_states + self.img_out(joint[:, txt_len:])
        hidden_states = hidden_states + self.img_mlp(hidden_states)
        return encoder_hidden_states, hidden_states


class Timesteps(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.linear_1 = nn.Linear(1, width)
        self.linear_2 = nn.Linear(width, width)

    def forward(self, timestep):
        return self.linear_2(torch.nn.functional.silu(self.linear_1(timestep[:, None])))


class JointTransformer(nn.Module):
    def __init__(self, in_channels=8, text_width=12, width=32, layers=5):
        super().__init__()
        self.time_text_embed = Timesteps(width)
        self.img_in = nn.Linear(in_channels, width)
        self.txt_in = nn.Linear(text_width, width)
        self.transformer_blocks = nn.ModuleList(JointBlock(width) for _ in range(layers))
        self.norm_out = nn.LayerNorm(width)
        self.proj_out = nn.Linear(width, in_channels)

    def forward(self, hidden_states, encoder_hidden_states=None, timestep=None):
        temb = self.time_text_embed(timestep)
        img, txt = self.img_in(hidden_states), self.txt_in(encoder_hidden_states)
        rotary = (torch.full_like(img[:1], 0.9), torch.full_like(txt[:1], 1.1))
        for block in self.transformer_blocks:
            txt, img = block(hidden_states=img, encoder_hidden_states=txt, temb=temb, rotary=rotary)
        return self.proj_out(self.norm_out(img))


def on_meta(factory):
    """The module built without memory for its weights, as init_empty_weights builds it (buffers real)."""
    module = factory()
    for sub in module.modules():
        for name, parameter in list(sub._parameters.items()):
            if parameter is not None:
                sub._parameters[name] = nn.Parameter(torch.empty_like(parameter, device="meta"), requires_grad=False)
    return module


class LoraLinear(nn.Module):
    """A LoRA layer as PEFT lays one out (vramguard needs no PEFT to run these tests): the adapted Linear
    as `base_layer`, per adapter a `lora_A`/`lora_B` pair and a scaling; `merge` adds B·A·scale to the
    base weight (in place, or into a new tensor with safe_merge, as PEFT does), `unmerge` takes it off."""

    def __init__(self, base):
        super().__init__()
        self.base_layer = base
        self.lora_A, self.lora_B = nn.ModuleDict(), nn.ModuleDict()
        self.scaling, self.active_adapters, self.merged_adapters = {}, [], []

    def add_adapter(self, name, rank, alpha, generator):
        weight = self.base_layer.weight  # adapters are made where the base weight is, as PEFT makes them
        a = nn.Linear(self.base_layer.in_features, rank, bias=False).to(weight.device)
        b = nn.Linear(rank, self.base_layer.out_features, bias=False).to(weight.device)
        with torch.no_grad():
            a.weight.copy_(torch.randn(a.weight.shape, generator=generator) * 0.2)
            b.weight.copy_(torch.randn(b.weight.shape, generator=generator) * 0.2)
        self.lora_A[name], self.lora_B[name] = a, b
        self.scaling[name] = alpha / rank
        self.active_adapters.append(name)

    def delta(self, name):
        return (self.lora_B[name].weight @ self.lora_A[name].weight) * self.scaling[name]

    def forward(self, x):
        y = self.base_layer(x)
        for name in self.active_adapters:
            if name not in self.merged_adapters:
                y = y + self.lora_B[name](self.lora_A[name](x)) * self.scaling[name]
        return y

    def merge(self, safe_merge=False, adapter_names=None):
        for name in adapter_names or self.active_adapters:
            if name in self.merged_adapters:
                continue
            with torch.no_grad():
                delta = self.delta(name).to(self.base_layer.weight.device)
                if safe_merge:
                    merged = self.base_layer.weight.data.clone()
                    merged += delta
                    self.base_layer.weight.data = merged
                else:
                    self.base_layer.weight.data += delta
            self.merged_adapters.append(name)

    def unmerge(self):
        while self.merged_adapters:
            with torch.no_grad():
                self.base_layer.weight.data -= self.delta(self.merged_adapters.pop()).to(self.base_layer.weight.device)


LORA_TARGETS = ("q_proj", "v_proj", "down_proj")


def add_lora(model, name="default", rank=4, alpha=8, seed=0):
    """A LoRA on every block's q, v and down projections (as load_lora_adapter adds one): the layers are
    wrapped the first time, later adapters join them."""
    generator = torch.Generator().manual_seed(seed)
    for block in model.model.layers:
        for target in LORA_TARGETS:
            layer = getattr(block, target)
            if not isinstance(layer, LoraLinear):
                layer = LoraLinear(layer)
                setattr(block, target, layer)
            layer.add_adapter(name, rank, alpha, generator)
    return model


def set_lora_scale(model, name, scale, alpha=8, rank=4):
    """set_adapters(name, scale): the adapter's scaling is alpha/rank times the weight given."""
    for module in model.modules():
        if isinstance(module, LoraLinear) and name in module.scaling:
            module.scaling[name] = scale * alpha / rank


class LoraDecoder(Decoder):
    """A Decoder with a model-level fuse_lora, as diffusers' models have: every LoRA layer merges."""

    def fuse_lora(self, safe_fusing=False):
        for module in self.modules():
            if isinstance(module, LoraLinear):
                module.merge(safe_merge=safe_fusing)
