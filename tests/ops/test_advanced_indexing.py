"""Advanced indexing against numpy: several integer arrays broadcast together, bool masks,
numpy's placement of the broadcast axes, their gradients (repeated indices accumulate),
set/inc through them, bounds and index types."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from codegen.lib import index as ix
from codegen.lib.numpy import LIBRARY
from symgraph.ops.indexing import AdvancedSubtensor, IndexTypeError, LastWrites
from tests.checks import check_grad, check_values, non_contiguous, numpy_add_at, numpy_set

RNG = np.random.default_rng(1)
E = Ellipsis
T, F = True, False


def rand(shape) -> np.ndarray:
    return RNG.standard_normal(shape)


def ints(*rows) -> np.ndarray:
    return np.array(rows)


# (shape, index): what numpy does with several advanced indices
CASES = [
    ((4, 3), ([0, 3, -1], [2, 0, 1])),                       # pairs, negative
    ((4, 3), (ints([0, 1], [2, 3]), ints([0], [2]))),         # matrices broadcast
    ((4, 3), ([1], [0, 1, 2])),                              # a size-1 array stretches
    ((4, 3), ([[2, 2], [2, 2]], [1, 1])),                    # repeated pairs
    ((2, 3, 4), (slice(None), [0, 2], [3, 0])),              # adjacent: in place
    ((2, 3, 4), ([1, 0], slice(None), [3, 0])),              # a slice between: first
    ((2, 3, 4), ([1, 0], None, [2, 0])),                     # None between: first
    ((2, 3, 4), (slice(None), [0, 2], E, [1, 1])),           # an empty ellipsis between
    ((2, 3, 4), (None, [1], E, [2])),
    ((2, 3, 4), (1, [0, 2], slice(1, 3))),                   # an int joins them, adjacent
    ((2, 3, 4), (0, slice(None), [1, 2])),                   # an int apart: first
    ((2, 3, 4), ([1], 2, [3, 0])), ((2, 3, 4), (-1, [-1, -3], [-4])),
    ((2, 3, 4), (slice(None, None, -1), [[0], [2]], slice(1, None), None)),
    ((3, 4), (np.array([T, F, T]), [1, 3])),                 # a mask and an array
    ((3, 4), (np.array([T, F, T]), slice(None))),
    ((3, 4), (slice(None), np.array([F, T, T, F]))),
    ((2, 3, 4), (np.array([[T, F, T], [F, F, T]]), [0, 3, 1])),
    ((2, 3, 4), (np.array([[T, F, T], [F, F, T]]),)),        # a mask of the leading axes
    ((2, 3, 4), (np.array([T, T]), np.array([F, T, T]), [0, 3])),
    ((3, 4), np.zeros((3, 4), bool)), ((3, 4), np.ones((3, 4), bool)),
    ((4, 3), (np.zeros(0, "int64"), np.zeros(0, "int64"))),  # 0-size
    ((0, 3), ([], [])), ((0, 3), (np.zeros(0, "int64"), [2])), ((4, 3), ([5], [])),
    ((2, 0, 3), (slice(None), [], [1])), ((4, 0), ([1, 2], slice(None))),
    ((4, 3), (np.array([3, 0], "int8"), np.array([2, 2], "uint8"))),
    ((4, 3), (np.array([3, 0], "int32"), 1)),
]


def test_static_shapes_follow_numpy():
    for shape, idx in CASES:
        x = sg.tensor("x", "float64", shape=shape)
        assert x[idx].type.shape == np.zeros(shape)[idx].shape, (shape, idx)
        assert isinstance(x[idx].owner.op, AdvancedSubtensor)


@pytest.mark.parametrize("shape,idx", CASES, ids=repr)
def test_values(shape, idx):
    a = rand(shape)
    check_values(lambda x: x[idx], lambda x: x[idx], [a])
    check_values(lambda x: x[idx], lambda x: x[idx], [non_contiguous(a)])


def test_symbolic_index_arrays():
    a, i = rand((5, 4, 3)), ints([0, -1], [4, 4])
    cases = [
        (lambda x, i, j: x[i, j], [i, ints(3, -2)]),
        (lambda x, i, j: x[i, :, j], [i, ints([0], [2])]),
        (lambda x, i, j: x[:, i[0], j], [i, np.array([1, 2], "int32")]),
        (lambda x, i, j: x[i, 2, j], [i, ints(0, 1)]),
        (lambda x, i, j: x[i, ::-2, j, None], [i, ints(0, 1)]),
        (lambda x, i, j: x[i, j, 1:], [np.zeros((0, 2), "int64"), ints(1)]),
        (lambda x, i, j: x[x[:, 0, 0] > 0, j[0]], [i, ints(3, 0)]),
    ]
    for fn, idx in cases:
        check_values(fn, fn, [a, *idx])
    check_values(lambda x, i, j: x[i, j], lambda x, i, j: x[i, j],
                 [non_contiguous(a), non_contiguous(i), non_contiguous(ints(0, 3))])


def test_masks_from_the_data():
    a = rand((4, 3))
    check_values(lambda x: x[x > 0], lambda x: x[x > 0], [a])
    check_values(lambda x: x[x > 9], lambda x: x[x > 9], [a])
    check_values(lambda x: x[x[:, 0] > 0, :], lambda x: x[x[:, 0] > 0, :], [a])
    check_values(lambda x, m: x[m], lambda x, m: x[m], [rand((2, 3, 2)), rand((2, 3)) > 0])
    check_values(lambda x, m: x[m, 1:], lambda x, m: x[m, 1:], [a, np.array([T, F, F, T])])
    check_values(lambda x: sg.set_subtensor(x[x < 0], 0.0), lambda x: np.maximum(x, 0), [a])
    check_grad(lambda x: x[x > 0] ** 2, [a])


def test_negative_log_likelihood():
    """``-log(p)[arange(n), y].mean()``, the way Theano programs write it, and its
    gradient, which reaches only the picked entries."""
    p, r, y = sg.dmatrix("p"), sg.ivector("r"), sg.lvector("y")
    P, Y = RNG.random((5, 3)) + 0.1, np.array([2, 0, 2, 1, 1])
    nll = -sg.log(p)[r, y].mean()
    want = np.zeros_like(P)
    np.add.at(want, (np.arange(5), Y), -1 / (5 * P[np.arange(5), Y]))
    for backend in ("numpy", "llvm"):
        f = sg.function([p, r, y], [nll, sg.grad(nll, p)], backend=backend)
        cost, g = f(P, np.arange(5, dtype="int32"), Y)
        np.testing.assert_allclose(cost, -np.log(P[np.arange(5), Y]).mean(), rtol=1e-12)
        np.testing.assert_allclose(g, want, rtol=1e-12)
    check_grad(lambda p: -sg.log(p)[np.arange(5), Y].mean(), [P])


@pytest.mark.skipif(not hasattr(sg, "arange"), reason="sg.arange is not there yet")
def test_negative_log_likelihood_with_arange():
    p, y = sg.dmatrix("p"), sg.lvector("y")
    P, Y = RNG.random((4, 3)) + 0.1, np.array([2, 0, 2, 1])
    got = sg.function([p, y], -sg.log(p)[sg.arange(y.shape[0]), y].mean())(P, Y)
    np.testing.assert_allclose(got, -np.log(P[np.arange(4), Y]).mean(), rtol=1e-12)


GRADS = [
    ((4, 3), ([0, 3, 0, 0], [2, 1, 2, 2])),                  # repeated pairs accumulate
    ((4, 3), (ints([0, 1], [1, 0]), ints([2], [2]))),
    ((2, 3, 4), ([1, 1], slice(None), [3, 3])), ((2, 3, 4), (slice(1, None), [0, 2], [1, 1])),
    ((2, 3, 4), (0, None, [2, 2, 1], E)), ((3, 4), (np.array([T, F, T]), [1, 1])),
    ((2, 3, 4), (np.array([[T, F, T], [F, T, T]]), [0, 3, 3, 1])),
]


@pytest.mark.parametrize("shape,idx", GRADS, ids=repr)
def test_grads(shape, idx):
    check_grad(lambda x: sg.tanh(x[idx]), [rand(shape)])


def test_grad_is_add_at():
    x, i, j = sg.dmatrix("x"), sg.lmatrix("i"), sg.lvector("j")
    I, J = ints([0, 0], [2, 0]), ints(1, 1)
    g = sg.function([x, i, j], sg.grad(x[i, j].sum(), x))(np.zeros((3, 2)), I, J)
    np.testing.assert_array_equal(g, numpy_add_at(np.zeros((3, 2)), (I, J), 1.0))


WRITES = [  # (shape, index, shape of y)
    ((4, 3), ([0, 3, 0, 0], [2, 1, 2, 2]), (4,)), ((4, 3), ([0, 3, 0], [2, 1, 2]), ()),
    ((4, 3), (ints([0, 1], [1, 0]), ints([2], [2])), (2, 2)),
    ((4, 3), (ints([0, 1], [1, 0]), ints([2], [2])), (1, 2)),
    ((2, 3, 4), ([1, 1], slice(None), [3, 3]), (2, 3)),
    ((2, 3, 4), (slice(1, None), [0, 2, 0], [1, 1, 1]), (1, 3)),
    ((2, 3, 4), (0, None, [2, 2, 1], E), (3, 1, 4)),
    ((3, 4), (np.array([T, F, T]), [1, 1]), (2,)),
    ((3, 4), (np.array([T, F, T]), slice(None)), (4,)), ((4, 3), ([], [1]), ()),
    ((0, 3), ([], [2]), (0,)),
]


@pytest.mark.parametrize("shape,idx,yshape", WRITES, ids=repr)
def test_set_and_inc(shape, idx, yshape):
    a, y = rand(shape), rand(yshape)
    check_values(lambda x, y: sg.set_subtensor(x[idx], y), lambda x, y: numpy_set(x, idx, y),
                 [a, y])
    check_values(lambda x, y: sg.inc_subtensor(x[idx], y), lambda x, y: numpy_add_at(x, idx, y),
                 [non_contiguous(a), y])
    if a.size:
        check_grad(lambda x, y: sg.set_subtensor(x[idx], y) ** 2, [a, y])
        check_grad(lambda x, y: sg.inc_subtensor(x[idx], y) ** 2, [a, y])


def test_a_set_keeps_the_last_write():
    x, y = sg.dmatrix("x"), sg.dvector("y")
    idx = ([0, 0, 1, 0], [1, 1, 2, 1])
    out = sg.set_subtensor(x[idx], y)
    for backend in ("numpy", "llvm"):
        got = sg.function([x, y], out, backend=backend)(np.zeros((2, 3)), np.arange(1.0, 5.0))
        assert got.tolist() == [[0, 4, 0], [0, 0, 3]]
    g = sg.function([x, y], sg.grad((out * np.arange(6.0).reshape(2, 3)).sum(), y))
    assert g(np.zeros((2, 3)), np.zeros(4)).tolist() == [0, 0, 5, 1]


def test_last_writes_entry():
    x = np.zeros((3, 2))
    index = (("array", 1), ("slice", None, None, None))
    got = LIBRARY["last_writes"](x, np.array([2, 0, 2, 1, 0]), index=index)
    assert got.tolist() == [[F, F], [F, F], [T, T], [T, T], [T, T]]
    kept = LastWrites(index).make_node(sg.dmatrix("x"), sg.lvector("i")).outputs[0]
    assert kept.type == sg.tensor("k", "bool", (None, None)).type


def test_bind_and_broadcast():
    assert ix.broadcast([(3, 1), (4,), ()]) == (3, 4)
    assert ix.broadcast([(None, 1), (4,)]) == (None, 4)
    assert ix.broadcast([(None,), (1,)]) == (None,)
    index = (("array", 1), ("slice", None, None, None), ("array", 1))
    where, _, adv = ix.bind(index, np.zeros((3, 4, 5)), [ints([0], [2]), ints(4, 0, -5)])
    assert adv == (2, 3) and np.zeros((3, 4, 5))[where].shape == (2, 3, 4)
    with pytest.raises(IndexError, match=r"shapes \(2,\) \(axis 0\), \(3,\) \(axis 2\)"):
        ix.bind(index, np.zeros((3, 4, 5)), [ints(0, 1), ints(0, 1, 2)])
    with pytest.raises(IndexError, match="index 5 is out of range for axis 2 of size 5"):
        ix.bind(index, np.zeros((3, 4, 5)), [ints(0, 1), ints(0, 5)])


def test_runtime_errors_name_the_axis_index_and_size():
    x, i, j, k = sg.dtensor3("x"), sg.lvector("i"), sg.lmatrix("j"), sg.lscalar("k")
    a = np.zeros((3, 4, 5))
    cases = [
        (x[i, j], [ints(0, 1), ints([0, 4])], "index 4 is out of range for axis 1 of size 4"),
        (x[i, :, j], [ints(-4), ints([0])], "index -4 is out of range for axis 0 of size 3"),
        (x[:, i, j], [ints(0, 1), ints([5, 0])], "index 5 .* axis 2 of size 5"),
        (x[i, k], [ints(0), np.int64(4)], "index 4 .* axis 1 of size 4"),
        (x[i, j], [ints(0, 1, 2), ints([0, 1])],
         r"shape mismatch: index arrays of shapes \(3,\) \(axis 0\), \(1, 2\) \(axis 1\)"),
        (sg.inc_subtensor(x[i, j], 1.0), [ints(3), ints([0])], "index 3 .* axis 0 of size 3"),
        (sg.set_subtensor(x[i, 1:, j], 1.0), [ints(0), ints([-6])],
         "index -6 .* axis 2 of size 5"),
    ]
    for out, values, msg in cases:
        inputs = [v for v in (i, j, k) if any(v is w for w in out.owner.inputs)]
        f = sg.function([x, *inputs], out)
        with pytest.raises(IndexError, match=msg):
            f(a, *values)
    m = sg.tensor("m", "bool", (None,))
    with pytest.raises(IndexError, match=r"a mask of shape \(2,\) does not fit axes 0..0"):
        sg.function([x, m, i], x[m, i])(a, np.ones(2, bool), ints(0))
    with pytest.raises(IndexError, match="cannot be broadcast"):       # 2 trues, 3 indices
        sg.function([x, m, i], x[m, i])(a, np.array([T, F, T]), ints(0, 1, 2))


@pytest.mark.parametrize("build,err,msg", [
    (lambda x: x[[0, 1], np.array([0.0, 1.0])], TypeError, "must hold integers .* float64"),
    (lambda x: x[[0, 1], np.array([0.0, 1.0])], IndexError, "must hold integers"),
    (lambda x: x[sg.lvector("i"), sg.dvector("f")], TypeError,
     r"integer \(or bool, a mask\) tensors, got float64\(\?,\)"),
    (lambda x: x[sg.lvector("i"), 1.5], TypeError, "must be an integer .* got float"),
    (lambda x: x[[0], [1], [2], [0]], IndexError, "too many indices"),
    (lambda x: x[sg.lvector("i"), np.ones((4, 5, 2), bool)], IndexError,
     "uses 4 axes, the tensor has 3"),
    (lambda x: sg.tensor("s", "float64", (3, 4))[[0, 1], [1, 4]], IndexError,
     "index 4 is out of range for axis 1 of size 4"),
    (lambda x: sg.tensor("s", "float64", (3, 4))[[[0, 1]], [[1, 2, 0]]], IndexError,
     r"shapes \(1, 2\) \(axis 0\), \(1, 3\) \(axis 1\) cannot be broadcast"),
    (lambda x: sg.tensor("s", "float64", (3, 4))[[0, 1], np.ones(3, bool)], IndexError,
     "does not fit axis 1"),
    (lambda x: AdvancedSubtensor((("array", 1), ("array", 1))).make_node(
        x, sg.lvector("i"), sg.dvector("f")), TypeError, "integer or bool tensor"),
    (lambda x: sg.set_subtensor(sg.tensor("s", "float64", (3, 4))[[0, 1], [1, 2]],
                                sg.tensor("y", "float64", (3,))), ValueError, "does not fit"),
])
def test_build_errors(build, err, msg):
    with pytest.raises(err, match=msg):
        build(sg.dtensor3("x"))


def test_index_type_error_is_both():
    assert issubclass(IndexTypeError, IndexError) and issubclass(IndexTypeError, TypeError)
