"""Inlining: an :class:`~symgraph.ops.compose.OpFromGraph` made with ``inline=True`` is
replaced by a copy of its inner graph applied to its inputs, so the outer graph's rewrites
and fusion work across it."""
from __future__ import annotations

from ..graph import clone_replace
from ..ops.compose import OpFromGraph
from .engine import register


@register("canonicalize", tracks=[OpFromGraph])
def inline_op_from_graph(fg, node):
    if not node.op.inline:
        return None
    g = node.op.graph
    return clone_replace(list(g.outputs), dict(zip(g.inputs, node.inputs)), rebuild_all=True)
