"""The library of calls by name: every entry against numpy on the host library, the errors
it gives for input that does not fit, ``out=`` used only when it fits, views that are
views, and the device library written without numpy conversions."""
from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import codegen.lib.array as array_lib
from codegen.lib import index as ix
from codegen.lib.numpy import LIBRARY as L

RNG = np.random.default_rng(7)
LIB_DIR = Path(array_lib.__file__).parent


def test_every_backend_library_has_the_same_entries():
    assert L.names() == array_lib.names()
    assert "dot" in L and "nothing" not in L
    with pytest.raises(KeyError, match="no entry 'conv9d'.*argmax"):
        L.entry("conv9d")


@pytest.mark.parametrize("sa,sb", [((3, 4), (4, 5)), ((4,), (4, 5)), ((3, 4), (4,)),
                                   ((4,), (4,)), ((0, 4), (4, 2)), ((3, 0), (0, 2))])
def test_dot(sa, sb):
    a, b = RNG.standard_normal(sa), RNG.standard_normal(sb).astype("float32")
    got = L["dot"](a, b, dtype="float64")
    np.testing.assert_allclose(got, np.dot(a, b.astype("float64")), rtol=1e-12)
    assert got.dtype == np.float64 and isinstance(got, np.ndarray)


def test_dot_writes_out_when_it_fits_and_ignores_it_otherwise():
    a, b = RNG.standard_normal((3, 4)), RNG.standard_normal((4, 5))
    out = np.empty((3, 5))
    assert L["dot"](a, b, dtype="float64", out=out) is out
    np.testing.assert_allclose(out, a @ b, rtol=1e-12)
    # the wrong shape, the wrong dtype, not C-contiguous, read-only
    readonly = np.empty((3, 5))
    readonly.setflags(write=False)
    for bad in (np.empty((5, 3)), np.empty((3, 5), "float32"), np.empty((5, 3)).T, readonly):
        got = L["dot"](a, b, dtype="float64", out=bad)
        assert got is not bad
        np.testing.assert_allclose(got, a @ b, rtol=1e-12)


def test_contraction_errors_name_both_shapes():
    with pytest.raises(ValueError, match=r"\(3, 4\) and \(5,\) do not align"):
        L["dot"](np.ones((3, 4)), np.ones(5), dtype="float64")
    with pytest.raises(ValueError, match=r"batch axis 0"):
        L["matmul"](np.ones((2, 3, 4)), np.ones((3, 4, 5)), dtype="float64", bcast=((), ()))


def test_matmul_broadcasts_only_the_declared_batch_axes():
    a, b = RNG.standard_normal((2, 3, 4)), RNG.standard_normal((1, 4, 5))
    np.testing.assert_allclose(L["matmul"](a, b, dtype="float64", bcast=((), (0,))),
                               a @ b, rtol=1e-12)
    with pytest.raises(ValueError, match="batch axis 0"):
        L["matmul"](a, b, dtype="float64", bcast=((), ()))


@pytest.mark.parametrize("axis,keepdims", [(None, False), (0, False), (1, True)])
@pytest.mark.parametrize("minimum", [False, True])
def test_argmax(axis, keepdims, minimum):
    x = RNG.standard_normal((4, 5))
    f = np.argmin if minimum else np.argmax
    got = L["argmax"](x, axis=axis, keepdims=keepdims, minimum=minimum)
    np.testing.assert_array_equal(got, f(x, axis=axis, keepdims=keepdims))
    assert got.dtype == np.int64
    with pytest.raises(ValueError, match="empty sequence"):
        L["argmax"](np.ones((0, 3)), axis=0, keepdims=False, minimum=minimum)


@pytest.mark.parametrize("log", [False, True])
def test_softmax_shifts_by_a_finite_maximum_only(log):
    x = np.array([[1e4, 1e4], [-np.inf, -np.inf], [0.0, np.log(3.0)]])
    got = L["softmax"](x, axis=1, log=log)
    want = np.array([[0.5, 0.5], [np.nan, np.nan], [0.25, 0.75]])
    np.testing.assert_allclose(got, np.log(want) if log else want, rtol=1e-12)
    assert L["softmax"](np.ones((0, 3)), axis=1, log=log).shape == (0, 3)


def test_sort_and_argsort_are_stable_with_nan_last():
    x = np.array([[3.0, np.nan, 1.0, 1.0], [0.0, -1.0, 2.0, -1.0]])
    np.testing.assert_array_equal(L["sort"](x, axis=1, indices=False), np.sort(x, axis=1))
    got = L["sort"](x, axis=1, indices=True)
    np.testing.assert_array_equal(got, np.argsort(x, axis=1, kind="stable"))
    assert got.dtype == np.int64


def test_take_and_put_along_axis():
    x = RNG.standard_normal((3, 4))
    idx = np.array([[0, 0, 3], [1, 2, 2], [3, 3, 3]])
    np.testing.assert_array_equal(L["take_along_axis"](x, idx, axis=1),
                                  np.take_along_axis(x, idx, axis=1))
    g = np.ones((3, 3))
    want = np.zeros((3, 4))
    for r in range(3):
        for c in idx[r]:
            want[r, c] += 1
    np.testing.assert_array_equal(L["put_along_axis"](g, idx, x, axis=1), want)
    with pytest.raises(IndexError, match="index 4 is out of range for axis 1 of size 4"):
        L["take_along_axis"](x, idx + 1, axis=1)


def test_counts_and_shapes():
    x = np.empty((2, 3, 5))
    assert L["count"](x, axes=(0, 2)) == 10 and L["count"](x, axes=(0, 2)).dtype == np.int64
    np.testing.assert_array_equal(L["shape"](x), [2, 3, 5])
    got = L["concatenate"](np.ones((2, 1), "float32"), np.zeros((2, 2)), axis=1,
                           dtype="float64")
    assert got.dtype == np.float64 and got.tolist() == [[1, 0, 0], [1, 0, 0]]


@pytest.mark.parametrize("name,args,params,want", [
    ("dimshuffle", [np.ones((3, 1, 2))], dict(pattern=(2, "x", 0)), (2, 1, 3)),
    ("reshape", [np.ones((3, 4)), np.array([2, -1])], {}, (2, 6)),
    ("broadcast_to", [np.ones((1, 4)), np.array([3, 1, 4])], dict(ones=(0,)), (3, 1, 4)),
    ("subtensor", [np.ones((3, 4)), np.int64(1)],
     dict(index=(("int", ix.SYM), ("slice", None, None, -1))), (4,)),
    ("view", [np.ones(3)], {}, (3,)),
    ("diagonal", [np.ones((3, 4))], dict(offset=1, axis1=0, axis2=1), (3,)),
])
def test_view_entries_are_views(name, args, params, want):
    out = L[name](*args, **params)
    assert L.entry(name).view and out.shape == want
    assert np.shares_memory(out, args[0]) and out.base is not None


def test_view_entries_check_what_they_get():
    with pytest.raises(ValueError, match="not of size 1"):
        L["dimshuffle"](np.ones((3, 2)), pattern=(0,))
    with pytest.raises(ValueError, match=r"cannot reshape an array of shape \(3, 4\) to \(5,"):
        L["reshape"](np.ones((3, 4)), np.array([5, -1]))
    with pytest.raises(ValueError, match="axis 1 is not of static size 1"):
        L["broadcast_to"](np.ones((1, 4)), np.array([3, 5]), ones=(0,))
    with pytest.raises(IndexError, match="index 3 is out of range for axis 0 of size 3"):
        L["subtensor"](np.ones((3, 4)), np.int64(3), index=(("int", ix.SYM),))


def test_gathers_and_scatters():
    x = np.arange(12.0).reshape(3, 4)
    index = (("slice", None, None, None), ("array", 1))
    idx = np.array([3, 0, 3])
    np.testing.assert_array_equal(L["gather"](x, idx, index=index), x[:, idx])
    inc = L["scatter"](x, np.ones((3, 3)), idx, index=index, set=False, ones=())
    want = x.copy()
    np.add.at(want, (slice(None), idx), 1.0)
    np.testing.assert_array_equal(inc, want)
    np.testing.assert_array_equal(x, np.arange(12.0).reshape(3, 4))    # x is not written
    with pytest.raises(ValueError, match="does not fit the region"):
        L["scatter"](x, np.ones((2, 3)), idx, index=index, set=True, ones=())
    got = L["write_slice"](x, np.full(4, 7.0), np.int64(-1), index=(("int", ix.SYM),),
                           set=True, ones=())
    assert got[-1].tolist() == [7.0] * 4 and x[-1, 0] == 8.0
    with pytest.raises(IndexError, match="index -4 is out of range"):
        L["gather"](x, np.array([-4]), index=(("array", 1),))


def test_pick_and_its_gradient_check_labels():
    p = RNG.standard_normal((3, 4))
    labels = np.array([3, 0, 2])
    np.testing.assert_array_equal(L["pick"](p, labels), p[np.arange(3), labels])
    g = L["pick_grad"](np.ones(3), labels, p)
    assert g.sum() == 3 and g[0, 3] == 1 and g[1, 0] == 1
    with pytest.raises(IndexError, match=r"label 4 at position \(1,\) is out of range"):
        L["pick"](p, np.array([0, 4, 1]))
    with pytest.raises(ValueError, match="labels need shape"):
        L["pick"](p, np.array([0, 1]))


def test_alloc_diagonal_is_the_gradient_of_diagonal():
    x = np.zeros((3, 4, 2))
    for offset in (-1, 0, 2):
        g = RNG.standard_normal(np.diagonal(x, offset, 0, 1).shape)
        out = L["alloc_diagonal"](g, x, offset=offset, axis1=0, axis2=1)
        np.testing.assert_array_equal(np.diagonal(out, offset, 0, 1), g)
        assert np.count_nonzero(out) == np.count_nonzero(g)


def _numpy_calls(path: Path) -> set[str]:
    """``np.<name>`` used in a module (numpy function calls and attributes)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and \
                node.value.id in ("np", "numpy"):
            found.add(node.attr)
    return found


def test_the_device_library_never_converts_device_arrays_to_numpy():
    """The entries work on whatever array module they are given: numpy appears only for
    its error-state switch, never to convert or compute (np.asarray of a CuPy array
    would be a device-to-host copy, or an error)."""
    assert _numpy_calls(LIB_DIR / "array.py") <= {"errstate"}
    assert _numpy_calls(LIB_DIR / "cupy.py") == set()
    assert _numpy_calls(LIB_DIR / "index.py") == set()
    assert _numpy_calls(LIB_DIR / "conv.py") == set()
    assert _numpy_calls(LIB_DIR / "window.py") == set()
