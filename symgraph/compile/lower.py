"""Lowering: the optimized graph of a function becomes a :class:`codegen.program.Program`.

Each node's op says what it runs as, in its ``lower`` rule (beside the op's class): a
kernel (:class:`~codegen.program.KernelCall`), a library call by name
(:class:`~codegen.program.LibraryCall`; a view, such as a reshape or basic slicing, is one),
a Python function (:class:`~codegen.program.PythonCall`, for ops written with numpy), or one
of its inner graphs (:class:`~symgraph.graph.RunInner`), which becomes a program of its own.
Lowering numbers the values (slots) and asks each node; it knows no op and no backend.

>>> import symgraph as sg
>>> x = sg.dmatrix("x")
>>> f = sg.function([x], (sg.exp(x) + 1).T[0])
>>> [step.kind for step in f._program.steps]
['kernel', 'view', 'view']
"""
from __future__ import annotations

from typing import Sequence

from codegen.branch import Branch
from codegen.program import Program, Step, SubProgram

from ..graph import Apply, Constant, InnerGraph, RunInner, Variable, toposort
from ..ops.scan import RunLoop
from ..ops.ifelse import RunBranch


def lower(nodes: Sequence[Apply], inputs: Sequence[Variable], outputs: Sequence[Variable],
          updates: Sequence[tuple[int, int]] = (), fusion: bool = True) -> Program:
    """The program computing ``outputs`` from ``inputs`` by running ``nodes`` in order.
    ``updates`` pairs output positions with the input positions whose values they
    replace after a call (see :class:`codegen.program.Program`)."""
    slots: dict[int, int] = {}

    def slot(v: Variable) -> int:
        return slots.setdefault(id(v), len(slots))

    in_slots = tuple(slot(v) for v in inputs)
    constants: dict[int, object] = {}
    for v in (*outputs, *(i for n in nodes for i in n.inputs)):
        if isinstance(v, Constant) and id(v) not in slots:
            constants[slot(v)] = v.data
    steps = []
    for node in nodes:
        what = node.op.lower(node)
        if isinstance(what, RunInner):
            what = SubProgram(lower_graph(what.graph, fusion))
        elif isinstance(what, RunLoop):
            what = what.loop(lower_graph(what.graph, fusion))
        elif isinstance(what, RunBranch):
            what = Branch(lower_graph(what.then_graph, fusion),
                          lower_graph(what.else_graph, fusion), what.then_takes,
                          what.else_takes)
        steps.append(Step(what, tuple(slot(v) for v in node.inputs),
                          tuple(slot(v) for v in node.outputs), str(node.op), node))
    return Program(len(slots), in_slots, tuple(slot(v) for v in outputs), steps, constants,
                   tuple(updates))


def lower_graph(graph: InnerGraph, fusion: bool = True) -> Program:
    """An inner graph as a program of its own, optimized as a function's graph is."""
    from ..rewrite import optimize      # loaded at the first compile (see function.py)
    fg, _ = optimize(list(graph.outputs), fusion=fusion)
    return lower(toposort(fg.outputs), graph.inputs, fg.outputs, fusion=fusion)
