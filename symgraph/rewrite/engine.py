"""The rewrite engine: a mutable copy of the graph, node rewriters registered to named
passes, passes run to a fixed point, and a log of what fired.

A node rewriter is a plain function ``(fgraph, node) -> list of replacement outputs | None``
registered with :func:`register`. The pass order lives in one list, in
``symgraph/rewrite/__init__.py``.
"""
from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

from ..graph import Apply, Constant, Op, Variable, toposort

NodeRewriter = Callable[["FunctionGraph", Apply], "Sequence[Variable] | None"]

_REGISTRY: dict[str, list[tuple[NodeRewriter, tuple[type, ...] | None]]] = defaultdict(list)


def register(*passes: str, tracks: Sequence[type] | None = None,
             names: Sequence[str] | None = None):
    """Register a node rewriter in the named passes; ``tracks`` limits it to nodes whose
    op is an instance of one of these classes, ``names`` to elementwise nodes of these
    scalar ops (cheap filters: a pass does not call the rewriter on other nodes)."""
    def deco(fn: NodeRewriter) -> NodeRewriter:
        fn.names = frozenset(names) if names else None
        for p in passes:
            _REGISTRY[p].append((fn, tuple(tracks) if tracks else None))
        return fn
    return deco


def _for_node(rules: list, table: dict, node: Apply) -> list:
    """The rules that may match ``node``: by its op's class (``tracks``) and its
    elementwise op's name (``names``), looked up once per class and name."""
    op = node.op
    scalar = getattr(op, "scalar", None)
    key = (type(op), scalar.name if scalar is not None else None)
    found = table.get(key)
    if found is None:
        name = key[1]
        found = table[key] = [fn for fn, tracks in rules
                              if (not tracks or issubclass(key[0], tracks)) and (
                                  name is None or getattr(fn, "names", None) is None
                                  or name in fn.names)]
    return found


def rewriters(pass_name: str) -> list[tuple[NodeRewriter, tuple[type, ...] | None]]:
    return _REGISTRY[pass_name]


def clone_graph(outputs: Sequence[Variable]) -> list[Variable]:
    """Copies of the nodes computing ``outputs`` (leaf variables are shared), so rewriting
    never changes the graph the user holds."""
    memo: dict[int, Variable] = {}
    for node in toposort(outputs):
        inputs = [memo.get(id(i), i) for i in node.inputs]
        new = Apply(node.op, inputs, [o.type() for o in node.outputs], built_at=node.built_at)
        for o, n in zip(node.outputs, new.outputs):
            n.name = o.name
            memo[id(o)] = n
    return [memo.get(id(o), o) for o in outputs]


class FunctionGraph:
    """The graph a function computes, owned by the compiler and rewritten in place."""

    def __init__(self, outputs: Sequence[Variable], clone: bool = True):
        self.outputs = clone_graph(outputs) if clone else list(outputs)
        self.earlier: list[list[Apply]] = []      # the node lists before each refresh
        self.nodes: list[Apply] = []
        self.refresh()

    def refresh(self) -> None:
        """Recompute the node order and each variable's clients."""
        self.fresh = True
        self.earlier.append(self.nodes)
        self.nodes = toposort(self.outputs)
        self.alive = {id(n) for n in self.nodes}
        self.clients: dict[int, list[tuple[Apply, int]]] = defaultdict(list)
        for node in self.nodes:
            for i, v in enumerate(node.inputs):
                self.clients[id(v)].append((node, i))
        for i, v in enumerate(self.outputs):
            self.clients[id(v)].append(("output", i))

    def release(self) -> None:
        """Break the reference cycle (a node, its outputs, their ``owner``) of each node the
        rewrites dropped, so that it is freed as soon as it is dropped rather than by the
        cyclic collector, which would walk them all (a 35,000-node graph's copy: 0.2 s
        after ``sg.function`` and again in its first call). Only for a graph this one
        copied: its nodes are its own."""
        alive = {id(n) for n in toposort(self.outputs)}
        for nodes in self.earlier:
            for node in nodes:
                if id(node) not in alive:
                    for o in node.outputs:
                        o.owner = None
        self.earlier = []

    def ensure_fresh(self) -> None:
        """:meth:`refresh` if anything changed since the last one (through
        :meth:`replace`; code that edits nodes by hand refreshes itself)."""
        if not self.fresh:
            self.refresh()

    def n_clients(self, v: Variable) -> int:
        return len(self.clients.get(id(v), ()))

    def replace(self, old: Variable, new: Variable) -> None:
        """Make every user of ``old`` use ``new``."""
        self.fresh = False
        for client, i in self.clients.pop(id(old), []):
            if client == "output":
                self.outputs[i] = new
            else:
                client.inputs[i] = new
            self.clients[id(new)].append((client, i))


def compatible(old: Variable, new: Variable) -> bool:
    """``new`` may stand for ``old``: same dtype and rank, and the same static-1 axes (so
    every consumer broadcasts it the same way)."""
    return (old.type.dtype == new.type.dtype and old.ndim == new.ndim
            and old.type.broadcastable == new.type.broadcastable)


def _adopt_line(new_outputs: Iterable[Variable], alive: set[int], built_at: str | None,
                stamped: set[int]) -> None:
    """Nodes a rewrite created take the user line of the node they replace, so errors
    still point at it."""
    stack = [v.owner for v in new_outputs if v.owner is not None]
    while stack:
        node = stack.pop()
        if id(node) in alive or id(node) in stamped:
            continue
        stamped.add(id(node))
        node.built_at = built_at
        stack.extend(i.owner for i in node.inputs if i.owner is not None)


@dataclass
class RewriteLog:
    """What the optimizer did: passes with their time, rewrites with how often they fired.

    >>> import symgraph as sg
    >>> x = sg.dvector("x")
    >>> f = sg.function([x], (x * 1) + 0)
    >>> f.rewrite_log.counts["mul_by_one"]
    1
    """
    passes: list[tuple[str, float, int]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    nodes_before: int = 0
    nodes_after: int = 0

    @property
    def total_time(self) -> float:
        return sum(t for _, t, _ in self.passes)

    def __str__(self) -> str:
        lines = [f"rewrites: {self.nodes_before} nodes -> {self.nodes_after} nodes in "
                 f"{self.total_time * 1e3:.2f} ms"]
        for name, t, n in self.passes:
            lines.append(f"  pass {name:<16} {t * 1e3:8.2f} ms  {n:4d} rewrites")
        for name, n in self.counts.most_common():
            lines.append(f"    {name:<34} {n:5d}")
        return "\n".join(lines)

    def _repr_pretty_(self, p, cycle):
        p.text(str(self))


def node_pass(pass_name: str, max_sweeps: int = 50):
    """A pass applying the rewriters registered under ``pass_name`` until none fires."""
    def run(fg: FunctionGraph, log: RewriteLog) -> int:
        fired = 0
        todo = None                     # the first sweep looks at every node
        rules, table = rewriters(pass_name), {}
        for _ in range(max_sweeps):
            changed = False
            stamped: set[int] = set()
            for node in fg.nodes:
                if id(node) not in fg.alive or (todo is not None and id(node) not in todo):
                    continue
                for fn in _for_node(rules, table, node):
                    new = fn(fg, node)
                    if new is None:
                        continue
                    new = list(new)
                    if len(new) != len(node.outputs) or not all(
                            compatible(o, n) for o, n in zip(node.outputs, new)):
                        raise RuntimeError(
                            f"rewrite {fn.__name__} replaced {node} by "
                            f"{[str(n.type) for n in new]}: types differ")
                    _adopt_line(new, fg.alive, node.built_at, stamped)
                    for o, n in zip(node.outputs, new):
                        if o is not n:
                            fg.replace(o, n)
                    fg.alive.discard(id(node))
                    log.counts[fn.__name__] += 1
                    fired += 1
                    changed = True
                    break
            if not changed:
                break
            before = fg.nodes
            fg.refresh()
            todo = _to_look_at(before, fg)
        return fired
    run.__name__ = pass_name
    return run


LOOK_DEPTH = 4
"""How far below a changed node a rewriter's pattern may reach: ``log(1 - sigmoid(x))``
spans three nodes; the sweeps after the first look again only at nodes that have a
changed node within this many producers."""


def _to_look_at(before: list[Apply], fg: FunctionGraph) -> set[int]:
    """After a sweep that rewrote: the nodes a rewriter may now match, by id. A rewriter
    looks at a node, a few levels of producers below it and how many clients those have,
    so: the nodes that are new, every node reading a variable that a new or dead node
    read or made (a new producer, or one client fewer), and their clients up to
    :data:`LOOK_DEPTH` levels up."""
    old = {id(n) for n in before}
    todo: set[int] = set()
    touched = [v for n in fg.nodes if id(n) not in old for v in (*n.inputs, *n.outputs)]
    touched += [v for n in before if id(n) not in fg.alive for v in n.inputs]
    level = []
    for v in touched:
        level += [c for c, _ in fg.clients.get(id(v), ()) if c != "output"]
        if v.owner is not None:
            level.append(v.owner)
    for _ in range(LOOK_DEPTH):
        nxt = []
        for n in level:
            if id(n) not in todo:
                todo.add(id(n))
                nxt += [c for o in n.outputs for c, _ in fg.clients.get(id(o), ())
                        if c != "output"]
        level = nxt
    return todo


def merge(fg: FunctionGraph, log: RewriteLog) -> int:
    """Common subexpression elimination: equal constants, then equal nodes (same op, same
    inputs), become one."""
    canon: dict[int, Variable] = {}
    seen_consts: dict[tuple, Variable] = {}
    seen_nodes: dict[tuple, Apply] = {}
    # each op object and constant is hashed once: most nodes share a few op objects, and
    # a constant is read by many nodes
    op_keys: dict[int, int] = {}
    op_index: dict[Op, int] = {}
    fired = nodes_merged = 0

    def rep(v: Variable) -> Variable:
        if isinstance(v, Constant) and id(v) not in canon:
            c = seen_consts.setdefault(v.signature(), v)
            canon[id(v)] = c
        return canon.get(id(v), v)

    for node in fg.nodes:
        new_inputs = [rep(i) for i in node.inputs]
        for k, (a, b) in enumerate(zip(node.inputs, new_inputs)):
            if a is not b:
                node.inputs[k] = b
                fired += 1
                log.counts["merge_constant"] += 1
        if not node.op.deterministic:
            continue
        op = op_keys.get(id(node.op))
        if op is None:
            op = op_keys[id(node.op)] = op_index.setdefault(node.op, len(op_index))
        key = (op, tuple(id(i) for i in node.inputs))
        other = seen_nodes.get(key)
        if other is None:
            seen_nodes[key] = node
            continue
        for o, n in zip(node.outputs, other.outputs):
            canon[id(o)] = n
        fired += 1
        nodes_merged += 1
        log.counts["merge_node"] += 1
    if fired:       # nothing merged: nothing changed
        fg.outputs = [rep(o) for o in fg.outputs]
        if nodes_merged or not fg.fresh:
            fg.refresh()
        else:
            _constants_merged(fg, canon)
    return fired


def _constants_merged(fg: FunctionGraph, canon: dict[int, Variable]) -> None:
    """The clients after a merge that only made equal constants one (every use of each
    merged constant now reads its canonical one): the node order has not changed, so the
    uses move to the canonical constants, in node order, with no walk of the graph (a
    full refresh was most of merging one constant into a 35,000-node graph)."""
    pos = None
    for old, new in canon.items():
        uses = fg.clients.pop(old, None) if id(new) != old else None
        if not uses:
            continue
        if pos is None:
            pos = {id(n): i for i, n in enumerate(fg.nodes)}
        end = len(pos)
        merged = fg.clients[id(new)] + uses
        merged.sort(key=lambda u: (end, u[1]) if u[0] == "output" else (pos[id(u[0])], u[1]))
        fg.clients[id(new)] = merged


def run_passes(fg: FunctionGraph, passes: Sequence[tuple[str, Callable]],
               log: RewriteLog) -> None:
    log.nodes_before = len(fg.nodes)
    for name, fn in passes:
        t0 = time.perf_counter()
        n = fn(fg, log)
        log.passes.append((name, time.perf_counter() - t0, n))
    log.nodes_after = len(fg.nodes)
