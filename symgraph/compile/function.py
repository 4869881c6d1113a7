"""Compiled functions: ``sg.function`` and :class:`Function`.

``function`` checks its arguments, substitutes the ``givens``, collects the shared variables
the graph reads, rewrites a copy of the graph (:mod:`symgraph.rewrite`), lowers it
(:mod:`.lower`) and builds the program for the backend (:mod:`codegen.backend`). A call
checks the inputs, runs the program and applies every update together, or none if the call
fails. New values of updates are written into the old ones' memory where that is safe
(:mod:`codegen.plan`). The arguments are checked in :mod:`.arguments`: ``In`` and ``Out``
give inputs and outputs options (defaults, keyword names, state, borrowing), and shared
variables' ``default_update`` expressions join the updates of every function using them.

>>> import symgraph as sg, numpy as np
>>> x = sg.dvector("x")
>>> w = sg.shared(np.zeros(2), name="w")
>>> step = sg.function([x], (w * x).sum(), updates=[(w, w + x)])
>>> float(step([1.0, 2.0])), w.get_value().tolist()
(0.0, [1.0, 2.0])
"""
from __future__ import annotations

import copy
import threading
import time
from typing import Any, Callable, Sequence

import numpy as np

from codegen import profile
from codegen.backend import find_backend, get_backend, names as backend_names
from codegen.plan import build
from codegen.program import StepError

from ..config import config, mode_name
from ..graph import (Apply, Constant, InputsOf, Variable, clone_replace, flatten, graph_inputs,
                     toposort, unflatten)
from ..printing import repr_svg
from ..types import TensorType
from ..variable import SharedVariable, TensorVariable, install
from .arguments import (In, checked_givens, checked_updates, default_updates, outputs_of,
                        training_default_updates, with_training_flag)
from .gc_pause import paused
from .lower import lower

_MISSING = object()     # an input the call did not give

class Function:
    """A compiled function: call it with the input values (by position or name).

    Attributes: ``inputs``, ``outputs``, ``updates`` (the graph as written), ``nodes``
    (the optimized graph that runs, in execution order), ``rewrite_log`` (which rewrites
    fired, how often, and each pass's time), ``backend`` (its name), ``compile_time``
    (seconds) and ``compile_profile``: where those seconds went, by phase (``rewrite``,
    ``lower``, the backend's: ``llvm start``, ``llvm IR``, ``llvm compile`` (optimizer
    and code generator, concurrent over modules), ``cache lookup``, ``cache store``,
    ``link``; ``other`` is the rest). Phases are counted for the
    whole process, so a compilation running meanwhile in another thread shows in both.
    ``updates`` holds every update a call applies, shared variables' default updates
    included; ``input_specs`` the inputs as :class:`In` (defaults, names, borrowing).
    A function pickles (with its shared variables' values and its inputs' states) and
    compiles again when loaded, from the disk cache where it can.
    """

    def __init__(self, inputs: list[In], outputs: list[Variable], keys: Any,
                 updates: list[tuple[SharedVariable, Variable]], givens: dict | None,
                 backend: str, name: str | None, rewrite: bool = True, fusion: bool = True,
                 borrowed: frozenset[int] = frozenset(), mode: str = "fast",
                 profile_steps: bool = False, inputs_of=graph_inputs):
        t0, before = time.perf_counter(), profile.snapshot()
        self.input_specs, self.inputs = inputs, [i.variable for i in inputs]
        self.outputs, self.updates, self.givens = outputs, updates, givens
        self.backend, self.name, self._keys = backend, name, keys
        self._backend = get_backend(backend)
        stateful = [(i, spec.update) for i, spec in enumerate(inputs)
                    if spec.update is not None]
        exprs = [*outputs, *(u for _, u in updates), *(u for _, u in stateful)]
        inputs = self.inputs
        if givens:
            exprs = clone_replace(exprs, givens)
        known = {id(v) for v in inputs}
        self.shared = []
        for v in inputs_of(exprs):
            if isinstance(v, SharedVariable):
                self.shared.append(v)
            elif not isinstance(v, Constant) and id(v) not in known:
                raise ValueError(f"function: {v!r} ({v.type}) is needed to compute the "
                                 f"outputs but is not among the inputs {inputs}")
        self.rewrite, self.fusion = rewrite, fusion and rewrite
        # the rewrite passes load at the first compile, not at `import symgraph`
        from ..rewrite import RewriteLog, optimize
        with profile.phase("rewrite"):
            if rewrite:
                fg, self.rewrite_log = optimize(exprs, fusion=fusion)
                exprs = fg.outputs
            else:
                self.rewrite_log = RewriteLog()
        self.graph_outputs = exprs
        with profile.phase("lower"):
            self.nodes: list[Apply] = toposort(exprs)
            n_in, n_out = len(inputs), len(outputs)
            places = {id(s): n_in + i for i, s in enumerate(self.shared)}
            # an update whose shared variable the graph does not read cannot reuse its
            # memory
            pairs = [(n_out + k, places[id(s)]) for k, (s, _) in enumerate(updates)
                     if id(s) in places]
            self._program = lower(self.nodes, [*inputs, *self.shared], exprs, pairs,
                                  fusion=self.fusion)
        self.mode, self.profile = mode, None
        watch = _observers(self, mode, profile_steps)
        # one observer is the runner's own: no call through a list per step
        one = None if not watch else watch[0] if len(watch) == 1 else _Observers(watch)
        self._runner = build(self._program, self._backend, borrowed, observe=one,
                             in_place=all(getattr(o, "in_place", True) for o in watch))
        self._run = self._runner.run
        # reused intermediate buffers belong to one call at a time
        self._lock = threading.Lock() if self._runner.stateful else None
        self._fresh = self._runner.fresh
        self._all_fresh, self._n_in, self._n_out = all(self._fresh), n_in, n_out
        self._update_vars = [s for s, _ in updates]
        self._types = [v.type for v in inputs]
        self._what = [f"input {i} ({v!r})" for i, v in enumerate(inputs)]
        self._borrowed = borrowed
        self._lent = frozenset(i for i, spec in enumerate(self.input_specs) if spec.borrow)
        self._defaults = [None if spec.value is None else spec.value.copy()
                          for spec in self.input_specs]
        self._stateful = [i for i, _ in stateful]
        self._names: dict[str, int | None] = {}     # None: two inputs have the name
        for i, spec in enumerate(self.input_specs):
            if spec.name:
                self._names[spec.name] = None if spec.name in self._names else i
        # updates whose static sizes are looser than their variable's: checked after each
        # run, with no update in place, so a wrong one changes nothing
        targets = [*updates, *((self.inputs[i], u) for i, u in stateful)]
        self._sized = [(n_out + k, v) for k, (v, u) in enumerate(targets) if any(
            a is not None and b is None for a, b in zip(v.type.shape, u.type.shape))]
        self._call = self._compile_call()
        for o in watch:
            if hasattr(o, "wrap_call"):
                self._call = o.wrap_call(self._call)
        self.compile_time = time.perf_counter() - t0
        self.compile_profile = profile.since(before)
        self.compile_profile["other"] = max(0.0, self.compile_time - sum(
            v for k, v in self.compile_profile.items() if not k.endswith(profile.BACKGROUND)))

    def __reduce__(self):
        specs = self.input_specs
        graph = flatten([*self.inputs, *self.outputs, *(v for pair in self.updates
                                                          for v in pair),
                         *(s.update for s in specs if s.update is not None),
                         *(v for pair in (self.givens or {}).items() for v in pair)])
        to_host = self._backend.to_host
        ins = [(s.name, s.borrow, s.mutable, s.update is not None,
                None if d is None else np.array(to_host(d), copy=True))
               for s, d in zip(specs, self._defaults)]
        settings = dict(n_in=len(self.inputs), n_out=len(self.outputs), keys=self._keys,
                        n_up=len(self.updates), backend=self.backend, name=self.name,
                        rewrite=self.rewrite, fusion=self.fusion, ins=ins,
                        borrowed=self._borrowed, mode=self.mode,
                        profile=self.profile is not None)
        return _load_function, (graph, settings)

    def _label(self) -> str:
        return f"function {self.name!r}" if self.name else "function"

    def __call__(self, *args, **kwargs):
        return self._call(self, *args, **kwargs)

    def _compile_call(self):
        """``call(self, *args, **kwargs)``, generated for this function's input types:
        arrays of exactly the declared dtype, rank and static sizes, given by position,
        pass a few inline checks and run; anything else takes :meth:`_call_checked`. (It
        takes ``self`` as an argument: holding it would make a reference cycle.)"""
        if not self._backend.host:
            return Function._call_checked
        names = [f"a{i}" for i in range(self._n_in)]
        checks = []
        env: dict = {"ndarray": np.ndarray, "shared": self.shared, "backend": self._backend}
        for i, (a, t) in enumerate(zip(names, self._types)):
            env[f"dt{i}"] = t.np_dtype
            checks.append(f"type({a}) is ndarray and {a}.dtype is dt{i} and "
                          f"{a}.ndim == {t.ndim}")
            checks += [f"{a}.shape[{ax}] == {d}" for ax, d in enumerate(t.shape)
                       if d is not None]
        unpack = "".join(f"{a}, " for a in names) or "()"
        values = "".join(f"{a}, " for a in names)
        if self.shared:
            values += "*[s.value_on(backend) for s in shared]"
        src = (f"def call(self, *args, **kwargs):\n"
               f"    if not kwargs and len(args) == {self._n_in}:\n"
               f"        {unpack} = args\n"
               f"        if {' and '.join(checks) or 'True'}:\n"
               f"            return self._finish([{values}])\n"
               f"    return self._call_checked(*args, **kwargs)\n")
        exec(src, env)
        return env.pop("call")

    def _bind(self, args: Sequence, kwargs: dict) -> list:
        """The values of a call given by position and keyword, defaults filling the
        rest (a copy, for an input that lends its array)."""
        n = len(self.inputs)
        if len(args) > n:
            raise TypeError(f"{self._label()} takes {n} inputs, got {len(args)}")
        values: list[Any] = list(args) + [_MISSING] * (n - len(args))
        for k, v in kwargs.items():
            i = self._names.get(k, _MISSING)
            if i is _MISSING:
                raise TypeError(f"{self._label()} has no input named {k!r}; inputs: "
                                f"{[s.name for s in self.input_specs]}")
            if i is None:
                raise TypeError(f"{self._label()}: two inputs are named {k!r}; give them "
                                "by position")
            if values[i] is not _MISSING:
                raise TypeError(f"{self._label()}: input {k!r} given twice")
            values[i] = v
        missing = []
        for i, v in enumerate(values):
            if v is _MISSING:
                d = self._defaults[i]
                if d is None:
                    missing.append(self.input_specs[i].name or repr(self.inputs[i]))
                else:
                    values[i] = d.copy() if i in self._lent else d
        if missing:
            raise TypeError(f"{self._label()} takes {n} inputs, missing {', '.join(missing)}"
                            " (an input without a default value must be given)")
        return values

    def _call_checked(self, *args, **kwargs):
        values = self._bind(args, kwargs) if kwargs or len(args) != self._n_in else list(args)
        values = [self._check(t, a, what) for t, a, what in
                  zip(self._types, values, self._what)]
        if self.shared:
            values += [s.value_on(self._backend) for s in self.shared]
        return self._finish(values)

    def _check(self, t: TensorType, a, what: str):
        """An input as the backend's array: a host value is checked by its type (and
        moved to the device for a device backend); the backend's own array is used in
        place, its dtype (safe casts allowed), rank and static shape checked the same."""
        backend = self._backend
        if backend.host or not backend.is_array(a):
            v = t.filter(a, what)
            return v if backend.host else backend.to_device(v)
        a = t.safe_cast(a, what)
        if a.ndim != t.ndim or not t.accepts_shape(a.shape):
            raise TypeError(f"{what}: expected {t}, got a device array of shape {a.shape}")
        return a

    def _finish(self, values: list):
        if self._lock is None:
            return self._results(values)
        with self._lock:
            return self._results(values)

    def _results(self, values: list):
        ups = self._update_vars
        try:
            if ups:
                writable = () if self._sized else tuple([s._owned for s in ups])
                outs = self._run(values, writable)
            else:
                outs = self._run(values)
        except StepError as e:
            err = _runtime_error(e)
            raise err from (None if err is e.__cause__ else e.__cause__)
        if not self._all_fresh:
            outs = self._own_all(outs, values)
        if self._sized:
            self._check_sizes(outs)
        if ups:
            for s, v in zip(ups, outs[self._n_out:]):
                s._value, s._owned = v, True
        if self._stateful:
            for i, v in zip(self._stateful, outs[self._n_out + len(ups):]):
                self._defaults[i] = v
        keys = self._keys
        if keys is None:
            return outs[0]
        results = outs[:self._n_out]
        return dict(zip(keys, results)) if isinstance(keys, list) else results

    def _own_all(self, outs: list, values: list) -> list:
        """The outputs (then the update values) as arrays the caller may keep, by
        :func:`_own`: an output in a lent input's memory (``In(borrow=True)``) and a
        borrowed output in none of the other inputs' (``Out(borrow=True)``) come as they
        are."""
        lent_only = borrowed_ok = None
        if self._lent or self._borrowed:
            shares = self._backend.xp.may_share_memory
            lent = [values[i] for i in self._lent]
            others = [values[i] for i in range(self._n_in) if i not in self._lent]
            lent_only = (lambda r: any(shares(r, a) for a in lent)) if lent else None
            borrowed_ok = lambda r: not any(shares(r, a) for a in others)
        handed: list = []     # an array is handed out once: [y, y] gives two arrays
        n_out, borrowed = self._n_out, self._borrowed
        return [r if fresh else _own(r, values, handed, None if k >= n_out else
                                     borrowed_ok if k in borrowed else lent_only)
                for k, (r, fresh) in enumerate(zip(outs, self._fresh))]

    def _check_sizes(self, outs: list) -> None:
        for k, v in self._sized:
            if not v.type.accepts_shape(outs[k].shape):
                raise ValueError(f"{self._label()}: the update of {v!r} has shape "
                                 f"{tuple(outs[k].shape)}, but {v!r} is {v.type}; no update "
                                 "was applied")

    @property
    def kernel_sources(self) -> dict[str, str]:
        """The source of every kernel this function runs, by kernel name: LLVM IR for
        ``llvm``, CUDA C for ``cuda``, and the kernel-IR listing it interprets for
        ``numpy``."""
        return _sources(self.nodes, self._backend)

    def _repr_svg_(self):
        return repr_svg(self)


class _Observers(list):
    """Several observers of a function's steps (:mod:`codegen.plan`), as one."""

    def after(self, i, t, args, outs):
        for o in self:
            t = o.after(i, t, args, outs)
        return t

    def before(self, i, args):
        for o in self:
            if hasattr(o, "before"):
                o.before(i, args)

    def inner(self, i, k, program):
        found = _Observers(o.inner(i, k, program) for o in self if hasattr(o, "inner"))
        return found or None


def _observers(fn: Function, mode: str, profile_steps: bool) -> list:
    """What watches ``fn``'s steps: its :class:`~.profiling.Profile` (also ``fn.profile``)
    and its mode's checks (:mod:`.modes`). An observer may have ``before``, ``in_place``
    (False: it needs every step's inputs whole) and ``wrap_call(call) -> call`` (to see
    whole calls)."""
    found = []
    if profile_steps:
        from .profiling import Profile
        fn.profile = Profile(fn)
        found.append(fn.profile)
    if not (isinstance(mode, str) and mode_name(mode) == "fast"):
        from .modes import observer
        found += filter(None, [observer(fn, mode, function)])
    return found


def _load_function(graph, settings: dict) -> Function:
    """A pickled function, compiled again (from the disk cache where it can)."""
    values = unflatten(graph)
    n_in, n_out, n_up = settings["n_in"], settings["n_out"], settings["n_up"]
    inputs, values = values[:n_in], values[n_in:]
    outputs, values = values[:n_out], values[n_out:]
    ups, values = values[:2 * n_up], values[2 * n_up:]
    updates = list(zip(ups[0::2], ups[1::2]))
    specs = []
    for v, (name, borrow, mutable, updated, value) in zip(inputs, settings["ins"]):
        update, values = (values[0], values[1:]) if updated else (None, values)
        specs.append(In(v, value=value, name=name, borrow=borrow, mutable=mutable,
                        update=update))
    givens = dict(zip(values[0::2], values[1::2])) or None
    with paused():
        return Function(specs, outputs, settings["keys"], updates, givens,
                        settings["backend"], settings["name"], settings["rewrite"],
                        settings["fusion"], settings["borrowed"], settings["mode"],
                        settings["profile"])


def _sources(nodes: Sequence[Apply], backend) -> dict[str, str]:
    out: dict[str, str] = {}
    for node in nodes:
        k = getattr(node.op.lower(node), "kernel", None)
        if k is not None:
            name = k.name if k.name not in out else f"{k.name}_{k.key[:8]}"
            out[name] = backend.source(k)
    return out


def kernel_sources(inputs: Sequence[Variable], outputs=None, updates=None, givens=None,
                   backend: str = "cuda", fusion: bool = True) -> dict[str, str]:
    """``{kernel_name: source}`` of the kernels a function of these arguments would run on
    ``backend``, generated without compiling or running anything (so CUDA sources are
    available on a machine with no GPU).

    >>> import symgraph as sg
    >>> x = sg.fvector("x")
    >>> src = sg.kernel_sources([x], sg.exp(x) * 2, backend="cuda")
    >>> [("__global__" in text) for text in src.values()]
    [True]
    """
    target = find_backend(backend)
    f = function(inputs, outputs, updates, givens, backend="numpy", fusion=fusion)
    return _sources(f.nodes, target)


def _own(r, held: list, handed: list, may_keep: Callable | None = None):
    """``r`` as an array the caller may keep and modify: a copy if it was handed out
    already (then it is in ``handed``), or if it is a view, read-only (a constant) or one
    of ``held`` (the inputs and shared values) and ``may_keep(r)`` does not say the caller
    may have it as it is; then it is handed out."""
    if not hasattr(r, "base"):
        r = np.asarray(r)
    if any(r is v for v in handed) or (
            (r.base is not None or not getattr(r.flags, "writeable", True) or
             any(r is v for v in held)) and not (may_keep is not None and may_keep(r))):
        r = r.copy()
    handed.append(r)
    return r


def _runtime_error(e: StepError) -> Exception:
    outer = []          # the loops and branches the failing step ran in, outermost first
    while isinstance(e.__cause__, StepError):       # a step of an inner program
        inner = e.__cause__
        at = "" if inner.iteration is None else f"at step {inner.iteration} of "
        outer.append(f"\n  {at}{e.step.origin!r}" + (
            f" built at {e.step.origin.built_at}" if e.step.origin.built_at else ""))
        e = inner
    node: Apply = e.step.origin
    cause = e.__cause__
    if getattr(cause, "names_its_node", False):     # a checking mode's (.modes) says it all
        if outer:
            cause.args = (f"{cause.args[0]}{''.join(reversed(outer))}", *cause.args[1:])
        return cause
    shapes = ", ".join(f"{getattr(a, 'dtype', type(a).__name__)}{tuple(getattr(a, 'shape', ()))}"
                       for a in e.inputs)
    where = f"\n  built at {node.built_at}" if node is not None and node.built_at else ""
    msg = (f"{cause}\n  in node {node!r} ({node.op}), inputs: {shapes}{where}"
           f"{''.join(reversed(outer))}")
    kinds = (ValueError, TypeError, IndexError, MemoryError, ZeroDivisionError,
             NotImplementedError)
    base = next((k for k in kinds if isinstance(cause, k)), RuntimeError)
    try:
        return type(cause)(msg) if base is not RuntimeError else RuntimeError(msg)
    except Exception:       # a subclass that takes other arguments (numpy's MemoryError)
        return base(msg)


def function(inputs: Sequence[Variable | In], outputs=None, updates=None, givens=None,
             backend: str | None = None, name: str | None = None, fusion: bool = True,
             rewrite: bool = True, no_default_updates: bool | Sequence = False,
             training: bool = True, mode: str | None = None,
             profile: bool | None = None) -> Function:
    """Compile a function from ``inputs`` to ``outputs``.

    ``inputs``: variables, or :class:`In` for one with a default, a keyword name, state
    or a lent array.
    ``outputs``: a variable (the call returns an array), a list (it returns a list) or a
    dict of variables (it returns a dict with the same keys); :class:`Out` (``borrow``)
    in place of one lets the call return the function's own memory for it.
    ``updates``: ``[(shared, new_value_expr), ...]`` or a dict; all are computed from the
    values before the call and applied together after it, and none if the call raises.
    Every shared variable the outputs or updates use (directly or through another default
    update) that has a ``default_update`` is updated by it too, unless ``updates`` update
    it or ``no_default_updates`` is True or lists it.
    ``givens``: ``{variable: replacement}`` substituted in the graph before compiling.
    ``training``: the value of the training-mode flag (``sg.nnet.dropout`` and other
    layers with a training and an inference form): ``False`` compiles the inference form.
    ``backend``: ``'numpy'`` (the reference), ``'llvm'`` or ``'cuda'``; default
    ``sg.config.backend``.
    ``fusion=False`` keeps one node per elementwise op (the unfused baseline);
    ``rewrite=False`` runs the graph exactly as written (no rewrite at all).
    ``profile=True`` times every step (``f.profile``); default ``sg.config.profile``.
    ``mode``: ``'fast'``; ``'nan_guard'`` stops at the first step making a NaN or Inf;
    ``'debug'`` checks every step against the numpy reference; Theano's names
    (``'FAST_RUN'``, ``'NanGuardMode'``, ``'DebugMode'``) and mode objects with options
    (``sg.NanGuardMode(...)``, ``sg.DebugMode(...)``) too (:mod:`.modes`); default
    ``sg.config.mode``.

    >>> import symgraph as sg
    >>> x = sg.dvector("x")
    >>> f = sg.function([x], {"total": x.sum(), "biggest": x.max()})
    >>> {k: float(v) for k, v in f([1.0, 3.0]).items()}
    {'total': 4.0, 'biggest': 3.0}
    """
    backend = backend or config.backend
    mode = config.mode if mode is None else mode
    profile = config.profile if profile is None else profile
    if isinstance(mode, str):
        mode_name(mode)         # an unknown name fails here, before any compile work
    if backend not in backend_names():
        raise ValueError(f"backend must be one of {backend_names()}, got {backend!r}")
    if isinstance(inputs, (Variable, In)) or not isinstance(inputs, (list, tuple)):
        raise TypeError(f"function: inputs must be a list of variables, got "
                        f"{type(inputs).__name__}")
    specs = [v if isinstance(v, In) else None for v in inputs]
    inputs = [v.variable if isinstance(v, In) else v for v in inputs]
    for i, v in enumerate(inputs):
        if not isinstance(v, Variable):
            raise TypeError(f"function: input {i} is {type(v).__name__}, not a variable")
        if v.owner is not None or isinstance(v, (Constant, SharedVariable)):
            raise TypeError(f"function: input {i} ({v!r}) must be a free input variable "
                            "(not computed, constant or shared)")
    if len({id(v) for v in inputs}) != len(inputs):
        raise ValueError("function: an input variable is listed twice")
    specs = [s if s is not None else In(v) for s, v in zip(specs, inputs)]
    get_backend(backend).prepare()      # (LLVM's thread pool module, while we rewrite)
    outs, keys, borrowed = outputs_of(outputs)
    ups, givens = checked_updates(updates), checked_givens(givens, inputs)
    # the collector paused for the graph walks too: on a 35,000-node graph it made
    # finding the default updates take 0.23 s
    with paused():
        inputs_of = InputsOf()      # one walk of the graph for the three questions below
        written = default_updates([*outs, *(u for _, u in ups),
                                   *(s.update for s in specs if s.update is not None)],
                                  ups, givens, no_default_updates, inputs_of)
        outs, ups, specs = _with_training(training, outs, ups, specs, inputs_of)
        ups += training_default_updates(written, training, [
            *outs, *(u for _, u in ups), *(s.update for s in specs if s.update is not None)],
            givens, inputs_of)
        return Function(specs, outs, keys, ups, givens, backend, name, rewrite, fusion,
                        borrowed, mode, bool(profile), inputs_of)


def _with_training(training, outs: list, ups: list, specs: list[In], inputs_of=graph_inputs):
    """Outputs, updates and inputs (their ``update`` expressions) with the training flag
    read as ``training`` (:func:`.arguments.with_training_flag`)."""
    stateful = [i for i, spec in enumerate(specs) if spec.update is not None]
    exprs = with_training_flag([*outs, *(u for _, u in ups),
                                *(specs[i].update for i in stateful)], training, inputs_of)
    n, m = len(outs), len(ups)
    specs = list(specs)
    for i, u in zip(stateful, exprs[n + m:]):
        if u is not specs[i].update:
            specs[i] = copy.copy(specs[i])
            specs[i].update = u
    return exprs[:n], [(s, u) for (s, _), u in zip(ups, exprs[n:n + m])], specs


def _eval(v: TensorVariable, inputs: dict | None, backend: str | None):
    inputs = inputs or {}
    key = (tuple(id(k) for k in inputs), backend)
    cache = v.__dict__.setdefault("_eval_cache", {})
    if key not in cache:
        cache[key] = function(list(inputs), v, backend=backend)
    return cache[key](*inputs.values())


install("eval", _eval)
