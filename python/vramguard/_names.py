"""Checkpoint names against the module's own paths. A checkpoint saved by an older library version names
some tensors as that version's module tree did: Qwen2.5-VL checkpoints saved before transformers 5 say
`model.layers.0...` and `visual.patch_embed...` where transformers 5's module has
`model.language_model.layers.0...` and `model.visual.patch_embed...`. transformers renames them as it
loads; apply() binds the checkpoint's tensors in place, so it must find the same parameters."""
from ._adapters import checkpoint_name


def _nests(path, name):
    """Whether module path `path` is checkpoint name `name` one or more levels deeper: the module wraps the
    checkpoint's tree (`model.visual.x` for `visual.x`), or inserts a level below its head
    (`model.language_model.layers.0.x` for `model.layers.0.x`)."""
    if path.endswith("." + name):
        return True
    head, _, rest = name.partition(".")
    return bool(rest) and path.startswith(head + ".") and path.endswith("." + rest) and len(path) > len(name) + 1


def module_paths(root, names):
    """For each checkpoint name, the path of the parameter or buffer of `root` that holds it: the same
    name where the module has it, else the one module path that nests it (see _nests). A name that matches
    no path, or several, maps to itself, for the caller's error to name; so does one whose only match
    another name already claims."""
    paths = {checkpoint_name(path) for path, _ in root.named_parameters()}
    paths |= {checkpoint_name(path) for path, _ in root.named_buffers()}
    mapped, claimed, unmatched = {}, set(), []
    for name in names:
        if name in paths:
            mapped[name] = name
            claimed.add(name)
        else:
            unmatched.append(name)
    free = sorted(paths - claimed)
    for name in unmatched:
        matches = [path for path in free if _nests(path, name)]
        mapped[name] = matches[0] if len(matches) == 1 and matches[0] not in claimed else name
        claimed.add(mapped[name])
    return mapped
