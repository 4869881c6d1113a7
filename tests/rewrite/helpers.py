"""What the rewrite tests share: the ops a compiled function runs, one check that the
optimized, unfused and unrewritten compilations of a graph give the same numbers, and one
that every kernel still has the inputs that give its domain."""
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


def assert_domains_set(f: sg.Function) -> None:
    """Every kernel of ``f`` has, for each domain axis some output keeps at a size other
    than static 1, an input that does not broadcast along it (and at least one input: a
    kernel's domain is what its inputs' shapes say)."""
    for node in f.nodes:
        if not isinstance(node.op, Fused):
            continue
        assert node.inputs, f"{node.op} ({node.op.kernel.name}) has no input"
        op, nd = node.op, node.op.kernel.ndim
        unset = set(range(nd))
        for bcast in op.in_bcast:
            unset &= set(bcast)
        for out, drop in zip(node.outputs, op.out_drop):
            kept = [a for a in range(nd) if a not in drop]
            due = {a for a, static in zip(kept, out.type.shape) if static != 1}
            assert not due & unset, (f"{op} ({op.kernel.name}) has no input setting domain "
                                     f"axes {sorted(due & unset)} of an output "
                                     f"{out.type}; inputs {[str(v.type) for v in node.inputs]}")
