"""vramguard.apply(): a torch module, a transformers model or a diffusers pipeline, with its weights
loaded from the checkpoint through the memory guard and run by the streaming executor.

How it works: the C++ session plans and loads the checkpoint (the fallback ladder included). Each
unit (a block of a stack, the embeddings, the head...) is a submodule of the user's object; its
parameters become views of the memory the executor holds (_binding.py says how). Each component's
forward (and a VAE's encode/decode) runs as one step of the session: its activations are accounted
for, and a CUDA out-of-memory in it makes the guard fall back to the next strategy and run it again.
Inference only: weights never require grad.
"""
import json
import logging
import os
import threading

import torch

from . import _vramguard
from ._adapters import adapter_bytes_of
from ._binding import _ComponentBinding, _unloaded_error
from ._logging import LoadProgress, sync_level
from ._options import check_keywords, format_bytes, in_python_terms, input_error, runtime_options, size_bytes


class _SessionState:
    """What every binding of one session shares: the session and the bindings; one lock, so that calls
    from several threads run one at a time (a session has one window of slots: two steps at once would
    overwrite each other's weights) and unload waits for the call running; whether it is still loaded;
    and what opening it took, to plan it again when adapters loaded after apply() outgrow its budget."""

    def __init__(self, model_path, options, modules):
        self.lock = threading.RLock()
        self.loaded = False
        self.model_path, self.options, self.modules = model_path, options, modules
        self.session = None
        self.bindings = []
        self.adapter_budget_bytes = 0  # what the plan keeps on each GPU for adapters

    def open(self, adapter_bytes, fused=None):
        """Opens the session with `adapter_bytes` kept for adapters and binds every component's module
        (`fused`: by component, the LoRA sums fused under the plan this one replaces)."""
        options = dict(self.options)
        given = size_bytes(options.get("adapter_memory"))
        self.adapter_budget_bytes = max(given, adapter_bytes)
        options["adapter_memory"] = str(self.adapter_budget_bytes) if self.adapter_budget_bytes else None
        sync_level()
        progress = LoadProgress("vramguard: loading " + os.path.basename(self.model_path.rstrip("/")))
        try:
            self.session = _vramguard.Session.open(self.model_path, options, progress)
        except _vramguard.Error as error:
            raise in_python_terms(error) from None
        finally:
            progress.close()
        self.loaded = True
        try:
            for name, module in self.modules(self.session.components()).items():
                binding = _ComponentBinding(self.session, name, module, self)
                self.bindings.append(binding)
                binding.bind((fused or {}).get(name, ()))
        except BaseException:
            self.close()
            raise

    def close(self, for_good=True):
        self.loaded = False
        for binding in self.bindings:
            binding.unbind()
        self.bindings = []
        if self.session is not None:
            self.session.unload()
        if for_good:
            self.modules = None  # the handle keeps no module alive once unloaded

    def adapters_outgrow_budget(self):
        held = {}
        for binding in self.bindings:
            for device, size in binding.adapter_bytes.items():
                held[device] = held.get(device, 0) + size
        needed = max(held.values(), default=0)
        return needed if needed > self.adapter_budget_bytes else None

    def plan_again(self, adapter_bytes):
        """Adapters loaded after apply() hold more than the plan kept for them: the model is planned and
        loaded again with them counted (the old plan's memory freed first: the cap holds throughout)."""
        logging.getLogger("vramguard").warning(
            "the adapters loaded after apply() hold %s on a GPU, more than the %s the plan kept for them: planning and "
            "loading the model again with them counted (pass adapter_memory= to apply() to keep room ahead)",
            format_bytes(adapter_bytes), format_bytes(self.adapter_budget_bytes))
        fused = {binding.name: binding.adapters.fused for binding in self.bindings}
        self.close(for_good=False)
        try:
            self.open(adapter_bytes, fused)
        except BaseException:
            self.modules = None
            raise


def _component_modules(obj, names, component):
    """Which torch module runs which component of the checkpoint."""
    if component is not None:
        if component not in names:
            raise input_error(f"the model has no component '{component}'", "its components: " + ", ".join(names))
        return {component: obj}
    if isinstance(obj, torch.nn.Module):
        if len(names) == 1:
            return {names[0]: obj}
        raise input_error(f"the model has {len(names)} components ({', '.join(names)}) and one module was given",
                           "give the pipeline, or the component's own folder, or component=NAME")
    modules = {}
    for name in names:
        module = getattr(obj, name, None)
        if not isinstance(module, torch.nn.Module):
            raise input_error(f"the object given has no torch module '{name}', a component of the model",
                               "give the pipeline the checkpoint belongs to")
        modules[name] = module
    return modules


class Handle:
    """What apply() loaded: report() says what happened and what each step cost; unload() frees every
    byte (also on leaving a `with` block)."""

    def __init__(self, state):
        self._state = state

    @property
    def _loaded(self):
        return self._state.loaded

    @property
    def _session(self):
        if not self._loaded:
            raise _unloaded_error()
        return self._state.session

    @property
    def strategy(self):
        return self._session.strategy()

    def units(self, component=None):
        """Each unit: name, mode (resident, streamed, cpu), executing device and bytes."""
        session = self._session
        names = [component] if component else session.components()
        return [{"component": c, **{k: u[k] for k in ("name", "mode", "device", "bytes")}}
                for c in names for u in session.units(c)]

    def adapters(self):
        """What adapters (LoRA weights) hold on each GPU now, by component, and what the plan keeps for
        them: {"planned_bytes": per GPU, "components": {"transformer": {"cuda:0": bytes}}}."""
        with self._state.lock:
            return {"planned_bytes": self._state.adapter_budget_bytes,
                    "components": {b.name: b.adapters.refresh() for b in self._state.bindings}}

    def report(self):
        """The guard's report (attempts, load figures, peaks, after_unload once unloaded), each step and
        a per-component summary (steps, median and total seconds, bytes streamed per step), what was done
        about the allocator settings, and the adapters (adapters())."""
        from . import allocator
        document = json.loads(self._state.session.report_json())
        document["python"] = {"allocator": allocator(), "model": self._state.model_path}
        if self._loaded:
            document["python"]["adapters"] = self.adapters()
        return document

    def unload(self):
        # Waits for a call running in another thread: its weights are freed only once it is done.
        with self._state.lock:
            if self._loaded:
                self._state.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.unload()
        return False

    def __repr__(self):
        state = f"strategy {self.strategy}" if self._loaded else "unloaded"
        return f"<vramguard.Handle {self._state.model_path}: {state}>"


def checkpoint_of(obj):
    """Where `obj` was loaded from, as diffusers and transformers record it: a pipeline's `name_or_path`,
    a model's `config._name_or_path` (an attribute, or a key of diffusers' dict-like config). None when
    it does not say (a module built by hand, or from a config alone)."""
    candidates = [getattr(obj, "name_or_path", None)]
    config = getattr(obj, "config", None)
    if config is not None:
        candidates.append(getattr(config, "_name_or_path", None))
        if isinstance(config, dict):
            candidates.append(config.get("_name_or_path"))
    for candidate in candidates:
        if isinstance(candidate, (str, os.PathLike)) and os.fspath(candidate):
            return os.fspath(candidate)
    return None


def apply(obj, model_path=None, strategy=None, *, config=None, max_memory=None, reserve=None, component=None, **kwargs):
    """Loads the checkpoint's weights into `obj` through the memory guard and makes it run under the plan.

    `obj`: a torch module, a transformers model or a diffusers pipeline, built on the meta device
    (from_config under accelerate.init_empty_weights, or device_map="meta") or normally (its own weights
    are replaced). `model_path`: the checkpoint (a folder, a file, or org/name from the Hugging Face
    cache); by default the one `obj` says it came from (a pipeline's name_or_path, a model's
    config._name_or_path). `strategy` is the first the guard tries (default: the config's, else auto;
    the fallback ladder follows). A pipeline's components are matched by name with the checkpoint's;
    `component=` names the one component a lone module is. Options are the CLI's (vramguard help load):
    config, max_memory ({0: "12GB"} or "0=12GB"), reserve, dtype, simulate, tokens, batch, job (passes
    per component in one call of a pipeline: {"text_encoder": 2, "transformer": 16, "vae": 2}), fallback,
    options (strategy options), headroom, cpu_memory, pinned_memory, verify_data, settings; adapter_memory
    keeps room on each GPU for adapters loaded later (those loaded already are counted by themselves).

    Returns (obj, handle): obj ready to call, the handle to report and unload. Raises InputError,
    OutOfMemory (nothing fits; the message says what would) or PluginError; TypeError for a keyword it
    does not take."""
    check_keywords("apply", kwargs, ("obj", "model_path", "strategy", "component"))
    if model_path is None:
        model_path = checkpoint_of(obj)
        if model_path is None:
            raise input_error(f"apply(): the {type(obj).__name__} does not say which checkpoint it came from (no name_or_path, "
                              "no config._name_or_path)", "pass model_path=: the checkpoint's folder, file or Hugging Face id")
    kwargs.setdefault("slice_vocabulary", 0)  # a torch module holds each weight whole
    options = runtime_options(strategy, config=config, max_memory=max_memory, reserve=reserve, **kwargs)
    # Adapters already loaded (a LoRA before apply) are planned for; those loaded later are counted at
    # the next step, and planned for anew if they outgrow what was kept.
    state = _SessionState(os.fspath(model_path), options, lambda names: _component_modules(obj, names, component))
    state.open(adapter_bytes_of([obj] if isinstance(obj, torch.nn.Module) else
                                [m for m in vars(obj).values() if isinstance(m, torch.nn.Module)]))
    return obj, Handle(state)
