"""cumsum and cumprod against numpy on every backend (axes, flattening, every dtype and
numpy's accumulators, 0-size and non-contiguous inputs), their gradients (cumprod's
exact where the input has zeros, and its second derivative), dispatch and errors."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph.types import DTYPES
from tests.checks import check_grad, check_values, non_contiguous


def np_cum(f):
    """numpy accumulates uint8 in uint64, which we lack: ours is int64."""
    def ref(x, *args, **kw):
        out = np.asarray(f(x, *args, **kw))
        return out.astype(np.int64) if out.dtype == np.uint64 else out
    return ref


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_values_of_every_dtype(rand, name, dtype):
    x = rand(dtype, (3, 4), -2, 2)
    for axis in (None, 0, -1):
        check_values(lambda v: getattr(sg, name)(v, axis=axis),
                     lambda v: np_cum(getattr(np, name))(v, axis=axis), [x])


@pytest.mark.parametrize("x", [np.zeros((0, 3)), np.arange(6.0),
                               non_contiguous(np.arange(24.0).reshape(2, 3, 4)),
                               np.arange(24.0).reshape(2, 3, 4).transpose(2, 0, 1)],
                         ids=["empty", "vector", "strided", "transposed"])
@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_special_inputs(x, name):
    for axis in range(x.ndim):
        fn = getattr(np, name)
        check_values(lambda v: fn(v, axis), lambda v: fn(v, axis), [x])


def test_dtype_argument_and_static_shape():
    x = sg.tensor("x", "int8", (2, 3))
    assert sg.cumsum(x).type == sg.TensorType("int64", (6,))
    assert sg.cumprod(x, axis=1, dtype="float32").type == sg.TensorType("float32", (2, 3))
    check_values(lambda v: sg.cumsum(v, 0, dtype="int16"),
                 lambda v: np.cumsum(v, 0, dtype="int16"),
                 [np.array([[100, 100], [100, 100]], "int8")])


@pytest.mark.parametrize("name", ["cumsum", "cumprod"])
def test_gradients(rand, name):
    x = rand("float64", (3, 4), 0.5, 2.0)
    for axis in (None, 0, 1):
        check_grad(lambda v: getattr(sg, name)(v, axis=axis), [x])


ZERO_ROWS = np.array([[2.0, 0.0, 3.0, 0.0, 5.0],     # two zeros
                      [0.0, 1.5, -2.0, 3.0, 0.5],    # zero first
                      [1.5, -2.0, 3.0, 0.5, 0.0],    # zero last
                      [1.5, 0.0, 0.0, 2.0, 3.0],     # two zeros together
                      [1.5, -2.0, 3.0, 0.5, 2.0]])   # none


def numeric_jacobian(f, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    out = []
    for i in np.ndindex(x.shape):
        e = np.zeros_like(x)
        e[i] = eps
        out.append((f(x + e) - f(x - e)) / (2 * eps))
    return np.stack(out, axis=-1).reshape(f(x).shape + x.shape)


def test_cumprod_gradient_is_exact_where_the_input_has_zeros():
    v = sg.tensor("v", "float64", ZERO_ROWS.shape)
    jac = sg.jacobian(sg.cumprod(v, axis=1).flatten(), v)
    got = sg.function([v], jac)(ZERO_ROWS)
    want = numeric_jacobian(lambda a: np.cumprod(a, axis=1).ravel(), ZERO_ROWS)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got.reshape(want.shape), want, atol=1e-6)
    check_grad(lambda u: sg.cumprod(u, axis=1), [ZERO_ROWS])
    check_grad(lambda u: sg.cumprod(u, axis=0), [np.ascontiguousarray(ZERO_ROWS.T)])
    check_grad(lambda u: sg.cumprod(u), [ZERO_ROWS[:2]])


def test_second_derivatives():
    check_grad(lambda u: sg.grad((sg.cumprod(u, axis=1) ** 2).sum(), u), [ZERO_ROWS])
    check_grad(lambda u: sg.grad((sg.cumsum(u, axis=0) ** 3).sum(), u), [ZERO_ROWS])


def test_dispatch_and_errors():
    x = sg.dmatrix("x")
    assert np.cumsum(x, axis=1).owner.op.name == "cumsum"
    assert str(np.cumprod(x, 0).owner.op) == "cumprod{axis=0}"
    with pytest.raises(ValueError, match="out of range for a 0-d tensor"):
        sg.cumsum(sg.dscalar(), axis=0)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        sg.cumprod(x, axis=2)
    with pytest.raises(TypeError, match="np.cumsum cannot write into a symbolic tensor"):
        np.cumsum(x, out=np.zeros(3))
