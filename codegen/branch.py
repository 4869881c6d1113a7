"""A conditional step: :class:`Branch` runs one of two programs, chosen by the value of
its first argument, and only that one (a lazy ``ifelse``).

Both programs are built once, when the step's program is (:func:`codegen.plan.build`);
each call tests the condition and runs the taken program on the arguments it takes.

>>> from codegen.backend import NUMPY
>>> from codegen.plan import build
>>> from codegen.program import Program, PythonCall, Step
>>> def one(fn):         # a program of one Python step: slot 0 -> slot 1
...     return Program(2, (0,), (1,), [Step(PythonCall(lambda a: [fn(a)]), (0,), (1,), "")])
>>> b = Branch(one(lambda a: a + 1), one(lambda a: a * 10), (1,), (1,))
>>> p = Program(3, (0, 1), (2,), [Step(b, (0, 1), (2,), "ifelse")])
>>> run = build(p, NUMPY).run
>>> run([True, 5]), run([0, 5])
([6], [50])
"""
from __future__ import annotations

from typing import Any, Callable, NamedTuple, Sequence

from codegen.program import Program


class Branch(NamedTuple):
    """Run ``then_program`` if the step's first argument (the condition, a scalar) is
    nonzero, else ``else_program``; each takes the step's arguments at its positions
    (``then_takes``, ``else_takes``; 0 is the condition). Their outputs are the step's."""
    then_program: Program
    else_program: Program
    then_takes: tuple[int, ...]
    else_takes: tuple[int, ...]

    kind = "branch"

    @property
    def programs(self) -> tuple[Program, Program]:
        return self.then_program, self.else_program


def branch_function(what: Branch, run_then: Callable[[list], list],
                    run_else: Callable[[list], list]) -> Callable[..., Sequence[Any]]:
    """The step function of ``what``, given the runs of its two built programs."""
    then_takes, else_takes = what.then_takes, what.else_takes

    def step(*args):
        # a 0-d array's truth is its value's (a device array's too: it syncs)
        if args[0]:
            return run_then([args[k] for k in then_takes])
        return run_else([args[k] for k in else_takes])
    return step
