"""Array constructors and the small array functions built from them, with numpy's names
and semantics: ``arange``, ``zeros``, ``ones``, ``full``, ``alloc``, ``full_like``,
``eye``, ``identity``, ``linspace``, ``one_hot``, ``tril``, ``triu``, ``diag``,
``repeat``, ``tile`` and ``norm``. Sizes may be symbolic (``x.shape[0]``, an int
scalar input).

:class:`Arange` is the one op here (a library call); everything else composes existing
ops, so gradients, fusion and every backend come with them: a constant fill is a
broadcast of a scalar (a view, copied when it leaves a function, so results are always
fresh writeable arrays), ``eye``, the triangle masks and ``one_hot`` compare aranges, and
``repeat``/``tile`` broadcast along new axes and reshape.

Default dtypes follow Theano's habit in symgraph: Python floats, and the constructors
that take no value (``zeros``, ``eye``, ``one_hot``), give ``config.floatX``.

>>> import symgraph as sg, numpy as np
>>> x = sg.dmatrix("x")
>>> z = sg.zeros((x.shape[0], 3))
>>> z.type, z.eval({x: np.ones((2, 5))}).tolist()
(TensorType(float32, (?, 3)), [[0.0, 0.0, 0.0], [0.0, 0.0, 0.0]])
>>> sg.arange(5).type, sg.eye(3, k=1).eval().tolist()
(TensorType(int64, (5,)), [[0.0, 1.0, 0.0], [0.0, 0.0, 1.0], [0.0, 0.0, 0.0]])
"""
from __future__ import annotations

import math
import numpy as np

from codegen.lib.array import arange_length
from codegen.program import LibraryCall

from ..config import config
from ..graph import Apply, Constant, Op, Variable
from ..types import FLOATS, INTS, TensorType, as_dtype, result_dtype
from ..variable import as_tensor, constant, install
from .diagonal import AllocDiagonal, diagonal
from .elemwise import F, cast, fill, ones_like, where, zeros_like
from .indexing import take
from .shape import broadcast_to, dimshuffle, expand_dims, normalize_axes, reshape, squeeze


def _is_int(v) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))


def _int_scalar(v, what: str, who: str):
    """``v`` if it is an int or a symbolic integer scalar, else a TypeError."""
    if _is_int(v) or isinstance(v, Variable) and v.ndim == 0 and v.dtype in INTS:
        return v
    got = v.type if isinstance(v, Variable) else repr(v)
    raise TypeError(f"{who}: {what} must be an int or a symbolic integer scalar, got {got}")


def _dim(x: Variable, axis: int):
    """The size of ``x`` along ``axis``: an int when static, else an int64 scalar."""
    s = x.type.shape[axis]
    return s if s is not None else x.shape[axis]


# ---------------------------------------------------------------- arange
class Arange(Op):
    """numpy's ``arange(start, stop, step)`` in ``dtype``, from three scalars (read as
    Python numbers, as numpy reads them). The length is static when all three are
    constants. Float ranges have a gradient: ``sum(g)`` for start, ``sum(g * i)`` for the
    step, zero for stop (the length does not change under a small move of it)."""
    __props__ = ("dtype",)

    def __init__(self, dtype):
        self.dtype = as_dtype(dtype)

    def make_node(self, start: Variable, stop: Variable, step: Variable) -> Apply:
        bounds = (start, stop, step)
        for what, v in zip(("start", "stop", "step"), bounds):
            if v.ndim != 0 or v.dtype not in INTS + FLOATS:
                raise TypeError(f"arange: {what} must be an int or float scalar, got {v.type}")
        length = None
        if all(isinstance(v, Constant) for v in bounds):
            length = arange_length(*(v.data.item() for v in bounds))
        return Apply(self, list(bounds), [TensorType(self.dtype, (length,))()])

    def lower(self, node):
        return LibraryCall.of("arange", dtype=self.dtype)

    def grad(self, inputs, outputs, output_grads):
        (start, stop, step), (z,), (g,) = inputs, outputs, output_grads
        if self.dtype not in FLOATS:
            return [None, None, None]
        index = cast(Arange("int64")(0, z.shape[0], 1), self.dtype)
        return [cast(g.sum(), start.dtype) if start.dtype in FLOATS else None,
                zeros_like(stop) if stop.dtype in FLOATS else None,
                cast((g * index).sum(), step.dtype) if step.dtype in FLOATS else None]


def _bound(v) -> Variable:
    """An arange bound as a scalar variable; a Python number keeps its exact value
    (float64 or int64), so the length is numpy's."""
    if isinstance(v, Variable):
        return v
    if not isinstance(v, (int, float, np.integer, np.floating)) or isinstance(v, bool):
        raise TypeError(f"arange: bounds must be int or float scalars, got {v!r}")
    return constant(v, "int64" if _is_int(v) else "float64")


def arange(start, stop=None, step=1, dtype=None) -> Variable:
    """numpy's ``arange``: ``start, start + step, ...`` up to ``stop`` (excluded); with one
    argument, ``0 .. start - 1``. Bounds may be symbolic scalars. The dtype is int64 when
    every bound is an integer, else the float dtype of the symbolic float bounds
    (``config.floatX`` if there are none).

    >>> import symgraph as sg
    >>> n = sg.iscalar("n")
    >>> sg.arange(n).eval({n: 4}).tolist(), sg.arange(1, 2, 0.25).eval().tolist()
    ([0, 1, 2, 3], [1.0, 1.25, 1.5, 1.75])
    """
    if stop is None:
        start, stop = 0, start
    bounds = [_bound(v) for v in (start, stop, step)]
    if dtype is None:
        floats = [b.dtype for b in bounds if b.dtype in FLOATS and not isinstance(b, Constant)]
        if floats:
            dtype = result_dtype(*floats)
        elif any(b.dtype in FLOATS for b in bounds):
            dtype = config.floatX
        else:
            dtype = "int64"
    return Arange(dtype)(*bounds)


# ---------------------------------------------------------------- filled arrays
def _shape_arg(shape, who: str):
    """A shape argument (an int, a symbolic scalar, a sequence of them or an int vector)
    checked for negative sizes."""
    if _is_int(shape) or isinstance(shape, Variable) and shape.ndim == 0:
        shape = (shape,)
    if not isinstance(shape, Variable):
        shape = tuple(shape)
        if any(_is_int(s) and s < 0 for s in shape):
            raise ValueError(f"{who}: negative dimensions are not allowed, got shape {shape}")
    return shape


def _fill_value(value, dtype, who: str) -> Variable:
    """``value`` as a variable of ``dtype`` (its own dtype if None). A Python or numpy
    value is converted as numpy's ``full`` converts it (2.7 into int64 is 2)."""
    if isinstance(value, Variable):
        return value if dtype is None else cast(value, dtype)
    if dtype is None:
        return constant(value)
    try:
        return constant(np.full(np.shape(value), value, as_dtype(dtype)))
    except (OverflowError, ValueError) as e:
        raise ValueError(f"{who}: the fill value {value!r} does not fit dtype "
                         f"{as_dtype(dtype)} ({e})") from None


def full(shape, fill_value, dtype=None) -> Variable:
    """numpy's ``full``: ``fill_value`` (a value or a symbolic tensor that broadcasts to
    ``shape``) everywhere. A Python float fills in floatX unless ``dtype`` says otherwise.

    >>> import symgraph as sg
    >>> sg.full((2, 2), 7, dtype="int32").eval().tolist()
    [[7, 7], [7, 7]]
    """
    return broadcast_to(_fill_value(fill_value, dtype, "full"), _shape_arg(shape, "full"))


def zeros(shape, dtype=None) -> Variable:
    """numpy's ``zeros`` (in floatX unless ``dtype`` is given); ``shape`` may hold
    symbolic sizes."""
    return full(shape, 0, dtype or config.floatX)


def ones(shape, dtype=None) -> Variable:
    """numpy's ``ones`` (in floatX unless ``dtype`` is given)."""
    return full(shape, 1, dtype or config.floatX)


def alloc(value, *shape) -> Variable:
    """Theano's ``alloc(value, *shape)``: ``value`` broadcast to ``shape``, in its dtype.

    >>> import symgraph as sg
    >>> b = sg.dvector("b")
    >>> sg.alloc(b, 2, 3).eval({b: [1.0, 2.0, 3.0]}).tolist()
    [[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]]
    """
    return broadcast_to(_fill_value(value, None, "alloc"), _shape_arg(shape, "alloc"))


def full_like(x, fill_value, dtype=None) -> Variable:
    """numpy's ``full_like``: ``fill_value`` in ``x``'s shape and dtype (or ``dtype``).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.lvector("x")
    >>> sg.full_like(x, 2.7).eval({x: [1, 2]}).tolist()
    [2, 2]
    """
    x = as_tensor(x)
    return fill(x, _fill_value(fill_value, dtype or x.dtype, "full_like"))


# ---------------------------------------------------------------- matrices from aranges
def eye(n, m=None, k=0, dtype=None) -> Variable:
    """numpy's ``eye``: an ``n`` x ``m`` matrix with ones on diagonal ``k`` (floatX
    unless ``dtype`` is given); sizes and ``k`` may be symbolic."""
    m = n if m is None else m
    for what, v in (("n", n), ("m", m), ("k", k)):
        _int_scalar(v, what, "eye")
        if _is_int(v) and v < 0 and what != "k":
            raise ValueError(f"eye: {what} must be >= 0, got {v}")
    on = F.equal(dimshuffle(arange(n), 0, "x") + k, dimshuffle(arange(m), "x", 0))
    return cast(on, dtype or config.floatX)


def identity(n, dtype=None) -> Variable:
    """numpy's ``identity``: the ``n`` x ``n`` identity matrix (floatX unless ``dtype``)."""
    return eye(n, dtype=dtype)


def _triangle(x, k, lower: bool, who: str) -> Variable:
    x = as_tensor(x)
    if x.ndim == 0:
        raise ValueError(f"{who}: the input needs at least one axis, got {x.type}")
    _int_scalar(k, "k", who)
    rows, cols = (_dim(x, -2), _dim(x, -1)) if x.ndim >= 2 else (_dim(x, 0),) * 2
    i = dimshuffle(arange(rows), 0, "x") + k
    j = dimshuffle(arange(cols), "x", 0)
    keep = F.greater_equal(i, j) if lower else F.less_equal(i, j)
    return where(keep, x, np.zeros((), x.dtype))


def tril(x, k=0) -> Variable:
    """numpy's ``tril``: ``x`` with the elements above diagonal ``k`` of its last two
    axes set to zero (a vector is taken as the rows of a square matrix, as numpy does).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dmatrix("x")
    >>> sg.tril(x).eval({x: np.ones((2, 3))}).tolist()
    [[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]]
    """
    return _triangle(x, k, True, "tril")


def triu(x, k=0) -> Variable:
    """numpy's ``triu``: ``x`` with the elements below diagonal ``k`` of its last two axes
    set to zero."""
    return _triangle(x, k, False, "triu")


def one_hot(y, n, dtype=None) -> Variable:
    """``y``'s integer labels as one-hot rows of length ``n`` along a new last axis
    (floatX unless ``dtype``). A label outside ``[0, n)`` gives a row of zeros.

    >>> import symgraph as sg
    >>> y = sg.lvector("y")
    >>> sg.one_hot(y, 3).eval({y: [2, 0]}).tolist()
    [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]]
    """
    y = as_tensor(y)
    if y.dtype not in INTS:
        raise TypeError(f"one_hot: the labels must be integers, got {y.type}")
    _int_scalar(n, "the number of classes", "one_hot")
    hit = F.equal(dimshuffle(y, *range(y.ndim), "x"), arange(n))
    return cast(hit, dtype or config.floatX)


def to_one_hot(y, nb_class, dtype=None) -> Variable:
    """Theano's name for :func:`one_hot`."""
    return one_hot(y, nb_class, dtype)


def linspace(start, stop, num=50, endpoint: bool = True, retstep: bool = False,
             dtype=None, axis: int = 0):
    """numpy's ``linspace``: ``num`` evenly spaced values from ``start`` to ``stop``
    (included unless ``endpoint`` is False), computed as numpy computes them. ``num`` may
    be symbolic; ``start`` and ``stop`` may be tensors (the samples run along ``axis``).
    Python bounds give floatX unless ``dtype`` is given.

    >>> import symgraph as sg
    >>> sg.linspace(0, 1, 5).eval().tolist()
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    _int_scalar(num, "num", "linspace")
    if _is_int(num) and num < 0:
        raise ValueError(f"linspace: num must be >= 0, got {num}")
    symbolic = [v for v in (start, stop) if isinstance(v, Variable)]
    compute = result_dtype(*(v.dtype for v in symbolic), 1.0) if symbolic else "float64"
    start, stop = (as_tensor(v, compute) for v in (start, stop))
    delta = stop - start
    div = num - 1 if endpoint else num
    safe = max(div, 1) if _is_int(div) else cast(F.maximum(div, 1), compute)
    count = arange(num)
    i = cast(dimshuffle(count, 0, *["x"] * delta.ndim), compute)
    step = delta / safe
    # numpy's own branch for a step that underflows to 0 (a denormal range)
    y = where(F.equal(step, 0), i / safe * delta, i * step) + start
    if endpoint:
        last = F.equal(dimshuffle(count, 0, *["x"] * delta.ndim), div)
        y = where(last & F.greater(div, 0), stop, y)
    if axis != 0:
        (axis,) = normalize_axes(axis, y.ndim)
        rest = list(range(1, y.ndim))
        y = dimshuffle(y, *rest[:axis], 0, *rest[axis:])
    out_dtype = as_dtype(dtype) if dtype is not None else (compute if symbolic else
                                                           config.floatX)
    y = cast(F.floor(y) if out_dtype in INTS else y, out_dtype)
    if retstep:
        return y, where(F.greater(div, 0), step, np.asarray(np.nan, compute))
    return y


# ---------------------------------------------------------------- diagonals and copies
def diag(v, k: int = 0) -> Variable:
    """numpy's ``diag``: a vector gives the square matrix with it on diagonal ``k``, a
    matrix gives its ``k``-th diagonal.

    >>> import symgraph as sg, numpy as np
    >>> v = sg.dvector("v")
    >>> sg.diag(v, 1).eval({v: [1.0, 2.0]}).tolist()
    [[0.0, 1.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]]
    """
    v = as_tensor(v)
    if not _is_int(k):
        raise TypeError(f"diag: k must be an int, got {k!r}")
    if v.ndim == 1:
        n = _dim(v, 0) + abs(int(k))
        # the zeros only give the result's shape: a broadcast scalar, never allocated
        return AllocDiagonal(int(k), 0, 1)(v, zeros((n, n), v.dtype))
    if v.ndim == 2:
        return diagonal(v, int(k))
    raise ValueError(f"diag: the input must be 1-d or 2-d, got {v.type}")


def _repeat_each(x: Variable, counts: np.ndarray, axis: int) -> Variable:
    """``x`` with element ``i`` along ``axis`` repeated ``counts[i]`` times (a gather)."""
    if counts.dtype.kind not in "iu" or counts.ndim != 1 or (counts < 0).any():
        raise ValueError(f"repeat: repeat counts must be non-negative ints, got {counts}")
    n = len(counts)
    if x.type.shape[axis] is None:
        # a reshape to the size the counts give checks that size when the function runs
        x = reshape(x, [n if a == axis else _dim(x, a) for a in range(x.ndim)])
    elif x.type.shape[axis] != n:
        raise ValueError(f"repeat: {n} repeat counts for axis {axis} of {x.type}, which "
                         f"has {x.type.shape[axis]} elements")
    return take(x, np.repeat(np.arange(n), counts), axis)


def repeat(x, repeats, axis: int | None = None) -> Variable:
    """numpy's ``repeat``: each element of ``x`` repeated ``repeats`` times along ``axis``
    (of the flattened ``x`` if None). ``repeats`` is an int, a symbolic integer scalar, or
    a sequence of ints, one per element.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dmatrix("x")
    >>> sg.repeat(x, 2, axis=1).eval({x: [[1.0, 2.0]]}).tolist()
    [[1.0, 1.0, 2.0, 2.0]]
    """
    x = as_tensor(x)
    if axis is None:
        x, axis = reshape(x, (-1,)), 0
    (axis,) = normalize_axes(axis, x.ndim)
    if isinstance(repeats, (list, tuple, np.ndarray)):
        counts = np.asarray(repeats)
        if counts.size != 1 or counts.ndim > 1:
            return _repeat_each(x, counts, axis)
        repeats = counts.reshape(()).item() if counts.dtype.kind in "iu" else repeats
    _int_scalar(repeats, "repeats", "repeat")
    if _is_int(repeats) and repeats < 0:
        raise ValueError(f"repeat: repeats must be >= 0, got {repeats}")
    dims = [_dim(x, a) for a in range(x.ndim)]
    spread = broadcast_to(expand_dims(x, axis + 1),
                          dims[:axis + 1] + [repeats] + dims[axis + 1:])
    return reshape(spread, dims[:axis] + [dims[axis] * repeats] + dims[axis + 1:])


def tile(x, reps) -> Variable:
    """numpy's ``tile``: ``x`` repeated ``reps[a]`` times along each axis ``a`` (``reps``
    an int, a symbolic integer scalar or a sequence of them; missing axes count as 1).

    >>> import symgraph as sg, numpy as np
    >>> v = sg.dvector("v")
    >>> sg.tile(v, (2, 2)).eval({v: [1.0, 2.0]}).tolist()
    [[1.0, 2.0, 1.0, 2.0], [1.0, 2.0, 1.0, 2.0]]
    """
    x = as_tensor(x)
    reps = tuple(reps) if isinstance(reps, (list, tuple)) else (reps,)
    for r in reps:
        _int_scalar(r, "reps", "tile")
        if _is_int(r) and r < 0:
            raise ValueError(f"tile: reps must be >= 0, got {reps}")
    nd = max(len(reps), x.ndim)
    reps = (1,) * (nd - len(reps)) + reps
    x = dimshuffle(x, *["x"] * (nd - x.ndim), *range(x.ndim))
    pattern, spread, final = [], [], []
    for a, r in enumerate(reps):
        n = _dim(x, a)
        if _is_int(r) and r == 1:
            pattern, spread, final = [*pattern, a], [*spread, n], [*final, n]
        else:
            pattern, spread, final = [*pattern, "x", a], [*spread, r, n], [*final, r * n]
    if len(pattern) == nd:
        return x
    return reshape(broadcast_to(dimshuffle(x, *pattern), spread), final)



# ---------------------------------------------------------------- norms
_INF = math.inf


def _vector_norm(x: Variable, ord, axis: int, keepdims: bool) -> Variable:
    if ord is None or ord == 2:
        return F.sqrt((x * x).sum(axis=axis, keepdims=keepdims))
    if isinstance(ord, str):
        raise ValueError(f"norm: ord={ord!r} is a matrix norm; the norm of a vector takes "
                         "a number (1, 2, inf, -inf, 0, p)")
    if ord == _INF:
        return F.abs(x).max(axis=axis, keepdims=keepdims)
    if ord == -_INF:
        return F.abs(x).min(axis=axis, keepdims=keepdims)
    if ord == 0:
        return cast(F.not_equal(x, 0), x.dtype).sum(axis=axis, keepdims=keepdims)
    if ord == 1:
        return F.abs(x).sum(axis=axis, keepdims=keepdims)
    total = (F.abs(x) ** ord).sum(axis=axis, keepdims=keepdims)
    return total ** np.reciprocal(np.asarray(ord, x.dtype))


def _matrix_norm(x: Variable, ord, axes: tuple[int, int], keepdims: bool) -> Variable:
    rows, cols = axes
    if ord in (None, "fro", "f"):
        out = F.sqrt((x * x).sum(axis=axes, keepdims=True))
    elif ord in (1, -1, _INF, -_INF):
        # 1: the largest column sum (down the rows), inf: the largest row sum
        inner, outer = (rows, cols) if ord in (1, -1) else (cols, rows)
        sums = F.abs(x).sum(axis=inner, keepdims=True)
        out = sums.max(axis=outer, keepdims=True) if ord > 0 else \
            sums.min(axis=outer, keepdims=True)
    elif ord in (2, -2, "nuc"):
        raise NotImplementedError(f"norm: ord={ord!r} of a matrix needs its singular "
                                  "values, which symgraph does not compute")
    else:
        raise ValueError(f"norm: ord={ord!r} is not a matrix norm (None, 'fro', 1, -1, "
                         "inf, -inf)")
    return out if keepdims else squeeze(out, axis=axes)


def norm(x, ord=None, axis=None, keepdims: bool = False) -> Variable:
    """numpy's ``linalg.norm``: vector norms (``ord`` None/2, 1, inf, -inf, 0 or any p)
    along one axis, matrix norms (None/'fro', 1, -1, inf, -inf) over two; with no axis,
    the 2-norm of all elements (``ord`` None) or the norm of a vector or matrix. Integer
    tensors are measured in float64, as numpy. The gradient of a 2-norm is NaN where the
    norm is 0 (it is not differentiable there).

    >>> import symgraph as sg, numpy as np
    >>> m = sg.dmatrix("m")
    >>> sg.norm(m).eval({m: [[3.0, 0.0], [0.0, 4.0]]}).item()
    5.0
    >>> sg.norm(m, 1, axis=1).eval({m: [[3.0, -1.0]]}).tolist()
    [4.0]
    """
    x = as_tensor(x)
    if x.dtype not in FLOATS:
        x = cast(x, "float64")
    if axis is None and ord is None:
        out = F.sqrt((x * x).sum())
        return dimshuffle(out, *["x"] * x.ndim) if keepdims else out
    if axis is None:
        if x.ndim not in (1, 2):
            raise ValueError(f"norm: ord={ord!r} without an axis needs a 1-d or 2-d "
                             f"tensor, got {x.type}")
        axes = tuple(range(x.ndim))
    else:
        given = tuple(axis) if isinstance(axis, (tuple, list)) else (axis,)
        axes = tuple(normalize_axes(a, x.ndim)[0] for a in given)
        if len(set(axes)) != len(axes):
            raise ValueError(f"norm: repeated axis in {axis!r}")
    if len(axes) == 1:
        return _vector_norm(x, ord, axes[0], keepdims)
    if len(axes) == 2:
        return _matrix_norm(x, ord, axes, keepdims)
    raise ValueError(f"norm: axis must name one or two axes, got {axis!r}")


install("", zeros_like, np.zeros_like)
install("", ones_like, np.ones_like)
install("", full_like, np.full_like)
install("", tril, np.tril)
install("", triu, np.triu)
install("", diag, np.diag)
install("repeat", repeat, np.repeat)
install("", tile, np.tile)
install("", norm, np.linalg.norm)
