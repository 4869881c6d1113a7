"""Reductions against numpy: as functions and methods, every axis form, keepdims, every
dtype (numpy's accumulator dtypes), empty axes, NaN/Inf, and gradients."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgraph as sg
from symgraph.types import DTYPES
from tests.checks import check_grad, check_values, non_contiguous


def _exp_dtype(x):
    d = np.exp(np.zeros(0, x.dtype)).dtype
    return np.float32 if d == np.float16 else d   # our one deviation: no float16


def np_logsumexp(x, axis=None, keepdims=False):
    """Stable reference in float64, in the dtype exp(x) has."""
    x64 = x.astype(np.float64)
    m = np.max(x64, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    out = np.log(np.sum(np.exp(x64 - m), axis=axis, keepdims=True)) + m
    out = out if keepdims else np.squeeze(out, axis=axis)
    return out.astype(_exp_dtype(x))


def np_sum_like(f):
    """numpy sums and multiplies uint8 in uint64, which we lack: ours is int64."""
    def ref(x, **kw):
        out = np.asarray(f(x, **kw))
        return out.astype(np.int64) if out.dtype == np.uint64 else out
    return ref


NUMPY = {"sum": np_sum_like(np.sum), "prod": np_sum_like(np.prod), "mean": np.mean,
         "var": np.var, "std": np.std, "max": np.max, "min": np.min, "argmax": np.argmax,
         "argmin": np.argmin, "all": np.all, "any": np.any, "logsumexp": np_logsumexp}
NAMES = sorted(NUMPY)
ONE_AXIS = {"argmax", "argmin"}     # numpy takes None or one int there
EMPTY_IS_ERROR = {"max", "min", "argmax", "argmin"}  # no identity: numpy raises


def call(name, style, x, **kw):
    """``sg.name(x, ...)`` or the method ``x.name(...)``."""
    return getattr(sg, name)(x, **kw) if style == "function" else getattr(x, name)(**kw)


def check(name, x, style="function", **kw):
    check_values(lambda v: call(name, style, v, **kw), lambda v: NUMPY[name](v, **kw), [x])


AXES = [None, 0, 1, 2, -1, -3, (0, 2), (-1, 0), (0, 1, 2), ()]


@pytest.mark.parametrize("style", ["function", "method"])
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("name,axis", [(n, a) for n in NAMES for a in AXES
                                       if n not in ONE_AXIS or not isinstance(a, tuple)],
                         ids=str)
def test_axes_and_keepdims(name, axis, keepdims, style, rand):
    check(name, rand("float64", (2, 3, 4)), style, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NAMES)
def test_dtypes(name, dtype, rand):
    """Result dtypes are numpy's: ints and bools sum in int64, mean/var/std in float64."""
    x = rand(dtype, (3, 5), -3, 3)
    for axis in (None, 1, 0):
        check(name, x, axis=axis)
    check(name, non_contiguous(x), axis=1, keepdims=True)


@pytest.mark.parametrize("dtype", ["int8", "int32", "uint8", "float32"])
@pytest.mark.parametrize("acc", ["int64", "float32", "float64"])
@pytest.mark.parametrize("name", ["sum", "prod"])
def test_explicit_accumulator_dtype(name, acc, dtype, rand):
    x = rand(dtype, (3, 4), 0, 3)
    check_values(lambda v: call(name, "method", v, axis=0, dtype=acc),
                 lambda v: getattr(np, name)(v, axis=0, dtype=acc), [x])


def test_integer_sum_does_not_overflow_the_input_dtype():
    x = np.full((300,), 100, "int8")
    check(name="sum", x=x)
    check(name="prod", x=np.full((40,), 2, "uint8"))


@pytest.mark.parametrize("ddof", [0, 1, 2])
@pytest.mark.parametrize("name", ["var", "std"])
def test_ddof(name, ddof, rand):
    x = rand("float64", (4, 5))
    for axis in (None, 0, (0, 1)):
        check(name, x, axis=axis, ddof=ddof)
        check(name, x, "method", axis=axis, ddof=ddof, keepdims=True)


EMPTY_CASES = [((0,), None), ((0, 3), 0), ((3, 0), 1), ((0, 3), 1), ((3, 0), None),
               ((2, 0, 3), (0, 2)), ((2, 0, 3), -1)]


@pytest.mark.parametrize("name,shape,axis", [
    (n, s, a) for n in NAMES for s, a in EMPTY_CASES
    if not (n in ONE_AXIS and isinstance(a, tuple))], ids=str)
def test_empty(name, shape, axis, rand):
    """sum of nothing is 0, prod 1, all True, any False, mean/var NaN (numpy warns),
    logsumexp -inf (as scipy); max, min, argmax, argmin over an empty axis are clear
    errors, as in numpy."""
    x = rand("float64", shape)
    reduced = np.sum(x, axis=axis, keepdims=True)
    if name in EMPTY_IS_ERROR and reduced.size and x.size == 0:
        with pytest.raises(ValueError):
            NUMPY[name](x, axis=axis)
        v = sg.tensor("x", "float64", (None,) * x.ndim)
        f = sg.function([v], call(name, "function", v, axis=axis))
        with pytest.raises(ValueError, match=f"(?s){name}.*empty"):
            f(x)
        return
    with warnings.catch_warnings(action="ignore"):   # numpy: "Mean of empty slice"
        check(name, x, axis=axis)


@pytest.mark.parametrize("name", NAMES)
def test_nan_and_inf(name):
    """NaN propagates through every reduction (argmax points at the first NaN); inf rows
    behave as numpy's."""
    nan, inf = np.nan, np.inf
    x = np.array([[1.0, nan, 3.0, 2.0], [1.0, 2.0, inf, 0.0], [-inf, 1.0, 2.0, -inf],
                  [-inf, -inf, -inf, -inf], [inf, inf, 1.0, 0.0], [nan, nan, nan, nan]])
    for dtype in ("float32", "float64"):
        check(name, x.astype(dtype), axis=1)
        check(name, x.astype(dtype), axis=None)


def test_logsumexp_of_large_and_tiny_values_is_finite():
    x = np.array([[1000.0, 1000.0, 999.0], [-1000.0, -1001.0, -1000.0]])
    check("logsumexp", x, axis=1)
    check("logsumexp", x.astype("float32"), axis=1)


def test_reductions_of_scalars_and_size():
    s = np.asarray(2.5)
    for name in ("sum", "prod", "mean", "max", "min", "argmax", "all", "logsumexp"):
        check(name, s)
    x = sg.dmatrix("x")
    assert x.size.dtype == "int64"
    assert int(x.size.eval({x: np.ones((3, 4))})) == 12


@pytest.mark.parametrize("name", NAMES)
def test_static_result_types(name):
    x = sg.tensor("x", "float32", (2, None, 4))
    kw = {} if name in ("argmax", "argmin") else {"keepdims": True}
    assert call(name, "method", x, axis=1, **kw).type.shape == ((2, 1, 4) if kw else (2, 4))
    assert call(name, "method", x, axis=-1).type.shape == (2, None)


@pytest.mark.parametrize("ndim,axis", [(2, 2), (2, -3), (2, (0, 0)), (2, (1, -1)),
                                       (3, (1, -2)), (3, 1.5), (3, "0")], ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_bad_axis(name, ndim, axis):
    """Out of range, repeated (after wrapping negatives) or not an int: a clear error."""
    with pytest.raises((ValueError, TypeError), match="axis"):
        call(name, "function", sg.tensor("x", "float64", (None,) * ndim), axis=axis)


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("axis", [None, 0, -1, (0, 2), ()], ids=str)
@pytest.mark.parametrize("name", ["sum", "mean", "prod", "max", "min", "logsumexp", "var",
                                  "std"])
def test_grad(name, axis, keepdims, rng):
    x = rng.uniform(0.5, 2, (2, 3, 4)) * rng.choice([-1, 1], (2, 3, 4))  # no ties (max)
    if name == "std" and axis == ():
        pytest.skip("std over no axis is sqrt(0): no derivative")
    check_grad(lambda v: call(name, "function", v, axis=axis, keepdims=keepdims), [x])


def test_grad_of_prod_with_zeros_is_exact(rng):
    """d prod / d x_i is the product of the others, also where x_i or another is 0."""
    x = rng.uniform(0.5, 2, (4, 5))
    x[1, 2] = 0                      # one zero in the row
    x[2, 0] = x[2, 3] = 0            # two zeros: the gradient is 0 everywhere in the row
    x[3, :] = 0                      # all zeros
    for axis in (1, None, 0):
        check_grad(lambda v: sg.prod(v, axis=axis), [x])
    v = sg.dvector("v")
    g = sg.grad(v.prod(), v).eval({v: np.array([2.0, 0.0, 3.0])})
    np.testing.assert_array_equal(g, [0.0, 6.0, 0.0])


def test_grad_of_logsumexp_at_large_values_is_softmax(rng):
    x = 1000 + rng.normal(size=(3, 4))
    check_grad(lambda v: sg.logsumexp(v, axis=1), [x])
    v = sg.dmatrix("v")
    g = sg.grad(sg.logsumexp(v, axis=1).sum(), v).eval({v: x})
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(g, e / e.sum(axis=1, keepdims=True), rtol=1e-12)


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("name", ["var", "std"])
def test_grad_with_ddof(name, ddof, rng):
    check_grad(lambda v: call(name, "method", v, axis=1, ddof=ddof), [rng.normal(size=(3, 4))])


def test_grad_of_max_goes_to_the_maximum_only():
    v = sg.dvector("v")
    g = sg.grad(v.max(), v).eval({v: np.array([1.0, 5.0, -2.0])})
    np.testing.assert_array_equal(g, [0.0, 1.0, 0.0])


def test_argmax_and_integer_reductions_have_no_gradient():
    x = sg.dvector("x")
    with pytest.raises(sg.DisconnectedInputError):
        sg.grad(x.argmax().astype("float64"), x)
    with pytest.raises(TypeError, match="float"):
        sg.grad(x.astype("int32").sum(), x)   # an int cost: nothing to differentiate


# ---- regressions found by a differential fuzzer -----------------------------------------
@pytest.mark.parametrize("ddof", [3, 4, 7])
def test_var_and_std_with_ddof_at_least_n_are_nan_or_inf_as_numpy(ddof):
    x = np.array([[1.0, 1.0, 1.0], [1.0, 2.0, 4.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        check_values(lambda v: sg.var(v, axis=1, ddof=ddof), lambda v: np.var(v, 1, ddof=ddof),
                     [x])
        check_values(lambda v: v.std(axis=1, ddof=ddof), lambda v: np.std(v, 1, ddof=ddof), [x])


@pytest.mark.parametrize("name", ["max", "min"])
def test_the_gradient_of_max_and_min_is_shared_among_ties(name):
    x = sg.dvector("x")
    pick = getattr(sg, name)
    g = sg.function([x], sg.grad(pick(sg.concatenate([x, x])), x))
    np.testing.assert_allclose(g([1.0, 3.0, 2.0] if name == "max" else [3.0, 1.0, 2.0]),
                               [0.0, 1.0, 0.0])
    m = sg.dmatrix("m")
    gm = sg.function([m], sg.grad(pick(m, axis=1).sum(), m))
    np.testing.assert_allclose(gm(np.array([[2.0, 2.0, 1.0], [0.0, 5.0, 5.0]]) *
                                  (1 if name == "max" else -1)),
                               [[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    check_grad(lambda v: pick(v, axis=0) * 3, [np.array([[0.1, 0.9], [0.4, 0.2]])])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_mean_gradient_counts_in_its_dtype_without_a_cast_kernel(dtype):
    """The count a mean's gradient divides by comes in the float dtype (no cast kernel to
    compile and launch), and is a constant where the sizes are static."""
    x = sg.tensor("x", dtype, (None, None))
    f = sg.function([x], sg.grad(x.mean(axis=0).sum(), x))
    ops = [str(n.op) for n in f.nodes]
    assert not any(o.startswith("cast") for o in ops), ops
    assert f"count{{axes=(0,), dtype={dtype}}}" in ops, ops
    got = f(np.ones((4, 3), dtype))
    assert got.dtype == dtype and np.allclose(got, 0.25)
    s = sg.tensor("s", dtype, (4, 3))
    g = sg.function([s], sg.grad(s.mean(), s))
    assert not any(str(n.op).startswith("count") for n in g.nodes)
    np.testing.assert_allclose(g(np.ones((4, 3), dtype)), np.full((4, 3), 1 / 12), rtol=1e-6)


def test_count_in_a_narrow_dtype_wraps_like_a_cast():
    x = sg.tensor("x", "int8", (None,))
    f = sg.function([x], sg.ops.shape.count(x, (0,), "int8"))
    assert int(f(np.zeros(300, "int8"))) == np.asarray(300).astype("int8")
