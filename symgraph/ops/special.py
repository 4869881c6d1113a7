"""Ops that change how a graph is differentiated, not what it computes.

>>> import symgraph as sg, numpy as np
>>> x = sg.dvector("x")
>>> sg.grad((sg.stop_gradient(x) * x).sum(), x).eval({x: np.array([3.0])}).tolist()
[3.0]
"""
from __future__ import annotations

from codegen.program import LibraryCall

from ..graph import Apply, Op, Variable
from ..types import FLOATS
from ..variable import as_tensor
from .elemwise import zeros_like


class StopGradient(Op):
    """Identity whose gradient is zero (JAX's ``stop_gradient``)."""

    def make_node(self, x: Variable) -> Apply:
        return Apply(self, [x], [x.type()])

    def lower(self, node):
        # a view, not the array itself: a returned output is copied when it is a view,
        # so an intermediate buffer never leaves a function through this identity
        return LibraryCall.of("view")

    def grad(self, inputs, outputs, output_grads):
        return [zeros_like(inputs[0]) if inputs[0].dtype in FLOATS else None]


def stop_gradient(x) -> Variable:
    """``x``, with no gradient flowing back through it."""
    return StopGradient()(as_tensor(x))
