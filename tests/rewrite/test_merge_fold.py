"""Merge (common subexpression elimination) and constant folding."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import Constant
from symgraph.ops.shape import BroadcastTo
from symgraph.rewrite.fold import MAX_FOLD_ELEMENTS
from tests.rewrite.helpers import assert_same_numbers, op_names


def test_identical_nodes_merge_into_one():
    x = sg.dvector("x")
    a, b = sg.exp(x) + 1.0, sg.exp(x) + 1.0
    f = sg.function([x], [a, b], fusion=False)
    assert op_names(f) == ["exp", "add"]
    assert f.graph_outputs[0] is f.graph_outputs[1]
    assert f.rewrite_log.counts["merge_node"] == 2       # exp, then the add using it


def test_outputs_merged_into_one_are_still_separate_arrays():
    # the caller may modify one output in place; the other must not change with it
    x = sg.dvector("x")
    f = sg.function([x], [sg.exp(x) + 1.0, sg.exp(x) + 1.0])
    a, b = f(np.array([0.0, 1.0]))
    before = b.copy()
    a += 1
    np.testing.assert_array_equal(b, before)
    np.testing.assert_allclose(b, np.exp([0.0, 1.0]) + 1, rtol=1e-15)


def test_equal_constants_merge_and_unequal_ones_do_not():
    x = sg.dvector("x")
    f = sg.function([x], [x * 2.0, x * np.float64(2.0)], fusion=False)
    assert op_names(f) == ["mul"] and f.rewrite_log.counts["merge_constant"] == 1
    # same value, other dtype: a different constant (int 2 vs float 2.0)
    f = sg.function([x], [x + np.int64(2), x + np.float64(2.0)], fusion=False)
    assert op_names(f) == ["add", "add"]
    f = sg.function([x], [x + 2.0, x + 3.0], fusion=False)
    assert op_names(f) == ["add", "add"]


def test_nodes_equal_only_after_canonicalize_merge_in_the_final_merge():
    x = sg.dvector("x")
    f = sg.function([x], sg.exp(x * 1) + sg.exp(x), fusion=False)
    assert op_names(f) == ["exp", "add"]
    assert f.nodes[1].inputs[0] is f.nodes[1].inputs[1]


def test_merge_respects_inputs():
    x, y = sg.dvector("x"), sg.dvector("y")
    f = sg.function([x, y], [sg.exp(x), sg.exp(y)], fusion=False)
    assert op_names(f) == ["exp", "exp"]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_constant_subgraphs_fold_to_one_constant_of_the_same_dtype(dtype):
    x = sg.tensor("x", dtype, (None,))
    c = sg.constant(np.arange(3, dtype=dtype))
    out = x + sg.exp(c) * np.asarray(2, dtype)
    f = sg.function([x], out, fusion=False)
    assert op_names(f) == ["add"] and f.rewrite_log.counts["constant_fold"] == 2
    folded = next(i for i in f.nodes[0].inputs if isinstance(i, Constant))
    assert folded.dtype == dtype
    np.testing.assert_allclose(folded.data, np.exp(np.arange(3, dtype=dtype)) * 2, rtol=1e-6)
    assert_same_numbers([x], out, [np.ones(3, dtype)])


def test_folding_keeps_nan_and_inf():
    x = sg.dvector("x")
    c = sg.constant(np.array([np.inf, np.nan, -1.0]))
    out = x + sg.log(c)
    f = sg.function([x], out, fusion=False)
    assert op_names(f) == ["add"]
    np.testing.assert_array_equal(f(np.zeros(3)), [np.inf, np.nan, np.nan])


def test_a_large_broadcast_of_a_small_constant_is_not_folded():
    # folding would store a 10**6-element array in the function for a 1-element input
    x = sg.dscalar("x")
    one = sg.constant(np.float64(1.0))
    f = sg.function([x], sg.broadcast_to(one, (1000, 1000)).sum() + x, fusion=False)
    assert any(isinstance(n.op, BroadcastTo) for n in f.nodes)
    assert all(c.data.size <= MAX_FOLD_ELEMENTS for n in f.nodes for c in n.inputs
               if isinstance(c, Constant))
    assert float(f(0.5)) == 1e6 + 0.5
    # a small broadcast folds all the way
    f = sg.function([x], sg.broadcast_to(one, (10, 10)).sum() + x, fusion=False)
    assert op_names(f) == ["add"] and float(f(0.5)) == 100.5


def test_a_large_constant_folds_when_its_inputs_were_as_large():
    # the result is no larger than what the function already holds
    x = sg.dscalar("x")
    c = sg.constant(np.linspace(0, 1, MAX_FOLD_ELEMENTS * 2))
    f = sg.function([x], sg.exp(c).sum() + x, fusion=False)
    assert op_names(f) == ["add"]
    np.testing.assert_allclose(f(0.0), np.exp(c.data).sum())


def test_merging_only_constants_keeps_the_clients_a_full_refresh_would_give(monkeypatch):
    """A merge that only makes equal constants one moves their uses to the canonical
    constant without walking the graph: the clients (in node order, outputs last) are
    those a refresh computes, and the constant-only output is the canonical one too."""
    from symgraph.rewrite import engine
    from symgraph.rewrite.engine import FunctionGraph, RewriteLog, merge
    x = sg.dvector("x")
    twos = [sg.constant(np.float64(2.0)) for _ in range(3)]
    y = sg.exp(x * twos[0]) + sg.log(x) * twos[1] - twos[2]
    fg = FunctionGraph([y, x * 3.0, twos[1]])
    log, walks = RewriteLog(), []
    real = engine.toposort
    monkeypatch.setattr(engine, "toposort", lambda *a: walks.append(1) or real(*a))
    assert merge(fg, log) == 2 and not walks and log.counts["merge_constant"] == 2 and \
        not log.counts["merge_node"]
    assert fg.fresh
    got = {k: [(id(c) if c != "output" else c, i) for c, i in v]
           for k, v in fg.clients.items() if v}
    fg.refresh()
    want = {k: [(id(c) if c != "output" else c, i) for c, i in v]
            for k, v in fg.clients.items() if v}
    assert got == want
    assert isinstance(fg.outputs[2], Constant) and len(
        {id(i) for n in fg.nodes for i in n.inputs if isinstance(i, Constant)
         and i.data.size == 1 and i.data.reshape(-1)[0] == 2.0}) == 1
