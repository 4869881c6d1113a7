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
from .scan import foldl, foldr, map, reduce, scan, until  # noqa: A004  (Theano's names)
# through the module of Theano's path, so that `from symgraph.ifelse import ifelse` later
# finds it loaded and leaves `sg.ifelse` the function (as `sg.grad` is)
from .ifelse import IfElse, ifelse
from .ops.nnet import (binary_crossentropy, categorical_crossentropy, log_softmax,
                       softmax)
from .printing import debugprint, pp, to_dot, to_networkx, to_svg
from .compile.function import Function, function, kernel_sources
from .compile.arguments import In, Out
from .testing import GradientError, verify_grad
__version__ = "0.1.0"

# The training toolkit (layers, streams, optimizers, initializers) loads at first use, so
# that `import symgraph` stays fast: `sg.nnet.conv2d`, `sg.updates.adam`, `sg.RandomStreams`
_LAZY = {"init": None, "nnet": None, "random": None, "regularization": None,
         "updates": None, "RandomStreams": "random", "NanGuardMode": "compile.modes",
         "DebugMode": "compile.modes", "NanGuardError": "compile.modes",
         "DebugModeError": "compile.modes"}


def __getattr__(name: str):
    if name not in _LAZY:
        raise AttributeError(f"module 'symgraph' has no attribute {name!r}")
    import importlib
    module = importlib.import_module(f".{_LAZY[name] or name}", __name__)
    value = getattr(module, name) if _LAZY[name] else module
    globals()[name] = value
    return value
