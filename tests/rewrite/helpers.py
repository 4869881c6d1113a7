"""What the rewrite tests share: the ops a compiled function runs, and one check that the
optimized, unfused and unrewritten compilations of a graph give the same numbers."""
from __future__ import annotations

from typing import Sequence

import numpy as np

import symgraph as sg
from symgraph.ops.shape import DimShuffle, Reshape
from symgraph.rewrite import Fused

#: ``f.nodes`` that only re-view their input (strides, no arithmetic): fusion counts
#: exclude them, since lowering makes them views that cost no kernel
VIEW_OPS = (DimShuffle, Reshape)


def op_names(f: sg.Function) -> list[str]:
    return [str(n.op) for n in f.nodes]


def kernels(f: sg.Function) -> list:
    """The nodes of ``f`` that are not pure views: what a call launches."""
    return [n for n in f.nodes if not isinstance(n.op, VIEW_OPS)]


def fused(f: sg.Function) -> list:
    return [n for n in f.nodes if isinstance(n.op, Fused)]


def assert_same_numbers(inputs: Sequence, outputs, values: Sequence[np.ndarray],
                        rtol: float | None = None) -> list[np.ndarray]:
    """The optimized function equals ``rewrite=False`` and ``fusion=False`` on ``values``
    (same dtype and shape; NaN where the unrewritten graph has NaN). Returns the
    unrewritten results."""
    outputs = list(outputs) if isinstance(outputs, (list, tuple)) else [outputs]
    want = sg.function(list(inputs), outputs, rewrite=False)(*values)
    for kw in ({}, {"fusion": False}):
        got = sg.function(list(inputs), outputs, **kw)(*values)
        for k, (g, w) in enumerate(zip(got, want)):
            assert g.dtype == w.dtype and g.shape == w.shape, (kw, k, g.dtype, w.dtype)
            tol = rtol if rtol is not None else 1e-5 if w.dtype == np.float32 else 1e-12
            if w.dtype.kind == "f":
                np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True,
                                           err_msg=f"{kw} output {k}")
            else:
                np.testing.assert_array_equal(g, w, err_msg=f"{kw} output {k}")
    return want
