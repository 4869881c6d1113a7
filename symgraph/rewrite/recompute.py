"""Recompute, don't export: a kernel's full-size elementwise output that other kernels
read becomes arithmetic inside each of them, where it is cheap to redo from values they
can load (the first kernel's inputs and reduction results).

Fusion gives a value needed by two kernels to the first as an extra output, which the
first writes and the second reads back: two full passes over memory for what is often
one subtraction. A layer norm's ``x - mean`` and ``(x - mean) / std``, written by the
statistics kernel and read by the gradient's kernels, were 64 MB of 176 on a 4096x1024
float32 batch. The pass inlines such a value into every kernel that reads it (only when
all of them can, so the store disappears) if computing it takes at most :data:`MAX_OPS`
cheap operations (no transcendentals) of values loaded at the full index or reduction
results of the same kernel; a reader may grow past ``fuse.MAX_GROUP`` by that much (a
one-op kernel left over where fusion met the cap, ``square(t)`` before a full group,
joins the group that reads it). Values round the same in every kernel that computes them
(the backends contract nothing), so the results are unchanged. A reader keeps the domain
the value gave it: where the recipe reads nothing that sets a domain axis (``fill(x, row)``
reads only the row, ``ones_like(x)`` nothing), the reader also takes an input of the first
kernel that sets it, through a load nothing uses.

The pass works in rounds: each inlines every candidate whose kernels no other inlining
of the round touched, then refreshes the graph once; the operation count of each body
value is computed once per kernel. It is linear in the graph for the graphs measured
(0.12 s on the 5,000-step chain's 137 kernels).
"""
from __future__ import annotations

from typing import NamedTuple

from codegen.kernel import Buffer, Instr, Kernel, Store, live_values

from ..graph import Apply, Variable
from ..ops.fused import Fused, KernelInputs, placed_bcast
from ..types import TensorType
from .engine import FunctionGraph, RewriteLog
from .fuse import MAX_GROUP
from .stages import as_fused

MAX_OPS = 8
"""The most operations a value may take to be recomputed where it is read."""
CHEAP = frozenset({"add", "sub", "mul", "neg", "div"})
"""The opcodes a recomputed value may use (no transcendentals: those cost more than the
memory they save)."""


def _full(nd: int) -> tuple[int, ...]:
    return tuple(range(nd))


def _recipe(a: Apply, j: int) -> list[int] | None:
    """The body values of kernel node ``a`` that output ``j`` needs, in order, if it is
    an elementwise store cheap to recompute elsewhere; None otherwise."""
    op, k = a.op, a.op.kernel
    s = k.stores[j]
    if s.reduce is not None or op.out_drop[j] or _cone(k)[s.value] > MAX_OPS:
        return None
    live = sorted(live_values(k.body, [s.value]))
    if sum(k.body[i].op not in ("load", "const", "reduced") for i in live) > MAX_OPS:
        return None
    for i in live:
        ins = k.body[i]
        if ins.op == "load" and op.in_axes[ins.attr] != _full(k.ndim):
            return None
        if ins.op == "reduced" and not k.stores[ins.attr].reduce:
            return None
        if ins.op not in ("load", "const", "reduced") and ins.op not in CHEAP:
            return None
    return live


_CONES: dict[int, tuple[Kernel, list[int]]] = {}


def _cone(k: Kernel) -> list[int]:
    """Per body value, an upper bound of the operations computing it (shared values
    counted once per use), or MAX_OPS + 1 where one of them is not cheap: one pass per
    kernel, so that looking at a kernel's many outputs stays linear."""
    hit = _CONES.get(id(k))
    if hit is not None and hit[0] is k:
        return hit[1]
    cost: list[int] = []
    for ins in k.body:
        if ins.op in ("load", "const", "reduced"):
            cost.append(0)
        elif ins.op in CHEAP:
            cost.append(min(MAX_OPS + 1, 1 + sum(cost[a] for a in ins.args)))
        else:
            cost.append(MAX_OPS + 1)
    if len(_CONES) > 4096:
        _CONES.clear()
    _CONES[id(k)] = (k, cost)
    return cost


def _reads(b: Apply, v: Variable) -> bool:
    """Whether kernel node ``b`` reads ``v`` only at the full index, unbroadcast."""
    nd = b.op.kernel.ndim
    return all(b.op.in_axes[i] == _full(nd) and not b.op.in_bcast[i]
               for i, u in enumerate(b.inputs) if u is v)


class _Kernelled(NamedTuple):
    """A lone kernel op (one that fusion left alone, say where a group met
    ``MAX_GROUP``) seen as the one-op kernel node it lowers as."""
    op: Fused
    inputs: list
    outputs: list


def _as_kernel(a: Apply):
    """``a`` as a kernel node (itself, or a lone op as its one-op kernel); else None."""
    op = as_fused(a)
    if op is None:
        return None
    return a if op is a.op else _Kernelled(op, list(a.inputs), list(a.outputs))


def _candidates(fg: FunctionGraph):
    """Kernel outputs that every reader can compute itself, as cheaply as it reads them:
    no reader loads more than one full-size array more than before (one it did read:
    ``v`` itself), so memory traffic only drops (``v`` is no longer written). Yields
    ``(node, kernel view, output, recipe)``."""
    for node in fg.nodes:
        a = _as_kernel(node)
        if a is None:
            continue
        for j, v in enumerate(a.outputs):
            users = fg.clients.get(id(v), [])
            if not users or any(c == "output" or not isinstance(c.op, Fused)
                                or c.op.kernel.ndim != a.op.kernel.ndim or not _reads(c, v)
                                for c, _ in users):
                continue
            live = _recipe(a, j)
            if live is None:
                continue
            full = {id(u) for u, _, bcast in (_source(a, a.op.kernel.body[i]) for i in live
                                               if a.op.kernel.body[i].op in ("load", "reduced"))
                    if not bcast}
            ops = sum(a.op.kernel.body[i].op not in ("load", "const", "reduced") for i in live)
            if all(len(full - {id(u) for u in c.inputs}) <= 1 and
                   len(c.op.labels) + ops <= MAX_GROUP + MAX_OPS for c, _ in users):
                yield node, a, j, live


def _source(a: Apply, ins: Instr) -> tuple[Variable, tuple[int, ...], tuple[int, ...]]:
    """The variable a recipe's load or reduced value reads, with its axes in the domain
    and the axes it broadcasts along (as :class:`Fused` wants them)."""
    nd = a.op.kernel.ndim
    if ins.op == "load":
        return a.inputs[ins.attr], a.op.in_axes[ins.attr], a.op.in_bcast[ins.attr]
    v = a.outputs[ins.attr]
    axes = tuple(ax for ax in range(nd) if ax not in a.op.out_drop[ins.attr])
    return v, axes, placed_bcast(v, axes, nd)


def _inline(b: Apply, v: Variable, a: Apply, live: list[int]) -> Apply:
    """Kernel node ``b`` computing ``v`` (output of ``a``, by recipe ``live``) itself."""
    op, k = b.op, b.op.kernel
    reads = KernelInputs()
    renumber = {old: reads.index(u, axes, bcast) for old, (u, axes, bcast)
                in enumerate(zip(b.inputs, op.in_axes, op.in_bcast)) if u is not v}

    ak = a.op.kernel
    body: list[Instr] = []
    recipe_at: dict[int, int] = {}           # a's value -> b's new value
    for i in live:
        ins = ak.body[i]
        if ins.op in ("load", "reduced"):
            body.append(Instr("load", ins.dtype, (), reads.index(*_source(a, ins))))
        else:
            body.append(Instr(ins.op, ins.dtype, tuple(recipe_at[x] for x in ins.args),
                              ins.attr))
        recipe_at[i] = len(body) - 1
    result = recipe_at[live[-1]]
    body += _witnesses(a, reads, k.ndim)
    remap: dict[int, int] = {}
    for i, ins in enumerate(k.body):
        if ins.op == "load" and b.inputs[ins.attr] is v:
            remap[i] = result
            continue
        attr = renumber[ins.attr] if ins.op == "load" else ins.attr
        body.append(Instr(ins.op, ins.dtype, tuple(remap[x] for x in ins.args), attr))
        remap[i] = len(body) - 1
    stores = tuple(Store(remap[s.value], s.reduce, s.axes, tuple(
        Instr(e.op, e.dtype, e.args, renumber[e.attr] if e.op == "load" else e.attr)
        for e in s.epilogue)) for s in k.stores)
    kernel = Kernel(k.name, reads.buffers(k.ndim), k.outputs, k.ndim, tuple(body), stores)
    new = Fused(kernel, reads.axes, op.out_drop, reads.bcast, op.labels, op.empty_ok)
    return Apply(new, reads.variables, [TensorType(o.dtype, o.type.shape)()
                                       for o in b.outputs], built_at=b.built_at)


def _witnesses(a: Apply, reads: KernelInputs, nd: int) -> list[Instr]:
    """Loads of inputs of ``a`` that give the reader the domain axes its other reads leave
    unset (``reads`` gets them). The value the reader stops reading had ``a``'s domain
    shape, which the recipe may not: ``fill(x, row)`` reads only the row, ``ones_like(x)``
    nothing, and a kernel's domain is what its inputs' shapes say (an axis no input sets
    is 1, and no input is no domain at all). The loads are dead: backends compile only
    the values stores need, and later passes carry an input along by its load."""
    unset = set(range(nd))
    for bcast in reads.bcast:
        unset &= set(bcast)
    loads = []
    for u, axes, bcast in zip(a.inputs, a.op.in_axes, a.op.in_bcast):
        if unset - set(bcast) or not reads.variables:
            loads.append(Instr("load", u.dtype, (), reads.index(u, axes, bcast)))
            unset &= set(bcast)
    return loads


def _without(a: Apply, unused: set[int]) -> Apply:
    """Kernel node ``a`` without its elementwise outputs ``unused`` (by index)."""
    op, k = a.op, a.op.kernel
    keep = [j for j in range(len(k.stores)) if j not in unused]
    index = {old: new for new, old in enumerate(keep)}
    fix = lambda ins: ins._replace(attr=index[ins.attr]) if ins.op == "reduced" else ins
    stores = tuple(k.stores[j]._replace(epilogue=tuple(map(fix, k.stores[j].epilogue)))
                   for j in keep)
    kernel = Kernel(k.name, k.inputs, tuple(Buffer(f"out{n}", k.outputs[j].dtype, k.ndim)
                                            for n, j in enumerate(keep)),
                    k.ndim, tuple(map(fix, k.body)), stores)
    new = Fused(kernel, op.in_axes, [op.out_drop[j] for j in keep], op.in_bcast, op.labels,
                op.empty_ok)
    return Apply(new, list(a.inputs), [TensorType(a.outputs[j].dtype, a.outputs[j].type.shape)()
                                       for j in keep], built_at=a.built_at)


def recompute(fg: FunctionGraph, log: RewriteLog) -> int:
    """The pass; the number of values it inlined."""
    fg.ensure_fresh()
    done, rounds = 0, True
    while rounds:         # rounds of independent inlinings, one graph refresh each
        rounds = False
        touched: set[int] = set()
        for node, a, j, live in _candidates(fg):
            v = a.outputs[j]
            readers = list({id(c): c for c, _ in fg.clients[id(v)]}.values())
            if id(node) in touched or any(id(b) in touched for b in readers):
                continue           # changed in this round: seen again in the next
            touched.add(id(node))
            for b in readers:
                new = _inline(b, v, a, live)
                touched.update((id(b), id(new)))
                for old, out in zip(b.outputs, new.outputs):
                    fg.replace(old, out)
            done += 1
            rounds = True
            log.counts["recompute"] += 1
        if rounds:
            fg.refresh()
    for a in list(fg.nodes) if done else ():    # what nobody reads now is not written
        if not isinstance(a.op, Fused):
            continue
        unused = {j for j, v in enumerate(a.outputs) if not fg.clients.get(id(v))
                  and a.op.kernel.stores[j].reduce is None}
        if unused and len(unused) < len(a.outputs):
            new = _without(a, unused)
            kept = [v for j, v in enumerate(a.outputs) if j not in unused]
            for old, out in zip(kept, new.outputs):
                fg.replace(old, out)
    fg.ensure_fresh()
    return done
