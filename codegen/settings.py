"""Settings the code generators read, given by their user (``symgraph.config`` sets them
from its own settings, which come from the environment); codegen reads no environment
variables itself.

>>> import codegen.settings as settings
>>> settings.num_threads >= 1
True
"""
from __future__ import annotations

import os
from pathlib import Path

num_threads: int = os.cpu_count() or 1
"""Threads (the caller's included) that large LLVM kernel calls are split over."""

cache_dir: Path = Path.home() / ".cache" / "symgraph"
"""The root of the on-disk cache of compiled objects."""

cache_key_file: Path = Path.home() / ".config" / "symgraph" / "cache.key"
"""The secret that authenticates cache entries (made ``0600`` at first use)."""
