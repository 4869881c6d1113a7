"""CUDA backend: kernel IR -> CUDA C (:mod:`.emit`), compiled by NVRTC and launched through
CuPy (:mod:`.run`). Rendering works anywhere; running needs CuPy and an NVIDIA GPU.

>>> from codegen.kernel import Buffer, Instr, Kernel, Store
>>> k = Kernel("sq", (Buffer("x", "float64", 1),), (Buffer("y", "float64", 1),), 1,
...            (Instr("load", "float64", (), 0), Instr("mul", "float64", (0, 0))), (Store(1),))
>>> sorted(sources(k))
['contiguous', 'strided']
>>> "const double v1 = v0 * v0;" in render(k, contiguous=True)
True
"""
from codegen.backend import Backend
from codegen.cuda.emit import render, sources
from codegen.cuda.run import CudaKernel, available, compile_kernel
from codegen.kernel import Kernel

__all__ = ["BACKEND", "CudaKernel", "available", "compile_kernel", "render", "sources"]


class CudaBackend(Backend):
    """NVIDIA GPUs through CuPy: kernels rendered to CUDA C and compiled by NVRTC, library
    calls on CuPy arrays (cuBLAS for the products). Arrays live on the current device."""
    name = "cuda"
    host = False

    def available(self) -> tuple[bool, str]:
        return available()

    @property
    def xp(self):
        import cupy
        return cupy

    @property
    def lib(self):
        from codegen.lib.cupy import LIBRARY
        return LIBRARY

    def compile_kernels(self, kernels, examples=None):
        return [compile_kernel(k) for k in kernels]

    def is_array(self, a) -> bool:
        return type(a).__module__.startswith("cupy")

    def to_device(self, a):
        return self.xp.asarray(a)

    def to_host(self, a):
        return a.get() if self.is_array(a) else a

    def source(self, kernel: Kernel) -> str:
        return "\n".join(sources(kernel).values())


BACKEND = CudaBackend()
