"""Algebraic rewrites: canonicalize (simpler, equivalent forms) and specialize (cheaper
forms for the backends). None changes a result for NaN or Inf inputs: there is no
``x - x -> 0`` and no ``x / x -> 1``.
"""
from __future__ import annotations

import math

import numpy as np

from ..ops.blas import Dot
from ..ops.elemwise import F, Elemwise, apply_elemwise, where
from ..ops.nnet import LogSoftmax, PickGrad, Softmax
from ..ops.reduce import Reduce, max_shift, sum
from ..ops.random import RandomDraw
from ..ops.shape import BroadcastTo, Count, DimShuffle, Reshape, Shape, normalize_axes
from ..ops.special import StopGradient
from ..variable import constant
from .engine import register
from .match import as_type_of, ew, is_const, same_shape, scalar_value


def _identity_operand(node, name: str, unit, commutative: bool):
    """For ``x (op) unit`` (or ``unit (op) x`` if commutative) give x, cast to the output."""
    if not isinstance(node.op, Elemwise) or node.op.scalar.name != name:
        return None
    out = node.outputs[0]
    a, b = node.inputs
    for x, c in ([(a, b), (b, a)] if commutative else [(a, b)]):
        if is_const(_filled(c), unit) and same_shape(x, out):
            return [as_type_of(x, out)]
    return None


def _filled(c):
    """What ``c`` holds at every element where it is ``fill(_, v)`` (``second``), which a
    gradient makes of ``ones_like``: v; else c itself."""
    while ew(c, "second"):
        c = c.owner.inputs[1]
    return c


@register("canonicalize", tracks=[Elemwise], names=("mul",))
def mul_by_one(fg, node):
    return _identity_operand(node, "mul", 1, True)


@register("canonicalize", tracks=[Elemwise], names=("add", "sub"))
def add_zero(fg, node):
    return _identity_operand(node, "add", 0, True) or _identity_operand(node, "sub", 0, False)


@register("canonicalize", tracks=[Elemwise], names=("power",))
def pow_one(fg, node):
    return _identity_operand(node, "power", 1, False)


@register("canonicalize", tracks=[Elemwise], names=("neg",))
def neg_neg(fg, node):
    inner = ew(node.outputs[0], "neg") and ew(node.inputs[0], "neg")
    return [inner.inputs[0]] if inner else None


@register("canonicalize", "specialize", tracks=[StopGradient])
def remove_stop_gradient(fg, node):
    """Gradients are built before compiling, so stop_gradient is the identity here."""
    return [node.inputs[0]]


@register("canonicalize", tracks=[DimShuffle])
def dimshuffle_dimshuffle(fg, node):
    """Two dimshuffles (a double transpose, say) become one, or none."""
    inner = node.inputs[0].owner
    if inner is None or not isinstance(inner.op, DimShuffle):
        return None
    composed = tuple(p if p == "x" else inner.op.pattern[p] for p in node.op.pattern)
    x = inner.inputs[0]
    if composed == tuple(range(x.ndim)):
        return [x]
    return [DimShuffle(composed)(x)]


@register("canonicalize", tracks=[DimShuffle])
def transpose_dot(fg, node):
    """``dot(a, b).T`` becomes ``dot(b.T, a.T)``: BLAS takes transposed operands for free,
    and the kernels that read the product then read it in memory order (the gradient of
    ``dot(y, W.T)`` with respect to W is such a transpose; an update kernel reading it
    across rows ran 9x slower than one reading it contiguously)."""
    inner = node.inputs[0].owner
    if (node.op.pattern != (1, 0) or inner is None or not isinstance(inner.op, Dot)
            or inner.inputs[0].ndim != 2 or inner.inputs[1].ndim != 2
            or fg.n_clients(node.inputs[0]) != 1):
        return None
    a, b = inner.inputs
    return [Dot()(DimShuffle((1, 0))(b), DimShuffle((1, 0))(a))]


@register("canonicalize", tracks=[Elemwise], names=("second",))
def fill_from_shape(fg, node):
    """``second(x, c)`` (``fill``, ``ones_like``: c broadcast to x's shape) reads only x's
    shape: it becomes ``c`` where c has that shape already (the seed ``ones_like(cost)`` of
    a gradient), else it takes the shape from the earliest elementwise input of x's that
    has it. The value x is then no longer needed: a gradient no longer computes the cost,
    nor writes out ``x - mean`` for the shape of ``(x - mean) ** 2``."""
    if not ew(node.outputs[0], "second"):
        return None
    x, c = node.inputs
    out = node.outputs[0]
    if same_shape(c, out):
        return [as_type_of(c, out)]
    src = _shape_source(x)
    return None if src is x else [F.second(src, c)]


@register("canonicalize", tracks=[Elemwise], names=("where",))
def where_constant(fg, node):
    """``where(c, a, b)`` with a constant scalar condition is the branch it takes; the
    other is then not computed (a prediction function's dropout draws nothing)."""
    c, a, b = node.inputs
    v = scalar_value(c)
    if v is None or not all(c.type.broadcastable):
        return None
    out = node.outputs[0]
    taken, other = (a, b) if v else (b, a)
    if same_shape(taken, out):
        return [as_type_of(taken, out)]
    return [as_type_of(F.second(other, taken), out)]


@register("canonicalize", tracks=[Shape])
def shape_from_source(fg, node):
    """``shape(x)`` reads only x's shape: it takes it from x's earliest elementwise input
    of that shape. A draw of ``x.shape`` (dropout's mask) then no longer depends on x's
    kernel, so x's computation can fuse into the draw's kernel instead of writing x out."""
    src = _shape_source(node.inputs[0])
    return None if src is node.inputs[0] else [Shape()(src)]


@register("canonicalize", tracks=[RandomDraw])
def draw_template(fg, node):
    """A draw's template, a broadcast zero of ``shape(v)``, serves only for its shape
    (the draw never reads it): ``v`` itself serves as well, so a draw of ``x.shape`` needs
    no template at run time and reads nothing more when it fuses with ``x``'s kernel."""
    b = node.inputs[0].owner
    if b is None or not isinstance(b.op, BroadcastTo):
        return None
    shp = b.inputs[1].owner
    if shp is None or not isinstance(shp.op, Shape):
        return None
    v = shp.inputs[0]
    if v.type.broadcastable != node.inputs[0].type.broadcastable:
        return None
    return [node.op(v, *node.inputs[1:])]


@register("canonicalize", tracks=[Count])
def count_from_shape(fg, node):
    """``count(x)`` reads only x's shape: it takes it from x's earliest elementwise input
    of that shape (a mean's gradient counted the negated values of the cost's kernel,
    which then wrote them out for nothing)."""
    src = _shape_source(node.inputs[0])
    return None if src is node.inputs[0] else [Count(node.op.axes, node.op.dtype)(src)]


def _shape_source(x):
    """The earliest variable of x's run-time shape along x's elementwise producers."""
    while x.owner is not None and isinstance(x.owner.op, Elemwise):
        earlier = next((a for a in x.owner.inputs if same_shape(a, x)), None)
        if earlier is None:
            break
        x = earlier
    return x


@register("canonicalize", tracks=[Reshape])
def reshape_reshape(fg, node):
    inner = node.inputs[0].owner
    if inner is None or not isinstance(inner.op, Reshape):
        return None
    return [node.op.make_node(inner.inputs[0], node.inputs[1]).outputs[0]]


@register("canonicalize", tracks=[Reduce])
def reduce_reduce(fg, node):
    """sum(sum(x, a), b) -> sum(x, a + b); likewise prod, max, min, all, any."""
    inner = node.inputs[0].owner
    op = node.op
    if inner is None or not isinstance(inner.op, Reduce) or op.mean or inner.op.mean \
            or op.combiner != inner.op.combiner or fg.n_clients(node.inputs[0]) != 1:
        return None
    x, a1 = inner.inputs[0], inner.op.axes
    if inner.op.keepdims:
        outer_axes = op.axes
        if not op.keepdims and not set(a1) <= set(outer_axes):
            return None
    else:
        if op.keepdims:
            return None
        kept = [a for a in range(x.ndim) if a not in a1]
        outer_axes = tuple(kept[a] for a in op.axes)
    axes = tuple(sorted(set(a1) | set(outer_axes)))
    return [Reduce(op.combiner, axes, op.keepdims,
                   empty_ok=op.empty_ok and inner.op.empty_ok)(x)]


@register("canonicalize", tracks=[Reduce])
def sum_of_pick_grad(fg, node):
    """sum(pick_grad(g, y, x), axis=-1) -> g: each row of a pick's gradient holds g at the
    label and zeros elsewhere (a log-softmax cross-entropy's gradient sums it, in a kernel
    of its own). Only while something else reads the pick's gradient, whose call checks
    the labels: the rewrite must not drop that check."""
    op, (x,) = node.op, node.inputs
    pg = x.owner
    if pg is None or not isinstance(pg.op, PickGrad) or op.combiner != "add" or op.mean \
            or op.axes != (x.ndim - 1,) or fg.n_clients(x) < 2:
        return None
    g = pg.inputs[0]
    return [as_type_of(DimShuffle((*range(g.ndim), "x"))(g) if op.keepdims else g,
                       node.outputs[0])]


def _scalar_operand(node, name: str):
    """(x, c) for ``x (name) c`` or ``c (name) x`` with c a finite scalar constant."""
    if not isinstance(node.op, Elemwise) or node.op.scalar.name != name:
        return None
    a, b = node.inputs
    for x, c in ((a, b), (b, a)):
        v = scalar_value(c)
        if v is not None and not isinstance(v, bool) and math.isfinite(v):
            return x, v
    return None


@register("canonicalize", tracks=[Elemwise], names=("mul", "add"))
def collect_constants(fg, node):
    """(2*x)*3 -> 6*x and (x+2)+3 -> x+5, when the combined constant is finite (so no
    overflow turns a finite result into inf or nan)."""
    for name, combine in (("mul", lambda a, b: a * b), ("add", lambda a, b: a + b)):
        outer = _scalar_operand(node, name)
        if outer is None:
            continue
        y, c2 = outer
        if y.owner is None or fg.n_clients(y) != 1:
            continue
        inner = _scalar_operand(y.owner, name)
        if inner is None:
            continue
        x, c1 = inner
        out = node.outputs[0]
        with np.errstate(all="ignore"):
            c = combine(np.asarray(c1, out.dtype), np.asarray(c2, out.dtype))
        if not np.isfinite(c) or (name == "mul" and c == 0) or not same_shape(x, out):
            return None
        new = apply_elemwise(node.op, x, constant(c.item(), out.dtype))
        return [as_type_of(new, out)] if same_shape(new, out) else None
    return None


@register("canonicalize", tracks=[Elemwise], names=("power", "mul"))
def square_forms(fg, node):
    """x**2 -> square(x), x*x -> square(x)."""
    out = node.outputs[0]
    if node.op.scalar.name == "power" and is_const(node.inputs[1], 2) and \
            same_shape(node.inputs[0], out):
        # the base in the power's dtype first: a bool squares as int8, as numpy's
        return [F.square(as_type_of(node.inputs[0], out))]
    if node.op.scalar.name == "mul" and node.inputs[0] is node.inputs[1]:
        return [F.square(node.inputs[0])]
    return None


def _pow_half(x):
    """x**0.5 as sqrt, with pow's values where sqrt differs: +inf at -inf (sqrt: nan) and
    +0 at -0 (sqrt: -0; adding 0 turns it into +0, so x**-0.5 is +inf there)."""
    return where(F.equal(x, -np.inf), np.inf, F.sqrt(x) + 0.0)


_POWERS = {
    0.5: _pow_half,
    -0.5: lambda x: F.reciprocal(_pow_half(x)),
    -1: lambda x: F.reciprocal(x),
    3: lambda x: F.square(x) * x,
    4: lambda x: F.square(F.square(x)),
}


@register("specialize", tracks=[Elemwise], names=("power",))
def power_specialize(fg, node):
    """Small constant powers become multiplications, sqrt, rsqrt or reciprocal."""
    if node.op.scalar.name != "power":
        return None
    x, out = node.inputs[0], node.outputs[0]
    p = scalar_value(node.inputs[1])
    if p is None or isinstance(p, bool) or p not in _POWERS or not same_shape(x, out):
        return None
    if x.dtype != out.dtype or (out.dtype not in ("float32", "float64") and p not in (3, 4)):
        return None
    return [_POWERS[p](x)]


def _shift(x, axis):
    """x minus its max along ``axis`` (0 where the max is not finite or the axis empty),
    as the nnet ops' library entries compute it."""
    return x - max_shift(x, normalize_axes(axis, x.ndim))


@register("specialize", tracks=[Softmax, LogSoftmax])
def expand_softmax(fg, node):
    """softmax and log_softmax become elementwise work and reductions, which fusion then
    turns into at most three kernels (max; exp and sum; the normalization)."""
    if not isinstance(node.op, (Softmax, LogSoftmax)):
        return None
    x, axis = node.inputs[0], node.op.axis
    s = _shift(x, axis)
    if isinstance(node.op, Softmax):
        e = F.exp(s)
        return [e / sum(e, axis=axis, keepdims=True)]
    return [s - F.log(sum(F.exp(s), axis=axis, keepdims=True))]
