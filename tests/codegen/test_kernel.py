"""The kernel IR itself: staged kernels (``reduced`` values), their checks, the
interpreter's meaning of them, and their split into one plain kernel per stage."""
from __future__ import annotations

import numpy as np
import pytest

from codegen.kernel import Buffer, Instr, Kernel, KernelError, Store, split_stages
from codegen.interpret import interpret

F = "float32"
I = Instr


def softmax() -> Kernel:
    return Kernel("softmax", (Buffer("x", F, 2),), tuple(Buffer(n, F, 2) for n in "mse"), 2,
                  (I("load", F, (), 0), I("reduced", F, (), 0), I("sub", F, (0, 1)),
                   I("exp", F, (2,)), I("reduced", F, (), 1), I("div", F, (3, 4))),
                  (Store(0, "max", (1,)), Store(3, "add", (1,)), Store(5)))


def layernorm(ndim: int = 2, axes=(1,)) -> Kernel:
    """(x - mean) / sqrt(var + eps) * g: means as epilogues, g read in the last stage."""
    mean = (I("acc", F), I("count", F), I("div", F, (0, 1)))
    std = (*mean, I("const", F, (), 1e-5), I("add", F, (2, 3)), I("sqrt", F, (4,)))
    return Kernel("layernorm", (Buffer("x", F, ndim), Buffer("g", F, ndim)),
                  tuple(Buffer(n, F, ndim) for n in ("mean", "std", "y")), ndim,
                  (I("load", F, (), 0), I("reduced", F, (), 0), I("sub", F, (0, 1)),
                   I("mul", F, (2, 2)), I("reduced", F, (), 1), I("div", F, (2, 4)),
                   I("load", F, (), 1), I("mul", F, (5, 6))),
                  (Store(0, "add", axes, mean), Store(3, "add", axes, std), Store(7)))


def test_stages_follow_the_reduced_values_used():
    assert softmax().stages == (0, 1, 2)
    assert layernorm().stages == (0, 1, 2)
    k = Kernel("two", (Buffer("x", F, 1),), (Buffer("s", F, 1), Buffer("m", F, 1)), 1,
               (I("load", F, (), 0),), (Store(0, "add", (0,)), Store(0, "max", (0,))))
    assert k.stages == (0, 0)


def test_softmax_means_softmax():
    x = np.random.default_rng(0).standard_normal((5, 7)).astype(F)
    m, s, y = interpret(softmax(), [x])
    e = np.exp(x - x.max(axis=1, keepdims=True))
    np.testing.assert_allclose(y, e / e.sum(axis=1, keepdims=True), rtol=1e-6)
    np.testing.assert_array_equal(m, x.max(axis=1, keepdims=True))


def test_layernorm_means_layernorm():
    rng = np.random.default_rng(1)
    x, g = rng.standard_normal((4, 3, 6)).astype(F), rng.standard_normal((1, 3, 6)).astype(F)
    *_, y = interpret(layernorm(3, (1, 2)), [x, g])
    mu = x.mean(axis=(1, 2), keepdims=True)
    sd = np.sqrt(((x - mu) ** 2).mean(axis=(1, 2), keepdims=True) + 1e-5)
    np.testing.assert_allclose(y, (x - mu) / sd * g, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [softmax, layernorm])
def test_split_stages_compute_the_same(make):
    k = make()
    rng = np.random.default_rng(2)
    ins = [rng.standard_normal((5, 9)).astype(F) for _ in k.inputs]
    want = interpret(k, ins)
    outs: list = [None] * len(k.outputs)
    parts = split_stages(k)
    assert [js for _, _, js in parts] == [(0,), (1,), (2,)]
    for part, extra, js in parts:
        assert not any(part.stages)
        for j, r in zip(js, interpret(part, ins + [outs[j] for j in extra], shape=(5, 9))):
            outs[j] = r
    for got, w in zip(outs, want):
        np.testing.assert_array_equal(got, w)


@pytest.mark.parametrize("body,stores,match", [
    ((I("load", F, (), 0), I("reduced", F, (), 0), I("add", F, (0, 1))),
     (Store(2, "add", (0,)),), "depends on its own result"),
    ((I("load", F, (), 0), I("reduced", F, (), 1)), (Store(0, "add", (0,)), Store(1)),
     "index of a reduction store"),
    ((I("load", F, (), 0), I("reduced", "float64", (), 0)), (Store(0, "add", (0,)), Store(1)),
     "reduced 0 is float32, not float64"),
    ((I("load", F, (), 0), I("reduced", F, (), 5)), (Store(0, "add", (0,)), Store(1)),
     "index of a reduction store"),
])
def test_bad_reduced_values(body, stores, match):
    outs = tuple(Buffer(f"y{j}", body[s.value].dtype if not s.reduce else F, 1)
                 for j, s in enumerate(stores))
    with pytest.raises(KernelError, match=match):
        Kernel("bad", (Buffer("x", F, 1),), outs, 1, body, stores)


def test_reduced_in_an_epilogue_makes_a_later_stage():
    """logsumexp: the shift (a max) is added back to log(sum(exp(x - shift)))."""
    epi = (I("acc", F), I("log", F, (0,)), I("reduced", F, (), 0), I("add", F, (1, 2)))
    k = Kernel("lse", (Buffer("x", F, 2),), (Buffer("m", F, 2), Buffer("l", F, 2)), 2,
               (I("load", F, (), 0), I("reduced", F, (), 0), I("sub", F, (0, 1)),
                I("exp", F, (2,))), (Store(0, "max", (1,)), Store(3, "add", (1,), epi)))
    assert k.stages == (0, 1)
    x = np.random.default_rng(3).standard_normal((4, 5)).astype(F) * 30
    m = x.max(axis=1, keepdims=True)
    want = np.log(np.exp(x - m).sum(axis=1, keepdims=True)) + m
    np.testing.assert_allclose(interpret(k, [x])[1], want, rtol=1e-6)
    outs: list = [None, None]
    for part, extra, js in split_stages(k):
        for j, r in zip(js, interpret(part, [x] + [outs[e] for e in extra], shape=x.shape)):
            outs[j] = r
    np.testing.assert_array_equal(outs[1], interpret(k, [x])[1])
