"""Library calls by name: what a step runs when it is not a kernel (matrix products,
argmax, gathers and scatters, sorting, views).

Every backend has a :class:`Library` with the same entries and signatures:
:mod:`codegen.lib.numpy` for host arrays, :mod:`codegen.lib.cupy` for CUDA arrays, both
built from the one implementation over an array module in :mod:`codegen.lib.array`. An
entry takes arrays positionally and its parameters by keyword, and returns one array that
no one else holds, except that a *view* entry returns a view of its first argument (it only
sets strides). An entry that takes ``out=`` writes its result there when ``out`` has the
result's shape, dtype and layout, and otherwise ignores it: the caller may pass the array
the previous call returned, whatever the shapes are now.

>>> from codegen.lib.numpy import LIBRARY
>>> import numpy as np
>>> LIBRARY["argmax"](np.array([1.0, 5.0, 2.0]), axis=None, keepdims=False, minimum=False)
array(1)
>>> LIBRARY.entry("reshape").view
True
"""
from __future__ import annotations

from typing import Callable, NamedTuple


class Entry(NamedTuple):
    """One library function; ``view``: returns a view of its first argument; ``out``:
    takes an ``out=`` buffer."""
    fn: Callable
    view: bool = False
    out: bool = False


class Library:
    """Entries by name; ``library[name]`` is the function, ``library.entry(name)`` the
    :class:`Entry`."""

    def __init__(self, name: str, entries: dict[str, Entry]):
        self.name, self._entries = name, dict(entries)

    def entry(self, name: str) -> Entry:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"the {self.name} library has no entry {name!r}; it has "
                           f"{', '.join(sorted(self._entries))}") from None

    def __getitem__(self, name: str) -> Callable:
        return self.entry(name).fn

    def __contains__(self, name: str) -> bool:
        return name in self._entries

    def names(self) -> list[str]:
        return sorted(self._entries)
