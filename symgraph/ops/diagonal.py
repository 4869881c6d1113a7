"""Diagonals: :class:`Diagonal` (numpy's ``diagonal``, a view) and its gradient
:class:`AllocDiagonal`; ``trace`` is the sum of a diagonal.

>>> import symgraph as sg, numpy as np
>>> m = sg.dmatrix("m")
>>> sg.trace(m).eval({m: np.arange(9.0).reshape(3, 3)}).item(), m.diagonal(1).type
(12.0, TensorType(float64, (?,)))
"""
from __future__ import annotations

import numpy as np

from codegen.program import LibraryCall

from ..graph import Apply, Op, Variable
from ..types import FLOATS, TensorType
from ..variable import as_tensor, install
from .shape import normalize_axes


def _diagonal_shape(shape, offset: int, axis1: int, axis2: int) -> list:
    rest = [s for a, s in enumerate(shape) if a not in (axis1, axis2)]
    n, m = shape[axis1], shape[axis2]
    k = None if n is None or m is None else max(0, min(n + min(offset, 0), m - max(offset, 0)))
    return [*rest, k]


class Diagonal(Op):
    """The diagonal of axes ``axis1`` and ``axis2`` (``offset`` above the main one),
    appended as the last axis, as numpy's ``diagonal``."""
    __props__ = ("offset", "axis1", "axis2")

    def __init__(self, offset: int, axis1: int, axis2: int):
        self.offset, self.axis1, self.axis2 = offset, axis1, axis2

    def make_node(self, x: Variable) -> Apply:
        if x.ndim < 2:
            raise ValueError(f"diagonal needs a tensor of rank >= 2, got {x.type}")
        shape = _diagonal_shape(x.type.shape, self.offset, self.axis1, self.axis2)
        return Apply(self, [x], [TensorType(x.dtype, shape)()])

    def lower(self, node):
        return LibraryCall.of("diagonal", offset=self.offset, axis1=self.axis1,
                              axis2=self.axis2)

    def grad(self, inputs, outputs, output_grads):
        (x,), (g,) = inputs, output_grads
        if x.dtype not in FLOATS:
            return [None]
        return [AllocDiagonal(self.offset, self.axis1, self.axis2)(g, x)]


class AllocDiagonal(Op):
    """Zeros shaped like ``x`` (the second input, for its shape) whose diagonal holds
    ``g``: the gradient of :class:`Diagonal`."""
    __props__ = ("offset", "axis1", "axis2")

    def __init__(self, offset: int, axis1: int, axis2: int):
        self.offset, self.axis1, self.axis2 = offset, axis1, axis2

    def make_node(self, g: Variable, x: Variable) -> Apply:
        return Apply(self, [g, x], [TensorType(g.dtype, x.type.shape)()])

    def lower(self, node):
        return LibraryCall.of("alloc_diagonal", offset=self.offset, axis1=self.axis1,
                              axis2=self.axis2)

    def grad(self, inputs, outputs, output_grads):
        (gg,) = output_grads
        return [Diagonal(self.offset, self.axis1, self.axis2)(gg), None]


def diagonal(x, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Variable:
    """numpy's ``diagonal``: the diagonal of two axes as the last axis."""
    x = as_tensor(x)
    if x.ndim < 2:
        raise ValueError(f"diagonal needs a tensor of rank >= 2, got {x.type}")
    a1, a2 = (normalize_axes(a, x.ndim)[0] for a in (axis1, axis2))
    if a1 == a2:
        raise ValueError(f"diagonal: axis1 and axis2 are both {a1}")
    return Diagonal(int(offset), a1, a2)(x)


def trace(x, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Variable:
    """numpy's ``trace``: the sum along the diagonal."""
    return diagonal(x, offset, axis1, axis2).sum(axis=-1)


install("diagonal", diagonal, np.diagonal)
install("trace", trace, np.trace)
