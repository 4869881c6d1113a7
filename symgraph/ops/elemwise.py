"""Elementwise operations: one table of scalar ops, one :class:`Elemwise` op applying them.

Each :class:`ScalarOp` says how its output dtype follows from its inputs' (``kind``), how
it lowers to kernel-IR opcodes (``lower``), and its gradient. The numpy reference
``perform``, fusion and every native backend all go through ``lower``, so an op's meaning is
defined once (by :data:`codegen.kernel.OPCODES`).

>>> import symgraph as sg
>>> x = sg.fvector("x")
>>> (sg.exp(x) * 2).dtype
'float32'
"""
from __future__ import annotations

import sys

import math
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable, Sequence

import numpy as np

from codegen.kernel import Builder, Buffer, Kernel, Store, interpret

from ..graph import Apply, Op, Variable
from ..types import FLOATS, INTS, TensorType, float_dtype, result_dtype

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


def _T():
    # the package's `tensor` attribute is the constructor sg.tensor, not this module
    return sys.modules["symgraph.tensor"]


def _d(f):
    """A gradient rule for a unary op: ``f(T, x, z, g) -> grad``."""
    return lambda ins, z, g: [f(_T(), ins[0], z, g)]


_LN2, _LN10, _2_SQRTPI = math.log(2), math.log(10), 2 / math.sqrt(math.pi)

_unary = [  # name, opcode, gradient
    ("exp", None, _d(lambda T, x, z, g: g * z)),
    ("exp2", None, _d(lambda T, x, z, g: g * z * _LN2)),
    ("expm1", None, _d(lambda T, x, z, g: g * (z + 1))),
    ("log", None, _d(lambda T, x, z, g: g / x)),
    ("log2", None, _d(lambda T, x, z, g: g / (x * _LN2))),
    ("log10", None, _d(lambda T, x, z, g: g / (x * _LN10))),
    ("log1p", None, _d(lambda T, x, z, g: g / (x + 1))),
    ("sqrt", None, _d(lambda T, x, z, g: g * 0.5 / z)),
    ("sin", None, _d(lambda T, x, z, g: g * T.cos(x))),
    ("cos", None, _d(lambda T, x, z, g: -g * T.sin(x))),
    ("tan", None, _d(lambda T, x, z, g: g * (z * z + 1))),
    ("arcsin", "asin", _d(lambda T, x, z, g: g / T.sqrt(1 - x * x))),
    ("arccos", "acos", _d(lambda T, x, z, g: -g / T.sqrt(1 - x * x))),
    ("arctan", "atan", _d(lambda T, x, z, g: g / (x * x + 1))),
    ("sinh", None, _d(lambda T, x, z, g: g * T.cosh(x))),
    ("cosh", None, _d(lambda T, x, z, g: g * T.sinh(x))),
    ("tanh", None, _d(lambda T, x, z, g: g * (1 - z * z))),
    ("arcsinh", "asinh", _d(lambda T, x, z, g: g / T.sqrt(x * x + 1))),
    ("arccosh", "acosh", _d(lambda T, x, z, g: g / T.sqrt(x * x - 1))),
    ("arctanh", "atanh", _d(lambda T, x, z, g: g / (1 - x * x))),
    ("erf", None, _d(lambda T, x, z, g: g * _2_SQRTPI * T.exp(-x * x))),
    ("erfc", None, _d(lambda T, x, z, g: -g * _2_SQRTPI * T.exp(-x * x))),
    ("sigmoid", None, _d(lambda T, x, z, g: g * z * (1 - z))),
    ("softplus", None, _d(lambda T, x, z, g: g * T.sigmoid(x))),
]


def _zero_grads(ins, z, g):
    return [_T().zeros_like(i) for i in ins]


def _no_grads(ins, z, g):
    return [None] * len(ins)


def _pow_grad(ins, z, g):
    T, (x, y) = _T(), ins
    safe_x = T.where(T.eq(x, 0), T.ones_like(x), x)
    return [g * y * x ** (y - 1), g * z * T.log(safe_x)]


def _mod_grad(ins, z, g):
    x, y = ins
    return [g, -g * _T().floor_divide(x, y)]


def _where_grad(ins, z, g):
    T, c = _T(), ins[0]
    return [None, T.where(c, g, T.zeros_like(g)), T.where(c, T.zeros_like(g), g)]


def _cast_grad(ins, z, g):
    x = ins[0]
    return [g.astype(x.dtype) if x.dtype in FLOATS else None]


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
        g * _T().ge(ins[0], ins[1]), g * _T().lt(ins[0], ins[1])]),
    ScalarOp("minimum", 2, "any", "min", lambda ins, z, g: [
        g * _T().le(ins[0], ins[1]), g * _T().gt(ins[0], ins[1])]),
    ScalarOp("neg", 1, "arith", None, lambda ins, z, g: [-g]),
    ScalarOp("abs", 1, "arith", None, lambda ins, z, g: [g * _T().sign(ins[0])]),
    ScalarOp("sign", 1, "arith", None, _zero_grads),
    ScalarOp("square", 1, "arith", None, lambda ins, z, g: [g * 2 * ins[0]],
             lambda b, dt, x: b.emit("mul", dt, (x, x))),
    # 1 / x, as in Theano; numpy's reciprocal of an int truncates to 0 and is never meant
    ScalarOp("reciprocal", 1, "divide", None, lambda ins, z, g: [-g * z * z],
             lambda b, dt, x: b.emit("div", dt, (b.const(1, dt), x))),
    ScalarOp("rsqrt", 1, "float", None, lambda ins, z, g: [-0.5 * g * z * z * z],
             lambda b, dt, x: b.emit("div", dt, (b.const(1, dt), b.emit("sqrt", dt, (x,))))),
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


@lru_cache(maxsize=None)
def cast_op(dtype: str) -> ScalarOp:
    return ScalarOp(f"cast_{dtype}", 1, "cast", None, _cast_grad, to=dtype)


class Elemwise(Op):
    """Applies a :class:`ScalarOp` elementwise, with broadcasting over static-1 axes.

    All inputs have the same rank (the user functions insert the broadcast axes).
    """
    __props__ = ("scalar",)

    def __init__(self, scalar: ScalarOp):
        self.scalar = scalar
        self._kernels: dict[tuple, Kernel] = {}

    @property
    def name(self) -> str:
        return self.scalar.name

    def __str__(self) -> str:
        return self.scalar.name

    def make_node(self, *inputs: Variable) -> Apply:
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
        return Apply(self, inputs, [TensorType(out_dtype, shape)()])

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

    def perform(self, node: Apply, inputs: list[np.ndarray]) -> list[np.ndarray]:
        out_shape = check_broadcast(node, [i.shape for i in inputs])
        k = self.kernel(tuple(v.type.dtype for v in node.inputs), node.outputs[0].ndim)
        return interpret(k, inputs, shape=out_shape)

    def grad(self, inputs, outputs, output_grads):
        g = output_grads[0]
        if g is None or outputs[0].dtype not in FLOATS:
            return [None] * len(inputs)
        grads = self.scalar.grad(list(inputs), outputs[0], g)
        return [None if (gi is None or x.dtype not in FLOATS) else
                _T().sum_to_type(gi, x.type) for x, gi in zip(inputs, grads)]


def check_broadcast(node: Apply, shapes: Sequence[tuple[int, ...]]) -> tuple[int, ...]:
    """The run-time output shape of an elementwise node; only static-1 axes broadcast."""
    out = []
    for ax in range(node.outputs[0].ndim):
        sizes = [s[ax] for s, v in zip(shapes, node.inputs) if v.type.shape[ax] != 1]
        if len(set(sizes)) > 1 or (sizes and 1 in sizes and max(sizes) > 1):
            raise ValueError(
                f"shapes {' and '.join(map(str, shapes))} do not match on axis {ax}. Only "
                "axes of static size 1 broadcast: declare them (sg.row, sg.col, "
                "shape=(1, None), dimshuffle('x', ...), keepdims=True)")
        out.append(sizes[0] if sizes else 1)
    return tuple(out)
