"""ifelse: values on every backend for either condition, several outputs, branches of
different shapes; laziness (the branch not taken never runs, nor raises); gradients
through both branches, nested, in updates; the cut between the function and the branches;
clear errors for branches that do not match."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import toposort
from symgraph.ifelse import IfElse, ifelse
from symgraph.ops.special import training_flag
from tests.checks import BACKENDS


class Counted(sg.Op):
    """``2 * x`` in numpy, counting its calls (a user op: it runs as a Python call);
    its gradient is ``backward`` (another Counted) of the output's."""

    def __init__(self, backward: "Counted | None" = None):
        self.calls, self.backward = 0, backward

    __eq__, __hash__ = object.__eq__, object.__hash__      # each counts its own calls

    def make_node(self, x):
        return sg.Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        self.calls += 1
        return [inputs[0] * 2]

    def grad(self, inputs, outputs, output_grads):
        return [self.backward(output_grads[0])]


def _ifelses(f) -> list[IfElse]:
    return [n.op for n in f.nodes if isinstance(n.op, IfElse)]


def _inner_ops(op: IfElse, branch: int) -> list[str]:
    return [n.op.name for n in toposort(op.inner_graphs()[branch].outputs)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_values_for_either_condition_of_each_dtype(backend):
    x, y = sg.dmatrix("x"), sg.dmatrix("y")
    xv = np.arange(12.0).reshape(3, 4)[:, ::2]          # not contiguous
    yv = np.linspace(-1, 1, 6).reshape(3, 2)
    for cond, values in [(sg.tensor("c", "bool", ()), [True, False]),
                         (sg.bscalar("c"), [1, 0]), (sg.lscalar("c"), [3, 0, -1]),
                         (sg.tensor("c", "uint8", ()), [255, 0]),
                         (sg.fscalar("c"), [0.5, 0.0, np.nan])]:
        total, prod = ifelse(cond, [sg.exp(x).sum(axis=1), x * y],
                             [y.max(axis=1), x - y])
        f = sg.function([cond, x, y], [total, prod], backend=backend)
        assert [s.kind for s in f._program.steps] == ["branch"]
        for v in values * 2:                             # flipping, twice
            got = f(v, xv, yv)
            want = [np.exp(xv).sum(axis=1), xv * yv] if v else [yv.max(axis=1), xv - yv]
            for g, w in zip(got, want):
                assert g.dtype == w.dtype and g.shape == w.shape
                np.testing.assert_allclose(g, w, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_branches_of_different_shapes_and_static_sizes(backend):
    c, x, y = sg.iscalar("c"), sg.tensor("x", "float32", (1, 3)), sg.fmatrix("y")
    out = ifelse(c, x * 2, y[1:])
    assert out.type.shape == (None, None)               # the sizes they do not share
    assert ifelse(c, x, x + 1).type.shape == (1, 3)      # and those they do
    f = sg.function([c, x, y], out, backend=backend)
    xv, yv = np.ones((1, 3), "float32"), np.arange(10, dtype="float32").reshape(5, 2)
    np.testing.assert_array_equal(f(1, xv, yv), 2 * xv)
    np.testing.assert_array_equal(f(0, xv, yv), yv[1:])
    empty = np.zeros((1, 0), "float32")
    assert f(0, xv, empty).shape == (0, 0)


def test_a_single_variable_a_list_or_a_tuple_come_back_as_given():
    c, x = sg.iscalar("c"), sg.dvector("x")
    assert isinstance(ifelse(c, x, x * 2), sg.TensorVariable)
    assert isinstance(ifelse(c, [x], [x * 2]), list)
    assert isinstance(ifelse(c, (x, x), (x * 2, x)), tuple)
    assert sg.ifelse is ifelse                           # sg.ifelse is the function
    f = sg.function([c, x], ifelse(c, [x, 1.5], [x * 2, x.sum()]))   # values: the other's dtype
    assert [v.tolist() for v in f(0, [1.0, 2.0])] == [[2.0, 4.0], 3.0]
    assert [v.tolist() for v in f(1, [1.0, 2.0])] == [[1.0, 2.0], 1.5]


@pytest.mark.parametrize("backend", BACKENDS)
def test_only_the_branch_taken_runs(backend):
    then_op, else_op = Counted(), Counted()
    c, x = sg.bscalar("c"), sg.dvector("x")
    shared_work = sg.exp(x)                              # both branches need it
    out = ifelse(c, then_op(shared_work).sum(), else_op(shared_work + 1).max())
    f = sg.function([c, x], out, backend=backend)
    xv = np.array([0.0, 1.0])
    calls = []
    for v in [True, True, False, True, False, False]:
        want = 2 * np.exp(xv).sum() if v else 2 * (np.exp(xv) + 1).max()
        assert float(f(v, xv)) == pytest.approx(want)
        calls.append((then_op.calls, else_op.calls))
    assert calls == [(1, 0), (2, 0), (2, 1), (3, 1), (3, 2), (3, 3)]
    op, = _ifelses(f)
    assert "exp" not in _inner_ops(op, 0) + _inner_ops(op, 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_branch_not_taken_does_not_raise(backend):
    c, x = sg.iscalar("c"), sg.dvector("x")
    f = sg.function([c, x], ifelse(c, x[5] * 2, x.sum()), backend=backend)
    assert float(f(0, np.ones(3))) == 3.0
    # the taken branch's failure is the inner node's, at the user's line
    with pytest.raises(IndexError, match=r"(?s)out of range.*subtensor\{5\}.*test_ifelse.py:"):
        f(1, np.ones(3))
    assert float(f(1, np.ones(6))) == 2.0


def test_a_constant_condition_is_the_branch_it_takes():
    x = sg.dvector("x")
    op = Counted()
    f = sg.function([x], ifelse(np.int8(0), op(x), x + 1))
    assert not _ifelses(f) and f.rewrite_log.counts["ifelse_constant_condition"] == 1
    assert f([1.0]).tolist() == [2.0] and op.calls == 0
    f = sg.function([x], ifelse(training_flag(), op(x), x * 3), training=False)
    assert f([1.0]).tolist() == [3.0] and op.calls == 0 and not _ifelses(f)


def test_work_the_function_needs_anyway_is_not_computed_again_in_a_branch():
    c, x = sg.iscalar("c"), sg.dvector("x")
    z = sg.exp(x)
    total = x.sum()
    f = sg.function([c, x], [ifelse(c, z * 2 + total, sg.cos(x)), z, total > 0])
    op, = _ifelses(f)
    assert _inner_ops(op, 0) and "exp" not in _inner_ops(op, 0)
    assert "sum" not in _inner_ops(op, 0) and "cos" in _inner_ops(op, 1)
    assert f.rewrite_log.counts["ifelse_recut"] >= 1
    xv = np.array([0.5, -1.0])
    np.testing.assert_allclose(f(1, xv)[0], 2 * np.exp(xv) + xv.sum())
    np.testing.assert_allclose(f(0, xv)[0], np.cos(xv))
    cond = total > 0                     # what the condition needs runs before, once
    g = sg.function([x], ifelse(cond, total * 2, sg.sin(x).sum()))
    op, = _ifelses(g)
    assert "sum" not in _inner_ops(op, 0)
    assert float(g(xv)) == pytest.approx(np.sin(xv).sum())


def test_equal_ifelses_merge():
    c, x = sg.iscalar("c"), sg.dvector("x")
    a = ifelse(c, sg.exp(x), sg.cos(x))
    b = ifelse(c, sg.exp(x), sg.cos(x))
    assert a.owner.op == b.owner.op
    f = sg.function([c, x], a + b)
    assert sum(s.kind == "branch" for s in f._program.steps) == 1
    np.testing.assert_allclose(f(0, [0.0]), [2.0])


def test_ifelses_on_one_condition_become_one_unless_one_needs_the_other():
    c, x = sg.bscalar("c"), sg.dmatrix("x")
    ws = [sg.shared(np.full((2, 2), 0.5 * (i + 1)), name=f"w{i}") for i in range(3)]
    h = x
    for w in ws:
        h = sg.tanh(sg.dot(h, w))
    cost = (h ** 2).sum()
    per_param = [(w, ifelse(c, w - 0.1 * g, w)) for w, g in zip(ws, sg.grad(cost, ws))]
    f = sg.function([c, x], cost, updates=per_param)
    assert [s.kind for s in f._program.steps].count("branch") == 1
    assert f.rewrite_log.counts["merge_ifelse"] == 2
    xv = np.array([[1.0, -1.0]])
    want = [w.get_value() - 0.1 * g for w, g in
            zip(ws, sg.function([x], sg.grad(cost, ws))(xv))]
    f(False, xv)
    f(True, xv)
    for w, v in zip(ws, want):
        np.testing.assert_allclose(w.get_value(), v, rtol=1e-12)
    a = ifelse(c, x * 2, x)
    b = ifelse(c, a + 1, a * 3)                          # needs a: two steps
    g = sg.function([c, x], [a, b])
    assert [s.kind for s in g._program.steps].count("branch") == 2
    assert [v.tolist() for v in g(False, xv)] == [[[1.0, -1.0]], [[3.0, -3.0]]]


def test_a_cost_and_its_gradient_share_their_branch():
    c, w = sg.bscalar("c"), sg.dvector("w")
    cost = ifelse(c, sg.exp(sg.sin(w)).sum(), (w ** 2).sum())
    f = sg.function([c, w], [cost, sg.grad(cost, w)])
    assert [s.kind for s in f._program.steps] == ["branch"]
    then_program = f._program.steps[0].what.then_program
    assert [s.kind for s in then_program.steps] == ["kernel"]    # sin once, fused
    wv = np.array([0.1, 0.2])
    value, grad = f(True, wv)
    np.testing.assert_allclose(grad, np.exp(np.sin(wv)) * np.cos(wv), rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gradients_through_both_branches(backend):
    flag = sg.shared(np.int8(1), name="flag")
    for v in (1, 0):
        flag.set_value(np.int8(v))
        sg.verify_grad(lambda a, b: ifelse(flag, [sg.tanh(a) * b.sum(), a * 2],
                                           [a ** 2, sg.exp(a) + b[0]])[0] * 3,
                       [np.array([0.3, -0.8]), np.array([0.5, 1.5, -2.0])], backend=backend)
        sg.verify_grad(lambda a: ifelse(flag, ifelse(a.sum() > 0, sg.sin(a), a ** 3), a * 5),
                       [np.array([0.4, -0.1])], backend=backend)       # nested


def test_the_gradient_is_as_lazy():
    back = Counted()
    back.backward = back
    then_op = Counted(backward=back)
    c, x = sg.bscalar("c"), sg.dvector("x")
    cost = ifelse(c, then_op(sg.exp(x)).sum(), (x ** 2).sum())
    names = [n.op.name for n in toposort([sg.grad(cost, x)]) if isinstance(n.op, IfElse)]
    assert names == ["ifelse", "grad_ifelse"]    # the seed reads the cost's shape
    f = sg.function([c, x], sg.grad(cost, x))
    xv = np.array([0.5, 1.0])
    np.testing.assert_allclose(f(False, xv), 2 * xv)
    assert (then_op.calls, back.calls) == (0, 0)
    np.testing.assert_allclose(f(True, xv), 2 * np.exp(xv))
    assert back.calls == 1
    gg = sg.function([c, x], sg.grad(sg.grad(cost, x).sum(), x))   # and its gradient
    np.testing.assert_allclose(gg(False, xv), [2.0, 2.0])


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_update_through_ifelse(backend):
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    c, x = sg.bscalar("c"), sg.dvector("x")
    cost = ((w * x).sum() - 1) ** 2
    g = sg.grad(cost, w)
    step = sg.function([c, x], cost, updates=[(w, ifelse(c, w - 0.1 * g, w))],
                       backend=backend)
    xv, wv = np.array([1.0, 0.5]), np.array([1.0, 2.0])
    for v in [True, False, True, True, False]:
        got = float(step(v, xv))
        want = ((wv * xv).sum() - 1) ** 2
        assert got == pytest.approx(want)
        if v:
            wv = wv - 0.1 * 2 * ((wv * xv).sum() - 1) * xv
        np.testing.assert_allclose(w.get_value(), wv, rtol=1e-12)


def test_branches_that_do_not_match_are_refused():
    c, x, y = sg.iscalar("c"), sg.dvector("x"), sg.fvector("y")
    with pytest.raises(TypeError, match=r"output 0: then_branch is float64\(\?,\) and "
                                        r"else_branch float32\(\?,\)"):
        ifelse(c, x, y)
    with pytest.raises(TypeError, match=r"output 1: then_branch is float64\(\?,\) and "
                                        r"else_branch float64\(\?, \?\)"):
        ifelse(c, [x, x], [x, sg.dmatrix()])
    with pytest.raises(ValueError, match="then_branch has 2 variables and else_branch 1"):
        ifelse(c, [x, x], [x])
    with pytest.raises(TypeError, match=r"condition must be a scalar .*got int32\(\?,\)"):
        ifelse(sg.ivector("c"), x, x)
    op = ifelse(c, sg.exp(x), x).owner.op
    with pytest.raises(TypeError, match=r"ifelse takes 2 inputs \(the condition first\), "
                                        "got 3"):
        op(c, x, x)
    with pytest.raises(TypeError, match=r"input 1 must be float64\(\?,\), got float32"):
        op(c, y)


def test_on_a_device_the_branch_taken_runs_there_and_nothing_comes_back():
    from codegen.backend import register
    from tests.compile.test_function_device import CountingDevice, DeviceArray
    device = CountingDevice()
    register(device)
    c, x = sg.bscalar("c"), sg.dvector("x")
    f = sg.function([c, x], ifelse(c, x * 2 + 1, x - 3), backend=device.name)
    built = device.uploads                       # the branches' constants, once
    for v, want in [(True, [3.0, 5.0]), (False, [-2.0, -1.0]), (True, [3.0, 5.0])]:
        out = f(v, np.array([1.0, 2.0]))
        assert isinstance(out, DeviceArray) and out.tolist() == want
    assert device.downloads == 0 and device.uploads == built + 3 * 2   # the call's inputs
