"""The recompute pass keeps each kernel's domain: a value it inlines may read less than the
value gave the reader (``ones_like(x)`` reads nothing, ``fill(x, row)`` only the row), and
a kernel's domain is what its inputs' shapes say. Once, the smoothed cross-entropy's
gradient made a kernel with no input at all (``KernelError: ... do not define a domain``)
and ``fill(x, row)`` a row where a matrix was due, silently.

Each graph is checked against ``fusion=False`` and ``rewrite=False`` on every backend, and
every kernel must have an input that sets each axis its outputs do not hold at size 1."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings, strategies as st

import symgraph as sg
from tests.checks import BACKENDS, to_host
from tests.rewrite.helpers import assert_domains_set
from tests.rewrite.test_property_rewrites import Program, _bcast
from tests.test_property import budget


def assert_agree(inputs, outputs, values, tol: float = 1e-12) -> list[sg.Function]:
    """The optimized and the unfused compilations, on every backend, give what the graph as
    written gives on the reference backend (dtype, shape and values), and the optimized
    ones pass :func:`assert_domains_set`; returns the optimized functions."""
    want = sg.function(inputs, outputs, backend="numpy", rewrite=False)(*values)
    optimized = []
    for backend in BACKENDS:
        for kw in ({}, {"fusion": False}):
            f = sg.function(inputs, outputs, backend=backend, **kw)
            got = [to_host(g) for g in f(*values)]
            for k, (g, w) in enumerate(zip(got, want)):
                what = f"{backend} {kw} output {k}"
                assert g.dtype == w.dtype and g.shape == w.shape, (what, g.shape, w.shape)
                np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True,
                                           err_msg=what)
            if not kw:
                assert_domains_set(f)
                optimized.append(f)
    return optimized


def _smoothed_loss(z, t, eps: float, reduce=sg.sum):
    return (-(1 - eps) * sg.nnet.pick(z, t) - eps * reduce(z, axis=-1)).sum()


def test_the_gradient_of_a_smoothed_pick_loss_compiles_and_agrees():
    """The reported graph: the gradient reaching pick's rows is ``second(pick(z, t), 1)``,
    which the negated kernel recomputed from nothing (it now keeps ``pick(z, t)`` for the
    shape, a load the backends never make)."""
    z, t = sg.dmatrix("z"), sg.lvector("t")
    rng = np.random.default_rng(0)
    vals = [rng.standard_normal((5, 4)), np.array([0, 3, 1, 1, 2])]
    fs = assert_agree([z, t], [sg.grad(_smoothed_loss(z, t, 0.1), z)], vals)
    assert all(f.rewrite_log.counts["recompute"] >= 1 for f in fs)   # it still applies


def test_variations_of_the_smoothed_loss_agree():
    """Means instead of sums, float32, log-softmax of the logits, 0 rows, 1 class, the
    value and the gradient together."""
    rng = np.random.default_rng(1)
    for dtype, n, c, reduce in [("float32", 3, 4, sg.mean), ("float64", 0, 3, sg.sum),
                                ("float64", 4, 1, sg.mean)]:
        z, t = sg.matrix("z", dtype), sg.lvector("t")
        for logits in (z, sg.log_softmax(z, axis=-1)):
            loss = _smoothed_loss(logits, t, 0.2, reduce)
            vals = [rng.standard_normal((n, c)).astype(dtype), rng.integers(0, c, n)]
            assert_agree([z, t], [loss, sg.grad(loss, z)], vals,
                         tol=1e-5 if dtype == "float32" else 1e-12)


def test_a_fill_of_a_row_keeps_the_rows_of_the_matrix_it_fills():
    """``fill(y, r) * 2`` and ``-fill(y, r)`` read apart (a dot after each): recomputed
    from ``r`` alone, the first was a row, not ``y``'s shape."""
    y, r, m = sg.dmatrix("y"), sg.drow("r"), sg.dmatrix("m")
    w = sg.fill(y, r)
    outs = [sg.dot(w * 2, m), sg.dot(-w, m)]
    rng = np.random.default_rng(2)
    vals = [rng.standard_normal((3, 4)), rng.standard_normal((1, 4)),
            rng.standard_normal((4, 2))]
    for f in assert_agree([y, r, m], outs, vals):
        assert f.rewrite_log.counts["recompute"] == 1


def test_ones_zeros_and_fills_read_apart_keep_their_shape():
    """Values that read nothing of the matrix whose shape they have, or only a column,
    each read by three kernels."""
    x, c, m = sg.dmatrix("x"), sg.dcol("c"), sg.dmatrix("m")
    rng = np.random.default_rng(3)
    vals = [rng.standard_normal((3, 4)), rng.standard_normal((3, 1)),
            rng.standard_normal((4, 2))]
    for w in (sg.ones_like(x), sg.zeros_like(x) + 1.5, sg.fill(x, 2.0) * c,
              sg.fill(sg.fill(x, c), 0.5)):
        outs = [sg.dot(w * 2, m), sg.dot(-w + 1, m), sg.dot(((w - c) * 3).T, x)]
        for f in assert_agree([x, c, m], outs, vals):
            assert f.rewrite_log.counts["recompute"] == 1


def test_a_fill_of_row_maxima_keeps_its_columns_in_a_column_sum():
    """``fill(x, max(x, axis=1))`` is a value of the staged kernel of the softmax-like
    sum over rows; the column sum that reads it recomputes it from the maxima alone, which
    made its domain one column wide: a sum of shape (1,) where (4,) was due."""
    x = sg.dmatrix("x")
    w = sg.fill(x, x.max(axis=1, keepdims=True))
    outs = [(w * 2).sum(axis=0), sg.exp(x - w).sum(axis=1)]
    vals = [np.random.default_rng(4).standard_normal((3, 4))]
    for f in assert_agree([x], outs, vals):
        assert f.rewrite_log.counts["recompute"] == 1


# --- random graphs of fills, reductions and broadcasting, read by several kernels --------

SHAPES = {"M": ("nm", (None, None)), "R": ("1m", (1, None)), "C": ("n1", (None, 1)),
          "V": ("m", (None,))}
BINARY = {"add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
          "fill": sg.fill}
UNARY = {"neg": lambda a: -a, "half": lambda a: a * 0.5, "ones_like": sg.ones_like,
         "zeros_like+1": lambda a: sg.zeros_like(a) + 1, "fill 3": lambda a: sg.fill(a, 3.0),
         "exp": sg.exp}


def _step(draw, pool: list, a: tuple) -> tuple | None:
    """A fill, cheap arithmetic, a transcendental or a reduction of ``a`` (and another
    value of ``pool``): (variable, shape), or None where the operands do not combine."""
    kind = draw(st.sampled_from(["binary", "binary", "unary", "reduce"]))
    if kind == "binary":
        b = draw(st.sampled_from(pool))
        a, b = (a, b) if draw(st.booleans()) else (b, a)
        shape = _bcast(a, b)
        return None if shape is None else (
            BINARY[draw(st.sampled_from(sorted(BINARY)))](a[0], b[0]), shape)
    if kind == "unary" or not a[1]:
        return UNARY[draw(st.sampled_from(sorted(UNARY)))](a[0]), a[1]
    axis = draw(st.integers(0, len(a[1]) - 1))
    keep = draw(st.booleans())
    how = draw(st.sampled_from(["sum", "mean", "max"]))
    if how == "max" and a[1][axis] == 0:
        how = "sum"                # no identity: an error, tested elsewhere
    return (getattr(a[0], how)(axis=axis, keepdims=keep),
            np.empty(a[1]).sum(axis=axis, keepdims=keep).shape)


def _apart(draw, v: tuple, t, n: int, m: int) -> tuple:
    """``v`` through an op that is no kernel work (so the kernel computing ``v`` and the
    one after are two): a transpose, a reshape, a dot, ``pick``; or ``v`` itself."""
    if len(v[1]) != 2:
        return v
    how = draw(st.sampled_from(["transpose", "reshape", "dot", "pick", "none"]))
    if how == "transpose":
        return v[0].T, v[1][::-1]
    if how == "reshape":
        return sg.reshape(sg.reshape(v[0], (-1,)), v[1]), v[1]
    if how == "dot":
        return sg.dot(v[0], v[0].T), (v[1][0], v[1][0])
    if how == "pick" and v[1] == (n, m) and v[0].type.shape[0] != 1:
        return sg.nnet.pick(v[0], t), (n,)
    return v


@st.composite
def fill_programs(draw):
    """A :class:`Program` over a matrix, a row, a column and a vector: a shared value that
    takes its shape from one operand and its values from others (``second``, ``fill``,
    ``ones_like``, ``zeros_like`` of a matrix, a row, a column, a reduction kept as one,
    a constant), then a few fills, cheap steps and reductions with broadcasting; two or
    three chains of such steps read it, each ending in an op that is no kernel work (most
    often), so that the shared value crosses from one kernel to others. The
    outputs are the chains' ends and the gradient of their sum for the matrix (where
    ``second`` comes from in real graphs)."""
    n, m = draw(st.integers(0, 3)), draw(st.integers(1, 3))
    size = {"n": n, "m": m, "1": 1}
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    pool, inputs, values = [], [], []
    for name, (dims, static) in SHAPES.items():
        v = sg.tensor(name, "float64", static)
        shape = tuple(size[d] for d in dims)
        inputs.append(v)
        values.append(rng.standard_normal(shape))
        pool.append((v, shape))
    M, R, C, V = (v for v, _ in pool)
    t = sg.lvector("t")
    shape_of = draw(st.sampled_from([M, M * C, sg.exp(M) + R, M.T.T * 2]))
    filler = draw(st.sampled_from(
        [R, C, V, 2.0, R * C, M.sum(axis=0, keepdims=True), M.max(axis=1, keepdims=True),
         (M * R).mean(axis=1, keepdims=True)]))
    how = draw(st.sampled_from(["second", "fill", "ones_like", "zeros_like"]))
    shared = (sg.ones_like(shape_of) if how == "ones_like" else
              sg.zeros_like(shape_of) if how == "zeros_like" else
              getattr(sg, how)(shape_of, filler)), (n, m)
    pool.append(shared)
    for _ in range(draw(st.integers(0, 2))):
        shared = _step(draw, pool, shared) or shared
        pool.append(shared)
    outs = []
    for k in range(draw(st.integers(2, 3))):
        v = shared
        for _ in range(draw(st.integers(0, 2))):
            v = _step(draw, pool, v) or v
        # a constant makes even a one-op chain a kernel (a lone op stays an op, which the
        # pass does not inline into), and one of its own keeps the chains from merging
        c = 1.5 + k
        v = (v[0] * c if draw(st.booleans()) else v[0] + c), v[1]
        outs.append(_apart(draw, v, t, n, m)[0])
    cost = sum((o.sum() if o.ndim else o) for o in outs)
    outs.append(sg.grad(cost, M, disconnected_inputs="ignore"))
    if id(t) in sg.graph.ancestors(outs):
        inputs.append(t)
        values.append(rng.integers(0, m, n))
    return Program((inputs, values, outs))


@settings(**budget(60), report_multiple_bugs=False,
          suppress_health_check=[HealthCheck.too_slow])
@given(fill_programs())
def test_random_fills_read_by_several_kernels_agree(program):
    """What the reported graph is an instance of: whatever a fill reads, every kernel that
    recomputes it keeps its shape."""
    inputs, values, outs = program
    assert_agree(inputs, outs, values, tol=1e-10)
