"""The numpy-like user API: constructors of symbolic inputs and every tensor function, in
one namespace (``sg.exp``, ``sg.sum``, ``sg.fmatrix``, ...). It only gathers what the ops
define and builds typed inputs; the ops themselves live in :mod:`symgraph.ops`.

>>> import symgraph as sg
>>> x = sg.fmatrix("x")
>>> (x * 0.5 + 1).sum(axis=1).type
TensorType(float32, (?,))
"""
from __future__ import annotations

from typing import Sequence

from .config import config as _config
from .ops.blas import dot, matmul, outer, tensordot
from .ops.constructors import (alloc, arange, diag, eye, full, full_like, identity, linspace,
                               norm, one_hot, ones, repeat, tile, to_one_hot, tril, triu,
                               zeros)
from .ops.cumulative import cumprod, cumsum
from .ops.diagonal import diagonal, trace
from .ops.elemwise import UFUNCS, cast, clip, fill, ones_like, relu, where, zeros_like
from .ops.einsum import einsum
from .ops.indexing import getitem, inc_subtensor, set_subtensor, take
from .ops.reduce import (all, any, argmax, argmin, logsumexp, max, mean, min, prod, std,
                         sum, var)
from .ops.shape import (broadcast_to, concatenate, count, dimshuffle, expand_dims, flatten,
                        reshape, shape, size, squeeze, stack, transpose)
from .ops.sort import argsort, sort, take_along_axis
from .ops.special import stop_gradient
from .types import TensorType
from .variable import TensorConstant, TensorVariable, as_tensor, constant, shared

globals().update(UFUNCS)          # exp, log, add, maximum, ... : one function per scalar op
abs_ = UFUNCS["abs"]
subtract, multiply, divide, negative = (UFUNCS[n] for n in ("sub", "mul", "true_divide",
                                                             "neg"))
lt, le, gt, ge, eq, neq = (UFUNCS[n] for n in ("less", "less_equal", "greater",
                                               "greater_equal", "equal", "not_equal"))
logical_and, logical_or, logical_xor = (UFUNCS[n] for n in ("bitwise_and", "bitwise_or",
                                                            "bitwise_xor"))
pow = UFUNCS["power"]
switch = where
prod_of_shape = size


def tensor(name: str | None = None, dtype=None, shape: Sequence[int | None] = ()
           ) -> TensorVariable:
    """An input variable of any rank: ``sg.tensor("x", "float32", shape=(None, 3))``."""
    return TensorType(dtype or _config.floatX, shape)(name)


def _constructor(name: str, shape: tuple, dtype: str | None):
    if dtype is None:
        def make(name: str | None = None, dtype=None) -> TensorVariable:
            return tensor(name, dtype, shape)
    else:
        def make(name: str | None = None) -> TensorVariable:
            return tensor(name, dtype, shape)
    make.__name__ = make.__qualname__ = name
    make.__doc__ = (f"A symbolic input of shape {shape} and dtype "
                    f"{dtype or 'floatX (or the dtype given)'}.")
    return make


_SHAPES = {"scalar": (), "vector": (None,), "matrix": (None, None), "row": (1, None),
           "col": (None, 1), "tensor3": (None,) * 3, "tensor4": (None,) * 4}
_PREFIX = {"b": "int8", "w": "int16", "i": "int32", "l": "int64", "f": "float32",
           "d": "float64"}
for _kind, _shape in _SHAPES.items():
    globals()[_kind] = _constructor(_kind, _shape, None)
    for _p, _dt in _PREFIX.items():
        globals()[_p + _kind] = _constructor(_p + _kind, _shape, _dt)

__all__ = sorted(n for n in globals() if not n.startswith("_") and n not in (
    "annotations", "Sequence", "UFUNCS", "TensorType", "TensorConstant", "getitem", "count"))
