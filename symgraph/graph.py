"""The graph: :class:`Variable` values produced by :class:`Apply` nodes of an :class:`Op`.

An ``Op`` is a small class: ``make_node`` checks the inputs and infers the output types,
``grad`` builds the gradient graph, ``lower`` says what the node runs as (a kernel, a
library call by name, a Python function: :mod:`codegen.program`). Ops are compared by their
``__props__``, so equal nodes can be merged. An op may own *inner graphs*
(:class:`InnerGraph`: closed graphs with their own inputs), which the graph tools see:
:func:`toposort` with ``inner=True``, merging (equal inner graphs make equal ops), printing
and gradients.

This module imports nothing of symgraph but :mod:`symgraph.types`; the tensor layer above
installs itself into it (:data:`Op.lift`, ``TensorType.variable_type``).

>>> import symgraph as sg
>>> x = sg.dvector("x")
>>> y = sg.exp(x) + 1
>>> [n.op.name for n in toposort([y])]
['exp', 'add']
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from codegen.backend import NUMPY
from codegen.plan import run_step
from codegen.program import PythonCall, Work

from .types import TensorType

_PKG_DIRS = tuple(os.path.dirname(os.path.abspath(p)) + os.sep for p in (
    __file__, os.path.join(os.path.dirname(__file__), "..", "codegen", "__init__.py")))


_INSIDE: dict[str, bool] = {}      # a code object's file name -> is it ours (or importlib)?


def user_trace() -> str | None:
    """``file:line`` of the innermost caller outside symgraph and codegen."""
    f = sys._getframe(1)
    inside = _INSIDE
    while f is not None:
        name = f.f_code.co_filename
        ours = inside.get(name)
        if ours is None:        # once per file: abspath was a third of building a graph
            path = os.path.abspath(name)
            ours = inside[name] = path.startswith(_PKG_DIRS) or "importlib" in path
        if not ours:
            return f"{name}:{f.f_lineno}"
        f = f.f_back
    return None


class Variable:
    """A symbolic value: an input (no owner), a constant, or output ``index`` of ``owner``."""

    def __init__(self, type: TensorType, owner: "Apply | None" = None, index: int = 0,
                 name: str | None = None):
        self.type = type
        self.owner = owner
        self.index = index
        self.name = name

    @property
    def dtype(self) -> str:
        return self.type.dtype

    @property
    def ndim(self) -> int:
        return self.type.ndim

    @property
    def built_at(self) -> str | None:
        """Where the user built this variable (``file:line``), if known."""
        return self.owner.built_at if self.owner is not None else None

    def __repr__(self) -> str:
        if self.name:
            return self.name
        if self.owner is not None:
            out = f".{self.index}" if len(self.owner.outputs) > 1 else ""
            return f"{self.owner.op}{out}"
        return f"<{self.type}>"

    def clone(self) -> "Variable":
        return type(self)(self.type, name=self.name)

    def __reduce_ex__(self, protocol):
        # a computed variable pickles with its whole graph, flat: a deep graph would
        # otherwise recurse once per node and exhaust the stack
        if self.owner is None:
            return super().__reduce_ex__(protocol)
        return _unflatten, (flatten([self]), 0)


class Constant(Variable):
    """A variable with a fixed value, owned by no node."""

    def __init__(self, type: TensorType, data: np.ndarray, name: str | None = None):
        super().__init__(type, None, 0, name)
        self.data = np.asarray(data, dtype=type.dtype)
        self.data.setflags(write=False)

    def signature(self):
        """Equal constants (same type and bytes) have equal signatures."""
        return (self.type, self.data.tobytes())

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.data.setflags(write=False)

    def __repr__(self) -> str:
        if self.name:
            return self.name
        if self.data.size == 1:
            return repr(self.data.reshape(-1)[0].item())
        if self.data.size <= 4:
            return repr(self.data.tolist())
        return f"Constant{{{self.type}}}"

    def clone(self) -> "Constant":
        return type(self)(self.type, self.data, self.name)


class Apply:
    """A node: ``op`` applied to ``inputs``, giving ``outputs``; ``built_at`` is the user's
    ``file:line`` where it was built, kept through rewrites so errors can point there."""

    def __init__(self, op: "Op", inputs: Sequence[Variable], outputs: Sequence[Variable],
                 built_at: str | None = None):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.built_at = built_at if built_at is not None else user_trace()
        for i, out in enumerate(self.outputs):
            out.owner, out.index = self, i

    @property
    def out(self) -> Variable:
        return self.outputs[0]

    def __repr__(self) -> str:
        return f"{self.op}({', '.join(map(repr, self.inputs))})"

    def __reduce_ex__(self, protocol):
        return _unflatten_node, (flatten(self.outputs),)


def _no_lift(x) -> Variable:
    raise TypeError(f"an op takes symbolic variables, got {type(x).__name__}")


class Op:
    """Base of all operations. Subclasses set ``__props__`` (the attributes that make two
    instances equal) and implement ``make_node`` and, if differentiable, ``grad``; how a
    node runs is ``lower`` (the default runs ``perform``, for ops written in numpy)."""

    __props__: tuple[str, ...] = ()
    #: Ops whose output differs between calls (random numbers) are never merged or folded.
    deterministic = True
    #: How ``op(value)`` turns a non-variable argument into a constant variable; the tensor
    #: layer (:mod:`symgraph.variable`) installs ``as_tensor`` here.
    lift: Callable[[object], Variable] = staticmethod(_no_lift)

    @property
    def name(self) -> str:
        return type(self).__name__.lower()

    def _props(self) -> tuple:
        return tuple(getattr(self, p) for p in self.__props__)

    def __eq__(self, other) -> bool:
        return type(self) is type(other) and self._props() == other._props()

    def __hash__(self) -> int:
        return hash((type(self), self._props()))

    def __str__(self) -> str:
        if not self.__props__:
            return self.name
        return f"{self.name}{{{', '.join(f'{p}={getattr(self, p)}' for p in self.__props__)}}}"

    def make_node(self, *inputs: Variable) -> Apply:
        raise NotImplementedError(f"{type(self).__name__}.make_node")

    def perform(self, node: Apply, inputs: list[np.ndarray]) -> list[np.ndarray]:
        """The node's outputs, with numpy, as a list (one array per output). A
        user-defined op implements this (or ``lower``); an op with a lowering rule
        computes it by running that rule on the reference backend."""
        if type(self).lower is Op.lower:
            raise NotImplementedError(f"{type(self).__name__} has neither a lowering rule "
                                      "nor a perform method")
        work = self.lower(node)
        if isinstance(work, RunInner):
            raise NotImplementedError(f"{self} runs an inner graph: compile it with "
                                      "sg.function")
        return run_step(work, inputs, NUMPY)

    def lower(self, node: Apply) -> "Work | RunInner":
        """What ``node`` runs as: a kernel, a library call by name or a Python function
        (:mod:`codegen.program`), or one of its inner graphs (:class:`RunInner`). By
        default, a Python call of ``perform`` that checks what it returns."""
        return PythonCall(_checked_perform(node))

    def inner_graphs(self) -> tuple["InnerGraph", ...]:
        """The closed graphs this op owns (none by default)."""
        return ()

    def grad(self, inputs: list[Variable], outputs: list[Variable],
             output_grads: list[Variable | None]) -> list[Variable | None]:
        """Gradients of a scalar cost w.r.t. each input, given those w.r.t. each output
        (``None`` for an output the cost does not depend on). ``None`` in the result means
        no gradient flows to that input (integer inputs, indices)."""
        raise NotImplementedError(f"{self} has no gradient")

    def grad_of(self, inputs: list[Variable], outputs: list[Variable],
                output_grads: list[Variable | None],
                wanted: Sequence[bool]) -> list[Variable | None]:
        """:meth:`grad`, told which inputs' gradients are wanted (``wanted[i]``: some
        variable being differentiated depends on input ``i``): an op may leave the
        others out (None) instead of building graph that nothing uses."""
        return self.grad(inputs, outputs, output_grads)

    def __call__(self, *inputs):
        node = self.make_node(*(i if isinstance(i, Variable) else self.lift(i)
                                for i in inputs))
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs


def _checked_perform(node: Apply) -> Callable:
    """``perform`` of ``node``'s op as a step function, checking that it returns one
    array of the declared dtype and shape per output."""
    op, types = node.op, [o.type for o in node.outputs]

    def step(*args):
        outs = op.perform(node, list(args))
        if not isinstance(outs, (list, tuple)):
            raise TypeError(f"{type(op).__name__}.perform must return a list with one array "
                            f"per output ({len(types)}), got {type(outs).__name__}")
        if len(outs) != len(types):
            raise TypeError(f"{type(op).__name__}.perform returned {len(outs)} values for "
                            f"{len(types)} outputs")
        checked = []
        for j, (o, t) in enumerate(zip(outs, types)):
            o = np.asarray(o)
            if o.dtype.name != t.dtype or not t.accepts_shape(o.shape):
                raise TypeError(f"{op}.perform output {j} is {o.dtype.name}{o.shape}, its "
                                f"type says {t}")
            checked.append(o)
        return checked
    return step


# ---------------------------------------------------------------- inner graphs
class InnerGraph:
    """A closed graph an op owns: ``outputs`` computed from ``inputs`` (free variables of
    its own) and constants only. Two inner graphs are equal when they have the same
    structure (ops, types, constants and wiring), whatever their variables.

    >>> import symgraph as sg
    >>> a, b = sg.dscalar("a"), sg.dscalar("b")
    >>> InnerGraph([a], [a * 2]) == InnerGraph([b], [b * 2])
    True
    """

    def __init__(self, inputs: Sequence[Variable], outputs: Sequence[Variable]):
        self.inputs, self.outputs = tuple(inputs), tuple(outputs)
        own = {id(v) for v in self.inputs}
        if len(own) != len(self.inputs):
            raise ValueError("an inner graph's inputs must be distinct variables")
        for v in graph_inputs(self.outputs):
            if id(v) not in own and not isinstance(v, Constant):
                raise ValueError(f"the inner graph uses {v!r} ({v.type}), which is not one "
                                 "of its inputs: list it as an input")
        self._key = _structure(self.inputs, self.outputs)

    def __eq__(self, other) -> bool:
        return isinstance(other, InnerGraph) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)

    def __repr__(self) -> str:
        return f"InnerGraph({len(self.inputs)} inputs, {len(self.outputs)} outputs)"

    def clone(self) -> "InnerGraph":
        """A copy with fresh inputs and nodes (for a caller that rewrites it)."""
        fresh = [v.clone() for v in self.inputs]
        return InnerGraph(fresh, clone_replace(self.outputs, dict(zip(self.inputs, fresh)),
                                               rebuild_all=True))


def _structure(inputs: Sequence[Variable], outputs: Sequence[Variable]) -> tuple:
    """A hashable description of a closed graph that ignores which variables it uses."""
    number: dict[int, int] = {id(v): i for i, v in enumerate(inputs)}
    parts: list = [tuple(v.type for v in inputs)]

    def ref(v: Variable):
        if id(v) in number:
            return number[id(v)]
        return ("const", v.signature()) if isinstance(v, Constant) else ("?", v.type)
    for node in toposort(outputs):
        parts.append((node.op, tuple(ref(i) for i in node.inputs)))
        for o in node.outputs:
            number[id(o)] = len(number)
    parts.append(tuple(ref(o) for o in outputs))
    return tuple(parts)


@dataclass(frozen=True, eq=False)
class RunInner:
    """A lowering rule's answer for an op that runs one of its inner graphs as one step:
    the compiler lowers ``graph`` to a program of its own (optimized like any other)."""
    graph: InnerGraph


# ---------------------------------------------------------------- walking and rebuilding
def toposort(outputs: Iterable[Variable], inner: bool = False) -> list[Apply]:
    """The nodes computing ``outputs``, each after the nodes it depends on; with
    ``inner``, the nodes of every inner graph too (before the node that owns them).
    A graph with a cycle (which no valid graph has) raises RuntimeError."""
    order: list[Apply] = []
    state: dict[Apply, bool] = {}        # by node (identity): False visiting, True done
    get = state.get
    stack = [(v.owner, False) for v in reversed(list(outputs)) if v.owner is not None]
    pop, push = stack.pop, stack.append
    while stack:
        node, expanded = pop()
        if expanded:
            state[node] = True
            if inner:
                for g in node.op.inner_graphs():
                    order += toposort(g.outputs, inner=True)
            order.append(node)
            continue
        seen = get(node)
        if seen:
            continue
        if seen is False:        # reached again from its own inputs
            raise RuntimeError(f"the graph has a cycle through {node}: please report how "
                               "it was built")
        state[node] = False
        push((node, True))
        for inp in reversed(node.inputs):
            owner = inp.owner
            if owner is not None and not get(owner):
                push((owner, False))
    return order


class GraphOp(Op):
    """Base of the ops that own inner graphs (OpFromGraph, Scan, IfElse): shown by the
    name their user gave them (``_name``), else by their kind, never by the graphs."""

    _name: str | None = None

    @property
    def name(self) -> str:
        return self._name or type(self).__name__.lower()

    def __str__(self) -> str:
        return self.name


def inner_graphs(outputs: Iterable[Variable]) -> Iterator[tuple[Apply, InnerGraph]]:
    """Each node of the graph (inner graphs included) that owns inner graphs, with each."""
    for node in toposort(outputs, inner=True):
        for g in node.op.inner_graphs():
            yield node, g


def graph_inputs(outputs: Iterable[Variable]) -> list[Variable]:
    """The variables without owner that ``outputs`` depend on (inputs and constants)."""
    outputs = list(outputs)
    found: dict[int, Variable] = {id(v): v for v in outputs if v.owner is None}
    for node in toposort(outputs):
        for i in node.inputs:
            if i.owner is None:
                found.setdefault(id(i), i)
    return list(found.values())


class InputsOf:
    """:func:`graph_inputs`, each list of variables walked once: ``sg.function`` asks about
    the same graph when it finds default updates, the training flag and the shared
    variables (a 35,000-node graph: 40 ms a walk). The lists asked about are kept, so
    their variables outlive the memo."""

    def __init__(self):
        self._known: dict[tuple[int, ...], tuple[list, list[Variable]]] = {}

    def __call__(self, outputs: Iterable[Variable]) -> list[Variable]:
        outputs = list(outputs)
        key = tuple(map(id, outputs))
        got = self._known.get(key)
        if got is None:
            got = self._known[key] = (outputs, graph_inputs(outputs))
        return list(got[1])


def clone_replace(outputs: Sequence[Variable], replace: dict[Variable, Variable] | None = None,
                  rebuild_all: bool = False) -> list[Variable]:
    """Copies of ``outputs`` with the variables in ``replace`` swapped for others.

    Every node on a path from a replaced variable (every node, with ``rebuild_all``) is
    rebuilt with ``make_node``, so types are checked again; other nodes are shared with
    the original graph.
    """
    memo: dict[int, Variable] = {id(k): v for k, v in (replace or {}).items()}
    for node in toposort(outputs):
        if id(node.outputs[0]) in memo and all(id(o) in memo for o in node.outputs):
            continue
        new_inputs = [memo.get(id(i), i) for i in node.inputs]
        if not rebuild_all and all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        new = node.op.make_node(*new_inputs)
        new.built_at = node.built_at
        for old, nv in zip(node.outputs, new.outputs):
            if id(old) not in memo:
                memo[id(old)] = nv
    return [memo.get(id(o), o) for o in outputs]


def ancestors(outputs: Iterable[Variable]) -> set[int]:
    """ids of every variable ``outputs`` depend on, the outputs included."""
    outputs = list(outputs)
    seen = {id(v) for v in outputs}
    for node in toposort(outputs):
        seen.update(id(v) for v in (*node.inputs, *node.outputs))
    return seen


# ---------------------------------------------------------------- pickling
@dataclass
class FlatGraph:
    """A graph as flat lists, for pickling without recursion: ``leaves`` (inputs,
    constants, shared variables: pickled as they are), ``nodes`` as (op, input refs,
    output (type, name) pairs, built_at), ``roots`` as refs. A ref numbers the leaves, then
    each node's outputs in order."""
    leaves: list[Variable]
    nodes: list[tuple]
    roots: list[int]


def flatten(roots: Sequence[Variable]) -> FlatGraph:
    leaves = graph_inputs(roots)
    ref: dict[int, int] = {id(v): i for i, v in enumerate(leaves)}
    nodes = []
    for node in toposort(roots):
        nodes.append((node.op, [ref[id(i)] for i in node.inputs],
                      [(o.type, o.name, type(o)) for o in node.outputs], node.built_at))
        for o in node.outputs:
            ref[id(o)] = len(ref)
    return FlatGraph(leaves, nodes, [ref[id(r)] for r in roots])


def unflatten(flat: FlatGraph) -> list[Variable]:
    """The roots of a graph rebuilt from :func:`flatten`'s lists."""
    values: list[Variable] = list(flat.leaves)
    for op, ins, outs, built_at in flat.nodes:
        node = Apply(op, [values[i] for i in ins],
                     [cls(t, name=name) for t, name, cls in outs], built_at=built_at or "")
        node.built_at = built_at
        values += node.outputs
    return [values[r] for r in flat.roots]


def _unflatten(flat: FlatGraph, k: int) -> Variable:
    return unflatten(flat)[k]


def _unflatten_node(flat: FlatGraph) -> Apply:
    return unflatten(flat)[0].owner
