"""Staged fusion: a reduction's kernel joins the kernel that uses its result over the
reduced axes, when that is one kernel of several passes, and not otherwise."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import symgraph as sg
from symgraph.rewrite.stages import MAX_STAGES
from tests.rewrite.helpers import assert_same_numbers, fused, kernels

rng = np.random.default_rng(0)
M = sg.dmatrix("M")
MV = rng.normal(size=(6, 9)) * 10
LAYOUTS = [MV, np.asfortranarray(MV), MV[::-1, ::2], MV[:0], MV[:, :1]]


def stages(f) -> list[tuple[int, ...]]:
    return [n.op.kernel.stages for n in fused(f)]


@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("build", [
    lambda m, a: sg.softmax(m, axis=a),
    lambda m, a: sg.log_softmax(m, axis=a),
    lambda m, a: (m - m.mean(axis=a, keepdims=True))
    / sg.sqrt(m.var(axis=a, keepdims=True) + 1e-5),
    lambda m, a: m / m.sum(axis=a).dimshuffle(*((0, "x") if a == 1 else ("x", 0))),
    lambda m, a: sg.logsumexp(m, axis=a, keepdims=True),
], ids=["softmax", "log_softmax", "normalize", "dimshuffled_sum", "logsumexp"])
def test_row_operations_are_one_kernel(build, axis):
    out = build(M, axis)
    f = sg.function([M], out)
    assert len(kernels(f)) == 1 and len(fused(f)) == 1, [str(n.op) for n in f.nodes]
    assert max(stages(f)[0]) >= 1
    for v in LAYOUTS:
        assert_same_numbers([M], out, [v])


def test_softmax_is_three_passes_and_stores_no_intermediate():
    f = sg.function([M], sg.softmax(M, axis=1))
    (node,) = fused(f)
    assert node.op.kernel.stages == (0, 1, 2)
    # the max and the sum are tiny outputs; exp(x - max) is recomputed, never stored
    assert [o.type.shape for o in node.outputs] == [(None, 1), (None, 1), (None, None)]


def test_different_domains_do_not_merge():
    """The max of one matrix shifting another of the same row count but other columns:
    nothing proves the domains equal, so two kernels (and columns may differ)."""
    N = sg.dmatrix("N")
    out = N - M.max(axis=1, keepdims=True)
    f = sg.function([M, N], out)
    assert len(fused(f)) + len(kernels(f)) >= 2 and all(max(s) == 0 for s in stages(f))
    nv = rng.normal(size=(6, 4))
    np.testing.assert_allclose(f(MV, nv), nv - MV.max(axis=1, keepdims=True))


def test_a_value_read_broadcast_does_not_pin_the_domain():
    """exp of a column, summed down the column and also broadcast across a matrix: the
    matrix kernel's domain is larger than the sum's, so they stay apart (merged, the
    sum would be taken once per column of the matrix: a (1, 3) result for a (1, 1))."""
    x = sg.dcol("x")
    e = sg.exp(x)
    outs = [e * M, e.sum(axis=0, keepdims=True)]
    f = sg.function([x, M], outs)
    xv = rng.normal(size=(6, 1))
    got = f(xv, MV)
    assert got[1].shape == (1, 1)
    assert_same_numbers([x, M], outs, [xv, MV])


def test_no_merge_through_a_path_that_leaves_and_returns():
    """r feeds C directly and through a reduction over other axes (a third kernel):
    merging r's kernel into C would put that kernel on a cycle."""
    r = M.sum(axis=1, keepdims=True)
    out = M - r + r.sum()
    f = sg.function([M], out)
    assert len(kernels(f)) >= 2
    for v in LAYOUTS[:3]:
        assert_same_numbers([M], out, [v])


def test_stage_count_is_bounded():
    x = M
    for _ in range(MAX_STAGES + 2):
        x = x - x.max(axis=1, keepdims=True) + 1
    f = sg.function([M], x)
    assert all(max(s) < MAX_STAGES for s in stages(f))
    assert len(fused(f)) >= 2
    assert_same_numbers([M], x, [MV])


def test_gradient_of_softmax_cross_entropy_is_unchanged():
    y = sg.lvector("y")
    W = sg.shared(rng.normal(size=(9, 5)), name="W")
    cost = sg.categorical_crossentropy(sg.softmax(sg.dot(M, W), axis=1), y).mean()
    g = sg.grad(cost, W)
    labels = rng.integers(0, 5, size=6)
    assert_same_numbers([M, y], [cost, g], [MV, labels])


# ---- random row programs --------------------------------------------------------------------
_REDUCE = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min}
_COMBINE = {"sub": (lambda a, b: a - b), "mul": (lambda a, b: a * b),
            "div": (lambda a, b: a / (abs(b) + 1))}
_UNARY = {"exp": (sg.exp, np.exp), "tanh": (sg.tanh, np.tanh), "square": (sg.square, np.square)}


@settings(max_examples=60, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_row_programs(data):
    """Chains of reductions whose results come back over the reduced axes (what staged
    fusion merges), in every layout, against numpy; with the llvm backend and the numpy
    reference."""
    draw = data.draw
    ndim = draw(st.integers(1, 3))
    shape = tuple(draw(st.sampled_from([1, 2, 3, 5, 8])) for _ in range(ndim))
    axes = tuple(a for a in range(ndim) if draw(st.booleans())) or (ndim - 1,)
    dtype = draw(st.sampled_from(["float32", "float64"]))
    x = sg.tensor("x", dtype, (None,) * ndim)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
    xv = rng.standard_normal(shape).astype(dtype)
    sym, ref = x, xv
    for _ in range(draw(st.integers(1, 3))):
        red = draw(st.sampled_from(sorted(_REDUCE)))
        comb = draw(st.sampled_from(sorted(_COMBINE)))
        un = draw(st.sampled_from(sorted(_UNARY)))
        r = getattr(sg, red)(sym, axis=axes, keepdims=True)
        r_ref = _REDUCE[red](ref, axis=axes, keepdims=True)
        sym = _UNARY[un][0](_COMBINE[comb](x, r))
        with np.errstate(all="ignore"):
            ref = _UNARY[un][1](_COMBINE[comb](xv, r_ref)).astype(dtype)
    f = sg.function([x], sym)
    assert len(kernels(f)) == 1, [str(n.op) for n in f.nodes]
    g = sg.function([x], sym, backend="numpy")
    tol = 2e-4 if dtype == "float32" else 1e-10
    for v, want in ((xv, ref), (np.asfortranarray(xv), ref), (xv[::-1], None)):
        expect = g(v) if want is None else want
        for got in (f(v), f(v), g(v)):
            np.testing.assert_allclose(got, expect, rtol=tol, atol=tol, equal_nan=True)


@pytest.mark.parametrize("dtype,big", [("float64", 1.2345678901234e100), ("float32", 1.2e9)])
@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_a_computed_value_is_the_same_in_every_pass(dtype, big, backend):
    """The value a staged kernel compares with the row's maximum is recomputed in each
    pass; a multiply-add fused in one pass and not another left the product's rounding
    error at the maximum: exp of it overflowed (NaN softmax, -inf logsumexp)."""
    v = sg.vector("v", dtype=dtype)
    a = np.array([big, 0.0], dtype)
    f = sg.function([v], [sg.softmax(v * 3.3), sg.log_softmax(v * 3.3), sg.logsumexp(v * 3.3)],
                    backend=backend)
    sm, lsm, lse = f(a)
    np.testing.assert_array_equal(sm, [1.0, 0.0])
    np.testing.assert_allclose(lsm, [0.0, -(a[0] * np.asarray(3.3, dtype))], rtol=1e-6)
    np.testing.assert_allclose(lse, a[0] * np.asarray(3.3, dtype), rtol=1e-6)
