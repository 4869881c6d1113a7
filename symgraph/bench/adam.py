"""One Adam step over a model's parameters: ``python -m symgraph bench adam [--json]``.

Ten float32 tensors of a small CNN + MLP (5,001,330 values) take one Adam step from given
gradients, so only the update is timed: symgraph (``sg.updates.adam`` with the gradients
as inputs), a hand-written numpy step, jax.jit (optax's arithmetic, the state donated)
and PyTorch's ``torch.optim.Adam(fused=True)``, the last two when installed. The contenders
run round robin in this one process (:func:`round_robin`: after a pause that lets the
previous contender's thread pool fall asleep, a few calls back to back), and each one's
median and quartiles are printed with ratios to symgraph and to the memory floor: the
bytes an Adam step must move (read parameter, gradient and both moments, write back all
but the gradient: 28 bytes per float32 value) at the best bandwidth of large streams
(numpy's copy, symgraph's threaded copy and in-place update) measured in the same rounds.
"""
from __future__ import annotations

import json
import math
import os
import time
import tracemalloc
from typing import Callable

import numpy as np

import symgraph as sg
from symgraph import updates

from .kernels import _has

#: (name, shape): two conv layers (out, in, kh, kw), three dense (n_in, n_out), biases
SHAPES = [("conv1.W", (32, 3, 3, 3)), ("conv1.b", (32,)), ("conv2.W", (64, 32, 3, 3)),
          ("conv2.b", (64,)), ("fc1.W", (4096, 1024)), ("fc1.b", (1024,)),
          ("fc2.W", (1024, 760)), ("fc2.b", (760,)), ("out.W", (760, 10)), ("out.b", (10,))]
QUICK_SHAPES = [(n, tuple(max(1, d // 8) for d in s)) for n, s in SHAPES]
LR, BETA1, BETA2, EPS = 1e-3, 0.9, 0.999, 1e-8
BYTES_PER_VALUE = 7 * 4
Step = Callable[[], object]


def symgraph_step(params: list[np.ndarray], grads: list[np.ndarray]):
    """``(step, function, shared params)``: the compiled update, gradients as inputs."""
    shared = [sg.shared(p, name=f"p{i}") for i, p in enumerate(params)]
    gs = [sg.tensor(f"g{i}", "float32", (None,) * g.ndim) for i, g in enumerate(grads)]
    ups = updates.adam(gs, shared, learning_rate=LR, beta1=BETA1, beta2=BETA2, epsilon=EPS)
    f = sg.function(gs, [], updates=ups, backend="llvm")
    return (lambda: f(*grads)), f, shared


def numpy_step(params: list[np.ndarray], grads: list[np.ndarray]):
    """``(step, params)``: Adam as one writes it in numpy, the state updated in place."""
    ps = [p.copy() for p in params]
    ms, vs = [np.zeros_like(p) for p in ps], [np.zeros_like(p) for p in ps]
    count = [0]

    def step():
        count[0] += 1
        t = count[0]
        a_t = np.float32(LR * math.sqrt(1 - BETA2 ** t) / (1 - BETA1 ** t))
        for p, m, v, g in zip(ps, ms, vs, grads):
            m *= BETA1
            m += (1 - BETA1) * g
            v *= BETA2
            v += (1 - BETA2) * (g * g)
            p -= a_t * m / (np.sqrt(v) + EPS)
    return step, ps


def jax_step(params: list[np.ndarray], grads: list[np.ndarray]):
    """``(step, get params)``: optax's ``scale_by_adam`` arithmetic, jitted, the
    parameters and moments donated so XLA may update them in place."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    jnp = jax.numpy

    def adam(ps, mu, nu, count, gs):
        count = count + 1
        mu = [BETA1 * m + (1 - BETA1) * g for m, g in zip(mu, gs)]
        nu = [BETA2 * n + (1 - BETA2) * (g * g) for n, g in zip(nu, gs)]
        c1, c2 = 1 - BETA1 ** count, 1 - BETA2 ** count
        ps = [p - LR * (m / c1) / (jnp.sqrt(n / c2) + EPS) for p, m, n in zip(ps, mu, nu)]
        return ps, mu, nu, count
    jitted = jax.jit(adam, donate_argnums=(0, 1, 2, 3))
    state = [([jnp.array(p) for p in params], [jnp.zeros(p.shape, p.dtype) for p in params],
              [jnp.zeros(p.shape, p.dtype) for p in params], jnp.asarray(0, jnp.int32))]
    gs = [jax.device_put(g) for g in grads]

    def step():
        state[0] = jitted(*state[0], gs)
        jax.block_until_ready(state[0])
    return step, lambda: [np.asarray(p) for p in state[0][0]]


def torch_step(params: list[np.ndarray], grads: list[np.ndarray]):
    """``(step, params, label)``: ``torch.optim.Adam`` fused (its foreach kernels where
    this build has no fused CPU Adam), gradients set once."""
    import torch
    ps = [torch.nn.Parameter(torch.from_numpy(p.copy())) for p in params]
    for p, g in zip(ps, grads):
        p.grad = torch.from_numpy(g)
    label = "PyTorch Adam(fused=True)"
    opt = torch.optim.Adam(ps, lr=LR, betas=(BETA1, BETA2), eps=EPS, fused=True)
    try:
        opt.step()
    except RuntimeError:
        label = "PyTorch Adam(foreach=True)"
        opt = torch.optim.Adam(ps, lr=LR, betas=(BETA1, BETA2), eps=EPS, foreach=True)
        opt.step()
    with torch.no_grad():
        for p, p0 in zip(ps, params):       # undo the probe step: all start together
            p.copy_(torch.from_numpy(p0))
    opt = type(opt)(ps, **opt.defaults)
    return opt.step, lambda: [p.detach().numpy() for p in ps], label


def stream_steps(nbytes: int) -> dict[str, Step]:
    """Streams over ``nbytes`` whose times give the memory bandwidth: numpy's copy (one
    thread; its writes to a line not yet read may cost a read as well), symgraph's copy
    kernel (every thread), and symgraph's in-place update ``x <- x + 1`` (every thread,
    reading and writing the same memory, as an Adam step does)."""
    src = np.random.default_rng(0).random(nbytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    x = sg.fvector("x")
    # maximum(x, x) survives the rewrites: a kernel reading and writing each value once
    copy = sg.function([x], sg.Out(sg.maximum(x, x), borrow=True), backend="llvm")
    state = sg.shared(src, name="stream")
    bump = sg.function([], [], updates=[(state, state + 1)], backend="llvm")
    return {"numpy copy": lambda: np.copyto(dst, src), "symgraph copy": lambda: copy(src),
            "symgraph in-place x + 1": bump}


def round_robin(steps: dict[str, Step], rounds: int, batch: int = 4,
                pause: float = 0.02) -> dict[str, list[float]]:
    """Seconds of each timed call of each step. In each round every step runs in turn:
    after ``pause`` seconds (a thread pool still spinning from the previous step's calls
    has gone to sleep by then) one untimed call wakes its threads and caches, then
    ``batch`` calls back to back are timed, as steps run in a training loop. Taking turns
    makes a change in the machine's load fall on all steps alike."""
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(rounds):
        for name, fn in steps.items():
            time.sleep(pause)
            fn()
            for _ in range(batch):
                t0 = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t0)
    return times


def diagnose(f, step: Step) -> dict:
    """What symgraph runs for the update: the nodes by kind, the kernels, and the bytes
    a step allocates (tracemalloc's peak): none when parameters and moments are written
    into their own memory."""
    kinds: dict[str, int] = {}
    for node in f.nodes:
        kind = str(node.op).split("{")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    tracemalloc.start()
    step()
    allocated = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return {"nodes": len(f.nodes), "by_kind": kinds, "kernels": kinds.get("fused", 0),
            "bytes_allocated_per_step": allocated}


def _agree(results: dict[str, list[np.ndarray]], grads: list[np.ndarray]) -> None:
    """Every contender's parameters after its first step match symgraph's. Where a
    gradient is tiny, epsilon's place decides the step (optax and PyTorch add it to the
    bias-corrected sqrt(v), Lasagne's form to sqrt(v)), so those values are not compared."""
    ref = results["symgraph"]
    for name, got in results.items():
        for i, (a, b, g) in enumerate(zip(ref, got, grads)):
            big = np.abs(g) > 1e-3
            if not np.allclose(a[big], b[big], rtol=1e-5, atol=1e-6):
                raise AssertionError(f"bench adam: {name}'s step differs from symgraph's "
                                     f"on tensor {i} by {np.abs(a - b)[big].max():.3g}")


def _contenders(params, grads):
    """``({label: step}, symgraph function)``, every contender checked after one step."""
    sg_step, f, shared = symgraph_step(params, grads)
    np_step, np_params = numpy_step(params, grads)
    steps = {"symgraph llvm (sg.updates.adam)": sg_step,
             "numpy (hand-written, in place)": np_step}
    after = {"symgraph": lambda: [s.get_value() for s in shared],
             "numpy": lambda: [p.copy() for p in np_params]}
    if _has("jax"):
        steps["jax.jit (optax math, donated state)"], after["jax"] = jax_step(params, grads)
    if _has("torch"):
        t_step, t_params, label = torch_step(params, grads)
        steps[label], after["torch"] = t_step, t_params
    for fn in steps.values():
        fn()
    _agree({k: get() for k, get in after.items()}, grads)
    return steps, f


def run(quick: bool = False, as_json: bool = False) -> dict:
    """Measure and print the table (or, with ``as_json``, one JSON object)."""
    shapes = QUICK_SHAPES if quick else SHAPES
    rounds = 2 if quick else 12
    rng = np.random.default_rng(0)
    params = [rng.standard_normal(s, dtype=np.float32) * 0.05 for _, s in shapes]
    grads = [rng.standard_normal(s, dtype=np.float32) for _, s in shapes]
    n = sum(p.size for p in params)
    steps, f = _contenders(params, grads)
    copy_bytes = 4 * (2 ** 20 if quick else 2 ** 25)
    copies = stream_steps(copy_bytes)
    load = os.getloadavg()[0]
    times = round_robin({**steps, **copies}, rounds)
    bw = {k: 2 * copy_bytes / float(np.median(times.pop(k))) for k in copies}
    floor = BYTES_PER_VALUE * n / max(bw.values())
    found = diagnose(f, next(iter(steps.values())))
    base = float(np.median(times[next(iter(steps))]))
    rows = [{"name": k, "median_s": float(np.median(t)), "p25_s": float(np.percentile(t, 25)),
             "p75_s": float(np.percentile(t, 75)), "vs_symgraph": float(np.median(t)) / base,
             "vs_floor": float(np.median(t)) / floor} for k, t in times.items()]
    result = {"tensors": [[name, list(s)] for name, s in shapes], "values": n,
              "bytes_per_step": BYTES_PER_VALUE * n, "bandwidth": bw,
              "floor_s": floor, "calls": len(times[next(iter(steps))]),
              "cores": os.cpu_count(), "threads": sg.config.num_threads,
              "load_average": [load, os.getloadavg()[0]], "rows": rows, "symgraph": found}
    if as_json:
        print(json.dumps(result, indent=1))
    else:
        _print(result)
    return result


def _print(r: dict) -> None:
    ms = 1e3
    print(f"Adam step over {len(r['tensors'])} float32 tensors, {r['values']:,} values "
          f"({r['bytes_per_step'] / 1e6:.1f} MB to move); {r['cores']} cores, symgraph "
          f"{r['threads']} threads; median of {r['calls']} calls [25%, 75%], round robin; "
          "load average {:.2f} -> {:.2f}".format(*r["load_average"]))
    print("bandwidth (read + write), measured in the same rounds: " + ", ".join(
        f"{k} {v / 1e9:.1f} GB/s" for k, v in r["bandwidth"].items()))
    print(f"  {'memory floor (bytes / best bandwidth)':<42} {r['floor_s'] * ms:8.3f} ms")
    for row in r["rows"]:
        print(f"  {row['name']:<42} {row['median_s'] * ms:8.3f} ms  [{row['p25_s'] * ms:.3f},"
              f" {row['p75_s'] * ms:.3f}]  {row['vs_symgraph']:5.2f}x symgraph  "
              f"{row['vs_floor']:5.2f}x floor")
    s = r["symgraph"]
    kinds = ", ".join(f"{v} {k}" for k, v in sorted(s["by_kind"].items()))
    print(f"symgraph's update runs {s['nodes']} nodes ({kinds}); a step allocates "
          f"{s['bytes_allocated_per_step']:,} bytes (parameters and moments are written "
          f"in place when this is far below the {r['bytes_per_step'] * 3 // 7:,} bytes "
          "they hold)")
