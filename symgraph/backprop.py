"""Reverse-mode differentiation, the core of :func:`symgraph.grad`: from gradients of some
variables (the seeds) to gradients of others, built as more graph from each op's ``grad``.
It sits below the ops that own inner graphs, whose gradients differentiate those graphs.

>>> import symgraph as sg
>>> x = sg.dscalar("x")
>>> (g,) = backprop({x * x: sg.constant(1.0, "float64")}, [x])
>>> float(g.eval({x: 3.0}))
6.0
"""
from __future__ import annotations

from typing import Sequence

from .graph import Variable, toposort
from .ops.elemwise import cast
from .ops.shape import reshape
from .types import FLOATS
from .variable import as_tensor


def _broadcast_like(g: Variable, v: Variable) -> Variable:
    """``g`` with the static-1 axes of the variable it is the gradient of, so that it
    broadcasts where ``v`` does (a slice of a concatenation's gradient has no static size
    of its own, and would not)."""
    missing = [a for a in range(v.ndim) if v.type.shape[a] == 1 and g.type.shape[a] != 1]
    if not missing:
        return g
    return reshape(g, [1 if a in missing else (g.type.shape[a] if g.type.shape[a] is not None
                                               else g.shape[a]) for a in range(v.ndim)])


def backprop(seeds: dict[Variable, Variable], wrt: Sequence[Variable],
             consider_constant: Sequence[Variable] = ()) -> list[Variable | None]:
    """The gradient of each ``wrt`` variable given the gradients ``seeds`` of others
    (None for a variable the seeds do not depend on); nothing flows through the
    variables in ``consider_constant``."""
    stop = {id(v) for v in consider_constant}
    roots = list(seeds)
    nodes = toposort(roots)
    # which variables lie on a path from a wrt variable (forward reachability)
    reach = {id(w) for w in wrt}
    for node in nodes:
        if any(id(i) in reach and id(i) not in stop for i in node.inputs):
            reach.update(id(o) for o in node.outputs)

    contribs: dict[int, list[Variable]] = {}
    for v, g in seeds.items():
        contribs.setdefault(id(v), []).append(g)
    total: dict[int, Variable] = {}

    def summed(v: Variable) -> Variable | None:
        if id(v) not in total and contribs.get(id(v)):
            parts = contribs[id(v)]
            acc = parts[0]
            for p in parts[1:]:
                acc = acc + p
            total[id(v)] = cast(acc, v.dtype)
        return total.get(id(v))

    for node in reversed(nodes):
        wanted = [id(i) in reach and id(i) not in stop for i in node.inputs]
        if not any(wanted):
            continue
        out_grads = [summed(o) for o in node.outputs]
        if all(g is None for g in out_grads):
            continue
        in_grads = node.op.grad_of(list(node.inputs), list(node.outputs), out_grads, wanted)
        if len(in_grads) != len(node.inputs):
            raise RuntimeError(f"{node.op}.grad returned {len(in_grads)} gradients for "
                               f"{len(node.inputs)} inputs")
        for inp, g, w in zip(node.inputs, in_grads, wanted):
            if g is None or not w or inp.dtype not in FLOATS:
                continue
            g = as_tensor(g)
            if g.ndim != inp.ndim:
                raise RuntimeError(f"{node.op}.grad gave a rank-{g.ndim} gradient for the "
                                   f"rank-{inp.ndim} input {inp!r}")
            contribs.setdefault(id(inp), []).append(_broadcast_like(g, inp))
    return [summed(w) for w in wrt]
