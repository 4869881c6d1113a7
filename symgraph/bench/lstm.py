"""An LSTM over a sequence: ``python -m symgraph bench lstm``.

One LSTM layer (hidden 256, batch 64, 50 steps, input 128, float32; the loss is the mean
square of every hidden state) run forward, and forward and backward (the loss and its
gradient with respect to the weights, backpropagation through time), by symgraph
(``sg.scan``), jax (``jax.jit`` of ``jax.lax.scan``), a hand-written numpy step with BPTT
by hand, and PyTorch on the CPU (a hand-written loop of the same cell, and
``torch.nn.LSTM``); jax and PyTorch when they are installed. Every contender starts from the same
numpy weights, and their losses and gradients are checked against symgraph's once. The
contenders take turns (:func:`symgraph.bench.adam.round_robin`), so a change in the load of
the shared machine falls on all of them alike; each prints its median and quartiles.

Then the compile time of the training step (``sg.function`` of the loss, its gradient and
SGD updates, and its first call): cold in a new process with an empty cache, warm in
another process finding the cache filled, beside jax.jit's first call in a new process.
"""
from __future__ import annotations

import os
import tempfile
import time
from types import SimpleNamespace
from typing import Callable

import numpy as np

from .adam import round_robin
from .kernels import _has, run_json

Sizes = tuple[int, int, int, int]
"""(hidden, batch, steps, inputs)"""
SIZES: Sizes = (256, 64, 50, 128)
QUICK_SIZES: Sizes = (16, 4, 5, 8)
LR = 0.1


def init(sizes: Sizes, dtype: str = "float32", seed: int = 0
         ) -> tuple[list[np.ndarray], np.ndarray]:
    """``([W, U, b], x)``: the input weights (inputs, 4 hidden), the recurrent weights
    (hidden, 4 hidden), the bias (4 hidden; the forget gate's is 1, so the cell keeps its
    state at first), each gate's block in the order input, forget, cell, output as in
    ``torch.nn.LSTM``; and a batch of sequences (steps, batch, inputs)."""
    hidden, batch, steps, inputs = sizes
    rng = np.random.default_rng(seed)
    scale = 1 / np.sqrt(hidden)
    W = rng.uniform(-scale, scale, (inputs, 4 * hidden))
    U = rng.uniform(-scale, scale, (hidden, 4 * hidden))
    b = np.zeros(4 * hidden)
    b[hidden:2 * hidden] = 1.0
    x = rng.standard_normal((steps, batch, inputs))
    return [p.astype(dtype) for p in (W, U, b)], x.astype(dtype)


def cell(ops, x_t, h, c, W, U, b):
    """One LSTM step, ``(h, c)`` after ``x_t``, in any array library whose ``ops`` has
    ``dot``, ``sigmoid`` and ``tanh``: the four gates come from one product with each
    weight matrix and are slices of it."""
    n = U.shape[0]
    z = ops.dot(x_t, W) + ops.dot(h, U) + b
    i, f = ops.sigmoid(z[:, :n]), ops.sigmoid(z[:, n:2 * n])
    g, o = ops.tanh(z[:, 2 * n:3 * n]), ops.sigmoid(z[:, 3 * n:])
    c = f * c + i * g
    return o * ops.tanh(c), c


def symgraph_lstm(params: list[np.ndarray], x_value: np.ndarray):
    """``(x, [W, U, b], loss)``: the LSTM of :func:`cell` over a symbolic batch of
    sequences with ``sg.scan``, the weights shared variables holding ``params``."""
    import symgraph as sg
    ops = SimpleNamespace(dot=sg.dot, sigmoid=sg.sigmoid, tanh=sg.tanh)
    hidden, dtype = params[1].shape[0], x_value.dtype.name
    W, U, b = (sg.shared(p.copy(), name=n) for p, n in zip(params, "WUb"))
    x = sg.tensor("x", dtype, (None, None, x_value.shape[2]))
    # the hidden size is static so that the gates' slices of z are too
    cell_shape = (x.shape[1], hidden)
    start = [sg.zeros(cell_shape, dtype=dtype), sg.zeros(cell_shape, dtype=dtype)]
    (hs, _), _ = sg.scan(lambda x_t, h, c, W, U, b: cell(ops, x_t, h, c, W, U, b),
                         sequences=x, outputs_info=start, non_sequences=[W, U, b])
    return x, [W, U, b], (hs ** 2).mean()


def symgraph_steps(params, x_value):
    """``(forward, forward and backward, their results)``: compiled functions of the loss,
    and of the loss and its gradients."""
    import symgraph as sg
    x, weights, loss = symgraph_lstm(params, x_value)
    forward = sg.function([x], loss, backend="llvm")
    both = sg.function([x], [loss, *sg.grad(loss, weights)], backend="llvm")
    return (lambda: forward(x_value)), (lambda: both(x_value)), \
        lambda: [float(forward(x_value)), *both(x_value)[1:]]


def numpy_loss(params, x, grads: bool = False):
    """The loss of :func:`cell` in numpy, and with ``grads`` its gradient with respect to
    ``[W, U, b]`` too, by backpropagation through time written out."""
    W, U, b = params
    ops = SimpleNamespace(dot=np.dot, sigmoid=lambda z: 1 / (1 + np.exp(-z)), tanh=np.tanh)
    steps, batch, _ = x.shape
    n = U.shape[0]
    hs, cs = [np.zeros((batch, n), x.dtype)], [np.zeros((batch, n), x.dtype)]
    for x_t in x:
        h, c = cell(ops, x_t, hs[-1], cs[-1], W, U, b)
        hs.append(h)
        cs.append(c)
    scale = 1 / (steps * batch * n)
    loss = scale * sum((h ** 2).sum() for h in hs[1:])
    if not grads:
        return loss
    dW, dU, db = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    dh_next, dc_next = np.zeros_like(hs[0]), np.zeros_like(cs[0])
    for t in range(steps, 0, -1):
        z = x[t - 1] @ W + hs[t - 1] @ U + b
        i, f, o = (ops.sigmoid(z[:, k * n:(k + 1) * n]) for k in (0, 1, 3))
        g, tc = np.tanh(z[:, 2 * n:3 * n]), np.tanh(cs[t])
        dh = 2 * scale * hs[t] + dh_next
        dc = dc_next + dh * o * (1 - tc ** 2)
        dz = np.concatenate([dc * g * i * (1 - i), dc * cs[t - 1] * f * (1 - f),
                             dc * i * (1 - g ** 2), dh * tc * o * (1 - o)], axis=1)
        dW += x[t - 1].T @ dz
        dU += hs[t - 1].T @ dz
        db += dz.sum(axis=0)
        dh_next, dc_next = dz @ U.T, dc * f
    return loss, [dW, dU, db]


def numpy_steps(params, x):
    return (lambda: numpy_loss(params, x)), (lambda: numpy_loss(params, x, grads=True)), \
        lambda: [numpy_loss(params, x), *numpy_loss(params, x, grads=True)[1]]


def jax_loss(jax):
    """The loss of :func:`cell` in jax: ``lax.scan`` over the steps."""
    jnp = jax.numpy
    ops = SimpleNamespace(dot=jnp.dot, sigmoid=jax.nn.sigmoid, tanh=jnp.tanh)

    def loss(params, x):
        W, U, b = params

        def step(carry, x_t):
            h, c = cell(ops, x_t, *carry, W, U, b)
            return (h, c), h
        zeros = jnp.zeros((x.shape[1], U.shape[0]), x.dtype)
        _, hs = jax.lax.scan(step, (zeros, zeros), x)
        return (hs ** 2).mean()
    return loss


def jax_steps(params, x):
    from .kernels import _jax
    jax = _jax()
    loss = jax_loss(jax)
    forward, both = jax.jit(loss), jax.jit(jax.value_and_grad(loss))
    ps, xs = [jax.device_put(p) for p in params], jax.device_put(x)
    return (lambda: forward(ps, xs).block_until_ready()), \
        (lambda: jax.block_until_ready(both(ps, xs))), \
        lambda: [float(forward(ps, xs)), *map(np.asarray, both(ps, xs)[1])]


def torch_loop_steps(params, x):
    """PyTorch eager, the same cell written as a Python loop, autograd for the gradient."""
    import torch
    ops = SimpleNamespace(dot=torch.matmul, sigmoid=torch.sigmoid, tanh=torch.tanh)
    ps = [torch.tensor(p, requires_grad=True) for p in params]
    xs = torch.from_numpy(x)

    def loss():
        h = c = torch.zeros(x.shape[1], params[1].shape[0])
        total = 0
        for x_t in xs:
            h, c = cell(ops, x_t, h, c, *ps)
            total = total + (h ** 2).sum()
        return total / h.numel() / len(xs)

    def forward():
        with torch.no_grad():
            return loss()

    def both():
        for p in ps:
            p.grad = None
        value = loss()
        value.backward()
        return value

    def results():
        both()
        return [float(forward()), *(p.grad.numpy() for p in ps)]
    return forward, both, results


def torch_lstm_steps(params, x):
    """``torch.nn.LSTM`` holding the same weights (its ``weight_ih`` is ``W`` transposed,
    its second bias zero)."""
    import torch
    W, U, b = params
    lstm = torch.nn.LSTM(W.shape[0], U.shape[0])
    with torch.no_grad():
        for name, value in (("weight_ih_l0", W.T), ("weight_hh_l0", U.T),
                            ("bias_ih_l0", b), ("bias_hh_l0", np.zeros_like(b))):
            getattr(lstm, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    xs = torch.from_numpy(x)

    def forward():
        with torch.no_grad():
            return (lstm(xs)[0] ** 2).mean()

    def both():
        lstm.zero_grad(set_to_none=True)
        value = (lstm(xs)[0] ** 2).mean()
        value.backward()
        return value

    def results():
        both()
        return [float(forward()), lstm.weight_ih_l0.grad.numpy().T,
                lstm.weight_hh_l0.grad.numpy().T, lstm.bias_ih_l0.grad.numpy()]
    return forward, both, results


def contenders(params, x) -> dict[str, tuple[Callable, Callable, Callable]]:
    """``{label: (forward, forward and backward, results)}``: symgraph first, then those
    installed."""
    found = {"symgraph llvm (sg.scan)": symgraph_steps(params, x),
             "numpy (BPTT by hand)": numpy_steps(params, x)}
    if _has("jax"):
        found["jax.jit (lax.scan)"] = jax_steps(params, x)
    if _has("torch"):
        found["PyTorch eager loop"] = torch_loop_steps(params, x)
        found["PyTorch nn.LSTM"] = torch_lstm_steps(params, x)
    return found


def differences(found: dict) -> dict[str, tuple[float, float]]:
    """Each contender's largest absolute difference from symgraph in the loss, and in the
    gradients relative to the largest gradient value."""
    ref = next(iter(found.values()))[2]()
    out = {}
    for name, (_, _, results) in list(found.items())[1:]:
        got = results()
        scale = max(float(np.abs(g).max()) for g in ref[1:])
        out[name] = (abs(got[0] - ref[0]),
                     max(float(np.abs(a - b).max()) for a, b in zip(ref[1:], got[1:])) / scale)
    return out


def compile_child(sizes: Sizes) -> dict:
    """Build the training step (the loss, its gradient, SGD updates), compile it and call
    it once, in this process; the seconds of each stage. Imports do not count (jax's do
    not either)."""
    import symgraph as sg
    from .kernels import first_use_imports
    first_use_imports()
    params, x_value = init(sizes)
    t0 = time.perf_counter()
    x, weights, loss = symgraph_lstm(params, x_value)
    grads = sg.grad(loss, weights)
    t1 = time.perf_counter()
    f = sg.function([x], loss, updates=[(w, w - LR * g) for w, g in zip(weights, grads)])
    t2 = time.perf_counter()
    f(x_value)
    t3 = time.perf_counter()
    return {"build": t1 - t0, "function": t2 - t1, "first": t3 - t2,
            "total": t3 - t0}


def jax_compile_child(sizes: Sizes) -> dict:
    """The same training step's first jax.jit call (trace, compile, run) in this process."""
    from .kernels import _jax
    jax = _jax()
    params, x = init(sizes)
    loss = jax_loss(jax)

    @jax.jit
    def step(ps, x):
        value, g = jax.value_and_grad(loss)(ps, x)
        return [p - LR * d for p, d in zip(ps, g)], value
    ps, xs = [jax.device_put(p) for p in params], jax.device_put(x)
    t0 = time.perf_counter()
    jax.block_until_ready(step(ps, xs))
    return {"total": time.perf_counter() - t0}


_CHILD = """
import json
from symgraph.bench import lstm
print(json.dumps(lstm.{fn}({sizes!r})))
"""


def compile_times(sizes: Sizes, repeat: int) -> dict[str, list[dict]]:
    """``repeat`` cold and warm symgraph compiles (each cold one with a new empty cache)
    and jax first calls, each in a new process: one compile is one sample, and a job
    of another user's that starts meanwhile can stretch it severalfold."""
    runs: dict[str, list[dict]] = {"cold": [], "warm": []}
    for _ in range(repeat):
        with tempfile.TemporaryDirectory() as cache:
            env = {"SYMGRAPH_CACHE_DIR": cache}
            for kind in ("cold", "warm"):
                runs[kind].append(run_json(_CHILD.format(fn="compile_child", sizes=sizes),
                                           env=env, what=f"the {kind} compile of the LSTM"))
        if _has("jax"):
            runs.setdefault("jax", []).append(run_json(
                _CHILD.format(fn="jax_compile_child", sizes=sizes),
                what="jax.jit's first call of the LSTM step"))
    return runs


def _stats(times: list[float]) -> tuple[float, float, float]:
    return (float(np.median(times)), float(np.percentile(times, 25)),
            float(np.percentile(times, 75)))


def run(quick: bool = False) -> dict:
    """Measure and print the tables; the figures as a dict."""
    import symgraph as sg
    sizes = QUICK_SIZES if quick else SIZES
    rounds, batch = (2, 2) if quick else (10, 3)
    params, x = init(sizes)
    found = contenders(params, x)
    diffs = differences(found)
    steps = {(name, kind): fns[k] for name, fns in found.items()
             for k, kind in enumerate(("forward", "forward+backward"))}
    load = os.getloadavg()[0]
    times = round_robin(steps, rounds, batch)
    result = {"sizes": dict(zip(("hidden", "batch", "steps", "inputs"), sizes)),
              "cores": os.cpu_count(), "threads": sg.config.num_threads,
              "load_average": [load, os.getloadavg()[0]], "calls": rounds * batch,
              "rows": {f"{n} {k}": _stats(t) for (n, k), t in times.items()},
              "differences": diffs, "compile": compile_times(sizes, 1 if quick else 3)}
    _print(result, list(found))
    return result


def _print(r: dict, names: list[str]) -> None:
    s, ms = r["sizes"], 1e3
    print(f"LSTM, hidden {s['hidden']}, batch {s['batch']}, {s['steps']} steps, input "
          f"{s['inputs']}, float32; {r['cores']} cores, symgraph {r['threads']} threads; "
          f"median of {r['calls']} calls [25%, 75%], round robin; load average "
          "{:.2f} -> {:.2f}".format(*r["load_average"]))
    for name, (loss, grad) in r["differences"].items():
        print(f"  {name} vs symgraph: loss differs by {loss:.2g}, gradients by {grad:.2g} "
              "of their largest value")
    print(f"\n  {'median [quartiles]':<26}{'forward':>37}{'forward+backward':>37}")
    base = {k: r["rows"][f"{names[0]} {k}"][0] for k in ("forward", "forward+backward")}
    for name in names:
        cells = []
        for kind in ("forward", "forward+backward"):
            med, lo, hi = r["rows"][f"{name} {kind}"]
            spread = f"{med * ms:.2f} ms [{lo * ms:.2f}, {hi * ms:.2f}]"
            cells.append(f"{spread:>30} {med / base[kind]:5.2f}x")
        print(f"  {name:<26}" + "".join(cells))
    jax_name = "jax.jit (lax.scan)"
    if jax_name in names:
        ratios = [base[k] / r["rows"][f"{jax_name} {k}"][0]
                  for k in ("forward", "forward+backward")]
        print("symgraph / jax: forward {:.2f}x, forward+backward {:.2f}x (target <= 1.0)"
              .format(*ratios))
    c = r["compile"]
    print(f"\ncompile of the training step (loss, gradient, SGD updates; sg.function and its "
          f"first call), each in a new process; median of {len(c['cold'])} [min, max]:")

    def seconds(kind: str, stage: str) -> float:
        return float(np.median([t[stage] for t in c[kind]]))
    labels = {"cold": "symgraph cold (empty cache)", "warm": "symgraph warm (cache filled)",
              "jax": "jax.jit first call"}
    for kind in [k for k in labels if k in c]:
        totals = [t["total"] for t in c[kind]]
        line = f"  {labels[kind]:<30} {seconds(kind, 'total'):7.3f} s [{min(totals):.3f}, " \
               f"{max(totals):.3f}]"
        if kind != "jax":
            line += (f"  (graph and gradient {seconds(kind, 'build'):.3f}, sg.function "
                     f"{seconds(kind, 'function'):.3f}, first call {seconds(kind, 'first'):.3f})")
        print(line)
    print(f"symgraph cold: {seconds('cold', 'total'):.2f} s (target <= 0.5 s)")
