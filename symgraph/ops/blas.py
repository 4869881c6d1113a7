"""Matrix products: :class:`Dot` (1-d and 2-d operands) and :class:`MatMul` (batched, same
rank), and the user functions ``dot``, ``matmul`` (``@``), ``outer`` and ``tensordot``.

Both ops lower to a library call by name (``dot``, ``matmul``: BLAS through numpy on the
CPU, cuBLAS through CuPy on the GPU), which writes into a reused buffer when the product
stays inside the function. Shapes follow numpy, except that batch axes
broadcast only where their static size is 1 (as every broadcast in symgraph), so gradients
know at build time which axes to sum.

>>> import symgraph as sg
>>> a, b = sg.fmatrix("a"), sg.ftensor3("b")
>>> sg.dot(a, sg.fvector("v")).type, (a @ b).type
(TensorType(float32, (?,)), TensorType(float32, (?, ?, ?)))
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from codegen.program import LibraryCall

from ..graph import Apply, Op, Variable, user_trace
from ..types import FLOATS, TensorType, result_dtype
from ..variable import as_tensor, install
from .elemwise import F, sum_to_type
from .shape import count, dimshuffle, reshape, transpose

mul = F.mul


def _mismatch(name: str, a: TensorType, b: TensorType, why: str) -> ValueError:
    """A build-time shape error naming both operand types and the user's line."""
    where = user_trace()
    return ValueError(f"{name}: cannot multiply {a} by {b}: {why}"
                      + (f"\n  built at {where}" if where else ""))


def _product_shape(name: str, a: TensorType, b: TensorType) -> tuple[int | None, ...]:
    """The static shape of numpy's ``matmul(a, b)`` (1-d operands promoted and their added
    axis dropped; batch axes broadcast only where one side has static size 1)."""
    if a.ndim == 0 or b.ndim == 0:
        raise _mismatch(name, a, b, "both operands need at least one axis")
    ka, kb = a.shape[-1], b.shape[0 if b.ndim == 1 else -2]
    if ka is not None and kb is not None and ka != kb:
        raise _mismatch(name, a, b, f"the contracted axes have sizes {ka} and {kb}")
    rows = a.shape[-2:-1]                      # () for a vector
    cols = b.shape[-1:] if b.ndim > 1 else ()
    na, nb = max(a.ndim - 2, 0), max(b.ndim - 2, 0)
    n = max(na, nb)
    pa, pb = (1,) * (n - na) + a.shape[:na], (1,) * (n - nb) + b.shape[:nb]
    batch = []
    for ax, (sa, sb) in enumerate(zip(pa, pb)):
        if sa == 1 or sb == 1:
            batch.append(sb if sa == 1 else sa)
        elif sa is not None and sb is not None and sa != sb:
            raise _mismatch(name, a, b, f"batch axis {ax} has sizes {sa} and {sb} (only "
                            "axes of static size 1 broadcast)")
        else:
            batch.append(sa if sa is not None else sb)
    return (*batch, *rows, *cols)


class Dot(Op):
    """numpy's ``dot`` of 1-d and 2-d operands: matrix-matrix, matrix-vector,
    vector-matrix and vector-vector (a scalar)."""

    def make_node(self, a: Variable, b: Variable) -> Apply:
        if not (1 <= a.ndim <= 2 and 1 <= b.ndim <= 2):
            raise _mismatch("dot", a.type, b.type, "Dot takes 1-d or 2-d operands")
        shape = _product_shape("dot", a.type, b.type)
        return Apply(self, [a, b], [TensorType(result_dtype(a.dtype, b.dtype), shape)()])

    def lower(self, node):
        return LibraryCall.of("dot", dtype=node.outputs[0].dtype)

    def grad(self, inputs, outputs, output_grads):
        (a, b), (g,) = inputs, output_grads
        if outputs[0].dtype not in FLOATS:
            return [None, None]
        if a.ndim == 1 and b.ndim == 1:
            ga, gb = mul(g, b), mul(g, a)
        elif b.ndim == 1:
            ga, gb = outer(g, b), dot(a.T, g)
        elif a.ndim == 1:
            ga, gb = dot(b, g), outer(a, g)
        else:
            ga, gb = dot(g, b.T), dot(a.T, g)
        return [sum_to_type(ga, a.type) if a.dtype in FLOATS else None,
                sum_to_type(gb, b.type) if b.dtype in FLOATS else None]


def _swap_last(x: Variable) -> Variable:
    return dimshuffle(x, *range(x.ndim - 2), x.ndim - 1, x.ndim - 2)


class MatMul(Op):
    """Batched matrix product of two tensors of one rank (>= 2): the last two axes
    multiply, the leading (batch) axes broadcast where one side has static size 1. The
    ``matmul`` function adds axes to vectors and lower-rank operands before it."""

    def make_node(self, a: Variable, b: Variable) -> Apply:
        if a.ndim != b.ndim or a.ndim < 2:
            raise _mismatch("matmul", a.type, b.type, "MatMul takes two tensors of one rank "
                            ">= 2 (use sg.matmul for other ranks)")
        shape = _product_shape("matmul", a.type, b.type)
        return Apply(self, [a, b], [TensorType(result_dtype(a.dtype, b.dtype), shape)()])

    def lower(self, node):
        bcast = tuple(tuple(ax for ax, d in enumerate(v.type.shape[:-2]) if d == 1)
                      for v in node.inputs)
        return LibraryCall.of("matmul", dtype=node.outputs[0].dtype, bcast=bcast)

    def grad(self, inputs, outputs, output_grads):
        (a, b), (g,) = inputs, output_grads
        if outputs[0].dtype not in FLOATS:
            return [None, None]
        # sum_to_type sums the batch axes along which a (or b) was broadcast
        return [sum_to_type(self(g, _swap_last(b)), a.type) if a.dtype in FLOATS else None,
                sum_to_type(self(_swap_last(a), g), b.type) if b.dtype in FLOATS else None]


def dot(a, b) -> Variable:
    """numpy's ``dot``: matrix and vector products for 1-d and 2-d operands, a sum over the
    last axis of ``a`` and the second-to-last of ``b`` for higher ranks, a plain product if
    either is 0-d (Python scalars stay weak, as in ``2 * x``).

    >>> import symgraph as sg, numpy as np
    >>> x, v = sg.dmatrix("x"), sg.dvector("v")
    >>> sg.dot(x, v).eval({x: np.eye(2), v: np.array([3.0, 4.0])}).tolist()
    [3.0, 4.0]
    """
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        return mul(a, b)
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim <= 2 and b.ndim <= 2:
        return Dot()(a, b)
    return _tensordot("dot", a, b, (a.ndim - 1,), (max(b.ndim - 2, 0),))


def matmul(a, b) -> Variable:
    """numpy's ``matmul`` (``a @ b``): a vector operand gets a unit axis for the product
    and loses it after; leading (batch) axes broadcast where one side has static size 1 or
    lacks the axis.

    >>> import symgraph as sg, numpy as np
    >>> a = sg.tensor("a", "float64", shape=(None, 2, 3))
    >>> b = sg.tensor("b", "float64", shape=(1, 3, 4))
    >>> (a @ b).type
    TensorType(float64, (?, 2, 4))
    >>> (a @ b).eval({a: np.ones((5, 2, 3)), b: np.ones((1, 3, 4))}).shape
    (5, 2, 4)
    """
    a, b = as_tensor(a), as_tensor(b)
    _product_shape("matmul", a.type, b.type)     # check here, where the user's types show
    if a.ndim <= 2 and b.ndim <= 2:
        return Dot()(a, b)
    n = max(a.ndim, b.ndim)
    pa = ["x"] * (n - 1) + [0] if a.ndim == 1 else ["x"] * (n - a.ndim) + [*range(a.ndim)]
    pb = ["x"] * (n - 2) + [0, "x"] if b.ndim == 1 else ["x"] * (n - b.ndim) + [*range(b.ndim)]
    out = MatMul()(dimshuffle(a, *pa), dimshuffle(b, *pb))
    dropped = {n - 2} if a.ndim == 1 else set()
    dropped |= {n - 1} if b.ndim == 1 else set()
    return dimshuffle(out, *(i for i in range(n) if i not in dropped))


def outer(a, b) -> Variable:
    """numpy's ``outer``: every element of ``a`` (flattened) times every element of ``b``.

    >>> import symgraph as sg, numpy as np
    >>> u = sg.dvector("u")
    >>> sg.outer(u, u).eval({u: np.array([1.0, 2.0])}).tolist()
    [[1.0, 2.0], [2.0, 4.0]]
    """
    a, b = as_tensor(a), as_tensor(b)
    a = a if a.ndim == 1 else reshape(a, (-1,))
    b = b if b.ndim == 1 else reshape(b, (-1,))
    return mul(dimshuffle(a, 0, "x"), dimshuffle(b, "x", 0))


def _axes(axes: Sequence[int], ndim: int, t: TensorType) -> tuple[int, ...]:
    """tensordot axes of one operand, in the order given (unlike ``normalize_axes``)."""
    out = tuple(int(a) % ndim if isinstance(a, (int, np.integer)) and -ndim <= a < ndim
                else None for a in axes)
    if None in out or len(set(out)) != len(out):
        raise ValueError(f"tensordot: axes {tuple(axes)} are not distinct axes of {t}")
    return out


def _size(x: Variable, axes: Sequence[int]) -> int | Variable:
    """The number of elements along ``axes``: an int when static, else an int64 scalar."""
    sizes = [x.type.shape[a] for a in axes]
    return int(np.prod(sizes, dtype=np.int64)) if None not in sizes else count(x, axes)


def _tensordot(name: str, a: Variable, b: Variable, axes_a: tuple[int, ...],
               axes_b: tuple[int, ...]) -> Variable:
    """Transpose the contracted axes together, flatten both to matrices, one ``Dot``,
    reshape back: each piece is a view or a GEMM, and each has its gradient."""
    if len(axes_a) != len(axes_b):
        raise _mismatch(name, a.type, b.type, f"{len(axes_a)} axes of the first are "
                        f"paired with {len(axes_b)} of the second")
    for i, j in zip(axes_a, axes_b):
        sa, sb = a.type.shape[i], b.type.shape[j]
        if sa is not None and sb is not None and sa != sb:
            raise _mismatch(name, a.type, b.type, f"axis {i} (size {sa}) is paired with "
                            f"axis {j} (size {sb})")
    free_a = tuple(i for i in range(a.ndim) if i not in axes_a)
    free_b = tuple(j for j in range(b.ndim) if j not in axes_b)
    a2 = reshape(transpose(a, free_a + axes_a), (_size(a, free_a), _size(a, axes_a)))
    b2 = reshape(transpose(b, axes_b + free_b), (_size(b, axes_b), _size(b, free_b)))
    out = Dot()(a2, b2)
    return reshape(out, [_size(a, (i,)) for i in free_a] + [_size(b, (j,)) for j in free_b])


def tensordot(a, b, axes=2) -> Variable:
    """numpy's ``tensordot``: sum the products over ``axes``, an int ``n`` (the last ``n``
    of ``a`` with the first ``n`` of ``b``) or a pair of axis sequences.

    >>> import symgraph as sg, numpy as np
    >>> a, b = sg.dtensor3("a"), sg.dmatrix("b")
    >>> c = sg.tensordot(a, b, axes=([1, 2], [0, 1]))
    >>> c.eval({a: np.ones((2, 3, 4)), b: np.ones((3, 4))}).tolist()
    [12.0, 12.0]
    """
    a, b = as_tensor(a), as_tensor(b)
    if isinstance(axes, (int, np.integer)):
        if not 0 <= axes <= min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: axes={axes} needs that many axes in {a.type} "
                             f"and {b.type}")
        axes_a, axes_b = tuple(range(a.ndim - axes, a.ndim)), tuple(range(axes))
    else:
        try:
            sa, sb = axes
        except (TypeError, ValueError):
            raise ValueError(f"tensordot: axes must be an int or a pair of axis sequences, "
                             f"got {axes!r}") from None
        axes_a = _axes((sa,) if isinstance(sa, (int, np.integer)) else sa, a.ndim, a.type)
        axes_b = _axes((sb,) if isinstance(sb, (int, np.integer)) else sb, b.ndim, b.type)
    return _tensordot("tensordot", a, b, axes_a, axes_b)


install("dot", dot, np.dot)
install("matmul", matmul, np.matmul)
install("", outer, np.outer)
install("", tensordot, np.tensordot)
