"""Backends as objects: what runs a :class:`~codegen.program.Program`.

A :class:`Backend` bundles a kernel compiler, an array module, a library of calls by name
(:mod:`codegen.lib`), transfers between the host and its memory, and the source text of its
kernels. Three implement it: ``numpy`` (the reference: kernels interpreted by
:func:`codegen.interpret.interpret`), ``llvm`` (:mod:`codegen.llvm`) and ``cuda``
(:mod:`codegen.cuda`). :func:`get_backend` finds one by name, importing it at first use.

A compiled kernel (what :meth:`Backend.compile_kernels` returns per kernel) is called as
``run(inputs, outputs=None, shape=None) -> outputs``, like ``interpret``. It may also
offer ``bind(inputs, outputs, shape) -> Launch | None``: a checked layout that later calls
with arrays of the same dtypes, shapes and strides run without checks (see
:class:`codegen.plan.Launch`).

>>> b = get_backend("numpy")
>>> b.name, b.host, "dot" in b.lib
('numpy', True, True)
"""
from __future__ import annotations

import importlib
from functools import partial
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from codegen.kernel import Kernel


class Example(NamedTuple):
    """A call a compiled kernel will see, laid out as it will be: its inputs and, when
    the call writes into given arrays (an update in place), its outputs."""
    inputs: Sequence[Any]
    outputs: Sequence[Any] | None = None


class Backend:
    """The interface; subclasses set ``name`` and ``host`` and implement the methods."""
    name: str = ""
    host: bool = True          # arrays are numpy arrays in host memory

    def available(self) -> tuple[bool, str]:
        """Whether this backend can run here, and why not."""
        return True, ""

    @property
    def xp(self):
        """The array module of this backend's arrays."""
        return np

    @property
    def lib(self):
        """The :class:`codegen.lib.Library` of this backend."""
        from codegen.lib.numpy import LIBRARY
        return LIBRARY

    def prepare(self) -> None:
        """Start, on a thread of its own, work that every compile for this backend needs
        (``sg.function`` calls it before rewriting the graph); nothing by default."""

    def compile_kernels(self, kernels: Sequence[Kernel],
                        examples: Sequence[Sequence[Sequence[Any]]] | None = None
                        ) -> list[Callable]:
        """Compiled kernels, all at once (one module where the backend can); ``examples``
        are per kernel some calls (:class:`Example`, or just input lists) laid out as its
        calls will be, whose code a backend may compile now rather than at first use."""
        raise NotImplementedError

    def empty(self, shape: tuple[int, ...], dtype) -> Any:
        return self.xp.empty(shape, dtype)

    def is_array(self, a) -> bool:
        """Whether ``a`` is an array of this backend (used as it is)."""
        return type(a) is np.ndarray

    def to_device(self, a: np.ndarray) -> Any:
        """A host array in this backend's memory (the array itself on the host)."""
        return a

    def to_host(self, a) -> np.ndarray:
        """One of this backend's arrays as a numpy array."""
        return a

    def source(self, kernel: Kernel) -> str:
        """The source this backend compiles ``kernel`` from."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<backend {self.name}>"


class NumpyBackend(Backend):
    """The reference: kernels run in :func:`codegen.interpret.interpret`, library calls in
    numpy; every native backend is tested against it."""
    name = "numpy"

    def compile_kernels(self, kernels, examples=None):
        from codegen.interpret import interpret
        return [partial(interpret, k) for k in kernels]

    def source(self, kernel: Kernel) -> str:
        return str(kernel)


NUMPY = NumpyBackend()

# the built-in backends are imported at first use: llvm needs llvmlite, cuda CuPy
_REGISTRY: dict[str, Backend | tuple[str, str]] = {
    "numpy": NUMPY, "llvm": ("codegen.llvm", "BACKEND"), "cuda": ("codegen.cuda", "BACKEND")}


def register(backend: Backend) -> None:
    """Make ``backend`` available under its ``name`` (a new backend, or one replaced)."""
    if not isinstance(backend, Backend) or not backend.name:
        raise TypeError(f"register takes a Backend with a name, got {backend!r}")
    _REGISTRY[backend.name] = backend


def names() -> tuple[str, ...]:
    """The backends there are, by name."""
    return tuple(_REGISTRY)


def find_backend(name: str) -> Backend:
    """The backend called ``name``, whether or not it can run here (its sources can be
    rendered anyway); raises ValueError for an unknown name."""
    if name not in _REGISTRY:
        raise ValueError(f"unknown backend {name!r}; the backends are {', '.join(names())}")
    found = _REGISTRY[name]
    if isinstance(found, tuple):
        module, attr = found
        found = _REGISTRY[name] = getattr(importlib.import_module(module), attr)
    return found


def get_backend(name: str) -> Backend:
    """The backend called ``name``, ready to run; raises ValueError for an unknown name
    and RuntimeError, saying why, for one that cannot run here.

    >>> get_backend("numpy").name
    'numpy'
    """
    backend = find_backend(name)
    ok, why = backend.available()
    if not ok:
        raise RuntimeError(f"backend={name!r} is not available here: {why}")
    return backend
