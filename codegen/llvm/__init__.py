"""The LLVM CPU backend: kernels compiled to vectorized native code for the host.

>>> import numpy as np
>>> from codegen.kernel import Buffer, Instr, Kernel, Store
>>> k = Kernel("axpy", (Buffer("x", "float32", 1), Buffer("y", "float32", 1)),
...            (Buffer("out", "float32", 1),), 1,
...            (Instr("load", "float32", (), 0), Instr("load", "float32", (), 1),
...             Instr("const", "float32", (), 2.0), Instr("mul", "float32", (0, 2)),
...             Instr("add", "float32", (3, 1))), (Store(4),))
>>> f = compile_kernel(k)
>>> f([np.ones(3, "float32"), np.arange(3, dtype="float32")])[0].tolist()
[2.0, 3.0, 4.0]
>>> "fadd float" in f.source     # LLVM IR, before optimization
True
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from codegen.backend import Backend, Example
from codegen.kernel import Kernel
from codegen.llvm.jit import stats
from codegen.llvm.run import CompiledKernel, get_num_threads, load_kernels, set_num_threads

__all__ = ["BACKEND", "CompiledKernel", "compile_kernel", "compile_kernels", "stats",
           "set_num_threads", "get_num_threads"]


def compile_kernel(kernel: Kernel) -> CompiledKernel:
    """Compile ``kernel`` (its default, contiguous specialization now, others at first use)."""
    return compile_kernels([kernel])[0]


def compile_kernels(kernels: Sequence[Kernel],
                    examples: Sequence[Sequence[Sequence[np.ndarray]]] | None = None
                    ) -> list[CompiledKernel]:
    """Compile several kernels as ONE LLVM module, e.g. all kernels of one function: LLVM's
    per-module cost is paid once, and a warm cache serves them all from one object.

    Kernel ``i`` gets the specializations that calls like ``examples[i]``
    (:class:`codegen.backend.Example` calls, or input lists) need, so their first call
    compiles nothing; without examples, its contiguous specialization. Any other layout
    compiles at its first call.
    """
    cks = [CompiledKernel(k) for k in kernels]
    items = []
    for i, ck in enumerate(cks):
        calls = [c if isinstance(c, Example) else Example(c)
                 for c in (examples[i] if examples is not None and examples[i] else ())]
        sigs = {ck.signature(list(c.inputs), None if c.outputs is None else list(c.outputs))
                for c in calls} - {None}
        items += [(ck, sig) for sig in (sigs or {ck.default_signature}) if sig is not None]
    addrs = load_kernels([(ck.kernel, sig) for ck, sig in items])
    for (ck, sig), addr in zip(items, addrs):
        ck._entry(sig, addr)
    return cks


class LlvmBackend(Backend):
    """The CPU backend: kernels compiled to vectorized machine code for the host, library
    calls through numpy (its BLAS for the products)."""
    name = "llvm"

    def compile_kernels(self, kernels, examples=None):
        return compile_kernels(kernels, examples)

    def prepare(self) -> None:
        from codegen.llvm import pool
        pool.preload()

    def source(self, kernel: Kernel) -> str:
        return CompiledKernel(kernel).source


BACKEND = LlvmBackend()
