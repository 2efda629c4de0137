"""Keyword arguments -> the options the C++ runtime takes, with the CLI's names and meanings (vramguard
help load documents each). Sizes and caps may be given as numbers of bytes or as the CLI's text; they are
checked here, so that a bad one is named as the caller wrote it (max_memory[0], not --max-memory)."""
import difflib
import os
import re

from ._vramguard import InputError

# What the host accepts as a size: bytes, or a number with a unit of powers of 1000 or of 1024.
_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)?\s*")
_SIZE_FORMS = "an integer number of bytes, or a number with KB MB GB TB (powers of 1000) or KiB MiB GiB TiB (powers of 1024)"


def input_error(message, hint=""):
    """vramguard.InputError as the host raises it: the message, what to do, and `.hint`."""
    error = InputError(message + (f"\n  what to do: {hint}" if hint else ""))
    error.hint = hint
    return error


def _caps(value, name):
    """{0: "12GB", "cpu": "64GiB"} (accelerate's form) or "0=12GB,cpu=64GiB" -> the CLI's text."""
    if value is None:
        return value
    if isinstance(value, str):  # the CLI's form: each size checked as the caller would name it
        for part in value.split(","):
            key, eq, size = part.partition("=")
            shown = int(key) if key.strip().isdigit() else key.strip()  # as the dict form would name it
            _size(size if eq else key, f"{name}[{shown!r}]" if eq else name)
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
        if not _SIZE.fullmatch(value):
            bits = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([KMGTkmgt])(i?)([bB])\s*", value)
            if bits and (bits.group(4) == "b" or bits.group(2).islower()):
                # accelerate reads a lowercase b as bits ("12gb" is 1.5 GB there): ambiguous, refused
                meant = bits.group(1) + bits.group(2).upper() + bits.group(3) + "B"
                raise input_error(f"{name} = {value!r}: a lowercase unit is ambiguous (accelerate reads a lowercase 'b' as bits: "
                                   "12gb = 1.5 GB), so vramguard refuses it",
                                   f"write '{meant}' ({'powers of 1024' if bits.group(3) else 'powers of 1000'})")
            raise input_error(f"{name} = {value!r} is not a size", f"give {_SIZE_FORMS}, e.g. '12GB', '11.5GiB', 4096")
        return value
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise TypeError(f"{name} must be a number of bytes or a text such as '4GB', not {value!r}")
    return str(value)


_UNIT_BYTES = {None: 1, "B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "TB": 10**12,
               "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}


def size_bytes(text):
    """The bytes a size checked by _size() stands for: '600MB' -> 600000000."""
    if text is None:
        return 0
    match = _SIZE.fullmatch(str(text))
    return int(float(match.group(1)) * _UNIT_BYTES[match.group(2)])


def format_bytes(size):
    """For messages: 0 B, 14.3 KB, 590.0 MB, 40.9 GB (powers of 1000, as the host prints them)."""
    for unit, scale in (("GB", 10**9), ("MB", 10**6), ("KB", 10**3)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


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


# The host's dtype names, and torch's dtypes as diffusers' torch_dtype takes them.
_DTYPE_NAMES = ("bf16", "fp16", "fp32", "fp64", "bfloat16", "float16", "half", "float32", "float64")


def _dtype(value):
    if value is None:
        return None
    text = str(value)
    if text.startswith("torch."):  # torch.bfloat16 and its kin: the name after the module
        text = text[len("torch."):]
    if text not in _DTYPE_NAMES:
        near = difflib.get_close_matches(text, _DTYPE_NAMES, n=1)
        raise input_error(f"dtype = {value!r} is not a dtype vramguard loads weights as" + (f" (did you mean {near[0]!r}?)" if near else ""),
                          "one of: torch.bfloat16, torch.float16, torch.float32, torch.float64, or " + ", ".join(_DTYPE_NAMES))
    return text


def _count(value, name, least):
    """A whole number of at least `least` (tokens, batch), as Python's int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, not {value!r}")
    if value < least:
        raise input_error(f"{name} = {value} must be at least {least}", f"pass {name}={least} or more, or leave it out for the default")
    return value


def _job(value):
    """{"text_encoder": 2, "transformer": 16, "vae": 2}: passes per component in one job -> the CLI's text.
    The names are checked against the model's components by the host."""
    if value is None or isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise TypeError(f"job must be a dict of component names to passes, such as {{'transformer': 16}}, not {value!r}")
    for name, passes in value.items():
        if not isinstance(name, str) or not name or "," in name or "=" in name:
            raise TypeError(f"job keys are component names such as 'transformer', not {name!r}")
        _count(passes, f"job[{name!r}]", 1)
    return ",".join(f"{name}={passes}" for name, passes in value.items())


# The keyword arguments plan() and apply() take beyond their own (runtime_options' below).
OPTION_KEYWORDS = ("config", "max_memory", "reserve", "headroom", "adapter_memory", "dtype", "simulate", "tokens", "batch", "job", "cpu_memory",
                   "pinned_memory", "fallback", "options", "unit_rules", "slice_vocabulary", "verify_data", "settings")


# The CLI's flags an error from the host may name, and what the caller wrote instead. Not inside a word:
# a Hugging Face cache folder is models--org--name.
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")


def _python_name(match):
    key = match.group(1).replace("-", "_")
    if key == "option":
        return "options="
    if key in OPTION_KEYWORDS or key == "strategy":
        return key + "="
    return f"settings['{key}']"


def in_python_terms(error):
    """The host's error with the CLI's flags (--max-memory, --simulate) named as the caller passed them
    (max_memory=, simulate=, settings['stream_from']): the same type, message and .hint otherwise."""
    message, hint = str(error), getattr(error, "hint", "") or ""
    translated, translated_hint = _FLAG.sub(_python_name, message), _FLAG.sub(_python_name, hint)
    if translated == message and translated_hint == hint:
        return error
    renamed = type(error)(translated)
    renamed.hint = translated_hint
    return renamed


def check_keywords(function, given, own=()):
    """A misspelled keyword names itself, the nearest accepted one and all of them (TypeError, as Python's)."""
    accepted = tuple(own) + OPTION_KEYWORDS
    for name in given:
        if name not in accepted:
            near = difflib.get_close_matches(name, accepted, n=1)
            suggestion = f" (did you mean {near[0]!r}?)" if near else ""
            raise TypeError(f"{function}() got an unexpected keyword argument {name!r}{suggestion}; "
                            f"it accepts: {', '.join(accepted)}")


def runtime_options(strategy=None, *, config=None, max_memory=None, reserve=None, headroom=None, adapter_memory=None, dtype=None,
                    simulate=None, tokens=None, batch=None, job=None, cpu_memory=None, pinned_memory=None, fallback=None,
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
        "adapter_memory": _size(adapter_memory, "adapter_memory"),
        "dtype": _dtype(dtype),
        "simulate": simulate,
        "tokens": _count(tokens, "tokens", 1),
        "batch": _count(batch, "batch", 1),
        "job": _job(job),
        "cpu_memory": _size(cpu_memory, "cpu_memory"),
        "pinned_memory": _size(pinned_memory, "pinned_memory"),
        "fallback": fallback,
        "strategy_options": {str(k): str(v) for k, v in (options or {}).items()},
        "unit_rules": unit_rules,
        "slice_vocabulary": _size(slice_vocabulary, "slice_vocabulary"),
        "verify_data": bool(verify_data),
        "settings": _settings(settings),
    }
