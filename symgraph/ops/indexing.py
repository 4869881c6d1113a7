"""Indexing: numpy's basic indexing (:class:`Subtensor`, a view), integer arrays and bool
masks among basic entries (:class:`AdvancedSubtensor`, a gather, with numpy's broadcasting
of the index arrays and placement of their axes), and their functional writes
``set_subtensor`` / ``inc_subtensor`` (:class:`IncSubtensor`, :class:`AdvancedIncSubtensor`,
a scatter with ``np.add.at`` semantics).

An index is kept as ``idx_list``, a tuple of hashable entries (the op's ``__props__``), in
the format of :mod:`codegen.lib.index`: ``("int", i)``, ``("slice", start, stop, step)``,
``("new",)``, ``("...",)`` and ``("array", k)``. A bound or integer that is a symbolic
scalar is written :data:`SYM` and its variable is an input of the node; index inputs
follow ``x`` (and ``y``) in the order their entries appear. Basic indexing lowers to a view;
the rest to the library's ``gather``, ``write_slice`` and ``scatter``.

>>> import symgraph as sg, numpy as np
>>> x, n = sg.dmatrix("x"), sg.lscalar("n")
>>> x[1:, ::-1].type, x[0].type, x[:n, None].type
(TensorType(float64, (?, ?)), TensorType(float64, (?,)), TensorType(float64, (?, 1, ?)))
>>> sg.set_subtensor(x[0], 5.0).eval({x: np.zeros((2, 2))}).tolist()
[[5.0, 5.0], [0.0, 0.0]]
>>> t = sg.tensor("t", "float64", (5, 6, 7))
>>> t[:, [0, 1], [2, 3]].type, t[[0, 1], :, [2, 3]].type, t[[[0], [1]], 2:, -1].type
(TensorType(float64, (5, 2)), TensorType(float64, (2, 6)), TensorType(float64, (2, 1, 4)))
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from codegen.lib.index import (SYM, Entry, broadcast, check_array_range, check_range, fmt,
                               index_shape, walk, width)
from codegen.program import LibraryCall

from ..graph import Apply, Constant, Op, Variable
from ..types import FLOATS, INTS, TensorType
from ..variable import as_tensor, constant, install
from .elemwise import cast, sum_to_type, where, zeros_like
from .shape import Shape, normalize_axes, reshape


class IndexTypeError(IndexError, TypeError):
    """An index of a type that cannot index (a float, a float array, a bool scalar): an
    IndexError as numpy raises, and a TypeError, which is what it is."""


def _to_scalar(v, what: str, inputs: list[Variable]) -> int | str | None:
    """A slice bound or integer index as an int, or :data:`SYM` (its variable appended
    to ``inputs``); ``None`` stays (a default bound)."""
    if v is None:
        return None
    if isinstance(v, (bool, np.bool_)):
        raise IndexTypeError(f"{what}: a bool ({v!r}) is not an integer index; use an int, "
                             "or a bool array as a mask")
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, np.ndarray) and v.ndim == 0 and v.dtype.kind in "iu":
        return int(v)
    if isinstance(v, Variable) and v.ndim == 0 and v.dtype in INTS:
        if isinstance(v, Constant):
            return int(v.data)
        inputs.append(v)
        return SYM
    kind = v.type if isinstance(v, Variable) else type(v).__name__
    raise IndexTypeError(f"{what} must be an integer (int or integer scalar variable), got "
                         f"{kind}")


def _is_array(item) -> bool:
    """A list is always an index array, as in numpy (``x[[]]`` too)."""
    if isinstance(item, (Variable, np.ndarray)):
        return item.ndim > 0
    return isinstance(item, list)


def _as_index_array(v) -> Variable:
    """An array index (list, ndarray or variable) as an integer or bool variable."""
    if isinstance(v, list) and any(isinstance(e, Variable) for e in v):
        v = as_tensor(v)
    if not isinstance(v, Variable):
        arr = np.asarray(v)
        if arr.size == 0 and arr.dtype.kind == "f":   # [] means no integer indices
            arr = arr.astype("int64")
        if arr.dtype.kind not in "biu":
            raise IndexTypeError(f"index arrays must hold integers (or bools, a mask), got "
                                 f"{arr.dtype} values {v!r}")
        if arr.dtype.kind in "iu" and arr.dtype.name not in INTS:
            arr = arr.astype("int64")
        v = as_tensor(arr)
    if v.dtype not in (*INTS, "bool"):
        raise IndexTypeError(f"index arrays must be integer (or bool, a mask) tensors, got "
                             f"{v.type}")
    return v


def parse_index(x: Variable, idx) -> tuple[tuple[Entry, ...], list[Variable]]:
    """``idx`` (anything numpy takes, with symbolic scalars and index arrays) as an
    ``idx_list`` and the index inputs it refers to."""
    items = idx if isinstance(idx, tuple) else (idx,)
    entries: list[Entry] = []
    inputs: list[Variable] = []
    for item in items:
        if item is None:
            entries.append(("new",))
        elif item is Ellipsis:
            if ("...",) in entries:
                raise IndexError("an index can have only one ellipsis ('...')")
            entries.append(("...",))
        elif isinstance(item, slice):
            bounds = tuple(_to_scalar(getattr(item, p), f"slice {p}", inputs)
                           for p in ("start", "stop", "step"))
            if bounds[2] == 0:
                raise ValueError("slice step cannot be zero")
            entries.append(("slice", *bounds[:2], None if bounds[2] == 1 else bounds[2]))
        elif _is_array(item):
            arr = _as_index_array(item)
            entries.append(("array", arr.ndim if arr.dtype == "bool" else 1))
            inputs.append(arr)
        else:
            entries.append(("int", _to_scalar(item, "an index", inputs)))
    used = sum(width(e) for e in entries)
    if used > x.ndim:
        raise IndexError(f"too many indices for {x.type}: the index [{fmt(entries)}] "
                         f"uses {used} axes, the tensor has {x.ndim}")
    return tuple(entries), inputs


# ---------------------------------------------------------------- ops
class _IndexOp(Op):
    """What all indexing ops share: the ``idx_list``, checking the index inputs against
    it, and binding their run-time values into a numpy index."""
    __props__ = ("idx_list",)
    advanced = False

    def __init__(self, idx_list: Sequence[Entry]):
        self.idx_list = tuple(idx_list)

    def __str__(self) -> str:
        return f"{self.name}{{{fmt(self.idx_list)}}}"

    def region_type(self, x: Variable, idx: Sequence[Variable]) -> list[int | None]:
        """The static shape of ``x[idx]``, after checking ``idx`` fits ``idx_list``."""
        arrays = sum(e[0] == "array" for e in self.idx_list)
        wants = arrays + sum(e.count(SYM) for e in self.idx_list)
        if wants != len(idx) or bool(arrays) != self.advanced:
            raise TypeError(f"{self}: expected {wants} index inputs ({arrays} arrays), got "
                            f"{len(idx)}")
        if sum(width(e) for e in self.idx_list) > x.ndim:
            raise IndexError(f"too many indices for {x.type}: [{fmt(self.idx_list)}]")
        it = iter(idx)
        adv: list[tuple[Variable, int, tuple]] = []
        for e, axis in walk(self.idx_list, x.ndim):
            if e[0] == "array":
                v = next(it)
                adv.append((v, axis, self._check_array(e, v, x, axis)))
                continue
            for b in e[1:]:
                if b == SYM:
                    v = next(it)
                    if v.ndim != 0 or v.dtype not in INTS:
                        raise TypeError(f"{self}: index inputs must be integer scalars, "
                                        f"got {v.type}")
            if e[0] == "int" and e[1] != SYM and x.type.shape[axis] is not None:
                check_range(e[1], x.type.shape[axis], axis)
        if not adv:
            return index_shape(self.idx_list, x.type.shape, None)
        adv_shape = broadcast([s for _, _, s in adv], [axis for _, axis, _ in adv])
        if None not in adv_shape and 0 not in adv_shape:   # (numpy checks no empty one)
            for v, axis, _ in adv:
                n = x.type.shape[axis]
                if isinstance(v, Constant) and v.dtype != "bool" and n is not None:
                    check_array_range(v.data, n, axis)
        return index_shape(self.idx_list, x.type.shape, adv_shape)

    def _check_array(self, e: Entry, v: Variable, x: Variable, axis: int) -> tuple:
        """Check the index array ``v`` against ``x``; the shape it broadcasts with the
        other advanced indices (a mask's: its count of true entries)."""
        if v.dtype == "bool":
            if v.ndim != e[1]:
                raise TypeError(f"{self}: a rank-{e[1]} mask expected, got {v.type}")
            for a, (m, s) in enumerate(zip(v.type.shape, x.type.shape[axis:])):
                if None not in (m, s) and m != s:
                    raise IndexError(f"mask {v.type} does not fit axis {axis + a} of "
                                     f"{x.type}")
            return (int(v.data.sum()) if isinstance(v, Constant) else None,)
        if v.ndim == 0 or v.dtype not in INTS:
            raise TypeError(f"{self}: an index array must be an integer or bool tensor of "
                            f"rank >= 1, got {v.type}")
        return v.type.shape


class _Read(_IndexOp):
    """``x[idx]``. Inputs: ``x`` and the index inputs."""

    def make_node(self, x: Variable, *idx: Variable) -> Apply:
        return Apply(self, [x, *idx], [TensorType(x.dtype, self.region_type(x, idx))()])

    def grad(self, inputs, outputs, output_grads):
        (x, *idx), (g,) = inputs, output_grads
        if x.dtype not in FLOATS:
            return [None] * len(inputs)
        write = AdvancedIncSubtensor if self.advanced else IncSubtensor
        gx = write(self.idx_list, False).make_node(zeros_like(x), g, *idx).outputs[0]
        return [gx, *[None] * len(idx)]


class Subtensor(_Read):
    """Basic indexing (ints, slices, None, ...): a view of ``x``."""

    def lower(self, node):
        return LibraryCall.of("subtensor", index=self.idx_list)


class AdvancedSubtensor(_Read):
    """Integer arrays and bool masks among basic entries: a gather (a copy). As numpy:
    the index arrays (a mask as its ``nonzero()``, integers as 0-d arrays) broadcast
    together, and the broadcast axes take the place of the first advanced index when the
    advanced indices stand next to each other, else they come first."""
    advanced = True

    def lower(self, node):
        return LibraryCall.of("gather", index=self.idx_list)


class _Write(_IndexOp):
    """``x`` with ``x[idx]`` set to (``set_instead_of_inc``) or increased by ``y``, as a
    new tensor (``x`` is copied). ``y`` broadcasts to the region by numpy's rules, where
    only its axes of static size 1 stretch. Inputs: ``x``, ``y``, the index inputs."""
    __props__ = ("idx_list", "set_instead_of_inc")

    def __init__(self, idx_list: Sequence[Entry], set_instead_of_inc: bool):
        super().__init__(idx_list)
        self.set_instead_of_inc = bool(set_instead_of_inc)

    @property
    def name(self) -> str:
        return ("advanced" if self.advanced else "") + (
            "setsubtensor" if self.set_instead_of_inc else "incsubtensor")

    def make_node(self, x: Variable, y: Variable, *idx: Variable) -> Apply:
        region = self.region_type(x, idx)
        if y.dtype != x.dtype:
            raise TypeError(f"{self.name}: the value must have x's dtype {x.dtype}, got "
                            f"{y.type} (set_subtensor / inc_subtensor cast it)")
        if not self.set_instead_of_inc and x.dtype == "bool":
            raise TypeError(f"inc_subtensor of a bool tensor {x.type}: use set_subtensor "
                            "or cast it first")
        if y.ndim > len(region):
            raise ValueError(f"{self.name}: a value of rank {y.ndim} ({y.type}) cannot fill "
                             f"the rank-{len(region)} region x[{fmt(self.idx_list)}] of "
                             f"{x.type}")
        for a, s in enumerate(y.type.shape):
            r = region[len(region) - y.ndim + a]
            if None not in (s, r) and s not in (1, r):
                raise ValueError(f"{self.name}: a value of type {y.type} does not fit the "
                                 f"region x[{fmt(self.idx_list)}] of static shape "
                                 f"{tuple(region)} of {x.type}")
        return Apply(self, [x, y, *idx], [x.type()])

    def lower(self, node):
        ones = tuple(a for a, d in enumerate(node.inputs[1].type.shape) if d == 1)
        return LibraryCall.of("scatter" if self.advanced else "write_slice",
                              index=self.idx_list, set=self.set_instead_of_inc, ones=ones)

    def grad(self, inputs, outputs, output_grads):
        (x, y, *idx), (g,) = inputs, output_grads
        if x.dtype not in FLOATS:
            return [None] * len(inputs)
        gx = g
        if self.set_instead_of_inc:    # what was written over does not reach the output
            gx = type(self)(self.idx_list, True).make_node(
                g, constant(0, g.dtype), *idx).outputs[0]
        read = AdvancedSubtensor if self.advanced else Subtensor
        gy = read(self.idx_list).make_node(g, *idx).outputs[0]
        if self.set_instead_of_inc and any(v.dtype != "bool" for v in idx if v.ndim):
            # a value a later one overwrote (a repeated index) does not reach the output
            kept = LastWrites(self.idx_list).make_node(x, *idx).outputs[0]
            gy = where(kept, gy, constant(0, gy.dtype))
        lead = tuple(range(gy.ndim - y.ndim))
        if lead:
            gy = gy.sum(axis=lead)
        return [gx, sum_to_type(gy, y.type), *[None] * len(idx)]


class IncSubtensor(_Write):
    """Set or increase a basic-indexing region: written in place in a copy of ``x``."""


class LastWrites(_IndexOp):
    """Over the region ``x[idx]``, whether a set through ``idx`` keeps the value written
    there: False where a later position of the index (in C order) writes the same element
    of ``x``. Only ``x``'s shape matters. Inputs: ``x`` and the index inputs."""
    advanced = True

    def make_node(self, x: Variable, *idx: Variable) -> Apply:
        return Apply(self, [x, *idx], [TensorType("bool", self.region_type(x, idx))()])

    def lower(self, node):
        return LibraryCall.of("last_writes", index=self.idx_list)

    def grad(self, inputs, outputs, output_grads):
        return [None] * len(inputs)


class AdvancedIncSubtensor(_Write):
    """Set or increase through index arrays: a scatter. Repeated indices accumulate
    every increment (``np.add.at``). For a set, which of the values written to one
    position wins is numpy's: the last in the C order of the broadcast index, on the numpy
    and llvm backends (cupy leaves it unspecified), and the gradient to ``y`` reaches only
    the values that stay (:class:`LastWrites`)."""
    advanced = True


# ---------------------------------------------------------------- user functions
def getitem(x, idx) -> Variable:
    """``x[idx]`` with numpy's meaning: ints (negative too), slices, None, Ellipsis, where
    ints and slice bounds may be symbolic integer scalars, and integer arrays and bool
    masks given as lists, ndarrays or variables, broadcast together. An index out of range
    raises IndexError when the function runs (or when it is built, if it is known then);
    an index of another type raises :class:`IndexTypeError` (an IndexError and a
    TypeError).

    >>> import symgraph as sg, numpy as np
    >>> W, ids = sg.dmatrix("W"), sg.lvector("ids")
    >>> W[ids].eval({W: np.eye(3), ids: np.array([2, 2])}).tolist()
    [[0.0, 0.0, 1.0], [0.0, 0.0, 1.0]]
    >>> W[ids, [0, 2]].eval({W: np.eye(3), ids: np.array([0, 2])}).tolist()
    [1.0, 1.0]
    >>> W[W > 0.5].eval({W: np.eye(2)}).tolist()
    [1.0, 1.0]
    >>> sg.tensor("v", "float32", shape=(4, None))[::-2, 0].type
    TensorType(float32, (2,))
    """
    x = as_tensor(x)
    idx_list, inputs = parse_index(x, idx)
    if (x.owner is not None and isinstance(x.owner.op, Shape) and len(idx_list) == 1
            and idx_list[0][0] == "int" and idx_list[0][1] != SYM):
        # x.shape[i] of a statically known size is that size: shape code stays cheap
        i, src = idx_list[0][1], x.owner.inputs[0]
        check_range(i, src.ndim, 0)
        if src.type.shape[i] is not None:
            return constant(np.int64(src.type.shape[i]))
    op = AdvancedSubtensor if any(e[0] == "array" for e in idx_list) else Subtensor
    return op(idx_list).make_node(x, *inputs).outputs[0]


def _write(view: Variable, y, set_: bool) -> Variable:
    fname = "set_subtensor" if set_ else "inc_subtensor"
    node = view.owner if isinstance(view, Variable) else None
    if node is None or not isinstance(node.op, (Subtensor, AdvancedSubtensor)):
        raise TypeError(f"{fname}: the first argument must be an indexing expression such "
                        f"as x[1:3] or x[idx], got {view!r}")
    x, idx = node.inputs[0], node.inputs[1:]
    if not isinstance(y, (Variable, np.ndarray, np.generic)) and not (
            isinstance(y, (list, tuple)) and any(isinstance(e, Variable) for e in y)):
        y = constant(y, x.dtype)   # Python values are weak: they take x's dtype
    y = as_tensor(y)
    if y.dtype != x.dtype:
        if not np.can_cast(y.dtype, x.dtype, "same_kind"):
            raise TypeError(f"{fname}: cannot write {y.type} values into {x.type} "
                            f"(cast them with .astype('{x.dtype}') if meant)")
        y = cast(y, x.dtype)
    op = AdvancedIncSubtensor if node.op.advanced else IncSubtensor
    return op(node.op.idx_list, set_).make_node(x, y, *idx).outputs[0]


def set_subtensor(view: Variable, y) -> Variable:
    """A copy of ``x`` with the region ``view = x[idx]`` replaced by ``y`` (Theano's
    ``set_subtensor``; numpy's ``x[idx] = y`` without changing ``x``).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.set_subtensor(x[1:], [7.0, 8.0]).eval({x: np.zeros(3)}).tolist()
    [0.0, 7.0, 8.0]
    """
    return _write(view, y, True)


def inc_subtensor(view: Variable, y) -> Variable:
    """A copy of ``x`` with ``y`` added to the region ``view = x[idx]``; with an index
    array, repeated indices add up (``np.add.at``).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.inc_subtensor(x[[0, 0, 2]], 1.0).eval({x: np.zeros(3)}).tolist()
    [2.0, 0.0, 1.0]
    """
    return _write(view, y, False)


def take(x, indices, axis: int | None = None) -> Variable:
    """Elements of ``x`` at integer ``indices`` along ``axis`` (of the flattened ``x``
    if None), as numpy's ``take``.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dmatrix("x")
    >>> sg.take(x, [1, 0], axis=1).eval({x: np.array([[1.0, 2.0]])}).tolist()
    [[2.0, 1.0]]
    """
    x = as_tensor(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    (axis,) = normalize_axes(axis, x.ndim)
    if _is_array(indices):
        indices = _as_index_array(indices)
    if isinstance(indices, Variable) and indices.dtype == "bool":
        raise IndexError("take: indices must be integers, got bools (index with a mask: "
                         "x[mask])")
    return getitem(x, (slice(None),) * axis + (indices,))


install("getitem", getitem)
install("", take, np.take)
