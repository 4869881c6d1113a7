"""Philox-4x32-10 in the kernel IR against the published known answers and an independent
numpy implementation, and the ``index`` instruction on the reference and LLVM backends
(the CUDA renderer runs the same kernels in test_cuda_source)."""
from __future__ import annotations

import numpy as np
import pytest

from codegen import philox
from codegen.interpret import interpret
from codegen.kernel import Buffer, Builder, Instr, Kernel, KernelError, Store, index_strides
from codegen.llvm.run import CompiledKernel

# Random123's kat_vectors for philox4x32_10: counter, key, result
KAT = [((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
       ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
       ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1))]


def reference(counter: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Philox-4x32-10 in numpy uint64 arithmetic, written from the paper: rows of counters
    (n, 4) and keys (n, 2)."""
    c = counter.astype(np.uint64)
    k = key.astype(np.uint64)
    mask = np.uint64(0xFFFFFFFF)
    for r in range(10):
        if r:
            k = (k + np.array([0x9E3779B9, 0xBB67AE85], np.uint64)) & mask
        p0 = np.uint64(0xD2511F53) * c[:, 0]
        p1 = np.uint64(0xCD9E8D57) * c[:, 2]
        c = np.stack([(p1 >> np.uint64(32)) ^ c[:, 1] ^ k[:, 0], p1 & mask,
                      (p0 >> np.uint64(32)) ^ c[:, 3] ^ k[:, 1], p0 & mask], axis=1)
    return c.astype(np.uint32)


def kat_kernel(counter, key) -> Kernel:
    b = Builder()
    words = philox.philox4x32(b, [b.const(v, "uint32") for v in counter],
                              [b.const(v, "uint32") for v in key])
    return Kernel("kat", (), tuple(Buffer(f"w{i}", "uint32", 0) for i in range(4)), 0,
                  tuple(b.body), tuple(Store(w) for w in words))


@pytest.mark.parametrize("counter, key, want", KAT)
def test_known_answers(counter, key, want):
    k = kat_kernel(counter, key)
    assert [int(w) for w in interpret(k, [], shape=())] == list(want)
    assert [int(w) for w in CompiledKernel(k)([], shape=())] == list(want)
    got = reference(np.array([counter], np.uint32), np.array([key], np.uint32))[0]
    assert [int(w) for w in got] == list(want)


def draw_kernel(axes: tuple[int, ...], ndim: int, stream: int = 5) -> Kernel:
    """The four words of a draw varying along ``axes``, stored elementwise."""
    b = Builder()
    seed = [b.load(0, "int64"), b.load(1, "int64")]
    words = philox.bits(b, axes, seed, b.load(2, "int64"), stream)
    b.load(3, "float32")               # the domain's shape comes from this input
    ins = (*(Buffer(f"s{i}", "int64", ndim) for i in range(3)), Buffer("t", "float32", ndim))
    return Kernel("draw", ins, tuple(Buffer(f"w{i}", "uint32", ndim) for i in range(4)), ndim,
                  tuple(b.body), tuple(Store(w) for w in words))


def state(ndim: int, seed: int = 0x1234_5678_9ABC, call: int = 3) -> list[np.ndarray]:
    one = (1,) * ndim
    return [np.full(one, seed & 0xFFFFFFFF, np.int64), np.full(one, seed >> 32, np.int64),
            np.full(one, call, np.int64)]


def test_draw_words_are_philox_of_the_position():
    domain = (3, 4, 5)
    k = draw_kernel((0, 2), 3)
    got = interpret(k, [*state(3), np.zeros(domain, "float32")])
    pos = np.arange(3)[:, None, None] * 5 + np.arange(5)[None, None, :]
    pos = np.broadcast_to(pos, domain).reshape(-1)
    counter = np.stack([pos & 0xFFFFFFFF, pos >> 32, np.full_like(pos, 3),
                        np.full_like(pos, 5)], axis=1)
    key = np.broadcast_to(np.array([0x5678_9ABC, 0x1234], np.int64), (pos.size, 2))
    want = reference(counter, key)
    for j in range(4):
        np.testing.assert_array_equal(got[j].reshape(-1), want[:, j])


@pytest.mark.parametrize("axes, domain", [((0, 1), (7, 9)), ((1,), (7, 9)), ((0,), (7, 9)),
                                          ((0, 2), (4, 3, 70)), ((0, 1, 2), (2, 1, 5))])
def test_llvm_draws_what_the_interpreter_draws(axes, domain):
    k = draw_kernel(axes, len(domain))
    like = np.zeros(domain, "float32")
    want = interpret(k, [*state(len(domain)), like])
    ck = CompiledKernel(k)
    for t in (like, np.zeros(domain[::-1], "float32").T, like[..., ::-1]):
        for g, w in zip(ck([*state(len(domain)), t]), want):
            np.testing.assert_array_equal(g, w)


def test_a_long_draw_split_over_threads_matches():
    k = draw_kernel((0, 1), 2)
    like = np.zeros((300, 1001), "float32")      # several chunks of the thread pool
    want = interpret(k, [*state(2), like])
    for g, w in zip(CompiledKernel(k)([*state(2), like]), want):
        np.testing.assert_array_equal(g, w)


def test_index_in_a_reduction():
    b = Builder()
    pos = b.emit("index", "int64", (), (0, 1))
    b.load(0, "float64")
    for axes in ((0,), (1,), (0, 1)):
        k = Kernel("possum", (Buffer("t", "float64", 2),), (Buffer("s", "int64", 2),), 2,
                   tuple(b.body), (Store(pos, "add", axes),))
        like = np.zeros((6, 5))
        want = np.arange(30).reshape(6, 5).sum(axis=axes, keepdims=True)
        np.testing.assert_array_equal(interpret(k, [like])[0], want)
        np.testing.assert_array_equal(CompiledKernel(k)([like])[0], want)
        np.testing.assert_array_equal(CompiledKernel(k)([np.zeros((5, 6)).T])[0], want)


def test_index_strides():
    k = draw_kernel((1,), 2)
    assert index_strides(k, (4, 6)) == [[0, 1]]


def test_index_is_checked():
    bad = [Instr("index", "int32", (), (0,)), Instr("index", "int64", (), (1, 0)),
           Instr("index", "int64", (), (2,))]
    for ins in bad:
        with pytest.raises(KernelError, match="index"):
            Kernel("bad", (), (Buffer("y", ins.dtype, 2),), 2, (ins,), (Store(0),))
    with pytest.raises(KernelError, match="index"):
        Kernel("epi", (Buffer("x", "float64", 1),), (Buffer("y", "int64", 1),), 1,
               (Instr("load", "float64", (), 0),),
               (Store(0, "add", (0,), (Instr("index", "int64", (), (0,)),)),))


@pytest.mark.parametrize("dt, bits", [("float32", 24), ("float64", 53)])
def test_unit_interval_is_exact_and_below_one(dt, bits):
    b = Builder()
    words = [b.load(i, "uint32") for i in range(2)]
    u = philox.unit_interval(b, words, dt)
    k = Kernel("u", tuple(Buffer(f"w{i}", "uint32", 1) for i in range(2)),
               (Buffer("u", dt, 1),), 1, tuple(b.body), (Store(u),))
    w = [np.array([0, 0xFFFFFFFF, 0x80000000], np.uint32)] * 2
    for got in (interpret(k, w)[0], CompiledKernel(k)(w)[0]):
        # 0x80000000 in both words: the top bit of each kept part
        half = 0.5 + (2.0 ** -28 if bits == 53 else 0)
        assert got[0] == 0 and got[1] == 1 - 2.0 ** -bits and got[2] == half
