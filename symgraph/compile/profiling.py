"""Where a compiled function's time goes, step by step: ``sg.function(..., profile=True)``
(or ``SYMGRAPH_PROFILE=1``, ``sg.config.profile``) gives the function a :class:`Profile`,
``f.profile``, which times every step of every call.

The profile watches the steps as the runner runs them (an *observer*,
:mod:`codegen.plan`): per step it adds the time its work took, counts its calls and adds
up the bytes its arguments and outputs hold. It also times whole calls, so it can say how
much of a call was spent outside the steps (argument checks, applying updates, the
runner's own Python) and how much was its own bookkeeping. A function compiled without
``profile=True`` runs a runner that has none of this code.

>>> import numpy as np, symgraph as sg
>>> x = sg.dvector("x")
>>> f = sg.function([x], (sg.exp(x) * 2).sum(), profile=True)
>>> for _ in range(3):
...     _ = f(np.ones(1000))
>>> f.profile.calls, [r["calls"] for r in f.profile.rows()]
(3, [3])
>>> "top steps" in f.profile.summary()
True
"""
from __future__ import annotations

import os
import time
from typing import Callable, NamedTuple, Sequence

import numpy as np

KINDS = {"kernel": "kernels", "call": "library calls", "view": "views",
         "python": "Python calls", "program": "sub-programs", "loop": "loops",
         "branch": "branches"}
"""Each kind of step, as the summary names its total."""

COPY_BYTES = 64 << 20
"""The size of the copy that measures this machine's copy bandwidth."""

_copy_bandwidth: list[float] = []       # measured once per process, at first use


def copy_bandwidth() -> float:
    """Bytes per second (read and written) a large numpy copy moves on this machine: the
    best of five copies of :data:`COPY_BYTES`, measured at the first call of the process
    (about a tenth of a second) and remembered. Kernels' achieved bandwidth is compared
    with it: a kernel near 100% moves its bytes as fast as a copy could."""
    if not _copy_bandwidth:
        src = np.ones(COPY_BYTES // 8)
        dst = np.empty_like(src)
        np.copyto(dst, src)     # the first copy pays the page faults of dst
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            np.copyto(dst, src)
            best = min(best, time.perf_counter() - t0)
        _copy_bandwidth.append(2 * src.nbytes / best)
    return _copy_bandwidth[0]


def _count(n: int, what: str) -> str:
    return f"{n} {what}" + ("" if n == 1 else "s")


def _short(label: str, width: int) -> str:
    return label if len(label) <= width else label[:width - 1] + "…"


def _where(line: str | None) -> str:
    """A user's ``file:line`` for a table: relative to the working directory when it is
    inside it, else the file's name."""
    if not line:
        return ""
    path = os.path.relpath(line)
    return path if not path.startswith("..") else os.path.basename(line)


def _kernel_cache_counts() -> dict[str, int]:
    """The LLVM object cache's counters for this process (hits, misses, modules
    compiled); empty where llvmlite is missing."""
    try:
        from codegen.llvm.jit import stats
    except ImportError:
        return {}
    return {"hits": stats["cache_hits"], "misses": stats["cache_misses"],
            "modules_compiled": stats["modules_compiled"]}


def _synchronize(backend) -> Callable[[], None] | None:
    """What waits until a device backend's queued work is done (CuPy's current stream);
    None for a host backend, whose steps are done when they return."""
    cuda = None if backend.host else getattr(backend.xp, "cuda", None)
    if cuda is None:
        return None
    return lambda: cuda.get_current_stream().synchronize()


class CriticalPath(NamedTuple):
    """The chain of dependent steps whose times add up to the most: ``steps`` (their
    rows, first to last), ``seconds`` (per call) and ``share`` of the call time."""
    steps: list[dict]
    seconds: float
    share: float

    def __str__(self) -> str:
        chain = " -> ".join(f"{r['step']} {_short(r['label'], 24)}" for r in self.steps)
        return (f"critical path: {_count(len(self.steps), 'step')}, "
                f"{self.seconds * 1e3:.3f} ms per call ({self.share:.1%} of the call): "
                f"{chain}")


class Profile:
    """Per-step times of a compiled function's calls (``f.profile``).

    ``calls`` and ``seconds`` count the profiled calls and the time they took;
    :meth:`rows` gives one dict per step, :meth:`summary` (also ``str(profile)``) a
    table of the top steps and the totals, :meth:`to_dict` all of it as plain data,
    :meth:`critical_path` the chain of dependent steps that takes longest, and
    :meth:`reset` starts counting afresh. Time spent in calls is split into the steps'
    (``step_seconds``), the profiler's own bookkeeping (``profiler_seconds``), and what
    is left, ``outside_seconds``: argument checks, updates, the runner's own Python.
    Calls running at once in several threads share the counters, so their sums are
    approximate then. The profile holds no reference to the values a step saw (the
    runner reuses buffers by their reference counts), nor to the function.

    >>> import numpy as np, symgraph as sg
    >>> x = sg.dvector("x")
    >>> f = sg.function([x], sg.exp(x).sum(), profile=True)
    >>> _ = f(np.ones(1000))
    >>> [(r["label"], r["kind"], r["calls"], r["bytes"]) for r in f.profile.rows()]
    [('fused{exp, sum{axis=(0,)}}', 'kernel', 1, 8008)]
    """

    def __init__(self, fn):
        self.name, self.backend = fn.name, fn.backend
        self._steps = list(fn._program.steps)
        self._weighed = [s.kind != "view" for s in self._steps]      # views move no bytes
        self._cache_before = _kernel_cache_counts()
        self._sync = _synchronize(fn._backend)
        self.compile_cache: dict[str, int] = {}
        self.reset()

    def reset(self) -> None:
        """Forget every call so far (the counters start at zero)."""
        n = len(self._steps)
        self.step_times, self.step_calls, self.step_bytes = [0.0] * n, [0] * n, [0] * n
        self.calls, self.seconds, self.profiler_seconds = 0, 0.0, 0.0

    # ------------------------------------------------------------ as the runner's observer
    def after(self, i: int, t: float, args: Sequence, outs: Sequence) -> float:
        """Step ``i`` ran from clock reading ``t`` until now (see :mod:`codegen.plan`); on a
        device, once the work it queued is done."""
        if self._sync is not None:
            self._sync()
        now = time.perf_counter()
        self.step_times[i] += now - t
        self.step_calls[i] += 1
        if self._weighed[i]:        # by the layouts: no element is read
            moved = 0
            for a in args:
                moved += getattr(a, "nbytes", 0)
            for a in outs:
                moved += getattr(a, "nbytes", 0)
            self.step_bytes[i] += moved
        end = time.perf_counter()
        self.profiler_seconds += end - now
        return end

    def wrap_call(self, call: Callable) -> Callable:
        """``call`` (the function's ``call(fn, *args, **kwargs)``), timed; the function is
        compiled by now, so the kernel cache's counts since this profile began are those
        of its compile."""
        before, now = self._cache_before, _kernel_cache_counts()
        self.compile_cache = {k: v - before.get(k, 0) for k, v in now.items()}
        clock, sync = time.perf_counter, self._sync

        def profiled(fn, *args, **kwargs):
            t0 = clock()
            try:
                return call(fn, *args, **kwargs)
            finally:
                if sync is not None:
                    sync()
                self.seconds += clock() - t0
                self.calls += 1
        return profiled

    # ------------------------------------------------------------ what it found
    @property
    def step_seconds(self) -> float:
        """The time all steps took, over all calls."""
        return sum(self.step_times)

    @property
    def outside_seconds(self) -> float:
        """The time calls spent outside the steps and the profiler: argument checks,
        updates, the runner's own Python."""
        return max(0.0, self.seconds - self.step_seconds - self.profiler_seconds)

    def rows(self) -> list[dict]:
        """One dict per step, in the order the steps run: ``step`` (its number), ``label``
        (the op; a fused kernel's lists the ops it absorbed), ``kind``, ``calls``,
        ``seconds`` (in all), ``per_call``, ``share`` (of the calls' time), ``bytes`` (its
        arguments and outputs, per call), ``gbps`` and ``copy_share`` (for kernels: the
        bytes per second achieved, and as a share of :func:`copy_bandwidth`), ``line``
        (where the user's code built it), ``members`` (the ops fused into it) and
        ``kernel`` (its kernel's name)."""
        total = self.seconds
        rows = []
        for i, s in enumerate(self._steps):
            n, sec = self.step_calls[i], self.step_times[i]
            per_byte = self.step_bytes[i] // n if n else 0
            rate = self.step_bytes[i] / sec if s.kind == "kernel" and sec > 0 else None
            node = s.origin
            rows.append(dict(
                step=i, label=s.label, kind=s.kind, calls=n, seconds=sec,
                per_call=sec / n if n else 0.0, share=sec / total if total else 0.0,
                bytes=per_byte, gbps=None if rate is None else rate / 1e9,
                copy_share=None if rate is None else rate / copy_bandwidth(),
                line=getattr(node, "built_at", None) or None,
                members=list(getattr(getattr(node, "op", None), "labels", ())),
                kernel=s.kernel.name if s.kernel is not None else None))
        return rows

    def by_node(self) -> dict[int, dict]:
        """The rows by ``id`` of the node of the optimized graph (``f.nodes``) each step
        runs, for pictures of the graph."""
        return {id(s.origin): r for s, r in zip(self._steps, self.rows())
                if s.origin is not None}

    def kinds(self) -> dict[str, dict]:
        """Per kind of step (``kernels``, ``library calls``, ...) with any steps: its
        ``seconds`` (in all), ``per_call``, ``share`` of the calls' time and ``steps``."""
        out: dict[str, dict] = {}
        rank = {kind: r for r, kind in enumerate(KINDS)}
        for s, sec in sorted(zip(self._steps, self.step_times),
                             key=lambda step: rank.get(step[0].kind, len(rank))):
            k = out.setdefault(KINDS.get(s.kind, s.kind), dict(seconds=0.0, steps=0))
            k["seconds"] += sec
            k["steps"] += 1
        for k in out.values():
            k["per_call"] = k["seconds"] / self.calls if self.calls else 0.0
            k["share"] = k["seconds"] / self.seconds if self.seconds else 0.0
        return out

    def critical_path(self) -> CriticalPath:
        """The chain of steps, each using a value the one before made, whose times per
        call add up to the most: no schedule of these steps (however parallel) can make
        a call take less. On a function that has not run, every time is 0."""
        rows = self.rows()
        made_by: dict[int, int] = {}
        longest, came_from = [0.0] * len(rows), [-1] * len(rows)
        for i, s in enumerate(self._steps):     # steps run after the steps they read
            for slot in s.inputs:
                j = made_by.get(slot, -1)
                if j >= 0 and longest[j] > longest[i]:
                    longest[i], came_from[i] = longest[j], j
            longest[i] += rows[i]["per_call"]
            for slot in s.outputs:
                made_by[slot] = i
        if not rows:
            return CriticalPath([], 0.0, 0.0)
        i = max(range(len(rows)), key=longest.__getitem__)
        chain = []
        while i >= 0:
            chain.append(rows[i])
            i = came_from[i]
        per_call = self.seconds / self.calls if self.calls else 0.0
        seconds = longest[chain[0]["step"]]
        return CriticalPath(chain[::-1], seconds, seconds / per_call if per_call else 0.0)

    def to_dict(self) -> dict:
        """Everything as plain data (JSON can write it): ``function``, ``backend``,
        ``calls``, ``seconds`` and ``per_call`` of the calls, ``step_seconds``,
        ``outside_seconds``, ``profiler_seconds``, ``kinds`` (:meth:`kinds`),
        ``critical_path`` (step numbers, seconds per call, share), ``copy_bandwidth``
        (bytes per second), ``compile_cache`` (the kernel cache's counts during the
        compile) and ``rows`` (:meth:`rows`)."""
        path = self.critical_path()
        return dict(function=self.name, backend=self.backend, calls=self.calls,
                    seconds=self.seconds,
                    per_call=self.seconds / self.calls if self.calls else 0.0,
                    step_seconds=self.step_seconds, outside_seconds=self.outside_seconds,
                    profiler_seconds=self.profiler_seconds, kinds=self.kinds(),
                    critical_path=dict(steps=[r["step"] for r in path.steps],
                                       seconds=path.seconds, share=path.share),
                    copy_bandwidth=copy_bandwidth(), compile_cache=dict(self.compile_cache),
                    rows=self.rows())

    def summary(self, top: int = 10) -> str:
        """A table for people: the calls' count and mean time, the ``top`` steps by time
        (ms per call, share of the call, MB moved per call, GB/s and share of the copy
        bandwidth for kernels, the user's line), the totals by kind of step, the time
        outside steps and the critical path."""
        who = f"function {self.name!r}" if self.name else "function"
        if not self.calls:
            return f"profile of {who} ({self.backend}): no calls yet"
        per = self.seconds / self.calls
        ms = lambda sec: f"{sec / self.calls * 1e3:9.3f}"
        lines = [f"profile of {who} ({self.backend}): {_count(self.calls, 'call')}, "
                 f"{per * 1e3:.3f} ms per call",
                 f"  copy bandwidth of this machine: {copy_bandwidth() / 1e9:.1f} GB/s "
                 f"(numpy, {COPY_BYTES >> 20} MB)"]
        if self.compile_cache.get("hits") or self.compile_cache.get("misses"):
            lines.append("  kernel cache during the compile: " + ", ".join(
                f"{v} {k.replace('_', ' ')}" for k, v in self.compile_cache.items()))
        rows = sorted(self.rows(), key=lambda r: -r["seconds"])
        lines += ["", f"top steps by time{'':27} ms/call   %call  MB/call    GB/s  %copy"
                  "  line"]
        for r in rows[:top]:
            rate = "      -      -" if r["gbps"] is None else \
                f"{r['gbps']:8.2f} {r['copy_share']:6.0%}"
            lines.append(f"  {r['step']:3d} {r['kind']:6s} {_short(r['label'], 36):36s}"
                         f"{ms(r['seconds'])} {r['share']:7.1%} {r['bytes'] / 1e6:8.3f}{rate}"
                         f"  {_where(r['line'])}")
        rest = rows[top:]
        if rest:
            sec = sum(r["seconds"] for r in rest)
            lines.append(f"  ... {_count(len(rest), 'more step'):43s}{ms(sec)} "
                         f"{sec / self.seconds:7.1%}")
        lines += ["", f"by kind{'':37} ms/call   %call  steps"]
        totals = [(k, v["seconds"], v["steps"]) for k, v in self.kinds().items()]
        totals += [("outside steps (checks, updates)", self.outside_seconds, ""),
                   ("profiler", self.profiler_seconds, "")]
        for name, sec, n in totals:
            lines.append(f"  {name:42s}{ms(sec)} {sec / self.seconds:7.1%} {n:>6}")
        lines += ["", "  " + str(self.critical_path())]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        who = f" of {self.name!r}" if self.name else ""
        per = self.seconds / self.calls * 1e3 if self.calls else 0.0
        return f"<Profile{who}: {_count(self.calls, 'call')}, {per:.3f} ms per call>"
