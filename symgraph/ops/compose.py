"""A graph used as one op: :class:`OpFromGraph` (Theano's), the first op with an inner graph.

It shows what the inner-graph protocol of :mod:`symgraph.graph` gives: the graph tools see
the inner graph (``toposort(..., inner=True)``, ``debugprint``), equal inner graphs make
equal ops (so merging works), the gradient is another ``OpFromGraph`` built by
differentiating the inner graph, and the compiler runs it as a sub-program of its own
(optimized like any function), or, with ``inline=True``, expands it into the outer graph
before optimizing. It sits above :mod:`symgraph.backprop`, as the coming scan and ifelse
will.

>>> import symgraph as sg, numpy as np
>>> a, b = sg.dvector("a"), sg.dvector("b")
>>> axpb = sg.OpFromGraph([a, b], [2 * a + b])
>>> x, y = sg.dvector("x"), sg.dvector("y")
>>> f = sg.function([x, y], axpb(x, y) * axpb(y, x))
>>> f([1.0], [2.0]).tolist()
[20.0]
"""
from __future__ import annotations

from typing import Sequence

from ..backprop import backprop
from ..graph import (Apply, GraphOp, InnerGraph, Op, RunInner, Variable, clone_replace,
                     graph_inputs)
from ..types import FLOATS
from ..variable import SharedVariable, as_tensor, constant


class OpFromGraph(GraphOp):
    """``outputs`` as a function of ``inputs``, usable as an op: calling it on variables
    of the inputs' dtypes and ranks gives the outputs' graph applied to them. Shared
    variables the outputs use become extra inputs of every node, passed implicitly."""
    __props__ = ("graph", "inline")

    def __init__(self, inputs: Sequence[Variable], outputs, inline: bool = False,
                 name: str | None = None):
        outs = [as_tensor(o) for o in (outputs if isinstance(outputs, (list, tuple))
                                        else [outputs])]
        inputs = list(inputs)
        known = {id(v) for v in inputs}
        self.shared = [v for v in graph_inputs(outs) if isinstance(v, SharedVariable)
                       and id(v) not in known]
        stand_ins = [s.type(s.name) for s in self.shared]
        outs = clone_replace(outs, dict(zip(self.shared, stand_ins)))
        self.graph = InnerGraph([*inputs, *stand_ins], outs)
        self.inline, self._name = bool(inline), name

    def inner_graphs(self) -> tuple[InnerGraph, ...]:
        return (self.graph,)

    def __call__(self, *inputs):
        n = len(self.graph.inputs) - len(self.shared)
        if len(inputs) != n:
            raise TypeError(f"{self.name} takes {n} inputs, got {len(inputs)}")
        # values (a Python float, say) take the dtype of the input they stand for
        inputs = [x if isinstance(x, Variable) else constant(x, v.dtype)
                  for x, v in zip(inputs, self.graph.inputs)]
        return Op.__call__(self, *inputs, *self.shared)

    def make_node(self, *inputs: Variable) -> Apply:
        inner = self.graph.inputs
        if len(inputs) != len(inner):
            raise TypeError(f"{self.name} takes {len(inner)} inputs (shared variables "
                            f"included), got {len(inputs)}")
        for i, (x, v) in enumerate(zip(inputs, inner)):
            if x.dtype != v.dtype or x.ndim != v.ndim or any(
                    s is not None and d is not None and s != d
                    for s, d in zip(v.type.shape, x.type.shape)):
                raise TypeError(f"{self.name}: input {i} must be {v.type}, got {x.type}")
        return Apply(self, inputs, [o.type() for o in self.graph.outputs])

    def lower(self, node: Apply) -> RunInner:
        return RunInner(self.graph)

    def grad(self, inputs, outputs, output_grads):
        g_in, g_out = self.graph.inputs, self.graph.outputs
        flowing = [j for j, g in enumerate(output_grads) if g is not None]
        seeds = [g_out[j].type(f"grad_{j}") for j in flowing]
        wrt = [v for v in g_in if v.dtype in FLOATS]
        found = backprop(dict(zip([g_out[j] for j in flowing], seeds)), wrt)
        kept = [(v, g) for v, g in zip(wrt, found) if g is not None]
        if not kept:
            return [None] * len(inputs)
        op = OpFromGraph([*g_in, *seeds], [g for _, g in kept], inline=self.inline,
                         name=f"grad_{self.name}")
        results = op(*inputs, *(output_grads[j] for j in flowing))
        results = results if isinstance(results, list) else [results]
        by_input = {id(v): r for (v, _), r in zip(kept, results)}
        return [by_input.get(id(v)) for v in g_in]
