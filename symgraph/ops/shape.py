"""Shape operations: dimshuffle (transpose, new and dropped broadcast axes), shape, count,
reshape, concatenate, broadcast_to. dimshuffle, reshape and broadcast_to lower to views
(strides only); shape, count and concatenate to library calls.

>>> import symgraph as sg
>>> x = sg.fmatrix("x")
>>> x.dimshuffle(1, "x", 0).type, x.T.type, x.reshape((-1,)).type
(TensorType(float32, (?, 1, ?)), TensorType(float32, (?, ?)), TensorType(float32, (?,)))
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from codegen.program import LibraryCall

from ..graph import Apply, Constant, Op, Variable
from ..types import FLOATS, INTS, TensorType, as_dtype, result_dtype
from ..variable import as_tensor, constant, install
from .elemwise import cast


def normalize_axes(axis, ndim: int, what: str = "axis") -> tuple[int, ...]:
    """``axis`` (None, an int or a sequence) as sorted non-negative ints, checked."""
    if axis is None:
        return tuple(range(ndim))
    if not isinstance(axis, (int, np.integer, tuple, list)):
        raise TypeError(f"{what} must be None, an int or a tuple of ints, got {axis!r}")
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in axes:
        if not isinstance(a, (int, np.integer)) or not -ndim <= a < ndim:
            raise ValueError(f"{what} {a!r} is out of range for a tensor of rank {ndim}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated {what} in {axis!r}")
    return tuple(sorted(out))


class DimShuffle(Op):
    """Theano's dimshuffle: ``pattern`` lists input axes in their new order, with ``'x'``
    for a new broadcast axis; input axes left out must have static size 1 (dropped)."""
    __props__ = ("pattern",)

    def __init__(self, pattern: tuple):
        self.pattern = tuple(pattern)

    def __str__(self) -> str:
        if all(p != "x" for p in self.pattern) and len(self.pattern) > 1:
            return f"transpose{{{','.join(map(str, self.pattern))}}}"
        return f"dimshuffle{{{','.join(map(str, self.pattern))}}}"

    def make_node(self, x: Variable) -> Apply:
        axes = [p for p in self.pattern if p != "x"]
        if any(not isinstance(p, int) or not 0 <= p < x.ndim for p in axes) \
                or len(set(axes)) != len(axes):
            raise ValueError(f"dimshuffle pattern {self.pattern} does not fit {x.type}: "
                             f"use each of axes 0..{x.ndim - 1} at most once, and 'x'")
        for a in set(range(x.ndim)) - set(axes):
            if x.type.shape[a] != 1:
                raise ValueError(f"dimshuffle {self.pattern} drops axis {a} of {x.type}, "
                                 "which is not of static size 1")
        shape = [1 if p == "x" else x.type.shape[p] for p in self.pattern]
        return Apply(self, [x], [TensorType(x.dtype, shape)()])

    def lower(self, node):
        return LibraryCall.of("dimshuffle", pattern=self.pattern)

    def grad(self, inputs, outputs, output_grads):
        (x,), (g,) = inputs, output_grads
        kept = [p for p in self.pattern if p != "x"]
        new_axes = tuple(i for i, p in enumerate(self.pattern) if p == "x")
        if new_axes:
            g = g.sum(axis=new_axes)
        # g's axes are now `kept`, in that order; put them back and re-add dropped axes
        order = {a: i for i, a in enumerate(kept)}
        g = dimshuffle(g, *(order[a] if a in order else "x" for a in range(x.ndim)))
        return [g]


def dimshuffle(x, *pattern) -> Variable:
    """Reorder axes and add (``'x'``) or drop broadcast axes, as Theano's ``dimshuffle``.

    >>> import symgraph as sg
    >>> sg.fvector("v").dimshuffle("x", 0).type
    TensorType(float32, (1, ?))
    """
    x = as_tensor(x)
    if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
        pattern = tuple(pattern[0])
    if tuple(pattern) == tuple(range(x.ndim)):
        return x
    return DimShuffle(tuple(pattern))(x)


def transpose(x, axes: Sequence[int] | None = None) -> Variable:
    """Permute axes (reverse them if ``axes`` is None), as numpy."""
    x = as_tensor(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(int(a) % x.ndim if -x.ndim <= a < x.ndim else a for a in axes)
    if sorted(axes) != list(range(x.ndim)):
        raise ValueError(f"transpose axes {axes} are not a permutation of {x.ndim} axes")
    return dimshuffle(x, *axes)


def expand_dims(x, axis) -> Variable:
    """Insert size-1 axes at ``axis`` (an int or a tuple), as numpy."""
    x = as_tensor(x)
    axis = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    nd = x.ndim + len(axis)
    new = normalize_axes(axis, nd)
    it = iter(range(x.ndim))
    return dimshuffle(x, *("x" if a in new else next(it) for a in range(nd)))


def squeeze(x, axis=None) -> Variable:
    """Drop axes of static size 1 (all of them if ``axis`` is None)."""
    x = as_tensor(x)
    if axis is None:
        axes = tuple(a for a, s in enumerate(x.type.shape) if s == 1)
    else:
        axes = normalize_axes(axis, x.ndim)
        for a in axes:
            if x.type.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of {x.type} is not of static size 1")
    return dimshuffle(x, *(a for a in range(x.ndim) if a not in axes))


class Shape(Op):
    """The shape of a tensor, as an int64 vector."""

    def make_node(self, x: Variable) -> Apply:
        return Apply(self, [x], [TensorType("int64", (x.ndim,))()])

    def lower(self, node):
        return LibraryCall.of("shape")

    def grad(self, inputs, outputs, output_grads):
        return [None]


def shape(x) -> Variable:
    """``x``'s shape as a symbolic int64 vector (``x.shape``); use ``x.shape[i]``."""
    return Shape()(as_tensor(x))


class Count(Op):
    """The number of elements of ``x`` along ``axes``: a scalar of ``dtype`` (int64 unless
    a mean's gradient wants it in its float dtype: no cast kernel then)."""
    __props__ = ("axes", "dtype")

    def __init__(self, axes: tuple[int, ...], dtype: str = "int64"):
        self.axes = tuple(axes)
        self.dtype = as_dtype(dtype)

    def make_node(self, x: Variable) -> Apply:
        return Apply(self, [x], [TensorType(self.dtype, ())()])

    def lower(self, node):
        return LibraryCall.of("count", axes=self.axes, dtype=self.dtype)

    def grad(self, inputs, outputs, output_grads):
        return [None]


def count(x, axes: Sequence[int] | None = None, dtype: str = "int64") -> Variable:
    """The number of elements of ``x`` along ``axes`` (all if None), a scalar of
    ``dtype``: a constant when those sizes are static."""
    x = as_tensor(x)
    axes = tuple(range(x.ndim)) if axes is None else tuple(axes)
    sizes = [x.type.shape[a] for a in axes]
    if None not in sizes:
        return constant(np.asarray(int(np.prod(sizes, dtype=np.int64)), dtype=dtype))
    return Count(axes, dtype)(x)


def size(x) -> Variable:
    """The number of elements of ``x`` (``x.size``)."""
    return count(x)


def _shape_vector(shape) -> tuple[Variable, tuple[int | None, ...]]:
    """A shape argument (ints, scalars, a vector variable) as an int64 vector variable and
    what is statically known of it."""
    if isinstance(shape, Variable):
        if shape.ndim != 1 or shape.dtype not in INTS or shape.type.shape[0] is None:
            raise TypeError(f"a shape must be an integer vector of static length, got "
                            f"{shape.type}")
        if isinstance(shape, Constant):
            static = tuple(int(v) for v in shape.data)
        elif shape.owner is not None and isinstance(shape.owner.op, Shape):
            static = shape.owner.inputs[0].type.shape      # x.shape: what x's type knows
        else:
            static = (None,) * shape.type.shape[0]
        return cast(shape, "int64"), static
    if isinstance(shape, (int, np.integer)):
        shape = (shape,)
    for s in shape:
        if not isinstance(s, (int, np.integer, Variable)):
            raise TypeError(f"shape entries must be integers, got {s!r} in {tuple(shape)}")
    parts = [as_tensor(s, "int64") if not isinstance(s, Variable) else s for s in shape]
    for p in parts:
        if p.ndim != 0 or p.dtype not in INTS:
            raise TypeError(f"shape entries must be integer scalars, got {p.type}")
    static = tuple(int(p.data) if isinstance(p, Constant) else None for p in parts)
    if all(isinstance(p, Constant) for p in parts):
        return as_tensor(np.asarray(static, dtype="int64")), static
    return stack([cast(p, "int64") for p in parts]), static


class Reshape(Op):
    """Reshape to a run-time shape vector (one entry may be -1), as numpy. ``static`` is
    what is known of that vector while building (ints, -1, None)."""
    __props__ = ("static",)

    def __init__(self, static: tuple):
        self.static = tuple(static)
        self.ndim = len(static)

    def __str__(self) -> str:
        return f"reshape{{{','.join('?' if s is None else str(s) for s in self.static)}}}"

    def make_node(self, x: Variable, shp: Variable) -> Apply:
        static = self.static
        if shp.ndim != 1 or shp.type.shape[0] != self.ndim:
            raise TypeError(f"reshape to rank {self.ndim} needs an int vector of length "
                            f"{self.ndim}, got {shp.type}")
        out = list(static)
        if -1 in out and all(s is not None for s in x.type.shape):
            known = int(np.prod([s for s in out if s != -1]))
            total = int(np.prod(x.type.shape))
            if known == 0 or total % known:
                raise ValueError(f"cannot reshape {x.type} to {tuple(static)}")
            out[out.index(-1)] = total // known
        if all(s is not None and s >= 0 for s in out) and \
                all(s is not None for s in x.type.shape) and \
                int(np.prod(out)) != int(np.prod(x.type.shape)):
            raise ValueError(f"cannot reshape {x.type} to {tuple(static)}")
        out = [None if (s is None or s < 0) else s for s in out]
        return Apply(self, [x, shp], [TensorType(x.dtype, out)()])

    def lower(self, node):
        return LibraryCall.of("reshape")

    def grad(self, inputs, outputs, output_grads):
        (x, _), (g,) = inputs, output_grads
        return [Reshape(x.type.shape).make_node(g, shape(x)).outputs[0], None]


def reshape(x, newshape, ndim: int | None = None) -> Variable:
    """``x`` with a new shape (ints, symbolic scalars, or a vector; -1 once), as numpy."""
    x = as_tensor(x)
    shp, static = _shape_vector(newshape)
    if ndim is not None and ndim != len(static):
        raise ValueError(f"reshape: ndim={ndim} but the shape has {len(static)} entries")
    if list(static).count(-1) > 1 or any(s is not None and s < -1 for s in static):
        raise ValueError(f"reshape: bad shape {static} (one -1 at most, no other negatives)")
    if static == x.type.shape and None not in static:
        return x
    return Reshape(static).make_node(x, shp).outputs[0]


def flatten(x, ndim: int = 1) -> Variable:
    """Collapse the trailing axes so the result has rank ``ndim`` (Theano's flatten)."""
    x = as_tensor(x)
    if not 1 <= ndim <= max(x.ndim, 1):
        raise ValueError(f"flatten: ndim must be in 1..{max(x.ndim, 1)}, got {ndim}")
    if ndim == 1:
        return reshape(x, (-1,))
    # the last size is counted, not -1: numpy cannot infer -1 when another size is 0
    s, static = shape(x), x.type.shape
    rest = static[ndim - 1:]
    last = int(np.prod(rest)) if None not in rest else count(x, range(ndim - 1, x.ndim))
    return reshape(x, [s[i] if static[i] is None else static[i] for i in range(ndim - 1)]
                   + [last])


class Join(Op):
    """Concatenate tensors along ``axis``."""
    __props__ = ("axis",)

    def __init__(self, axis: int):
        self.axis = axis

    def make_node(self, *xs: Variable) -> Apply:
        if not xs:
            raise ValueError("concatenate needs at least one tensor")
        nd = xs[0].ndim
        if any(x.ndim != nd for x in xs) or not 0 <= self.axis < nd:
            raise ValueError(f"concatenate: tensors of one rank > axis {self.axis} needed, "
                             f"got {[str(x.type) for x in xs]}")
        shape = []
        for a in range(nd):
            sizes = [x.type.shape[a] for x in xs]
            if a == self.axis:
                shape.append(None if None in sizes else sum(sizes))
            else:
                known = {s for s in sizes if s is not None}
                if len(known) > 1:
                    raise ValueError(f"concatenate: sizes on axis {a} differ: "
                                     f"{[str(x.type) for x in xs]}")
                shape.append(known.pop() if known else None)
        return Apply(self, xs, [TensorType(result_dtype(*(x.dtype for x in xs)), shape)()])

    def lower(self, node):
        return LibraryCall.of("concatenate", axis=self.axis, dtype=node.outputs[0].dtype)

    def grad(self, inputs, outputs, output_grads):
        g, grads, start = output_grads[0], [], 0
        for x in inputs:
            stop = start + x.shape[self.axis]
            idx = (slice(None),) * self.axis + (slice(start, stop),)
            grads.append(cast(g[idx], x.dtype) if x.dtype in FLOATS else None)
            start = stop
        return grads


def concatenate(tensors: Sequence, axis: int = 0) -> Variable:
    """Join tensors along an existing axis, as numpy."""
    xs = [as_tensor(t) for t in tensors]
    if not xs:
        raise ValueError("concatenate needs at least one tensor")
    (axis,) = normalize_axes(axis, xs[0].ndim)
    return xs[0] if len(xs) == 1 else Join(axis)(*xs)


def stack(tensors: Sequence, axis: int = 0) -> Variable:
    """Join tensors along a new axis, as numpy."""
    xs = [as_tensor(t) for t in tensors]
    if not xs:
        raise ValueError("stack needs at least one tensor")
    return Join(normalize_axes(axis, xs[0].ndim + 1)[0])(
        *(expand_dims(x, axis) for x in xs))


class BroadcastTo(Op):
    """``x`` broadcast to a run-time shape, as numpy's broadcast_to (a view). Only new
    leading axes and axes of static size 1 broadcast (so the gradient is known)."""
    __props__ = ("static",)

    def __init__(self, static: tuple):
        self.static = tuple(static)
        self.ndim = len(static)

    def make_node(self, x: Variable, shp: Variable) -> Apply:
        static = self.static
        if x.ndim > self.ndim:
            raise ValueError(f"broadcast_to: cannot broadcast {x.type} to rank {self.ndim}")
        xs = (1,) * (self.ndim - x.ndim) + x.type.shape
        for s, t in zip(xs, static):
            if s not in (None, 1) and t is not None and s != t:
                raise ValueError(f"broadcast_to: cannot broadcast {x.type} to {static}")
        return Apply(self, [x, shp], [TensorType(x.dtype, static)()])

    def lower(self, node):
        ones = tuple(a for a, s in enumerate(node.inputs[0].type.shape) if s == 1)
        return LibraryCall.of("broadcast_to", ones=ones)

    def grad(self, inputs, outputs, output_grads):
        (x, _), (g,) = inputs, output_grads
        lead = tuple(range(self.ndim - x.ndim))
        if lead:
            g = g.sum(axis=lead)
        axes = tuple(a for a, s in enumerate(x.type.shape) if s == 1)
        if axes:
            g = g.sum(axis=axes, keepdims=True)
        return [g, None]


def broadcast_to(x, newshape) -> Variable:
    """``x`` broadcast to ``newshape``, as numpy."""
    x = as_tensor(x)
    shp, static = _shape_vector(newshape)
    return BroadcastTo(static).make_node(x, shp).outputs[0]


install("dimshuffle", dimshuffle)
install("transpose", transpose, np.transpose)
install("reshape", reshape, np.reshape)
install("flatten", flatten)
install("squeeze", squeeze, np.squeeze)
install("shape", shape)
install("size", size)
install("stack", stack, np.stack)
install("", concatenate, np.concatenate)
install("", expand_dims, np.expand_dims)
install("", broadcast_to, np.broadcast_to)
