"""Where one full-size MMDiT block's time goes (issue 27: the compute-bound step).

One GPU, PyTorch only: one Qwen-Image block (3,072 wide, 24 heads of 128, MLP 12,288, bf16, random
weights) over an edit's tokens, written op for op as the native transformer runs it
(architectures/qwenimage_transformer), timed with CUDA events (median of 20 after 5 warm-ups):
  - the whole block, and with the attention on each SDPA backend the GPU has;
  - its parts: the Linears alone, the attention alone (per backend), the q/k norms with the rotary
    embedding (eager, as the native code does it, and as one torch.compile'd region: what fusing them
    can save), the modulations and gated residuals;
  - a memory-bound reference: one copy of the image stream's q.

  python3 block_breakdown.py [IMAGE_TOKENS] [TEXT_TOKENS] [BATCH]

Prints one JSON object.
"""
import json
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

IMAGE_TOKENS = int(sys.argv[1]) if len(sys.argv) > 1 else 8192
TEXT_TOKENS = int(sys.argv[2]) if len(sys.argv) > 2 else 1659
BATCH = int(sys.argv[3]) if len(sys.argv) > 3 else 1
WIDTH, MLP, HEADS, HEAD_DIM = 3072, 12288, 24, 128
dev = torch.device("cuda:0")
bf16 = torch.bfloat16
torch.manual_seed(0)


def weight(out_features, in_features):
    return (torch.randn(out_features, in_features, device=dev) * 0.02).to(bf16), torch.zeros(out_features, device=dev,
                                                                                           dtype=bf16)


W = {name: weight(*shape) for name, shape in {
    "img_mod": (6 * WIDTH, WIDTH), "txt_mod": (6 * WIDTH, WIDTH),
    "to_q": (WIDTH, WIDTH), "to_k": (WIDTH, WIDTH), "to_v": (WIDTH, WIDTH),
    "add_q": (WIDTH, WIDTH), "add_k": (WIDTH, WIDTH), "add_v": (WIDTH, WIDTH),
    "to_out": (WIDTH, WIDTH), "to_add_out": (WIDTH, WIDTH),
    "img_up": (MLP, WIDTH), "img_down": (WIDTH, MLP), "txt_up": (MLP, WIDTH), "txt_down": (WIDTH, MLP)}.items()}
NORM = {n: torch.ones(HEAD_DIM, device=dev, dtype=bf16) for n in ("q", "k", "aq", "ak")}


def linear(name, x):
    return F.linear(x, *W[name])


def rms_norm(x, w):  # as the native rms_norm
    h = x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-6)
    return h.to(w.dtype) * w


def rotate(x, cos, sin):  # as the native rotate: pairs (2k, 2k+1) by angle k, in float32
    pairs = x.float().reshape(*x.shape[:-1], -1, 2)
    re, im = pairs[..., 0], pairs[..., 1]
    c, s = cos.unsqueeze(1), sin.unsqueeze(1)
    return torch.stack([re * c - im * s, re * s + im * c], -1).flatten(-2).to(x.dtype)


def modulate(x, shift, scale):
    return F.layer_norm(x, (x.shape[-1],), eps=1e-6) * (1 + scale) + shift


angles_img = torch.rand(IMAGE_TOKENS, HEAD_DIM // 2, device=dev) * 6
angles_txt = torch.rand(TEXT_TOKENS, HEAD_DIM // 2, device=dev) * 6
ROPE = (angles_img.cos(), angles_img.sin(), angles_txt.cos(), angles_txt.sin())

image = torch.randn(BATCH, IMAGE_TOKENS, WIDTH, device=dev, dtype=bf16)
text = torch.randn(BATCH, TEXT_TOKENS, WIDTH, device=dev, dtype=bf16)
temb = torch.randn(BATCH, WIDTH, device=dev, dtype=bf16)


def heads(name, x):
    return linear(name, x).view(x.shape[0], x.shape[1], HEADS, HEAD_DIM)


def norm_rope(iq, ik, tq, tk):
    iq, ik = rms_norm(iq, NORM["q"]), rms_norm(ik, NORM["k"])
    tq, tk = rms_norm(tq, NORM["aq"]), rms_norm(tk, NORM["ak"])
    iq, ik = rotate(iq, ROPE[0], ROPE[1]), rotate(ik, ROPE[0], ROPE[1])
    tq, tk = rotate(tq, ROPE[2], ROPE[3]), rotate(tk, ROPE[2], ROPE[3])
    return torch.cat([tq, iq], 1), torch.cat([tk, ik], 1)


norm_rope_compiled = torch.compile(norm_rope, dynamic=False)


def block(attention, norm_rope_fn=norm_rope):
    im = linear("img_mod", F.silu(temb)).unsqueeze(1).chunk(6, -1)
    tm = linear("txt_mod", F.silu(temb)).unsqueeze(1).chunk(6, -1)
    image_in, text_in = modulate(image, im[0], im[1]), modulate(text, tm[0], tm[1])
    q, k = norm_rope_fn(heads("to_q", image_in), heads("to_k", image_in), heads("add_q", text_in),
                        heads("add_k", text_in))
    v = torch.cat([heads("add_v", text_in), heads("to_v", image_in)], 1)
    joint = attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2)).transpose(1, 2).flatten(2)
    text_out = linear("to_add_out", joint[:, :TEXT_TOKENS].contiguous())
    image_out = linear("to_out", joint[:, TEXT_TOKENS:].contiguous())
    img = image + im[2] * image_out
    txt = text + tm[2] * text_out
    img = img + im[5] * linear("img_down", F.gelu(linear("img_up", modulate(img, im[3], im[4])), approximate="tanh"))
    txt = txt + tm[5] * linear("txt_down", F.gelu(linear("txt_up", modulate(txt, tm[3], tm[4])), approximate="tanh"))
    return img, txt


def sdpa_on(backend):
    def run(q, k, v):
        with sdpa_kernel([backend]):
            return F.scaled_dot_product_attention(q, k, v)
    return run


def timed(fn, repeats=20, warm=5):
    for _ in range(warm):
        fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(repeats):
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return round(statistics.median(times), 4)


def linears_only():
    x_img = image
    x_txt = text
    linear("img_mod", temb), linear("txt_mod", temb)
    for n in ("to_q", "to_k", "to_v", "to_out"):
        linear(n, x_img)
    for n in ("add_q", "add_k", "add_v", "to_add_out"):
        linear(n, x_txt)
    linear("img_down", linear("img_up", x_img))
    linear("txt_down", linear("txt_up", x_txt))


result = {"gpu": torch.cuda.get_device_name(0), "torch": torch.__version__, "image_tokens": IMAGE_TOKENS,
          "text_tokens": TEXT_TOKENS, "batch": BATCH, "ms": {}}
ms = result["ms"]
backends = {"flash": SDPBackend.FLASH_ATTENTION, "cudnn": SDPBackend.CUDNN_ATTENTION,
            "efficient": SDPBackend.EFFICIENT_ATTENTION}
tokens = IMAGE_TOKENS + TEXT_TOKENS
qkv = [torch.randn(BATCH, tokens, HEADS, HEAD_DIM, device=dev, dtype=bf16).transpose(1, 2) for _ in range(3)]
flops = 4 * BATCH * HEADS * tokens * tokens * HEAD_DIM
with torch.no_grad():
    default_out = F.scaled_dot_product_attention(*qkv)
    for name, backend in backends.items():
        try:
            out = sdpa_on(backend)(*qkv)
            ms["attention_" + name] = timed(lambda: sdpa_on(backend)(*qkv))
            result.setdefault("attention_tflops", {})[name] = round(flops / ms["attention_" + name] / 1e9, 1)
            result.setdefault("attention_max_abs_diff_vs_default", {})[name] = (out - default_out).abs().max().item()
        except RuntimeError as e:
            result.setdefault("attention_unavailable", {})[name] = str(e).splitlines()[0][:200]
    ms["attention_default"] = timed(lambda: F.scaled_dot_product_attention(*qkv))
    ms["linears"] = timed(linears_only)
    iq = heads("to_q", image)
    parts = (iq, heads("to_k", image), heads("add_q", text), heads("add_k", text))
    ms["norm_rope_eager"] = timed(lambda: norm_rope(*parts))
    try:
        ms["norm_rope_compiled"] = timed(lambda: norm_rope_compiled(*parts))
        a, b = norm_rope(*parts), norm_rope_compiled(*parts)
        result["norm_rope_compiled_max_abs_diff"] = max((a[0] - b[0]).abs().max().item(), (a[1] - b[1]).abs().max().item())
    except Exception as e:  # noqa: BLE001 - a reference only; say why it is missing
        result["norm_rope_compiled_unavailable"] = str(e).splitlines()[0][:200]
    ms["copy_image_q"] = timed(lambda: iq.clone())
    im = linear("img_mod", F.silu(temb)).unsqueeze(1).chunk(6, -1)
    ms["modulate_image_eager"] = timed(lambda: modulate(image, im[0], im[1]))
    ms["modulate_image_addcmul"] = timed(
        lambda: torch.addcmul(im[0], F.layer_norm(image, (WIDTH,), eps=1e-6), 1 + im[1]))
    ms["gated_add_image_eager"] = timed(lambda: image + im[2] * image)
    ms["gated_add_image_addcmul"] = timed(lambda: torch.addcmul(image, im[2], image))
    ms["gelu_image_mlp"] = timed(lambda: F.gelu(torch.empty(BATCH, IMAGE_TOKENS, MLP, device=dev, dtype=bf16),
                                                approximate="tanh"))
    ms["block_default"] = timed(lambda: block(F.scaled_dot_product_attention))
    for name, backend in backends.items():
        if "attention_" + name in ms:
            ms["block_" + name] = timed(lambda: block(sdpa_on(backend)))
    if "norm_rope_compiled" in ms:
        ms["block_default_norm_rope_compiled"] = timed(lambda: block(F.scaled_dot_product_attention, norm_rope_compiled))
        if "attention_cudnn" in ms:
            ms["block_cudnn_norm_rope_compiled"] = timed(lambda: block(sdpa_on(SDPBackend.CUDNN_ATTENTION),
                                                                       norm_rope_compiled))
print(json.dumps(result, indent=1))
