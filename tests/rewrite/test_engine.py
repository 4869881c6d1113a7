"""The rewrite engine: the pass list, the log of what fired, ``f.nodes``, that the user's
graph is never changed, and that errors in rewritten or fused nodes still name the line
of the user's code that built them."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import Constant
from symgraph.rewrite import PASSES, optimize
from tests.rewrite.helpers import op_names

ORDER = ["merge", "constant_fold", "canonicalize", "merge_ifelse", "stabilize", "specialize",
         "merge_rewritten", "scan_merge", "fuse", "fuse_stages", "recompute", "fuse_siblings",
         "merge_final"]


def here() -> int:
    """The caller's line number (for asserting ``file:line`` in messages)."""
    return inspect.currentframe().f_back.f_lineno


def test_passes_are_listed_once_in_order():
    assert [name for name, _ in PASSES] == ORDER
    x = sg.dvector("x")
    assert [p for p, _, _ in sg.function([x], x + 1).rewrite_log.passes] == ORDER
    unfused = sg.function([x], x + 1, fusion=False).rewrite_log.passes
    assert [p for p, _, _ in unfused] == [p for p in ORDER if p not in ("fuse", "fuse_stages", "recompute", "fuse_siblings")]


def test_rewrite_log_counts_times_and_prints():
    x = sg.dvector("x")
    f = sg.function([x], sg.exp((x * 1) + 0) * sg.sin(x))
    log = f.rewrite_log
    assert log.counts["mul_by_one"] == 1 and log.counts["add_zero"] == 1
    assert log.counts["fuse_elemwise"] == 1 and log.counts["fused_ops"] == 3
    by_pass = {name: n for name, _, n in log.passes}
    assert by_pass["canonicalize"] == 2 and by_pass["fuse"] == 1 and by_pass["merge"] == 0
    assert all(isinstance(t, float) and t >= 0 for _, t, _ in log.passes)
    assert log.total_time == pytest.approx(sum(t for _, t, _ in log.passes))
    assert (log.nodes_before, log.nodes_after) == (5, 1)
    text = str(log)
    assert text.startswith("rewrites: 5 nodes -> 1 nodes")
    for word in (*ORDER, "mul_by_one", "add_zero", "fuse_elemwise"):
        assert word in text


def test_no_rewrite_has_an_empty_log_and_runs_the_graph_as_written():
    x = sg.dvector("x")
    f = sg.function([x], (x * 1) + 0, rewrite=False)
    assert not f.rewrite_log.passes and not f.rewrite_log.counts
    assert op_names(f) == ["mul", "add"]
    assert str(f.rewrite_log).startswith("rewrites: 0 nodes -> 0 nodes")


def test_nodes_are_the_optimized_graph_in_execution_order():
    x, y = sg.dvector("x"), sg.dmatrix("y")
    out = sg.dot(y, sg.exp(x * 1)) + sg.tanh(x)
    f = sg.function([x, y], out, fusion=False)
    assert sorted(op_names(f)) == ["add", "dot", "exp", "tanh"]     # x * 1 is gone
    known = {id(x), id(y)}
    for node in f.nodes:
        assert all(id(i) in known or isinstance(i, Constant) for i in node.inputs), node
        known.update(id(o) for o in node.outputs)
    assert f.graph_outputs[0].owner is f.nodes[-1]


def test_optimizing_never_changes_the_users_graph():
    x = sg.dvector("x")
    y = sg.exp(x * 1) + sg.exp(x)
    before = sg.debugprint(y, file="str")
    fg, _ = optimize([y])
    assert sg.debugprint(y, file="str") == before
    assert fg.outputs[0] is not y and sg.function([x], y)(np.zeros(2)).tolist() == [2.0, 2.0]


def test_runtime_error_in_a_fused_node_names_the_users_line():
    x, y = sg.dvector("x"), sg.dvector("y")
    out, line = sg.exp(x) * sg.sin(y) + x, here()
    f = sg.function([x, y], out)
    assert len(f.nodes) == 1 and f.fusion
    with pytest.raises(ValueError) as err:
        f(np.ones(3), np.ones(4))
    assert f"{__file__}:{line}" in str(err.value)
    assert "(3,)" in str(err.value) and "(4,)" in str(err.value)


def test_runtime_error_in_a_node_a_rewrite_made_names_the_users_line():
    # reshape(reshape(m)) becomes one new Reshape node: it must inherit the trace
    m = sg.dmatrix("m")
    out, line = sg.reshape(sg.reshape(m, (-1,)), (2, 3)), here()
    f = sg.function([m], out)
    assert f.rewrite_log.counts["reshape_reshape"] == 1 and len(f.nodes) == 1
    with pytest.raises(Exception) as err:
        f(np.ones((5, 1)))
    assert f"{__file__}:{line}" in str(err.value)


def test_nodes_the_rewrites_drop_are_freed_without_the_cyclic_collector(monkeypatch):
    """optimize() breaks each dropped node's cycle with its outputs: the copy of the
    user's graph is freed by reference counting (the collector would walk it all), while
    the user's graph and the rewritten one are untouched."""
    import gc
    import weakref
    from symgraph.rewrite import engine
    from symgraph.graph import toposort
    copied = []
    real = engine.clone_graph

    def clone(outs):
        outs = real(outs)
        copied.extend(weakref.ref(n) for n in toposort(outs))
        return outs
    monkeypatch.setattr(engine, "clone_graph", clone)
    x = sg.dvector("x")
    y = sg.exp(x * 1.0) + sg.exp(x * 1.0)    # CSE and x * 1 -> x drop nodes of the copy
    was = gc.isenabled()
    gc.disable()
    try:
        fg, _ = optimize([y])
        kept = {id(n) for n in fg.nodes}
        dropped = [r for r in copied if r() is not None and id(r()) not in kept]
        assert len(copied) == 5 and not dropped     # freed at once, no collection ran
    finally:
        if was:
            gc.enable()
    f = sg.function([x], y)
    np.testing.assert_allclose(f(np.arange(3.0)), 2 * np.exp(np.arange(3.0)))
    assert y.owner is not None and y.owner.inputs[0].owner is not None
    assert all(n.outputs[0].owner is n for n in fg.nodes)
