"""Lowering: what each node runs as comes from its op's rule. Basic indexing and shape
changes are views (no copy), products and gathers library calls by name, elementwise work
and reductions kernels, user-defined ops a checked Python call, inner graphs programs."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from codegen.program import KernelCall, LibraryCall, PythonCall, SubProgram

BACKENDS = ["numpy", "llvm"]


def _kinds(f) -> list[str]:
    return [s.kind for s in f._program.steps]


@pytest.mark.parametrize("index", [
    (1,), (slice(1, None),), (slice(None, None, -1),), (Ellipsis, 0), (None, slice(None), 2),
    (-1, slice(None, None, -2)), (slice(-3, -1), Ellipsis, None)])
@pytest.mark.parametrize("backend", BACKENDS)
def test_basic_slicing_is_a_view(index, backend):
    x = sg.dtensor3("x")
    f = sg.function([x], x[index] * 1, backend=backend, rewrite=False)
    assert _kinds(f)[0] == "view"
    v = f._program.steps[0].what
    assert isinstance(v, LibraryCall) and v.name == "subtensor"
    a = np.arange(60.0).reshape(3, 4, 5)
    np.testing.assert_array_equal(f(a), a[index])


def test_views_of_a_symbolic_index_and_the_shape_ops():
    x, n = sg.dmatrix("x"), sg.lscalar("n")
    f = sg.function([x, n], [x[n:, ::-1], x.T, x.reshape((-1,)), x.dimshuffle(0, "x", 1),
                             sg.broadcast_to(x[0][None], (5, x.shape[1])), sg.stop_gradient(x)],
                    rewrite=False)
    kinds = {s.label.split("{")[0]: s.kind for s in f._program.steps}
    assert kinds["subtensor"] == kinds["transpose"] == kinds["reshape"] == "view"
    assert kinds["dimshuffle"] == kinds["broadcastto"] == kinds["stopgradient"] == "view"
    a = np.arange(6.0).reshape(2, 3)
    got = f(a, 1)
    np.testing.assert_array_equal(got[0], a[1:, ::-1])
    np.testing.assert_array_equal(got[4], np.broadcast_to(a[:1], (5, 3)))
    for g in got:                   # every output is the caller's own array
        assert not np.shares_memory(g, a) and g.flags.writeable


def test_products_gathers_and_sorts_are_library_calls_by_name():
    x, v, i = sg.dmatrix("x"), sg.dvector("v"), sg.lvector("i")
    f = sg.function([x, v, i], [sg.dot(x, v), x[i], sg.argmax(x, axis=1), sg.sort(v),
                                sg.concatenate([v, v])], rewrite=False)
    names = [s.what.name for s in f._program.steps if s.kind == "call"]
    assert names == ["dot", "gather", "argmax", "sort", "concatenate"]


def test_elementwise_work_and_reductions_are_kernels():
    x = sg.dmatrix("x")
    f = sg.function([x], [sg.exp(x) + 1, x.sum(axis=0)], rewrite=False)
    assert all(isinstance(s.what, KernelCall) for s in f._program.steps)


class Twice(sg.Op):
    """A user-defined op written with numpy only."""

    def make_node(self, x):
        return sg.Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        return [inputs[0] * 2]

    def grad(self, inputs, outputs, output_grads):
        return [output_grads[0] * 2]


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_user_op_with_only_perform_works_everywhere(backend):
    x = sg.dvector("x")
    y = Twice()(sg.exp(x))
    f = sg.function([x], [y, sg.grad(y.sum(), x)], backend=backend)
    assert any(isinstance(s.what, PythonCall) for s in f._program.steps)
    out, g = f(np.array([0.0, 1.0]))
    np.testing.assert_allclose(out, 2 * np.exp([0.0, 1.0]))
    np.testing.assert_allclose(g, 2 * np.exp([0.0, 1.0]))


class ReturnsAnArray(Twice):
    def perform(self, node, inputs):
        return inputs[0] * 2


class WrongDtype(Twice):
    def perform(self, node, inputs):
        return [inputs[0].astype("float32")]


@pytest.mark.parametrize("op,match", [
    (ReturnsAnArray(), r"ReturnsAnArray.perform must return a list with one array per "
                       r"output \(1\), got ndarray"),
    (WrongDtype(), r"output 0 is float32\(3,\), its type says float64\(\?,\)")])
def test_a_user_op_that_returns_the_wrong_thing_is_told_so(op, match):
    x = sg.dvector("x")
    f = sg.function([x], op(x))
    with pytest.raises(TypeError, match=match):
        f(np.ones(3))


def test_an_op_without_perform_or_rule_says_so():
    class Nothing(sg.Op):
        def make_node(self, x):
            return sg.Apply(self, [x], [x.type()])
    x = sg.dvector("x")
    with pytest.raises(NotImplementedError, match="neither a lowering rule nor a perform"):
        sg.function([x], Nothing()(x))(np.ones(2))


def test_an_inner_graph_runs_as_a_program_of_its_own():
    a = sg.dvector("a")
    op = sg.OpFromGraph([a], [sg.exp(a) * 2])
    x = sg.dvector("x")
    f = sg.function([x], op(x) + 1)
    (sub,) = [s.what for s in f._program.steps if s.kind == "program"]
    assert isinstance(sub, SubProgram)
    assert [s.kind for s in sub.program.steps] == ["kernel"]     # optimized: one kernel
    np.testing.assert_allclose(f([0.0, 1.0]), 2 * np.exp([0.0, 1.0]) + 1)


def test_lowering_an_unfused_graph_lowers_each_node_once(monkeypatch):
    """Looking for views among a kernel's inputs does not lower the producers that are
    kernels themselves: lowering a chain of diamonds (y = y * c + y) without
    fusion took time doubling with each level (3 s at 16, 15 s at 18) before; 12 levels
    lowered the elementwise nodes thousands of times."""
    from symgraph.ops.elemwise import Elemwise
    calls = []
    lower = Elemwise.lower
    monkeypatch.setattr(Elemwise, "lower", lambda self, node: calls.append(node) or
                        lower(self, node))
    x = sg.fvector("x")
    y = x
    for _ in range(12):
        y = y * 1.01 + y
    f = sg.function([x], y, fusion=False)
    assert len(calls) <= 2 * 24
    np.testing.assert_allclose(f(np.ones(3, "float32")), np.full(3, 2.01 ** 12, "float32"),
                               rtol=1e-4)
