"""Elementwise operations: one table of scalar ops, one :class:`Elemwise` op applying them,
and the user functions (``exp``, ``add``, ``where``, ``cast``, ...).

Each :class:`ScalarOp` says how its output dtype follows from its inputs' (``kind``), how
it lowers to kernel-IR opcodes (``lower``), and its gradient. Fusion and every backend go
through ``lower``, so an op's meaning is defined once (by the kernel IR's opcodes).

>>> import symgraph as sg
>>> x = sg.fvector("x")
>>> (sg.exp(x) * 2).dtype
'float32'
"""
from __future__ import annotations

import builtins
import math
from dataclasses import dataclass, field
from functools import lru_cache
from types import SimpleNamespace
from typing import Callable, Sequence

import numpy as np

from codegen.kernel import Builder, Buffer, Kernel, Store

from ..config import config
from ..graph import Apply, Constant, Op, Variable
from ..types import FLOATS, INTS, TensorType, as_dtype, float_dtype, is_weak, result_dtype
from ..variable import TensorConstant, as_tensor, constant, install
from .fused import Fused, bcast_axes

# kind -> (dtype the op computes in, dtype it returns), from the inputs' common dtype
_KINDS: dict[str, Callable[[str], tuple[str, str]]] = {
    "arith": lambda c: (c, c),               # add, mul ...: bool is refused (see _check)
    "any": lambda c: (c, c),                 # maximum, minimum: bool too
    "float": lambda c: (float_dtype(c), float_dtype(c)),
    "divide": lambda c: (c, c) if c in FLOATS else ("float64", "float64"),  # as numpy
    "round": lambda c: (c, c),               # floor ...: identity on ints, as numpy 2
    "rint": lambda c: (float_dtype(c),) * 2 if c == "bool" else (c, c),  # numpy: f16
    "cmp": lambda c: (c, "bool"),
    "pred": lambda c: (c, "bool"),
    "logic": lambda c: (c, c),
    "second": lambda c: (c, c),
}


@dataclass(frozen=True, eq=False)
class ScalarOp:
    """A scalar function: name, arity, dtype kind, IR opcode and gradient rule.

    ``grad(inputs, output, g)`` returns the gradient w.r.t. each input as tensor
    expressions; ``None`` means none flows (non-float inputs get none regardless).
    """
    name: str
    nin: int
    kind: str
    opcode: str | None = None
    grad: Callable | None = field(default=None, repr=False)
    lower_fn: Callable | None = field(default=None, repr=False)
    to: str | None = None     # target dtype of a cast

    def dtypes(self, in_dtypes: Sequence[str]) -> tuple[str, str]:
        """(compute dtype, output dtype) for these input dtypes."""
        if self.kind == "cast":
            return self.to, self.to
        if self.kind == "select":
            c = result_dtype(*in_dtypes[1:])
            return c, c
        if self.kind == "second":
            return in_dtypes[1], in_dtypes[1]
        c = result_dtype(*in_dtypes)
        if self.kind == "arith" and c == "bool":
            raise TypeError(f"{self.name} of bool tensors: cast first (x.astype('int8')), "
                            "or use | & ^ for logic")
        if self.kind == "logic" and c not in ("bool", *INTS):
            raise TypeError(f"{self.name} takes bool or integer tensors, got {c}")
        return _KINDS[self.kind](c)

    def lower(self, b: Builder, args: Sequence[int]) -> int:
        """Emit this op into ``b`` for argument values ``args``; returns the result value."""
        compute, out = self.dtypes([b.dtype(a) for a in args])
        if self.kind == "select":
            return b.emit("select", out, (b.cast(args[0], "bool"),
                                          b.cast(args[1], compute), b.cast(args[2], compute)))
        if self.kind == "second":
            return args[1]
        if self.kind == "cast":
            return b.cast(args[0], out)
        xs = [b.cast(a, compute) for a in args]
        if self.kind in ("round", "rint") and compute not in FLOATS:
            return xs[0]
        if self.lower_fn is not None:
            return self.lower_fn(b, compute, *xs)
        return b.emit(self.opcode or self.name, out, xs)

    def __str__(self) -> str:
        return self.name

    def __reduce__(self):
        # pickled by name: the table holds the one instance (its rules are lambdas)
        return (cast_op, (self.to,)) if self.kind == "cast" else (scalar_op, (self.name,))


def _d(f):
    """A gradient rule for a unary op: ``f(x, z, g) -> grad``, written with the user
    functions of this module (``F``, filled at its end)."""
    return lambda ins, z, g: [f(ins[0], z, g)]


_LN2, _LN10, _2_SQRTPI = math.log(2), math.log(10), 2 / math.sqrt(math.pi)

_unary = [  # name, opcode, gradient
    ("exp", None, _d(lambda x, z, g: g * z)),
    ("exp2", None, _d(lambda x, z, g: g * z * _LN2)),
    ("expm1", None, _d(lambda x, z, g: g * (z + 1))),
    ("log", None, _d(lambda x, z, g: g / x)),
    ("log2", None, _d(lambda x, z, g: g / (x * _LN2))),
    ("log10", None, _d(lambda x, z, g: g / (x * _LN10))),
    ("log1p", None, _d(lambda x, z, g: g / (x + 1))),
    ("sqrt", None, _d(lambda x, z, g: g * 0.5 / z)),
    ("sin", None, _d(lambda x, z, g: g * F.cos(x))),
    ("cos", None, _d(lambda x, z, g: -g * F.sin(x))),
    ("tan", None, _d(lambda x, z, g: g * (z * z + 1))),
    ("arcsin", "asin", _d(lambda x, z, g: g / F.sqrt(1 - x * x))),
    ("arccos", "acos", _d(lambda x, z, g: -g / F.sqrt(1 - x * x))),
    ("arctan", "atan", _d(lambda x, z, g: g / (x * x + 1))),
    ("sinh", None, _d(lambda x, z, g: g * F.cosh(x))),
    ("cosh", None, _d(lambda x, z, g: g * F.sinh(x))),
    ("tanh", None, _d(lambda x, z, g: g * (1 - z * z))),
    ("arcsinh", "asinh", _d(lambda x, z, g: g / F.sqrt(x * x + 1))),
    ("arccosh", "acosh", _d(lambda x, z, g: g / F.sqrt(x * x - 1))),
    ("arctanh", "atanh", _d(lambda x, z, g: g / (1 - x * x))),
    ("erf", None, _d(lambda x, z, g: g * _2_SQRTPI * F.exp(-x * x))),
    ("erfc", None, _d(lambda x, z, g: -g * _2_SQRTPI * F.exp(-x * x))),
    ("sigmoid", None, _d(lambda x, z, g: g * z * (1 - z))),
    ("softplus", None, _d(lambda x, z, g: g * F.sigmoid(x))),
]


def _zero_grads(ins, z, g):
    return [zeros_like(i) for i in ins]


def _no_grads(ins, z, g):
    return [None] * len(ins)


def _pow_grad(ins, z, g):
    x, y = ins
    safe_x = where(F.equal(x, 0), ones_like(x), x)
    return [g * y * x ** (y - 1), g * z * F.log(safe_x)]


def _mod_grad(ins, z, g):
    x, y = ins
    return [g, -g * F.floor_divide(x, y)]


def _where_grad(ins, z, g):
    c = ins[0]
    return [None, where(c, g, zeros_like(g)), where(c, zeros_like(g), g)]


def _cast_grad(ins, z, g):
    x = ins[0]
    return [g.astype(x.dtype) if x.dtype in FLOATS else None]


def _lower_log1mexp(b: Builder, dt: str, x: int) -> int:
    # log(1 - e^x), x <= 0: 1 - e^x cancels near 0, where log(-expm1 x) is exact; below
    # -ln 2 expm1 x rounds towards -1 and log1p(-e^x) is the exact one (Maechler, 2012)
    near_zero = b.emit("gt", "bool", (x, b.const(-_LN2, dt)))
    return b.emit("select", dt, (
        near_zero, b.emit("log", dt, (b.emit("neg", dt, (b.emit("expm1", dt, (x,)),)),)),
        b.emit("log1p", dt, (b.emit("neg", dt, (b.emit("exp", dt, (x,)),)),))))


def _lower_xlogx(b: Builder, dt: str, x: int) -> int:
    # the limit at 0, where the product is 0 * -inf
    zero = b.const(0, dt)
    return b.emit("select", dt, (b.emit("eq", "bool", (x, zero)), zero,
                                 b.emit("mul", dt, (x, b.emit("log", dt, (x,))))))


SCALAR_OPS: dict[str, ScalarOp] = {}


def _reg(*ops: ScalarOp) -> None:
    for op in ops:
        SCALAR_OPS[op.name] = op


_reg(*(ScalarOp(n, 1, "float", oc, gr) for n, oc, gr in _unary))
_reg(
    ScalarOp("add", 2, "arith", None, lambda ins, z, g: [g, g]),
    ScalarOp("sub", 2, "arith", None, lambda ins, z, g: [g, -g]),
    ScalarOp("mul", 2, "arith", None, lambda ins, z, g: [g * ins[1], g * ins[0]]),
    ScalarOp("true_divide", 2, "divide", "div",
             lambda ins, z, g: [g / ins[1], -g * z / ins[1]]),
    ScalarOp("floor_divide", 2, "arith", "floordiv", _zero_grads),
    ScalarOp("mod", 2, "arith", None, _mod_grad),
    ScalarOp("power", 2, "arith", "pow", _pow_grad),
    ScalarOp("arctan2", 2, "float", "atan2", lambda ins, z, g: [
        g * ins[1] / (ins[0] * ins[0] + ins[1] * ins[1]),
        -g * ins[0] / (ins[0] * ins[0] + ins[1] * ins[1])]),
    ScalarOp("maximum", 2, "any", "max", lambda ins, z, g: [
        g * F.greater_equal(ins[0], ins[1]), g * F.less(ins[0], ins[1])]),
    ScalarOp("minimum", 2, "any", "min", lambda ins, z, g: [
        g * F.less_equal(ins[0], ins[1]), g * F.greater(ins[0], ins[1])]),
    ScalarOp("neg", 1, "arith", None, lambda ins, z, g: [-g]),
    ScalarOp("abs", 1, "arith", None, lambda ins, z, g: [g * F.sign(ins[0])]),
    ScalarOp("sign", 1, "arith", None, _zero_grads),
    ScalarOp("square", 1, "arith", None, lambda ins, z, g: [g * 2 * ins[0]],
             lambda b, dt, x: b.emit("mul", dt, (x, x))),
    # 1 / x, as in Theano; numpy's reciprocal of an int truncates to 0 and is never meant
    ScalarOp("reciprocal", 1, "divide", None, lambda ins, z, g: [-g * z * z],
             lambda b, dt, x: b.emit("div", dt, (b.const(1, dt), x))),
    ScalarOp("rsqrt", 1, "float", None, lambda ins, z, g: [-0.5 * g * z * z * z],
             lambda b, dt, x: b.emit("div", dt, (b.const(1, dt), b.emit("sqrt", dt, (x,))))),
    # log(1 - exp(x)) for x <= 0 (NaN above), and x * log(x) with 0 at 0: what the
    # stabilize rewrites make of those forms. The derivative -e^x / (1 - e^x) is written
    # with the output: it is -inf at x = 0 (a rule of x alone sees +0 and gives +inf)
    ScalarOp("log1mexp", 1, "float", None, lambda ins, z, g: [-g * F.exp(ins[0] - z)],
             _lower_log1mexp),
    ScalarOp("xlogx", 1, "float", None, lambda ins, z, g: [g * (F.log(ins[0]) + 1)],
             _lower_xlogx),
    *(ScalarOp(n, 1, "round", None, _zero_grads) for n in ("floor", "ceil", "trunc")),
    ScalarOp("round", 1, "rint", None, _zero_grads),
    *(ScalarOp(n, 2, "cmp", oc, _no_grads) for n, oc in [
        ("less", "lt"), ("less_equal", "le"), ("greater", "gt"), ("greater_equal", "ge"),
        ("equal", "eq"), ("not_equal", "ne")]),
    *(ScalarOp(n, 1, "pred", None, _no_grads) for n in ("isnan", "isinf", "isfinite")),
    ScalarOp("invert", 1, "logic", "not", _no_grads),
    *(ScalarOp(n, 2, "logic", n.split("_")[1], _no_grads)
      for n in ("bitwise_and", "bitwise_or", "bitwise_xor")),
    ScalarOp("where", 3, "select", None, _where_grad),
    ScalarOp("second", 2, "second", None, lambda ins, z, g: [None, g]),
)


def scalar_op(name: str) -> ScalarOp:
    """The scalar op called ``name`` (see :data:`SCALAR_OPS`)."""
    return SCALAR_OPS[name]


@lru_cache(maxsize=None)
def cast_op(dtype: str) -> ScalarOp:
    return ScalarOp(f"cast_{dtype}", 1, "cast", None, _cast_grad, to=dtype)


class Elemwise(Op):
    """Applies a :class:`ScalarOp` elementwise, with broadcasting over static-1 axes.

    All inputs have the same rank (the user functions insert the broadcast axes).
    """
    __props__ = ("scalar",)
    positional = False
    """Whether the value reads the element's position (a random draw): such an op only
    runs over its own domain, never in a reduction's epilogue."""

    def __init__(self, scalar: ScalarOp):
        self.scalar = scalar
        self._kernels: dict[tuple, Kernel] = {}
        self._types: dict[tuple, TensorType] = {}     # make_node's, by input types

    @property
    def name(self) -> str:
        return self.scalar.name

    def __str__(self) -> str:
        return self.scalar.name

    def make_node(self, *inputs: Variable) -> Apply:
        # a graph applies few ops to few types, and a long one makes many nodes: the
        # output type is worked out once per op and input types (grad and the rewrites
        # make as many nodes again)
        key = tuple([(i.type.dtype, i.type.shape) for i in inputs])
        out = self._types.get(key)
        if out is None:
            out = self._output_type(inputs)
            if len(self._types) < 1024:
                self._types[key] = out
        return Apply(self, inputs, [out()])

    def _output_type(self, inputs: Sequence[Variable]) -> TensorType:
        s = self.scalar
        if len(inputs) != s.nin:
            raise TypeError(f"{s.name} takes {s.nin} inputs, got {len(inputs)}")
        ndims = {i.ndim for i in inputs}
        if len(ndims) != 1:
            raise TypeError(f"{s.name}: inputs must have one rank, got "
                            f"{[str(i.type) for i in inputs]}")
        _, out_dtype = s.dtypes([i.dtype for i in inputs])
        shape = []
        for ax, sizes in enumerate(zip(*(i.type.shape for i in inputs))):
            known = {d for d in sizes if d is not None and d != 1}
            if len(known) > 1:
                raise ValueError(
                    f"{s.name}: shapes do not broadcast on axis {ax}: "
                    f"{' and '.join(str(i.type) for i in inputs)}")
            if known:
                shape.append(known.pop())
            elif all(d == 1 for d in sizes):
                shape.append(1)
            else:
                shape.append(None)
        return TensorType(out_dtype, shape)

    def kernel(self, in_dtypes: tuple[str, ...], ndim: int) -> Kernel:
        """The one-op kernel computing this node (cached per signature)."""
        key = (in_dtypes, ndim)
        if key not in self._kernels:
            b = Builder()
            out = self.scalar.lower(b, [b.load(i, d) for i, d in enumerate(in_dtypes)])
            self._kernels[key] = Kernel(
                self.scalar.name,
                tuple(Buffer(f"in{i}", d, ndim) for i, d in enumerate(in_dtypes)),
                (Buffer("out", b.dtype(out), ndim),), ndim, tuple(b.body), (Store(out),))
        return self._kernels[key]

    def as_kernel(self, node: Apply) -> Fused:
        """The node as a one-op kernel node (the lowering, and staged fusion, use it)."""
        full = tuple(range(node.outputs[0].ndim))
        kernel = self.kernel(tuple(v.dtype for v in node.inputs), len(full))
        return Fused(kernel, [full] * len(node.inputs), [()],
                     [bcast_axes(v) for v in node.inputs], [str(self)])

    def lower(self, node: Apply):
        return self.as_kernel(node).lower(node)

    def __getstate__(self):
        return {"scalar": self.scalar}

    def __setstate__(self, state):      # (the tables start empty, whatever pickled them)
        self.__dict__.update(state, _kernels={}, _types={})

    def grad(self, inputs, outputs, output_grads):
        return self.grad_of(inputs, outputs, output_grads, [True] * len(inputs))

    def grad_of(self, inputs, outputs, output_grads, wanted):
        g = output_grads[0]
        if g is None or outputs[0].dtype not in FLOATS:
            return [None] * len(inputs)
        # the rule computes in the op's own precision: a float32 constant in a float64
        # graph, or a bool operand, takes the dtype the op computed in
        compute, _ = self.scalar.dtypes([v.dtype for v in inputs])
        kind = self.scalar.kind
        ins = list(inputs) if kind in ("cast", "second") else \
            [v if (kind == "select" and k == 0) or compute not in FLOATS else cast(v, compute)
             for k, v in enumerate(inputs)]
        grads = self.scalar.grad(ins, outputs[0], g)
        # an input nothing differentiates through (a constant, a shared variable outside
        # wrt) would get a sum over its broadcast axes for nothing
        return [None if (gi is None or not w or x.dtype not in FLOATS) else
                sum_to_type(gi, x.type) for x, gi, w in zip(inputs, grads, wanted)]




# ---------------------------------------------------------------- user functions
@lru_cache(maxsize=None)
def _elemwise(name: str) -> Elemwise:
    return Elemwise(SCALAR_OPS[name])


def _weak_const(value, others: list[Variable], exact: bool = False) -> TensorConstant:
    """A Python scalar as the constant numpy 2 makes of it next to ``others`` (NEP 50)."""
    if not others:
        return constant(value)
    dt = result_dtype(*(o.dtype for o in others), value)
    if dt in FLOATS:
        return constant(float(value), dt)  # an int rounds to the float type, as in numpy
    if dt in INTS and not np.iinfo(dt).min <= value <= np.iinfo(dt).max:
        if exact:  # numpy 2 compares and divides by an out-of-range int exactly
            return constant(value)
        raise OverflowError(f"Python integer {value} out of bounds for {dt} (as in numpy "
                            f"2): cast the tensor to a wider dtype first")
    return constant(value, dt)


_WEAK: dict[tuple, TensorConstant] = {}
"""Weak constants made so far, by value and what decides their dtype and rank: ``x * 2``
written a thousand times makes one constant (constants are values no rewrite changes),
not a thousand that the merge pass would then find equal."""


def _weak_padded(value, strong: list[Variable], exact: bool, nd: int) -> TensorConstant:
    """:func:`_weak_const` of ``value``, with ``nd`` leading broadcast axes, made once."""
    # repr tells -0.0 from 0.0 and True from 1, which compare equal
    key = (type(value), repr(value), exact, nd, config.floatX, *(o.dtype for o in strong))
    c = _WEAK.get(key)
    if c is None:
        c = _weak_const(value, strong, exact)
        if nd:
            c = constant(c.data.reshape((1,) * nd))
        if len(_WEAK) >= 4096:
            _WEAK.clear()
        _WEAK[key] = c
    return c


def apply_elemwise(op: Elemwise, *args) -> Variable:
    """Apply an elementwise op, turning Python scalars into weak constants and padding
    lower-rank inputs with leading broadcast axes (numpy's rule)."""
    strong = [a for a in args if isinstance(a, Variable)]
    exact = op.scalar.kind in ("cmp", "divide")  # int8 < 300 is True, int8 / 300 float64
    xs = [a if isinstance(a, Variable) else None if is_weak(a) else as_tensor(a)
          for a in args]
    nd = builtins.max((x.ndim for x in xs if x is not None), default=0)
    xs = [x if x is not None else _weak_padded(a, strong, exact, nd)
          for x, a in zip(xs, args)]
    if nd:
        xs = [x if x.ndim == nd else
              constant(x.data.reshape((1,) * (nd - x.ndim) + x.data.shape))
              if isinstance(x, Constant) else
              x.dimshuffle(*(["x"] * (nd - x.ndim)), *range(x.ndim)) for x in xs]
    return op.make_node(*xs).outputs[0]


def _ufunc(name: str) -> Callable:
    def f(*args):
        return apply_elemwise(_elemwise(name), *args)
    f.__name__ = f.__qualname__ = name
    f.__doc__ = f"Elementwise ``{name}``, as numpy's."
    return f


UFUNCS: dict[str, Callable] = {n: _ufunc(n) for n in SCALAR_OPS}
"""The user function of every scalar op, by name (``UFUNCS["exp"](x)``)."""


def power_operator(x, p) -> Variable:
    """``x ** p``: numpy's operator squares a bool ``x ** 2`` in int8 (its fast path for
    2), where ``np.power`` gives int64; other powers are ``power``'s."""
    if isinstance(x, Variable) and x.dtype == "bool" and is_weak(p) and \
            not isinstance(p, bool) and p == 2:
        x = cast(x, "int8")
    return UFUNCS["power"](x, p)


def cast(x, dtype) -> Variable:
    """``x`` converted to ``dtype`` (numpy's ``astype``)."""
    x = as_tensor(x)
    dtype = as_dtype(dtype)
    if x.dtype == dtype:
        return x
    return Elemwise(cast_op(dtype)).make_node(x).outputs[0]


def where(cond, a, b) -> Variable:
    """``a`` where ``cond`` else ``b`` (numpy's ``where``, Theano's ``switch``)."""
    return apply_elemwise(_elemwise("where"), cond, a, b)


def clip(x, lo, hi) -> Variable:
    """``x`` limited to ``[lo, hi]``."""
    return UFUNCS["minimum"](UFUNCS["maximum"](x, lo), hi)


def relu(x) -> Variable:
    """``max(x, 0)``."""
    return UFUNCS["maximum"](x, 0)


def zeros_like(x, dtype=None) -> Variable:
    """numpy's ``zeros_like``: zeros in ``x``'s shape and dtype (or ``dtype``).

    >>> import symgraph as sg
    >>> x = sg.fvector("x")
    >>> sg.zeros_like(x, dtype="int32").eval({x: [1.5, 2.5]}).tolist()
    [0, 0]
    """
    x = as_tensor(x)
    return UFUNCS["second"](x, constant(0, dtype or x.dtype))


def ones_like(x, dtype=None) -> Variable:
    """numpy's ``ones_like``: ones in ``x``'s shape and dtype (or ``dtype``)."""
    x = as_tensor(x)
    return UFUNCS["second"](x, constant(1, dtype or x.dtype))


def fill(x, value) -> Variable:
    """A tensor shaped like ``x`` holding ``value`` (Theano's ``fill``)."""
    return UFUNCS["second"](x, value)


def sum_to_type(g: Variable, t: TensorType) -> Variable:
    """The gradient ``g`` summed over the axes that ``t`` broadcasts, cast to ``t``'s
    dtype: how a broadcast input receives its gradient."""
    axes = tuple(a for a in range(t.ndim) if t.shape[a] == 1 and g.type.shape[a] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return cast(g, t.dtype)


F = SimpleNamespace(**{**UFUNCS, "where": where, "cast": cast})
"""The user functions the gradient rules above are written with."""

# numpy ufuncs and functions that mean the same on symbolic tensors
_NUMPY_NAMES = {
    "add": np.add, "sub": np.subtract, "mul": np.multiply, "true_divide": np.true_divide,
    "floor_divide": np.floor_divide, "mod": np.remainder, "power": np.power,
    "neg": np.negative, "abs": np.absolute, "maximum": np.maximum, "minimum": np.minimum,
    "round": (np.rint, np.round), "arcsin": np.arcsin, "arccos": np.arccos,
    "arctan": np.arctan, "arctan2": np.arctan2, "arcsinh": np.arcsinh,
    "arccosh": np.arccosh, "arctanh": np.arctanh,
    **{n: getattr(np, n) for n in (
        "exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "sin", "cos",
        "tan", "sinh", "cosh", "tanh", "sign", "square", "floor", "ceil", "trunc", "less",
        "less_equal", "greater", "greater_equal", "equal", "not_equal", "isnan", "isinf",
        "isfinite", "invert", "bitwise_and", "bitwise_or", "bitwise_xor")},
}
for _name, _fn in UFUNCS.items():
    install(_name, _fn, _NUMPY_NAMES.get(_name))
install("cast", cast)
install("power_operator", power_operator)
install("where", where, np.where)
install("clip", clip, np.clip)
