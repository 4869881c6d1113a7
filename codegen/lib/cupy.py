"""The library on CUDA arrays, through CuPy (cuBLAS for the products). Every entry keeps
its arrays on the device: nothing here converts a device array to numpy. Importing this
module needs CuPy."""
from __future__ import annotations

import cupy
import cupyx

from codegen.lib.array import library

LIBRARY = library(cupy, "cupy", add_at=cupyx.scatter_add)
