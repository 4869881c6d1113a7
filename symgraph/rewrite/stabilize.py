"""Numerical-stability rewrites: forms that lose precision or overflow become stable ones.

``log(sigmoid(x))`` at x = -800 is -800 after this pass, not -inf.
"""
from __future__ import annotations

from ..graph import ancestors, clone_replace
from ..ops.elemwise import F, Elemwise
from ..ops.nnet import LogSoftmax, Pick, Softmax
from ..ops.reduce import Reduce, logsumexp
from .engine import _for_node, FunctionGraph, register, rewriters
from .match import ew, is_const, same_shape


def _other(node, const):
    """For a binary node with ``const`` as one operand, the other operand."""
    a, b = node.inputs
    if is_const(b, const):
        return a
    if is_const(a, const):
        return b
    return None


@register("stabilize", tracks=[Elemwise], names=("log",))
def log1p_form(fg, node):
    """log(1 + x) -> log1p(x)."""
    inner = ew(node.outputs[0], "log") and ew(node.inputs[0], "add")
    if not inner:
        return None
    x = _other(inner, 1)
    out = node.outputs[0]
    if x is None or not same_shape(x, out) or F.log1p(x).dtype != out.dtype:
        return None
    return [F.log1p(x)]


@register("stabilize", tracks=[Elemwise], names=("sub",))
def expm1_form(fg, node):
    """exp(x) - 1 -> expm1(x)."""
    if not ew(node.outputs[0], "sub") or not is_const(node.inputs[1], 1):
        return None
    e = ew(node.inputs[0], "exp")
    out = node.outputs[0]
    if not e or not same_shape(e.inputs[0], out) or e.outputs[0].dtype != out.dtype:
        return None
    return [F.expm1(e.inputs[0])]


@register("stabilize", tracks=[Elemwise], names=("log",))
def log_sigmoid(fg, node):
    """log(sigmoid(x)) -> -softplus(-x); log(1 - sigmoid(x)) -> -softplus(x)."""
    if not ew(node.outputs[0], "log"):
        return None
    arg, out = node.inputs[0], node.outputs[0]
    s = ew(arg, "sigmoid")
    if s and s.outputs[0].dtype == out.dtype:
        return [-F.softplus(-s.inputs[0])]
    sub = ew(arg, "sub")
    if sub and is_const(sub.inputs[0], 1):
        s = ew(sub.inputs[1], "sigmoid")
        if s and same_shape(s.inputs[0], out) and s.outputs[0].dtype == out.dtype:
            return [-F.softplus(s.inputs[0])]
    return None


def _log_one_plus(node):
    """For ``log(1 + a)`` or ``log1p(a)``: ``a``, else None."""
    if ew(node.outputs[0], "log1p"):
        return node.inputs[0]
    inner = ew(node.inputs[0], "add")
    return _other(inner, 1) if inner and ew(node.outputs[0], "log") else None


@register("stabilize", tracks=[Elemwise], names=("log", "log1p"))
def log1p_exp_form(fg, node):
    """log(1 + exp(x)), log1p(exp(x)) -> softplus(x) (exp overflows from x = 89 in
    float32, 710 in float64)."""
    a = _log_one_plus(node)
    e = ew(a, "exp") if a is not None else None
    out = node.outputs[0]
    if not e or not same_shape(e.inputs[0], out) or F.softplus(e.inputs[0]).dtype != out.dtype:
        return None
    return [F.softplus(e.inputs[0])]


@register("stabilize", tracks=[Elemwise], names=("log", "log1p"))
def log1mexp_form(fg, node):
    """log(1 - exp(x)), log1p(-exp(x)), log(-expm1(x)) -> log1mexp(x) (each of them
    loses all digits on one side of -ln 2: 1 - exp(x) near 0, expm1 far below it)."""
    out, arg = node.outputs[0], node.inputs[0]
    x = None
    if ew(out, "log"):
        sub, neg = ew(arg, "sub"), ew(arg, "neg")
        if sub and is_const(sub.inputs[0], 1) and ew(sub.inputs[1], "exp"):
            x = sub.inputs[1].owner.inputs[0]
        elif neg and ew(neg.inputs[0], "expm1"):
            x = neg.inputs[0].owner.inputs[0]
    elif ew(out, "log1p"):
        neg = ew(arg, "neg")
        if neg and ew(neg.inputs[0], "exp"):
            x = neg.inputs[0].owner.inputs[0]
    if x is None or not same_shape(x, out) or F.log1mexp(x).dtype != out.dtype:
        return None
    return [F.log1mexp(x)]


@register("stabilize", tracks=[Elemwise], names=("mul",))
def xlogx_form(fg, node):
    """x * log(x) -> xlogx(x) (0 at x = 0, where the product is 0 * -inf = nan)."""
    if not ew(node.outputs[0], "mul"):
        return None
    a, b = node.inputs
    for x, lg in ((a, b), (b, a)):
        log_node = ew(lg, "log")
        if log_node and log_node.inputs[0] is x and F.xlogx(x).dtype == node.outputs[0].dtype:
            return [F.xlogx(x)]
    return None


@register("stabilize", tracks=[Elemwise], names=("log",))
def log_sum_exp(fg, node):
    """log(sum(exp(x))) -> logsumexp(x) (with the max shift: no overflow)."""
    if not ew(node.outputs[0], "log"):
        return None
    r = node.inputs[0].owner
    if r is None or not isinstance(r.op, Reduce) or r.op.combiner != "add" or r.op.mean:
        return None
    e = ew(r.inputs[0], "exp")
    if not e or e.inputs[0].dtype != node.outputs[0].dtype or _max_shifted(e.inputs[0]):
        return None
    return [logsumexp(e.inputs[0], r.op.axes, r.op.keepdims)]


def _max_shifted(v) -> bool:
    """``v`` is ``a - shift`` with the shift computed from ``max(a)``: logsumexp's own
    inner form, which must not be rewritten again."""
    sub = ew(v, "sub")
    if not sub:
        return False
    a, stack = sub.inputs[0], [sub.inputs[1]]
    for _ in range(8):
        if not stack:
            return False
        w = stack.pop()
        if w.owner is None:
            continue
        if isinstance(w.owner.op, Reduce) and w.owner.op.combiner == "max" and \
                w.owner.inputs[0] is a:
            return True
        stack.extend(w.owner.inputs)
    return False


@register("stabilize", tracks=[Elemwise], names=("log",))
def log_softmax_form(fg, node):
    """log(softmax(z)) -> log_softmax(z); log(pick(softmax(z), y)) -> pick(log_softmax(z), y)
    (the cross-entropy of a softmax, computed on the logits)."""
    if not ew(node.outputs[0], "log"):
        return None
    arg = node.inputs[0].owner
    if arg is None:
        return None
    if isinstance(arg.op, Softmax):
        return [LogSoftmax(arg.op.axis)(arg.inputs[0])]
    if isinstance(arg.op, Pick):
        sm = arg.inputs[0].owner
        if sm is not None and isinstance(sm.op, Softmax) and sm.op.axis in (-1, sm.inputs[0].ndim - 1):
            return [Pick()(LogSoftmax(sm.op.axis)(sm.inputs[0]), arg.inputs[1])]
    return None


def stabilize_graph(outputs, keep=()) -> list:
    """``outputs`` rebuilt with the stabilize rewrites applied, so that ``grad`` works on
    the stable form (the gradient of ``log(sigmoid(x))`` at -800 is then 1, not nan).
    Returns ``outputs`` unchanged if a rewrite would rebuild one of the ``keep``
    variables (a non-input ``wrt`` of ``grad``), which must stay the user's."""
    outputs = list(outputs)
    rules, table = rewriters("stabilize"), {}
    for _ in range(4):
        fg = FunctionGraph(outputs, clone=False)
        repl = {}
        for node in fg.nodes:
            if any(id(i) in repl for i in node.inputs):
                continue
            for fn in _for_node(rules, table, node):
                new = fn(fg, node)
                if new is not None:
                    for o, n in zip(node.outputs, new):
                        repl[id(o)] = (o, n)
                    break
        if not repl:
            return outputs
        keep_owned = [k for k in keep if k.owner is not None]
        if keep_owned and any(id(o) in ancestors(keep_owned) for o, _ in repl.values()):
            return outputs
        outputs = clone_replace(outputs, {o: n for o, n in repl.values()})
    return outputs
