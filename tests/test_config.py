"""sg.config: settings changed at run time reach the code that uses them."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from codegen import cache
from codegen.llvm import get_num_threads, jit, pool


def test_num_threads_reaches_the_kernels():
    old = sg.config.num_threads
    try:
        sg.config.num_threads = 1
        assert get_num_threads() == 1
        with sg.config.change(num_threads=3):
            assert get_num_threads() == 3
            x = sg.fvector("x")
            v = np.ones(1 << 20, "float32")
            np.testing.assert_array_equal(sg.function([x], x * 2)(v), 2)
            assert pool.workers() == (2 if pool.AVAILABLE else 0)
        assert get_num_threads() == 1
    finally:
        sg.config.num_threads = old
    with pytest.raises(ValueError, match="num_threads must be an int >= 1"):
        sg.config.num_threads = 0


def test_cache_dir_reaches_the_object_cache(tmp_path):
    old = sg.config.cache_dir
    try:
        sg.config.cache_dir = str(tmp_path)
        assert cache.cache_dir() == tmp_path
        x = sg.dvector("x")
        sg.function([x], sg.exp(x) * 3.25 - x)      # a kernel no other test compiles
        if jit.object_cache is not None and jit.object_cache._dir is None:
            assert any((tmp_path / "llvm").iterdir())
    finally:
        sg.config.cache_dir = old
        cache.set_cache_dir(None)
