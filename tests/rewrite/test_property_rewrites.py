"""Property: random programs of elementwise, broadcasting, reduction and shape ops give
the same numbers optimized, with ``fusion=False`` and with ``rewrite=False``, on float32
and float64, with NaN, Inf, signed zeros and 0-size axes among the inputs.

Two generators: tests/test_property.py's ``random_program`` (broad: ranks 0-3, transposes,
mixed dtypes, but no constants or plain log, so it never forms what the rewrites look for),
and :func:`programs` below, built from the very forms the rewrites match (``x*1``,
``(x*2)*0.5``, ``x**-0.5``, ``log(1 + x)``, sum of sum, ``log(sum(exp(x)))`` ...)."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st
from hypothesis.extra.numpy import arrays

import symgraph as sg
from tests.test_property import assert_close, random_program

UNARY = {
    "neg": lambda a: -a, "exp": sg.exp, "log": sg.log, "tanh": sg.tanh, "sin": sg.sin,
    "sqrt": sg.sqrt, "abs": abs, "square": sg.square,
    # the forms the canonicalize and specialize rewrites look for
    "x*1": lambda a: a * 1, "x+0": lambda a: 0 + a, "x**1": lambda a: a ** 1,
    "-(-x)": lambda a: -(-a), "(x*2)*0.5": lambda a: (a * 2) * 0.5,
    "(x+2)+3": lambda a: (a + 2) + 3, "x**2": lambda a: a ** 2, "x*x": lambda a: a * a,
    "x**3": lambda a: a ** 3, "x**4": lambda a: a ** 4, "x**0.5": lambda a: a ** 0.5,
    "x**-1": lambda a: a ** -1, "x**-0.5": lambda a: a ** -0.5, "x-x": lambda a: a - a,
    "x/x": lambda a: a / a, "log(1+x)": lambda a: sg.log(1 + a),
    "exp(x)-1": lambda a: sg.exp(a) - 1,
}
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "div": lambda a, b: a / b, "maximum": sg.maximum,
          "where": lambda a, b: sg.where(a < b, a, b)}
SPECIAL = [0.0, -0.0, 1.0, np.inf, -np.inf, np.nan]


def _bcast(a, b):
    """The result's (static broadcastable, concrete shape), or None when ``a`` and ``b``
    do not broadcast under symgraph's rule (only static-1 axes stretch)."""
    (va, sa), (vb, sb) = a, b
    nd = max(len(sa), len(sb))
    pa = (True,) * (nd - len(sa)) + va.type.broadcastable
    pb = (True,) * (nd - len(sb)) + vb.type.broadcastable
    sa, sb = (1,) * (nd - len(sa)) + sa, (1,) * (nd - len(sb)) + sb
    shape = []
    for da, db, ba, bb in zip(sa, sb, pa, pb):
        if da != db and not (ba and da == 1) and not (bb and db == 1):
            return None
        shape.append(db if ba and da == 1 else da)
    return tuple(shape)


class Program(tuple):
    """(inputs, input values, outputs), shown as the graph and the values when it fails."""

    def __repr__(self) -> str:
        inputs, values, outputs = self
        return "\n" + sg.debugprint(outputs, file="str") + "\n" + "\n".join(
            f"{v} = {a!r}" for v, a in zip(inputs, values))


@st.composite
def programs(draw):
    """A random :class:`Program` over a matrix, a row, a vector and a scalar."""
    dtype = draw(st.sampled_from(["float32", "float64"]))
    n, m = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    shapes = {"M": (n, m), "R": (1, m), "V": (m,), "S": ()}
    static = {"M": (None, None), "R": (1, None), "V": (None,), "S": ()}
    elements = st.one_of(st.floats(-3, 3, width=32), st.sampled_from(SPECIAL))
    inputs, values, pool = [], [], []
    for name, shape in shapes.items():
        v = sg.tensor(name, dtype, static[name])
        inputs.append(v)
        values.append(draw(arrays(dtype, shape, elements=elements)))
        pool.append((v, shape))
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["unary", "unary", "binary", "binary", "reduce", "shape"]))
        a = draw(st.sampled_from(pool[-2:]) | st.sampled_from(pool))   # deep or wide
        if kind == "unary":
            pool.append((UNARY[draw(st.sampled_from(sorted(UNARY)))](a[0]), a[1]))
        elif kind == "binary":
            b = draw(st.sampled_from(pool))
            shape = _bcast(a, b)
            if shape is not None:
                pool.append((BINARY[draw(st.sampled_from(sorted(BINARY)))](a[0], b[0]), shape))
        elif kind == "reduce" and a[1]:
            axis = draw(st.sampled_from([None, *range(len(a[1]))]))
            keep = draw(st.booleans())
            how = draw(st.sampled_from(["sum", "max", "mean", "sum of sum", "log sum exp"]))
            axes = range(len(a[1])) if axis is None else [axis]
            if how == "max" and any(a[1][i] == 0 for i in axes):
                continue        # an error, not a value: checked elsewhere
            if how == "sum of sum":
                out = a[0].sum(axis=axis, keepdims=True).sum(axis=axis, keepdims=keep)
            elif how == "log sum exp":
                out = sg.log(sg.exp(a[0]).sum(axis=axis, keepdims=keep))
            else:
                out = getattr(a[0], how)(axis=axis, keepdims=keep)
            shape = np.empty(a[1]).sum(axis=axis, keepdims=keep).shape
            pool.append((out, shape))
        elif kind == "shape" and len(a[1]) == 2:
            if draw(st.booleans()):
                pool.append((a[0].T.T if draw(st.booleans()) else a[0].T, a[1][::-1]))
            else:
                pool.append((sg.reshape(sg.reshape(a[0], (-1,)), a[1]), a[1]))
    outs = [pool[-1][0]]
    extra = draw(st.sampled_from(pool[len(inputs):] or pool))[0]
    if extra is not outs[0]:
        outs.append(extra)
    return Program((inputs, values, outs))


def _run(inputs, outputs, values, **kw):
    try:
        return sg.function(inputs, outputs, **kw)(*values)
    except Exception as e:          # the same error must come from every compilation
        return type(e)


@settings(max_examples=150, deadline=None, derandomize=True, report_multiple_bugs=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(programs())
def test_optimized_unfused_and_unrewritten_agree(program):
    inputs, values, outputs = program
    want = _run(inputs, outputs, values, rewrite=False)
    for kw in ({}, {"fusion": False}):
        got = _run(inputs, outputs, values, **kw)
        if isinstance(want, type) or isinstance(got, type):
            assert got == want, (kw, got, want)
            continue
        for k, (g, w) in enumerate(zip(got, want)):
            assert g.dtype == w.dtype and g.shape == w.shape, (kw, k)
            tol = 2e-4 if w.dtype == np.float32 else 1e-10
            with np.errstate(all="ignore"):
                np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True,
                                           err_msg=f"{kw} output {k}")


@settings(max_examples=100, deadline=None, derandomize=True, report_multiple_bugs=False,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.data())
def test_random_programs_agree_optimized_unfused_and_unrewritten(data):
    p = random_program(data.draw)
    want = _run(p.inputs, p.outputs, p.values, rewrite=False)
    for kw in ({}, {"fusion": False}):
        got = _run(p.inputs, p.outputs, p.values, **kw)
        if isinstance(want, type) or isinstance(got, type):
            assert got == want, (kw, got, want)
            continue
        for k, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, f"{kw} output {k}", tol=p.tol)
