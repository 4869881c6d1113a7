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
from typing import Callable, Sequence

import numpy as np

from codegen.cuda.prelude import PRELUDE
from codegen.kernel import (FLOATS, Instr, Kernel, format_kernel, index_axes, live_values,
                            split_stages, walk)

CTYPE = {"bool": "bool", "int8": "signed char", "int16": "short", "int32": "int",
         "int64": "long long", "uint8": "unsigned char", "uint32": "unsigned", "float32": "float",
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
    "mulhi": {_I: "__umulhi({0}, {1})"},
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
        return f"{v}u" if dtype == "uint32" else str(v)
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


def _ignores(body: Sequence[Instr]) -> Callable[[Instr], bool]:
    """Whether an instruction's C expression leaves out its operand (``isnan`` of an
    integer is ``false``): nvcc warns about the unused value otherwise."""
    def ignores(ins: Instr) -> bool:
        return ins.op in OPS and "{0}" not in OPS[ins.op][_kind(body[ins.args[0]].dtype)]
    return ignores


def live(body: Sequence[Instr], roots: Sequence[int]) -> set[int]:
    """Values that ``roots`` need; dead ones are not rendered (nvcc warns on them)."""
    return live_values(body, roots, _ignores(body))


def _position(axes: Sequence[int]) -> str:
    """An ``index`` value: the row-major position among ``axes`` of the point ``i{a}``."""
    return _sum([f"i{a} * {_product([f'd{b}' for b in axes if b > a])}" for a in axes])


def strided_only(k: Kernel) -> bool:
    """An elementwise kernel with ``index`` values has no contiguous variant: its flat loop
    knows no positions along the axes (the launcher takes the strided one)."""
    return not k.reduce_axes and bool(index_axes(k))


def _body(body: Sequence[Instr], keep: set[int], prefix: str, load: Callable[[int], str],
          acc: str = "", count: str = "") -> list[str]:
    """One ``const T {prefix}{i} = ...;`` line per SSA value in ``keep``; ``index`` values
    read the point's indices ``i{a}`` and the domain's extents ``d{a}``."""
    lines: list[str] = []

    def emit(n: int, ins: Instr, src: str, a: list[str]) -> str:
        op = ins.op
        if op == "index":
            e = _position(ins.attr)
        elif op == "load":
            e = load(ins.attr)
        elif op == "const":
            e = literal(ins.attr, ins.dtype)
        elif op == "acc":
            e = acc
        elif op == "count":
            e = cast("int64", ins.dtype, count)
        elif op == "cast":
            e = cast(src, ins.dtype, a[0])
        elif op == "select":
            e = f"{a[0]} ? {a[1]} : {a[2]}"
        else:
            e = expr(op, src, a)
        lines.append(f"const {CTYPE[ins.dtype]} {prefix}{n} = {e};")
        return f"{prefix}{n}"
    walk(body, emit, keep)
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
    if contiguous and strided_only(kernel):
        raise ValueError(f"{kernel.name} reads element positions: it has only the strided "
                         "variant")
    return _Renderer(kernel, contiguous).render()


def sources(kernel: Kernel) -> dict[str, str]:
    """Every variant the backend may compile for ``kernel``, by name: ``contiguous`` and
    ``strided``, and ``stage{i}_contiguous`` ... for a kernel of several stages, which runs
    as one launch per stage (:func:`codegen.kernel.split_stages`). Needs no GPU and no
    CuPy."""
    if any(kernel.stages):
        return {f"stage{i}_{name}": text for i, (part, _, _) in enumerate(split_stages(kernel))
                for name, text in sources(part).items()}
    return {_variant(c): render(kernel, c)
            for c in ((False,) if strided_only(kernel) else (True, False))}
