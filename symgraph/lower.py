"""Lowering: the optimized graph of a function becomes a :class:`codegen.program.Program`.

Each node becomes one step:
* a fused node, an elementwise op or a reduction → a **kernel** step (its kernel-IR
  ``Kernel``, compiled by the backend; the numpy backend interprets it),
* dimshuffle / reshape → a **view** step (strides only, no copy),
* everything else (dot and matmul through BLAS, indexing, ...) → a **call** of the op's
  numpy ``perform``.

Kernel outputs that stay inside the function are written into buffers allocated on the
first call and reused after; values that leave it (outputs, new values of shared variables)
get fresh arrays every call.
"""
from __future__ import annotations

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


def _kernel_step(node: Apply, run: KernelRunner, reuse: bool, empty=np.empty) -> Callable:
    """A step function running ``node``'s kernel with ``run(inputs, outputs, shape)``;
    ``empty`` allocates the reused buffers (numpy's, or the device's)."""
    op = node.op
    cache: dict[tuple, list[np.ndarray]] = {}

    def buffers(kernel: Kernel, domain: tuple) -> list[np.ndarray] | None:
        if not reuse:
            return None
        shapes = tuple(kernel.out_shape(s, domain) for s in kernel.stores)
        bufs = cache.get(shapes)
        if bufs is None:
            cache.clear()
            bufs = cache[shapes] = [empty(sh, b.dtype) for sh, b in
                                    zip(shapes, kernel.outputs)]
        return bufs

    if isinstance(op, Fused):
        kernel = op.kernel

        def step(*args):
            views, domain = op.domain_views(args)
            op.check_domain(domain)
            return op.finish(run(views, buffers(kernel, domain), domain))
        return step

    kernel = node_kernel(node)
    if isinstance(op, Elemwise):
        def step(*args):
            shapes = [a.shape for a in args]
            # equal shapes cannot broadcast wrongly: skip the check on the common path
            domain = shapes[0] if shapes.count(shapes[0]) == len(shapes) else \
                check_broadcast(node, shapes)
            return run(list(args), buffers(kernel, domain), domain)
        return step

    drop = () if op.keepdims else op.axes

    def step(x):
        check_nonempty(op, x.shape)
        (out,) = run([x], buffers(kernel, x.shape), x.shape)
        return [out.reshape([d for a, d in enumerate(out.shape) if a not in drop])
                if drop else out]
    return step


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
    for node, kernel in zip(nodes, kernels):
        ins = tuple(slot(v) for v in node.inputs)
        outs = tuple(slot(v) for v in node.outputs)
        if kernel is not None:
            reuse = not any(id(o) in escaping for o in node.outputs)
            fn, kind = _kernel_step(node, next(runners), reuse, empty), "kernel"
        elif isinstance(node.op, (DimShuffle, Reshape)):
            fn, kind = _view_step(node), "view"
        else:
            fn, kind = _call_step(node), "call"
        steps.append(Step(kind, fn, ins, outs, str(node.op), node, kernel))
    return Program(len(slots), in_slots, tuple(slot(v) for v in outputs), steps, constants)


def backend_compiler(backend: str) -> Callable[..., list[KernelRunner]] | None:
    """How a backend compiles a function's kernels, given example inputs for each (None
    for the numpy reference)."""
    if backend == "numpy":
        return None
    if backend == "llvm":
        from codegen.llvm import compile_kernels

        def compile_llvm(kernels: list[Kernel], examples) -> list[KernelRunner]:
            return [lambda ins, outs, shape, ck=ck: ck(ins, outs, shape=shape)
                    for ck in compile_kernels(kernels, examples)]
        return compile_llvm
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
