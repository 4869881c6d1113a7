"""How a :class:`~codegen.program.Program` runs on one backend: :func:`build` makes its
:class:`Runner` (the memory plan, the function each step runs, and one generated function
running them all).

* Values that stay inside a call (no output holds them, or only outputs the caller
  borrows) live in buffers made on the first call and reused after, for as long as their
  shapes stay: kernel outputs, and the results of library entries that take ``out=``.
* Values that leave a call are fresh arrays each call; a large one the caller has dropped
  is handed out again (:class:`Recycler`): freeing and allocating it anew costs page
  faults on every call.
* The new value of an update (a shared variable's) is written into the old value's memory
  when its kernel is elementwise, the old value's memory is read by no other step after it
  and leaves the call through no output, and the caller says nobody else holds the old
  value (``writable``). Such *commit* steps run last, all their checks before any write.
* A kernel step checks each layout of its arguments once and keeps a launcher for it: a
  later call with the same shapes and strides goes straight to the native entry
  (:func:`_kernel_step`), for backends whose compiled kernels can ``bind`` a layout.
* An *observer* (profiling, checking modes) sees every step as it runs: ``build(...,
  observe=obs)`` generates a runner calling ``obs.after(i, t, args, outs)`` after step
  ``i`` (``t``: the clock reading its work started at; it returns the reading the next
  step starts at, so the observer's own time is charged to no step) and
  ``obs.before(i, args)`` before it when the observer has one. Without an observer the
  runner has none of that code. An observer that raises fails the step (a StepError).
  One with ``inner(i, k, program)`` also gives the observers of the programs step ``i``
  runs (see :func:`plan`): a NaN made inside a loop's body is seen at its own step.
"""
from __future__ import annotations

import math
import sys
import sysconfig
import time
from functools import lru_cache, partial
from typing import Any, Callable, NamedTuple, Sequence

import numpy as np

from codegen.backend import Example
from codegen.loop import Loop, loop_function
from codegen.branch import Branch, branch_function
from codegen.program import (KernelCall, LibraryCall, Program, PythonCall, Step, StepError,
                             SubProgram, Work)

_REFCOUNTS_EXACT = sys.implementation.name == "cpython" and \
    not sysconfig.get_config_var("Py_GIL_DISABLED")


class Launch(NamedTuple):
    """One checked layout of a kernel's calls, as a compiled kernel's ``bind`` hands it
    out: ``entry(extent, grain, meta, *inputs, *outputs)`` runs it (nothing when
    ``extent`` is 0). The entry reads only each array's data pointer, so any arrays with
    the checked dtypes, shapes and strides may be passed. ``fresh`` gives, per output, the
    shape, the input whose memory order it copies (-1: C order) and the dtype of a fresh
    output."""
    entry: Callable
    extent: int
    grain: int
    meta: Any
    fresh: tuple[tuple[tuple[int, ...], int, np.dtype], ...]

    def __call__(self, inputs: Sequence, outputs: Sequence | None = None) -> list:
        if outputs is None:
            outputs = [np.empty(shp, dt) if like < 0 else np.empty_like(inputs[like], dt)
                       for shp, like, dt in self.fresh]
        if self.extent:
            self.entry(self.extent, self.grain, self.meta, *inputs, *outputs)
        return list(outputs)


class Planned(NamedTuple):
    """Per step its function, the constants in the backend's memory, which steps write
    updates in place (``commits``), which outputs are always fresh, and whether any step
    keeps buffers between calls."""
    fns: list[Callable]
    constants: dict[int, Any]
    commits: set[int]
    fresh: list[bool]
    stateful: bool


class Runner:
    """A program ready to run on one backend: ``run(inputs, writable=())`` returns the
    output values. ``writable[k]`` says whether the old value of update ``k`` may be
    overwritten (nobody but the caller holds it). ``fresh[i]`` says whether output ``i``
    is always an array made for the call that nothing else holds; ``stateful`` whether
    steps keep buffers between calls (then one call at a time)."""

    def __init__(self, program: Program, backend, planned: Planned, observe=None):
        self.program, self.backend = program, backend
        self.fresh, self.stateful = planned.fresh, planned.stateful
        self.run = _generate(program, planned, observe)


def build(p: Program, backend, borrowed: frozenset[int] = frozenset(), observe=None,
          in_place: bool = True, compiled: dict | None = None) -> Runner:
    """``p`` compiled for ``backend`` (a :class:`codegen.backend.Backend`); the outputs
    at the positions ``borrowed`` may be buffers the next call overwrites. ``observe``
    sees each step run (see the module's text); ``in_place=False`` writes no update into
    its old value's memory (an observer comparing steps' inputs needs them whole).
    ``compiled``: the compiled kernels of ``p``'s steps, as :func:`plan` passes them to
    the programs inside a program."""
    return Runner(p, backend, plan(p, backend, borrowed, in_place, observe, compiled),
                  observe)


def run_step(what: Work, args: Sequence[Any], backend) -> list[Any]:
    """Run one step's work on ``args`` with ``backend`` (constant folding uses this with
    the reference backend)."""
    return list(step_function(what, backend, reuse=False)(*args))


def _generate(p: Program, planned: Planned, observe=None) -> Callable[..., list[Any]]:
    """The steps as one straight-line Python function, generated as source: a call costs
    no interpretation of the step list. It frees each slot after its last reader.
    In-place update steps run last, in two phases: every check first, then every write,
    so a failing check leaves all old values whole. With ``observe``, each step is
    reported to it (see the module's text)."""
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
    if observe is not None:
        names.update(clock=time.perf_counter, after=observe.after,
                     before=getattr(observe, "before", None))
        lines.append("        t = clock()")
    seen = lambda i, s: (f"        t = after({i}, t, ({v(s.inputs)}), ({v(s.outputs)}))"
                         if observe is not None else None)
    ahead = lambda i, s: (f"        before({i}, ({v(s.inputs)}))"
                          if names.get("before") is not None else None)
    for i in order:
        s = p.steps[i]
        if i in planned.commits:
            lines += filter(None, [ahead(i, s), f"        i = {i}; c{i} = fn{i}.check(("
                                   f"{v(s.inputs)}), writable)"])
            continue
        lines += filter(None, [f"        i = {i}", ahead(i, s),
                               f"        {v(s.outputs)}= fn{i}({v(s.inputs)})", seen(i, s)])
        free = [slot for slot in dict.fromkeys(s.inputs) if last[slot] == i
                and slot not in keep]
        if free:
            lines.append(f"        del {v(free)}")
    for i in sorted(planned.commits):
        s = p.steps[i]
        lines += filter(None, [f"        i = {i}; {v(s.outputs)}= fn{i}.write(c{i})",
                               seen(i, s)])
    lines += ["    except Exception as e:", "        raise _error(i, locals()) from e",
              f"    return [{v(p.outputs)}]"]
    exec("\n".join(lines), names)
    return names.pop("run")     # no cycle: the runner and its buffers go when dropped


def _step_error(steps: list[Step], constants: dict, i: int, env: dict) -> StepError:
    """The error of step ``i``, with its input values from the run's locals ``env``."""
    s = steps[i]
    return StepError(s, [env.get(f"v{slot}", constants.get(slot)) for slot in s.inputs])


def plan(p: Program, backend, borrowed: frozenset[int] = frozenset(),
         in_place: bool = True, observe=None, compiled: dict | None = None) -> Planned:
    """Compile ``p``'s kernels and plan its memory for ``backend``; a value that leaves
    only through ``borrowed`` outputs stays in its reused buffer. The kernels of ``p``
    and of every program inside it (sub-programs, loop bodies, branches) compile at once
    (:func:`_kernel_steps`), unless ``compiled`` has them: one batch makes modules that
    compile side by side, where each loop's body alone was one module after another.
    ``in_place=False`` plans no update in its old value's memory. An observer with
    ``inner(i, k, program)`` gives the observer of the ``k``-th program that step ``i``
    runs (a sub-program, a loop's body, a branch), or None."""
    inner = getattr(observe, "inner", None)
    commits = _commits(p) if in_place else {}
    if compiled is None:
        compiled = _compile_steps(backend, _kernel_steps(p, commits))

    def sub(q: Program, i: int, k: int = 0, out: frozenset[int] = frozenset()) -> Runner:
        return build(q, backend, out, observe=inner(i, k, q) if inner else None,
                     compiled=compiled)
    escaping = {slot for k, slot in enumerate(p.outputs) if k not in borrowed}
    at = [i for i, s in enumerate(p.steps) if isinstance(s.what, KernelCall)]
    missing = [(p, i, _examples(p.steps[i].what, commits.get(i))) for i in at
               if (id(p), i) not in compiled]      # (none, as the compiler plans programs)
    compiled.update(_compile_steps(backend, missing))
    runners = {i: compiled[(id(p), i)] for i in at}
    fns: list[Callable] = []
    # updates in place write shared values: two calls at once must not interleave them
    stateful = bool(commits)
    for i, s in enumerate(p.steps):
        reuse = not any(o in escaping for o in s.outputs)
        if i in commits:
            fns.append(_Commit(s.what, runners[i], commits[i], backend))
        elif isinstance(s.what, SubProgram):
            run = sub(s.what.program, i)
            stateful |= run.stateful
            fns.append(lambda *args, run=run.run: run(list(args)))
        elif isinstance(s.what, Loop):
            body = sub(s.what.body, i, 0, s.what.borrowed)
            stateful |= body.stateful
            fns.append(loop_function(s.what, body.run, backend))
        elif isinstance(s.what, Branch):
            subs = [sub(q, i, k) for k, q in enumerate(s.what.programs)]
            stateful |= any(r.stateful for r in subs)
            fns.append(branch_function(s.what, *(r.run for r in subs)))
        else:
            stateful |= reuse and s.kind in ("kernel", "call")
            fns.append(step_function(s.what, backend, reuse, runners.get(i)))
    made = {o for i, s in enumerate(p.steps) for o in s.outputs
            if s.kind in ("kernel", "call") or i in commits}
    fixed = set(p.inputs) | set(p.constants)
    outs = list(p.outputs)
    fresh = [slot in made and slot in escaping and outs.count(slot) == 1 and
             slot not in fixed for slot in outs]
    constants = {slot: backend.to_device(v) for slot, v in p.constants.items()}
    return Planned(fns, constants, set(commits), fresh, stateful)


def _kernel_steps(p: Program, commits: dict) -> list[tuple[Program, int, list]]:
    """``(program, step, examples)`` for each kernel step of ``p`` (whose updates in place
    are ``commits``) and of the programs its steps run, with the calls it will make
    (:func:`_examples`; the programs inside plan their updates in place, as :func:`plan`
    does for them)."""
    found = []
    for i, s in enumerate(p.steps):
        w = s.what
        if isinstance(w, KernelCall):
            found.append((p, i, _examples(w, commits.get(i))))
        inside = [w.program] if isinstance(w, SubProgram) else [w.body] if isinstance(
            w, Loop) else list(w.programs) if isinstance(w, Branch) else []
        for q in inside:
            found += _kernel_steps(q, _commits(q))
    return found


def _compile_steps(backend, found: list[tuple[Program, int, list]]) -> dict:
    """The kernels of ``found`` (:func:`_kernel_steps`) compiled in one batch, by
    ``(id(program), step)``."""
    runners = backend.compile_kernels([q.steps[i].what.kernel for q, i, _ in found],
                                      [e for _, _, e in found]) if found else []
    return {(id(q), i): r for (q, i, _), r in zip(found, runners)}


def _examples(what: KernelCall, targets) -> list[Example]:
    """The calls a kernel step will make, for the backend to compile up front: an update
    in place writes into the old values (an input of the call), so its code is that."""
    if not targets:
        return [Example(list(e)) for e in what.examples]
    out = []
    for e in what.examples:
        views, domain = what.prepare(list(e))
        outs = [np.empty(domain, b.dtype) for b in what.kernel.outputs]
        for j, pos, _ in targets:
            outs[j] = views[pos] if tuple(views[pos].shape) == tuple(domain) else outs[j]
        out.append(Example(views, outs))
    return out


def step_function(what: Work, backend, reuse: bool, runner=None) -> Callable:
    """``fn(*args) -> outputs`` running ``what`` on ``backend``; ``reuse``: its outputs
    stay inside the call, so their buffers may serve the next call too."""
    if isinstance(what, KernelCall):
        if runner is None:
            (runner,) = backend.compile_kernels([what.kernel], [_examples(what, None)])
        return _kernel_step(what, runner, reuse, backend.empty)
    if isinstance(what, LibraryCall):
        return _library_step(what, backend, reuse)
    if isinstance(what, PythonCall):
        return _python_step(what, backend)
    if isinstance(what, SubProgram):
        sub = build(what.program, backend)
        return lambda *args: sub.run(list(args))
    if isinstance(what, Loop):
        return loop_function(what, build(what.body, backend, what.borrowed).run, backend)
    if isinstance(what, Branch):
        return branch_function(what, *(build(q, backend).run for q in what.programs))
    raise TypeError(f"a step does {type(what).__name__}, which no backend runs")


# ---------------------------------------------------------------- library and python calls
def _library_step(what: LibraryCall, backend, reuse: bool) -> Callable:
    entry = backend.lib.entry(what.name)
    fn, params = entry.fn, dict(what.params)
    if not (reuse and entry.out):
        return lambda *args: [fn(*args, **params)]
    kept: list = [None]

    def step(*args):
        # the last result is the buffer of the next call, if it still fits (see lib)
        kept[0] = out = fn(*args, out=kept[0], **params)
        return [out]
    return step


def _python_step(what: PythonCall, backend) -> Callable:
    fn = what.fn
    if backend.host:
        return fn
    to_host, to_device = backend.to_host, backend.to_device

    def step(*args):       # a host round trip: user-defined ops compute with numpy
        return [to_device(np.asarray(o)) for o in fn(*(to_host(a) for a in args))]
    return step


# ---------------------------------------------------------------- kernels
class Recycler:
    """Fresh arrays for one output of a step, handing out again a large array it made
    before once nobody else holds it (CPython reference counts say so): freeing and
    allocating it anew would cost page faults on every call (a 40 MB array: ~3 ms).
    It keeps the last two such arrays alive between calls."""
    MIN_BYTES = 1 << 20

    def __init__(self):
        self.kept: list[np.ndarray] = []

    def empty(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        for a in self.kept:
            # references: the list's, the loop's, getrefcount's own argument
            if sys.getrefcount(a) == 3 and a.shape == shape and a.dtype == dtype:
                return a
        a = np.empty(shape, dtype)
        if a.nbytes >= self.MIN_BYTES and _REFCOUNTS_EXACT:
            self.kept = [*self.kept[-1:], a]
        return a


def _without(shape: Sequence[int], drop: tuple[int, ...]) -> tuple[int, ...]:
    """A keepdims-shaped kernel output's shape as its step's output has it."""
    return tuple(d for a, d in enumerate(shape) if a not in drop)


def _dropped(outs: Sequence, drops: Sequence[tuple[int, ...]]) -> list:
    """Kernel outputs (keepdims-shaped) as the step's outputs: without the axes each
    drops."""
    return [o if not drop else o.reshape(_without(o.shape, drop))
            for o, drop in zip(outs, drops)]


def _kernel_step(what: KernelCall, run, reuse: bool, empty=np.empty) -> Callable:
    """A step function running ``what.kernel`` with ``run(inputs, outputs, shape)``;
    ``empty`` allocates the buffers reused across calls (the backend's).

    A backend whose runner can ``bind`` a checked call layout (:mod:`codegen.llvm`) gets
    each layout (argument shapes and strides) checked once; later calls with it go
    straight to the native entry with the arguments as they come."""
    kernel, prepare, drops = what.kernel, what.prepare, what.drops
    bind = getattr(run, "bind", None)
    fast: dict[tuple, Callable] = {}
    reused: dict[tuple, tuple[list, list]] = {}     # keepdims buffers, step-shaped views
    recyclers = [Recycler() for _ in kernel.outputs]
    dtypes = [np.dtype(b.dtype) for b in kernel.outputs]

    def buffers(domain):
        shapes = tuple(kernel.out_shape(s, domain) for s in kernel.stores)
        if shapes not in reused:
            reused.clear()
            fast.clear()
            bufs = [empty(sh, dt) for sh, dt in zip(shapes, dtypes)]
            reused[shapes] = bufs, _dropped(bufs, drops)
        return reused[shapes]

    def slow(args):
        views, domain = prepare(args)
        bufs, views_out = buffers(domain) if reuse else (None, None)
        launch = bind(views, bufs, domain) if bind is not None else None
        if launch is None:        # checked on every call
            return _dropped(run(views, bufs, domain), drops)
        if len(fast) >= 64:
            fast.clear()
        key = tuple(x for a in args for x in (a.shape, a.strides))
        fast[key] = hit = _launcher(launch, bufs, views_out, drops, recyclers)
        return hit(args)
    return _keyed_step(len(kernel.inputs), fast, slow)


def _keyed_step(n: int, fast: dict, slow: Callable) -> Callable:
    """``step(a0, ..., a{n-1})``: ``fast[(a0.shape, a0.strides, ...)](args)`` when that
    layout has a launcher, else ``slow(args)``. Generated for its number of arguments:
    building the key is most of what a repeated call costs in Python."""
    params = "".join(f"a{i}, " for i in range(n))
    key = "".join(f"a{i}.shape, a{i}.strides, " for i in range(n))
    src = (f"def step({params}):\n"
           f"    hit = fast.get(({key}))\n"
           f"    return hit(({params})) if hit is not None else slow(({params}))\n")
    env = {"fast": fast, "slow": slow}
    exec(_compiled(src), env)
    return env.pop("step")


@lru_cache(maxsize=256)
def _compiled(src: str):
    """The code of a generated step's source, compiled once: steps of one shape share
    their source, and compiling it (~70 us) was a tenth of a 100-layer MLP's compile."""
    return compile(src, "<symgraph step>", "exec")


def _launcher(launch: Launch, bufs, views_out, drops, recyclers) -> Callable:
    """``run(args) -> outputs`` for one bound layout: into the reused buffers, or into
    fresh arrays shaped as the step's outputs (the entry reads only data pointers)."""
    entry, extent, grain, meta = launch.entry, launch.extent, launch.grain, launch.meta
    if bufs is not None:
        if not extent:
            return lambda args: views_out

        def run_reused(args):
            entry(extent, grain, meta, *args, *bufs)
            return views_out
        return run_reused
    shapes = [_without(shp, drop) for (shp, _, _), drop in zip(launch.fresh, drops)]
    small = [like < 0 and math.prod(shp) * dt.itemsize < Recycler.MIN_BYTES
             for shp, (_, like, dt) in zip(shapes, launch.fresh)]
    if small == [True] and extent:
        (shp,), ((_, _, dt),) = shapes, launch.fresh

        def run_one(args):       # the common case of small calls: one small output
            out = np.empty(shp, dt)
            entry(extent, grain, meta, *args, out)
            return [out]
        return run_one

    specs = [(r, shp, like, dt, is_small) for r, shp, (_, like, dt), is_small
             in zip(recyclers, shapes, launch.fresh, small)]

    def run_fresh(args):
        # elementwise outputs take the memory order of a full-shape input (like >= 0)
        outs = [np.empty_like(args[like], dt) if like >= 0 else
                np.empty(shp, dt) if is_small else r.empty(shp, dt)
                for r, shp, like, dt, is_small in specs]
        if extent:
            entry(extent, grain, meta, *args, *outs)
        return outs
    return run_fresh


# ---------------------------------------------------------------- in-place updates
def _aliases(p: Program) -> dict[int, set[int]]:
    """Per slot, the slots whose memory its value may share (itself included): a view
    shares its first argument's, a Python call's result any of its arguments'."""
    alias: dict[int, set[int]] = {}
    get = lambda slot: alias.get(slot, {slot})
    for s in p.steps:
        if s.kind in ("view", "python", "program", "branch", "loop"):
            src = s.inputs[:1] if s.kind == "view" else s.inputs
            shared = set().union(*(get(i) for i in src)) if src else set()
            for o in s.outputs:
                alias[o] = shared | {o}
    return alias


def _commits(p: Program) -> dict[int, list[tuple[int, int, int]]]:
    """Steps that may write updates in place: ``{step: [(output j, argument position of
    the old value, update k), ...]}``. A candidate is an elementwise kernel whose outputs
    are all update values read by no step (so it can run last); an output may take its
    old value's memory when the kernel reads that value itself, reads no other view of it,
    no output of the call shares its memory, and no later candidate reads it."""
    alias = _aliases(p)
    update_of = {p.outputs[pos]: (k, p.inputs[inp]) for k, (pos, inp) in enumerate(p.updates)
                 if list(p.outputs).count(p.outputs[pos]) == 1}
    readers: dict[int, list[int]] = {}
    for i, s in enumerate(p.steps):
        for slot in s.inputs:
            for a in alias.get(slot, {slot}):
                readers.setdefault(a, []).append(i)
    leaving = set().union(*(alias.get(o, {o}) for o in p.outputs)) if p.outputs else set()
    found: dict[int, list[tuple[int, int, int]]] = {}
    for i, s in enumerate(p.steps):
        k = s.kernel
        if k is None or k.reduce_axes or not all(o in update_of and o not in readers
                                                 for o in s.outputs):
            continue
        targets = []
        for j, o in enumerate(s.outputs):
            upd, old = update_of[o]
            views_of_old = {a for a in s.inputs if old in alias.get(a, {a}) and a != old}
            if old in s.inputs and old not in leaving and not views_of_old:
                targets.append((j, s.inputs.index(old), upd))
        if targets:
            found[i] = targets
    # commits run last, in order: what one overwrites no later one may read
    for i in sorted(found):
        found[i] = [t for t in found[i] if not any(
            r > i and r in found for r in readers[p.inputs[p.updates[t[2]][1]]])]
    return {i: t for i, t in found.items() if t}


class _Commit:
    """A kernel step writing update values into the old values' memory: ``check(args,
    writable)`` does every check (and chooses each output's array), ``write(state)`` runs
    the kernel. ``writable[k]`` says the caller lets update ``k`` overwrite its old value.

    A backend whose compiled kernels can ``bind`` a checked layout gets each layout of the
    arguments (with the updates that may go in place) checked in full once, as
    :func:`_kernel_step` does: a later call with it checks only that no argument overlaps
    an old value that may be overwritten, and runs the native entry on the arguments as
    they come."""

    def __init__(self, what: KernelCall, run, targets, backend):
        self.what, self.run, self.empty = what, run, backend.empty
        self.targets = targets
        self.dtypes = [np.dtype(b.dtype) for b in what.kernel.outputs]
        self.bind = getattr(run, "bind", None)
        self.fast: dict[tuple, tuple] = {}     # by layout: (launch, domain, places)
        self.check = self._checked if self.bind is None else \
            self._fast_check(len(what.kernel.inputs), backend.xp.may_share_memory)

    def _checked(self, args, writable, key: tuple | None = None):
        """The full check. With ``key`` (the layout of arguments that overlap no old
        value) the call is bound and kept for later calls with that key: as its launch,
        or as None where the layout needs more than the native call (a copy), so that
        such calls are checked in full without trying to bind again."""
        views, domain = self.what.prepare(args)
        domain = tuple(domain)
        places = [-1] * len(self.dtypes)        # per output, the old value it overwrites
        for j, pos, upd in self.targets:
            old = args[pos]
            if upd < len(writable) and writable[upd] and old.flags.writeable \
                    and tuple(old.shape) == domain:
                places[j] = pos
        outs = [args[pos] if pos >= 0 else self.empty(domain, dt)
                for pos, dt in zip(places, self.dtypes)]
        # the kernel writes an old value through its own input's view (the same memory
        # and layout), so that the kernel sees an output that *is* an input
        targets = [views[pos] if pos >= 0 else o for pos, o in zip(places, outs)]
        if key is not None:
            launch = self.bind(views, targets, domain)
            if len(self.fast) >= 64:
                self.fast.clear()
            self.fast[key] = (launch, domain, places)
            if launch is not None:      # it reads data pointers: the arguments will do
                return launch, args, outs
        return None, (views, targets, domain), outs

    def _fast_check(self, n: int, shares: Callable) -> Callable:
        """``check(args, writable)``, generated for ``n`` arguments: the layout key (which
        updates may go in place, every shape and stride) and the overlap checks are
        written out, since building them is most of what a repeated call costs. An
        argument overlapping an old value (other than at its own position) takes the
        full check, which copies what it must. Arrays that own their memory never
        overlap."""
        olds = sorted({pos for _, pos, _ in self.targets})
        pairs = sorted({(min(i, p), max(i, p)) for p in olds for i in range(n) if i != p})
        a = [f"a{i}" for i in range(n)]
        may = "".join(f"u{j} < k and writable[u{j}] and f{pos}.writeable, "
                      for j, pos, _ in self.targets)
        layout = "".join(f"a{i}.shape, a{i}.strides, " for i in range(n))
        apart = " and ".join(f"(a{i} is not a{p} and (f{i}.owndata and f{p}.owndata or "
                             f"not shares(a{i}, a{p})))" for i, p in pairs) or "True"
        pos_of = {j: pos for j, pos, _ in self.targets}
        outs = "".join(f"a{pos_of[j]} if places[{j}] >= 0 else empty(domain, dt{j}), "
                       if j in pos_of else f"empty(domain, dt{j}), "
                       for j in range(len(self.dtypes)))
        src = (f"def check(args, writable):\n"
               f"    {''.join(x + ', ' for x in a)}= args\n"
               f"    {''.join(f'f{i}, ' for i in range(n))}= "
               f"{''.join(f'a{i}.flags, ' for i in range(n))}\n"
               f"    k = len(writable)\n"
               f"    key = ({may}{layout})\n"
               f"    apart = {apart}\n"
               f"    hit = fast.get(key) if apart else None\n"
               f"    if hit is None or hit[0] is None:\n"
               f"        return checked(args, writable, key if apart and hit is None else None)\n"
               f"    launch, domain, places = hit\n"
               f"    return launch, args, [{outs}]\n")
        env = {"fast": self.fast, "checked": self._checked, "shares": shares,
               "empty": self.empty, **{f"dt{j}": dt for j, dt in enumerate(self.dtypes)},
               **{f"u{j}": upd for j, _, upd in self.targets}}    # (one source per shape)
        exec(_compiled(src), env)
        return env.pop("check")

    def write(self, state):
        launch, args, outs = state
        if launch is None:          # args: the kernel's inputs, outputs and domain
            self.run(*args)
        else:
            launch(args, outs)
        return outs
