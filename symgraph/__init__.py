"""symgraph: a static symbolic graph compiler for numpy-like tensor programs.

>>> import symgraph as sg, numpy as np
>>> x = sg.dvector("x")
>>> f = sg.function([x], sg.grad((x ** 3).sum(), x))
>>> f(np.array([1.0, 2.0])).tolist()
[3.0, 12.0]
"""
from .config import config
from .tensor import *  # noqa: F401,F403  (the numpy-like API)
from .tensor import abs_ as abs  # noqa: F401
from .types import TensorType
from .graph import Apply, Constant, InnerGraph, Op, Variable
from .variable import SharedVariable, TensorVariable
from .grad import DisconnectedInputError, Lop, Rop, grad, hessian, jacobian
from .ops.compose import OpFromGraph
from .ops.nnet import (binary_crossentropy, categorical_crossentropy, log_softmax,
                       softmax)
from .printing import debugprint, to_dot, to_networkx, to_svg
from .compile.function import Function, function, kernel_sources
from .compile.arguments import In, Out
from .testing import GradientError, verify_grad
from . import init, nnet, random, regularization, updates
from .random import RandomStreams

__version__ = "0.1.0"
