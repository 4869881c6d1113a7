"""Calling compiled kernels: argument checks, layout specialization, threads.

A :class:`CompiledKernel` is called exactly like :func:`codegen.interpret.interpret`. Each call
is checked (native code never sees unchecked input), then picks the specialization its
layout needs (compiled on first use): one flat loop when every buffer is contiguous with
the domain's shape, else a strided loop nest whose axes are merged where the layout allows,
with unit or zero innermost strides compiled in. The plan of an ordinary call (dtypes,
shapes and strides that passed the full checks once) is remembered by that layout, so a
repeated call costs a few dict and attribute lookups besides the native call.

:meth:`CompiledKernel.bind` hands such a plan out as a :class:`Launch`, for callers (a
compiled function's steps) that know their arrays keep one layout from call to call and
want nothing between them and the native entry.

Large work is split over the native thread pool (:mod:`codegen.llvm.pool`) along the
outermost loop, with the GIL released; small work runs on the calling thread.
"""
from __future__ import annotations

import math
from typing import NamedTuple, Sequence

import numpy as np

from codegen import settings
from codegen.kernel import (Kernel, KernelError, domain_of, element_strides, index_axes,
                            index_strides, split_stages)
from codegen.llvm import abi, emit, jit, pool, scalar
from codegen.llvm.emit import Signature, cost
from codegen.plan import Launch

_FLAT = Signature("flat")
_SPLIT = np.empty(0, np.int64)     # the meta of a launch that runs a staged kernel split
PARALLEL_MIN = 1 << 16
"""Calls with less work than this run on the calling thread; work is the domain size
times the kernel's cost per element (:func:`cost`)."""



def set_num_threads(n: int) -> None:
    """Use ``n`` threads (the caller's included) for large kernel calls
    (:data:`codegen.settings.num_threads`)."""
    settings.num_threads = max(1, int(n))
    if pool.started():
        pool.ensure(settings.num_threads)


def get_num_threads() -> int:
    return settings.num_threads


def render(items: Sequence[tuple[Kernel, Signature]]) -> tuple[str, list[str]]:
    """LLVM IR text for the host, and the entry symbols, of ``items``."""
    h = jit.host()
    return emit.render_module(items, h["triple"], h["layout"], h["attrs"], h["vector_bits"])


def load_kernels(items: Sequence[tuple[Kernel, Signature]]) -> list[int]:
    """Addresses of the Python entries (:mod:`codegen.llvm.abi`) of ``items``, compiled
    (as a few modules of similar size, concurrently) or loaded from the cache where this
    process has not loaded them."""
    symbols = [sig.symbol(k) for k, sig in items]
    by_symbol = dict(zip(symbols, items))
    # the pool's address is asked for at the link: its module may still be loading
    return jit.load(symbols, lambda missing: render([by_symbol[s] for s in missing])[0],
                    lambda: {abi.POOL_RUN: pool.run_address()},
                    weight=lambda s: weight(by_symbol[s][0]))


KERNEL_WEIGHT = 40
"""LLVM's fixed work per kernel (its loop nest and entry points), in body ops: a
one-op kernel takes about as long as forty more ops in one."""
TRANSCENDENTAL_WEIGHT = (25, 4)
"""The LLVM work of a kernel's first vectorized transcendental (its formula, inlined and
vectorized), and of each further one called out of line (past ``scalar.OUTLINE_MIN``
call sites; inlined, each costs what the first does), in body ops."""
REDUCE_WEIGHT = 45
"""The LLVM work of a reduction store (its loops and accumulators), in body ops."""


def weight(k: Kernel) -> int:
    """LLVM's estimated work for a specialization of ``k``, in body ops: what
    :func:`jit.partition` balances the modules by. Fitted to kernels compiled alone on
    the 2-core VM: the MLP step's (10-48 ms each: a softmax's row reductions cost four
    times a two-op update, which the body's length alone had as equal), and a long
    chain's (15 inlined tanh cost 51 ms, 85 called out of line 71 ms with 200 ops more;
    since ``scalar.OUTLINE_MIN`` is 5, 15 are out of line too)."""
    n = scalar.vmath_sites(k)
    first, more = TRANSCENDENTAL_WEIGHT
    each = more if n > scalar.OUTLINE_MIN else first
    return (len(k.body) + KERNEL_WEIGHT + (first + each * (n - 1) if n else 0)
            + REDUCE_WEIGHT * sum(bool(s.reduce) for s in k.stores))


def grain(extent: int, work: int, flat: bool, least: int = 1) -> int:
    """The ``grain`` argument of a kernel entry for a call over ``extent`` outer
    iterations doing ``work``: 0 (run on the calling thread) for small work, else the
    iterations per chunk of a pool job, about four chunks per thread so that a thread the
    machine slows down takes fewer, and at least ``least``; flat chunks start on whole
    64-byte lines. A call that would make one chunk runs on the calling thread. Below
    :data:`WAKE_MIN` the grain is negative: the job goes only to workers that are awake
    (:mod:`codegen.llvm.pool`)."""
    if work < PARALLEL_MIN or extent <= least:
        return 0
    n = settings.num_threads
    pool.ensure(n)
    g = max(least, -(-extent // (4 * n)))
    g = -(-g // 64) * 64 if flat else g
    return g if work >= WAKE_MIN else -g


WAKE_MIN = 1 << 21
"""Parallel calls with less work than this wake no sleeping worker: they share their
chunks with the workers still spinning after a job (back-to-back kernels), else run on
the calling thread, since on a virtual machine waking a thread costs the caller about as
long as such a call takes on one thread."""


REDUCE_SPLIT = PARALLEL_MIN
"""A reduction of everything (nothing kept: ``x.sum()``) with at least this much work is
cut in chunks that the pool shares out (:meth:`CompiledKernel._split_reduction`; below
:data:`WAKE_MIN`, only with workers already awake); smaller ones run whole on the calling
thread."""

REDUCE_CHUNK = 1 << 16
"""The work per chunk of a split reduction (a chunk's partial results take a slot each);
at most :data:`REDUCE_PARTS` chunks: more, smaller chunks measured faster on the noisy
2-core VM (10M float32 sum of squares: 64 chunks 2.24-2.39 ms, 128 2.20-2.32, numba's
prange 2.17-2.24), up to 128."""

REDUCE_PARTS = 128


class _SplitReduction:
    """The entry of a split reduction's launch: the kernel in mode 1 over the pool (the
    partial results in a copy of ``meta``, so that concurrent calls do not share them),
    then in mode 2 on the calling thread."""
    __slots__ = ("entry", "at")

    def __init__(self, entry, at: int):
        self.entry, self.at = entry, at

    def __call__(self, extent, grain, meta, *arrays):
        meta = meta.copy()
        self.entry(extent, grain, meta, *arrays)
        meta[self.at] = 2
        self.entry(1, 0, meta, *arrays)


TILE_CHUNK = 1024
"""The fewest kept elements a chunk of a ``tile`` reduction split along its contiguous
axis takes: each chunk reads a segment of every reduced row, and segments shorter than a
few KiB (128 floats of a 1024-wide row across two threads) read memory at half the speed
of one thread reading whole rows."""


def layout(k: Kernel, domain: Sequence[int], strides: Sequence[Sequence[int]]
           ) -> tuple[Signature, list[int]]:
    """The loop-nest signature and the ``meta`` values (shape, then per-buffer strides)
    for buffers with element ``strides`` (0 on broadcast axes) over ``domain``.

    Adjacent axes of one kind (kept or reduced) merge into the inner one when every buffer
    steps through them as one; axes of extent 1 get no loop. Kept axes loop outside reduced
    ones, each kind ordered by decreasing stride; ``tile`` when a kept axis is the most
    contiguous.

    >>> from codegen.kernel import Buffer, Instr, Store
    >>> k = Kernel("s", (Buffer("x", "float32", 3),), (Buffer("y", "float32", 3),), 3,
    ...            (Instr("load", "float32", (), 0),), (Store(0, "add", (0,)),))
    >>> layout(k, (4, 5, 6), [(30, 6, 1), (0, 6, 1)])
    (Signature(kind='tile', loops=(2, 0), unit=(1, 1), alias=()), [4, 1, 30, 30, 0, 1, 0, 0, 1])
    """
    red = set(k.reduce_axes)
    shape, strides = list(domain), [list(s) for s in strides]
    prev = None
    for ax in range(k.ndim):
        if shape[ax] == 1:
            continue
        if (prev is not None and (prev in red) == (ax in red)
                and all(st[prev] == st[ax] * shape[ax] for st in strides)):
            shape[ax] *= shape[prev]
            shape[prev] = 1
            for st in strides:
                st[prev] = 0
        prev = ax
    # Like numpy's iterator: loops from the largest stride in to the smallest, as seen by
    # the input that moves along the most axes, so transposed inputs read memory in order.
    main = max(strides[:len(k.inputs)] or strides, key=lambda st: sum(map(bool, st)))
    active = sorted((ax for ax in range(k.ndim) if shape[ax] != 1), key=lambda ax: -abs(main[ax]))
    kept = [ax for ax in active if ax not in red]
    reduced = [ax for ax in active if ax in red]
    loops = kept + reduced
    kind, inner = "inner", (loops[-1] if loops else None)
    if kept and reduced and 0 < abs(main[kept[-1]]) < abs(main[reduced[-1]]):
        kind, inner = "tile", kept[-1]
    unit = tuple(st[inner] if st[inner] in (-1, 0, 1) else None
                 for st in strides) if inner is not None else ()
    return Signature(kind, tuple(loops), unit), shape + [s for st in strides for s in st]


class _Layout(NamedTuple):
    """A checked call laid out: its specialization, outer extent and work, ``meta``, the
    fresh outputs' specs, the domain, the inputs (some copied), the outputs, and the
    arrays native code writes in their place."""
    sig: Signature
    extent: int
    work: int
    meta: np.ndarray | None
    fresh: tuple
    domain: tuple[int, ...]
    inputs: list
    outputs: list
    scratch: list


class CompiledKernel:
    """A kernel compiled for the host CPU; call it like :func:`~codegen.interpret.interpret`.

    >>> from codegen.kernel import Buffer, Instr, Store
    >>> k = Kernel("inc", (Buffer("x", "float32", 1),), (Buffer("y", "float32", 1),), 1,
    ...            (Instr("load", "float32", (), 0), Instr("const", "float32", (), 1.0),
    ...             Instr("add", "float32", (0, 1))), (Store(2),))
    >>> ck = CompiledKernel(k)
    >>> ck([np.arange(3, dtype="float32")])[0].tolist()
    [1.0, 2.0, 3.0]
    """

    def __init__(self, kernel: Kernel):
        k = self.kernel = kernel
        self._nin = len(k.inputs)
        self._in_dt = [np.dtype(b.dtype) for b in k.inputs]
        self._out_dt = [np.dtype(b.dtype) for b in k.outputs]
        self._reduces = bool(k.reduce_axes)
        self._staged = any(k.stages)
        self._index = bool(index_axes(k))     # positions, not one flat loop (run.layout)
        self._split: list | None = None      # per-stage kernels, for layouts they serve better
        self._cost = cost(k)
        self._entries: dict[Signature, object] = {}
        self._plans: dict[tuple, Launch] = {}      # by the layout of ordinary calls

    @property
    def default_signature(self) -> Signature:
        """The specialization for contiguous, unbroadcast buffers of extents > 1 (for a
        staged kernel, with the reduced axes innermost: the layout it runs as one kernel)."""
        k = self.kernel
        dom = (2,) * k.ndim
        # memory holds the axes in `order`; the transpose views them in domain order
        order = [a for a in range(k.ndim) if a not in k.reduce_axes] + list(k.reduce_axes) \
            if self._staged else list(range(k.ndim))
        arrays = [np.empty(dom, dt).transpose(np.argsort(order)) for dt in self._in_dt]
        return self.signature(arrays, shape=dom)

    @property
    def source(self) -> str:
        """The LLVM IR (before optimization) of the default specialization."""
        return render([(self.kernel, self.default_signature)])[0]

    def _entry(self, sig: Signature, address: int | None = None):
        """The Python entry of a specialization; compiled lazily, at its first call."""
        fn = self._entries.get(sig)
        if fn is None:
            if address is None:
                address = load_kernels([(self.kernel, sig)])[0]
            fn = self._entries[sig] = abi.python_function(address, self.kernel.name)
        return fn

    def __call__(self, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray] | None = None,
                 shape: Sequence[int] | None = None) -> list[np.ndarray]:
        """Run the kernel; ``outputs``, if given, are written in place and returned."""
        key = self._key(inputs, outputs, shape)
        launch = self._plans.get(key)
        if launch is not None:     # a layout seen before: checked then, planned then
            return launch(inputs, outputs)
        given = inputs
        launch, inputs, outputs, scratch = self._launch(inputs, outputs, shape)
        if (key is not None and all(a is b for a, b in zip(inputs, given))
                and all(o is s for o, s in zip(outputs, scratch))):
            if len(self._plans) >= 64:
                self._plans.clear()
            self._plans[key] = launch
        launch(inputs, scratch)
        for o, s in zip(outputs, scratch):
            if o is not s:
                o[...] = s
        return list(outputs)

    def bind(self, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray] | None = None,
             shape: Sequence[int] | None = None) -> Launch | None:
        """Check a call in full and return its :class:`Launch`, for later calls with arrays
        of exactly these dtypes, shapes and strides (outputs, when given, apart from the
        inputs). None when such calls need more than the native call (a copy of an
        overlapping array, or of one whose strides are not whole elements): call the
        kernel itself then."""
        launch, ins, outs, scratch = self._launch(inputs, outputs, shape)
        if any(a is not b for a, b in zip(ins, inputs)) or any(
                o is not s for o, s in zip(outs, scratch)) or launch.meta is _SPLIT:
            return None
        return launch

    def signature(self, inputs: Sequence[np.ndarray], outputs: Sequence[np.ndarray] | None = None,
                  shape: Sequence[int] | None = None) -> Signature | None:
        """The specialization a call with these arguments runs (None if it runs nothing,
        or runs its stages as separate kernels)."""
        lay = self._layout(inputs, outputs, shape)
        return lay.sig if lay.extent and not self._split_layout(lay.sig) else None

    def _split_layout(self, sig: Signature) -> bool:
        """A staged kernel reducing non-contiguous axes runs one tiled kernel per stage."""
        return sig.kind == "tile" and self._staged

    def _key(self, inputs, outputs, shape) -> tuple | None:
        """What decides a call's plan, when the call is an ordinary one (arrays of the right
        dtypes, outputs writeable and either an input or apart from all of them); None for
        anything else, which ``_launch`` then checks in full."""
        if type(inputs) is not list or len(inputs) != self._nin:
            return None
        key: list = [shape if shape is None else tuple(shape)]
        for a, dt in zip(inputs, self._in_dt):
            if type(a) is not np.ndarray or a.dtype != dt:
                return None
            key += (a.shape, a.strides)
        if outputs is not None:
            if type(outputs) is not list or len(outputs) != len(self._out_dt):
                return None
            for o, dt in zip(outputs, self._out_dt):
                if type(o) is not np.ndarray or o.dtype != dt:
                    return None
                f = o.flags
                if not f.writeable:
                    return None
                key += (o.shape, o.strides)
                for i, a in enumerate(inputs):
                    if a is o:
                        key.append(i)
                    elif not (f.owndata and a.flags.owndata) and np.may_share_memory(a, o):
                        return None     # owners never overlap; views are checked
        return tuple(key)

    def _launch(self, inputs, outputs, shape) -> tuple[Launch, list, list, list]:
        """Check a call in full and lay it out: its launch, the inputs (some copied), the
        outputs, and the arrays native code writes in their place (scratch where an
        output's strides are not whole elements)."""
        lay = self._layout(inputs, outputs, shape)
        sig, extent = lay.sig, lay.extent
        if self._split_layout(sig):
            entry = lambda *arrays: self._run_split(arrays, lay.domain)
            return (Launch(entry, extent, 0, _SPLIT, lay.fresh), lay.inputs, lay.outputs,
                    lay.scratch)
        entry = self._entry(sig) if extent else None
        work = lay.work * self._cost
        if extent and work >= REDUCE_SPLIT and emit.splits(self.kernel, sig):
            return self._split_reduction(lay, entry, work), lay.inputs, lay.outputs, \
                lay.scratch
        kept = [a for a in sig.loops if a not in self.kernel.reduce_axes]
        # a tile reduction with one kept loop splits along its contiguous axis
        least = TILE_CHUNK if sig.kind == "tile" and len(kept) == 1 else 1
        g = grain(extent, work, sig.kind == "flat", least) if extent else 0
        return Launch(entry, extent, g, lay.meta, lay.fresh), lay.inputs, lay.outputs, \
            lay.scratch

    def _split_reduction(self, lay: "_Layout", entry, work: int) -> Launch:
        """A reduction of everything split over the pool: the outermost loop cut into
        chunks of a length fixed by the call's size alone (so results do not depend on
        the thread count), each chunk's partial results written by the kernel in its
        mode 1, then folded in chunk order and finished in mode 2."""
        n = int(lay.meta[lay.sig.loops[0]])
        chunks = max(1, min(n, work // REDUCE_CHUNK, REDUCE_PARTS))
        size = -(-n // chunks)
        parts = -(-n // size)
        meta = lay.meta.copy()
        at = emit.meta_extra(self.kernel)
        meta[at:at + 3] = 1, size, parts
        meta = np.concatenate([meta, np.zeros(parts * sum(1 for s in self.kernel.stores
                                                          if s.reduce), np.int64)])
        pool.ensure(settings.num_threads)
        return Launch(_SplitReduction(entry, at), n, size if work >= WAKE_MIN else -size,
                      meta, lay.fresh)

    def _run_split(self, arrays: tuple, domain: tuple) -> None:
        """Run the stages as separate kernels: ``arrays`` are the inputs and outputs (the
        launch's head, extent, grain and meta, comes first)."""
        if self._split is None:
            self._split = [(CompiledKernel(part), extra, js)
                           for part, extra, js in split_stages(self.kernel)]
        ins, outs = list(arrays[3:3 + self._nin]), arrays[3 + self._nin:]
        for ck, extra, js in self._split:
            ck(ins + [outs[j] for j in extra], [outs[j] for j in js], shape=domain)

    def _layout(self, inputs, outputs, shape) -> "_Layout":
        k = self.kernel
        if not isinstance(inputs, (list, tuple)):
            raise KernelError(f"{k.name}: inputs must be a list of arrays, got "
                              f"{type(inputs).__name__}")
        domain = domain_of(k, inputs, shape)
        # strides are passed in elements: arrays whose strides are not whole elements
        # (fields of a structured array, say) are copied; misaligned data is fine
        inputs = [a if not any(s % a.itemsize for s in a.strides)
                  else np.array(a, order="C") for a in inputs]
        want = [k.out_shape(s, domain) for s in k.stores]
        # Elementwise outputs take the memory order of a full-shape input, as numpy's do.
        like = next((i for i, a in enumerate(inputs) if a.shape == domain
                     and not a.flags.c_contiguous), -1)
        fresh = tuple((w, -1 if s.reduce else like, dt)
                      for s, w, dt in zip(k.stores, want, self._out_dt))
        given = outputs is not None
        if not given:
            outputs = [np.empty(w, dt) if i < 0 else np.empty_like(inputs[i], dt)
                       for w, i, dt in fresh]
        else:
            outputs = self._check_outputs(outputs, want)
        # Native code writes through raw pointers: an output overlapping an input must be
        # that input exactly (an in-place elementwise update), else the input is copied.
        alias = [-1] * len(outputs)
        if given:
            for j, o in enumerate(outputs):
                for i, a in enumerate(inputs):
                    if np.may_share_memory(o, a):
                        if (not self._reduces and alias[j] < 0 and a.shape == o.shape
                                and a.strides == o.strides and a.ctypes.data == o.ctypes.data):
                            alias[j] = i
                        else:
                            inputs[i] = a.copy()
        scratch = [o if not any(s % o.itemsize for s in o.strides)
                   else np.empty(o.shape, o.dtype) for o in outputs]
        arrays = [*inputs, *scratch]
        size = math.prod(domain)
        if (not self._reduces and not self._index and all(a.shape == domain for a in inputs)
                and (all(a.flags.c_contiguous for a in arrays)
                     or all(a.flags.f_contiguous for a in arrays))):
            sig, meta, extent = _FLAT, None, size
        else:
            sig, meta = layout(k, domain, [*(element_strides(a) for a in arrays),
                                           *index_strides(k, domain)])
            outer = sig.loops[0] if sig.loops else None
            extent = meta[outer] if outer is not None and outer not in k.reduce_axes else 1
            if emit.splits(k, sig):
                meta += [0, 0, 0]       # a reduction of everything, whole (emit.split_reduction)
            meta = np.array(meta, dtype=np.int64)
        if any(a >= 0 for a in alias):
            sig = Signature(sig.kind, sig.loops, sig.unit, tuple(alias))
        if not any(o.size for o in outputs):
            extent = 0
        return _Layout(sig, extent, size, meta, fresh, domain, inputs, outputs, scratch)

    def _check_outputs(self, outputs, want) -> list[np.ndarray]:
        k = self.kernel
        if not isinstance(outputs, (list, tuple)) or len(outputs) != len(k.outputs):
            n = len(outputs) if isinstance(outputs, (list, tuple)) else type(outputs).__name__
            raise KernelError(f"{k.name}: expected {len(k.outputs)} outputs, got {n}")
        for b, o, w, dt in zip(k.outputs, outputs, want, self._out_dt):
            if not isinstance(o, np.ndarray) or o.dtype != dt or o.shape != w:
                got = f"{o.dtype}{o.shape}" if isinstance(o, np.ndarray) else type(o).__name__
                raise KernelError(f"{k.name}: output {b.name} must be a {dt}{w} array, "
                                  f"got {got}")
            if not o.flags.writeable:
                raise KernelError(f"{k.name}: output {b.name} is read-only")
        return list(outputs)
