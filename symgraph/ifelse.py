"""Theano's module path for the lazy conditional: ``from symgraph.ifelse import ifelse``
(as ``from theano.ifelse import ifelse``); it is :func:`symgraph.ops.ifelse.ifelse`."""
from .ops.ifelse import IfElse, ifelse

__all__ = ["IfElse", "ifelse"]
