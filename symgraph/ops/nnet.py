"""Neural-network ops: :class:`Softmax` and :class:`LogSoftmax` (numerically stable, with
their own gradients), :class:`Pick` (one element per row, for integer-label losses) and the
losses and activations built from them.

>>> import symgraph as sg, numpy as np
>>> x = sg.dmatrix("x")
>>> sg.softmax(x).eval({x: np.array([[0.0, np.log(3.0)]])}).round(6).tolist()
[[0.25, 0.75]]
"""
from __future__ import annotations

import numpy as np

from codegen.program import LibraryCall

from ..graph import Apply, Op, Variable, user_trace
from ..types import FLOATS, INTS, TensorType, float_dtype
from ..variable import as_tensor
from .elemwise import F, cast, clip, relu as _relu, where
from .reduce import sum
from .shape import normalize_axes

abs_, exp, expm1, log, sigmoid, softplus = F.abs, F.exp, F.expm1, F.log, F.sigmoid, F.softplus

__all__ = ["Softmax", "LogSoftmax", "Pick", "PickGrad", "softmax", "log_softmax", "pick",
           "categorical_crossentropy", "binary_crossentropy", "sigmoid_binary_crossentropy",
           "sigmoid", "softplus", "softsign", "hard_sigmoid", "relu", "elu"]


class _AxisOp(Op):
    """A float-to-float op along one axis (the props)."""
    __props__ = ("axis",)

    def __init__(self, axis: int):
        self.axis = axis

    def make_node(self, x: Variable) -> Apply:
        if x.dtype not in FLOATS or not 0 <= self.axis < x.ndim:
            raise TypeError(f"{self.name}{{axis={self.axis}}} takes a float tensor with "
                            f"that axis, got {x.type}")
        return Apply(self, [x], [x.type()])

    def lower(self, node):
        # compiled functions normally run the staged kernel the rewrites make of this op;
        # the library entry serves graphs compiled without rewrites
        return LibraryCall.of("softmax", axis=self.axis, log=isinstance(self, LogSoftmax))


class Softmax(_AxisOp):
    """``exp(x) / sum(exp(x), axis)``, computed after subtracting the maximum."""

    def grad(self, inputs, outputs, output_grads):
        (y,), (g,) = outputs, output_grads
        return [(g - sum(g * y, self.axis, keepdims=True)) * y]


class LogSoftmax(_AxisOp):
    """``x - logsumexp(x, axis)``, computed after subtracting the maximum (so it stays
    exact where softmax underflows to 0)."""

    def grad(self, inputs, outputs, output_grads):
        (y,), (g,) = outputs, output_grads
        return [g - exp(y) * sum(g, self.axis, keepdims=True)]


def _float(x) -> Variable:
    x = as_tensor(x)
    return x if x.dtype in FLOATS else cast(x, float_dtype(x.dtype))


def softmax(x, axis: int = -1) -> Variable:
    """The softmax along ``axis``; integer inputs compute in float, as numpy's exp.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.softmax(x).eval({x: np.array([1e4, 1e4])}).tolist()
    [0.5, 0.5]
    """
    x = _float(x)
    (axis,) = normalize_axes(axis, x.ndim)
    return Softmax(axis)(x)


def log_softmax(x, axis: int = -1) -> Variable:
    """The log of the softmax along ``axis``, without overflow or log(0).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.log_softmax(x).eval({x: np.array([0.0, 1e4])}).tolist()
    [-10000.0, 0.0]
    """
    x = _float(x)
    (axis,) = normalize_axes(axis, x.ndim)
    return LogSoftmax(axis)(x)


def _label_error(x: TensorType, labels: TensorType, why: str) -> Exception:
    where = user_trace()
    return TypeError(f"pick: cannot take labels {labels} from {x}: {why}"
                     + (f"\n  built at {where}" if where else ""))


class Pick(Op):
    """``x[..., labels]``: for each position of ``labels`` (``x``'s shape less its last
    axis), the element of ``x``'s last axis that the label names."""

    def make_node(self, x: Variable, labels: Variable) -> Apply:
        if labels.dtype not in INTS:
            raise _label_error(x.type, labels.type, "labels must be integers")
        if x.ndim != labels.ndim + 1:
            raise _label_error(x.type, labels.type, f"labels need rank {x.ndim - 1}")
        shape = []
        for ax, (sx, sl) in enumerate(zip(x.type.shape, labels.type.shape)):
            if sx is not None and sl is not None and sx != sl:
                raise _label_error(x.type, labels.type, f"axis {ax} has sizes {sx} and {sl}")
            shape.append(sx if sx is not None else sl)
        return Apply(self, [x, labels], [TensorType(x.dtype, shape)()])

    def lower(self, node):
        return LibraryCall.of("pick")

    def grad(self, inputs, outputs, output_grads):
        (x, labels), (g,) = inputs, output_grads
        return [PickGrad()(cast(g, x.dtype), labels, x), None]


class PickGrad(Op):
    """The gradient of :class:`Pick`: zeros shaped like ``x`` (the third input, used only
    for its shape), with ``g`` put where the labels point."""

    def make_node(self, g: Variable, labels: Variable, x: Variable) -> Apply:
        return Apply(self, [g, labels, x], [x.type()])

    def lower(self, node):
        return LibraryCall.of("pick_grad")

    def grad(self, inputs, outputs, output_grads):
        labels, (gg,) = inputs[1], output_grads
        return [Pick()(gg, labels), None, None]


def pick(x, labels) -> Variable:
    """``x[..., labels]`` elementwise over the leading axes (MXNet's ``pick``, numpy's
    ``take_along_axis`` on the last axis); out-of-range labels raise IndexError.

    >>> import symgraph as sg, numpy as np
    >>> p, t = sg.dmatrix("p"), sg.lvector("t")
    >>> sg.nnet.pick(p, t).eval({p: np.array([[0.1, 0.9], [0.8, 0.2]]), t: [1, 0]}).tolist()
    [0.9, 0.8]
    """
    return Pick()(as_tensor(x), as_tensor(labels))


def categorical_crossentropy(coding_dist, true_dist) -> Variable:
    """Cross-entropy between predicted probabilities (last axis) and targets, Theano's
    argument order: ``true_dist`` is either distributions (one-hot or soft) shaped like
    ``coding_dist``, giving ``-sum(t * log(p), axis=-1)``, or integer class labels with
    one axis less, giving ``-log(p[..., labels])``.

    >>> import symgraph as sg, numpy as np
    >>> p, t = sg.dmatrix("p"), sg.lvector("t")
    >>> probs = np.array([[0.5, 0.5], [0.25, 0.75]])
    >>> sg.categorical_crossentropy(p, t).eval({p: probs, t: [0, 1]}).round(4).tolist()
    [0.6931, 0.2877]
    """
    p, t = as_tensor(coding_dist), as_tensor(true_dist)
    if t.ndim == p.ndim:
        return -sum(t * log(p), axis=-1)
    if t.ndim == p.ndim - 1 and t.dtype in INTS:
        return -log(pick(p, t))
    where = user_trace()
    raise TypeError(f"categorical_crossentropy: targets {t.type} fit neither form for "
                    f"probabilities {p.type}: give distributions of the same shape, or "
                    f"integer labels of rank {p.ndim - 1}"
                    + (f"\n  built at {where}" if where else ""))


def binary_crossentropy(output, target) -> Variable:
    """``-(t * log(o) + (1 - t) * log(1 - o))`` elementwise, Theano's argument order
    (``output`` are probabilities; for logits use :func:`sigmoid_binary_crossentropy`).

    >>> import symgraph as sg, numpy as np
    >>> o = sg.dvector("o")
    >>> sg.binary_crossentropy(o, np.array([1.0, 0.0])).eval({o: [0.5, 0.5]}).round(4).tolist()
    [0.6931, 0.6931]
    """
    o, t = as_tensor(output), as_tensor(target)
    return -(t * log(o) + (1 - t) * log(1 - o))


def sigmoid_binary_crossentropy(output, target) -> Variable:
    """``binary_crossentropy(sigmoid(output), target)`` for logits ``output``, without
    the log(0) that saturated sigmoids give: ``t * softplus(-o) + (1 - t) * softplus(o)``.

    >>> import symgraph as sg, numpy as np
    >>> o = sg.dvector("o")
    >>> sg.nnet.sigmoid_binary_crossentropy(o, np.array([1.0])).eval({o: [-800.0]}).tolist()
    [800.0]
    """
    o, t = as_tensor(output), as_tensor(target)
    return t * softplus(-o) + (1 - t) * softplus(o)


def relu(x, alpha=0) -> Variable:
    """``max(x, 0)``; with ``alpha``, the leaky ReLU ``x if x > 0 else alpha * x``.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.relu(x, 0.1).eval({x: [-2.0, 3.0]}).tolist()
    [-0.2, 3.0]
    """
    if isinstance(alpha, (int, float)) and alpha == 0:
        return _relu(x)
    x = as_tensor(x)
    return where(x > 0, x, alpha * x)


def elu(x, alpha=1.0) -> Variable:
    """``x if x > 0 else alpha * (exp(x) - 1)``.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.elu(x).eval({x: [0.0, 2.0]}).tolist()
    [0.0, 2.0]
    """
    x = as_tensor(x)
    return where(x > 0, x, alpha * expm1(x))


def softsign(x) -> Variable:
    """``x / (1 + |x|)``.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.softsign(x).eval({x: [1.0, -3.0]}).tolist()
    [0.5, -0.75]
    """
    x = as_tensor(x)
    return x / (1 + abs_(x))


def hard_sigmoid(x) -> Variable:
    """Theano's piecewise-linear sigmoid ``clip(0.2 * x + 0.5, 0, 1)``.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.hard_sigmoid(x).eval({x: [-5.0, 0.0, 1.0]}).tolist()
    [0.0, 0.5, 0.7]
    """
    return clip(0.2 * as_tensor(x) + 0.5, 0, 1)
