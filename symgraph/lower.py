"""Lowering: the optimized graph of a function becomes a :class:`codegen.program.Program`.

Each node becomes one step:
* a fused node, an elementwise op or a reduction → a **kernel** step (its kernel-IR
  ``Kernel``, compiled by the backend; the numpy backend interprets it),
* dimshuffle / reshape → a **view** step (strides only, no copy),
* everything else (dot and matmul through BLAS, indexing, ...) → a **call** of the op's
  numpy ``perform``.

Kernel outputs that stay inside the function are written into buffers allocated on the
first call and reused after; values that leave it (outputs, new values of shared variables)
get fresh arrays every call (a large one the caller has dropped is handed out again:
:class:`Recycler`). A kernel step checks each layout of its arguments once and keeps a
launcher for it (:func:`_kernel_step`).
"""
from __future__ import annotations

import math
import sys
import sysconfig
from typing import Callable, Sequence

import numpy as np

from codegen.kernel import Kernel
from codegen.program import Program, Step

from .graph import Apply, Constant, Variable
from .ops.elemwise import Elemwise, check_broadcast
from .ops.reduce import Reduce, check_nonempty
from .ops.shape import DimShuffle, Reshape
from .rewrite.fuse import Fused

KernelRunner = Callable[..., list]
_REFCOUNTS_EXACT = sys.implementation.name == "cpython" and \
    not sysconfig.get_config_var("Py_GIL_DISABLED")


def node_kernel(node: Apply) -> Kernel | None:
    """The kernel a node runs as, or None if it is not kernel work."""
    op = node.op
    if isinstance(op, Fused):
        return op.kernel
    if isinstance(op, Elemwise):
        return op.kernel(tuple(v.dtype for v in node.inputs), node.outputs[0].ndim)
    if isinstance(op, Reduce):
        x = node.inputs[0]
        return op.kernel(x.dtype, x.ndim)
    return None


def example_inputs(node: Apply, kernel: Kernel) -> list[np.ndarray]:
    """Small inputs laid out as the node's real ones will be (size 1 exactly on the axes
    that broadcast), so a backend can compile the loop nests calls will need up front,
    in one batch, instead of one at a time on the first call."""
    op = node.op
    if isinstance(op, Fused):
        bcast = op.in_bcast
    else:
        bcast = [tuple(a for a, b in enumerate(v.type.broadcastable) if b)
                 for v in node.inputs]
    return [np.zeros([1 if ax in b else 2 for ax in range(kernel.ndim)], buf.dtype)
            for b, buf in zip(bcast, kernel.inputs)]


def _prepare(node: Apply, kernel: Kernel) -> tuple[Callable, tuple[tuple[int, ...], ...]]:
    """``prepare(args) -> (views, domain)``: a node's arguments as its kernel's inputs
    (checked: shapes that do not broadcast, empty max/min, raise), and which domain axes
    each kernel output drops from its keepdims shape."""
    op = node.op
    if isinstance(op, Fused):
        def prepare(args):
            views, domain = op.domain_views(args)
            op.check_domain(domain)
            return views, domain
        return prepare, op.out_drop
    if isinstance(op, Elemwise):
        def prepare(args):
            shapes = [a.shape for a in args]
            # equal shapes cannot broadcast wrongly: skip the check on the common path
            domain = shapes[0] if shapes.count(shapes[0]) == len(shapes) else \
                check_broadcast(node, shapes)
            return list(args), domain
        return prepare, ((),)

    def prepare(args):
        check_nonempty(op, args[0].shape)
        return list(args), args[0].shape
    return prepare, (() if op.keepdims else op.axes,)


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


def _kernel_step(node: Apply, kernel: Kernel, run, reuse: bool, empty=np.empty) -> Callable:
    """A step function running ``node``'s kernel with ``run(inputs, outputs, shape)``;
    ``empty`` allocates the buffers reused across calls (numpy's, or the device's).

    A backend whose runner can ``bind`` a checked call layout (:mod:`codegen.llvm`) gets
    each layout (argument shapes and strides) checked once; later calls with it go
    straight to the native entry with the arguments as they come."""
    prepare, drops = _prepare(node, kernel)
    bind = getattr(run, "bind", None)
    fast: dict[tuple, Callable] = {}
    reused: dict[tuple, tuple[list, list]] = {}     # keepdims buffers, node-shaped views
    recyclers = [Recycler() for _ in kernel.outputs]
    dtypes = [np.dtype(b.dtype) for b in kernel.outputs]

    def finish(outs):
        return [o if not drop else o.reshape([d for a, d in enumerate(o.shape) if a not in drop])
                for o, drop in zip(outs, drops)]

    def buffers(domain):
        shapes = tuple(kernel.out_shape(s, domain) for s in kernel.stores)
        if shapes not in reused:
            reused.clear()
            fast.clear()
            bufs = [empty(sh, dt) for sh, dt in zip(shapes, dtypes)]
            reused[shapes] = bufs, finish(bufs)
        return reused[shapes]

    def slow(args):
        views, domain = prepare(args)
        bufs, views_out = buffers(domain) if reuse else (None, None)
        launch = bind(views, bufs, domain) if bind is not None else None
        if launch is None:        # checked on every call
            return finish(run(views, bufs, domain))
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
    exec(src, env)
    return env["step"]


def _launcher(launch, bufs, views_out, drops, recyclers) -> Callable:
    """``run(args) -> outputs`` for one bound layout: into the reused buffers, or into
    fresh arrays shaped as the node's outputs (the entry reads only data pointers)."""
    entry, extent, grain, meta = launch.entry, launch.extent, launch.grain, launch.meta
    if bufs is not None:
        if not extent:
            return lambda args: views_out

        def run_reused(args):
            entry(extent, grain, meta, *args, *bufs)
            return views_out
        return run_reused
    shapes = [tuple(d for a, d in enumerate(shp) if a not in drop)
              for (shp, _, _), drop in zip(launch.fresh, drops)]
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


def _view_step(node: Apply) -> Callable:
    perform = node.op.perform
    return lambda *args: perform(node, list(args))


def _call_step(node: Apply) -> Callable:
    perform, out_types = node.op.perform, [o.type for o in node.outputs]

    def step(*args):
        outs = perform(node, list(args))
        for o, t in zip(outs, out_types):
            if o.dtype.name != t.dtype or not t.accepts_shape(o.shape):
                raise TypeError(f"{node.op} produced {o.dtype}{o.shape}, its type says {t}")
        return outs
    return step


def lower(nodes: Sequence[Apply], inputs: Sequence[Variable], outputs: Sequence[Variable],
          compile_kernels: Callable[..., list[KernelRunner]] | None,
          empty: Callable = np.empty) -> Program:
    """The program computing ``outputs`` from ``inputs`` by running ``nodes`` in order.

    ``compile_kernels(kernels, examples)`` turns the kernels into runners called as
    ``run(inputs, outputs, shape)`` (all at once, so a backend can build one module);
    None means the reference backend: each node runs its numpy ``perform``.
    """
    slots: dict[int, int] = {}

    def slot(v: Variable) -> int:
        return slots.setdefault(id(v), len(slots))

    in_slots = tuple(slot(v) for v in inputs)
    constants: dict[int, np.ndarray] = {}
    for v in (*outputs, *(i for n in nodes for i in n.inputs)):
        if isinstance(v, Constant) and id(v) not in slots:
            constants[slot(v)] = v.data
    escaping = {id(v) for v in outputs}

    kernels = [node_kernel(n) if compile_kernels else None for n in nodes]
    todo = [(k, [example_inputs(n, k)]) for n, k in zip(nodes, kernels) if k is not None]
    runners = iter(compile_kernels(*map(list, zip(*todo))) if todo else [])
    steps = []
    stateful = False
    for node, kernel in zip(nodes, kernels):
        ins = tuple(slot(v) for v in node.inputs)
        outs = tuple(slot(v) for v in node.outputs)
        if kernel is not None:
            reuse = not any(id(o) in escaping for o in node.outputs)
            stateful |= reuse
            fn, kind = _kernel_step(node, kernel, next(runners), reuse, empty), "kernel"
        elif isinstance(node.op, (DimShuffle, Reshape)):
            fn, kind = _view_step(node), "view"
        else:
            fn, kind = _call_step(node), "call"
        steps.append(Step(kind, fn, ins, outs, str(node.op), node, kernel))
    return Program(len(slots), in_slots, tuple(slot(v) for v in outputs), steps, constants,
                   stateful)


def fresh_outputs(program: Program) -> list[bool]:
    """Per program output: whether its value is always an array no one else holds (a
    kernel's output made for the call, listed once and not an input), which a function
    hands out without copying."""
    made = {o for s in program.steps if s.kind == "kernel" for o in s.outputs}
    outs = list(program.outputs)
    return [slot in made and outs.count(slot) == 1 and slot not in program.inputs
            for slot in outs]


def backend_compiler(backend: str) -> Callable[..., list[KernelRunner]] | None:
    """How a backend compiles a function's kernels, given example inputs for each (None
    for the numpy reference)."""
    if backend == "numpy":
        return None
    if backend == "llvm":
        from codegen.llvm import compile_kernels

        return compile_kernels
    if backend == "cuda":
        from codegen.cuda import available, compile_kernel
        ok, why = available()
        if not ok:
            raise RuntimeError(f"backend='cuda' is not available here: {why}")

        def compile_cuda(kernels: list[Kernel], examples) -> list[KernelRunner]:
            return [lambda ins, outs, shape, ck=compile_kernel(k): ck(ins, outs, shape=shape)
                    for k in kernels]
        return compile_cuda
    raise ValueError(f"unknown backend {backend!r}")


def device_module(backend: str):
    """The array module a backend's values live in: numpy, or cupy for ``cuda``."""
    if backend == "cuda":
        import cupy
        return cupy
    return np
