"""Constant folding: a node whose inputs are all constants is computed while compiling, by
its own lowering rule on the reference backend (so folding means what running means)."""
from __future__ import annotations

import numpy as np

from codegen.backend import NUMPY
from codegen.plan import run_step
from codegen.program import KernelCall, LibraryCall, PythonCall

from ..graph import Constant
from ..variable import TensorConstant
from .engine import register

#: folding never makes a constant larger than this many elements, unless its inputs were
#: as large already (so a broadcast of a scalar to a big shape is left to run time)
MAX_FOLD_ELEMENTS = 1 << 16


@register("constant_fold", "stabilize", "specialize")
def constant_fold(fg, node):
    if not node.op.deterministic or not node.inputs or \
            not all(isinstance(i, Constant) for i in node.inputs):
        return None
    work = node.op.lower(node)
    if not isinstance(work, (KernelCall, LibraryCall, PythonCall)):
        return None                      # an inner graph runs as a program of its own
    with np.errstate(all="ignore"):
        try:
            outs = run_step(work, [i.data for i in node.inputs], NUMPY)
        except Exception:
            return None      # the error belongs to run time, at the user's line
    biggest_input = max(i.data.size for i in node.inputs)
    if any(np.asarray(o).size > max(MAX_FOLD_ELEMENTS, biggest_input) for o in outs):
        return None
    # the constant keeps the type its consumers were built with
    return [TensorConstant(o.type, np.asarray(val, dtype=o.dtype))
            for o, val in zip(node.outputs, outs)]
