"""Stabilize: forms that lose precision or overflow become stable ones. Each test runs
the graph as written too, to show the difference is real (so the test could fail)."""
from __future__ import annotations

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
