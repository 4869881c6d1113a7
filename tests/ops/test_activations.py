"""The activations of sg.nnet and the stable scalar functions log1mexp and xlogx: values
against float64 numpy references, gradients against finite differences and against their
derivatives, no inf or nan at |x| = 1e4 in float32 and float64, errors."""
from __future__ import annotations

import math

import numpy as np
import pytest

import symgraph as sg
from tests.checks import BACKENDS, check_grad, check_values, non_contiguous

RNG = np.random.default_rng(7)
SELU_ALPHA, SELU_SCALE = 1.6732632423543772848170429916717, 1.0507009873554804934193349852946
GELU_K = math.sqrt(2 / math.pi)
erf = np.vectorize(math.erf, otypes=[float])
erfc = np.vectorize(math.erfc, otypes=[float])


def sigmoid(v):
    return np.exp(-np.logaddexp(0, -v))


def gelu_tanh(v):
    return 0.5 * v * (1 + np.tanh(GELU_K * (v + 0.044715 * v ** 3)))   # PyTorch's formula


def gelu_tanh_deriv(v):
    s = sigmoid(2 * GELU_K * (v + 0.044715 * v ** 3))
    return s + v * s * (1 - s) * 2 * GELU_K * (1 + 3 * 0.044715 * v * v)


def elu(v, alpha=1.0):
    return np.where(v > 0, v, alpha * np.expm1(np.minimum(v, 0)))


def elu_deriv(v, alpha=1.0):
    return np.where(v > 0, 1, alpha * np.exp(np.minimum(v, 0)))


def gelu_deriv(v):
    return 0.5 * erfc(-v / math.sqrt(2)) + v * np.exp(-v * v / 2) / math.sqrt(2 * math.pi)


# name -> (symbolic function, float64 value reference, float64 derivative reference); at
# a kink the gradient is 1 (relu at 0, clip at its bounds), as maximum's and minimum's
ACTIVATIONS = {
    "relu": (sg.nnet.relu, lambda v: np.maximum(v, 0), lambda v: (v >= 0) * 1.0),
    "leaky_relu": (sg.nnet.leaky_relu, lambda v: np.where(v > 0, v, 0.01 * v),
                   lambda v: np.where(v > 0, 1, 0.01)),
    "leaky_relu(0.2)": (lambda x: sg.nnet.leaky_relu(x, 0.2),
                        lambda v: np.where(v > 0, v, 0.2 * v), lambda v: np.where(v > 0, 1, 0.2)),
    "elu": (sg.nnet.elu, elu, elu_deriv),
    "selu": (sg.nnet.selu, lambda v: SELU_SCALE * elu(v, SELU_ALPHA),
             lambda v: SELU_SCALE * elu_deriv(v, SELU_ALPHA)),
    "gelu": (sg.nnet.gelu, lambda v: 0.5 * v * (1 + erf(v / math.sqrt(2))), gelu_deriv),
    "gelu(tanh)": (lambda x: sg.nnet.gelu(x, approximate="tanh"), gelu_tanh, gelu_tanh_deriv),
    "silu": (sg.nnet.silu, lambda v: v * sigmoid(v),
             lambda v: sigmoid(v) * (1 + v * (1 - sigmoid(v)))),
    "softsign": (sg.nnet.softsign, lambda v: v / (1 + np.abs(v)),
                 lambda v: 1 / (1 + np.abs(v)) ** 2),
    "hard_sigmoid": (sg.nnet.hard_sigmoid, lambda v: np.clip(0.2 * v + 0.5, 0, 1),
                     lambda v: 0.2 * (np.abs(v) <= 2.5)),
    "hard_tanh": (sg.nnet.hard_tanh, lambda v: np.clip(v, -1, 1),
                  lambda v: (np.abs(v) <= 1) * 1.0),
    "softplus": (sg.nnet.softplus, lambda v: np.logaddexp(0, v), sigmoid),
    "log_sigmoid": (sg.nnet.log_sigmoid, lambda v: -np.logaddexp(0, -v), lambda v: sigmoid(-v)),
    "sigmoid": (sg.nnet.sigmoid, sigmoid, lambda v: sigmoid(v) * sigmoid(-v)),
}
NAMES = list(ACTIVATIONS)


def in_dtype(ref):
    """The float64 reference, rounded to the input's float dtype (as the op returns it)."""
    return lambda v: ref(v.astype("float64")).astype(v.dtype)


def tolerances(dtype):
    # an absolute part for float32: 0.2 x + 0.5 and the like cancel near their zeros
    return {"rtol": 1e-5, "atol": 1e-6} if dtype == "float32" else {"rtol": 1e-12, "atol": 1e-14}


@pytest.mark.parametrize("name", NAMES)
def test_values_on_shapes_and_dtypes(name):
    fn, ref, _ = ACTIVATIONS[name]
    x = RNG.normal(0, 3, (2, 3, 4))
    check_values(fn, in_dtype(ref), [x], **tolerances("float64"))
    check_values(fn, in_dtype(ref), [non_contiguous(x.astype("float32"))], **tolerances("float32"))
    check_values(fn, in_dtype(ref), [np.float64(-1.5)], backends=["numpy"])
    check_values(fn, in_dtype(ref), [np.zeros((0, 3))], backends=["numpy"])


@pytest.mark.parametrize("name", NAMES)
def test_gradient(name):
    fn = ACTIVATIONS[name][0]
    x = RNG.normal(0, 2, (3, 4))
    x[np.abs(np.abs(x) - 1) < 0.05] = 0.5           # finite differences off the kinks (0,
    x[np.abs(np.abs(x) - 2.5) < 0.05] = -0.7        # +-1 for hard_tanh, +-2.5 for
    x[np.abs(x) < 0.05] = 0.3                       # hard_sigmoid)
    check_grad(fn, [x])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name", NAMES)
def test_large_magnitudes_give_finite_values_and_gradients(name, dtype):
    fn, ref, deriv = ACTIVATIONS[name]
    a = np.array([-1e4, -800.0, -100.0, -30.0, -1.0, 1.0, 30.0, 100.0, 800.0, 1e4], dtype)
    x = sg.tensor("x", dtype, (None,))
    y = fn(x)
    for backend in BACKENDS:
        value, grad = sg.function([x], [y, sg.grad(y.sum(), x)], backend=backend)(a)
        assert value.dtype == grad.dtype == dtype, (backend, value.dtype, grad.dtype)
        assert np.isfinite(value).all() and np.isfinite(grad).all(), (backend, value, grad)
        tol = tolerances(dtype)
        np.testing.assert_allclose(value, ref(a.astype("float64")), **tol, err_msg=backend)
        # absolute error against slopes of order 1: the tails (9e-14 at 30) come from rules
        # like sigmoid's z * (1 - z), which round to 0 in float32 once z rounds to 1
        np.testing.assert_allclose(grad, deriv(a.astype("float64")), rtol=tol["rtol"],
                                   atol=np.finfo(dtype).eps, err_msg=backend)


def test_gelu_is_exact_in_the_negative_tail():
    # 1 + erf(x / sqrt 2) is 0 in float64 from x = -8.3: the erfc form keeps the digits
    x = sg.dvector("x")
    got = sg.nnet.gelu(x).eval({x: np.array([-10.0, -30.0])})
    want = [-v * 0.5 * math.erfc(v / math.sqrt(2)) for v in (10.0, 30.0)]
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert got[0] != 0.0 and (0.5 * -10.0 * (1 + math.erf(-10.0 / math.sqrt(2)))) == 0.0


def test_gelu_approximate_spellings_and_the_exact_one_differ():
    x = sg.dvector("x")
    a = np.array([-1.0, 0.5, 2.0])
    exact, tanh = (sg.nnet.gelu(x, approximate=k).eval({x: a}) for k in ("none", True))
    np.testing.assert_array_equal(exact, sg.nnet.gelu(x).eval({x: a}))
    np.testing.assert_array_equal(tanh, sg.nnet.gelu(x, approximate="tanh").eval({x: a}))
    assert 1e-5 < np.abs(exact - tanh).max() < 1e-3


def test_integer_inputs():
    i = RNG.integers(-5, 6, (3, 4)).astype("int32")
    check_values(sg.nnet.relu, lambda v: np.maximum(v, 0), [i])      # stays int32
    check_values(sg.nnet.hard_tanh, lambda v: np.clip(v, -1, 1), [i])
    for name in ("gelu", "selu", "silu", "log_sigmoid"):
        fn, ref, _ = ACTIVATIONS[name]
        check_values(fn, lambda v: ref(v.astype("float64")), [i], backends=["numpy"],
                     **tolerances("float64"))
    # uint8 computes in float32: 1 + |255| must not wrap to 0
    u = np.array([0, 1, 255], "uint8")
    for fn, ref in [(sg.nnet.softsign, lambda v: v / (1 + v)),
                    (sg.nnet.log_sigmoid, lambda v: -np.logaddexp(0, -v))]:
        check_values(fn, lambda v: ref(v.astype("float64")).astype("float32"), [u],
                     backends=["numpy"])


def test_parameters_can_be_symbolic_and_broadcast():
    x, alpha = sg.dmatrix("x"), sg.dvector("alpha")
    a, al = RNG.normal(0, 2, (3, 4)), np.array([0.1, 0.2, 0.3, 0.4])
    np.testing.assert_allclose(sg.function([x, alpha], sg.nnet.leaky_relu(x, alpha))(a, al),
                               np.where(a > 0, a, al * a), rtol=1e-15)
    np.testing.assert_allclose(sg.nnet.hard_tanh(x, -0.5, 2.0).eval({x: a}),
                               np.clip(a, -0.5, 2))
    np.testing.assert_allclose(sg.nnet.elu(x, 0.5).eval({x: a}), elu(a, 0.5), rtol=1e-15)


def test_errors():
    x = sg.dvector("x")
    with pytest.raises(ValueError, match=r"gelu: approximate must be False, True, 'none' or "
                                         r"'tanh', got 'erf'\n  built at .*test_activations"):
        sg.nnet.gelu(x, approximate="erf")
    with pytest.raises(ValueError, match="hard_tanh: min_val 1 is above max_val -1"):
        sg.nnet.hard_tanh(x, 1, -1)
    with pytest.raises(ValueError, match="shapes do not broadcast on axis 0"):
        sg.nnet.leaky_relu(sg.tensor("x", "float64", (3,)), sg.tensor("a", "float64", (4,)))


def test_theano_and_lasagne_names():
    for name in ("relu", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "softsign",
                 "hard_sigmoid", "hard_tanh", "softplus", "log_sigmoid", "sigmoid"):
        assert callable(getattr(sg.nnet, name)), name
    assert sg.nnet.swish is sg.nnet.silu and sg.nnet.softplus is sg.softplus


# ---------------------------------------------------------------- log1mexp and xlogx
def np_log1mexp(v):
    """Each numpy form where it keeps its digits (the edge cases below pin exact values)."""
    return np.where(v > -math.log(2), np.log(-np.expm1(v)), np.log1p(-np.exp(v)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_log1mexp_values(dtype):
    a = -np.exp(RNG.uniform(-50, 5, (3, 5))).astype(dtype)     # -1e-22 ... -150
    check_values(sg.log1mexp, in_dtype(np_log1mexp), [a], **tolerances(dtype))
    check_values(sg.log1mexp, in_dtype(np_log1mexp), [non_contiguous(a[:2])],
                 **tolerances(dtype))
    # log(1 - e^x) is log(-x) to rounding at -1e-30, -e^x at -50; NaN above 0
    edge = np.array([-1e-30, -math.log(2), -50.0, 0.0, -0.0, -1e4, -np.inf, 1.0, np.nan], dtype)
    x = sg.tensor("x", dtype, (None,))
    for backend in BACKENDS:
        got = sg.function([x], sg.log1mexp(x), backend=backend)(edge)
        np.testing.assert_allclose(got[:3], [math.log(1e-30), math.log(0.5), -math.exp(-50)],
                                   rtol=tolerances(dtype)["rtol"], err_msg=backend)
        np.testing.assert_array_equal(got[3:], [-np.inf, -np.inf, -0.0, -0.0, np.nan, np.nan])
    check_values(sg.log1mexp, lambda v: np_log1mexp(v.astype("float64")), [np.array([-1, -3])])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_xlogx_values(dtype):
    a = RNG.uniform(0, 5, (3, 5)).astype(dtype)
    a[0, 0] = 0
    ref = in_dtype(lambda v: np.where(v == 0, 0.0, v * np.log(np.where(v == 0, 1, v))))
    check_values(sg.xlogx, ref, [a], **tolerances(dtype))
    check_values(sg.xlogx, ref, [non_contiguous(a[:2])], **tolerances(dtype))
    check_values(sg.xlogx, lambda v: np.array([0.0, 0.0, 2 * math.log(2)]),
                 [np.array([0, 1, 2])])


def test_log1mexp_and_xlogx_gradients():
    check_grad(sg.log1mexp, [-np.exp(RNG.uniform(-5, 2, (3, 4)))])
    check_grad(sg.xlogx, [RNG.uniform(0.1, 4, (3, 4))])
    x = sg.dvector("x")
    a = np.array([0.0, -1e-20, -50.0, -1e4])
    for backend in BACKENDS:
        g1 = sg.function([x], sg.grad(sg.log1mexp(x).sum(), x), backend=backend)(a)
        g2 = sg.function([x], sg.grad(sg.xlogx(x).sum(), x), backend=backend)([0.0, 1.0])
        # the derivative -1 / (exp(-x) - 1): -inf at the pole, not +inf
        np.testing.assert_allclose(g1, [-np.inf, -1e20, -1 / np.expm1(50.0), -0.0], rtol=1e-12)
        np.testing.assert_array_equal(g2, [-np.inf, 1.0])
