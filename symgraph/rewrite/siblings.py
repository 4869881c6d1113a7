"""Sibling reductions: two kernels that reduce the same axes of one array become one, so
the array is read once. A layer norm's backward sums ``dy * xhat`` and ``dy`` over the
batch axis (the gradients of its scale and shift): two passes over ``dy`` before, one now.

Two kernel nodes merge when
* both reduce the same axes (and have no stages: those are fuse_stages' business),
* both read a variable over the whole domain, broadcast on no axis (so their domains are
  that variable's shape, the same),
* neither depends on the other (the merged node would be part of a cycle),
* their max/min reductions agree on empty axes, and the merged kernel has at most
  ``fuse.MAX_GROUP`` ops.
"""
from __future__ import annotations

from codegen.kernel import Buffer, Instr, Kernel, Store

from ..graph import Apply
from ..ops.fused import Fused, KernelInputs
from ..types import TensorType
from .engine import FunctionGraph, RewriteLog
from .fuse import MAX_GROUP
from .stages import _depends_on, _max_minmax, as_fused, merge_until_none


def _shared(p: Apply, pop: Fused, q: Apply, qop: Fused) -> bool:
    full = tuple(range(pop.kernel.ndim))
    plain = lambda node, op: {id(v) for v, axes, b in zip(node.inputs, op.in_axes, op.in_bcast)
                              if axes == full and not b}
    return bool(plain(p, pop) & plain(q, qop))


def _mergeable(p: Apply, q: Apply) -> tuple[Fused, Fused] | None:
    pop, qop = as_fused(p), as_fused(q)
    if pop is None or qop is None:
        return None
    kp, kq = pop.kernel, qop.kernel
    if (kp.ndim != kq.ndim or not kp.reduce_axes or kp.reduce_axes != kq.reduce_axes
            or any(kp.stages) or any(kq.stages)
            or len(pop.labels) + len(qop.labels) > MAX_GROUP
            or (_max_minmax(kp) and _max_minmax(kq) and pop.empty_ok != qop.empty_ok)
            or not _shared(p, pop, q, qop)):
        return None
    clear_p: set[int] = set()
    clear_q: set[int] = set()
    if any(_depends_on(v, p, clear_p) for v in q.inputs) or \
            any(_depends_on(v, q, clear_q) for v in p.inputs):
        return None
    return pop, qop


def _concat(p: Apply, pop: Fused, q: Apply, qop: Fused) -> tuple[Fused, list]:
    """The kernel computing both: p's body and stores, then q's, on shared inputs."""
    ins = KernelInputs()
    kp, kq = pop.kernel, qop.kernel
    maps = [[ins.index(v, a, b) for v, a, b in zip(node.inputs, op.in_axes, op.in_bcast)]
            for node, op in ((p, pop), (q, qop))]

    def moved(body, loads, value_off, store_off):
        return [Instr(i.op, i.dtype, tuple(a + value_off for a in i.args),
                      loads[i.attr] if i.op == "load" else
                      i.attr + store_off if i.op == "reduced" else i.attr) for i in body]

    body = moved(kp.body, maps[0], 0, 0) + moved(kq.body, maps[1], len(kp.body),
                                                 len(kp.stores))
    stores = [Store(s.value, s.reduce, s.axes, tuple(moved(s.epilogue, maps[0], 0, 0)))
              for s in kp.stores]
    stores += [Store(s.value + len(kp.body), s.reduce, s.axes,
                     tuple(moved(s.epilogue, maps[1], 0, len(kp.stores))))
               for s in kq.stores]
    nd = kp.ndim
    outs = [*kp.outputs, *kq.outputs]
    kernel = Kernel(f"{kp.name}_{kq.name}"[:60], ins.buffers(nd),
                    tuple(Buffer(f"out{j}", b.dtype, nd) for j, b in enumerate(outs)),
                    nd, tuple(body), tuple(stores))
    empty_ok = pop.empty_ok if _max_minmax(kp) else qop.empty_ok
    return Fused(kernel, ins.axes, [*pop.out_drop, *qop.out_drop], ins.bcast,
                 [*pop.labels, *qop.labels], empty_ok), ins.variables


def _merge_one(fg: FunctionGraph) -> bool:
    """Merge the first pair of siblings found (in node order, by shared input)."""
    readers: dict[int, list[Apply]] = {}
    for node in fg.nodes:
        op = as_fused(node)
        if op is None or not op.kernel.reduce_axes:
            continue
        for v in {id(v): v for v in node.inputs}.values():
            for other in readers.get(id(v), ()):
                found = _mergeable(other, node)
                if found is not None:
                    _replace(fg, other, node, *_concat(other, found[0], node, found[1]))
                    return True
            readers.setdefault(id(v), []).append(node)
    return False


def _replace(fg: FunctionGraph, p: Apply, q: Apply, op: Fused, inputs: list) -> None:
    olds = (*p.outputs, *q.outputs)
    new = Apply(op, inputs, [TensorType(o.dtype, o.type.shape)() for o in olds],
                built_at=p.built_at or q.built_at)
    for old, out in zip(olds, new.outputs):
        fg.replace(old, out)


def fuse_siblings(fg: FunctionGraph, log: RewriteLog) -> int:
    """The pass: merge sibling reductions, a pair at a time, until none merge."""
    return merge_until_none(fg, log, "fuse_siblings", _merge_one)
