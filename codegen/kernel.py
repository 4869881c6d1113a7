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

:func:`interpret` runs a kernel with numpy. It is the reference every renderer is checked
against, and :data:`OPCODES` is the one definition of what each scalar opcode means.

>>> k = Kernel("axpy", inputs=(Buffer("x", "float32", 1), Buffer("y", "float32", 1)),
...            outputs=(Buffer("out", "float32", 1),), ndim=1,
...            body=(Instr("load", "float32", (), 0), Instr("load", "float32", (), 1),
...                  Instr("const", "float32", (), 2.0), Instr("mul", "float32", (0, 2)),
...                  Instr("add", "float32", (3, 1))),
...            stores=(Store(4),))
>>> interpret(k, [np.ones(3, "float32"), np.arange(3, dtype="float32")])[0].tolist()
[2.0, 3.0, 4.0]
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

DTYPES = ("bool", "int8", "int16", "int32", "int64", "uint8", "float32", "float64")
FLOATS = ("float32", "float64")
INTS = ("int8", "int16", "int32", "int64", "uint8")


def _erf(x: np.ndarray) -> np.ndarray:
    # np.asarray: frompyfunc gives a bare Python float for a 0-d input
    return np.asarray(np.frompyfunc(math.erf, 1, 1)(x)).astype(x.dtype)


def _erfc(x: np.ndarray) -> np.ndarray:
    return np.asarray(np.frompyfunc(math.erfc, 1, 1)(x)).astype(x.dtype)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype)


def _softplus(x: np.ndarray) -> np.ndarray:
    return (np.log1p(np.exp(-np.abs(x))) + np.maximum(x, 0)).astype(x.dtype)


def _int_pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer power with C-like truncation for negative exponents (numpy raises)."""
    neg = b < 0
    out = np.power(a, np.where(neg, 0, b))
    trunc = np.where(a == 1, 1, np.where(a == -1, np.where(b % 2 == 0, 1, -1), 0))
    return np.where(neg, trunc, out).astype(a.dtype)


def _pow(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """C99 pow, elementwise. numpy computes ``x ** 0.5`` with a scalar exponent as sqrt
    (nan at -inf, -0 at -0, where pow gives +inf and +0); a broadcast exponent array
    keeps numpy on its elementwise pow."""
    if a.dtype.kind in "iu":
        return _int_pow(a, b)
    shape = np.broadcast_shapes(a.shape, b.shape)
    return np.power(np.broadcast_to(a, shape), np.broadcast_to(b, shape))


def _not(a: np.ndarray) -> np.ndarray:
    return np.logical_not(a) if a.dtype == np.bool_ else np.invert(a)


def _isinf(a: np.ndarray) -> np.ndarray:
    return np.isinf(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)


def _isnan(a: np.ndarray) -> np.ndarray:
    return np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)


def _isfinite(a: np.ndarray) -> np.ndarray:
    return np.isfinite(a) if a.dtype.kind == "f" else np.ones(a.shape, bool)


@dataclass(frozen=True)
class Opcode:
    """A scalar opcode: arity, which operand dtypes it takes, its numpy meaning."""
    name: str
    arity: int
    operands: str      # 'float' | 'num' (int or float) | 'any' | 'logic' (bool or int)
    result: str        # 'same' | 'bool'
    impl: Callable


def _op(name, arity, operands, result, impl):
    return name, Opcode(name, arity, operands, result, impl)


OPCODES: dict[str, Opcode] = dict([
    # float -> float
    *[_op(n, 1, "float", "same", f) for n, f in [
        ("exp", np.exp), ("exp2", np.exp2), ("expm1", np.expm1), ("log", np.log),
        ("log2", np.log2), ("log10", np.log10), ("log1p", np.log1p), ("sqrt", np.sqrt),
        ("sin", np.sin), ("cos", np.cos), ("tan", np.tan), ("asin", np.arcsin),
        ("acos", np.arccos), ("atan", np.arctan), ("sinh", np.sinh), ("cosh", np.cosh),
        ("tanh", np.tanh), ("asinh", np.arcsinh), ("acosh", np.arccosh),
        ("atanh", np.arctanh), ("erf", _erf), ("erfc", _erfc), ("sigmoid", _sigmoid),
        ("softplus", _softplus), ("floor", np.floor), ("ceil", np.ceil),
        ("round", np.round), ("trunc", np.trunc)]],
    _op("div", 2, "float", "same", np.true_divide),
    _op("atan2", 2, "float", "same", np.arctan2),
    # numeric
    _op("neg", 1, "num", "same", np.negative),
    _op("abs", 1, "num", "same", np.abs),
    _op("sign", 1, "num", "same", np.sign),
    _op("add", 2, "num", "same", np.add),
    _op("sub", 2, "num", "same", np.subtract),
    _op("mul", 2, "num", "same", np.multiply),
    _op("floordiv", 2, "num", "same", np.floor_divide),
    _op("mod", 2, "num", "same", np.remainder),
    _op("pow", 2, "num", "same", _pow),
    _op("max", 2, "any", "same", np.maximum),
    _op("min", 2, "any", "same", np.minimum),
    # predicates and comparisons
    _op("isnan", 1, "any", "bool", _isnan),
    _op("isinf", 1, "any", "bool", _isinf),
    _op("isfinite", 1, "any", "bool", _isfinite),
    *[_op(n, 2, "any", "bool", f) for n, f in [
        ("lt", np.less), ("le", np.less_equal), ("gt", np.greater),
        ("ge", np.greater_equal), ("eq", np.equal), ("ne", np.not_equal)]],
    # bool / integer logic (logical on bool, bitwise on ints)
    _op("not", 1, "logic", "same", _not),
    _op("and", 2, "logic", "same", np.bitwise_and),
    _op("or", 2, "logic", "same", np.bitwise_or),
    _op("xor", 2, "logic", "same", np.bitwise_xor),
])
"""Scalar opcodes besides the structural ones: ``load``, ``const``, ``cast``, ``select``
(and in epilogues ``acc`` and ``count``). Integer ``floordiv``/``mod`` by zero give 0, and
integer ``pow`` with a negative exponent truncates toward zero (C-like): native code must
match and never trap."""

STRUCTURAL = ("load", "const", "cast", "select", "acc", "count", "reduced")

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


@dataclass(frozen=True)
class Buffer:
    """A kernel argument: its name, dtype and rank (always the kernel's ``ndim``)."""
    name: str
    dtype: str
    rank: int


@dataclass(frozen=True)
class Instr:
    """One SSA value. ``args`` are indices of earlier values of the same body.

    ``attr`` is the input index for ``load`` and the Python value for ``const``.
    """
    op: str
    dtype: str
    args: tuple[int, ...] = ()
    attr: object = None


@dataclass(frozen=True)
class Store:
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
        return tuple(1 if (store.reduce and i in store.axes) else d
                     for i, d in enumerate(domain))

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
            ok = {"float": dt in FLOATS, "num": dt != "bool", "any": True,
                  "logic": dt == "bool" or dt in INTS}[oc.operands]
            if not ok:
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


def _eval(body: Sequence[Instr], load, acc=None, count=None,
          reduced: Sequence | None = None) -> list[np.ndarray | None]:
    """The body's values; those that use a ``reduced`` result not known yet are None."""
    vals: list[np.ndarray | None] = []
    with np.errstate(all="ignore"):
        for ins in body:
            a = [vals[i] for i in ins.args]
            if any(x is None for x in a):
                v = None
            elif ins.op == "load":
                v = load(ins.attr)
            elif ins.op == "const":
                v = np.asarray(ins.attr, dtype=ins.dtype)
            elif ins.op == "acc":
                v = acc
            elif ins.op == "count":
                v = np.asarray(count).astype(ins.dtype)   # wraps in small ints, as native
            elif ins.op == "reduced":
                v = reduced[ins.attr]
            elif ins.op == "cast":
                v = np.asarray(a[0]).astype(ins.dtype)
            elif ins.op == "select":
                v = np.where(a[0], a[1], a[2])
            else:
                v = OPCODES[ins.op].impl(*a)
            vals.append(None if v is None else np.asarray(v, dtype=ins.dtype))
    return vals


def interpret(k: Kernel, inputs: Sequence[np.ndarray],
              outputs: Sequence[np.ndarray] | None = None,
              shape: Sequence[int] | None = None) -> list[np.ndarray]:
    """Run ``k`` with numpy: the reference semantics of the IR.

    ``outputs``, if given, are written in place (shapes as the calling convention says);
    otherwise fresh arrays are returned.
    """
    domain = domain_of(k, inputs, shape)
    red_axes = k.reduce_axes
    count = int(np.prod([domain[a] for a in red_axes])) if red_axes else 1
    results: list = [None] * len(k.stores)
    for stage in sorted(set(k.stages)):
        vals = _eval(k.body, lambda i: inputs[i], reduced=results)
        for j, (s, out) in enumerate(zip(k.stores, k.outputs)):
            if k.stages[j] != stage:
                continue
            v = np.broadcast_to(vals[s.value], domain)
            if s.reduce:
                ufunc, _ = COMBINERS[s.reduce]
                with np.errstate(all="ignore"):
                    v = ufunc.reduce(v, axis=s.axes, keepdims=True, dtype=v.dtype,
                                     initial=s.identity(v.dtype.name))
                if s.epilogue:
                    def load_at_zero(i):
                        idx = tuple(slice(0, 1) if ax in s.axes else slice(None)
                                    for ax in range(k.ndim))
                        return inputs[i][idx]
                    v = _eval(s.epilogue, load_at_zero, acc=v, count=count,
                              reduced=results)[-1]
                    v = np.broadcast_to(v, k.out_shape(s, domain))
            results[j] = np.asarray(v, dtype=out.dtype)
    if outputs is None:
        return [np.array(r, copy=True) for r in results]
    for j, (r, o) in enumerate(zip(results, outputs)):
        want = k.out_shape(k.stores[j], domain)
        if o.shape != want or o.dtype != np.dtype(k.outputs[j].dtype):
            raise KernelError(f"{k.name}: output {k.outputs[j].name} must be "
                              f"{k.outputs[j].dtype}{want}, got {o.dtype}{o.shape}")
        o[...] = r
    return list(outputs)


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
        extra = tuple(sorted({ins.attr for i, ins in enumerate(k.body)
                              if i in live and ins.op == "reduced"} |
                             {ins.attr for j in js for ins in k.stores[j].epilogue
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
                             tuple(map(loaded, k.stores[j].epilogue))) for j in js)
        ins_bufs = (*k.inputs, *(Buffer(f"stage_in{j}", k.outputs[j].dtype, k.ndim)
                                 for j in extra))
        out.append((Kernel(f"{k.name}_s{stage}", ins_bufs, tuple(k.outputs[j] for j in js),
                           k.ndim, tuple(body), stores), extra, js))
    return out


def live_values(body: Sequence[Instr], roots: Sequence[int]) -> set[int]:
    """The body values ``roots`` need."""
    live, todo = set(), list(roots)
    while todo:
        i = todo.pop()
        if i not in live:
            live.add(i)
            todo.extend(body[i].args)
    return live


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
