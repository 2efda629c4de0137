"""How vramguard.apply() binds a component's modules to the session: each unit's parameters and buffers
become views of the memory the executor holds (bound once for a resident unit; for a streamed one, when
its call starts, and placeholders again when it ends), each call of a unit's module runs inside its unit
(a same-named subclass whose __call__ does it, so that torch.compile sees bound weights), and each
component method (forward, encode, decode) runs as one step of the session.
"""
import functools

import torch

from . import _vramguard
from ._adapters import ComponentAdapters, base_module, checkpoint_name
from ._names import module_paths
from ._options import in_python_terms, input_error

_DTYPES = {
    "BF16": torch.bfloat16, "F16": torch.float16, "F32": torch.float32, "F64": torch.float64,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U8": torch.uint8,
    "BOOL": torch.bool,
}
for _name, _attribute in (("F8_E4M3", "float8_e4m3fn"), ("F8_E5M2", "float8_e5m2")):
    if hasattr(torch, _attribute):
        _DTYPES[_name] = getattr(torch, _attribute)

# Component methods that run it as a whole: each call is one step (nested calls are part of it).
_STEP_METHODS = ("forward", "encode", "decode")
# Set in a module's __dict__ while it is applied: the session state of its binding.
_APPLIED = "_vramguard_applied"
# Set in a unit's module's __dict__ while it is applied: runs a call of the module inside the unit.
_UNIT_CALL = "_vramguard_unit_call"
_CALLING_CLASSES = {}


def _calling_class(cls):
    """`cls` with a __call__ that runs the module's own call (Module.__call__: hooks, forward, or the code
    torch.compile made of them) inside its unit: the weights bound before, placeholders again after.
    Around the call, not inside forward: regional compilation (diffusers' compile_repeated_blocks,
    module.compile()) compiles the module's own forward, sees only bound weights, and one graph serves
    every block of a stack."""
    calling = _CALLING_CLASSES.get(cls)
    if calling is None:
        def __call__(self, *args, **kwargs):
            return self.__dict__[_UNIT_CALL](super(calling, self).__call__, *args, **kwargs)


        calling = type(cls.__name__, (cls,), {"__call__": __call__, "__module__": cls.__module__, "__qualname__": cls.__qualname__,
                                               "_vramguard_original_class": cls})
        _CALLING_CLASSES[cls] = calling
    return calling


def _compiled_original(module):
    """The module torch.compile(module) wrapped, where `module` is such a wrapper (dynamo's OptimizedModule);
    None otherwise."""
    if type(module).__name__ == "OptimizedModule" and isinstance(getattr(module, "_orig_mod", None), torch.nn.Module):
        return module._orig_mod
    return None


def _to_device(value, device):
    """Moves the tensors in args/kwargs (nested in tuples, lists and dicts) to `device`."""
    if isinstance(value, torch.Tensor):
        return value if value.device == device or value.is_meta else value.to(device, non_blocking=True)
    if isinstance(value, tuple) and hasattr(value, "_fields"):  # a named tuple
        return type(value)(*(_to_device(v, device) for v in value))
    if isinstance(value, (tuple, list)):
        return type(value)(_to_device(v, device) for v in value)
    if isinstance(value, dict):
        return type(value)((k, _to_device(v, device)) for k, v in value.items())
    return value


class _Slot:
    """One tensor of a unit: where it lives in the module, and what it is."""

    def __init__(self, owner, leaf, is_buffer, name, path, shape, dtype):
        # name: the checkpoint's (the session's tensors go by it); path: the module's own
        self.owner, self.leaf, self.is_buffer, self.name, self.path = owner, leaf, is_buffer, name, path
        self.shape, self.dtype = tuple(shape), dtype
        self.parameter = None
        self.bound = None  # a resident unit's tensor: the unit's own memory, for good

    def bind(self, tensor):
        if self.is_buffer:
            self.owner._buffers[self.leaf] = tensor
        elif self.parameter is None:
            self.parameter = torch.nn.Parameter(tensor, requires_grad=False)
            self.owner._parameters[self.leaf] = self.parameter
        else:
            self.parameter.data = tensor

    def placeholder(self, device):
        # The right shape, dtype and device at no cost, for code that reads them between forwards;
        # reading its values gives zeros, never a stale slot.
        self.bind(torch.zeros((), dtype=self.dtype, device=device).expand(self.shape))

    def forget(self):
        """After unload: a meta tensor, so that any use fails instead of reading freed memory."""
        self.bound = None
        self.parameter = None  # a new Parameter: .data cannot change a tensor's device type
        self.bind(torch.empty(self.shape, dtype=self.dtype, device="meta"))


class _Unit:
    def __init__(self, index, info):
        self.index = index
        self.name = info["name"]
        self.module_name = info["slice_of"] or info["name"]  # as the checkpoint names it
        self.module_path = self.module_name  # as the module does (set once its tensors are found)
        self.mode = info["mode"]
        self.device = torch.device(info["device"])
        self.executes_on = info["executes_on"]  # the plan's device: "cuda:0" also where the CPU stands in for it
        self.streamed = info["mode"] == "streamed"
        self.slots = []
        self.target = None
        self.depth = 0
        self.scope = None


def _unloaded_error():
    error = _vramguard.Error("the model was unloaded\n  what to do: apply it again to run it")
    error.hint = "apply it again to run it"
    return error


def _unloaded_method():
    def unloaded(*args, **kwargs):
        raise _unloaded_error()

    unloaded._vramguard_unloaded = True
    return unloaded


class _ComponentBinding:
    """One component of the session bound into one torch module."""

    def __init__(self, session, name, root, state):
        self.session, self.name, self.root, self.state = session, name, root, state
        self.units = []
        self.wrapped = []  # (module, attribute, what was in its __dict__ or None)
        self.moved_buffers = []  # (module, name, the buffer as it was before it went to its unit's device)
        self.swapped = []  # (module, its own class), for the modules whose calls go through their unit
        self.in_step = False
        self.generation = None
        self.unit_of_module = {}  # id(module holding checkpoint weights) -> its unit
        self.slots_of_module = {}  # id(module holding checkpoint weights) -> its slots
        self.adapters = ComponentAdapters(self)
        self.adapter_bytes = {}  # what the adapters hold on each GPU, as of the last step

    # -- binding ----------------------------------------------------------------------------------
    def bind(self, fused=()):
        """Binds the component's units into the module; `fused`: the LoRA sums fused under an earlier plan."""
        if self.root.__dict__.get(_APPLIED) is not None and self.root.__dict__[_APPLIED].loaded:
            raise input_error(f"the module given for component '{self.name}' is already applied",
                               "unload its handle first (handle.unload()), or apply to a fresh module")
        for method in _STEP_METHODS:  # applied again after an unload: its own methods run again
            if getattr(self.root.__dict__.get(method), "_vramguard_unloaded", False):
                del self.root.__dict__[method]
        for module in self.root.modules():  # and so do its submodules
            if getattr(module.__dict__.get("forward"), "_vramguard_unloaded", False):
                del module.__dict__["forward"]
        infos = self.session.units(self.name)
        paths = module_paths(self.root, [tensor["name"] for info in infos for tensor in info["tensors"]])
        covered = set()
        for index, info in enumerate(infos):
            unit = _Unit(index, info)
            for tensor in info["tensors"]:
                slot = self._slot_for(tensor, paths[tensor["name"]])
                unit.slots.append(slot)
                self.unit_of_module[id(slot.owner)] = unit
                self.slots_of_module.setdefault(id(slot.owner), []).append(slot)
                covered.add(slot.path)
            unit.module_path = self._module_path_of(unit)
            unit.target = self._target_of(unit)
            self.units.append(unit)
        self._check_coverage(covered)
        self._place_other_buffers(covered)
        self._bind_all()
        self.adapter_bytes = self.adapters.start(fused)
        for unit in self.units:
            if unit.target is self.root:  # the whole component is one unit: inside its step
                self.wrap(self.root, "forward", functools.partial(self._unit_call(unit), self.root.forward))
            else:
                self._call_through(unit)
        for method in _STEP_METHODS:
            if callable(getattr(self.root, method, None)):
                self.wrap(self.root, method, self._step(method))
        if callable(getattr(self.root, "fuse_lora", None)):
            self.wrap(self.root, "fuse_lora", self._fuse_lora(self.root.fuse_lora))
        self.root.__dict__[_APPLIED] = self.state

    def _slot_for(self, tensor, path):
        """The slot of checkpoint tensor `tensor`, held in the module at `path` (its name, or the name the
        module's version gives it)."""
        name = tensor["name"]
        parent, _, leaf = path.rpartition(".")
        try:
            owner = base_module(self.root.get_submodule(parent) if parent else self.root)  # PEFT's X.base_layer.weight
        except AttributeError:
            owner = None
        if owner is None or (leaf not in owner._parameters and leaf not in owner._buffers):
            raise input_error(f"the module given for component '{self.name}' has no parameter or buffer '{name}', "
                               f"which the checkpoint holds",
                               "build the module from the same model's config (from_config / init_empty_weights), "
                               "or pass component= to say which component it is")
        dtype = _DTYPES.get(tensor["dtype"])
        if dtype is None:
            raise input_error(f"tensor '{name}' has dtype {tensor['dtype']}, which this torch cannot hold")
        current = owner._buffers[leaf] if leaf in owner._buffers else owner._parameters[leaf]
        if current is not None and current.dtype == torch.float64 and dtype != torch.float64:
            # A module made float64 means float64 compute: bound to the checkpoint's tensors it would mix
            # dtypes and fail inside torch.
            raise input_error(f"the module's '{name}' is float64, but the checkpoint's tensors load as {tensor['dtype']}",
                               "pass dtype='fp64' to apply() to load them as float64, or build the module in the "
                               "checkpoint's dtype (module.float(), module.to(torch.bfloat16))")
        if current is not None and tuple(current.shape) != tuple(tensor["shape"]):
            # What load_state_dict(strict=True) refuses: a module of another size would bind and fail
            # later inside torch, or silently run with the checkpoint's smaller tensor.
            raise input_error(f"the module's '{name}' has shape {list(current.shape)} but the checkpoint's is "
                               f"{list(tensor['shape'])}",
                               "build the module from the checkpoint's own config (the sizes differ)")
        return _Slot(owner, leaf, leaf in owner._buffers, name, path, tensor["shape"], dtype)

    @staticmethod
    def _module_path_of(unit):
        """The unit's module as the module names it: its checkpoint name, moved as its tensors' paths were."""
        for slot in unit.slots:
            if unit.module_name and slot.name.startswith(unit.module_name + "."):
                rest = slot.name[len(unit.module_name):]
                if slot.path.endswith(rest):
                    return slot.path[:-len(rest)]
        return unit.module_name

    def _target_of(self, unit):
        """The module whose forward uses the unit: its own, else the deepest one holding all its tensors."""
        try:
            return self.root.get_submodule(unit.module_path)
        except AttributeError:
            pass
        parents = [slot.path.rpartition(".")[0].split(".") for slot in unit.slots]
        common = []
        for parts in zip(*parents):
            if len(set(parts)) != 1:
                break
            common.append(parts[0])
        return self.root.get_submodule(".".join(common)) if common and common != [""] else self.root

    def _check_coverage(self, covered):
        adapters = self.adapters.adapter_ids()
        missing = [n for n, p in self.root.named_parameters() if id(p) not in adapters and checkpoint_name(n) not in covered]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise input_error(f"the module given for component '{self.name}' has parameters the checkpoint lacks: {shown}",
                               "the checkpoint and the module come from different models or versions")

    def _place_other_buffers(self, covered):
        """Buffers the checkpoint does not hold (rotary frequencies...) go where the unit using them runs."""
        first_device = self.units[0].device if self.units else torch.device("cpu")
        for name, buffer in list(self.root.named_buffers()):
            if name in covered or buffer is None:
                continue
            if buffer.is_meta:
                raise input_error(f"buffer '{name}' of component '{self.name}' is on the meta device and not in the checkpoint",
                                   "build the module with init_empty_weights(include_buffers=False), so that buffers computed "
                                   "at construction are real")
            device = first_device
            for unit in self.units:
                if unit.module_path and (name == unit.module_path or name.startswith(unit.module_path + ".")):
                    device = unit.device
                    break
            parent, _, leaf = name.rpartition(".")
            owner = self.root.get_submodule(parent) if parent else self.root
            moved = buffer.to(device)
            if moved is not buffer:
                self.moved_buffers.append((owner, leaf, buffer))
                owner._buffers[leaf] = moved

    def _bind_all(self):
        """Resident and CPU units: views of their blocks, for good. Streamed ones: placeholders."""
        self.generation = self.session.generation()
        for unit in self.units:
            if unit.streamed:
                for slot in unit.slots:
                    slot.placeholder(unit.device)
                continue
            scope = self.session.unit(self.name, unit.index)
            tensors = scope.tensors()
            scope.release()
            for slot in unit.slots:
                slot.bound = tensors[slot.name]
                slot.bind(slot.bound)

    # -- running ----------------------------------------------------------------------------------
    def _enter(self, unit):
        if unit.streamed and unit.depth == 0:
            unit.scope = self.session.unit(self.name, unit.index)
            tensors = unit.scope.tensors()
            for slot in unit.slots:
                slot.bind(tensors[slot.name])
        unit.depth += 1

    def _exit(self, unit):
        unit.depth -= 1
        if unit.depth == 0 and unit.scope is not None:
            for slot in unit.slots:
                slot.placeholder(unit.device)
            unit.scope.release()
            unit.scope = None

    def _release_all(self):
        for unit in self.units:
            if unit.scope is not None:
                unit.depth = 1
                self._exit(unit)
            unit.depth = 0

    def _unit_call(self, unit):
        """run(call, *args, **kwargs): `call` with the unit's weights bound and the inputs on its device."""

        def run(call, *args, **kwargs):
            with self.state.lock:
                if not self.state.loaded:
                    raise _unloaded_error()
                self._enter(unit)
                try:
                    args, kwargs = _to_device((args, kwargs), unit.device)
                    return call(*args, **kwargs)
                finally:
                    self._exit(unit)

        return run

    def _call_through(self, unit):
        """Calls of the unit's module go through the unit: its class becomes one whose __call__ binds the
        weights around the module's own call (see _calling_class)."""
        target = unit.target
        if type(target).__dict__.get("_vramguard_original_class") is not None:
            raise input_error(f"module '{unit.module_path}' of component '{self.name}' runs two units", "give each unit its own module")
        target.__dict__[_UNIT_CALL] = self._unit_call(unit)
        self.swapped.append((target, type(target)))
        target.__class__ = _calling_class(type(target))

    def _step(self, method):
        original = getattr(self.root, method)

        def run(*args, **kwargs):
            with self.state.lock:
                if not self.state.loaded:
                    raise _unloaded_error()
                if self.in_step:
                    return original(*args, **kwargs)
                result = []

                def body():
                    # A fallback reloaded the model (here or in another component): resident views moved,
                    # the weights are the checkpoint's again, and units may run elsewhere.
                    if self.session.generation() != self.generation:
                        self._bind_all()
                        self.adapters.fuse_again()
                        self.adapters.refresh()
                    self.in_step = True
                    try:
                        result.append(original(*args, **kwargs))
                    finally:
                        self.in_step = False
                        self._release_all()

                self._refuse_compiled_wrappers()
                self.adapter_bytes = self.adapters.refresh()
                outgrown = self.state.adapters_outgrow_budget()
                if outgrown is not None:
                    self.state.plan_again(outgrown)
                    return getattr(self.root, method)(*args, **kwargs)  # the new binding's step
                try:
                    self.session.step(self.name, body)
                except _vramguard.Error as error:
                    raise in_python_terms(error) from None
                return result[-1]

        return run

    def _refuse_compiled_wrappers(self):
        """A streamed unit's module wrapped as torch.compile(block) (what mmgp and many scripts do) cannot
        run: the wrapper's compiled code fixes the weights it saw at its first call, and a streamed unit's
        weights are a different slot at every call (torch fails with "expected size ..., stride ..."). In
        place, module.compile() compiles the block's own call inside the binding and works: say so."""
        streamed = {id(unit.target): unit for unit in self.units if unit.streamed and unit.target is not None}
        if not streamed:
            return
        for path, module in self.root.named_modules():
            original = _compiled_original(module)
            if original is None:
                continue
            for inner_path, inner in original.named_modules():
                unit = streamed.get(id(inner))
                if unit is not None:
                    wrapped = path + (("." + inner_path) if inner_path else "")
                    raise input_error(
                        f"'{path}' of component '{self.name}' is wrapped by torch.compile(), and it runs the streamed unit "
                        f"'{unit.name}' ('{wrapped}'): the wrapper's compiled code keeps the weights it saw first, while a "
                        "streamed unit's weights come to a different slot at every call",
                        f"compile the blocks in place instead: {path}.compile() for each (or diffusers' "
                        "compile_repeated_blocks()), or torch.compile() the whole model; a strategy that keeps "
                        "the block resident works with the wrapper too")

    def _fuse_lora(self, original):
        """The model's fuse_lora (diffusers'), refused as a whole before any layer fuses where one would
        fuse into a streamed unit: a half-fused model is worse than none."""

        @functools.wraps(original)
        def fuse_lora(*args, **kwargs):
            with self.state.lock:
                self._refuse_compiled_wrappers()
                self.adapter_bytes = self.adapters.refresh()
                self.adapters.check_fusable()
                return original(*args, **kwargs)

        return fuse_lora

    def wrap(self, module, attribute, replacement):
        self.wrapped.append((module, attribute, module.__dict__.get(attribute)))
        setattr(module, attribute, replacement)

    # -- unloading --------------------------------------------------------------------------------
    def unbind(self):
        self._release_all()
        self.adapters.release()
        for module, attribute, previous in reversed(self.wrapped):
            if previous is None:
                module.__dict__.pop(attribute, None)
            else:
                setattr(module, attribute, previous)
        self.wrapped.clear()
        for module, original in reversed(self.swapped):
            module.__class__ = original
            module.__dict__.pop(_UNIT_CALL, None)
        self.swapped.clear()
        self.root.__dict__.pop(_APPLIED, None)
        # Called after unload, the module says so instead of failing inside torch on its meta weights.
        for method in _STEP_METHODS:
            if callable(getattr(self.root, method, None)):
                self.root.__dict__[method] = _unloaded_method()
        for unit in self.units:
            for slot in unit.slots:
                slot.forget()
                # A submodule called after unload says so too, instead of failing on its meta weights.
                if "forward" not in slot.owner.__dict__:
                    slot.owner.__dict__["forward"] = _unloaded_method()
        # Buffers the checkpoint does not hold go back where they were: unloaded, the model keeps nothing
        # on the GPU that vramguard put there.
        for owner, leaf, original in reversed(self.moved_buffers):
            owner._buffers[leaf] = original
        self.moved_buffers.clear()
