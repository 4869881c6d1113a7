"""Sorting: :class:`Sort` (values or the indices that sort, along one axis) and
:class:`TakeAlongAxis` (numpy's ``take_along_axis``), through the library's ``sort``,
``take_along_axis`` and ``put_along_axis``. The gradient of a sort takes the output's
gradient back to where each value came from.

>>> import symgraph as sg, numpy as np
>>> x = sg.dvector("x")
>>> sg.sort(x).eval({x: [3.0, 1.0, 2.0]}).tolist(), sg.argsort(x).eval({x: [3.0, 1.0, 2.0]}).tolist()
([1.0, 2.0, 3.0], [1, 2, 0])
"""
from __future__ import annotations

import numpy as np

from codegen.program import LibraryCall

from ..graph import Apply, Op, Variable
from ..types import FLOATS, INTS, TensorType
from ..variable import as_tensor, install
from .shape import normalize_axes


class Sort(Op):
    """``x`` sorted along ``axis`` (stable, NaN last), or with ``indices`` the int64
    indices that sort it (``argsort``)."""
    __props__ = ("axis", "indices")

    def __init__(self, axis: int, indices: bool = False):
        self.axis, self.indices = axis, indices

    @property
    def name(self) -> str:
        return "argsort" if self.indices else "sort"

    def make_node(self, x: Variable) -> Apply:
        if not 0 <= self.axis < x.ndim:
            raise ValueError(f"{self.name}: axis {self.axis} is out of range for {x.type}")
        return Apply(self, [x], [TensorType("int64" if self.indices else x.dtype,
                                            x.type.shape)()])

    def lower(self, node):
        return LibraryCall.of("sort", axis=self.axis, indices=self.indices)

    def grad(self, inputs, outputs, output_grads):
        (x,), (g,) = inputs, output_grads
        if self.indices or x.dtype not in FLOATS:
            return [None]
        order = Sort(self.axis, True)(x)
        # value i of the output came from position order[i]: send its gradient back there
        return [TakeAlongAxis(self.axis)(g, Sort(self.axis, True)(order))]


class TakeAlongAxis(Op):
    """``out[..., i, ...] = x[..., idx[..., i, ...], ...]`` along ``axis`` (numpy's
    ``take_along_axis``); ``idx`` has ``x``'s shape except along ``axis``."""
    __props__ = ("axis",)

    def __init__(self, axis: int):
        self.axis = axis

    def make_node(self, x: Variable, idx: Variable) -> Apply:
        if idx.dtype not in INTS or idx.ndim != x.ndim or not 0 <= self.axis < x.ndim:
            raise TypeError(f"take_along_axis: integer indices of rank {x.ndim} are needed "
                            f"for {x.type} along axis {self.axis}, got {idx.type}")
        shape = [i if a == self.axis else (s if s is not None else i)
                 for a, (s, i) in enumerate(zip(x.type.shape, idx.type.shape))]
        return Apply(self, [x, idx], [TensorType(x.dtype, shape)()])

    def lower(self, node):
        return LibraryCall.of("take_along_axis", axis=self.axis)

    def grad(self, inputs, outputs, output_grads):
        (x, idx), (g,) = inputs, output_grads
        if x.dtype not in FLOATS:
            return [None, None]
        return [PutAlongAxis(self.axis)(g, idx, x), None]


class PutAlongAxis(Op):
    """Zeros shaped like ``x`` (the third input, for its shape) with ``g`` added where
    ``idx`` points along ``axis``: the gradient of :class:`TakeAlongAxis`."""
    __props__ = ("axis",)

    def __init__(self, axis: int):
        self.axis = axis

    def make_node(self, g: Variable, idx: Variable, x: Variable) -> Apply:
        return Apply(self, [g, idx, x], [TensorType(g.dtype, x.type.shape)()])

    def lower(self, node):
        return LibraryCall.of("put_along_axis", axis=self.axis)

    def grad(self, inputs, outputs, output_grads):
        (g, idx, x), (gg,) = inputs, output_grads
        return [TakeAlongAxis(self.axis)(gg, idx), None, None]


def sort(x, axis: int | None = -1) -> Variable:
    """``x`` sorted along ``axis`` (of the flattened ``x`` if None), as numpy's stable sort."""
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape((-1,)), 0
    (axis,) = normalize_axes(axis, x.ndim)
    return Sort(axis)(x)


def argsort(x, axis: int | None = -1) -> Variable:
    """The int64 indices that sort ``x`` along ``axis`` (stable), as numpy's."""
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape((-1,)), 0
    (axis,) = normalize_axes(axis, x.ndim)
    return Sort(axis, True)(x)


def take_along_axis(x, indices, axis: int) -> Variable:
    """numpy's ``take_along_axis``: ``x``'s values at ``indices`` along ``axis``.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dmatrix("x")
    >>> sg.take_along_axis(x, sg.argsort(x, axis=1), axis=1).eval(
    ...     {x: [[2.0, 1.0], [0.0, 3.0]]}).tolist()
    [[1.0, 2.0], [0.0, 3.0]]
    """
    x, indices = as_tensor(x), as_tensor(indices)
    (axis,) = normalize_axes(axis, x.ndim)
    return TakeAlongAxis(axis)(x, indices)


install("sort", sort, np.sort)
install("argsort", argsort, np.argsort)
install("", take_along_axis, np.take_along_axis)
