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
from codegen.cuda.emit import render, sources
from codegen.cuda.run import CudaKernel, available, compile_kernel, matmul

__all__ = ["CudaKernel", "available", "compile_kernel", "matmul", "render", "sources"]
