"""Array constructors and the small array functions of symgraph.ops.constructors against
numpy on every backend: static and symbolic sizes, dtypes, 0-size and non-contiguous
inputs, fresh writeable results, gradients, numpy dispatch and the errors."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from tests.checks import BACKENDS, check_grad, check_values, non_contiguous, to_host

FX = sg.config.floatX


def run(outputs, inputs=(), values=(), backend="numpy"):
    return to_host(sg.function(list(inputs), outputs, backend=backend)(*values))


def check_built(out, want, inputs=(), values=()):
    """``out`` (no symbolic operand but sizes) equals ``want`` on every backend, dtype and
    shape included."""
    for backend in BACKENDS:
        got = run(out, inputs, values, backend)
        assert got.dtype == want.dtype and got.shape == want.shape, (backend, got, want)
        np.testing.assert_array_equal(got, want, err_msg=backend)


# ---------------------------------------------------------------- arange
@pytest.mark.parametrize("args", [(5,), (2, 7), (7, 2, -2), (0, 1, 0.1), (0, 0.3, 0.1),
                                  (1.5, 4), (3, 3), (5, 0), (-1.0, 1.0, 0.25)])
def test_arange_of_constants_has_a_static_length(args):
    want = np.arange(*args)
    want = want.astype(FX) if want.dtype.kind == "f" else want
    out = sg.arange(*args)
    assert out.type.shape == want.shape
    check_built(out, np.arange(*args, dtype=want.dtype))


def test_arange_of_symbolic_bounds():
    n, s, t = sg.iscalar("n"), sg.dscalar("s"), sg.fscalar("t")
    assert sg.arange(n).dtype == "int64" and sg.arange(n).type.shape == (None,)
    check_built(sg.arange(n), np.arange(4), [n], [4])
    check_built(sg.arange(n), np.arange(0), [n], [-3])
    check_built(sg.arange(s, 2 * s, 0.5), np.arange(1.5, 3.0, 0.5), [s], [1.5])
    assert sg.arange(t, 3).dtype == "float32" and sg.arange(n, 2.5).dtype == FX
    check_built(sg.arange(0, n, dtype="int8"), np.arange(0, 3, dtype="int8"), [n], [3])
    assert float(run((sg.arange(n) * 2.0).sum(), [n], [4])) == 12.0


def test_arange_gradient():
    check_grad(lambda a, b: sg.arange(a, a + 3.3, b) ** 2, [np.array(0.3), np.array(0.7)])
    s = sg.dscalar("s")
    assert float(sg.grad(sg.arange(0.0, s, 1.0).sum(), s).eval({s: 3.5})) == 0.0


def test_arange_errors():
    with pytest.raises(ValueError, match="step is 0"):
        sg.arange(0, 3, 0)
    with pytest.raises(ValueError, match="must be finite"):
        sg.arange(0, np.inf)
    with pytest.raises(TypeError, match="int or float scalar"):
        sg.arange(sg.dvector("v"))
    with pytest.raises(TypeError, match="bounds must be int or float scalars"):
        sg.arange(True)
    t = sg.dscalar("t")
    f = sg.function([t], sg.arange(0.0, 1.0, t))
    with pytest.raises(ValueError, match="step is 0"):
        f(0.0)


# ---------------------------------------------------------------- filled arrays
def test_zeros_ones_full_alloc_values_and_types():
    x, n = sg.dmatrix("x"), sg.iscalar("n")
    check_built(sg.zeros(3), np.zeros(3, FX))
    check_built(sg.ones((2, 3), "int32"), np.ones((2, 3), "int32"))
    check_built(sg.zeros(()), np.zeros((), FX))
    check_built(sg.zeros((0, 2)), np.zeros((0, 2), FX))
    check_built(sg.full((2, 2), 2.5), np.full((2, 2), 2.5, FX))
    check_built(sg.full(2, 7), np.full(2, 7))
    check_built(sg.full(2, True), np.full(2, True))
    check_built(sg.full((2,), 2.7, dtype="int16"), np.full((2,), 2, "int16"))
    z = sg.zeros((x.shape[0], 3))
    assert z.type == sg.TensorType(FX, (None, 3))
    check_built(z, np.zeros((4, 3), FX), [x], [np.ones((4, 5))])
    check_built(sg.ones(x.shape, "bool"), np.ones((4, 5), bool), [x], [np.ones((4, 5))])
    check_built(sg.ones((n, 2)), np.ones((3, 2), FX), [n], [3])
    check_built(sg.alloc(1.5, n, 2), np.full((3, 2), 1.5, FX), [n], [3])


def test_filled_values_of_symbolic_values_and_their_gradients(rand):
    b = rand("float64", (3,))
    check_values(lambda v: sg.alloc(v, 2, 3), lambda v: np.broadcast_to(v, (2, 3)), [b])
    check_values(lambda v: sg.full((2, 3), v, dtype="float32"),
                 lambda v: np.full((2, 3), v, "float32"), [b])
    check_grad(lambda v: sg.alloc(v, 4, 3) * np.arange(12.0).reshape(4, 3), [b])
    check_grad(lambda v: sg.full((2, 3), v.sum()) ** 2, [b])


@pytest.mark.parametrize("backend", BACKENDS)
def test_filled_results_are_fresh_writeable_arrays(backend):
    n = sg.iscalar("n")
    for f, args in [(sg.function([], sg.zeros((2, 3)), backend=backend), ()),
                    (sg.function([n], sg.ones((n, 3)), backend=backend), (2,)),
                    (sg.function([n], sg.eye(n), backend=backend), (3,))]:
        first = to_host(f(*args))
        want = first.copy()
        assert first.flags.writeable
        first[...] = 7
        second = to_host(f(*args))
        np.testing.assert_array_equal(second, want)
        assert not np.shares_memory(first, second)
        second[...] = 5
        assert (first == 7).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_shared_variable_updated_to_a_fill_keeps_its_own_array(backend):
    w = sg.shared(np.ones(3), "w")
    sg.function([], [], updates={w: sg.zeros(3, "float64")}, backend=backend)()
    step = sg.function([], [], updates={w: w + 1}, backend=backend)
    step(), step()
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0, 2.0])
    assert w.get_value(borrow=True).flags.writeable


def test_like_constructors_take_dtype(rand):
    x = rand("float32", (2, 3))
    for fn, npfn, extra in [(sg.zeros_like, np.zeros_like, ()),
                            (sg.ones_like, np.ones_like, ()),
                            (sg.full_like, np.full_like, (2.7,))]:
        check_values(lambda v: fn(v, *extra), lambda v: npfn(v, *extra), [x])
        check_values(lambda v: fn(v, *extra, dtype="int32"),
                     lambda v: npfn(v, *extra, dtype="int32"), [x])
    assert np.full_like(sg.lvector("v"), 3).dtype == "int64"
    assert np.zeros_like(sg.fvector("v"), dtype="bool").dtype == "bool"
    check_values(lambda v: sg.full_like(v, v.sum()), lambda v: np.full_like(v, v.sum()), [x])


def test_filled_errors():
    with pytest.raises(ValueError, match="negative dimensions"):
        sg.zeros((2, -1))
    with pytest.raises(TypeError, match="shape entries must be integers"):
        sg.ones((2.0, 3))
    with pytest.raises(ValueError, match="does not fit dtype int8"):
        sg.full_like(sg.bvector("v"), 300)
    v, n = sg.dvector("v"), sg.iscalar("n")
    f = sg.function([v, n], sg.alloc(v, 2, n))
    with pytest.raises(ValueError, match="cannot broadcast shape"):
        f(np.ones(3), 4)


# ---------------------------------------------------------------- eye, triangles, one_hot
@pytest.mark.parametrize("args", [(3,), (3, 4, 1), (4, 3, -2), (2, 2, 5), (0,), (3, 0)])
def test_eye_and_identity(args):
    out = sg.eye(*args)
    assert out.type.shape == np.eye(*args).shape
    check_built(out, np.eye(*args, dtype=FX))
    check_built(sg.eye(*args, dtype="int32"), np.eye(*args, dtype="int32"))
    check_built(sg.identity(args[0], "bool"), np.identity(args[0], "bool"))


def test_eye_of_symbolic_sizes():
    n, m, k = sg.iscalar("n"), sg.lscalar("m"), sg.lscalar("k")
    check_built(sg.eye(n, m, k), np.eye(3, 4, -1, dtype=FX), [n, m, k], [3, 4, -1])
    with pytest.raises(TypeError, match="n must be an int or a symbolic integer scalar"):
        sg.eye(2.5)
    with pytest.raises(ValueError, match="n must be >= 0"):
        sg.eye(-1)


TRI_INPUTS = [np.arange(12.0).reshape(3, 4), np.arange(12.0).reshape(4, 3),
              np.arange(24.0).reshape(2, 3, 4), np.arange(1.0, 6.0), np.zeros((0, 3)),
              non_contiguous(np.arange(12.0).reshape(3, 4)), np.arange(12).reshape(3, 4) > 4,
              np.arange(12, dtype="int8").reshape(4, 3)]


@pytest.mark.parametrize("k", [0, -1, 2])
@pytest.mark.parametrize("x", TRI_INPUTS, ids=["wide", "tall", "batch", "vector", "empty",
                                              "strided", "bool", "int8"])
def test_tril_triu(x, k):
    check_values(lambda v: sg.tril(v, k), lambda v: np.tril(v, k), [x])
    check_values(lambda v: sg.triu(v, k), lambda v: np.triu(v, k), [x])


def test_triangles_gradient_dispatch_and_errors(rand):
    x = rand("float64", (3, 4))
    check_grad(lambda v: sg.tril(v, -1) * 2 + sg.triu(v, 1), [x])
    m, k = sg.dmatrix("m"), sg.lscalar("k")
    assert np.allclose(sg.tril(m, k).eval({m: x, k: 1}), np.tril(x, 1))
    assert np.triu(m).owner is not None and np.tril(m, 1).type == m.type
    with pytest.raises(ValueError, match="at least one axis"):
        sg.tril(sg.dscalar())


def test_one_hot():
    y = np.array([[0, 2], [1, 1], [3, -1]])      # 3 and -1 are out of range: zero rows
    want = (y[..., None] == np.arange(3)).astype(FX)
    check_values(lambda v: sg.one_hot(v, 3), lambda v: want, [y])
    check_values(lambda v: sg.to_one_hot(v, 3, dtype="int8"),
                 lambda v: want[0].astype("int8"), [y[0]])
    labels, n = sg.ivector("labels"), sg.iscalar("n")
    out = sg.one_hot(labels, n)
    assert out.type.shape == (None, None) and sg.one_hot(labels, 4).type.shape == (None, 4)
    check_built(out, np.eye(4, dtype=FX)[[1, 3]], [labels, n], [np.array([1, 3], "int32"), 4])
    with pytest.raises(TypeError, match="labels must be integers"):
        sg.one_hot(sg.dvector(), 3)


# ---------------------------------------------------------------- linspace
@pytest.mark.parametrize("args,kw", [((0, 1, 5), {}), ((0, 1, 5), {"endpoint": False}),
                                     ((-2.5, 10, 7), {}), ((1, 1, 3), {}), ((0, 1, 1), {}),
                                     ((0, 1, 0), {}), ((0, 10, 7), {"dtype": "int64"}),
                                     ((3, -1, 6), {"dtype": "float64"})])
def test_linspace(args, kw):
    want = np.linspace(*args, **kw)
    want = want.astype(FX) if "dtype" not in kw else want
    check_built(sg.linspace(*args, **kw), want)


def test_linspace_symbolic_tensors_axis_retstep(rand):
    n = sg.iscalar("n")
    check_built(sg.linspace(0, 1, n), np.linspace(0, 1, 4).astype(FX), [n], [4])
    check_built(sg.linspace(0, 1, n, endpoint=False), np.linspace(0, 1, 1, endpoint=False)
                .astype(FX), [n], [1])
    a, b = rand("float32", (2, 3)), rand("float32", (2, 3))
    check_values(lambda u, v: sg.linspace(u, v, 4), lambda u, v: np.linspace(u, v, 4), [a, b])
    check_values(lambda u, v: sg.linspace(u, v, 3, axis=-1),
                 lambda u, v: np.linspace(u, v, 3, axis=-1), [a, b])
    y, step = sg.linspace(0.0, 2.0, 5, retstep=True)
    assert float(step.eval()) == 0.5 and np.isnan(sg.linspace(0, 1, 1, retstep=True)[1].eval())
    check_grad(lambda u, v: sg.linspace(u, v, 5) ** 2, [np.array(0.3), np.array(-1.7)])
    with pytest.raises(ValueError, match="num must be >= 0"):
        sg.linspace(0, 1, -2)


# ---------------------------------------------------------------- diag, repeat, tile
@pytest.mark.parametrize("k", [0, 1, -2])
def test_diag(rand, k):
    v, m = rand("float64", (3,)), rand("int32", (3, 4))
    check_values(lambda u: sg.diag(u, k), lambda u: np.diag(u, k), [v])
    check_values(lambda u: sg.diag(u, k), lambda u: np.diag(u, k), [m])
    check_values(lambda u: np.diag(u, k), lambda u: np.diag(u, k), [non_contiguous(m)])
    check_grad(lambda u: sg.diag(u, k) * np.arange(1.0, 1 + (3 + abs(k)) ** 2).reshape(
        3 + abs(k), 3 + abs(k)), [v])
    check_grad(lambda u: sg.diag(u, k), [rand("float64", (3, 4))])


def test_diag_shapes_and_errors():
    assert sg.diag(sg.tensor("v", "float32", (3,)), 1).type.shape == (4, 4)
    check_values(sg.diag, np.diag, [np.zeros(0)])
    with pytest.raises(ValueError, match="must be 1-d or 2-d"):
        sg.diag(sg.dtensor3())
    with pytest.raises(TypeError, match="k must be an int"):
        sg.diag(sg.dvector(), 0.5)


@pytest.mark.parametrize("repeats,axis", [(2, None), (3, 0), (2, 1), (0, -1), (1, 0),
                                          ([2], 1)])
def test_repeat(rand, repeats, axis):
    x = rand("float32", (2, 3))
    check_values(lambda v: sg.repeat(v, repeats, axis), lambda v: np.repeat(v, repeats, axis),
                 [x])
    if repeats:
        check_grad(lambda v: sg.repeat(v, repeats, axis) ** 2, [x.astype("float64")])


def test_repeat_symbolic_per_element_and_errors(rand):
    x = rand("int16", (2, 3))
    r = sg.lscalar("r")
    v = sg.tensor("v", "float64", (2, 3))
    check_built(sg.repeat(sg.as_tensor(x), r, axis=1), np.repeat(x, 3, axis=1), [r], [3])
    assert sg.repeat(v, 2, axis=0).type.shape == (4, 3)
    for static in (False, True):
        check_values(lambda u: sg.repeat(u, [1, 0, 2], axis=1),
                     lambda u: np.repeat(u, [1, 0, 2], axis=1), [x], static=static)
    check_values(lambda u: np.repeat(u, 2), lambda u: np.repeat(u, 2), [non_contiguous(x)])
    check_grad(lambda u: sg.repeat(u, [3, 1], axis=0) ** 2, [rand("float64", (2, 3))])
    with pytest.raises(ValueError, match=r"4 repeat counts for axis 1 of float64\(2, 3\)"):
        sg.repeat(v, [1, 0, 2, 1], axis=1)
    m = sg.dmatrix("m")
    f = sg.function([m], sg.repeat(m, [1, 0, 2], axis=1))
    with pytest.raises(ValueError, match=r"cannot reshape an array of shape \(2, 4\)"):
        f(np.ones((2, 4)))
    with pytest.raises(ValueError, match="repeats must be >= 0"):
        sg.repeat(v, -1)
    with pytest.raises(TypeError, match="repeats must be an int"):
        sg.repeat(v, 1.5)


@pytest.mark.parametrize("reps", [2, (2,), (2, 1, 3), (1, 1), (0, 2), (3, 1)])
def test_tile(rand, reps):
    x = rand("float64", (2, 3))
    check_values(lambda v: sg.tile(v, reps), lambda v: np.tile(v, reps), [x])
    check_values(lambda v: np.tile(v, reps), lambda v: np.tile(v, reps),
                 [non_contiguous(x[0])])
    check_grad(lambda v: sg.tile(v, reps) ** 2, [x])


def test_tile_symbolic_and_errors():
    r = sg.iscalar("r")
    x = np.arange(3.0)
    check_built(sg.tile(sg.as_tensor(x), (2, r)), np.tile(x, (2, 2)), [r], [2])
    assert sg.tile(sg.tensor("v", "float64", (3,)), (2, 2)).type.shape == (2, 6)
    with pytest.raises(ValueError, match="reps must be >= 0"):
        sg.tile(sg.dvector(), (2, -1))
    with pytest.raises(TypeError, match="reps must be an int"):
        sg.tile(sg.dvector(), 1.5)


# ---------------------------------------------------------------- norm
VECTOR_ORDS = [None, 2, 1, np.inf, -np.inf, 0, 3, 0.5]


@pytest.mark.parametrize("ord", VECTOR_ORDS)
def test_vector_norms(rand, ord):
    v, m = rand("float64", (5,)), rand("float32", (3, 4))
    check_values(lambda u: sg.norm(u, ord), lambda u: np.linalg.norm(u, ord), [v])
    check_values(lambda u: sg.norm(u, ord, axis=1, keepdims=True),
                 lambda u: np.linalg.norm(u, ord, axis=1, keepdims=True), [m])
    check_values(lambda u: np.linalg.norm(u, ord, axis=0),
                 lambda u: np.linalg.norm(u, ord, axis=0), [m])
    if ord != 0:
        check_grad(lambda u: sg.norm(u, ord), [v])


@pytest.mark.parametrize("ord", [None, "fro", 1, -1, np.inf, -np.inf])
def test_matrix_norms(rand, ord):
    m, t = rand("float64", (3, 4)), rand("float64", (2, 3, 4))
    check_values(lambda u: sg.norm(u, ord), lambda u: np.linalg.norm(u, ord), [m])
    check_values(lambda u: sg.norm(u, ord, axis=(2, 0), keepdims=True),
                 lambda u: np.linalg.norm(u, ord, axis=(2, 0), keepdims=True), [t])
    check_grad(lambda u: sg.norm(u, ord, axis=(1, 2)), [t])


def test_norm_of_everything_ints_and_errors(rand):
    t, i = rand("float32", (2, 3, 4)), rand("int32", (3, 4))
    check_values(sg.norm, np.linalg.norm, [t])
    check_values(lambda u: sg.norm(u, keepdims=True),
                 lambda u: np.linalg.norm(u, keepdims=True), [t])
    check_values(lambda u: sg.norm(u, 1, axis=1), lambda u: np.linalg.norm(u, 1, axis=1), [i])
    check_values(sg.norm, np.linalg.norm, [np.zeros((0, 3))])
    check_grad(sg.norm, [t.astype("float64")])
    with pytest.raises(NotImplementedError, match="singular values"):
        sg.norm(sg.dmatrix(), 2)
    with pytest.raises(NotImplementedError, match="singular values"):
        sg.norm(sg.dmatrix(), "nuc")
    with pytest.raises(ValueError, match="is a matrix norm"):
        sg.norm(sg.dvector(), "fro")
    with pytest.raises(ValueError, match="is not a matrix norm"):
        sg.norm(sg.dmatrix(), 3)
    with pytest.raises(ValueError, match="needs a 1-d or 2-d tensor"):
        sg.norm(sg.dtensor3(), 1)
    with pytest.raises(ValueError, match="one or two axes"):
        sg.norm(sg.dtensor3(), axis=(0, 1, 2))
