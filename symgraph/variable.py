"""The tensor layer: :class:`TensorVariable` (numpy's operators and methods on symbolic
tensors), constants, :class:`SharedVariable`, and ``as_tensor``.

It sits below the ops, so a variable's operators cannot import them: they call functions
from :data:`METHODS`, a table each op module fills next to its functions
(:func:`install`), also with the numpy functions that should dispatch to them
(``np.sum(x)`` is ``sg.sum(x)``). That table is the one link from a layer to one above it;
this module in turn installs ``TensorVariable`` and ``as_tensor`` into the graph classes
below it.

>>> import symgraph as sg
>>> x = sg.fmatrix("x")
>>> y = (x * 0.5 + 1).sum(axis=1)
>>> y.type
TensorType(float32, (?,))
"""
from __future__ import annotations

import builtins
from typing import Callable

import numpy as np

from .config import config
from .graph import Constant, Op, Variable
from .types import FLOATS, TensorType, as_dtype

METHODS: dict[str, Callable] = {}
"""Functions behind the operators and methods of :class:`TensorVariable`, by name."""

NUMPY: dict[Callable, Callable] = {}
"""numpy functions and ufuncs a symbolic tensor dispatches to symgraph's, with them."""


def install(name: str, fn: Callable, numpy: Callable | tuple | None = None) -> Callable:
    """Make ``fn`` the function behind ``TensorVariable``'s operator or method ``name``
    (None: none) and behind the numpy function(s) ``numpy``; returns ``fn``."""
    if name:
        METHODS[name] = fn
    for f in (numpy if isinstance(numpy, tuple) else (numpy,)) if numpy is not None else ():
        NUMPY[f] = fn
    return fn


class _Table:
    def __getattr__(self, name: str) -> Callable:
        try:
            return METHODS[name]
        except KeyError:
            raise AttributeError(f"'{name}' is not installed on symbolic tensors (import "
                                 "symgraph, which installs every op)") from None


_m = _Table()


class TensorVariable(Variable):
    """A symbolic tensor. Supports numpy's operators, methods and indexing, and numpy's
    functions and ufuncs dispatch to symgraph's (``np.exp(x)`` is ``sg.exp(x)``)."""

    @property
    def shape(self) -> "TensorVariable":
        """The symbolic shape (an int64 vector); static sizes are in ``self.type.shape``."""
        return _m.shape(self)

    @property
    def size(self) -> "TensorVariable":
        return _m.size(self)

    @property
    def T(self) -> "TensorVariable":
        return _m.transpose(self)

    @property
    def broadcastable(self) -> tuple[bool, ...]:
        """Theano's spelling of ``self.type.broadcastable``: the axes of static size 1."""
        return self.type.broadcastable

    def __len__(self):
        raise TypeError("len() of a symbolic tensor is not known while building; use "
                        "x.shape[0]")

    def __bool__(self):
        raise TypeError("the truth value of a symbolic tensor is not known while building; "
                        "use sg.where / sg.switch for a conditional")

    def __iter__(self):
        raise TypeError("a symbolic tensor cannot be iterated while building")

    # --- arithmetic
    def __add__(self, o): return _m.add(self, o)
    def __radd__(self, o): return _m.add(o, self)
    def __sub__(self, o): return _m.sub(self, o)
    def __rsub__(self, o): return _m.sub(o, self)
    def __mul__(self, o): return _m.mul(self, o)
    def __rmul__(self, o): return _m.mul(o, self)
    def __truediv__(self, o): return _m.true_divide(self, o)
    def __rtruediv__(self, o): return _m.true_divide(o, self)
    def __floordiv__(self, o): return _m.floor_divide(self, o)
    def __rfloordiv__(self, o): return _m.floor_divide(o, self)
    def __mod__(self, o): return _m.mod(self, o)
    def __rmod__(self, o): return _m.mod(o, self)
    def __pow__(self, o): return _m.power_operator(self, o)
    def __rpow__(self, o): return _m.power(o, self)
    def __matmul__(self, o): return _m.matmul(self, o)
    def __rmatmul__(self, o): return _m.matmul(o, self)
    def __neg__(self): return _m.neg(self)
    def __pos__(self): return self
    def __abs__(self): return _m.abs(self)
    def __invert__(self): return _m.invert(self)
    def __and__(self, o): return _m.bitwise_and(self, o)
    def __rand__(self, o): return _m.bitwise_and(o, self)
    def __or__(self, o): return _m.bitwise_or(self, o)
    def __ror__(self, o): return _m.bitwise_or(o, self)
    def __xor__(self, o): return _m.bitwise_xor(self, o)
    def __rxor__(self, o): return _m.bitwise_xor(o, self)
    def __lt__(self, o): return _m.less(self, o)
    def __le__(self, o): return _m.less_equal(self, o)
    def __gt__(self, o): return _m.greater(self, o)
    def __ge__(self, o): return _m.greater_equal(self, o)
    # == and != build graphs as in numpy; hashing stays by identity
    def __eq__(self, o): return _m.equal(self, o)
    def __ne__(self, o): return _m.not_equal(self, o)
    __hash__ = Variable.__hash__

    def __getitem__(self, idx): return _m.getitem(self, idx)

    # --- methods
    def astype(self, dtype) -> "TensorVariable": return _m.cast(self, dtype)
    def sum(self, axis=None, keepdims=False, dtype=None): return _m.sum(self, axis, keepdims, dtype)
    def prod(self, axis=None, keepdims=False, dtype=None):
        return _m.prod(self, axis, keepdims, dtype)
    def cumsum(self, axis=None, dtype=None): return _m.cumsum(self, axis, dtype)
    def cumprod(self, axis=None, dtype=None): return _m.cumprod(self, axis, dtype)
    def repeat(self, repeats, axis=None): return _m.repeat(self, repeats, axis)
    def mean(self, axis=None, keepdims=False): return _m.mean(self, axis, keepdims)
    def var(self, axis=None, keepdims=False, ddof=0): return _m.var(self, axis, keepdims, ddof)
    def std(self, axis=None, keepdims=False, ddof=0): return _m.std(self, axis, keepdims, ddof)
    def max(self, axis=None, keepdims=False): return _m.max(self, axis, keepdims)
    def min(self, axis=None, keepdims=False): return _m.min(self, axis, keepdims)
    def argmax(self, axis=None, keepdims=False): return _m.argmax(self, axis, keepdims)
    def argmin(self, axis=None, keepdims=False): return _m.argmin(self, axis, keepdims)
    def all(self, axis=None, keepdims=False): return _m.all(self, axis, keepdims)
    def any(self, axis=None, keepdims=False): return _m.any(self, axis, keepdims)
    def logsumexp(self, axis=None, keepdims=False): return _m.logsumexp(self, axis, keepdims)
    def sort(self, axis=-1): return _m.sort(self, axis)
    def argsort(self, axis=-1): return _m.argsort(self, axis)
    def trace(self, offset=0, axis1=0, axis2=1): return _m.trace(self, offset, axis1, axis2)
    def diagonal(self, offset=0, axis1=0, axis2=1):
        return _m.diagonal(self, offset, axis1, axis2)
    def reshape(self, *shape, ndim=None):
        return _m.reshape(self, shape[0] if len(shape) == 1 else shape, ndim=ndim)
    def transpose(self, *axes):
        return _m.transpose(self, axes[0] if len(axes) == 1 else (axes or None))
    def dimshuffle(self, *pattern): return _m.dimshuffle(self, *pattern)
    def flatten(self, ndim=1): return _m.flatten(self, ndim)
    def squeeze(self, axis=None): return _m.squeeze(self, axis)
    def dot(self, o): return _m.dot(self, o)
    def clip(self, lo, hi): return _m.clip(self, lo, hi)

    def eval(self, inputs: dict | None = None, backend: str | None = None):
        """Compute this variable for the given ``{variable: value}`` (compiled once and
        cached per set of inputs).

        >>> import symgraph as sg
        >>> x = sg.dscalar("x")
        >>> float((x * 2).eval({x: 3.0}))
        6.0
        """
        return _m.eval(self, inputs, backend)

    def _repr_svg_(self):
        return _m.repr_svg(self)

    # --- numpy interop
    def __array__(self, dtype=None, copy=None):
        raise TypeError(f"{self!r} is symbolic: it has no value while building (compile it "
                        "with sg.function, or evaluate it with .eval({input: value}))")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        fn = NUMPY.get(ufunc)
        if method != "__call__" or kwargs or fn is None:
            what = f"np.{ufunc.__name__}" + ("" if method == "__call__" else f".{method}")
            why = "with keyword arguments " if kwargs and fn is not None else ""
            raise TypeError(f"{what} does not work on symbolic tensors {why}(no value is "
                            f"known while building): use symgraph's function instead")
        return fn(*inputs)

    def __array_function__(self, func, types, args, kwargs):
        fn = NUMPY.get(func)
        if fn is None or "out" in kwargs:
            why = "cannot write into a symbolic tensor (out=)" if fn is not None else \
                "does not work on symbolic tensors (no value is known while building)"
            raise TypeError(f"np.{func.__name__} {why}: use sg.{func.__name__} or another "
                            "symgraph function")
        return fn(*args, **kwargs)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_eval_cache", None)     # compiled functions: made again when needed
        return state


class TensorConstant(Constant, TensorVariable):
    """A constant tensor (operators work on it as on any variable)."""
    __hash__ = Variable.__hash__
    __eq__ = TensorVariable.__eq__


def _host(a) -> np.ndarray:
    return a if isinstance(a, np.ndarray) else a.get()


class SharedVariable(TensorVariable):
    """A variable whose value lives between calls; functions read it implicitly and
    ``updates`` change it. dtype and rank are fixed when it is made.

    An update may write the new value into the old value's memory when nobody else can
    hold that array: after ``get_value(borrow=True)`` or ``set_value(..., borrow=True)``
    the next update makes a new array instead.

    ``default_update`` (None, or an expression) is the update every function using the
    variable applies unless told otherwise (Theano's default updates; see
    :func:`symgraph.function`)."""

    _default_update: TensorVariable | None = None

    def __init__(self, value, name: str | None = None,
                 broadcastable: tuple[bool, ...] | None = None,
                 shape: tuple[int | None, ...] | None = None):
        super().__init__(TensorType(value.dtype, _static_shape(value, broadcastable, shape,
                                                               name)), name=name)
        self.type.filter(value, f"shared variable {self!r}")
        self._value = value
        self._owned = True      # nobody outside holds the value array

    @property
    def default_update(self) -> TensorVariable | None:
        """The update a function applies to this variable when its own ``updates`` do not
        update it and ``no_default_updates`` does not exclude it: how a counter or a
        random stream advances on every call without the user writing the update.

        >>> import symgraph as sg
        >>> c = sg.shared(0, name="c")
        >>> c.default_update = c + 1
        >>> f = sg.function([], c * 10)
        >>> [int(f()), int(f()), int(c.get_value())]
        [0, 10, 2]
        """
        return self._default_update

    @default_update.setter
    def default_update(self, value) -> None:
        self._default_update = None if value is None else \
            new_value(self.type, value, f"{self!r}.default_update: the new value of {self!r}")

    def get_value(self, borrow: bool = False) -> np.ndarray:
        """The current value as a numpy array (a copy unless ``borrow``: then do not modify
        it unless you mean to change the variable). While CUDA functions use the variable
        its value lives on the GPU, and ``borrow=True`` returns that device array."""
        if borrow:
            self._owned = False
            return self._value
        return self._value.copy() if isinstance(self._value, np.ndarray) else \
            self._value.get()

    def set_value(self, value, borrow: bool = False) -> None:
        """Replace the value; its dtype (safe casts allowed), rank and static sizes must
        match (else the old value stays). With ``borrow`` the variable may use ``value``
        itself."""
        arr = self.type.filter(value, f"set_value of shared variable {self!r}")
        if borrow and arr is value:
            self._value, self._owned = arr, False
        else:
            self._value, self._owned = np.array(arr, copy=True), True

    def value_on(self, backend):
        """The value in ``backend``'s memory, moved there (and kept) if it was elsewhere:
        a CUDA training step does no host round trip."""
        v = self._value
        if not backend.is_array(v):
            self._value, self._owned = backend.to_device(_host(v)), True
        return self._value

    def __getstate__(self):
        state = super().__getstate__()
        state["_value"], state["_owned"] = np.array(_host(self._value), copy=True), True
        return state

    def __repr__(self) -> str:
        return self.name or f"<shared {self.type}>"


def _static_shape(value: np.ndarray, broadcastable, shape, name) -> tuple[int | None, ...]:
    """A shared variable's static shape from ``broadcastable`` (True: size 1) or
    ``shape`` (ints and None), or both if they agree; no static size if neither."""
    where = f"shared variable {name or ''}".rstrip()
    given = {}
    for what, spec in (("broadcastable", broadcastable), ("shape", shape)):
        if spec is None:
            continue
        spec = tuple(spec)
        if len(spec) != value.ndim:
            raise ValueError(f"{where}: {what}={spec} has {len(spec)} entries, the value "
                             f"has rank {value.ndim} (shape {value.shape})")
        if what == "broadcastable":
            if not builtins.all(isinstance(b, (bool, np.bool_)) for b in spec):
                raise TypeError(f"{where}: broadcastable entries must be True or False, "
                                f"got {spec}")
            spec = tuple(1 if b else None for b in spec)
        given[what] = spec
    if len(given) == 2 and given["shape"] != given["broadcastable"]:
        raise ValueError(f"{where}: shape={tuple(shape)} and broadcastable="
                         f"{tuple(broadcastable)} disagree (broadcastable axes are the axes "
                         "of static size 1): give one of them")
    return given.get("shape", given.get("broadcastable", (None,) * value.ndim))


def new_value(t: TensorType, value, what: str) -> TensorVariable:
    """``value`` (an expression) as a new value for a variable of type ``t`` (an update):
    the same rank, a dtype that casts to ``t``'s without loss (or a float into a narrower
    float, as training steps need), and no static size that contradicts ``t``'s; cast to
    ``t``'s dtype. ``what`` names it in the error."""
    u = as_tensor(value)
    why = ""
    if u.ndim != t.ndim:
        why = f"rank {u.ndim}, expected {t.ndim}"
    elif u.dtype != t.dtype and not np.can_cast(
            u.dtype, t.dtype, "same_kind" if u.dtype in FLOATS and t.dtype in FLOATS
            else "safe"):
        why = f"casting {u.dtype} to {t.dtype} would lose information; use .astype if meant"
    elif builtins.any(a is not None and b is not None and a != b
                      for a, b in zip(t.shape, u.type.shape)):
        why = f"its static sizes {u.type.shape_str()} contradict {t.shape_str()}"
    if why:
        raise TypeError(f"{what} ({t}) has type {u.type} ({why})")
    return u.astype(t.dtype) if u.dtype != t.dtype else u


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
            dtype = config.floatX
        elif arr.dtype.kind == "i" and not isinstance(value, (np.ndarray, np.generic)):
            dtype = "int64"
        else:
            dtype = arr.dtype
    dtype = as_dtype(dtype)
    arr = np.asarray(value)
    if arr.dtype.kind == "O":
        raise TypeError(f"cannot make a constant of {type(value).__name__}")
    data = arr.astype(dtype)
    if arr.dtype.kind in "biuf" and arr.size and not (
            arr.dtype.kind == "f" and dtype in FLOATS) and not np.array_equal(
            data, arr, equal_nan=True):
        raise TypeError(f"value {value!r} does not fit dtype {dtype}")
    return TensorConstant(TensorType(dtype, data.shape), data, name)


def as_tensor(x, dtype=None) -> TensorVariable:
    """A variable for ``x``: variables pass through (cast if ``dtype`` differs), lists of
    variables are stacked, values become constants."""
    if isinstance(x, Variable):
        if dtype is not None and x.dtype != as_dtype(dtype):
            return _m.cast(x, dtype)
        return x
    if isinstance(x, (list, tuple)) and builtins.any(isinstance(e, Variable) for e in x):
        return _m.stack([as_tensor(e) for e in x])
    return constant(x, dtype)


def shared(value, name: str | None = None, borrow: bool = False,
           broadcastable: tuple[bool, ...] | None = None,
           shape: tuple[int | None, ...] | None = None) -> SharedVariable:
    """A shared variable holding a copy of ``value`` (``value`` itself with ``borrow``).
    Python floats become floatX. ``shape`` declares static sizes (ints, None for any) as
    ``sg.tensor(..., shape=...)`` does, ``broadcastable`` (Theano's) the axes of static
    size 1; ``set_value`` and updates must keep them.

    >>> import symgraph as sg, numpy as np
    >>> sg.shared(0.0, name="b").dtype == sg.config.floatX
    True
    >>> b = sg.shared(np.zeros((1, 3)), name="b", shape=(1, None))
    >>> b.type, (sg.dmatrix("x") + b).type
    (TensorType(float64, (1, ?)), TensorType(float64, (?, ?)))
    """
    if isinstance(value, Variable):
        raise TypeError(f"shared() takes a value, got the symbolic variable {value!r}")
    if isinstance(value, (np.ndarray, np.generic)):
        arr = value if borrow and isinstance(value, np.ndarray) else np.array(value, copy=True)
    else:
        arr = np.array(value)
        if arr.dtype == np.float64:
            arr = arr.astype(config.floatX)
    as_dtype(arr.dtype)
    s = SharedVariable(arr, name, broadcastable, shape)
    s._owned = arr is not value
    return s


TensorType.variable_type = TensorVariable
Op.lift = staticmethod(as_tensor)
install("", lambda x: x.ndim, np.ndim)
