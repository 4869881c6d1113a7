"""The demo: a 64-64-10 MLP learns scikit-learn's bundled 8x8 digits (no download).

Everything runs through symgraph: the model and its cost are a symbolic graph, ``sg.grad``
differentiates it, and one compiled function does a whole momentum-SGD step. The data
lives in shared variables and each step takes only the minibatch's row numbers (``givens``
swaps the inputs for ``data[idx]``), so a step moves no data between calls.

Run it with ``python -m symgraph demo``; ``--optimizer adam --dropout 0.2`` trains with
Adam (``sg.updates.adam``) and dropout on the hidden layer (``sg.nnet.dropout``, its mask
drawn inside the step's kernels; the evaluation function is the same graph compiled with
``training=False``).
"""
from __future__ import annotations

import sys
import time

import numpy as np

import symgraph as sg

EPOCHS = 20
HIDDEN = 64
BATCH = 32
LEARNING_RATE = 0.05
MOMENTUM = 0.9
ADAM_LEARNING_RATE = 0.003
OPTIMIZERS = ("momentum", "adam")


def load_digits(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(x_train, x_test, y_train, y_test)``: an 80/20 split, stratified by class, pixels
    scaled to [0, 1] in floatX, labels int64."""
    from sklearn.datasets import load_digits as sk_load_digits
    from sklearn.model_selection import train_test_split
    digits = sk_load_digits()
    x = (digits.data / 16.0).astype(sg.config.floatX)
    y = digits.target.astype("int64")
    return tuple(train_test_split(x, y, test_size=0.2, random_state=seed, stratify=y))


def init_layer(rng: np.random.Generator, n_in: int, n_out: int, name: str):
    """A weight matrix (Glorot-scaled normal, so tanh starts unsaturated) and a zero bias."""
    w = rng.normal(0.0, np.sqrt(2.0 / (n_in + n_out)), (n_in, n_out))
    return (sg.shared(w.astype(sg.config.floatX), name=f"W{name}"),
            sg.shared(np.zeros(n_out, sg.config.floatX), name=f"b{name}"))


def build(x_train: np.ndarray, y_train: np.ndarray, seed: int, optimizer: str = "momentum",
          dropout: float = 0.0):
    """Compile ``(step, evaluate)``: ``step(idx)`` trains on the training rows ``idx`` and
    returns their mean loss; ``evaluate(x, y)`` returns ``[mean loss, accuracy]``."""
    rng = np.random.default_rng(seed)
    n_classes = int(y_train.max()) + 1
    w1, b1 = init_layer(rng, x_train.shape[1], HIDDEN, "1")
    w2, b2 = init_layer(rng, HIDDEN, n_classes, "2")
    params = [w1, b1, w2, b2]

    x, y = sg.matrix("x"), sg.lvector("y")
    hidden = sg.nnet.dropout(sg.tanh(sg.dot(x, w1) + b1), dropout, sg.RandomStreams(seed))
    p = sg.nnet.softmax(sg.dot(hidden, w2) + b2)
    loss = sg.categorical_crossentropy(p, y).mean()
    accuracy = sg.mean(sg.cast(sg.eq(sg.argmax(p, axis=1), y), sg.config.floatX))

    if optimizer == "adam":
        updates = sg.updates.adam(loss, params, learning_rate=ADAM_LEARNING_RATE)
    else:
        velocities = [sg.shared(np.zeros_like(q.get_value()), name=f"v_{q.name}")
                      for q in params]
        updates = []
        for q, v, g in zip(params, velocities, sg.grad(loss, params)):
            v_new = MOMENTUM * v - LEARNING_RATE * g
            updates += [(v, v_new), (q, q + v_new)]

    x_data, y_data = sg.shared(x_train, name="x_train"), sg.shared(y_train, name="y_train")
    idx = sg.lvector("idx")
    step = sg.function([idx], loss, updates=updates,
                       givens={x: x_data[idx], y: y_data[idx]}, name="step")
    evaluate = sg.function([x, y], [loss, accuracy], name="evaluate", training=False)
    return step, evaluate


def train(epochs: int = EPOCHS, seed: int = 0, log=print, optimizer: str = "momentum",
          dropout: float = 0.0) -> float:
    """Train for ``epochs``, logging one line per epoch; the final test accuracy."""
    x_train, x_test, y_train, y_test = load_digits(seed)
    t0 = time.perf_counter()
    step, evaluate = build(x_train, y_train, seed, optimizer, dropout)
    log(f"digits: {len(x_train)} train / {len(x_test)} test images, MLP "
        f"{x_train.shape[1]}-{HIDDEN}-10 (tanh, softmax), {sg.config.floatX}, "
        f"{optimizer}{f', dropout {dropout}' if dropout else ''}, "
        f"backend {step.backend}; compiled in {time.perf_counter() - t0:.2f} s")
    rng = np.random.default_rng(seed)
    test_acc = 0.0
    for epoch in range(1, epochs + 1):
        order = rng.permutation(len(x_train))
        for start in range(0, len(order), BATCH):
            step(order[start:start + BATCH])
        train_loss, train_acc = evaluate(x_train, y_train)
        test_loss, test_acc = evaluate(x_test, y_test)
        log(f"epoch {epoch:3d}  loss {float(train_loss):.4f}  train acc "
            f"{float(train_acc):.4f}  test loss {float(test_loss):.4f}  test acc "
            f"{float(test_acc):.4f}")
    log(f"final test accuracy: {float(test_acc):.4f} ({epochs} epochs, "
        f"{time.perf_counter() - t0:.1f} s)")
    return float(test_acc)


def main(epochs: int = EPOCHS, seed: int = 0, optimizer: str = "momentum",
         dropout: float = 0.0) -> int:
    """The command ``python -m symgraph demo``; returns the exit status."""
    try:
        import sklearn  # noqa: F401
    except ImportError:
        print("the demo needs scikit-learn for its bundled digits data set; install the "
              "examples extra: pip install -e '.[examples]'", file=sys.stderr)
        return 1
    if optimizer not in OPTIMIZERS or not 0 <= dropout < 1:
        print(f"demo: --optimizer is one of {OPTIMIZERS} and --dropout in [0, 1), got "
              f"{optimizer!r} and {dropout}", file=sys.stderr)
        return 2
    train(epochs, seed, optimizer=optimizer, dropout=dropout)
    return 0
