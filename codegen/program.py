"""A Program: a compiled function's steps over numbered value slots.

Lowering (in symgraph) decides what each step *is*; this module says how steps run:

* :class:`KernelCall`: a kernel-IR :class:`~codegen.kernel.Kernel`, which the backend compiles;
* :class:`LibraryCall`: an entry of the backend's library, by name (``dot``, ``argmax``,
  ``gather``, ...); a *view* entry (``reshape``, ``subtensor``, ...) only sets strides;
* :class:`PythonCall`: a Python function of host (numpy) arrays, a user-defined op's;
* :class:`SubProgram`: another Program, run as one step.

:func:`codegen.plan.build` makes a runner of a program for one backend
(:mod:`codegen.backend`): it compiles every kernel at once, uploads constants once, plans
memory and generates one straight-line Python function that runs the steps. A failing step
raises :class:`StepError`, which carries the step so the caller can say which of *its*
nodes failed.

>>> from codegen.backend import NUMPY
>>> from codegen.plan import build
>>> p = Program(n_slots=3, inputs=(0,), outputs=(2,), steps=[
...     Step(PythonCall(lambda a: [a + 1]), (0,), (1,), "add1"),
...     Step(PythonCall(lambda a: [a * 2]), (1,), (2,), "mul2")])
>>> build(p, NUMPY).run([1.0])
[4.0]
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Sequence

from codegen.kernel import Kernel
from codegen.lib.array import is_view


# ---------------------------------------------------------------- what a step does
class KernelCall(NamedTuple):
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


class LibraryCall(NamedTuple):
    """Call the backend library's entry ``name`` with the step's arguments and keyword
    ``params`` (a tuple of (name, value) pairs, so that equal calls compare equal)."""
    name: str
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def kind(self) -> str:
        """``view`` for an entry that only sets strides, else ``call``."""
        return "view" if is_view(self.name) else "call"

    @classmethod
    def of(cls, name: str, **params) -> "LibraryCall":
        return cls(name, tuple(sorted(params.items())))


class PythonCall(NamedTuple):
    """``fn(*host_arrays) -> list of host arrays``: a Python function over numpy arrays.
    On a device backend its arguments come to the host and its results go back."""
    fn: Callable[..., Sequence[Any]]

    kind = "python"


class SubProgram(NamedTuple):
    """Run ``program`` on the step's arguments (the outputs are its outputs)."""
    program: "Program"

    kind = "program"


Work = KernelCall | LibraryCall | PythonCall | SubProgram


class Step(NamedTuple):
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
    ``__cause__`` the original exception. A step of a loop's body also has ``iteration``
    (the loop's step it failed at); the error of a step of an inner program is the cause
    of its outer step's error."""

    def __init__(self, step: Step, inputs: list):
        self.step, self.inputs = step, inputs
        self.iteration: int | None = None
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
