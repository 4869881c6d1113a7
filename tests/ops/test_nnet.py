"""softmax, log_softmax, the cross-entropies, pick and the activations of sg.nnet: values
against numpy references, gradients against finite differences, stability, errors."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from tests.checks import check_grad, check_values, non_contiguous

RNG = np.random.default_rng(1)


def np_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """The stable reference (as scipy.special.softmax): shift by the finite maximum."""
    x = x.astype(np.result_type(x, np.float32) if x.dtype.kind == "f" else "float64")
    if x.size == 0:
        return x
    m = np.max(x, axis=axis, keepdims=True)
    e = np.exp(x - np.where(np.isfinite(m), m, 0))
    return e / e.sum(axis=axis, keepdims=True)


def np_log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    x = x.astype(np.result_type(x, np.float32) if x.dtype.kind == "f" else "float64")
    if x.size == 0:
        return x
    m = np.max(x, axis=axis, keepdims=True)
    s = x - np.where(np.isfinite(m), m, 0)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


CASES = [((5,), -1), ((3, 4), -1), ((3, 4), 0), ((2, 3, 4), 1), ((2, 3, 4), 0),
         ((0, 3), 1), ((3, 0), 1), ((1, 4), -1)]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape,axis", CASES, ids=str)
def test_softmax_values(shape, axis, dtype):
    x = RNG.normal(0, 3, shape).astype(dtype)
    check_values(lambda v: sg.softmax(v, axis), lambda v: np_softmax(v, axis), [x])
    check_values(lambda v: sg.log_softmax(v, axis), lambda v: np_log_softmax(v, axis), [x])
    check_values(lambda v: sg.nnet.softmax(v, axis=axis), lambda v: np_softmax(v, axis),
                 [non_contiguous(x)])


def test_softmax_of_integers_computes_in_float():
    x = RNG.integers(-3, 4, (3, 4)).astype("int32")
    check_values(sg.softmax, np_softmax, [x])
    check_values(sg.log_softmax, np_log_softmax, [x])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_large_logits_stay_finite(dtype):
    x = np.array([[1e4, 1e4 - 1, -1e4], [-1e4, -1e4, -1e4 + 2]], dtype)
    v = sg.tensor("v", dtype, (None, None))
    sm, lsm = sg.function([v], [sg.softmax(v), sg.log_softmax(v)])(x)
    assert np.isfinite(sm).all() and np.isfinite(lsm).all()
    np.testing.assert_allclose(sm, np_softmax(x.astype("float64")), rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(lsm, np_log_softmax(x.astype("float64")), rtol=1e-6)


def test_rows_of_minus_inf_like_the_stable_reference():
    x = np.array([[-np.inf, -np.inf, -np.inf], [0.0, -np.inf, 1.0], [np.inf, 0.0, 1.0],
                  [2.0, 3.0, 4.0]])
    check_values(sg.softmax, np_softmax, [x])
    check_values(sg.log_softmax, np_log_softmax, [x])
    sm = sg.softmax(sg.dmatrix("x"))
    got = sm.eval({sm.owner.inputs[0]: x})
    assert np.isnan(got[0]).all()
    np.testing.assert_allclose(got[1], [1 / (1 + np.e), 0.0, np.e / (1 + np.e)], rtol=1e-15)


@pytest.mark.parametrize("shape,axis", [c for c in CASES if 0 not in c[0]], ids=str)
def test_softmax_grads(shape, axis):
    x = RNG.normal(0, 2, shape)
    check_grad(lambda v: sg.softmax(v, axis), [x])
    check_grad(lambda v: sg.log_softmax(v, axis), [x])


def probs(shape) -> np.ndarray:
    return np_softmax(RNG.normal(0, 1, shape))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_crossentropy_one_hot_and_soft_targets(dtype):
    p = probs((5, 4)).astype(dtype)
    labels = RNG.integers(0, 4, 5)
    one_hot = np.eye(4, dtype=dtype)[labels]
    ref = lambda p, t: -(t * np.log(p)).sum(axis=-1)  # noqa: E731
    check_values(sg.categorical_crossentropy, ref, [p, one_hot])
    check_values(sg.nnet.crossentropy_categorical_1hot, ref, [p, probs((5, 4)).astype(dtype)])
    check_values(sg.categorical_crossentropy, ref, [p[0], one_hot[0]])
    check_grad(sg.categorical_crossentropy, [p, one_hot])
    check_grad(sg.categorical_crossentropy, [p, probs((5, 4))])


@pytest.mark.parametrize("label_dtype", ["int64", "int32", "uint8", "int8"])
def test_crossentropy_integer_labels(label_dtype):
    p = probs((6, 5))
    labels = RNG.integers(0, 5, 6).astype(label_dtype)
    check_values(sg.categorical_crossentropy, lambda p, t: -np.log(p[np.arange(6), t]),
                 [p, labels])
    check_values(sg.categorical_crossentropy, lambda p, t: -np.log(p[np.arange(6), t]),
                 [p.astype("float32"), labels])
    check_values(sg.categorical_crossentropy, lambda p, t: -np.log(p[t]), [p[0], labels[0]])
    p3, l3 = probs((2, 3, 4)), RNG.integers(0, 4, (2, 3)).astype(label_dtype)
    check_values(sg.categorical_crossentropy,
                 lambda p, t: -np.log(np.take_along_axis(p, t[..., None], -1)[..., 0]),
                 [non_contiguous(p3), l3])
    check_values(sg.categorical_crossentropy, lambda p, t: -np.log(p[np.arange(0), t]),
                 [probs((0, 5)), labels[:0]])
    const = sg.constant(labels)
    check_grad(lambda q: sg.categorical_crossentropy(q, const), [p])
    check_grad(lambda q: sg.categorical_crossentropy(q, sg.constant(l3)), [p3])


def test_label_grad_matches_one_hot_grad_and_second_order():
    p = probs((4, 3))
    labels = np.array([0, 2, 2, 1])
    q, t = sg.dmatrix("q"), sg.lvector("t")
    g_labels = sg.grad(sg.categorical_crossentropy(q, t).sum(), q)
    g_dense = sg.grad(sg.categorical_crossentropy(q, sg.constant(np.eye(3)[labels])).sum(), q)
    f = sg.function([q, t], [g_labels, g_dense])
    a, b = f(p, labels)
    np.testing.assert_allclose(a, b, rtol=1e-12)
    # softmax then cross-entropy: the gradient w.r.t. the logits is softmax - one_hot
    z = sg.dmatrix("z")
    gz = sg.grad(sg.categorical_crossentropy(sg.softmax(z), t).sum(), z)
    logits = RNG.normal(0, 1, (4, 3))
    np.testing.assert_allclose(sg.function([z, t], gz)(logits, labels),
                               np_softmax(logits) - np.eye(3)[labels], atol=1e-12)
    # the gradient of the gradient goes through PickGrad's own gradient
    c = sg.constant(labels)
    check_grad(lambda v: sg.grad((sg.categorical_crossentropy(v, c) ** 2).sum(), v), [p])


def test_label_errors():
    p, t = sg.dmatrix("p"), sg.lvector("t")
    f = sg.function([p, t], sg.categorical_crossentropy(p, t))
    with pytest.raises(IndexError) as e:
        f(probs((3, 4)), np.array([0, 4, 1]))
    msg = str(e.value)
    assert "label 4 at position (1,) is out of range for 4 classes" in msg, msg
    assert "built at" in msg and __file__ in msg, msg
    with pytest.raises(IndexError, match="label -1 at position"):
        f(probs((3, 4)), np.array([0, 1, -1]))
    with pytest.raises(ValueError, match=r"labels of shape \(2,\) do not match values of "
                                         r"shape \(3, 4\)"):
        f(probs((3, 4)), np.array([0, 1]))
    with pytest.raises(TypeError, match=r"axis 0 has sizes 3 and 2.*\n  built at .*test_nnet"):
        sg.categorical_crossentropy(sg.tensor("p", "float64", (3, 4)),
                                    sg.tensor("t", "int64", (2,)))
    with pytest.raises(TypeError, match="fit neither form"):
        sg.categorical_crossentropy(p, sg.dvector("t"))
    with pytest.raises(TypeError, match="labels must be integers"):
        sg.nnet.pick(p, sg.dvector("t"))


def test_binary_crossentropy():
    o = RNG.uniform(0.05, 0.95, (3, 4))
    t = RNG.integers(0, 2, (3, 4)).astype("float64")
    ref = lambda o, t: -(t * np.log(o) + (1 - t) * np.log(1 - o))  # noqa: E731
    check_values(sg.binary_crossentropy, ref, [o, t])
    check_values(sg.binary_crossentropy, ref, [o.astype("float32"), t.astype("float32")])
    check_grad(sg.binary_crossentropy, [o, RNG.uniform(0, 1, (3, 4))])
    x = RNG.normal(0, 2, (3, 4))
    check_values(sg.nnet.sigmoid_binary_crossentropy,
                 lambda x, t: ref(1 / (1 + np.exp(-x)), t), [x, t], rtol=1e-10)
    check_grad(sg.nnet.sigmoid_binary_crossentropy, [x, t])
    v = sg.dvector("v")
    big = sg.nnet.sigmoid_binary_crossentropy(v, np.array([1.0, 0.0])).eval({v: [-800.0, 800]})
    np.testing.assert_allclose(big, [800.0, 800.0])


def test_activations():
    x = RNG.normal(0, 2, (3, 4))
    x[np.abs(x) < 0.05] = 0.3          # keep finite differences off the kinks
    check_values(sg.nnet.relu, lambda v: np.maximum(v, 0), [x])
    check_values(lambda v: sg.nnet.relu(v, 0.1), lambda v: np.where(v > 0, v, 0.1 * v), [x])
    check_values(sg.nnet.elu, lambda v: np.where(v > 0, v, np.expm1(v)), [x])
    check_values(sg.nnet.softsign, lambda v: v / (1 + np.abs(v)), [x])
    check_values(sg.nnet.hard_sigmoid, lambda v: np.clip(0.2 * v + 0.5, 0, 1), [x])
    check_values(sg.nnet.sigmoid, lambda v: 1 / (1 + np.exp(-v)), [x], rtol=1e-12)
    check_values(sg.nnet.softplus, lambda v: np.log1p(np.exp(v)), [x], rtol=1e-12)
    for fn in (sg.nnet.relu, lambda v: sg.nnet.relu(v, 0.1), sg.nnet.elu, sg.nnet.softsign,
               sg.nnet.sigmoid, sg.nnet.softplus):
        check_grad(fn, [x])
    check_grad(sg.nnet.hard_sigmoid, [x * (np.abs(x) < 2.4)])


def test_theano_namespace():
    names = ["sigmoid", "softmax", "log_softmax", "logsoftmax", "relu", "softplus",
             "categorical_crossentropy", "binary_crossentropy",
             "crossentropy_categorical_1hot", "sigmoid_binary_crossentropy", "elu",
             "softsign", "hard_sigmoid"]
    for n in names:
        assert callable(getattr(sg.nnet, n)), n
    assert sg.nnet.softmax is sg.softmax and sg.nnet.sigmoid is sg.sigmoid
    x = sg.fmatrix("x")
    assert sg.softmax(x).type == x.type and sg.log_softmax(x, axis=0).type == x.type
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        sg.softmax(x, axis=2)


# ---------------------------------------------------------------- Lasagne-style losses
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_mse_is_the_squared_error_per_element(dtype):
    p, t = RNG.normal(0, 2, (3, 4)).astype(dtype), RNG.normal(0, 2, (4,)).astype(dtype)
    check_values(sg.nnet.mse, lambda p, t: (p - t) ** 2, [p, t])            # broadcast
    check_values(sg.nnet.squared_error, lambda p, t: (p - t) ** 2, [non_contiguous(p), p])
    check_values(sg.nnet.mse, lambda p, t: (p - t) ** 2, [p[:0], p[:0]], backends=["numpy"])
    check_grad(sg.nnet.mse, [p, np.tile(t, (3, 1))])


def np_huber(p, t, delta):
    d = np.abs(p - t)
    return np.where(d <= delta, 0.5 * d ** 2, delta * (d - 0.5 * delta))


@pytest.mark.parametrize("delta", [1.0, 0.5])
def test_huber_like_lasagne(delta):
    p, t = RNG.normal(0, 2, (3, 4)), RNG.normal(0, 2, (3, 4))
    d = np.abs(p - t)
    p[np.abs(d - delta) < 0.05] += 0.2          # finite differences off |d| = delta
    check_values(lambda p, t: sg.nnet.huber(p, t, delta), lambda p, t: np_huber(p, t, delta),
                 [p, t])
    check_values(lambda p, t: sg.nnet.huber_loss(p, t, delta),
                 lambda p, t: np_huber(p, t, delta).astype("float32"),
                 [p.astype("float32"), t.astype("float32")])
    check_grad(lambda p, t: sg.nnet.huber(p, t, delta), [p, t])
    big = sg.dvector("big")
    loss = sg.nnet.huber(big, 0.0, delta)
    value, grad = sg.function([big], [loss, sg.grad(loss.sum(), big)])(np.array([-1e4, 1e4]))
    np.testing.assert_allclose(value, delta * (1e4 - delta / 2))
    np.testing.assert_array_equal(grad, [-delta, delta])


def test_hinge_takes_either_target_convention():
    s = RNG.normal(0, 2, (3, 4))
    y01 = RNG.integers(0, 2, (3, 4))
    s[np.abs(np.abs(s) - 1) < 0.05] = 0.5       # off the kink at y * s = 1
    ref = lambda s, t: np.maximum(0, 1 - s * np.where(t > 0, 1, -1))  # noqa: E731
    check_values(sg.nnet.hinge, ref, [s, y01.astype("float64")])
    check_values(sg.nnet.hinge, ref, [s, (2 * y01 - 1).astype("int8")])
    check_values(lambda s, t: sg.nnet.hinge(s, t, delta=2.0),
                 lambda s, t: np.maximum(0, 2 - s * np.where(t > 0, 1, -1)).astype("float32"),
                 [s.astype("float32"), y01.astype("float32")])
    check_grad(lambda v: sg.nnet.hinge(v, sg.constant(y01)), [s])


def np_multiclass_hinge(p, labels, delta=1.0):
    correct = np.take_along_axis(p, labels[..., None], -1)[..., 0]
    others = np.where(np.eye(p.shape[-1], dtype=bool)[labels], -np.inf, p).max(-1)
    return np.maximum(0, others - correct + delta)


def test_multiclass_hinge_loss_like_lasagne():
    p, labels = RNG.normal(0, 1, (6, 4)), RNG.integers(0, 4, 6)
    check_values(sg.nnet.multiclass_hinge_loss, np_multiclass_hinge, [p, labels])
    check_values(sg.nnet.multiclass_hinge_loss, lambda p, t: np_multiclass_hinge(p, t.argmax(-1)),
                 [p, np.eye(4)[labels]])
    check_values(lambda p, t: sg.nnet.multiclass_hinge_loss(p, t, delta=0.5),
                 lambda p, t: np_multiclass_hinge(p, t, 0.5).astype("float32"),
                 [p.astype("float32"), labels.astype("int32")])
    p3, l3 = RNG.normal(0, 1, (2, 3, 5)), RNG.integers(0, 5, (2, 3))
    check_values(sg.nnet.multiclass_hinge_loss, np_multiclass_hinge, [non_contiguous(p3), l3])
    check_grad(lambda v: sg.nnet.multiclass_hinge_loss(v, sg.constant(labels)), [p])
    check_grad(lambda v: sg.nnet.multiclass_hinge_loss(v, sg.constant(np.eye(4)[labels])), [p])
    f = sg.function([q := sg.dmatrix("q"), t := sg.lvector("t")],
                    sg.nnet.multiclass_hinge_loss(q, t))
    with pytest.raises(IndexError, match="out of range for 4 classes"):
        f(p[:2], np.array([0, 4]))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_binary_crossentropy_with_logits_is_stable(dtype):
    z = np.array([-1e4, -800.0, -30.0, -1.0, 0.0, 1.0, 30.0, 800.0, 1e4], dtype)
    t = np.array([1.0, 0.0, 1.0, 0.0, 1.0, 0.5, 0.0, 1.0, 0.0], dtype)
    v, w = sg.tensor("v", dtype, (None,)), sg.tensor("w", dtype, (None,))
    loss = sg.nnet.binary_crossentropy_with_logits(v, w)
    assert sg.nnet.sigmoid_binary_crossentropy is sg.nnet.binary_crossentropy_with_logits
    zz = z.astype("float64")
    want = t * np.logaddexp(0, -zz) + (1 - t) * np.logaddexp(0, zz)
    want_grad = np.exp(-np.logaddexp(0, -zz)) - t                    # sigmoid(z) - t
    for backend in ["numpy", "llvm"]:
        value, grad = sg.function([v, w], [loss, sg.grad(loss.sum(), v)], backend=backend)(z, t)
        assert value.dtype == dtype and np.isfinite(value).all() and np.isfinite(grad).all()
        np.testing.assert_allclose(value, want, rtol=1e-6 if dtype == "float32" else 1e-12)
        np.testing.assert_allclose(grad, want_grad, rtol=1e-6, atol=1e-7)


# ---------------------------------------------------------------- label smoothing
def np_smoothed_xent(log_p, targets, eps):
    """Labels (one axis less) become one-hot rows; targets become (1 - eps) t + eps / k."""
    k = log_p.shape[-1]
    t = np.eye(k)[targets] if targets.ndim < log_p.ndim else targets
    return -(((1 - eps) * t + eps / k) * log_p).sum(axis=-1)


@pytest.mark.parametrize("eps", [0.0, 0.1])
def test_categorical_crossentropy_label_smoothing(eps):
    p, labels = probs((5, 4)), RNG.integers(0, 4, 5)
    onehot = np.eye(4)[labels]
    fn = lambda p, t: sg.categorical_crossentropy(p, t, label_smoothing=eps)  # noqa: E731
    ref = lambda p, t: np_smoothed_xent(np.log(p), t, eps)  # noqa: E731
    check_values(fn, ref, [p, labels])
    check_values(fn, ref, [p, onehot])
    check_values(fn, lambda p, t: ref(p, t).astype("float32"),
                 [p.astype("float32"), labels.astype("int32")])
    check_values(fn, ref, [non_contiguous(probs((2, 3, 4))), RNG.integers(0, 4, (2, 3))])
    check_grad(lambda q: fn(q, sg.constant(labels)), [p])
    check_grad(fn, [p, onehot])


@pytest.mark.parametrize("eps", [0.0, 0.2])
def test_softmax_crossentropy_with_logits(eps):
    z, labels = RNG.normal(0, 3, (5, 4)), RNG.integers(0, 4, 5)
    fn = lambda z, t: sg.nnet.softmax_crossentropy_with_logits(z, t, eps)  # noqa: E731
    ref = lambda z, t: np_smoothed_xent(np_log_softmax(z), t, eps)  # noqa: E731
    check_values(fn, ref, [z, labels])
    check_values(fn, ref, [z, np.eye(4)[labels]])
    check_values(fn, ref, [z, probs((5, 4))])                                # soft targets
    check_values(fn, lambda z, t: ref(z, t).astype("float32"),
                 [z.astype("float32"), labels.astype("uint8")])
    check_values(fn, ref, [non_contiguous(RNG.normal(0, 1, (2, 3, 4))), RNG.integers(0, 4, (2, 3))])
    check_values(fn, ref, [np.zeros((0, 4)), labels[:0]], backends=["numpy"])
    check_grad(lambda v: fn(v, sg.constant(labels)), [z])
    check_grad(fn, [z, probs((5, 4))])


LABELS3 = np.array([1, 0, 2])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("how", ["logits", "softmax then probabilities"])
def test_smoothed_cross_entropy_of_large_logits_is_finite(how, dtype):
    big = np.array([[1e4, 0.0, -1e4], [0.0, 1e4, 0.0], [1.0, 2.0, 3.0]], dtype)
    z, t = sg.tensor("z", dtype, (None, None)), sg.lvector("t")
    loss = (sg.nnet.softmax_crossentropy_with_logits(z, t, 0.1) if how == "logits" else
            sg.categorical_crossentropy(sg.softmax(z), t, label_smoothing=0.1)).sum()
    value, grad = sg.function([z, t], [loss, sg.grad(loss, z)])(big, LABELS3)
    log_p = np_log_softmax(big.astype("float64"))
    q = 0.9 * np.eye(3)[LABELS3] + 0.1 / 3
    np.testing.assert_allclose(value, np_smoothed_xent(log_p, LABELS3, 0.1).sum(), rtol=1e-6)
    np.testing.assert_allclose(grad, np.exp(log_p) - q, atol=1e-6)



def test_loss_errors():
    p, t = sg.dmatrix("p"), sg.lvector("t")
    for bad in (1.0, -0.1, "0.1", True):
        with pytest.raises(ValueError, match=r"categorical_crossentropy: label_smoothing must "
                                             r"be a number in \[0, 1\), got "):
            sg.categorical_crossentropy(p, t, label_smoothing=bad)
    with pytest.raises(ValueError, match="softmax_crossentropy_with_logits: label_smoothing"):
        sg.nnet.softmax_crossentropy_with_logits(p, t, 1.5)
    with pytest.raises(TypeError, match=r"softmax_crossentropy_with_logits: targets "
                                        r"float64\(\?,\) fit neither form for scores "
                                        r"float64\(\?, \?\).*\n  built at .*test_nnet"):
        sg.nnet.softmax_crossentropy_with_logits(p, sg.dvector("t"))
    with pytest.raises(TypeError, match="multiclass_hinge_loss: targets .* fit neither form"):
        sg.nnet.multiclass_hinge_loss(p, sg.dtensor3("t"))
    with pytest.raises(ValueError, match="huber: delta must be positive, got 0"):
        sg.nnet.huber(p, p, delta=0)


def test_loss_names():
    for name in ("mse", "squared_error", "huber", "huber_loss", "hinge",
                 "multiclass_hinge_loss", "binary_crossentropy_with_logits",
                 "softmax_crossentropy_with_logits"):
        assert callable(getattr(sg.nnet, name)), name
    assert sg.nnet.squared_error is sg.nnet.mse and sg.nnet.huber_loss is sg.nnet.huber
