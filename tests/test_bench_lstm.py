"""``python -m symgraph bench lstm`` runs and prints every contender's row, and symgraph's
LSTM (``sg.scan``) computes the loss and the gradients of the numpy reference, whose
backpropagation through time is itself checked by finite differences. No timing is
checked (benchmarks are programs, not pass/fail tests)."""
from __future__ import annotations

import contextlib
import io
import re

import numpy as np
import pytest

from symgraph.bench import WORKLOADS, lstm

TINY = (3, 2, 4, 5)          # hidden, batch, steps, inputs
ROW = r"\s+[0-9.]+ ms \[[0-9.]+, [0-9.]+\]\s+[0-9.]+x"


@pytest.fixture(scope="module")
def quick_run() -> tuple[dict, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = lstm.run(quick=True)
    return result, out.getvalue()


def test_registered():
    assert WORKLOADS["lstm"] is lstm.run


def test_quick_run_prints_symgraph_numpy_and_compile_rows(quick_run):
    result, out = quick_run
    for name in ("symgraph llvm (sg.scan)", "numpy (BPTT by hand)"):
        assert re.search(rf"{re.escape(name)}{ROW}{ROW}", out), out
    assert re.search(r"numpy \(BPTT by hand\) vs symgraph: loss differs by \S+, gradients "
                     r"by \S+", out), out
    for label in ("symgraph cold (empty cache)", "symgraph warm (cache filled)"):
        assert re.search(rf"{re.escape(label)}\s+[0-9.]+ s", out), out
    assert re.search(r"symgraph cold: [0-9.]+ s \(target <= 0.5 s\)", out), out
    loss, grads = result["differences"]["numpy (BPTT by hand)"]
    assert loss < 1e-6 and grads < 1e-5
    for med, lo, hi in result["rows"].values():
        assert 0 < lo <= med <= hi


def test_quick_run_compares_with_jax(quick_run):
    pytest.importorskip("jax")
    result, out = quick_run
    assert re.search(rf"jax\.jit \(lax\.scan\){ROW}{ROW}", out), out
    assert re.search(r"symgraph / jax: forward [0-9.]+x, forward\+backward [0-9.]+x", out)
    assert re.search(r"jax\.jit first call\s+[0-9.]+ s", out), out
    loss, grads = result["differences"]["jax.jit (lax.scan)"]
    assert loss < 1e-6 and grads < 1e-5


def test_quick_run_compares_with_torch(quick_run):
    pytest.importorskip("torch")
    result, out = quick_run
    for name in ("PyTorch eager loop", "PyTorch nn.LSTM"):
        assert re.search(rf"{re.escape(name)}{ROW}{ROW}", out), out
        loss, grads = result["differences"][name]
        assert loss < 1e-6 and grads < 1e-5


def test_runs_without_jax_and_torch(monkeypatch):
    monkeypatch.setattr(lstm, "_has", lambda module: False)
    params, x = lstm.init(TINY)
    found = lstm.contenders(params, x)
    assert list(found) == ["symgraph llvm (sg.scan)", "numpy (BPTT by hand)"]
    assert set(lstm.differences(found)) == {"numpy (BPTT by hand)"}


def test_numpy_bptt_matches_finite_differences():
    params, x = lstm.init(TINY, "float64")
    _, grads = lstm.numpy_loss(params, x, grads=True)
    eps = 1e-6
    for p, g in zip(params, grads):
        fd = np.zeros_like(p)
        for i in np.ndindex(p.shape):
            old = p[i]
            p[i] = old + eps
            up = lstm.numpy_loss(params, x)
            p[i] = old - eps
            fd[i] = (up - lstm.numpy_loss(params, x)) / (2 * eps)
            p[i] = old
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype, rtol", [("float64", 1e-10), ("float32", 2e-5)])
def test_symgraph_lstm_matches_numpy_reference_on_llvm(dtype, rtol):
    params, x = lstm.init(TINY, dtype, seed=3)
    loss, *grads = lstm.symgraph_steps(params, x)[2]()
    ref_loss, ref_grads = lstm.numpy_loss(params, x, grads=True)
    np.testing.assert_allclose(loss, ref_loss, rtol=rtol)
    for g, r in zip(grads, ref_grads):
        assert g.dtype == dtype
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * np.abs(r).max())
