"""The library's entries, written once over an array module ``xp`` (numpy or cupy): every
function takes ``xp`` first, then the arrays, then keyword parameters.
:func:`library` binds them to one module.

Each entry checks its arguments and says what is wrong in the terms of the call (shapes,
axes, indices): the arrays may come straight from a user, and native code (BLAS, CUDA)
must never see input that does not fit.

>>> import numpy as np
>>> lib = library(np, "numpy")
>>> lib["dot"](np.ones((2, 3)), np.ones(3), dtype="float64").tolist()
[3.0, 3.0]
"""
from __future__ import annotations

import math
from functools import partial
from typing import Any, Callable, Sequence

import numpy as np

from codegen.lib import Entry, Library
from codegen.lib import conv
from codegen.lib import index as ix
from codegen.lib import window


# ---------------------------------------------------------------- products
def _check_contraction(name: str, a, b) -> None:
    ka, kb = a.shape[-1], b.shape[0 if b.ndim == 1 else -2]
    if ka != kb:
        raise ValueError(f"{name}: shapes {a.shape} and {b.shape} do not align: the last "
                         f"axis of the first has size {ka}, the contracted axis of the "
                         f"second {kb}")


def _fits(out, shape: tuple, dtype) -> bool:
    return (out is not None and out.shape == shape and out.dtype == dtype
            and out.flags.c_contiguous and out.flags.writeable)


def dot(xp, a, b, *, dtype: str, out=None):
    """numpy's ``dot`` of 1-d and 2-d operands, computed in ``dtype``."""
    _check_contraction("dot", a, b)
    a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    shape = (*a.shape[:-1], *b.shape[1:])
    if shape and _fits(out, shape, a.dtype):
        return xp.dot(a, b, out=out)
    return xp.asarray(xp.dot(a, b))


def matmul(xp, a, b, *, dtype: str, bcast: tuple[tuple[int, ...], tuple[int, ...]],
           out=None):
    """Batched ``a @ b`` of two arrays of one rank >= 2, computed in ``dtype``; batch axis
    ``i`` may differ in size only where an operand lists it in ``bcast`` (then it has
    size 1)."""
    _check_contraction("matmul", a, b)
    for ax in range(a.ndim - 2):
        sizes = {x.shape[ax] for x, bc in zip((a, b), bcast) if ax not in bc}
        if len(sizes) > 1:
            raise ValueError(f"matmul: shapes {a.shape} and {b.shape} differ on batch "
                             f"axis {ax}. Only axes of static size 1 broadcast: declare "
                             "them (shape=(1, ...), dimshuffle('x', ...))")
    a, b = a.astype(dtype, copy=False), b.astype(dtype, copy=False)
    batch = tuple(max(m, n) for m, n in zip(a.shape[:-2], b.shape[:-2]))
    if _fits(out, (*batch, a.shape[-2], b.shape[-1]), a.dtype):
        return xp.matmul(a, b, out=out)
    return xp.matmul(a, b)


# ---------------------------------------------------------------- reductions and shapes
def argmax(xp, x, *, axis: int | None, keepdims: bool, minimum: bool):
    """Index (int64) of the maximum, or with ``minimum`` of the minimum, along ``axis``
    (of the flattened array if None)."""
    name = "argmin" if minimum else "argmax"
    if x.size == 0 if axis is None else x.shape[axis] == 0:
        raise ValueError(f"{name} of an empty sequence (shape {x.shape})")
    f = xp.argmin if minimum else xp.argmax
    return xp.asarray(f(x, axis=axis, keepdims=keepdims)).astype("int64", copy=False)


def softmax(xp, x, *, axis: int, log: bool):
    """The softmax (with ``log``, the log-softmax) along ``axis``, computed after
    subtracting the maximum; a non-finite maximum (a row of -inf, a +inf) shifts by 0,
    giving what the plain formula gives there (NaN, as scipy)."""
    if x.size == 0:
        return x.copy()
    with np.errstate(all="ignore"):      # inf and NaN rows give what the formula gives
        m = x.max(axis=axis, keepdims=True)
        s = x - xp.where(xp.isfinite(m), m, 0).astype(x.dtype)
        e = xp.exp(s)
        total = e.sum(axis=axis, keepdims=True)
        return s - xp.log(total) if log else e / total


def sort(xp, x, *, axis: int, indices: bool):
    """``x`` sorted along ``axis`` (NaN last, stable), or with ``indices`` the int64
    indices that sort it."""
    if indices:
        return xp.argsort(x, axis=axis, kind="stable").astype("int64", copy=False)
    return xp.sort(x, axis=axis, kind="stable")


def cumsum(xp, x, *, axis: int):
    """The running sum of ``x`` along ``axis``, in ``x``'s dtype."""
    return xp.cumsum(x, axis=axis, dtype=x.dtype)


def cumprod(xp, x, *, axis: int):
    """The running product of ``x`` along ``axis``, in ``x``'s dtype."""
    return xp.cumprod(x, axis=axis, dtype=x.dtype)


def arange_length(start, stop, step) -> int:
    """The length of numpy's ``arange(start, stop, step)`` of these Python numbers
    (``ceil((stop - start) / step)``, at least 0); a zero step or a bound that is not
    finite is a ``ValueError``."""
    if step == 0:
        raise ValueError(f"arange: the step is 0 (start {start}, stop {stop})")
    if not all(math.isfinite(v) for v in (start, stop, step)):
        raise ValueError(f"arange: start, stop and step must be finite, got {start}, "
                         f"{stop}, {step}")
    return max(0, math.ceil((stop - start) / step))


def arange(xp, start, stop, step, *, dtype: str):
    """numpy's ``arange`` in ``dtype`` from three scalars, read as Python numbers so that
    the length is the one :func:`arange_length` gives while building."""
    start, stop, step = start.item(), stop.item(), step.item()
    arange_length(start, stop, step)
    return xp.arange(start, stop, step, dtype=dtype)


def _check_along(name: str, x, idx, axis: int) -> None:
    if idx.ndim != x.ndim or any(i != n for a, (i, n) in enumerate(zip(idx.shape, x.shape))
                                 if a != axis):
        raise ValueError(f"{name}: indices of shape {idx.shape} do not fit values of shape "
                         f"{x.shape} along axis {axis}")
    if idx.size:
        ix.check_array_range(idx, x.shape[axis], axis)


def take_along_axis(xp, x, idx, *, axis: int):
    """``x``'s values at ``idx`` along ``axis`` (numpy's ``take_along_axis``)."""
    _check_along("take_along_axis", x, idx, axis)
    return xp.take_along_axis(x, idx, axis=axis)


def put_along_axis(xp, g, idx, x, *, axis: int, add_at: Callable):
    """Zeros shaped like ``x`` with ``g`` added where ``idx`` points along ``axis``
    (repeated indices accumulate)."""
    _check_along("put_along_axis", x, idx, axis)
    out = xp.zeros(x.shape, g.dtype)
    grid = list(xp.ix_(*(xp.arange(n) for n in idx.shape))) if idx.ndim else []
    grid[axis] = idx
    add_at(out, tuple(grid), g)
    return out


def count(xp, x, *, axes: tuple[int, ...], dtype: str = "int64"):
    """The number of elements of ``x`` along ``axes``, a scalar of ``dtype`` (converted
    as a cast from int64 converts: a narrow integer wraps)."""
    return xp.asarray(math.prod(x.shape[a] for a in axes), dtype="int64").astype(dtype)


def shape(xp, x):
    """``x``'s shape as an int64 vector."""
    return xp.asarray(x.shape, dtype="int64")


def concatenate(xp, *xs, axis: int, dtype: str):
    return xp.concatenate(xs, axis=axis).astype(dtype, copy=False)


# ---------------------------------------------------------------- views
def _shape_of(v) -> tuple[int, ...]:
    return tuple(int(s) for s in v.tolist())


def dimshuffle(xp, x, *, pattern: tuple):
    """Theano's dimshuffle: ``pattern`` lists ``x``'s axes in their new order, ``'x'`` for
    a new axis of size 1; axes left out must have size 1."""
    axes = [p for p in pattern if p != "x"]
    dropped = [a for a in range(x.ndim) if a not in axes]
    if any(x.shape[a] != 1 for a in dropped):
        raise ValueError(f"dimshuffle {pattern} drops axes {dropped} of an array of shape "
                         f"{x.shape}, which are not of size 1")
    return x.transpose(axes + dropped).reshape([1 if p == "x" else x.shape[p]
                                                for p in pattern])


def reshape(xp, x, newshape):
    """``x`` with the shape the int vector ``newshape`` gives (one entry may be -1)."""
    target = _shape_of(newshape)
    try:
        return x.reshape(target)
    except ValueError:
        raise ValueError(f"cannot reshape an array of shape {x.shape} to {target}") from None


def broadcast_to(xp, x, newshape, *, ones: tuple[int, ...]):
    """``x`` broadcast to ``newshape``: new leading axes, and the axes ``ones`` of ``x``
    (of size 1), stretch; every other axis keeps its size."""
    target = _shape_of(newshape)
    lead = len(target) - x.ndim
    for a in range(x.ndim):
        if a not in ones and x.shape[a] != target[lead + a]:
            raise ValueError(f"broadcast_to: cannot broadcast shape {x.shape} to {target} "
                             f"(axis {a} is not of static size 1)")
    return xp.broadcast_to(x, target)


def subtensor(xp, x, *values, index: tuple):
    """Basic indexing (ints, slices, None, ...) by the index spec ``index``: a view."""
    return x[ix.basic(ix.bind(index, x, values)[0])]


def view(xp, x):
    """A view of all of ``x``: an output that is a view is copied before it leaves a
    function, so an intermediate buffer never escapes through an identity."""
    return x.view()


def diagonal(xp, x, *, offset: int, axis1: int, axis2: int):
    """The diagonal of axes ``axis1`` and ``axis2`` as a last axis, as numpy (a view)."""
    return x.diagonal(offset, axis1, axis2)


# ---------------------------------------------------------------- gathers and scatters
def gather(xp, x, *values, index: tuple):
    """Indexing with integer arrays and bool masks among basic entries (a copy); the
    index arrays broadcast together, as in numpy."""
    return x[ix.bind(index, x, values)[0]]


def _check_fits(y, ones: tuple[int, ...], region: tuple, index: tuple, name: str) -> None:
    """``y`` must match the region it writes except on its axes ``ones`` (of static size
    1), which broadcast."""
    lead = len(region) - y.ndim
    for a, n in enumerate(y.shape):
        if a not in ones and n != region[lead + a]:
            raise ValueError(
                f"{name}: a value of shape {y.shape} does not fit the region "
                f"x[{ix.fmt(index)}] of shape {region} (axis {a}; only axes of "
                "static size 1 broadcast)")


def write_slice(xp, x, y, *values, index: tuple, set: bool, ones: tuple[int, ...]):
    """A copy of ``x`` whose basic-indexing region ``index`` is set to ``y`` or, unless
    ``set``, increased by it."""
    out = x.copy()
    region = out[ix.basic(ix.bind(index, x, values)[0])]
    _check_fits(y, ones, region.shape, index, "setsubtensor" if set else "incsubtensor")
    if set:
        region[...] = y
    else:
        region += y
    return out


def scatter(xp, x, y, *values, index: tuple, set: bool, ones: tuple[int, ...],
            add_at: Callable):
    """A copy of ``x`` with ``y`` written through index arrays: repeated indices
    accumulate every increment (``add_at``, numpy's ``np.add.at``); of a set's writes to
    one place, numpy keeps the last in the index's C order (cupy: one of them)."""
    out = x.copy()
    where, concrete, adv = ix.bind(index, x, values)
    region = tuple(ix.index_shape(concrete, x.shape, adv))
    _check_fits(y, ones, region, index, "advancedsetsubtensor" if set else
                "advancedincsubtensor")
    if set:
        out[where] = y
    else:
        add_at(out, where, y)
    return out


def last_writes(xp, x, *values, index: tuple):
    """Over the region ``x[index]``, whether a set through ``index`` leaves that
    position's value in ``x`` (False where a later position writes the same place): the
    values a set keeps, the ones its gradient reaches."""
    where, concrete, adv = ix.bind(index, x, values)
    region = tuple(ix.index_shape(concrete, x.shape, adv))
    order = xp.arange(math.prod(region), dtype="int64").reshape(region)
    last = xp.full(x.shape, -1, dtype="int64")
    last[where] = order
    return last[where] == order


def _check_labels(xp, shape: tuple[int, ...], labels) -> None:
    """Labels must match ``shape`` less its last axis and lie in ``[0, shape[-1])``."""
    if labels.shape != shape[:-1]:
        raise ValueError(f"pick: labels of shape {labels.shape} do not match values of "
                         f"shape {shape} (labels need shape {shape[:-1]})")
    if labels.size and (int(labels.min()) < 0 or int(labels.max()) >= shape[-1]):
        bad = (labels < 0) | (labels >= shape[-1])
        pos = tuple(int(i) for i in xp.argwhere(bad)[0].tolist())
        raise IndexError(f"label {int(labels[pos])} at position {pos} is out of range for "
                         f"{shape[-1]} classes (labels must be in [0, {shape[-1]}))")


def pick(xp, x, labels):
    """``x[..., labels]``: per position of ``labels``, the element of ``x``'s last axis it
    names (one fancy index over ``x`` seen as rows and classes)."""
    _check_labels(xp, x.shape, labels)
    flat = labels.reshape(-1)
    return x.reshape(flat.size, x.shape[-1])[xp.arange(flat.size), flat].reshape(labels.shape)


def pick_grad(xp, g, labels, x):
    """Zeros shaped like ``x`` with ``g`` where ``labels`` point (the gradient of pick)."""
    _check_labels(xp, x.shape, labels)
    out = xp.zeros(x.shape, x.dtype)
    flat = labels.reshape(-1)
    out.reshape(flat.size, x.shape[-1])[xp.arange(flat.size), flat] = g.reshape(-1)
    return out


def alloc_diagonal(xp, g, x, *, offset: int, axis1: int, axis2: int):
    """Zeros shaped like ``x`` whose diagonal (``offset``, ``axis1``, ``axis2``, as
    numpy's ``diagonal``) holds ``g``: the gradient of :func:`diagonal`."""
    out = xp.zeros(x.shape, g.dtype)
    k = g.shape[-1]
    if k:
        square = xp.moveaxis(out, (axis1, axis2), (-2, -1))
        rows = xp.arange(k) + max(-offset, 0)
        square[..., rows, rows + offset] = g
    return out


_ENTRIES: dict[str, Entry] = {
    "dot": Entry(dot, out=True), "matmul": Entry(matmul, out=True),
    "argmax": Entry(argmax), "softmax": Entry(softmax), "sort": Entry(sort), "count": Entry(count),
    "shape": Entry(shape), "concatenate": Entry(concatenate),
    "dimshuffle": Entry(dimshuffle, view=True), "reshape": Entry(reshape, view=True),
    "broadcast_to": Entry(broadcast_to, view=True), "subtensor": Entry(subtensor, view=True),
    "view": Entry(view, view=True), "diagonal": Entry(diagonal, view=True),
    "gather": Entry(gather), "write_slice": Entry(write_slice), "scatter": Entry(scatter),
    "last_writes": Entry(last_writes),
    "pick": Entry(pick), "pick_grad": Entry(pick_grad),
    "alloc_diagonal": Entry(alloc_diagonal), "take_along_axis": Entry(take_along_axis),
    "put_along_axis": Entry(put_along_axis),
    "cumsum": Entry(cumsum), "cumprod": Entry(cumprod), "arange": Entry(arange),
    "conv2d": Entry(conv.conv2d), "conv2d_grad_input": Entry(conv.conv2d_grad_input),
    "conv2d_grad_weights": Entry(conv.conv2d_grad_weights),
    "pool": Entry(window.pool), "pool_grad": Entry(window.pool_grad),
    "max_pool_grad": Entry(window.max_pool_grad),
    "max_pool_grad_grad": Entry(window.max_pool_grad_grad),
}


_EXTRA = {"scatter": ("add_at",), "put_along_axis": ("add_at",)}
"""Per entry, the keyword arguments :func:`library` binds for its array module."""


def library(xp, name: str, **bound: Any) -> Library:
    """The library over array module ``xp``; ``bound`` gives entries extra keyword
    arguments that depend on the module (``add_at``: numpy's ``np.add.at``)."""
    return Library(name, {n: Entry(partial(e.fn, xp, **{k: v for k, v in bound.items()
                                                           if k in _EXTRA.get(n, ())}),
                                   e.view, e.out)
                          for n, e in _ENTRIES.items()})


def is_view(name: str) -> bool:
    """Whether the entry ``name`` returns a view of its first argument."""
    return name in _ENTRIES and _ENTRIES[name].view


def names() -> Sequence[str]:
    """The entries every library has."""
    return sorted(_ENTRIES)
