"""Ops that change how a graph is differentiated, not what it computes, and the training
flag that says which of two graphs it is.

>>> import symgraph as sg, numpy as np
>>> x = sg.dvector("x")
>>> sg.grad((sg.stop_gradient(x) * x).sum(), x).eval({x: np.array([3.0])}).tolist()
[3.0]
"""
from __future__ import annotations

from codegen.program import LibraryCall

from ..graph import Apply, Op, Variable
from ..types import FLOATS, TensorType
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


TRAINING = TensorType("bool", ())("training")
"""The training-mode flag: a bool scalar that layers such as ``sg.nnet.dropout`` read to
choose between their training and inference forms, and that ``sg.function`` replaces by a
constant (its ``training`` argument, True by default). One graph then compiles into a
training function and a prediction function, and the rewrites drop the branch a function
never takes (the prediction function draws no dropout mask)."""


def training_flag() -> Variable:
    """The graph's training-mode flag (see :data:`TRAINING`).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> y = sg.where(sg.ops.special.training_flag(), x * 2, x)
    >>> train, predict = sg.function([x], y), sg.function([x], y, training=False)
    >>> train([1.0]).tolist(), predict([1.0]).tolist()
    ([2.0], [1.0])
    """
    return TRAINING
