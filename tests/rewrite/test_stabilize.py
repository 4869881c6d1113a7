"""Stabilize: forms that lose precision or overflow become stable ones. Each test runs
the graph as written too, to show the difference is real (so the test could fail)."""
from __future__ import annotations

import math

import numpy as np
import pytest

import symgraph as sg
from symgraph.ops.nnet import LogSoftmax, Softmax
from tests.rewrite.helpers import op_names

FLOATS = ["float32", "float64"]


def both(inputs, out, *values):
    """(optimized, as written) results."""
    return (sg.function(inputs, out)(*values), sg.function(inputs, out, rewrite=False)(*values))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("make, rewrite, op, ref", [
    (lambda x: sg.log(1 + x), "log1p_form", "log1p", np.log1p),
    (lambda x: sg.log(x + 1), "log1p_form", "log1p", np.log1p),
    (lambda x: sg.exp(x) - 1, "expm1_form", "expm1", np.expm1),
], ids=["log(1+x)", "log(x+1)", "exp(x)-1"])
def test_log1p_and_expm1_are_exact_near_zero(make, rewrite, op, ref, dtype):
    x = sg.tensor("x", dtype, (None,))
    f = sg.function([x], make(x), fusion=False)
    assert op_names(f) == [op] and f.rewrite_log.counts[rewrite] == 1
    a = np.array([1e-10, -1e-10, 1e-30, 0.5], dtype)
    got, naive = both([x], make(x), a)
    np.testing.assert_allclose(got, ref(a), rtol=1e-6 if dtype == "float32" else 1e-15)
    assert abs(naive[0] / 1e-10 - 1) > 1e-9, "1 + 1e-10 rounds: the naive form is inexact"


@pytest.mark.parametrize("dtype", FLOATS)
def test_log_sigmoid_does_not_underflow(dtype):
    x = sg.tensor("x", dtype, (None,))
    out = sg.log(sg.sigmoid(x))
    a = np.array([-800.0, -30.0, 0.0, 30.0, 800.0], dtype)
    got, naive = both([x], out, a)
    assert naive[0] == -np.inf
    assert got.dtype == dtype and got[0] == -800.0 and got[-1] == 0.0
    np.testing.assert_allclose(got, -np.logaddexp(0, -a.astype(float)), rtol=1e-6)
    assert sg.function([x], out).rewrite_log.counts["log_sigmoid"] == 1


@pytest.mark.parametrize("dtype", FLOATS)
def test_log_one_minus_sigmoid_does_not_underflow(dtype):
    x = sg.tensor("x", dtype, (None,))
    out = sg.log(1 - sg.sigmoid(x))
    a = np.array([-800.0, -30.0, 0.0, 30.0, 800.0], dtype)
    got, naive = both([x], out, a)
    assert naive[-1] == -np.inf
    assert got.dtype == dtype and got[-1] == -800.0 and got[0] == 0.0
    np.testing.assert_allclose(got, -np.logaddexp(0, a.astype(float)), rtol=1e-6)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("axis, keepdims", [(None, False), (1, False), (1, True), (0, True)])
def test_log_sum_exp_does_not_overflow(axis, keepdims, dtype):
    z = sg.tensor("z", dtype, (None, None))
    out = sg.log(sg.exp(z).sum(axis=axis, keepdims=keepdims))
    a = np.array([[1000.0, 1000.0, 999.0], [-1000.0, -1001.0, -1000.0]], dtype)
    got, naive = both([z], out, a)
    assert np.isinf(naive).any()
    b = a.astype(float)
    mx = b.max(axis=axis, keepdims=True)
    want = np.log(np.exp(b - mx).sum(axis=axis, keepdims=True)) + mx
    want = want if keepdims else want.reshape(got.shape)
    assert got.dtype == dtype and got.shape == naive.shape
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert sg.function([z], out).rewrite_log.counts["log_sum_exp"] == 1


@pytest.mark.parametrize("axis", [0, None])
def test_log_sum_exp_over_an_empty_axis_is_minus_inf(axis):
    # log(sum(exp([]))) = log(0): the stable form must not turn it into an error
    z = sg.dmatrix("z")
    out = sg.log(sg.exp(z).sum(axis=axis))
    got, naive = both([z], out, np.zeros((0, 3)))
    assert np.all(naive == -np.inf)
    np.testing.assert_array_equal(got, naive)


def test_logsumexp_is_not_rewritten_again():
    # sg.logsumexp's own inner form log(sum(exp(z - max))) must stay as it is
    z = sg.dmatrix("z")
    f = sg.function([z], sg.logsumexp(z, axis=1), fusion=False)
    assert f.rewrite_log.counts["log_sum_exp"] == 0


# ---- softmax: these need the nnet rewrites (log(softmax) -> log_softmax and its use in
# the cross-entropy, value and gradient); they fail until those rewrites exist

Z = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0], [1.0, 2.0, 3.0]])
LABELS = np.array([1, 0, 2])


def test_log_of_softmax_becomes_log_softmax():
    # (specialize then expands log_softmax into reductions and elementwise work)
    z = sg.dmatrix("z")
    f = sg.function([z], sg.log(sg.softmax(z)))
    assert f.rewrite_log.counts["log_softmax_form"] == 1, f.rewrite_log
    assert not any(isinstance(n.op, (Softmax, LogSoftmax)) for n in f.nodes), op_names(f)
    np.testing.assert_allclose(f(Z), sg.function([z], sg.log_softmax(z))(Z), rtol=1e-15)
    assert np.isfinite(f(Z)).all()


def _softmax_xent_reference(z, labels):
    s = z - z.max(axis=1, keepdims=True)
    logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
    onehot = np.eye(z.shape[1])[labels]
    return -(onehot * logp).sum(), np.exp(logp) - onehot


@pytest.mark.parametrize("targets", ["labels", "one-hot"])
def test_softmax_cross_entropy_of_large_logits_is_finite_with_the_right_gradient(targets):
    z = sg.dmatrix("z")
    t = sg.lvector("t") if targets == "labels" else sg.dmatrix("t")
    tv = LABELS if targets == "labels" else np.eye(3)[LABELS]
    loss = sg.categorical_crossentropy(sg.softmax(z), t).sum()
    f = sg.function([z, t], [loss, sg.grad(loss, z)])
    value, grad = f(Z, tv)
    want_value, want_grad = _softmax_xent_reference(Z, LABELS)
    assert np.isfinite(value) and np.isfinite(grad).all(), (value, grad)
    np.testing.assert_allclose(value, want_value, rtol=1e-12)
    np.testing.assert_allclose(grad, want_grad, atol=1e-12)


# ---- softplus, log1mexp and xlogx: forms of one function of x that overflow, cancel or
# meet 0 * -inf, become the scalar op computing it stably (on every backend)

BACKENDS = ["numpy", "llvm"]


def stable_ops(f) -> list[str]:
    """What the compiled function runs, fused kernels seen through to their ops."""
    return [label for n in f.nodes for label in getattr(n.op, "labels", [str(n.op)])]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("make", [
    lambda x: sg.log(1 + sg.exp(x)), lambda x: sg.log(sg.exp(x) + 1),
    lambda x: sg.log1p(sg.exp(x))], ids=["log(1+exp)", "log(exp+1)", "log1p(exp)"])
def test_log_one_plus_exp_becomes_softplus(make, dtype, backend):
    x = sg.tensor("x", dtype, (None,))
    f = sg.function([x], [make(x), sg.grad(make(x).sum(), x)], backend=backend)
    assert f.rewrite_log.counts["log1p_exp_form"] >= 1 and "softplus" in stable_ops(f)
    assert not {"exp", "log", "log1p"} & set(stable_ops(f)), stable_ops(f)
    a = np.array([100.0, 1000.0, 1e4, -1e4, -30.0, 0.0, 2.5], dtype)
    (value, grad), naive = f(a), sg.function([x], make(x), rewrite=False, backend=backend)(a)
    assert np.isinf(naive[1]) and (dtype == "float64" or np.isinf(naive[0])), naive
    b = a.astype("float64")
    np.testing.assert_allclose(value, np.logaddexp(0, b),
                               rtol=1e-6 if dtype == "float32" else 1e-15)
    np.testing.assert_allclose(grad, np.exp(-np.logaddexp(0, -b)), rtol=1e-6)   # sigmoid
    assert value.dtype == grad.dtype == dtype


LOG1MEXP_FORMS = {"log(1-exp)": lambda x: sg.log(1 - sg.exp(x)),
                  "log1p(-exp)": lambda x: sg.log1p(-sg.exp(x)),
                  "log(-expm1)": lambda x: sg.log(-sg.expm1(x))}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("form", list(LOG1MEXP_FORMS))
def test_log_one_minus_exp_becomes_log1mexp(form, dtype, backend):
    make = LOG1MEXP_FORMS[form]
    x = sg.tensor("x", dtype, (None,))
    f = sg.function([x], [make(x), sg.grad(make(x).sum(), x)], backend=backend)
    assert f.rewrite_log.counts["log1mexp_form"] >= 1 and "log1mexp" in stable_ops(f)
    a = np.array([-1e-20, -50.0, -1e-3, -0.5, -math.log(2), -2.0, -1e4], dtype)
    (value, grad), naive = f(a), sg.function([x], make(x), rewrite=False, backend=backend)(a)
    # each form loses one end: log(0) = -inf near 0, or log(1.0) = 0 far below it
    exact = [math.log(1e-20), -math.exp(-50.0)]
    assert np.isinf(naive[0]) or naive[1] == 0.0, naive
    assert np.isfinite(value).all() and np.isfinite(grad).all(), (value, grad)
    rtol = 1e-6 if dtype == "float32" else 1e-14
    np.testing.assert_allclose(value[:2], exact, rtol=rtol)
    b = a.astype("float64")
    with np.errstate(all="ignore"):     # each side's form computed on both sides
        want = np.where(b > -math.log(2), np.log(-np.expm1(b)), np.log1p(-np.exp(b)))
        want_grad = -1 / np.expm1(-b)
    np.testing.assert_allclose(value, want, rtol=rtol, atol=1e-30)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("make", [lambda x: x * sg.log(x), lambda x: sg.log(x) * x],
                         ids=["x*log(x)", "log(x)*x"])
def test_x_log_x_becomes_xlogx(make, dtype, backend):
    x = sg.tensor("x", dtype, (None,))
    f = sg.function([x], [make(x), sg.grad(make(x).sum(), x)], backend=backend)
    assert f.rewrite_log.counts["xlogx_form"] >= 1 and "xlogx" in stable_ops(f)
    a = np.array([0.0, 1e-30, 0.5, 1.0, 3.0, 1e4], dtype)
    (value, grad), naive = f(a), sg.function([x], make(x), rewrite=False, backend=backend)(a)
    assert np.isnan(naive[0]) and value[0] == 0.0 and grad[0] == -np.inf
    b = a[1:].astype("float64")
    rtol = 1e-6 if dtype == "float32" else 1e-15
    np.testing.assert_allclose(value[1:], b * np.log(b), rtol=rtol)
    np.testing.assert_allclose(grad[1:], np.log(b) + 1, rtol=rtol)


def test_near_misses_are_left_alone():
    x, y = sg.dvector("x"), sg.dvector("y")
    b = sg.tensor("b", "float64", (1,))
    for out, rule in [(x * sg.log(y), "xlogx_form"), (sg.log(2 - sg.exp(x)), "log1mexp_form"),
                      (sg.log(1 + sg.exp(x) * 2), "log1p_exp_form"),
                      (sg.log1p(sg.exp(x) + 1), "log1p_exp_form"),
                      # the 1 broadcasts b: softplus(b) would have b's shape, not the sum's
                      (sg.log(np.ones(3) + sg.exp(b)), "log1p_exp_form")]:
        f = sg.function([x, y, b], out)
        assert f.rewrite_log.counts[rule] == 0, (out, f.rewrite_log)
    got = sg.function([b], sg.log(np.ones(3) + sg.exp(b)))(np.array([0.0]))
    np.testing.assert_allclose(got, [math.log(2)] * 3)


def test_entropy_of_a_softmax_keeps_the_log_softmax_form():
    # log(softmax) -> log_softmax fires first: p * log_softmax(z) has a finite gradient
    # where p underflows to 0, which xlogx(p) (gradient log(p) + 1 = -inf) would not
    z = sg.dmatrix("z")
    p = sg.softmax(z)
    entropy = -(p * sg.log(p)).sum()
    f = sg.function([z], [entropy, sg.grad(entropy, z)])
    assert f.rewrite_log.counts["log_softmax_form"] == 1
    assert f.rewrite_log.counts["xlogx_form"] == 0
    value, grad = f(np.array([[1e4, 0.0, 1.0], [0.5, 1.0, 2.0]]))
    assert np.isfinite(value) and np.isfinite(grad).all(), (value, grad)
