"""Float code in LLVM IR that reads like math: :class:`Value` gives IR values Python's
operators, :class:`Emitter` the intrinsics, selects and bit manipulations the vector math
functions of :mod:`codegen.llvm.vmath` are written with."""
from __future__ import annotations

import llvmlite.ir as ir

from codegen.llvm.vmath_tables import PARAMS


class Value:
    """An IR value with Python operators, so the formulas below read like math.

    Float operands give fadd/fsub/fmul/fdiv and ordered compares; integer ones give
    add/sub/mul, ``>>`` (logical) and ``<<``; ``&``, ``|``, ``~`` act on i1 masks.
    """
    __slots__ = ("e", "v")

    def __init__(self, e: "Emitter", v: ir.Value):
        self.e, self.v = e, v

    @property
    def isfloat(self) -> bool:
        t = self.v.type
        return isinstance(t.element if isinstance(t, ir.VectorType) else t,
                          (ir.FloatType, ir.DoubleType))

    def _o(self, o) -> "Value":
        return o if isinstance(o, Value) else Value(self.e, ir.Constant(self.v.type, o))

    def _bin(self, fop: str, iop: str, o, swap: bool = False) -> "Value":
        a, b = (self._o(o), self) if swap else (self, self._o(o))
        return Value(self.e, getattr(self.e.b, fop if self.isfloat else iop)(a.v, b.v))

    def __add__(self, o): return self._bin("fadd", "add", o)
    def __radd__(self, o): return self._bin("fadd", "add", o, True)
    def __sub__(self, o): return self._bin("fsub", "sub", o)
    def __rsub__(self, o): return self._bin("fsub", "sub", o, True)
    def __mul__(self, o): return self._bin("fmul", "mul", o)
    def __rmul__(self, o): return self._bin("fmul", "mul", o, True)
    def __truediv__(self, o): return self._bin("fdiv", "sdiv", o)
    def __rtruediv__(self, o): return self._bin("fdiv", "sdiv", o, True)
    def __neg__(self): return Value(self.e, self.e.b.fneg(self.v))
    def __and__(self, o): return Value(self.e, self.e.b.and_(self.v, self._o(o).v))
    def __or__(self, o): return Value(self.e, self.e.b.or_(self.v, self._o(o).v))
    def __xor__(self, o): return Value(self.e, self.e.b.xor(self.v, self._o(o).v))
    def __invert__(self): return Value(self.e, self.e.b.not_(self.v))
    def __lshift__(self, n): return Value(self.e, self.e.b.shl(self.v, self._o(n).v))
    def __rshift__(self, n): return Value(self.e, self.e.b.lshr(self.v, self._o(n).v))

    def _cmp(self, op: str, o) -> "Value":
        b = self.e.b
        if self.isfloat:
            return Value(self.e, b.fcmp_ordered(op, self.v, self._o(o).v))
        return Value(self.e, b.icmp_signed(op, self.v, self._o(o).v))

    def __lt__(self, o): return self._cmp("<", o)
    def __le__(self, o): return self._cmp("<=", o)
    def __gt__(self, o): return self._cmp(">", o)
    def __ge__(self, o): return self._cmp(">=", o)
    def eq(self, o) -> "Value": return self._cmp("==", o)


def vector(t: ir.Type, lanes: int) -> ir.Type:
    """``t``, or a vector of ``lanes`` of it when ``lanes`` > 0."""
    return ir.VectorType(t, lanes) if lanes else t


class Emitter:
    """Emits the body of one vmath function in one float type, on scalars or (``lanes``
    > 0) on vectors of that many lanes: the same formulas give both, since every
    operation here is elementwise and constants are splatted."""

    def __init__(self, b: ir.IRBuilder, dtype: str, lanes: int = 0):
        self.b, self.dtype, self.lanes = b, dtype, lanes
        self.ibits = 64 if dtype == "float64" else 32
        self.ft = vector(ir.DoubleType() if dtype == "float64" else ir.FloatType(), lanes)
        self.it = vector(ir.IntType(self.ibits), lanes)
        self.suffix = (f"v{lanes}" if lanes else "") + ("f64" if dtype == "float64" else "f32")
        self.p = PARAMS[dtype]

    def f(self, x: float) -> Value:
        return Value(self, ir.Constant(self.ft, x))

    def _intr(self, name: str, *args: Value) -> Value:
        full = f"{name}.{self.suffix}"
        fn = self.b.module.globals.get(full) or ir.Function(
            self.b.module, ir.FunctionType(self.ft, [self.ft] * len(args)), full)
        return Value(self, self.b.call(fn, [a.v for a in args]))

    def fma(self, a, b, c) -> Value:
        return self._intr("llvm.fma", *(x if isinstance(x, Value) else self.f(x)
                                         for x in (a, b, c)))

    def floor(self, x): return self._intr("llvm.floor", x)
    def abs(self, x): return self._intr("llvm.fabs", x)
    def sqrt(self, x): return self._intr("llvm.sqrt", x)
    def copysign(self, x, s): return self._intr("llvm.copysign", x, s)

    def max(self, x: Value, y: float) -> Value:
        """maxnum: a NaN x gives y (callers restore NaN at the end), so no NaN reaches an
        integer conversion."""
        return self._intr("llvm.maxnum", x, self.f(y))

    def min(self, x: Value, y: float) -> Value:
        return self._intr("llvm.minnum", x, self.f(y))

    def clamp(self, x: Value, lo: float, hi: float) -> Value:
        return self.min(self.max(x, lo), hi)

    def clip(self, x: Value, lo: float | None, hi: float | None) -> Value:
        """Like clamp, but a NaN x stays NaN (one x86 min/max each, operands ordered so);
        for paths without integer conversions, so that NaN needs no select at the end."""
        if lo is not None:
            x = self.sel(x < lo, lo, x)
        return x if hi is None else self.sel(x > hi, hi, x)

    def sel(self, c: Value, a, b) -> Value:
        a = a if isinstance(a, Value) else self.f(a)
        b = b if isinstance(b, Value) else self.f(b)
        return Value(self, self.b.select(c.v, a.v, b.v))

    def isnan(self, x: Value) -> Value:
        return Value(self, self.b.fcmp_unordered("uno", x.v, x.v))

    def signbit(self, x: Value) -> Value:
        return self.bits(x) < 0

    def sar(self, i: Value, n: int) -> Value:
        """Arithmetic (sign-extending) right shift of an integer."""
        return Value(self, self.b.ashr(i.v, ir.Constant(self.it, n)))

    def bits(self, x: Value) -> Value:
        return Value(self, self.b.bitcast(x.v, self.it))

    def from_bits(self, i: Value) -> Value:
        return Value(self, self.b.bitcast(i.v, self.ft))

    def poly(self, x: Value, coefs) -> Value:
        """Horner's rule with fused multiply-adds, lowest coefficient first."""
        acc = self.f(coefs[-1])
        for c in reversed(coefs[:-1]):
            acc = self.fma(acc, x, c)
        return acc

    def int_to_float(self, i: Value) -> Value:
        """A small integer to float through i32 (AVX2 has no vector i64 -> double)."""
        i32 = (self.b.trunc(i.v, vector(ir.IntType(32), self.lanes)) if self.ibits == 64
               else i.v)
        return Value(self, self.b.sitofp(i32, self.ft))

    def pow2_bits(self, kb: Value) -> Value:
        """2^k from an integer whose low exponent-width bits hold k + bias (the higher
        bits, such as a shifter's, are shifted out); k in the normal exponent range."""
        return self.from_bits(kb << self.p.mant)


def two_sum(a: Value, b: Value) -> tuple[Value, Value]:
    """Knuth's TwoSum: s + t == a + b exactly."""
    s = a + b
    bp = s - a
    return s, (a - (s - bp)) + (b - bp)


def fast_two_sum(a: Value, b: Value) -> tuple[Value, Value]:
    """Dekker's Fast2Sum for |a| >= |b|: s + t == a + b exactly."""
    s = a + b
    return s, b - (s - a)
