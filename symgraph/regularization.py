"""Penalties to add to a loss, Lasagne's ``lasagne.regularization``: ``l1``, ``l2`` and
``apply_penalty`` over a list of tensors.

>>> import numpy as np, symgraph as sg
>>> from symgraph import regularization
>>> w = sg.shared(np.array([[1.0, -2.0]]), name="w")
>>> b = sg.shared(np.array([3.0]), name="b")
>>> float(regularization.apply_penalty([w, b], regularization.l2).eval())
14.0
"""
from __future__ import annotations

from typing import Callable

from .graph import Variable
from .tensor import abs_, sum as sum_
from .types import FLOATS
from .variable import TensorVariable, as_tensor


def _float(x, what: str) -> TensorVariable:
    x = as_tensor(x)
    if x.dtype not in FLOATS:
        raise TypeError(f"{what}: expected a float tensor, got {x!r} of type {x.type}")
    return x


def l1(x) -> TensorVariable:
    """The sum of absolute values of ``x`` (a scalar).

    >>> import numpy as np
    >>> float(l1(np.array([1.5, -2.0])).eval())
    3.5
    """
    return sum_(abs_(_float(x, "l1")))


def l2(x) -> TensorVariable:
    """The sum of squares of ``x`` (not halved, as Lasagne: ``λ * l2(w)`` adds
    ``2 λ w`` to the gradient).

    >>> import numpy as np
    >>> float(l2(np.array([1.5, -2.0])).eval())
    6.25
    """
    x = _float(x, "l2")
    return sum_(x * x)


def apply_penalty(tensor_or_tensors, penalty: Callable[..., TensorVariable],
                  **kwargs) -> TensorVariable:
    """``penalty(x, **kwargs)`` of a tensor, or the sum of it over a list of tensors."""
    if not callable(penalty):
        raise TypeError(f"apply_penalty: penalty must be a function such as l2, got "
                        f"{penalty!r}")
    if isinstance(tensor_or_tensors, Variable):
        return penalty(tensor_or_tensors, **kwargs)
    tensors = list(tensor_or_tensors)
    if not tensors:
        raise ValueError("apply_penalty: no tensors to penalize (an empty list)")
    return sum(penalty(x, **kwargs) for x in tensors)


__all__ = ["apply_penalty", "l1", "l2"]
