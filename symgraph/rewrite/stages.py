"""Staged fusion: a kernel that reduces over some axes is merged into the kernel that uses
its result broadcast back over those axes (and the values it computed on the way), giving
one kernel that makes several passes over each row: ``reduced`` values in the kernel IR
(:mod:`codegen.kernel`). A row softmax, ``exp(x - max(x)) / sum(exp(x - max(x)))``, is then
one kernel of three passes that reads each row from memory once, where it was three
kernels passing ``exp(x - max)`` through memory.

A producer P and a consumer C (both :class:`~symgraph.rewrite.fuse.Fused`) merge when
* they have the same rank and C reduces nothing or the axes P reduces,
* C reads a result of P: a reduction's, with the reduced axes re-inserted (keepdims, or a
  dimshuffle that only adds them back), or a value P stores over its whole domain,
* their domains are provably equal: C reads a whole-domain value of P, or both read one
  variable over the whole domain,
* nothing else C reads depends on P (the merged node would be part of a cycle),
* and the merged kernel has at most :data:`MAX_STAGES` stages.
The values P passed to C through memory are recomputed in C's pass instead of stored
(unless something else uses them): arithmetic is cheaper than memory traffic here.
"""
from __future__ import annotations

from typing import Callable

from codegen.kernel import Buffer, Builder, Instr, Kernel, Store

from ..graph import Apply, Variable
from ..ops.fused import Fused, KernelInputs
from ..ops.shape import DimShuffle
from ..types import TensorType
from .engine import FunctionGraph, RewriteLog
from .fuse import MAX_GROUP, check_acyclic

MAX_STAGES = 4
"""A merged kernel makes at most this many passes over each row."""


def fuse_stages(fg: FunctionGraph, log: RewriteLog) -> int:
    """The staged-fusion pass: merge producer/consumer kernels until none merge."""
    return merge_until_none(fg, log, "fuse_stages", _merge_one)


def merge_until_none(fg: FunctionGraph, log: RewriteLog, name: str,
                     merge_one: Callable[[FunctionGraph], bool]) -> int:
    """A merging pass: ``merge_one(fg)`` merges one pair of kernels (True) or finds none
    (False) on the graph as it is; repeated until it finds none. Returns the merges."""
    merged = 0
    fg.ensure_fresh()
    while merge_one(fg):
        merged += 1
        log.counts[name] += 1
        fg.ensure_fresh()
    check_acyclic(fg)
    return merged


def _merge_one(fg: FunctionGraph) -> bool:
    for c in fg.nodes:
        if as_fused(c) is not None and any(_merge(fg, p, c) for p in _producers(c)):
            return True
    return False


def as_fused(node: Apply) -> Fused | None:
    """A kernel node as a :class:`Fused` op: itself, or a lone elementwise op or
    reduction as a one-op kernel (None for anything that is not kernel work)."""
    as_kernel = getattr(node.op, "as_kernel", None)
    return as_kernel(node) if as_kernel is not None else None


def _producers(c: Apply) -> list[Apply]:
    found: dict[int, Apply] = {}
    for v in c.inputs:
        r = _through_dimshuffle(v)
        if r.owner is not None and as_fused(r.owner) is not None:
            found.setdefault(id(r.owner), r.owner)
    return list(found.values())


def _through_dimshuffle(v: Variable) -> Variable:
    """The variable under a dimshuffle that only inserts broadcast axes, else ``v``."""
    node = v.owner
    if node is not None and isinstance(node.op, DimShuffle):
        axes = [q for q in node.op.pattern if q != "x"]
        if axes == sorted(axes) and len(axes) == node.inputs[0].ndim:
            return node.inputs[0]
    return v


def _domain_bcast(op: Fused) -> set[int]:
    """Domain axes along which every input broadcasts: of size 1 in every call."""
    axes = set(range(op.kernel.ndim))
    for b in op.in_bcast:
        axes &= set(b)
    return axes


def _uses(c: Apply, cop: Fused, p: Apply, pop: Fused) -> dict[int, tuple[str, int]] | None:
    """How C's inputs read P: {C input: ('reduced' | 'value', P store)}; None if some read
    cannot become part of one kernel."""
    kp, kc = pop.kernel, cop.kernel
    full = tuple(range(kc.ndim))
    red = set(kp.reduce_axes)
    kept = tuple(a for a in full if a not in red)
    in_body = {ins.attr for ins in kc.body if ins.op == "load"}
    in_epilogue = {ins.attr for s in kc.stores for ins in s.epilogue if ins.op == "load"}
    uses = {}
    for i, v in enumerate(c.inputs):
        r = _through_dimshuffle(v)
        if r.owner is not p:
            continue
        j = next(n for n, o in enumerate(p.outputs) if o is r)
        store, drop = kp.stores[j], set(pop.out_drop[j])
        axes = cop.in_axes[i]
        if not store.reduce:                 # a value over the whole domain, in the body
            if r is not v or i in in_epilogue or axes != full:
                return None
            uses[i] = ("value", j)
            continue
        if r is not v:                       # the dimshuffle must re-insert the reduced axes
            pattern = v.owner.op.pattern
            if drop != red or {a for a, q in enumerate(pattern) if q == "x"} != red:
                return None
        # read at each kept index: broadcast along the reduced axes in the body, or in an
        # epilogue of C reducing the same axes
        if axes != full and not (r is v and drop == red and axes == kept):
            return None
        if i in in_body and (axes != full or not red <= set(cop.in_bcast[i])):
            return None
        if i in in_epilogue and kc.reduce_axes != kp.reduce_axes:
            return None
        uses[i] = ("reduced", j)
    return uses


def _same_domain(p: Apply, pop: Fused, c: Apply, cop: Fused, uses: dict) -> bool:
    # a value over P's whole domain that C reads broadcast on no axis it may extend pins
    # C's domain to P's
    if any(kind == "value" and set(cop.in_bcast[i]) == _domain_bcast(cop)
           for i, (kind, _) in uses.items()):
        return True
    full = tuple(range(pop.kernel.ndim))

    def pins(node: Apply, op: Fused) -> set[int]:
        """Variables read over the whole domain, broadcast on no axis it may extend."""
        dom = _domain_bcast(op)
        return {id(v) for v, axes, b in zip(node.inputs, op.in_axes, op.in_bcast)
                if axes == full and set(b) == dom}
    return bool(pins(p, pop) & pins(c, cop))


def _depends_on(v: Variable, p: Apply, clear: set[int]) -> bool:
    """Whether ``v`` is computed from an output of ``p``; ``clear`` holds nodes known not
    to be, and gets those this search finds."""
    stack, seen = [v], []
    while stack:
        node = stack.pop().owner
        if node is None or id(node) in clear:
            continue
        if node is p:
            return True
        seen.append(id(node))
        stack.extend(node.inputs)
    clear.update(seen)
    return False


def _max_minmax(k: Kernel) -> bool:
    return any(s.reduce in ("max", "min") for s in k.stores)


def _merge(fg: FunctionGraph, p: Apply, c: Apply) -> bool:
    pop, cop = as_fused(p), as_fused(c)
    kp, kc = pop.kernel, cop.kernel
    if kp.ndim != kc.ndim or not kp.reduce_axes or kc.reduce_axes not in ((), kp.reduce_axes):
        return False
    if len(pop.labels) + len(cop.labels) > MAX_GROUP:      # ops per kernel, as fusion's
        return False
    uses = _uses(c, cop, p, pop)
    if not uses or not _same_domain(p, pop, c, cop, uses):
        return False
    if _max_minmax(kp) and _max_minmax(kc) and pop.empty_ok != cop.empty_ok:
        return False
    clear: set[int] = set()
    if any(_depends_on(v, p, clear) for i, v in enumerate(c.inputs) if i not in uses):
        return False
    built = _build(fg, p, pop, c, cop, uses)
    if built is None:
        return False
    op, inputs, replaced = built
    node = Apply(op, inputs, [TensorType(v.dtype, v.type.shape)() for v in replaced],
                 built_at=c.built_at or p.built_at)
    for old, new in zip(replaced, node.outputs):
        fg.replace(old, new)
    return True


def _build(fg: FunctionGraph, p: Apply, pop: Fused, c: Apply, cop: Fused, uses: dict
           ) -> tuple[Fused, list[Variable], list[Variable]] | None:
    """The merged op, its inputs, and the variables (of P, then C) its outputs replace."""
    kp, kc = pop.kernel, cop.kernel
    ops = {id(p): pop, id(c): cop}
    b = Builder()
    ins = KernelInputs()

    def input_index(node: Apply, i: int) -> int:
        op = ops[id(node)]
        return ins.index(node.inputs[i], op.in_axes[i], op.in_bcast[i])

    # P's stores that stay: every reduction (C reads them as `reduced`), and the
    # elementwise ones something besides C uses
    keep_p = [j for j, s in enumerate(kp.stores)
              if s.reduce or any(cl is not c for cl, _ in fg.clients.get(id(p.outputs[j]), []))]
    p_store = {j: n for n, j in enumerate(keep_p)}
    c_store = {j: len(keep_p) + j for j in range(len(kc.stores))}

    def emit(node: Apply, body, stores_at: dict[int, int], loaded) -> list[int]:
        vals = []
        for ins in body:
            if ins.op == "load":
                v = loaded(ins.attr)
            elif ins.op == "reduced":
                v = b.emit("reduced", ins.dtype, (), stores_at[ins.attr])
            else:
                v = b.emit(ins.op, ins.dtype, tuple(vals[a] for a in ins.args), ins.attr)
            vals.append(v)
        return vals

    pv = emit(p, kp.body, p_store, lambda i: b.load(input_index(p, i), kp.inputs[i].dtype))

    def c_load(i: int) -> int:
        if i in uses:
            kind, j = uses[i]
            if kind == "reduced":
                return b.emit("reduced", kp.outputs[j].dtype, (), p_store[j])
            return pv[kp.stores[j].value]
        return b.load(input_index(c, i), kc.inputs[i].dtype)
    cv = emit(c, kc.body, c_store, c_load)

    def epilogue_load(node: Apply, e: Instr) -> Instr:
        if node is c and e.attr in uses:       # a result of P (a reduction, by _uses)
            return Instr("reduced", e.dtype, (), p_store[uses[e.attr][1]])
        return Instr("load", e.dtype, (), input_index(node, e.attr))

    def store(node: Apply, s: Store, vals: list[int], stores_at: dict[int, int]) -> Store:
        epi = tuple(epilogue_load(node, e) if e.op == "load" else
                    Instr("reduced", e.dtype, (), stores_at[e.attr]) if e.op == "reduced"
                    else e for e in s.epilogue)
        return Store(vals[s.value], s.reduce, s.axes, epi)
    stores = [store(p, kp.stores[j], pv, p_store) for j in keep_p] + \
             [store(c, s, cv, c_store) for s in kc.stores]
    outs = [*(kp.outputs[j] for j in keep_p), *kc.outputs]
    kernel = Kernel(f"{kp.name}_{kc.name.removeprefix('fused_')}"[:64],
                    ins.buffers(kp.ndim),
                    tuple(Buffer(f"out{n}", o.dtype, o.rank) for n, o in enumerate(outs)),
                    kp.ndim, tuple(b.body), tuple(stores))
    if max(kernel.stages) >= MAX_STAGES:
        return None
    drops = [pop.out_drop[j] for j in keep_p] + list(cop.out_drop)
    op = Fused(kernel, ins.axes, drops, ins.bcast, (*pop.labels, *cop.labels),
               pop.empty_ok if _max_minmax(kp) else cop.empty_ok)
    return op, ins.variables, [*(p.outputs[j] for j in keep_p), *c.outputs]
