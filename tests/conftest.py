"""Fixtures shared by the core tests: seeded random data of any supported dtype."""
from __future__ import annotations

import math

import numpy as np
import pytest


def random_array(rng: np.random.Generator, dtype: str, shape, lo: float = -3.0,
                 hi: float = 3.0) -> np.ndarray:
    """Values of ``dtype`` in ``[lo, hi]``: ints take the integers there that the dtype can
    hold (0 if none), bools are random."""
    if dtype == "bool":
        return rng.random(shape) < 0.5
    if np.dtype(dtype).kind in "iu":
        info = np.iinfo(dtype)
        a, b = max(math.ceil(lo), info.min), min(math.floor(hi), info.max)
        if a > b:
            a = b = min(max(0, info.min), info.max)
        return rng.integers(a, b, size=shape, endpoint=True).astype(dtype)
    return rng.uniform(lo, hi, shape).astype(dtype)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture
def rand(rng):
    """``rand(dtype, shape, lo=-3, hi=3)``: a seeded :func:`random_array`."""
    return lambda dtype, shape, lo=-3.0, hi=3.0: random_array(rng, dtype, shape, lo, hi)

