"""Kernel sources of whole functions: available on any machine, for every backend, and the
CUDA ones compile with ``nvcc --ptx -arch=sm_90`` (so CI catches CUDA syntax and type
errors without a GPU)."""
from __future__ import annotations

import os
import tempfile

import numpy as np
import pytest

import symgraph as sg
from tests.codegen.test_cuda_source import _nvcc, needs_nvcc


def _mlp_step():
    x, y = sg.fmatrix("x"), sg.lvector("y")
    w1 = sg.shared(np.zeros((784, 64), "float32"), name="w1")
    b1 = sg.shared(np.zeros(64, "float32"), name="b1")
    w2 = sg.shared(np.zeros((64, 10), "float32"), name="w2")
    h = sg.tanh(sg.dot(x, w1) + b1)
    cost = sg.categorical_crossentropy(sg.softmax(sg.dot(h, w2)), y).mean()
    params = [w1, b1, w2]
    return dict(inputs=[x, y], outputs=cost,
                updates=[(p, p - 0.1 * g) for p, g in zip(params, sg.grad(cost, params))])


def _corpus():
    """Functions whose kernels cover elementwise work over all dtypes, broadcasting,
    reductions with epilogues, softmax, and a training step with its gradients."""
    out = []
    x, y = sg.fvector("x"), sg.fvector("y")
    out.append(dict(inputs=[x, y], outputs=sg.exp(-x * x) * sg.sin(y) + sg.tanh(x * y)))
    out.append(dict(inputs=[x, y], outputs=((x - y) ** 2).sum()))
    m, r = sg.dmatrix("m"), sg.drow("r")
    out.append(dict(inputs=[m, r], outputs=[sg.softmax(m + r), sg.log_softmax(m),
                                           sg.logsumexp(m, axis=0), m.mean(axis=1),
                                           m.var(axis=0), m.max(axis=1), m.argmax(axis=1)]))
    for dt in ("int8", "int16", "int32", "int64", "uint8"):
        a, b = sg.tensor("a", dt, (None, None)), sg.tensor("b", dt, (1, None))
        out.append(dict(inputs=[a, b], outputs=[a // (b + 1) + a % 3, (a > b) & (a < 7),
                                               sg.maximum(a, b).sum(axis=0), abs(a - b),
                                               (a * b).prod(axis=1), a.astype("float32") / 3]))
    bm = sg.tensor("bm", "bool", (None,))
    out.append(dict(inputs=[bm], outputs=[bm.any(), bm.all(), ~bm ^ bm]))
    out.append(_mlp_step())
    return out


@pytest.mark.parametrize("backend, marker", [("cuda", "__global__"), ("llvm", "define"),
                                             ("numpy", "kernel ")])
def test_sources_for_every_backend_without_running_anything(backend, marker):
    src = sg.kernel_sources(**_mlp_step(), backend=backend)
    assert len(src) >= 5, sorted(src)
    assert all(marker in text for text in src.values())
    x = sg.fvector("x")
    f = sg.function([x], sg.exp(x) * 2, backend="numpy")
    assert list(f.kernel_sources) == ["fused_exp_mul"]


@needs_nvcc
def test_every_kernel_of_the_corpus_compiles_with_nvcc():
    texts = {}   # by source: equal kernels of different functions have the same names
    for spec in _corpus():
        for name, text in sg.kernel_sources(**spec, backend="cuda").items():
            texts.setdefault(text, name)
    assert len(texts) > 30
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "corpus.cu")
        with open(path, "w") as f:
            f.write("\n".join(texts))
        r = _nvcc(path, optimize=False)
        assert r.returncode == 0, (r.stdout + r.stderr)[:6000]
