"""vramguard's lines in Python's logging, and its load progress bar, as diffusers and transformers do it.

The host's lines go to the logger "vramguard" (warnings by default: a fallback, a refused
registration; `set_verbosity("info")` shows each stage of a load). The library root logger has its own
handler to stderr and does not propagate, so that an application's logging setup shows each line once;
configure the logger as any other to send them elsewhere. A load longer than a second shows a tqdm
progress bar where tqdm is installed, unless `disable_progress_bar()`.
"""
import logging
import sys
import time

from . import _vramguard



class _Stderr(logging.StreamHandler):
    """sys.stderr as it is when a line is written (a notebook's or a test's replacement included)."""

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, value):
        pass


logger = logging.getLogger("vramguard")
if not logger.handlers:
    _handler = _Stderr()
    _handler.setFormatter(logging.Formatter("[vramguard] %(levelname)s: %(message)s"))
    logger.addHandler(_handler)
    logger.propagate = False
if logger.level == logging.NOTSET:
    logger.setLevel(logging.WARNING)

TRACE = 5  # below DEBUG: the host's finest lines
_FROM_HOST = {0: TRACE, 1: logging.DEBUG, 2: logging.INFO, 3: logging.WARNING, 4: logging.ERROR}
_NAMES = {"trace": TRACE, "debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "warn": logging.WARNING,
          "error": logging.ERROR, "critical": logging.CRITICAL}


def _emit(level, message):
    logger.log(_FROM_HOST.get(level, logging.ERROR), message)


_vramguard.set_log_sink(_emit)


def sync_level():
    """The host formats only what the logger would show: its level follows the logger's (called before
    each call into the host, so that a level set on the logger directly counts too)."""
    level = logger.getEffectiveLevel()
    host = 0 if level <= TRACE else 1 if level <= logging.DEBUG else 2 if level <= logging.INFO else 3 if level <= logging.WARNING else 4
    _vramguard.set_log_level(host if level <= logging.CRITICAL else 5)


sync_level()


def set_verbosity(level):
    """The logger's level: a logging level (logging.INFO) or its name ("info"; "trace" is finer than debug)."""
    if isinstance(level, str):
        if level.lower() not in _NAMES:
            raise ValueError(f"verbosity {level!r} is not one of {', '.join(_NAMES)}")
        level = _NAMES[level.lower()]
    if isinstance(level, bool) or not isinstance(level, int):
        raise TypeError(f"verbosity must be a logging level or its name, such as 'info', not {level!r}")
    logger.setLevel(level)
    sync_level()


def get_verbosity():
    return logger.getEffectiveLevel()


_progress_enabled = True


def disable_progress_bar():
    global _progress_enabled
    _progress_enabled = False


def enable_progress_bar():
    global _progress_enabled
    _progress_enabled = True


class LoadProgress:
    """The host's load progress (bytes done of the total) as a tqdm bar, shown once a load has taken
    longer than `after_seconds`; nothing where tqdm is missing or the bar is disabled."""

    after_seconds = 1.0

    def __init__(self, description):
        self._description = description
        self._started = time.monotonic()
        self._bar = None
        self._done = 0

    def __call__(self, done, total):
        if not _progress_enabled:
            return
        if self._bar is None:
            if time.monotonic() - self._started < self.after_seconds:
                return
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            self._bar = tqdm(total=total, unit="B", unit_scale=True, desc=self._description)
        self._bar.update(done - self._done)
        self._done = done

    def close(self):
        if self._bar is not None:
            self._bar.close()
            self._bar = None
