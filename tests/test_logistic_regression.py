"""The Theano tutorial's logistic regression trains to the same weights as the same math
written by hand in numpy (float64), on every backend."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from tests.checks import BACKENDS, to_host

N, FEATS, STEPS, LR = 400, 50, 100, 0.1


def _data():
    rng = np.random.default_rng(42)
    return (rng.standard_normal((N, FEATS)), rng.integers(0, 2, N).astype("float64"),
            rng.standard_normal(FEATS))


def _numpy_training(x, y, w0):
    w, b = w0.copy(), 0.0
    for _ in range(STEPS):
        p = 1 / (1 + np.exp(-x @ w - b))
        # d/dz of the mean cross-entropy is (p - y) / N; the L2 term adds 0.02 w
        gw = x.T @ (p - y) / N + 0.02 * w
        gb = (p - y).mean()
        w, b = w - LR * gw, b - LR * gb
    return w, b


@pytest.mark.parametrize("backend", BACKENDS)
def test_trains_to_the_hand_written_numpy_weights(backend):
    data_x, data_y, w0 = _data()
    x, y = sg.dmatrix("x"), sg.dvector("y")
    w, b = sg.shared(w0, name="w"), sg.shared(np.float64(0), name="b")
    p_1 = 1 / (1 + sg.exp(-sg.dot(x, w) - b))
    prediction = p_1 > 0.5
    xent = -y * sg.log(p_1) - (1 - y) * sg.log(1 - p_1)
    cost = xent.mean() + 0.01 * (w ** 2).sum()
    gw, gb = sg.grad(cost, [w, b])
    train = sg.function([x, y], [prediction, xent],
                        updates=[(w, w - LR * gw), (b, b - LR * gb)], backend=backend)
    for _ in range(STEPS):
        pred, err = train(data_x, data_y)
    want_w, want_b = _numpy_training(data_x, data_y, w0)
    np.testing.assert_allclose(to_host(w.get_value()), want_w, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(to_host(b.get_value()), want_b, rtol=1e-10, atol=1e-12)
    assert to_host(pred).dtype == bool and to_host(err).shape == (N,)
