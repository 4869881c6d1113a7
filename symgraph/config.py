"""Settings, read once from ``SYMGRAPH_*`` environment variables and changeable at run time.
This is the one place settings are read; the code generators get theirs from here
(:mod:`codegen.settings`), at start-up and whenever one changes.

>>> import symgraph as sg
>>> sg.config.floatX in ("float32", "float64")
True
"""
from __future__ import annotations

import os
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Iterator

import codegen.settings
from codegen import backend as _backends


def _default_cache_dir() -> str:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return str(Path(base) / "symgraph")


def _key_file() -> Path:
    """Where the secret authenticating the compile cache's entries is kept (not in the
    cache directory: whoever can write there must not be able to read it)."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "symgraph" / "cache.key"


@dataclass
class Config:
    floatX: str = "float32"
    backend: str = "llvm"
    cache_dir: str = ""
    num_threads: int = 1
    profile: bool = False
    mode: str = "fast"

    def __setattr__(self, name: str, value) -> None:
        if name == "floatX" and value not in ("float32", "float64"):
            raise ValueError(f"config.floatX must be 'float32' or 'float64', got {value!r}")
        if name == "backend" and value not in _backends.names():
            raise ValueError(f"config.backend must be one of {_backends.names()}, got "
                             f"{value!r}")
        if name == "profile" and not isinstance(value, bool):
            raise ValueError(f"config.profile must be True or False, got {value!r}")
        if name == "mode" and value not in MODES:
            raise ValueError(f"config.mode must be one of {', '.join(MODES)}, got "
                             f"{value!r}")
        if name == "num_threads" and (not isinstance(value, int) or value < 1):
            raise ValueError(f"config.num_threads must be an int >= 1, got {value!r}")
        if name == "num_threads":
            codegen.settings.num_threads = value
            run = sys.modules.get("codegen.llvm.run")    # a started pool takes the new size
            if run is not None:                          # now, not at the next new plan
                run.set_num_threads(value)
            if name in self.__dict__:     # set by the user (or SYMGRAPH_NUM_THREADS): the
                from codegen import blas  # BLAS's products run on that many threads too
                blas.set_threads(value)
        elif name == "cache_dir":
            codegen.settings.cache_dir = Path(value)
        super().__setattr__(name, value)

    @contextmanager
    def change(self, **settings) -> Iterator["Config"]:
        """Temporarily change settings: ``with sg.config.change(floatX="float64"): ...``."""
        old = {k: getattr(self, k) for k in settings}
        try:
            for k, v in settings.items():
                setattr(self, k, v)
            yield self
        finally:
            for k, v in old.items():
                setattr(self, k, v)


MODES = {"fast": "fast", "FAST_RUN": "fast", "FAST_COMPILE": "fast",
         "nan_guard": "nan_guard", "NanGuardMode": "nan_guard",
         "debug": "debug", "DebugMode": "debug", "DEBUG_MODE": "debug"}
"""The names of the modes (``sg.function(mode=...)``), Theano's included, and the mode
each stands for."""


def mode_name(mode) -> str:
    """The mode a ``mode=`` value names ('fast', 'nan_guard' or 'debug'); a ValueError
    listing the names for anything else (mode objects are :mod:`symgraph.compile.modes`'s
    to take)."""
    kind = MODES.get(mode) if isinstance(mode, str) else None
    if kind is None:
        raise ValueError(f"mode must be one of {', '.join(map(repr, MODES))}, or a "
                         f"sg.NanGuardMode or sg.DebugMode object; got {mode!r}")
    return kind
_ALLOWED = {"floatX": "'float32' or 'float64'", "backend": "one of the backends' names",
            "cache_dir": "a directory", "num_threads": "a whole number >= 1",
            "profile": "0 or 1", "mode": "a mode's name (fast, nan_guard, debug)"}
_FLAGS = {"0": False, "1": True, "false": False, "true": True}


def _from_env() -> Config:
    """The settings, from the environment where it sets them. A value that does not
    parse is never fatal: a warning names the variable and what it takes, and the
    default stays."""
    cfg = Config(cache_dir=_default_cache_dir(), num_threads=os.cpu_count() or 1)
    for f in fields(Config):
        var = f"SYMGRAPH_{f.name.upper()}"
        raw = os.environ.get(var)
        if raw is None:
            continue
        try:
            if f.type == "bool":
                value = _FLAGS.get(raw.strip().lower(), raw)
            else:
                value = int(raw.strip()) if f.type == "int" else raw
            setattr(cfg, f.name, value)
        except ValueError:
            warnings.warn(f"environment variable {var}={raw!r} is not {_ALLOWED[f.name]}; "
                          f"using the default, {getattr(cfg, f.name)!r}", RuntimeWarning,
                          stacklevel=2)
    return cfg


config = _from_env()
codegen.settings.cache_key_file = _key_file()
