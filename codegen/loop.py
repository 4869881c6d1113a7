"""A loop step: :class:`Loop` runs a compiled body program once per step, feeding back the
values it computed (scan's native loop).

The body is built once (:func:`codegen.plan.build`, by the plan) and the loop itself is Python source
generated for the loop's shape (how many sequences, states, taps): an iteration slices
the sequences, calls the body's runner once and writes what it returned into buffers
allocated before the first step, nothing else.

A step of ``Loop`` takes ``(n_steps, *sequences, *initial, *carried, *constants)``:

* ``sequences``: arrays whose row ``t`` the body reads at step ``t`` (at least
  ``n_steps`` rows each);
* ``initial``: per fed-back output ``i``, an array of ``L_i = -min(taps[i])`` rows, the
  values before step 0 (row ``L_i + k`` is the value at step ``k < 0``);
* ``carried``: values the body replaces at every step, of which only the last is kept;
* ``constants``: the same at every step.

The body takes ``(*sequence rows, *tap values (per output, in its taps' order),
*carried, *constants)`` and returns ``(*fed-back outputs, *outputs not fed back,
*carried, [stop])``: with ``until``, a last value whose truth ends the loop after that
step. The step returns ``(*fed-back outputs stacked, *the others stacked, *carried,
n_run)``, ``n_run`` being the number of steps that ran.

>>> import numpy as np
>>> from codegen.backend import NUMPY
>>> from codegen.plan import build
>>> from codegen.program import Program, PythonCall, Step
>>> add = Program(3, (0, 1), (2,), [Step(PythonCall(lambda h, x: [h + x]), (1, 0), (2,), "add")])
>>> cumsum = Loop(add, n_seqs=1, taps=((-1,),))
>>> loop = loop_function(cumsum, build(add, NUMPY).run, NUMPY)
>>> h, n_run = loop(np.int64(3), np.array([1.0, 2.0, 3.0]), np.zeros(1))
>>> h.tolist(), int(n_run)
([1.0, 3.0, 6.0], 3)
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import numpy as np

from codegen.program import Program, StepError


class Loop(NamedTuple):
    """Run ``body`` ``n_steps`` times (see the module's docstring for the arguments).
    ``taps[i]`` are the (negative) steps at which fed-back output ``i`` is read;
    ``nit[j]`` is the dtype and the shape (without the step axis) of the ``j``-th output
    that is not fed back, for a loop of zero steps, where no step says it."""
    body: Program
    n_seqs: int = 0
    taps: tuple[tuple[int, ...], ...] = ()
    nit: tuple[tuple[str, tuple[int, ...]], ...] = ()
    n_carry: int = 0
    n_const: int = 0
    until: bool = False

    kind = "loop"

    @property
    def borrowed(self) -> frozenset[int]:
        """The body's outputs the loop copies into its stacked buffers at once: the body
        may hand out the same buffer for them at every step (what the others, carried
        into the next step, must not)."""
        return frozenset(range(len(self.taps) + len(self.nit)))


class LoopError(ValueError):
    """A loop's arguments or a step's results do not fit."""


def loop_function(what: Loop, body: Callable, backend) -> Callable:
    """``fn(n_steps, *args) -> outputs`` running ``what`` on ``backend``, given its body's
    runner (``body(inputs) -> outputs``, built once by :func:`codegen.plan.build`)."""
    src, env = _source(what)
    to_device = backend.to_device
    env.update(body=body, empty=backend.empty, LoopError=LoopError, StepError=StepError,
               contiguous=backend.xp.ascontiguousarray,
               nit=what.nit, count=lambda m: to_device(np.asarray(m, np.int64)))
    exec(src, env)
    return env["loop"]


def _source(what: Loop) -> tuple[str, dict]:
    """The loop as Python source for ``what``'s counts: names ``s{i}`` (sequences),
    ``b{i}`` (fed-back buffers, the initial rows first), ``c{i}`` (carried), ``k{i}``
    (constants), ``y{j}`` (buffers of outputs not fed back)."""
    ns, nr, ny, nc, nk = (what.n_seqs, len(what.taps), len(what.nit), what.n_carry,
                          what.n_const)
    lags = [-min(t) for t in what.taps]
    seqs, inits = [f"s{i}" for i in range(ns)], [f"i{i}" for i in range(nr)]
    carried, consts = [f"c{i}" for i in range(nc)], [f"k{i}" for i in range(nk)]
    args = ", ".join(["n", *seqs, *inits, *carried, *consts])
    lines = [f"def loop({args}):", "    n = int(n)",
             "    if n < 0:",
             "        raise LoopError(f'a loop runs n_steps >= 0 steps, got n_steps={n}')"]
    for i, s in enumerate(seqs):
        lines += [f"    if {s}.shape[0] < n:",
                  f"        raise LoopError(f'sequence {i} has {{{s}.shape[0]}} rows for "
                  f"{{n}} steps')"]
    for i, (b, lag) in enumerate(zip(inits, lags)):
        lines += [f"    if {b}.ndim == 0 or {b}.shape[0] != {lag}:",
                  f"        raise LoopError(f'fed-back output {i} reads up to {lag} steps "
                  f"back, so its initial value has {lag} rows (one per step); got shape "
                  f"{{{b}.shape}}')",
                  f"    b{i} = empty(({lag} + n, *{b}.shape[1:]), {b}.dtype)",
                  f"    b{i}[:{lag}] = {b}", f"    r{i} = {b}.shape[1:]"]
    # the body's kernels were compiled for contiguous values: a broadcast or strided one
    # (zeros(...) is a broadcast view) is copied once, not met at every step in a layout
    # that would compile at the first call and run slower at each step
    for c in carried + consts:
        lines += [f"    if not {c}.flags.c_contiguous:", f"        {c} = contiguous({c})"]
    lines += [f"    y{j} = None" for j in range(ny)]
    reads = [f"{s}[t, ...]" for s in seqs]
    for i, (taps, lag) in enumerate(zip(what.taps, lags)):
        reads += [f"b{i}[t + {lag + k}, ...]" if lag + k else f"b{i}[t, ...]" for k in taps]
    results = [f"o{i}" for i in range(nr)] + [f"z{j}" for j in range(ny)] + carried + \
        (["stop"] if what.until else [])
    lines += ["    m = n", "    t = 0", "    try:",
              "        for t in range(n):",
              f"            {''.join(r + ', ' for r in results)}{'= ' if results else ''}"
              f"body([{', '.join([*reads, *carried, *consts])}])"]
    for i, lag in enumerate(lags):
        lines += [f"            if o{i}.shape != r{i}:",
                  f"                raise LoopError(f'step {{t}}: fed-back output {i} has "
                  f"shape {{o{i}.shape}}, its initial value {{r{i}}}')",
                  f"            b{i}[t + {lag}] = o{i}"]
    for j in range(ny):
        lines += [f"            if y{j} is None:",
                  f"                y{j} = empty((n, *z{j}.shape), nit[{j}][0])",
                  f"                q{j} = z{j}.shape",
                  f"            elif z{j}.shape != q{j}:",
                  f"                raise LoopError(f'step {{t}}: output {nr + j} has shape "
                  f"{{z{j}.shape}}, at step 0 it had {{q{j}}}')",
                  f"            y{j}[t] = z{j}"]
    if what.until:
        lines += ["            if stop:", "                m = t + 1", "                break"]
    # the body's failing step, with the iteration it failed at (the caller says where)
    lines += ["    except StepError as e:", "        e.iteration = t", "        raise"]
    for j in range(ny):
        lines += [f"    if y{j} is None:", f"        y{j} = empty((0, *nit[{j}][1]), nit[{j}][0])"]
    outs = [f"b{i}[{lag}:{lag} + m]" for i, lag in enumerate(lags)] + \
        [f"y{j}[:m]" for j in range(ny)] + carried + ["count(m)"]
    lines.append(f"    return [{', '.join(outs)}]")
    return "\n".join(lines), {}
