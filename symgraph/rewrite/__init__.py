"""Graph rewrites. The passes and their order are listed once, here.

>>> [name for name, _ in PASSES]  # doctest: +NORMALIZE_WHITESPACE
['merge', 'constant_fold', 'canonicalize', 'merge_ifelse', 'stabilize', 'specialize',
 'merge_rewritten', 'scan_merge', 'fuse', 'fuse_stages', 'recompute', 'fuse_siblings',
 'merge_final']
"""
from __future__ import annotations

from typing import Sequence

from ..graph import Variable
from ..ops.fused import Fused
from . import algebra, fold, ifelse, inline, scan, stabilize  # noqa: F401  (they register their rewriters)
from .engine import FunctionGraph, RewriteLog, merge, node_pass, register, run_passes
from .fuse import fuse
from .ifelse import merge_ifelse
from .recompute import recompute
from .siblings import fuse_siblings
from .stages import fuse_stages

PASSES = [
    ("merge", merge),
    ("constant_fold", node_pass("constant_fold")),
    ("canonicalize", node_pass("canonicalize")),
    # ifelses on one condition become one: the work their branches share runs once
    ("merge_ifelse", merge_ifelse),
    ("stabilize", node_pass("stabilize")),
    ("specialize", node_pass("specialize")),
    # rewrites can build equal nodes (log(softmax(z)) in a loss and in its gradient both
    # become log_softmax(z)); fusion would put each copy in its own kernel
    ("merge_rewritten", merge),
    # a scan's gradient saves forward products in a copy of the loop with more outputs:
    # once the rewrites above made the loop's own copies one, that copy takes its place
    ("scan_merge", node_pass("scan_merge")),
    ("fuse", fuse),
    # a reduction's kernel joins the kernel that uses its result over the reduced axes:
    # one kernel, several passes over each row (softmax, normalization)
    ("fuse_stages", fuse_stages),
    # a cheap value two kernels need is computed in both, not written by one for the other
    ("recompute", recompute),
    # two kernels reducing the same axes of one array read it once, as one kernel
    ("fuse_siblings", fuse_siblings),
    ("merge_final", merge),
]


def optimize(outputs: Sequence[Variable], fusion: bool = True
             ) -> tuple[FunctionGraph, RewriteLog]:
    """Rewrite a copy of the graph of ``outputs``; ``fusion=False`` skips the fuse pass
    (one node per elementwise op: the baseline for debugging and benchmarks)."""
    fg = FunctionGraph(outputs)
    log = RewriteLog()
    run_passes(fg, [p for p in PASSES if fusion or p[0] not in ("fuse", "fuse_stages", "recompute", "fuse_siblings")], log)
    fg.release()
    return fg, log


__all__ = ["PASSES", "optimize", "FunctionGraph", "RewriteLog", "Fused", "register"]
