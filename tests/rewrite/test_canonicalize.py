"""Canonicalize: each rewrite on a graph before and after (the ops ``f.nodes`` runs with
``fusion=False``), with the same numbers as the graph run as written; the forms that must
not be rewritten, and the NaN/Inf rule (no ``x - x -> 0``, no ``x / x -> 1``)."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph.graph import Constant
from tests.rewrite.helpers import assert_same_numbers, op_names

x, m = sg.dvector("x"), sg.dmatrix("m")
X = np.array([-2.0, 0.0, 0.5, 3.0, np.inf, -np.inf, np.nan])
M = np.arange(6.0).reshape(2, 3) - 2.5

# (id, output, rewrite that fires, ops before (rewrite=False), ops after)
CASES = [
    ("x*1", lambda: x * 1, "mul_by_one", ["mul"], []),
    ("1*x", lambda: 1 * x, "mul_by_one", ["mul"], []),
    ("x+0", lambda: x + 0, "add_zero", ["add"], []),
    ("0+x", lambda: 0 + x, "add_zero", ["add"], []),
    ("x-0", lambda: x - 0, "add_zero", ["sub"], []),
    ("x**1", lambda: x ** 1, "pow_one", ["power"], []),
    ("where(True)", lambda: sg.where(True, sg.exp(x), x), "where_constant",
     ["exp", "where"], ["exp"]),
    ("where(False), broadcast", lambda: sg.where(np.False_, m.sum(0), sg.exp(m)),
     "where_constant", ["sum{axis=(0,)}", "dimshuffle{x,0}", "exp", "where"], ["exp"]),
    ("where(False), to broadcast", lambda: sg.where(np.False_, m, m.sum(0)),
     "where_constant", ["sum{axis=(0,)}", "dimshuffle{x,0}", "where"],
     ["sum{axis=(0,)}", "dimshuffle{x,0}", "second"]),
    ("neg(neg x)", lambda: -(-x), "neg_neg", ["neg", "neg"], []),
    ("stop_gradient", lambda: sg.stop_gradient(x), "remove_stop_gradient",
     ["stopgradient"], []),
    ("double transpose", lambda: m.T.T, "dimshuffle_dimshuffle",
     ["transpose{1,0}", "transpose{1,0}"], []),
    ("transpose then expand", lambda: sg.dimshuffle(m.T, "x", 0, 1), "dimshuffle_dimshuffle",
     ["transpose{1,0}", "dimshuffle{x,0,1}"], ["dimshuffle{x,1,0}"]),
    ("reshape of reshape", lambda: sg.reshape(sg.reshape(m, (-1,)), (3, 2)), "reshape_reshape",
     ["reshape{-1}", "reshape{3,2}"], ["reshape{3,2}"]),
    ("sum of sum", lambda: m.sum(axis=0).sum(), "reduce_reduce",
     ["sum{axis=(0,)}", "sum{axis=(0,)}"], ["sum{axis=(0, 1)}"]),
    ("sum of sum, keepdims both", lambda: m.sum(1, keepdims=True).sum(0, keepdims=True),
     "reduce_reduce", ["sum{axis=(1,), keepdims}", "sum{axis=(0,), keepdims}"],
     ["sum{axis=(0, 1), keepdims}"]),
    ("sum of sum, inner keepdims", lambda: m.sum(1, keepdims=True).sum(),
     "reduce_reduce", ["sum{axis=(1,), keepdims}", "sum{axis=(0, 1)}"], ["sum{axis=(0, 1)}"]),
    ("max of max", lambda: m.max(axis=1).max(), "reduce_reduce",
     ["max{axis=(1,)}", "max{axis=(0,)}"], ["max{axis=(0, 1)}"]),
    ("(2*x)*3", lambda: (2 * x) * 3, "collect_constants", ["mul", "mul"], ["mul"]),
    ("3*(x*2)", lambda: 3 * (x * 2), "collect_constants", ["mul", "mul"], ["mul"]),
    ("(x+2)+3", lambda: (x + 2) + 3, "collect_constants", ["add", "add"], ["add"]),
    ("x**2", lambda: x ** 2, "square_forms", ["power"], ["square"]),
    ("x*x", lambda: x * x, "square_forms", ["mul"], ["square"]),
]


@pytest.mark.parametrize("make, rewrite, before, after", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_rewrite_before_and_after(make, rewrite, before, after):
    out = make()
    leaves = {id(v) for v in sg.graph.graph_inputs([out])}
    inputs = [v for v in (x, m) if id(v) in leaves]
    values = [X if v is x else M for v in inputs]
    assert op_names(sg.function(inputs, out, rewrite=False)) == before
    f = sg.function(inputs, out, fusion=False)
    assert f.rewrite_log.counts[rewrite] >= 1, f.rewrite_log
    assert op_names(f) == after
    assert_same_numbers(inputs, out, values)


@pytest.mark.parametrize("make, c", [(lambda: (2 * x) * 3, 6.0), (lambda: (x + 2) + 3, 5.0),
                                     (lambda: (x * 0.5) * 0.25, 0.125)])
def test_collected_constant_is_the_product_or_sum(make, c):
    f = sg.function([x], make(), fusion=False)
    (k,) = [i for i in f.nodes[0].inputs if isinstance(i, Constant)]
    assert k.data.reshape(-1).tolist() == [c] and k.dtype == "float64"


def test_identity_rewrites_keep_the_output_dtype():
    # int * 1.0 is float: the rewrite leaves a cast, not the int input
    i = sg.lvector("i")
    f = sg.function([i], i * 1.0, fusion=False)
    assert op_names(f) == ["cast_float64"]
    assert f(np.array([1, 2])).dtype == np.float64


# (id, output, input, value) for forms that look rewritable but are not
KEPT = [
    # the constant broadcasts x to a larger shape: dropping it would change the shape
    ("x * ones((2, 1))", lambda: x * np.ones((2, 1)), x, X),
    # 1e300 * 1e300 overflows: x * inf differs from x * 1e300 * 1e300 at x = 1e-300
    ("(x*1e300)*1e300", lambda: (x * 1e300) * 1e300, x, np.array([1e-300, -1e-300, 0.0])),
    # 1e-200 * 1e-200 underflows to 0: x * 0 differs at x = 1e300
    ("(x*1e-200)*1e-200", lambda: (x * 1e-200) * 1e-200, x, np.array([1e300, np.inf])),
    # the inner keepdims axis survives the outer sum: shape (1,), not one reduction
    ("sum(keepdims) then sum of another axis", lambda: m.sum(0, keepdims=True).sum(axis=1),
     m, M),
    # mean's divide is part of the op, so reduce_reduce leaves two means alone
    ("mean of mean", lambda: m.mean(axis=0).mean(), m, M),
    ("sum of max", lambda: m.max(axis=0).sum(), m, M),
]


@pytest.mark.parametrize("make, inp, value", [k[1:] for k in KEPT], ids=[k[0] for k in KEPT])
def test_forms_that_are_not_rewritten(make, inp, value):
    out = make()
    f = sg.function([inp], out, fusion=False)
    assert op_names(f) == op_names(sg.function([inp], out, rewrite=False))
    assert_same_numbers([inp], out, [value])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("op, name", [(lambda v: v - v, "sub"),
                                      (lambda v: v / v, "true_divide")])
def test_x_minus_x_and_x_over_x_are_not_simplified(op, name, dtype):
    # x - x is NaN for inf and NaN, x / x is NaN for 0, inf and NaN: no rewrite to 0 or 1
    v = sg.tensor("v", dtype, (None,))
    f = sg.function([v], op(v), fusion=False)
    assert op_names(f) == [name]
    got = f(np.array([np.inf, -np.inf, np.nan, 0.0, 2.0], dtype))
    assert np.isnan(got[:3]).all() and got.dtype == dtype
    assert np.isnan(got[3]) == (name == "true_divide")
    assert got[4] == (0.0 if name == "sub" else 1.0)
    assert np.isnan(sg.function([v], op(v))(np.array([np.nan], dtype))).all()  # fused too


def _transposed_products(f: sg.Function) -> list:
    return [n for n in f.nodes if str(n.op) == "transpose{1,0}" and n.inputs[0].owner
            is not None and str(n.inputs[0].owner.op) == "dot"]


def test_a_transposed_product_becomes_the_product_of_transposes():
    w = sg.dmatrix("w")
    W = np.arange(12.0).reshape(3, 4) / 7
    out = sg.dot(m, w).T
    assert _transposed_products(sg.function([m, w], out, rewrite=False))
    f = sg.function([m, w], out, fusion=False)
    assert f.rewrite_log.counts["transpose_dot"] == 1 and not _transposed_products(f)
    got = assert_same_numbers([m, w], out, [M, W])
    assert got[0].shape == (4, 2)


def test_the_gradient_through_a_transposed_weight_is_read_in_memory_order():
    """d/dW of dot(h, W.T) is dot(h.T, g).T; the update kernel gets it contiguous."""
    w = sg.dmatrix("w")
    W = np.arange(12.0).reshape(4, 3) / 7
    cost = sg.tanh(sg.dot(m, w.T)).sum()
    g = sg.grad(cost, w)
    f = sg.function([m, w], w - 0.1 * g)
    assert not _transposed_products(f)
    assert_same_numbers([m, w], w - 0.1 * g, [M, W])


def test_a_product_read_both_ways_is_not_computed_twice():
    out = sg.dot(m, m.T)
    f = sg.function([m], [out, out.T + 1], fusion=False)
    assert f.rewrite_log.counts["transpose_dot"] == 0
    assert [str(n.op) for n in f.nodes].count("dot") == 1


def _reductions(f: sg.Function) -> list[str]:
    return [str(n.op) for n in f.nodes if "sum" in str(n.op) or "mean" in str(n.op)]


def test_a_gradient_does_not_compute_the_cost_it_differentiates():
    """grad's seed ones_like(cost) reads only the (empty) shape of the 0-d cost."""
    cost = ((x - 1) ** 2).sum()
    f = sg.function([x], sg.grad(cost, x))
    assert f.rewrite_log.counts["fill_from_shape"] >= 1
    assert _reductions(f) == [], [str(n.op) for n in f.nodes]
    assert_same_numbers([x], sg.grad(cost, x), [np.array([0.5, 2.0, -1.0])])


def test_a_fill_takes_its_shape_from_the_earliest_input_that_has_it():
    """second(x - mean, g) becomes second(x, g): x - mean is not needed for its shape."""
    mu = m.mean(axis=1, keepdims=True)
    out = sg.ones_like((m - mu) ** 2) * 3
    f = sg.function([m], out, fusion=False)
    assert f.rewrite_log.counts["fill_from_shape"] >= 1
    assert _reductions(f) == [], [str(n.op) for n in f.nodes]
    assert_same_numbers([m], out, [M])


def test_layer_norm_gradients_keep_their_numbers_without_the_cost():
    g, b = sg.dvector("g"), sg.dvector("b")
    mu = m.mean(axis=1, keepdims=True)
    y = (m - mu) / sg.sqrt(((m - mu) ** 2).mean(axis=1, keepdims=True) + 1e-5) * g + b
    grads = sg.grad((y * sg.sin(m)).sum(), [m, g, b])
    f = sg.function([m, g, b], grads)
    assert not any("axis=(0, 1)" in r for r in _reductions(f)), _reductions(f)
    assert_same_numbers([m, g, b], grads, [M, np.array([1.0, 2.0, 0.5]), np.zeros(3)])


def test_a_count_takes_its_shape_from_the_earliest_input_that_has_it():
    """A mean's gradient counts the cost's elements: from the input, not from the
    negated values, which a kernel would otherwise write out for the count to read."""
    cost = (-sg.exp(x * 2)).mean()
    f = sg.function([x], [cost, sg.grad(cost, x)])
    assert f.rewrite_log.counts["count_from_shape"] == 1
    (n,) = [n for n in f.nodes if str(n.op).startswith("count")]
    assert n.inputs[0] is f.inputs[0] or n.inputs[0].owner is None
    assert_same_numbers([x], [cost, sg.grad(cost, x)], [np.array([0.5, -1.0, 2.0])])


def test_a_cross_entropy_gradient_does_not_sum_the_picks_gradient():
    """The gradient of a log-softmax's cross-entropy sums the pick's gradient over its
    classes: that sum is the pick's own output gradient, taken as it is (one kernel
    less), with the same numbers in float32 and float64 and for keepdims."""
    for dtype in ("float32", "float64"):
        z, y = sg.matrix("z", dtype=dtype), sg.lvector("y")
        cost = sg.nnet.categorical_crossentropy(sg.nnet.softmax(z * 1.5), y).mean()
        gz = sg.grad(cost, z)
        f = sg.function([z, y], [cost, gz])
        assert f.rewrite_log.counts["sum_of_pick_grad"] == 1
        assert not [n for n in f.nodes if str(n.op).startswith("sum{")], f.nodes
        Z = np.random.default_rng(0).standard_normal((5, 4)).astype(dtype)
        assert_same_numbers([z, y], [cost, gz], [Z, np.array([0, 3, 1, 1, 2])])
    labels, w = sg.lvector("labels"), sg.dvector("w")
    pg = sg.grad((sg.nnet.pick(m, labels) * w).sum(), m)
    both = [pg.sum(axis=1, keepdims=True), pg * 2]
    f = sg.function([m, labels, w], both)
    assert f.rewrite_log.counts["sum_of_pick_grad"] == 1
    assert_same_numbers([m, labels, w], both, [M, np.array([2, 0]), np.array([3.0, -4.0])])


def test_a_picks_gradient_summed_alone_still_checks_its_labels():
    """With nothing else reading the pick's gradient the sum stays: its call is what
    checks the labels, and an out-of-range label must still raise."""
    g, labels = sg.dvector("g"), sg.lvector("labels")
    pg = sg.grad((sg.nnet.pick(m, labels) * g).sum(), m)
    f = sg.function([m, labels, g], pg.sum(axis=1))
    assert "sum_of_pick_grad" not in f.rewrite_log.counts
    np.testing.assert_allclose(f(M, [1, 2], [3.0, 4.0]), [3.0, 4.0])
    with pytest.raises(IndexError):
        f(M, [1, 5], [3.0, 4.0])
