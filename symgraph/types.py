"""Tensor types and dtype rules.

A :class:`TensorType` is a dtype and a static shape whose entries are ints or ``None``
(unknown until run time). A static 1 marks an axis *broadcastable*: only such axes
broadcast against larger ones (as in Theano and PyTensor; a ``None`` axis that turns out to
be 1 at run time is an error rather than a silent broadcast, so gradients stay static).

Promotion follows numpy 2 (NEP 50): array dtypes promote by ``numpy.result_type``, and a
Python scalar is *weak*: ``fvector * 0.1`` stays float32.

>>> TensorType("float32", (None, 1)).broadcastable
(False, True)
>>> result_dtype("float32", 0.1), result_dtype("int8", 2), result_dtype("int32", 0.5)
('float32', 'int8', 'float64')
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64")
INTS = ("int8", "int16", "int32", "int64", "uint8")
FLOATS = ("float32", "float64")


def as_dtype(dtype) -> str:
    """Normalize a dtype spelling (``np.float32``, ``'f4'``, ``float``) to a supported name."""
    if dtype.__class__ is str and dtype in _NAMES:      # the common case, once per node
        return dtype
    try:
        name = np.dtype(dtype).name
    except TypeError:
        raise TypeError(f"{dtype!r} is not a dtype; supported: {', '.join(DTYPES)}") from None
    if name not in DTYPES:
        raise TypeError(f"dtype {name} is not supported; supported: {', '.join(DTYPES)}")
    return name


_NAMES = frozenset(DTYPES)


def is_weak(x) -> bool:
    """A Python scalar, whose dtype yields to the tensor it meets (NEP 50)."""
    return isinstance(x, (bool, int, float)) and not isinstance(x, np.generic)


def result_dtype(*operands) -> str:
    """The dtype numpy 2 gives to an operation on these dtypes and weak Python scalars."""
    # dtype names, dtypes and weak floats and bools decide by what they are alone (a weak
    # int's value matters: it may not fit), so their results are kept
    key = tuple(o if o.__class__ is str or o.__class__ in _DTYPE_CLASSES else
                o.__class__ if o.__class__ is float or o.__class__ is bool else None
                for o in operands)
    if None in key:
        return _result_dtype(operands)
    known = _RESULTS.get(key)
    if known is None:
        known = _RESULTS[key] = _result_dtype(operands)
    return known


_RESULTS: dict[tuple, str] = {}
_DTYPE_CLASSES = frozenset(type(np.dtype(d)) for d in DTYPES)


def _result_dtype(operands) -> str:
    strong = [np.dtype(o) for o in operands if not is_weak(o)]
    weak = [o for o in operands if is_weak(o)]
    if not strong:
        return as_dtype(np.result_type(*weak)) if weak else "float64"
    try:
        return as_dtype(np.result_type(*strong, *weak))
    except OverflowError:
        raise TypeError(f"Python scalar(s) {weak} do not fit the dtype "
                        f"{np.result_type(*strong)}") from None


def float_dtype(dtype: str) -> str:
    """The float dtype a transcendental op computes in for inputs of ``dtype``.

    numpy gives float16 for bool/int8/uint8; we have no float16, so those give float32.
    """
    if dtype in FLOATS:
        return dtype
    return "float32" if dtype in ("bool", "int8", "uint8", "int16") else "float64"


class TensorType:
    """The type of a symbolic tensor: a dtype and a static shape (ints or None)."""

    #: the class of the variables ``TensorType(...)(name)`` makes: the tensor layer
    #: (:mod:`symgraph.variable`) installs its ``TensorVariable`` here
    variable_type: type | None = None

    def __init__(self, dtype, shape: Sequence[int | None]):
        self.dtype = as_dtype(dtype)
        shape = tuple(shape)
        for s in shape:
            if s is not None and (not isinstance(s, (int, np.integer)) or s < 0):
                raise ValueError(f"shape entries must be ints >= 0 or None, got {shape}")
        self.shape: tuple[int | None, ...] = tuple(None if s is None else int(s)
                                                   for s in shape)
        self.np_dtype = np.dtype(self.dtype)
        self.ndim = len(self.shape)
        self._static = any(s is not None for s in self.shape)

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        return tuple(s == 1 for s in self.shape)

    def __eq__(self, other) -> bool:
        return (isinstance(other, TensorType) and self.dtype == other.dtype
                and self.shape == other.shape)

    def __hash__(self) -> int:
        return hash((self.dtype, self.shape))

    def __repr__(self) -> str:
        return f"TensorType({self.dtype}, {self.shape_str()})"

    def shape_str(self) -> str:
        inner = ", ".join("?" if s is None else str(s) for s in self.shape)
        return f"({inner}{',' if self.ndim == 1 else ''})"

    def __str__(self) -> str:
        return f"{self.dtype}{self.shape_str()}"

    def __call__(self, name: str | None = None):
        """A fresh variable of this type."""
        return self.variable_type(self, name=name)

    def with_dtype(self, dtype) -> "TensorType":
        return TensorType(dtype, self.shape)

    def accepts_shape(self, shape: Sequence[int]) -> bool:
        return len(shape) == self.ndim and all(s is None or s == d
                                               for s, d in zip(self.shape, shape))

    def safe_cast(self, arr, what: str = "value"):
        """``arr`` (a numpy or device array) in this dtype, if the cast loses nothing."""
        if arr.dtype == self.np_dtype:
            return arr
        if not np.can_cast(arr.dtype, self.np_dtype, "safe"):
            raise TypeError(f"{what}: expected dtype {self.dtype}, got {arr.dtype.name} "
                            f"(casting it would lose information; use "
                            f".astype('{self.dtype}') if meant)")
        return arr.astype(self.np_dtype)

    def filter(self, value, what: str = "value") -> np.ndarray:
        """Check and convert a run-time value to this type, or raise a clear error.

        ndarrays and numpy scalars cast only safely (``int32`` into ``float64`` yes,
        ``float64`` into ``float32`` no); Python scalars and lists are weak and take this
        dtype if their values fit.
        """
        if type(value) is np.ndarray and value.dtype is self.np_dtype and \
                value.ndim == self.ndim and (not self._static or
                                             self.accepts_shape(value.shape)):
            return value      # the common case, checked first: it is on every call
        if value is None:
            raise TypeError(f"{what}: expected a {self} array, got None")
        if isinstance(value, (np.ndarray, np.generic)):
            arr = self.safe_cast(np.asarray(value), what)
        else:
            try:
                raw = np.asarray(value)
            except Exception as e:
                raise TypeError(f"{what}: expected a {self} array, got "
                                f"{type(value).__name__} ({e})") from None
            if raw.dtype.kind not in "biuf":
                raise TypeError(f"{what}: expected a {self} array, got "
                                f"{type(value).__name__} of dtype {raw.dtype}")
            if raw.dtype.kind == "f" and self.dtype not in FLOATS:
                raise TypeError(f"{what}: expected dtype {self.dtype}, got float values")
            if raw.dtype.kind in "iu" and self.dtype in INTS:
                info = np.iinfo(self.dtype)
                if raw.size and (raw.min() < info.min or raw.max() > info.max):
                    raise TypeError(f"{what}: values do not fit dtype {self.dtype}")
            if raw.dtype.kind in "iuf" and self.dtype == "bool":
                raise TypeError(f"{what}: expected dtype bool, got {raw.dtype.name} values")
            arr = raw.astype(self.dtype)
        if arr.ndim != self.ndim:
            raise TypeError(f"{what}: expected rank {self.ndim} ({self}), got an array of "
                            f"rank {arr.ndim} with shape {arr.shape}")
        if not self.accepts_shape(arr.shape):
            raise ValueError(f"{what}: expected shape {self.shape_str()} ({self}), got "
                             f"{arr.shape}")
        return arr
