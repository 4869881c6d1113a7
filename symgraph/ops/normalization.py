"""Batch normalization and layer normalization, composed of means, variances and
elementwise ops, so that fusion makes each a few staged kernels (and its gradient too).

:func:`batch_normalization` is the layer form: it normalizes with the batch's statistics
in a training function and with the running statistics in a prediction function, and the
running statistics (shared variables) move by their default update, which only training
functions apply (the training flag, as :func:`symgraph.random.dropout` reads it).
:class:`BatchNorm` makes the four shared variables of one such layer.
:func:`batch_normalization_train` and :func:`batch_normalization_test` are Theano's
functional forms (``theano.tensor.nnet.bn``), which return the new running statistics for
the caller to put in ``updates``; :data:`bn` holds them under Theano's module path, with
Theano's elementwise ``bn.batch_normalization(inputs, gamma, beta, mean, std)``.

>>> import symgraph as sg, numpy as np
>>> layer = sg.nnet.BatchNorm(3, dtype="float64")
>>> x = sg.dmatrix("x")
>>> y = layer(x)
>>> train, predict = sg.function([x], y), sg.function([x], y, training=False)
>>> batch = np.array([[0, 1, 2], [2, 3, 6]])
>>> train(batch).round(3).tolist()                  # the batch's statistics
[[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]]
>>> layer.running_mean.get_value().round(3).tolist()   # 0.9 * 0 + 0.1 * [1, 2, 4]
[0.1, 0.2, 0.4]
>>> predict(batch).round(3).tolist()                # the running ones, which stay
[[-0.095, 0.763, 1.227], [1.812, 2.67, 4.295]]
>>> layer.running_mean.get_value().round(3).tolist()
[0.1, 0.2, 0.4]
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Sequence

import numpy as np

from .. import config
from ..types import FLOATS
from ..variable import SharedVariable, TensorVariable, as_tensor, constant, shared
from .elemwise import F, where
from .reduce import mean
from .shape import count, dimshuffle, normalize_axes
from .special import TRAINING, stop_gradient


def _batch_axes(axes, ndim: int, what: str) -> tuple[tuple[int, ...], list[int]]:
    """The axes batch normalization averages over, and the others (each index of those
    has its own statistics): ``'per-activation'`` (the batch axis), ``'spatial'`` (the
    batch and the spatial axes of an ``(N, C, ...)`` input) or a tuple of axes."""
    if axes == "per-activation":
        out = (0,)
    elif axes == "spatial":
        out = (0, *range(2, ndim))
    elif isinstance(axes, str):
        raise ValueError(f"{what}: axes must be 'per-activation', 'spatial' or a tuple of "
                         f"axes, got {axes!r}")
    else:
        out = normalize_axes(axes, ndim, f"{what}: axis")
    if not out:
        raise ValueError(f"{what}: axes is empty; normalize over at least one axis")
    return out, [a for a in range(ndim) if a not in out]


def _float_input(x, what: str) -> TensorVariable:
    x = as_tensor(x)
    if x.dtype not in FLOATS:
        raise TypeError(f"{what} takes a float tensor, got {x.type} (cast it first)")
    if x.ndim == 0:
        raise ValueError(f"{what} takes a tensor of rank 1 or more, got a scalar")
    return x


def _param(p, x: TensorVariable, kept: Sequence[int], name: str, what: str):
    """``p`` (a parameter or statistic) broadcast against ``x``: either of ``x``'s rank
    and declared broadcastable outside the ``kept`` axes, or of rank ``len(kept)``, its
    axes being ``x``'s ``kept`` axes in order (Theano's two layouts)."""
    p = as_tensor(p)
    if p.dtype not in FLOATS:
        raise TypeError(f"{what}: {name} must be a float tensor, got {p.type}")
    if p.ndim == x.ndim:
        loose = [a for a in range(x.ndim) if a not in kept and not p.broadcastable[a]]
        if loose:
            raise TypeError(f"{what}: {name} ({p.type}) has the rank of the input, so its "
                            f"axes {tuple(loose)} must be declared broadcastable (size 1: "
                            f"keepdims=True, dimshuffle, sg.shared(..., broadcastable=...))")
        return p
    if p.ndim != len(kept):
        raise ValueError(f"{what}: {name} ({p.type}) must have rank {len(kept)} (input "
                         f"axes {tuple(kept)}) or {x.ndim} (the input's), got {p.ndim}")
    it = iter(range(p.ndim))
    return dimshuffle(p, *(next(it) if a in kept else "x" for a in range(x.ndim)))


def _layout(v: TensorVariable, like, axes: Sequence[int]) -> TensorVariable:
    """A keepdims statistic ``v`` in the layout of ``like`` (its axes ``axes`` dropped
    unless ``like`` has ``v``'s rank)."""
    if as_tensor(like).ndim == v.ndim:
        return v
    return dimshuffle(v, *(a for a in range(v.ndim) if a not in axes))


def _moments(x: TensorVariable, axes: tuple[int, ...]):
    """The batch mean, the centred input and the (biased) batch variance, keepdims.
    The variance's derivative by the mean, ``-2 * mean(x - mu)``, is zero, so it is not
    differentiated (a gradient would compute that zero in a pass over ``x``)."""
    mu = mean(x, axes, keepdims=True)
    d = x - stop_gradient(mu)
    return mu, x - mu, mean(d * d, axes, keepdims=True)


def _averaged(old, batch: TensorVariable, factor: float, n: TensorVariable):
    """``(1 - factor) * old + factor * batch`` in ``old``'s dtype; ``old`` itself after
    a batch of no elements (whose statistics are NaN), as PyTorch leaves it."""
    old = as_tensor(old)
    new = (old * (1 - factor) + batch * factor).astype(old.dtype)
    return where(F.greater(n, 0), new, old)


def _running(x, axes, mu, var, running_mean, running_var, factor: float):
    """The new running mean and variance, each in its own layout. The variance averaged
    in is the unbiased one, ``n / (n - 1)`` times the batch's (PyTorch and Theano)."""
    n = count(x, axes, x.dtype)
    unbiased = var * (n / (n - 1))
    return (_averaged(running_mean, _layout(mu, running_mean, axes), factor, n),
            _averaged(running_var, _layout(unbiased, running_var, axes), factor, n))


def _check_factor(factor, name: str, what: str) -> float:
    if not isinstance(factor, (int, float, np.integer, np.floating)) or not 0 <= factor <= 1:
        raise ValueError(f"{what}: {name} must be a number in [0, 1], got {factor!r}")
    return float(factor)


def _tracked(s, name: str, what: str) -> SharedVariable:
    if not isinstance(s, SharedVariable):
        raise TypeError(
            f"{what}: {name} must be a shared variable (its default update moves it), got "
            f"{getattr(s, 'type', type(s).__name__)}; for Theano's elementwise "
            f"T.nnet.batch_normalization(inputs, gamma, beta, mean, std) use "
            f"sg.nnet.bn.batch_normalization, for statistics you update yourself "
            f"batch_normalization_train / batch_normalization_test")
    if s.default_update is not None:
        raise ValueError(
            f"{what}: {name} ({s!r}) has a default update already (another "
            f"batch_normalization moves it): one pair of running statistics serves one "
            f"batch normalization; make a BatchNorm per layer, or set "
            f"{name}.default_update = None first to rebuild the graph")
    return s


def batch_normalization(x, gamma, beta, running_mean, running_var,
                        axes="per-activation", momentum: float = 0.1,
                        epsilon: float = 1e-5, training=None) -> TensorVariable:
    """Batch normalization (Ioffe and Szegedy, 2015) of ``x`` over ``axes``: ``(x - mean)
    / sqrt(var + epsilon) * gamma + beta``, with the batch's mean and (biased) variance
    in training and with ``running_mean`` and ``running_var`` in inference.

    ``axes``: ``'per-activation'`` (axis 0, a dense layer's batch), ``'spatial'`` (axes
    0, 2, 3, ...: the batch and the image of an ``(N, C, H, W)`` input) or a tuple.
    ``gamma``, ``beta`` and the running statistics have the input's other axes, in order
    (``(C,)`` for ``'spatial'``), or the input's rank with the ``axes`` broadcastable.

    ``running_mean`` and ``running_var`` are shared variables; this sets their
    ``default_update`` to PyTorch's ``(1 - momentum) * old + momentum * batch``, with the
    unbiased batch variance (``n / (n - 1)`` times the biased one) for ``running_var``,
    so every training function moves them and no prediction function does. A batch of
    no elements leaves them as they are; one of one element per statistic makes the
    running variance NaN (``0 * n / (n - 1)``; PyTorch refuses such a batch). A pair of
    statistics serves one call: a second call on them is an error.

    ``training``: None (the function's training flag: ``sg.function(...,
    training=False)`` compiles the inference form), True, False, or a symbolic bool
    scalar (switched at run time). Theano's elementwise ``T.nnet.batch_normalization(
    inputs, gamma, beta, mean, std)`` is ``sg.nnet.bn.batch_normalization``.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.fmatrix("x")
    >>> g, b = sg.shared(np.ones(2, "float32")), sg.shared(np.zeros(2, "float32"))
    >>> rm, rv = sg.shared(np.zeros(2, "float32")), sg.shared(np.ones(2, "float32"))
    >>> y = sg.nnet.batch_normalization(x, g, b, rm, rv, momentum=0.5)
    >>> sg.function([x], y)(np.array([[1, 2], [3, 6]], "float32")).round(3).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    >>> rm.get_value().tolist(), rv.get_value().tolist()
    ([1.0, 2.0], [1.5, 4.5])
    """
    what = "batch_normalization"
    x = _float_input(x, what)
    axes, kept = _batch_axes(axes, x.ndim, what)
    momentum = _check_factor(momentum, "momentum", what)
    g, b = _param(gamma, x, kept, "gamma", what), _param(beta, x, kept, "beta", what)
    rm, rv = (_param(s, x, kept, name, what) for s, name in
              ((running_mean, "running_mean"), (running_var, "running_var")))
    if training is False:
        return _normalized(x - rm, g, rv, b, epsilon)
    flag = constant(True) if training is True else TRAINING if training is None else \
        as_tensor(training)
    if flag.ndim or flag.dtype != "bool":
        raise TypeError(f"{what}: training must be True, False, a bool scalar or None, "
                        f"got {flag.type}")
    for s, name in ((running_mean, "running_mean"), (running_var, "running_var")):
        _tracked(s, name, what)
    mu, _, var = _moments(x, axes)
    new = _running(x, axes, mu, var, running_mean, running_var, momentum)
    for s, u in zip((running_mean, running_var), new):
        s.default_update = where(flag, u, s)
    # The flag picks the statistics, not the output: the gradient of the branch a
    # function does not take is then zero on the statistics' shape, not on the input's
    # (where products with those zeros would still be computed). The graph as written
    # reads the running statistics even for training=True (a constant flag, folded),
    # which is what makes a function collect their default updates.
    return _normalized(x - where(flag, mu, rm), g, where(flag, var, rv), b, epsilon)


def _normalized(d, g, var, b, epsilon: float) -> TensorVariable:
    """``d * gamma / sqrt(var + epsilon) + beta``, the scale formed on the statistics'
    shape (small) before it meets the input's."""
    return d * (g * F.rsqrt(var + epsilon)) + b


class BatchNorm:
    """The parameters and running statistics of one batch normalization layer (named as
    Lasagne's ``BatchNormLayer`` and PyTorch's ``BatchNorm2d``: ``gamma`` and ``beta``,
    trainable, start at 1 and 0; ``running_mean`` and ``running_var`` at 0 and 1), each a
    shared variable of ``shape``: the input's axes other than ``axes`` (the number of
    channels for ``axes='spatial'``). Calling it on an input applies
    :func:`batch_normalization`; ``params`` lists what an optimizer trains.

    >>> import symgraph as sg, numpy as np
    >>> layer = sg.nnet.BatchNorm(16, axes="spatial", name="bn1")
    >>> images = sg.tensor4("images")
    >>> layer(images).type, [p.name for p in layer.params]
    (TensorType(float32, (?, ?, ?, ?)), ['bn1.gamma', 'bn1.beta'])
    """

    def __init__(self, shape, axes="per-activation", momentum: float = 0.1,
                 epsilon: float = 1e-5, dtype: str | None = None, name: str | None = None):
        shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
        dtype = dtype or config.floatX
        prefix = f"{name}." if name else ""
        self.axes, self.momentum, self.epsilon = axes, momentum, epsilon
        self.gamma = shared(np.ones(shape, dtype), name=prefix + "gamma")
        self.beta = shared(np.zeros(shape, dtype), name=prefix + "beta")
        self.running_mean = shared(np.zeros(shape, dtype), name=prefix + "running_mean")
        self.running_var = shared(np.ones(shape, dtype), name=prefix + "running_var")

    @property
    def params(self) -> list[SharedVariable]:
        """The trainable parameters, ``[gamma, beta]``."""
        return [self.gamma, self.beta]

    def __call__(self, x, training=None) -> TensorVariable:
        return batch_normalization(x, self.gamma, self.beta, self.running_mean,
                                   self.running_var, self.axes, self.momentum,
                                   self.epsilon, training)


def batch_normalization_train(inputs, gamma, beta, axes="per-activation",
                              epsilon: float = 1e-4, running_average_factor: float = 0.1,
                              running_mean=None, running_var=None) -> tuple:
    """Theano's ``bn.batch_normalization_train``: normalize with the batch's statistics,
    returning ``(out, mean, invstd)`` and, given ``running_mean`` and ``running_var`` (any
    tensors: nothing is updated here), also ``(new_running_mean, new_running_var)`` for
    ``updates``, averaged as in :func:`batch_normalization` with ``running_average_factor``
    as the momentum. ``mean`` and ``invstd`` have ``gamma``'s layout (see
    :func:`batch_normalization`); each running statistic keeps its own. The defaults are
    Theano's (``epsilon=1e-4``).

    >>> import symgraph as sg, numpy as np
    >>> x, g, b = sg.fmatrix("x"), sg.fvector("g"), sg.fvector("b")
    >>> out, mu, invstd = sg.nnet.batch_normalization_train(x, g, b)
    >>> f = sg.function([x, g, b], [out, mu])
    >>> [v.round(3).tolist() for v in f(np.array([[1, 2], [3, 6]], "float32"), [1, 1], [0, 0])]
    [[[-1.0, -1.0], [1.0, 1.0]], [2.0, 4.0]]
    """
    what = "batch_normalization_train"
    x = _float_input(inputs, what)
    axes, kept = _batch_axes(axes, x.ndim, what)
    factor = _check_factor(running_average_factor, "running_average_factor", what)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{what}: give running_mean and running_var both or neither")
    g, b = _param(gamma, x, kept, "gamma", what), _param(beta, x, kept, "beta", what)
    mu, d, var = _moments(x, axes)
    invstd = F.rsqrt(var + epsilon)
    out = (d * (g * invstd) + b, _layout(mu, gamma, axes), _layout(invstd, gamma, axes))
    if running_mean is None:
        return out
    for s, name in ((running_mean, "running_mean"), (running_var, "running_var")):
        _param(s, x, kept, name, what)
    return (*out, *_running(x, axes, mu, var, running_mean, running_var, factor))


def batch_normalization_test(inputs, gamma, beta, mean, var, axes="per-activation",
                             epsilon: float = 1e-4) -> TensorVariable:
    """Theano's ``bn.batch_normalization_test``: ``(inputs - mean) * gamma / sqrt(var +
    epsilon) + beta`` with given statistics, in the layouts of
    :func:`batch_normalization`.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.fmatrix("x")
    >>> y = sg.nnet.batch_normalization_test(x, [1.0, 2.0], [0.0, 0.0], [1.0, 1.0],
    ...                                      [4.0, 4.0], epsilon=0.0)
    >>> y.eval({x: np.array([[3, 5]], "float32")}).tolist()
    [[1.0, 4.0]]
    """
    what = "batch_normalization_test"
    x = _float_input(inputs, what)
    axes, kept = _batch_axes(axes, x.ndim, what)
    p = [_param(v, x, kept, name, what) for v, name in
         ((gamma, "gamma"), (beta, "beta"), (mean, "mean"), (var, "var"))]
    return _normalized(x - p[2], p[0], p[3], p[1], epsilon)


def batch_normalization_elemwise(inputs, gamma, beta, mean, std,
                                 mode: str = "low_mem") -> TensorVariable:
    """Theano's elementwise ``T.nnet.batch_normalization`` (here
    ``sg.nnet.bn.batch_normalization``): ``(inputs - mean) * (gamma / std) + beta``, all
    five broadcast as numpy does; ``std`` is a standard deviation (epsilon already
    in). ``mode`` ('low_mem' or 'high_mem') chose Theano's memory trade-off; fusion
    computes both the same way.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.fmatrix("x")
    >>> y = sg.nnet.bn.batch_normalization(x, 1.0, 0.0, x.mean(0), x.std(0))
    >>> y.eval({x: np.array([[1, 2], [3, 6]], "float32")}).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    """
    if mode not in ("low_mem", "high_mem"):
        raise ValueError(f"batch_normalization: mode must be 'low_mem' or 'high_mem', "
                         f"got {mode!r}")
    x = _float_input(inputs, "batch_normalization")
    return (x - mean) * (as_tensor(gamma) / std) + beta


def layer_normalization(x, gamma, beta, axis=-1, epsilon: float = 1e-5) -> TensorVariable:
    """Layer normalization (Ba, Kiros and Hinton, 2016): each example normalized over
    ``axis`` (an int or a tuple; the last axis by default) by its own mean and (biased)
    variance, then ``* gamma + beta``. ``gamma`` and ``beta`` have the ``axis`` axes, in
    order (PyTorch's ``normalized_shape``), or the input's rank with the others
    broadcastable. No running statistics: training and inference are the same.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dmatrix("x")
    >>> y = sg.nnet.layer_normalization(x, np.ones(4), np.zeros(4))
    >>> y.eval({x: np.array([[1, 2, 3, 4]])}).round(3).tolist()
    [[-1.342, -0.447, 0.447, 1.342]]
    """
    what = "layer_normalization"
    x = _float_input(x, what)
    axes = normalize_axes(axis, x.ndim, f"{what}: axis")
    if not axes:
        raise ValueError(f"{what}: axis is empty; normalize over at least one axis")
    g, b = _param(gamma, x, axes, "gamma", what), _param(beta, x, axes, "beta", what)
    _, d, var = _moments(x, axes)
    return _normalized(d, g, var, b, epsilon)


#: Theano's ``theano.tensor.nnet.bn`` names (``T.nnet.bn.batch_normalization_train`` ports
#: as ``sg.nnet.bn.batch_normalization_train``); ``bn.batch_normalization`` is Theano's
#: elementwise form, not :func:`batch_normalization`
bn = SimpleNamespace(batch_normalization=batch_normalization_elemwise,
                     batch_normalization_train=batch_normalization_train,
                     batch_normalization_test=batch_normalization_test)
