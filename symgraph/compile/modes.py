"""Checking modes: ``sg.function(..., mode=...)`` with ``'nan_guard'`` or ``'debug'``.

Both are *observers* of the function's runner (:mod:`codegen.plan`): they see every step
run, with its arguments and results, and fail the step by raising. Neither writes updates
into the old values' memory, so when one raises, every shared value is as it was.

* ``nan_guard`` (Theano's ``NanGuardMode``): after each step, its float results are
  checked for NaN, Inf and (if asked) absolute values above 1e10. The first bad value
  stops the call with a :class:`NanGuardError` naming the node that made it, the line of
  the user's code that built it, its inputs and which of them were bad already. A NaN in
  an input of the call is reported as the input's, at the first step reading it. The
  check is one reduction per array (a sum of squares is finite only if every element
  is), so it costs about one read of each result.
* ``debug`` (Theano's ``DebugMode``): each step also runs on the numpy reference backend
  (for an op with its own ``perform``, that too) and the results are compared with
  tolerances by dtype; each result's dtype, rank and static shape must be its type's; no
  step may change its inputs; and each call also runs the graph as written (no rewrite)
  on the numpy backend, so that a rewrite that changed a value is caught. A mismatch
  raises :class:`DebugModeError`. It is slow: ten to thirty times a fast call.

The modes are named by strings (``'nan_guard'``, ``'debug'``, and Theano's
``'NanGuardMode'``, ``'DebugMode'``, ``'FAST_RUN'``) or given as objects with options.

>>> import symgraph as sg, numpy as np
>>> x = sg.dvector("x")
>>> f = sg.function([x], sg.log(x), mode=sg.NanGuardMode(nan_is_error=True))
>>> f(np.array([1.0, -1.0]))                    # doctest: +ELLIPSIS
Traceback (most recent call last):
...
symgraph.compile.modes.NanGuardError: log made NaN: output 0 (float64 (2,)) holds 1 NaN of 2 values
  node: log(x)
  built at ...
  inputs: x float64 (2,) finite
  its inputs were all fine: this node made the first bad value
"""
from __future__ import annotations

import copy
import math
import sys
import time
from typing import Callable, Sequence

import numpy as np

from codegen.backend import NUMPY
from codegen.plan import step_function

from ..config import mode_name
from ..graph import Apply, Op
from ..ops.fused import Fused

BIG = 1e10
"""What ``big_is_error`` calls big (Theano's threshold)."""

RTOL = {"float16": 1e-2, "float32": 1e-4, "float64": 1e-10}
"""Debug mode's relative tolerance by dtype; integers and bools compare exactly."""


class NanGuardError(FloatingPointError):
    """A step made (or a call was given) a NaN, an Inf or a big value, in ``nan_guard``
    mode. ``node`` is the graph node (None for a bad input of the call)."""
    names_its_node = True      # sg.function raises it as it is

    def __init__(self, message: str, node: Apply | None = None):
        super().__init__(message)
        self.node = node


class DebugModeError(Exception):
    """A check of ``debug`` mode failed: a step disagreed with the reference, broke its
    type or changed its inputs, or the optimized graph disagreed with the graph as
    written. ``node`` is the graph node (None for the whole-graph comparison)."""
    names_its_node = True      # sg.function raises it as it is

    def __init__(self, message: str, node: Apply | None = None):
        super().__init__(message)
        self.node = node


class NanGuardMode:
    """Theano's ``NanGuardMode``: ``mode=sg.NanGuardMode(nan_is_error=True,
    inf_is_error=True, big_is_error=False)`` stops at the first step making a NaN, an
    Inf, or a value above 1e10 in absolute value, as each flag says (Theano's default of
    ``big_is_error`` is True; here it is False, as for ``mode='nan_guard'``).

    >>> import symgraph as sg
    >>> sg.NanGuardMode(big_is_error=True)
    NanGuardMode(nan_is_error=True, inf_is_error=True, big_is_error=True)
    """

    def __init__(self, nan_is_error: bool = True, inf_is_error: bool = True,
                 big_is_error: bool = False):
        self.nan_is_error, self.inf_is_error = bool(nan_is_error), bool(inf_is_error)
        self.big_is_error = bool(big_is_error)

    def __repr__(self) -> str:
        return (f"NanGuardMode(nan_is_error={self.nan_is_error}, inf_is_error="
                f"{self.inf_is_error}, big_is_error={self.big_is_error})")


class DebugMode:
    """Theano's ``DebugMode``: ``mode=sg.DebugMode()`` checks every step against the
    numpy reference, its results against their types, that no step changes its inputs,
    and (``check_rewrites``) every call against the graph as written. ``rtol`` replaces
    the relative tolerances by dtype (:data:`RTOL`).

    >>> import symgraph as sg
    >>> sg.DebugMode(check_rewrites=False)
    DebugMode(check_rewrites=False, rtol=None)
    """

    def __init__(self, check_rewrites: bool = True, rtol: float | None = None):
        self.check_rewrites, self.rtol = bool(check_rewrites), rtol

    def __repr__(self) -> str:
        return f"DebugMode(check_rewrites={self.check_rewrites}, rtol={self.rtol})"


def resolve(mode) -> NanGuardMode | DebugMode | None:
    """The options a ``mode=`` argument stands for (None: no checks)."""
    if isinstance(mode, (NanGuardMode, DebugMode)):
        return mode
    kind = mode_name(mode)
    if kind == "fast":
        return None
    return NanGuardMode() if kind == "nan_guard" else DebugMode()


def observer(fn, mode, compile: Callable) -> "_NanGuard | _Debug | None":
    """The observer checking ``fn``'s steps in ``mode`` (see the module's text);
    ``compile`` is ``sg.function`` (debug mode compiles the graph as written with it)."""
    options = resolve(mode)
    if options is None:
        return None
    if isinstance(options, NanGuardMode):
        return _NanGuard(fn, options)
    return _Debug(fn, options, compile)


# ---------------------------------------------------------------- describing
def _array_text(a) -> str:
    return f"{a.dtype} {tuple(a.shape)}" if hasattr(a, "dtype") else type(a).__name__


def _node_lines(node: Apply | None) -> list[str]:
    """``node: ...``, the ops a fused kernel was made of, and the user's line."""
    if node is None:
        return []
    lines = [f"  node: {node!r}"]
    if isinstance(node.op, Fused):
        lines.append(f"  a fused kernel of: {', '.join(node.op.labels)}")
    if node.built_at:
        lines.append(f"  built at {node.built_at}")
    return lines


def _abbrev(a) -> str:
    return np.array2string(np.asarray(a), threshold=8, edgeitems=2, precision=6,
                           separator=", ").replace("\n", "")


def _input_names(fn) -> dict[int, str]:
    """Per program input slot, how the user knows the value: an input or a shared
    variable of the function."""
    p = fn._program
    named = [f"input {v.name or i!r}" for i, v in enumerate(fn.inputs)] + \
        [f"shared variable {s.name or repr(s)!r}" for s in fn.shared]
    return dict(zip(p.inputs, named))


# ---------------------------------------------------------------- nan_guard
class _Checker:
    """Finds bad values in an array cheaply. The sum of the squares (one BLAS pass, no
    temporary) is finite only if every element is, and is at least the square of the
    largest; so a fine array costs that one reduction, and only one that may be bad (a
    sum that overflowed, say) is looked at element by element. A non-contiguous array
    takes a sum (finite only if every element is), and a max and a min for ``big``."""

    def __init__(self, options: NanGuardMode, backend):
        self.nan, self.inf, self.big = (options.nan_is_error, options.inf_is_error,
                                        options.big_is_error)
        self.limit = BIG * BIG if self.big else sys.float_info.max
        self.host, self.to_host = backend.host, backend.to_host
        self.reduce = np.add.reduce if backend.host else backend.xp.sum

    def __call__(self, a) -> dict[str, int] | None:
        """The counts of the bad values in ``a`` (kind -> count), None if it is fine."""
        if self.host and a.dtype in _BLAS and a.flags.c_contiguous:
            if float(np.vdot(a, a)) <= self.limit:
                return None
        else:
            total = float(self.reduce(a, axis=None))
            if math.isfinite(total) and not (self.big and a.size and (
                    float(a.max()) > BIG or float(a.min()) < -BIG)):
                return None
        h = np.asarray(self.to_host(a))
        counts = {}
        if self.nan:
            counts["NaN"] = int(np.isnan(h).sum())
        if self.inf:
            counts["Inf"] = int(np.isinf(h).sum())
        if self.big:
            with np.errstate(invalid="ignore"):
                counts["big value"] = int((np.isfinite(h) & (np.abs(h) > BIG)).sum())
        counts = {k: n for k, n in counts.items() if n}
        return counts or None


_BLAS = (np.dtype("float32"), np.dtype("float64"))


def _counts_text(counts: dict[str, int], size: int) -> str:
    return " and ".join(f"{n} {kind}" for kind, n in counts.items()) + f" of {size} values"


class _NanGuard:
    """Checks each step's float results; a program input is checked before the first
    step reading it, so that a bad input is blamed on the input."""
    in_place = False

    def __init__(self, fn, options: NanGuardMode):
        p = fn._program
        self.steps, self.watch = p.steps, _float_results(p.steps)
        self.check = _Checker(options, fn._backend)
        names, floats = _input_names(fn), {
            slot: v.type.dtype.startswith("float")
            for slot, v in zip(p.inputs, [*fn.inputs, *fn.shared])}
        self.first: dict[int, list[tuple[int, str]]] = {}
        seen: set[int] = set()
        for i, s in enumerate(p.steps):
            for pos, slot in enumerate(s.inputs):
                if slot in names and slot not in seen:
                    seen.add(slot)
                    if floats[slot]:
                        self.first.setdefault(i, []).append((pos, names[slot]))

    def inner(self, i: int, k: int, program) -> "_NanGuard":
        """The guard of a program step ``i`` runs (a loop's body, a branch): its steps'
        results are checked as they are made, each iteration; its inputs are values
        this guard has checked already."""
        sub = copy.copy(self)
        sub.steps, sub.watch, sub.first = program.steps, _float_results(program.steps), {}
        return sub

    def before(self, i: int, args: Sequence) -> None:
        todo = self.first.get(i)
        if todo is None:
            return
        for pos, name in todo:
            bad = self.check(args[pos])
            if bad:
                node = self.steps[i].origin
                where = f" built at {node.built_at}" if node.built_at else ""
                raise NanGuardError(
                    f"{name} holds {_counts_text(bad, args[pos].size)} "
                    f"({_array_text(args[pos])}); the first step reading it is node "
                    f"{node!r}{where}", node)

    def after(self, i: int, t: float, args: Sequence, outs: Sequence) -> float:
        for k in self.watch[i]:
            bad = self.check(outs[k])
            if bad:
                raise self._error(i, k, args, outs[k], bad)
        return time.perf_counter()

    def _error(self, i: int, k: int, args: Sequence, out, bad: dict) -> NanGuardError:
        node = self.steps[i].origin
        kinds = " and ".join("big values (above 1e10)" if k == "big value" else k for k in bad)
        head = (f"{node.op} made {kinds}: output {k} ({_array_text(out)}) holds "
                f"{_counts_text(bad, out.size)}")
        states, culprits = [], []
        for j, a in enumerate(args):
            v = node.inputs[j] if j < len(node.inputs) else None
            state = "finite"
            if getattr(a, "dtype", None) is not None and a.dtype.kind == "f":
                found = _all_bad(np.asarray(self.check.to_host(a)))
                if found:
                    state = "holds " + _counts_text(found, a.size)
                    culprits.append(f"{v!r}")
            elif getattr(a, "dtype", None) is not None:
                state = "not float"
            states.append(f"{v!r} {_array_text(a)} {state}")
        lines = [head, *_node_lines(node), f"  inputs: {'; '.join(states)}"]
        lines.append(f"  inputs already not finite: {', '.join(culprits)} (values this "
                     "mode lets pass, or constants)" if culprits else
                     "  its inputs were all fine: this node made the first bad value")
        return NanGuardError("\n".join(lines), node)


def _all_bad(h: np.ndarray) -> dict[str, int]:
    """Counts of every kind of non-finite value in a host array (of an input)."""
    counts = {"NaN": int(np.isnan(h).sum()), "Inf": int(np.isinf(h).sum())}
    return {k: n for k, n in counts.items() if n}


def _is_float(node: Apply | None, k: int) -> bool:
    return node is None or node.outputs[k].type.dtype.startswith("float")


def _float_results(steps) -> list[tuple[int, ...]]:
    """Per step, the positions of its float results (none for a view: its source was
    checked)."""
    return [() if s.kind == "view" else
            tuple(k for k in range(len(s.outputs)) if _is_float(s.origin, k)) for s in steps]


# ---------------------------------------------------------------- debug
class _Debug:
    """Checks each step against the reference, its types, and its inputs (copied before
    it runs, compared after); with ``check_rewrites``, each call against the graph as
    written."""
    in_place = False

    def __init__(self, fn, options: DebugMode, compile: Callable):
        # (not the function itself: its runner holds this observer)
        self.options, self.steps, self.compile = options, fn._program.steps, compile
        self.backend = fn._backend
        self.to_host = self.backend.to_host
        self.on_reference = self.backend.name != NUMPY.name
        self.saved: list = []
        self.references: dict[int, Callable] = {}
        self.no_perform: set[int] = set()
        self._as_written = None

    # -- steps
    def inner(self, i: int, k: int, program) -> "_Debug":
        """The checks of a program step ``i`` runs (a loop's body, a branch), step by
        step, each iteration."""
        sub = copy.copy(self)
        sub.steps, sub.saved, sub.references, sub.no_perform = program.steps, [], {}, set()
        return sub

    def before(self, i: int, args: Sequence) -> None:
        self.saved = [np.array(self.to_host(a), copy=True) for a in args]

    def after(self, i: int, t: float, args: Sequence, outs: Sequence) -> float:
        s, saved = self.steps[i], self.saved
        node = s.origin
        for j, (a, old) in enumerate(zip(args, saved)):
            changed = _changed(np.asarray(self.to_host(a)), old)
            if changed:
                raise DebugModeError("\n".join([
                    f"{node.op} wrote into its input {j} ({node.inputs[j]!r}): {changed} "
                    f"of {old.size} values changed (a step must not change its inputs)",
                    *_node_lines(node), f"  before: {_abbrev(old)}",
                    f"  after:  {_abbrev(self.to_host(a))}"]), node)
        for k, (o, v) in enumerate(zip(outs, node.outputs)):
            t_ = v.type
            if o.dtype.name != t_.dtype or o.ndim != t_.ndim or not t_.accepts_shape(o.shape):
                raise DebugModeError("\n".join([
                    f"{node.op} output {k} is {_array_text(o)}, its type says {t_}",
                    *_node_lines(node)]), node)
        for what, ref in self._references(i, saved):
            for k, (o, r) in enumerate(zip(outs, ref)):
                bad = _mismatch(np.asarray(self.to_host(o)), np.asarray(r), self.options.rtol)
                if bad:
                    ins = "; ".join(f"{v!r} {_array_text(a)} {_abbrev(a)}"
                                    for v, a in zip(node.inputs, saved))
                    raise DebugModeError("\n".join([
                        f"{node.op} on {self.backend.name} disagrees with {what}: output "
                        f"{k}: {bad}", *_node_lines(node), f"  inputs: {ins}",
                        f"  {self.backend.name}: {_abbrev(self.to_host(o))}",
                        f"  {what}: {_abbrev(r)}"]), node)
        return time.perf_counter()

    def _references(self, i: int, args: list) -> list[tuple[str, list]]:
        """What step ``i`` should have computed from ``args``: on the numpy backend (when
        the function runs on another), and by its op's own ``perform``."""
        s = self.steps[i]
        found = []
        if self.on_reference and s.kind != "python":
            if i not in self.references:
                self.references[i] = step_function(s.what, NUMPY, reuse=False)
            found.append(("the numpy reference",
                          list(self.references[i](*[a.copy() for a in args]))))
        op = s.origin.op
        if i not in self.no_perform and type(op).perform is not Op.perform \
                and type(op).lower is not Op.lower:
            try:
                found.append((f"{type(op).__name__}.perform",
                              list(op.perform(s.origin, [a.copy() for a in args]))))
            except NotImplementedError:     # an op that runs only as it lowers (a loop)
                self.no_perform.add(i)
        return found

    # -- whole calls
    def wrap_call(self, call: Callable) -> Callable:
        if not self.options.check_rewrites:
            return call

        def checked(fn, *args, **kwargs):
            values = fn._bind(args, kwargs) if kwargs or len(args) != fn._n_in \
                else list(args)
            values = [fn._check(t, a, what) for t, a, what in
                      zip(fn._types, values, fn._what)]
            # the draws of random streams depend on their state only: the graph as
            # written reads the same state if it runs first
            try:
                expected = self._as_written_fn(fn)(*[self.to_host(v) for v in values])
            except Exception as e:      # the real call's error, if it has one, is the news
                expected, failed = None, e
            kept = [(s._value, s._owned) for s in fn._update_vars], list(fn._defaults)
            result = call(fn, *values)
            if expected is None:
                self._restore(fn, kept)
                raise DebugModeError(
                    "the optimized graph runs, but the graph as written (no rewrite, "
                    f"numpy backend) raised {type(failed).__name__}: {failed}\n  no update "
                    "was applied") from failed
            got = _flat_outputs(fn, result)
            for k, (o, e) in enumerate(zip(got, expected)):
                bad = _mismatch(np.asarray(self.to_host(o)), np.asarray(e),
                                self.options.rtol)
                if bad:
                    self._restore(fn, kept)
                    raise self._rewrite_error(fn, k, bad, o, e)
            return result
        return checked

    @staticmethod
    def _restore(fn, kept) -> None:
        """Undo a call's updates (no update is written in place in this mode, so the
        old values are whole)."""
        for s, state in zip(fn._update_vars, kept[0]):
            s._value, s._owned = state
        fn._defaults[:] = kept[1]

    def _as_written_fn(self, fn):
        """``fn``'s outputs and new values (of updates and stateful inputs) as a function
        of the graph as written on the numpy backend, applying no update (made once)."""
        if self._as_written is None:
            exprs = [*fn.outputs, *(u for _, u in fn.updates),
                     *(s.update for s in fn.input_specs if s.update is not None)]
            self._as_written = self.compile(list(fn.inputs), exprs, givens=fn.givens,
                                            backend="numpy", rewrite=False, mode="fast",
                                            profile=False, no_default_updates=True)
        return self._as_written

    def _rewrite_error(self, fn, k: int, bad: str, got, expected) -> DebugModeError:
        n_out, n_up = len(fn.outputs), len(fn.updates)
        if k < n_out:
            what, v = f"output {k}", fn.outputs[k]
        elif k < n_out + n_up:
            s, v = fn.updates[k - n_out]
            what = f"the update of {s!r}"
        else:
            what, v = "the new state of a stateful input", None
        fired = ", ".join(f"{name} ({n})" for name, n in fn.rewrite_log.counts.most_common())
        lines = [f"the optimized graph and the graph as written disagree on {what} "
                 f"({v!r}): {bad}"]
        if v is not None and v.owner is not None and v.owner.built_at:
            lines.append(f"  built at {v.owner.built_at}")
        lines += [f"  rewrites that fired: {fired or 'none'}",
                  f"  optimized ({fn.backend}): {_abbrev(self.to_host(got))}",
                  f"  as written (numpy): {_abbrev(expected)}",
                  "  no update was applied; compare sg.debugprint(f) with the graph as "
                  "written to find the rewrite"]
        return DebugModeError("\n".join(lines))


def _flat_outputs(fn, result) -> list:
    """A call's outputs, then its update values and the new states of stateful inputs,
    as one list (as the program returns them)."""
    keys = fn._keys
    outs = [result] if keys is None else [result[k] for k in keys] \
        if isinstance(keys, list) else list(result)
    return [*outs, *(s._value for s in fn._update_vars),
            *(fn._defaults[i] for i in fn._stateful)]


def _changed(a: np.ndarray, old: np.ndarray) -> int:
    """How many elements of ``a`` differ from ``old`` (NaN equals NaN)."""
    if a.shape != old.shape:
        return old.size
    same = a == old
    if a.dtype.kind in "fc":
        same |= np.isnan(a) & np.isnan(old)
    return int(same.size - np.count_nonzero(same))


def _mismatch(a: np.ndarray, b: np.ndarray, rtol: float | None) -> str | None:
    """None if ``a`` matches the reference ``b``, else what differs: floats within a
    relative tolerance by dtype (of each value, and of the largest one, so that a value
    near zero from cancelling terms passes), the same NaNs and Infs; others exactly.
    Values that pass the tolerance cost a few passes; only the others are looked at
    again (a NaN or an Inf fails it, and passes if both sides have it)."""
    if a.shape != b.shape:
        return f"shape {a.shape}, the reference's {b.shape}"
    if a.dtype != b.dtype:
        return f"dtype {a.dtype}, the reference's {b.dtype}"
    if a.dtype.kind not in "fc":
        differ = int(np.count_nonzero(a != b))
        return f"{differ} of {a.size} values differ" if differ else None
    if not a.size:
        return None
    tol = RTOL.get(a.dtype.name, 1e-4) if rtol is None else rtol
    with np.errstate(invalid="ignore", over="ignore"):
        size = np.abs(b)
        scale = float(size.max())
        if not math.isfinite(scale):
            finite = size[np.isfinite(size)]
            scale = float(finite.max()) if finite.size else 0.0
        diff = np.abs(a - b)
        bad = ~(diff <= tol * (np.minimum(size, scale) + scale))
        if not bad.any():
            return None
        x, y = a[bad], b[bad]
        odd = ~((x == y) | (np.isnan(x) & np.isnan(y)))     # the same Inf, or both NaN
    if not odd.any():
        return None
    x, y, d = x[odd], y[odd], np.abs(x[odd].astype("float64") - y[odd])
    if not np.isfinite(x).all() or not np.isfinite(y).all():
        return (f"{int(odd.sum())} of {a.size} values differ, NaN or Inf on one side only "
                f"(first: {x[0]} where the reference has {y[0]})")
    nonzero = y != 0
    rel = float((d[nonzero] / np.abs(y[nonzero])).max()) if nonzero.any() else math.inf
    return (f"max abs diff {float(d.max()):.4g}, max rel diff {rel:.4g} at "
            f"{int(odd.sum())} of {a.size} values (tolerance {tol:g} relative, {a.dtype})")


__all__ = ["NanGuardMode", "DebugMode", "NanGuardError", "DebugModeError", "observer",
           "resolve", "RTOL", "BIG"]
