"""Normalization and softmax, forward and forward+backward: ``python -m symgraph bench norm``.

Layer norm over the last axis and batch norm per activation of a (4096, 1024) float32
matrix, batch norm over a conv activation (128, 20, 24, 24) (axes 0, 2, 3), and a row
softmax of the matrix; each forward alone and forward with the gradient of ``(y * gy).sum()``
(every input's: x, gamma, beta). Beside them jax.jit and PyTorch eager (``torch.compile``
too when it runs here), all on the same threads. The contenders run interleaved, round after
round, since the machine is shared: medians with the interquartile range.
"""
from __future__ import annotations

import time

import numpy as np

EPS = 1e-5


def _interleaved(fns: dict, rounds: int) -> dict:
    for f in fns.values():
        for _ in range(2):
            f()
    ts: dict = {k: [] for k in fns}
    for _ in range(rounds):
        for k, f in fns.items():
            t0 = time.perf_counter()
            f()
            ts[k].append(time.perf_counter() - t0)
    return {k: np.array(v) for k, v in ts.items()}


def _symgraph(kind: str, ndim: int, gv, bv):
    import symgraph as sg
    x = sg.tensor("x", "float32", (None,) * ndim)
    gy = sg.tensor("gy", "float32", (None,) * ndim)
    g, b = sg.shared(gv), sg.shared(bv)
    if kind == "layer":
        y = sg.nnet.layer_normalization(x, g, b, epsilon=EPS)
    elif kind == "softmax":
        y = sg.softmax(x)
    else:
        rm, rv = sg.shared(np.zeros_like(gv)), sg.shared(np.ones_like(gv))
        y = sg.nnet.batch_normalization(x, g, b, rm, rv, axes=kind, epsilon=EPS)
    wrt = [x] if kind == "softmax" else [x, g, b]
    grads = sg.grad((y * gy).sum(), wrt)
    return sg.function([x], y), sg.function([x, gy], [y, *grads])


def _torch(torch, kind: str, shape):
    F = torch.nn.functional
    n = shape[1]
    rm, rv = torch.zeros(n), torch.ones(n)
    if kind == "layer":
        return lambda x, g, b: F.layer_norm(x, (shape[-1],), g, b, eps=EPS)
    if kind == "softmax":
        return lambda x, g, b: torch.softmax(x, -1)
    return lambda x, g, b: F.batch_norm(x, rm, rv, g, b, training=True, momentum=0.1, eps=EPS)


def _jax(jax, kind: str):
    def f(x, g, b):
        if kind == "softmax":
            return jax.nn.softmax(x, -1)
        axes = (-1,) if kind == "layer" else (0,) if kind == "per-activation" else (0, 2, 3)
        m = x.mean(axes, keepdims=True)
        v = ((x - m) ** 2).mean(axes, keepdims=True)
        shp = g.shape if kind == "layer" else [1, -1] + [1] * (x.ndim - 2)
        return (x - m) * jax.lax.rsqrt(v + EPS) * g.reshape(shp) + b.reshape(shp)
    return f


CASES = [("layer norm, last axis", "layer", (4096, 1024)),
         ("batch norm, per activation (axis 0)", "per-activation", (4096, 1024)),
         ("batch norm, spatial (axes 0, 2, 3)", "spatial", (128, 20, 24, 24)),
         ("softmax, rows", "softmax", (4096, 1024))]


def run(quick: bool = False) -> list[dict]:
    from .kernels import _has, _jax as load_jax
    rounds = 3 if quick else 25
    jax = load_jax()
    torch = __import__("torch") if _has("torch") else None
    results = []
    for title, kind, shape in CASES:
        if quick:
            shape = (64, 32) if len(shape) == 2 else (8, 4, 6, 6)
        rng = np.random.default_rng(0)
        xv = rng.standard_normal(shape, dtype=np.float32) * 2 + 1
        gyv = rng.standard_normal(shape, dtype=np.float32)
        n = shape[-1] if kind in ("layer", "softmax") else shape[1]
        gv = rng.uniform(0.5, 2, n).astype(np.float32)
        bv = rng.standard_normal(n, dtype=np.float32)
        fwd, fb = _symgraph(kind, len(shape), gv, bv)
        fns = {"symgraph fwd": lambda: fwd(xv), "symgraph fwd+bwd": lambda: fb(xv, gyv)}
        if jax is not None:
            jf = jax.jit(_jax(jax, kind))

            def vjp(x, g, b, gy, f=_jax(jax, kind)):
                y, back = jax.vjp(f, x, g, b)
                return y, back(gy)
            jfb = jax.jit(vjp)
            xj, gyj, gj, bj = (jax.device_put(a) for a in (xv, gyv, gv, bv))
            fns["jax.jit fwd"] = lambda: jax.block_until_ready(jf(xj, gj, bj))
            fns["jax.jit fwd+bwd"] = lambda: jax.block_until_ready(jfb(xj, gj, bj, gyj))
        if torch is not None:
            tf = _torch(torch, kind, shape)
            xt, gyt = torch.from_numpy(xv), torch.from_numpy(gyv)
            gt, bt = (torch.from_numpy(a).requires_grad_() for a in (gv, bv))
            xr = xt.clone().requires_grad_()

            def t_fwd(tf=tf):
                with torch.no_grad():
                    tf(xt, gt, bt)

            def t_fb(tf=tf):
                tf(xr, gt, bt).backward(gyt)
                xr.grad = gt.grad = bt.grad = None
            fns["PyTorch eager fwd"], fns["PyTorch eager fwd+bwd"] = t_fwd, t_fb
        ts = _interleaved(fns, rounds)
        print(f"\n{title} {shape} float32: median [quartiles]")
        for phase in ("fwd", "fwd+bwd"):
            base = np.median(ts[f"symgraph {phase}"])
            for name, t in ts.items():
                if name.endswith(f" {phase}"):
                    med, lo, hi = (np.percentile(t, q) * 1e3 for q in (50, 25, 75))
                    print(f"  {name:<26} {med:8.3f} ms [{lo:.3f}, {hi:.3f}]  "
                          f"{med / base / 1e3:5.2f}x symgraph")
        results.append({"case": title, "shape": shape,
                        "median_ms": {k: float(np.median(t) * 1e3) for k, t in ts.items()}})
    return results
