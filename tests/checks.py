"""The one way every op is checked: values against numpy on every backend, gradients
against finite differences. Op tests call these instead of writing their own loops."""
from __future__ import annotations

from typing import Callable, Sequence

import numpy as np

import symgraph as sg

def _cuda_available() -> bool:
    from codegen.cuda import available
    return available()[0]


#: backends every op test runs on: cuda joins where CuPy and a GPU are present
BACKENDS = ["numpy", "llvm", *(["cuda"] if _cuda_available() else [])]


def to_host(a):
    """A function's result as a numpy array (CUDA functions return CuPy arrays)."""
    return a.get() if type(a).__module__.startswith("cupy") else a


def sym_like(a: np.ndarray, name: str, static: bool = False) -> sg.TensorVariable:
    """A symbolic input of ``a``'s dtype and rank; size-1 axes are declared broadcastable
    (and every size is declared when ``static``)."""
    shape = a.shape if static else tuple(1 if d == 1 else None for d in a.shape)
    return sg.tensor(name, a.dtype, shape)


def numpy_set(x: np.ndarray, idx, y) -> np.ndarray:
    """numpy's ``x[idx] = y`` on a copy: the reference of ``set_subtensor``."""
    out = x.copy()
    out[idx] = y
    return out


def numpy_add_at(x: np.ndarray, idx, y) -> np.ndarray:
    """``np.add.at(x, idx, y)`` on a copy (repeated indices add up): the reference of
    ``inc_subtensor``."""
    out = x.copy()
    np.add.at(out, idx, y)
    return out


def check_values(sym_fn: Callable, np_fn: Callable, inputs: Sequence[np.ndarray],
                 backends: Sequence[str] | None = None, rtol: float | None = None,
                 atol: float = 0.0, static: bool = False) -> None:
    """``sym_fn`` on symbolic inputs, compiled and run on each backend, equals ``np_fn``
    on the arrays: same dtype, same shape, same values (NaN where numpy has NaN)."""
    syms = [sym_like(a, f"x{i}", static) for i, a in enumerate(inputs)]
    out = sym_fn(*syms)
    with np.errstate(all="ignore"):
        want = np.asarray(np_fn(*inputs))
    for backend in backends or BACKENDS:
        f = sg.function(syms, out, backend=backend)
        first = to_host(f(*inputs))
        got = to_host(f(*inputs))      # a second call runs the plan the first one checked
        np.testing.assert_array_equal(first, got, err_msg=f"backend {backend}: 2nd call")
        assert isinstance(got, np.ndarray), f"{backend}: got {type(got)}"
        assert got.dtype == want.dtype, f"{backend}: dtype {got.dtype}, numpy {want.dtype}"
        assert got.shape == want.shape, f"{backend}: shape {got.shape}, numpy {want.shape}"
        tol = rtol if rtol is not None else (
            1e-5 if want.dtype == np.float32 else 1e-12 if want.dtype == np.float64 else 0)
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got, want, rtol=tol, atol=atol, equal_nan=True,
                                       err_msg=f"backend {backend}")
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"backend {backend}")


def check_grad(sym_fn: Callable, inputs: Sequence[np.ndarray],
               backends: Sequence[str] | None = None, **kw) -> None:
    """``sg.verify_grad`` of ``sym_fn`` at ``inputs`` on each backend."""
    for backend in backends or BACKENDS:
        sg.verify_grad(sym_fn, [np.asarray(a, dtype="float64") for a in inputs],
                       backend=backend, **kw)


def non_contiguous(a: np.ndarray) -> np.ndarray:
    """The same values as ``a`` in a strided (every other element) view."""
    big = np.empty(tuple(2 * d for d in a.shape), a.dtype)
    view = big[(*(slice(None, None, 2) for _ in a.shape), Ellipsis)]
    view[...] = a
    return view
