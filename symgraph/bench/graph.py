"""How graph work scales: build, differentiate and compile an N-layer MLP.

Each stage should cost time linear in the number of nodes, so the time per layer stays
flat as N grows and time(2N)/time(N) stays near 2.
"""
from __future__ import annotations

import gc
import time

import numpy as np

import symgraph as sg
from symgraph.graph import toposort

WIDTH = 256
DEPTHS = (10, 25, 50, 100)
STAGES = ("build", "grad", "compile")


def mlp_weights(depth: int, width: int = WIDTH) -> list[np.ndarray]:
    """Initial weight matrices (made before timing: drawing them is not graph work)."""
    rng = np.random.default_rng(0)
    return [rng.normal(0, width ** -0.5, (width, width)).astype("float32")
            for _ in range(depth)]


def mlp_cost(weights: list[np.ndarray]):
    """``(cost, inputs, params)``: the mean softmax cross-entropy of a tanh MLP with these
    weight matrices, its inputs ``[x, y]`` and its shared weights and biases."""
    x, y = sg.fmatrix("x"), sg.lvector("y")
    params, h = [], x
    for i, value in enumerate(weights):
        w = sg.shared(value, name=f"W{i}")
        b = sg.shared(np.zeros(value.shape[1], "float32"), name=f"b{i}")
        params += [w, b]
        z = sg.dot(h, w) + b
        h = sg.tanh(z) if i < len(weights) - 1 else sg.nnet.softmax(z)
    return sg.categorical_crossentropy(h, y).mean(), [x, y], params


def measure_once(depth: int) -> dict[str, float]:
    """Seconds to build, differentiate and compile one SGD step, and the node counts of
    the cost, of the cost with its gradients, and of the compiled (rewritten) step."""
    weights = mlp_weights(depth)
    gc.collect()  # the previous run's garbage is not this run's cost
    t0 = time.perf_counter()
    cost, inputs, params = mlp_cost(weights)
    t1 = time.perf_counter()
    grads = sg.grad(cost, params)
    t2 = time.perf_counter()
    step = sg.function(inputs, cost, updates=[(p, p - 0.01 * g) for p, g in zip(params, grads)])
    t3 = time.perf_counter()
    return {"build": t1 - t0, "grad": t2 - t1, "compile": t3 - t2,
            "nodes": len(toposort([cost])), "grad_nodes": len(toposort([cost, *grads])),
            "compiled_nodes": len(step.nodes)}


def measure(depth: int, repeats: int = 3) -> dict[str, float]:
    """:func:`measure_once`, keeping each stage's fastest time: the least disturbed by
    other work on the machine (and by the garbage collector)."""
    runs = [measure_once(depth) for _ in range(repeats)]
    return {k: min(r[k] for r in runs) for k in runs[0]}


def run(quick: bool = False) -> None:
    """Print one row per depth, then the ratios of the deepest two (2.0 is linear)."""
    depths = DEPTHS[:2] if quick else DEPTHS
    rows = {d: measure(d, 1 if quick else 3) for d in depths}
    print(f"MLP graphs, width {WIDTH}, tanh, softmax cross-entropy, SGD step "
          f"(backend {sg.config.backend})")
    print(f"{'layers':>6} {'nodes':>6} {'+grads':>6} {'compiled':>8} "
          + " ".join(f"{s + ' ms':>10}" for s in STAGES)
          + " " + " ".join(f"{s + ' ms/layer':>17}" for s in STAGES))
    for d, r in rows.items():
        print(f"{d:>6} {r['nodes']:>6} {r['grad_nodes']:>6} {r['compiled_nodes']:>8} "
              + " ".join(f"{r[s] * 1e3:>10.2f}" for s in STAGES) + " "
              + " ".join(f"{r[s] * 1e3 / d:>17.3f}" for s in STAGES))
    a, b = depths[-2], depths[-1]
    ratios = ", ".join(f"{s} {rows[b][s] / rows[a][s]:.2f}" for s in STAGES)
    print(f"time({b}) / time({a}) [layers ratio {b / a:.2f}]: {ratios}")
