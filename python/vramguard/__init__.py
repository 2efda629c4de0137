"""vramguard for PyTorch users: plans, the memory guard and the streaming executor, in one line.

    import vramguard                      # first: sets the CUDA allocator up before CUDA starts
    plan = vramguard.plan("Qwen/Qwen-Image-Edit", config="configs/rtx4080-16gb.ini")
    print(plan.explain())
    pipe, handle = vramguard.apply(pipe, "Qwen/Qwen-Image-Edit", config="configs/rtx4080-16gb.ini")
    image = pipe(...)                     # every unit is on its device when its forward runs
    print(handle.report()["components"])
    handle.unload()

The C++ host does the work (the same strategy plugins, guard and executor as the `vramguard` CLI);
this package is a thin layer over it. docs/python.md is the guide.
"""
from ._allocator import allocator_setup as _allocator_setup

# Before anything imports torch's CUDA side: the seed's expandable segments, unless the user chose.
_ALLOCATOR = _allocator_setup()

import torch  # noqa: E402,F401  (the extension's tensors are torch's: torch is loaded first)

from ._vramguard import Error, InputError, OutOfMemory, PluginError  # noqa: E402
from ._logging import disable_progress_bar, enable_progress_bar, get_verbosity, set_verbosity  # noqa: E402
from ._plan import Plan, plan  # noqa: E402
from ._apply import Handle, apply  # noqa: E402

__all__ = ["plan", "apply", "Plan", "Handle", "Error", "InputError", "OutOfMemory", "PluginError", "allocator",
           "set_verbosity", "get_verbosity", "disable_progress_bar", "enable_progress_bar"]


def allocator():
    """What vramguard did about PyTorch's CUDA allocator settings at import, and what is in effect."""
    return dict(_ALLOCATOR)
