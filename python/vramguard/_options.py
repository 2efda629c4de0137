"""Keyword arguments -> the options the C++ runtime takes, with the CLI's names and meanings (vramguard
help load documents each). Sizes and caps may be given as numbers of bytes or as the CLI's text."""
import os


def _caps(value, name):
    """{0: "12GB", "cpu": "64GiB"} (accelerate's form) or "0=12GB,cpu=64GiB" -> the CLI's text."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, dict):
        for key in value:
            if isinstance(key, bool) or not isinstance(key, (int, str)) or "," in str(key) or "=" in str(key):
                raise TypeError(f"{name} keys are GPU indices or 'cpu', not {key!r}")
        # Each value is one size: a text holding ',' or '=' would add caps of its own to the list.
        return ",".join(f"{key}={_size(size, f'{name}[{key!r}]')}" for key, size in value.items())
    return _size(value, name)


def _size(value, name="a size"):
    if value is None:
        return value
    if isinstance(value, str):
        if "," in value or "=" in value:
            raise ValueError(f"{name} must be one size such as '4GB', not {value!r}")
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{name} must be a number of bytes or a text such as '4GB', not {value!r}")
    return str(value)


def _settings(settings):
    """Any other `vramguard load` option by name: {"max_attempts": 2, "plugin_dir": [a, b]} -> name/value pairs."""
    if settings is None:
        return []
    if not isinstance(settings, dict):
        raise TypeError(f"settings must be a dict of option names to values, such as {{'max_attempts': 2}}, not {settings!r}")
    pairs = []
    for name, value in settings.items():
        values = value if isinstance(value, (list, tuple)) else [value]
        for v in values:
            pairs.append((str(name), ("true" if v else "false") if isinstance(v, bool) else str(v)))
    return pairs


def runtime_options(strategy=None, *, config=None, max_memory=None, reserve=None, headroom=None, dtype=None,
                    simulate=None, tokens=None, batch=None, cpu_memory=None, pinned_memory=None, fallback=None,
                    options=None, unit_rules=None, slice_vocabulary=None, verify_data=False, settings=None):
    if strategy is not None and (not isinstance(strategy, str) or not strategy):
        raise TypeError(f"strategy must be a strategy's name, such as 'auto', not {strategy!r}")
    if isinstance(fallback, (list, tuple)):
        fallback = ",".join(fallback)
    return {
        "strategy": strategy,
        "config": os.fspath(config) if config is not None else None,
        "max_memory": _caps(max_memory, "max_memory"),
        "reserve": _caps(reserve, "reserve"),
        "headroom": _size(headroom, "headroom"),
        "dtype": dtype,
        "simulate": simulate,
        "tokens": tokens,
        "batch": batch,
        "cpu_memory": _size(cpu_memory, "cpu_memory"),
        "pinned_memory": _size(pinned_memory, "pinned_memory"),
        "fallback": fallback,
        "strategy_options": {str(k): str(v) for k, v in (options or {}).items()},
        "unit_rules": unit_rules,
        "slice_vocabulary": _size(slice_vocabulary, "slice_vocabulary"),
        "verify_data": bool(verify_data),
        "settings": _settings(settings),
    }
