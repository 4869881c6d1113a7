"""Shape operations against numpy: reshape, transpose/.T/dimshuffle, flatten, expand_dims,
squeeze, concatenate, stack, broadcast_to and .shape: values, static types, gradients and
errors."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from tests.checks import check_grad, check_values, non_contiguous

DTYPES = ["bool", "int8", "uint8", "float32", "float64"]  # shape ops move bytes: a few do


# ------------------------------------------------------------------ reshape
RESHAPES = [((2, 3, 4), (6, 4)), ((2, 3, 4), (-1,)), ((2, 3, 4), (4, -1)),
            ((2, 3, 4), (2, -1, 2)), ((6,), (1, 6)), ((6,), (3, 1, 2)), ((), (1, 1)),
            ((1, 1), ()), ((0, 3), (3, 0)), ((0, 3), (-1,)), ((0, 3), (5, 0, 2, 0))]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,new", RESHAPES, ids=str)
def test_reshape(shape, new, dtype, rand):
    x = rand(dtype, shape)
    check_values(lambda v: sg.reshape(v, new), lambda v: v.reshape(new), [x])
    check_values(lambda v: v.reshape(new), lambda v: v.reshape(new), [x])
    if len(new) > 1:
        check_values(lambda v: v.reshape(*new), lambda v: v.reshape(new), [x])
    if x.ndim:
        check_values(lambda v: v.reshape(new), lambda v: v.reshape(new), [non_contiguous(x)])


def test_reshape_to_symbolic_shapes(rand):
    x, y = rand("float64", (2, 3, 4)), rand("float64", (6, 4))
    check_values(lambda v: v.reshape((v.shape[0], -1)), lambda v: v.reshape(2, -1), [x])
    check_values(lambda v, w: v.reshape(w.shape), lambda v, w: v.reshape(w.shape), [x, y])
    check_values(lambda v, w: sg.reshape(v, (w.shape[1], w.shape[0])),
                 lambda v, w: v.reshape(4, 6), [x, y])
    n = sg.lscalar("n")
    v = sg.dtensor3("v")
    f = sg.function([v, n], v.reshape((n, -1), ndim=2))
    np.testing.assert_array_equal(f(x, 4), x.reshape(4, -1))


def test_reshape_static_types():
    x = sg.tensor("x", "float32", (2, 3, 4))
    assert x.reshape((-1, 4)).type.shape == (6, 4)
    assert x.reshape((6, 4)).type.shape == (6, 4)
    assert sg.fmatrix().reshape((-1, 2)).type.shape == (None, 2)
    assert x.reshape((2, 3, 4)) is x       # a no-op is no node
    n = sg.lscalar("n")
    assert x.reshape((n, 4)).type.shape == (None, 4)


def test_reshape_errors():
    x = sg.tensor("x", "float64", (2, 3))
    with pytest.raises(ValueError, match="cannot reshape"):
        x.reshape((4, 2))                            # known sizes differ: at build time
    with pytest.raises(ValueError, match="-1"):
        x.reshape((-1, -1))
    with pytest.raises(ValueError, match="ndim"):
        x.reshape((6,), ndim=2)
    with pytest.raises(TypeError, match="integer"):
        x.reshape((2.0, 3))
    with pytest.raises(TypeError, match="static length"):
        x.reshape(sg.lvector("s"))
    m = sg.dmatrix("m")
    f = sg.function([m], m.reshape((5, -1)))
    with pytest.raises(ValueError, match=r"(?s)\(2, 3\).*\(5, -1\)"):
        f(np.ones((2, 3)))


def test_reshape_grad(rng):
    check_grad(lambda v: v.reshape((-1,)) * np.arange(24), [rng.normal(size=(2, 3, 4))])
    check_grad(lambda v: v.reshape((v.shape[1], -1)), [rng.normal(size=(2, 3))])


# ------------------------------------------------------------------ transpose, dimshuffle
@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose(dtype, rand):
    x = rand(dtype, (2, 3, 4))
    check_values(lambda v: v.T, lambda v: v.T, [x])
    check_values(lambda v: v.transpose(), lambda v: v.transpose(), [x])
    check_values(lambda v: sg.transpose(v), np.transpose, [non_contiguous(x)])
    for axes in ((1, 0, 2), (2, 0, 1), (-1, 0, 1), (0, 1, 2)):
        check_values(lambda v: v.transpose(axes), lambda v: v.transpose(axes), [x])
        check_values(lambda v: v.transpose(*axes), lambda v: v.transpose(axes), [x])
        check_values(lambda v: sg.transpose(v, axes), lambda v: v.transpose(axes), [x])
    for shape in ((), (5,), (0, 3)):
        check_values(lambda v: v.T, lambda v: v.T, [rand(dtype, shape)])


def test_transpose_static_type_and_errors():
    x = sg.tensor("x", "float32", (2, None, 4))
    assert x.T.type.shape == (4, None, 2)
    for bad in ((0, 1), (0, 0, 1), (0, 1, 3)):
        with pytest.raises(ValueError, match="permutation"):
            x.transpose(bad)


@pytest.mark.parametrize("pattern,numpy", [
    (("x", 0, 1), lambda v: v[None]),
    ((0, "x", 1), lambda v: v[:, None]),
    ((1, "x", 0, "x"), lambda v: v.T[:, None, :, None]),
    ((1, 0), lambda v: v.T),
], ids=str)
def test_dimshuffle(pattern, numpy, rand):
    x = rand("float64", (3, 4))
    check_values(lambda v: v.dimshuffle(*pattern), numpy, [x])
    check_values(lambda v: v.dimshuffle(pattern), numpy, [non_contiguous(x)])
    check_values(lambda v: sg.dimshuffle(v, *pattern), numpy, [x])
    check_grad(lambda v: v.dimshuffle(*pattern) * rand("float64", numpy(x).shape), [x])


def test_dimshuffle_drops_only_broadcastable_axes(rand):
    r = rand("float64", (1, 4))
    check_values(lambda v: v.dimshuffle(1), lambda v: v[0], [r])        # sym_like: (1, ?)
    check_grad(lambda v: v.dimshuffle("x", 0).dimshuffle(1), [r[0]])
    with pytest.raises(ValueError, match="drops axis 0.*static size 1"):
        sg.dmatrix().dimshuffle(1)
    for bad in ((0, 0), (0, 2), ("y", 0)):
        with pytest.raises(ValueError, match="pattern"):
            sg.dmatrix().dimshuffle(*bad)
    assert sg.dmatrix().dimshuffle("x", 1, 0).type.shape == (1, None, None)


def test_transpose_grad(rng):
    check_grad(lambda v: v.transpose(2, 0, 1) * np.arange(24).reshape(4, 2, 3),
               [rng.normal(size=(2, 3, 4))])
    check_grad(lambda v: v.T, [rng.normal(size=(3, 4))])


# ------------------------------------------------------------------ flatten, expand, squeeze
@pytest.mark.parametrize("shape", [(2, 3, 4), (0, 3, 2), (5,), (2, 1, 3, 2)], ids=str)
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_flatten(ndim, shape, rand):
    if ndim > len(shape):
        with pytest.raises(ValueError, match="ndim"):
            sg.tensor("x", "float64", (None,) * len(shape)).flatten(ndim)
        return
    x = rand("float32", shape)
    # numpy's -1 is ambiguous when another size is 0: spell the last size out
    want = lambda v: v.reshape(v.shape[:ndim - 1] + (int(np.prod(v.shape[ndim - 1:])),))  # noqa
    check_values(lambda v: v.flatten(ndim), want, [x])
    check_values(lambda v: sg.flatten(v, ndim), want, [non_contiguous(x)])
    if x.size:
        check_grad(lambda v: sg.flatten(v, ndim), [x.astype("float64")])


def test_flatten_of_a_scalar():
    check_values(lambda v: v.flatten(), lambda v: v.reshape(-1), [np.asarray(2.5)])


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3, (0, 2), (0, -1), (1, 2, 3)], ids=str)
def test_expand_dims(axis, rand):
    x = rand("int8", (3, 4))
    check_values(lambda v: sg.expand_dims(v, axis), lambda v: np.expand_dims(v, axis), [x])
    want = np.expand_dims(x, axis).shape
    assert sg.expand_dims(sg.dmatrix(), axis).type.shape == tuple(
        1 if d == 1 else None for d in want)
    check_grad(lambda v: sg.expand_dims(v, axis), [x.astype("float64")])


@pytest.mark.parametrize("axis", [3, -4, (0, 0)], ids=str)
def test_expand_dims_errors(axis):
    with pytest.raises(ValueError, match="axis"):
        sg.expand_dims(sg.dmatrix(), axis)


@pytest.mark.parametrize("shape,axis", [((1, 3, 1), None), ((1, 3, 1), 0), ((1, 3, 1), -1),
                                        ((1, 3, 1), (0, 2)), ((1, 1), None), ((3,), None)],
                         ids=str)
def test_squeeze(shape, axis, rand):
    x = rand("float64", shape)
    check_values(lambda v: v.squeeze(axis), lambda v: np.squeeze(v, axis), [x])
    check_values(lambda v: sg.squeeze(v, axis), lambda v: np.squeeze(v, axis), [x])


@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2)], ids=str)
def test_squeeze_grad(axis, rng):
    # verify_grad's inputs have no static sizes: make the size-1 axes with dimshuffle
    check_grad(lambda v: sg.squeeze(v.dimshuffle("x", 0, "x"), axis), [rng.normal(size=3)])


def test_squeeze_refuses_an_axis_not_statically_1():
    with pytest.raises(ValueError, match="static size 1"):
        sg.dmatrix().squeeze(0)
    assert sg.dmatrix().squeeze() .type.shape == (None, None)  # nothing is known to be 1


# ------------------------------------------------------------------ concatenate, stack
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate(axis, rand):
    xs = [rand("float64", (2, 3)), rand("float64", (2, 3)), rand("float64", (2, 3))]
    check_values(lambda *v: sg.concatenate(v, axis), lambda *v: np.concatenate(v, axis), xs)
    check_values(lambda a, b: sg.concatenate([a, b], axis),
                 lambda a, b: np.concatenate([a, b], axis),
                 [non_contiguous(xs[0]), rand("float64", (0, 3) if axis == 0 else (2, 0))])
    check_grad(lambda *v: sg.concatenate(v, axis) * np.arange(1, 1 + 18).reshape(
        (6, 3) if axis == 0 else (2, 9)), xs)


@pytest.mark.parametrize("d2", ["bool", "int8", "uint8", "int32", "float32"])
@pytest.mark.parametrize("d1", ["bool", "int8", "float32", "float64"])
def test_concatenate_and_stack_promote_like_numpy(d1, d2, rand):
    a, b = rand(d1, (2, 3)), rand(d2, (4, 3))
    check_values(lambda *v: sg.concatenate(v), lambda *v: np.concatenate(v), [a, b])
    check_values(lambda *v: sg.stack(v, 1), lambda *v: np.stack(v, 1), [a, b[:2]])


def test_concatenate_static_types_and_errors():
    a, b = sg.tensor("a", "float32", (2, 3)), sg.tensor("b", "float32", (None, 3))
    assert sg.concatenate([a, a]).type.shape == (4, 3)
    assert sg.concatenate([a, b]).type.shape == (None, 3)
    assert sg.concatenate([a, b], 1).type.shape == (2, 6)
    with pytest.raises(ValueError, match="axis 1"):
        sg.concatenate([a, sg.tensor("c", "float32", (2, 4))])
    with pytest.raises(ValueError, match="rank"):
        sg.concatenate([a, sg.fvector()])
    with pytest.raises(ValueError, match="at least one"):
        sg.concatenate([])
    with pytest.raises(ValueError, match="axis"):
        sg.concatenate([a, a], axis=2)
    x, y = sg.dmatrix("x"), sg.dmatrix("y")
    f = sg.function([x, y], sg.concatenate([x, y]))
    with pytest.raises(ValueError, match="(?s)dimension|size|match"):
        f(np.ones((2, 3)), np.ones((2, 4)))


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_stack(axis, rand):
    xs = [rand("float32", (2, 3)) for _ in range(3)]
    check_values(lambda *v: sg.stack(v, axis), lambda *v: np.stack(v, axis), xs)
    check_grad(lambda *v: sg.stack(v, axis), [x.astype("float64") for x in xs])
    assert sg.stack([sg.dscalar(), 2.0]).type.shape == (2,)


def test_as_tensor_of_a_list_of_variables_stacks():
    a, b = sg.dscalar("a"), sg.dscalar("b")
    f = sg.function([a, b], sg.as_tensor([a, b, 3.0]))
    np.testing.assert_array_equal(f(1.0, 2.0), [1.0, 2.0, 3.0])


# ------------------------------------------------------------------ broadcast_to, shape
@pytest.mark.parametrize("shape,target", [((4,), (3, 4)), ((1, 4), (3, 4)), ((), (2, 3)),
                                          ((3, 1), (2, 3, 5)), ((1,), (0,)), ((2, 3), (2, 3))],
                         ids=str)
def test_broadcast_to(shape, target, rand):
    x = rand("float64", shape)
    check_values(lambda v: sg.broadcast_to(v, target), lambda v: np.broadcast_to(v, target), [x])
    static = tuple(1 if d == 1 else None for d in shape)
    assert sg.broadcast_to(sg.tensor("x", "float64", static), target).type.shape == target


@pytest.mark.parametrize("shape,pattern,target", [
    ((4,), (0,), (3, 4)),            # a new leading axis
    ((4,), ("x", 0), (3, 4)),        # a static-1 axis
    ((), (), (2, 3)),                # a scalar
    ((4,), (0, "x"), (2, 4, 5)),     # both
], ids=str)
def test_broadcast_to_grad_sums_the_broadcast_axes(shape, pattern, target, rng):
    # verify_grad's inputs have no static sizes: dimshuffle makes the static-1 axes
    check_grad(lambda v: sg.broadcast_to(v.dimshuffle(*pattern), target),
               [rng.normal(size=shape)])


def test_broadcast_to_symbolic_shape_and_errors(rand):
    x, m = rand("float64", (4,)), rand("float64", (3, 4))
    check_values(lambda v, w: sg.broadcast_to(v, w.shape), lambda v, w: np.broadcast_to(v, w.shape),
                 [x, m])
    with pytest.raises(ValueError, match="broadcast"):
        sg.broadcast_to(sg.tensor("x", "float64", (3,)), (4,))
    with pytest.raises(ValueError, match="rank"):
        sg.broadcast_to(sg.dmatrix(), (3,))
    v = sg.dvector("v")
    f = sg.function([v], sg.broadcast_to(v, (2, 4)))
    with pytest.raises(ValueError, match=r"(?s)\(1,\).*\(2, 4\).*static size 1"):
        f(np.ones(1))       # size 1 at run time, but not declared: no silent broadcast


@pytest.mark.parametrize("shape", [(), (5,), (2, 0, 3), (1, 4)], ids=str)
def test_shape(shape, rand):
    x = rand("float32", shape)
    check_values(lambda v: v.shape, lambda v: np.asarray(v.shape, "int64"), [x])
    check_values(lambda v: sg.shape(v), lambda v: np.asarray(v.shape, "int64"), [x])
    for i in range(len(shape)):
        check_values(lambda v: v.shape[i], lambda v: np.asarray(v.shape[i], "int64"), [x])
    assert sg.tensor("x", "float32", shape).shape.type.shape == (len(shape),)


def test_shape_has_no_gradient_but_sizes_can_scale_a_cost(rng):
    check_grad(lambda v: v.sum() / v.shape[0].astype("float64"), [rng.normal(size=(3, 2))])
    v = sg.dvector("v")
    with pytest.raises(sg.DisconnectedInputError):
        sg.grad(v.shape[0].astype("float64"), v)


def test_flatten_static_types():
    assert sg.tensor("x", "float32", (2, 3, 4)).flatten(2).type.shape == (2, 12)
    assert sg.tensor("x", "float32", (None, 3, 4)).flatten(2).type.shape == (None, 12)
    assert sg.tensor("x", "float32", (2, None, 4)).flatten(2).type.shape == (2, None)
    assert sg.tensor("x", "float32", (2, 3, 4)).flatten().type.shape == (24,)
