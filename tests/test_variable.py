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


# ------------------------------------------------------------------ static sizes of shared
@pytest.mark.parametrize("kw", [{"shape": (1, None)}, {"broadcastable": (True, False)},
                                {"shape": (1, None), "broadcastable": (True, False)}])
def test_a_shared_row_broadcasts_like_theanos_bias(kw):
    b = sg.shared(np.array([[1.0, 2.0, 3.0]]), name="b", **kw)
    assert b.type == sg.TensorType("float64", (1, None))
    assert b.type.broadcastable == (True, False)
    x = sg.dmatrix("x")
    np.testing.assert_array_equal(sg.function([x], x + b)(np.zeros((2, 3))),
                                  [[1.0, 2.0, 3.0]] * 2)
    assert sg.shared(np.zeros((2, 3)), shape=(2, 3)).type.shape == (2, 3)
    assert sg.shared(np.zeros(3), shape=(None,)).type.shape == (None,)


def test_set_value_keeps_declared_static_sizes():
    b = sg.shared(np.zeros((1, 3)), name="b", shape=(1, None))
    b.set_value(np.ones((1, 5)))                    # an unknown size may change
    with pytest.raises(ValueError, match=r"set_value of shared variable b: expected shape "
                                         r"\(1, \?\) \(float64\(1, \?\)\), got \(2, 5\)"):
        b.set_value(np.ones((2, 5)))
    np.testing.assert_array_equal(b.get_value(), np.ones((1, 5)))    # the old value stays


@pytest.mark.parametrize("kw,err,match", [
    ({"shape": (2, None)}, ValueError, r"shared variable b: expected shape \(2, \?\)"),
    ({"shape": (1,)}, ValueError, r"shape=\(1,\) has 1 entries, the value has rank 2"),
    ({"broadcastable": (True,)}, ValueError, "broadcastable=.True,. has 1 entries"),
    ({"broadcastable": (1, 0)}, TypeError, "broadcastable entries must be True or False"),
    ({"shape": (1, -1)}, ValueError, "shape entries must be ints >= 0 or None"),
    ({"shape": (1, None), "broadcastable": (False, False)}, ValueError,
     r"shape=\(1, None\) and broadcastable=\(False, False\) disagree"),
])
def test_shared_static_size_errors(kw, err, match):
    with pytest.raises(err, match=match):
        sg.shared(np.zeros((1, 3)), name="b", **kw)


def test_updates_keep_declared_static_sizes():
    b = sg.shared(np.zeros((1, 3)), name="b", shape=(1, None))
    w = sg.shared(np.zeros(3), name="w")
    y = sg.dmatrix("y")
    with pytest.raises(TypeError, match=r"updates: the new value of b \(float64\(1, \?\)\) "
                                        r"has type float64\(2, \?\) \(its static sizes"):
        sg.function([], [], updates=[(b, sg.concatenate([b, b]))])
    f = sg.function([y], [], updates=[(w, w + 1), (b, y)])    # y's sizes are not known
    f(np.ones((1, 3)))
    with pytest.raises(ValueError, match=r"function: the update of b has shape \(2, 3\), but "
                                         r"b is float64\(1, \?\); no update was applied"):
        f(np.full((2, 3), 5.0))
    np.testing.assert_array_equal(b.get_value(), np.ones((1, 3)))
    np.testing.assert_array_equal(w.get_value(), np.ones(3))     # nor any other
