"""The reference semantics of the kernel IR: :func:`interpret` runs a kernel with numpy.

:data:`RULES` gives each opcode of :data:`codegen.kernel.OPCODES` its numpy meaning; every
renderer is tested against this module. Integer ``floordiv``/``mod`` by zero give 0, and
integer ``pow`` with a negative exponent truncates toward zero (C-like): native code must
match and never trap.

>>> from codegen.kernel import Buffer, Instr, Kernel, Store
>>> k = Kernel("rowmax", (Buffer("x", "float64", 2),), (Buffer("m", "float64", 2),), 2,
...            (Instr("load", "float64", (), 0),), (Store(0, "max", (1,)),))
>>> interpret(k, [np.array([[1.0, 3.0], [4.0, 2.0]])])[0].tolist()
[[3.0], [4.0]]
"""
from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np

from codegen.kernel import COMBINERS, OPCODES, Instr, Kernel, KernelError, domain_of, walk


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


def _mulhi(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a.astype(np.uint64) * b.astype(np.uint64)) >> np.uint64(32)).astype(np.uint32)


def _index(domain: Sequence[int], axes: tuple[int, ...]) -> np.ndarray:
    """The ``index`` value over the domain: row-major positions among ``axes``."""
    out = np.zeros([1] * len(domain), np.int64)
    step = 1
    for a in reversed(axes):
        shape = [1] * len(domain)
        shape[a] = domain[a]
        out = out + np.arange(domain[a], dtype=np.int64).reshape(shape) * step
        step *= domain[a]
    return out


def _not(a: np.ndarray) -> np.ndarray:
    return np.logical_not(a) if a.dtype == np.bool_ else np.invert(a)


def _isinf(a: np.ndarray) -> np.ndarray:
    return np.isinf(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)


def _isnan(a: np.ndarray) -> np.ndarray:
    return np.isnan(a) if a.dtype.kind == "f" else np.zeros(a.shape, bool)


def _isfinite(a: np.ndarray) -> np.ndarray:
    return np.isfinite(a) if a.dtype.kind == "f" else np.ones(a.shape, bool)



RULES: dict[str, Callable] = {
    "exp": np.exp, "exp2": np.exp2, "expm1": np.expm1, "log": np.log, "log2": np.log2,
    "log10": np.log10, "log1p": np.log1p, "sqrt": np.sqrt, "sin": np.sin, "cos": np.cos,
    "tan": np.tan, "asin": np.arcsin, "acos": np.arccos, "atan": np.arctan,
    "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "asinh": np.arcsinh,
    "acosh": np.arccosh, "atanh": np.arctanh, "erf": _erf, "erfc": _erfc,
    "sigmoid": _sigmoid, "softplus": _softplus, "floor": np.floor, "ceil": np.ceil,
    "round": np.round, "trunc": np.trunc, "div": np.true_divide, "atan2": np.arctan2,
    "neg": np.negative, "abs": np.abs, "sign": np.sign, "add": np.add,
    "sub": np.subtract, "mul": np.multiply, "floordiv": np.floor_divide,
    "mod": np.remainder, "pow": _pow, "max": np.maximum, "min": np.minimum,
    "isnan": _isnan, "isinf": _isinf, "isfinite": _isfinite, "lt": np.less,
    "le": np.less_equal, "gt": np.greater, "ge": np.greater_equal, "eq": np.equal,
    "ne": np.not_equal, "not": _not, "and": np.bitwise_and, "or": np.bitwise_or,
    "xor": np.bitwise_xor, "mulhi": _mulhi,
}
assert set(RULES) == set(OPCODES), "every opcode needs its interpreter rule"


def _eval(body: Sequence[Instr], load, acc=None, count=None,
          reduced: Sequence | None = None, domain: Sequence[int] = ()
          ) -> list[np.ndarray | None]:
    """The body's values; those that use a ``reduced`` result not known yet are None."""
    def emit(n: int, ins: Instr, src: str, a: list):
        if any(x is None for x in a):
            return None
        op = ins.op
        if op == "load":
            v = load(ins.attr)
        elif op == "const":
            v = np.asarray(ins.attr, dtype=ins.dtype)
        elif op == "acc":
            v = acc
        elif op == "count":
            v = np.asarray(count).astype(ins.dtype)   # wraps in small ints, as native
        elif op == "reduced":
            v = reduced[ins.attr]
        elif op == "index":
            v = _index(domain, ins.attr)
        elif op == "cast":
            v = np.asarray(a[0]).astype(ins.dtype)
        elif op == "select":
            v = np.where(a[0], a[1], a[2])
        else:
            v = RULES[op](*a)
        return None if v is None else np.asarray(v, dtype=ins.dtype)
    with np.errstate(all="ignore"):
        return walk(body, emit)


def interpret(k: Kernel, inputs: Sequence[np.ndarray],
              outputs: Sequence[np.ndarray] | None = None,
              shape: Sequence[int] | None = None) -> list[np.ndarray]:
    """Run ``k`` with numpy: the reference semantics of the IR.

    ``outputs``, if given, are written in place (shapes as the calling convention says;
    they may be inputs: every result is computed before any is written); otherwise fresh
    arrays are returned.
    """
    domain = domain_of(k, inputs, shape)
    red_axes = k.reduce_axes
    count = int(np.prod([domain[a] for a in red_axes])) if red_axes else 1
    results: list = [None] * len(k.stores)
    for stage in sorted(set(k.stages)):
        vals = _eval(k.body, lambda i: inputs[i], reduced=results, domain=domain)
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
    for r, o in zip([np.array(r, copy=True) for r in results], outputs):
        o[...] = r      # copies first: a result may be a view of an input being written
    return list(outputs)
