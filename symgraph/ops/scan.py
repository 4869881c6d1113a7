"""The loop op: :class:`Scan` (Theano's), an inner graph run once per step, compiled as a
native loop (:class:`codegen.loop.Loop`), differentiated by backpropagation through time.

The user function is :func:`symgraph.scan`; this module holds the op and its gradient.
A node's inputs are ``(n_steps, *sequences, *initial, *carried, *constants)`` and its
inner graph takes one row of each sequence, the tap values of each fed-back output, the
carried values and the constants (see :mod:`codegen.loop` for the layout). It outputs
the fed-back outputs stacked over the steps, the outputs not fed back stacked, the last
carried values (shared variables updated at every step, random streams' state) and the
number of steps that ran.

The gradient is another :class:`Scan` running backwards over what the forward loop saved
(the forward loop runs once): its stacked outputs and the matrix products of a step that
the step's derivative reads (the gradient asks for a scan that ``extends`` the forward one
with them as more outputs; the two become one loop while compiling). Per step it
differentiates the inner graph, carrying the gradients still owed to earlier steps'
outputs (one row per tap) and summing those of the constants; so gradients of gradients
work the same way.

>>> import symgraph as sg, numpy as np
>>> x = sg.dvector("x")
>>> h, _ = sg.scan(lambda x_t, h: h + x_t, sequences=x, outputs_info=sg.constant(0.0, "float64"))
>>> g = sg.grad(h.sum(), x)
>>> sg.function([x], [h, g])(np.array([1.0, 2.0, 3.0]))[1].tolist()
[3.0, 2.0, 1.0]
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, NamedTuple, Sequence

from codegen.loop import Loop
from codegen.program import Program

from ..backprop import backprop
from ..graph import (Apply, Constant, GraphOp, InnerGraph, Variable, ancestors, clone_replace,
                     graph_inputs, toposort)
from ..types import FLOATS, INTS, TensorType
from ..variable import as_tensor, constant
from .blas import Dot, MatMul
from .constructors import zeros
from .elemwise import UFUNCS, cast, where, zeros_like
from .indexing import set_subtensor
from .shape import concatenate, stack

equal, minimum = UFUNCS["equal"], UFUNCS["minimum"]


class ScanInfo(NamedTuple):
    """How a :class:`Scan` node's inputs and its inner graph's split: ``taps[i]`` are
    the steps (negative) at which fed-back output ``i`` is read; ``until``: the inner
    graph's last output says to stop after its step; ``truncate_gradient``: the
    gradient goes back through that many steps at most (-1: all)."""
    n_seqs: int = 0
    taps: tuple[tuple[int, ...], ...] = ()
    n_nit: int = 0
    n_carry: int = 0
    n_const: int = 0
    until: bool = False
    truncate_gradient: int = -1

    @property
    def lags(self) -> tuple[int, ...]:
        """Per fed-back output, how many earlier steps its initial value holds."""
        return tuple(-min(t) for t in self.taps)


@dataclass(frozen=True, eq=False)
class RunLoop:
    """A lowering rule's answer for an op that runs its inner graph as a loop's body:
    the compiler lowers ``graph`` to a program (optimized like any function's) and
    ``loop(program)`` is the step's work."""
    graph: InnerGraph
    loop: Callable[[Program], Loop]


class Scan(GraphOp):
    """``graph`` run once per step (see the module's docstring for the inputs and
    outputs); build it with :func:`symgraph.scan`."""
    __props__ = ("graph", "info")

    def __init__(self, graph: InnerGraph, info: ScanInfo, name: str | None = None,
                 extends: "Scan | None" = None):
        # extends: the scan this one computes with more outputs (products its gradient
        # reads); the rewrite scan_adopt_extension makes the two one loop
        self.graph, self.info, self._name, self.extends = graph, info, name, extends
        n_taps = sum(len(t) for t in info.taps)
        want_in = info.n_seqs + n_taps + info.n_carry + info.n_const
        want_out = len(info.taps) + info.n_nit + info.n_carry + info.until
        if len(graph.inputs) != want_in or len(graph.outputs) != want_out:
            raise ValueError(f"a scan's inner graph for {info} takes {want_in} inputs and "
                             f"gives {want_out} outputs; got {len(graph.inputs)} and "
                             f"{len(graph.outputs)}")

    def inner_graphs(self) -> tuple[InnerGraph, ...]:
        return (self.graph,)

    # ---- the layout ---------------------------------------------------------------------
    def split_outer(self, outer: Sequence) -> tuple[list, list, list, list]:
        """A node's inputs after n_steps as sequences, initial values, carried values,
        constants."""
        info, rest = self.info, list(outer)
        ns, nr, nc = info.n_seqs, len(info.taps), info.n_carry
        return rest[:ns], rest[ns:ns + nr], rest[ns + nr:ns + nr + nc], rest[ns + nr + nc:]

    def split_inner(self) -> tuple[list, list[list], list, list]:
        """The inner graph's inputs as sequence rows, per fed-back output its tap values,
        carried values, constants."""
        info, rest = self.info, list(self.graph.inputs)
        seqs, rest = rest[:info.n_seqs], rest[info.n_seqs:]
        taps = []
        for t in info.taps:
            taps.append(rest[:len(t)])
            rest = rest[len(t):]
        return seqs, taps, rest[:info.n_carry], rest[info.n_carry:]

    def split_outputs(self, outputs: Sequence) -> tuple[list, list, list]:
        """Outputs (the node's or the inner graph's) as fed-back, not fed back, carried."""
        nr, ny, nc = len(self.info.taps), self.info.n_nit, self.info.n_carry
        outputs = list(outputs)
        return outputs[:nr], outputs[nr:nr + ny], outputs[nr + ny:nr + ny + nc]

    # ---- the node -----------------------------------------------------------------------
    def make_node(self, n_steps, *outer: Variable) -> Apply:
        info, g = self.info, self.graph
        n_steps = as_tensor(n_steps)
        if n_steps.ndim != 0 or n_steps.dtype not in INTS:
            raise TypeError(f"{self.name}: n_steps must be an integer scalar, got "
                            f"{n_steps.type}")
        n_in = info.n_seqs + len(info.taps) + info.n_carry + info.n_const
        if len(outer) != n_in:
            raise TypeError(f"{self.name} takes n_steps and {n_in} inputs, got {len(outer)}")
        seqs, inits, carried, consts = self.split_outer(outer)
        i_seqs, i_taps, i_carried, i_consts = self.split_inner()
        pairs = [(x, v, 1, "sequence") for x, v in zip(seqs, i_seqs)]
        pairs += [(x, t[0], 1, "initial value") for x, t in zip(inits, i_taps)]
        pairs += [(x, v, 0, "carried value") for x, v in zip(carried, i_carried)]
        pairs += [(x, v, 0, "constant") for x, v in zip(consts, i_consts)]
        for x, v, extra, what in pairs:
            if x.dtype != v.dtype or x.ndim != v.ndim + extra:
                raise TypeError(f"{self.name}: a {what} of type {x.type} for an inner input "
                                f"of type {v.type}")
        steps = None
        if isinstance(n_steps, Constant) and not info.until:
            steps = max(int(n_steps.data), 0)
        o_rec, o_nit, o_carry = self.split_outputs(g.outputs)
        types = [TensorType(o.dtype, (steps, *x.type.shape[1:])) for o, x in zip(o_rec, inits)]
        types += [TensorType(o.dtype, (steps, *o.type.shape)) for o in o_nit]
        types += [x.type for x in carried]
        types.append(TensorType("int64", ()))
        return Apply(self, [n_steps, *outer], [t() for t in types])

    def perform(self, node, inputs):
        raise NotImplementedError(f"{self} runs a loop: compile it with sg.function")

    def lower(self, node: Apply) -> RunLoop:
        info = self.info
        nit = tuple((o.dtype, tuple(s or 0 for s in o.type.shape))
                    for o in self.split_outputs(self.graph.outputs)[1])
        return RunLoop(self.graph, lambda body: Loop(
            body, info.n_seqs, info.taps, nit, info.n_carry, info.n_const, info.until))

    # ---- backpropagation through time ---------------------------------------------------
    def grad(self, inputs, outputs, output_grads):
        return _bptt(self, inputs, outputs, output_grads)


def make_scan(n_steps, sequences=(), recurrent=(), nit=(), carried=(), constants=(),
              until=None, truncate_gradient: int = -1, name: str | None = None
              ) -> list[Variable]:
    """Build a :class:`Scan` node from pairs of (outer value, inner variable):
    ``sequences``: ``(array, row)``; ``recurrent``: ``(initial, taps, tap variables,
    new value)`` with ``initial`` of ``-min(taps)`` rows; ``nit``: new values;
    ``carried``: ``(initial, inner, new value)``; ``constants``: ``(value, inner)``;
    ``until``: a bool scalar of the inner graph, or None. Returns the node's outputs."""
    inner_in = [v for _, v in sequences] + [v for r in recurrent for v in r[2]] + \
        [v for _, v, _ in carried] + [v for _, v in constants]
    inner_out = [r[3] for r in recurrent] + list(nit) + [u for _, _, u in carried] + \
        ([until] if until is not None else [])
    info = ScanInfo(len(sequences), tuple(tuple(r[1]) for r in recurrent), len(nit),
                    len(carried), len(constants), until is not None, int(truncate_gradient))
    op = Scan(InnerGraph(inner_in, inner_out), info, name)
    n_steps = as_tensor(n_steps)
    if isinstance(n_steps, Constant):
        n_steps = constant(int(n_steps.data), "int64")
    node = op.make_node(n_steps if n_steps.dtype == "int64" else cast(n_steps, "int64"),
                        *(x for x, _ in sequences), *(r[0] for r in recurrent),
                        *(x for x, _, _ in carried), *(x for x, _ in constants))
    return node.outputs


def _reversed(x: Variable, lo, hi) -> Variable:
    """Rows ``lo`` to ``hi`` of ``x``, last first: what a backward loop reads."""
    return x[lo:hi][::-1]


def _bptt(op: Scan, inputs, outputs, output_grads) -> list:
    """The gradients of a scan node's inputs: a scan over the forward steps, last first,
    reading the saved outputs (the forward loop is not run again)."""
    info = op.info
    _, *outer = inputs
    seqs, inits, carry0, consts = op.split_outer(outer)
    o_rec, o_nit, o_carry = op.split_outputs(outputs)
    g_rec, g_nit, g_carry = op.split_outputs(output_grads)
    i_seqs, i_taps, i_carry, i_consts = op.split_inner()
    T = outputs[-1]
    tg = info.truncate_gradient
    m = T if tg < 0 else minimum(T, constant(tg, "int64"))
    start = T - m

    b_seqs, b_consts, memo, full, z_now, cloned, clone_of = _step_inputs(
        op, seqs, inits, consts, o_rec, start, T)
    seeds, windows, d_carry = _step_seeds(op, cloned, g_rec, g_nit, b_seqs, start, T)
    if not seeds:
        return [None] * len(inputs)

    wrt = [memo[v] for v in (*i_seqs, *(v for vs in i_taps for v in vs), *i_carry, *i_consts)]
    wrt_f = [w for w in wrt if w.dtype in FLOATS]
    found = dict(zip(map(id, wrt_f), backprop(seeds, wrt_f)))
    found = _read_saved(found, cloned, o_rec, o_nit, b_seqs, start, T)
    found, b_seqs = _read_products(op, inputs, outputs, found, clone_of, b_seqs, start)
    grad_of = lambda v: found.get(id(memo[v]))

    carried = _owed_rows(op, windows, inits, memo, grad_of)
    acc_of = [("owed", i) for i, _ in windows]
    nits, nit_of = [], []
    for s, v in enumerate(i_seqs):
        d = grad_of(v)
        if d is not None:
            nits.append(d)
            nit_of.append(s)
    for c, dz in d_carry:
        d = grad_of(i_carry[c])
        init = g_carry[c] if g_carry[c] is not None else zeros_like(carry0[c])
        carried.append((init, dz, d if d is not None else zeros_like(dz)))
        acc_of.append(("carry", c))
    for q, (K, v) in enumerate(zip(consts, i_consts)):
        d = grad_of(v)
        if d is not None:
            acc = v.type(f"g_const_{q}")
            carried.append((zeros_like(K), acc, acc + d))
            acc_of.append(("const", q))

    outs_b = nits + [u for _, _, u in carried]
    used = {id(v) for v in graph_inputs(outs_b)}
    if any(id(z) in used for z in z_now.values()):
        b_seqs += _carried_values(op, seqs, full, carry0, consts, z_now, used, start, T)
    b_seqs = [(x, v) for x, v in b_seqs if id(v) in used]
    b_consts = [(x, v) for x, v in b_consts if id(v) in used]
    back = make_scan(m, b_seqs, (), nits, carried, b_consts, name=f"grad_{op.name}")
    b_nit, b_carry = back[:len(nits)], back[len(nits):-1]
    return _input_grads(op, len(inputs), seqs, nit_of, b_nit, acc_of, b_carry, start, T)


def _step_inputs(op: Scan, seqs, inits, consts, o_rec, start, T):
    """The backward step's inputs (reversed rows of the sequences and of the saved
    outputs at each tap) and the forward inner graph cloned onto them."""
    info, g = op.info, op.graph
    i_seqs, i_taps, i_carry, i_consts = op.split_inner()
    b_seqs: list[tuple[Variable, Variable]] = []
    memo: dict[Variable, Variable] = {}
    for S, v in zip(seqs, i_seqs):
        memo[v] = p = v.type(v.name)
        b_seqs.append((_reversed(S, start, T), p))
    full = [concatenate([I, O]) for I, O in zip(inits, o_rec)]
    for H, L, taps, vs in zip(full, info.lags, info.taps, i_taps):
        for k, v in zip(taps, vs):
            memo[v] = p = v.type(v.name)
            b_seqs.append((_reversed(H, start + L + k, T + L + k), p))
    z_now = {}
    for v in i_carry:
        memo[v] = z_now[v] = v.type(v.name)
    b_consts = []
    for K, v in zip(consts, i_consts):
        memo[v] = p = v.type(v.name)
        b_consts.append((K, p))
    inner = [o for nd in toposort(g.outputs) for o in nd.outputs]
    clone_of = dict(zip(map(id, inner), clone_replace(inner, memo)))
    cloned = [clone_of.get(id(o), memo.get(o, o))
              for o in g.outputs[:len(g.outputs) - info.until]]
    return b_seqs, b_consts, memo, full, z_now, op.split_outputs(cloned), clone_of


def _step_seeds(op: Scan, cloned, g_rec, g_nit, b_seqs, start, T):
    """The gradients flowing into one forward step: of its fed-back outputs (what later
    steps owe them, plus the outer gradient), its other outputs and carried values."""
    info = op.info
    _, i_taps, i_carry, _ = op.split_inner()
    c_rec, c_nit, c_carry = cloned
    seeds: dict[Variable, Variable] = {}
    windows = []                      # (rec index, state variable) per fed-back float output
    for i, (o, L, gO) in enumerate(zip(c_rec, info.lags, g_rec)):
        if o.dtype not in FLOATS:
            continue
        elem = i_taps[i][0].type
        P = (elem if L == 1 else TensorType(elem.dtype, (L, *elem.shape)))(f"owed_{i}")
        dh = P if L == 1 else P[0]
        if gO is not None:
            gp = elem(f"g_out_{i}")
            b_seqs.append((_reversed(gO, start, T), gp))
            dh = dh + gp
        seeds[o] = seeds[o] + dh if o in seeds else dh
        windows.append((i, P))
    for j, (o, gY) in enumerate(zip(c_nit, g_nit)):
        if gY is not None and o.dtype in FLOATS:
            gp = o.type(f"g_y_{j}")
            b_seqs.append((_reversed(gY, start, T), gp))
            seeds[o] = seeds[o] + gp if o in seeds else gp
    d_carry = []
    for c, (o, v) in enumerate(zip(c_carry, i_carry)):
        if o.dtype in FLOATS:
            dz = v.type(f"g_carry_{c}")
            seeds[o] = seeds[o] + dz if o in seeds else dz
            d_carry.append((c, dz))
    return seeds, windows, d_carry


def _read_saved(found: dict, cloned, o_rec, o_nit, b_seqs, start, T) -> dict:
    """``found`` with the forward step's outputs read from the saved stacked outputs
    instead of computed again."""
    c_rec, c_nit, _ = cloned
    saved = {}
    for i, (o, O) in enumerate(zip(c_rec, o_rec)):
        if o.owner is not None:
            saved[o] = p = o.type(f"saved_{i}")
            b_seqs.append((_reversed(O, start, T), p))
    for j, (o, Y) in enumerate(zip(c_nit, o_nit)):
        if o.owner is not None:
            saved[o] = p = o.type(f"saved_y_{j}")
            b_seqs.append((_reversed(Y, start, T), p))
    keys = list(found)
    vals = clone_replace([found[k] for k in keys if found[k] is not None], saved)
    it = iter(vals)
    found = {k: (next(it) if found[k] is not None else None) for k in keys}
    return found


def _read_products(op: Scan, inputs, outputs, found: dict, clone_of: dict, b_seqs,
                   start) -> tuple[dict, list]:
    """The matrix products of a forward step that its derivative reads (an LSTM's
    ``h @ U``) are saved by the forward loop rather than computed again in the backward
    one: the gradients ``found`` read them from the rows of a scan that ``extends`` this
    one (the same loop with the products as more outputs, which takes its place while
    compiling: ``symgraph.rewrite.scan.scan_adopt_extension``)."""
    g, info = op.graph, op.info
    keys = [k for k, v in found.items() if v is not None]
    needed = ancestors([found[k] for k in keys]) if keys else set()
    products = [nd.outputs[0] for nd in toposort(g.outputs)
                if isinstance(nd.op, (Dot, MatMul)) and id(clone_of[id(nd.outputs[0])]) in needed]
    if not products:
        return found, b_seqs
    o_rec, o_nit, o_carry = op.split_outputs(g.outputs)
    cond = [g.outputs[-1]] if info.until else []
    ext = Scan(InnerGraph(g.inputs, [*o_rec, *o_nit, *products, *o_carry, *cond]),
               info._replace(n_nit=info.n_nit + len(products)), op._name, extends=op)
    saved = ext.make_node(*inputs).outputs[len(info.taps) + info.n_nit:]
    swap = {}
    for k, (p, R) in enumerate(zip(products, saved)):
        swap[clone_of[id(p)]] = v = p.type(f"product_{k}")
        b_seqs.append((_reversed(R, start, outputs[-1]), v))
    vals = clone_replace([found[k] for k in keys], swap)
    return {**found, **dict(zip(keys, vals))}, b_seqs


def _owed_rows(op: Scan, windows, inits, memo, grad_of) -> list:
    """Per fed-back float output, the backward loop's state: the rows owed to the
    steps before (one per tap), as a carried entry for :func:`make_scan` (only its last
    value is kept: the saved forward is all the memory the gradient takes)."""
    info = op.info
    i_taps = op.split_inner()[1]
    owed = []
    for i, P in windows:
        L, taps, vs = info.lags[i], info.taps[i], i_taps[i]
        by_tap = {k: grad_of(v) for k, v in zip(taps, vs)}
        elem = vs[0]
        rows = []
        for r in range(L):          # row r: what step t owes step t - 1 - r
            parts = [x for x in ((P[r + 1] if r + 1 < L else None), by_tap.get(-(r + 1)))
                     if x is not None]
            rows.append(parts[0] + parts[1] if len(parts) == 2 else
                        parts[0] if parts else zeros_like(memo[elem]))
        new = rows[0] if L == 1 else stack(rows)
        owed.append((zeros_like(inits[i][0] if L == 1 else inits[i]), P, cast(new, P.dtype)))
    return owed


def _input_grads(op: Scan, n_inputs, seqs, nit_of, b_nit, acc_of, b_carry, start, T
                 ) -> list:
    """The backward loop's results as the gradients of the forward node's inputs."""
    info, tg = op.info, op.info.truncate_gradient
    grads: list = [None] * n_inputs
    base_init = 1 + info.n_seqs
    base_carry = base_init + len(info.taps)
    for s, d in zip(nit_of, b_nit):
        grads[1 + s] = _placed(seqs[s], d[::-1], start, T)
    for (kind, q), final in zip(acc_of, b_carry):
        if kind == "owed":           # what the first steps owe the ones before them
            L = info.lags[q]
            owed = final[None] if L == 1 else final[::-1]   # rows as the initial value's
            if tg >= 0:    # truncated: only the steps it reached owe anything to the start
                pad = zeros((start, *(owed.shape[a] for a in range(1, owed.ndim))),
                            owed.dtype)
                owed = concatenate([pad, owed])[:L]
            grads[base_init + q] = owed
        elif kind == "const":
            grads[base_carry + info.n_carry + q] = final
        elif tg < 0:
            grads[base_carry + q] = final
        else:
            grads[base_carry + q] = where(equal(start, 0), final, zeros_like(final))
    return grads


def _placed(S: Variable, rows: Variable, start, stop) -> Variable:
    """The gradient of a sequence: ``rows`` at rows ``start:stop``, zeros elsewhere."""
    return set_subtensor(zeros_like(S)[start:stop], rows)


def _carried_values(op: Scan, seqs, full, carry0, consts, z_now, used, start, T) -> list:
    """The backward loop reads the carried values (a random stream's state, say) at each
    step: a scan recomputing only them from the saved outputs, as ``(reversed values,
    inner variable)`` pairs for the carried values ``used`` in the backward step."""
    info, g = op.info, op.graph
    i_seqs, i_taps, i_carry, i_consts = op.split_inner()
    memo, s_seqs = {}, []
    for S, v in zip(seqs, i_seqs):
        memo[v] = p = v.type(v.name)
        s_seqs.append((S, p))
    for H, L, taps, vs in zip(full, info.lags, info.taps, i_taps):
        for k, v in zip(taps, vs):
            memo[v] = p = v.type(v.name)
            s_seqs.append((H[L + k:L + k + T], p))
    rec = []
    for C, v in zip(carry0, i_carry):
        memo[v] = p = v.type(v.name)
        rec.append([C[None], (-1,), [p], None])
    s_consts = []
    for K, v in zip(consts, i_consts):
        memo[v] = p = v.type(v.name)
        s_consts.append((K, p))
    updates = clone_replace(list(op.split_outputs(g.outputs)[2]), memo)
    for r, u in zip(rec, updates):
        r[3] = u
    outs = make_scan(T, s_seqs, [tuple(r) for r in rec], (), (), s_consts,
                     name=f"{op.name}_carried")
    pairs = []
    for C, v, Z in zip(carry0, i_carry, outs):
        if id(z_now[v]) in used:
            before = concatenate([C[None], Z])           # row t: the value at step t
            pairs.append((_reversed(before, start, T), z_now[v]))
    return pairs
