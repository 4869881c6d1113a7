"""The numpy-like user API: constructors, elementwise functions and operators on variables.

>>> import symgraph as sg
>>> x = sg.fmatrix("x")
>>> y = (x * 0.5 + 1).sum(axis=1)
>>> y.type
TensorType(float32, (?,))
"""
from __future__ import annotations

from functools import lru_cache
from typing import Sequence

import numpy as np

from .config import config as _config
from .graph import Constant, Variable
from .ops.elemwise import SCALAR_OPS, Elemwise, cast_op
from .types import FLOATS, INTS, TensorType, as_dtype, is_weak, result_dtype


class TensorVariable(Variable):
    """A symbolic tensor. Supports numpy's operators, methods and indexing."""

    # --- numpy interop: x * np.float32(2) must not become numpy's loop over objects
    __array_priority__ = 1000
    __array_ufunc__ = None

    @property
    def shape(self) -> "TensorVariable":
        """The symbolic shape (an int64 vector); static sizes are in ``self.type.shape``."""
        from .ops.shape import shape
        return shape(self)

    @property
    def size(self) -> "TensorVariable":
        return prod_of_shape(self)

    @property
    def T(self) -> "TensorVariable":
        return self.transpose()

    def __len__(self):
        raise TypeError("len() of a symbolic tensor is not known while building; use "
                        "x.shape[0]")

    def __bool__(self):
        raise TypeError("the truth value of a symbolic tensor is not known while building; "
                        "use sg.where / sg.switch for a conditional")

    def __iter__(self):
        raise TypeError("a symbolic tensor cannot be iterated while building")

    # --- arithmetic
    def __add__(self, o): return add(self, o)
    def __radd__(self, o): return add(o, self)
    def __sub__(self, o): return sub(self, o)
    def __rsub__(self, o): return sub(o, self)
    def __mul__(self, o): return mul(self, o)
    def __rmul__(self, o): return mul(o, self)
    def __truediv__(self, o): return true_divide(self, o)
    def __rtruediv__(self, o): return true_divide(o, self)
    def __floordiv__(self, o): return floor_divide(self, o)
    def __rfloordiv__(self, o): return floor_divide(o, self)
    def __mod__(self, o): return mod(self, o)
    def __rmod__(self, o): return mod(o, self)
    def __pow__(self, o): return power(self, o)
    def __rpow__(self, o): return power(o, self)
    def __matmul__(self, o): return _blas().matmul(self, o)
    def __rmatmul__(self, o): return _blas().matmul(o, self)
    def __neg__(self): return neg(self)
    def __pos__(self): return self
    def __abs__(self): return abs_(self)
    def __invert__(self): return invert(self)
    def __and__(self, o): return bitwise_and(self, o)
    def __rand__(self, o): return bitwise_and(o, self)
    def __or__(self, o): return bitwise_or(self, o)
    def __ror__(self, o): return bitwise_or(o, self)
    def __xor__(self, o): return bitwise_xor(self, o)
    def __rxor__(self, o): return bitwise_xor(o, self)
    def __lt__(self, o): return lt(self, o)
    def __le__(self, o): return le(self, o)
    def __gt__(self, o): return gt(self, o)
    def __ge__(self, o): return ge(self, o)
    # == and != build graphs as in numpy; hashing stays by identity
    def __eq__(self, o): return eq(self, o)
    def __ne__(self, o): return neq(self, o)
    __hash__ = Variable.__hash__

    def __getitem__(self, idx):
        from .ops.indexing import getitem
        return getitem(self, idx)

    # --- methods
    def astype(self, dtype) -> "TensorVariable": return cast(self, dtype)
    def sum(self, axis=None, keepdims=False, dtype=None): return sum(self, axis, keepdims, dtype)
    def prod(self, axis=None, keepdims=False, dtype=None):
        return prod(self, axis, keepdims, dtype)
    def mean(self, axis=None, keepdims=False): return mean(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, ddof=0): return var(self, axis, keepdims, ddof)
    def std(self, axis=None, keepdims=False, ddof=0): return std(self, axis, keepdims, ddof)
    def max(self, axis=None, keepdims=False): return max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return min(self, axis, keepdims)
    def argmax(self, axis=None, keepdims=False): return argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return argmin(self, axis, keepdims)
    def all(self, axis=None, keepdims=False): return all(self, axis, keepdims)
    def any(self, axis=None, keepdims=False): return any(self, axis, keepdims)
    def logsumexp(self, axis=None, keepdims=False): return logsumexp(self, axis, keepdims)
    def reshape(self, *shape, ndim=None):
        from .ops.shape import reshape
        return reshape(self, shape[0] if len(shape) == 1 else shape, ndim=ndim)
    def transpose(self, *axes):
        from .ops.shape import transpose
        return transpose(self, axes[0] if len(axes) == 1 else (axes or None))
    def dimshuffle(self, *pattern):
        from .ops.shape import dimshuffle
        return dimshuffle(self, *pattern)
    def flatten(self, ndim=1):
        from .ops.shape import flatten
        return flatten(self, ndim)
    def squeeze(self, axis=None):
        from .ops.shape import squeeze
        return squeeze(self, axis)
    def dot(self, o): return _blas().dot(self, o)
    def clip(self, lo, hi): return clip(self, lo, hi)

    def _repr_svg_(self):
        from .printing import repr_svg
        return repr_svg(self)

    def eval(self, inputs: dict | None = None, backend: str | None = None):
        """Compute this variable for the given ``{variable: value}`` (compiled once and
        cached per set of inputs).

        >>> import symgraph as sg
        >>> x = sg.dscalar("x")
        >>> float((x * 2).eval({x: 3.0}))
        6.0
        """
        from .function import function
        inputs = inputs or {}
        key = (tuple(id(k) for k in inputs), backend)
        cache = self.__dict__.setdefault("_eval_cache", {})
        if key not in cache:
            cache[key] = function(list(inputs), self, backend=backend)
        return cache[key](*inputs.values())


class TensorConstant(Constant, TensorVariable):
    """A constant tensor (operators work on it as on any variable)."""
    __hash__ = Variable.__hash__
    __eq__ = TensorVariable.__eq__


def _blas():
    from .ops import blas
    return blas


# ---------------------------------------------------------------- constructors
def constant(value, dtype=None, name: str | None = None) -> TensorConstant:
    """A constant tensor. Python floats become floatX unless ``dtype`` says otherwise
    (ints become int64, bools bool); numpy values keep their dtype.

    >>> constant(2.5).dtype == __import__("symgraph").config.floatX
    True
    """
    if isinstance(value, Variable):
        raise TypeError(f"constant() takes a value, got the symbolic variable {value!r}")
    if dtype is None:
        arr = np.asarray(value)
        if arr.dtype == np.float64 and not isinstance(value, (np.ndarray, np.generic)):
            dtype = _config.floatX
        elif arr.dtype.kind == "i" and not isinstance(value, (np.ndarray, np.generic)):
            dtype = "int64"
        else:
            dtype = arr.dtype
    dtype = as_dtype(dtype)
    arr = np.asarray(value)
    if arr.dtype.kind == "O":
        raise TypeError(f"cannot make a constant of {type(value).__name__}")
    data = arr.astype(dtype)
    if arr.dtype.kind in "biuf" and arr.size and not np.array_equal(
            data, arr, equal_nan=True) and not (arr.dtype.kind == "f" and dtype in FLOATS):
        raise TypeError(f"value {value!r} does not fit dtype {dtype}")
    return TensorConstant(TensorType(dtype, data.shape), data, name)


def as_tensor(x, dtype=None) -> TensorVariable:
    """A variable for ``x``: variables pass through, values become constants."""
    if isinstance(x, Variable):
        if dtype is not None and x.dtype != as_dtype(dtype):
            return cast(x, dtype)
        return x
    if isinstance(x, (list, tuple)) and builtins_any(isinstance(e, Variable) for e in x):
        from .ops.shape import stack
        return stack([as_tensor(e) for e in x])
    return constant(x, dtype)


import builtins as _builtins  # noqa: E402  (sum/max/min/any/all are shadowed below)
builtins_any = _builtins.any


def tensor(name: str | None = None, dtype=None, shape: Sequence[int | None] = ()
           ) -> TensorVariable:
    """An input variable of any rank: ``sg.tensor("x", "float32", shape=(None, 3))``."""
    return TensorType(dtype or _config.floatX, shape)(name)


def _ctor(shape):
    def make(name: str | None = None, dtype=None) -> TensorVariable:
        return tensor(name, dtype, shape)
    return make


_SHAPES = {"scalar": (), "vector": (None,), "matrix": (None, None), "row": (1, None),
           "col": (None, 1), "tensor3": (None,) * 3, "tensor4": (None,) * 4}
scalar, vector, matrix, row, col, tensor3, tensor4 = (_ctor(s) for s in _SHAPES.values())
_PREFIX = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
           "d": "float64"}
for _p, _dt in _PREFIX.items():
    for _k, _s in _SHAPES.items():
        def _make(name: str | None = None, _s=_s, _dt=_dt) -> TensorVariable:
            return tensor(name, _dt, _s)
        _make.__name__ = _p + _k
        globals()[_p + _k] = _make


# ---------------------------------------------------------------- elementwise
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


def apply_elemwise(op: Elemwise, *args) -> TensorVariable:
    """Apply an elementwise op, turning Python scalars into weak constants and padding
    lower-rank inputs with leading broadcast axes (numpy's rule)."""
    strong = [a for a in args if isinstance(a, Variable)]
    exact = op.scalar.kind in ("cmp", "divide")  # int8 < 300 is True, int8 / 300 float64
    xs = [a if isinstance(a, Variable) else
          (_weak_const(a, strong, exact) if is_weak(a) else as_tensor(a)) for a in args]
    nd = _builtins.max(x.ndim for x in xs)
    if nd:
        from .ops.shape import dimshuffle
        xs = [x if x.ndim == nd else
              constant(x.data.reshape((1,) * (nd - x.ndim) + x.data.shape))
              if isinstance(x, Constant) else
              dimshuffle(x, *(["x"] * (nd - x.ndim)), *range(x.ndim)) for x in xs]
    return op.make_node(*xs).outputs[0]


def _ufunc(name: str, doc: str | None = None):
    op_name = name

    def f(*args):
        return apply_elemwise(_elemwise(op_name), *args)
    f.__name__ = name
    f.__doc__ = doc or f"Elementwise ``{name}``, as numpy's."
    return f


for _n in SCALAR_OPS:
    globals()[_n] = _ufunc(_n)

abs_ = globals()["abs"]
subtract, multiply, divide, negative = sub, mul, true_divide, neg  # noqa: F821
lt, le, gt, ge, eq, neq = less, less_equal, greater, greater_equal, equal, not_equal  # noqa
arcsin, arccos, arctan = arcsin, arccos, arctan  # noqa: F821
logical_and, logical_or, logical_xor = bitwise_and, bitwise_or, bitwise_xor  # noqa: F821
pow = power  # noqa: F821


def cast(x, dtype) -> TensorVariable:
    """``x`` converted to ``dtype`` (numpy's ``astype``)."""
    x = as_tensor(x)
    dtype = as_dtype(dtype)
    if x.dtype == dtype:
        return x
    return Elemwise(cast_op(dtype)).make_node(x).outputs[0]


def where(cond, a, b) -> TensorVariable:
    """``a`` where ``cond`` else ``b`` (numpy's ``where``, Theano's ``switch``)."""
    return apply_elemwise(_elemwise("where"), cond, a, b)


switch = where


def clip(x, lo, hi) -> TensorVariable:
    """``x`` limited to ``[lo, hi]``."""
    return minimum(maximum(x, lo), hi)  # noqa: F821


def relu(x) -> TensorVariable:
    """``max(x, 0)``."""
    return maximum(x, 0)  # noqa: F821


def zeros_like(x, dtype=None) -> TensorVariable:
    x = as_tensor(x)
    return second(x, constant(0, dtype or x.dtype))  # noqa: F821


def ones_like(x, dtype=None) -> TensorVariable:
    x = as_tensor(x)
    return second(x, constant(1, dtype or x.dtype))  # noqa: F821


def fill(x, value) -> TensorVariable:
    """A tensor shaped like ``x`` holding ``value`` (Theano's ``fill``)."""
    return second(x, value)  # noqa: F821


def sum_to_type(g: Variable, t: TensorType) -> TensorVariable:
    """The gradient ``g`` summed over the axes that ``t`` broadcasts, cast to ``t``'s
    dtype: how a broadcast input receives its gradient."""
    axes = tuple(a for a in range(t.ndim) if t.shape[a] == 1 and g.type.shape[a] != 1)
    if axes:
        g = sum(g, axis=axes, keepdims=True)
    return cast(g, t.dtype)


# ---------------------------------------------------------------- reductions
from .ops.reduce import (all, any, argmax, argmin, logsumexp, max, mean,  # noqa: E402
                         min, prod, prod_of_shape, std, sum, var)
from .grad import stop_gradient  # noqa: E402

__all__ = [n for n in list(globals()) if not n.startswith("_") and n not in (
    "annotations", "lru_cache", "Sequence", "np", "Constant", "Variable", "SCALAR_OPS",
    "Elemwise", "cast_op", "FLOATS", "INTS", "TensorType", "as_dtype", "is_weak",
    "result_dtype", "builtins_any", "TensorConstant", "apply_elemwise", "sum_to_type")]
