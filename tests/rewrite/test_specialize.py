"""Specialize: small constant powers become multiplications, sqrt, rsqrt or reciprocal,
with numpy's values at the special points (negative, -0, inf, NaN): a rewrite must not
change a result for any input, the signed zeros and infinities included."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from tests.rewrite.helpers import op_names

VALUES = [-2.5, -1.0, 0.0, -0.0, 1e-30, 0.5, 3.0, 1e20, np.inf, -np.inf, np.nan]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("p, ops", [(3, ["square", "mul"]), (4, ["square", "square"]),
                                    # pow's values at -inf and -0 need a select
                                    # and an added +0 (algebra._pow_half)
                                    (0.5, ["equal", "sqrt", "add", "where"]),
                                    (-1, ["reciprocal"]),
                                    (-0.5, ["equal", "sqrt", "add", "where",
                                            "reciprocal"])])
def test_power_by_a_small_constant(p, ops, dtype):
    x = sg.tensor("x", dtype, (None,))
    f = sg.function([x], x ** p, fusion=False)
    assert op_names(sg.function([x], x ** p, rewrite=False)) == ["power"]
    assert op_names(f) == ops and f.rewrite_log.counts["power_specialize"] == 1
    a = np.array(VALUES, dtype)
    with np.errstate(all="ignore"):
        # elementwise pow (C99): numpy's scalar-exponent shortcut computes **0.5 as sqrt
        want = np.power(a, np.full_like(a, p))
    for g in (f, sg.function([x], x ** p)):
        got = g(a)
        assert got.dtype == dtype
        np.testing.assert_allclose(got, want, rtol=4e-7 if dtype == "float32" else 1e-15,
                                   equal_nan=True)
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("p, ops", [(3, ["square", "mul"]), (0.5, ["power"])])
def test_integer_powers_specialize_only_where_the_dtype_stays(p, ops):
    # int ** 0.5 is float: sqrt of the int would compute in the wrong dtype
    i = sg.lvector("i")
    f = sg.function([i], i ** p, fusion=False)
    assert op_names(f) == ops
    a = np.array([-3, 0, 2, 7])
    with np.errstate(invalid="ignore"):
        # exact for integer results; float results within the native pow's 2 ULP
        np.testing.assert_allclose(f(a), np.power(a, p), rtol=1e-15, equal_nan=True)
        assert f(a).dtype == np.power(a, p).dtype


def test_other_powers_stay_powers():
    x = sg.dvector("x")
    for p in (5, 1.5, -2, 0.25):
        assert op_names(sg.function([x], x ** p, fusion=False)) == ["power"]
