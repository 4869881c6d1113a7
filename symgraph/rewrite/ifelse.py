"""Rewrites of the lazy conditional (:class:`~symgraph.ops.ifelse.IfElse`). The outer
passes never look inside its branches (each is optimized as a program of its own when
lowered), so the work exclusive to a branch stays there; these move only what may move:

* ``ifelse_constant_condition``: with a constant condition the node is the branch taken;
* ``ifelse_recut``: the work of a branch that the function computes anyway is taken from
  the function instead of computed again, and constant inputs move inside (to fold there);
* the pass :func:`merge_ifelse`: ifelses on the same condition, neither needing the
  other, become one, so that the work their branches share runs once.
"""
from __future__ import annotations

from ..graph import (Apply, Constant, InnerGraph, Op, Variable, ancestors, clone_replace,
                     toposort)
from ..ops.ifelse import IfElse, split_branches
from .engine import compatible, register
from .match import scalar_value


def _branches(node: Apply):
    op = node.op
    return ((op.then_graph, op.then_takes), (op.else_graph, op.else_takes))


@register("canonicalize", tracks=[IfElse])
def ifelse_constant_condition(fg, node):
    """``ifelse(constant, a, b)`` is ``a`` or ``b`` (nonzero, NaN included, is true)."""
    value = scalar_value(node.inputs[0])
    if value is None:
        return None
    graph, takes = _branches(node)[0 if value else 1]
    outs = clone_replace(list(graph.outputs),
                         {v: node.inputs[k] for v, k in zip(graph.inputs, takes)},
                         rebuild_all=True)
    # an output the other branch gives other static-1 axes keeps its node
    return outs if all(compatible(o, n) for o, n in zip(node.outputs, outs)) else None


@register("canonicalize", tracks=[IfElse])
def ifelse_recut(fg, node):
    """The cut between the function and the branches again, now that the function is
    known: the branches as expressions of the node's inputs, with each node the function
    computes already (same op, same inputs) taken from it, are split anew with every node
    of the function outside."""
    if not _may_move(fg, node):
        return None
    new = _rebuilt(fg, [node], fg.alive)
    if new is None or (new.op == node.op and len(new.inputs) == len(node.inputs) and
                       all(a is b for a, b in zip(new.inputs, node.inputs))):
        return None
    return new.outputs


def _may_move(fg, node: Apply) -> bool:
    """Whether the cut may change: an input is a constant, or a node of a branch that
    reads only the node's inputs is one the function computes (deeper nodes can match
    only above such a one)."""
    if any(isinstance(v, Constant) for v in node.inputs[1:]):
        return True
    for graph, takes in _branches(node):
        args = {id(v): node.inputs[k] for v, k in zip(graph.inputs, takes)}
        for inner in toposort(graph.outputs):
            if all(id(i) in args or isinstance(i, Constant) for i in inner.inputs) and \
                    _computed(fg, inner.op, [args.get(id(i), i) for i in inner.inputs],
                              fg.alive):
                return True
    return False


def merge_ifelse(fg, log) -> int:
    """IfElse nodes on the same condition of which none needs another's outputs become
    one node (per-parameter updates ``ifelse(c, p - lr * g, p)`` share the whole
    backward pass, which then runs once)."""
    by_condition: dict[int, list[Apply]] = {}
    for node in fg.nodes:
        if isinstance(node.op, IfElse):
            by_condition.setdefault(id(node.inputs[0]), []).append(node)
    fired = 0
    for todo in by_condition.values():
        while len(todo) > 1:        # in graph order: a node never needs a later one
            group, later = [todo[0]], []
            for node in todo[1:]:
                needs = ancestors(node.inputs)
                if any(id(o) in needs for n in group for o in n.outputs):
                    later.append(node)
                else:
                    group.append(node)
            todo = later
            alive = fg.alive - {id(n) for n in group}
            new = _rebuilt(fg, group, alive) if len(group) > 1 else None
            if new is None:
                continue
            outs = iter(new.outputs)
            for n in group:
                for o in n.outputs:
                    fg.replace(o, next(outs))
                fg.alive.discard(id(n))
            fired += len(group) - 1
    if fired:
        fg.refresh()
        log.counts["merge_ifelse"] += fired
    return fired


def _rebuilt(fg, nodes: list[Apply], alive: set[int]) -> Apply | None:
    """One IfElse node computing the outputs of ``nodes`` (on one condition), cut anew
    with the function's nodes (``alive``) outside; None if its output types would not
    fit the old ones."""
    seen: dict[tuple, Apply] = {}
    sides: list[list[Variable]] = [[], []]
    for node in nodes:
        for side, (graph, takes) in zip(sides, _branches(node)):
            side += _outer_form(fg, graph, [node.inputs[k] for k in takes], alive, seen)
    inputs, graphs, takes = split_branches(nodes[0].inputs[0], *sides, outside=alive)
    new = IfElse(*graphs, *takes, name=nodes[0].op._name).make_node(*inputs)
    new.built_at = nodes[0].built_at
    olds = [o for n in nodes for o in n.outputs]
    return new if all(compatible(o, n) for o, n in zip(olds, new.outputs)) else None


def _outer_form(fg, graph: InnerGraph, args: list[Variable], alive: set[int],
                seen: dict[tuple, Apply]) -> list[Variable]:
    """``graph``'s outputs computed from ``args``, sharing the function's nodes
    (``alive``) where they compute the same thing, and the nodes ``seen`` already
    (by op and input ids)."""
    memo = {id(v): a for v, a in zip(graph.inputs, args)}
    for node in toposort(graph.outputs):
        ins = [memo.get(id(i), i) for i in node.inputs]
        if all(a is b for a, b in zip(ins, node.inputs)):
            continue                     # reads constants only: it stays as it is
        key = (node.op, tuple(map(id, ins)))
        found = _computed(fg, node.op, ins, alive) or seen.get(key)
        if found is None:
            found = node.op.make_node(*ins)
            found.built_at = node.built_at
            if node.op.deterministic:
                seen[key] = found
        memo.update(zip(map(id, node.outputs), found.outputs))
    return [memo.get(id(o), o) for o in graph.outputs]


def _computed(fg, op: Op, ins: list[Variable], alive: set[int]) -> Apply | None:
    """A node of the function (in ``alive``) applying ``op`` to ``ins`` (equal constants
    match)."""
    probe = next((v for v in ins if not isinstance(v, Constant)), None)
    if probe is None or not op.deterministic:
        return None
    for client, _ in fg.clients.get(id(probe), ()):
        if isinstance(client, Apply) and id(client) in alive and client.op == op and \
                len(client.inputs) == len(ins) and all(map(_same, client.inputs, ins)):
            return client
    return None


def _same(a: Variable, b: Variable) -> bool:
    return a is b or (isinstance(a, Constant) and isinstance(b, Constant)
                      and a.signature() == b.signature())
