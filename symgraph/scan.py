"""Loops: :func:`scan` (Theano's ``theano.scan``), :func:`until` for while loops, and
:func:`map`, :func:`reduce`, :func:`foldl`, :func:`foldr` on top of it.

``fn`` is called once, on symbolic stand-ins for one step's values; the graph it returns
becomes the inner graph of a :class:`~symgraph.ops.scan.Scan` node, which the compiler
runs as a native loop (the body compiled once) and :func:`symgraph.grad` differentiates
by backpropagation through time.

>>> import symgraph as sg, numpy as np
>>> x = sg.dvector("x")
>>> total, _ = sg.scan(lambda x_t, acc: acc + x_t, sequences=x,
...                    outputs_info=sg.constant(0.0, "float64"))
>>> sg.function([x], total)(np.array([1.0, 2.0, 3.0])).tolist()
[1.0, 3.0, 6.0]
"""
from __future__ import annotations

import builtins
from collections import OrderedDict
from typing import Callable

import numpy as np

from .graph import Constant, Variable, clone_replace, graph_inputs
from .ops.elemwise import UFUNCS
from .ops.scan import make_scan
from .types import INTS, TensorType
from .variable import SharedVariable, as_tensor, constant

__all__ = ["scan", "until", "map", "reduce", "foldl", "foldr"]


class until:
    """Theano's ``theano.scan_module.until``: ``fn`` returning ``outputs, until(cond)``
    (or ``outputs, updates, until(cond)``) makes a while loop that stops after the first
    step whose ``cond`` is true (``n_steps`` is then the most steps it runs).

    >>> import symgraph as sg
    >>> powers, _ = sg.scan(lambda p: (2 * p, sg.until(2 * p >= 100)),
    ...                     outputs_info=sg.constant(1), n_steps=50)
    >>> powers.eval().tolist()
    [2, 4, 8, 16, 32, 64, 128]
    """

    def __init__(self, condition):
        cond = as_tensor(condition)
        if cond.ndim != 0:
            raise TypeError(f"until: the condition must be a scalar, got {cond.type}")
        self.condition = cond if cond.dtype == "bool" else UFUNCS["not_equal"](cond, 0)


def _as_list(x) -> list:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _sequences(sequences) -> list[tuple[Variable, list[int]]]:
    out = []
    for i, s in enumerate(_as_list(sequences)):
        if isinstance(s, dict):
            if "input" not in s:
                raise ValueError(f"scan: sequences[{i}] is a dict without 'input': {s!r}")
            x, taps = s["input"], s.get("taps")
            taps = [0] if taps is None else _as_list(taps)
        else:
            x, taps = s, [0]
        x = as_tensor(x)
        if x.ndim == 0:
            raise TypeError(f"scan: sequences[{i}] must have at least one axis (the steps), "
                            f"got a scalar {x.type}")
        if not taps or not all(isinstance(k, (int, np.integer)) for k in taps):
            raise ValueError(f"scan: sequences[{i}]: taps must be a list of ints, got {taps!r}")
        out.append((x, [int(k) for k in taps]))
    return out


def _outputs_info(outputs_info) -> list[tuple[Variable, list[int]] | None]:
    """Per output, (initial value, taps), or None for an output not fed back."""
    out = []
    for i, o in enumerate(_as_list(outputs_info)):
        if isinstance(o, dict):
            init, taps = o.get("initial"), o.get("taps")
            if init is None:
                if taps:
                    raise ValueError(f"scan: outputs_info[{i}] has taps {taps} but no "
                                     "'initial' value for them")
                out.append(None)
                continue
            taps = [-1] if taps is None else _as_list(taps)
        elif o is None:
            out.append(None)
            continue
        else:
            init, taps = o, [-1]
        if not taps or not all(isinstance(k, (int, np.integer)) and k < 0 for k in taps):
            raise ValueError(f"scan: outputs_info[{i}]: taps must be negative ints (earlier "
                             f"steps), got {taps!r}")
        if len(set(taps)) != len(taps):
            raise ValueError(f"scan: outputs_info[{i}]: taps must be distinct, got {taps!r}")
        init = as_tensor(init)
        if taps != [-1] and init.ndim == 0:
            raise TypeError(f"scan: outputs_info[{i}] reads taps {taps}, so its initial value "
                            f"needs a first axis of {-min(taps)} earlier steps; got a scalar")
        out.append((init, [int(k) for k in taps]))
    return out


def _split_result(result):
    """``fn``'s return value as (outputs, updates, condition)."""
    items = list(result) if isinstance(result, (list, tuple)) else [result]
    cond, updates = None, OrderedDict()
    if items and isinstance(items[-1], until):
        cond = items.pop().condition
    rest = []
    for x in items:
        if isinstance(x, until):
            raise ValueError("scan: fn must return until(...) last")
        if isinstance(x, dict):
            updates.update(x)
        else:
            rest.append(x)
    if len(rest) == 1 and isinstance(rest[0], (list, tuple)):
        rest = list(rest[0])
    for k, s in updates.items():
        if not isinstance(k, SharedVariable):
            raise TypeError(f"scan: fn's updates must map shared variables to their new "
                            f"values, got the key {k!r} ({type(k).__name__})")
    outs = []
    for j, o in enumerate(rest):
        try:
            outs.append(as_tensor(o))
        except Exception as e:
            raise TypeError(f"scan: fn's output {j} must be a variable or a number, got "
                            f"{type(o).__name__}") from e
    return outs, updates, cond


def _step_count(n_steps, go_backwards: bool, has_seqs: bool):
    """``n_steps`` checked (None, an int >= 0 or an integer scalar) and
    ``go_backwards``, which a negative int count turns around (Theano's rule)."""
    if isinstance(n_steps, (int, np.integer)) and not isinstance(n_steps, bool):
        if n_steps < 0:      # Theano: a negative count walks backwards
            n_steps, go_backwards = -int(n_steps), not go_backwards
    elif n_steps is not None:
        n_steps = as_tensor(n_steps)
        if n_steps.ndim != 0 or n_steps.dtype not in INTS:
            raise TypeError(f"scan: n_steps must be an int or an integer scalar, got "
                            f"{n_steps.type}")
    if not has_seqs and n_steps is None:
        raise ValueError("scan: no sequences and no n_steps: give one of them, so the "
                         "number of steps is known")
    return n_steps, go_backwards


def _sliced(seqs, n_steps, go_backwards: bool):
    """One outer sequence and one row variable per sequence tap, aligned so that step
    ``t`` reads row ``t``, and the number of steps."""
    outer_seqs, rows = [], []
    for x, taps in seqs:
        hi, lo = builtins.max(max(taps), 0), builtins.min(min(taps), 0)
        for k in taps:
            start, end = k - lo, (None if k == hi else k - hi)
            s = x[start:end] if (start, end) != (0, None) else x
            outer_seqs.append(s[::-1] if go_backwards else s)
            rows.append(TensorType(x.dtype, x.type.shape[1:])(
                f"{x.name}[t{k:+d}]" if x.name else None))
    if n_steps is None:
        steps = outer_seqs[0].shape[0]
        for s in outer_seqs[1:]:
            steps = UFUNCS["minimum"](steps, s.shape[0])
    else:
        steps = n_steps if isinstance(n_steps, Variable) else constant(n_steps, "int64")
    if n_steps is not None or len(outer_seqs) > 1:
        outer_seqs = [s[:steps] for s in outer_seqs]
    return outer_seqs, rows, steps


def _fed_back(infos) -> tuple[list, list]:
    """Per fed-back output ``[outer initial rows, taps, tap variables, None (its new
    value, once fn gave it), output index]``, and per output its tap variables."""
    recurrent, taps_vars = [], []
    for i, info in enumerate(infos):
        if info is None:
            taps_vars.append([])
            continue
        init, taps = info
        if taps == [-1]:
            elem, outer = init.type, init[None]
        else:
            L = -min(taps)
            elem = TensorType(init.dtype, init.type.shape[1:])
            outer = init[:L]
        base = init.name or f"outputs_info[{i}]"
        vs = [elem(f"{base}[t{k}]") for k in taps]
        taps_vars.append(vs)
        recurrent.append([outer, taps, vs, None, i])
    return recurrent, taps_vars


def _check_fed_back(outs: list, infos: list, recurrent: list) -> None:
    """fn gave one output per outputs_info entry, each fed-back one of its initial
    value's dtype and rank; records each one's new value."""
    if infos and len(outs) != len(infos):
        raise ValueError(f"scan: fn returned {len(outs)} outputs but outputs_info has "
                         f"{len(infos)} entries: give one entry per output (None for an "
                         "output that is not fed back)")
    for r in recurrent:
        i = r[4]
        o, init = outs[i], r[2][0]
        if o.dtype != init.dtype or o.ndim != init.ndim:
            raise TypeError(
                f"scan: fn's output {i} is {o.type}, but its initial value (outputs_info"
                f"[{i}]) gives steps of {init.type}: they must have the same dtype and "
                f"rank; cast one, e.g. return out.astype('{init.dtype}') in fn, or make "
                f"the initial value {o.dtype}")
        if any(a is not None and b is not None and a != b
               for a, b in zip(o.type.shape, init.type.shape)):
            raise TypeError(f"scan: fn's output {i} has static shape {o.type.shape}, its "
                            f"initial value {init.type.shape}")
        r[3] = o


def _closure(outs, updates, cond, args, explicit, strict: bool):
    """The shared variables fn updates at each step (its updates, then default
    updates, such as a random stream's state) and every other variable it reads."""
    placeholders = {id(v) for v in args if not isinstance(v, SharedVariable)}
    carried: OrderedDict = OrderedDict((s, v) for s, v in updates.items())
    pending = [*outs, *carried.values(), *([cond] if cond is not None else [])]
    free: list[Variable] = []
    seen = set(placeholders)
    while pending:
        found = []
        for v in graph_inputs(pending):
            if id(v) in seen or isinstance(v, Constant):
                continue
            seen.add(id(v))
            if isinstance(v, SharedVariable) and v not in carried and \
                    v.default_update is not None:
                carried[v] = v.default_update
                found.append(v.default_update)
            free.append(v)
        pending = found
    if strict:
        loose = [v for v in free if v not in carried and not any(v is e for e in explicit)]
        if loose:
            raise ValueError(f"scan(strict=True): fn uses {loose}, which are not sequences, "
                             "outputs_info or non_sequences: pass them as non_sequences")
    return carried, free


def scan(fn: Callable, sequences=None, outputs_info=None, non_sequences=None, n_steps=None,
         truncate_gradient: int = -1, go_backwards: bool = False, strict: bool = False,
         name: str | None = None, return_list: bool = False, mode=None, profile=False,
         allow_gc=None):
    """Theano's ``scan``: call ``fn`` once per step and stack what it returns.

    ``fn`` takes, in order, one row per sequence tap, the earlier values of each fed-back
    output (per tap), then the non-sequences; it returns the outputs (a variable or a
    list), optionally with a dict of shared-variable updates and/or :class:`until`.
    ``sequences``: variables, or ``dict(input=x, taps=[-1, 0, 1])`` (row ``t + k`` at step
    ``t``); ``outputs_info``: per output, its initial value (read as tap -1),
    ``dict(initial=h0, taps=[-2, -1])`` (``h0`` then has one row per earlier step, the
    oldest first), or None (not fed back); ``non_sequences``: values every step reads
    (any other variable ``fn`` uses joins them); ``n_steps``: the number of steps (an int
    or an integer scalar; default: the shortest sequence, minus its taps' span);
    ``truncate_gradient``: backpropagate through that many steps only (-1: all);
    ``go_backwards``: walk the sequences from their end; ``strict``: every variable
    ``fn`` uses must be a sequence, state or non-sequence. ``mode``, ``profile`` and
    ``allow_gc`` are Theano's, accepted so that its programs run unchanged: the loop
    compiles with its function (``sg.function``'s options).

    Returns ``(outputs, updates)``: each output stacked over the steps (first axis: the
    step; without the initial values), one variable if there is one output (a list with
    ``return_list``), and an ``OrderedDict`` of the shared variables updated at each step
    (by ``fn``'s updates or their ``default_update``, such as a random stream's state)
    with their final values, to pass to ``sg.function(updates=...)``.

    >>> import symgraph as sg, numpy as np
    >>> fib, _ = sg.scan(lambda a, b: a + b, n_steps=6,
    ...                  outputs_info=dict(initial=sg.constant([0, 1]), taps=[-2, -1]))
    >>> fib.eval().tolist()
    [1, 2, 3, 5, 8, 13]
    """
    seqs = _sequences(sequences)
    infos = _outputs_info(outputs_info)
    explicit = [as_tensor(v) for v in _as_list(non_sequences)]
    n_steps, go_backwards = _step_count(n_steps, go_backwards, bool(seqs))
    label = name or "scan"
    outer_seqs, rows, steps = _sliced(seqs, n_steps, go_backwards)
    recurrent, taps_vars = _fed_back(infos)
    stand_ins = [v if isinstance(v, SharedVariable) else v.type(v.name) for v in explicit]
    args = [*rows, *(v for vs in taps_vars for v in vs), *stand_ins]
    outs, updates, cond = _split_result(fn(*args))
    _check_fed_back(outs, infos, recurrent)
    carried, free = _closure(outs, updates, cond, args, explicit, strict)
    carried_in = {s: s.type(s.name) for s in carried}
    const_free = [v for v in free if v not in carried_in]
    const_in = {v: v.type(v.name) for v in const_free}
    swap = {**carried_in, **const_in}
    every = [*outs, *carried.values(), *([cond] if cond is not None else [])]
    every = clone_replace(every, swap) if swap else every
    n_out = len(outs)
    new_outs, new_updates = every[:n_out], every[n_out:n_out + len(carried)]
    new_cond = every[-1] if cond is not None else None
    for s, u in zip(carried, new_updates):
        if u.dtype != s.dtype or u.ndim != s.ndim:
            raise TypeError(f"scan: the update of {s!r} ({s.type}) is {u.type}; cast it to "
                            f"{s.dtype}")
    rec_pairs = [(outer, tuple(taps), vs, new_outs[i]) for outer, taps, vs, _, i in recurrent]
    fed = {r[4] for r in recurrent}
    nit_index = [j for j in range(n_out) if j not in fed]
    consts = [(v, p) for v, p in zip(explicit, stand_ins) if not isinstance(v, SharedVariable)]
    consts += [(v, const_in[v]) for v in const_free]
    carried_pairs = [(s, carried_in[s], u) for s, u in zip(carried, new_updates)]
    node_outs = make_scan(steps, list(zip(outer_seqs, rows)), rec_pairs,
                          [new_outs[j] for j in nit_index], carried_pairs, consts,
                          until=new_cond, truncate_gradient=truncate_gradient, name=label)
    by_output = dict(zip([r[4] for r in recurrent] + nit_index, node_outs))
    results = [by_output[j] for j in range(n_out)]
    finals = node_outs[len(recurrent) + len(nit_index):-1]
    new_state = OrderedDict((s, f) for s, f in zip(carried, finals))
    for j, o in enumerate(results):
        if o.name is None:
            o.name = f"{label}.{j}" if n_out > 1 else label
    if len(results) == 1 and not return_list:
        return results[0], new_state
    return results, new_state


def map(fn: Callable, sequences, non_sequences=None, truncate_gradient: int = -1,
        go_backwards: bool = False, name: str | None = None):
    """``fn`` applied to each row of ``sequences`` (Theano's ``map``): ``(outputs,
    updates)``.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dmatrix("x")
    >>> norms, _ = sg.map(lambda row: (row ** 2).sum(), sequences=x)
    >>> sg.function([x], norms)(np.array([[3.0, 4.0], [1.0, 0.0]])).tolist()
    [25.0, 1.0]
    """
    return scan(fn, sequences, [], non_sequences, truncate_gradient=truncate_gradient,
                go_backwards=go_backwards, name=name or "map")


def reduce(fn: Callable, sequences, outputs_info, non_sequences=None,
           go_backwards: bool = False, name: str | None = None):
    """Theano's ``reduce``: scan, keeping each output's last step only.

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> total, _ = sg.reduce(lambda x_t, acc: acc + x_t, x, sg.constant(0.0, "float64"))
    >>> float(sg.function([x], total)(np.array([1.0, 2.0, 3.0])))
    6.0
    """
    outs, updates = scan(fn, sequences, outputs_info, non_sequences,
                         go_backwards=go_backwards, name=name or "reduce")
    if isinstance(outs, list):
        return [o[-1] for o in outs], updates
    return outs[-1], updates


def foldl(fn: Callable, sequences, outputs_info, non_sequences=None, name: str | None = None):
    """``reduce`` from the first row to the last (Theano's ``foldl``)."""
    return reduce(fn, sequences, outputs_info, non_sequences, False, name or "foldl")


def foldr(fn: Callable, sequences, outputs_info, non_sequences=None, name: str | None = None):
    """``reduce`` from the last row to the first (Theano's ``foldr``).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> digits, _ = sg.foldr(lambda d, acc: 10 * acc + d, x, sg.constant(0.0, "float64"))
    >>> float(sg.function([x], digits)(np.array([1.0, 2.0, 3.0])))
    321.0
    """
    return reduce(fn, sequences, outputs_info, non_sequences, True, name or "foldr")
