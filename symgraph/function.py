"""Compiled functions and shared variables.

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

from codegen.program import StepError

from .config import BACKENDS, config
from .gc_pause import paused
from .graph import Apply, Constant, Variable, clone_replace, graph_inputs, toposort
from .lower import backend_compiler, device_module, fresh_outputs, lower
from .tensor import TensorVariable, as_tensor
from .types import FLOATS, TensorType, as_dtype


class SharedVariable(TensorVariable):
    """A variable whose value lives between calls; functions read it implicitly and
    ``updates`` change it. dtype and rank are fixed when it is made."""

    def __init__(self, value: np.ndarray, name: str | None = None):
        super().__init__(TensorType(value.dtype, (None,) * value.ndim), name=name)
        self._value = value

    def get_value(self, borrow: bool = False) -> np.ndarray:
        """The current value as a numpy array (a copy unless ``borrow``: then do not modify
        it). While CUDA functions use the variable its value lives on the GPU, and
        ``borrow=True`` returns that device (CuPy) array itself."""
        if borrow:
            return self._value
        return self._value.copy() if isinstance(self._value, np.ndarray) else \
            self._value.get()

    def _value_on(self, device: bool):
        """The value where a function of that kind needs it, moved there (and kept) if
        it was elsewhere: a CUDA training step does no host round trip."""
        on_device = not isinstance(self._value, np.ndarray)
        if device != on_device:
            self._value = _to_device(self._value) if device else self._value.get()
        return self._value

    def set_value(self, value, borrow: bool = False) -> None:
        """Replace the value; its dtype (safe casts allowed) and rank must match."""
        arr = self.type.filter(value, f"set_value of shared variable {self!r}")
        self._value = arr if (borrow and arr is value) else np.array(arr, copy=True)

    def __repr__(self) -> str:
        return self.name or f"<shared {self.type}>"


def shared(value, name: str | None = None) -> SharedVariable:
    """A shared variable holding a copy of ``value``. Python floats become floatX.

    >>> import symgraph as sg
    >>> sg.shared(0.0, name="b").dtype == sg.config.floatX
    True
    """
    if isinstance(value, Variable):
        raise TypeError(f"shared() takes a value, got the symbolic variable {value!r}")
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.array(value, copy=True)
    else:
        arr = np.array(value)
        if arr.dtype == np.float64:
            arr = arr.astype(config.floatX)
    as_dtype(arr.dtype)
    return SharedVariable(arr, name)


class Function:
    """A compiled function: call it with the input values (by position or name).

    Attributes: ``inputs``, ``outputs``, ``updates`` (the graph as written), ``nodes``
    (the optimized graph that runs, in execution order), ``rewrite_log`` (which rewrites
    fired, how often, and each pass's time), ``backend``.
    """

    def __init__(self, inputs: list[Variable], outputs: list[Variable], single: bool,
                 updates: list[tuple[SharedVariable, Variable]], givens, backend: str,
                 name: str | None, rewrite: bool = True, fusion: bool = True):
        t0 = time.perf_counter()
        self.inputs, self.outputs, self.updates = inputs, outputs, updates
        self.backend, self.name, self._single = backend, name, single
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
        self.fusion = fusion and rewrite
        if rewrite:
            from .rewrite import optimize
            fg, self.rewrite_log = optimize(exprs, fusion=fusion)
            exprs = fg.outputs
        else:
            from .rewrite import RewriteLog
            self.rewrite_log = RewriteLog()
        self.graph_outputs = exprs
        self.nodes: list[Apply] = toposort(exprs)
        self._device = backend == "cuda"
        self._program = lower(self.nodes, [*inputs, *self.shared], exprs,
                              backend_compiler(backend), device_module(backend).empty)
        self._run = self._program.run
        # reused intermediate buffers belong to one call at a time
        self._lock = threading.Lock() if self._program.stateful else None
        self._fresh = fresh_outputs(self._program)
        self._all_fresh, self._n_in, self._n_out = all(self._fresh), len(inputs), len(outputs)
        self._types = [v.type for v in inputs]
        self._what = [f"input {i} ({v!r})" for i, v in enumerate(inputs)]
        self._call = self._compile_call()
        self.compile_time = time.perf_counter() - t0

    def _bind(self, args: Sequence, kwargs: dict) -> list:
        n = len(self.inputs)
        check = _check_for_device if self._device else TensorType.filter
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
        return [check(t, a, what) for t, a, what in zip(self._types, values, self._what)]

    def _repr_svg_(self):
        from .printing import repr_svg
        return repr_svg(self)

    def _label(self) -> str:
        return f"function {self.name!r}" if self.name else "function"

    def __call__(self, *args, **kwargs):
        return self._call(self, *args, **kwargs)

    def _compile_call(self):
        """``call(self, *args, **kwargs)``, generated for this function's input types:
        arrays of exactly the declared dtype, rank and static sizes, given by position,
        pass a few inline checks and run; anything else takes :meth:`_call_checked`. (It
        takes ``self`` as an argument: holding it would make a reference cycle.)"""
        if self._device:
            return Function._call_checked
        names = [f"a{i}" for i in range(self._n_in)]
        checks = []
        env: dict = {"ndarray": np.ndarray, "shared": self.shared}
        for i, (a, t) in enumerate(zip(names, self._types)):
            env[f"dt{i}"] = t.np_dtype
            checks.append(f"type({a}) is ndarray and {a}.dtype is dt{i} and "
                          f"{a}.ndim == {t.ndim}")
            checks += [f"{a}.shape[{ax}] == {d}" for ax, d in enumerate(t.shape)
                       if d is not None]
        unpack = "".join(f"{a}, " for a in names) or "()"
        values = "".join(f"{a}, " for a in names)
        if self.shared:
            values += "*[s._value_on(False) for s in shared]"
        src = (f"def call(self, *args, **kwargs):\n"
               f"    if not kwargs and len(args) == {self._n_in}:\n"
               f"        {unpack} = args\n"
               f"        if {' and '.join(checks) or 'True'}:\n"
               f"            return self._finish([{values}])\n"
               f"    return self._call_checked(*args, **kwargs)\n")
        exec(src, env)
        return env["call"]

    def _finish(self, values: list):
        if self._lock is None:
            return self._results(values)
        with self._lock:
            return self._results(values)

    def _call_checked(self, *args, **kwargs):
        if kwargs or len(args) != self._n_in or self._device:
            values = self._bind(args, kwargs)
            if self._device:
                values = [v if _is_device_array(v) else _to_device(v) for v in values]
        else:
            values = [t.filter(a, what) for t, a, what in zip(self._types, args, self._what)]
        if self.shared:
            values += [s._value_on(self._device) for s in self.shared]
        return self._finish(values)

    def _results(self, values: list):
        try:
            outs = self._run(values)
        except StepError as e:
            raise _runtime_error(e) from e.__cause__
        if not self._all_fresh:
            taken = list(values)   # an array is handed out once: [y, y] gives two arrays
            outs = [r if fresh else _own(r, taken) for r, fresh in zip(outs, self._fresh)]
        if self.updates:
            for (s, _), v in zip(self.updates, outs[self._n_out:]):
                s._value = v
        return outs[0] if self._single else outs[:self._n_out]

    @property
    def kernel_sources(self) -> dict[str, str]:
        """The source of every kernel this function runs, by kernel name: LLVM IR for
        ``llvm``, CUDA C for ``cuda``, and the kernel-IR listing it interprets for
        ``numpy``."""
        return _sources(self.nodes, self.backend)


def _sources(nodes: Sequence[Apply], backend: str) -> dict[str, str]:
    from .lower import node_kernel
    out: dict[str, str] = {}
    for node in nodes:
        k = node_kernel(node)
        if k is not None:
            name = k.name if k.name not in out else f"{k.name}_{k.key[:8]}"
            out[name] = _source(k, backend)
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
    f = function(inputs, outputs, updates, givens, backend="numpy", fusion=fusion)
    return _sources(f.nodes, backend)


def _source(kernel, backend: str) -> str:
    if backend == "llvm":
        from codegen.llvm import compile_kernel
        return compile_kernel(kernel).source
    if backend == "cuda":
        from codegen.cuda import sources
        return "\n".join(sources(kernel).values())
    return str(kernel)


def _own(r: np.ndarray, taken: list[np.ndarray]) -> np.ndarray:
    """``r`` as an array the caller may keep and modify: a copy if it is a view or is an
    array already in ``taken`` (the inputs, shared values, outputs handed out so far);
    then it is taken too."""
    if type(r) is not np.ndarray and not _is_device_array(r):
        r = np.asarray(r)
    if r.base is not None or any(r is v for v in taken):
        r = r.copy()
    taken.append(r)
    return r


def _is_device_array(a) -> bool:
    return type(a).__module__.startswith("cupy")


def _to_device(a):
    import cupy
    return cupy.asarray(a)


def _check_for_device(t: TensorType, a, what: str):
    """Inputs of a CUDA function: a CuPy array is used in place, its dtype (safe casts
    allowed), rank and static shape checked as for numpy arrays; anything else is checked
    by the type and copied to the device when the call runs."""
    if not _is_device_array(a):
        return t.filter(a, what)
    a = t.safe_cast(a, what)
    if a.ndim != t.ndim or not t.accepts_shape(a.shape):
        raise TypeError(f"{what}: expected {t}, got a device array of shape {a.shape}")
    return a



def _runtime_error(e: StepError) -> Exception:
    node: Apply = e.step.origin
    cause = e.__cause__
    shapes = ", ".join(f"{getattr(a, 'dtype', type(a).__name__)}{tuple(getattr(a, 'shape', ()))}"
                       for a in e.inputs)
    where = f"\n  built at {node.trace}" if node is not None and node.trace else ""
    msg = (f"{cause}\n  in node {node!r} ({node.op}), inputs: {shapes}{where}")
    kind = type(cause) if isinstance(cause, (ValueError, TypeError, IndexError,
                                             ZeroDivisionError)) else RuntimeError
    try:
        return kind(msg)
    except Exception:
        return RuntimeError(msg)


def function(inputs: Sequence[Variable], outputs=None, updates=None, givens=None,
             backend: str | None = None, name: str | None = None, fusion: bool = True,
             rewrite: bool = True) -> Function:
    """Compile a function from ``inputs`` to ``outputs``.

    ``outputs``: a variable (the call returns an array) or a list (it returns a list).
    ``updates``: ``[(shared, new_value_expr), ...]`` or a dict; all are computed from the
    values before the call and applied together after it, and none if the call raises.
    ``givens``: ``{variable: replacement}`` substituted in the graph before compiling.
    ``backend``: ``'numpy'`` (the reference), ``'llvm'`` or ``'cuda'``; default
    ``sg.config.backend``.
    ``fusion=False`` keeps one node per elementwise op (the unfused baseline);
    ``rewrite=False`` runs the graph exactly as written (no rewrite at all).
    """
    backend = backend or config.backend
    if backend not in BACKENDS:
        raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
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
    single = outputs is not None and not isinstance(outputs, (list, tuple))
    outs = [] if outputs is None else [as_tensor(o) for o in
                                       ([outputs] if single else outputs)]
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
    if givens is not None:
        pairs = list(givens.items()) if isinstance(givens, dict) else list(givens)
        givens = {}
        for k, v in pairs:
            v = as_tensor(v)
            if k.ndim != v.ndim or k.dtype != v.dtype:
                raise TypeError(f"givens: {k!r} ({k.type}) replaced by {v.type}")
            givens[k] = v
    with paused():
        return Function(inputs, outs, single, checked, givens, backend, name, rewrite, fusion)
