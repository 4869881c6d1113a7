"""The threads of the BLAS library numpy runs matrix products with (OpenBLAS, as numpy's
wheels bundle it), so that one setting decides how many threads symgraph's work uses:
its own pool's kernels and the products it hands to numpy.

The library is found among the shared objects this process has loaded, by the names
OpenBLAS gives its thread controls (``openblas_set_num_threads``, and the
``scipy_openblas_*64_`` names of numpy's bundled build). Where there is none (another BLAS,
a platform without ``/proc``), nothing is changed. An environment that names the BLAS's
thread count (``OPENBLAS_NUM_THREADS``, ``GOTO_NUM_THREADS``, ``OMP_NUM_THREADS``) is
the user's word and is left alone.

>>> threads() is None or threads() >= 1
True
"""
from __future__ import annotations

import ctypes
import os

ENVIRONMENT = ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS")
_NAMES = ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_",
          "scipy_openblas_set_num_threads", "openblas_set_num_threads64_")
_found: tuple | None | bool = None       # (set, get), or False when there is none


def _controls() -> tuple | None:
    global _found
    if _found is None:
        _found = False
        __import__("numpy")     # the BLAS numpy loads is the one to find
        try:
            with open("/proc/self/maps") as maps:
                paths = sorted({line.split()[-1] for line in maps
                                if "openblas" in line.lower() and "/" in line})
        except OSError:
            paths = []
        for path in paths:
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for name in _NAMES:
                put = getattr(lib, name, None)
                get = getattr(lib, name.replace("set_num_threads", "get_num_threads"), None)
                if put is not None and get is not None:
                    put.argtypes, put.restype, get.restype = [ctypes.c_int], None, ctypes.c_int
                    _found = (put, get)
                    break
            if _found:
                break
    return _found or None


def set_threads(n: int) -> bool:
    """Have the BLAS run its products on ``n`` threads, unless the environment says how
    many it should; whether it was changed."""
    if any(v in os.environ for v in ENVIRONMENT):
        return False
    found = _controls()
    if found is None:
        return False
    found[0](max(1, int(n)))
    return True


def threads() -> int | None:
    """The BLAS's thread count, None where it was not found."""
    found = _controls()
    return None if found is None else int(found[1]())
