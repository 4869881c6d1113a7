"""The library on host arrays, through numpy (and its BLAS for the products).

>>> import numpy as np
>>> LIBRARY["matmul"](np.ones((2, 2, 3)), np.ones((2, 3, 1)), dtype="float64",
...                   bcast=((), ())).shape
(2, 2, 1)
"""
from __future__ import annotations

import numpy as np

from codegen.lib.array import library

LIBRARY = library(np, "numpy", add_at=np.add.at)
