"""What ``sg.function`` is given, checked: inputs and outputs with options (:class:`In`,
:class:`Out`), the updates, the shared variables' default updates that join them, and the
``givens``. Nothing here compiles; :mod:`.function` builds from what these return.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..graph import Variable, clone_replace, graph_inputs, toposort
from ..ops.elemwise import Elemwise
from ..ops.shape import DimShuffle
from ..ops.special import TRAINING
from ..variable import SharedVariable, as_tensor, constant, new_value


class In:
    """A function input with options, listed in ``sg.function``'s inputs in place of its
    variable (Theano's ``In``; every option is a keyword).

    * ``value``: the default, used when a call omits the input (positionally at the end,
      or when it gives the others by keyword); checked against the variable's type here,
      and copied.
    * ``name``: the keyword a call gives the input by (default: the variable's name).
    * ``borrow=True``: the caller lends the array it passes. An output that is that array
      or a view of it (``x``, ``x.T``, ``x[1:]``) comes back as it is, sharing its memory,
      not as a copy: writing into one changes the other. Without it every output is an
      array of its own.
    * ``mutable=True``: Theano's leave to overwrite the caller's array. symgraph never
      writes into inputs, so here it means ``borrow=True`` and nothing more.
    * ``update``: an expression (of the inputs and shared variables) whose value becomes
      the default after each call: the input is the function's own state (Theano's
      ``In(x, value=0, update=x + 1)``). It needs a ``value``, the first state; a value a
      call gives is used for that call, and updated after it.

    >>> import symgraph as sg
    >>> x, scale = sg.dvector("x"), sg.dscalar("scale")
    >>> f = sg.function([x, sg.In(scale, value=2.0)], x * scale)
    >>> f([1.0, 2.0]).tolist(), f([1.0, 2.0], 10.0).tolist(), f(x=[1.0], scale=3.0).tolist()
    ([2.0, 4.0], [10.0, 20.0], [3.0])
    >>> n = sg.lscalar("n")
    >>> tick = sg.function([sg.In(n, value=0, update=n + 1)], n * 10)
    >>> [int(tick()), int(tick()), int(tick(5)), int(tick())]
    [0, 10, 50, 60]
    """

    def __init__(self, variable: Variable, *, value=None, name: str | None = None,
                 borrow: bool = False, mutable: bool = False, update=None):
        if not isinstance(variable, Variable):
            raise TypeError(f"In takes a symbolic variable, got {type(variable).__name__}")
        what = f"In({variable!r})"
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{what}: name must be a string, got {type(name).__name__}")
        self.variable = variable
        self.name = name if name is not None else variable.name
        self.borrow, self.mutable = bool(borrow or mutable), bool(mutable)
        self.value = None if value is None else np.array(
            variable.type.filter(value, f"{what}: the default value"), copy=True)
        if update is not None and value is None:
            raise TypeError(f"{what}: an input with an update needs a value (its state "
                            "before the first call)")
        self.update = None if update is None else new_value(
            variable.type, update, f"{what}: the update of {variable!r}")

    def __repr__(self) -> str:
        opts = [f"{k}={v!r}" for k, v in (("name", self.name), ("borrow", self.borrow),
                                          ("mutable", self.mutable)) if v]
        opts += ["value=..."] * (self.value is not None) + ["update=..."] * (
            self.update is not None)
        return f"In({', '.join([repr(self.variable), *opts])})"


class Out:
    """A function output with options (Theano's ``Out``), in ``sg.function``'s outputs
    (alone, in a list or in a dict) in place of its variable.

    ``borrow=True``: the call may return the function's own memory for this output (a
    buffer it keeps, a shared variable's value) rather than an array made for the caller,
    saving an allocation or a copy. **The next call may overwrite it**: read it, or copy
    what you keep, before calling again, do not write into it, and do not pass it back
    in as an input. An output that is a caller's input (or a view of one) is still
    copied unless that input is lent (``In(borrow=True)``).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.dvector("x")
    >>> f = sg.function([x], sg.Out(sg.exp(x) * 2, borrow=True))
    >>> first = f(np.zeros(2))
    >>> first.tolist()
    [2.0, 2.0]
    >>> second = f(np.ones(2))
    >>> second is first, first.tolist() == second.tolist()
    (True, True)
    """

    def __init__(self, variable, borrow: bool = False):
        self.variable, self.borrow = variable, bool(borrow)

    def __repr__(self) -> str:
        return f"Out({self.variable!r}{', borrow=True' if self.borrow else ''})"


def outputs_of(outputs) -> tuple[list[Variable], Any, frozenset[int]]:
    """The output variables, how a call returns them (``None`` for one: an array, a list
    of keys for a dict: a dict, ``()`` for a list: a list) and the positions of those the
    call lends (``Out(borrow=True)``)."""
    if outputs is None:
        return [], (), frozenset()
    if isinstance(outputs, dict):
        keys = list(outputs)
        given = [(outputs[k], repr(k)) for k in keys]
    elif isinstance(outputs, (list, tuple)):
        keys, given = (), [(o, str(i)) for i, o in enumerate(outputs)]
    else:
        keys, given = None, [(outputs, "")]
    borrowed = frozenset(i for i, (o, _) in enumerate(given)
                         if isinstance(o, Out) and o.borrow)
    return [output_of(o, which) for o, which in given], keys, borrowed


def output_of(o, which: str) -> Variable:
    if isinstance(o, Out):
        o = o.variable
    if isinstance(o, (list, tuple, dict, set)):
        raise TypeError(f"function: output {which} is a {type(o).__name__}; outputs are "
                        "variables (a variable, a list of them, or a dict of them)")
    return as_tensor(o)


def checked_updates(updates) -> list[tuple[SharedVariable, Variable]]:
    pairs = list(updates.items()) if isinstance(updates, dict) else list(updates or [])
    checked = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise TypeError(f"updates must be (shared variable, expression) pairs, got "
                            f"{pair!r}")
        s, u = pair
        if not isinstance(s, SharedVariable):
            raise TypeError(f"updates: {s!r} is not a shared variable")
        checked.append((s, new_value(s.type, u, f"updates: the new value of {s!r}")))
    if len({id(s) for s, _ in checked}) != len(checked):
        raise ValueError("updates: a shared variable is updated twice")
    return checked


def default_updates(exprs: list[Variable], updates: list, givens: dict | None,
                    exclude, inputs_of=graph_inputs) -> list[tuple[SharedVariable, Variable]]:
    """``(s, s.default_update)`` for each shared variable ``s`` that ``exprs`` depend on
    (after ``givens``), or another default update does, and that has one, unless
    ``updates`` update it or ``exclude`` (True: all; or a list) names it. ``inputs_of``
    finds a graph's leaves (:class:`~symgraph.graph.InputsOf` walks each graph once)."""
    if exclude is True:
        return []
    if exclude is False or exclude is None:
        exclude = []
    if isinstance(exclude, Variable) or not isinstance(exclude, (list, tuple, set)) or \
            not all(isinstance(s, SharedVariable) for s in exclude):
        raise TypeError("function: no_default_updates must be True, False or a list of "
                        f"shared variables, got {exclude!r}")
    skip = {id(s) for s, _ in updates} | {id(s) for s in exclude}
    found: list[tuple[SharedVariable, Variable]] = []
    while exprs:
        roots = clone_replace(exprs, givens) if givens else exprs
        exprs = []
        for v in inputs_of(roots):
            if isinstance(v, SharedVariable) and v.default_update is not None and \
                    id(v) not in skip:
                skip.add(id(v))
                found.append((v, v.default_update))
                exprs.append(v.default_update)
    return found


def checked_givens(givens, inputs: list[Variable]) -> dict | None:
    if givens is None:
        return None
    pairs = list(givens.items()) if isinstance(givens, dict) else list(givens)
    listed = {id(v) for v in inputs}
    out = {}
    for k, v in pairs:
        v = as_tensor(v)
        if k.ndim != v.ndim or k.dtype != v.dtype:
            raise TypeError(f"givens: {k!r} ({k.type}) replaced by {v.type}")
        if id(k) in listed:
            raise ValueError(f"givens: {k!r} is also an input of the function, so the "
                             "value passed for it would be ignored: list it as an input "
                             "or replace it, not both")
        out[k] = v
    return out


def with_training_flag(exprs: list[Variable], training, inputs_of=graph_inputs
                       ) -> list[Variable]:
    """``exprs`` with the training flag read as ``training``: a ``where`` on the flag
    becomes the branch it takes (so the other, a dropout draw say, is not in the graph and
    its stream is not advanced), and any other use of the flag a constant."""
    if not isinstance(training, (bool, np.bool_)):
        raise TypeError(f"function: training must be True or False, got {training!r}")
    if not any(v is TRAINING for v in inputs_of(exprs)):
        return exprs
    memo: dict[int, Variable] = {id(TRAINING): constant(bool(training))}
    for node in toposort(exprs):
        ins = [memo.get(id(i), i) for i in node.inputs]
        out = node.outputs[0]
        if _reads_flag(node) and ins[1 + (not training)].type == out.type:
            memo[id(out)] = ins[1 + (not training)]
        elif any(a is not b for a, b in zip(ins, node.inputs)):
            new = node.op.make_node(*ins)
            new.built_at = node.built_at
            memo.update((id(o), n) for o, n in zip(node.outputs, new.outputs))
    return [memo.get(id(v), v) for v in exprs]


def training_default_updates(written: list, training, exprs: list[Variable],
                             givens: dict | None, inputs_of=graph_inputs) -> list:
    """Of the default updates of the graph as written, those a function compiled with the
    training flag at ``training`` applies (each with the flag read so): the update of a
    variable its graph (``exprs``, the flag read already) still reads, or one that reads
    the flag itself (layer state that only training moves, such as running statistics:
    ``where(flag, new, old)``). One that becomes its variable is no update. So a
    prediction function whose dropout is gone does not advance the stream, and a
    training function moves the running statistics its graph no longer reads."""
    moved = with_training_flag([u for _, u in written], training)
    flagged = [any(v is TRAINING for v in graph_inputs([u])) for _, u in written]
    kept: list = []
    todo = [(s, u, f) for (s, _), u, f in zip(written, moved, flagged) if u is not s]
    roots, read = list(exprs), set()
    while todo:       # a kept update may read another variable with a default update
        read |= {id(v) for v in inputs_of(clone_replace(roots, givens) if givens
                                          else roots)}
        now = [(s, u, f) for s, u, f in todo if f or id(s) in read]
        if not now:
            break
        kept += [(s, u) for s, u, _ in now]
        roots = [u for _, u, _ in now]         # only what the kept updates add is new
        taken = {id(s) for s, _, _ in now}
        todo = [t for t in todo if id(t[0]) not in taken]
    return kept


def _reads_flag(node) -> bool:
    """Whether ``node`` is ``where(flag, a, b)`` (the flag broadcast to any rank)."""
    if not (isinstance(node.op, Elemwise) and node.op.scalar.name == "where"):
        return False
    c = node.inputs[0]
    while c.owner is not None and isinstance(c.owner.op, DimShuffle) and \
            all(p == "x" for p in c.owner.op.pattern):
        c = c.owner.inputs[0]
    return c is TRAINING
