"""Measure :mod:`codegen.llvm.vmath`: max ULP error per function and dtype, and speed.

``python -m codegen.llvm.vmath_accuracy`` prints the accuracy table of ``docs/backends.md``
and the single-thread throughput of the vectorized loops next to numpy's (float32 from
memory, float32 and float64 in cache); ``--quick`` uses smaller accuracy samples. The tests
(``tests/codegen/test_vmath.py``) use the same pieces.

Each function is compiled in a loop ``out[i] = f(in[i])`` at O3 for the host CPU, as the
backend does. References: float64 numpy (scipy for erf/erfc) for float32 results; 80-bit
long double numpy (glibc's ``*l`` functions) for float64 results, except erf/erfc where it
is mpmath. ULP errors are in the ulp of the exact result, with the subnormal spacing fixed
below the smallest normal.
"""
from __future__ import annotations

import ctypes
import sys
import time
from typing import Callable

import llvmlite.binding as llvm
import llvmlite.ir as ir
import numpy as np

from codegen.llvm import vmath


def target_machine() -> llvm.TargetMachine:
    """A fresh host target machine (an MCJIT engine takes ownership of the one it gets)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=llvm.get_host_cpu_name(), features=llvm.get_host_cpu_features().flatten(), opt=3)


class LoopLib:
    """``out[i] = f(x[i], ...)`` loops for ``names`` in ``dtype``, compiled at O3 for the host.

    ``lib(name, *arrays)`` runs one; ``lib.ir`` and ``lib.asm`` are the optimized module.
    With ``lanes`` the loops call the functions out of line, through vector variants of
    those widths (see :func:`codegen.llvm.vmath.emit`).
    """

    def __init__(self, names: list[str], dtype: str, lanes: tuple[int, ...] = ()):
        self.dtype, self.arity = dtype, {n: vmath._IMPLS[n][0] for n in names}
        ft = ir.DoubleType() if dtype == "float64" else ir.FloatType()
        ptr, i64 = ir.PointerType(), ir.IntType(64)
        m = ir.Module("vmath_loops")
        tm = target_machine()
        m.triple, m.data_layout = tm.triple, str(tm.target_data)
        for name, arity in self.arity.items():
            fn = ir.Function(m, ir.FunctionType(ir.VoidType(), [ptr] * (arity + 1) + [i64]),
                             f"loop_{name}")
            for a in fn.args[:-1]:
                a.add_attribute("noalias")
            entry, body, done = (fn.append_basic_block(s) for s in ("entry", "body", "done"))
            b = ir.IRBuilder(entry)
            n = fn.args[-1]
            b.cbranch(b.icmp_signed(">", n, ir.Constant(i64, 0)), body, done)
            b.position_at_end(body)
            i = b.phi(i64)
            xs = [b.load(b.gep(p, [i], source_etype=ft), typ=ft) for p in fn.args[:arity]]
            b.store(vmath.emit(b, name, xs, dtype, lanes),
                    b.gep(fn.args[arity], [i], source_etype=ft))
            nxt = b.add(i, ir.Constant(i64, 1))
            i.add_incoming(ir.Constant(i64, 0), entry)
            i.add_incoming(nxt, body)
            b.cbranch(b.icmp_signed("<", nxt, n), body, done)
            ir.IRBuilder(done).ret_void()
        vmath.keep_variants(m)
        mod = llvm.parse_assembly(str(m))
        mod.verify()
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pto.loop_vectorization = pto.slp_vectorization = True
        llvm.create_pass_builder(tm, pto).getModulePassManager().run(
            mod, llvm.create_pass_builder(tm, pto))
        self.ir = str(mod)
        self.asm = tm.emit_assembly(mod)
        self._engine = llvm.create_mcjit_compiler(mod, tm)
        self._engine.finalize_object()
        self._fns = {n: ctypes.CFUNCTYPE(None, *[ctypes.c_void_p] * (a + 1), ctypes.c_int64)(
            self._engine.get_function_address(f"loop_{n}")) for n, a in self.arity.items()}

    def __call__(self, name: str, *xs: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        xs = [np.ascontiguousarray(x, self.dtype) for x in xs]
        out = np.empty(xs[0].shape, self.dtype) if out is None else out
        self._fns[name](*[x.ctypes.data for x in xs], out.ctypes.data, out.size)
        return out


# ---- references --------------------------------------------------------------------------

def _sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


def _softplus(x):
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


_NP = {"exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log, "log2": np.log2,
       "log10": np.log10, "log1p": np.log1p, "sin": np.sin, "cos": np.cos, "tan": np.tan,
       "tanh": np.tanh, "sigmoid": _sigmoid, "softplus": _softplus, "pow": np.power,
       "atan": np.arctan, "atan2": np.arctan2, "sinh": np.sinh, "cosh": np.cosh,
       "asin": np.arcsin, "acos": np.arccos, "asinh": np.arcsinh, "acosh": np.arccosh,
       "atanh": np.arctanh}


def _mp_ref(name: str, x: np.ndarray) -> np.ndarray:
    """erf/erfc with mpmath, rounded to long double (not to double: no double rounding)."""
    import mpmath as mp
    f = {"erf": mp.erf, "erfc": mp.erfc}[name]
    big = np.abs(x) > 30       # erf = +-1, erfc = 0 or 2 far below any ulp; mpmath balks
    limit = np.where(x > 0, 1.0, -1.0) if name == "erf" else np.where(x > 0, 0.0, 2.0)
    with mp.workdps(40):
        vals = [np.longdouble(mp.nstr(f(mp.mpf(float(v))), 25)) if np.isfinite(v) else 0
                for v in np.where(big, 0, x)]
    return np.where(np.isnan(x), np.nan, np.where(big, limit, np.array(vals, np.longdouble)))


def reference(name: str, dtype: str, xs: list[np.ndarray]) -> np.ndarray:
    """The exact result, to well beyond ``dtype``'s precision (float64 or long double)."""
    with np.errstate(all="ignore"):
        if name in ("erf", "erfc"):
            if dtype == "float64":
                return _mp_ref(name, xs[0])
            import scipy.special as sp
            return getattr(sp, name)(xs[0].astype(np.float64))
        wide = np.float64 if dtype == "float32" else np.longdouble
        return _NP[name](*[x.astype(wide) for x in xs])


def ulp_errors(got: np.ndarray, ref: np.ndarray, dtype: str) -> np.ndarray:
    """|got - ref| in ulps of ref in ``dtype``; 0 or inf where either is not finite in
    ``dtype`` (they must then be equal, NaN matching NaN)."""
    fi = np.finfo(dtype)
    with np.errstate(all="ignore"):
        ref_t = ref.astype(dtype)
        special = ~np.isfinite(ref_t) | ~np.isfinite(got)
        same = (got == ref_t) | (np.isnan(got) & np.isnan(ref_t))
        _, ex = np.frexp(np.where(special, 1, ref))
        ulp = np.ldexp(np.ones(ref.shape, ref.dtype),
                       np.maximum(ex - 1, fi.minexp) - fi.nmant)
        err = np.abs(got.astype(ref.dtype) - ref) / ulp
    return np.where(special, np.where(same, 0.0, np.inf), err).astype(np.float64)


# ---- samples -------------------------------------------------------------------------------

_RANGES = {  # dense uniform ranges: (float32, float64)
    "exp": ((-104, 89), (-746, 710)), "exp2": ((-150, 128), (-1075, 1024)),
    "expm1": ((-20, 89), (-40, 710)), "log": ((0, 4), (0, 4)), "log2": ((0, 4), (0, 4)),
    "log10": ((0, 4), (0, 4)), "log1p": ((-1, 4), (-1, 4)), "sin": ((-10, 10), (-10, 10)),
    "cos": ((-10, 10), (-10, 10)), "tan": ((-10, 10), (-10, 10)),
    "tanh": ((-10, 10), (-20, 20)), "sigmoid": ((-110, 90), (-750, 710)),
    "softplus": ((-110, 90), (-750, 750)), "erf": ((-5, 5), (-7, 7)),
    "erfc": ((-5, 11), (-7, 28)), "atan": ((-20, 20), (-20, 20)),
    "sinh": ((-90, 90), (-711, 711)), "cosh": ((-90, 90), (-711, 711)),
    "asin": ((-1, 1), (-1, 1)), "acos": ((-1, 1), (-1, 1)), "asinh": ((-20, 20), (-20, 20)),
    "acosh": ((1, 20), (1, 20)), "atanh": ((-1, 1), (-1, 1)),
    "pow": ((0, 4), (0, 4)), "atan2": ((-4, 4), (-4, 4)),
}
_TRIG = ("sin", "cos", "tan")


def random_bits(dtype: str, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` floats with uniformly random bit patterns: every binade, sign, special."""
    it = np.uint32 if dtype == "float32" else np.uint64
    return rng.integers(0, np.iinfo(it).max, n, dtype=it, endpoint=True).view(dtype)


def samples(name: str, dtype: str, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """Inputs for the accuracy measure: random bit patterns, a dense sweep of the
    interesting range, log-uniform magnitudes; for trig, the hard cases next to multiples
    of pi/2 (inside ``vmath.TRIG_RANGE`` only)."""
    lo, hi = _RANGES[name][dtype == "float64"]
    dt = np.dtype(dtype)

    def one() -> np.ndarray:
        mags = 10.0 ** rng.uniform(-45 if dtype == "float32" else -320,
                                   38 if dtype == "float32" else 308, n // 4)
        parts = [random_bits(dtype, n // 4, rng), np.linspace(lo, hi, n // 2),
                 mags * rng.choice([-1.0, 1.0], mags.size)]
        if name in _TRIG:
            rr = vmath.TRIG_RANGE[dtype]
            k = np.round(rng.uniform(0, rr / (np.pi / 2), n // 4))
            near = (k * (np.pi / 2)).astype(dt)
            parts += [near, np.nextafter(near, dt.type(np.inf)), rng.uniform(-rr, rr, n // 4)]
        x = np.concatenate([p.astype(dtype) for p in parts])
        return x[np.abs(x) <= vmath.TRIG_RANGE[dtype]] if name in _TRIG else x

    if vmath._IMPLS[name][0] == 1:
        return [one()]
    x, y = one(), one()
    m = min(x.size, y.size)
    x, y = x[:m], y[:m]
    if name == "pow":   # realistic exponents; near 1 with large y; negative bases, int y
        y[: m // 2] = rng.uniform(-60, 60, m // 2).astype(dtype)
        y[m // 4: m // 2] = np.round(y[m // 4: m // 2])
        x[m // 4: m // 2] *= -1
        x[: m // 8] = (1 + rng.uniform(-1e-3, 1e-3, m // 8)).astype(dtype)
        y[: m // 8] = rng.uniform(-3e4, 3e4, m // 8).astype(dtype)
    return [x, y]


def max_ulp(lib: LoopLib, name: str, n: int, seed: int = 0) -> tuple[float, np.ndarray]:
    """(max ULP error, worst inputs) of ``name`` over :func:`samples`."""
    xs = samples(name, lib.dtype, n, np.random.default_rng(seed))
    if lib.dtype == "float64" and name in ("erf", "erfc"):
        xs = [x[:: max(1, x.size // 20000)] for x in xs]   # mpmath is slow
    err = ulp_errors(lib(name, *xs), reference(name, lib.dtype, xs), lib.dtype)
    i = int(np.argmax(err))
    return float(err[i]), np.array([x[i] for x in xs])


# ---- report --------------------------------------------------------------------------------

def accuracy_table(n32: int, n64: int) -> str:
    libs = {dt: LoopLib(sorted(vmath.SUPPORTED), dt) for dt in ("float32", "float64")}
    rows = ["| function | float32 max ULP | float64 max ULP | dense sweep (f32 / f64) |",
            "|---|---|---|---|"]
    for name in sorted(vmath.SUPPORTED):
        e32, _ = max_ulp(libs["float32"], name, n32)
        e64, _ = max_ulp(libs["float64"], name, n64)
        r32, r64 = _RANGES[name]
        rows.append(f"| {name} | {e32:.2f} | {e64:.2f} | {list(r32)} / {list(r64)} |")
    return "\n".join(rows)


def throughput(dtype: str = "float32", n: int = 10_000_000, repeat: int = 5) -> str:
    """Single-thread time per element of the vmath loop and of numpy's ufunc on ``n``
    elements of ``dtype`` (10M: from memory; 128K: in cache), best of ``repeat`` runs of
    10M elements each."""
    lib = LoopLib(["exp", "tanh", "sin", "cos", "log", "pow"], dtype)
    rng = np.random.default_rng(0)
    x = rng.uniform(-10, 10, n).astype(dtype)
    pos = rng.uniform(0.01, 10, n).astype(dtype)
    out = np.empty_like(x)
    calls = max(1, 10_000_000 // n)
    lines = [f"| {dtype}, {n:,} elements | vmath ns/elem | numpy ns/elem | speedup |",
             "|---|---|---|---|"]
    cases = {"exp": ([x], np.exp), "tanh": ([x], np.tanh), "sin": ([x], np.sin),
             "cos": ([x], np.cos), "log": ([pos], np.log), "pow": ([pos, x], np.power)}
    for name, (args, f) in cases.items():
        def best(fn: Callable[[], object]) -> float:
            ts = []
            for _ in range(repeat):
                t = time.perf_counter()
                for _ in range(calls):
                    fn()
                ts.append((time.perf_counter() - t) / calls)
            return min(ts) / n * 1e9
        ours = best(lambda: lib(name, *args, out=out))
        theirs = best(lambda: f(*args, out=out))
        lines.append(f"| {name} | {ours:.2f} | {theirs:.2f} | {theirs / ours:.1f}x |")
    return "\n".join(lines)


def main(argv: list[str]) -> None:
    quick = "--quick" in argv
    print(f"host: {llvm.get_host_cpu_name()}, numpy {np.__version__}\n")
    print(accuracy_table(400_000 if quick else 4_000_000, 100_000 if quick else 1_000_000))
    for dtype, n in [("float32", 10_000_000), ("float32", 131_072), ("float64", 131_072)]:
        print()
        print(throughput(dtype, n))


if __name__ == "__main__":
    main(sys.argv[1:])
