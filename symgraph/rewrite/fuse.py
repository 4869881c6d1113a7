"""Fusion: maximal groups of elementwise ops, and a reduction with the elementwise work
feeding it and following it, become one :class:`~symgraph.ops.fused.Fused` node holding a
kernel-IR :class:`~codegen.kernel.Kernel` (which the reference backend interprets and the
native backends compile).

Grouping walks the graph from its outputs. Each elementwise or reduction node not yet
grouped starts a group; it absorbs the elementwise producers of its inputs when
* the producer's value is used only inside the group, or it has the group's full domain
  shape (then it becomes an extra output of the kernel, rather than being computed twice
  or blocking fusion), and
* absorbing it makes no cycle (no path leaves the group and comes back).
A reduction also absorbs the elementwise chain after it, on the reduced shape, as the
store's epilogue. Smaller producers (a bias row feeding a matrix) are recomputed per
element of the domain, which costs arithmetic, not memory traffic.

The cost is linear in the graph: groups form within windows of :data:`SEGMENT` nodes of
the topological order, where reachability is exact and cheap, and hold at most
:data:`MAX_GROUP` ops, which keeps LLVM's time per op flat.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from codegen.kernel import Buffer, Builder, Instr, Kernel, Store, prune

from ..graph import Apply, Constant, Variable
from ..ops.elemwise import Elemwise
from ..ops.fused import Fused, placed_bcast
from ..ops.reduce import Reduce
from ..types import TensorType
from .engine import FunctionGraph, RewriteLog


SEGMENT = 512
"""Fusion looks at windows of this many consecutive nodes of the topological order, and a
group never spans two. A path between two nodes of a window only passes through nodes
between them, and groups of other windows cannot close one (an edge never leaves a
later window for an earlier one), so reachability is exact within the window at
``SEGMENT**2`` bits per window: linear in the graph, where whole-graph bitsets are
quadratic in time and memory (1.5 GB for 100,000 nodes)."""

SLACK = 8
"""Past :data:`MAX_GROUP`, a group still takes up to this many producers that would be
kernels of one op otherwise (their own producers are in other groups already: the
``square(tanh(y))`` of a long chain's gradient, at each full group's edge)."""

MAX_GROUP = 256
"""Ops per kernel (at most :data:`SLACK` more, see there). LLVM's loop vectorizer takes time quadratic in the length of a
loop body's dependency chains (a 4,096-op chain costs it 2.5 s, 128 ops 10 ms), so a long
elementwise chain becomes several kernels: each extra one writes and reads one array."""


@dataclass
class _Group:
    """Nodes becoming one kernel; ``members`` and ``reach`` are bitsets over the window
    (the group's nodes, everything reachable from them)."""
    root: Apply
    ndim: int
    domain: tuple[bool, ...]               # broadcastable pattern of the domain
    nodes: list[Apply] = field(default_factory=list)
    epilogue: list[Apply] = field(default_factory=list)
    ids: set[int] = field(default_factory=set)
    members: int = 0
    reach: int = 0

    @property
    def size(self) -> int:
        return len(self.nodes) + len(self.epilogue)


def _fusable(node: Apply) -> bool:
    return isinstance(node.op, Elemwise)


class _Fuser:
    """Grouping, window by window (:data:`SEGMENT`), with reachability as bitsets:
    ``desc[i]`` has bit j set when the window's node j is reachable from its node i. A
    group is contracted as it is formed: whatever reaches one of its nodes then reaches
    all that any of them reaches, so later groups are checked against the graph as it
    will be, and the final graph is acyclic."""

    def __init__(self, fg: FunctionGraph):
        self.fg = fg
        self.nodes = fg.nodes
        self.pos = {id(n): i for i, n in enumerate(self.nodes)}
        self.group_of: dict[int, _Group] = {}
        self.lo = self.hi = 0
        self.desc: list[int] = []

    def window(self, lo: int, hi: int) -> None:
        """Work on nodes ``lo`` to ``hi - 1``: their reachability among themselves."""
        self.lo, self.hi = lo, hi
        desc = self.desc = [0] * (hi - lo)
        for i in range(hi - 1, lo - 1, -1):
            d = 0
            for o in self.nodes[i].outputs:
                for c, _ in self.fg.clients.get(id(o), ()):
                    if c != "output":
                        j = self.pos[id(c)] - lo
                        if j < hi - lo:
                            d |= (1 << j) | desc[j]
            desc[i - lo] = d

    def local(self, node: Apply) -> int | None:
        """The node's bit in the window, None outside it."""
        i = self.pos[id(node)] - self.lo
        return i if 0 <= i < self.hi - self.lo else None

    def add(self, g: _Group, node: Apply, epilogue: bool = False) -> None:
        (g.epilogue if epilogue else g.nodes).append(node)
        g.ids.add(id(node))
        i = self.local(node)
        g.members |= 1 << i
        g.reach |= self.desc[i]

    def clients(self, v: Variable) -> list:
        return [c for c, _ in self.fg.clients.get(id(v), [])]

    def depends_on(self, v: Variable, reach: int) -> bool:
        """Whether ``v`` is computed from the group's values (an earlier window's value
        never is)."""
        i = None if v.owner is None else self.local(v.owner)
        return i is not None and bool(reach >> i & 1)

    def try_absorb(self, g: _Group, p: Apply) -> bool:
        v = p.outputs[0]
        if not _fusable(p) or id(p) in self.group_of or v.ndim != g.ndim or \
                self.local(p) is None or id(p) in g.ids:
            return False
        if g.size >= MAX_GROUP and (g.size >= MAX_GROUP + SLACK or any(
                i.owner is not None and _fusable(i.owner) and id(i.owner) not in
                self.group_of for i in p.inputs)):
            return False     # full: only a producer whose own producers are all taken
        outside = [c for c in self.clients(v) if c == "output" or id(c) not in g.ids]
        if outside and v.type.broadcastable != g.domain:
            return False       # needed outside at a smaller shape: it gets its own kernel
        # no path may leave the group and come back: through p's inputs, or from p's
        # outside users (those of later windows reach nothing here)
        if any(self.depends_on(i, g.reach) for i in p.inputs):
            return False
        for c in outside:
            j = None if c == "output" else self.local(c)
            if j is not None and self.desc[j] & g.members:
                return False
        self.add(g, p)
        return True

    def contract(self, g: _Group) -> None:
        """Record that the group is now one node (see the class docstring). A group whose
        only value used outside is its root's changes no reachability between outside
        nodes (all its paths lead through the root), so it needs no update."""
        leaving = sum(any(c == "output" or id(c) not in g.ids for c in self.clients(o))
                      for n in (*g.nodes, *g.epilogue) for o in n.outputs)
        if leaving <= 1:
            return
        members, reach = g.members, g.reach | g.members
        for i, d in enumerate(self.desc):
            if d & members or members >> i & 1:
                self.desc[i] = d | reach

    def grow(self, g: _Group) -> None:
        work = list(g.nodes)
        while work:
            node = work.pop()
            for i in node.inputs:
                if i.owner is not None and self.try_absorb(g, i.owner):
                    work.append(i.owner)

    def grow_epilogue(self, g: _Group) -> None:
        """Absorb the elementwise work on the reduced shape that follows a reduction. It
        may read the reduced values and inputs from outside, not a value of the group's
        body: an epilogue runs on the reduced shape (reducing a static-1 axis leaves the
        shape as it was, so the patterns alone cannot tell)."""
        out = g.root.outputs[0]
        inside = {id(out)}
        body = {id(o) for n in g.nodes for o in n.outputs} - inside
        changed = True
        while changed:
            changed = False
            for v in [out, *(n.outputs[0] for n in g.epilogue)]:
                for c in self.clients(v):
                    if c == "output" or not _fusable(c) or c.op.positional or \
                            id(c) in self.group_of or \
                            id(c) in g.ids or self.local(c) is None or \
                            g.size >= MAX_GROUP or \
                            c.outputs[0].type.broadcastable != out.type.broadcastable:
                        continue
                    if any(id(i) in body or (id(i) not in inside and
                                             self.depends_on(i, g.reach))
                           for i in c.inputs):
                        continue
                    self.add(g, c, epilogue=True)
                    inside.add(id(c.outputs[0]))
                    changed = True

    def groups(self) -> list[_Group]:
        """Window by window: reductions group first (so the work after them can join
        their epilogue), then the remaining elementwise nodes, each walk from the
        outputs up."""
        found = []
        for lo in range(0, len(self.nodes), SEGMENT):
            self.window(lo, min(lo + SEGMENT, len(self.nodes)))
            for phase in (Reduce, Elemwise):
                for node in reversed(self.nodes[self.lo:self.hi]):
                    if id(node) in self.group_of or not isinstance(node.op, phase):
                        continue
                    x = node.inputs[0] if phase is Reduce else node.outputs[0]
                    g = _Group(node, x.ndim, x.type.broadcastable)
                    self.add(g, node)
                    self.grow(g)
                    if phase is Reduce:
                        self.grow_epilogue(g)
                    for n in (*g.nodes, *g.epilogue):
                        self.group_of[id(n)] = g
                    if g.size > 1:
                        self.contract(g)
                        found.append(g)
                    elif phase is Elemwise and any(_inline_scalar(i) is not None
                                                   for i in node.inputs):
                        found.append(g)    # one op, but its constant becomes an immediate
        return found


def _build(fuser: _Fuser, g: _Group) -> tuple[Fused, list[Variable], list[Variable]]:
    """The Fused op for a group, its input variables and the variables it replaces."""
    ids, pos = g.ids, fuser.pos
    body_nodes = sorted(g.nodes, key=lambda n: pos[id(n)])
    reduce_node = g.root if isinstance(g.root.op, Reduce) else None
    if reduce_node is not None:
        body_nodes.remove(reduce_node)
    inputs: list[Variable] = []
    in_index: dict[int, int] = {}
    b = Builder()
    val: dict[int, int] = {}

    def load(v: Variable, builder: Builder) -> int:
        if id(v) not in in_index:
            in_index[id(v)] = len(inputs)
            inputs.append(v)
        return builder.load(in_index[id(v)], v.dtype)

    for n in body_nodes:
        args = [val[id(i)] if id(i) in val else
                b.const(_inline_scalar(i), i.dtype) if _inline_scalar(i) is not None else
                load(i, b) for i in n.inputs]
        val[id(n.outputs[0])] = n.op.scalar.lower(b, args)

    stores: list[Store] = []
    outputs: list[Variable] = []
    drops: list[tuple[int, ...]] = []
    # values needed outside the group become elementwise stores
    for n in body_nodes:
        v = n.outputs[0]
        if any(c == "output" or id(c) not in ids for c in fuser.clients(v)):
            stores.append(Store(val[id(v)]))
            outputs.append(v)
            drops.append(())
    epi_axes: dict[int, tuple[int, ...]] = {}
    if reduce_node is not None:
        op, x = reduce_node.op, reduce_node.inputs[0]
        acc_val = val[id(x)] if id(x) in val else load(x, b)
        e = Builder()
        acc = e.emit("acc", x.dtype)
        if op.mean:
            acc = e.emit("div", x.dtype, (acc, e.emit("count", x.dtype)))
        kept = tuple(a for a in range(g.ndim) if op.keepdims or a not in op.axes)
        red_out = reduce_node.outputs[0]
        evals = {id(red_out): acc}
        epilogue_nodes = sorted(g.epilogue, key=lambda n: pos[id(n)])
        for n in epilogue_nodes:
            args = []
            for i in n.inputs:
                if id(i) in evals:
                    args.append(evals[id(i)])
                elif _inline_scalar(i) is not None:
                    args.append(e.const(_inline_scalar(i), i.dtype))
                else:
                    epi_axes.setdefault(id(i), kept)
                    args.append(load(i, e))
            evals[id(n.outputs[0])] = n.op.scalar.lower(e, args)
        # every value on the reduced shape that is used outside gets a store
        for v in [red_out, *(n.outputs[0] for n in epilogue_nodes)]:
            if any(c == "output" or id(c) not in ids for c in fuser.clients(v)):
                stores.append(Store(acc_val, op.combiner, op.axes, _epilogue(e, evals[id(v)])))
                outputs.append(v)
                drops.append(() if op.keepdims else op.axes)

    empty_ok = reduce_node is not None and reduce_node.op.empty_ok
    kernel, in_axes, in_bcast, labels = _assemble(g, pos, inputs, outputs, b.body, stores,
                                                  epi_axes)
    return Fused(kernel, in_axes, drops, in_bcast, labels, empty_ok), inputs, outputs


def _assemble(g: _Group, pos: dict[int, int], inputs: list[Variable],
              outputs: list[Variable], body: list[Instr], stores: list[Store],
              epi_axes: dict[int, tuple[int, ...]]) -> tuple[Kernel, list, list, list]:
    """The group's kernel, with where each input sits in its domain (``in_axes``), the
    axes each broadcasts along (``in_bcast``) and the labels of the ops it absorbed."""
    in_axes, in_bcast = [], []
    for v in inputs:
        axes = epi_axes.get(id(v), tuple(range(g.ndim)))
        in_axes.append(axes)
        in_bcast.append(placed_bcast(v, axes, g.ndim))
    ordered = [*sorted(g.nodes, key=lambda n: pos[id(n)]), *g.epilogue]
    labels = [str(n.op) for n in ordered]
    name = "fused_" + "_".join(dict.fromkeys(
        n.op.scalar.name if isinstance(n.op, Elemwise) else n.op.name for n in ordered))[:48]
    kernel = Kernel(name,
                    tuple(Buffer(f"in{i}", v.dtype, g.ndim) for i, v in enumerate(inputs)),
                    tuple(Buffer(f"out{j}", v.dtype, g.ndim) for j, v in enumerate(outputs)),
                    g.ndim, tuple(body), tuple(stores))
    return kernel, in_axes, in_bcast, labels


def _inline_scalar(v: Variable):
    """The value of a one-element constant, which a kernel takes as an immediate."""
    if isinstance(v, Constant) and v.data.size == 1:
        return v.data.reshape(-1)[0].item()
    return None


def _epilogue(e: Builder, result: int) -> tuple[Instr, ...]:
    """The epilogue computing value ``result`` of the builder's body, as the IR wants it:
    that value last, and nothing it does not need (the builder holds the epilogues of
    every store on the reduced shape); empty if it is the reduced value itself."""
    body = prune(e.body[:result + 1])
    return () if len(body) == 1 and body[0].op == "acc" else body


def fuse(fg: FunctionGraph, log: RewriteLog) -> int:
    """The fusion pass."""
    fg.ensure_fresh()
    fuser = _Fuser(fg)
    groups = fuser.groups()
    built = [_build(fuser, g) for g in groups]
    new_nodes = []
    for (op, inputs, outputs), g in zip(built, groups):
        node = Apply(op, inputs, [TensorType(o.dtype, o.type.shape)() for o in outputs],
                     built_at=g.root.built_at)
        new_nodes.append((node, outputs))
        for i, v in enumerate(inputs):
            fg.clients[id(v)].append((node, i))
        log.counts[f"fuse_{'reduce' if isinstance(g.root.op, Reduce) else 'elemwise'}"] += 1
        log.counts["fused_ops"] += len(g.nodes) + len(g.epilogue)
    for node, outputs in new_nodes:
        for old, new in zip(outputs, node.outputs):
            fg.replace(old, new)
    fg.refresh()
    check_acyclic(fg)
    return len(groups)


def check_acyclic(fg: FunctionGraph) -> None:
    """Fusion must leave a DAG (the grouping rules guarantee it; this checks them): Kahn's
    algorithm, which takes every node only if no cycle holds any back."""
    users: dict[int, list[int]] = defaultdict(list)
    waiting = {id(n): 0 for n in fg.nodes}
    for n in fg.nodes:
        for i in n.inputs:
            if i.owner is not None and id(i.owner) in waiting:
                waiting[id(n)] += 1
                users[id(i.owner)].append(id(n))
    ready = [k for k, w in waiting.items() if w == 0]
    taken = 0
    while ready:
        taken += 1
        for u in users[ready.pop()]:
            waiting[u] -= 1
            if waiting[u] == 0:
                ready.append(u)
    if taken != len(waiting):
        raise RuntimeError("fusion produced a cycle; please report this graph")
