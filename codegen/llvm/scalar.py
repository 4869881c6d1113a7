"""Scalar code of kernel bodies: each IR opcode as LLVM instructions (a small table, ``_OPS``,
plus the vectorizable transcendentals of :mod:`codegen.llvm.vmath`), casts, and the
reduction combiners. :mod:`codegen.llvm.emit` builds the loop nests around it.

Semantics follow :data:`codegen.kernel.OPCODES`: integer ``//`` and ``%`` by zero give 0,
``MIN // -1`` gives ``MIN`` (guarded: x86's idiv would trap), float ``//`` and ``%`` port
numpy's ``npy_divmod``, float -> int casts saturate, and elementwise float math carries no
fast-math flag, not even ``contract``: every product rounds as numpy's does. Fusion
recomputes cheap values in several kernels and a staged kernel in several passes, and the
copies must agree to the bit: ``x * c - max(x * c)`` must be exactly 0 at the maximum, where
a multiply-add fused in one pass but not in another leaves the product's rounding error (at
1e100, enough to overflow exp). The benchmarks measured no cost for it.
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import llvmlite.ir as ir
import numpy as np

from codegen.kernel import (COMBINERS, FLOATS, OPCODES, Instr, Kernel, Store, live_values,
                            walk)
from codegen.llvm import vmath

I1, I8, I32, I64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
F64 = ir.DoubleType()
PTR = ir.PointerType()
_REG = {"bool": I1, "int8": I8, "uint8": I8, "uint32": I32, "int16": ir.IntType(16), "int32": I32,
        "int64": I64, "float32": ir.FloatType(), "float64": ir.DoubleType()}
_SIGNED = ("int8", "int16", "int32", "int64")

# Opcodes always rendered as LLVM intrinsics (single instructions on x86), never vmath/libm.
_INTRINSIC1 = {"sqrt": "llvm.sqrt", "floor": "llvm.floor", "ceil": "llvm.ceil",
               "trunc": "llvm.trunc", "round": "llvm.roundeven"}
# Float opcodes that are not one IEEE operation: vmath's when it has them, else LLVM's
# intrinsic (lowered to a libm call, which blocks vectorization) or libm directly.
_TRANSCENDENTAL = frozenset(n for n, oc in OPCODES.items() if oc.operands == "float"
                            and n not in _INTRINSIC1 and n != "div") | {"pow"}
_LIBM_ONLY = ("expm1", "log1p", "asinh", "acosh", "atanh", "erf", "erfc")



def _mem(dt: str) -> ir.Type:
    return I8 if dt == "bool" else _REG[dt]


def _const(dt: str, v) -> ir.Constant:
    """A constant with numpy's conversion of ``v`` to ``dt`` (float32 rounding, int wrap)."""
    if dt == "bool":
        return ir.Constant(I1, bool(v))
    if dt in FLOATS:
        return ir.Constant(_REG[dt], float(np.asarray(v, dtype=dt)))
    return ir.Constant(_REG[dt], int(np.asarray(v, dtype=dt).astype(np.int64)))


def _intrinsic(mod: ir.Module, name: str, ret: ir.Type, args: Sequence[ir.Type]) -> ir.Function:
    if name in mod.globals:
        return mod.globals[name]
    return ir.Function(mod, ir.FunctionType(ret, list(args)), name)


OUTLINE_MIN = 5
"""A kernel with more transcendental call sites than this calls the vmath functions out of
line, through vector variants (:func:`codegen.llvm.vmath.emit`): inlined, each site costs
LLVM a few milliseconds (a long chain and its gradient, fused, would take seconds), where
out of line the variants compile once per module and each site is one call. Measured on
the 2-core VM (tanh chains over 2**20 elements, one kernel): 15 sites compile in 30 ms
instead of 69 (float32; float64 34 instead of 74), 8 sites in about 35 ms less, for a run
time within 0-5% of the inlined code; at 1-4 sites inlining costs no more compile time and
runs up to 20% faster, and every kernel of the MLP, LSTM and LeNet benchmarks has 5 or
fewer."""


def vmath_sites(k: Kernel) -> int:
    """The kernel's transcendental call sites that :mod:`codegen.llvm.vmath` implements."""
    return sum(ins.op in vmath.SUPPORTED and ins.dtype in FLOATS for ins in k.body)


class ScalarEmitter:
    """Emits scalar code for one kernel into a function being built; ``vector_bits`` is
    the width of the target's vector registers the vectorizer uses."""

    def __init__(self, b: ir.IRBuilder, k: Kernel, vector_bits: int = 256):
        self.b, self.k, self.mod = b, k, b.module
        sites = vmath_sites(k)
        # The loop's widest type (64 bits when any float64 is present) sets the
        # vectorization factor, so float32 gets variants at both factors.
        self.lanes = ({"float64": (vector_bits // 64,),
                       "float32": (vector_bits // 64, vector_bits // 32)}
                      if sites > OUTLINE_MIN else {})

    # ---- small helpers -----------------------------------------------------------------
    def call(self, name: str, ret: ir.Type, args: Sequence[ir.Value], *,
             mangle: bool = True) -> ir.Value:
        """Call intrinsic ``name`` (type suffix added when ``mangle``) or a C function."""
        full = f"{name}.{ret.intrinsic_name}" if mangle else name
        return self.b.call(_intrinsic(self.mod, full, ret, [a.type for a in args]), list(args))

    def isnan(self, x):
        return self.b.fcmp_unordered("uno", x, x)

    # ---- scalar opcodes ----------------------------------------------------------------
    def scalar(self, op: str, dt: str, src: str, a: list[ir.Value]) -> ir.Value:
        """The value of opcode ``op`` producing ``dt`` from operands of dtype ``src``."""
        if op in _INTRINSIC1:
            return self.call(_INTRINSIC1[op], _REG[dt], a)
        if src in FLOATS and op in _TRANSCENDENTAL:
            if op in vmath.SUPPORTED:
                return vmath.emit(self.b, op, a, dt, self.lanes.get(dt, ()))
            if op in _LIBM_ONLY:
                return self.call(op + ("f" if dt == "float32" else ""), _REG[dt], a, mangle=False)
            return self.call(f"llvm.{op}", _REG[dt], a)
        return _OPS[op](self, dt, src, a)

    def int_divmod(self, src: str, x, y):
        """numpy's integer floor division and remainder: 0 for a zero divisor, and
        INT_MIN // -1 == INT_MIN without the trap x86's idiv raises."""
        b, t = self.b, x.type
        zero, one = ir.Constant(t, 0), ir.Constant(t, 1)
        by0 = b.icmp_unsigned("==", y, zero)
        if src not in _SIGNED:
            sy = b.select(by0, one, y)
            return b.select(by0, zero, b.udiv(x, sy)), b.select(by0, zero, b.urem(x, sy))
        imin = ir.Constant(t, -(1 << (t.width - 1)))
        ovf = b.and_(b.icmp_signed("==", x, imin), b.icmp_signed("==", y, ir.Constant(t, -1)))
        sy = b.select(b.or_(by0, ovf), one, y)
        q, r = b.sdiv(x, sy), b.srem(x, sy)
        adj = b.and_(b.icmp_signed("!=", r, zero),
                     b.icmp_signed("<", b.xor(r, y), zero))
        q = b.sub(q, b.zext(adj, t))
        r = b.add(r, b.select(adj, y, zero))
        return b.select(by0, zero, q), b.select(by0, zero, r)

    def float_divmod(self, dt: str, x, y):
        """numpy's ``npy_divmod`` (floor quotient snapped to an integer, Python-style
        remainder) with its IEEE results for a zero divisor; no fast-math flags."""
        b, t = self.b, x.type
        zero, one, half = ir.Constant(t, 0.0), ir.Constant(t, 1.0), ir.Constant(t, 0.5)
        mod = b.frem(x, y)
        div = b.fdiv(b.fsub(x, mod), y)
        mod_nz = b.fcmp_unordered("!=", mod, zero)
        fix = b.and_(mod_nz, b.xor(b.fcmp_ordered("<", y, zero), b.fcmp_ordered("<", mod, zero)))
        signed0 = self.call("llvm.copysign", t, [zero, y])
        mod = b.select(fix, b.fadd(mod, y), b.select(mod_nz, mod, signed0))
        div = b.select(fix, b.fsub(div, one), div)
        fl = self.call("llvm.floor", t, [div])
        fl = b.select(b.fcmp_ordered(">", b.fsub(div, fl), half), b.fadd(fl, one), fl)
        q = b.select(b.fcmp_unordered("!=", div, zero), fl,
                     self.call("llvm.copysign", t, [zero, b.fdiv(x, y)]))
        by0 = b.fcmp_ordered("==", y, zero)
        return b.select(by0, b.fdiv(x, y), q), b.select(by0, b.frem(x, y), mod)

    def ipow(self, src: str, x, y) -> ir.Value:
        """Integer power by squaring with wrap-around; negative exponents truncate like C."""
        t = x.type
        name = f"sg.ipow.{'s' if src in _SIGNED else 'u'}{t.width}"
        fn = self.mod.globals.get(name)
        if fn is None:
            fn = ir.Function(self.mod, ir.FunctionType(t, [t, t]), name)
            fn.linkage = "internal"
            base, exp = fn.args
            b = ir.IRBuilder(fn.append_basic_block("entry"))
            one, zero = ir.Constant(t, 1), ir.Constant(t, 0)
            head, body, done = (fn.append_basic_block(n) for n in ("head", "body", "done"))
            if src in _SIGNED:
                neg, pos = fn.append_basic_block("neg"), fn.append_basic_block("pos")
                b.cbranch(b.icmp_signed("<", exp, zero), neg, pos)
                b.position_at_end(neg)
                odd = b.icmp_unsigned("!=", b.and_(exp, one), zero)
                m1 = b.select(odd, ir.Constant(t, -1), one)
                b.ret(b.select(b.icmp_signed("==", base, one), one,
                               b.select(b.icmp_signed("==", base, ir.Constant(t, -1)), m1,
                                        zero)))
                b.position_at_end(pos)
            start = b.block
            b.branch(head)
            b.position_at_end(head)
            r, a, e = b.phi(t), b.phi(t), b.phi(t)
            for phi, v in ((r, one), (a, base), (e, exp)):
                phi.add_incoming(v, start)
            b.cbranch(b.icmp_unsigned("!=", e, zero), body, done)
            b.position_at_end(body)
            odd = b.icmp_unsigned("!=", b.and_(e, one), zero)
            r.add_incoming(b.select(odd, b.mul(r, a), r), body)
            a.add_incoming(b.mul(a, a), body)
            e.add_incoming(b.lshr(e, one), body)
            b.branch(head)
            b.position_at_end(done)
            b.ret(r)
        return self.b.call(fn, [x, y])

    def cast(self, dst: str, src: str, x) -> ir.Value:
        b = self.b
        if dst == src:
            return x
        if dst == "bool":
            if src in FLOATS:
                return b.fcmp_unordered("!=", x, ir.Constant(x.type, 0.0))
            return b.icmp_unsigned("!=", x, ir.Constant(x.type, 0))
        t = _REG[dst]
        if src in FLOATS:
            if dst in FLOATS:
                return b.fpext(x, t) if dst == "float64" else b.fptrunc(x, t)
            # Saturating: NaN and out-of-range give defined values (numpy leaves them
            # undefined); narrow types go through int32 and wrap like C on x86.
            wide = I64 if dst == "int64" else I32
            kind = "fptoui" if dst == "uint32" else "fptosi"
            v = self.call(f"llvm.{kind}.sat.{wide.intrinsic_name}.{x.type.intrinsic_name}",
                          wide, [x], mangle=False)
            return v if wide is t else b.trunc(v, t)
        signed = src in _SIGNED
        if dst in FLOATS:
            return b.sitofp(x, t) if signed else b.uitofp(x, t)
        if t.width < x.type.width:
            return b.trunc(x, t)
        if t.width > x.type.width:
            return b.sext(x, t) if signed else b.zext(x, t)
        return x

    def body(self, instrs: Sequence[Instr], load: Callable[[int], ir.Value],
             acc: ir.Value | None = None, count: ir.Value | None = None,
             reduced: dict[int, ir.Value] | None = None,
             needed: Sequence[int] | None = None,
             index: Callable[[tuple], ir.Value] | None = None) -> list[ir.Value | None]:
        """Emit a scalar SSA body; ``load(i)`` gives input ``i`` at the current point,
        ``reduced[j]`` the result of reduction store ``j`` and ``index(axes)`` the value of
        an ``index`` instruction. Only the values ``needed`` ones depend on are emitted
        (all when None); the others are None."""
        def emit(n: int, ins: Instr, src: str, a: list) -> ir.Value:
            op = ins.op
            if op == "load":
                return load(ins.attr)
            if op == "reduced":
                return reduced[ins.attr]
            if op == "index":
                return index(ins.attr)
            if op == "const":
                return _const(ins.dtype, ins.attr)
            if op == "acc":
                return acc
            if op == "count":
                return self.cast(ins.dtype, "int64", count)
            if op == "cast":
                return self.cast(ins.dtype, src, a[0])
            if op == "select":
                return self.b.select(a[0], a[1], a[2])
            return self.scalar(op, ins.dtype, src, a)
        return walk(instrs, emit, live_values(instrs, needed) if needed is not None else None)

    # ---- reduction combiners -----------------------------------------------------------
    def combine(self, red: str, dt: str, x, y, reassoc: bool = False) -> ir.Value:
        b = self.b
        if red in ("add", "mul"):
            if dt in FLOATS:
                fn = b.fadd if red == "add" else b.fmul
                return fn(x, y, flags=("reassoc",) if reassoc else ())
            return (b.add if red == "add" else b.mul)(x, y)
        if red in ("and", "or"):
            return (b.and_ if red == "and" else b.or_)(x, y)
        if dt in FLOATS:   # NaN-propagating like np.maximum, and a recognized reduction
            return self.call("llvm.maximum" if red == "max" else "llvm.minimum", x.type, [x, y])
        kind = ("s" if dt in _SIGNED else "u") + red
        return self.call(f"llvm.{kind}", x.type, [x, y])

    def identity(self, s: Store, dt: str, typ: ir.Type | None = None) -> ir.Constant:
        ident = COMBINERS[s.reduce][1](dt)
        if dt in FLOATS:
            return ir.Constant(typ or _REG[dt], float(ident))
        return _const(dt, ident)


_CMP = {"lt": "<", "le": "<=", "gt": ">", "ge": ">=", "eq": "==", "ne": "!="}


def _arith(fop, iop):
    def emit(e: ScalarEmitter, dt, src, a):
        if src in FLOATS:
            return getattr(e.b, fop)(a[0], a[1])
        return getattr(e.b, iop)(a[0], a[1])
    return emit


def _neg(e, dt, src, a):
    return e.b.fneg(a[0]) if src in FLOATS else e.b.neg(a[0])


def _abs(e, dt, src, a):
    x = a[0]
    if src in FLOATS:
        return e.call("llvm.fabs", x.type, [x])
    if src not in _SIGNED:
        return x
    return e.b.select(e.b.icmp_signed("<", x, ir.Constant(x.type, 0)), e.b.neg(x), x)


def _sign(e, dt, src, a):
    b, x, t = e.b, a[0], a[0].type
    if src in FLOATS:
        z = ir.Constant(t, 0.0)
        s = b.select(b.fcmp_ordered(">", x, z), ir.Constant(t, 1.0),
                     b.select(b.fcmp_ordered("<", x, z), ir.Constant(t, -1.0), z))
        return b.select(e.isnan(x), x, s)
    z = ir.Constant(t, 0)
    if src not in _SIGNED:
        return b.zext(b.icmp_unsigned("!=", x, z), t)
    return b.sub(b.zext(b.icmp_signed(">", x, z), t), b.zext(b.icmp_signed("<", x, z), t))


def _divmod(which):
    def emit(e, dt, src, a):
        return (e.float_divmod(dt, *a) if src in FLOATS else e.int_divmod(src, *a))[which]
    return emit


def _pow(e, dt, src, a):
    return e.ipow(src, *a)     # float pow is a transcendental


def _mulhi(e, dt, src, a):
    b = e.b
    wide = b.mul(b.zext(a[0], I64), b.zext(a[1], I64))
    return b.trunc(b.lshr(wide, ir.Constant(I64, 32)), I32)


def _minmax(which):
    def emit(e, dt, src, a):
        b, (x, y) = e.b, a
        if src in FLOATS:   # numpy: (x >= y || isnan(x)) ? x : y, NaN from either side
            keep = b.or_(b.fcmp_ordered(">=" if which == "max" else "<=", x, y), e.isnan(x))
            return b.select(keep, x, y)
        if src == "bool":
            return (b.or_ if which == "max" else b.and_)(x, y)
        kind = ("s" if src in _SIGNED else "u") + which
        return e.call(f"llvm.{kind}", x.type, [x, y])
    return emit


def _isclass(which):
    def emit(e, dt, src, a):
        x, b = a[0], e.b
        if src not in FLOATS:
            return ir.Constant(I1, which == "isfinite")
        if which == "isnan":
            return e.isnan(x)
        ax = e.call("llvm.fabs", x.type, [x])
        inf = ir.Constant(x.type, math.inf)
        return b.fcmp_ordered("==" if which == "isinf" else "<", ax, inf)
    return emit


def _cmp(name):
    op = _CMP[name]

    def emit(e, dt, src, a):
        b, (x, y) = e.b, a
        if src in FLOATS:
            return (b.fcmp_unordered if name == "ne" else b.fcmp_ordered)(op, x, y)
        return (b.icmp_signed if src in _SIGNED else b.icmp_unsigned)(op, x, y)
    return emit


_OPS: dict[str, Callable] = {
    "add": _arith("fadd", "add"), "sub": _arith("fsub", "sub"), "mul": _arith("fmul", "mul"),
    "div": lambda e, dt, src, a: e.b.fdiv(a[0], a[1]),
    "neg": _neg, "abs": _abs, "sign": _sign, "floordiv": _divmod(0), "mod": _divmod(1),
    "pow": _pow, "max": _minmax("max"), "min": _minmax("min"),
    "isnan": _isclass("isnan"), "isinf": _isclass("isinf"), "isfinite": _isclass("isfinite"),
    **{n: _cmp(n) for n in _CMP},
    "not": lambda e, dt, src, a: e.b.not_(a[0]),
    "and": lambda e, dt, src, a: e.b.and_(*a),
    "or": lambda e, dt, src, a: e.b.or_(*a),
    "xor": lambda e, dt, src, a: e.b.xor(*a),
    "mulhi": _mulhi,
}
