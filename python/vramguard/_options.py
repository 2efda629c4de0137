"""Keyword arguments -> the options the C++ runtime takes, with the CLI's names and meanings (vramguard
help load documents each). Sizes and caps may be given as numbers of bytes or as the CLI's text."""
import os


def _caps(value):
    """{0: "12GB", "cpu": "64GiB"} (accelerate's form) or "0=12GB,cpu=64GiB" -> the CLI's text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        return ",".join(f"{key}={_size(size)}" for key, size in value.items())
    return _size(value)


def _size(value):
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"a size must be a number of bytes or a text such as '4GB', not {value!r}")
    return str(value)


def runtime_options(strategy=None, *, config=None, max_memory=None, reserve=None, headroom=None, dtype=None,
                    simulate=None, tokens=None, batch=None, cpu_memory=None, pinned_memory=None, fallback=None,
                    options=None, unit_rules=None, slice_vocabulary=None, verify_data=False, extra_arguments=None):
    if strategy is not None and (not isinstance(strategy, str) or not strategy):
        raise TypeError(f"strategy must be a strategy's name, such as 'auto', not {strategy!r}")
    if isinstance(fallback, (list, tuple)):
        fallback = ",".join(fallback)
    return {
        "strategy": strategy,
        "config": os.fspath(config) if config is not None else None,
        "max_memory": _caps(max_memory),
        "reserve": _caps(reserve),
        "headroom": _size(headroom),
        "dtype": dtype,
        "simulate": simulate,
        "tokens": tokens,
        "batch": batch,
        "cpu_memory": _size(cpu_memory),
        "pinned_memory": _size(pinned_memory),
        "fallback": fallback,
        "strategy_options": {str(k): str(v) for k, v in (options or {}).items()},
        "unit_rules": unit_rules,
        "slice_vocabulary": _size(slice_vocabulary),
        "verify_data": bool(verify_data),
        "extra_arguments": [str(a) for a in (extra_arguments or [])],
    }
