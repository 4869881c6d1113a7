"""What tests of ops and gradients share: :func:`verify_grad`, the finite-difference check
of a symbolic gradient.

>>> import symgraph as sg, numpy as np
>>> sg.verify_grad(lambda x: sg.exp(x).sum(), [np.array([0.1, 0.2])])
"""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

from .compile.function import function
from .grad import grad
from .types import FLOATS, TensorType
from .variable import as_tensor


class GradientError(AssertionError):
    """:func:`verify_grad` found the symbolic and numeric gradients disagree."""


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
    rng = rng if rng is not None else np.random.default_rng(0)
    arrays = [np.array(a, dtype=np.asarray(a).dtype if np.asarray(a).dtype.kind == "f"
                       else "float64", copy=True, order="C") for a in inputs]
    dt = "float32" if any(a.dtype == np.float32 for a in arrays) else "float64"
    eps = eps if eps is not None else (1e-3 if dt == "float32" else 1e-6)
    abs_tol = abs_tol if abs_tol is not None else (3e-2 if dt == "float32" else 1e-5)
    rel_tol = rel_tol if rel_tol is not None else (3e-2 if dt == "float32" else 1e-5)
    # an axis of size 1 is declared broadcastable, as numpy would broadcast it
    syms = [TensorType(a.dtype, tuple(1 if d == 1 else None for d in a.shape))(f"input{i}")
            for i, a in enumerate(arrays)]
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
