"""Reverse-mode differentiation: the gradient is more graph, built from each op's ``grad``.

>>> import symgraph as sg, numpy as np
>>> x = sg.dvector("x")
>>> g = sg.grad((x ** 2).sum(), x)
>>> g.eval({x: np.array([1.0, 2.0])}).tolist()
[2.0, 4.0]
"""
from __future__ import annotations

import warnings
from typing import Sequence

import numpy as np

from .backprop import backprop
from .compile.gc_pause import paused
from .graph import Variable, clone_replace
from .ops.constructors import arange
from .ops.elemwise import cast, ones_like, zeros_like
from .ops.shape import reshape, stack
from .scan import scan
from .types import FLOATS, TensorType
from .variable import as_tensor, constant


class DisconnectedInputError(ValueError):
    """``grad`` was asked for a variable the cost does not depend on."""


def _as_list(v) -> tuple[list, bool]:
    if isinstance(v, (list, tuple)):
        return list(v), True
    return [v], False


def grad(cost: Variable | None, wrt, consider_constant: Sequence[Variable] | None = None,
         disconnected_inputs: str = "raise",
         known_grads: dict[Variable, Variable] | None = None):
    """Gradient of the scalar ``cost`` with respect to ``wrt`` (a variable or a list).

    ``consider_constant``: variables treated as constants (no gradient through them).
    ``disconnected_inputs``: what to do when ``cost`` does not depend on a ``wrt`` variable:
    ``'raise'``, ``'warn'`` or ``'ignore'`` (both of the latter give zeros).
    ``known_grads``: ``{variable: its gradient}``, extra seeds (``cost`` may then be None).
    """
    with paused():      # the collector would walk every node built so far, many times
        return _grad(cost, wrt, consider_constant, disconnected_inputs, known_grads)


def _grad(cost, wrt, consider_constant, disconnected_inputs, known_grads):
    if disconnected_inputs not in ("raise", "warn", "ignore"):
        raise ValueError("disconnected_inputs must be 'raise', 'warn' or 'ignore', got "
                         f"{disconnected_inputs!r}")
    wrt_list, was_list = _as_list(wrt)
    for w in wrt_list:
        if not isinstance(w, Variable):
            raise TypeError(f"grad: wrt must hold symbolic variables, got {type(w).__name__}")
        if w.dtype not in FLOATS:
            raise TypeError(f"grad: cannot differentiate with respect to {w!r} of integer "
                            f"or bool type {w.type}")
    seeds: dict[Variable, Variable] = {}
    if cost is not None:
        if not isinstance(cost, Variable):
            raise TypeError(f"grad: cost must be a symbolic variable, got {type(cost).__name__}")
        if cost.ndim != 0:
            raise TypeError(f"grad: cost must be a scalar, got {cost.type}; use sum() or "
                            "mean(), or sg.jacobian / sg.Lop for non-scalar outputs")
        if cost.dtype not in FLOATS:
            raise TypeError(f"grad: cost must be a float scalar, got {cost.type}")
        if not known_grads and not consider_constant:
            from .rewrite.stabilize import stabilize_graph   # loaded at first use
            (cost,) = stabilize_graph([cost], keep=wrt_list)
        seeds[cost] = ones_like(cost)
    for v, g in (known_grads or {}).items():
        g = as_tensor(g)
        if g.ndim != v.ndim:
            raise TypeError(f"known_grads: gradient for {v!r} {v.type} has type {g.type}")
        seeds[v] = seeds[v] + cast(g, v.dtype) if v in seeds else cast(g, v.dtype)
    if not seeds:
        raise ValueError("grad: give a cost or known_grads")

    found = backprop(seeds, wrt_list, consider_constant or ())
    results = []
    for w, g in zip(wrt_list, found):
        if g is None:
            msg = (f"grad: the cost does not depend on {w!r} ({w.type}); pass "
                   "disconnected_inputs='ignore' or 'warn' to get zeros")
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(msg)
            if disconnected_inputs == "warn":
                warnings.warn(msg, stacklevel=3)
            g = zeros_like(w)
        results.append(g)
    return results if was_list else results[0]


def jacobian(expression: Variable, wrt, consider_constant=None,
             disconnected_inputs: str = "raise"):
    """d expression / d wrt, shaped ``expression.shape + wrt.shape``: one reverse pass per
    element of ``expression``, unrolled when its size is known while building, else a
    :func:`~symgraph.scan` over its elements (Theano's way), as the sizes come at run time.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> sg.jacobian(x ** 2, x).eval({x: np.array([1.0, 2.0])}).tolist()
    [[2.0, 0.0], [0.0, 4.0]]
    """
    wrt_list, was_list = _as_list(wrt)
    if any(s is None for s in expression.type.shape):
        out = _jacobian_scan(expression, wrt_list, consider_constant, disconnected_inputs)
        return out if was_list else out[0]
    n = int(np.prod(expression.type.shape))
    flat = reshape(expression, (-1,)) if expression.ndim != 1 else expression
    rows = [grad(flat[i], wrt_list, consider_constant, disconnected_inputs)
            for i in range(n)]
    out = []
    for j, w in enumerate(wrt_list):
        if n == 0:
            out.append(constant(np.zeros(expression.type.shape + w.type.shape, w.dtype)))
            continue
        j_rows = stack([r[j] for r in rows])
        tail = [w.shape[a] if s is None else s for a, s in enumerate(w.type.shape)]
        out.append(reshape(j_rows, [*expression.type.shape, *tail]))
    return out if was_list else out[0]


def _jacobian_scan(expression: Variable, wrt_list: list, consider_constant,
                   disconnected_inputs: str) -> list:
    """The jacobian's rows as a scan over the elements of ``expression`` (run-time size);
    the loop's push-out computes ``expression`` once, before the loop."""
    flat = reshape(expression, (-1,))
    rows, _ = scan(lambda i: grad(flat[i], wrt_list, consider_constant, disconnected_inputs),
                   sequences=arange(flat.shape[0]), name="jacobian", return_list=True)
    out = []
    for r, w in zip(rows, wrt_list):
        lead = [expression.shape[a] for a in range(expression.ndim)]
        tail = [w.shape[a] if s is None else s for a, s in enumerate(w.type.shape)]
        out.append(reshape(r, [*lead, *tail]))
    return out


def hessian(cost: Variable, wrt, consider_constant=None, disconnected_inputs: str = "raise"):
    """The matrix of second derivatives of the scalar ``cost`` for each vector in ``wrt``
    (through :func:`jacobian`: a scan when the vector's size is known at run time only)."""
    wrt_list, was_list = _as_list(wrt)
    out = []
    for w in wrt_list:
        if w.ndim != 1:
            raise TypeError(f"hessian: wrt must be vectors, got {w!r} {w.type}")
        g = grad(cost, w, consider_constant, disconnected_inputs)
        out.append(jacobian(g, w, consider_constant, disconnected_inputs))
    return out if was_list else out[0]


def Lop(f, wrt, eval_points, consider_constant=None, disconnected_inputs: str = "raise"):
    """Vector-Jacobian product: ``eval_points`` (shaped like ``f``) times d f / d wrt."""
    fs, _ = _as_list(f)
    vs, _ = _as_list(eval_points)
    if len(fs) != len(vs):
        raise ValueError(f"Lop: {len(fs)} outputs but {len(vs)} eval_points")
    seeds: dict[Variable, Variable] = {}
    for fi, v in zip(fs, vs):      # an output listed twice gets both seeds, not the last
        seeds[fi] = seeds[fi] + v if fi in seeds else v
    return grad(None, wrt, consider_constant, disconnected_inputs, known_grads=seeds)


def Rop(f, wrt, eval_points, disconnected_inputs: str = "raise"):
    """Jacobian-vector product: d f / d wrt times ``eval_points`` (shaped like ``wrt``).

    Built from two reverse passes: ``u -> Lop(f, wrt, u)`` is linear in ``u``, so its
    gradient with respect to ``u`` along ``eval_points`` is ``J @ eval_points``.
    """
    fs, f_list = _as_list(f)
    wrt_list, _ = _as_list(wrt)
    vs, _ = _as_list(eval_points)
    if len(wrt_list) != len(vs):
        raise ValueError(f"Rop: {len(wrt_list)} wrt but {len(vs)} eval_points")
    us = [TensorType(fi.dtype, fi.type.shape)(f"u_{fi}") for fi in fs]
    lops = Lop(fs, wrt_list, us, disconnected_inputs=disconnected_inputs)
    inner = _sum_all([(l * v).sum() for l, v in zip(lops, vs)])
    jvps = grad(inner, us, disconnected_inputs="ignore")
    jvps = clone_replace(jvps, {u: zeros_like(fi) for u, fi in zip(us, fs)})
    return jvps if f_list else jvps[0]


def _sum_all(terms: list[Variable]) -> Variable:
    acc = terms[0]
    for t in terms[1:]:
        acc = acc + t
    return acc
