"""Reductions: one :class:`Reduce` op (a kernel-IR combiner over some axes, optionally
divided by the count: ``mean``), :class:`Argmax`, and the composites built from them
(``var``, ``std``, ``logsumexp``).

>>> import symgraph as sg
>>> x = sg.dmatrix("x")
>>> x.sum(axis=0).type, x.mean(axis=1, keepdims=True).type
(TensorType(float64, (?,)), TensorType(float64, (?, 1)))
"""
from __future__ import annotations

import builtins
from typing import Sequence

import numpy as np

from codegen.kernel import Buffer, Builder, Instr, Kernel, Store
from codegen.program import LibraryCall

from ..graph import Apply, Op, Variable
from ..types import FLOATS, INTS, TensorType, as_dtype, float_dtype
from ..variable import as_tensor, install
from .elemwise import F, cast, ones_like, where, zeros_like
from .fused import Fused, bcast_axes
from .shape import count, dimshuffle, normalize_axes, squeeze
from .special import stop_gradient


class Reduce(Op):
    """Reduce ``axes`` with a combiner (add mul max min and or); ``mean`` divides by the
    number of elements reduced. ``keepdims`` keeps reduced axes with size 1. max and min
    of an empty axis are an error (as numpy) unless ``empty_ok``: then they give the
    identity (-inf for max), as the internal shift of logsumexp and softmax needs. The
    gradient of max and min goes to the elements equal to the result, shared equally
    among ties (``max([3, 3])`` gives each 0.5)."""
    __props__ = ("combiner", "axes", "keepdims", "mean", "empty_ok")

    def __init__(self, combiner: str, axes: tuple[int, ...], keepdims: bool = False,
                 mean: bool = False, empty_ok: bool = False):
        self.combiner, self.axes, self.keepdims, self.mean = combiner, tuple(axes), keepdims, mean
        self.empty_ok = empty_ok
        self._kernels: dict[tuple, Kernel] = {}

    @property
    def name(self) -> str:
        return "mean" if self.mean else {"add": "sum", "mul": "prod"}.get(
            self.combiner, self.combiner)

    def __str__(self) -> str:
        return f"{self.name}{{axis={self.axes}{', keepdims' if self.keepdims else ''}}}"

    def make_node(self, x: Variable) -> Apply:
        if builtins.any(a >= x.ndim for a in self.axes):
            raise ValueError(f"{self.name}: axis {self.axes} out of range for {x.type}")
        if self.combiner in ("and", "or") and x.dtype != "bool":
            raise TypeError(f"{self.name} takes a bool tensor, got {x.type}")
        if self.mean and x.dtype not in FLOATS:
            raise TypeError(f"mean takes a float tensor, got {x.type} (cast it first)")
        shape = [1 if a in self.axes else s for a, s in enumerate(x.type.shape)]
        if not self.keepdims:
            shape = [s for a, s in enumerate(shape) if a not in self.axes]
        return Apply(self, [x], [TensorType(x.dtype, shape)()])

    def kernel(self, dtype: str, ndim: int) -> Kernel:
        """The kernel of this reduction (keepdims-shaped output, per the IR convention)."""
        key = (dtype, ndim)
        if key not in self._kernels:
            b = Builder()
            v = b.load(0, dtype)
            epi: tuple[Instr, ...] = ()
            if self.mean:
                epi = (Instr("acc", dtype), Instr("count", dtype), Instr("div", dtype, (0, 1)))
            self._kernels[key] = Kernel(
                self.name, (Buffer("x", dtype, ndim),), (Buffer("out", dtype, ndim),),
                ndim, tuple(b.body), (Store(v, self.combiner, self.axes, epi),))
        return self._kernels[key]

    def as_kernel(self, node: Apply) -> Fused:
        """The node as a one-op kernel node (the lowering, and staged fusion, use it)."""
        x = node.inputs[0]
        return Fused(self.kernel(x.dtype, x.ndim), [tuple(range(x.ndim))],
                     [() if self.keepdims else self.axes], [bcast_axes(x)], [str(self)],
                     self.empty_ok)

    def lower(self, node: Apply):
        return self.as_kernel(node).lower(node)

    def __getstate__(self):
        return {**self.__dict__, "_kernels": {}}

    def grad(self, inputs, outputs, output_grads):
        (x,), (z,), (g,) = inputs, outputs, output_grads
        if x.dtype not in FLOATS:
            return [None]
        if not self.keepdims:
            g, z = _keep(g, self.axes, x.ndim), _keep(z, self.axes, x.ndim)
        if self.combiner == "add":
            gx = F.second(x, g)
            return [gx / count(x, self.axes, x.dtype) if self.mean else gx]
        if self.combiner == "mul":
            is0 = F.equal(x, 0)
            zeros = sum(cast(is0, "int64"), axis=self.axes, keepdims=True)
            nonzero = where(is0, ones_like(x), x)
            prod_nz = prod(nonzero, axis=self.axes, keepdims=True)
            gx = where(F.equal(zeros, 0), z / nonzero,
                       where(F.equal(zeros, 1) & is0, F.second(x, prod_nz),
                             zeros_like(x)))
            return [g * gx]
        if self.combiner in ("max", "min"):
            # the gradient is shared equally among tied elements, as JAX does
            hit = cast(F.equal(x, z), x.dtype)
            return [g * hit / sum(hit, axis=self.axes, keepdims=True)]
        return [None]


def _keep(v: Variable, axes: Sequence[int], ndim: int) -> Variable:
    """Re-insert reduced ``axes`` (size 1) into ``v``."""
    it = iter(range(v.ndim))
    return dimshuffle(v, *("x" if a in axes else next(it) for a in range(ndim)))


def _reduce(combiner: str, x, axis, keepdims: bool, mean: bool = False) -> Variable:
    x = as_tensor(x)
    axes = normalize_axes(axis, x.ndim)
    if not axes:
        return x
    return Reduce(combiner, axes, bool(keepdims), mean).make_node(x).outputs[0]


def _acc_dtype(x: Variable, dtype) -> str:
    """numpy's accumulator for sum/prod: small ints and bool widen to int64."""
    if dtype is not None:
        return as_dtype(dtype)
    return "int64" if x.dtype in ("bool", *INTS) else x.dtype


def sum(x, axis=None, keepdims: bool = False, dtype=None) -> Variable:
    """Sum over ``axis`` (None: all). Small ints accumulate in int64, as numpy.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dmatrix("x")
    >>> x.sum(axis=1).eval({x: np.ones((2, 3))}).tolist()
    [3.0, 3.0]
    """
    x = as_tensor(x)
    return _reduce("add", cast(x, _acc_dtype(x, dtype)), axis, keepdims)


def prod(x, axis=None, keepdims: bool = False, dtype=None) -> Variable:
    """Product over ``axis``; its gradient is exact with zeros in the input."""
    x = as_tensor(x)
    return _reduce("mul", cast(x, _acc_dtype(x, dtype)), axis, keepdims)


def mean(x, axis=None, keepdims: bool = False) -> Variable:
    """Mean over ``axis``; integer tensors are averaged in float64, as numpy."""
    x = as_tensor(x)
    return _reduce("add", cast(x, x.dtype if x.dtype in FLOATS else "float64"), axis,
                   keepdims, mean=True)


def var(x, axis=None, keepdims: bool = False, ddof: int = 0) -> Variable:
    """Variance over ``axis`` (``ddof`` as numpy)."""
    x = as_tensor(x)
    x = cast(x, x.dtype if x.dtype in FLOATS else "float64")
    axes = normalize_axes(axis, x.ndim)
    d = x - mean(x, axes, keepdims=True)
    if not ddof:     # the count is the kernel's own: no separate count node
        return mean(d * d, axes, keepdims)
    # numpy: no fewer than 0 degrees of freedom, so ddof >= n gives nan (or inf)
    n = F.maximum(count(x, axes, x.dtype) - ddof, 0)
    return sum(d * d, axes, keepdims) / n


def std(x, axis=None, keepdims: bool = False, ddof: int = 0) -> Variable:
    """Standard deviation over ``axis``."""
    return F.sqrt(var(x, axis, keepdims, ddof))


def max(x, axis=None, keepdims: bool = False) -> Variable:
    """Maximum over ``axis`` (NaN propagates, as numpy); of bools, ``any``."""
    x = as_tensor(x)
    return _reduce("or" if x.dtype == "bool" else "max", x, axis, keepdims)


def min(x, axis=None, keepdims: bool = False) -> Variable:
    """Minimum over ``axis`` (NaN propagates, as numpy); of bools, ``all``."""
    x = as_tensor(x)
    return _reduce("and" if x.dtype == "bool" else "min", x, axis, keepdims)


def all(x, axis=None, keepdims: bool = False) -> Variable:
    """True where every element along ``axis`` is nonzero."""
    x = as_tensor(x)
    return _reduce("and", x if x.dtype == "bool" else F.not_equal(x, 0), axis, keepdims)


def any(x, axis=None, keepdims: bool = False) -> Variable:
    """True where some element along ``axis`` is nonzero."""
    x = as_tensor(x)
    return _reduce("or", x if x.dtype == "bool" else F.not_equal(x, 0), axis, keepdims)


def max_shift(x: Variable, axes: Sequence[int]) -> Variable:
    """The max of ``x`` over ``axes`` (keepdims), or 0 where it is not finite or the axis
    is empty: the shift that keeps exp() in range in logsumexp and softmax."""
    # over no axes the max is x itself (a Reduce needs at least one axis)
    m = Reduce("max", tuple(axes), keepdims=True, empty_ok=True)(x) if axes else x
    return where(F.isfinite(m), m, 0)


def logsumexp(x, axis=None, keepdims: bool = False) -> Variable:
    """``log(sum(exp(x)))`` computed with the max shift, so it neither overflows nor
    underflows; rows of -inf give -inf, a +inf gives +inf."""
    x = as_tensor(x)
    x = cast(x, x.dtype if x.dtype in FLOATS else float_dtype(x.dtype))
    axes = normalize_axes(axis, x.ndim)
    m = stop_gradient(max_shift(x, axes))
    out = F.log(sum(F.exp(x - m), axes, keepdims=True)) + m
    return out if keepdims else squeeze(out, axes)


class Argmax(Op):
    """Index of the maximum (``argmin``: of the minimum) along one axis or all (None)."""
    __props__ = ("axis", "keepdims", "minimum")

    def __init__(self, axis: int | None, keepdims: bool, minimum: bool = False):
        self.axis, self.keepdims, self.minimum = axis, keepdims, minimum

    @property
    def name(self) -> str:
        return "argmin" if self.minimum else "argmax"

    def make_node(self, x: Variable) -> Apply:
        if self.axis is None:
            shape = (1,) * x.ndim if self.keepdims else ()
        else:
            shape = [s for a, s in enumerate(x.type.shape) if a != self.axis or self.keepdims]
            shape = [1 if a == self.axis else s for a, s in enumerate(shape)] \
                if self.keepdims else shape
        return Apply(self, [x], [TensorType("int64", shape)()])

    def lower(self, node):
        return LibraryCall.of("argmax", axis=self.axis, keepdims=self.keepdims,
                              minimum=self.minimum)

    def grad(self, inputs, outputs, output_grads):
        return [None]


def _arg(x, axis, keepdims, minimum):
    x = as_tensor(x)
    if axis is not None:
        if not isinstance(axis, (int, np.integer)):
            raise TypeError(f"argmax/argmin take one int axis or None, got {axis!r}")
        (axis,) = normalize_axes(axis, x.ndim)
    return Argmax(axis, bool(keepdims), minimum)(x)


def argmax(x, axis=None, keepdims: bool = False) -> Variable:
    """Index of the maximum along ``axis`` (flattened if None), int64."""
    return _arg(x, axis, keepdims, False)


def argmin(x, axis=None, keepdims: bool = False) -> Variable:
    """Index of the minimum along ``axis`` (flattened if None), int64."""
    return _arg(x, axis, keepdims, True)


for _name, _fn, _np in [("sum", sum, np.sum), ("prod", prod, np.prod), ("mean", mean, np.mean),
                        ("var", var, np.var), ("std", std, np.std), ("max", max, (np.max, np.amax)),
                        ("min", min, (np.min, np.amin)), ("all", all, np.all), ("any", any, np.any),
                        ("argmax", argmax, np.argmax), ("argmin", argmin, np.argmin),
                        ("logsumexp", logsumexp, None)]:
    install(_name, _fn, _np)
