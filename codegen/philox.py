"""Counter-based random numbers as kernel-IR code: Philox-4x32-10 (Salmon et al., "Parallel
random numbers: as easy as 1, 2, 3", SC 2011) and the variates made from its bits.

Philox maps a 128-bit *counter* and a 64-bit *key* to 128 random bits with ten rounds of
multiplies, high halves and xors; nothing is carried from one element to the next, so any
element of a draw can be computed anywhere, in any order, on any backend, and comes out the
same. symgraph keys a draw on the stream's seed and numbers the counter with the element's
position, the call and the draw (:func:`bits`), so a random tensor never needs to exist in
memory: a fused kernel computes each element where it is used. The interpreter runs these
instructions like any others, so the numpy, LLVM and CUDA backends draw identical numbers.

>>> from codegen.kernel import Buffer, Builder, Kernel, Store
>>> from codegen.interpret import interpret
>>> b = Builder()
>>> zero = b.const(0, "uint32")
>>> words = philox4x32(b, (zero, zero, zero, zero), (zero, zero))
>>> k = Kernel("kat", (), tuple(Buffer(f"w{i}", "uint32", 0) for i in range(4)), 0,
...            tuple(b.body), tuple(Store(w) for w in words))
>>> [f"{int(w):08x}" for w in interpret(k, [], shape=())]
['6627e8d5', 'e169c58d', 'bc57ac4c', '9b00dbd8']
"""
from __future__ import annotations

import math
from typing import Sequence

from codegen.kernel import Builder

U32 = "uint32"
_M0, _M1 = 0xD2511F53, 0xCD9E8D57           # round multipliers
_W0, _W1 = 0x9E3779B9, 0xBB67AE85           # key schedule (golden ratio, sqrt(3) - 1)
ROUNDS = 10


def philox4x32(b: Builder, counter: Sequence[int], key: Sequence[int]) -> tuple[int, ...]:
    """The four uint32 words of Philox-4x32-10 at ``counter`` (4 uint32 values) under
    ``key`` (2 uint32 values), as values of ``b``."""
    c0, c1, c2, c3 = counter
    k0, k1 = key
    m0, m1 = b.const(_M0, U32), b.const(_M1, U32)
    for r in range(ROUNDS):
        if r:
            k0 = b.emit("add", U32, (k0, b.const(_W0, U32)))
            k1 = b.emit("add", U32, (k1, b.const(_W1, U32)))
        hi0, lo0 = b.emit("mulhi", U32, (m0, c0)), b.emit("mul", U32, (m0, c0))
        hi1, lo1 = b.emit("mulhi", U32, (m1, c2)), b.emit("mul", U32, (m1, c2))
        c0 = b.emit("xor", U32, (b.emit("xor", U32, (hi1, c1)), k0))
        c1 = lo1
        c2 = b.emit("xor", U32, (b.emit("xor", U32, (hi0, c3)), k1))
        c3 = lo0
    return c0, c1, c2, c3


def seed_words(b: Builder, key: int) -> tuple[int, int]:
    """The two uint32 key words of an int64 seed value ``key`` (its low and high halves)."""
    hi = b.emit("floordiv", "int64", (key, b.const(1 << 32, "int64")))
    return b.cast(key, U32), b.cast(hi, U32)


def bits(b: Builder, axes: tuple[int, ...], seed: Sequence[int], call: int,
         stream: int) -> tuple[int, ...]:
    """128 random bits for the current element of a draw: the counter is (the element's
    position among the domain ``axes`` as two words, the ``call`` number, ``stream``: the
    draw's number and its block), the key the two ``seed`` words (all uint32 values but
    ``call``, any integer, and ``stream``, a Python int)."""
    pos = b.emit("index", "int64", (), axes)
    lo = b.cast(pos, U32)
    hi = b.cast(b.emit("floordiv", "int64", (pos, b.const(1 << 32, "int64"))), U32)
    return philox4x32(b, (lo, hi, b.cast(call, U32), b.const(stream & 0xFFFFFFFF, U32)),
                      tuple(b.cast(s, U32) for s in seed))


def unit_interval(b: Builder, words: Sequence[int], dtype: str) -> int:
    """A uniform number in [0, 1) of ``dtype`` from random words: the top 24 bits of one
    word (float32) or 53 bits of two (float64), scaled exactly, so every value is a
    multiple of 2**-24 (2**-53) and 1 is never reached."""
    def top(w: int, n: int) -> int:          # the word's top n bits, as a float
        return b.cast(b.emit("floordiv", U32, (w, b.const(1 << (32 - n), U32))), dtype)
    if dtype == "float32":
        return b.emit("mul", dtype, (top(words[0], 24), b.const(2.0 ** -24, dtype)))
    hi = b.emit("mul", dtype, (top(words[0], 27), b.const(2.0 ** 26, dtype)))
    return b.emit("mul", dtype, (b.emit("add", dtype, (hi, top(words[1], 26))),
                                 b.const(2.0 ** -53, dtype)))


def standard_normal(b: Builder, words: Sequence[int], dtype: str) -> int:
    """A standard normal number from four random words (Box-Muller, the cosine branch):
    ``sqrt(-2 log(1 - u1)) cos(2 pi u2)``; ``1 - u1`` is in (0, 1], so the log is finite
    and the largest magnitude is sqrt(2 ln 2**53) = 8.57 (float64), 5.77 (float32)."""
    u1 = unit_interval(b, words[:2], dtype)
    u2 = unit_interval(b, words[2:], dtype)
    one = b.const(1.0, dtype)
    r = b.emit("sqrt", dtype, (b.emit("mul", dtype, (
        b.const(-2.0, dtype), b.emit("log", dtype, (b.emit("sub", dtype, (one, u1)),)))),))
    theta = b.emit("mul", dtype, (u2, b.const(2 * math.pi, dtype)))
    return b.emit("mul", dtype, (r, b.emit("cos", dtype, (theta,))))
