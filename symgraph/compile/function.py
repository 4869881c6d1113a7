"""Compiled functions: ``sg.function`` and :class:`Function`.

``function`` checks its arguments, substitutes the ``givens``, collects the shared variables
the graph reads, rewrites a copy of the graph (:mod:`symgraph.rewrite`), lowers it
(:mod:`.lower`) and builds the program for the backend (:mod:`codegen.backend`). A call
checks the inputs, runs the program and applies every update together, or none if the call
fails. New values of updates are written into the old ones' memory where that is safe
(:mod:`codegen.plan`).

>>> import symgraph as sg, numpy as np
>>> x = sg.dvector("x")
>>> w = sg.shared(np.zeros(2), name="w")
>>> step = sg.function([x], (w * x).sum(), updates=[(w, w + x)])
>>> float(step([1.0, 2.0])), w.get_value().tolist()
(0.0, [1.0, 2.0])
"""
from __future__ import annotations

import threading
import time
from typing import Any, Sequence

import numpy as np

from codegen import profile
from codegen.backend import find_backend, get_backend, names as backend_names
from codegen.plan import build
from codegen.program import StepError

from ..config import config
from ..graph import (Apply, Constant, Variable, clone_replace, flatten, graph_inputs, toposort,
                     unflatten)
from ..printing import repr_svg
from ..types import FLOATS, TensorType
from ..variable import SharedVariable, TensorVariable, as_tensor, install
from .gc_pause import paused
from .lower import lower


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
    A function pickles (with its shared variables' values) and compiles again when
    loaded, from the disk cache where it can.
    """

    def __init__(self, inputs: list[Variable], outputs: list[Variable], keys: Any,
                 updates: list[tuple[SharedVariable, Variable]], givens: dict | None,
                 backend: str, name: str | None, rewrite: bool = True, fusion: bool = True):
        t0, before = time.perf_counter(), profile.snapshot()
        self.inputs, self.outputs, self.updates, self.givens = inputs, outputs, updates, givens
        self.backend, self.name, self._keys = backend, name, keys
        self._backend = get_backend(backend)
        exprs = [*outputs, *(u for _, u in updates)]
        if givens:
            exprs = clone_replace(exprs, givens)
        known = {id(v) for v in inputs}
        self.shared = []
        for v in graph_inputs(exprs):
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
        self._runner = build(self._program, self._backend)
        self._run = self._runner.run
        # reused intermediate buffers belong to one call at a time
        self._lock = threading.Lock() if self._runner.stateful else None
        self._fresh = self._runner.fresh
        self._all_fresh, self._n_in, self._n_out = all(self._fresh), n_in, n_out
        self._update_vars = [s for s, _ in updates]
        self._types = [v.type for v in inputs]
        self._what = [f"input {i} ({v!r})" for i, v in enumerate(inputs)]
        self._call = self._compile_call()
        self.compile_time = time.perf_counter() - t0
        self.compile_profile = profile.since(before)
        self.compile_profile["other"] = max(
            0.0, self.compile_time - sum(self.compile_profile.values()))

    def __reduce__(self):
        graph = flatten([*self.inputs, *self.outputs, *(v for pair in self.updates
                                                          for v in pair),
                         *(v for pair in (self.givens or {}).items() for v in pair)])
        settings = dict(n_in=len(self.inputs), n_out=len(self.outputs), keys=self._keys,
                        n_up=len(self.updates), backend=self.backend, name=self.name,
                        rewrite=self.rewrite, fusion=self.fusion)
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
        return env["call"]

    def _bind(self, args: Sequence, kwargs: dict) -> list:
        n = len(self.inputs)
        if len(args) > n:
            raise TypeError(f"{self._label()} takes {n} inputs, got {len(args)}")
        values: list[Any] = list(args) + [None] * (n - len(args))
        given = [True] * len(args) + [False] * (n - len(args))
        names = {v.name: i for i, v in enumerate(self.inputs) if v.name}
        for k, v in kwargs.items():
            if k not in names:
                raise TypeError(f"{self._label()} has no input named {k!r}; inputs: "
                                f"{[v.name for v in self.inputs]}")
            if given[names[k]]:
                raise TypeError(f"{self._label()}: input {k!r} given twice")
            values[names[k]], given[names[k]] = v, True
        missing = [repr(self.inputs[i]) for i, g in enumerate(given) if not g]
        if missing:
            raise TypeError(f"{self._label()} takes {n} inputs, missing {', '.join(missing)}")
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
            outs = self._run(values, tuple([s._owned for s in ups])) if ups else \
                self._run(values)
        except StepError as e:
            raise _runtime_error(e) from e.__cause__
        if not self._all_fresh:
            taken = list(values)   # an array is handed out once: [y, y] gives two arrays
            outs = [r if fresh else _own(r, taken) for r, fresh in zip(outs, self._fresh)]
        if ups:
            for s, v in zip(ups, outs[self._n_out:]):
                s._value, s._owned = v, True
        keys = self._keys
        if keys is None:
            return outs[0]
        results = outs[:self._n_out]
        return dict(zip(keys, results)) if isinstance(keys, list) else results

    @property
    def kernel_sources(self) -> dict[str, str]:
        """The source of every kernel this function runs, by kernel name: LLVM IR for
        ``llvm``, CUDA C for ``cuda``, and the kernel-IR listing it interprets for
        ``numpy``."""
        return _sources(self.nodes, self._backend)

    def _repr_svg_(self):
        return repr_svg(self)


def _load_function(graph, settings: dict) -> Function:
    """A pickled function, compiled again (from the disk cache where it can)."""
    values = unflatten(graph)
    n_in, n_out, n_up = settings["n_in"], settings["n_out"], settings["n_up"]
    inputs, values = values[:n_in], values[n_in:]
    outputs, values = values[:n_out], values[n_out:]
    ups, values = values[:2 * n_up], values[2 * n_up:]
    updates = list(zip(ups[0::2], ups[1::2]))
    givens = dict(zip(values[0::2], values[1::2])) or None
    with paused():
        return Function(inputs, outputs, settings["keys"], updates, givens,
                        settings["backend"], settings["name"], settings["rewrite"],
                        settings["fusion"])


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


def _own(r, taken: list):
    """``r`` as an array the caller may keep and modify: a copy if it is a view, read-only
    (a constant) or an array already in ``taken`` (the inputs, shared values, outputs
    handed out so far); then it is taken too."""
    if not hasattr(r, "base"):
        r = np.asarray(r)
    if r.base is not None or not getattr(r.flags, "writeable", True) or \
            any(r is v for v in taken):
        r = r.copy()
    taken.append(r)
    return r


def _runtime_error(e: StepError) -> Exception:
    node: Apply = e.step.origin
    cause = e.__cause__
    shapes = ", ".join(f"{getattr(a, 'dtype', type(a).__name__)}{tuple(getattr(a, 'shape', ()))}"
                       for a in e.inputs)
    where = f"\n  built at {node.built_at}" if node is not None and node.built_at else ""
    msg = (f"{cause}\n  in node {node!r} ({node.op}), inputs: {shapes}{where}")
    kinds = (ValueError, TypeError, IndexError, MemoryError, ZeroDivisionError,
             NotImplementedError)
    base = next((k for k in kinds if isinstance(cause, k)), RuntimeError)
    try:
        return type(cause)(msg) if base is not RuntimeError else RuntimeError(msg)
    except Exception:       # a subclass that takes other arguments (numpy's MemoryError)
        return base(msg)


def _outputs(outputs) -> tuple[list[Variable], Any]:
    """The output variables and how a call returns them: ``None`` for one (an array), a
    list of keys for a dict (a dict), ``()`` for a list (a list)."""
    if outputs is None:
        return [], ()
    if isinstance(outputs, dict):
        keys = list(outputs)
        return [_output(outputs[k], repr(k)) for k in keys], keys
    if isinstance(outputs, (list, tuple)):
        return [_output(o, str(i)) for i, o in enumerate(outputs)], ()
    return [_output(outputs, "")], None


def _output(o, which: str) -> Variable:
    if isinstance(o, (list, tuple, dict, set)):
        raise TypeError(f"function: output {which} is a {type(o).__name__}; outputs are "
                        "variables (a variable, a list of them, or a dict of them)")
    return as_tensor(o)


def _updates(updates) -> list[tuple[SharedVariable, Variable]]:
    pairs = list(updates.items()) if isinstance(updates, dict) else list(updates or [])
    checked = []
    for pair in pairs:
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise TypeError(f"updates must be (shared variable, expression) pairs, got "
                            f"{pair!r}")
        s, u = pair
        if not isinstance(s, SharedVariable):
            raise TypeError(f"updates: {s!r} is not a shared variable")
        u = as_tensor(u)
        if u.ndim != s.ndim or (u.dtype != s.dtype and not np.can_cast(
                u.dtype, s.dtype, "same_kind" if u.dtype in FLOATS and s.dtype in FLOATS
                else "safe")):
            raise TypeError(f"updates: the new value of {s!r} ({s.type}) has type {u.type}")
        checked.append((s, u.astype(s.dtype) if u.dtype != s.dtype else u))
    if len({id(s) for s, _ in checked}) != len(checked):
        raise ValueError("updates: a shared variable is updated twice")
    return checked


def _givens(givens, inputs: list[Variable]) -> dict | None:
    if givens is None:
        return None
    pairs = list(givens.items()) if isinstance(givens, dict) else list(givens)
    listed = {id(v) for v in inputs}
    out = {}
    for k, v in pairs:
        v = as_tensor(v)
        if k.ndim != v.ndim or k.dtype != v.dtype:
            raise TypeError(f"givens: {k!r} ({k.type}) replaced by {v.type}")
        if id(k) in listed:
            raise ValueError(f"givens: {k!r} is also an input of the function, so the "
                             "value passed for it would be ignored: list it as an input "
                             "or replace it, not both")
        out[k] = v
    return out


def function(inputs: Sequence[Variable], outputs=None, updates=None, givens=None,
             backend: str | None = None, name: str | None = None, fusion: bool = True,
             rewrite: bool = True) -> Function:
    """Compile a function from ``inputs`` to ``outputs``.

    ``outputs``: a variable (the call returns an array), a list (it returns a list) or a
    dict of variables (it returns a dict with the same keys).
    ``updates``: ``[(shared, new_value_expr), ...]`` or a dict; all are computed from the
    values before the call and applied together after it, and none if the call raises.
    ``givens``: ``{variable: replacement}`` substituted in the graph before compiling.
    ``backend``: ``'numpy'`` (the reference), ``'llvm'`` or ``'cuda'``; default
    ``sg.config.backend``.
    ``fusion=False`` keeps one node per elementwise op (the unfused baseline);
    ``rewrite=False`` runs the graph exactly as written (no rewrite at all).

    >>> import symgraph as sg
    >>> x = sg.dvector("x")
    >>> f = sg.function([x], {"total": x.sum(), "biggest": x.max()})
    >>> {k: float(v) for k, v in f([1.0, 3.0]).items()}
    {'total': 4.0, 'biggest': 3.0}
    """
    backend = backend or config.backend
    if backend not in backend_names():
        raise ValueError(f"backend must be one of {backend_names()}, got {backend!r}")
    if isinstance(inputs, Variable) or not isinstance(inputs, (list, tuple)):
        raise TypeError(f"function: inputs must be a list of variables, got "
                        f"{type(inputs).__name__}")
    inputs = list(inputs)
    for i, v in enumerate(inputs):
        if not isinstance(v, Variable):
            raise TypeError(f"function: input {i} is {type(v).__name__}, not a variable")
        if v.owner is not None or isinstance(v, (Constant, SharedVariable)):
            raise TypeError(f"function: input {i} ({v!r}) must be a free input variable "
                            "(not computed, constant or shared)")
    if len({id(v) for v in inputs}) != len(inputs):
        raise ValueError("function: an input variable is listed twice")
    outs, keys = _outputs(outputs)
    with paused():
        return Function(inputs, outs, keys, _updates(updates), _givens(givens, inputs),
                        backend, name, rewrite, fusion)


def _eval(v: TensorVariable, inputs: dict | None, backend: str | None):
    inputs = inputs or {}
    key = (tuple(id(k) for k in inputs), backend)
    cache = v.__dict__.setdefault("_eval_cache", {})
    if key not in cache:
        cache[key] = function(list(inputs), v, backend=backend)
    return cache[key](*inputs.values())


install("eval", _eval)
