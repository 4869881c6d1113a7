"""Dropout where the mask is drawn inside the kernel: ``python -m symgraph bench dropout``.

Inverted dropout ``tanh(x) * (u > p) / (1 - p)`` of a 10M float32 tensor, with its producer
(``tanh``) in the same kernel: symgraph draws each ``u`` in the kernel that uses it (Philox,
nothing random written to memory), against the same with fusion off (the uniforms written
out and read back), numpy with ``np.random.rand`` (and with a ``Generator``), and jax.jit with
``jax.random.bernoulli`` (threefry; the key split outside the timed step). Medians over
the runs, with the interquartile range; the memory floor reads x and writes y once.
"""
from __future__ import annotations

import numpy as np

P = 0.5


def run(quick: bool = False) -> dict:
    import symgraph as sg
    from .kernels import _jax, copy_bandwidth, median_quartiles
    n = 100_000 if quick else 10_000_000
    repeat = 3 if quick else 15
    x_val = np.random.default_rng(0).standard_normal(n, dtype=np.float32)
    x = sg.fvector("x")
    rng = sg.RandomStreams(seed=0)
    y = sg.tanh(x) * (rng.uniform(x.shape, dtype="float32") > P) / np.float32(1 - P)
    fused = sg.function([x], y)
    unfused = sg.function([x], y, fusion=False)
    out = fused(x_val)
    kept = np.count_nonzero(out) / n
    assert abs(kept - (1 - P)) < 0.01 and np.allclose(out[out != 0], np.tanh(x_val[out != 0])
                                                      / (1 - P), rtol=1e-5)
    gen = np.random.default_rng(1)

    def timed(fn):
        return median_quartiles(fn, repeat)
    rows = [("symgraph llvm fused (mask drawn in the kernel)", timed(lambda: fused(x_val))),
            ("symgraph llvm unfused (fusion=False)", timed(lambda: unfused(x_val))),
            ("numpy, np.random.rand",
             timed(lambda: np.tanh(x_val) * (np.random.rand(n) > P) / (1 - P))),
            ("numpy, Generator.random(float32)",
             timed(lambda: np.tanh(x_val) * (gen.random(n, dtype=np.float32) > P) / (1 - P)))]
    jax = _jax()
    if jax is not None:
        jnp = jax.numpy

        @jax.jit
        def jax_dropout(key, x):
            keep = jax.random.bernoulli(key, 1 - P, x.shape)
            return jnp.where(keep, jnp.tanh(x) / (1 - P), 0)
        keys = iter(jax.random.split(jax.random.PRNGKey(0), repeat + 8))
        xd = jax.device_put(x_val)
        rows.append(("jax.jit, jax.random.bernoulli",
                     timed(lambda: jax_dropout(next(keys), xd).block_until_ready())))
    floor = 2 * x_val.nbytes / copy_bandwidth(x_val.nbytes, repeat)
    base = rows[0][1][0]
    print(f"\nDropout (p={P}) of tanh(x), {n:,} float32: median [quartiles]")
    print(f"  {'memory floor (read x, write y)':<48} {floor * 1e3:9.3f} ms")
    for name, (med, lo, hi) in rows:
        print(f"  {name:<48} {med * 1e3:9.3f} ms [{lo * 1e3:.3f}, {hi * 1e3:.3f}]"
              f"  {med / base:6.2f}x fused  {med / floor:5.2f}x floor")
    return {"n": n, "floor": floor, "rows": rows}
