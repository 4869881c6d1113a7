"""A Program: a compiled function's steps over numbered value slots.

Lowering (in symgraph) decides what each step *is*; this module says how steps run:

* :class:`KernelCall`: a kernel-IR :class:`~codegen.kernel.Kernel`, which the backend compiles;
* :class:`LibraryCall`: an entry of the backend's library, by name (``dot``, ``argmax``,
  ``gather``, ...); a *view* entry (``reshape``, ``subtensor``, ...) only sets strides;
* :class:`PythonCall`: a Python function of host (numpy) arrays, a user-defined op's;
* :class:`SubProgram`: another Program, run as one step.

:meth:`Program.build` makes a :class:`Runner` of a program for one backend
(:mod:`codegen.backend`): it compiles every kernel at once, uploads constants once, plans
memory (:mod:`codegen.plan`) and generates one straight-line Python function that runs the
steps, freeing each slot after its last reader. A failing step raises :class:`StepError`,
which carries the step so the caller can say which of *its* nodes failed.

>>> from codegen.backend import get_backend
>>> p = Program(n_slots=3, inputs=(0,), outputs=(2,), steps=[
...     Step(PythonCall(lambda a: [a + 1]), (0,), (1,), "add1"),
...     Step(PythonCall(lambda a: [a * 2]), (1,), (2,), "mul2")])
>>> p.build(get_backend("numpy")).run([1.0])
[4.0]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Sequence

from codegen.kernel import Kernel


# ---------------------------------------------------------------- what a step does
@dataclass(frozen=True, eq=False)
class KernelCall:
    """Run ``kernel``. ``prepare(args)`` turns the step's arguments into the kernel's
    inputs and its domain, raising on arguments that do not fit (it is the one check
    native code relies on); ``drops[j]`` are the domain axes output ``j`` lacks (a
    reduction without keepdims); ``examples`` are argument lists laid out as calls will
    be, so the backend can compile their specializations up front."""
    kernel: Kernel
    prepare: Callable[[Sequence[Any]], tuple[list, tuple[int, ...]]]
    drops: tuple[tuple[int, ...], ...]
    examples: tuple[tuple[Any, ...], ...] = ()

    kind = "kernel"


@dataclass(frozen=True)
class LibraryCall:
    """Call the backend library's entry ``name`` with the step's arguments and keyword
    ``params`` (a tuple of (name, value) pairs, so that equal calls compare equal)."""
    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def kind(self) -> str:
        """``view`` for an entry that only sets strides, else ``call``."""
        from codegen.lib.array import is_view
        return "view" if is_view(self.name) else "call"

    @classmethod
    def of(cls, name: str, **params) -> "LibraryCall":
        return cls(name, tuple(sorted(params.items())))


@dataclass(frozen=True, eq=False)
class PythonCall:
    """``fn(*host_arrays) -> list of host arrays``: a Python function over numpy arrays.
    On a device backend its arguments come to the host and its results go back."""
    fn: Callable[..., Sequence[Any]]

    kind = "python"


@dataclass(frozen=True, eq=False)
class SubProgram:
    """Run ``program`` on the step's arguments (the outputs are its outputs)."""
    program: "Program"

    kind = "program"


Work = KernelCall | LibraryCall | PythonCall | SubProgram


@dataclass
class Step:
    """``what`` applied to the values of slots ``inputs``, filling slots ``outputs``.
    ``label`` names it for people; ``origin`` is an opaque handle the caller uses to map
    a failure back to its own graph."""
    what: Work
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    label: str
    origin: Any = None

    @property
    def kind(self) -> str:
        """``kernel``, ``call``, ``view`` (a library entry that only sets strides),
        ``python`` or ``program``."""
        return self.what.kind

    @property
    def kernel(self) -> Kernel | None:
        return self.what.kernel if isinstance(self.what, KernelCall) else None


class StepError(Exception):
    """A step raised; ``step`` is the step, ``inputs`` its argument values and
    ``__cause__`` the original exception."""

    def __init__(self, step: Step, inputs: list):
        self.step, self.inputs = step, inputs
        super().__init__(step.label)


@dataclass
class Program:
    """The steps computing ``outputs`` (slot numbers) from ``inputs``; ``constants`` are
    slots with fixed (host) values. ``updates`` pairs a program output position with the
    input position of the value it replaces after the call (a shared variable's): the
    runner may write such an output into the old value's memory (see :mod:`codegen.plan`)."""
    n_slots: int
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    steps: list[Step]
    constants: dict[int, Any] = field(default_factory=dict)
    updates: tuple[tuple[int, int], ...] = ()

    def build(self, backend) -> "Runner":
        """The program compiled for ``backend`` (a :class:`codegen.backend.Backend`)."""
        from codegen.plan import plan
        return Runner(self, backend, plan(self, backend))


class Runner:
    """A program ready to run on one backend: ``run(inputs, writable=())`` returns the
    output values. ``writable[k]`` says whether the old value of update ``k`` may be
    overwritten (nobody but the caller holds it). ``fresh[i]`` says whether output ``i``
    is always an array made for the call that nothing else holds; ``stateful`` whether
    steps keep buffers between calls (then one call at a time)."""

    def __init__(self, program: Program, backend, planned):
        self.program, self.backend = program, backend
        self.fresh, self.stateful = planned.fresh, planned.stateful
        self.run = _generate(program, planned)


def _generate(p: Program, planned) -> Callable[..., list[Any]]:
    """The steps as one straight-line Python function, generated as source: a call costs
    no interpretation of the step list. In-place update steps run last, in two phases:
    every check first, then every write, so a failing check leaves all old values whole."""
    order = [i for i in range(len(p.steps)) if i not in planned.commits] + \
        sorted(planned.commits)
    last: dict[int, int] = {}
    for i in order:
        for slot in p.steps[i].inputs:
            last[slot] = i
    keep = set(p.outputs) | set(p.constants)
    names: dict[str, Any] = {f"fn{i}": f for i, f in enumerate(planned.fns)}
    names.update({f"v{slot}": v for slot, v in planned.constants.items()})
    # a function of the steps, not a method: holding the runner would make a cycle
    names["_error"] = partial(_step_error, p.steps, planned.constants)
    v = lambda slots: "".join(f"v{s}, " for s in slots)
    lines = ["def run(inputs, writable=()):", f"    {v(p.inputs) or '()'} = inputs",
             "    i = 0", "    try:", "        pass"]
    for i in order:
        s = p.steps[i]
        if i in planned.commits:
            lines.append(f"        i = {i}; c{i} = fn{i}.check(({v(s.inputs)}), writable)")
            continue
        lines.append(f"        i = {i}; {v(s.outputs)}= fn{i}({v(s.inputs)})")
        free = [slot for slot in dict.fromkeys(s.inputs) if last[slot] == i
                and slot not in keep]
        if free:
            lines.append(f"        del {v(free)}")
    for i in sorted(planned.commits):
        lines.append(f"        i = {i}; {v(p.steps[i].outputs)}= fn{i}.write(c{i})")
    lines += ["    except Exception as e:", "        raise _error(i, locals()) from e",
              f"    return [{v(p.outputs)}]"]
    exec("\n".join(lines), names)
    return names["run"]


def _step_error(steps: list[Step], constants: dict, i: int, env: dict) -> StepError:
    """The error of step ``i``, with its input values from the run's locals ``env``."""
    s = steps[i]
    return StepError(s, [env.get(f"v{slot}", constants.get(slot)) for slot in s.inputs])


def run_step(what: Work, args: Sequence[Any], backend) -> list[Any]:
    """Run one step's work on ``args`` with ``backend`` (constant folding uses this with
    the reference backend)."""
    from codegen.plan import step_function
    return list(step_function(what, backend, reuse=False)(*args))
