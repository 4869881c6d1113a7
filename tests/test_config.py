"""sg.config: settings changed at run time reach the code that uses them."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

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


_BLAS = r"""
import json, symgraph as sg
from codegen import blas
before = blas.threads()
sg.config.num_threads = 1
one = blas.threads()
sg.config.num_threads = 2
print(json.dumps([before, one, blas.threads(), sg.config.num_threads]))
"""


@pytest.mark.parametrize("env", [{}, {"OPENBLAS_NUM_THREADS": "1"},
                                 {"SYMGRAPH_NUM_THREADS": "1"}])
def test_num_threads_reaches_the_blas(env):
    """Setting num_threads sets the thread count of the BLAS numpy's products run on
    (numpy's wheels bundle OpenBLAS), unless the environment names it; importing
    symgraph leaves the BLAS as it found it, SYMGRAPH_NUM_THREADS does not."""
    base = {k: v for k, v in os.environ.items() if k not in
            ("OPENBLAS_NUM_THREADS", "GOTO_NUM_THREADS", "OMP_NUM_THREADS",
             "SYMGRAPH_NUM_THREADS")}
    out = subprocess.run([sys.executable, "-c", _BLAS], capture_output=True, text=True,
                         env={**base, **env}, timeout=120)
    assert out.returncode == 0, out.stderr
    before, one, two, threads = json.loads(out.stdout.strip().splitlines()[-1])
    assert before is not None, "numpy's OpenBLAS was not found"
    if "OPENBLAS_NUM_THREADS" in env:
        assert before == one == two == 1
    else:
        assert before == (1 if env else os.cpu_count()) and (one, two) == (1, 2)
    assert threads == 2


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
    assert cache.cache_dir() == Path(old)


def _config_in(env: dict) -> subprocess.CompletedProcess:
    """``sg.config`` and codegen's settings as a new process with ``env`` sees them."""
    code = ("import json, symgraph as sg, codegen.settings as s; "
            "print(json.dumps([sg.config.cache_dir, str(s.cache_dir), "
            "sg.config.num_threads, s.num_threads]))")
    clean = {k: v for k, v in os.environ.items()
             if k not in ("SYMGRAPH_CACHE_DIR", "XDG_CACHE_HOME", "SYMGRAPH_NUM_THREADS")}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**clean, **env}, timeout=60)


def test_settings_come_from_the_environment_once(tmp_path):
    got = json.loads(_config_in({"SYMGRAPH_CACHE_DIR": str(tmp_path / "a"),
                                 "SYMGRAPH_NUM_THREADS": "3"}).stdout)
    assert got == [str(tmp_path / "a")] * 2 + [3, 3]
    got = json.loads(_config_in({"XDG_CACHE_HOME": str(tmp_path / "xdg")}).stdout)
    assert got[:2] == [str(tmp_path / "xdg" / "symgraph")] * 2
    got = json.loads(_config_in({"HOME": str(tmp_path)}).stdout)
    assert got[:2] == [str(tmp_path / ".cache" / "symgraph")] * 2


@pytest.mark.parametrize("var,value", [("SYMGRAPH_NUM_THREADS", "abc"),
                                       ("SYMGRAPH_NUM_THREADS", ""),
                                       ("SYMGRAPH_NUM_THREADS", "2.5"),
                                       ("SYMGRAPH_NUM_THREADS", "0"),
                                       ("SYMGRAPH_FLOATX", "float16"),
                                       ("SYMGRAPH_BACKEND", "tpu")])
def test_a_bad_setting_in_the_environment_warns_and_keeps_the_default(var, value):
    out = _config_in({var: value})
    assert out.returncode == 0, out.stderr
    assert f"{var}={value!r}" in out.stderr and "using the default" in out.stderr
