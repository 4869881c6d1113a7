"""Compile rendered kernels with NVRTC through CuPy and launch them.

Each variant's source is compiled once per process into a ``cupy.RawModule`` (kept in
memory here; CuPy keeps the compiled binaries in its own on-disk cache, by default
``~/.cupy/kernel_cache``). A call validates its arguments exactly as
:func:`codegen.interpret.interpret` does, picks the variant and entry point from the arrays'
layout and the shape, and launches on CuPy's current stream without synchronizing.

Launch choices (all deterministic for a given shape and device, so results are too):

* elementwise: ``contiguous`` when every input is C-contiguous or a single element and every
  output C-contiguous; then ``vec`` if every pointer is aligned to its 16-byte vector,
  else ``flat``. Otherwise ``strided``.
* reductions: when the innermost non-trivial axis is reduced and more than 32 elements are
  reduced per output, ``block`` (block per output; outputs too few to fill the GPU split
  their elements over several blocks, then ``finish``); otherwise ``thread`` (thread per
  output, coalesced along the kept innermost axis, likewise split when outputs are few).

Outputs may be exactly the inputs of an elementwise-only kernel (in-place); any other
overlap between outputs and inputs is a race.
"""
from __future__ import annotations

import functools
import math
from typing import Any, Sequence

import numpy as np

from codegen.cuda import emit
from codegen.kernel import Kernel, KernelError, domain_of, element_strides, split_stages

_INSTALL = "pip install cupy-cuda13x (cupy-cuda12x for a CUDA 12 driver)"
_THREADS = 256
# no fused multiply-adds: every product rounds as numpy's (and the CPU's) does, so a value
# computed in two launches (the stages of a softmax) is the same in both
_NVRTC_OPTIONS = ("--std=c++17", "--fmad=false")
_MODULES: dict[tuple[str, str, bool], Any] = {}


@functools.lru_cache(maxsize=None)
def available() -> tuple[bool, str]:
    """Whether CuPy imports and sees a CUDA device, and why not.

    >>> ok, why = available()
    >>> isinstance(ok, bool) and isinstance(why, str)
    True
    """
    try:
        import cupy
    except Exception as e:  # ImportError, or a CUDA library failing to load at import
        return False, f"cupy is not importable ({e}); install it with: {_INSTALL}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, or a driver too old for this CuPy
        return False, f"cupy {cupy.__version__} finds no usable CUDA device ({e})"
    if count == 0:
        return False, f"cupy {cupy.__version__} finds no CUDA device"
    return True, f"cupy {cupy.__version__}, {count} CUDA device(s)"


def _cupy():
    ok, why = available()
    if not ok:
        raise RuntimeError(f"the CUDA backend needs CuPy and an NVIDIA GPU: {why}")
    import cupy
    return cupy


@functools.lru_cache(maxsize=None)
def _sm_count(device: int) -> int:
    cupy = _cupy()
    return cupy.cuda.Device(device).attributes["MultiProcessorCount"]


def _module(k: Kernel, contiguous: bool):
    key = (k.key, k.name, contiguous)
    if key not in _MODULES:
        _MODULES[key] = _cupy().RawModule(code=emit.render(k, contiguous),
                                          options=_NVRTC_OPTIONS)
    return _MODULES[key]


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def is_contiguous(inputs: Sequence[Any], outputs: Sequence[Any],
                  domain: tuple[int, ...]) -> bool:
    """Whether the ``contiguous`` variant applies to these arrays."""
    return (all(a.size == 1 or (a.flags.c_contiguous and tuple(a.shape) == domain)
                for a in inputs) and all(o.flags.c_contiguous for o in outputs))


def launch_args(k: Kernel, contiguous: bool, inputs: Sequence[Any], outputs: Sequence[Any],
                parts: Sequence[Any], domain: tuple[int, ...], nsplit: int) -> list[Any]:
    """Arguments in the order of :func:`codegen.cuda.emit.params` (arrays pass as pointers)."""
    args = [*inputs, *outputs]
    bcast = np.uint32(sum(1 << j for j, a in enumerate(inputs) if a.size == 1))
    if not k.reduce_axes and contiguous:
        return args + [np.int64(math.prod(domain)), bcast]
    args += [*parts, *(np.int64(d) for d in domain)]
    if contiguous:
        args.append(bcast)
    else:
        args += [np.int64(s) for a in (*inputs, *outputs) for s in element_strides(a)]
    if k.reduce_axes:
        args.append(np.int64(nsplit))
    return args


class CudaKernel:
    """A kernel compiled for the GPU; call it like :func:`codegen.interpret.interpret`.

    Inputs are CuPy arrays (NumPy arrays are copied to the device); results are CuPy arrays,
    fresh unless ``outputs`` (CuPy arrays, any strides) are given to be written in place.

    >>> import cupy, numpy as np                       # doctest: +SKIP
    >>> from codegen.kernel import Buffer, Instr, Kernel, Store
    >>> k = Kernel("double", (Buffer("x", "float32", 1),), (Buffer("y", "float32", 1),), 1,
    ...            (Instr("load", "float32", (), 0), Instr("add", "float32", (0, 0))),
    ...            (Store(1),))
    >>> compile_kernel(k)([cupy.arange(3, dtype="float32")])[0].get().tolist()  # doctest: +SKIP
    [0.0, 2.0, 4.0]
    """

    def __init__(self, kernel: Kernel):
        self.kernel = kernel
        self._cupy = _cupy()
        self._functions: dict[tuple[bool, str], Any] = {}
        self._parts: list | None = None

    @property
    def sources(self) -> dict[str, str]:
        """The CUDA C source of every variant, by variant name."""
        return emit.sources(self.kernel)

    def __call__(self, inputs: Sequence[Any], outputs: Sequence[Any] | None = None,
                 shape: Sequence[int] | None = None) -> list[Any]:
        cp, k = self._cupy, self.kernel
        # domain_of checks NumPy arrays: hand it free zero-stride stand-ins of device arrays
        # so both backends accept and reject exactly the same calls, with the same messages
        domain = domain_of(k, [np.broadcast_to(np.empty((), a.dtype), a.shape)
                               if isinstance(a, cp.ndarray) else a for a in inputs], shape)
        ins = [self._device(a) for a in inputs]
        outs = self._outputs(outputs, domain)
        if any(k.stages):    # one launch per stage, each reading the results before it
            for part, extra, js in self._stages():
                part(ins + [outs[j] for j in extra], [outs[j] for j in js], shape=domain)
        elif k.reduce_axes:
            self._reduce(ins, outs, domain)
        elif math.prod(domain):
            self._elementwise(ins, outs, domain)
        return outs

    def _stages(self) -> list[tuple["CudaKernel", tuple[int, ...], tuple[int, ...]]]:
        if self._parts is None:
            self._parts = [(CudaKernel(part), extra, js)
                           for part, extra, js in split_stages(self.kernel)]
        return self._parts

    def _device(self, a: Any):
        """``a`` on the device, with strides that are whole elements."""
        a = self._cupy.asarray(a)
        if any(s % a.itemsize for s in a.strides):
            a = self._cupy.ascontiguousarray(a)
        return a

    def _outputs(self, outputs: Sequence[Any] | None, domain: tuple[int, ...]) -> list[Any]:
        cp, k = self._cupy, self.kernel
        shapes = [k.out_shape(s, domain) for s in k.stores]
        if outputs is None:
            return [cp.empty(sh, b.dtype) for sh, b in zip(shapes, k.outputs)]
        if len(outputs) != len(k.outputs):
            raise KernelError(f"{k.name}: expected {len(k.outputs)} outputs, "
                              f"got {len(outputs)}")
        for b, sh, o in zip(k.outputs, shapes, outputs):
            if not isinstance(o, cp.ndarray):
                raise KernelError(f"{k.name}: output {b.name} must be a cupy array, "
                                  f"got {type(o).__name__}")
            if o.shape != sh or o.dtype != np.dtype(b.dtype):
                raise KernelError(f"{k.name}: output {b.name} must be {b.dtype}{sh}, "
                                  f"got {o.dtype}{o.shape}")
            if any(s % o.itemsize for s in o.strides):
                raise KernelError(f"{k.name}: output {b.name} has strides {o.strides}, "
                                  f"not whole {b.dtype} elements")
        return list(outputs)

    def _launch(self, contiguous: bool, role: str, grid: int, block: int, args: list[Any]):
        key = (contiguous, role)
        if key not in self._functions:
            name = emit.entry_names(self.kernel, contiguous)[role]
            self._functions[key] = _module(self.kernel, contiguous).get_function(name)
        self._functions[key]((grid,), (block,), args)

    def _grid(self, work: int) -> int:
        """Blocks for a grid-stride loop over ``work`` threads: enough to fill the GPU."""
        sms = _sm_count(self._cupy.cuda.Device().id)
        return max(1, min(_cdiv(work, _THREADS), sms * 32))

    def _elementwise(self, ins: list[Any], outs: list[Any], domain: tuple[int, ...]):
        k, n = self.kernel, math.prod(domain)
        contiguous = not emit.strided_only(k) and is_contiguous(ins, outs, domain)
        args = launch_args(k, contiguous, ins, outs, (), domain, 1)
        if not contiguous:
            return self._launch(False, "strided", self._grid(n), _THREADS, args)
        width = emit.vector_width(k)
        aligned = all(a.data.ptr % (width * a.itemsize) == 0
                      for a in (*ins, *outs) if a.size > 1)
        if aligned:
            self._launch(True, "vec", self._grid(_cdiv(n, width)), _THREADS, args)
        else:
            self._launch(True, "flat", self._grid(n), _THREADS, args)

    def _reduce(self, ins: list[Any], outs: list[Any], domain: tuple[int, ...]):
        cp, k = self._cupy, self.kernel
        raxes = k.reduce_axes
        nk = math.prod(d for a, d in enumerate(domain) if a not in raxes)
        nr = math.prod(domain[a] for a in raxes)
        if nk == 0:
            return
        if nr == 0:
            self._check_empty_epilogue_loads(ins)
        sms = _sm_count(cp.cuda.Device().id)
        inner = max((a for a, d in enumerate(domain) if d > 1), default=None)
        if inner in raxes and nr > 32:
            # block per output; split when the outputs alone would not fill the GPU
            role, block = "block", min(_THREADS, _cdiv(nr, 32) * 32)
            nsplit = max(1, min(_cdiv(sms * 8, nk), _cdiv(nr, block * 4), 1024))
            grid = min(nk * nsplit, 2**31 - 1)
        else:
            # thread per output, adjacent threads on adjacent outputs (coalesced); split
            # when outputs are too few to fill the GPU, keeping >= 32 elements per thread
            role, block = "thread", _THREADS
            nsplit = max(1, min(_cdiv(sms * 2048, nk), nr // 32, 1024))
            grid = self._grid(nk * nsplit)
        dtypes = [k.body[s.value].dtype for s in k.stores if s.reduce]
        parts = [cp.empty(nk * nsplit if nsplit > 1 else 0, dt) for dt in dtypes]
        contiguous = not emit.strided_only(k) and is_contiguous(ins, outs, domain)
        args = launch_args(k, contiguous, ins, outs, parts, domain, nsplit)
        self._launch(contiguous, role, grid, block, args)
        if nsplit > 1:
            block = min(_THREADS, _cdiv(nsplit, 32) * 32)
            self._launch(contiguous, "finish", min(nk, 2**31 - 1), block, args)

    def _check_empty_epilogue_loads(self, ins: list[Any]):
        """With nothing reduced, an epilogue load at index 0 of the reduced axes must hit a
        broadcast axis, not an empty one (native code would read out of bounds)."""
        k = self.kernel
        for s, out in zip(k.stores, k.outputs):
            for i in sorted({e.attr for e in s.epilogue if e.op == "load"}):
                if any(ins[i].shape[a] == 0 for a in s.axes):
                    raise KernelError(f"{k.name}: the epilogue of {out.name} reads input "
                                      f"{k.inputs[i].name} of shape {ins[i].shape}, empty "
                                      f"along the reduced axes {s.axes}")


def compile_kernel(kernel: Kernel) -> CudaKernel:
    """Compile ``kernel`` for the current CUDA device (lazily, per variant, on first use).

    Raises RuntimeError naming what is missing when CuPy or a GPU is not available.
    """
    return CudaKernel(kernel)
