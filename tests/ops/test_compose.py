"""OpFromGraph and the inner-graph protocol: the graph tools see the inner graph, equal
inner graphs merge, gradients (and gradients of them) differentiate the inner graph, and
the op runs as a sub-program or inlined, on every backend, with the same values."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import toposort
from tests.checks import BACKENDS


def _axpy():
    a, x, y = sg.dscalar("a"), sg.dvector("x"), sg.dvector("y")
    return sg.OpFromGraph([a, x, y], [a * x + sg.tanh(y)], name="axpy")


@pytest.mark.parametrize("inline", [False, True])
@pytest.mark.parametrize("backend", BACKENDS)
def test_values_as_a_sub_program_or_inlined(inline, backend):
    a, x, y = sg.dscalar("a"), sg.dvector("x"), sg.dvector("y")
    u, v = sg.dvector("u"), sg.dvector("v")
    op = sg.OpFromGraph([a, x, y], [a * x + sg.tanh(y), x.sum()], inline=inline)
    out, total = op(2.0, u, v)
    f = sg.function([u, v], [out * 3, total], backend=backend)
    kinds = [s.kind for s in f._program.steps]
    assert ("program" in kinds) != inline
    uu, vv = np.array([1.0, -2.0]), np.array([0.5, 3.0])
    got = f(uu, vv)
    np.testing.assert_allclose(got[0], 3 * (2 * uu + np.tanh(vv)), rtol=1e-12)
    np.testing.assert_allclose(got[1], uu.sum(), rtol=1e-12)


def test_the_graph_tools_see_the_inner_graph():
    op = _axpy()
    u = sg.dvector("u")
    out = op(1.5, u, u)
    outer = [n.op.name for n in toposort([out])]
    assert outer == ["axpy"]
    inner = [n.op.name for n in toposort([out], inner=True)]
    assert inner[-1] == "axpy" and "tanh" in inner and "mul" in inner
    text = sg.debugprint(out, file="str")
    assert "inner graph of axpy" in text and "tanh" in text


def test_equal_inner_graphs_make_equal_ops_and_merge():
    u = sg.dvector("u")
    f = sg.function([u], _axpy()(2.0, u, u) + _axpy()(2.0, u, u))
    assert _axpy() == _axpy() and hash(_axpy()) == hash(_axpy())
    assert sum(s.kind == "program" for s in f._program.steps) == 1
    assert f.rewrite_log.counts["merge_node"] >= 1
    a, x, y = sg.dscalar("a"), sg.dvector("x"), sg.dvector("y")
    assert sg.OpFromGraph([a, x, y], [a * x - sg.tanh(y)]) != _axpy()


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_through_the_inner_graph(backend):
    op = _axpy()
    sg.verify_grad(lambda a, x, y: op(a.sum(), x, y), [np.array([0.7]), np.array([1.0, -2.0]),
                                                       np.array([0.3, 0.9])], backend=backend)
    u = sg.dvector("u")
    g = sg.grad(op(2.0, u, u).sum(), u)
    assert any(isinstance(n.op, sg.OpFromGraph) for n in toposort([g]))   # another OpFromGraph
    gg = sg.grad(g.sum(), u)                                             # and its gradient
    uu = np.array([0.4, -1.1])
    np.testing.assert_allclose(sg.function([u], gg, backend=backend)(uu),
                               -2 * np.tanh(uu) * (1 - np.tanh(uu) ** 2), rtol=1e-10)


def test_shared_variables_inside_become_implicit_inputs():
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    x = sg.dvector("x")
    op = sg.OpFromGraph([x], [x * w])
    u = sg.dvector("u")
    step = sg.function([u], op(u).sum(), updates=[(w, w * 2)])
    assert float(step([1.0, 1.0])) == 3.0 and float(step([1.0, 1.0])) == 6.0
    gw = sg.grad(op(u).sum(), w)
    np.testing.assert_array_equal(sg.function([u], gw)([3.0, 4.0]), [3.0, 4.0])


def test_wrong_inputs_and_open_graphs_are_refused():
    op = _axpy()
    with pytest.raises(TypeError, match="axpy takes 3 inputs, got 2"):
        op(1.0, sg.dvector())
    with pytest.raises(TypeError, match=r"input 1 must be float64\(\?,\), got float32"):
        op(1.0, sg.fvector(), sg.dvector())
    x, y = sg.dvector("x"), sg.dvector("y")
    with pytest.raises(ValueError, match=r"uses y .*not one of its inputs"):
        sg.OpFromGraph([x], [x + y])
