"""Pooling over the last two axes (NCHW images): :class:`Pool` (max, sum and the two
averages of windows), its gradients :class:`PoolGrad` (sums and averages: each window's
gradient spread over it) and :class:`MaxPoolGrad` (to each window's first maximum), and
:class:`MaxPoolGradGrad`, the gradient of that. Each runs as a library call of
:mod:`codegen.lib.window`, which says where the windows lie and how ties are broken.

The user functions are Theano's ``pool_2d`` and PyTorch's ``max_pool2d``, ``avg_pool2d``
and a global average, all in :mod:`symgraph.nnet`.

>>> import symgraph as sg, numpy as np
>>> x = sg.tensor("x", "float64", (None, 3, 8, 8))
>>> sg.nnet.pool_2d(x, (2, 2)).type
TensorType(float64, (?, 3, 4, 4))
>>> img = np.arange(16.0).reshape(1, 1, 4, 4)
>>> v = sg.dtensor4("v")
>>> sg.nnet.max_pool2d(v, 2).eval({v: img}).tolist()
[[[[5.0, 7.0], [13.0, 15.0]]]]
"""
from __future__ import annotations

import warnings
from numbers import Integral

from codegen.lib.window import MODES, out_size
from codegen.program import LibraryCall

from ..graph import Apply, Op, Variable, user_trace
from ..types import FLOATS, INTS, TensorType
from ..variable import as_tensor
from .elemwise import zeros_like
from .reduce import mean

__all__ = ["Pool", "PoolGrad", "MaxPoolGrad", "MaxPoolGradGrad", "pool_2d", "max_pool2d",
           "avg_pool2d", "global_avg_pool2d"]


def _built_at() -> str:
    line = user_trace()
    return f"\n  built at {line}" if line else ""


class _Windows(Op):
    """The props every pooling op shares: window ``ws``, ``stride`` and ``pad`` (pairs of
    ints, for the last two axes), ``mode`` and ``ignore_border`` (Theano's meanings)."""
    __props__ = ("ws", "stride", "pad", "mode", "ignore_border")

    def __init__(self, ws: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
                 mode: str, ignore_border: bool):
        self.ws, self.stride, self.pad = (tuple(int(v) for v in a) for a in (ws, stride, pad))
        self.mode, self.ignore_border = mode, bool(ignore_border)
        if mode not in MODES:
            raise ValueError(f"{self.name}: mode must be one of {', '.join(map(repr, MODES))}"
                             f", got {mode!r}" + _built_at())
        if any(p >= w for p, w in zip(self.pad, self.ws)):
            raise ValueError(f"{self.name}: pad {self.pad} must be smaller than the window "
                             f"{self.ws} on each axis (as in Theano)" + _built_at())
        if self.pad != (0, 0) and not self.ignore_border:
            raise ValueError(f"{self.name}: pad {self.pad} needs ignore_border=True (as in "
                             "Theano)" + _built_at())

    def __str__(self) -> str:
        return (f"{self.name}{{{self.mode}, ws={self.ws}, stride={self.stride}, "
                f"pad={self.pad}{'' if self.ignore_border else ', partial windows'}}}")

    def _geometry(self) -> dict:
        return dict(ws=self.ws, stride=self.stride, pad=self.pad,
                    ignore_border=self.ignore_border)

    def _check_input(self, x: Variable) -> None:
        if x.ndim < 2:
            raise ValueError(f"{self.name}: pooling needs a tensor of rank >= 2 (it pools "
                             f"the last two axes), got {x.type}" + _built_at())

    def _pooled_shape(self, x: Variable) -> tuple:
        image = [None if v is None else out_size(v, w, s, p, self.ignore_border)
                 for v, w, s, p in zip(x.type.shape[-2:], self.ws, self.stride, self.pad)]
        return (*x.type.shape[:-2], *image)

    def _check_grad(self, g: Variable, want: tuple, what: str) -> None:
        if g.dtype not in FLOATS or g.ndim != len(want):
            raise TypeError(f"{self.name}: {what} must be a float tensor of rank "
                            f"{len(want)}, got {g.type}" + _built_at())


class Pool(_Windows):
    """The max, sum or average of each window of ``x``'s last two axes, in ``x``'s dtype:
    floats, or integers for max and sum."""

    def make_node(self, x: Variable) -> Apply:
        self._check_input(x)
        average = self.mode.startswith("average")
        if x.dtype not in (FLOATS if average else FLOATS + INTS):
            kind = "float" if average else "float or integer"
            raise TypeError(f"pool ({self.mode}) takes a {kind} tensor, got {x.type}"
                            + _built_at())
        return Apply(self, [x], [TensorType(x.dtype, self._pooled_shape(x))()])

    def lower(self, node):
        return LibraryCall.of("pool", mode=self.mode, **self._geometry())

    def grad(self, inputs, outputs, output_grads):
        (x,), (z,), (g,) = inputs, outputs, output_grads
        if x.dtype not in FLOATS:
            return [None]
        args = (self.ws, self.stride, self.pad, self.mode, self.ignore_border)
        if self.mode == "max":
            return [MaxPoolGrad(*args)(x, z, g)]
        return [PoolGrad(*args)(x, g)]


class PoolGrad(_Windows):
    """The gradient of a sum or average :class:`Pool` of ``x`` (read for its shape) given
    the output's gradient ``gz``: each window's gradient spread evenly over its elements.
    It is linear in ``gz``, and its own gradient is that pooling."""

    def make_node(self, x: Variable, gz: Variable) -> Apply:
        self._check_input(x)
        self._check_grad(gz, self._pooled_shape(x), "the output gradient")
        return Apply(self, [x, gz], [TensorType(gz.dtype, x.type.shape)()])

    def lower(self, node):
        return LibraryCall.of("pool_grad", mode=self.mode, **self._geometry())

    def grad(self, inputs, outputs, output_grads):
        (gg,) = output_grads
        return [None, Pool(self.ws, self.stride, self.pad, self.mode, self.ignore_border)(gg)]


class MaxPoolGrad(_Windows):
    """The gradient of the max :class:`Pool` ``z`` of ``x`` given ``gz``: each window's
    gradient goes to its first maximum in window order (row by row), which makes it
    piecewise constant in ``x`` and ``z`` (their gradients are 0) and linear in ``gz``."""

    def make_node(self, x: Variable, z: Variable, gz: Variable) -> Apply:
        self._check_input(x)
        self._check_grad(gz, self._pooled_shape(x), "the output gradient")
        return Apply(self, [x, z, gz], [TensorType(gz.dtype, x.type.shape)()])

    def lower(self, node):
        return LibraryCall.of("max_pool_grad", **self._geometry())

    def grad(self, inputs, outputs, output_grads):
        (x, z, _), (gg,) = inputs, output_grads
        back = MaxPoolGradGrad(self.ws, self.stride, self.pad, self.mode, self.ignore_border)
        return [zeros_like(x), zeros_like(z), back(x, z, gg)]


class MaxPoolGradGrad(_Windows):
    """The gradient of :class:`MaxPoolGrad` with respect to its ``gz``: per window, the
    value of ``ggx`` (shaped like ``x``) at the window's first maximum."""

    def make_node(self, x: Variable, z: Variable, ggx: Variable) -> Apply:
        self._check_input(x)
        self._check_grad(ggx, x.type.shape, "the input gradient")
        return Apply(self, [x, z, ggx], [TensorType(ggx.dtype, self._pooled_shape(x))()])

    def lower(self, node):
        return LibraryCall.of("max_pool_grad_grad", **self._geometry())

    def grad(self, inputs, outputs, output_grads):
        (x, z, _), (gg,) = inputs, output_grads
        back = MaxPoolGrad(self.ws, self.stride, self.pad, self.mode, self.ignore_border)
        return [zeros_like(x), zeros_like(z), back(x, z, gg)]


# ---------------------------------------------------------------- user functions
def _pair(fn: str, name: str, value, least: int, single: bool = False) -> tuple[int, int]:
    """``value`` as two Python ints >= ``least`` (one int stands for both if
    ``single``)."""
    if single and isinstance(value, Integral) and not isinstance(value, bool):
        value = (value, value)
    ok = (isinstance(value, (tuple, list)) and len(value) == 2
          and all(isinstance(v, Integral) and not isinstance(v, bool) for v in value))
    if not ok or min(value) < least:
        raise (ValueError if ok else TypeError)(
            f"{fn}: {name} must be {'an int or ' if single else ''}a pair of Python ints "
            f">= {least} (fixed while building: symbolic sizes are not supported), got "
            f"{value!r}" + _built_at())
    return int(value[0]), int(value[1])


def _old_name(new: str, new_value, old: str, old_value, unset=None):
    """Theano's older keyword ``old`` for ``new``: either may be given, not both."""
    if old_value is None:
        return new_value
    if new_value is not None and not (isinstance(new_value, (tuple, list))
                                      and tuple(new_value) == unset):
        raise ValueError(f"pool_2d: give {new}= or Theano's older name {old}=, not both "
                         f"(got {new}={new_value!r} and {old}={old_value!r})" + _built_at())
    warnings.warn(f"pool_2d: {old}= is Theano's older name of {new}=", DeprecationWarning,
                  stacklevel=3)
    return old_value


def pool_2d(input, ws=None, ignore_border: bool = True, stride=None, pad=(0, 0),
            mode: str = "max", ds=None, st=None, padding=None) -> Variable:
    """Theano's ``pool_2d``: the max, sum or average of windows ``ws`` moved by ``stride``
    (default ``ws``) over the last two axes of ``input``, after ``pad`` elements of
    padding on both sides of each (which max and the sums never count, and
    ``'average_inc_pad'`` counts as zeros). With ``ignore_border=False`` the partial
    windows at the far border count too (then ``pad`` must be ``(0, 0)``). The gradient of
    max goes to the first maximum of each window, row by row; ``ds``, ``st`` and
    ``padding`` are Theano's older names. Unlike Theano 1.0, where leaving out
    ``ignore_border`` meant ``False`` with a warning, the default is ``True``.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dtensor4("x")
    >>> img = np.arange(25.0).reshape(1, 1, 5, 5)
    >>> sg.nnet.pool_2d(x, (2, 2), ignore_border=False).eval({x: img})[0, 0].tolist()
    [[6.0, 8.0, 9.0], [16.0, 18.0, 19.0], [21.0, 23.0, 24.0]]
    >>> y = sg.nnet.pool_2d(x, (3, 3), stride=(2, 2), pad=(1, 1), mode="average_exc_pad")
    >>> y.eval({x: img})[0, 0].tolist()
    [[3.0, 4.5, 6.0], [10.5, 12.0, 13.5], [18.0, 19.5, 21.0]]
    """
    ws = _old_name("ws", ws, "ds", ds)
    stride = _old_name("stride", stride, "st", st)
    pad = _old_name("pad", pad, "padding", padding, unset=(0, 0))
    if ws is None:
        raise ValueError("pool_2d: give the window size ws, e.g. ws=(2, 2)" + _built_at())
    ws = _pair("pool_2d", "ws", ws, 1)
    stride = ws if stride is None else _pair("pool_2d", "stride", stride, 1)
    pad = _pair("pool_2d", "pad", pad, 0)
    return Pool(ws, stride, pad, mode, ignore_border)(as_tensor(input))


def _torch_pool(fn: str, input, kernel_size, stride, padding, ceil_mode: bool,
                mode: str) -> Variable:
    ws = _pair(fn, "kernel_size", kernel_size, 1, single=True)
    stride = ws if stride is None else _pair(fn, "stride", stride, 1, single=True)
    pad = _pair(fn, "padding", padding, 0, single=True)
    if any(p > w // 2 for p, w in zip(pad, ws)):
        raise ValueError(f"{fn}: padding {pad} must be at most half the kernel size {ws} "
                         "(as in PyTorch)" + _built_at())
    if ceil_mode and pad != (0, 0):
        raise ValueError(f"{fn}: ceil_mode=True with padding {pad} is not supported "
                         "(ceil_mode works with padding=0)" + _built_at())
    return Pool(ws, stride, pad, mode, not ceil_mode)(as_tensor(input))


def max_pool2d(input, kernel_size, stride=None, padding=0, *,
               ceil_mode: bool = False) -> Variable:
    """PyTorch's ``max_pool2d`` over the last two axes: windows ``kernel_size`` (an int
    or a pair) moved by ``stride`` (default ``kernel_size``), ``padding`` (at most half
    the kernel) never counted; ``ceil_mode`` keeps the partial windows at the far border
    (with ``padding=0``).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dtensor4("x")
    >>> img = np.arange(9.0).reshape(1, 1, 3, 3)
    >>> sg.nnet.max_pool2d(x, 2, stride=1).eval({x: img})[0, 0].tolist()
    [[4.0, 5.0], [7.0, 8.0]]
    """
    return _torch_pool("max_pool2d", input, kernel_size, stride, padding, ceil_mode, "max")


def avg_pool2d(input, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Variable:
    """PyTorch's ``avg_pool2d`` over the last two axes: the mean of each window, whose
    count includes the zero ``padding`` when ``count_include_pad`` (the default) and not
    otherwise; ``ceil_mode`` keeps the partial windows at the far border (with
    ``padding=0``), each averaged over its own elements.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dtensor4("x")
    >>> ones = np.ones((1, 1, 2, 2))
    >>> sg.nnet.avg_pool2d(x, 2, stride=1, padding=1).eval({x: ones})[0, 0].tolist()
    [[0.25, 0.5, 0.25], [0.5, 1.0, 0.5], [0.25, 0.5, 0.25]]
    """
    return _torch_pool("avg_pool2d", input, kernel_size, stride, padding, ceil_mode,
                       "average_inc_pad" if count_include_pad else "average_exc_pad")


def global_avg_pool2d(input, keepdims: bool = False) -> Variable:
    """The mean over the last two axes (one value per image and channel); ``keepdims``
    keeps them with size 1, as PyTorch's ``adaptive_avg_pool2d(x, 1)`` gives.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dtensor4("x")
    >>> sg.nnet.global_avg_pool2d(x, keepdims=True).type
    TensorType(float64, (?, ?, 1, 1))
    """
    x = as_tensor(input)
    if x.ndim < 2:
        raise ValueError(f"global_avg_pool2d needs a tensor of rank >= 2 (it averages the "
                         f"last two axes), got {x.type}" + _built_at())
    return mean(x, axis=(-2, -1), keepdims=keepdims)
