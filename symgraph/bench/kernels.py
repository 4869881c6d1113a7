"""Kernel benchmarks: fused vs unfused symgraph kernels, numpy and peers, side by side.

``python -m symgraph bench kernels`` (or just ``bench``) prints, per workload, the median
time of each contender measured in the same run, the memory-bandwidth floor measured in
that run (a large copy), and ratios. Peers (numexpr, jax) are used when installed.
Absolute times drift on a noisy machine; the ratios, measured side by side, are the result.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from typing import Callable, Sequence

import numpy as np

import symgraph as sg

Row = tuple[str, float]


def median_time(fn: Callable[[], object], repeat: int, warmup: int = 2) -> float:
    """Median wall time of ``fn()`` over ``repeat`` runs, after ``warmup`` runs."""
    return median_quartiles(fn, repeat, warmup)[0]


def median_quartiles(fn: Callable[[], object], repeat: int, warmup: int = 2
                     ) -> tuple[float, float, float]:
    """Median, first and third quartile of ``fn()``'s wall time over ``repeat`` runs,
    after ``warmup`` runs."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return (float(np.median(times)), float(np.percentile(times, 25)),
            float(np.percentile(times, 75)))


def _has(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def _jax():
    if not _has("jax"):
        return None
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    return jax


def copy_bandwidth(nbytes: int, repeat: int) -> float:
    """Bytes per second moved (read + written) by the fastest large copy we have: numpy's,
    and symgraph's own multithreaded copy kernel."""
    src = np.random.default_rng(0).random(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    t_np = median_time(lambda: np.copyto(dst, src), repeat)
    x = sg.fvector("x")
    # maximum(x, x) survives the rewrites: a kernel that reads and writes each element once
    copy = sg.function([x], sg.maximum(x, x), backend="llvm")
    t_sg = median_time(lambda: copy(src), repeat)
    return 2 * src.nbytes / min(t_np, t_sg)


def _table(title: str, rows: list[Row], base: str, floor: float | None = None) -> dict:
    print(f"\n{title}")
    if floor is not None:
        print(f"  {'memory floor (copy bandwidth)':<40} {floor * 1e3:9.3f} ms")
    ref = dict(rows)[base]
    for name, t in rows:
        extra = f"  {t / floor:5.2f}x floor" if floor else ""
        print(f"  {name:<40} {t * 1e3:9.3f} ms  {t / ref:6.2f}x {base}{extra}")
    return {"title": title, "rows": rows, "floor": floor}


def _contenders(sym_fn, np_fn, ne_expr, jax_fn, arrays, repeat) -> list[Row]:
    """Times of the fused and unfused llvm functions, numpy, numexpr and jax.jit."""
    syms = [sg.tensor(f"x{i}", a.dtype, (None,) * a.ndim) for i, a in enumerate(arrays)]
    out = sym_fn(*syms)
    fused = sg.function(syms, out, backend="llvm")
    unfused = sg.function(syms, out, backend="llvm", fusion=False)
    ref = np_fn(*arrays)
    got = fused(*arrays)
    np.testing.assert_allclose(got, ref, rtol=2e-4, atol=1e-5 * np.abs(ref).max())
    rows = [("symgraph llvm fused", median_time(lambda: fused(*arrays), repeat)),
            ("symgraph llvm unfused (fusion=False)",
             median_time(lambda: unfused(*arrays), repeat)),
            ("numpy", median_time(lambda: np_fn(*arrays), repeat))]
    if ne_expr and _has("numexpr"):
        import numexpr
        names = {f"x{i}": a for i, a in enumerate(arrays)}
        rows.append(("numexpr", median_time(lambda: numexpr.evaluate(ne_expr, names), repeat)))
    jax = _jax()
    if jax is not None and jax_fn is not None:
        jf = jax.jit(jax_fn)
        dev = [jax.device_put(a) for a in arrays]
        rows.append(("jax.jit", median_time(lambda: jf(*dev).block_until_ready(), repeat)))
    return rows


def elementwise(n: int, repeat: int, bw: float) -> dict:
    rng = np.random.default_rng(1)
    x, y = (rng.standard_normal(n, dtype=np.float32) for _ in range(2))
    jnp = _jax() and __import__("jax.numpy", fromlist=["numpy"])
    rows = _contenders(
        lambda x, y: sg.exp(-x * x) * sg.sin(y) + sg.tanh(x * y),
        lambda x, y: np.exp(-x * x) * np.sin(y) + np.tanh(x * y),
        "exp(-x0*x0)*sin(x1) + tanh(x0*x1)",
        jnp and (lambda x, y: jnp.exp(-x * x) * jnp.sin(y) + jnp.tanh(x * y)),
        [x, y], repeat)
    return _table(f"1. exp(-x*x)*sin(y) + tanh(x*y), {n:,} float32", rows,
                  "symgraph llvm fused", 3 * x.nbytes / bw)


def sum_of_squares(n: int, repeat: int, bw: float) -> dict:
    rng = np.random.default_rng(2)
    x, y = (rng.standard_normal(n, dtype=np.float32) for _ in range(2))
    jnp = _jax() and __import__("jax.numpy", fromlist=["numpy"])
    rows = _contenders(
        lambda x, y: ((x - y) ** 2).sum(), lambda x, y: ((x - y) ** 2).sum(),
        None, jnp and (lambda x, y: ((x - y) ** 2).sum()), [x, y], repeat)
    return _table(f"2. ((x - y)**2).sum(), {n:,} float32", rows, "symgraph llvm fused",
                  2 * x.nbytes / bw)


def softmax(rows_: int, cols: int, repeat: int, bw: float) -> dict:
    x = np.random.default_rng(3).standard_normal((rows_, cols), dtype=np.float32)

    def np_softmax(x):
        e = np.exp(x - x.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    jax = _jax()
    rows = _contenders(lambda x: sg.softmax(x, axis=1), np_softmax, None,
                       jax and (lambda x: jax.nn.softmax(x, axis=1)), [x], repeat)
    return _table(f"3. row softmax, {rows_}x{cols} float32", rows, "symgraph llvm fused",
                  2 * x.nbytes / bw)


def _mlp_data(batch: int, sizes=(784, 512, 10)):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[2], batch)
    w1 = (rng.standard_normal(sizes[:2]) / np.sqrt(sizes[0])).astype(np.float32)
    w2 = (rng.standard_normal(sizes[1:]) / np.sqrt(sizes[1])).astype(np.float32)
    return x, y, w1, np.zeros(sizes[1], np.float32), w2, np.zeros(sizes[2], np.float32)


MLP_SOURCE = """
import numpy as np, symgraph as sg
def build_step(w1, b1, w2, b2, lr=0.1, backend="llvm", fusion=True):
    x = sg.fmatrix("x"); y = sg.lvector("y")
    params = [sg.shared(v, name=n) for v, n in zip((w1, b1, w2, b2), "w1 b1 w2 b2".split())]
    W1, B1, W2, B2 = params
    h = sg.tanh(sg.dot(x, W1) + B1)
    cost = sg.categorical_crossentropy(sg.softmax(sg.dot(h, W2) + B2), y).mean()
    grads = sg.grad(cost, params)
    return sg.function([x, y], cost, updates=[(p, p - lr * g) for p, g in zip(params, grads)],
                       backend=backend, fusion=fusion)
"""


def _build_step_fn():
    ns: dict = {}
    exec(MLP_SOURCE, ns)
    return ns["build_step"]


def jax_mlp_step(jax):
    """The same SGD step in JAX, jitted: ``step(params, x, y) -> (new params, cost)``."""
    jnp = jax.numpy

    def loss(params, x, y):
        W1, B1, W2, B2 = params
        h = jnp.tanh(x @ W1 + B1)
        logp = jax.nn.log_softmax(h @ W2 + B2, axis=1)
        return -jnp.take_along_axis(logp, y[:, None], axis=1).mean()

    @jax.jit
    def step(params, x, y):
        c, g = jax.value_and_grad(loss)(params, x, y)
        return [p - 0.1 * gi for p, gi in zip(params, g)], c
    return step


def mlp_step(batch: int, repeat: int) -> dict:
    x, y, w1, b1, w2, b2 = _mlp_data(batch)
    build = _build_step_fn()
    fused = build(w1, b1, w2, b2)
    unfused = build(w1, b1, w2, b2, fusion=False)
    ref_fn = build(w1, b1, w2, b2, backend="numpy")
    c_ref, c_got = float(ref_fn(x, y)), float(fused(x, y))
    assert abs(c_ref - c_got) < 1e-4 * max(1.0, abs(c_ref)), (c_ref, c_got)
    P = [w1.copy(), b1.copy(), w2.copy(), b2.copy()]

    def numpy_step():
        W1, B1, W2, B2 = P
        h = np.tanh(x @ W1 + B1)
        z = h @ W2 + B2
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z)
        p /= p.sum(axis=1, keepdims=True)
        cost = -np.log(p[np.arange(batch), y]).mean()
        dz = p
        dz[np.arange(batch), y] -= 1
        dz /= batch
        dW2, dB2 = h.T @ dz, dz.sum(axis=0)
        dh = (dz @ W2.T) * (1 - h * h)
        dW1, dB1 = x.T @ dh, dh.sum(axis=0)
        for p_, g in zip(P, (dW1, dB1, dW2, dB2)):
            p_ -= np.float32(0.1) * g
        return cost

    rows = [("symgraph llvm fused", median_time(lambda: fused(x, y), repeat)),
            ("symgraph llvm unfused (fusion=False)", median_time(lambda: unfused(x, y), repeat)),
            ("numpy (hand-written step)", median_time(numpy_step, repeat))]
    jax = _jax()
    if jax is not None:
        step = jax_mlp_step(jax)
        state = {"p": [jax.device_put(v) for v in (w1, b1, w2, b2)]}
        xd, yd = jax.device_put(x), jax.device_put(y)

        def jax_step():
            state["p"], c = step(state["p"], xd, yd)
            c.block_until_ready()
        rows.append(("jax.jit", median_time(jax_step, repeat)))
    return _table(f"4. SGD step, 784-512-10 tanh MLP, softmax cross-entropy, batch {batch}, "
                  "float32", rows, "symgraph llvm fused")


def first_use_imports() -> None:
    """What the first ``sg.grad`` and ``sg.function`` import: the compiling backend
    (llvmlite and the code generator) and the rewrite passes (the compile benchmarks
    leave them out of compile time, as jax's leave out ``import jax``)."""
    import symgraph as sg
    from codegen.backend import get_backend
    get_backend(sg.config.backend)
    import symgraph.rewrite.stabilize  # noqa: F401


# imports are not compile time (jax's figure below excludes `import jax` likewise)
_COMPILE_SCRIPT = MLP_SOURCE + """
import json, sys, time
from symgraph.bench.kernels import _mlp_data, first_use_imports
first_use_imports()
data = _mlp_data(256)
t0 = time.perf_counter()
f = build_step(*data[2:])
t1 = time.perf_counter()
f(data[0], data[1])
t2 = time.perf_counter()
print(json.dumps({"compile": t1 - t0, "first_call": t2 - t1}))
"""

_JAX_COMPILE_SCRIPT = """
import json, os, time
os.environ.setdefault("JAX_PLATFORMS", "cpu")
import jax
from symgraph.bench.kernels import _mlp_data, jax_mlp_step
x, y, w1, b1, w2, b2 = _mlp_data(256)
step = jax_mlp_step(jax)
t0 = time.perf_counter()
step([w1, b1, w2, b2], x, y)[1].block_until_ready()
print(json.dumps({"compile": time.perf_counter() - t0}))
"""


def run_json(src: str, args: Sequence = (), env: dict | None = None,
             timeout: float | None = None, what: str = "a benchmark program"):
    """Run ``python -c src args`` in a fresh process, with ``env`` added to the
    environment; the JSON value its last line of output holds (None if it ran past
    ``timeout`` seconds). A failing program raises, with its error output."""
    try:
        out = subprocess.run([sys.executable, "-c", src, *map(str, args)],
                             capture_output=True, text=True,
                             env={**os.environ, **(env or {})}, timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
    if out.returncode:
        raise RuntimeError(f"bench: {what} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def compile_time() -> dict:
    """Cold (empty cache) and warm (cache filled by another process) compile of the MLP
    training function, each in a fresh process (graph building, grad, rewrites and code
    generation included; the first call's own time reported apart)."""
    with tempfile.TemporaryDirectory() as cache:
        env = {"SYMGRAPH_CACHE_DIR": cache}
        cold = run_json(_COMPILE_SCRIPT, env=env)
        warm = run_json(_COMPILE_SCRIPT, env=env)
    rows = [("symgraph cold (empty cache)", cold["compile"] + cold["first_call"]),
            ("symgraph warm (disk cache, new process)", warm["compile"] + warm["first_call"])]
    if _has("jax"):
        rows.append(("jax.jit (first call)", run_json(_JAX_COMPILE_SCRIPT)["compile"]))
    return _table("5. compile time of the MLP training function (sg.function + first call)",
                  rows, "symgraph cold (empty cache)")


def call_overhead(repeat: int) -> dict:
    v = np.ones(10, np.float32)
    x = sg.fvector("x")
    f = sg.function([x], x + 1, backend="llvm")
    n = 2000
    rows = [("symgraph llvm", median_time(lambda: [f(v) for _ in range(n)], repeat) / n),
            ("numpy", median_time(lambda: [v + 1 for _ in range(n)], repeat) / n)]
    jax = _jax()
    if jax is not None:
        jf = jax.jit(lambda a: a + 1)
        d = jax.device_put(v)
        rows.append(("jax.jit", median_time(lambda: [jf(d).block_until_ready()
                                                     for _ in range(n)], repeat) / n))
    print("\n6. call overhead of x + 1 on a 10-element float32 vector (per call)")
    for name, t in rows:
        print(f"  {name:<40} {t * 1e6:9.2f} us")
    return {"title": "6. call overhead", "rows": rows, "floor": None}


def backend_unavailable(backend: str) -> str | None:
    """Why the kernel benchmarks cannot run on ``backend`` here (None if they can)."""
    if backend == "cuda":
        from codegen.cuda import available
        ok, why = available()
        return None if ok else why
    return None


def _gpu_time(fn: Callable[[], object], repeat: int) -> float:
    """Median time of ``fn()`` on the GPU: events around each run, after warm-up."""
    import cupy
    for _ in range(3):
        fn()
    times = []
    for _ in range(repeat):
        start, stop = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
    return float(np.median(times))


def run_cuda(quick: bool = False) -> list[dict]:
    """The GPU workloads: elementwise and sum of squares at 100M float32, fused and unfused
    symgraph kernels against CuPy's own ops, ``cupy.fuse`` and jax.jit on the GPU, and the
    device-to-device copy bandwidth measured in the same run."""
    import cupy
    n, repeat = (10**6, 5) if quick else (10**8, 20)
    src = cupy.random.standard_normal(n, dtype=cupy.float32)
    dst = cupy.empty_like(src)
    bw = 2 * src.nbytes / _gpu_time(lambda: cupy.copyto(dst, src), repeat)
    print(f"symgraph GPU benchmarks on {cupy.cuda.runtime.getDeviceProperties(0)['name']}"
          f", median of {repeat}; device-to-device copy: {bw / 1e9:.0f} GB/s")
    x, y = (cupy.random.standard_normal(n, dtype=cupy.float32) for _ in range(2))
    jax = _jax_gpu()
    results = []
    workloads = [
        ("1. exp(-x*x)*sin(y) + tanh(x*y)", lambda m, a, b: m.exp(-a * a) * m.sin(b)
         + m.tanh(a * b), 3),
        ("2. ((x - y)**2).sum()", lambda m, a, b: ((a - b) ** 2).sum(), 2)]
    for title, expr, words in workloads:
        sx, sy = sg.fvector("x"), sg.fvector("y")
        fused = sg.function([sx, sy], expr(sg, sx, sy), backend="cuda")
        unfused = sg.function([sx, sy], expr(sg, sx, sy), backend="cuda", fusion=False)
        np.testing.assert_allclose(cupy.asnumpy(fused(x, y)), cupy.asnumpy(expr(cupy, x, y)),
                                   rtol=1e-3, atol=1e-3 * float(abs(expr(cupy, x, y)).max()))
        rows = [("symgraph cuda fused", _gpu_time(lambda: fused(x, y), repeat)),
                ("symgraph cuda unfused (fusion=False)",
                 _gpu_time(lambda: unfused(x, y), repeat)),
                ("cupy", _gpu_time(lambda: expr(cupy, x, y), repeat)),
                ("cupy.fuse", _gpu_time(lambda f=cupy.fuse(lambda a, b: expr(cupy, a, b)):
                                        f(x, y), repeat))]
        if jax is not None:
            jf = jax.jit(lambda a, b: expr(jax.numpy, a, b))
            jx, jy = jax.device_put(cupy.asnumpy(x)), jax.device_put(cupy.asnumpy(y))
            rows.append(("jax.jit (GPU)", median_time(lambda: jf(jx, jy).block_until_ready(),
                                                       repeat)))
        results.append(_table(f"{title}, {n:,} float32", rows, "symgraph cuda fused",
                              words * x.nbytes / bw))
    return results


def _jax_gpu():
    """jax, if it is installed and sees a GPU."""
    if not _has("jax"):
        return None
    import jax
    try:
        return jax if jax.devices("gpu") else None
    except RuntimeError:
        return None


def run(quick: bool = False, backend: str = "llvm") -> list[dict]:
    if backend == "cuda":
        return run_cuda(quick)
    n = 10**5 if quick else 10**7
    repeat = 3 if quick else 15
    threads = sg.config.num_threads
    print(f"symgraph kernel benchmarks: {os.cpu_count()} cores, {threads} threads, "
          f"median of {repeat} runs; numexpr {'yes' if _has('numexpr') else 'not installed'},"
          f" jax {'yes' if _has('jax') else 'not installed'}")
    bw = copy_bandwidth(4 * n, repeat)
    print(f"copy bandwidth (read + write): {bw / 1e9:.2f} GB/s")
    results = [elementwise(n, repeat, bw), sum_of_squares(n, repeat, bw),
               softmax(64 if quick else 4096, 1024, repeat, bw),
               mlp_step(32 if quick else 256, repeat)]
    if not quick:
        results.append(compile_time())
    results.append(call_overhead(3 if quick else 7))
    return results
