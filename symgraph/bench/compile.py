"""Compile time as a user meets it: ``python -m symgraph bench compile``.

Each graph is built, differentiated and compiled in a fresh process, twice: *cold* (an
empty disk cache) and *warm* (a new process finding the cache the cold one filled). The
first call is timed apart: ``sg.function`` compiles everything, so the first call costs
about what any call costs. jax.jit compiles the same graph at its first call, also in a
fresh process, with the same inputs. Imports are not compile time, on either side, nor is
making the weights and the batch.

Workloads: elementwise chains ``y = tanh(y) * 1.0001 + 0.001`` with the gradient of
``y.sum()`` (the graph grows by about seven nodes a step), MLP training steps of several
tanh layers of width 256 (softmax cross-entropy, SGD updates), the 784-512-10 MLP step
of ``bench kernels``, and SGD steps of the LSTM of ``bench lstm`` (``sg.scan`` over 50
steps; jax: ``lax.scan``) and of the LeNet-5 of ``bench lenet`` (batch 128).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from .kernels import first_use_imports as _first_use_imports

CHAINS = (100, 400, 1600, 5000)
LAYERS = (5, 20, 50, 100)
WIDTH, BATCH = 256, 64
JAX_TIMEOUT = 120.0
"""jax.jit's first call on a long chain takes minutes (11 s at 1,600 steps here); past
this many seconds the table says so instead of waiting."""


def chain(n: int):
    """``(inputs, outputs, updates, args)`` of an ``n``-step chain and its gradient."""
    import symgraph as sg
    v = sg.dvector("v")
    y = v
    for _ in range(n):
        y = sg.tanh(y) * 1.0001 + 0.001
    return [v], [y.sum()], [], [np.linspace(-1, 1, 1000)]


def mlp_values(layers: int, width: int = WIDTH, classes: int | None = None,
               inputs: int | None = None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``(params, args)`` of a tanh MLP of ``layers`` weight matrices, width ``width`` (the
    first ``inputs`` wide, the last ``classes``): weights and biases, and a batch."""
    sizes = [inputs or width] + [width] * (layers - 1) + [classes or width]
    rng = np.random.default_rng(0)
    params = []
    for a, b in zip(sizes, sizes[1:]):
        params += [(rng.standard_normal((a, b)) / np.sqrt(a)).astype("float32"),
                   np.zeros(b, "float32")]
    return params, [rng.standard_normal((BATCH, sizes[0])).astype("float32"),
                    rng.integers(0, sizes[-1], BATCH)]


def mlp(*shape, data=None):
    """``(inputs, outputs, params, args)`` of an SGD step of the MLP of
    :func:`mlp_values` (or of ``data``, its values) with softmax cross-entropy."""
    import symgraph as sg
    values, args = data or mlp_values(*shape)
    x, y = sg.fmatrix("x"), sg.lvector("y")
    params = [sg.shared(v, name=f"{'Wb'[i % 2]}{i // 2}") for i, v in enumerate(values)]
    h = x
    for i in range(len(values) // 2):
        z = sg.dot(h, params[2 * i]) + params[2 * i + 1]
        h = sg.tanh(z) if 2 * i + 2 < len(values) else sg.nnet.softmax(z)
    return [x, y], [sg.categorical_crossentropy(h, y).mean()], params, args


def lstm_values(*sizes) -> tuple[list[np.ndarray], np.ndarray]:
    """``([W, U, b], x)`` of the LSTM of ``bench lstm`` at ``sizes`` (hidden, batch, steps,
    inputs)."""
    from . import lstm as bench
    return bench.init(sizes)


def lstm(*sizes, data=None):
    """``(inputs, outputs, params, args)`` of an SGD step of that LSTM (the mean square
    of its hidden states, through ``sg.scan``)."""
    from . import lstm as bench
    params, x_value = data or lstm_values(*sizes)
    x, weights, loss = bench.symgraph_lstm(params, x_value)
    return [x], [loss], weights, [x_value]


def lenet_values(batch: int) -> tuple[list[np.ndarray], tuple]:
    """``(params, (images, labels))`` of the LeNet-5 of ``bench lenet`` and a batch."""
    from . import lenet as bench
    return bench._init(), bench._data(batch)


def lenet(batch: int, data=None):
    """``(inputs, outputs, params, args)`` of an SGD step of that LeNet-5."""
    from . import lenet as bench
    params0, (images, labels) = data or lenet_values(batch)
    x, y, ps, loss = bench.symgraph_loss(params0)
    return [x, y], [loss], ps, [images, labels]


_VALUES = {"mlp": mlp_values, "lstm": lstm_values, "lenet": lenet_values}
"""Per builder, what makes its data (before the clock starts, as for jax)."""


def workloads(quick: bool) -> list[tuple[str, str, tuple]]:
    """``(label, builder, arguments)`` of each graph measured."""
    from .lenet import BATCH
    from .lstm import QUICK_SIZES, SIZES
    chains = CHAINS[:2] if quick else CHAINS
    layers = LAYERS[:2] if quick else LAYERS
    sizes, batch = (QUICK_SIZES, 16) if quick else (SIZES, BATCH)
    return ([(f"chain {n}", "chain", (n,)) for n in chains]
            + [(f"MLP {k}x{WIDTH}", "mlp", (k,)) for k in layers]
            + [("MLP 784-512-10", "mlp", (2, 512, 10, 784)),
               (f"LSTM {sizes[0]}x{sizes[2]}", "lstm", sizes),
               (f"LeNet-5 b{batch}", "lenet", (batch,))])


def child(builder: str, args: tuple) -> dict:
    """Build, differentiate and compile one workload in this process; the seconds of
    each stage, the node counts and the compile profile."""
    import symgraph as sg
    from symgraph.graph import toposort
    _first_use_imports()                # imports, not compile time (as jax's is not)
    import symgraph.nnet  # noqa: F401  (the MLP's softmax and cross-entropy: an import)
    # the weights and the batch are data, made before the clock starts (as for jax)
    data = {"data": _VALUES[builder](*args)} if builder in _VALUES else {}
    t0 = time.perf_counter()
    inputs, outputs, params, values = globals()[builder](*args, **data)
    t1 = time.perf_counter()
    if params:                          # an SGD step
        grads = sg.grad(outputs[0], params)
        updates = [(p, p - 0.01 * g) for p, g in zip(params, grads)]
        wrt = grads
    else:                               # the value and its gradient
        grads = sg.grad(outputs[0], inputs[0])
        updates, wrt = [], [grads]
        outputs = [*outputs, grads]
    t2 = time.perf_counter()
    f = sg.function(inputs, outputs, updates=updates)
    t3 = time.perf_counter()
    compiled = _modules_compiled()
    f(*values)
    t4 = time.perf_counter()
    first_compiles = _modules_compiled() - compiled
    f(*values)
    t5 = time.perf_counter()
    return {"build": t1 - t0, "grad": t2 - t1, "function": t3 - t2, "first": t4 - t3,
            "second": t5 - t4, "nodes": len(toposort([*outputs, *wrt])),
            "compiled": len(f.nodes), "first_call_compiles": first_compiles,
            "phases": f.compile_profile,
            "passes": [(name, t) for name, t, _ in f.rewrite_log.passes]}


def _modules_compiled() -> int:
    """LLVM modules this process compiled so far (0 on other backends)."""
    from codegen.llvm import jit
    return jit.stats["modules_compiled"]


def jax_child(builder: str, args: tuple) -> dict:
    """The same graph's first jax.jit call (trace, compile, run) in this process."""
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    import jax
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    if builder == "chain":
        n, = args

        def cost(v):
            y = v
            for _ in range(n):
                y = jnp.tanh(y) * 1.0001 + 0.001
            return y.sum()
        fn = jax.jit(jax.value_and_grad(cost))
        call_args = [np.linspace(-1, 1, 1000)]
    elif builder in ("lstm", "lenet"):
        from . import lenet as lenet_bench, lstm as lstm_bench
        if builder == "lstm":
            params, x = lstm_values(*args)
            loss, values = lstm_bench.jax_loss(jax), [x]
        else:
            params, values = lenet_values(*args)
            loss = lenet_bench.jax_loss(jax)[0]

        @jax.jit
        def sgd(ps, *xs):
            c, g = jax.value_and_grad(loss)(ps, *xs)
            return [p - 0.01 * gi for p, gi in zip(ps, g)], c
        fn, call_args = sgd, [params, *values]
    else:
        params, values = mlp_values(*args)
        layers = len(params) // 2

        def loss(ps, x, y):
            h = x
            for i in range(layers):
                z = h @ ps[2 * i] + ps[2 * i + 1]
                h = jnp.tanh(z) if i < layers - 1 else jax.nn.log_softmax(z, axis=1)
            return -jnp.take_along_axis(h, y[:, None], axis=1).mean()

        @jax.jit
        def step(ps, x, y):
            c, g = jax.value_and_grad(loss)(ps, x, y)
            return [p - 0.01 * gi for p, gi in zip(ps, g)], c
        fn, call_args = step, [params, *values]
    t0 = time.perf_counter()
    jax.block_until_ready(fn(*call_args))
    return {"first": time.perf_counter() - t0}


_SCRIPT = """
import json, sys
from symgraph.bench import compile as c
print(json.dumps(c.{fn}({builder!r}, {args!r})))
"""


def _spawn(fn: str, builder: str, args: tuple, env: dict, timeout: float | None = None
           ) -> dict | None:
    """Run :func:`child` or :func:`jax_child` in a fresh process (None on timeout)."""
    from .kernels import run_json
    return run_json(_SCRIPT.format(fn=fn, builder=builder, args=args), env=env,
                    timeout=timeout, what=f"{fn}({builder}, {args})")


_IMPORT = """
import time
t0 = time.perf_counter()
import symgraph
t1 = time.perf_counter()
from symgraph.bench.kernels import first_use_imports
first_use_imports()
print(t1 - t0, time.perf_counter() - t1)
"""


def import_time(cached: bool = True) -> tuple[float, float]:
    """Seconds ``import symgraph`` takes in a fresh process, and then the imports of the
    first gradient and compile (:func:`_first_use_imports`): the fastest of three.
    ``cached``: with the bytecode Python keeps by default (written once, to a temporary
    place so the checkout stays clean); else compiling every module from source, as
    Python does when ``PYTHONDONTWRITEBYTECODE`` is set and no bytecode exists."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    with tempfile.TemporaryDirectory() as pyc:
        env["PYTHONPYCACHEPREFIX"] = pyc
        if not cached:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        run = lambda: tuple(map(float, subprocess.run(
            [sys.executable, "-c", _IMPORT], capture_output=True, text=True, check=True,
            env=env).stdout.split()))
        if cached:
            run()           # writes the bytecode
        runs = [run() for _ in range(3)]
    return min(r[0] for r in runs), min(r[1] for r in runs)


def measure(builder: str, args: tuple, jax: bool, jax_timeout: float) -> dict:
    with tempfile.TemporaryDirectory() as cache:
        env = {"SYMGRAPH_CACHE_DIR": cache}
        cold = _spawn("child", builder, args, env)
        warm = _spawn("child", builder, args, env)
    row = {"cold": cold, "warm": warm, "jax": None, "jax_timeout": False}
    if jax:
        j = _spawn("jax_child", builder, args, {}, jax_timeout)
        row["jax"], row["jax_timeout"] = (j or {}).get("first"), j is None
    return row


def _total(r: dict) -> float:
    return r["build"] + r["grad"] + r["function"] + r["first"]


PHASES = ("rewrite", "lower", "llvm start", "llvm IR", "llvm compile", "link",
          "cache lookup")


def run(quick: bool = False) -> dict:
    """Print the table, the phases of each cold compile, and the ratios the targets name."""
    import symgraph as sg
    from .kernels import _has
    jax = _has("jax")
    print(f"compile time: each graph built, differentiated and compiled in a new process "
          f"({os.cpu_count()} cores, {sg.config.num_threads} threads, backend "
          f"{sg.config.backend}); jax {'yes' if jax else 'not installed'}; PyTensor "
          f"{'not measured' if _has('pytensor') else 'not installed'}")
    sym, backend = import_time()
    cold_sym, _ = import_time(cached=False)
    print(f"import symgraph: {sym * 1e3:.0f} ms ({cold_sym * 1e3:.0f} ms compiling every "
          f"module from source, as with PYTHONDONTWRITEBYTECODE and no bytecode); then the "
          f"imports of the first sg.grad and sg.function (the {sg.config.backend} backend, "
          f"the rewrite passes): {backend * 1e3:.0f} ms (not counted below, as jax's import "
          f"is not)")
    rows = {}
    head = (f"{'graph':<16} {'nodes':>6} {'kern':>5} {'build':>7} {'grad':>7} {'compile':>8} "
            f"{'1st call':>8} {'cold':>8} {'us/node':>7} {'warm':>7} {'2nd call':>8} "
            f"{'jax 1st':>8} {'jax/cold':>8}")
    print("\nseconds (cold: empty cache, build + grad + sg.function + first call; warm: "
          "sg.function + first call in a new process)")
    print(head)
    for label, builder, args in workloads(quick):
        r = rows[label] = measure(builder, args, jax, 20.0 if quick else JAX_TIMEOUT)
        c, w = r["cold"], r["warm"]
        jx = (f"{'>' + format(JAX_TIMEOUT, '.0f'):>8} {'':>8}" if r["jax_timeout"] else
              f"{r['jax']:>8.3f} {r['jax'] / _total(c):>8.2f}" if r["jax"] is not None else
              f"{'-':>8} {'-':>8}")
        print(f"{label:<16} {c['nodes']:>6} {c['compiled']:>5} {c['build']:>7.3f} "
              f"{c['grad']:>7.3f} {c['function']:>8.3f} {c['first']:>8.4f} {_total(c):>8.3f} "
              f"{_total(c) / c['nodes'] * 1e6:>7.1f} {w['function'] + w['first']:>7.3f} "
              f"{c['second']:>8.4f} {jx}")
    print("\ncold sg.function by phase, seconds (llvm compile: optimizer and code generator,"
          " concurrent over modules)")
    print(f"{'graph':<16} " + " ".join(f"{p:>12}" for p in (*PHASES, "other")))
    for label, r in rows.items():
        ph = r["cold"]["phases"]
        print(f"{label:<16} " + " ".join(f"{ph.get(p, 0.0):>12.3f}" for p in (*PHASES, "other")))
    late = [k for k, r in rows.items() if r["cold"]["first_call_compiles"]
            or r["warm"]["first_call_compiles"]]
    print("\nfirst calls that compiled code: " + (", ".join(late) if late else "none"))
    big = [k for k in rows if k.startswith("chain")][-1]
    print(f"\nrewrite passes of {big}, seconds: " + ", ".join(
        f"{n} {t:.3f}" for n, t in rows[big]["cold"]["passes"]))
    _ratios(rows, quick)
    return rows


def _ratios(rows: dict, quick: bool) -> None:
    chains = [k for k in rows if k.startswith("chain")]
    a, b = rows[chains[0]]["cold"], rows[chains[-1]]["cold"]
    per = (_total(b) / b["nodes"]) / (_total(a) / a["nodes"])
    print(f"\ntime per node, {chains[-1]} / {chains[0]}: {per:.2f} (target <= 1.5)")
    print(f"{chains[-1]} cold: {_total(b):.2f} s (target <= 5 s at 5000 steps)")
    vs = [(rows[k]["jax"] / _total(rows[k]["cold"]), k) for k in rows
          if rows[k]["jax"] is not None]
    if vs:
        worst = min(vs)
        print(f"jax.jit first call / symgraph cold, the closest graph: {worst[0]:.2f} "
              f"({worst[1]}; target >= 2)")
    m = rows["MLP 784-512-10"]
    print(f"MLP 784-512-10: cold {_total(m['cold']) * 1e3:.0f} ms incl. first call "
          f"(sg.function + first call {(m['cold']['function'] + m['cold']['first']) * 1e3:.0f}"
          f" ms; target 150), warm {(m['warm']['function'] + m['warm']['first']) * 1e3:.0f} ms"
          " (target 20)")
