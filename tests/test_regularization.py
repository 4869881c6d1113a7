"""symgraph.regularization: l1 and l2 against numpy (values, gradients, dtypes) on every
backend, apply_penalty over a list, bad input."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph import regularization as reg
from tests.checks import BACKENDS, check_grad, check_values, non_contiguous


@pytest.mark.parametrize("shape", [(3, 4), (5,), (), (0, 3)])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_penalties_match_numpy(shape, dtype, rand):
    a = rand(dtype, shape)
    check_values(reg.l1, lambda x: np.abs(x).sum(), [a])
    check_values(reg.l2, lambda x: (x * x).sum(), [a])


def test_penalties_on_non_contiguous_inputs_and_their_gradients(rand):
    a = non_contiguous(rand("float64", (3, 4)))
    check_values(reg.l2, lambda x: (x * x).sum(), [a])
    check_grad(reg.l2, [rand("float64", (3, 2))])
    check_grad(reg.l1, [np.array([0.5, -1.5, 2.0])])


@pytest.mark.parametrize("backend", BACKENDS)
def test_apply_penalty_sums_over_tensors(backend, rand):
    w, b = rand("float64", (3, 2)), rand("float64", (2,))
    sw, sb = sg.shared(w, name="w"), sg.shared(b, name="b")
    total = reg.apply_penalty([sw, sb], reg.l2)
    one = reg.apply_penalty(sw, reg.l1)
    f = sg.function([], [total, one], backend=backend)
    got_total, got_one = f()
    np.testing.assert_allclose(got_total, (w ** 2).sum() + (b ** 2).sum(), rtol=1e-12)
    np.testing.assert_allclose(got_one, np.abs(w).sum(), rtol=1e-12)
    scaled = reg.apply_penalty((sw, sb), lambda x, scale: scale * reg.l1(x), scale=2.0)
    np.testing.assert_allclose(sg.function([], scaled, backend=backend)(),
                               2 * (np.abs(w).sum() + np.abs(b).sum()), rtol=1e-12)


def test_weight_decay_gradient_is_twice_lambda_w():
    w = sg.shared(np.array([1.0, -3.0]), name="w")
    g = sg.grad(1e-2 * reg.l2(w), w)
    np.testing.assert_allclose(g.eval(), [2e-2, -6e-2])


def test_bad_input_says_what_was_expected():
    with pytest.raises(TypeError, match="l2: expected a float tensor"):
        reg.l2(sg.lvector("i"))
    with pytest.raises(ValueError, match="empty list"):
        reg.apply_penalty([], reg.l2)
    with pytest.raises(TypeError, match="penalty must be a function"):
        reg.apply_penalty([sg.dvector("x")], "l2")
