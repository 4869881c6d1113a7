"""Threads: symgraph's pool and the BLAS library sharing the cores. ``bench threads``.

Small training steps that mix matrix products (numpy's BLAS) with fused kernels (the
pool) are where the two could fight over the cores. Each program runs in fresh processes,
once with the environment as it is (numpy's default multi-threaded BLAS) and once with
``OPENBLAS_NUM_THREADS=1``; jax.jit runs the same step in the first one. symgraph should be
as fast with the defaults as with BLAS forced to one thread.

Programs (the Theano tutorials'): a denoising autoencoder step (784-500, tied weights,
batch 20, sigmoid, cross-entropy, SGD), a logistic-regression epoch (784-10, 83 minibatches
of 600 taken from a shared dataset by ``givens``), and a 784-512-10 MLP step at batch 20.
Then the pool's own costs: a kernel after idle (its threads asleep) against back-to-back,
and a full reduction on one thread against all; and a layer norm's forward and backward
against PyTorch eager (when installed) and jax.jit.
"""
from __future__ import annotations

import os

from .kernels import run_json

_PROGRAMS = r'''
import json, os, sys, time
import numpy as np
import symgraph as sg

def median(fn, repeat, warmup=3):
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeat):
        t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
    return float(np.median(ts)), float(np.percentile(ts, 25)), float(np.percentile(ts, 75))

rng = np.random.default_rng(0)

def dae(jax=None):
    n_in, n_hid, batch = 784, 500, 20
    x_val = rng.random((batch, n_in)).astype("float32")
    mask = (rng.random((batch, n_in)) > 0.3).astype("float32")
    w0 = (rng.uniform(-1, 1, (n_in, n_hid)) * np.sqrt(6 / (n_in + n_hid))).astype("float32")
    if jax is None:
        x, m = sg.fmatrix("x"), sg.fmatrix("mask")
        W = sg.shared(w0, name="W")
        b = sg.shared(np.zeros(n_hid, "float32"), name="b")
        bp = sg.shared(np.zeros(n_in, "float32"), name="b_prime")
        y = sg.sigmoid(sg.dot(x * m, W) + b)
        z = sg.sigmoid(sg.dot(y, W.T) + bp)
        cost = (-(x * sg.log(z) + (1 - x) * sg.log(1 - z)).sum(axis=1)).mean()
        gs = sg.grad(cost, [W, b, bp])
        f = sg.function([x, m], cost, updates=[(p, p - 0.1 * g) for p, g in zip([W, b, bp], gs)])
        return lambda: f(x_val, mask)
    jnp = jax.numpy
    def loss(p, x, m):
        W, b, bp = p
        y = jax.nn.sigmoid((x * m) @ W + b)
        z = jax.nn.sigmoid(y @ W.T + bp)
        return (-(x * jnp.log(z) + (1 - x) * jnp.log(1 - z)).sum(axis=1)).mean()
    @jax.jit
    def step(p, x, m):
        c, g = jax.value_and_grad(loss)(p, x, m)
        return [a - 0.1 * d for a, d in zip(p, g)], c
    st = {"p": [jax.device_put(w0), jax.device_put(np.zeros(n_hid, "float32")),
                jax.device_put(np.zeros(n_in, "float32"))]}
    xd, md = jax.device_put(x_val), jax.device_put(mask)
    def run():
        st["p"], c = step(st["p"], xd, md)
        c.block_until_ready()
    return run

def logreg(jax=None):
    n, batch = 50_000, 600
    data = rng.random((n, 784)).astype("float32")
    labels = rng.integers(0, 10, n)
    batches = n // batch
    if jax is None:
        X, Y = sg.shared(data, name="train_x"), sg.shared(labels, name="train_y")
        W = sg.shared(np.zeros((784, 10), "float32"), name="W")
        b = sg.shared(np.zeros(10, "float32"), name="b")
        index = sg.lscalar("index")
        x, y = sg.fmatrix("x"), sg.lvector("y")
        cost = sg.categorical_crossentropy(sg.softmax(sg.dot(x, W) + b), y).mean()
        gW, gb = sg.grad(cost, [W, b])
        f = sg.function([index], cost, updates=[(W, W - 0.13 * gW), (b, b - 0.13 * gb)],
                        givens={x: X[index * batch:(index + 1) * batch],
                                y: Y[index * batch:(index + 1) * batch]})
        return lambda: [f(i) for i in range(batches)]
    jnp = jax.numpy
    def loss(p, x, y):
        logp = jax.nn.log_softmax(x @ p[0] + p[1], axis=1)
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()
    @jax.jit
    def step(p, i):
        x = jax.lax.dynamic_slice_in_dim(X, i * batch, batch)
        y = jax.lax.dynamic_slice_in_dim(Y, i * batch, batch)
        c, g = jax.value_and_grad(loss)(p, x, y)
        return [a - 0.13 * d for a, d in zip(p, g)], c
    X, Y = jax.device_put(data), jax.device_put(labels)
    st = {"p": [jax.device_put(np.zeros((784, 10), "float32")),
                jax.device_put(np.zeros(10, "float32"))]}
    def run():
        for i in range(batches):
            st["p"], c = step(st["p"], i)
        c.block_until_ready()
    return run

def mlp(jax=None):
    from symgraph.bench.kernels import _build_step_fn, _mlp_data, jax_mlp_step
    x, y, *params = _mlp_data(20)
    if jax is None:
        f = _build_step_fn()(*params)
        return lambda: f(x, y)
    step = jax_mlp_step(jax)
    st = {"p": [jax.device_put(v) for v in params]}
    xd, yd = jax.device_put(x), jax.device_put(y)
    def run():
        st["p"], c = step(st["p"], xd, yd)
        c.block_until_ready()
    return run

name, repeat, with_jax = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
out = {"symgraph": median(globals()[name](), repeat)}
if with_jax:
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    out["jax"] = median(globals()[name](jax), repeat)
print(json.dumps(out))
'''

PROGRAMS = {"dae": "denoising autoencoder step, 784-500 tied, batch 20",
            "logreg": "logistic regression epoch, 83 batches of 600",
            "mlp": "MLP step 784-512-10, batch 20"}


def _measure(name: str, repeat: int, env: dict, with_jax: bool) -> dict:
    return run_json(_PROGRAMS, (name, repeat, int(with_jax)), env, what=f"threads {name}")


_AFTER_IDLE = r"""
import json, sys, time
import numpy as np
which, rows, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
X = np.random.default_rng(3).standard_normal((rows, 1024), dtype=np.float32)
if which == "symgraph":
    import symgraph as sg
    m = sg.fmatrix("x")
    f = sg.function([m], sg.softmax(m, axis=1))
    step = lambda: f(X)
else:
    import torch
    tx = torch.from_numpy(X)
    step = lambda: torch.softmax(tx, dim=1)
for _ in range(5):
    step()
busy, idle = [], []
for _ in range(repeat):
    t0 = time.perf_counter(); step(); busy.append(time.perf_counter() - t0)
for _ in range(repeat):
    time.sleep(0.05)
    t0 = time.perf_counter(); step(); idle.append(time.perf_counter() - t0)
print(json.dumps([float(np.median(busy)), float(np.median(idle))]))
"""


def pool_wake(quick: bool) -> None:
    """A row softmax right after another and after 50 ms idle (the threads asleep), in
    symgraph and in PyTorch (when installed), each in a process of its own."""
    from .kernels import _has
    rows, repeat = (1024 if quick else 4096), (10 if quick else 40)
    print(f"\nrow softmax {rows}x1024 float32, back-to-back and after 50 ms idle (medians)")
    for which in ("symgraph", "torch"):
        if which == "torch" and not _has("torch"):
            continue
        busy, idle = run_json(_AFTER_IDLE, (which, rows, repeat), what=f"idle {which}")
        print(f"  {which:<10} back-to-back {busy * 1e3:.3f} ms, after idle "
              f"{idle * 1e3:.3f} ms ({idle / busy:.2f}x)")


_TIMED = r"""
for _ in range(3):
    step()
ts = []
for _ in range(repeat):
    t0 = time.perf_counter(); step(); ts.append(time.perf_counter() - t0)
print(json.dumps([float(np.median(ts)), float(np.percentile(ts, 25)), float(np.percentile(ts, 75))]))
"""
"""The end of a contender's program: ``step()`` timed ``repeat`` times after three warm-up
calls, printed as JSON ``[median, 25%, 75%]`` seconds."""


def _print_contenders(title: str, found: list) -> None:
    """``found``: ``(label, [median, 25%, 75%])`` per contender, the first symgraph's."""
    print(f"\n{title} (median ms [25%, 75%])")
    for label, (med, lo, hi) in found:
        print(f"  {label:<34} {med * 1e3:8.3f} ms  [{lo * 1e3:.3f}, {hi * 1e3:.3f}]  "
              f"{found[0][1][0] / med:5.2f}x (symgraph / this)")


_SUM_OF_SQUARES = r"""
import json, sys, time
import numpy as np
which, n, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rng = np.random.default_rng(2)
A, B = rng.standard_normal(n, dtype=np.float32), rng.standard_normal(n, dtype=np.float32)
if which.startswith("symgraph"):
    import symgraph as sg
    if which == "symgraph-1":
        sg.config.num_threads = 1
    x, y = sg.fvector("x"), sg.fvector("y")
    f = sg.function([x, y], ((x - y) ** 2).sum())
    step = lambda: f(A, B)
elif which == "numba":
    from numba import njit, prange
    @njit(parallel=True, fastmath=True)
    def ss(x, y):
        s = np.float32(0)
        for i in prange(x.size):
            d = x[i] - y[i]
            s += d * d
        return s
    step = lambda: ss(A, B)
elif which == "torch.compile":
    import torch
    tf = torch.compile(lambda x, y: ((x - y) ** 2).sum())
    ta, tb = torch.from_numpy(A), torch.from_numpy(B)
    step = lambda: tf(ta, tb)
else:
    import os
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    jf = jax.jit(lambda x, y: ((x - y) ** 2).sum())
    da, db = jax.device_put(A), jax.device_put(B)
    step = lambda: jax.block_until_ready(jf(da, db))
"""


def sum_of_squares(quick: bool) -> None:
    """``((x - y)**2).sum()`` over float32 vectors, symgraph on all threads and on one,
    numba's ``prange`` and ``torch.compile`` (when installed; torch.compile only in the
    full run: it compiles for seconds) and jax.jit, each in a process of its own."""
    from .kernels import _has
    n, repeat = (10**6, 20) if quick else (10**7, 100)
    found = []
    for which, label, there in (("symgraph", "symgraph", True),
                                ("symgraph-1", "symgraph, 1 thread", True),
                                ("numba", "numba prange", _has("numba")),
                                ("torch.compile", "torch.compile", _has("torch") and not quick),
                                ("jax", "jax.jit", _has("jax"))):
        if there:
            found.append((label, run_json(_SUM_OF_SQUARES + _TIMED, (which, n, repeat),
                                          what=f"sum of squares on {which}")))
    _print_contenders(f"((x - y)**2).sum() over {n:,} float32", found)


_LAYER_NORM = r"""
import json, sys, time
import numpy as np
which, rows, repeat = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
cols = 1024
rng = np.random.default_rng(5)
X, DY = (rng.standard_normal((rows, cols), dtype=np.float32) for _ in range(2))
G, B = rng.random(cols, dtype=np.float32), np.zeros(cols, np.float32)
if which == "symgraph":
    import symgraph as sg
    x, dy, g, b = sg.fmatrix("x"), sg.fmatrix("dy"), sg.fvector("g"), sg.fvector("b")
    mu = x.mean(axis=1, keepdims=True)
    y = (x - mu) / sg.sqrt(((x - mu) ** 2).mean(axis=1, keepdims=True) + 1e-5) * g + b
    f = sg.function([x, g, b, dy], sg.grad((y * dy).sum(), [x, g, b]))
    step = lambda: f(X, G, B, DY)
elif which == "torch":
    import torch
    tx, tg, tb = (torch.from_numpy(a.copy()).requires_grad_(True) for a in (X, G, B))
    tdy = torch.from_numpy(DY)
    def step():
        out = torch.nn.functional.layer_norm(tx, (cols,), tg, tb, 1e-5)
        torch.autograd.grad(out, [tx, tg, tb], tdy)
else:
    import os
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    jnp = jax.numpy
    def ln(x, g, b, dy):
        m = x.mean(axis=1, keepdims=True)
        v = ((x - m) ** 2).mean(axis=1, keepdims=True)
        return (((x - m) / jnp.sqrt(v + 1e-5) * g + b) * dy).sum()
    jf = jax.jit(jax.grad(ln, argnums=(0, 1, 2)))
    dev = [jax.device_put(a) for a in (X, G, B, DY)]
    step = lambda: jax.block_until_ready(jf(*dev))
"""


def layer_norm(quick: bool) -> None:
    """Layer norm forward and backward (the gradients of x, gamma and beta for a given
    upstream gradient) over rows of 1024 float32, against PyTorch eager (when installed)
    and jax.jit, each in a process of its own (in one process their thread pools fight)."""
    from .kernels import _has
    rows, repeat = (512 if quick else 4096), (10 if quick else 40)
    found = []
    for which, label in (("symgraph", "symgraph"), ("torch", "PyTorch eager"),
                         ("jax", "jax.jit")):
        if which != "symgraph" and not _has(which):
            continue
        found.append((label, run_json(_LAYER_NORM + _TIMED, (which, rows, repeat),
                                      what=f"layer norm on {which}")))
    _print_contenders(f"layer norm forward + backward, {rows}x1024 float32", found)


def run(quick: bool = False) -> dict:
    """Print each program's median time (and its quartiles) under the default
    environment, with one BLAS thread, and in jax.jit; then the ratios."""
    from .kernels import _has
    jax = _has("jax")
    blas = {k: v for k, v in os.environ.items() if k.startswith(("OPENBLAS", "OMP", "MKL"))}
    print(f"threads: {os.cpu_count()} cores; BLAS environment {blas or 'not set'}; jax "
          f"{'yes' if jax else 'not installed'}. Median ms [25%, 75%], each in a new process")
    results = {}
    for name, title in PROGRAMS.items():
        repeat = (3 if name == "logreg" else 50) if quick else (15 if name == "logreg" else 300)
        default = _measure(name, repeat, {}, jax)
        one = _measure(name, repeat, {"OPENBLAS_NUM_THREADS": "1"}, False)
        rows = [("symgraph, default environment", default["symgraph"]),
                ("symgraph, OPENBLAS_NUM_THREADS=1", one["symgraph"])]
        if "jax" in default:
            rows.append(("jax.jit", default["jax"]))
        print(f"\n{title}")
        base = rows[0][1][0]
        for label, (med, lo, hi) in rows:
            print(f"  {label:<34} {med * 1e3:8.3f} ms  [{lo * 1e3:.3f}, {hi * 1e3:.3f}]  "
                  f"{base / med:5.2f}x (symgraph default / this)")
        results[name] = rows
    pool_wake(quick)
    sum_of_squares(quick)
    layer_norm(quick)
    return results
