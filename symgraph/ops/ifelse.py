"""A lazy conditional: :func:`ifelse` (Theano's ``theano.ifelse.ifelse``) computes one of
two branches, chosen at run time by a scalar condition, and runs only that one.

The op owns two inner graphs (:class:`~symgraph.graph.InnerGraph`), one per branch, and
lowers to a step that runs one of the two sub-programs (:class:`codegen.branch.Branch`).
What goes inside a branch, and so runs only when it is taken, is the work *exclusive* to
it (:func:`split_branches`): the nodes the branch's outputs need, except those the
condition needs (computed first anyway), those the other branch needs too (needed
whichever is taken) and, while compiling, those the rest of the function computes anyway
(the rewrite ``ifelse_recut`` moves them out). Its gradient is another ifelse, of the two
branches' gradients, as lazy.

>>> import symgraph as sg, numpy as np
>>> c, x = sg.iscalar("c"), sg.dvector("x")
>>> f = sg.function([c, x], ifelse(c, x.sum(), x[5]))
>>> float(f(1, np.ones(3)))         # x[5] would raise: its branch does not run
3.0
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

from ..backprop import backprop
from ..graph import Apply, Constant, GraphOp, InnerGraph, Variable, clone_replace, toposort
from ..types import FLOATS, TensorType
from ..variable import as_tensor, constant
from .elemwise import cast, zeros_like


class RunBranch(NamedTuple):
    """A lowering rule's answer for an op that runs one of two inner graphs: ``then_graph``
    when its first argument is nonzero, else ``else_graph``; each takes the step's
    arguments at its positions (``then_takes``, ``else_takes``; 0 is the condition)."""
    then_graph: InnerGraph
    else_graph: InnerGraph
    then_takes: tuple[int, ...]
    else_takes: tuple[int, ...]


def _joined(a: TensorType, b: TensorType) -> TensorType:
    """The type of a value of type ``a`` or ``b`` (same dtype and rank): the static sizes
    they agree on."""
    return TensorType(a.dtype, tuple(s if s == t else None for s, t in zip(a.shape, b.shape)))


class IfElse(GraphOp):
    """Outputs of ``then_graph`` if the condition (input 0) is nonzero, else those of
    ``else_graph``; the other graph does not run. Each graph takes the node's inputs at
    the positions ``then_takes`` / ``else_takes``. Built by :func:`ifelse`."""
    __props__ = ("then_graph", "else_graph", "then_takes", "else_takes")

    def __init__(self, then_graph: InnerGraph, else_graph: InnerGraph,
                 then_takes: Sequence[int], else_takes: Sequence[int],
                 name: str | None = None):
        self.then_graph, self.else_graph = then_graph, else_graph
        self.then_takes, self.else_takes = tuple(then_takes), tuple(else_takes)
        if len(then_graph.outputs) != len(else_graph.outputs):
            raise ValueError(f"ifelse: the branches have {len(then_graph.outputs)} and "
                             f"{len(else_graph.outputs)} outputs")
        self.out_types = [_joined(a.type, b.type) for a, b in
                          zip(then_graph.outputs, else_graph.outputs)]
        self.n_inputs = 1 + max(self.then_takes + self.else_takes, default=0)
        self._name = name

    def inner_graphs(self) -> tuple[InnerGraph, ...]:
        return (self.then_graph, self.else_graph)

    def make_node(self, cond: Variable, *args: Variable) -> Apply:
        _check_condition(cond)
        inputs = [cond, *args]
        if len(inputs) != self.n_inputs:
            raise TypeError(f"{self.name} takes {self.n_inputs} inputs (the condition "
                            f"first), got {len(inputs)}")
        for graph, takes in ((self.then_graph, self.then_takes),
                             (self.else_graph, self.else_takes)):
            for v, k in zip(graph.inputs, takes):
                x = inputs[k]
                if x.dtype != v.dtype or x.ndim != v.ndim or any(
                        s is not None and d is not None and s != d
                        for s, d in zip(v.type.shape, x.type.shape)):
                    raise TypeError(f"{self.name}: input {k} must be {v.type}, got {x.type}")
        return Apply(self, inputs, [t() for t in self.out_types])

    def lower(self, node: Apply) -> RunBranch:
        return RunBranch(self.then_graph, self.else_graph, self.then_takes, self.else_takes)

    def grad(self, inputs, outputs, output_grads):
        """An ifelse of the two branches' gradients w.r.t. each input (zeros on the side
        that does not use it); nothing flows to the condition."""
        flowing = [j for j, g in enumerate(output_grads)
                   if g is not None and outputs[j].dtype in FLOATS]
        wrt = [k for k in range(1, len(inputs)) if inputs[k].dtype in FLOATS]
        sides = [_branch_grads(graph, takes, inputs, output_grads, flowing)
                 for graph, takes in ((self.then_graph, self.then_takes),
                                      (self.else_graph, self.else_takes))]
        wrt = [k for k in wrt if k in sides[0] or k in sides[1]]
        if not wrt:
            return [None] * len(inputs)
        then_gs, else_gs = ([side.get(k) if side.get(k) is not None else zeros_like(inputs[k])
                             for k in wrt] for side in sides)
        results = ifelse(inputs[0], then_gs, else_gs, name=f"grad_{self.name}")
        by_input = dict(zip(wrt, results))
        return [by_input.get(k) for k in range(len(inputs))]


def _branch_grads(graph: InnerGraph, takes: tuple[int, ...], inputs: list[Variable],
                  output_grads: list, flowing: list[int]) -> dict[int, Variable]:
    """The gradients one branch gives its float inputs, as outer expressions: ``{node
    input position: gradient}``, for the inputs the flowing output gradients reach."""
    stand_ins = {j: output_grads[j].type(f"grad_{j}") for j in flowing}
    seeds: dict[Variable, Variable] = {}
    for j, s in stand_ins.items():
        o = graph.outputs[j]
        if o.dtype in FLOATS:           # an output may appear twice: its seeds add up
            seeds[o] = seeds[o] + s if o in seeds else s
    wrt = [v for v in graph.inputs if v.dtype in FLOATS]
    if not seeds or not wrt:
        return {}
    found = backprop(seeds, wrt)
    outer = {**{v: inputs[k] for v, k in zip(graph.inputs, takes)},
             **{s: output_grads[j] for j, s in stand_ins.items()}}
    kept = [(v, g) for v, g in zip(wrt, found) if g is not None]
    mapped = clone_replace([g for _, g in kept], outer)
    position = {id(v): k for v, k in zip(graph.inputs, takes)}
    return {position[id(v)]: cast(g, v.dtype) for (v, _), g in zip(kept, mapped)}


def _check_condition(cond: Variable) -> None:
    if cond.ndim != 0:
        raise TypeError(f"ifelse: the condition must be a scalar (bool, int or float, "
                        f"nonzero meaning true), got {cond.type}")


def split_branches(cond: Variable, then_outs: Sequence[Variable],
                   else_outs: Sequence[Variable], outside: set[int] | None = None
                   ) -> tuple[list[Variable], tuple[InnerGraph, InnerGraph],
                              tuple[tuple[int, ...], tuple[int, ...]]]:
    """Cut the two branches' expressions into two closed graphs of the work exclusive to
    each: a node stays outside both when its id is in ``outside`` (nodes computed anyway;
    by default those computing the condition), when it is below such a node, or when both
    branches need it. Gives the node's inputs (the condition first, then the outer
    variables the graphs take, each once), the two graphs, and which inputs each takes."""
    if outside is None:
        outside = {id(n) for n in toposort([cond])}
    orders = [_nodes_above(outs, outside) for outs in (then_outs, else_outs)]
    needs = [{id(n) for n in order} for order in orders]
    inputs, position = [cond], {id(cond): 0}
    graphs, takes = [], []
    for outs, order, other in ((then_outs, orders[0], needs[1]),
                               (else_outs, orders[1], needs[0])):
        inside = {id(n) for n in order if id(n) not in other}
        free: dict[int, Variable] = {}
        for v in (*(v for n in order if id(n) in inside for v in n.inputs), *outs):
            if (v.owner is None or id(v.owner) not in inside) and not isinstance(v, Constant):
                free.setdefault(id(v), v)
        memo = {k: v.type(v.name) for k, v in free.items()}
        stand_ins = list(memo.values())
        for node in order:
            if id(node) in inside:
                new = node.op.make_node(*(memo.get(id(i), i) for i in node.inputs))
                new.built_at = node.built_at
                memo.update(zip(map(id, node.outputs), new.outputs))
        graphs.append(InnerGraph(stand_ins, [memo.get(id(v), v) for v in outs]))
        for v in free.values():
            if id(v) not in position:
                position[id(v)] = len(inputs)
                inputs.append(v)
        takes.append(tuple(position[id(v)] for v in free.values()))
    return inputs, tuple(graphs), tuple(takes)


def _nodes_above(outs: Sequence[Variable], stop: set[int]) -> list[Apply]:
    """The nodes computing ``outs``, inputs first, without those in ``stop`` (by id) and
    the nodes below them."""
    order: list[Apply] = []
    seen: set[int] = set()
    stack = [(v.owner, False) for v in reversed(outs) if v.owner is not None]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
        elif id(node) not in seen and id(node) not in stop:
            seen.add(id(node))
            stack.append((node, True))
            stack += [(i.owner, False) for i in reversed(node.inputs) if i.owner is not None]
    return order


def _branch(value, other) -> list[Variable]:
    """A branch as a list of variables; values take the dtype of the other branch's
    variable at their place."""
    vals = list(value) if isinstance(value, (list, tuple)) else [value]
    others = list(other) if isinstance(other, (list, tuple)) else [other]
    return [v if isinstance(v, Variable) else
            constant(v, o.dtype) if isinstance(o, Variable) else as_tensor(v)
            for v, o in zip(vals, others + [None] * (len(vals) - len(others)))]


def ifelse(condition, then_branch, else_branch, name: str | None = None):
    """``then_branch`` if ``condition`` is nonzero, else ``else_branch``, computing only
    the branch taken (Theano's ``ifelse``; :func:`~symgraph.where` is the eager,
    elementwise choice).

    ``condition``: a scalar (bool, int or float; nonzero is true). ``then_branch`` and
    ``else_branch``: a variable each, or lists (tuples) of as many variables, pairwise of
    the same dtype and rank; an output's static sizes are those both branches agree on.
    Returns a variable, or a list (tuple) of them as the branches were given.

    >>> import symgraph as sg
    >>> c, x = sg.bscalar("c"), sg.dvector("x")
    >>> lo, hi = ifelse(c, [x.min(), x.max()], [x.max(), x.min()])
    >>> f = sg.function([c, x], [lo, hi])
    >>> [float(v) for v in f(0, [3.0, -1.0, 2.0])]
    [3.0, -1.0]
    """
    cond = as_tensor(condition)
    _check_condition(cond)
    then_outs = _branch(then_branch, else_branch)
    else_outs = _branch(else_branch, then_branch)
    if len(then_outs) != len(else_outs):
        raise ValueError(f"ifelse: then_branch has {len(then_outs)} variables and "
                         f"else_branch {len(else_outs)}: they must have as many")
    for j, (a, b) in enumerate(zip(then_outs, else_outs)):
        if a.dtype != b.dtype or a.ndim != b.ndim:
            raise TypeError(f"ifelse: output {j}: then_branch is {a.type} and else_branch "
                            f"{b.type}; both must have the same dtype and rank (cast one "
                            "with .astype, or expand one with dimshuffle)")
    inputs, (then_g, else_g), (then_t, else_t) = split_branches(cond, then_outs, else_outs)
    outs = IfElse(then_g, else_g, then_t, else_t, name)(*inputs)
    outs = outs if isinstance(outs, list) else [outs]
    if isinstance(then_branch, (list, tuple)):
        return type(then_branch)(outs)
    return outs[0]
