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

from ._version import __version__  # noqa: E402
from ._vramguard import Error, InputError, OutOfMemory, PluginError  # noqa: E402
from ._logging import disable_progress_bar, enable_progress_bar, get_verbosity, set_verbosity  # noqa: E402
from ._plan import Plan, plan  # noqa: E402
from ._apply import Handle, apply  # noqa: E402
from ._vramguard import format_bytes, parse_byte_size  # noqa: E402  (the CLI's: "12GB" -> bytes -> "12.00 GB (11.18 GiB)")

__all__ = ["plan", "apply", "Plan", "Handle", "Error", "InputError", "OutOfMemory", "PluginError", "allocator",
           "set_verbosity", "get_verbosity", "disable_progress_bar", "enable_progress_bar", "config_path", "format_bytes",
           "parse_byte_size", "__version__"]


def allocator():
    """What vramguard did about PyTorch's CUDA allocator settings at import, and what is in effect."""
    return dict(_ALLOCATOR)


def config_path(name):
    """The path of a ready config shipped with the package: config_path("rtx4080-16gb") is the seed's
    (balanced, 0=12GB, 4 GB kept free, bf16); "h100-80gb", "two-gpus", "cpu-planning" the others."""
    import os
    folder = os.path.join(os.path.dirname(__file__), "configs")
    names = sorted(n[:-4] for n in os.listdir(folder) if n.endswith(".ini")) if os.path.isdir(folder) else []
    stem = name[:-4] if name.endswith(".ini") else name
    if stem not in names:
        import difflib
        near = difflib.get_close_matches(stem, names, n=1)
        from ._options import input_error
        raise input_error(f"no config {name!r} ships with vramguard" + (f" (did you mean {near[0]!r}?)" if near else ""),
                          f"one of: {', '.join(names)}; or pass your own file as config=")
    return os.path.join(folder, stem + ".ini")
