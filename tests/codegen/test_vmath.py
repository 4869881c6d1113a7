"""codegen.llvm.vmath: error bounds, special values, and that loops using it vectorize."""
from __future__ import annotations

import re

import llvmlite.ir as ir
import numpy as np
import pytest

from codegen.interpret import RULES
from codegen.kernel import OPCODES
from codegen.llvm import vmath
from codegen.llvm.vmath_accuracy import (LoopLib, max_ulp, random_bits, reference, samples,
                                         ulp_errors)

DTYPES = ("float32", "float64")
REQUIRED = {"exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sin", "cos", "tan",
            "tanh", "sigmoid", "softplus", "erf", "erfc", "pow", "atan", "atan2"}
NAMES = sorted(vmath.SUPPORTED)
MAX_ULP = 4.0          # every supported function, both dtypes (docs/backends.md has the table)


@pytest.fixture(scope="module", params=DTYPES)
def lib(request) -> LoopLib:
    return LoopLib(NAMES, request.param)


def test_supported():
    assert REQUIRED <= vmath.SUPPORTED <= set(OPCODES)


@pytest.mark.parametrize("name", NAMES)
def test_max_ulp(lib, name):
    n = 400_000 if lib.dtype == "float32" else 60_000
    err, worst = max_ulp(lib, name, n, seed=1)
    assert err <= MAX_ULP, f"{name} {lib.dtype}: {err:.2f} ulp at {worst}"


def _specials(dtype: str) -> np.ndarray:
    fi = np.finfo(dtype)
    t = np.dtype(dtype).type
    f32 = dtype == "float32"
    vals = [0.0, 1.0, 0.5, 2.0, 3.0, 10.0, 30.0, 100.0, 1e10, np.inf, fi.max, fi.tiny,
            fi.smallest_subnormal, fi.smallest_subnormal * 3, fi.eps, 1 - fi.epsneg / 2,
            1 + fi.eps, np.pi / 2, np.pi, 1e5, 2.0 ** 24 - 1 if f32 else 2.0 ** 53 - 1,
            # exp/sinh/cosh overflow, exp underflow and subnormal results, erfc underflow
            88.72283, 88.7229, 89.4, -87.3, -103.9, -104.0, 10.05, 10.1,
            709.782712893384, 709.7828, 710.4758, -708.4, -745.13, -745.2, 26.6, 27.3]
    v = np.array([t(x) for x in vals if abs(x) <= fi.max])
    return np.concatenate([v, -v, [np.nan]]).astype(dtype)


def _check_like_numpy(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """NaN, inf and zeros (with their sign) exactly as numpy; other values within bound."""
    assert np.array_equal(np.isnan(got), np.isnan(want)), what
    fin = ~np.isnan(want)
    special = fin & (np.isinf(want) | (want == 0))
    assert np.array_equal(got[special], want[special]), what
    assert np.array_equal(np.signbit(got[special]), np.signbit(want[special])), what
    finite = fin & ~special
    err = ulp_errors(got[finite], want[finite].astype(np.float64), got.dtype.name)
    assert err.max(initial=0) <= MAX_ULP + 1, what     # numpy itself is off by <= 1 ulp


@pytest.mark.parametrize("name", NAMES)
def test_special_values(lib, name):
    x = _specials(lib.dtype)
    if name in ("sin", "cos", "tan"):   # beyond TRIG_RANGE: see test_trig_beyond_range
        x = x[~(np.abs(x) > vmath.TRIG_RANGE[lib.dtype]) | np.isinf(x)]
    if vmath._IMPLS[name][0] == 2:
        ys = np.concatenate([x, np.array([0.5, 1.5, 3, 5, 7, 1e3 + 1, 2.0 ** 23 + 1], lib.dtype)])
        x, y = (a.ravel() for a in np.meshgrid(x, np.concatenate([ys, -ys])))
        args = [x, y]
    else:
        args = [x]
    got = lib(name, *args)
    with np.errstate(all="ignore"):
        want = RULES[name](*args)
    _check_like_numpy(got, want, f"{name} {lib.dtype} at {args}")


def test_subnormal_results_not_flushed(lib):
    lo, hi = (-745.0, -708.0) if lib.dtype == "float64" else (-103.9, -87.4)
    x = np.linspace(lo, hi, 10_000, dtype=lib.dtype)
    got = lib("exp", x)
    assert np.all(got > 0) and np.any(got < np.finfo(lib.dtype).tiny)
    assert ulp_errors(got, reference("exp", lib.dtype, [x]), lib.dtype).max() <= 1.0


@pytest.mark.parametrize("name", ["sin", "cos", "tan"])
def test_trig_beyond_range_is_bounded(lib, name):
    rng = np.random.default_rng(2)
    x = random_bits(lib.dtype, 100_000, rng)
    x = x[np.isfinite(x) & (np.abs(x) > vmath.TRIG_RANGE[lib.dtype])]
    got = lib(name, np.concatenate([x, -x]))
    assert not np.isnan(got).any()
    if name != "tan":
        assert np.abs(got).max() <= 1.0


def _switch_points(name: str, dtype: str) -> list[float]:
    """Where a function changes formula, scaling or special-value handling."""
    fi = np.finfo(dtype)
    f64 = dtype == "float64"
    ln_max, ln_tiny = np.log(fi.max), np.log(fi.tiny)
    ln_zero = np.log(float(fi.smallest_subnormal)) - np.log(2)     # exp rounds to 0 below
    m_switch = [np.sqrt(0.5) * 2.0 ** n for n in (-3, 0, 1, 5)]
    return {
        "exp": [ln_max, ln_tiny, ln_zero, 0.0],
        "expm1": [(fi.nmant + 8.5) * np.log(2), ln_max, 0.0],
        "sigmoid": [-ln_tiny, ln_tiny, ln_zero, 0.0],
        "tanh": [np.log(2) / 4, 20.0 if f64 else 10.0, 0.0],
        "log": m_switch + [fi.tiny, 1.0],
        "log2": m_switch + [fi.tiny, 1.0],
        "log10": m_switch + [fi.tiny, 1.0],
        "sin": [k * np.pi / 4 for k in (1, 2, 3, 5, 8, 2 ** 15 + 1)],
        "cos": [k * np.pi / 4 for k in (1, 2, 3, 5, 8, 2 ** 15 + 1)],
        "tan": [k * np.pi / 4 for k in (1, 2, 3, 5, 8, 2 ** 15 + 1)],
    }[name]


@pytest.mark.parametrize("name", ["exp", "expm1", "sigmoid", "tanh", "log", "log2", "log10",
                                  "sin", "cos", "tan"])
def test_switch_points_dense(lib, name):
    """Every float within 4096 ulps of each switch-over point, both signs."""
    it = np.int32 if lib.dtype == "float32" else np.int64
    steps = np.arange(-4096, 4097, dtype=it)
    pts = np.array(_switch_points(name, lib.dtype), lib.dtype)
    x = (pts.view(it)[:, None] + steps).ravel().view(lib.dtype)
    x = np.concatenate([x, -x])
    x = x[np.isfinite(x)]
    err = ulp_errors(lib(name, x), reference(name, lib.dtype, [x]), lib.dtype)
    assert err.max() <= MAX_ULP, f"{name} {lib.dtype}: {err.max():.2f} ulp at {x[np.argmax(err)]}"


def test_long_double_reference_matches_mpmath():
    mp = pytest.importorskip("mpmath")
    x = np.random.default_rng(3).uniform(-30, 30, 200)
    with mp.workdps(40):
        for name, f in [("exp", mp.exp), ("sin", mp.sin), ("tanh", mp.tanh),
                        ("log1p", lambda v: mp.log1p(v) if v > -1 else mp.nan)]:
            want = np.array([np.longdouble(mp.nstr(f(mp.mpf(float(v))), 25)) if v > -1 or
                             name != "log1p" else np.nan for v in x])
            err = ulp_errors(reference(name, "float64", [x]).astype(np.float64),
                             want, "float64")
            assert np.nanmax(err) <= 0.5 + 1e-3, name


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["exp", "log", "tanh", "sin", "pow", "erf"])
def test_loop_vectorizes(name, dtype):
    lib = LoopLib([name], dtype)
    body = lib.ir[lib.ir.index("@loop_"):]
    widths = [int(w) for w in re.findall(r"<(\d+) x (?:float|double)>", body)]
    assert widths and max(widths) >= 4, f"{name} {dtype} loop was not vectorized"
    callees = set(re.findall(r"call [^@]*@([\w.]+)\(", body))
    assert all(c.startswith("llvm.") for c in callees), callees   # no libm, all inlined


def test_out_of_line_variants_match_inlined_bits(lib):
    """The vector variants are the same formulas on vectors: every result, special values
    and NaN included, is bitwise the inlined function's, and the loop calls the variant."""
    dtype = lib.dtype
    lanes = (8,) if dtype == "float64" else (8, 16)
    out = LoopLib(NAMES, dtype, lanes)
    rng = np.random.default_rng(3)
    for name in NAMES:
        body = out.ir[out.ir.index(f"@loop_{name}("):]
        body = body[:body.index("\n}")]
        assert re.search(rf"call [^@]*@sg_vm_{name}_f(32|64)_v\d+\(", body), name
        args = [np.concatenate([_specials(dtype), a]) for a in samples(name, dtype, 4000, rng)]
        got, want = out(name, *args), lib(name, *args)
        assert np.array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}")), name


def test_emit_defines_each_function_once():
    m = ir.Module()
    ft = ir.FloatType()
    fn = ir.Function(m, ir.FunctionType(ft, [ft]), "f")
    b = ir.IRBuilder(fn.append_basic_block())
    y = vmath.emit(b, "exp", [vmath.emit(b, "exp", [fn.args[0]], "float32")], "float32")
    b.ret(y)
    assert str(m).count('define internal float @"sg.exp.f32"') == 1
    with pytest.raises(KeyError):
        vmath.emit(b, "gamma", [fn.args[0]], "float32")
