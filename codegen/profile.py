"""Where compile time goes: named phases that accumulate seconds for this process.

Code that does compile work wraps it in ``with phase("llvm optimize"):``; a caller that
wants the profile of one compilation takes :func:`snapshot` before it and :func:`since`
after (``sg.function`` does, for ``Function.compile_profile``).

>>> before = snapshot()
>>> with phase("doc example"):
...     pass
>>> list(since(before))
['doc example']
"""
from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from typing import Iterator

_totals: dict[str, float] = {}
_lock = threading.Lock()
_here = threading.local()
BACKGROUND = " (background)"
"""What names a phase done on a thread of its own (:func:`background`)."""


@contextmanager
def background() -> Iterator[None]:
    """Phases of the block are recorded as ``"<name> (background)"``: work done on a
    thread of its own, beside the compile that started it, not a share of its time."""
    _here.suffix = BACKGROUND
    try:
        yield
    finally:
        _here.suffix = ""


@contextmanager
def phase(name: str) -> Iterator[None]:
    """Add the time the block takes to phase ``name``."""
    t0 = time.perf_counter()
    try:
        yield
    finally:
        add(name, time.perf_counter() - t0)


def add(name: str, seconds: float) -> None:
    name += getattr(_here, "suffix", "")
    with _lock:
        _totals[name] = _totals.get(name, 0.0) + seconds


def snapshot() -> dict[str, float]:
    """The seconds of every phase so far."""
    with _lock:
        return dict(_totals)


def since(before: dict[str, float]) -> dict[str, float]:
    """The seconds each phase took after ``before`` (a :func:`snapshot`), in the order
    the phases first ran; phases that did not run are left out."""
    with _lock:
        return {k: v - before.get(k, 0.0) for k, v in _totals.items()
                if v - before.get(k, 0.0) > 0}
