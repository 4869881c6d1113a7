"""Small helpers for writing rewrites: recognize elementwise ops and scalar constants."""
from __future__ import annotations

import numpy as np

from ..graph import Constant, Variable
from ..ops.elemwise import Elemwise, cast
from ..ops.shape import DimShuffle
from ..variable import constant


def ew(v: Variable, *names: str):
    """``v``'s node if it is an elementwise op named one of ``names``, else None."""
    node = v.owner
    if node is not None and isinstance(node.op, Elemwise) and node.op.scalar.name in names:
        return node
    return None


def scalar_value(v: Variable):
    """The value of ``v`` if it is a constant whose elements are all equal (seen through
    broadcast-only dimshuffles), else None."""
    while v.owner is not None and isinstance(v.owner.op, DimShuffle) and \
            sorted(p for p in v.owner.op.pattern if p != "x") == list(range(v.owner.inputs[0].ndim)):
        v = v.owner.inputs[0]
    if not isinstance(v, Constant):
        return None
    got = v.__dict__.get("_scalar_value", _UNKNOWN)   # the data is read-only: ask once
    if got is _UNKNOWN:
        got = v.__dict__["_scalar_value"] = _scalar(v.data)
    return got


_UNKNOWN = object()


def _scalar(data: np.ndarray):
    if data.size == 0:
        return None
    flat = data.reshape(-1)
    first = flat[0]
    if not (flat == first).all():
        return None
    return first.item()


def is_const(v: Variable, value) -> bool:
    """``v`` is a constant equal to ``value`` everywhere (NaN never matches)."""
    s = scalar_value(v)
    return s is not None and not isinstance(s, bool) and s == value or \
        (isinstance(s, bool) and s is value)


def same_shape(x: Variable, out: Variable) -> bool:
    """``x`` has the run-time shape of ``out``: same rank, same static-1 axes (for inputs
    of an elementwise node producing ``out``)."""
    return x.ndim == out.ndim and x.type.broadcastable == out.type.broadcastable


def as_type_of(x: Variable, out: Variable) -> Variable:
    """``x`` cast to ``out``'s dtype."""
    return cast(x, out.dtype)


def const_like(value, out: Variable) -> Variable:
    """A constant of ``out``'s dtype and rank (broadcastable on every axis)."""
    return constant(np.full((1,) * out.ndim, value, dtype=out.dtype))
