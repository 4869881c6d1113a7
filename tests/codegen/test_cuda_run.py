"""The CUDA backend on a GPU, checked against :func:`codegen.interpret.interpret`: the whole
source corpus, every launch path of the reductions (thread / block / split + finish),
vector and scalar elementwise paths, strides, in-place and given outputs, validation,
determinism and the library's matrix product. Skipped, with the reason, where CuPy or a GPU is missing."""
from __future__ import annotations

import numpy as np
import pytest

from codegen.cuda import available, compile_kernel
from codegen.kernel import Buffer, Instr, Kernel, KernelError, Store
from codegen.interpret import interpret

OK, WHY = available()
if not OK:
    pytest.skip(f"CUDA runtime tests need CuPy and a GPU: {WHY}", allow_module_level=True)

import cupy as cp  # noqa: E402

from tests.codegen.test_cuda_source import (CORPUS, DOMAINS, assert_matches,  # noqa: E402
                                            one_op, random_inputs, reduction, sample)


def device_strided(a: np.ndarray):
    """``a`` on the device as a view with every-other-element strides, reversed on axis 0
    (``cupy.asarray`` of a strided NumPy view would be contiguous)."""
    if not a.ndim:
        return cp.asarray(a)
    big = cp.zeros(tuple(2 * d for d in a.shape), a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)][::-1]
    view[...] = cp.asarray(a)
    return view


def run(k: Kernel, ins: list[np.ndarray], **kw) -> list[np.ndarray]:
    got = compile_kernel(k)([cp.asarray(a) for a in ins], **kw)
    assert all(isinstance(g, cp.ndarray) for g in got)
    return [g.get() for g in got]


@pytest.mark.parametrize("k", CORPUS, ids=lambda k: k.name)
def test_corpus_matches_interpret(k):
    rng = np.random.default_rng(sum(map(ord, k.name)))
    domain = DOMAINS[k.ndim]
    ins = random_inputs(k, domain, rng)
    assert_matches(k, run(k, ins), interpret(k, ins), "contiguous", bool(k.reduce_axes))
    ins = random_inputs(k, domain, rng, broadcast=True)
    want = interpret(k, ins, shape=domain)
    outs = [device_strided(np.zeros_like(w)) for w in want]
    compile_kernel(k)([device_strided(a) for a in ins], outputs=outs, shape=domain)
    assert_matches(k, [o.get() for o in outs], want, "strided", bool(k.reduce_axes))


MEAN = (Instr("acc", "float32"), Instr("count", "float32"), Instr("div", "float32", (0, 1)))
# shapes and axes that reach each launch path (see codegen.cuda.run): thread, thread split,
# block, block split + finish, a full reduction, nothing kept, nothing reduced
SHAPES = [((7, 5), (1,)), ((5000, 3), (0,)), ((3, 1000), (1,)), ((2, 200_003), (1,)),
          ((1_000_003,), (0,)), ((64, 33, 50), (0, 2)), ((40, 3, 700), (0, 1)),
          ((0, 5), (1,)), ((5, 0), (1,)), ((1, 1), (0, 1))]


@pytest.mark.parametrize("shape,axes", SHAPES, ids=str)
@pytest.mark.parametrize("comb,dt", [("add", "float32"), ("add", "float64"), ("add", "int8"),
                                     ("max", "float32"), ("min", "int64"), ("mul", "int32"),
                                     ("and", "bool"), ("or", "bool")])
def test_reduction_paths(shape, axes, comb, dt):
    rng = np.random.default_rng(0)
    k = reduction(f"r_{comb}_{dt}", dt, comb, axes, len(shape))
    x = sample(dt, shape, rng, nonneg=True)  # non-negative floats: sums do not cancel
    if comb == "mul":
        x = np.where(rng.random(shape) < 0.5, -1, 1).astype(dt)  # exact at any length
    assert_matches(k, run(k, [x]), interpret(k, [x]), str(shape), reduction=True)


@pytest.mark.parametrize("shape,axes", SHAPES[:7], ids=str)
def test_mean_epilogue_and_determinism(shape, axes):
    k = reduction("mean", "float32", "add", axes, len(shape), MEAN)
    x = sample("float32", shape, np.random.default_rng(1), nonneg=True)
    first, second = run(k, [x]), run(k, [x])
    assert_matches(k, first, interpret(k, [x]), "mean", reduction=True)
    assert first[0].tobytes() == second[0].tobytes()  # no atomics: bit-identical reruns


@pytest.mark.parametrize("comb", ["max", "min"])
@pytest.mark.parametrize("shape,axes", [((3, 1000), (1,)), ((2, 200_003), (1,)),
                                        ((5000, 3), (0,)), ((1_000_003,), (0,))], ids=str)
def test_reductions_propagate_nan(comb, shape, axes):
    x = sample("float32", shape, np.random.default_rng(2))
    x.reshape(-1)[[7, x.size // 2]] = np.nan
    k = reduction(f"nan_{comb}", "float32", comb, axes, len(shape))
    got, want = run(k, [x])[0], interpret(k, [x])[0]
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    assert_matches(k, [got], [want], "nan")


def test_vector_and_scalar_paths_agree():
    k = one_op("add", "float32", 1)
    x = sample("float32", (1_000_005,), np.random.default_rng(3))
    aligned = cp.asarray(x)
    shifted = cp.asarray(x)[1:]  # 4 bytes off a 16-byte boundary: the flat kernel
    for a in (aligned, shifted):
        got = compile_kernel(k)([a, a])[0].get()
        np.testing.assert_array_equal(got, interpret(k, [a.get(), a.get()])[0])


def test_outputs_in_place_and_strided():
    k = one_op("mul", "float64", 2)
    x = cp.asarray(sample("float64", (300, 70), np.random.default_rng(4)))
    want = interpret(k, [x.get(), x.get()])[0]
    out = cp.zeros((600, 140))[::2, ::-2]
    assert compile_kernel(k)([x, x], outputs=[out])[0] is out
    np.testing.assert_array_equal(out.get(), want)
    compile_kernel(k)([x, x], outputs=[x])  # in place
    np.testing.assert_array_equal(x.get(), want)


def test_numpy_inputs_and_empty_domain():
    k = one_op("sub", "int16", 2)
    a = np.arange(12, dtype="int16").reshape(3, 4)
    got = compile_kernel(k)([a, a.T.copy().T])[0]
    assert isinstance(got, cp.ndarray) and not got.get().any()
    empty = np.zeros((0, 4), "int16")
    assert compile_kernel(k)([empty, empty])[0].shape == (0, 4)


def test_scalar_broadcast_input_takes_the_contiguous_path():
    k = one_op("max", "float32", 2)
    x = sample("float32", (64, 64), np.random.default_rng(5))
    s = np.full((1, 1), 0.5, "float32")
    np.testing.assert_array_equal(run(k, [x, s])[0], interpret(k, [x, s])[0])


def test_arguments_are_validated_like_interpret():
    k = one_op("add", "float32", 1)
    f = compile_kernel(k)
    x = cp.zeros(4, "float32")
    with pytest.raises(KernelError, match="must be a float32 array of rank 1"):
        f([x, cp.zeros(4, "float64")])
    with pytest.raises(KernelError, match="does not broadcast"):
        f([x, cp.zeros(3, "float32")])
    with pytest.raises(KernelError, match=r"must be float32\(4,\)"):
        f([x, x], outputs=[cp.zeros(5, "float32")])
    with pytest.raises(KernelError, match="must be a cupy array"):
        f([x, x], outputs=[np.zeros(4, "float32")])


def test_epilogue_load_of_empty_reduced_axis_is_refused():
    k = Kernel("lse0", (Buffer("x", "float32", 2),), (Buffer("y", "float32", 2),), 2,
               (Instr("load", "float32", (), 0),),
               (Store(0, "add", (1,), (Instr("acc", "float32"), Instr("load", "float32", (), 0),
                                       Instr("add", "float32", (0, 1)))),))
    with pytest.raises(KernelError, match="empty along the reduced axes"):
        compile_kernel(k)([cp.zeros((3, 0), "float32")])


def test_sources_are_exposed():
    f = compile_kernel(one_op("exp", "float64", 1))
    assert set(f.sources) == {"contiguous", "strided"}
    assert "exp(v0)" in f.sources["strided"]


@pytest.mark.parametrize("dt", ["float32", "float64"])
def test_library_matmul_through_cublas(dt):
    from codegen.lib.cupy import LIBRARY
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((65, 33)).astype(dt), rng.standard_normal((33, 17)).astype(dt)
    tol = 1e-5 if dt == "float32" else 1e-12
    dot = LIBRARY["dot"]
    np.testing.assert_allclose(dot(cp.asarray(a), cp.asarray(b), dtype=dt).get(), a @ b,
                               rtol=tol, atol=tol)
    out = cp.empty((65, 17), dt)
    assert dot(cp.asarray(a), cp.asarray(b), dtype=dt, out=out) is out
    np.testing.assert_allclose(out.get(), a @ b, rtol=tol, atol=tol)
