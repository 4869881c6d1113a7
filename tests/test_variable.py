"""The tensor layer: numpy's functions and ufuncs on symbolic tensors dispatch to
symgraph's or say clearly that they cannot, and graphs pickle (deep ones too)."""
from __future__ import annotations

import pickle
import subprocess
import sys

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import toposort


@pytest.mark.parametrize("call,sg_fn", [
    (lambda x: np.sum(x), lambda x: sg.sum(x)),
    (lambda x: np.sum(x, axis=1, keepdims=True), lambda x: x.sum(axis=1, keepdims=True)),
    (lambda x: np.mean(x, 0), lambda x: x.mean(0)),
    (lambda x: np.max(x), lambda x: x.max()),
    (lambda x: np.exp(x) + np.sqrt(x), lambda x: sg.exp(x) + sg.sqrt(x)),
    (lambda x: np.maximum(x, 0.5), lambda x: sg.maximum(x, 0.5)),
    (lambda x: np.dot(x, x.T), lambda x: sg.dot(x, x.T)),
    (lambda x: np.transpose(x), lambda x: x.T),
    (lambda x: np.where(x > 0, x, 0.0), lambda x: sg.where(x > 0, x, 0.0)),
    (lambda x: np.concatenate([x, x], axis=1), lambda x: sg.concatenate([x, x], axis=1)),
    (lambda x: np.clip(x, 0.1, 0.9), lambda x: sg.clip(x, 0.1, 0.9)),
    (lambda x: np.trace(x), lambda x: sg.trace(x)),
    (lambda x: np.ones(2) * x, lambda x: 1.0 * x),
])
def test_numpy_functions_dispatch(call, sg_fn):
    x = sg.dmatrix("x")
    a = np.random.default_rng(0).uniform(0, 1, (2, 2))
    got, want = call(x), sg_fn(x)
    assert isinstance(got, sg.TensorVariable)
    np.testing.assert_allclose(got.eval({x: a}), want.eval({x: a}), rtol=1e-12)
    assert np.ndim(x) == 2


@pytest.mark.parametrize("call,match", [
    (lambda x: np.sum(x, out=np.empty(())), r"np.sum cannot write into a symbolic tensor"),
    (lambda x: np.linalg.svd(x), r"np.svd does not work on symbolic tensors"),
    (lambda x: np.exp(x, out=np.empty(2)), r"np.exp does not work on symbolic tensors with"),
    (lambda x: np.add.reduce(x), r"np.add.reduce does not work on symbolic tensors"),
    (lambda x: np.logaddexp(x, x), r"np.logaddexp does not work on symbolic tensors"),
    (lambda x: np.asarray(x), r"x is symbolic: it has no value while building"),
    (lambda x: np.zeros(2) + [x, x], r"x is symbolic"),
])
def test_numpy_functions_that_cannot_work_say_so(call, match):
    with pytest.raises(TypeError, match=match):
        call(sg.dvector("x"))


def test_graphs_pickle_with_their_types_names_and_lines():
    x = sg.dvector("x")
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    y = sg.tanh(x * w).sum()
    line = y.owner.built_at
    y2 = pickle.loads(pickle.dumps(y))
    assert y2.type == y.type and y2.owner.built_at == line
    (x2,) = [v for v in sg.graph.graph_inputs([y2]) if v.name == "x"]
    np.testing.assert_allclose(y2.eval({x2: np.array([0.5, 0.5])}),
                               np.tanh(np.array([0.5, 1.0])).sum(), rtol=1e-12)
    g = pickle.loads(pickle.dumps(sg.grad(y, x)))
    assert len(toposort([g])) == len(toposort([sg.grad(y, x)]))


def test_deep_graphs_pickle_without_recursion():
    x = sg.dvector("x")
    y = x
    for _ in range(3000):
        y = sg.tanh(y) * 1.0001 + 0.001
    y2 = pickle.loads(pickle.dumps(y))
    assert len(toposort([y2])) == len(toposort([y]))


def test_no_crash_at_exit_after_compiling_a_large_graph():
    """The method tables of native entries live as long as their functions: freeing a
    function at interpreter exit used to read a freed table (exit code 139)."""
    script = """
import numpy as np, symgraph as sg
x = sg.dvector("x"); y = x
for _ in range(3000):
    y = sg.tanh(y) * 1.0001 + 0.001
f = sg.function([x], y, fusion=False)
print(f(np.array([0.5]))[0])
"""
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert abs(float(out.stdout) - 0.14532228) < 1e-6
