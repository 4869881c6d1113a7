"""sort, argsort and take_along_axis against numpy on every backend: axes, dtypes, ties
(stable), NaN, 0-size and non-contiguous inputs, and the gradients."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph.types import DTYPES
from tests.checks import check_grad, check_values, non_contiguous


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("axis", [0, 1, -1, None])
def test_sort_and_argsort(rand, dtype, axis):
    x = rand(dtype, (4, 5))
    check_values(lambda v: sg.sort(v, axis), lambda v: np.sort(v, axis, kind="stable"), [x])
    check_values(lambda v: sg.argsort(v, axis),
                 lambda v: np.argsort(v, axis, kind="stable").astype("int64"), [x])


@pytest.mark.parametrize("x", [np.array([2.0, np.nan, 1.0, 2.0, -np.inf]), np.zeros((0, 3)),
                               non_contiguous(np.arange(12.0).reshape(3, 4)[::-1])],
                         ids=["nan-ties", "empty", "strided"])
def test_sort_special_inputs(x):
    check_values(lambda v: sg.sort(v, 0), lambda v: np.sort(v, 0, kind="stable"), [x])
    check_values(lambda v: v.argsort(0), lambda v: np.argsort(v, 0, kind="stable"), [x])


def test_sort_dispatches_from_numpy_and_has_methods():
    x = sg.dmatrix("x")
    assert np.sort(x).owner.op.name == "sort" and x.argsort().owner.op.name == "argsort"


def test_sort_gradient(rand):
    x = rand("float64", (3, 4))
    check_grad(lambda v: sg.sort(v, axis=1) * np.arange(4.0), [x])
    check_grad(lambda v: sg.sort(v, axis=0)[0], [x])


def test_take_along_axis(rand):
    x = rand("float64", (3, 4))
    idx = np.array([[0, 3], [1, 1], [2, 0]])
    check_values(lambda v: sg.take_along_axis(v, idx, axis=1),
                 lambda v: np.take_along_axis(v, idx, axis=1), [x])
    check_grad(lambda v: sg.take_along_axis(v, idx, axis=1), [x])
    check_grad(lambda v: sg.grad((sg.take_along_axis(v, idx, axis=1) ** 2).sum(), v), [x])
    with pytest.raises(TypeError, match="integer indices of rank 2"):
        sg.take_along_axis(sg.dmatrix(), sg.lvector(), axis=1)
