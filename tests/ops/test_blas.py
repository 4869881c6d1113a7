"""dot, matmul (@), outer, tensordot: values and dtypes against numpy, gradients against
finite differences, static shapes, and the errors people see."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph.ops.blas import Dot, MatMul
from tests.checks import check_grad, check_values, non_contiguous

RNG = np.random.default_rng(0)


def rand(shape, dtype="float64") -> np.ndarray:
    """Positive values (no cancellation, so float64 results match numpy to 1e-12) or
    small ints."""
    if np.dtype(dtype).kind == "f":
        return RNG.uniform(0.5, 1.5, shape).astype(dtype)
    return RNG.integers(-5, 6, shape).astype(dtype)


DOT_SHAPES = [((), (3,)), ((3,), ()), ((), ()), ((2, 3), ()), ((4,), (4,)), ((3, 4), (4,)),
              ((4,), (4, 5)), ((3, 4), (4, 5)), ((0, 3), (3, 4)), ((3, 0), (0, 4)),
              ((0,), (0,)), ((1, 4), (4, 1)), ((2, 3, 4), (4, 5)), ((2, 3, 4), (4,)),
              ((2, 3, 4), (5, 4, 6)), ((3,), (2, 3, 4))]
DTYPES = [("float32", "float32"), ("float64", "float64"), ("int32", "int32"),
          ("int64", "int64"), ("int32", "float32"), ("float32", "float64")]


@pytest.mark.parametrize("dtypes", DTYPES, ids="-".join)
@pytest.mark.parametrize("sa,sb", DOT_SHAPES, ids=str)
def test_dot_values(sa, sb, dtypes):
    check_values(sg.dot, np.dot, [rand(sa, dtypes[0]), rand(sb, dtypes[1])])


MATMUL_SHAPES = [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)), ((4,), (4,)),
                 ((2, 3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((3, 4), (2, 4, 5)),
                 ((4,), (2, 4, 5)), ((2, 3, 4), (4,)), ((1, 3, 4), (2, 4, 5)),
                 ((2, 3, 4), (1, 4, 5)), ((2, 1, 3, 4), (5, 4, 6)),
                 ((2, 1, 3, 4), (1, 5, 4, 6)), ((0, 3, 4), (0, 4, 5)),
                 ((2, 0, 4), (2, 4, 3)), ((2, 3, 0), (2, 0, 5))]


@pytest.mark.parametrize("dtypes", DTYPES, ids="-".join)
@pytest.mark.parametrize("sa,sb", MATMUL_SHAPES, ids=str)
def test_matmul_values(sa, sb, dtypes):
    a, b = rand(sa, dtypes[0]), rand(sb, dtypes[1])
    check_values(sg.matmul, np.matmul, [a, b])
    check_values(lambda x, y: x @ y, np.matmul, [a, b], static=True)


@pytest.mark.parametrize("sa,sb", [((3,), (4,)), ((2, 3), (4,)), ((), (3,)), ((0,), (3,))],
                         ids=str)
def test_outer_values(sa, sb):
    check_values(sg.outer, np.outer, [rand(sa), rand(sb, "int32")])
    check_values(sg.outer, np.outer, [rand(sa, "float32"), rand(sb, "float32")])


TENSORDOT_CASES = [((3, 4), (4, 5), 1), ((2, 3, 4), (3, 4, 5), 2), ((3, 4), (3, 4), 2),
                   ((3,), (4,), 0), ((2, 3, 4), (5,), 0), ((), (3,), 0),
                   ((2, 3, 4), (4, 3, 5), ([1, 2], [1, 0])), ((2, 3, 4), (4, 2), ([0, 2], [1, 0])),
                   ((2, 3, 4), (4, 5), (-1, 0)), ((2, 0, 4), (0, 4, 3), ([1, 2], [0, 1])),
                   ((2, 3), (3, 0), 1)]


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
@pytest.mark.parametrize("sa,sb,axes", TENSORDOT_CASES, ids=str)
def test_tensordot_values(sa, sb, axes, dtype):
    a, b = rand(sa, dtype), rand(sb, dtype)
    check_values(lambda x, y: sg.tensordot(x, y, axes),
                 lambda x, y: np.tensordot(x, y, axes), [a, b])
    check_values(lambda x, y: sg.tensordot(x, y, axes),
                 lambda x, y: np.tensordot(x, y, axes), [a, b], static=True)


PAIRS = {"dot": (sg.dot, np.dot), "matmul": (sg.matmul, np.matmul),
         "outer": (sg.outer, np.outer),
         "tensordot": (lambda x, y: sg.tensordot(x, y, 1), lambda x, y: np.tensordot(x, y, 1))}


@pytest.mark.parametrize("name", PAIRS)
def test_non_contiguous_and_transposed(name):
    fn, np_fn = PAIRS[name]
    a, b = rand((4, 3)), rand((4, 5))
    check_values(fn, np_fn, [a.T, b])                       # Fortran-ordered
    check_values(fn, np_fn, [non_contiguous(a.T), non_contiguous(b)])
    check_values(fn, np_fn, [non_contiguous(a.T).astype("float32"), b.astype("float32")])
    check_values(fn, np_fn, [non_contiguous(a[:, 0]), non_contiguous(b[:, 1])])


def test_batched_non_contiguous():
    a, b = rand((3, 2, 4)), rand((3, 5, 4))
    check_values(sg.matmul, np.matmul,
                 [non_contiguous(a), non_contiguous(b).transpose(0, 2, 1)])


@pytest.mark.parametrize("sa,sb", [s for s in DOT_SHAPES if s != ((), ())], ids=str)
def test_dot_grad(sa, sb):
    check_grad(sg.dot, [rand(sa), rand(sb)])


@pytest.mark.parametrize("sa,sb", [s for s in MATMUL_SHAPES if 1 not in s[0] + s[1]],
                         ids=str)
def test_matmul_grad(sa, sb):
    check_grad(sg.matmul, [rand(sa), rand(sb)])


def test_matmul_grad_broadcast_batch_axes():
    # verify_grad declares no static sizes, so the size-1 batch axes are made here
    a, b = rand((3, 4)), rand((2, 4, 5))
    check_grad(lambda x, y: x.dimshuffle("x", 0, 1) @ y, [a, b])
    check_grad(lambda x, y: y @ x.dimshuffle("x", 1, 0), [a, rand((2, 5, 4))])
    check_grad(lambda x, y: x.dimshuffle(0, "x", 1, 2) @ y.dimshuffle("x", 0, 1, 2),
               [rand((2, 3, 4)), rand((3, 4, 2))])


def test_grad_sums_broadcast_batch_axes():
    a = sg.tensor("a", "float64", (1, 3, 4))
    b = sg.tensor("b", "float64", (None, 4, 5))
    ga, gb = sg.grad((a @ b).sum(), [a, b])
    assert ga.type.shape == (1, 3, 4)
    av, bv = rand((1, 3, 4)), rand((6, 4, 5))
    got_a, got_b = sg.function([a, b], [ga, gb])(av, bv)
    # d sum(a @ b) / d a[0, i, k] = sum over batch n and column j of b[n, k, j]
    np.testing.assert_allclose(got_a, np.broadcast_to(bv.sum(axis=(0, 2)), (1, 3, 4)))
    np.testing.assert_allclose(got_b, np.broadcast_to(av.sum(axis=1)[:, :, None], (6, 4, 5)))


@pytest.mark.parametrize("sa,sb", [((3,), (4,)), ((2, 3), (4,))], ids=str)
def test_outer_grad(sa, sb):
    check_grad(sg.outer, [rand(sa), rand(sb)])


@pytest.mark.parametrize("sa,sb,axes", TENSORDOT_CASES, ids=str)
def test_tensordot_grad(sa, sb, axes):
    check_grad(lambda x, y: sg.tensordot(x, y, axes), [rand(sa), rand(sb)])


def test_grad_with_integer_operand():
    w = rand((3, 4))
    k2, k3 = sg.constant(rand((4, 2), "int32")), sg.constant(rand((2, 4, 2), "int64"))
    check_grad(lambda x: sg.dot(x, k2), [w])
    check_grad(lambda x: x @ k3, [w])
    x = sg.dmatrix("x")
    assert sg.grad(sg.dot(x, k2.astype("float32")).sum(), x).dtype == "float64"
    assert sg.grad(sg.dot(k2, x).sum(), x).type.shape == (2, None)


def test_static_shapes():
    t = lambda *shape: sg.tensor(None, "float32", shape)  # noqa: E731
    assert sg.dot(t(3, 4), t(4, 5)).type.shape == (3, 5)
    assert sg.dot(t(3, None), t(None)).type.shape == (3,)
    assert sg.dot(t(4), t(None, 5)).type.shape == (5,)
    assert sg.dot(t(4), t(4)).type.shape == ()
    assert (t(1, 3, 4) @ t(2, 4, 5)).type.shape == (2, 3, 5)
    assert (t(None, 3, 4) @ t(1, 4, 5)).type.shape == (None, 3, 5)
    assert (t(None, 3, 4) @ t(7, 4, 5)).type.shape == (7, 3, 5)
    assert (t(4) @ t(2, 1, 4, 5)).type.shape == (2, 1, 5)
    assert (t(2, 3, 4) @ t(4)).type.shape == (2, 3)
    assert sg.tensordot(t(2, 3, 4), t(3, 4, 5)).type.shape == (2, 5)
    assert sg.tensordot(t(2, None, 4), t(None, 4, 5)).type.shape == (2, 5)
    assert sg.outer(t(2, 3), t(4)).type.shape == (6, 4)


def test_dtypes_follow_numpy_and_weak_scalars():
    f, i = sg.fmatrix("f"), sg.imatrix("i")
    assert sg.dot(f, i).dtype == np.dot(np.ones((1, 1), "f4"), np.ones((1, 1), "i4")).dtype.name
    assert (i @ i).dtype == "int32"
    assert sg.dot(2.0, f).dtype == "float32"           # a Python scalar is weak (NEP 50)
    assert sg.dot(np.float64(2.0), f).dtype == "float64"


def test_matmul_operator_with_arrays():
    x = sg.dmatrix("x")
    m = rand((2, 3))
    xv = rand((3, 2))
    np.testing.assert_allclose((m @ x).eval({x: xv}), m @ xv, rtol=1e-12)
    np.testing.assert_allclose((x @ m).eval({x: xv}), xv @ m, rtol=1e-12)
    np.testing.assert_allclose(x.dot(m).eval({x: xv}), xv @ m, rtol=1e-12)


def test_build_error_names_both_shapes_and_user_line():
    a = sg.tensor("a", "float64", (3, 4))
    b = sg.tensor("b", "float64", (5,))
    with pytest.raises(ValueError) as e:
        sg.dot(a, b)
    msg = str(e.value)
    assert "(3, 4)" in msg and "(5,)" in msg and __file__ in msg, msg
    with pytest.raises(ValueError, match=r"batch axis 0 has sizes 2 and 3.*\n  built at .*"
                                         r"test_blas.py"):
        sg.tensor("a", "float32", (2, 3, 4)) @ sg.tensor("b", "float32", (3, 4, 5))
    with pytest.raises(ValueError, match=r"float32\(\) by float32\(\?,\)"):
        sg.matmul(sg.fscalar("s"), sg.fvector("v"))
    with pytest.raises(ValueError, match=r"axis 1 \(size 3\) is paired with axis 0 \(size 4\)"):
        sg.tensordot(a.T, sg.tensor("c", "float64", (4, 2)), ([1], [0]))
    with pytest.raises(ValueError, match="are not distinct axes"):
        sg.tensordot(a, a, ([0, 0], [0, 1]))
    with pytest.raises(ValueError, match="axes=3"):
        sg.tensordot(a, a, 3)
    with pytest.raises(ValueError, match="2 axes of the first are paired with 1"):
        sg.tensordot(a, a, ([0, 1], [0]))
    with pytest.raises(ValueError, match="MatMul takes two tensors of one rank"):
        MatMul()(sg.dtensor3("x"), sg.dmatrix("y"))
    with pytest.raises(ValueError, match="Dot takes 1-d or 2-d"):
        Dot()(sg.dtensor3("x"), sg.dmatrix("y"))


def test_run_time_errors():
    a, b = sg.dmatrix("a"), sg.dvector("b")
    f = sg.function([a, b], sg.dot(a, b))
    with pytest.raises(ValueError) as e:
        f(np.ones((3, 4)), np.ones(5))
    msg = str(e.value)
    assert "(3, 4)" in msg and "(5,)" in msg and "built at" in msg and __file__ in msg, msg
    x, y = sg.dtensor3("x"), sg.dtensor3("y")
    g = sg.function([x, y], x @ y)
    with pytest.raises(ValueError, match="differ on batch axis 0. Only axes of static size 1"):
        g(np.ones((1, 2, 3)), np.ones((4, 3, 2)))       # None axes do not broadcast
    with pytest.raises(ValueError, match="do not align"):
        g(np.ones((4, 2, 3)), np.ones((4, 2, 2)))
    h = sg.function([x, y], sg.tensordot(x, y, 2))
    with pytest.raises(ValueError):
        h(np.ones((2, 3, 4)), np.ones((3, 5, 2)))
