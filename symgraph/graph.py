"""The graph: :class:`Variable` values produced by :class:`Apply` nodes of an :class:`Op`.

An ``Op`` is a small class: ``make_node`` checks the inputs and infers the output types,
``perform`` computes with numpy (the reference), ``grad`` builds the gradient graph. Ops are
compared by their ``__props__``, so equal nodes can be merged.

>>> import symgraph as sg
>>> x = sg.dvector("x")
>>> y = sg.exp(x) + 1
>>> [n.op.name for n in toposort([y])]
['exp', 'add']
"""
from __future__ import annotations

import os
import sys
from typing import Iterable, Sequence

import numpy as np

from .types import TensorType

_PKG_DIRS = tuple(os.path.dirname(os.path.abspath(p)) + os.sep for p in (
    __file__, os.path.join(os.path.dirname(__file__), "..", "codegen", "__init__.py")))


def user_trace() -> str | None:
    """``file:line`` of the innermost caller outside symgraph and codegen."""
    f = sys._getframe(1)
    while f is not None:
        path = os.path.abspath(f.f_code.co_filename)
        if not path.startswith(_PKG_DIRS) and "importlib" not in path:
            return f"{f.f_code.co_filename}:{f.f_lineno}"
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
    def trace(self) -> str | None:
        """Where the user built this variable (``file:line``), if known."""
        return self.owner.trace if self.owner is not None else None

    def __repr__(self) -> str:
        if self.name:
            return self.name
        if self.owner is not None:
            out = f".{self.index}" if len(self.owner.outputs) > 1 else ""
            return f"{self.owner.op}{out}"
        return f"<{self.type}>"

    def clone(self) -> "Variable":
        return type(self)(self.type, name=self.name)


class Constant(Variable):
    """A variable with a fixed value, owned by no node."""

    def __init__(self, type: TensorType, data: np.ndarray, name: str | None = None):
        super().__init__(type, None, 0, name)
        self.data = np.asarray(data, dtype=type.dtype)
        self.data.setflags(write=False)

    def signature(self):
        """Equal constants (same type and bytes) have equal signatures."""
        return (self.type, self.data.tobytes())

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
    """A node: ``op`` applied to ``inputs``, giving ``outputs``; ``trace`` is the user's
    ``file:line`` where it was built, kept through rewrites so errors can point there."""

    def __init__(self, op: "Op", inputs: Sequence[Variable], outputs: Sequence[Variable],
                 trace: str | None = None):
        self.op = op
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.trace = trace if trace is not None else user_trace()
        for i, out in enumerate(self.outputs):
            out.owner, out.index = self, i

    @property
    def out(self) -> Variable:
        return self.outputs[0]

    def __repr__(self) -> str:
        return f"{self.op}({', '.join(map(repr, self.inputs))})"


class Op:
    """Base of all operations. Subclasses set ``__props__`` (the attributes that make two
    instances equal) and implement ``make_node``, ``perform`` and, if differentiable,
    ``grad``."""

    __props__: tuple[str, ...] = ()
    #: Ops whose output differs between calls (random numbers) are never merged or folded.
    deterministic = True

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
        raise NotImplementedError(f"{type(self).__name__}.perform")

    def grad(self, inputs: list[Variable], outputs: list[Variable],
             output_grads: list[Variable | None]) -> list[Variable | None]:
        """Gradients of a scalar cost w.r.t. each input, given those w.r.t. each output
        (``None`` for an output the cost does not depend on). ``None`` in the result means
        no gradient flows to that input (integer inputs, indices)."""
        raise NotImplementedError(f"{self} has no gradient")

    def __call__(self, *inputs):
        from .tensor import as_tensor
        node = self.make_node(*[as_tensor(i) for i in inputs])
        return node.outputs[0] if len(node.outputs) == 1 else node.outputs


def toposort(outputs: Iterable[Variable]) -> list[Apply]:
    """The nodes computing ``outputs``, each after the nodes it depends on."""
    order: list[Apply] = []
    seen: set[int] = set()
    stack = [(v.owner, False) for v in reversed(list(outputs)) if v.owner is not None]
    while stack:
        node, expanded = stack.pop()
        if id(node) in seen:
            continue
        if expanded:
            seen.add(id(node))
            order.append(node)
            continue
        stack.append((node, True))
        for inp in reversed(node.inputs):
            if inp.owner is not None and id(inp.owner) not in seen:
                stack.append((inp.owner, False))
    return order


def graph_inputs(outputs: Iterable[Variable]) -> list[Variable]:
    """The variables without owner that ``outputs`` depend on (inputs and constants)."""
    outputs = list(outputs)
    found: dict[int, Variable] = {id(v): v for v in outputs if v.owner is None}
    for node in toposort(outputs):
        for i in node.inputs:
            if i.owner is None:
                found.setdefault(id(i), i)
    return list(found.values())


def clone_replace(outputs: Sequence[Variable], replace: dict[Variable, Variable] | None = None,
                  ) -> list[Variable]:
    """Copies of ``outputs`` with the variables in ``replace`` swapped for others.

    Every node on a path from a replaced variable is rebuilt with ``make_node``, so types are
    checked again; nodes off those paths are shared with the original graph.
    """
    memo: dict[int, Variable] = {id(k): v for k, v in (replace or {}).items()}
    for node in toposort(outputs):
        if id(node.outputs[0]) in memo and all(id(o) in memo for o in node.outputs):
            continue
        new_inputs = [memo.get(id(i), i) for i in node.inputs]
        if all(a is b for a, b in zip(new_inputs, node.inputs)):
            continue
        new = node.op.make_node(*new_inputs)
        new.trace = node.trace
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
