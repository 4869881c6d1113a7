"""A Program: the ordered steps of a compiled function over numbered value slots.

A step is a kernel launch, a library call (BLAS, sort, ... through numpy) or a view
(reshape, transpose, slice: strides only). Each reads some slots and fills others. The
program frees a slot after its last reader, and raises :class:`StepError` (carrying the
failing step) so the caller can say which of *its* nodes failed.

>>> p = Program(n_slots=3, inputs=(0,), outputs=(2,), steps=[
...     Step("call", lambda a: [a + 1], (0,), (1,), "add1"),
...     Step("call", lambda a: [a * 2], (1,), (2,), "mul2")])
>>> p.run([1.0])
[4.0]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence


@dataclass
class Step:
    """``fn(*inputs) -> list of outputs``. ``label`` names it for people; ``origin`` is an
    opaque handle the caller uses to map a failure back to its own graph."""
    kind: str                      # 'kernel' | 'call' | 'view'
    fn: Callable[..., Sequence[Any]]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    label: str
    origin: Any = None
    kernel: Any = None             # the codegen Kernel of a 'kernel' step


class StepError(Exception):
    """A step raised; ``step`` is the step and ``__cause__`` the original exception."""

    def __init__(self, step: Step, inputs: list):
        self.step, self.inputs = step, inputs
        super().__init__(step.label)


@dataclass
class Program:
    n_slots: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    steps: list[Step]
    constants: dict[int, Any] = field(default_factory=dict)

    def __post_init__(self):
        keep = set(self.outputs) | set(self.constants)
        last: dict[int, int] = {}
        for i, s in enumerate(self.steps):
            for slot in s.inputs:
                last[slot] = i
        self._free = [[slot for slot in s.inputs if last[slot] == i and slot not in keep]
                      for i, s in enumerate(self.steps)]

    def run(self, inputs: Sequence[Any]) -> list[Any]:
        """Run every step on ``inputs`` (one per input slot); the output slots' values."""
        vals: list[Any] = [None] * self.n_slots
        for slot, v in self.constants.items():
            vals[slot] = v
        for slot, v in zip(self.inputs, inputs):
            vals[slot] = v
        for s, free in zip(self.steps, self._free):
            args = [vals[i] for i in s.inputs]
            try:
                outs = s.fn(*args)
            except Exception as e:
                raise StepError(s, args) from e
            if len(outs) == 1:
                vals[s.outputs[0]] = outs[0]
            else:
                for slot, v in zip(s.outputs, outs):
                    vals[slot] = v
            for slot in free:
                vals[slot] = None
        return [vals[i] for i in self.outputs]
