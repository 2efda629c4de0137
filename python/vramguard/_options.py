"""Keyword arguments -> the options the C++ runtime takes. The keywords, their kinds and ranges come from
the one list of declarations the CLI is made from (vramguard/load_options.def, through
_vramguard.option_catalog()); every value is checked by the C++ parser of its kind, so Python takes the
same spellings and prints the same sizes as the CLI. What is Python's own is only the forms a caller may
use beyond the CLI's text: numbers of bytes, accelerate's {0: "12GB"} dicts, torch dtypes, lists."""
import difflib
import os
import re

from . import _vramguard
from ._vramguard import InputError

_CATALOG = {option["keyword"]: option for option in _vramguard.option_catalog() if option["keyword"]}


def input_error(message, hint=""):
    """vramguard.InputError as the host raises it: the message, what to do, and `.hint`."""
    error = InputError(message + (f"\n  what to do: {hint}" if hint else ""))
    error.hint = hint
    return error


def _checked(keyword, text, where):
    """The C++ parser's verdict on one value: its canonical text, or InputError opening with `where=`, as the
    host's own errors name a keyword (in_python_terms)."""
    return _vramguard.checked_option_value(keyword, str(text), where + "=")


def _size(value, name):
    """One size: a number of bytes or a text such as '4GB', read by the CLI's parser -> bytes as text."""
    if isinstance(value, bool) or not isinstance(value, (int, str)) or (isinstance(value, int) and value < 0):
        raise TypeError(f"{name} must be a number of bytes or a text such as '4GB', not {value!r}")
    if isinstance(value, str) and ("," in value or "=" in value):
        # One size: a text holding ',' or '=' would add caps of its own to the list.
        raise ValueError(f"{name} must be one size such as '4GB', not {value!r}")
    try:
        return str(_vramguard.parse_byte_size(str(value)))
    except InputError as error:
        raise input_error(f"{name} = " + str(error).split("\n")[0], error.hint) from None


def _caps(value, keyword):
    """{0: "12GB", "cpu": "64GiB"} (accelerate's form) or "0=12GB,cpu=64GiB" -> the CLI's text, each size
    named as the caller would name it (max_memory[0])."""
    if isinstance(value, dict):
        for key in value:
            if isinstance(key, bool) or not isinstance(key, (int, str)) or "," in str(key) or "=" in str(key):
                raise TypeError(f"{keyword} keys are GPU indices or 'cpu', not {key!r}")
        value = ",".join(f"{key}={_size(size, f'{keyword}[{key!r}]')}" for key, size in value.items())
    elif isinstance(value, str):
        for part in value.split(","):
            key, eq, size = part.partition("=")
            if eq:
                shown = int(key) if key.strip().isdigit() else key.strip()  # as the dict form would name it
                _size(size, f"{keyword}[{shown!r}]")
    elif _CATALOG[keyword]["kind"] == "size_for_devices":
        return _size(value, keyword)
    else:
        raise TypeError(f"{keyword} must be a dict such as {{0: '12GB', 'cpu': '64GiB'}} or a text, not {value!r}")
    return _checked(keyword, value, keyword)


def _dtype(value):
    text = str(value)
    if text.startswith("torch."):  # torch.bfloat16 and its kin: the name after the module
        text = text[len("torch."):]
    try:
        return _checked("dtype", text, "dtype")
    except InputError as error:
        raise input_error(str(error).split("\n")[0],
                          "one of: torch.bfloat16, torch.float16, torch.float32, torch.float64; or " + error.hint) from None


def _count(value, name):
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be a whole number, not {value!r}")
    return value


def _job(value):
    """{"text_encoder": 2, "transformer": 16, "vae": 2}: passes per component in one job -> the CLI's text.
    The names are checked against the model's components by the host."""
    if isinstance(value, str):
        return value
    if not isinstance(value, dict):
        raise TypeError(f"job must be a dict of component names to passes, such as {{'transformer': 16}}, not {value!r}")
    for name, passes in value.items():
        if not isinstance(name, str) or not name or "," in name or "=" in name:
            raise TypeError(f"job keys are component names such as 'transformer', not {name!r}")
        _count(passes, f"job[{name!r}]")
    return ",".join(f"{name}={passes}" for name, passes in value.items())


def _value(keyword, value):
    """One keyword's value as the text (or list of texts) its option's parser takes, checked there."""
    kind = _CATALOG[keyword]["kind"]
    if kind == "size":
        return _size(value, keyword)
    if kind in ("device_sizes", "size_for_devices"):
        return _caps(value, keyword)
    if kind == "dtype":
        return _dtype(value)
    if kind == "count":
        return _checked(keyword, _count(value, keyword), keyword)
    if kind == "flag":
        return "true" if value else "false"
    if kind == "strategy_settings":
        if not isinstance(value, dict):
            raise TypeError(f"{keyword} must be a dict of strategy options, such as {{'prefetch': 2}}, not {value!r}")
        return [f"{key}={item}" for key, item in value.items()]
    if kind == "text_list":
        return [os.fspath(item) for item in ([value] if isinstance(value, (str, os.PathLike)) else value)]
    if keyword == "job":
        return _job(value)
    return os.fspath(value) if isinstance(value, os.PathLike) else str(value)


def size_bytes(text):
    """The bytes a size stands for, read by the CLI's parser: '600MB' -> 600000000; None -> 0."""
    return 0 if text is None else _vramguard.parse_byte_size(str(text))


def format_bytes(size):
    """For messages, as the CLI prints sizes: '590.00 MB (562.64 MiB)'."""
    return _vramguard.format_bytes(int(size))


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


# The keyword arguments plan() and apply() take beyond their own: every declared option's, and settings.
OPTION_KEYWORDS = tuple(_CATALOG) + ("settings",)


# The CLI's flags an error from the host may name, and what the caller wrote instead. Not inside a word:
# a Hugging Face cache folder is models--org--name.
_FLAG = re.compile(r"(?<![\w-])--([a-z][a-z0-9-]*)")


_KEYWORD_OF = {option["name"]: keyword for keyword, option in _CATALOG.items()}


def _python_name(match):
    name = match.group(1)
    if name in _KEYWORD_OF:
        return _KEYWORD_OF[name] + "="
    if name == "strategy":
        return "strategy="
    return f"settings['{name.replace('-', '_')}']"


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


def runtime_options(strategy=None, **given):
    """The keywords given (checked by check_keywords) -> {keyword: text or list of texts} for the C++ module."""
    if strategy is not None and (not isinstance(strategy, str) or not strategy):
        raise TypeError(f"strategy must be a strategy's name, such as 'auto', not {strategy!r}")
    options = {"strategy": strategy}
    for keyword, value in given.items():
        if keyword == "settings":
            options["settings"] = _settings(value)
        elif keyword == "fallback" and isinstance(value, (list, tuple)):
            options["fallback"] = ",".join(value)
        elif value is not None:
            options[keyword] = _value(keyword, value)
    return options
