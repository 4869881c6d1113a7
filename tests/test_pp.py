"""``sg.pp``: a graph as one line of Python-like text (symgraph/printing.py)."""
import numpy as np
import pytest

import symgraph as sg

x, y = sg.dmatrix("x"), sg.dmatrix("y")
v, n = sg.dvector("v"), sg.lscalar("n")
w = sg.shared(np.zeros((3, 3)), name="w")
t = sg.tensor("t", "float64", (None, None, None))

CASES = [
    # operators: only the parentheses precedence needs, the graph's grouping kept
    (x + y * 2, "x + y * 2.0"),
    ((x + y) * 2, "(x + y) * 2.0"),
    (x - (y - 1), "x - (y - 1.0)"),
    ((x - y) - 1, "x - y - 1.0"),
    (x / (y * 2), "x / (y * 2.0)"),
    (-x ** 2, "-x ** 2.0"),
    ((-x) ** 2, "(-x) ** 2.0"),
    ((x ** y) ** 2, "(x ** y) ** 2.0"),
    (x ** (y ** 2), "x ** (y ** 2.0)"),
    ((x < y) == (y < x), "(x < y) == (y < x)"),
    (~(x > y), "~(x > y)"),
    (1 - x, "1.0 - x"),
    (abs(x) % 3, "abs(x) % 3.0"),
    # calls, with the arguments that matter
    (sg.exp(x) + sg.log(y), "exp(x) + log(y)"),
    (sg.sum(x, axis=1), "sum(x, axis=1)"),
    (x.mean(axis=(0, 1)), "mean(x)"),
    (x.max(axis=0, keepdims=True), "max(x, axis=0, keepdims=True)"),
    (sg.cast(x, "float32"), "cast(x, 'float32')"),
    (sg.where(x > 0, x, 0), "where(x > 0.0, x, 0.0)"),
    (sg.nnet.softmax(x), "softmax(x, axis=1)"),
    (sg.zeros_like(x), "fill(x, 0.0)"),
    (sg.dot(x, w) + v, "dot(x, w) + v"),          # numpy's broadcasting is not written
    # axes and indexing as written
    (x.T, "x.T"),
    (t.transpose(1, 0, 2), "t.transpose(1, 0, 2)"),
    (x.dimshuffle(1, "x", 0), "x.dimshuffle(1, 'x', 0)"),
    (x[0, 1:3], "x[0, 1:3]"),
    (x[n:, ::2], "x[n:, ::2]"),
    (x[:, None], "x[:, None]"),
    (v[n + 1], "v[n + 1]"),
    (x[[0, 2]], "x[[0, 2]]"),
    (x.shape[0], "x.shape[0]"),
    (x.reshape((9,)), "x.reshape((9,))"),
    (sg.set_subtensor(x[0], v), "set_subtensor(x[0], v)"),
    (sg.inc_subtensor(x[1:, 0], 1.0), "inc_subtensor(x[1:, 0], 1.0)"),
]


@pytest.mark.parametrize("expr, text", CASES, ids=[t for _, t in CASES])
def test_pp(expr, text):
    assert sg.pp(expr) == text
    assert sg.printing.pp(expr) == text


def test_pp_of_a_gradient_and_its_cap():
    c = ((sg.tanh(sg.dot(x, w)) - y) ** 2).mean()
    g = sg.grad(c, w)
    text = sg.pp(g)
    assert text.startswith("dot(x.T, ") and "(1.0 - tanh(dot(x, w)) * tanh(dot(x, w)))" in text
    short = sg.pp(g, max_len=60)
    assert len(short) == 60 and short.endswith("...")


def test_pp_of_a_deep_graph_does_not_recurse():
    e = x
    for _ in range(3000):
        e = sg.exp(e)
    text = sg.pp(e, max_len=50)
    assert text.startswith("exp(exp(") and text.endswith("...")


def test_pp_of_multiple_outputs_and_fused_kernels():
    f = sg.function([x], sg.exp(x).sum(axis=1), backend="numpy")
    (node,) = f.nodes
    assert sg.pp(node.outputs[0]) == "fused{exp, sum{axis=(1,)}}(x)"
    f = sg.function([x], [sg.exp(x).sum(axis=1), sg.exp(x).max(axis=1)], backend="numpy")
    (node,) = f.nodes
    assert sg.pp(node.outputs[1]) == "fused{exp, max{axis=(1,)}, sum{axis=(1,)}}(x).1"
