"""Optimizers as update builders, Lasagne's ``lasagne.updates``: each takes a scalar loss
(differentiated with :func:`symgraph.grad`) or a list of gradient expressions, and the
shared variables to train, and returns an ``OrderedDict`` of updates (each parameter and
each state variable it creates -> its new value) for ``sg.function(..., updates=...)``.

>>> import numpy as np, symgraph as sg
>>> from symgraph import updates
>>> w = sg.shared(np.array([1.0, -2.0]), name="w")
>>> loss = (w ** 2).sum()
>>> ups = updates.adam(loss, [w], learning_rate=0.1)
>>> list(ups)
[w.m, w.v, w, adam.t]
>>> train = sg.function([], loss, updates=ups)
>>> [round(float(train()), 4) for _ in range(3)]
[5.0, 4.42, 3.8813]

State lives in shared variables made here, zeros of the parameter's dtype, shape and
broadcastable axes, named after it (``w.m``); step counters are shared int64 scalars.
Hyper-parameters may be numbers or symbolic scalars (an input, a shared variable: for
schedules). New values keep their parameter's dtype: a float32 model trains in float32,
with the few scalar coefficients (bias corrections) computed in float64 and cast.
"""
from __future__ import annotations

import numbers
from collections import OrderedDict
from typing import Sequence, TypeAlias

import numpy as np

from .grad import grad
from .graph import Variable
from .tensor import abs_, clip, maximum, sqrt, sum as sum_
from .types import FLOATS
from .variable import SharedVariable, TensorVariable, as_tensor, shared

Updates: TypeAlias = "OrderedDict[SharedVariable, TensorVariable]"


def get_or_compute_grads(loss_or_grads, params: Sequence[SharedVariable]
                         ) -> list[TensorVariable]:
    """The gradients of ``loss_or_grads`` (a scalar loss) with respect to ``params``, or
    ``loss_or_grads`` itself when it is a list of one gradient expression per parameter
    (checked: one each, of the parameter's rank). ``params`` must be float shared
    variables.

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.ones(2), name="w")
    >>> get_or_compute_grads((3 * w).sum(), [w])[0].eval().tolist()
    [3.0, 3.0]
    """
    params = _check_params(params)
    if isinstance(loss_or_grads, (list, tuple)):
        if len(loss_or_grads) != len(params):
            raise ValueError(f"got {len(loss_or_grads)} gradient expressions for "
                             f"{len(params)} parameters {params}: give one per parameter")
        grads = [as_tensor(g) for g in loss_or_grads]
        for p, g in zip(params, grads):
            if g.ndim != p.ndim or g.dtype not in FLOATS:
                raise TypeError(f"the gradient given for {p!r} ({p.type}) has type {g.type}"
                                ": expected a float tensor of the parameter's rank")
        return grads
    if not isinstance(loss_or_grads, Variable) or loss_or_grads.ndim != 0:
        what = getattr(loss_or_grads, "type", type(loss_or_grads).__name__)
        raise TypeError(f"loss_or_grads must be a scalar loss expression or a list of "
                        f"gradient expressions, got {what}")
    return grad(loss_or_grads, params)


def _params_and_grads(loss_or_grads, params) -> tuple[list[SharedVariable], list]:
    """``params`` as a list, checked, and their gradients, each in its parameter's dtype
    (so that no new value is upcast)."""
    params = _check_params(params)
    grads = get_or_compute_grads(loss_or_grads, params)
    return params, [_as(g, p.dtype) for p, g in zip(params, grads)]


def _check_params(params) -> list[SharedVariable]:
    if isinstance(params, SharedVariable):
        params = [params]
    params = list(params)
    for p in params:
        if not isinstance(p, SharedVariable):
            raise TypeError(f"params must be shared variables (sg.shared), got {p!r} of "
                            f"type {type(p).__name__}: an expression has no value to update")
        if p.dtype not in FLOATS:
            raise TypeError(f"parameter {p!r} has type {p.type}: only float parameters "
                            "can be trained")
    if len({id(p) for p in params}) != len(params):
        raise ValueError(f"params lists a shared variable twice: {params}")
    return params


def _hyper(value, dtype: str, what: str):
    """A hyper-parameter for arithmetic with ``dtype`` tensors: a symbolic scalar cast to
    ``dtype``, or a plain Python float (weak: it takes the tensor's dtype, where a numpy
    float64 would upcast a float32 graph)."""
    if isinstance(value, Variable):
        if value.ndim != 0:
            raise TypeError(f"{what} must be a scalar, got {value!r} of type {value.type}")
        return value.astype(dtype) if value.dtype != dtype else value
    if isinstance(value, numbers.Real) or (isinstance(value, np.ndarray) and value.ndim == 0):
        return float(value)
    raise TypeError(f"{what} must be a number or a symbolic scalar, got {value!r}")


def _as(x, dtype: str):
    """``x`` (a scalar coefficient, symbolic or a Python float) in ``dtype``."""
    return x.astype(dtype) if isinstance(x, Variable) and x.dtype != dtype else x


def _state(param: SharedVariable, suffix: str) -> SharedVariable:
    """Zeros like ``param`` (dtype, shape, broadcastable axes), named ``<param>.<suffix>``."""
    # a copy: a borrowed value would make the parameter's next update a new array
    shape = param.get_value().shape
    return shared(np.zeros(shape, dtype=param.dtype), f"{param.name or 'param'}.{suffix}",
                  broadcastable=tuple(s == 1 for s in param.type.shape))


def _step_counter(name: str) -> tuple[SharedVariable, TensorVariable, TensorVariable]:
    """A shared int64 step counter ``t`` (0 before the first step), its value in this
    step ``t + 1``, and that as a float64 scalar."""
    t_prev = shared(np.int64(0), name=name)
    t = t_prev + 1
    return t_prev, t, t.astype("float64")


def sgd(loss_or_grads, params, learning_rate) -> Updates:
    """Stochastic gradient descent: ``param - learning_rate * grad``.

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.array([1.0, 2.0]), name="w")
    >>> step = sg.function([], updates=sgd((w ** 2).sum(), [w], learning_rate=0.25))
    >>> _ = step()
    >>> w.get_value().tolist()
    [0.5, 1.0]
    """
    params, grads = _params_and_grads(loss_or_grads, params)
    updates = OrderedDict()
    for p, g in zip(params, grads):
        updates[p] = p - _hyper(learning_rate, p.dtype, "learning_rate") * g
    return updates


def apply_momentum(updates, params=None, momentum: float = 0.9) -> Updates:
    """Classical momentum on top of ``updates`` (a dict from :func:`sgd`, say): for each of
    ``params`` (default: all keys) a velocity ``v`` (zeros, ``<param>.velocity``) and

        v' = momentum * v + (updates[param] - param);   param' = param + v'

    Returns a new ``OrderedDict``; ``updates`` is left as it was.

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.array([1.0]), name="w")
    >>> list(apply_momentum(sgd(w.sum(), [w], 0.5)))
    [w, w.velocity]
    """
    updates = OrderedDict(updates)
    for p in _updated(updates, params):
        velocity = _state(p, "velocity")
        v = _hyper(momentum, p.dtype, "momentum") * velocity + (updates[p] - p)
        updates[velocity] = v
        updates[p] = p + v
    return updates


def _updated(updates, params) -> list[SharedVariable]:
    """The parameters momentum applies to: ``params``, each a key of ``updates``, or
    all the keys."""
    params = _check_params(updates.keys() if params is None else params)
    missing = [p for p in params if p not in updates]
    if missing:
        raise ValueError(f"apply momentum: {missing} have no entry in updates, which "
                         f"updates {list(updates)}")
    return params


def momentum(loss_or_grads, params, learning_rate, momentum: float = 0.9) -> Updates:
    """SGD with classical momentum (Polyak): ``v' = momentum * v - learning_rate * grad``,
    ``param' = param + v'``.

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.array([1.0]), name="w")
    >>> list(momentum(w.sum(), [w], learning_rate=0.1))
    [w, w.velocity]
    """
    params = _check_params(params)
    return apply_momentum(sgd(loss_or_grads, params, learning_rate), params, momentum)


def apply_nesterov_momentum(updates, params=None, momentum: float = 0.9) -> Updates:
    """Nesterov momentum on top of ``updates`` (Sutskever et al. 2013 in Lasagne's form):
    with ``step = updates[param] - param``,

        v' = momentum * v + step;   param' = param + momentum * v' + step

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.array([1.0]), name="w")
    >>> list(apply_nesterov_momentum(sgd(w.sum(), [w], 0.5)))
    [w, w.velocity]
    """
    updates = OrderedDict(updates)
    for p in _updated(updates, params):
        velocity = _state(p, "velocity")
        mu = _hyper(momentum, p.dtype, "momentum")
        step = updates[p] - p
        v = mu * velocity + step
        updates[velocity] = v
        updates[p] = p + mu * v + step
    return updates


def nesterov_momentum(loss_or_grads, params, learning_rate,
                      momentum: float = 0.9) -> Updates:
    """SGD with Nesterov momentum: ``v' = momentum * v - learning_rate * grad``,
    ``param' = param + momentum * v' - learning_rate * grad``.

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.array([1.0]), name="w")
    >>> list(nesterov_momentum(w.sum(), [w], learning_rate=0.1))
    [w, w.velocity]
    """
    params = _check_params(params)
    return apply_nesterov_momentum(sgd(loss_or_grads, params, learning_rate), params,
                                   momentum)


def adagrad(loss_or_grads, params, learning_rate: float = 1.0,
            epsilon: float = 1e-6) -> Updates:
    """Adagrad (Duchi et al. 2011): ``a' = a + grad**2``,
    ``param' = param - learning_rate * grad / sqrt(a' + epsilon)``.

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.array([1.0]), name="w")
    >>> list(adagrad(w.sum(), [w]))
    [w.accu, w]
    """
    params, grads = _params_and_grads(loss_or_grads, params)
    updates = OrderedDict()
    for p, g in zip(params, grads):
        accu = _state(p, "accu")
        a = accu + g * g
        updates[accu] = a
        updates[p] = p - _hyper(learning_rate, p.dtype, "learning_rate") * g / sqrt(
            a + _hyper(epsilon, p.dtype, "epsilon"))
    return updates


def rmsprop(loss_or_grads, params, learning_rate: float = 1.0, rho: float = 0.9,
            epsilon: float = 1e-6) -> Updates:
    """RMSProp (Tieleman and Hinton 2012): ``a' = rho * a + (1 - rho) * grad**2``,
    ``param' = param - learning_rate * grad / sqrt(a' + epsilon)``.

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.array([1.0]), name="w")
    >>> list(rmsprop(w.sum(), [w], learning_rate=0.01))
    [w.accu, w]
    """
    params, grads = _params_and_grads(loss_or_grads, params)
    updates = OrderedDict()
    for p, g in zip(params, grads):
        accu = _state(p, "accu")
        r = _hyper(rho, p.dtype, "rho")
        a = r * accu + (1 - r) * (g * g)
        updates[accu] = a
        updates[p] = p - _hyper(learning_rate, p.dtype, "learning_rate") * g / sqrt(
            a + _hyper(epsilon, p.dtype, "epsilon"))
    return updates


def adadelta(loss_or_grads, params, learning_rate: float = 1.0, rho: float = 0.95,
             epsilon: float = 1e-6) -> Updates:
    """Adadelta (Zeiler 2012): ``a' = rho * a + (1 - rho) * grad**2``,
    ``u = grad * sqrt(d + epsilon) / sqrt(a' + epsilon)``, ``param' = param -
    learning_rate * u``, ``d' = rho * d + (1 - rho) * u**2``.

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.array([1.0]), name="w")
    >>> list(adadelta(w.sum(), [w]))
    [w.accu, w, w.delta_accu]
    """
    params, grads = _params_and_grads(loss_or_grads, params)
    updates = OrderedDict()
    for p, g in zip(params, grads):
        accu, delta_accu = _state(p, "accu"), _state(p, "delta_accu")
        r, eps = _hyper(rho, p.dtype, "rho"), _hyper(epsilon, p.dtype, "epsilon")
        a = r * accu + (1 - r) * (g * g)
        u = g * sqrt(delta_accu + eps) / sqrt(a + eps)
        updates[accu] = a
        updates[p] = p - _hyper(learning_rate, p.dtype, "learning_rate") * u
        updates[delta_accu] = r * delta_accu + (1 - r) * (u * u)
    return updates


def _moments(p, g, beta1, beta2, updates):
    """Adam's first and second moment estimates of ``p`` for this step, their state
    variables (``<p>.m``, ``<p>.v``) entered in ``updates``."""
    m_prev, v_prev = _state(p, "m"), _state(p, "v")
    b1, b2 = _hyper(beta1, p.dtype, "beta1"), _hyper(beta2, p.dtype, "beta2")
    m = b1 * m_prev + (1 - b1) * g
    v = b2 * v_prev + (1 - b2) * (g * g)
    updates[m_prev], updates[v_prev] = m, v
    return m, v


def adam(loss_or_grads, params, learning_rate: float = 0.001, beta1: float = 0.9,
         beta2: float = 0.999, epsilon: float = 1e-8) -> Updates:
    """Adam (Kingma and Ba 2015) in the paper's efficient form (its section 2, as
    Lasagne): with the step ``t`` counted from 1,

        m' = beta1 * m + (1 - beta1) * grad;   v' = beta2 * v + (1 - beta2) * grad**2
        a_t = learning_rate * sqrt(1 - beta2**t) / (1 - beta1**t)
        param' = param - a_t * m' / (sqrt(v') + epsilon)

    State: ``<param>.m``, ``<param>.v`` and the step counter ``adam.t``.

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.array([1.0]), name="w")
    >>> ups = adam(w.sum(), [w], learning_rate=0.5)
    >>> _ = sg.function([], updates=ups)()
    >>> w.get_value().round(6).tolist()      # the first step moves by learning_rate
    [0.5]
    """
    return _adam(loss_or_grads, params, learning_rate, beta1, beta2, epsilon, None, "adam")


def adamw(loss_or_grads, params, learning_rate: float = 0.001, beta1: float = 0.9,
          beta2: float = 0.999, epsilon: float = 1e-8,
          weight_decay: float = 0.01) -> Updates:
    """Adam with decoupled weight decay (Loshchilov and Hutter 2019), with the decay
    scaled by the learning rate as PyTorch's ``AdamW`` and ``optax.adamw`` do: :func:`adam`'s
    step, and ``param`` shrunk by ``learning_rate * weight_decay * param``,

        param' = param * (1 - learning_rate * weight_decay) - a_t * m' / (sqrt(v') + epsilon)

    The decay does not go through the moments (that is the difference from an L2 term
    in the loss). State: ``<param>.m``, ``<param>.v``, ``adamw.t``.

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.array([2.0]), name="w")
    >>> ups = adamw([sg.constant(np.zeros(1))], [w], learning_rate=0.5, weight_decay=0.1)
    >>> _ = sg.function([], updates=ups)()
    >>> w.get_value().tolist()
    [1.9]
    """
    return _adam(loss_or_grads, params, learning_rate, beta1, beta2, epsilon, weight_decay,
                 "adamw")


def _adam(loss_or_grads, params, learning_rate, beta1, beta2, epsilon, weight_decay,
          name) -> Updates:
    params, grads = _params_and_grads(loss_or_grads, params)
    t_prev, t, tf = _step_counter(f"{name}.t")
    lr = _hyper(learning_rate, "float64", "learning_rate")
    b1, b2 = _hyper(beta1, "float64", "beta1"), _hyper(beta2, "float64", "beta2")
    a_t = lr * sqrt(1 - b2 ** tf) / (1 - b1 ** tf)
    updates = OrderedDict()
    for p, g in zip(params, grads):
        m, v = _moments(p, g, beta1, beta2, updates)
        step = _as(a_t, p.dtype) * m / (sqrt(v) + _hyper(epsilon, p.dtype, "epsilon"))
        if weight_decay is None:
            updates[p] = p - step
        else:
            keep = 1 - _as(lr * _hyper(weight_decay, "float64", "weight_decay"), p.dtype)
            updates[p] = p * keep - step
    updates[t_prev] = t
    return updates


def amsgrad(loss_or_grads, params, learning_rate: float = 0.001, beta1: float = 0.9,
            beta2: float = 0.999, epsilon: float = 1e-8) -> Updates:
    """AMSGrad (Reddi et al. 2018) as Lasagne has it: :func:`adam` with the running
    maximum ``v_hat' = maximum(v_hat, v')`` in place of ``v'`` in the step (bias
    correction kept): ``param' = param - a_t * m' / (sqrt(v_hat') + epsilon)``.
    State: ``<param>.m``, ``<param>.v``, ``<param>.v_hat``, ``amsgrad.t``.

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.array([1.0]), name="w")
    >>> list(amsgrad(w.sum(), [w]))
    [w.m, w.v, w.v_hat, w, amsgrad.t]
    """
    params, grads = _params_and_grads(loss_or_grads, params)
    t_prev, t, tf = _step_counter("amsgrad.t")
    lr = _hyper(learning_rate, "float64", "learning_rate")
    b1, b2 = _hyper(beta1, "float64", "beta1"), _hyper(beta2, "float64", "beta2")
    a_t = lr * sqrt(1 - b2 ** tf) / (1 - b1 ** tf)
    updates = OrderedDict()
    for p, g in zip(params, grads):
        m, v = _moments(p, g, beta1, beta2, updates)
        v_hat_prev = _state(p, "v_hat")
        v_hat = maximum(v_hat_prev, v)
        updates[v_hat_prev] = v_hat
        updates[p] = p - _as(a_t, p.dtype) * m / (
            sqrt(v_hat) + _hyper(epsilon, p.dtype, "epsilon"))
    updates[t_prev] = t
    return updates


def adamax(loss_or_grads, params, learning_rate: float = 0.002, beta1: float = 0.9,
           beta2: float = 0.999, epsilon: float = 1e-8) -> Updates:
    """Adamax (Kingma and Ba 2015, algorithm 2, with Lasagne's ``epsilon``):

        m' = beta1 * m + (1 - beta1) * grad;   u' = maximum(beta2 * u, abs(grad))
        param' = param - learning_rate / (1 - beta1**t) * m' / (u' + epsilon)

    State: ``<param>.m``, ``<param>.u``, ``adamax.t``.

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.array([1.0]), name="w")
    >>> list(adamax(w.sum(), [w]))
    [w.m, w.u, w, adamax.t]
    """
    params, grads = _params_and_grads(loss_or_grads, params)
    t_prev, t, tf = _step_counter("adamax.t")
    lr = _hyper(learning_rate, "float64", "learning_rate")
    a_t = lr / (1 - _hyper(beta1, "float64", "beta1") ** tf)
    updates = OrderedDict()
    for p, g in zip(params, grads):
        m_prev, u_prev = _state(p, "m"), _state(p, "u")
        b1, b2 = _hyper(beta1, p.dtype, "beta1"), _hyper(beta2, p.dtype, "beta2")
        m = b1 * m_prev + (1 - b1) * g
        u = maximum(b2 * u_prev, abs_(g))
        updates[m_prev], updates[u_prev] = m, u
        updates[p] = p - _as(a_t, p.dtype) * m / (u + _hyper(epsilon, p.dtype, "epsilon"))
    updates[t_prev] = t
    return updates


def nadam(loss_or_grads, params, learning_rate: float = 0.002, beta1: float = 0.9,
          beta2: float = 0.999, epsilon: float = 1e-8,
          momentum_decay: float = 0.004) -> Updates:
    """Nadam (Dozat 2016, "Incorporating Nesterov momentum into Adam") as PyTorch's
    ``NAdam`` and Keras 2's ``Nadam`` compute it, with their momentum schedule
    ``mu_t = beta1 * (1 - 0.5 * 0.96**(t * momentum_decay))`` and its running product
    ``P_t = mu_1 ... mu_t``:

        m' = beta1 * m + (1 - beta1) * grad;   v' = beta2 * v + (1 - beta2) * grad**2
        d = sqrt(v' / (1 - beta2**t)) + epsilon
        param' = param - learning_rate * ((1 - mu_t) / (1 - P_t) * grad / d
                                          + mu_{t+1} / (1 - P_t * mu_{t+1}) * m' / d)

    State: ``<param>.m``, ``<param>.v``, the counter ``nadam.t`` and the float64 scalar
    ``nadam.mu_product`` (``P``, 1 before the first step).

    >>> import numpy as np, symgraph as sg
    >>> w = sg.shared(np.array([1.0]), name="w")
    >>> list(nadam(w.sum(), [w]))
    [w.m, w.v, w, nadam.t, nadam.mu_product]
    """
    params, grads = _params_and_grads(loss_or_grads, params)
    t_prev, t, tf = _step_counter("nadam.t")
    lr = _hyper(learning_rate, "float64", "learning_rate")
    b1, b2 = _hyper(beta1, "float64", "beta1"), _hyper(beta2, "float64", "beta2")
    decay = _hyper(momentum_decay, "float64", "momentum_decay")
    mu = b1 * (1 - 0.5 * 0.96 ** (tf * decay))
    mu_next = b1 * (1 - 0.5 * 0.96 ** ((tf + 1) * decay))
    product_prev = shared(np.float64(1.0), name="nadam.mu_product")
    product = product_prev * mu
    c_grad = lr * (1 - mu) / (1 - product)
    c_m = lr * mu_next / (1 - product * mu_next)
    correction2 = 1 - b2 ** tf
    updates = OrderedDict()
    for p, g in zip(params, grads):
        m, v = _moments(p, g, beta1, beta2, updates)
        d = sqrt(v / _as(correction2, p.dtype)) + _hyper(epsilon, p.dtype, "epsilon")
        updates[p] = p - _as(c_grad, p.dtype) * g / d - _as(c_m, p.dtype) * m / d
    updates[t_prev], updates[product_prev] = t, product
    return updates


def norm_constraint(tensor_var, max_norm, norm_axes=None, epsilon: float = 1e-7):
    """``tensor_var`` rescaled so that its norms over ``norm_axes`` are at most
    ``max_norm`` (Lasagne's): by default the norm of each column of a dense weight
    ``(n_in, n_out)`` (axis 0) and of each filter of a convolution weight
    ``(out, in, ...)`` (all axes but the first). Other ranks need ``norm_axes``.

    >>> import numpy as np, symgraph as sg
    >>> w = sg.dmatrix("w")
    >>> norm_constraint(w, 1.0).eval({w: np.array([[3.0, 0.3], [4.0, 0.4]])}).round(6).tolist()
    [[0.6, 0.3], [0.8, 0.4]]
    """
    x = as_tensor(tensor_var)
    if norm_axes is not None:
        axes = tuple(norm_axes) if isinstance(norm_axes, (list, tuple)) else (norm_axes,)
    elif x.ndim == 2:
        axes = (0,)
    elif x.ndim in (3, 4, 5):
        axes = tuple(range(1, x.ndim))
    else:
        raise ValueError(f"norm_constraint: no default norm axes for a tensor of rank "
                         f"{x.ndim} ({x.type}): give norm_axes")
    norms = sqrt(sum_(x * x, axis=axes, keepdims=True))
    target = clip(norms, 0, _hyper(max_norm, x.dtype, "max_norm"))
    return x * (target / (_hyper(epsilon, x.dtype, "epsilon") + norms))


def total_norm_constraint(tensor_vars, max_norm, epsilon: float = 1e-7,
                          return_norm: bool = False):
    """``tensor_vars`` (gradients, typically) scaled together so that their joint L2
    norm is at most ``max_norm`` (gradient clipping by global norm, Lasagne's): each is
    multiplied by ``min(norm, max_norm) / (norm + epsilon)``. With ``return_norm`` also
    the norm before scaling.

    >>> import numpy as np, symgraph as sg
    >>> a, b = sg.dvector("a"), sg.dvector("b")
    >>> (sa, sb), norm = total_norm_constraint([a, b], 1.0, return_norm=True)
    >>> feed = {a: np.array([3.0]), b: np.array([4.0])}
    >>> float(norm.eval(feed)), round(float(sa.eval(feed)[0]), 6)
    (5.0, 0.6)
    """
    tensors = [as_tensor(v) for v in tensor_vars]
    if not tensors:
        raise ValueError("total_norm_constraint: tensor_vars is empty")
    for v in tensors:
        if v.dtype not in FLOATS:
            raise TypeError(f"total_norm_constraint: {v!r} has type {v.type}, expected a "
                            "float tensor")
    norm = sqrt(sum(sum_(v * v) for v in tensors))
    multiplier = clip(norm, 0, _hyper(max_norm, norm.dtype, "max_norm")) / (
        _hyper(epsilon, norm.dtype, "epsilon") + norm)
    scaled = [v * _as(multiplier, v.dtype) for v in tensors]
    return (scaled, norm) if return_norm else scaled


__all__ = ["adadelta", "adagrad", "adam", "adamax", "adamw", "amsgrad", "apply_momentum",
           "apply_nesterov_momentum", "get_or_compute_grads", "momentum", "nadam",
           "nesterov_momentum", "norm_constraint", "rmsprop", "sgd", "total_norm_constraint"]
