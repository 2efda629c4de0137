"""Adapters on an applied module: the LoRA layers PEFT adds (diffusers' load_lora_weights and
load_lora_adapter, transformers' load_adapter, PEFT itself), before or after apply().

PEFT wraps each layer it adapts: `X` becomes a tuner layer whose `base_layer` is the original module
(the checkpoint's `X.weight` is then `X.base_layer.weight`) and whose adapter modules (`lora_A`,
`lora_B`...) hold the adapter's own weights. vramguard binds the checkpoint's weights into the base layer
as into any module, resident or streamed as the plan says. The adapters' weights are small and used at
every pass: they live on the device that executes their unit, and the plan counts them (adapter_memory,
on every GPU the model runs on). Fusing adds an adapter's product to its base weight: done in place where
the weight stays (a resident unit; done again after a reload), refused where it is streamed from the
checkpoint at every pass (nothing would keep the sum).
"""
import functools

import torch

from ._options import input_error


def is_tuner_layer(module):
    """PEFT's BaseTunerLayer, by what vramguard uses of it (PEFT is not needed to import vramguard)."""
    return isinstance(getattr(module, "base_layer", None), torch.nn.Module) and hasattr(module, "merged_adapters")


def base_module(module):
    """The module that holds `module`'s checkpoint weights: itself, or the base layer under PEFT's layers."""
    while is_tuner_layer(module):
        module = module.base_layer
    return module


def checkpoint_name(name):
    """A parameter's name as the checkpoint spells it: without PEFT's `base_layer` segments."""
    return ".".join(part for part in name.split(".") if part != "base_layer")


def own_parameters(layer):
    """A tuner layer's adapter weights: its parameters outside its base layer."""
    return [(name, p) for name, p in layer.named_parameters() if not name.startswith("base_layer.")]


def adapter_bytes_of(modules):
    """Bytes of the adapter weights held by tuner layers under `modules` (each counted once)."""
    seen, total = set(), 0
    for root in modules:
        for _, module in root.named_modules():
            if is_tuner_layer(module):
                for _, p in own_parameters(module):
                    if id(p) not in seen:
                        seen.add(id(p))
                        total += p.numel() * p.element_size()
    return total


class _Fused:
    """One adapter fused into one base weight, kept so that the sum can be made again after a reload
    (a fallback or a new plan reads the weight from the checkpoint): the adapter's factors on the CPU."""

    def __init__(self, path, layer, adapter):
        self.path, self.adapter = path, adapter
        self.factors = None
        use_dora = getattr(layer, "use_dora", {}).get(adapter, False)
        lora_a, lora_b = getattr(layer, "lora_A", {}), getattr(layer, "lora_B", {})
        if not use_dora and adapter in lora_a and adapter in lora_b and lora_a[adapter].weight.dim() == 2:
            self.factors = (lora_a[adapter].weight.detach().to("cpu", copy=True), lora_b[adapter].weight.detach().to("cpu", copy=True),
                            float(layer.scaling[adapter]), bool(getattr(layer, "fan_in_fan_out", False)))

    def add_to(self, weight):
        if self.factors is None:
            raise input_error(f"the adapter '{self.adapter}' fused into '{self.path}' cannot be fused again into the weights read anew "
                              "from the checkpoint (before apply's load, after a fallback or a new plan): vramguard makes plain LoRA sums "
                              "again, not DoRA's or a convolution's",
                              "keep this adapter unfused under vramguard (unfuse_lora() before apply)")
        a, b, scale, transposed = self.factors
        delta = (b.float() @ a.float()) * scale
        weight.add_((delta.T if transposed else delta).to(device=weight.device, dtype=weight.dtype))


class ComponentAdapters:
    """The adapters of one bound component: where their weights run, what they hold, what was fused."""

    def __init__(self, binding):
        self.binding = binding
        self.moved = {}  # id(parameter) -> (parameter, the device it was on before vramguard moved it)
        self.watched = set()  # ids of tuner layers whose merge and unmerge go through vramguard
        self.fused = []  # _Fused, in the order they were made

    # -- what is there -----------------------------------------------------------------------------
    def layers(self):
        return [(path, module) for path, module in self.binding.root.named_modules() if is_tuner_layer(module)]

    def adapter_ids(self):
        return {id(p) for _, layer in self.layers() for _, p in own_parameters(layer)}

    def unit_of(self, layer):
        return self.binding.unit_of_module.get(id(base_module(layer)))

    # -- at bind, and each step ----------------------------------------------------------------------
    def start(self, carried=()):
        """At bind, over the checkpoint's weights, fresh: the sums fused under an earlier plan of this model
        (`carried`) are made again, and so are those of layers fused before apply() (PEFT says merged, but
        the module's own weights that held the sums were replaced). Returns refresh()'s bytes."""
        self.fused = list(carried)
        self.fuse_again()
        return self.refresh(fresh=True)

    def refresh(self, fresh=False):
        """Before a step: watches new tuner layers, puts every adapter weight on its unit's device, and
        returns the bytes they hold on each GPU ({"cuda:0": bytes})."""
        held = {}
        first = self.binding.units[0] if self.binding.units else None
        for path, layer in self.layers():
            unit = self.unit_of(layer)
            if id(layer) not in self.watched:
                self._watch(path, layer)
            self._check_unseen_merges(path, layer, unit, fresh)
            unit = unit or first
            device = unit.device if unit is not None else torch.device("cpu")
            gpu = unit is not None and unit.executes_on.startswith("cuda")
            for name, p in own_parameters(layer):
                if p.is_meta:
                    raise input_error(f"the adapter weight '{path}.{name}' is on the meta device (the LoRA was loaded into a module "
                                      "built without weights)",
                                      "load the LoRA after apply(), or into a module built with real tensors")
                if p.device != device:
                    self.moved.setdefault(id(p), (p, p.device))
                    p.data = p.data.to(device)
                if gpu:
                    held[unit.executes_on] = held.get(unit.executes_on, 0) + p.numel() * p.element_size()
        return held

    def _check_unseen_merges(self, path, layer, unit, fresh):
        """A merge vramguard did not watch: made before apply() (`fresh`: the sum is not in the weights
        bound now, so it is made), or by PEFT directly on a layer loaded since the last step (made in
        place on the bound weights: kept)."""
        recorded = {f.adapter for f in self.fused if f.path == path}
        unseen = [_Fused(path, layer, a) for a in layer.merged_adapters if a not in recorded]
        if not unseen:
            return
        if unit is not None and unit.streamed:
            raise self._streamed_fuse_error(path, unit)
        if fresh:
            with torch.no_grad():
                for fused in unseen:
                    fused.add_to(base_module(layer).weight.data)
        else:
            self._keep_views(layer)
        self.fused.extend(unseen)

    # -- fusing ------------------------------------------------------------------------------------
    def _watch(self, path, layer):
        self.watched.add(id(layer))
        merge, unmerge = layer.merge, layer.unmerge

        @functools.wraps(merge)  # diffusers reads merge's signature for adapter_names
        def watched_merge(*args, **kwargs):
            unit = self.unit_of(layer)
            if unit is not None and unit.streamed:
                raise self._streamed_fuse_error(path, unit)
            before = list(layer.merged_adapters)
            result = merge(*args, **kwargs)
            self._keep_views(layer)
            self.fused.extend(_Fused(path, layer, a) for a in layer.merged_adapters if a not in before)
            return result

        @functools.wraps(unmerge)
        def watched_unmerge(*args, **kwargs):
            result = unmerge(*args, **kwargs)
            self._keep_views(layer)
            self.fused = [f for f in self.fused if f.path != path or f.adapter in layer.merged_adapters]
            return result

        self.binding.wrap(layer, "merge", watched_merge)
        self.binding.wrap(layer, "unmerge", watched_unmerge)

    def check_fusable(self):
        """Before a whole model fuses: every adapted layer's weights stay where they are."""
        for path, layer in self.layers():
            unit = self.unit_of(layer)
            if unit is not None and unit.streamed:
                raise self._streamed_fuse_error(path, unit)

    def _streamed_fuse_error(self, path, unit):
        return input_error(f"cannot fuse a LoRA into '{path}': its unit '{unit.name}' is streamed from the checkpoint at every pass, "
                           "so no copy of its weights would keep the sum",
                           "keep the LoRA unfused (it runs beside the weights, set_adapters scales it), or apply with a plan that "
                           "keeps this unit resident (a larger max_memory)")

    def _keep_views(self, layer):
        """A safe merge gives the base weight new memory: the sum goes back into the unit's own."""
        for slot in self.binding.slots_of_module.get(id(base_module(layer)), ()):
            if slot.bound is not None and slot.parameter is not None and slot.parameter.data.data_ptr() != slot.bound.data_ptr():
                slot.bound.copy_(slot.parameter.data)
                slot.parameter.data = slot.bound

    def fuse_again(self):
        """After a reload: the fused sums, made again in the fresh weights."""
        for fused in self.fused:
            layer = self.binding.root.get_submodule(fused.path) if fused.path else self.binding.root
            unit = self.unit_of(layer)
            if unit is not None and unit.streamed:
                raise input_error(f"the weights were read anew from the checkpoint (a fallback, or a new plan) and the unit "
                                  f"'{unit.name}' holding the LoRA fused into '{fused.path}' is now streamed, which cannot keep a fused sum",
                                  "keep the LoRA unfused (unfuse_lora()), or apply with more memory so that the plan keeps the unit resident")
            weight = base_module(layer).weight
            with torch.no_grad():
                fused.add_to(weight.data)

    # -- unloading ---------------------------------------------------------------------------------
    def release(self):
        """Unloaded, the module keeps nothing on the GPU that vramguard put there: adapter weights go back
        where they were, those made on the GPU after apply() to the CPU."""
        for _, layer in self.layers():
            for _, p in own_parameters(layer):
                home = self.moved.get(id(p), (p, torch.device("cpu")))[1]
                if not p.is_meta and p.device != home and p.device.type != "cpu":
                    p.data = p.data.to(home)
        self.moved.clear()
        self.watched.clear()
