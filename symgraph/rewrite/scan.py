"""Scan push-out: work a loop's body repeats for nothing moves out of the loop.

* A constant given to the loop goes into its body, where it folds.
* A node of the inner graph that reads only constants (the loop's non-sequences) computes
  the same value at every step: it is computed once, before the loop, and the body reads
  it as a new constant (loop-invariant code motion).
* A matrix product of a sequence's row by a constant matrix, ``x_t @ W``, is one product
  per step: it becomes one product of the whole sequence, ``x @ W``, before the loop, and
  the body reads its rows (one large GEMM in place of many small ones: what makes an RNN
  or LSTM layer fast).
* A carried sum of products of a sequence's row by a per-step value, ``acc + x_t.T @ d_t``
  (or ``acc + outer(x_t, d_t)``): how the gradient of a weight matrix accumulates in the
  backward loop. The loop outputs ``d_t`` stacked instead, and one product after it,
  ``x.T @ d`` over all the steps (and rows), gives the sum.

* A scan that extends another (the same loop with more outputs: the products a gradient
  reads) takes its place, so the loop runs once.
* An output that is a sequence's row, stacked, is that sequence: it is not copied.
* Outputs nobody reads are not computed (a gradient loop computes every input's gradient;
  a function may want only the weights'), with the values they alone needed.

All keep the values: the rewritten node computes what the old one did.
"""
from __future__ import annotations

from typing import Any, NamedTuple

from ..graph import Constant, Variable, clone_replace, graph_inputs, toposort
from ..ops.blas import Dot, dot
from ..ops.elemwise import Elemwise, cast
from ..ops.scan import Scan, make_scan
from ..ops.shape import DimShuffle, reshape
from ..variable import TensorConstant
from .engine import register


def _base_of(fg, node):
    """The alive scan node that ``node`` extends (same op as ``node.op.extends``, same
    inputs), or None."""
    return next(_extending(fg, node, lambda c: node.op.extends is not None and
                           c.op == node.op.extends), None)


def _extending(fg, node, match):
    """Alive scan nodes on ``node``'s inputs (the same variables) that ``match``."""
    for client, _ in fg.clients.get(id(node.inputs[0]), ()):
        if client != "output" and client is not node and id(client) in fg.alive and \
                isinstance(client.op, Scan) and len(client.inputs) == len(node.inputs) and \
                all(a is b for a, b in zip(client.inputs, node.inputs)) and match(client):
            yield client


class _Parts(NamedTuple):
    """A scan node taken apart: its op's ``info``; the node's inputs (the number of steps,
    sequences, initial values, carried values, constants); the inner graph's inputs
    (sequence rows, per fed-back output its tap values, carried values, constants)."""
    info: Any
    n_steps: Variable
    seqs: list
    inits: list
    carry0: list
    consts: list
    i_seqs: list
    i_taps: list
    i_carry: list
    i_consts: list


def _parts(node) -> _Parts:
    n_steps, *outer = node.inputs
    return _Parts(node.op.info, n_steps, *node.op.split_outer(outer), *node.op.split_inner())


def _frozen(fg, node) -> bool:
    """A scan that has an extension somewhere (its own inputs may become the extension's
    only later, as the rewrites make copies of one graph one), or an extension whose scan
    is still there, waits for :func:`scan_adopt_extension`: rewriting either alone would
    part them for good. The ``scan_merge`` pass rewrites what stays apart."""
    if node.op.extends is not None:
        return _base_of(fg, node) is not None
    return any(isinstance(n.op, Scan) and n.op.extends == node.op and id(n) in fg.alive
               for n in fg.nodes)


@register("scan_merge", tracks=[Scan])
def scan_adopt_extension(fg, node):
    """A scan the gradient built as this one with more outputs (``Scan.extends``) on the
    same inputs computes this one's outputs too: they become its."""
    for client in _extending(fg, node, lambda c: c.op.extends == node.op):
        info, extra = node.op.info, client.op.info.n_nit - node.op.info.n_nit
        kept = len(info.taps) + info.n_nit
        return [*client.outputs[:kept], *client.outputs[kept + extra:]]
    return None


@register("canonicalize", "scan_merge", tracks=[Scan])
def scan_inline_constants(fg, node):
    """Constants given to the loop go into its body, where they fold (the training flag
    of ``sg.function(training=False)`` takes its branch there, so no dropout is drawn)."""
    if _frozen(fg, node):
        return None
    op = node.op
    info, n_steps, seqs, inits, carry0, consts, i_seqs, i_taps, i_carry, i_consts = \
        _parts(node)
    fixed = {v: TensorConstant(v.type, x.data) for v, x in zip(i_consts, consts)
             if isinstance(x, Constant) and v.type.accepts_shape(x.data.shape)}
    if not fixed:
        return None
    body = clone_replace(list(op.graph.outputs), fixed)
    n_rec, n_nit, n_carry = op.split_outputs(body)
    return make_scan(n_steps, list(zip(seqs, i_seqs)),
                     list(zip(inits, info.taps, i_taps, n_rec)), n_nit,
                     list(zip(carry0, i_carry, n_carry)),
                     [(x, v) for x, v in zip(consts, i_consts) if v not in fixed],
                     body[-1] if info.until else None, info.truncate_gradient, op._name)


@register("canonicalize", "scan_merge", tracks=[Scan])
def scan_push_out(fg, node):
    """Invariant nodes of the body are computed once before the loop, and ``x_t @ W`` as
    one ``x @ W`` over the whole sequence (see the module's text)."""
    if _frozen(fg, node):
        return None
    op = node.op
    info, n_steps, seqs, inits, carry0, consts, i_seqs, i_taps, i_carry, i_consts = \
        _parts(node)
    outer_of = {id(v): x for v, x in zip(i_consts, consts)}
    seq_ids = {id(v) for v in i_seqs}
    body = op.graph.outputs
    nodes = toposort(body)
    invariant, pure = set(outer_of), set()     # pure: computed from constants alone
    for nd in nodes:
        if not nd.op.deterministic or nd.op.inner_graphs():
            continue
        if all(id(i) in pure or isinstance(i, Constant) for i in nd.inputs):
            pure.update(id(o) for o in nd.outputs)     # folds inside the body
        elif all(id(i) in invariant or id(i) in pure or isinstance(i, Constant)
                 for i in nd.inputs):
            invariant.update(id(o) for o in nd.outputs)
    fixed = lambda v: id(v) in invariant or id(v) in pure or isinstance(v, Constant)

    hoist: dict[int, Variable] = {}      # invariant values the rest of the body reads
    for nd in nodes:
        if not any(id(o) in invariant for o in nd.outputs):
            hoist.update((id(i), i) for i in nd.inputs
                         if id(i) in invariant and i.owner is not None)
    hoist.update((id(o), o) for o in body if id(o) in invariant and o.owner is not None)
    products = [nd for nd in nodes if isinstance(nd.op, Dot) and id(nd.inputs[0]) in seq_ids
                and nd.inputs[1].ndim == 2 and fixed(nd.inputs[1])]
    if not hoist and not products:
        return None

    to_outer = dict(zip(i_consts, consts))
    hoisted = list(hoist.values())
    outside = dict(zip(map(id, hoisted), clone_replace(hoisted, to_outer))) if hoisted else {}
    outer_value = lambda v: outer_of.get(id(v), outside.get(id(v), v))
    swap: dict[Variable, Variable] = {v: v.type(f"hoisted_{k}") for k, v in enumerate(hoisted)}
    new_seqs = []
    seq_outer = dict(zip(map(id, i_seqs), seqs))
    for nd in products:
        row, w = nd.inputs
        swap[nd.outputs[0]] = p = nd.outputs[0].type(f"{row.name or 'x'}@w")
        new_seqs.append((dot(seq_outer[id(row)], outer_value(w)), p))
    new_body = clone_replace(list(body), swap)
    used = {id(v) for v in graph_inputs(new_body)}

    n_rec, n_nit, n_carry = op.split_outputs(new_body)
    cond = new_body[-1] if info.until else None
    keep_seqs = [(x, v) for x, v in zip(seqs, i_seqs) if id(v) in used] + new_seqs
    recurrent = [(x, taps, vs, o) for x, taps, vs, o in zip(inits, info.taps, i_taps, n_rec)]
    carried = list(zip(carry0, i_carry, n_carry))
    keep_consts = [(x, v) for x, v in zip(consts, i_consts) if id(v) in used]
    keep_consts += [(outside[id(v)], swap[v]) for v in hoisted if id(swap[v]) in used]
    return make_scan(n_steps, keep_seqs, recurrent, n_nit, carried, keep_consts, cond,
                     info.truncate_gradient, op._name)


def _row_times_step(d: Variable, seq_ids: set[int]):
    """``(row, per-step factor)`` if ``d`` is ``row.T @ q`` (a sequence's 2-d row) or
    ``outer(row, q)`` (a 1-d row): a product the steps' sum of is one product of the
    whole sequence and the stacked factors."""
    nd = d.owner
    if nd is None:
        return None
    if isinstance(nd.op, Dot):
        a, q = nd.inputs
        if a.owner is not None and isinstance(a.owner.op, DimShuffle) and \
                a.owner.op.pattern == (1, 0) and id(a.owner.inputs[0]) in seq_ids and q.ndim == 2:
            return a.owner.inputs[0], q
    if isinstance(nd.op, Elemwise) and nd.op.scalar.name == "mul" and len(nd.inputs) == 2:
        a, b = (i.owner for i in nd.inputs)
        if a is not None and b is not None and isinstance(a.op, DimShuffle) and \
                isinstance(b.op, DimShuffle) and a.op.pattern == (0, "x") and \
                b.op.pattern == ("x", 0) and id(a.inputs[0]) in seq_ids:
            return a.inputs[0], b.inputs[0]
    return None


@register("canonicalize", "scan_merge", tracks=[Scan])
def scan_push_out_sums(fg, node):
    """A carried ``acc + x_t.T @ d_t`` (a weight gradient's sum in the backward loop)
    becomes ``d_t`` stacked and one product after the loop (see the module's text)."""
    if _frozen(fg, node):
        return None
    op = node.op
    info, n_steps, seqs, inits, carry0, consts, i_seqs, i_taps, i_carry, i_consts = \
        _parts(node)
    n_rec, n_nit, n_carry = op.split_outputs(op.graph.outputs)
    body = op.graph.outputs
    uses: dict[int, int] = {}
    for nd in toposort(body):
        for i in nd.inputs:
            uses[id(i)] = uses.get(id(i), 0) + 1
    seq_ids = {id(v) for v in i_seqs}
    sums = {}              # carried index -> (row, per-step factor)
    for c, (p, u) in enumerate(zip(i_carry, n_carry)):
        nd = u.owner
        if nd is None or not isinstance(nd.op, Elemwise) or nd.op.scalar.name != "add" or \
                len(nd.inputs) != 2 or uses.get(id(p)) != 1 or any(o is p for o in body):
            continue
        d = nd.inputs[1] if nd.inputs[0] is p else nd.inputs[0] if nd.inputs[1] is p else None
        found = _row_times_step(d, seq_ids) if d is not None else None
        if found is not None and found[1].dtype == p.dtype and \
                not any(node.outputs[len(info.taps) + info.n_nit + c].type.broadcastable):
            sums[c] = found
    if not sums:
        return None
    kept = [c for c in range(info.n_carry) if c not in sums]
    factors = list({id(q): q for _, q in sums.values()}.values())   # W and U share d_t
    cond = body[-1] if info.until else None
    used = {id(v) for v in graph_inputs([*n_rec, *n_nit, *factors, *(n_carry[c] for c in kept),
                                         *([cond] if cond is not None else [])])}
    new = make_scan(n_steps, [(x, v) for x, v in zip(seqs, i_seqs) if id(v) in used],
                    list(zip(inits, info.taps, i_taps, n_rec)), [*n_nit, *factors],
                    [(carry0[c], i_carry[c], n_carry[c]) for c in kept],
                    [(x, v) for x, v in zip(consts, i_consts) if id(v) in used], cond,
                    info.truncate_gradient, op._name)
    nr, ny = len(info.taps), info.n_nit
    stacked = dict(zip(map(id, factors), new[nr + ny:nr + ny + len(factors)]))
    carried = dict(zip(kept, new[nr + ny + len(factors):-1]))
    seq_of = dict(zip(map(id, i_seqs), seqs))
    finals = []
    for c in range(info.n_carry):
        if c in carried:
            finals.append(carried[c])
            continue
        row, q = sums[c]
        Q = stacked[id(q)]
        S = seq_of[id(row)][:Q.shape[0]]
        total = dot(reshape(S, (-1, row.type.shape[-1] if row.ndim == 2 and
                                row.type.shape[-1] is not None else S.shape[-1])).T,
                    reshape(Q, (-1, Q.shape[-1]))) if row.ndim == 2 else dot(S.T, Q)
        finals.append(cast(carry0[c] + total, carry0[c].dtype))
    return [*new[:nr + ny], *finals, new[-1]]


@register("canonicalize", "scan_merge", tracks=[Scan])
def scan_drop_unused(fg, node):
    """Outputs nobody reads are not computed, with the states and inputs only they
    needed (a gradient loop computes every input's gradient; a function may want few)."""
    if _frozen(fg, node):
        return None
    op = node.op
    info, outs = op.info, node.outputs
    nr, ny, nc = len(info.taps), info.n_nit, info.n_carry
    n_rec, n_nit, n_carry = op.split_outputs(op.graph.outputs)
    i_seqs, i_taps, i_carry, i_consts = op.split_inner()
    cond = [op.graph.outputs[-1]] if info.until else []
    read = lambda o: fg.n_clients(o) > 0
    rec = {i for i in range(nr) if read(outs[i])}
    nit = [j for j in range(ny) if read(outs[nr + j])]
    car = {c for c in range(nc) if read(outs[nr + ny + c])}
    while True:       # a state that a kept value is computed from stays
        used = {id(v) for v in graph_inputs([*(n_rec[i] for i in rec), *(n_nit[j] for j in nit),
                                             *(n_carry[c] for c in car), *cond])}
        more_rec = {i for i in range(nr) if any(id(v) in used for v in i_taps[i])} - rec
        more_car = {c for c in range(nc) if id(i_carry[c]) in used} - car
        if not more_rec and not more_car:
            break
        rec, car = rec | more_rec, car | more_car
    if len(rec) == nr and len(nit) == ny and len(car) == nc:
        return None
    rec, car = sorted(rec), sorted(car)
    n_steps, *outer = node.inputs
    seqs, inits, carry0, consts = op.split_outer(outer)
    new = make_scan(n_steps, [(x, v) for x, v in zip(seqs, i_seqs) if id(v) in used],
                    [(inits[i], info.taps[i], i_taps[i], n_rec[i]) for i in rec],
                    [n_nit[j] for j in nit], [(carry0[c], i_carry[c], n_carry[c]) for c in car],
                    [(x, v) for x, v in zip(consts, i_consts) if id(v) in used],
                    cond[0] if cond else None, info.truncate_gradient, op._name)
    now = list(outs)       # an output nobody reads stays as it was: it is dropped anyway
    for k, i in enumerate(rec):
        now[i] = new[k]
    for k, j in enumerate(nit):
        now[nr + j] = new[len(rec) + k]
    for k, c in enumerate(car):
        now[nr + ny + c] = new[len(rec) + len(nit) + k]
    now[-1] = new[-1]
    return now


@register("canonicalize", "scan_merge", tracks=[Scan])
def scan_rows_out(fg, node):
    """An output not fed back that is a sequence's row (a product the push-out took out
    of the loop, which the gradient saves) is the sequence's first rows, not a copy."""
    if _frozen(fg, node):
        return None
    op = node.op
    info = op.info
    i_seqs, i_taps, i_carry, i_consts = op.split_inner()
    n_rec, n_nit, n_carry = op.split_outputs(op.graph.outputs)
    row_of = {id(v): k for k, v in enumerate(i_seqs)}
    nr = len(info.taps)
    rows = {j: row_of[id(o)] for j, o in enumerate(n_nit) if id(o) in row_of and
            node.outputs[nr + j].type.shape[0] != 1}      # the sequence's axis may not be
    if not rows:
        return None
    n_steps, *outer = node.inputs
    seqs, inits, carry0, consts = op.split_outer(outer)
    kept = [j for j in range(info.n_nit) if j not in rows]
    new = make_scan(n_steps, list(zip(seqs, i_seqs)),
                    list(zip(inits, info.taps, i_taps, n_rec)), [n_nit[j] for j in kept],
                    list(zip(carry0, i_carry, n_carry)), list(zip(consts, i_consts)),
                    op.graph.outputs[-1] if info.until else None, info.truncate_gradient,
                    op._name)
    n_run = new[-1]
    nit = dict(zip(kept, new[nr:nr + len(kept)]))
    for j, k in rows.items():
        nit[j] = seqs[k][:n_run]
    return [*new[:nr], *(nit[j] for j in range(info.n_nit)), *new[nr + len(kept):]]
