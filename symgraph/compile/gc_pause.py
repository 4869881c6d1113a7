"""Compiling without the cyclic garbage collector.

Building, differentiating and compiling a graph allocates many small objects that live
until the function is made, and Python's collector would walk every object of the process
(numpy, llvmlite and the user's data included) several times meanwhile: for a small MLP
that is a third of ``sg.function``'s time. The collector is paused while symgraph compiles
and runs again when it is done; the garbage compiling made is collected then.

>>> import gc
>>> with paused():
...     gc.isenabled()
False
>>> gc.isenabled()
True
"""
from __future__ import annotations

import gc
from contextlib import contextmanager
from typing import Iterator


@contextmanager
def paused() -> Iterator[None]:
    """Pause the cyclic collector for the block (nested blocks, and a collector the
    user turned off, stay as they are)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
