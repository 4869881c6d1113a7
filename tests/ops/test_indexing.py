"""Indexing ops against numpy: basic and advanced reads, set/inc writes, their gradients,
static shapes and errors."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph.ops.indexing import (AdvancedIncSubtensor, AdvancedSubtensor, IncSubtensor,
                                   Subtensor)
from tests.checks import check_grad, check_values, non_contiguous, numpy_add_at, numpy_set

RNG = np.random.default_rng(0)
E = Ellipsis


def rand(shape, dtype="float64") -> np.ndarray:
    if dtype == "bool":
        return RNG.random(shape) > 0.5
    if np.dtype(dtype).kind in "iu":
        return RNG.integers(0, 100, shape).astype(dtype)
    return RNG.standard_normal(shape).astype(dtype)


# (shape, index): basic indexing, one integer array or mask, and numpy's placement rules
BASIC = [
    ((5,), 2), ((5,), -1), ((5,), slice(1, 4)), ((5,), slice(None, None, -1)),
    ((5,), slice(-2, None, -2)), ((5,), slice(10, -10, -3)), ((5,), slice(7, 9)),
    ((5,), E), ((5,), ()), ((5,), None), ((4, 3), (1, 2)), ((4, 3), (slice(None), -2)),
    ((4, 3), (E, 1)), ((4, 3), (None, 1, None)), ((4, 3), (slice(3, 0, -1), None, E)),
    ((2, 3, 4), (1, E, slice(None, None, 2))), ((2, 3, 4), (slice(None), None, 0)),
    ((2, 3, 4), (-1, -1, -1)), ((2, 3, 4), (E, None)), ((1, 3), (0,)),
    ((0, 3), (slice(None), 1)), ((0, 3), slice(1, None)), ((3, 0), (1, E)),
]
ADVANCED = [
    ((5,), [4, 0, 0, -1]), ((5, 3), [1, 1, 3]), ((5, 3), (slice(None), [2, 0])),
    ((5, 3), np.array([[0, 4], [4, 0]])), ((5, 3), (0, [2, 1])), ((5, 3), ([2, 1], -1)),
    ((2, 3, 4), (slice(None), [0, 2, 2], slice(1, 3))), ((2, 3, 4), ([1, 0], E, 0)),
    ((2, 3, 4), (slice(None), 0, E, [3, 1])), ((2, 3, 4), (0, None, [1, 2])),
    ((2, 3, 4), (None, 0, [1, 2])), ((2, 3, 4), (E, [3, 3])), ((5, 3), []),
    ((0, 3), (slice(None), [2, 2])), ((5,), np.array([True, False, True, True, False])),
    ((2, 3), np.array([[True, False, True], [False, False, True]])),
    ((2, 3), (slice(None), np.array([False, True, True]))),
    ((5, 3), ([4, 0, -1], [2, 2, 0])), ((2, 3, 4), ([1, 0], slice(None), [[3], [0]])),
    ((2, 3, 4), (slice(None), [2, 0], [3, 1])), ((2, 3), (np.array([True, False]), [0, 2])),
]


def test_static_shapes_follow_numpy():
    for shape, idx in BASIC + ADVANCED:
        x = sg.tensor("x", "float64", shape=shape)
        assert x[idx].type.shape == np.zeros(shape)[idx].shape, (shape, idx)


@pytest.mark.parametrize("shape,idx", BASIC + ADVANCED, ids=repr)
def test_getitem_values(shape, idx):
    a = rand(shape)
    check_values(lambda x: x[idx], lambda x: x[idx], [a])
    check_values(lambda x: x[idx], lambda x: x[idx], [non_contiguous(a)])


@pytest.mark.parametrize("dtype", ["float32", "float64", "int32", "int64", "bool", "uint8"])
def test_dtypes(dtype):
    a = rand((4, 5), dtype)
    for idx in [(1, slice(None, None, -2)), (slice(None), [4, 0, 4]), (E, 2), -1,
                ([3, 0, 3], [[4], [0]])]:
        check_values(lambda x: x[idx], lambda x: x[idx], [a])
    check_values(lambda x: sg.set_subtensor(x[[0, 0], [1, 1]], x[1, :2]),
                 lambda x: numpy_set(x, ([0, 0], [1, 1]), x[1, :2]), [a])
    check_values(lambda x: sg.set_subtensor(x[1:3, [0, 0, 2]], x[0, :3]),
                 lambda x: numpy_set(x, (slice(1, 3), [0, 0, 2]), x[0, :3]), [a])
    if dtype != "bool":
        check_values(lambda x: sg.inc_subtensor(x[[3, 0, 3], 1:], x[0, 1:]),
                     lambda x: numpy_add_at(x, ([3, 0, 3], slice(1, None)), x[0, 1:]), [a])
        check_values(lambda x: sg.inc_subtensor(x[[3, 0, 3], [1, 1, 1]], x[0, 0]),
                     lambda x: numpy_add_at(x, ([3, 0, 3], [1, 1, 1]), x[0, 0]), [a])


def test_getitem_is_a_view_and_subtensor_op():
    x = sg.dmatrix("x")
    assert isinstance(x[1:].owner.op, Subtensor)
    assert isinstance(x[:, [1]].owner.op, AdvancedSubtensor)
    assert str(x[1:, ::-1, None][sg.lscalar("n")].owner.op) == "subtensor{?}"
    assert str(x[1:, ::-1].owner.op) == "subtensor{1:, ::-1}"
    a = rand((3, 4))
    out = x[1:, ::2].owner.op.perform(x[1:, ::2].owner, [a])[0]
    assert np.shares_memory(out, a)


@pytest.mark.parametrize("idx", [
    lambda i, j, k: (slice(i, j, k),), lambda i, j, k: (slice(j, None, k), i),
    lambda i, j, k: (i, slice(None, j)), lambda i, j, k: (E, slice(k, None, i)),
    lambda i, j, k: (slice(None), [0, 2, 2], slice(j, i, k)),
])
@pytest.mark.parametrize("ijk", [(1, -1, 1), (-2, 0, -1), (2, 10, 2), (-1, 0, -2)])
def test_symbolic_bounds(idx, ijk):
    ints = [np.array(v, dtype=dt) for v, dt in zip(ijk, ["int64", "int32", "int8"])]
    check_values(lambda x, i, j, k: x[idx(i, j, k)], lambda x, i, j, k: x[idx(i, j, k)],
                 [rand((4, 3, 3)), *ints])


def test_shape_entries():
    x = sg.tensor("x", "float32", shape=(None, 3))
    assert isinstance(x.shape[1], sg.Constant) and int(x.shape[-1].data) == 3
    check_values(lambda x: x.shape[0], lambda x: np.int64(x.shape[0]), [rand((0, 3))])
    check_values(lambda x: x[: x.shape[0] // 2], lambda x: x[: x.shape[0] // 2],
                 [rand((5, 2))])
    with pytest.raises(IndexError, match="index 2 is out of range for axis 0 of size 2"):
        x.shape[2]


def test_symbolic_index_arrays():
    a, ids = rand((6, 3)), np.array([[2, 0], [0, -3]])
    check_values(lambda W, i: W[i], lambda W, i: W[i], [a, ids])
    check_values(lambda W, i: W[:, i[0]], lambda W, i: W[:, i[0]], [a, ids.astype("int32")])
    check_values(lambda W, m: W[m], lambda W, m: W[m], [a, a > 0])
    check_values(lambda W, i: W[[i[0, 0], 1]], lambda W, i: W[[i[0, 0], 1]], [a, ids])
    check_values(lambda W, i: W[i, 1:], lambda W, i: W[i, 1:], [rand((0, 3)),
                                                                np.zeros(0, "int64")])


@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_take(axis):
    a = rand((3, 4))
    for ind in [np.array([2, 0, 2]), np.array([[1], [-1]]), 1]:
        check_values(lambda x: sg.take(x, ind, axis), lambda x: np.take(x, ind, axis), [a])
    check_values(lambda x, i: sg.take(x, i, axis), lambda x, i: np.take(x, i, axis),
                 [a, np.array([0, 2, 2])])


WRITES = [  # (shape, index, shape of y)
    ((5,), 2, ()), ((5,), slice(1, 4), (3,)), ((5,), slice(None, None, -2), (1,)),
    ((4, 3), (slice(None), 1), (4,)), ((4, 3), (slice(1, 3),), (1, 3)),
    ((4, 3), (slice(1, 3),), (2, 1)), ((4, 3), (E, None, 0), (1,)),
    ((4, 3), (slice(0, 0),), (3,)), ((4, 3), [3, 0, 3, 3], (4, 3)),
    ((4, 3), (slice(None), [2, 2]), (4, 1)), ((4, 3), ([1, 1], slice(None, None, -1)), (3,)),
    ((2, 3, 4), (slice(None), 0, E, [3, 1, 3]), (3, 2)), ((4, 3), np.eye(4, 3) > 0, (1,)),
    ((0, 3), (slice(None), [1]), ()), ((4, 3), [], (3,)),
]


@pytest.mark.parametrize("shape,idx,yshape", WRITES, ids=repr)
def test_set_and_inc_values(shape, idx, yshape):
    a, y = rand(shape), rand(yshape)
    check_values(lambda x, y: sg.set_subtensor(x[idx], y), lambda x, y: numpy_set(x, idx, y),
                 [a, y])
    check_values(lambda x, y: sg.inc_subtensor(x[idx], y), lambda x, y: numpy_add_at(x, idx, y),
                 [non_contiguous(a), non_contiguous(y) if y.ndim else y])


def test_writes_are_functional_and_ops():
    x, v = sg.dmatrix("x"), sg.dscalar("v")
    s, i = sg.set_subtensor(x[0], v), sg.inc_subtensor(x[[0, 0]], v)
    assert isinstance(s.owner.op, IncSubtensor) and s.owner.op.set_instead_of_inc
    assert isinstance(i.owner.op, AdvancedIncSubtensor)
    assert str(s.owner.op) == "setsubtensor{0}" and s.type == x.type
    a = np.zeros((2, 2))
    f = sg.function([x, v], [s, i])
    got = f(a, np.float64(3.0))
    assert a.sum() == 0 and got[0][0].tolist() == [3, 3] and got[1][0].tolist() == [6, 6]


def test_write_casts_and_python_values():
    x = sg.fvector("x")
    out = sg.inc_subtensor(x[1:], sg.dvector("y"))
    assert out.dtype == "float32"
    check_values(lambda x: sg.set_subtensor(x[::2], [7, 8]), lambda x: numpy_set(x, np.s_[::2],
                 [7, 8]), [rand((4,), "int32")])
    with pytest.raises(TypeError, match="cannot write float64"):
        sg.set_subtensor(sg.ivector("i")[0], sg.dscalar("y"))
    with pytest.raises(TypeError, match="does not fit"):
        sg.set_subtensor(sg.ivector("i")[0], 0.5)
    with pytest.raises(TypeError, match="bool"):
        sg.inc_subtensor(sg.tensor("b", "bool", (None,))[0], True)


@pytest.mark.parametrize("shape,idx", [
    ((5,), slice(1, 4)), ((4, 3), (slice(None, None, -1), 1)), ((4, 3), (E, None, -2)),
    ((2, 3, 4), (1, slice(None), slice(3, 0, -2))), ((5, 3), [4, 0, 4, 4]),
    ((5, 3), (slice(None), [2, 2, 0])), ((2, 3, 4), (0, E, [1, 1])),
    ((4, 3), np.eye(4, 3) > 0),
], ids=repr)
def test_getitem_grad(shape, idx):
    check_grad(lambda x: x[idx] * x[idx], [rand(shape)])


def test_embedding_grad_repeated_ids():
    ids = np.array([[1, 3], [3, 3]])
    check_grad(lambda W: sg.tanh(W[ids]), [rand((4, 2))])
    check_grad(lambda W: sg.take(W, ids.ravel(), axis=1), [rand((2, 4))])


def _col(y):
    return y.dimshuffle(0, "x")


@pytest.mark.parametrize("shape,idx,yshape,fy", [  # fy makes y's static-1 axes
    ((5,), slice(1, 4), (3,), None), ((4, 3), (slice(None), 1), (), None),
    ((4, 3), (slice(1, None, 2),), (3,), None), ((4, 3), [3, 0], (2,), _col),
    ((4, 3), slice(None, None, -1), (4,), _col), ((4, 3), [1, 1, 2], (3,), None),
    ((2, 3, 4), (slice(None), 0, E, [3, 1]), (2, 2), None),
    ((4, 3), np.eye(4, 3) > 0, (3,), None),
], ids=repr)
def test_write_grads(shape, idx, yshape, fy):
    fy = fy or (lambda y: y)
    check_grad(lambda x, y: sg.inc_subtensor(x[idx], fy(y)) ** 2,
               [rand(shape), rand(yshape)])
    check_grad(lambda x, y: sg.set_subtensor(x[idx], fy(y)) ** 2, [rand(shape), rand(yshape)])


def test_runtime_index_errors():
    x, i, ids = sg.dmatrix("x"), sg.lscalar("i"), sg.lvector("ids")
    a = np.zeros((3, 2))
    cases = [(x[i], [i], 5, "index 5 is out of range for axis 0 of size 3"),
             (x[:, i], [i], -3, "index -3 is out of range for axis 1 of size 2"),
             (x[4], [], None, "index 4 is out of range for axis 0 of size 3"),
             (x[:, ids], [ids], [0, 2], "index 2 is out of range for axis 1 of size 2"),
             (sg.inc_subtensor(x[ids], 1.0), [ids], [-4], "index -4 .* axis 0 of size 3"),
             (sg.set_subtensor(x[i, 1:], 1.0), [i], 3, "index 3 .* axis 0 of size 3")]
    for out, idx, value, msg in cases:
        f = sg.function([x, *idx], out)
        with pytest.raises(IndexError, match=msg):
            f(a, *([value] if idx else []))
    assert sg.function([x], x[x > 0])(a).shape == (0,)
    m = sg.tensor("m", "bool", (None, None))
    with pytest.raises(IndexError, match="mask of shape"):
        sg.function([x, m], x[m])(a, np.ones((2, 2), bool))


def test_runtime_shape_errors():
    x, y = sg.dmatrix("x"), sg.dvector("y")
    f = sg.function([x, y], sg.set_subtensor(x[1:], y))
    with pytest.raises(ValueError, match=r"shape \(3,\) does not fit the region .* \(2, 2\)"):
        f(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match="static size 1"):  # y's axis is not static 1
        f(np.zeros((3, 2)), np.zeros(1))
    g = sg.function([x, y], sg.inc_subtensor(x[:, [0, 0, 1]], y))
    with pytest.raises(ValueError, match="does not fit"):
        g(np.zeros((3, 2)), np.zeros(2))
    k = sg.lscalar("k")
    with pytest.raises(ValueError, match="step cannot be zero"):
        sg.function([x, k], x[::k])(np.zeros((2, 2)), 0)


@pytest.mark.parametrize("build,err,msg", [
    (lambda x: x[0, 1, 2], IndexError, r"too many indices for float64\(\?, \?\)"),
    (lambda x: x[..., 0, None, 1, 2], IndexError, "too many indices"),
    (lambda x: x[1.0], IndexError, "must be an integer .* got float"),
    (lambda x: x[1.0], TypeError, "must be an integer .* got float"),
    (lambda x: x[:sg.dscalar("s")], IndexError, r"slice stop must be an integer .* float64"),
    (lambda x: x[True], IndexError, "bool"),
    (lambda x: x[[0.5, 1.0]], IndexError, "must hold integers .* float64"),
    (lambda x: x[sg.fvector("f")], IndexError, r"integer .* float32\(\?,\)"),
    (lambda x: x[[0, 1], [1, 0, 1]], IndexError,
     r"index arrays of shapes \(2,\) \(axis 0\), \(3,\) \(axis 1\) cannot be broadcast"),
    (lambda x: x[..., ...], IndexError, "only one ellipsis"),
    (lambda x: x[::0], ValueError, "step cannot be zero"),
    (lambda x: sg.tensor("s", "float64", (2, 3))[:, 3], IndexError,
     "index 3 is out of range for axis 1 of size 3"),
    (lambda x: sg.tensor("s", "float64", (2, 3))[[0, -3]], IndexError, "index -3"),
    (lambda x: sg.tensor("s", "float64", (2, 3))[np.ones(3, bool)], IndexError,
     "does not fit axis 0"),
    (lambda x: sg.set_subtensor(x, 1.0), TypeError, "must be an indexing expression"),
    (lambda x: sg.set_subtensor(x[0], sg.dmatrix("y")), ValueError, "rank 2"),
    (lambda x: sg.set_subtensor(sg.tensor("s", "float64", (2, 3))[0],
                                sg.tensor("y", "float64", (2,))), ValueError,
     r"does not fit the region x\[0\] of static shape \(3,\)"),
    (lambda x: sg.take(x, [True, False]), IndexError, "take: indices must be integers"),
])
def test_build_errors(build, err, msg):
    with pytest.raises(err, match=msg):
        build(sg.dmatrix("x"))
