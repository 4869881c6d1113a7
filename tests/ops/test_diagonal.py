"""diagonal and trace against numpy on every backend (offsets, axes, ranks, shapes that
leave an empty diagonal), their gradients, and numpy's functions dispatching to them."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from tests.checks import check_grad, check_values, non_contiguous


@pytest.mark.parametrize("shape,offset,axis1,axis2", [
    ((3, 3), 0, 0, 1), ((3, 5), 2, 0, 1), ((5, 3), -2, 0, 1), ((3, 4), 7, 0, 1),
    ((2, 3, 4), 1, 2, 0), ((2, 3, 4), 0, -1, 1), ((0, 3), 0, 0, 1)])
def test_diagonal_and_trace(rand, shape, offset, axis1, axis2):
    x = rand("float64", shape)
    check_values(lambda v: sg.diagonal(v, offset, axis1, axis2),
                 lambda v: np.diagonal(v, offset, axis1, axis2), [x])
    check_values(lambda v: v.trace(offset, axis1, axis2),
                 lambda v: np.trace(v, offset, axis1, axis2), [x])
    if x.size:
        check_grad(lambda v: sg.diagonal(v, offset, axis1, axis2) * 2, [x])
        check_grad(lambda v: sg.trace(v, offset, axis1, axis2), [x])


def test_static_shapes_and_dispatch():
    m = sg.tensor("m", "float32", (3, 5))
    assert m.diagonal(1).type.shape == (3,) and m.diagonal(-1).type.shape == (2,)
    assert np.trace(m).owner is not None and np.diagonal(m).type.shape == (3,)
    check_values(lambda v: v.diagonal(), lambda v: v.diagonal(),
                 [non_contiguous(np.arange(12.0).reshape(3, 4))])
    with pytest.raises(ValueError, match="rank >= 2"):
        sg.diagonal(sg.dvector())
    with pytest.raises(ValueError, match="axis1 and axis2 are both 1"):
        sg.diagonal(sg.dmatrix(), 0, 1, -1)


def test_trace_is_no_longer_shadowed_by_the_source_line():
    x = sg.dmatrix("x")
    y = x * 2
    assert y.built_at.startswith(__file__ + ":")
    assert float(y.trace().eval({x: np.eye(3)})) == 6.0
