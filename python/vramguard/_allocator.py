"""The CUDA caching allocator's settings must be in place before CUDA starts: expandable segments stop
fragmentation from turning free memory into out-of-memory errors (the seed's setting). Imported first,
vramguard sets them unless the user already chose; imported after CUDA started, it can only say so.
"""
import os
import sys

DEFAULT = "expandable_segments:True"
VARIABLES = ("PYTORCH_CUDA_ALLOC_CONF", "PYTORCH_ALLOC_CONF")


def allocator_setup():
    for name in VARIABLES:
        if os.environ.get(name):
            return {"settings": os.environ[name], "set_by": f"the user ({name})", "in_effect": True}
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_initialized():
        return {"settings": "", "set_by": "nobody",
                "in_effect": False,
                "note": f"CUDA had started before vramguard was imported: {DEFAULT} is not in effect; "
                        f"import vramguard first, or set PYTORCH_CUDA_ALLOC_CONF={DEFAULT}"}
    os.environ["PYTORCH_CUDA_ALLOC_CONF"] = DEFAULT
    return {"settings": DEFAULT, "set_by": "vramguard at import", "in_effect": True}
