"""Neural-network ops: :class:`Softmax` and :class:`LogSoftmax` (numerically stable, with
their own gradients), :class:`Pick` (one element per row, for integer-label losses) and the
losses and activations built from them.

>>> import symgraph as sg, numpy as np
>>> x = sg.dmatrix("x")
>>> sg.softmax(x).eval({x: np.array([[0.0, np.log(3.0)]])}).round(6).tolist()
[[0.25, 0.75]]
"""
from __future__ import annotations

import math
from numbers import Real

import numpy as np

from codegen.program import LibraryCall

from ..graph import Apply, Op, Variable, user_trace
from ..types import FLOATS, INTS, TensorType, float_dtype
from ..variable import as_tensor
from .elemwise import F, cast, clip, ones_like, relu as _relu, where
from .reduce import max as max_, mean, sum
from .shape import normalize_axes

abs_, exp, expm1, log, sigmoid, softplus = F.abs, F.exp, F.expm1, F.log, F.sigmoid, F.softplus

__all__ = [
    "Softmax", "LogSoftmax", "Pick", "PickGrad", "softmax", "log_softmax", "pick",
    # losses
    "categorical_crossentropy", "softmax_crossentropy_with_logits", "binary_crossentropy",
    "binary_crossentropy_with_logits", "sigmoid_binary_crossentropy", "mse", "squared_error",
    "huber", "huber_loss", "hinge", "multiclass_hinge_loss",
    # activations
    "relu", "leaky_relu", "elu", "selu", "gelu", "silu", "swish", "sigmoid", "softsign",
    "hard_sigmoid", "hard_tanh", "softplus", "log_sigmoid"]


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


def _built_at() -> str:
    line = user_trace()
    return f"\n  built at {line}" if line else ""


def _label_error(x: TensorType, labels: TensorType, why: str) -> Exception:
    return TypeError(f"pick: cannot take labels {labels} from {x}: {why}" + _built_at())


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


# ---------------------------------------------------------------- losses
def _target_form(fn: str, scores: Variable, targets: Variable) -> str:
    """``'dense'`` for targets shaped like ``scores`` (one-hot or soft distributions),
    ``'labels'`` for integer class labels with the last axis less."""
    if targets.ndim == scores.ndim:
        return "dense"
    if targets.ndim == scores.ndim - 1 and targets.dtype in INTS:
        return "labels"
    raise TypeError(f"{fn}: targets {targets.type} fit neither form for scores "
                    f"{scores.type}: give distributions of the same shape, or integer "
                    f"labels of rank {scores.ndim - 1}" + _built_at())


def _check_smoothing(fn: str, label_smoothing) -> float:
    if isinstance(label_smoothing, bool) or not isinstance(label_smoothing, Real) or \
            not 0 <= label_smoothing < 1:
        raise ValueError(f"{fn}: label_smoothing must be a number in [0, 1), got "
                         f"{label_smoothing!r}" + _built_at())
    return float(label_smoothing)


def _crossentropy(log_p: Variable, targets: Variable, form: str, eps: float) -> Variable:
    """``-sum(q * log_p, axis=-1)`` for the targets ``q``: ``targets`` (dense) or the
    labels' one-hot rows, smoothed to ``(1 - eps) * q + eps / classes``."""
    if form == "labels":
        # the label's entry of the smoothed sum: (1 - eps) log p_y + eps mean(log p)
        if eps:
            log_p = (1 - eps) * log_p + eps * mean(log_p, axis=-1, keepdims=True)
        return -pick(log_p, targets)
    if eps:
        targets = (1 - eps) * targets + eps / cast(log_p.shape[-1], log_p.dtype)
    return -sum(targets * log_p, axis=-1)


def categorical_crossentropy(coding_dist, true_dist, label_smoothing: float = 0.0
                             ) -> Variable:
    """Cross-entropy between predicted probabilities (last axis) and targets, Theano's
    argument order: ``true_dist`` is either distributions (one-hot or soft) shaped like
    ``coding_dist``, giving ``-sum(t * log(p), axis=-1)``, or integer class labels with
    one axis less, giving ``-log(p[..., labels])``. With ``label_smoothing`` ``eps`` the
    targets are ``(1 - eps) * t + eps / classes``. For logits, use
    :func:`softmax_crossentropy_with_logits` (the rewrites also turn the cross-entropy of
    a ``softmax`` into it).

    >>> import symgraph as sg, numpy as np
    >>> p, t = sg.dmatrix("p"), sg.lvector("t")
    >>> probs = np.array([[0.5, 0.5], [0.25, 0.75]])
    >>> sg.categorical_crossentropy(p, t).eval({p: probs, t: [0, 1]}).round(4).tolist()
    [0.6931, 0.2877]
    >>> loss = sg.categorical_crossentropy(p, t, label_smoothing=0.2)
    >>> loss.eval({p: probs, t: [0, 1]}).round(4).tolist()
    [0.6931, 0.3975]
    """
    p, t = as_tensor(coding_dist), as_tensor(true_dist)
    eps = _check_smoothing("categorical_crossentropy", label_smoothing)
    form = _target_form("categorical_crossentropy", p, t)
    if form == "labels" and not eps:
        return -log(pick(p, t))         # the log of the one probability used
    return _crossentropy(log(p), t, form, eps)


def softmax_crossentropy_with_logits(logits, targets, label_smoothing: float = 0.0
                                     ) -> Variable:
    """``categorical_crossentropy(softmax(logits), targets, label_smoothing)`` computed
    through :func:`log_softmax`: finite for any finite logits. ``targets`` are integer
    labels or distributions, as for :func:`categorical_crossentropy`.

    >>> import symgraph as sg, numpy as np
    >>> z, t = sg.dmatrix("z"), sg.lvector("t")
    >>> loss = sg.nnet.softmax_crossentropy_with_logits(z, t)
    >>> loss.eval({z: np.array([[1e4, 0.0], [0.0, 0.0]]), t: [1, 0]}).round(4).tolist()
    [10000.0, 0.6931]
    """
    z, t = as_tensor(logits), as_tensor(targets)
    eps = _check_smoothing("softmax_crossentropy_with_logits", label_smoothing)
    form = _target_form("softmax_crossentropy_with_logits", z, t)
    return _crossentropy(log_softmax(z), t, form, eps)


def binary_crossentropy(output, target) -> Variable:
    """``-(t * log(o) + (1 - t) * log(1 - o))`` elementwise, Theano's argument order
    (``output`` are probabilities; for logits use :func:`binary_crossentropy_with_logits`).

    >>> import symgraph as sg, numpy as np
    >>> o = sg.dvector("o")
    >>> sg.binary_crossentropy(o, np.array([1.0, 0.0])).eval({o: [0.5, 0.5]}).round(4).tolist()
    [0.6931, 0.6931]
    """
    o, t = as_tensor(output), as_tensor(target)
    return -(t * log(o) + (1 - t) * log(1 - o))


def binary_crossentropy_with_logits(logits, target) -> Variable:
    """``binary_crossentropy(sigmoid(logits), target)`` elementwise, without the log(0)
    that saturated sigmoids give: ``t * softplus(-z) + (1 - t) * softplus(z)``. Theano
    calls it ``sigmoid_binary_crossentropy`` (also defined).

    >>> import symgraph as sg, numpy as np
    >>> z = sg.dvector("z")
    >>> sg.nnet.binary_crossentropy_with_logits(z, np.array([1.0])).eval({z: [-800.0]}).tolist()
    [800.0]
    """
    z, t = as_tensor(logits), as_tensor(target)
    return t * softplus(-z) + (1 - t) * softplus(z)


#: Theano's name
sigmoid_binary_crossentropy = binary_crossentropy_with_logits


def mse(predictions, targets) -> Variable:
    """The squared error ``(predictions - targets) ** 2`` per element, as Lasagne's
    ``squared_error`` (also defined): ``.mean()`` of it is the mean squared error.

    >>> import symgraph as sg, numpy as np
    >>> p = sg.dvector("p")
    >>> sg.nnet.mse(p, np.array([1.0, 1.0])).eval({p: [3.0, 0.5]}).tolist()
    [4.0, 0.25]
    """
    return F.square(as_tensor(predictions) - as_tensor(targets))


#: Lasagne's name
squared_error = mse


def _positive(fn: str, name: str, value) -> None:
    if isinstance(value, Real) and not value > 0:
        raise ValueError(f"{fn}: {name} must be positive, got {value!r}" + _built_at())


def huber(predictions, targets, delta: float = 1.0) -> Variable:
    """The Huber loss per element, as Lasagne's ``huber_loss`` (also defined): with
    ``d = |predictions - targets|``, ``d ** 2 / 2`` where ``d <= delta``, else
    ``delta * (d - delta / 2)`` (linear: large errors do not dominate).

    >>> import symgraph as sg, numpy as np
    >>> p = sg.dvector("p")
    >>> sg.nnet.huber(p, np.zeros(3)).eval({p: [0.5, -2.0, 1e4]}).tolist()
    [0.125, 1.5, 9999.5]
    """
    _positive("huber", "delta", delta)
    d = abs_(as_tensor(predictions) - as_tensor(targets))
    return where(d <= delta, 0.5 * F.square(d), delta * (d - 0.5 * delta))


#: Lasagne's name
huber_loss = huber


def hinge(predictions, targets, delta: float = 1.0) -> Variable:
    """The binary hinge loss per element, ``max(0, delta - y * predictions)``, for scores
    (logits) ``predictions`` and ``y`` = +1 where ``targets > 0``, -1 elsewhere: targets
    may be written {0, 1} or {-1, 1}. (Lasagne's ``binary_hinge_loss`` with
    ``log_odds=True``.)

    >>> import symgraph as sg, numpy as np
    >>> s = sg.dvector("s")
    >>> sg.nnet.hinge(s, np.array([1, 0, -1, 1])).eval({s: [2.0, 0.5, -3.0, 0.2]}).tolist()
    [0.0, 1.5, 0.0, 0.8]
    """
    s, t = as_tensor(predictions), as_tensor(targets)
    return _relu(delta - where(t > 0, s, -s))


def _one_hot(labels: Variable, like: Variable) -> Variable:
    """1 where ``labels`` point on ``like``'s last axis, 0 elsewhere (``PickGrad`` scatters
    a tensor of ones there)."""
    return PickGrad()(ones_like(labels, like.dtype), labels, like)


def multiclass_hinge_loss(predictions, targets, delta: float = 1.0) -> Variable:
    """Lasagne's multi-class hinge loss per row (Crammer and Singer): ``max(0, delta +
    max_{j != y} p_j - p_y)`` over the last axis, for integer labels ``y`` or one-hot
    targets shaped like ``predictions``.

    >>> import symgraph as sg, numpy as np
    >>> p, y = sg.dmatrix("p"), sg.lvector("y")
    >>> scores = np.array([[3.0, 1.0, 0.5], [1.0, 1.5, 0.0]])
    >>> sg.nnet.multiclass_hinge_loss(p, y).eval({p: scores, y: [0, 0]}).tolist()
    [0.0, 1.5]
    """
    p, t = as_tensor(predictions), as_tensor(targets)
    if _target_form("multiclass_hinge_loss", p, t) == "dense":
        correct, is_target = sum(p * t, axis=-1), t > 0
    else:
        correct, is_target = pick(p, t), _one_hot(t, p) > 0
    others = max_(where(is_target, -np.inf, p), axis=-1)
    return _relu(others - correct + delta)


# ---------------------------------------------------------------- activations
_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_SQRT_HALF = math.sqrt(0.5)
_GELU_TANH = 2 * math.sqrt(2 / math.pi)   # 2 sqrt(2/pi): tanh(u) = 2 sigmoid(2u) - 1


def relu(x, alpha=0) -> Variable:
    """``max(x, 0)``; with ``alpha``, the leaky ReLU ``x if x > 0 else alpha * x``
    (Theano's signature; without ``alpha`` integer tensors stay integer).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.relu(x, 0.1).eval({x: [-2.0, 3.0]}).tolist()
    [-0.2, 3.0]
    """
    if isinstance(alpha, (int, float)) and alpha == 0:
        return _relu(x)
    x = as_tensor(x)
    return where(x > 0, x, alpha * x)


def leaky_relu(x, alpha=0.01) -> Variable:
    """``x if x > 0 else alpha * x``.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.leaky_relu(x).eval({x: [-2.0, 3.0]}).tolist()
    [-0.02, 3.0]
    """
    return relu(x, alpha)


def elu(x, alpha=1.0) -> Variable:
    """``x if x > 0 else alpha * (exp(x) - 1)``.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.elu(x).eval({x: [-1e4, 0.0, 2.0]}).tolist()
    [-1.0, 0.0, 2.0]
    """
    x = _float(x)
    # expm1 of the positive side would be inf, and its gradient inf * 0 = nan
    return where(x > 0, x, alpha * expm1(F.minimum(x, 0)))


def selu(x) -> Variable:
    """The scaled ELU of Klambauer et al. (2017): ``scale * elu(x, alpha)`` with their
    ``alpha = 1.6732632...`` and ``scale = 1.0507009...`` (self-normalizing).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.selu(x).eval({x: [-1e4, 0.0, 1.0]}).round(6).tolist()
    [-1.758099, 0.0, 1.050701]
    """
    return _SELU_SCALE * elu(x, _SELU_ALPHA)


def gelu(x, approximate: bool | str = False) -> Variable:
    """The Gaussian error linear unit ``x * Phi(x)`` (Hendrycks and Gimpel), ``Phi`` the
    normal CDF, computed as ``x / 2 * erfc(-x / sqrt(2))`` (exact for negative ``x``
    too, where ``1 + erf`` cancels). ``approximate=True`` or ``'tanh'``: the tanh form
    ``x / 2 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 x^3)))`` (PyTorch's
    ``approximate='tanh'``), computed as ``x * sigmoid(2 u)``; ``False`` or ``'none'``:
    the exact one.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.gelu(x).eval({x: [-1.0, 0.0, 1.0]}).round(6).tolist()
    [-0.158655, 0.0, 0.841345]
    >>> sg.nnet.gelu(x, approximate="tanh").eval({x: [-1.0, 0.0, 1.0]}).round(6).tolist()
    [-0.158808, 0.0, 0.841192]
    """
    x = _float(x)
    if approximate is False or approximate == "none":
        return 0.5 * x * F.erfc(-_SQRT_HALF * x)
    if approximate is True or approximate == "tanh":
        return x * sigmoid(_GELU_TANH * x * (1 + 0.044715 * x * x))
    raise ValueError(f"gelu: approximate must be False, True, 'none' or 'tanh', got "
                     f"{approximate!r}" + _built_at())


def silu(x) -> Variable:
    """The sigmoid linear unit ``x * sigmoid(x)``, also called swish (``swish`` is the
    same function).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.silu(x).eval({x: [-1e4, 0.0, 1e4]}).tolist()
    [-0.0, 0.0, 10000.0]
    """
    x = _float(x)
    return x * sigmoid(x)


swish = silu


def softsign(x) -> Variable:
    """``x / (1 + |x|)``.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.softsign(x).eval({x: [1.0, -3.0]}).tolist()
    [0.5, -0.75]
    """
    x = _float(x)
    return x / (1 + abs_(x))


def hard_sigmoid(x) -> Variable:
    """Theano's piecewise-linear sigmoid ``clip(0.2 * x + 0.5, 0, 1)`` (Keras's too;
    PyTorch's ``hardsigmoid`` has slope 1/6: ``sg.clip(x / 6 + 0.5, 0, 1)``).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.hard_sigmoid(x).eval({x: [-5.0, 0.0, 1.0]}).tolist()
    [0.0, 0.5, 0.7]
    """
    return clip(0.2 * _float(x) + 0.5, 0, 1)


def hard_tanh(x, min_val=-1, max_val=1) -> Variable:
    """``x`` clipped to ``[min_val, max_val]`` (PyTorch's ``hardtanh``; integer tensors
    stay integer).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.hard_tanh(x).eval({x: [-5.0, 0.5, 2.0]}).tolist()
    [-1.0, 0.5, 1.0]
    """
    if isinstance(min_val, Real) and isinstance(max_val, Real) and min_val > max_val:
        raise ValueError(f"hard_tanh: min_val {min_val!r} is above max_val {max_val!r}"
                         + _built_at())
    return clip(x, min_val, max_val)


def log_sigmoid(x) -> Variable:
    """``log(sigmoid(x))``, computed as ``-softplus(-x)``: ``x`` (not -inf) for very
    negative ``x``.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.nnet.log_sigmoid(x).eval({x: [-1e4, 0.0, 1e4]}).round(6).tolist()
    [-10000.0, -0.693147, -0.0]
    """
    return -softplus(-_float(x))
