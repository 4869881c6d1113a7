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
from functools import partial
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
    """``run(inputs)`` runs every step on ``inputs`` (one per input slot) and returns the
    output slots' values."""
    n_slots: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    steps: list[Step]
    constants: dict[int, Any] = field(default_factory=dict)
    stateful: bool = False    # steps keep buffers between calls: one call at a time

    def __post_init__(self):
        keep = set(self.outputs) | set(self.constants)
        last: dict[int, int] = {}
        for i, s in enumerate(self.steps):
            for slot in s.inputs:
                last[slot] = i
        self._free = [[slot for slot in dict.fromkeys(s.inputs)
                       if last[slot] == i and slot not in keep]
                      for i, s in enumerate(self.steps)]
        self.run = self._compile()

    def _compile(self) -> Callable[[Sequence[Any]], list[Any]]:
        """The steps as one straight-line Python function, generated as source: a call
        costs no interpretation of the step list."""
        names = {f"fn{i}": s.fn for i, s in enumerate(self.steps)}
        names.update({f"v{slot}": v for slot, v in self.constants.items()})
        # a function of the steps, not a method: holding self would make a reference cycle
        names["_error"] = partial(_step_error, self.steps, self.constants)
        v = lambda slots: "".join(f"v{i}, " for i in slots)
        lines = ["def run(inputs):", f"    {v(self.inputs) or '()'} = inputs", "    i = 0",
                 "    try:", "        pass"]
        for i, (s, free) in enumerate(zip(self.steps, self._free)):
            lines.append(f"        i = {i}; {v(s.outputs)}= fn{i}({v(s.inputs)})")
            if free:
                lines.append(f"        del {v(free)}")
        lines += ["    except Exception as e:", "        raise _error(i, locals()) from e",
                  f"    return [{v(self.outputs)}]"]
        exec("\n".join(lines), names)
        return names["run"]



def _step_error(steps: list[Step], constants: dict, i: int, env: dict) -> StepError:
    """The error of step ``i``, with its input values from the run's locals ``env``."""
    s = steps[i]
    return StepError(s, [env.get(f"v{slot}", constants.get(slot)) for slot in s.inputs])
