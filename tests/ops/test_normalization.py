"""Batch normalization (the layer form with running statistics and the training flag,
Theano's functional and elementwise forms) and layer normalization: values against numpy
references on every backend, running statistics over several steps, gradients against
finite differences, empty batches, the kernels they compile to, errors."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from tests.checks import BACKENDS, check_grad, check_values, non_contiguous, sym_like, to_host

RNG = np.random.default_rng(7)


def np_normalize(x, axes, eps, mean=None, var=None):
    """``(x - mean) / sqrt(var + eps)`` in float64, with the batch's statistics unless
    given."""
    x = x.astype("float64")
    mean = x.mean(axis=axes, keepdims=True) if mean is None else mean
    var = x.var(axis=axes, keepdims=True) if var is None else var
    return (x - mean) / np.sqrt(var + eps)


def kept_shape(shape, axes):
    """The statistics' shape in the input's rank (1 on the normalized ``axes``)."""
    return tuple(1 if a in axes else n for a, n in enumerate(shape))


def params(shape, axes, dtype):
    """gamma and beta for an input of ``shape`` normalized over ``axes``, as the input's
    other axes (the compact layout)."""
    compact = tuple(n for a, n in enumerate(shape) if a not in axes)
    return (RNG.uniform(0.5, 2, compact).astype(dtype), RNG.normal(0, 1, compact).astype(dtype))


def stats(shape, axes, dtype):
    compact = tuple(n for a, n in enumerate(shape) if a not in axes)
    return (sg.shared(RNG.normal(0, 1, compact).astype(dtype), name="running_mean"),
            sg.shared(RNG.uniform(0.5, 2, compact).astype(dtype), name="running_var"))


# ------------------------------------------------------------------ layer normalization
LN_CASES = [((3, 5), -1), ((2, 3, 4), -1), ((2, 3, 4), (1, 2)), ((4, 3), 0), ((6,), 0),
            ((0, 4), -1)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,axis", LN_CASES, ids=str)
def test_layer_normalization_values(shape, axis, dtype):
    x = RNG.normal(2, 3, shape).astype(dtype)
    axes = sg.ops.shape.normalize_axes(axis, x.ndim)
    g = RNG.uniform(0.5, 2, [shape[a] for a in axes]).astype(dtype)
    b = RNG.normal(0, 1, g.shape).astype(dtype)
    full = [1 if a not in axes else n for a, n in enumerate(shape)]

    def ref(x, g, b):
        return (np_normalize(x, axes, 1e-5) * g.reshape(full) + b.reshape(full)).astype(dtype)
    check_values(lambda *v: sg.nnet.layer_normalization(*v, axis=axis), ref,
                 [non_contiguous(x) if x.size else x, g, b], rtol=1e-4 if dtype == "float32"
                 else 1e-10, atol=1e-5 if dtype == "float32" else 1e-12)


def test_layer_normalization_takes_full_rank_parameters():
    x = RNG.normal(0, 1, (3, 4))
    g, b = RNG.normal(0, 1, (1, 4)), RNG.normal(0, 1, (1, 4))
    check_values(sg.nnet.layer_normalization,
                 lambda x, g, b: np_normalize(x, (1,), 1e-5) * g + b, [x, g, b])


def test_layer_normalization_gradient():
    x, g, b = RNG.normal(0, 2, (3, 5)), RNG.uniform(0.5, 2, 5), RNG.normal(0, 1, 5)
    check_grad(sg.nnet.layer_normalization, [x, g, b])
    check_grad(lambda x, g, b: sg.nnet.layer_normalization(x, g, b, axis=(1, 2)),
               [RNG.normal(0, 2, (2, 3, 2)), RNG.uniform(0.5, 2, (3, 2)),
                RNG.normal(0, 1, (3, 2))], backends=["llvm"])


# ------------------------------------------------------------------- batch normalization
BN_CASES = [((6, 4), "per-activation", (0,)), ((3, 2, 4, 5), "spatial", (0, 2, 3)),
            ((4, 3, 5), (0, 2), (0, 2)), ((5, 3, 2), "per-activation", (0,))]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,axes,ax", BN_CASES, ids=str)
def test_batch_normalization_training_and_inference_values(shape, axes, ax, dtype):
    """The training function normalizes with the batch's statistics and moves the
    running ones; the prediction function normalizes with the running ones and does not
    move them; both on every backend."""
    x = RNG.normal(1, 2, shape).astype(dtype)
    g, b = params(shape, ax, dtype)
    full = kept_shape(shape, ax)
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for backend in BACKENDS:
        rm, rv = stats(shape, ax, dtype)
        m0, v0 = rm.get_value(), rv.get_value()
        xs = sym_like(x, "x")
        y = sg.nnet.batch_normalization(xs, g, b, rm, rv, axes=axes, momentum=0.2,
                                        epsilon=1e-3)
        train = sg.function([xs], y, backend=backend)
        predict = sg.function([xs], y, training=False, backend=backend)
        got = to_host(train(x))
        assert got.dtype == dtype and got.shape == shape
        want = np_normalize(x, ax, 1e-3) * g.reshape(full) + b.reshape(full)
        np.testing.assert_allclose(got, want, **tol, err_msg=backend)
        n = x.size // int(np.prod([shape[a] for a in range(len(shape)) if a not in ax]))
        np.testing.assert_allclose(rm.get_value(), 0.8 * m0 + 0.2 * x.mean(axis=ax), **tol)
        np.testing.assert_allclose(rv.get_value(),
                                   0.8 * v0 + 0.2 * x.var(axis=ax) * n / (n - 1), **tol)
        m1, v1 = rm.get_value(), rv.get_value()
        got = to_host(predict(non_contiguous(x)))
        want = np_normalize(x, ax, 1e-3, m1.reshape(full), v1.reshape(full)) * \
            g.reshape(full) + b.reshape(full)
        np.testing.assert_allclose(got, want, **tol, err_msg=backend)
        assert (rm.get_value() == m1).all() and (rv.get_value() == v1).all()


@pytest.mark.parametrize("backend", BACKENDS)
def test_running_statistics_over_three_steps(backend):
    """Three training steps (the batch size changing) against PyTorch's convention: new
    = (1 - momentum) * old + momentum * batch, the unbiased batch variance; a prediction
    call in between moves nothing."""
    layer = sg.nnet.BatchNorm(3, axes="spatial", momentum=0.3, dtype="float64")
    x = sg.dtensor4("x")
    y = layer(x)
    train, predict = (sg.function([x], y, backend=backend),
                      sg.function([x], y, training=False, backend=backend))
    m, v = np.zeros(3), np.ones(3)
    for step, n in enumerate((2, 3, 1)):
        batch = RNG.normal(step, 1 + step, (n, 3, 2, 2))
        train(batch)
        predict(batch)
        k = n * 4
        m = 0.7 * m + 0.3 * batch.mean(axis=(0, 2, 3))
        v = 0.7 * v + 0.3 * batch.var(axis=(0, 2, 3)) * k / (k - 1)
        np.testing.assert_allclose(layer.running_mean.get_value(), m, rtol=1e-12)
        np.testing.assert_allclose(layer.running_var.get_value(), v, rtol=1e-12)
    assert [p.name for p in layer.params] == ["gamma", "beta"]


def test_fixed_forms_and_a_flag_switched_at_run_time():
    x = RNG.normal(3, 2, (5, 2))
    xs = sg.dmatrix("x")
    g, b = np.array([1.0, 2.0]), np.array([0.5, -0.5])
    rm, rv = sg.shared(np.array([1.0, -1.0])), sg.shared(np.array([4.0, 0.25]))
    infer = sg.nnet.batch_normalization(xs, g, b, rm, rv, training=False)
    assert rm.default_update is None      # the inference form moves nothing
    want_infer = (x - rm.get_value()) / np.sqrt(rv.get_value() + 1e-5) * g + b
    np.testing.assert_allclose(sg.function([xs], infer)(x), want_infer, rtol=1e-12)
    # training=True: the batch's statistics even in a function compiled with training=False
    m_old = rm.get_value()
    fixed = sg.nnet.batch_normalization(xs, g, b, rm, rv, training=True, momentum=0.5)
    got = sg.function([xs], fixed, training=False)(x)
    np.testing.assert_allclose(got, np_normalize(x, (0,), 1e-5) * g + b, rtol=1e-10)
    np.testing.assert_allclose(rm.get_value(), 0.5 * m_old + 0.5 * x.mean(0), rtol=1e-12)
    # a symbolic flag: one function, both forms
    rm.default_update = rv.default_update = None
    flag = sg.shared(True, name="flag")
    y = sg.nnet.batch_normalization(xs, g, b, rm, rv, training=flag)
    f = sg.function([xs], y)
    m1 = rm.get_value()
    np.testing.assert_allclose(f(x), np_normalize(x, (0,), 1e-5) * g + b, rtol=1e-10)
    assert not np.allclose(rm.get_value(), m1)
    flag.set_value(False)
    m2, v2 = rm.get_value(), rv.get_value()
    np.testing.assert_allclose(f(x), (x - m2) / np.sqrt(v2 + 1e-5) * g + b, rtol=1e-12)
    assert (rm.get_value() == m2).all() and (rv.get_value() == v2).all()


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_theano_functional_forms(dtype):
    x = RNG.normal(2, 3, (4, 3, 2, 2)).astype(dtype)
    g, b = params(x.shape, (0, 2, 3), dtype)
    rm, rv = np.zeros(3, dtype), np.ones(3, dtype)
    xs, gs, bs = sg.tensor4("x", dtype), sg.tensor("g", dtype, (None,)), \
        sg.tensor("b", dtype, (None,))
    rms, rvs = sg.tensor("rm", dtype, (None,)), sg.tensor("rv", dtype, (None,))
    outs = sg.nnet.bn.batch_normalization_train(xs, gs, bs, "spatial", 1e-4, 0.25, rms, rvs)
    test = sg.nnet.batch_normalization_test(xs, gs, bs, rms, rvs, "spatial")
    elem = sg.nnet.bn.batch_normalization(xs, gs.dimshuffle("x", 0, "x", "x"),
                                          bs.dimshuffle("x", 0, "x", "x"),
                                          xs.mean((0, 2, 3), keepdims=True),
                                          xs.std((0, 2, 3), keepdims=True))
    # without running statistics: three results, in gamma's layout (full rank here)
    three = sg.nnet.batch_normalization_train(xs, gs.dimshuffle("x", 0, "x", "x"),
                                              bs.dimshuffle("x", 0, "x", "x"), "spatial")
    assert len(three) == 3 and three[1].ndim == 4
    f = sg.function([xs, gs, bs, rms, rvs], [*outs, test, elem, *three])
    out, mean, invstd, new_m, new_v, t, e, out3, mean3, invstd3 = f(x, g, b, rm, rv)
    np.testing.assert_array_equal(out3, out)
    assert mean3.shape == (1, 3, 1, 1) and (mean3.ravel() == mean).all()
    ax, full = (0, 2, 3), (1, 3, 1, 1)
    tol = dict(rtol=2e-5, atol=2e-5) if dtype == "float32" else dict(rtol=1e-10)
    np.testing.assert_allclose(out, np_normalize(x, ax, 1e-4) * g.reshape(full) +
                               b.reshape(full), **tol)
    assert mean.shape == invstd.shape == (3,) and out.dtype == dtype
    np.testing.assert_allclose(mean, x.mean(axis=ax), **tol)
    np.testing.assert_allclose(invstd, 1 / np.sqrt(x.var(axis=ax) + 1e-4), **tol)
    np.testing.assert_allclose(new_m, 0.25 * x.mean(axis=ax), **tol)
    np.testing.assert_allclose(new_v, 0.75 + 0.25 * x.var(axis=ax, ddof=1), **tol)
    np.testing.assert_allclose(t, (x - 0) / np.sqrt(1 + 1e-4) * g.reshape(full) +
                               b.reshape(full), **tol)
    np.testing.assert_allclose(e, np_normalize(x, ax, 0) * g.reshape(full) +
                               b.reshape(full), **tol)


def test_statistics_of_the_input_rank_keep_their_layout():
    """gamma, beta and the running statistics as (1, C, 1, 1), declared broadcastable:
    the same values, and the running statistics keep their shape."""
    x = RNG.normal(1, 2, (3, 2, 2, 2))
    bc = (True, False, True, True)
    rm, rv = sg.shared(np.zeros((1, 2, 1, 1)), broadcastable=bc), \
        sg.shared(np.ones((1, 2, 1, 1)), broadcastable=bc)
    g, b = np.full((1, 2, 1, 1), 2.0), np.full((1, 2, 1, 1), 0.5)
    xs = sg.dtensor4("x")
    y = sg.nnet.batch_normalization(xs, g, b, rm, rv, axes="spatial")
    got = sg.function([xs], y)(x)
    np.testing.assert_allclose(got, np_normalize(x, (0, 2, 3), 1e-5) * 2 + 0.5, rtol=1e-10)
    assert rm.get_value().shape == (1, 2, 1, 1)
    np.testing.assert_allclose(rm.get_value(), 0.1 * x.mean(axis=(0, 2, 3), keepdims=True))


def test_gradients_of_the_training_and_inference_forms():
    """verify_grad w.r.t. x, gamma and beta of the training form (per-activation and
    spatial), the inference form and Theano's functional form."""
    def training(axes):
        def fn(x, g, b):
            rm, rv = sg.shared(np.zeros(3)), sg.shared(np.ones(3))
            return sg.nnet.batch_normalization(x, g, b, rm, rv, axes=axes, training=True)
        return fn
    check_grad(training("per-activation"),
               [RNG.normal(1, 2, (5, 3)), RNG.uniform(0.5, 2, 3), RNG.normal(0, 1, 3)])
    check_grad(training("spatial"), [RNG.normal(1, 2, (2, 3, 2, 2)),
                                     RNG.uniform(0.5, 2, 3), RNG.normal(0, 1, 3)],
               backends=["llvm"])
    rm, rv = sg.shared(np.array([0.5, -1.0, 2.0])), sg.shared(np.array([1.0, 2.0, 0.5]))
    check_grad(lambda x, g, b: sg.nnet.batch_normalization(x, g, b, rm, rv, training=False),
               [RNG.normal(1, 2, (4, 3)), RNG.uniform(0.5, 2, 3), RNG.normal(0, 1, 3)],
               backends=["llvm"])
    check_grad(lambda x, g, b: sg.nnet.batch_normalization_train(x, g, b)[0],
               [RNG.normal(1, 2, (4, 3)), RNG.uniform(0.5, 2, 3), RNG.normal(0, 1, 3)],
               backends=["numpy"])


def test_gradient_of_a_training_function_follows_the_flag():
    """With the flag read, a training function's gradient is the training form's, and a
    prediction function's the inference form's (fine-tuning with frozen statistics)."""
    x = RNG.normal(1, 2, (5, 3))
    xs, gs = sg.dmatrix("x"), sg.dvector("g")
    rm, rv = sg.shared(np.array([0.5, -1.0, 2.0])), sg.shared(np.array([1.0, 2.0, 0.5]))
    y = sg.nnet.batch_normalization(xs, gs, np.zeros(3), rm, rv)
    cost = (y * np.arange(15.0).reshape(5, 3)).sum()
    gx = sg.grad(cost, xs)
    g = np.array([1.0, 2.0, 3.0])
    infer_gx = sg.function([xs, gs], gx, training=False)(x, g)
    np.testing.assert_allclose(infer_gx, np.arange(15.0).reshape(5, 3) * g /
                               np.sqrt(rv.get_value() + 1e-5), rtol=1e-12)
    yt = sg.nnet.batch_normalization_train(xs, gs, np.zeros(3), epsilon=1e-5)[0]
    want = sg.function([xs, gs], sg.grad((yt * np.arange(15.0).reshape(5, 3)).sum(), xs))
    np.testing.assert_allclose(sg.function([xs, gs], gx)(x, g), want(x, g), rtol=1e-10)


def test_training_graph_reads_no_running_statistic_but_to_update_them():
    """The flag picks the statistics (not the output), so a training step's gradient
    computes nothing of the inference branch: the running statistics are read only by
    their updates; layer normalization's forward is one kernel."""
    x, gy = sg.fmatrix("x"), sg.fmatrix("gy")
    layer = sg.nnet.BatchNorm(4)
    y = layer(x)
    step = sg.function([x, gy], [y, *sg.grad((y * gy).sum(), [x, *layer.params])])
    readers = [n for n in step.nodes if any(i is layer.running_mean or i is layer.running_var
                                            for i in n.inputs)]
    assert len(readers) == 2 and all("where" in str(n.op) for n in readers)
    ln = sg.function([x], sg.nnet.layer_normalization(x, layer.gamma, layer.beta))
    assert [str(n.op).startswith("fused") for n in ln.nodes].count(True) == 1


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_and_single_element_batches(backend):
    """A batch of no elements gives an empty output and leaves the running statistics as
    they are (PyTorch's behaviour); one of one element per statistic makes the running
    variance NaN (0 * n / (n - 1); PyTorch refuses it)."""
    layer = sg.nnet.BatchNorm(3, dtype="float64")
    x = sg.dmatrix("x")
    train = sg.function([x], layer(x), backend=backend)
    out = to_host(train(np.zeros((0, 3))))
    assert out.shape == (0, 3)
    assert (layer.running_mean.get_value() == 0).all()
    assert (layer.running_var.get_value() == 1).all()
    out = to_host(train(np.array([[1.0, 2.0, 3.0]])))
    np.testing.assert_array_equal(out, np.zeros((1, 3)))
    np.testing.assert_allclose(layer.running_mean.get_value(), [0.1, 0.2, 0.3])
    assert np.isnan(layer.running_var.get_value()).all()


def test_errors_say_what_was_expected():
    x = sg.fmatrix("x")
    g, b = sg.fvector("g"), sg.fvector("b")
    rm, rv = sg.shared(np.zeros(3, "float32")), sg.shared(np.ones(3, "float32"))
    bn = sg.nnet.batch_normalization
    with pytest.raises(TypeError, match="must be a shared variable.*bn.batch_normalization"):
        bn(x, g, b, x.mean(0), x.std(0))
    with pytest.raises(TypeError, match="float tensor, got.*int32"):
        bn(sg.imatrix("i"), g, b, rm, rv)
    with pytest.raises(ValueError, match="gamma.*must have rank 1 .*or 2"):
        bn(x, sg.ftensor3("g3"), b, rm, rv)
    with pytest.raises(TypeError, match=r"axes \(0,\) must be declared broadcastable"):
        bn(x, sg.fmatrix("g2"), b, rm, rv)
    with pytest.raises(ValueError, match="'per-activation', 'spatial' or a tuple"):
        bn(x, g, b, rm, rv, axes="channel")
    with pytest.raises(ValueError, match="axes is empty"):
        bn(x, g, b, rm, rv, axes=())
    with pytest.raises(ValueError, match="momentum must be a number in"):
        bn(x, g, b, rm, rv, momentum=1.5)
    with pytest.raises(TypeError, match="training must be True, False, a bool scalar"):
        bn(x, g, b, rm, rv, training=sg.fscalar("t"))
    bn(x, g, b, rm, rv)
    with pytest.raises(ValueError, match="has a default update already"):
        bn(x * 2, g, b, rm, rv)
    rm.default_update = rv.default_update = None      # rebuilding the graph: allowed
    bn(x, g, b, rm, rv)
    with pytest.raises(ValueError, match="running_mean and running_var both or neither"):
        sg.nnet.batch_normalization_train(x, g, b, running_mean=rm)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        sg.nnet.layer_normalization(x, g, b, axis=2)
    with pytest.raises(ValueError, match="mode must be 'low_mem' or 'high_mem'"):
        sg.nnet.bn.batch_normalization(x, g, b, g, g, mode="fast")
