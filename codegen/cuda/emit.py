"""Render a kernel IR :class:`~codegen.kernel.Kernel` to CUDA C source text.

One source per call signature *variant*, each a prelude of helpers, the kernel's IR listing
as a comment, and ``extern "C" __global__`` entry points named ``{kernel.name}_{hash}_{role}``:

``contiguous``
    every input is C-contiguous with the domain's shape or is a single element (broadcast
    everywhere; bit ``j`` of the ``bcast`` argument says so for input ``j``), and every output
    is C-contiguous. Elementwise kernels are a flat grid-stride loop: ``vec{N}`` moves 16 bytes
    per access (``N`` elements of the widest dtype) when the launcher finds every pointer
    aligned, ``flat`` is the scalar fallback.
``strided``
    any element strides (0 broadcasts, negative allowed) and the domain shape, passed as
    ``long long`` arguments; ``strided`` unravels the flat index per element.

A kernel with reduction stores has, in both variants, three entry points sharing one
parameter list (the launcher picks by shape): ``thread`` gives each output element to one
thread, ``block`` to a thread block (a warp-shuffle + shared-memory tree); each may split an
output's reduced elements over ``nsplit`` threads or blocks, which then write partial
results that ``finish`` combines, one block per output, in a fixed order (deterministic, no
atomics). Elementwise stores of a mixed kernel are written in the same loops, since every
domain point is visited exactly once.

Parameters, in order (see :func:`params`): inputs ``in{j}``, outputs ``out{j}``, then for
reductions one ``part{j}`` scratch buffer per reduction store; then ``n, bcast`` (contiguous
elementwise) or the domain shape ``d0..`` followed by ``bcast`` (contiguous) or the element
strides ``in0_s0..`` of every input then every output (strided), and finally ``nsplit`` for
reductions.

>>> from codegen.kernel import Buffer, Instr, Kernel, Store
>>> k = Kernel("neg", (Buffer("x", "float32", 1),), (Buffer("y", "float32", 1),), 1,
...            (Instr("load", "float32", (), 0), Instr("neg", "float32", (0,))), (Store(1),))
>>> [name.rsplit("_", 1)[1] for name in entry_names(k, True).values()]
['vec4', 'flat']
"""
from __future__ import annotations

import hashlib
import math
import re
import warnings
from string import Template
from typing import Callable, Sequence

import numpy as np

from codegen.kernel import FLOATS, Instr, Kernel, format_kernel, split_stages

CTYPE = {"bool": "bool", "int8": "signed char", "int16": "short", "int32": "int",
         "int64": "long long", "uint8": "unsigned char", "float32": "float",
         "float64": "double"}
ITEMSIZE = {dt: np.dtype(dt).itemsize for dt in CTYPE}

# --- the opcode table ----------------------------------------------------------------------
# opcode -> {operand kind: C expression}. {0} {1} are operands, {T} their C type, {f} the
# float32 suffix of the math functions, {W} an unsigned type in which integer arithmetic
# wraps as numpy's does (signed overflow is undefined behaviour in C++).
_F, _I, _B = "float", "int", "bool"
_MATH = ("exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin", "cos", "tan",
         "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh", "erf",
         "erfc", "floor", "ceil", "trunc")


def _every(template: str) -> dict[str, str]:
    return {_F: template, _I: template, _B: template}


def _wrapping(op: str) -> dict[str, str]:
    return {_F: f"{{0}} {op} {{1}}", _I: f"({{T}})(({{W}}){{0}} {op} ({{W}}){{1}})"}


OPS: dict[str, dict[str, str]] = {
    **{name: {_F: name + "{f}({0})"} for name in _MATH},
    "round": {_F: "rint{f}({0})"},  # round half to even, as numpy
    "sigmoid": {_F: "sg_sigmoid({0})"},
    "softplus": {_F: "sg_softplus({0})"},
    "div": {_F: "{0} / {1}"},
    "atan2": {_F: "atan2{f}({0}, {1})"},
    "neg": {_F: "-{0}", _I: "({T})(0u - ({W}){0})"},
    "abs": {_F: "fabs{f}({0})", _I: "sg_abs({0})"},
    "sign": {_F: "sg_sign({0})", _I: "sg_sign({0})"},
    "add": _wrapping("+"),
    "sub": _wrapping("-"),
    "mul": _wrapping("*"),
    "floordiv": {_F: "sg_floordiv({0}, {1})", _I: "sg_floordiv({0}, {1})"},
    "mod": {_F: "sg_mod({0}, {1})", _I: "sg_mod({0}, {1})"},
    "pow": {_F: "pow{f}({0}, {1})", _I: "sg_ipow({0}, {1})"},
    "max": _every("sg_max({0}, {1})"),
    "min": _every("sg_min({0}, {1})"),
    "isnan": {_F: "{0} != {0}", _I: "false", _B: "false"},
    "isinf": {_F: "sg_isinf({0})", _I: "false", _B: "false"},
    "isfinite": {_F: "sg_isfinite({0})", _I: "true", _B: "true"},
    "lt": _every("{0} < {1}"), "le": _every("{0} <= {1}"), "gt": _every("{0} > {1}"),
    "ge": _every("{0} >= {1}"), "eq": _every("{0} == {1}"), "ne": _every("{0} != {1}"),
    "not": {_I: "({T})~{0}", _B: "!{0}"},
    "and": {_I: "({T})({0} & {1})", _B: "{0} && {1}"},
    "or": {_I: "({T})({0} | {1})", _B: "{0} || {1}"},
    "xor": {_I: "({T})({0} ^ {1})", _B: "{0} != {1}"},
}

# Reduction combiner -> the opcode that combines two partial values. numpy reduces bools in
# bool, where add is logical or and mul logical and.
_COMBINE_OP = {"add": "add", "mul": "mul", "max": "max", "min": "min", "and": "and", "or": "or"}
_BOOL_COMBINE_OP = {"add": "or", "mul": "and"}


def _kind(dtype: str) -> str:
    return _F if dtype in FLOATS else _B if dtype == "bool" else _I


def expr(op: str, dtype: str, args: Sequence[str]) -> str:
    """The C expression of opcode ``op`` on operands ``args`` of ``dtype``.

    >>> expr("add", "int32", ["a", "b"])
    '(int)((unsigned)a + (unsigned)b)'
    """
    template = OPS[op][_kind(dtype)]
    return template.format(*args, T=CTYPE[dtype], f="f" if dtype == "float32" else "",
                           W="unsigned long long" if dtype == "int64" else "unsigned")


def cast(src: str, dst: str, a: str) -> str:
    """C expression converting ``a`` from ``src`` to ``dst`` as numpy's ``astype``, except
    that float -> int saturates and maps NaN to 0 (numpy leaves those undefined)."""
    if dst == "bool":
        return f"{a} != 0"
    if src in FLOATS and dst not in FLOATS:
        return f"sg_ftoi<{CTYPE[dst]}>({a})"
    return f"({CTYPE[dst]}){a}"


def literal(value: object, dtype: str) -> str:
    """An exact C literal of ``value`` converted to ``dtype`` as :func:`interpret` does.

    >>> literal(0.1, "float32"), literal(-np.inf, "float64"), literal(-2**63, "int64")
    ('0.1f', '-SG_INF', '(-9223372036854775807LL - 1)')
    """
    v = np.asarray(value, dtype=dtype).item()
    if dtype == "bool":
        return "true" if v else "false"
    if dtype not in FLOATS:
        if dtype == "int64":
            return "(-9223372036854775807LL - 1)" if v == -2**63 else f"{v}LL"
        return str(v)
    suffix = "_F" if dtype == "float32" else ""
    if math.isnan(v):
        return "SG_NAN" + suffix
    if math.isinf(v):
        return ("-" if v < 0 else "") + "SG_INF" + suffix
    if dtype == "float64":
        text = repr(v)
    else:  # the shortest decimal that reads back as the same float32
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            text = next(s for p in range(1, 10) for s in [f"{v:.{p}g}"]
                        if float(np.float32(s)) == v)
    if not any(c in text for c in ".e"):
        text += ".0"
    return text + ("f" if dtype == "float32" else "")


# --- the prelude ---------------------------------------------------------------------------
_PRELUDE = r"""#ifndef SYMGRAPH_CUDA_PRELUDE
#define SYMGRAPH_CUDA_PRELUDE
// symgraph CUDA prelude: the semantics of codegen.kernel.OPCODES (numpy's) in device code.
#define SG_INF_F __int_as_float(0x7f800000)
#define SG_NAN_F __int_as_float(0x7fc00000)
#define SG_INF __longlong_as_double(0x7ff0000000000000LL)
#define SG_NAN __longlong_as_double(0x7ff8000000000000LL)

// N elements moved by one 16-byte (or narrower) vector load or store.
template <typename T, int N> struct alignas(sizeof(T) * N) sg_vec { T v[N]; };
template <typename T, int N> __device__ __forceinline__ sg_vec<T, N> sg_splat(T x) {
  sg_vec<T, N> r;
#pragma unroll
  for (int e = 0; e < N; ++e) r.v[e] = x;
  return r;
}

// Unsigned type in which integer arithmetic wraps as numpy's (signed overflow is UB in C++).
template <typename T> struct sg_wide { typedef unsigned type; };
template <> struct sg_wide<long long> { typedef unsigned long long type; };

template <typename T> struct sg_lim;
template <> struct sg_lim<signed char> { static constexpr signed char lo = -128, hi = 127; };
template <> struct sg_lim<short> { static constexpr short lo = -32768, hi = 32767; };
template <> struct sg_lim<int> { static constexpr int lo = -2147483647 - 1, hi = 2147483647; };
template <> struct sg_lim<long long> {
  static constexpr long long lo = -9223372036854775807LL - 1, hi = 9223372036854775807LL;
};
template <> struct sg_lim<unsigned char> { static constexpr unsigned char lo = 0, hi = 255; };

// float -> integer: NaN gives 0 and out-of-range values saturate; a C++ cast is UB there.
template <typename To, typename From> __device__ __forceinline__ To sg_ftoi(From a) {
  if (a != a) return 0;
  if (a <= (From)sg_lim<To>::lo) return sg_lim<To>::lo;
  if (a >= (From)sg_lim<To>::hi) return sg_lim<To>::hi;
  return (To)a;
}

// max/min propagate NaN like numpy (fmaxf/fminf return the other operand).
template <typename T> __device__ __forceinline__ T sg_max(T a, T b) { return (a > b || a != a) ? a : b; }
template <typename T> __device__ __forceinline__ T sg_min(T a, T b) { return (a < b || a != a) ? a : b; }

// sign: NaN stays NaN and zero gives +0, as numpy.
template <typename T> __device__ __forceinline__ T sg_sign(T a) {
  return a > 0 ? (T)1 : a < 0 ? (T)-1 : a == 0 ? (T)0 : a;
}
__device__ __forceinline__ unsigned char sg_sign(unsigned char a) { return a > 0; }

// abs(MIN) wraps to MIN, as numpy.
template <typename T> __device__ __forceinline__ T sg_abs(T a) {
  return a < 0 ? (T)(0u - (typename sg_wide<T>::type)a) : a;
}
__device__ __forceinline__ unsigned char sg_abs(unsigned char a) { return a; }

// Integer floor division and modulo: x // 0 == x % 0 == 0 and MIN // -1 wraps to MIN,
// never a trap.
template <typename T> __device__ __forceinline__ T sg_floordiv(T a, T b) {
  if (b == 0) return 0;
  if (b == (T)-1) return (T)(0u - (typename sg_wide<T>::type)a);
  const T q = a / b;
  return (a % b != 0 && ((a < 0) != (b < 0))) ? (T)(q - 1) : q;
}
template <typename T> __device__ __forceinline__ T sg_mod(T a, T b) {
  if (b == 0 || b == (T)-1) return 0;
  const T r = a % b;
  return (r != 0 && ((r < 0) != (b < 0))) ? (T)(r + b) : r;
}
__device__ __forceinline__ unsigned char sg_floordiv(unsigned char a, unsigned char b) { return b ? a / b : 0; }
__device__ __forceinline__ unsigned char sg_mod(unsigned char a, unsigned char b) { return b ? a % b : 0; }

// Integer power by squaring, wrapping; a negative exponent truncates toward zero (C-like).
template <typename T> __device__ __forceinline__ T sg_ipow_unsigned(T a, T b) {
  typename sg_wide<T>::type r = 1, x = a;
  for (typename sg_wide<T>::type e = b; e; e >>= 1) {
    if (e & 1) r *= x;
    x *= x;
  }
  return (T)r;
}
template <typename T> __device__ __forceinline__ T sg_ipow(T a, T b) {
  if (b < 0) return a == 1 ? (T)1 : a == (T)-1 ? ((b & 1) ? (T)-1 : (T)1) : (T)0;
  return sg_ipow_unsigned(a, b);
}
__device__ __forceinline__ unsigned char sg_ipow(unsigned char a, unsigned char b) { return sg_ipow_unsigned(a, b); }

// Warp shuffles; __shfl_down_sync has no overloads narrower than 32 bits.
template <typename T> __device__ __forceinline__ T sg_shfl_down(T v, int d) { return __shfl_down_sync(0xffffffffu, v, d); }
__device__ __forceinline__ bool sg_shfl_down(bool v, int d) { return __shfl_down_sync(0xffffffffu, (int)v, d); }
__device__ __forceinline__ signed char sg_shfl_down(signed char v, int d) { return __shfl_down_sync(0xffffffffu, (int)v, d); }
__device__ __forceinline__ unsigned char sg_shfl_down(unsigned char v, int d) { return __shfl_down_sync(0xffffffffu, (int)v, d); }
__device__ __forceinline__ short sg_shfl_down(short v, int d) { return __shfl_down_sync(0xffffffffu, (int)v, d); }

// Block-wide reduction with combiner f: a shuffle tree per warp, then one over the warps'
// results. blockDim.x must be a multiple of 32; the result is valid in thread 0. T is
// deduced from v alone: an identity literal like 0 is an int even where T is char.
template <typename T> struct sg_same { typedef T type; };
template <typename T, typename F>
__device__ __forceinline__ T sg_block_reduce(T v, F f, typename sg_same<T>::type identity,
                                             T* smem /* [32] */) {
#pragma unroll
  for (int d = 16; d > 0; d >>= 1) v = f(v, sg_shfl_down(v, d));
  if ((threadIdx.x & 31) == 0) smem[threadIdx.x >> 5] = v;
  __syncthreads();
  v = threadIdx.x < (blockDim.x >> 5) ? smem[threadIdx.x] : identity;
  __syncthreads();  // smem is free again for the next reduction
  if (threadIdx.x < 32) {
#pragma unroll
    for (int d = 16; d > 0; d >>= 1) v = f(v, sg_shfl_down(v, d));
  }
  return v;
}
"""

_FLOAT_PRELUDE = Template(r"""
// $T helpers. floordiv and mod follow numpy's npy_divmod exactly.
__device__ __forceinline__ bool sg_isinf($T x) { return fabs$f(x) == $INF; }
__device__ __forceinline__ bool sg_isfinite($T x) { return fabs$f(x) < $INF; }
__device__ __forceinline__ $T sg_sigmoid($T x) {  // exp of -|x| only: never overflows
  const $T e = exp$f(-fabs$f(x));
  return x >= 0 ? 1 / (1 + e) : e / (1 + e);
}
__device__ __forceinline__ $T sg_softplus($T x) { return log1p$f(exp$f(-fabs$f(x))) + (x > 0 ? x : ($T)0); }
__device__ __forceinline__ $T sg_floordiv($T a, $T b) {
  if (b == 0) return a / b;
  const $T mod = fmod$f(a, b);
  $T div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1;
  if (div == 0) return copysign$f(($T)0, a / b);
  const $T fl = floor$f(div);
  return div - fl > ($T)0.5 ? fl + 1 : fl;
}
__device__ __forceinline__ $T sg_mod($T a, $T b) {
  $T mod = fmod$f(a, b);
  if (b == 0) return mod;
  if (mod == 0) return copysign$f(($T)0, b);
  return ((b < 0) != (mod < 0)) ? mod + b : mod;
}
""")

PRELUDE = (_PRELUDE + _FLOAT_PRELUDE.substitute(T="float", f="f", INF="SG_INF_F")
           + _FLOAT_PRELUDE.substitute(T="double", f="", INF="SG_INF") + "#endif\n")
"""Helpers every rendered source starts with, guarded so sources can be concatenated."""


# --- naming and parameters -----------------------------------------------------------------
def _variant(contiguous: bool) -> str:
    return "contiguous" if contiguous else "strided"


def base_name(k: Kernel, contiguous: bool) -> str:
    """``{kernel.name}_{hash of kernel and variant}``, a C identifier."""
    digest = hashlib.sha256(f"{k.key}:{_variant(contiguous)}".encode()).hexdigest()[:8]
    return re.sub(r"\W", "_", k.name) + "_" + digest


def vector_width(k: Kernel) -> int:
    """Elements per 16-byte access in the ``vec`` kernel: 16 bytes of the widest dtype."""
    return 16 // max(ITEMSIZE[b.dtype] for b in (*k.inputs, *k.outputs))


def entry_names(k: Kernel, contiguous: bool) -> dict[str, str]:
    """The entry points of a variant, by role: vec/flat, strided, or thread/block/finish."""
    base = base_name(k, contiguous)
    if k.reduce_axes:
        roles = ("thread", "block", "finish")
    else:
        roles = (f"vec{vector_width(k)}", "flat") if contiguous else ("strided",)
    return {role.rstrip("0123456789"): f"{base}_{role}" for role in roles}


def params(k: Kernel, contiguous: bool) -> list[tuple[str, str]]:
    """(C type, name) of every kernel parameter, shared by all entry points of a variant."""
    p = [(f"const {CTYPE[b.dtype]}* __restrict__", f"in{j}") for j, b in enumerate(k.inputs)]
    p += [(f"{CTYPE[b.dtype]}*", f"out{j}") for j, b in enumerate(k.outputs)]
    if not k.reduce_axes and contiguous:
        return p + [("long long", "n"), ("unsigned", "bcast")]
    p += [(f"{CTYPE[k.body[s.value].dtype]}*", f"part{j}")
          for j, s in enumerate(k.stores) if s.reduce]
    p += [("long long", f"d{a}") for a in range(k.ndim)]
    if contiguous:
        p.append(("unsigned", "bcast"))
    else:
        p += [("long long", f"{buf}_s{a}") for buf in _buffers(k) for a in range(k.ndim)]
    if k.reduce_axes:
        p.append(("long long", "nsplit"))
    return p


def _buffers(k: Kernel) -> list[str]:
    return [f"in{j}" for j in range(len(k.inputs))] + [f"out{j}" for j in range(len(k.outputs))]


# --- rendering -----------------------------------------------------------------------------
def _indent(lines: Sequence[str], n: int) -> list[str]:
    return [" " * n + line for line in lines]


def _product(terms: Sequence[str]) -> str:
    return " * ".join(terms) or "1"


def _sum(terms: Sequence[str]) -> str:
    return " + ".join(terms) or "0"


def _unravel(flat: str, axes: Sequence[int], tmp: str) -> list[str]:
    """Lines defining ``i{a}`` for ``axes`` from a row-major flat index (last axis fastest)."""
    if not axes:
        return []
    if len(axes) == 1:
        return [f"const long long i{axes[0]} = {flat};"]
    lines = [f"long long {tmp} = {flat};"]
    for a in reversed(axes[1:]):
        lines.append(f"const long long i{a} = {tmp} % d{a}; {tmp} /= d{a};")
    return lines + [f"const long long i{axes[0]} = {tmp};"]


def live(body: Sequence[Instr], roots: Sequence[int]) -> set[int]:
    """Values that ``roots`` need. Dead ones are not rendered: nvcc warns on them, and an
    opcode may ignore its operand (``isnan`` of an integer is ``false``)."""
    seen, todo = set(), list(roots)
    while todo:
        i = todo.pop()
        if i not in seen:
            seen.add(i)
            ins = body[i]
            if ins.op not in OPS or "{0}" in OPS[ins.op][_kind(body[ins.args[0]].dtype)]:
                todo.extend(ins.args)
    return seen


def _body(body: Sequence[Instr], keep: set[int], prefix: str, load: Callable[[int], str],
          acc: str = "", count: str = "") -> list[str]:
    """One ``const T {prefix}{i} = ...;`` line per SSA value in ``keep``."""
    lines = []
    for i, ins in enumerate(body):
        if i not in keep:
            continue
        a = [f"{prefix}{j}" for j in ins.args]
        if ins.op == "load":
            e = load(ins.attr)
        elif ins.op == "const":
            e = literal(ins.attr, ins.dtype)
        elif ins.op == "acc":
            e = acc
        elif ins.op == "count":
            e = cast("int64", ins.dtype, count)
        elif ins.op == "cast":
            e = cast(body[ins.args[0]].dtype, ins.dtype, a[0])
        elif ins.op == "select":
            e = f"{a[0]} ? {a[1]} : {a[2]}"
        else:
            e = expr(ins.op, body[ins.args[0]].dtype, a)
        lines.append(f"const {CTYPE[ins.dtype]} {prefix}{i} = {e};")
    return lines


class _Renderer:
    """Renders the entry points of one variant of one kernel."""

    def __init__(self, k: Kernel, contiguous: bool):
        self.k, self.contiguous = k, contiguous
        self.raxes = k.reduce_axes
        self.kaxes = tuple(a for a in range(k.ndim) if a not in self.raxes)
        self.names = entry_names(k, contiguous)
        self.signature = ",\n    ".join(f"{t} {n}" for t, n in params(k, contiguous))
        self.reductions = [j for j, s in enumerate(k.stores) if s.reduce]
        self.keep = live(k.body, [s.value for s in k.stores])
        self.epilogue_keep = {j: live(k.stores[j].epilogue, [len(k.stores[j].epilogue) - 1]
                                      if k.stores[j].epilogue else []) for j in self.reductions}
        self.body_inputs = sorted({k.body[i].attr for i in self.keep
                                   if k.body[i].op == "load"})
        self.epilogue_inputs = sorted({k.stores[j].epilogue[i].attr
                                       for j, keep in self.epilogue_keep.items() for i in keep
                                       if k.stores[j].epilogue[i].op == "load"})

    def entry(self, role: str, comment: str, lines: list[str]) -> str:
        return (f"// {comment}\nextern \"C\" __global__ void {self.names[role]}(\n"
                f"    {self.signature}) {{\n" + "\n".join(_indent(lines, 2)) + "\n}\n")

    def bcast(self, j: int) -> str:
        return f"(bcast & {1 << j}u)"

    def offset(self, buf: str, axes: Sequence[int], base: str = "") -> str:
        """Strided element offset of ``buf`` at indices ``i{a}`` of ``axes`` (plus ``base``)."""
        return _sum(([base] if base else []) + [f"i{a} * {buf}_s{a}" for a in axes])

    # elementwise ---------------------------------------------------------------------------
    _GRID = ["const long long tid = (long long)blockIdx.x * blockDim.x + threadIdx.x;",
             "const long long step = (long long)gridDim.x * blockDim.x;"]

    def point(self, load: Callable[[int], str], store: Callable[[int], str]) -> list[str]:
        k = self.k
        return _body(k.body, self.keep, "v", load) + [f"{store(j)} = v{s.value};"
                                          for j, s in enumerate(k.stores)]

    def flat_body(self) -> list[str]:
        return self.point(lambda j: f"in{j}[{self.bcast(j)} ? 0 : i]", lambda j: f"out{j}[i]")

    def vec(self) -> str:
        k, n = self.k, vector_width(self.k)
        vt = {b: f"sg_vec<{CTYPE[b.dtype]}, {n}>" for b in (*k.inputs, *k.outputs)}
        loads = [f"const {vt[k.inputs[j]]} x{j} = {self.bcast(j)} ? "
                 f"sg_splat<{CTYPE[k.inputs[j].dtype]}, {n}>(in{j}[0]) : "
                 f"((const {vt[k.inputs[j]]}*)in{j})[i];" for j in self.body_inputs]
        element = self.point(lambda j: f"x{j}.v[e]", lambda j: f"y{j}.v[e]")
        lines = [*self._GRID, f"const long long nv = n / {n};",
                 "for (long long i = tid; i < nv; i += step) {",
                 *_indent(loads + [f"{vt[b]} y{j};" for j, b in enumerate(k.outputs)], 2),
                 "  #pragma unroll", f"  for (int e = 0; e < {n}; ++e) {{",
                 *_indent(element, 4), "  }",
                 *[f"  (({vt[b]}*)out{j})[i] = y{j};" for j, b in enumerate(k.outputs)],
                 "}",
                 f"for (long long i = nv * {n} + tid; i < n; i += step) {{  // the tail",
                 *_indent(self.flat_body(), 2), "}"]
        return self.entry("vec", f"{n} elements per thread and access; launched when every "
                          "pointer is aligned to its vector size", lines)

    def flat(self) -> str:
        lines = [*self._GRID, "for (long long i = tid; i < n; i += step) {",
                 *_indent(self.flat_body(), 2), "}"]
        return self.entry("flat", "scalar fallback for pointers not aligned for vectors", lines)

    def strided(self) -> str:
        axes = range(self.k.ndim)
        point = self.point(lambda j: f"in{j}[{self.offset(f'in{j}', axes)}]",
                           lambda j: f"out{j}[{self.offset(f'out{j}', axes)}]")
        lines = [*self._GRID, f"const long long n = {_product([f'd{a}' for a in axes])};",
                 "for (long long i = tid; i < n; i += step) {",
                 *_indent(_unravel("i", axes, "t") + point, 2), "}"]
        return self.entry("strided", "any strides: the flat index is unravelled per element",
                          lines)

    # reductions ----------------------------------------------------------------------------
    def acc_type(self, j: int) -> str:
        return CTYPE[self.k.body[self.k.stores[j].value].dtype]

    def prologue(self, finish: bool = False) -> list[str]:
        """Extents, domain strides (contiguous) and one combiner lambda per reduction; for
        ``finish``, only what its epilogues use."""
        k, lines = self.k, [f"const long long nk = {_product([f'd{a}' for a in self.kaxes])};"]
        counted = any(k.stores[j].epilogue[i].op == "count"
                      for j, keep in self.epilogue_keep.items() for i in keep)
        if counted or not finish:
            lines.append(f"const long long nr = {_product([f'd{a}' for a in self.raxes])};")
        if self.contiguous and (self.epilogue_inputs or not finish):
            # a finish kernel's epilogue loads use only the kept axes' strides
            for a in reversed(range(k.ndim)):
                lines.append(f"[[maybe_unused]] const long long ds{a} = "
                             + ("1;" if a == k.ndim - 1 else f"ds{a + 1} * d{a + 1};"))
        for j in self.reductions:
            s, t = k.stores[j], self.acc_type(j)
            dt = k.body[s.value].dtype
            op = _BOOL_COMBINE_OP.get(s.reduce, s.reduce) if dt == "bool" else \
                _COMBINE_OP[s.reduce]
            lines.append(f"const auto comb{j} = []({t} x, {t} y) -> {t} "
                         f"{{ return {expr(op, dt, ['x', 'y'])}; }};  // {s.reduce}")
        return lines

    def identity(self, j: int) -> str:
        s = self.k.stores[j]
        dt = self.k.body[s.value].dtype
        return literal(s.identity(dt), dt)

    def kept(self, inputs: Sequence[int], outputs: Sequence[int], points: bool) -> list[str]:
        """Unravel output element ``o`` and define the offsets there, at index 0 of the
        reduced axes, of ``inputs`` and ``outputs`` (``points``: the body is evaluated)."""
        if self.contiguous:
            if not (points or inputs):
                return []  # outputs are at ``o``: nothing else is needed
            base = [f"const long long kb = {_sum([f'i{a} * ds{a}' for a in self.kaxes])};"]
        else:
            bufs = [f"in{j}" for j in sorted(set(inputs))] + [f"out{j}" for j in outputs]
            base = [f"const long long kb_{b} = {self.offset(b, self.kaxes)};" for b in bufs]
        return _unravel("o", self.kaxes, "t") + base

    def reduce_point(self, r: str) -> list[str]:
        """Evaluate the body at reduced flat index ``r``: combine, and store elementwise."""
        k = self.k
        lines = _unravel(r, self.raxes, "u")
        if self.contiguous:
            inner = _sum([f"i{a} * ds{a}" for a in self.raxes])
            lines.append(f"const long long off = kb + {inner};")

            def at(buf: str, j: int) -> str:
                return f"{self.bcast(j)} ? 0 : off" if buf == "in" else "off"
        else:
            def at(buf: str, j: int) -> str:
                return self.offset(f"{buf}{j}", self.raxes, f"kb_{buf}{j}")
        lines += _body(k.body, self.keep, "v", lambda j: f"in{j}[{at('in', j)}]")
        for j, s in enumerate(k.stores):
            lines.append(f"a{j} = comb{j}(a{j}, v{s.value});" if s.reduce
                         else f"out{j}[{at('out', j)}] = v{s.value};")
        return lines

    def finish_outputs(self) -> list[str]:
        """Epilogues on the accumulators ``a{j}`` and the reduction outputs' stores. In the
        contiguous variant the outputs are at ``o``: row-major over the kept axes is the
        keepdims layout."""
        k, lines = self.k, []
        if self.contiguous:
            def load(i: int) -> str:
                return f"in{i}[{self.bcast(i)} ? 0 : kb]"
        else:
            def load(i: int) -> str:
                return f"in{i}[kb_in{i}]"
        for j in self.reductions:
            s = k.stores[j]
            lines += _body(s.epilogue, self.epilogue_keep[j], f"e{j}_", load, acc=f"a{j}",
                           count="nr")
            result = f"e{j}_{len(s.epilogue) - 1}" if s.epilogue else f"a{j}"
            lines.append(f"out{j}[{'o' if self.contiguous else f'kb_out{j}'}] = {result};")
        return lines

    def write_or_partial(self, slot: str) -> list[str]:
        return ["if (nsplit == 1) {", *_indent(self.finish_outputs(), 2), "} else {",
                *[f"  part{j}[{slot}] = a{j};" for j in self.reductions], "}"]

    def init_accs(self) -> list[str]:
        return [f"{self.acc_type(j)} a{j} = {self.identity(j)};" for j in self.reductions]

    def thread(self) -> str:
        elementwise = [j for j, s in enumerate(self.k.stores) if not s.reduce]
        loop = [*self.kept(self.body_inputs + self.epilogue_inputs,
                           self.reductions + elementwise, points=True),
                *self.init_accs(),
                "for (long long r = split; r < nr; r += nsplit) {",
                *_indent(self.reduce_point("r"), 2), "}",
                *self.write_or_partial("o * nsplit + split")]
        lines = [*self._GRID, *self.prologue(),
                 "for (long long w = tid; w < nk * nsplit; w += step) {",
                 "  const long long o = w % nk, split = w / nk;", *_indent(loop, 2), "}"]
        return self.entry("thread", "one thread per output element and split: coalesced when "
                          "the innermost axis is kept", lines)

    def block_reduce(self) -> list[str]:
        return [f"a{j} = sg_block_reduce(a{j}, comb{j}, {self.identity(j)}, sm{j});"
                for j in self.reductions]

    def shared(self) -> list[str]:
        return [f"__shared__ {self.acc_type(j)} sm{j}[32];" for j in self.reductions]

    def block(self) -> str:
        elementwise = [j for j, s in enumerate(self.k.stores) if not s.reduce]
        loop = [*self.kept(self.body_inputs + self.epilogue_inputs,
                           self.reductions + elementwise, points=True),
                *self.init_accs(),
                "for (long long r = split * blockDim.x + threadIdx.x; r < nr; "
                "r += nsplit * blockDim.x) {",
                *_indent(self.reduce_point("r"), 2), "}",
                *self.block_reduce(),
                "if (threadIdx.x == 0) {",
                *_indent(self.write_or_partial("o * nsplit + split"), 2), "}"]
        lines = [*self.prologue(), *self.shared(),
                 "for (long long w = blockIdx.x; w < nk * nsplit; w += gridDim.x) {",
                 "  const long long o = w / nsplit, split = w % nsplit;", *_indent(loop, 2), "}"]
        return self.entry("block", "one block per output element and split: a shuffle and "
                          "shared-memory tree", lines)

    def finish(self) -> str:
        combine = [f"a{j} = comb{j}(a{j}, part{j}[o * nsplit + s]);" for j in self.reductions]
        loop = [*self.kept(self.epilogue_inputs, self.reductions, points=False),
                *self.init_accs(),
                "for (long long s = threadIdx.x; s < nsplit; s += blockDim.x) {",
                *_indent(combine, 2), "}", *self.block_reduce(),
                "if (threadIdx.x == 0) {", *_indent(self.finish_outputs(), 2), "}"]
        lines = [*self.prologue(finish=True), *self.shared(),
                 "for (long long o = blockIdx.x; o < nk; o += gridDim.x) {",
                 *_indent(loop, 2), "}"]
        return self.entry("finish", "one block per output element combines its nsplit "
                          "partials in a fixed order", lines)

    def render(self) -> str:
        if self.raxes:
            kernels = [self.thread(), self.block(), self.finish()]
        elif self.contiguous:
            kernels = [self.vec(), self.flat()]
        else:
            kernels = [self.strided()]
        listing = "\n".join("// " + line for line in format_kernel(self.k).splitlines())
        return (PRELUDE + f"\n// {_variant(self.contiguous)} variant of\n{listing}\n\n"
                + "\n".join(kernels))


def render(kernel: Kernel, contiguous: bool) -> str:
    """CUDA C source of one variant of ``kernel``: deterministic, so it can key a cache.

    >>> from codegen.kernel import Buffer, Instr, Kernel, Store
    >>> k = Kernel("neg", (Buffer("x", "float32", 1),), (Buffer("y", "float32", 1),), 1,
    ...            (Instr("load", "float32", (), 0), Instr("neg", "float32", (0,))), (Store(1),))
    >>> "const float v1 = -v0;" in render(k, contiguous=False)
    True
    """
    if any(kernel.stages):
        raise ValueError(f"{kernel.name} runs in stages: render each of "
                         "codegen.kernel.split_stages(kernel)")
    return _Renderer(kernel, contiguous).render()


def sources(kernel: Kernel) -> dict[str, str]:
    """Every variant the backend may compile for ``kernel``, by name: ``contiguous`` and
    ``strided``, and ``stage{i}_contiguous`` ... for a kernel of several stages, which runs
    as one launch per stage (:func:`codegen.kernel.split_stages`). Needs no GPU and no
    CuPy."""
    if any(kernel.stages):
        return {f"stage{i}_{name}": text for i, (part, _, _) in enumerate(split_stages(kernel))
                for name, text in sources(part).items()}
    return {_variant(c): render(kernel, c) for c in (True, False)}
