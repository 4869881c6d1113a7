"""Reverse mode and its friends: grad's options, jacobian, hessian, Lop/Rop against numerical
derivatives, and verify_grad catching a wrong gradient."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import Apply, Op
from tests.checks import BACKENDS


def numeric_jacobian(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """Central differences: shape f(x).shape + x.shape."""
    cols = []
    for j in range(x.size):
        d = np.zeros(x.size)
        d[j] = eps
        d = d.reshape(x.shape)
        cols.append((np.asarray(f(x + d)) - np.asarray(f(x - d))) / (2 * eps))
    out_shape = np.shape(f(x))
    return np.stack(cols, axis=-1).reshape(out_shape + x.shape)


def fn(inputs, outputs):
    return sg.function(inputs, outputs)


@pytest.fixture
def xy():
    return sg.dvector("x"), sg.dvector("y")


def test_grad_of_a_list_gives_a_list_and_of_one_variable_one(xy):
    x, y = xy
    cost = (x * y + sg.sin(x)).sum()
    gx, gy = sg.grad(cost, [x, y])
    assert isinstance(sg.grad(cost, (x, y)), list)
    g1 = sg.grad(cost, x)
    a, b = np.array([0.3, -1.0]), np.array([2.0, 5.0])
    got = fn([x, y], [gx, gy, g1])(a, b)
    np.testing.assert_allclose(got[0], b + np.cos(a))
    np.testing.assert_allclose(got[1], a)
    np.testing.assert_allclose(got[2], got[0])


def test_grad_of_a_variable_used_many_times_adds_up(xy):
    x, _ = xy
    g = sg.grad((x * x * x + sg.exp(x) * x).sum(), x)
    a = np.array([0.5, -2.0])
    np.testing.assert_allclose(g.eval({x: a}), 3 * a ** 2 + np.exp(a) * (1 + a))


def test_grad_with_respect_to_an_intermediate_and_a_shared_variable(xy):
    x, _ = xy
    h = x * 3
    np.testing.assert_allclose(sg.grad((h ** 2).sum(), h).eval({x: np.array([1.0, 2.0])}),
                               [6.0, 12.0])
    w = sg.shared(np.array([1.0, -1.0]), name="w")
    np.testing.assert_allclose(sg.grad((w * x).sum(), w).eval({x: np.array([4.0, 5.0])}),
                               [4.0, 5.0])


def test_gradient_dtype_follows_the_variable():
    x = sg.fvector("x")
    g = sg.grad((x.astype("float64") ** 2).sum(), x)
    assert g.dtype == "float32"
    assert sg.grad(sg.exp(x).sum(), x).dtype == "float32"


def test_consider_constant(xy):
    x, _ = xy
    y = x * 2
    cost = (x * y).sum()
    a = np.array([1.0, 3.0])
    np.testing.assert_allclose(sg.grad(cost, x).eval({x: a}), 4 * a)
    np.testing.assert_allclose(sg.grad(cost, x, consider_constant=[y]).eval({x: a}), 2 * a)


def test_stop_gradient(xy):
    x, _ = xy
    a = np.array([1.0, 3.0])
    cost = (sg.stop_gradient(x) * x).sum()
    np.testing.assert_allclose(sg.grad(cost, x).eval({x: a}), a)
    np.testing.assert_allclose(sg.stop_gradient(x * 2).eval({x: a}), 2 * a)  # an identity
    # as JAX's: the gradient through it is zero, not "disconnected" (no error)
    np.testing.assert_array_equal(sg.grad(sg.stop_gradient(x).sum(), x).eval({x: a}), 0 * a)


def test_disconnected_inputs(xy):
    x, y = xy
    cost = (x ** 2).sum()
    with pytest.raises(sg.DisconnectedInputError, match="does not depend on y"):
        sg.grad(cost, [x, y])
    with pytest.warns(UserWarning, match="does not depend on y") as caught:
        gx, gy = sg.grad(cost, [x, y], disconnected_inputs="warn")
    assert caught[0].filename == __file__       # the warning points at the user's line
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gx2, gy2 = sg.grad(cost, [x, y], disconnected_inputs="ignore")
    out = fn([x, y], [gx, gy, gy2])(np.array([1.0, 2.0]), np.array([5.0, 6.0, 7.0]))
    np.testing.assert_array_equal(out[0], [2.0, 4.0])
    np.testing.assert_array_equal(out[1], np.zeros(3))  # zeros shaped like y
    np.testing.assert_array_equal(out[2], np.zeros(3))
    with pytest.raises(ValueError, match="disconnected_inputs"):
        sg.grad(cost, x, disconnected_inputs="sometimes")


def test_known_grads_seed_the_backward_pass(xy):
    x, y = xy
    h = sg.tanh(x) * 2
    v = sg.dvector("v")
    g = sg.grad(None, x, known_grads={h: v})
    a, b = np.array([0.1, -0.7]), np.array([1.5, -2.0])
    want = b * 2 * (1 - np.tanh(a) ** 2)
    np.testing.assert_allclose(fn([x, v], g)(a, b), want)
    # with a cost as well, both contribute
    g2 = sg.grad(x.sum(), x, known_grads={h: v})
    np.testing.assert_allclose(fn([x, v], g2)(a, b), want + 1)
    with pytest.raises(TypeError, match="known_grads"):
        sg.grad(None, x, known_grads={h: sg.dmatrix()})
    with pytest.raises(ValueError, match="cost or known_grads"):
        sg.grad(None, x)


def test_integer_variables_get_no_gradient():
    x, i = sg.dvector("x"), sg.ivector("i")
    cost = (x * i).sum()
    with pytest.raises(TypeError, match="integer or bool"):
        sg.grad(cost, i)
    np.testing.assert_array_equal(sg.grad(cost, x).eval({x: np.ones(2), i: np.array([3, 4],
                                                                                    "int32")}),
                                  [3.0, 4.0])
    # a path through integers carries nothing: x is disconnected from this cost
    with pytest.raises(sg.DisconnectedInputError):
        sg.grad(sg.floor_divide(x, 1).astype("int32").sum().astype("float64"), x)


def test_cost_must_be_a_float_scalar(xy):
    x, _ = xy
    with pytest.raises(TypeError, match="scalar.*jacobian"):
        sg.grad(x * 2, x)
    with pytest.raises(TypeError, match="float"):
        sg.grad(x.astype("int32").sum(), x)
    with pytest.raises(TypeError, match="symbolic"):
        sg.grad(1.0, x)
    with pytest.raises(TypeError, match="wrt"):
        sg.grad(x.sum(), np.ones(2))


def test_second_derivative_by_grad_of_grad():
    x = sg.dscalar("x")
    d2 = sg.grad(sg.grad(sg.sin(x) * x, x), x)
    a = 0.7
    np.testing.assert_allclose(d2.eval({x: a}), 2 * np.cos(a) - a * np.sin(a))


# ------------------------------------------------------------------ jacobian, hessian
def _f(x):
    return sg.stack([sg.sin(x[0]) * x[1], (x ** 2).sum() + x[2] * x[0]])


def _f_np(a):
    return np.array([np.sin(a[0]) * a[1], (a ** 2).sum() + a[2] * a[0]])


def test_jacobian_matches_finite_differences():
    x = sg.tensor("x", "float64", (3,))
    J = sg.jacobian(_f(x), x)
    a = np.array([0.3, -1.2, 2.0])
    np.testing.assert_allclose(J.eval({x: a}), numeric_jacobian(_f_np, a), rtol=1e-7, atol=1e-8)
    # of a matrix-valued expression, with respect to a matrix and a list
    m, w = sg.tensor("m", "float64", (2, 2)), sg.tensor("w", "float64", (2,))
    Jm, Jw = sg.jacobian(sg.tanh(m * w), [m, w])
    b, c = np.array([[0.1, 0.5], [-0.3, 0.9]]), np.array([2.0, -1.0])
    got_m, got_w = fn([m, w], [Jm, Jw])(b, c)
    assert got_m.shape == (2, 2, 2, 2) and got_w.shape == (2, 2, 2)
    np.testing.assert_allclose(got_m, numeric_jacobian(lambda v: np.tanh(v * c), b), atol=1e-8)
    np.testing.assert_allclose(got_w, numeric_jacobian(lambda v: np.tanh(b * v), c), atol=1e-8)


def test_jacobian_and_hessian_of_run_time_sizes_match_the_static_ones():
    """Sizes known only at run time go through a scan over the rows (Theano's way)."""
    x, s = sg.dvector("x"), sg.tensor("s", "float64", (3,))
    a = np.array([0.5, -1.0, 2.0])
    for expr in (lambda v: v * 2, lambda v: sg.exp(v) * v.sum()):
        dynamic = sg.jacobian(expr(x), x).eval({x: a})
        np.testing.assert_allclose(dynamic, sg.jacobian(expr(s), s).eval({s: a}), rtol=1e-12)
    cost = lambda v: (v ** 3).sum() + v[0] * v[1] * v[2]      # noqa: E731
    np.testing.assert_allclose(sg.hessian(cost(x), x).eval({x: a}),
                               sg.hessian(cost(s), s).eval({s: a}), rtol=1e-12)
    assert sg.jacobian(x * 2, x).eval({x: np.zeros(0)}).shape == (0, 0)
    e = sg.tensor("e", "float64", (0,))
    assert sg.jacobian(e * 2, e).eval({e: np.zeros(0)}).shape == (0, 0)


def test_hessian_matches_finite_differences():
    x = sg.tensor("x", "float64", (3,))
    cost = (x ** 3).sum() + x[0] * x[1] * x[2]
    a = np.array([0.5, -1.0, 2.0])
    grad_np = lambda v: 3 * v ** 2 + np.array([v[1] * v[2], v[0] * v[2], v[0] * v[1]])  # noqa
    H = sg.hessian(cost, x).eval({x: a})
    np.testing.assert_allclose(H, numeric_jacobian(grad_np, a), rtol=1e-7, atol=1e-7)
    np.testing.assert_allclose(H, H.T)
    [H2] = sg.hessian(cost, [x])
    np.testing.assert_allclose(H2.eval({x: a}), H)
    with pytest.raises(TypeError, match="vector"):
        sg.hessian(sg.dmatrix("m").sum(), sg.dmatrix("m"))


# ------------------------------------------------------------------ Lop, Rop
def _lop_rop_setup():
    x = sg.tensor("x", "float64", (3,))
    a = np.array([0.3, -1.2, 2.0])
    return x, _f(x), a, numeric_jacobian(_f_np, a)


def test_Lop_is_vector_times_jacobian():
    x, y, a, J = _lop_rop_setup()
    v = sg.dvector("v")
    b = np.array([1.5, -0.5])
    np.testing.assert_allclose(fn([x, v], sg.Lop(y, x, v))(a, b), b @ J, rtol=1e-7, atol=1e-8)
    # several outputs: contributions add
    np.testing.assert_allclose(fn([x, v], sg.Lop([y, y], x, [v, v]))(a, b), 2 * b @ J,
                               rtol=1e-7, atol=1e-8)
    with pytest.raises(ValueError, match="eval_points"):
        sg.Lop([y, y], x, [v])


def test_Rop_is_jacobian_times_vector():
    x, y, a, J = _lop_rop_setup()
    u = sg.dvector("u")
    c = np.array([0.2, 1.0, -3.0])
    np.testing.assert_allclose(fn([x, u], sg.Rop(y, x, u))(a, c), J @ c, rtol=1e-7, atol=1e-8)
    # several wrt: J1 @ u1 + J2 @ u2
    w = sg.tensor("w", "float64", (2,))
    z = sg.tanh(x[:2] * w)
    uw = sg.dvector("uw")
    d = np.array([0.4, -0.9])
    got = fn([x, w, u, uw], sg.Rop(z, [x, w], [u, uw]))(a, d, c, d)
    Jx = numeric_jacobian(lambda v: np.tanh(v[:2] * d), a)
    Jw = numeric_jacobian(lambda v: np.tanh(a[:2] * v), d)
    np.testing.assert_allclose(got, Jx @ c + Jw @ d, rtol=1e-7, atol=1e-8)
    with pytest.raises(ValueError, match="eval_points"):
        sg.Rop(y, [x, w], [u])


# ------------------------------------------------------------------ verify_grad
class WrongExp(Op):
    """exp with a gradient off by a factor of 2: verify_grad must catch it."""

    def make_node(self, x):
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        return [np.exp(inputs[0])]

    def grad(self, inputs, outputs, output_grads):
        return [output_grads[0] * outputs[0] * 2]


class RightExp(WrongExp):
    def grad(self, inputs, outputs, output_grads):
        return [output_grads[0] * outputs[0]]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_verify_grad_catches_a_wrong_gradient(dtype, backend):
    x = np.array([[0.1, -0.4], [0.3, 0.2]], dtype)
    sg.verify_grad(RightExp(), [x], backend=backend)
    with pytest.raises(sg.GradientError, match="input 0.*symbolic gradient.*finite"):
        sg.verify_grad(WrongExp(), [x], backend=backend)
    # a gradient wrong for one input only is caught too, and the message names it
    with pytest.raises(sg.GradientError, match="input 1"):
        sg.verify_grad(lambda a, b: a * 3 + WrongExp()(b), [x, x], backend=backend)


def test_verify_grad_of_a_non_float_output_is_a_type_error():
    with pytest.raises(TypeError, match="float"):
        sg.verify_grad(lambda a: a > 0, [np.ones(2)])


# ---- regressions found by a differential fuzzer -----------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_a_gradient_has_the_static_1_axes_of_its_variable(backend):
    """A slice of a concatenation's gradient had no static size: the gradient of the
    keepdims sum (static size 1) then failed to broadcast at run time."""
    x = sg.dvector("x")
    g = sg.function([x], sg.grad(sg.concatenate([x, x.sum(axis=0, keepdims=True)]).sum(), x),
                    backend=backend)
    np.testing.assert_array_equal(g(np.ones(3)), [2.0, 2.0, 2.0])
    m = sg.dmatrix("m")
    cost = (sg.concatenate([m, m.mean(axis=0, keepdims=True)], axis=0) ** 2).sum()
    sg.verify_grad(lambda v: (sg.concatenate([v, v.mean(axis=0, keepdims=True)], axis=0) ** 2)
                   .sum(), [np.arange(6.0).reshape(2, 3)], backend=backend)
    assert sg.grad(cost, m).type.shape == (None, None)


def test_grad_tells_each_op_which_inputs_it_differentiates(monkeypatch):
    # an op need not build the gradient of a constant or of a shared variable outside wrt
    # (for an Elemwise, a column sum for a broadcast row that nothing would use)
    x = sg.dmatrix("x")
    b = sg.shared(np.arange(3.0), name="b")
    row = sg.constant(np.array([1.0, 2.0, 3.0]))
    y = x * row + b
    seen = []
    op = y.owner.op
    original = type(op).grad_of

    def spy(self, inputs, outputs, output_grads, wanted):
        grads = original(self, inputs, outputs, output_grads, wanted)
        seen.append((list(wanted), [g is not None for g in grads]))
        return grads
    monkeypatch.setattr(type(op), "grad_of", spy)
    gx = sg.grad(y.sum(), x)
    gb = sg.grad(y.sum(), b)
    monkeypatch.undo()
    # x's gradient: through the add (not b), then the mul (not the row); b's: the add only
    assert seen == [([True, False], [True, False])] * 2 + [([False, True], [False, True])]
    np.testing.assert_array_equal(fn([x], [gx, gb])(np.ones((2, 3)))[1], [2.0, 2.0, 2.0])
