"""Random draws: elementwise ops whose value at an element is Philox's at that element's
position (:mod:`codegen.philox`), so they fuse like any elementwise op and a random tensor
is never written to memory: ``x * (u > p)`` with ``u`` uniform is one kernel that reads
``x`` and writes the result.

A draw's inputs are a *template* of the draw's shape (never read: a broadcast zero, or
any variable of that shape), the stream's seed and its call counter (int64 scalars); the op
holds the distribution, the dtype, the draw's number within its stream and the axes it
varies along (those of static size 1 repeat the same numbers, as broadcasting does).
:mod:`symgraph.random` builds them; users never apply these ops directly.

>>> import symgraph as sg
>>> rng = sg.RandomStreams(seed=1)
>>> u = rng.uniform((2, 3), dtype="float64")
>>> u.owner.op
uniform{float64, draw 0}
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from codegen import philox
from codegen.kernel import Builder

from .elemwise import Elemwise, ScalarOp, apply_elemwise

DISTRIBUTIONS = ("uniform", "normal", "bernoulli", "binomial")
MAX_TRIALS = 256
"""The largest ``n`` of a binomial draw: each trial is a comparison in the kernel, and a
block of Philox words feeds four (float32) or two (float64) of them."""


def _no_grads(ins, z, g):
    return [None] * len(ins)


@dataclass(frozen=True, eq=False)
class RandomScalar(ScalarOp):
    """The scalar rule of a draw: ``dist`` of ``dtype`` (``compute`` is the float type of
    the uniforms a bernoulli/binomial compares with ``p``), the ``draw`` number in its
    stream, the ``axes`` it varies along, and ``trials`` for a binomial."""
    dist: str = "uniform"
    dtype: str = "float64"
    compute: str = "float64"
    draw: int = 0
    axes: tuple[int, ...] = ()
    trials: int = 1

    def dtypes(self, in_dtypes: Sequence[str]) -> tuple[str, str]:
        return self.compute, self.dtype

    def lower(self, b: Builder, args: Sequence[int]) -> int:
        _, key, call, *params = args
        seed, dt = philox.seed_words(b, key), self.compute

        def words(block: int) -> tuple[int, ...]:
            return philox.bits(b, self.axes, seed, call, self.draw << 8 | block)
        if self.dist == "uniform":
            return philox.unit_interval(b, words(0), dt)
        if self.dist == "normal":
            return philox.standard_normal(b, words(0), dt)
        p = b.cast(params[0], dt)
        per = 4 if dt == "float32" else 2       # uniforms per block of four words
        count = None
        for t in range(self.trials):
            w = words(t // per)[(t % per) * (4 // per):]
            hit = b.emit("lt", "bool", (philox.unit_interval(b, w, dt), p))
            if self.dist == "bernoulli":
                return b.cast(hit, self.dtype)
            one = b.cast(hit, "int64")
            count = one if count is None else b.emit("add", "int64", (count, one))
        return b.cast(count, self.dtype)

    def __str__(self) -> str:
        n = f", n={self.trials}" if self.dist == "binomial" else ""
        return f"{self.dist}{{{self.dtype}{n}, draw {self.draw}}}"

    def __reduce__(self):
        return (_scalar, (self.dist, self.dtype, self.compute, self.draw, self.axes,
                          self.trials))


def _scalar(dist: str, dtype: str, compute: str, draw: int, axes: tuple[int, ...],
            trials: int) -> RandomScalar:
    return RandomScalar(dist, 4 if dist in ("bernoulli", "binomial") else 3, "random",
                        grad=_no_grads, dist=dist, dtype=dtype, compute=compute, draw=draw,
                        axes=axes, trials=trials)


class RandomDraw(Elemwise):
    """A draw: an elementwise op that reads its element's position. Never merged with
    another draw, never folded, and never run on a reduced shape (its position there is
    not the draw's)."""
    deterministic = False
    positional = True

    def __repr__(self) -> str:
        return str(self.scalar)


def draw(dist: str, template, key, call, params: Sequence = (), *, dtype: str,
         compute: str, number: int, trials: int = 1):
    """Apply a draw of ``dist`` over ``template``'s shape (see the module)."""
    if dist not in DISTRIBUTIONS:
        raise ValueError(f"unknown distribution {dist!r}: expected one of {DISTRIBUTIONS}")
    axes = tuple(a for a, b in enumerate(template.type.broadcastable) if not b)
    op = RandomDraw(_scalar(dist, dtype, compute, number, axes, trials))
    out = apply_elemwise(op, template, key, call, *params)
    if out.type.broadcastable != template.type.broadcastable:
        raise ValueError(f"{dist}: parameters of types "
                         f"{', '.join(str(getattr(p, 'type', p)) for p in params)} "
                         f"do not broadcast to the draw's shape {template.type}")
    return out

