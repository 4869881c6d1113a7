"""2-d convolutions: values against a direct loop and against jax over a grid of strides,
paddings, dilations and groups (1x1 and depthwise kernels, 0-size batches, non-contiguous
inputs, float32 and float64, every backend); Theano's convention (flipped filters) against
scipy's convolve2d; the two gradient ops against jax's vjp, every gradient and second
derivative by finite differences; conv1d and the transposed convolutions; static shapes
and the errors at the user's line."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import symgraph as sg
from codegen.lib.numpy import LIBRARY
from tests.checks import check_grad, check_values, non_contiguous
from tests.codegen.test_lib import _numpy_calls

nn = sg.nnet


def direct(x, w, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """The cross-correlation by its definition, one output position at a time."""
    (sh, sw), (dh, dw) = stride, dilation
    o, cg, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), *pads))
    ho = (xp.shape[2] - dh * (kh - 1) - 1) // sh + 1
    wo = (xp.shape[3] - dw * (kw - 1) - 1) // sw + 1
    out = np.zeros((x.shape[0], o, ho, wo), np.result_type(x, w))
    for c in range(o):
        g = c // (o // groups)
        for i in range(ho):
            for j in range(wo):
                win = xp[:, g * cg:(g + 1) * cg, i * sh:i * sh + dh * (kh - 1) + 1:dh,
                         j * sw:j * sw + dw * (kw - 1) + 1:dw]
                out[:, c, i, j] = (win * w[c]).sum(axis=(1, 2, 3))
    return out


@pytest.fixture(scope="module")
def jax():
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    return pytest.importorskip("jax")


def jax_conv(jax, x, w, stride, pads, dilation, groups):
    with jax.enable_x64(True):
        return np.asarray(jax.lax.conv_general_dilated(
            x, w, stride, pads, rhs_dilation=dilation, feature_group_count=groups,
            precision="highest"))


#: (input shape, filter shape, stride, padding, dilation, groups)
GRID = [
    ((2, 3, 7, 8), (4, 3, 3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),
    ((2, 4, 7, 8), (6, 2, 3, 2), (2, 3), ((1, 2), (0, 1)), (1, 1), 2),
    ((1, 2, 9, 9), (3, 2, 3, 3), (2, 2), ((2, 2), (2, 2)), (2, 2), 1),
    ((2, 4, 6, 7), (8, 1, 3, 3), (1, 2), ((1, 1), (1, 1)), (1, 2), 4),      # depthwise x2
    ((2, 6, 5, 5), (4, 3, 1, 1), (1, 1), ((0, 0), (0, 0)), (1, 1), 2),      # 1x1
    ((3, 3, 6, 5), (2, 3, 1, 1), (2, 2), ((1, 0), (1, 1)), (1, 1), 1),      # 1x1, strided
    ((2, 2, 4, 4), (3, 2, 4, 4), (1, 1), ((0, 0), (0, 0)), (1, 1), 1),      # 1x1 output
]
IDS = ["plain", "groups-strides-pads", "dilated", "depthwise", "1x1", "1x1-strided",
       "kernel-as-large-as-input"]


def conv_fn(stride, pads, dilation, groups):
    return lambda x, w: nn.conv2d_xcorr(x, w, None, stride, pads, dilation, groups)


@pytest.mark.parametrize("xs, ws, stride, pads, dilation, groups", GRID, ids=IDS)
def test_values_against_a_direct_loop_and_jax(rng, jax, xs, ws, stride, pads, dilation,
                                              groups):
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    want = direct(x, w, stride, pads, dilation, groups)
    np.testing.assert_allclose(jax_conv(jax, x, w, stride, pads, dilation, groups), want,
                               rtol=1e-12, atol=1e-12)
    for static in (False, True):
        check_values(conv_fn(stride, pads, dilation, groups),
                     lambda a, b: direct(a, b, stride, pads, dilation, groups), [x, w],
                     static=static)


@pytest.mark.parametrize("case", [0, 1, 3], ids=["plain", "groups-strides-pads", "depthwise"])
def test_float32_zero_batch_and_non_contiguous_inputs(rng, case):
    xs, ws, stride, pads, dilation, groups = GRID[case]
    fn, ref = conv_fn(stride, pads, dilation, groups), lambda a, b: direct(
        a, b, stride, pads, dilation, groups)
    x, w = rng.standard_normal(xs).astype("float32"), rng.standard_normal(ws).astype("float32")
    check_values(fn, ref, [x, w], rtol=1e-5, atol=1e-5)
    check_values(fn, ref, [np.zeros((0, *xs[1:])), rng.standard_normal(ws)])
    check_values(fn, ref, [non_contiguous(x.astype("float64")),
                           non_contiguous(w.astype("float64"))[:, :, ::-1]])
    check_values(fn, ref, [x.astype("float64").transpose(0, 1, 3, 2).copy().transpose(
        0, 1, 3, 2), w])


def direct_grads(x, w, g, stride=(1, 1), pads=((0, 0), (0, 0)), dilation=(1, 1), groups=1):
    """The gradients of :func:`direct` given the output's gradient ``g``, by their
    definition: each output position's gradient spread over its window and filters."""
    (sh, sw), (dh, dw) = stride, dilation
    o, cg, kh, kw = w.shape
    og = o // groups
    xp = np.pad(x, ((0, 0), (0, 0), *pads))
    gx, gw = np.zeros_like(xp), np.zeros_like(w)
    for k in range(groups):
        outs, ins = slice(k * og, (k + 1) * og), slice(k * cg, (k + 1) * cg)
        for i in range(g.shape[2]):
            for j in range(g.shape[3]):
                win = (slice(None), ins, slice(i * sh, i * sh + dh * (kh - 1) + 1, dh),
                       slice(j * sw, j * sw + dw * (kw - 1) + 1, dw))
                gx[win] += np.einsum("no,ocpq->ncpq", g[:, outs, i, j], w[outs])
                gw[outs] += np.einsum("no,ncpq->ocpq", g[:, outs, i, j], xp[win])
    (t, _), (l, _) = pads
    return gx[:, :, t:t + x.shape[2], l:l + x.shape[3]], gw


#: shapes that take each of the library's ways: output rows of 16 or more (columns with
#: the images first), 8 or more input channels per group (the input's gradient by taps)
PATHS = [((2, 3, 5, 18), (4, 3, 3, 3), (1, 1), ((1, 0), (0, 2)), (1, 1), 1),
         ((2, 4, 6, 35), (6, 2, 2, 3), (2, 2), ((1, 1), (2, 1)), (1, 2), 2),
         ((2, 16, 6, 7), (6, 8, 3, 2), (2, 1), ((1, 2), (0, 1)), (2, 1), 2),
         ((2, 8, 4, 18), (4, 8, 3, 3), (1, 1), ((1, 1), (1, 1)), (1, 1), 1),
         ((0, 8, 4, 18), (4, 8, 3, 3), (1, 1), ((0, 0), (0, 0)), (1, 1), 1)]


@pytest.mark.parametrize("xs, ws, stride, pads, dilation, groups", PATHS,
                         ids=["images-first", "images-first-groups", "taps",
                              "taps-images-first", "taps-no-images"])
def test_each_way_of_computing_against_the_definition(rng, xs, ws, stride, pads, dilation,
                                                      groups):
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    y = direct(x, w, stride, pads, dilation, groups)
    g = rng.standard_normal(y.shape)
    want_x, want_w = direct_grads(x, w, g, stride, pads, dilation, groups)
    params = dict(stride=stride, padding=pads, dilation=dilation, groups=groups, flip=False)
    for dtype, tol in [("float64", 1e-12), ("float32", 1e-4)]:
        a, b, c = (non_contiguous(v.astype(dtype)) for v in (x, w, g))
        p = dict(params, dtype=dtype)
        got = [LIBRARY["conv2d"](a, b, **p),
               LIBRARY["conv2d_grad_input"](c, b, np.array(xs[2:]), **p),
               LIBRARY["conv2d_grad_weights"](a, c, np.array(ws[2:]), **p)]
        for v, want in zip(got, [y, want_x, want_w]):
            assert v.dtype == dtype and v.flags.c_contiguous
            np.testing.assert_allclose(v, want, rtol=tol, atol=tol)
    flipped = LIBRARY["conv2d_grad_weights"](x, g, np.array(ws[2:]), **dict(
        params, flip=True, dtype="float64"))
    np.testing.assert_allclose(flipped, want_w[:, :, ::-1, ::-1], rtol=1e-12, atol=1e-12)


def test_mixed_dtypes_promote(rng):
    x, w = rng.standard_normal((1, 2, 5, 5)).astype("float32"), rng.standard_normal((3, 2, 2, 2))
    check_values(lambda a, b: nn.conv2d_xcorr(a, b), lambda a, b: direct(a, b), [x, w],
                 backends=["numpy"])


def test_paddings_by_name(rng):
    """'same' is jax's SAME (any odd zero after), 'full' the whole dilated kernel minus
    one, Theano's 'half' half of it, each side."""
    x, w = rng.standard_normal((1, 2, 7, 6)), rng.standard_normal((3, 2, 4, 3))
    xv = sg.tensor("x", "float64", x.shape)
    wv = sg.dtensor4("w")
    for stride in [(1, 1), (2, 3)]:
        (ph, pw) = [max((-(-n // s) - 1) * s + k - n, 0)
                    for n, k, s in zip(x.shape[2:], w.shape[2:], stride)]
        same = ((ph // 2, ph - ph // 2), (pw // 2, pw - pw // 2))
        got = nn.conv2d_xcorr(xv, wv, stride=stride, padding="same").eval({xv: x, wv: w})
        np.testing.assert_allclose(got, direct(x, w, stride, same), rtol=1e-12)
        assert got.shape[2:] == (-(-7 // stride[0]), -(-6 // stride[1]))
    full = nn.conv2d_xcorr(xv, wv, padding="full").eval({xv: x, wv: w})
    np.testing.assert_allclose(full, direct(x, w, pads=((3, 3), (2, 2))), rtol=1e-12)
    half = nn.conv2d(xv, wv, border_mode="half", filter_flip=False).eval({xv: x, wv: w})
    np.testing.assert_allclose(half, direct(x, w, pads=((2, 2), (1, 1))), rtol=1e-12)


def test_theano_conv2d_is_a_true_convolution(rng):
    """Theano flips the filters: conv2d of one channel is scipy's convolve2d."""
    signal = pytest.importorskip("scipy.signal")
    x, w = rng.standard_normal((1, 1, 6, 7)), rng.standard_normal((1, 1, 3, 2))
    xv, wv = sg.dtensor4("x"), sg.dtensor4("w")
    for mode in ["valid", "full"]:
        got = nn.conv2d(xv, wv, border_mode=mode).eval({xv: x, wv: w})
        np.testing.assert_allclose(got[0, 0], signal.convolve2d(x[0, 0], w[0, 0], mode),
                                   rtol=1e-12)
    x, w = rng.standard_normal((2, 4, 8, 8)), rng.standard_normal((6, 2, 3, 3))
    kw = dict(border_mode=(1, 2), subsample=(2, 1), filter_dilation=(1, 2), num_groups=2)
    check_values(lambda a, b: nn.conv2d(a, b, **kw),
                 lambda a, b: direct(a, b[:, :, ::-1, ::-1], (2, 1), ((1, 1), (2, 2)),
                                     (1, 2), 2), [x, w])
    check_grad(lambda a, b: nn.conv2d(a, b, **kw), [x[:1, :, :5, :6], w],
               backends=["numpy"])


def test_lasagne_style_call_with_shape_hints(rng):
    x, w = rng.standard_normal((2, 3, 6, 6)), rng.standard_normal((4, 3, 3, 3))
    xv, wv = sg.dtensor4("x"), sg.shared(w, "W")
    y = nn.conv2d(xv, wv, (None, 3, 6, 6), w.shape, subsample=(1, 1), border_mode="half",
                  filter_flip=True)
    np.testing.assert_allclose(y.eval({xv: x}), direct(x, w[:, :, ::-1, ::-1],
                                                       pads=((1, 1), (1, 1))), rtol=1e-12)
    with pytest.raises(ValueError, match=r"filter_shape=\(4, 3, 5, 5\) says axis 2 has size "
                                         r"5.*\n  built at .*test_conv.py"):
        nn.conv2d(xv, sg.tensor("w", "float64", (4, 3, 3, 3)), filter_shape=(4, 3, 5, 5))


def test_static_shapes():
    x = sg.tensor("x", "float32", (None, 3, 28, 28))
    w = sg.tensor("w", "float32", (8, 3, 5, 5))
    assert nn.conv2d(x, w).type == sg.TensorType("float32", (None, 8, 24, 24))
    assert nn.conv2d(x, w, border_mode="full", subsample=(2, 3)).type.shape == (None, 8, 16, 11)
    assert nn.conv2d_xcorr(x, w, padding="same", stride=2).type.shape == (None, 8, 14, 14)
    assert nn.conv2d(x, sg.ftensor4("w")).type.shape == (None, None, None, None)
    assert nn.conv2d(sg.ftensor4("x"), w).type.shape == (None, 8, None, None)
    # half padding and a stride-1 'same' need only the kernel: a size stays unknown
    assert nn.conv2d_xcorr(sg.ftensor4("x"), w, padding="same").type.shape == (None, 8,
                                                                              None, None)
    g = sg.grad(nn.conv2d(x, w).sum(), [x, w])
    assert [v.type for v in g] == [x.type, w.type]
    seq = sg.tensor("s", "float64", (4, 2, 10))
    assert nn.conv1d(seq, sg.tensor("k", "float64", (6, 1, 3)), stride=2, padding=(1, 2),
                     groups=2).type.shape == (4, 6, 6)
    up = nn.conv_transpose2d(sg.tensor("y", "float64", (1, 4, 5, 5)),
                             sg.tensor("k", "float64", (4, 2, 3, 3)), stride=2, padding=1)
    assert up.type.shape == (1, 2, 9, 9)


def test_gradient_ops_against_jax_vjp(rng, jax):
    for xs, ws, stride, pads, dilation, groups in [GRID[1], GRID[2], GRID[3], GRID[5]]:
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        with jax.enable_x64(True):
            y, vjp = jax.vjp(lambda a, b: jax.lax.conv_general_dilated(
                a, b, stride, pads, rhs_dilation=dilation, feature_group_count=groups,
                precision="highest"), x, w)
            g = rng.standard_normal(y.shape)
            want_x, want_w = (np.asarray(v) for v in vjp(g))
        xv, wv = sg.dtensor4("x"), sg.dtensor4("w")
        cost = (nn.conv2d_xcorr(xv, wv, None, stride, pads, dilation, groups) * g).sum()
        got_x, got_w = sg.function([xv, wv], sg.grad(cost, [xv, wv]))(x, w)
        np.testing.assert_allclose(got_x, want_x, rtol=1e-11, atol=1e-11)
        np.testing.assert_allclose(got_w, want_w, rtol=1e-11, atol=1e-11)


@pytest.mark.parametrize("case", [1, 2, 3, 5], ids=["groups-strides-pads", "dilated",
                                                    "depthwise", "1x1-strided"])
def test_gradients(rng, case):
    xs, ws, stride, pads, dilation, groups = GRID[case]
    x, w = rng.standard_normal((1, *xs[1:])), rng.standard_normal(ws)
    check_grad(conv_fn(stride, pads, dilation, groups), [x, w],
               backends=None if case == 1 else ["numpy"])


@pytest.mark.parametrize("flip", [False, True], ids=["xcorr", "theano"])
def test_second_derivatives(rng, flip):
    """The gradient ops' own gradients: the gradient of a cost's gradient."""
    x, w = rng.standard_normal((1, 4, 5, 6)), rng.standard_normal((2, 2, 2, 3))

    def grads(a, b):
        y = nn.conv2d(a, b, border_mode=((1, 0), (1, 1)), subsample=(2, 1),
                      filter_dilation=(1, 2), num_groups=2, filter_flip=flip)
        gx, gw = sg.grad((sg.tanh(y) ** 2).sum(), [a, b])
        return (gx ** 2).sum() + (gw * gw.sum()).sum()
    check_grad(grads, [x, w], backends=["numpy"])


def test_gradient_functions_and_transposed_convolutions(rng):
    g, w = rng.standard_normal((1, 2, 4, 3)), rng.standard_normal((2, 3, 2, 2))
    x = rng.standard_normal((1, 3, 7, 8))
    kw = dict(border_mode=((1, 0), (0, 1)), subsample=(2, 3))
    check_grad(lambda a, b: nn.conv2d_grad_wrt_inputs(a, b, (1, 3, 7, 8), **kw), [g, w],
               backends=["numpy"])
    check_grad(lambda a, b: nn.conv2d_grad_wrt_weights(a, b, (2, 3, 2, 2), **kw), [x, g],
               backends=["numpy"])
    check_grad(lambda a, b: nn.conv_transpose2d(a, b, stride=2, padding=1, output_padding=1),
               [g, rng.standard_normal((2, 3, 3, 3))], backends=["numpy"])
    # each is the gradient of conv2d, flipping included
    xv, wv, gv = sg.dtensor4("x"), sg.dtensor4("w"), sg.dtensor4("g")
    cost = (nn.conv2d(xv, wv, **kw) * gv).sum()
    want = sg.function([xv, wv, gv], sg.grad(cost, [xv, wv]))(x, w, g)
    got = sg.function([xv, wv, gv], [nn.conv2d_grad_wrt_inputs(gv, wv, xv.shape, **kw),
                                     nn.conv2d_grad_wrt_weights(xv, gv, wv.shape, **kw)])
    for a, b in zip(got(x, w, g), want):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_conv_transpose2d_is_the_adjoint_of_conv2d_xcorr(rng):
    y, w = rng.standard_normal((2, 4, 3, 4)), rng.standard_normal((4, 3, 3, 2))
    yv, wv = sg.dtensor4("y"), sg.dtensor4("w")
    b = rng.standard_normal(6)
    up = nn.conv_transpose2d(yv, wv, b, stride=(2, 3), padding=(1, 0), output_padding=(1, 2),
                             groups=2, dilation=(1, 2))
    got = up.eval({yv: y, wv: w})
    assert got.shape == (2, 6, (3 - 1) * 2 - 2 + 2 + 1 + 1, (4 - 1) * 3 + 2 * 1 + 1 + 2)
    x = rng.standard_normal(got.shape)
    down = direct(x, w, (2, 3), ((1, 1), (0, 0)), (1, 2), 2)
    np.testing.assert_allclose(((got - b[:, None, None]) * x).sum(), (down * y).sum(),
                               rtol=1e-12)


def test_conv1d(rng, jax):
    x, w, b = rng.standard_normal((2, 4, 11)), rng.standard_normal((6, 2, 3)), np.arange(6.0)
    xv, wv = sg.dtensor3("x"), sg.dtensor3("w")
    for stride, padding, pads in [(1, 0, (0, 0)), (2, (2, 1), (2, 1)), (3, [1], (1, 1))]:
        want = direct(x[:, :, None], w[:, :, None], (1, stride), ((0, 0), pads), (1, 2), 2)
        got = nn.conv1d(xv, wv, b, stride, padding, dilation=2, groups=2).eval({xv: x, wv: w})
        np.testing.assert_allclose(got, want[:, :, 0] + b[:, None], rtol=1e-12)
    same = nn.conv1d(xv, wv, None, 1, "same", 2, 2).eval({xv: x, wv: w})
    np.testing.assert_allclose(same, jax_conv(jax, x, w, (1,), "SAME", (2,), 2), rtol=1e-12)


def test_a_layer_bias_and_activation_fused_after_it(rng):
    x, w, b = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal((4, 3, 3, 3)), \
        rng.standard_normal(4)
    check_values(lambda a, c, d: nn.relu(nn.conv2d_xcorr(a, c, d, padding=1)),
                 lambda a, c, d: np.maximum(direct(a, c, pads=((1, 1), (1, 1)))
                                            + d[:, None, None], 0), [x, w, b])


def test_zero_channels(rng):
    for xs, ws in [((2, 3, 5, 5), (0, 3, 3, 3)), ((2, 0, 5, 5), (4, 0, 3, 3))]:
        x, w = rng.standard_normal(xs), rng.standard_normal(ws)
        check_values(lambda a, c: nn.conv2d_xcorr(a, c, padding=(1, 0)),
                     lambda a, c: direct(a, c, pads=((1, 1), (0, 0))), [x, w],
                     backends=["numpy"])


def test_build_time_errors_name_the_problem_and_the_line():
    x = sg.tensor("x", "float32", (None, 3, 8, 8))
    w = sg.tensor("w", "float32", (6, 3, 3, 3))
    line = r"[\s\S]*built at .*test_conv.py:\d+"
    cases = [
        (lambda: nn.conv2d(x, sg.tensor("w", "float32", (6, 2, 3, 3))),
         ValueError, r"the input has 3 channels, the filters take 2 per group x 1 groups"),
        (lambda: nn.conv2d_xcorr(sg.tensor("x", "float32", (None, 4, 8, 8)),
                                 sg.tensor("w", "float32", (6, 2, 3, 3)), groups=3),
         ValueError, r"4 input channels do not split into 3 groups|the input has 4"),
        (lambda: nn.conv2d_xcorr(x, sg.tensor("w", "float32", (5, 1, 3, 3)), groups=3),
         ValueError, r"5 output channels do not split into 3 groups"),
        (lambda: nn.conv2d(x, sg.tensor("w", "float32", (6, 3, 9, 3))),
         ValueError, r"kernel's height 9 \(dilated: 9\) is larger than the padded input's "
                     r"8 \+ 0 \+ 0"),
        (lambda: nn.conv2d(x, w, filter_dilation=(1, 4)), ValueError, r"dilated: 9"),
        (lambda: nn.conv2d(x, w, border_mode="same"), ValueError,
         r"border_mode='same' is not a padding: expected one of 'valid', 'full', 'half'"),
        (lambda: nn.conv2d_xcorr(x, w, padding=-1), ValueError, r"padding=-1 is not a padding"),
        (lambda: nn.conv2d_xcorr(x, w, padding=(1, 2, 3)), ValueError, r"is not a padding"),
        (lambda: nn.conv2d_xcorr(x, w, stride=0), ValueError, r"stride must be at least 1"),
        (lambda: nn.conv2d_xcorr(x, w, dilation=1.5), TypeError, r"dilation must be an int"),
        (lambda: nn.conv2d_xcorr(x, w, groups=0), ValueError, r"groups must be at least 1"),
        (lambda: nn.conv2d(x, w, stride=2), TypeError,
         r"stride= is PyTorch's name. sg.nnet.conv2d is Theano's: a true convolution.*"
         r"subsample=.*conv2d_xcorr"),
        (lambda: nn.conv2d(x, w, bias=w), TypeError, r"it adds no bias"),
        (lambda: nn.conv2d(sg.ftensor3("x"), w), TypeError, r"the input must be 4-d"),
        (lambda: nn.conv2d(sg.ltensor4("x"), w), TypeError, r"must be float32 or float64"),
        (lambda: nn.conv2d_xcorr(sg.ftensor4("x"), w, stride=2, padding="same"), ValueError,
         r"padding='same' with stride \(2, 2\) depends on the input's height and width"),
        (lambda: nn.conv2d_xcorr(x, w, sg.tensor("b", "float32", (5,))), ValueError,
         r"the bias has 5 values, the output 6 channels"),
        (lambda: nn.conv_transpose2d(sg.tensor("y", "float32", (1, 6, 4, 4)), w, stride=2,
                                     output_padding=2), ValueError,
         r"output_padding \(2, 2\) must be less than the stride \(2, 2\)"),
        (lambda: nn.conv1d(x, w), TypeError, r"conv1d: the input must be 3-d"),
    ]
    for fn, kind, match in cases:
        with pytest.raises(kind, match=match + line):
            fn()
    with pytest.raises(TypeError, match="unexpected keyword argument 'strides'"):
        nn.conv2d(x, w, strides=2)
    with pytest.raises(NotImplementedError, match="unshared"):
        nn.conv2d(x, w, unshared=True)


def test_run_time_errors_where_sizes_are_not_static(rng):
    x, w = sg.dtensor4("x"), sg.dtensor4("w")
    f = sg.function([x, w], nn.conv2d_xcorr(x, w, groups=2))
    with pytest.raises(ValueError, match=r"conv2d: the input has 3 channels, the filters of "
                                         r"shape \(4, 2, 3, 3\) take 2 per group x 2 groups"):
        f(np.ones((1, 3, 5, 5)), np.ones((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"kernel's width 3 \(dilated: 3\) is larger"):
        f(np.ones((1, 4, 5, 2)), np.ones((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"output channels \(filters of shape \(3, 2, 3, 3\)\) "
                                         r"do not split into 2 groups"):
        f(np.ones((1, 4, 5, 5)), np.ones((3, 2, 3, 3)))
    lib = LIBRARY["conv2d_grad_input"]
    with pytest.raises(ValueError, match=r"an input of size 5x5 gives an output of size 2x2"):
        lib(np.ones((1, 1, 3, 3)), np.ones((1, 1, 2, 2)), np.array([5, 5]), stride=(2, 2),
            padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1, flip=False, dtype="float64")


def test_the_library_module_uses_only_the_array_module():
    path = Path(__file__).parents[2] / "codegen" / "lib" / "conv.py"
    assert _numpy_calls(path) == set()
