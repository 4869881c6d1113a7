"""Reverse-mode differentiation: the gradient is more graph, built from each op's ``grad``.

>>> import symgraph as sg, numpy as np
>>> x = sg.dvector("x")
>>> g = sg.grad((x ** 2).sum(), x)
>>> g.eval({x: np.array([1.0, 2.0])}).tolist()
[2.0, 4.0]
"""
from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np

from .graph import Apply, Op, Variable, clone_replace, toposort
from .types import FLOATS, TensorType


class DisconnectedInputError(ValueError):
    """``grad`` was asked for a variable the cost does not depend on."""


class GradientError(AssertionError):
    """:func:`verify_grad` found the symbolic and numeric gradients disagree."""


class StopGradient(Op):
    """Identity whose gradient is zero (JAX's ``stop_gradient``)."""

    def make_node(self, x: Variable) -> Apply:
        return Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        # a view, not the array itself: a returned output is copied when it is a view,
        # so an intermediate buffer never leaves a function through this identity
        return [inputs[0].view()]

    def grad(self, inputs, outputs, output_grads):
        from .tensor import zeros_like
        return [zeros_like(inputs[0]) if inputs[0].dtype in FLOATS else None]


def stop_gradient(x) -> Variable:
    """``x``, with no gradient flowing back through it."""
    return StopGradient()(x)


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
    from .tensor import as_tensor, cast, ones_like, zeros_like
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
    seeds: dict[int, Variable] = {}
    roots: list[Variable] = []
    if cost is not None:
        if not isinstance(cost, Variable):
            raise TypeError(f"grad: cost must be a symbolic variable, got {type(cost).__name__}")
        if cost.ndim != 0:
            raise TypeError(f"grad: cost must be a scalar, got {cost.type}; use sum() or "
                            "mean(), or sg.jacobian / sg.Lop for non-scalar outputs")
        if cost.dtype not in FLOATS:
            raise TypeError(f"grad: cost must be a float scalar, got {cost.type}")
        if not known_grads and not consider_constant:
            from .rewrite.stabilize import stabilize_graph
            (cost,) = stabilize_graph([cost], keep=wrt_list)
        seeds[id(cost)] = ones_like(cost)
        roots.append(cost)
    for v, g in (known_grads or {}).items():
        g = as_tensor(g)
        if g.ndim != v.ndim:
            raise TypeError(f"known_grads: gradient for {v!r} {v.type} has type {g.type}")
        seeds[id(v)] = cast(g, v.dtype)
        roots.append(v)
    if not roots:
        raise ValueError("grad: give a cost or known_grads")

    stop = {id(v) for v in (consider_constant or [])}
    nodes = toposort(roots)
    # which variables lie on a path from a wrt variable (forward reachability)
    reach = {id(w) for w in wrt_list}
    for node in nodes:
        if any(id(i) in reach and id(i) not in stop for i in node.inputs):
            reach.update(id(o) for o in node.outputs)

    contribs: dict[int, list[Variable]] = {k: [v] for k, v in seeds.items()}
    total: dict[int, Variable] = {}

    def summed(v: Variable) -> Variable | None:
        if id(v) not in total and contribs.get(id(v)):
            parts = contribs[id(v)]
            acc = parts[0]
            for p in parts[1:]:
                acc = acc + p
            total[id(v)] = cast(acc, v.dtype)
        return total.get(id(v))

    for node in reversed(nodes):
        if not any(id(i) in reach and id(i) not in stop for i in node.inputs):
            continue
        out_grads = [summed(o) for o in node.outputs]
        if all(g is None for g in out_grads):
            continue
        in_grads = node.op.grad(list(node.inputs), list(node.outputs), out_grads)
        if len(in_grads) != len(node.inputs):
            raise RuntimeError(f"{node.op}.grad returned {len(in_grads)} gradients for "
                               f"{len(node.inputs)} inputs")
        for inp, g in zip(node.inputs, in_grads):
            if g is None or id(inp) not in reach or id(inp) in stop \
                    or inp.dtype not in FLOATS:
                continue
            g = as_tensor(g)
            if g.ndim != inp.ndim:
                raise RuntimeError(f"{node.op}.grad gave a rank-{g.ndim} gradient for the "
                                   f"rank-{inp.ndim} input {inp!r}")
            contribs.setdefault(id(inp), []).append(g)

    results = []
    for w in wrt_list:
        g = summed(w)
        if g is None:
            msg = (f"grad: the cost does not depend on {w!r} ({w.type}); pass "
                   "disconnected_inputs='ignore' or 'warn' to get zeros")
            if disconnected_inputs == "raise":
                raise DisconnectedInputError(msg)
            if disconnected_inputs == "warn":
                warnings.warn(msg, stacklevel=2)
            g = zeros_like(w)
        results.append(g)
    return results if was_list else results[0]


def _static_size(v: Variable, what: str) -> int:
    if any(s is None for s in v.type.shape):
        raise ValueError(f"{what} needs the static size of {v!r} ({v.type}) while building: "
                         "declare it, e.g. sg.tensor('x', 'float64', shape=(3,)), or use "
                         "sg.Lop for one row at a time")
    return int(np.prod(v.type.shape))


def jacobian(expression: Variable, wrt, consider_constant=None,
             disconnected_inputs: str = "raise"):
    """d expression / d wrt, shaped ``expression.shape + wrt.shape`` (one reverse pass per
    element of ``expression``, whose size must be known while building)."""
    from .ops.shape import reshape, stack
    wrt_list, was_list = _as_list(wrt)
    n = _static_size(expression, "jacobian")
    flat = reshape(expression, (-1,)) if expression.ndim != 1 else expression
    rows = [grad(flat[i], wrt_list, consider_constant, disconnected_inputs)
            for i in range(n)]
    out = []
    for j, w in enumerate(wrt_list):
        if n == 0:
            from .tensor import constant
            out.append(constant(np.zeros(expression.type.shape + w.type.shape, w.dtype)))
            continue
        j_rows = stack([r[j] for r in rows])
        tail = [w.shape[a] if s is None else s for a, s in enumerate(w.type.shape)]
        out.append(reshape(j_rows, [*expression.type.shape, *tail]))
    return out if was_list else out[0]


def hessian(cost: Variable, wrt, consider_constant=None, disconnected_inputs: str = "raise"):
    """The matrix of second derivatives of the scalar ``cost`` for each vector in ``wrt``."""
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
    from .tensor import sum as tsum, zeros_like
    fs, f_list = _as_list(f)
    wrt_list, _ = _as_list(wrt)
    vs, _ = _as_list(eval_points)
    if len(wrt_list) != len(vs):
        raise ValueError(f"Rop: {len(wrt_list)} wrt but {len(vs)} eval_points")
    us = [TensorType(fi.dtype, fi.type.shape)(f"u_{fi}") for fi in fs]
    lops = Lop(fs, wrt_list, us, disconnected_inputs=disconnected_inputs)
    inner = _sum_all([tsum(l * v) for l, v in zip(lops, vs)])
    jvps = grad(inner, us, disconnected_inputs="ignore")
    jvps = clone_replace(jvps, {u: zeros_like(fi) for u, fi in zip(us, fs)})
    return jvps if f_list else jvps[0]


def _sum_all(terms: list[Variable]) -> Variable:
    acc = terms[0]
    for t in terms[1:]:
        acc = acc + t
    return acc


def verify_grad(fn: Callable, inputs: Sequence, n_tests: int = 2, rng=None,
                eps: float | None = None, abs_tol: float | None = None,
                rel_tol: float | None = None, backend: str | None = None) -> None:
    """Check ``grad`` of ``fn`` against central finite differences at ``inputs``.

    ``fn`` takes symbolic variables (one per array in ``inputs``) and returns a symbolic
    output of any shape; the check uses a random projection of it to a scalar. Raises
    :class:`GradientError` naming the input and the worst element on mismatch.

    >>> import symgraph as sg, numpy as np
    >>> sg.verify_grad(lambda x: sg.tanh(x) * x, [np.array([0.3, -1.2])])
    """
    from .function import function
    from .tensor import as_tensor
    rng = rng if rng is not None else np.random.default_rng(0)
    arrays = [np.array(a, dtype=np.asarray(a).dtype if np.asarray(a).dtype.kind == "f"
                       else "float64", copy=True) for a in inputs]
    dt = "float32" if any(a.dtype == np.float32 for a in arrays) else "float64"
    eps = eps if eps is not None else (1e-3 if dt == "float32" else 1e-6)
    abs_tol = abs_tol if abs_tol is not None else (3e-2 if dt == "float32" else 1e-5)
    rel_tol = rel_tol if rel_tol is not None else (3e-2 if dt == "float32" else 1e-5)
    syms = [TensorType(a.dtype, (None,) * a.ndim)(f"input{i}") for i, a in enumerate(arrays)]
    out = as_tensor(fn(*syms))
    if out.dtype not in FLOATS:
        raise TypeError(f"verify_grad: fn must return a float tensor, got {out.type}")
    proj_sym = TensorType(out.dtype, (None,) * out.ndim)("projection")
    cost = (out * proj_sym).sum() if out.ndim else out * proj_sym
    grads = grad(cost, syms, disconnected_inputs="ignore")
    f_cost = function([*syms, proj_sym], cost, backend=backend)
    f_grad = function([*syms, proj_sym], grads, backend=backend)
    for _ in range(n_tests):
        out_shape = function(syms, out, backend=backend)(*arrays).shape
        proj = rng.uniform(0.5, 1.5, size=out_shape).astype(out.dtype)
        # CUDA functions return device arrays: compare on the host
        symbolic = [g if isinstance(g, np.ndarray) else g.get() for g in f_grad(*arrays, proj)]
        for i, a in enumerate(arrays):
            numeric = np.zeros(a.shape, dtype="float64")
            flat = a.reshape(-1)
            for j in range(flat.size):
                orig = flat[j]
                flat[j] = orig + eps
                up = float(f_cost(*arrays, proj))
                flat[j] = orig - eps
                down = float(f_cost(*arrays, proj))
                flat[j] = orig
                numeric.reshape(-1)[j] = (up - down) / (2 * eps)
            err = np.abs(symbolic[i] - numeric)
            bad = err > abs_tol + rel_tol * np.abs(numeric)
            if bad.any() or not np.isfinite(symbolic[i]).all():
                j = int(np.argmax(np.where(np.isfinite(err), err, np.inf)))
                raise GradientError(
                    f"verify_grad: input {i} (shape {a.shape}): symbolic gradient "
                    f"{symbolic[i].reshape(-1)[j]!r} vs finite difference "
                    f"{numeric.reshape(-1)[j]!r} at flat index {j} (abs error "
                    f"{err.reshape(-1)[j]:.3g}, tolerance abs {abs_tol} + rel {rel_tol})")
