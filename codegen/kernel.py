"""The kernel IR: one loop nest of scalar work, rendered by every backend.

A :class:`Kernel` has input and output buffers, an iteration *domain* of rank ``ndim``, a
*body* (a scalar SSA DAG of :class:`Instr`), and one :class:`Store` per output. A store
writes a body value either elementwise over the domain, or reduced over some axes of the
domain with a combiner, an identity and an optional epilogue.

Calling convention, shared by every backend:

* every buffer is seen with rank ``ndim``; an input may have size 1 on any axis (it is
  broadcast: stride 0), otherwise its size is the domain's;
* an elementwise output has the domain's shape; a reduction output has the domain's shape
  with size 1 on the reduced axes (numpy's ``keepdims=True``);
* every reduction store of one kernel reduces the same axes;
* an epilogue is a small body of its own: ``acc`` is the reduced value, ``count`` the
  number of elements reduced into it, and a ``load`` there reads an input at index 0 of
  the reduced axes (the caller guarantees such inputs are constant along them);
* the body and epilogues may use a reduction's result: ``reduced`` (attr: the store's
  index) is that store's value after its epilogue, at the current index of the kept axes.
  The kernel then runs in *stages* (:attr:`Kernel.stages`): a store's stage is one more
  than the latest stage whose result its value uses, so a row softmax is one kernel of
  three passes over each row (max; sum of exp; the quotients), reading the row from
  memory once and from cache after.

:data:`OPCODES` lists the scalar opcodes; :func:`codegen.interpret.interpret` runs a kernel
with numpy, the reference every renderer is checked against (its rules say what each
opcode means). :func:`walk` is the one pass over a body that the interpreter and both
renderers share.

>>> k = Kernel("axpy", inputs=(Buffer("x", "float32", 1), Buffer("y", "float32", 1)),
...            outputs=(Buffer("out", "float32", 1),), ndim=1,
...            body=(Instr("load", "float32", (), 0), Instr("load", "float32", (), 1),
...                  Instr("const", "float32", (), 2.0), Instr("mul", "float32", (0, 2)),
...                  Instr("add", "float32", (3, 1))),
...            stores=(Store(4),))
>>> from codegen.interpret import interpret
>>> interpret(k, [np.ones(3, "float32"), np.arange(3, dtype="float32")])[0].tolist()
[2.0, 3.0, 4.0]
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Callable, Collection, NamedTuple, Sequence

import numpy as np

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "uint32", "float32", "float64")
FLOATS = ("float32", "float64")
INTS = ("int8", "int16", "int32", "int64", "uint8", "uint32")


class Opcode(NamedTuple):
    """A scalar opcode: arity, which operand dtypes it takes, the dtype it gives."""
    name: str
    arity: int
    operands: str      # 'float' | 'num' (int or float) | 'any' | 'logic' (bool or int)
    #                    | 'uint32'
    result: str        # 'same' | 'bool'

    def takes(self, dtype: str) -> bool:
        """Whether the opcode takes operands of ``dtype``."""
        return {"float": dtype in FLOATS, "num": dtype != "bool", "any": True,
                "logic": dtype == "bool" or dtype in INTS,
                "uint32": dtype == "uint32"}[self.operands]


def _op(name, arity, operands, result):
    return name, Opcode(name, arity, operands, result)


OPCODES: dict[str, Opcode] = dict([
    # float -> float
    *[_op(n, 1, "float", "same") for n in (
        "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin", "cos",
        "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh", "acosh", "atanh",
        "erf", "erfc", "sigmoid", "softplus", "floor", "ceil", "round", "trunc")],
    _op("div", 2, "float", "same"),
    _op("atan2", 2, "float", "same"),
    # numeric
    *[_op(n, 1, "num", "same") for n in ("neg", "abs", "sign")],
    *[_op(n, 2, "num", "same") for n in ("add", "sub", "mul", "floordiv", "mod", "pow")],
    _op("max", 2, "any", "same"),
    _op("min", 2, "any", "same"),
    # predicates and comparisons
    *[_op(n, 1, "any", "bool") for n in ("isnan", "isinf", "isfinite")],
    *[_op(n, 2, "any", "bool") for n in ("lt", "le", "gt", "ge", "eq", "ne")],
    # bool / integer logic (logical on bool, bitwise on ints)
    _op("not", 1, "logic", "same"),
    *[_op(n, 2, "logic", "same") for n in ("and", "or", "xor")],
    # the high half of a uint32 product (counter-based random numbers, codegen.philox)
    _op("mulhi", 2, "uint32", "same"),
])
"""Scalar opcodes besides the structural ones: ``load``, ``const``, ``cast``, ``select``
(and in epilogues ``acc`` and ``count``). Integer ``floordiv``/``mod`` by zero give 0, and
integer ``pow`` with a negative exponent truncates toward zero (C-like): native code must
match and never trap."""

STRUCTURAL = ("load", "const", "cast", "select", "acc", "count", "reduced", "index")
"""``index`` (int64, body only) is the row-major position of the current domain point among
the domain axes ``attr`` (a sorted tuple): with every axis, the element's flat index; with
some, the flat index in a value that broadcasts along the others. Random draws key their
numbers on it (:mod:`codegen.philox`), so a draw is the same wherever it is computed."""

COMBINERS: dict[str, tuple[Callable, Callable[[str], object]]] = {
    "add": (np.add, lambda dt: 0),
    "mul": (np.multiply, lambda dt: 1),
    "max": (np.maximum, lambda dt: -np.inf if dt in FLOATS else
            (False if dt == "bool" else np.iinfo(dt).min)),
    "min": (np.minimum, lambda dt: np.inf if dt in FLOATS else
            (True if dt == "bool" else np.iinfo(dt).max)),
    "and": (np.logical_and, lambda dt: True),
    "or": (np.logical_or, lambda dt: False),
}
"""Reduction combiners with their numpy ufunc and identity for a dtype. ``max``/``min``
propagate NaN, as numpy does."""


class Buffer(NamedTuple):
    """A kernel argument: its name, dtype and rank (always the kernel's ``ndim``)."""
    name: str
    dtype: str
    rank: int


class Instr(NamedTuple):
    """One SSA value. ``args`` are indices of earlier values of the same body.

    ``attr`` is the input index for ``load`` and the Python value for ``const``.
    """
    op: str
    dtype: str
    args: tuple[int, ...] = ()
    attr: object = None


class Store(NamedTuple):
    """Writes body value ``value`` to the output of the same position.

    ``reduce`` is None for an elementwise store, else a combiner name; ``epilogue`` is a
    body evaluated on the reduced value whose last instruction is the stored result.
    """
    value: int
    reduce: str | None = None
    axes: tuple[int, ...] = ()
    epilogue: tuple[Instr, ...] = ()

    def identity(self, dtype: str):
        return COMBINERS[self.reduce][1](dtype)


@dataclass(frozen=True)
class Kernel:
    name: str
    inputs: tuple[Buffer, ...]
    outputs: tuple[Buffer, ...]
    ndim: int
    body: tuple[Instr, ...]
    stores: tuple[Store, ...]
    _key: str = field(default="", init=False, repr=False, compare=False)
    stages: tuple[int, ...] = field(default=(), init=False, repr=False, compare=False)
    """Per store, the pass over the reduced axes that computes it (see the module)."""

    def __post_init__(self):
        check(self)
        object.__setattr__(self, "stages", _stages(self))
        text = repr((self.inputs, self.outputs, self.ndim, self.body, self.stores))
        object.__setattr__(self, "_key", hashlib.sha256(text.encode()).hexdigest()[:24])

    @property
    def key(self) -> str:
        """A stable hash of everything but the name: equal kernels compile once."""
        return self._key

    @property
    def reduce_axes(self) -> tuple[int, ...]:
        """The axes reduced by this kernel's reduction stores (empty if none)."""
        for s in self.stores:
            if s.reduce:
                return s.axes
        return ()

    def out_shape(self, store: Store, domain: Sequence[int]) -> tuple[int, ...]:
        if not store.reduce:        # (a long chain's kernels have a hundred such stores)
            return tuple(domain)
        return tuple(1 if i in store.axes else d for i, d in enumerate(domain))

    def __str__(self) -> str:
        return format_kernel(self)


class KernelError(ValueError):
    """A malformed kernel, or arguments that do not fit a kernel."""


def _check_body(k: Kernel, body: Sequence[Instr], where: str, epilogue_of: str | None):
    for i, ins in enumerate(body):
        if ins.dtype not in DTYPES:
            raise KernelError(f"{k.name}: {where}[{i}] has dtype {ins.dtype!r}, "
                              f"expected one of {DTYPES}")
        if any(not 0 <= a < i for a in ins.args):
            raise KernelError(f"{k.name}: {where}[{i}] ({ins.op}) uses a value that is not "
                              f"defined before it: args {ins.args}")
        arg_dt = [body[a].dtype for a in ins.args]
        if ins.op == "load":
            if not isinstance(ins.attr, int) or not 0 <= ins.attr < len(k.inputs):
                raise KernelError(f"{k.name}: {where}[{i}] loads input {ins.attr!r}, "
                                  f"kernel has {len(k.inputs)} inputs")
            if k.inputs[ins.attr].dtype != ins.dtype:
                raise KernelError(f"{k.name}: {where}[{i}] loads input {ins.attr} as "
                                  f"{ins.dtype}, buffer is {k.inputs[ins.attr].dtype}")
        elif ins.op == "reduced":
            st = k.stores[ins.attr] if isinstance(ins.attr, int) and \
                0 <= ins.attr < len(k.stores) else None
            if st is None or not st.reduce:
                raise KernelError(f"{k.name}: {where}[{i}]: 'reduced' takes the index of a "
                                  f"reduction store, got {ins.attr!r}")
            if ins.dtype != k.outputs[ins.attr].dtype:
                raise KernelError(f"{k.name}: {where}[{i}]: reduced {ins.attr} is "
                                  f"{k.outputs[ins.attr].dtype}, not {ins.dtype}")
        elif ins.op in ("acc", "count"):
            if epilogue_of is None:
                raise KernelError(f"{k.name}: {where}[{i}]: '{ins.op}' only in epilogues")
            if ins.op == "acc" and ins.dtype != epilogue_of:
                raise KernelError(f"{k.name}: {where}[{i}]: acc is {epilogue_of}, "
                                  f"not {ins.dtype}")
        elif ins.op == "index":
            ax = ins.attr
            if epilogue_of is not None or ins.dtype != "int64" or ins.args or \
                    not isinstance(ax, tuple) or list(ax) != sorted(set(ax)) or \
                    any(not isinstance(a, int) or not 0 <= a < k.ndim for a in ax):
                raise KernelError(f"{k.name}: {where}[{i}]: index is an int64 of the body "
                                  f"with a sorted tuple of domain axes, got {ins}")
        elif ins.op == "const":
            if ins.args:
                raise KernelError(f"{k.name}: {where}[{i}]: const takes no args")
        elif ins.op == "cast":
            if len(ins.args) != 1:
                raise KernelError(f"{k.name}: {where}[{i}]: cast takes one arg")
        elif ins.op == "select":
            if len(ins.args) != 3 or arg_dt[0] != "bool" or arg_dt[1:] != [ins.dtype] * 2:
                raise KernelError(f"{k.name}: {where}[{i}]: select(bool, T, T) -> T, "
                                  f"got {arg_dt} -> {ins.dtype}")
        elif ins.op in OPCODES:
            oc = OPCODES[ins.op]
            if len(ins.args) != oc.arity or len(set(arg_dt)) != 1:
                raise KernelError(f"{k.name}: {where}[{i}]: {ins.op} takes {oc.arity} "
                                  f"operands of one dtype, got {arg_dt}")
            dt = arg_dt[0]
            if not oc.takes(dt):
                raise KernelError(f"{k.name}: {where}[{i}]: {ins.op} does not take {dt} "
                                  f"operands ({oc.operands} only)")
            want = "bool" if oc.result == "bool" else dt
            if ins.dtype != want:
                raise KernelError(f"{k.name}: {where}[{i}]: {ins.op} of {dt} gives {want}, "
                                  f"not {ins.dtype}")
        else:
            raise KernelError(f"{k.name}: {where}[{i}]: unknown opcode {ins.op!r}")


def _stages(k: Kernel) -> tuple[int, ...]:
    """Each store's stage: 0, or one more than the latest stage of a ``reduced`` value its
    value depends on; a store whose value depends on its own result is an error."""
    def uses(body: Sequence[Instr]) -> list[int]:
        """Per value: bitset of the stores whose results it uses."""
        out: list[int] = []
        for ins in body:
            u = 1 << ins.attr if ins.op == "reduced" else 0
            for a in ins.args:
                u |= out[a]
            out.append(u)
        return out
    in_body = uses(k.body)
    stages: dict[int, int] = {}

    def stage(j: int, path: frozenset) -> int:
        if j in path:
            raise KernelError(f"{k.name}: store {j} depends on its own result")
        if j not in stages:
            s = k.stores[j]
            u = in_body[s.value] | (uses(s.epilogue)[-1] if s.epilogue else 0)
            stages[j] = max((stage(r, path | {j}) + 1 for r in range(len(k.stores))
                             if u >> r & 1), default=0)
        return stages[j]
    return tuple(stage(j, frozenset()) for j in range(len(k.stores)))


def check(k: Kernel) -> None:
    """Raise :class:`KernelError` if ``k`` is malformed."""
    if len(k.stores) != len(k.outputs) or not k.outputs:
        raise KernelError(f"{k.name}: {len(k.outputs)} outputs but {len(k.stores)} stores")
    for b in (*k.inputs, *k.outputs):
        if b.rank != k.ndim or b.dtype not in DTYPES:
            raise KernelError(f"{k.name}: buffer {b.name} is {b.dtype}/rank {b.rank}, "
                              f"expected a dtype of {DTYPES} and rank {k.ndim}")
    _check_body(k, k.body, "body", None)
    axes = {s.axes for s in k.stores if s.reduce}
    if len(axes) > 1:
        raise KernelError(f"{k.name}: reduction stores reduce different axes {axes}")
    for j, (s, out) in enumerate(zip(k.stores, k.outputs)):
        if not 0 <= s.value < len(k.body):
            raise KernelError(f"{k.name}: store {j} stores value {s.value}, not in body")
        vdt = k.body[s.value].dtype
        if s.reduce is None:
            if s.axes or s.epilogue:
                raise KernelError(f"{k.name}: elementwise store {j} has axes or epilogue")
            result_dt = vdt
        else:
            if s.reduce not in COMBINERS:
                raise KernelError(f"{k.name}: store {j}: unknown combiner {s.reduce!r}")
            if (s.reduce in ("and", "or")) != (vdt == "bool"):
                raise KernelError(f"{k.name}: store {j}: {s.reduce} of {vdt}")
            if (not s.axes or len(set(s.axes)) != len(s.axes)
                    or any(not 0 <= a < k.ndim for a in s.axes)):
                raise KernelError(f"{k.name}: store {j}: bad axes {s.axes} for ndim {k.ndim}")
            _check_body(k, s.epilogue, f"store[{j}].epilogue", vdt)
            result_dt = s.epilogue[-1].dtype if s.epilogue else vdt
        if result_dt != out.dtype:
            raise KernelError(f"{k.name}: store {j} writes {result_dt} to {out.dtype} "
                              f"buffer {out.name}")


def domain_of(k: Kernel, inputs: Sequence[np.ndarray],
              shape: Sequence[int] | None = None) -> tuple[int, ...]:
    """Check the inputs against ``k`` and return the iteration domain."""
    if len(inputs) != len(k.inputs):
        raise KernelError(f"{k.name}: expected {len(k.inputs)} inputs, got {len(inputs)}")
    for b, a in zip(k.inputs, inputs):
        if not isinstance(a, np.ndarray) or a.ndim != k.ndim or a.dtype != np.dtype(b.dtype):
            got = (f"{a.dtype}/rank {a.ndim}" if isinstance(a, np.ndarray)
                   else type(a).__name__)
            raise KernelError(f"{k.name}: input {b.name} must be a {b.dtype} array of rank "
                              f"{k.ndim}, got {got}")
    if shape is None:
        try:
            shape = np.broadcast_shapes(*(a.shape for a in inputs)) if inputs else None
        except ValueError:
            shape = None
        if shape is None:
            raise KernelError(f"{k.name}: inputs of shapes {[a.shape for a in inputs]} do "
                              "not define a domain")
    shape = tuple(int(d) for d in shape)
    for b, a in zip(k.inputs, inputs):
        if len(shape) != k.ndim or any(s not in (1, d) for s, d in zip(a.shape, shape)):
            raise KernelError(f"{k.name}: input {b.name} of shape {a.shape} does not "
                              f"broadcast to the domain {shape}")
    return shape


def index_axes(k: Kernel) -> tuple[tuple[int, ...], ...]:
    """The distinct axis tuples of the kernel's ``index`` values, in a fixed order: a
    backend passes one row of index strides per tuple (:func:`index_strides`)."""
    return tuple(sorted({ins.attr for ins in k.body if ins.op == "index"}))


def index_strides(k: Kernel, domain: Sequence[int]) -> list[list[int]]:
    """Per tuple of :func:`index_axes`, the element strides over ``domain`` of an imagined
    row-major array holding the positions among those axes (0 along the other axes): the
    ``index`` value at a point is the offset of that point, as for any buffer.

    >>> F = "float32"
    >>> k = Kernel("ix", (), (Buffer("y", "int64", 3),), 3,
    ...            (Instr("index", "int64", (), (0, 2)),), (Store(0),))
    >>> index_strides(k, (4, 5, 6))
    [[6, 0, 1]]
    """
    rows = []
    for axes in index_axes(k):
        row, step = [0] * k.ndim, 1
        for a in reversed(axes):
            row[a] = step if domain[a] != 1 else 0
            step *= domain[a]
        rows.append(row)
    return rows


def split_stages(k: Kernel) -> list[tuple[Kernel, tuple[int, ...], tuple[int, ...]]]:
    """``k`` as one plain kernel per stage, for backends that run stages as separate
    launches: ``(kernel, extra, stores)`` per stage, in order, where the kernel's inputs
    are ``k``'s then the results of ``extra`` (store indices of earlier stages, each read
    broadcast along the reduced axes), and its outputs are ``k``'s stores ``stores``.

    >>> F = "float32"
    >>> k = Kernel("center", (Buffer("x", F, 2),), (Buffer("m", F, 2), Buffer("y", F, 2)), 2,
    ...            (Instr("load", F, (), 0), Instr("reduced", F, (), 0), Instr("sub", F, (0, 1))),
    ...            (Store(0, "max", (1,)), Store(2)))
    >>> [(len(s.inputs), extra, stores) for s, extra, stores in split_stages(k)]
    [(1, (), (0,)), (2, (0,), (1,))]
    """
    out = []
    for stage in sorted(set(k.stages)):
        js = tuple(j for j in range(len(k.stores)) if k.stages[j] == stage)
        live = live_values(k.body, [k.stores[j].value for j in js])
        epilogues = {j: prune(k.stores[j].epilogue) for j in js}
        extra = tuple(sorted({ins.attr for i, ins in enumerate(k.body)
                              if i in live and ins.op == "reduced"} |
                             {ins.attr for j in js for ins in epilogues[j]
                              if ins.op == "reduced"}))

        def loaded(ins: Instr) -> Instr:
            """A result of an earlier stage, read from its output like an input."""
            if ins.op != "reduced":
                return ins
            return Instr("load", ins.dtype, (), len(k.inputs) + extra.index(ins.attr))
        index: dict[int, int] = {}
        body: list[Instr] = []
        for i, ins in enumerate(k.body):
            if i in live:
                ins = loaded(ins)
                index[i] = len(body)
                body.append(Instr(ins.op, ins.dtype, tuple(index[a] for a in ins.args),
                                  ins.attr))
        stores = tuple(Store(index[k.stores[j].value], k.stores[j].reduce, k.stores[j].axes,
                             tuple(map(loaded, epilogues[j]))) for j in js)
        ins_bufs = (*k.inputs, *(Buffer(f"stage_in{j}", k.outputs[j].dtype, k.ndim)
                                 for j in extra))
        out.append((Kernel(f"{k.name}_s{stage}", ins_bufs, tuple(k.outputs[j] for j in js),
                           k.ndim, tuple(body), stores), extra, js))
    return out


def live_values(body: Sequence[Instr], roots: Sequence[int],
                ignores: Callable[[Instr], bool] | None = None) -> set[int]:
    """The body values ``roots`` need; ``ignores(ins)`` may say that an instruction does
    not use its operands (a renderer's ``isnan`` of an integer is ``false``)."""
    live, todo = set(), list(roots)
    while todo:
        i = todo.pop()
        if i not in live:
            live.add(i)
            if ignores is None or not ignores(body[i]):
                todo.extend(body[i].args)
    return live


def prune(body: Sequence[Instr]) -> tuple[Instr, ...]:
    """An epilogue (or any body whose result is its last value) without the values its
    result does not need, renumbered.

    >>> body = (Instr("acc", "float32"), Instr("neg", "float32", (0,)), Instr("count", "float32"))
    >>> [ins.op for ins in prune(body)]
    ['count']
    """
    if not body:
        return tuple(body)
    live = sorted(live_values(body, [len(body) - 1]))
    index = {old: new for new, old in enumerate(live)}
    return tuple(Instr(body[i].op, body[i].dtype, tuple(index[a] for a in body[i].args),
                       body[i].attr) for i in live)


def walk(body: Sequence[Instr], emit: Callable[[int, Instr, str, list], object],
         live: Collection[int] | None = None) -> list:
    """The one pass over a scalar body that the interpreter and the renderers share:
    ``emit(n, ins, src, args)`` makes value ``n`` from its instruction, the dtype of its
    first operand (its own dtype if it has none) and its operands' values. Values outside
    ``live`` (when given) are None and not emitted.

    >>> body = (Instr("load", "float32", (), 0), Instr("neg", "float32", (0,)))
    >>> walk(body, lambda n, ins, src, args: f"{ins.op}({', '.join(args)})")
    ['load()', 'neg(load())']
    """
    vals: list = []
    for n, ins in enumerate(body):
        if live is not None and n not in live:
            vals.append(None)
            continue
        src = body[ins.args[0]].dtype if ins.args else ins.dtype
        vals.append(emit(n, ins, src, [vals[a] for a in ins.args]))
    return vals


def element_strides(a) -> tuple[int, ...]:
    """An array's strides in elements, 0 on its axes of size 1 (which broadcast over the
    domain); the caller has made sure every stride is a whole number of elements."""
    return tuple(0 if n == 1 else s // a.itemsize for n, s in zip(a.shape, a.strides))


def format_kernel(k: Kernel) -> str:
    """A readable listing of a kernel, for debugging and docs."""
    def fmt(body, prefix):
        lines = []
        for i, ins in enumerate(body):
            args = ", ".join(f"%{prefix}{a}" for a in ins.args)
            attr = "" if ins.attr is None else (f" in{ins.attr}" if ins.op == "load"
                                                else f" {ins.attr!r}")
            if ins.op == "reduced":
                attr = f" out{ins.attr}"
            lines.append(f"  %{prefix}{i}: {ins.dtype} = {ins.op}{attr}({args})")
        return lines
    head = (f"kernel {k.name}(" + ", ".join(f"{b.name}: {b.dtype}" for b in k.inputs)
            + ") -> (" + ", ".join(f"{b.name}: {b.dtype}" for b in k.outputs)
            + f")  ndim={k.ndim}")
    lines = [head, *fmt(k.body, "")]
    for j, s in enumerate(k.stores):
        stage = f"  (stage {k.stages[j]})" if any(k.stages) else ""
        if s.reduce:
            lines.append(f"  out{j} = reduce {s.reduce} over {s.axes} of %{s.value}{stage}")
            if s.epilogue:
                lines += ["   epilogue:", *fmt(s.epilogue, "e")]
        else:
            lines.append(f"  out{j} = %{s.value}{stage}")
    return "\n".join(lines)


class Builder:
    """Builds a kernel body, merging identical instructions as it goes.

    >>> b = Builder()
    >>> x = b.load(0, "float32"); y = b.emit("mul", "float32", (x, x))
    >>> b.emit("mul", "float32", (x, x)) == y, len(b.body)
    (True, 2)
    """

    def __init__(self) -> None:
        self.body: list[Instr] = []
        self._memo: dict[Instr, int] = {}

    def emit(self, op: str, dtype: str, args: Sequence[int] = (), attr=None) -> int:
        ins = Instr(op, dtype, tuple(args), attr)
        key = ins if op != "const" else Instr(op, dtype, (), (type(attr), repr(attr)))
        if key not in self._memo:
            self._memo[key] = len(self.body)
            self.body.append(ins)
        return self._memo[key]

    def load(self, index: int, dtype: str) -> int:
        return self.emit("load", dtype, (), index)

    def const(self, value, dtype: str) -> int:
        value = np.asarray(value, dtype=dtype).item()
        return self.emit("const", dtype, (), value)

    def cast(self, v: int, dtype: str) -> int:
        return v if self.body[v].dtype == dtype else self.emit("cast", dtype, (v,))

    def dtype(self, v: int) -> str:
        return self.body[v].dtype
