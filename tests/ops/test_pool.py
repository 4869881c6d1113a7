"""Pooling against a direct loop over windows (Theano's own algorithm: each window cut to
the image, then max, sum or mean), on every backend, over a grid of windows, strides,
padding, modes and partial borders; against PyTorch and JAX where they define the same
thing; gradients against that loop (the first maximum of a window takes it), against
finite differences and against PyTorch's choice among ties; the errors."""
from __future__ import annotations

import ast
import itertools
from pathlib import Path

import numpy as np
import pytest

import symgraph as sg
from codegen.lib import window
from symgraph.ops.pool import MaxPoolGrad, MaxPoolGradGrad, Pool, PoolGrad
from tests.checks import BACKENDS, check_grad, check_values, non_contiguous


# ---------------------------------------------------------------- the reference loop
def windows(v: int, w: int, s: int, p: int, ignore_border: bool) -> list[tuple[int, int]]:
    """The [start, end) of each window along an axis of the padded image of ``v + 2p``
    elements: every whole window, and without ``ignore_border`` also the window that
    starts after the last whole one while the image is not yet covered."""
    n, out, start = v + 2 * p, [], 0
    while start + w <= n:
        out.append((start, start + w))
        start += s
    if not ignore_border and start < n and (not out or out[-1][1] < n):
        out.append((start, min(start + w, n)))
    return out


def regions(v, w, s, p, ignore_border, real_only):
    """The windows as slices of the padded image, cut to the image itself if
    ``real_only``."""
    cut = (lambda a, b: (max(a, p), min(b, p + v))) if real_only else (lambda a, b: (a, b))
    return [slice(*cut(a, b)) for a, b in windows(v, w, s, p, ignore_border)]


def ref_pool(x, ws, stride, pad, mode, ignore_border):
    x = np.asarray(x)
    rs = [regions(v, w, s, p, ignore_border, mode != "average_inc_pad")
          for v, w, s, p in zip(x.shape[-2:], ws, stride, pad)]
    padded = np.zeros((*x.shape[:-2], *(v + 2 * p for v, p in zip(x.shape[-2:], pad))),
                      x.dtype)
    padded[..., pad[0]:pad[0] + x.shape[-2], pad[1]:pad[1] + x.shape[-1]] = x
    out = np.zeros((*x.shape[:-2], len(rs[0]), len(rs[1])), x.dtype)
    f = {"max": np.max, "sum": np.sum}.get(mode, np.mean)
    for k in np.ndindex(*x.shape[:-2]):
        for (i, a), (j, b) in itertools.product(enumerate(rs[0]), enumerate(rs[1])):
            out[k + (i, j)] = f(padded[k][a, b])
    return out


def ref_grad(x, gz, ws, stride, pad, mode, ignore_border):
    """The gradient of :func:`ref_pool` given ``gz``: max to the first maximum of each
    window (numpy's argmax over it, row by row), the others spread over the window."""
    rs = [regions(v, w, s, p, ignore_border, mode != "average_inc_pad")
          for v, w, s, p in zip(x.shape[-2:], ws, stride, pad)]
    padded = np.full((*x.shape[:-2], *(v + 2 * p for v, p in zip(x.shape[-2:], pad))),
                     -np.inf)
    inside = (..., slice(pad[0], pad[0] + x.shape[-2]), slice(pad[1], pad[1] + x.shape[-1]))
    padded[inside] = x
    gx = np.zeros_like(padded)
    for k in np.ndindex(*x.shape[:-2]):
        for (i, a), (j, b) in itertools.product(enumerate(rs[0]), enumerate(rs[1])):
            g = gz[k + (i, j)]
            if mode == "max":
                r, c = np.unravel_index(np.argmax(padded[k][a, b]), (a.stop - a.start,
                                                                     b.stop - b.start))
                gx[k + (a.start + r, b.start + c)] += g
            else:
                n = (a.stop - a.start) * (b.stop - b.start)
                gx[k][a, b] += g / n if mode.startswith("average") else g
    return gx[inside]


# ws, stride, pad, ignore_border: whole and partial windows, overlaps, gaps, padding
GEOMETRIES = [((2, 2), (2, 2), (0, 0), True), ((2, 2), (2, 2), (0, 0), False),
              ((3, 3), (1, 1), (0, 0), True), ((3, 2), (2, 1), (0, 0), False),
              ((2, 3), (3, 2), (0, 0), False), ((3, 3), (2, 2), (1, 1), True),
              ((2, 3), (1, 2), (1, 2), True), ((1, 1), (2, 2), (0, 0), False),
              ((4, 4), (4, 4), (0, 0), False)]
MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]


def distinct(rng, shape, dtype="float64"):
    """Values without ties, at least 0.05 apart (finite differences stay in one piece)."""
    n = int(np.prod(shape))
    return (rng.permutation(n).reshape(shape) * 0.05 - n * 0.025).astype(dtype)


def test_the_reference_is_theanos_shape_rule():
    for v, w, s, p, ib in itertools.product(range(1, 9), range(1, 5), range(1, 5), range(3),
                                            (True, False)):
        if p < w and (ib or p == 0):
            assert len(windows(v, w, s, p, ib)) == window.out_size(v, w, s, p, ib), \
                (v, w, s, p, ib)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("geometry", GEOMETRIES, ids=str)
def test_values_against_the_loop(rng, geometry, mode):
    ws, stride, pad, ib = geometry
    dtype = "float32" if mode in ("max", "average_exc_pad") else "float64"
    x = rng.standard_normal((2, 3, 7, 6)).astype(dtype)
    check_values(lambda v: sg.nnet.pool_2d(v, ws, ib, stride, pad, mode),
                 lambda v: ref_pool(v, ws, stride, pad, mode, ib), [x], static=True)


@pytest.mark.parametrize("mode", MODES)
def test_special_inputs(rng, mode):
    """0-size batch, non-contiguous and transposed input, rank 2 and rank 5, integers."""
    pool = lambda ws, st, pad, ib: lambda v: sg.nnet.pool_2d(v, ws, ib, st, pad, mode)
    ref = lambda ws, st, pad, ib: lambda v: ref_pool(v, ws, st, pad, mode, ib)
    cases = [(np.zeros((0, 3, 5, 5)), ((2, 2), (2, 2), (1, 1), True)),
             (non_contiguous(rng.standard_normal((2, 2, 5, 6))), ((3, 2), (2, 2), (0, 0), False)),
             (rng.standard_normal((6, 5, 2, 3)).transpose(2, 3, 0, 1), ((2, 2), (1, 2), (1, 0), True)),
             (rng.standard_normal((5, 7)).astype("float32"), ((2, 3), (2, 2), (0, 0), False)),
             (rng.standard_normal((2, 1, 2, 4, 4)), ((2, 2), (1, 1), (1, 1), True))]
    if not mode.startswith("average"):
        cases.append((rng.integers(-50, 50, (2, 3, 5, 5)).astype("int32"),
                      ((2, 2), (2, 2), (0, 0), False)))
    for x, geometry in cases:
        check_values(pool(*geometry), ref(*geometry), [x])


def test_an_empty_image_axis():
    """Windows with no element (Theano's partial window over an empty axis) give max's
    identity and 0."""
    x = np.zeros((1, 1, 0, 3))
    want = {"max": -np.inf, "sum": 0.0, "average_inc_pad": 0.0, "average_exc_pad": 0.0}
    for mode, value in want.items():
        f = sg.function([v := sg.dtensor4()], sg.nnet.pool_2d(v, (2, 2), False, (1, 1),
                                                              mode=mode))
        np.testing.assert_array_equal(f(x), np.full((1, 1, 1, 2), value))
        assert sg.nnet.pool_2d(v, (2, 2), True, mode=mode).eval({v: x}).shape == (1, 1, 0, 1)
        padded = sg.nnet.pool_2d(v, (3, 3), True, (2, 2), (1, 1), mode=mode)
        assert padded.eval({v: x}).shape == (1, 1, 0, 2)


# ---------------------------------------------------------------- gradients
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("geometry", GEOMETRIES[2:7], ids=str)
def test_gradient_against_the_loop_and_finite_differences(rng, geometry, mode):
    ws, stride, pad, ib = geometry
    x = distinct(rng, (2, 2, 6, 7))
    v = sg.dtensor4("x")
    z = sg.nnet.pool_2d(v, ws, ib, stride, pad, mode)
    gz = rng.standard_normal(z.eval({v: x}).shape)
    g = sg.dtensor4("gz")
    gx = sg.grad(None, v, known_grads={z: g})
    want = ref_grad(x, gz, ws, stride, pad, mode, ib)
    for backend in BACKENDS:
        np.testing.assert_allclose(sg.function([v, g], gx, backend=backend)(x, gz), want,
                                   rtol=1e-12, atol=1e-14)
    check_grad(lambda v: sg.nnet.pool_2d(v, ws, ib, stride, pad, mode), [x[:1, :1]])


def test_ties_go_to_the_first_maximum_as_in_pytorch():
    """Integers in [0, 3) tie everywhere: each window's gradient goes to its first
    maximum, row by row, as PyTorch's max_pool2d and the loop choose; never to padding,
    even where every element of a window is -inf."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    x = rng.integers(0, 3, (3, 2, 7, 8)).astype("float64")
    x[0, 0, :3, :3] = -np.inf
    v = sg.dtensor4("x")
    for k, s, p in [(2, 2, 0), (3, 1, 1), (3, 2, 1), (2, 1, 1)]:
        z = sg.nnet.max_pool2d(v, k, s, p)
        f = sg.function([v], [z, sg.grad(z.sum(), v)])
        t = torch.tensor(x, requires_grad=True)
        tz = torch.nn.functional.max_pool2d(t, k, s, p)
        tz.sum().backward()
        for backend in BACKENDS:
            got_z, got_g = sg.function([v], [z, sg.grad(z.sum(), v)], backend=backend)(x)
            np.testing.assert_array_equal(got_z, tz.detach().numpy())
            np.testing.assert_array_equal(got_g, t.grad.numpy(), err_msg=f"{k, s, p}")
        np.testing.assert_array_equal(f(x)[1], ref_grad(x, np.ones(tz.shape), (k, k), (s, s),
                                                        (p, p), "max", True))


def test_a_nan_is_the_maximum_and_its_first_one_takes_the_gradient():
    x = np.array([[[[1.0, np.nan], [np.nan, 5.0]]]])
    v = sg.dtensor4("x")
    z = sg.nnet.max_pool2d(v, 2)
    got_z, got_g = sg.function([v], [z, sg.grad(z.sum(), v)])(x)
    assert np.isnan(got_z).all()
    np.testing.assert_array_equal(got_g, [[[[0.0, 1.0], [0.0, 0.0]]]])


def test_an_infinite_output_gradient_reaches_only_the_maxima():
    v, g = sg.dtensor4("x"), sg.dtensor4("g")
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    for k, s in [(2, 2), (3, 1)]:
        z = sg.nnet.max_pool2d(v, k, s)
        f = sg.function([v, g], sg.grad(None, v, known_grads={z: g}))
        gz = np.full(z.eval({v: x}).shape, np.inf)
        want = ref_grad(x, gz, (k, k), (s, s), (0, 0), "max", True)
        np.testing.assert_array_equal(f(x, gz), want)
        assert np.count_nonzero(want) == 4 and not np.isnan(want).any()


@pytest.mark.parametrize("mode", MODES)
def test_gradients_of_the_gradients(rng, mode):
    """The gradient ops are linear in the output gradient; their own gradients (pooling,
    and a gather at each window's first maximum) check against finite differences, and
    the gradient of max's gradient with respect to its input is 0."""
    ws, stride, pad = (3, 3), (2, 1), (1, 1)
    x = distinct(rng, (1, 2, 5, 6))
    xc = sg.constant(x)
    z = sg.nnet.pool_2d(xc, ws, True, stride, pad, mode)
    gz = rng.standard_normal(z.eval().shape)
    args = (ws, stride, pad, mode, True)
    if mode == "max":
        check_grad(lambda g: MaxPoolGrad(*args)(xc, z, g), [gz])
        check_grad(lambda gg: MaxPoolGradGrad(*args)(xc, z, gg), [rng.standard_normal(x.shape)])
        v = sg.dtensor4("x")
        gx = sg.grad(sg.nnet.pool_2d(v, ws, True, stride, pad).sum(), v)
        np.testing.assert_array_equal(sg.grad((gx * gx).sum(), v).eval({v: x}), 0 * x)
    else:
        check_grad(lambda g: PoolGrad(*args)(xc, g), [gz])


# ---------------------------------------------------------------- PyTorch and JAX
@pytest.mark.parametrize("k,s,p,ceil", [(2, None, 0, False), (3, 2, 1, False), ((3, 2), (1, 2), (1, 0), False),
                                        (3, 2, 0, True), (2, 3, 0, True), ((3, 2), 2, 0, True)])
def test_short_names_match_pytorch(k, s, p, ceil):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    x = distinct(rng, (2, 3, 7, 8), "float32")
    v = sg.ftensor4("x")
    t = torch.tensor(x, requires_grad=True)
    ours = [sg.nnet.max_pool2d(v, k, s, p, ceil_mode=ceil),
            sg.nnet.avg_pool2d(v, k, s, p, ceil),
            sg.nnet.avg_pool2d(v, k, s, p, ceil, count_include_pad=False)]
    theirs = [torch.nn.functional.max_pool2d(t, k, s, p, ceil_mode=ceil),
              torch.nn.functional.avg_pool2d(t, k, s, p, ceil),
              torch.nn.functional.avg_pool2d(t, k, s, p, ceil, count_include_pad=False)]
    for z, tz in zip(ours, theirs):
        t.grad = None
        (tz * tz).sum().backward()
        got_z, got_g = sg.function([v], [z, sg.grad((z * z).sum(), v)])(x)
        np.testing.assert_allclose(got_z, tz.detach().numpy(), rtol=1e-6, atol=1e-6)
        np.testing.assert_allclose(got_g, t.grad.numpy(), rtol=1e-5, atol=1e-5)


def test_max_and_sum_match_jax_reduce_window():
    jax = pytest.importorskip("jax")
    rng = np.random.default_rng(5)
    x = distinct(rng, (2, 3, 7, 8))
    v = sg.dtensor4("x")
    for ws, st, pad in [((2, 2), (2, 2), (0, 0)), ((3, 3), (2, 1), (1, 1))]:
        spec = dict(window_dimensions=(1, 1, *ws), window_strides=(1, 1, *st),
                    padding=((0, 0), (0, 0), *((q, q) for q in pad)))
        for mode, init, op in [("max", -np.inf, jax.lax.max), ("sum", 0.0, jax.lax.add)]:
            want = jax.lax.reduce_window(jax.numpy.asarray(x, "float32"), init, op, **spec)
            got = sg.nnet.pool_2d(v, ws, True, st, pad, mode).eval({v: x})
            np.testing.assert_allclose(got, np.asarray(want), rtol=1e-5, atol=1e-5)


def test_inside_a_fused_graph(rng):
    """Pooling between elementwise kernels, and the gradient through both."""
    x = distinct(rng, (2, 3, 6, 6))
    f = lambda v: sg.tanh(sg.nnet.max_pool2d(sg.nnet.relu(v) * 2 + 0.1, 3, 2, 1)) + \
        sg.nnet.avg_pool2d(v * v, 3, 2, 1)
    check_values(f, lambda v: np.tanh(ref_pool(np.maximum(v, 0) * 2 + 0.1, (3, 3), (2, 2),
                                               (1, 1), "max", True))
                 + ref_pool(v * v, (3, 3), (2, 2), (1, 1), "average_inc_pad", True), [x])
    check_grad(f, [x[:1, :2]])


def test_global_average():
    x = np.random.default_rng(1).standard_normal((2, 3, 4, 5))
    check_values(lambda v: sg.nnet.global_avg_pool2d(v), lambda v: v.mean(axis=(-2, -1)), [x])
    check_values(lambda v: sg.nnet.global_avg_pool2d(v, keepdims=True),
                 lambda v: v.mean(axis=(-2, -1), keepdims=True), [x])
    check_grad(lambda v: sg.nnet.global_avg_pool2d(v), [x[:1]])


# ---------------------------------------------------------------- names, types, errors
def test_theanos_older_names_and_static_shapes():
    x = sg.tensor("x", "float32", (None, 3, 7, 6))
    with pytest.warns(DeprecationWarning, match="older name"):
        old = sg.nnet.pool_2d(x, ds=(2, 2), st=(1, 1), padding=(1, 1), ignore_border=True)
    assert old.owner.op == sg.nnet.pool_2d(x, (2, 2), True, (1, 1), (1, 1)).owner.op
    assert old.type == sg.tensor("y", "float32", (None, 3, 8, 7)).type
    assert sg.nnet.pool_2d(x, (2, 4), False).type.shape == (None, 3, 4, 2)
    assert sg.nnet.pool_2d(sg.dtensor4(), (2, 2)).type.shape == (None,) * 4
    assert "max, ws=(2, 2)" in str(old.owner.op)


@pytest.mark.parametrize("call,error,match", [
    (lambda x: sg.nnet.pool_2d(x, (2, 2), ds=(2, 2)), ValueError, "not both"),
    (lambda x: sg.nnet.pool_2d(x, (2, 2), stride=(1, 1), st=(1, 1)), ValueError, "not both"),
    (lambda x: sg.nnet.pool_2d(x, (2, 2), pad=(1, 1), padding=(1, 1)), ValueError, "not both"),
    (lambda x: sg.nnet.pool_2d(x), ValueError, "give the window size"),
    (lambda x: sg.nnet.pool_2d(x, 2), TypeError, "pair of Python ints"),
    (lambda x: sg.nnet.pool_2d(x, (2, 0)), ValueError, ">= 1"),
    (lambda x: sg.nnet.pool_2d(x, (2, sg.lscalar())), TypeError, "symbolic sizes"),
    (lambda x: sg.nnet.pool_2d(x, (2, 2), pad=(2, 0)), ValueError, "smaller than the window"),
    (lambda x: sg.nnet.pool_2d(x, (2, 2), False, pad=(1, 1)), ValueError, "ignore_border=True"),
    (lambda x: sg.nnet.pool_2d(x, (2, 2), mode="mean"), ValueError, "mode must be one of"),
    (lambda x: sg.nnet.pool_2d(sg.dvector(), (2, 2)), ValueError, "rank >= 2"),
    (lambda x: sg.nnet.pool_2d(sg.imatrix(), (2, 2), mode="average_inc_pad"), TypeError,
     "takes a float tensor"),
    (lambda x: sg.nnet.pool_2d(sg.bmatrix().astype("bool"), (2, 2)), TypeError,
     "float or integer"),
    (lambda x: sg.nnet.max_pool2d(x, 3, padding=2), ValueError, "at most half"),
    (lambda x: sg.nnet.avg_pool2d(x, 3, padding=1, ceil_mode=True), ValueError, "ceil_mode"),
    (lambda x: sg.nnet.global_avg_pool2d(sg.dvector()), ValueError, "rank >= 2"),
    (lambda x: Pool((2, 2), (2, 2), (0, 0), "mean", True)(x), ValueError, "mode must be one"),
    (lambda x: PoolGrad((2, 2), (2, 2), (0, 0), "sum", True)(x, sg.lvector()), TypeError,
     "output gradient must be a float tensor of rank 4"),
])
def test_errors_say_what_was_expected(call, error, match):
    with pytest.raises(error, match=match) as info:
        call(sg.dtensor4("x"))
    if error is ValueError and "rank" not in match:
        assert "built at " + __file__ in str(info.value)


def test_the_library_checks_what_it_is_given():
    x, gz = np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 3, 3))
    with pytest.raises(ValueError, match=r"needs \(1, 1, 2, 2\)"):
        window.pool_grad(np, x, gz, ws=(2, 2), stride=(2, 2), pad=(0, 0), mode="sum",
                         ignore_border=True)
    with pytest.raises(ValueError, match="rank >= 2"):
        window.pool(np, np.zeros(3), ws=(2, 2), stride=(2, 2), pad=(0, 0), mode="max",
                    ignore_border=True)


def test_the_pooling_library_uses_only_its_array_module():
    """As the rest of the library: numpy never converts or computes there, so the same
    entries run on CuPy arrays."""
    tree = ast.parse(Path(window.__file__).read_text())
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.Name) and n.id in ("np", "numpy")]
