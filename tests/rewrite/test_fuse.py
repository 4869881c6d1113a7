"""The fusion pass: which nodes become one kernel, what a kernel stores, and that fused
graphs compute the same numbers as unfused ones.

Counting rule: "kernels" are the nodes of ``f.nodes`` other than the pure views
``DimShuffle`` and ``Reshape``, which lowering turns into strides, not work."""
from __future__ import annotations

import importlib

import numpy as np
import pytest

import symgraph as sg
from symgraph.ops.elemwise import Elemwise
from symgraph.rewrite import Fused
from tests.rewrite.helpers import assert_same_numbers, fused, kernels, op_names

rng = np.random.default_rng(0)
x, y = sg.dvector("x"), sg.dvector("y")
M, N = sg.dmatrix("M"), sg.dmatrix("N")
XV, YV = rng.normal(size=5), rng.normal(size=5)
MV, NV = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))


def labels(f) -> list[str]:
    """The ops absorbed by all fused kernels of ``f``, in order."""
    return [lab for n in fused(f) for lab in n.op.labels]


def test_an_elementwise_expression_is_one_kernel():
    out = sg.exp(-x * x) * sg.sin(y) + sg.tanh(x * y)
    f = sg.function([x, y], out)
    assert len(f.nodes) == 1 and isinstance(f.nodes[0].op, Fused)
    assert sorted(f.nodes[0].op.labels) == sorted(
        ["neg", "mul", "exp", "sin", "mul", "mul", "tanh", "add"])
    assert_same_numbers([x, y], out, [XV, YV])


def test_a_reduction_absorbs_its_producers():
    out = ((x - y) ** 2).sum()
    f = sg.function([x, y], out)
    assert len(f.nodes) == 1 and labels(f) == ["sub", "square", "sum{axis=(0,)}"]
    (store,) = f.nodes[0].op.kernel.stores
    assert store.reduce == "add"
    assert_same_numbers([x, y], out, [XV, YV])
    assert_same_numbers([x, y], out, [np.zeros(0), np.zeros(0)])     # empty sum is 0


def test_a_value_needed_outside_becomes_an_extra_output():
    e = sg.exp(x)
    f = sg.function([x], [e, e * 2 + 1])
    (node,) = f.nodes
    assert len(node.outputs) == 2 and len(node.op.kernel.stores) == 2
    assert labels(f).count("exp") == 1
    assert_same_numbers([x], [e, e * 2 + 1], [XV])


def test_a_value_shared_by_a_reduction_and_elementwise_work_is_computed_once():
    e = sg.exp(x)
    outs = [e * 2 + 1, e.sum()]
    f = sg.function([x], outs)
    # fusion makes the sum's kernel store e for the other kernel; staged fusion then
    # makes them one kernel, which stores no e at all
    assert len(f.nodes) == 1 and isinstance(f.nodes[0].op, Fused)
    assert labels(f).count("exp") == 1, labels(f)
    assert len(f.nodes[0].op.kernel.outputs) == 2
    assert_same_numbers([x], outs, [XV])


def test_fusion_across_broadcasting_recomputes_the_small_operand():
    r = sg.drow("r")
    out = sg.exp(r) * M + 1
    f = sg.function([r, M], out)
    assert len(f.nodes) == 1 and labels(f) == ["exp", "mul", "add"]
    assert_same_numbers([r, M], out, [rng.normal(size=(1, 5)), MV])
    # a bias vector broadcast by a dimshuffle: the view feeds the kernel
    b = sg.dvector("b")
    out = sg.tanh(M + b) * N
    f = sg.function([M, b, N], out)
    assert len(kernels(f)) == 1, op_names(f)
    assert_same_numbers([M, b, N], out, [MV, XV, NV])


def test_a_small_value_needed_outside_gets_its_own_kernel():
    # exp(r) is an output at shape (1, n): it is not recomputed per element of (m, n)
    r = sg.drow("r")
    outs = [sg.exp(r) * M + 1, sg.exp(r)]
    f = sg.function([r, M], outs)
    assert sorted(op_names(f)) == ["exp", "fused{mul, add}"]
    assert_same_numbers([r, M], outs, [rng.normal(size=(1, 5)), MV])


@pytest.mark.parametrize("make, n_kernels", [
    (lambda: ((M - 1) ** 2).mean(), 1),
    (lambda: sg.sqrt(((x - y) ** 2).sum()), 1),
    (lambda: M.sum(axis=1) * 2 + 1, 1),
    (lambda: sg.logsumexp(M, axis=1), 1),
    (lambda: sg.logsumexp(M), 1),
], ids=["mean", "sqrt of sum", "sum then affine", "logsumexp rows", "logsumexp all"])
def test_reduction_epilogue(make, n_kernels):
    # the work after the (last) reduction is its store's epilogue, not another kernel
    # (logsumexp's max, then its shifted sum: one kernel of two stages)
    out = make()
    leaves = {id(v) for v in sg.graph.graph_inputs([out])}
    inputs = [v for v in (x, y, M) if id(v) in leaves]
    f = sg.function(inputs, out)
    assert len(kernels(f)) == n_kernels, op_names(f)
    reductions = [s for n in fused(f) for s in n.op.kernel.stores if s.reduce]
    assert reductions and reductions[-1].epilogue
    assert_same_numbers(inputs, out, [{id(x): XV, id(y): YV, id(M): MV}[id(v)]
                                      for v in inputs])


def _softmax_by_hand(z):
    e = sg.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _log_softmax_by_hand(z):
    s = z - z.max(axis=1, keepdims=True)
    return s - sg.log(sg.exp(s).sum(axis=1, keepdims=True))


@pytest.mark.parametrize("make", [sg.softmax, sg.log_softmax, _softmax_by_hand,
                                  _log_softmax_by_hand],
                         ids=["softmax", "log_softmax", "softmax by hand",
                              "log_softmax by hand"])
def test_row_softmax_needs_at_most_three_kernels(make):
    # max; exp and sum; the normalization
    out = make(M)
    f = sg.function([M], out)
    assert len(kernels(f)) <= 3, op_names(f)
    big = MV * 1e3
    assert_same_numbers([M], out, [big])
    assert_same_numbers([M], out, [np.zeros((0, 5))])
    if make in (sg.softmax, sg.log_softmax):      # (by hand, max of nothing is an error)
        assert_same_numbers([M], out, [np.zeros((4, 0))])     # empty rows: empty result


def _mlp_step(fusion: bool, rewrite: bool = True):
    r = np.random.default_rng(1)
    X, t = sg.dmatrix("X"), sg.lvector("t")
    params = [sg.shared(r.normal(size=(4, 8)), "W1"), sg.shared(np.zeros(8), "b1"),
              sg.shared(r.normal(size=(8, 3)), "W2"), sg.shared(np.zeros(3), "b2")]
    W1, b1, W2, b2 = params
    h = sg.tanh(sg.dot(X, W1) + b1)
    loss = sg.categorical_crossentropy(sg.softmax(sg.dot(h, W2) + b2), t).mean()
    grads = sg.grad(loss, params)
    updates = [(p, p - 0.1 * g) for p, g in zip(params, grads)]
    return sg.function([X, t], loss, updates=updates, fusion=fusion, rewrite=rewrite), params


def test_the_gradient_graph_of_an_mlp_fuses():
    unfused, _ = _mlp_step(fusion=False)
    fusedf, _ = _mlp_step(fusion=True)
    n_unfused = sum(isinstance(n.op, Elemwise) for n in unfused.nodes)
    n_left = sum(isinstance(n.op, Elemwise) for n in fusedf.nodes)
    assert n_unfused >= 20, op_names(unfused)
    assert n_left <= n_unfused // 5, op_names(fusedf)
    assert len(kernels(fusedf)) <= len(kernels(unfused)) // 2
    # and computes nothing twice: each reduction and library call occurs as often
    work = [lab for n in kernels(fusedf) for lab in
            (n.op.labels if isinstance(n.op, Fused) else [str(n.op)])]
    for name in {str(n.op) for n in kernels(unfused) if not isinstance(n.op, Elemwise)}:
        assert work.count(name) == op_names(unfused).count(name), (name, work)
    # and the training steps agree
    X, t = np.random.default_rng(2).normal(size=(6, 4)), np.array([0, 1, 2, 0, 1, 2])
    results = []
    for fusion, rewrite in ((True, True), (False, True), (False, False)):
        step, params = _mlp_step(fusion, rewrite)
        losses = [float(step(X, t)) for _ in range(3)]
        results.append((losses, [p.get_value() for p in params]))
    for losses, values in results[1:]:
        np.testing.assert_allclose(losses, results[0][0], rtol=1e-12)
        for a, b in zip(values, results[0][1]):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def test_fusion_false_keeps_one_node_per_elementwise_op():
    out = sg.exp(-x * x) * sg.sin(y) + sg.tanh(x * y)
    f = sg.function([x, y], out, fusion=False)
    assert not fused(f) and f.rewrite_log.counts["fused_ops"] == 0
    assert sorted(op_names(f)) == sorted(["neg", "mul", "exp", "sin", "mul", "mul", "tanh",
                                          "add"])


def test_a_single_elementwise_op_is_not_wrapped():
    f = sg.function([x], sg.exp(x))
    assert op_names(f) == ["exp"]


def test_fusion_never_makes_a_cycle():
    # exp(M) feeds a dot whose result joins exp(M) again: absorbing exp into the add
    # kernel would need the dot inside the kernel
    a = sg.exp(M)
    out = sg.tanh(a + sg.dot(a, N.T))
    f = sg.function([M, N], out)
    assert op_names(f).index("exp") < op_names(f).index("dot")
    sq = rng.normal(size=(5, 5))
    assert_same_numbers([M, N], out, [sq, sq])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_kernels_keep_nan_inf_and_dtype(dtype):
    v, w = sg.tensor("v", dtype, (None,)), sg.tensor("w", dtype, (None,))
    outs = [sg.exp(v) * w + sg.log(w), ((v - w) ** 2).max()]
    a = np.array([np.inf, -np.inf, np.nan, 0.0, 1.0], dtype)
    b = np.array([0.0, np.inf, 1.0, -1.0, np.nan], dtype)
    got = assert_same_numbers([v, w], outs, [a, b])
    assert all(g.dtype == dtype for g in got)


def test_the_acyclicity_check_finds_a_cycle():
    from symgraph.rewrite.engine import FunctionGraph
    from symgraph.rewrite.fuse import check_acyclic
    fg = FunctionGraph([sg.exp(x) + 1])
    check_acyclic(fg)
    add = fg.outputs[0].owner
    exp = add.inputs[0].owner
    exp.inputs[0] = add.outputs[0]          # exp now reads the add that reads it
    with pytest.raises(RuntimeError, match="cycle"):
        check_acyclic(fg)


# ---- regressions found by a differential fuzzer -----------------------------------------
@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_the_gradient_of_several_reductions_compiles(backend):
    """An epilogue may hold work another store needs (here a later stage's): each store
    renders only what its own result needs."""
    w, x = sg.dvector("w"), sg.dvector("x")
    f = sg.function([w, x], sg.grad(((w * x - 1) ** 2).sum() + 0.1 * (w ** 2).sum(), w),
                    backend=backend)
    np.testing.assert_allclose(f(np.ones(3), np.full(3, 2.0)), np.full(3, 4.2), rtol=1e-12)
    y = sg.dvector("y")
    g = sg.function([y], sg.grad(sg.exp(y).sum() + y.sum(), y), backend=backend)
    np.testing.assert_allclose(g(np.ones(3)), np.full(3, np.e + 1), rtol=1e-12)


def test_an_epilogue_never_reads_its_own_kernels_body():
    """Reducing an axis of static size 1 keeps the shape, so a consumer of the reduction
    and of a value inside the group looks like epilogue work: absorbing it made the kernel
    its own input (a cycle, and a toposort that never ended)."""
    r = sg.drow("r")
    f = sg.function([r], sg.grad(sg.logsumexp(sg.exp(r), axis=0).sum(), r))
    a = np.array([[0.5, -1.0, 2.0]])
    np.testing.assert_allclose(f(a), np.exp(a), rtol=1e-12)


def test_a_cycle_is_an_error_not_a_hang():
    from symgraph.graph import toposort
    x = sg.dvector("x")
    y = sg.exp(x)
    z = y + 1
    y.owner.inputs[0] = z                 # no valid graph does this
    with pytest.raises(RuntimeError, match="cycle"):
        toposort([z])


@pytest.mark.parametrize("segment, max_group", [(2, 256), (3, 2), (5, 3), (8, 256), (13, 4),
                                                (21, 256)])
def test_windows_and_group_caps_keep_the_mlp_step_right(monkeypatch, segment, max_group):
    """Fusion windows (fuse.SEGMENT) and the ops-per-kernel cap (MAX_GROUP), at sizes that
    cut the MLP step's gradient graph in many places: the fused graph stays acyclic (the
    pass checks it), no kernel holds more ops than the cap, and the training steps give
    the unfused graph's numbers."""
    fuse_module, stages_module = importlib.import_module("symgraph.rewrite.fuse"), \
        importlib.import_module("symgraph.rewrite.stages")
    X, t = np.random.default_rng(2).normal(size=(6, 4)), np.array([0, 1, 2, 0, 1, 2])
    step, params = _mlp_step(fusion=False)
    want = [float(step(X, t)) for _ in range(3)], [p.get_value() for p in params]
    monkeypatch.setattr(fuse_module, "SEGMENT", segment)
    monkeypatch.setattr(fuse_module, "MAX_GROUP", max_group)
    monkeypatch.setattr(stages_module, "MAX_GROUP", max_group)
    monkeypatch.setattr(fuse_module, "SLACK", 1)
    step, params = _mlp_step(fusion=True)
    assert all(len(n.op.labels) <= max_group + 1 for n in fused(step))
    assert fused(step)
    np.testing.assert_allclose([float(step(X, t)) for _ in range(3)], want[0], rtol=1e-12)
    for a, b in zip((p.get_value() for p in params), want[1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-14)


def test_a_long_chain_and_its_gradient_become_capped_kernels():
    """1,200 steps of tanh(y) * a + b and the gradient: about 8,400 nodes, many fusion
    windows; kernels of at most MAX_GROUP ops (and SLACK more), the numbers of the unfused
    graph."""
    fuse_module = importlib.import_module("symgraph.rewrite.fuse")
    v = sg.dvector("v")
    y = v
    for _ in range(1200):
        y = sg.tanh(y) * 1.0001 + 0.001
    cost = y.sum()
    outs = [cost, sg.grad(cost, v)]
    f = sg.function([v], outs)
    sizes = [len(n.op.labels) for n in fused(f)]
    assert max(sizes) <= fuse_module.MAX_GROUP + fuse_module.SLACK, sizes
    assert sum(sizes) >= 1200 * 3, sizes
    # no kernel of one op left where a group met the cap
    assert not [n for n in f.nodes if not isinstance(n.op, Fused)], op_names(f)
    val = np.array([0.5, -0.25, 2.0])
    for got, want in zip(f(val), sg.function([v], outs, backend="numpy", fusion=False)(val)):
        np.testing.assert_allclose(got, want, rtol=1e-12)


def _kernels_writing(f, shape_like) -> int:
    """How many full-size arrays the kernels write (outputs with the input's rank and no
    reduced axis)."""
    n = 0
    for node in fused(f):
        k = node.op.kernel
        n += sum(1 for s in k.stores if s.reduce is None)
    return n


def test_cheap_values_two_kernels_need_are_recomputed_not_written():
    """Layer norm's x - mean and (x - mean) / std: computed where they are read."""
    x, dy = sg.fmatrix("x"), sg.fmatrix("dy")
    g, b = sg.fvector("g"), sg.fvector("b")
    mu = x.mean(axis=1, keepdims=True)
    y = (x - mu) / sg.sqrt(((x - mu) ** 2).mean(axis=1, keepdims=True) + 1e-5) * g + b
    outs = sg.grad((y * dy).sum(), [x, g, b])
    f = sg.function([x, g, b, dy], outs)
    assert f.rewrite_log.counts["recompute"] >= 2
    assert _kernels_writing(f, x) == 1          # the gradient of x, nothing else
    rng = np.random.default_rng(3)
    vals = [rng.standard_normal((33, 20)).astype("float32"), rng.random(20, "float32"),
            np.zeros(20, "float32"), rng.standard_normal((33, 20)).astype("float32")]
    want = sg.function([x, g, b, dy], outs, rewrite=False)(*vals)
    for got, w in zip(f(*vals), want):
        np.testing.assert_allclose(got, w, rtol=2e-5, atol=1e-6)


def test_a_value_is_recomputed_only_where_it_costs_no_more_traffic():
    """v = a + b read by two kernels that read neither a nor b: recomputing v would have
    each read two arrays instead of one, so v stays an output."""
    a, b, c, d = (sg.dmatrix(n) for n in "abcd")
    v = a + b
    outs = [(sg.exp(v) * c).sum(axis=0), (sg.sin(v) * d).sum(axis=1)]
    f = sg.function([a, b, c, d], outs)
    assert f.rewrite_log.counts["recompute"] == 0
    vals = [np.arange(6.0).reshape(2, 3) + k for k in range(4)]
    assert_same_numbers([a, b, c, d], outs, vals)


def test_a_value_only_some_readers_can_recompute_stays_written():
    x, m = sg.dmatrix("x"), sg.dmatrix("m")
    mu = x.mean(axis=1, keepdims=True)
    xm = x - mu
    outs = [(xm * m).sum(axis=1), xm]        # a graph output needs it written
    f = sg.function([x, m], outs)
    assert f.rewrite_log.counts["recompute"] == 0
    assert_same_numbers([x, m], outs, [np.arange(6.0).reshape(2, 3), np.ones((2, 3))])


def test_sibling_reductions_of_one_array_become_one_kernel():
    """sum(x * dy, axis=0) and sum(dy, axis=0) (a layer norm's dgamma and dbeta) read dy
    once, in one kernel; reductions over other axes stay apart."""
    x, dy = sg.dmatrix("x"), sg.dmatrix("dy")
    outs = [(x * dy).sum(axis=0), dy.sum(axis=0), dy.max(axis=0)]
    f = sg.function([x, dy], outs)
    assert f.rewrite_log.counts["fuse_siblings"] == 2 and len(kernels(f)) == 1, op_names(f)
    vals = [np.arange(12.0).reshape(4, 3) - 5, np.cos(np.arange(12.0)).reshape(4, 3)]
    assert_same_numbers([x, dy], outs, vals)
    apart = [dy.sum(axis=0), dy.sum(axis=1)]
    g = sg.function([x, dy], apart)
    assert g.rewrite_log.counts["fuse_siblings"] == 0 and len(kernels(g)) == 2
    assert_same_numbers([x, dy], apart, vals)


def test_a_reduction_that_reads_another_is_not_its_sibling():
    """s2 reads s1 (through a full reduction of it): merging them would make a cycle."""
    x = sg.dmatrix("x")
    s1 = x.sum(axis=0)
    s2 = (x * sg.exp(s1).sum()).sum(axis=0)
    f = sg.function([x], [s1, s2])
    assert f.rewrite_log.counts["fuse_siblings"] == 0
    assert_same_numbers([x], [s1, s2], [np.arange(6.0).reshape(2, 3) / 7])
