"""symgraph: a static symbolic graph compiler for numpy-like tensor programs.

>>> import symgraph as sg, numpy as np
>>> x = sg.dvector("x")
>>> f = sg.function([x], sg.grad((x ** 3).sum(), x))
>>> f(np.array([1.0, 2.0])).tolist()
[3.0, 12.0]
"""
from .config import config
from .function import Function, SharedVariable, function, kernel_sources, shared
from .grad import (DisconnectedInputError, GradientError, Lop, Rop, grad, hessian,
                   jacobian, stop_gradient, verify_grad)
from .graph import Apply, Constant, Op, Variable
from .printing import debugprint, to_dot, to_svg
from .tensor import *  # noqa: F401,F403  (the numpy-like API)
from .tensor import TensorVariable, abs_ as abs  # noqa: F401
from .types import TensorType
from .ops.shape import (broadcast_to, concatenate, dimshuffle, expand_dims, flatten,
                        reshape, shape, squeeze, stack, transpose)
from .ops.indexing import inc_subtensor, set_subtensor, take
from .ops.blas import dot, matmul, outer, tensordot
from .ops.nnet import (binary_crossentropy, categorical_crossentropy, log_softmax,
                       softmax)
from . import nnet

__version__ = "0.1.0"
