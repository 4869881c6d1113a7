"""A LeNet-5 training step: ``python -m symgraph bench lenet``.

One Adam step of the demo's LeNet-5 (conv 5x5x20, max-pool 2, conv 5x5x50, max-pool 2,
dense 500, softmax 10; float32, batch 128, dropout off so every contender computes the
same thing) in symgraph, jax.jit (the same model in jax.numpy/lax, optax-style Adam, state
donated) and PyTorch on the CPU (eager; ``torch.compile`` too when it works here), plus the
second convolution's forward pass alone, (128, 20, 12, 12) x (50, 20, 5, 5). Medians with
the interquartile range, measured in turns in one run.
"""
from __future__ import annotations

import numpy as np

BATCH = 128
SHAPES = [(20, 1, 5, 5), (20,), (50, 20, 5, 5), (50,), (800, 500), (500,), (500, 10), (10,)]


def _init(seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal(s) * (0.05 if len(s) > 1 else 0.0)).astype("float32")
            for s in SHAPES]


def _data(batch: int):
    rng = np.random.default_rng(1)
    return (rng.random((batch, 1, 28, 28), dtype=np.float32),
            rng.integers(0, 10, batch).astype("int64"))


def symgraph_loss(params0):
    """``(x, y, params, loss)``: the model's loss over a symbolic batch, the parameters
    shared variables holding copies of ``params0``."""
    import symgraph as sg
    ps = [sg.shared(p.copy(), name=f"p{i}") for i, p in enumerate(params0)]
    w1, b1, w2, b2, w3, b3, w4, b4 = ps
    x, y = sg.ftensor4("x"), sg.lvector("y")

    def block(h, w, b):
        h = sg.nnet.conv2d_xcorr(h, w) + b.dimshuffle("x", 0, "x", "x")
        return sg.nnet.max_pool2d(sg.nnet.relu(h), 2)
    h = block(block(x, w1, b1), w2, b2)
    h = sg.nnet.relu(sg.dot(h.flatten(2), w3) + b3)
    logits = sg.dot(h, w4) + b4
    return x, y, ps, sg.nnet.softmax_crossentropy_with_logits(logits, y).mean()


def symgraph_step(params0, batch):
    import symgraph as sg
    x, y, ps, loss = symgraph_loss(params0)
    f = sg.function([x, y], loss, updates=sg.updates.adam(loss, ps, 1e-3))
    return f, ps


def jax_loss(jax):
    """``(loss(p, x, y), conv)``: the same model's loss in jax.numpy and lax, and its
    convolution."""
    jnp, lax = jax.numpy, jax.lax

    def conv(x, w):
        return lax.conv_general_dilated(x, w, (1, 1), "VALID",
                                        dimension_numbers=("NCHW", "OIHW", "NCHW"))

    def pool(x):
        return lax.reduce_window(x, -jnp.inf, lax.max, (1, 1, 2, 2), (1, 1, 2, 2), "VALID")

    def loss(p, x, y):
        w1, b1, w2, b2, w3, b3, w4, b4 = p
        h = pool(jax.nn.relu(conv(x, w1) + b1[None, :, None, None]))
        h = pool(jax.nn.relu(conv(h, w2) + b2[None, :, None, None]))
        h = jax.nn.relu(h.reshape(h.shape[0], -1) @ w3 + b3)
        logp = jax.nn.log_softmax(h @ w4 + b4)
        return -jnp.take_along_axis(logp, y[:, None], 1).mean()
    return loss, conv


def jax_step(jax, params0):
    jnp = jax.numpy
    loss, conv = jax_loss(jax)

    def step(p, m, v, t, x, y):
        value, g = jax.value_and_grad(loss)(p, x, y)
        t = t + 1
        m = [0.9 * a + 0.1 * b for a, b in zip(m, g)]
        v = [0.999 * a + 0.001 * b * b for a, b in zip(v, g)]
        lr = 1e-3 * jnp.sqrt(1 - 0.999 ** t) / (1 - 0.9 ** t)
        p = [a - lr * b / (jnp.sqrt(c) + 1e-8) for a, b, c in zip(p, m, v)]
        return p, m, v, t, value
    return jax.jit(step, donate_argnums=(0, 1, 2)), conv


def torch_step(torch, params0, compiled: bool):
    F = torch.nn.functional
    ps = [torch.tensor(p, requires_grad=True) for p in params0]
    opt = torch.optim.Adam(ps, lr=1e-3)

    def loss_fn(x, y):
        w1, b1, w2, b2, w3, b3, w4, b4 = ps
        h = F.max_pool2d(F.relu(F.conv2d(x, w1, b1)), 2)
        h = F.max_pool2d(F.relu(F.conv2d(h, w2, b2)), 2)
        h = F.relu(h.flatten(1) @ w3 + b3)
        return F.cross_entropy(h @ w4 + b4, y)
    fn = torch.compile(loss_fn) if compiled else loss_fn

    def step(x, y):
        opt.zero_grad()
        value = fn(x, y)
        value.backward()
        opt.step()
        return value
    return step


def run(quick: bool = False) -> dict:
    import symgraph as sg
    from .kernels import _has, _jax, median_quartiles
    batch = 16 if quick else BATCH
    repeat = 3 if quick else 20
    params0 = _init()
    xb, yb = _data(batch)
    rows = []
    f, _ = symgraph_step(params0, batch)
    rows.append(("symgraph llvm", median_quartiles(lambda: f(xb, yb), repeat)))
    jax = _jax()
    conv_rows = []
    x2 = np.random.default_rng(2).random((batch, 20, 12, 12), dtype=np.float32)
    w2 = params0[2]
    xs, ws = sg.ftensor4("x"), sg.ftensor4("w")
    conv_f = sg.function([xs, ws], sg.nnet.conv2d_xcorr(xs, ws))
    conv_rows.append(("symgraph llvm", median_quartiles(lambda: conv_f(x2, w2), repeat)))
    if jax is not None:
        jstep, jconv = jax_step(jax, params0)
        state = [[jax.device_put(p) for p in params0],
                 [jax.numpy.zeros_like(p) for p in params0],
                 [jax.numpy.zeros_like(p) for p in params0], 0.0]
        xj, yj = jax.device_put(xb), jax.device_put(yb)

        def jax_call():
            p, m, v, t, value = jstep(*state, xj, yj)
            state[:] = [p, m, v, t]
            value.block_until_ready()
        rows.append(("jax.jit", median_quartiles(jax_call, repeat)))
        jc = jax.jit(jconv)
        x2j, w2j = jax.device_put(x2), jax.device_put(w2)
        conv_rows.append(("jax.jit", median_quartiles(
            lambda: jc(x2j, w2j).block_until_ready(), repeat)))
    if _has("torch"):
        import torch
        xt, yt = torch.from_numpy(xb), torch.from_numpy(yb)
        eager = torch_step(torch, params0, False)
        rows.append(("PyTorch eager", median_quartiles(lambda: eager(xt, yt), repeat)))
        try:
            compiled = torch_step(torch, params0, True)
            compiled(xt, yt)
            rows.append(("torch.compile", median_quartiles(lambda: compiled(xt, yt), repeat)))
        except Exception as e:        # no C++ compiler, or an unsupported CPU: say so
            print(f"  (torch.compile did not run here: {type(e).__name__}: {str(e)[:80]})")
        with torch.no_grad():
            x2t, w2t = torch.from_numpy(x2), torch.from_numpy(w2)
            conv_rows.append(("PyTorch eager", median_quartiles(
                lambda: torch.nn.functional.conv2d(x2t, w2t), repeat)))
    _print(f"LeNet-5 training step (Adam), batch {batch}, float32", rows)
    _print(f"conv2d forward ({batch}, 20, 12, 12) x (50, 20, 5, 5), float32", conv_rows)
    return {"step": rows, "conv": conv_rows}


def _print(title: str, rows) -> None:
    base = rows[0][1][0]
    print(f"\n{title}: median [quartiles]")
    for name, (med, lo, hi) in rows:
        print(f"  {name:<24} {med * 1e3:9.3f} ms [{lo * 1e3:.3f}, {hi * 1e3:.3f}]  "
              f"{med / base:6.2f}x symgraph")
