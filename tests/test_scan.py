"""sg.scan: values against numpy loops on every backend, gradients (BPTT) against finite
differences and jax, random streams and shared updates inside, while loops, errors."""
from __future__ import annotations

import re

import numpy as np
import pytest

import symgraph as sg
from symgraph.ops.scan import Scan
from tests.checks import BACKENDS, to_host

rng = np.random.default_rng(0)
F64 = "float64"


def zero(dtype=F64):
    return sg.constant(0.0, dtype)


def run(inputs, outputs, args, backend, **kw):
    out = sg.function(inputs, outputs, backend=backend, **kw)(*args)
    return [to_host(o) for o in out] if isinstance(out, list) else to_host(out)


# ---------------------------------------------------------------- values
@pytest.mark.parametrize("backend", BACKENDS)
def test_cumulative_sum_and_several_outputs(backend):
    x = sg.dvector("x")
    (s, p, d), _ = sg.scan(lambda x_t, s, p: (s + x_t, p * x_t, 2 * x_t), sequences=x,
                           outputs_info=[zero(), sg.constant(1.0, F64), None])
    xv = rng.normal(size=7)
    got = run([x], [s, p, d], [xv], backend)
    np.testing.assert_allclose(got[0], np.cumsum(xv))
    np.testing.assert_allclose(got[1], np.cumprod(xv))
    np.testing.assert_allclose(got[2], 2 * xv)


@pytest.mark.parametrize("backend", BACKENDS)
def test_taps_on_sequences_and_outputs(backend):
    x, h0 = sg.dmatrix("x"), sg.dmatrix("h0")
    out, _ = sg.scan(lambda xm1, x0, x2, hm2, hm1: xm1 * x0 + x2 + 0.5 * hm2 - hm1,
                     sequences=dict(input=x, taps=[-1, 0, 2]),
                     outputs_info=dict(initial=h0, taps=[-2, -1]))
    xv, hv = rng.normal(size=(8, 3)), rng.normal(size=(2, 3))
    n = 8 - 3
    want, hist = [], [hv[0], hv[1]]
    for t in range(n):
        i = t + 1        # the row of tap 0
        hist.append(xv[i - 1] * xv[i] + xv[i + 2] + 0.5 * hist[-2] - hist[-1])
        want.append(hist[-1])
    np.testing.assert_allclose(run([x, h0], out, [xv, hv], backend), np.array(want))


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_sequences_shared_inside_and_go_backwards(backend):
    x, w = sg.dvector("x"), sg.dscalar("w")
    bias = sg.shared(np.float64(0.25), name="bias")
    h, _ = sg.scan(lambda x_t, h, w: h * w + x_t + bias, sequences=x,
                   outputs_info=zero(), non_sequences=w, go_backwards=True)
    xv, want, acc = rng.normal(size=6), [], 0.0
    for v in xv[::-1]:
        acc = acc * 0.5 + v + 0.25
        want.append(acc)
    np.testing.assert_allclose(run([x, w], h, [xv, 0.5], backend), want)


def test_shared_variables_as_explicit_non_sequences_get_gradients():
    W = sg.shared(0.5 * rng.normal(size=(3, 3)), name="W")
    x = sg.dmatrix("x")
    h, _ = sg.scan(lambda x_t, h, W: sg.tanh(sg.dot(h, W) + x_t), sequences=x,
                   outputs_info=sg.zeros((3,), F64), non_sequences=[W])
    cost = (h ** 2).sum()
    f = sg.function([x], [cost, sg.grad(cost, W)])
    xv, Wv = rng.normal(size=(4, 3)), W.get_value()
    numeric = np.zeros((3, 3))
    for i in np.ndindex(3, 3):
        for sign in (1, -1):
            W.set_value(Wv + sign * 1e-6 * (np.arange(9).reshape(3, 3) == 3 * i[0] + i[1]))
            numeric[i] += sign * f(xv)[0] / 2e-6
    W.set_value(Wv)
    np.testing.assert_allclose(f(xv)[1], numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_updates_dict_and_symbolic_steps(backend):
    n = sg.lscalar("n")
    count = sg.shared(np.float64(1.0), name="count")
    y, upd = sg.scan(lambda: (count * 2, {count: count * 2}), n_steps=n)
    assert list(upd) == [count]
    f = sg.function([n], y, updates=upd, backend=backend)
    np.testing.assert_allclose(to_host(f(3)), [2.0, 4.0, 8.0])
    assert count.get_value() == 8.0
    assert to_host(f(0)).shape == (0,) and count.get_value() == 8.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_random_streams_inside_draw_per_step(backend):
    srng = sg.RandomStreams(seed=5)
    x = sg.dvector("x")
    y, upd = sg.scan(lambda x_t: x_t + srng.uniform(()), sequences=x)
    assert list(upd) == [srng.state]
    f = sg.function([x], y, updates=upd, backend=backend)
    a = to_host(f(np.zeros(5)))
    assert len(set(a.tolist())) == 5 and ((0 <= a) & (a < 1)).all()
    assert srng.state.get_value() == 5                  # one draw per step
    b = to_host(f(np.zeros(5)))
    assert not np.isin(b, a).any()
    srng.seed(5)
    np.testing.assert_array_equal(to_host(f(np.zeros(5))), a)


@pytest.mark.parametrize("backend", BACKENDS)
def test_until_stops_after_the_first_true_step(backend):
    n = sg.lscalar("n")
    p, _ = sg.scan(lambda p: (p * 2, sg.until(p * 2 > 20)),
                   outputs_info=sg.constant(1.0, F64), n_steps=n)
    f = sg.function([n], p, backend=backend)
    np.testing.assert_allclose(to_host(f(100)), [2, 4, 8, 16, 32])
    np.testing.assert_allclose(to_host(f(3)), [2, 4, 8])
    assert to_host(f(0)).shape == (0,)


@pytest.mark.parametrize("backend", BACKENDS)
def test_map_reduce_foldl_foldr(backend):
    x = sg.dmatrix("x")
    sq, _ = sg.map(lambda r: (r ** 2).sum(), x)
    tot, _ = sg.reduce(lambda r, a: a + r, x, sg.zeros((3,), F64))
    fl, _ = sg.foldl(lambda r, a: a * 10 + r[0], x, zero())
    fr, _ = sg.foldr(lambda r, a: a * 10 + r[0], x, zero())
    xv = np.array([[1.0, 2.0, 0.0], [3.0, 0.0, 1.0]])
    got = run([x], [sq, tot, fl, fr], [xv], backend)
    np.testing.assert_allclose(got[0], [5.0, 10.0])
    np.testing.assert_allclose(got[1], xv.sum(0))
    assert float(got[2]) == 13.0 and float(got[3]) == 31.0


def test_zero_steps_and_static_step_count():
    x = sg.dvector("x")
    y, _ = sg.scan(lambda x_t, h: h + x_t, sequences=x, outputs_info=zero())
    z, _ = sg.scan(lambda x_t: sg.stack([x_t, x_t]), sequences=x)
    got = sg.function([x], [y, z])(np.zeros(0))
    assert got[0].shape == (0,) and got[1].shape == (0, 2)
    c, _ = sg.scan(lambda h: h + 1.0, outputs_info=zero(), n_steps=4)
    assert c.type.shape == (4,)


def test_the_body_is_built_once(monkeypatch):
    import codegen.plan as plan
    built = []
    real = plan.build
    monkeypatch.setattr(plan, "build", lambda p, *a, **k: built.append(p) or real(p, *a, **k))
    x = sg.dvector("x")
    h, _ = sg.scan(lambda x_t, h: h + x_t, sequences=x, outputs_info=zero())
    f = sg.function([x], h, backend="llvm")
    f(np.ones(50))
    f(np.ones(20))
    assert len(built) == 1            # the body; the function's own program is built apart


# ---------------------------------------------------------------- gradients
def rnn(x, W, U, b, h0):
    h, _ = sg.scan(lambda x_t, h: sg.tanh(sg.dot(x_t, W) + sg.dot(h, U) + b),
                   sequences=x, outputs_info=h0)
    return h


RNN_ARGS = [rng.normal(size=(5, 3)), 0.5 * rng.normal(size=(3, 4)),
            0.5 * rng.normal(size=(4, 4)), rng.normal(size=4), rng.normal(size=4)]


@pytest.mark.parametrize("backend", BACKENDS)
def test_rnn_gradient(backend):
    sg.verify_grad(rnn, RNN_ARGS, backend=backend)


def test_gradient_through_a_shared_variable_updated_at_each_step():
    s = sg.shared(np.float64(0.3), name="s")

    def f(x, w):
        y, _ = sg.scan(lambda x_t, w: (sg.sin(s) * x_t, {s: s * w + x_t}), sequences=x,
                       non_sequences=w)
        return y
    sg.verify_grad(f, [rng.normal(size=5), np.array(0.7)])


def test_gradient_with_taps_and_sequence_taps():
    def f(x, h0, c):
        h, _ = sg.scan(lambda xa, xb, hm2, hm1, c: sg.tanh(xa * hm2 + xb * hm1 * c),
                       sequences=dict(input=x, taps=[0, 1]),
                       outputs_info=dict(initial=h0, taps=[-2, -1]), non_sequences=c)
        return h
    sg.verify_grad(f, [rng.normal(size=(6, 2)), rng.normal(size=(2, 2)), rng.normal(size=2)])


def test_truncated_gradient_matches_hand_truncated_bptt():
    x, w, h0 = sg.dvector("x"), sg.dscalar("w"), sg.dscalar("h0")
    h, _ = sg.scan(lambda x_t, h, w: sg.tanh(h * w + x_t), sequences=x, outputs_info=h0,
                   non_sequences=w, truncate_gradient=3)
    cost = (h ** 2).sum()
    xv, wv, hv = rng.normal(size=7), 0.8, 0.3
    gx, gw, gh = sg.function([x, w, h0], sg.grad(cost, [x, w, h0]))(xv, wv, hv)
    hs = [hv]
    for v in xv:
        hs.append(np.tanh(hs[-1] * wv + v))
    T, k = len(xv), 3
    want_x, want_w, owed = np.zeros(T), 0.0, 0.0
    for t in range(T - 1, T - 1 - k, -1):       # only the last k steps
        d = (2 * hs[t + 1] + owed) * (1 - hs[t + 1] ** 2)
        want_x[t], want_w, owed = d, want_w + d * hs[t], d * wv
    np.testing.assert_allclose(gx, want_x)
    np.testing.assert_allclose(gw, want_w)
    assert gh == 0.0                      # the start is more than 3 steps back


def test_gradient_of_gradient():
    x, w = sg.dvector("x"), sg.dscalar("w")
    h, _ = sg.scan(lambda x_t, h, w: sg.tanh(h * w + x_t), sequences=x,
                   outputs_info=sg.constant(0.5, F64), non_sequences=w)
    gw = sg.grad((h ** 2).sum(), w)
    f = sg.function([x, w], [gw, sg.grad(gw, w)])
    xv, e = rng.normal(size=5), 1e-6
    numeric = (f(xv, 0.7 + e)[0] - f(xv, 0.7 - e)[0]) / (2 * e)
    np.testing.assert_allclose(f(xv, 0.7)[1], numeric, rtol=1e-6)


def test_gradient_through_random_draws_inside():
    srng = sg.RandomStreams(seed=3)
    W, x, h0 = sg.dmatrix("W"), sg.dmatrix("x"), sg.dvector("h0")
    h, _ = sg.scan(lambda x_t, h: sg.tanh(sg.dot(h, W) * (srng.uniform((2,)) > 0.3) + x_t),
                   sequences=x, outputs_info=h0)
    cost = (h ** 2).sum()
    f = sg.function([W, x, h0], [cost, sg.grad(cost, W)], no_default_updates=True)
    Wv, xv, hv = rng.normal(size=(2, 2)), rng.normal(size=(5, 2)), rng.normal(size=2)
    numeric = np.zeros((2, 2))
    for i in np.ndindex(2, 2):
        d = np.zeros((2, 2))
        d[i] = 1e-6
        numeric[i] = (f(Wv + d, xv, hv)[0] - f(Wv - d, xv, hv)[0]) / 2e-6
    np.testing.assert_allclose(f(Wv, xv, hv)[1], numeric, atol=1e-7)


def test_gradient_matches_jax_scan():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    xs, W, U, b, h0 = (sg.dmatrix("x"), sg.dmatrix("W"), sg.dmatrix("U"), sg.dvector("b"),
                       sg.dvector("h0"))
    cost = (rnn(xs, W, U, b, h0)[-1] ** 2).sum()
    got = sg.function([xs, W, U, b, h0], sg.grad(cost, [xs, W, U, b, h0]))(*RNN_ARGS)

    def jcost(x, W, U, b, h0):
        step = lambda h, x_t: (jnp.tanh(x_t @ W + h @ U + b),) * 2
        return (jax.lax.scan(step, h0, x)[1][-1] ** 2).sum()
    want = jax.grad(jcost, argnums=(0, 1, 2, 3, 4))(*RNN_ARGS)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, np.asarray(w), rtol=1e-10)


def test_backward_reads_the_saved_forward():
    xs, W, U, b, h0 = (sg.dmatrix("x"), sg.dmatrix("W"), sg.dmatrix("U"), sg.dvector("b"),
                       sg.dvector("h0"))
    h = rnn(xs, W, U, b, h0)
    f = sg.function([xs, W, U, b, h0], [h, *sg.grad(h.sum(), [W, U])])
    loops = [s for s in f._program.steps if s.kind == "loop"]
    names = sorted(s.label for s in loops)
    assert names == ["grad_scan", "scan"]          # one forward loop, one backward
    back = next(s for s in loops if s.label == "grad_scan")
    assert back.what.taps == ()      # it stacks nothing over the steps but x's gradient
    # the backward body differentiates tanh from the saved h_t: it computes no tanh
    body = [k.kernel for k in back.what.body.steps if k.kernel is not None]
    assert not any("tanh" in str(k.body) for k in body)


# ---------------------------------------------------------------- errors
def test_errors_say_what_was_expected():
    x = sg.dvector("x")
    with pytest.raises(ValueError, match="no sequences and no n_steps"):
        sg.scan(lambda h: h, outputs_info=zero())
    with pytest.raises(ValueError, match="returned 2 outputs but outputs_info has 1"):
        sg.scan(lambda x_t, h: (h, h), sequences=x, outputs_info=zero())
    with pytest.raises(TypeError, match=r"output 0 is float32.*astype\('float64'\)"):
        sg.scan(lambda x_t, h: (h + x_t).astype("float32"), sequences=x,
                outputs_info=zero())
    with pytest.raises(TypeError, match="rank"):
        sg.scan(lambda x_t, h: sg.stack([h, x_t]), sequences=x, outputs_info=zero())
    with pytest.raises(ValueError, match="taps must be negative"):
        sg.scan(lambda x_t, h: h, sequences=x, outputs_info=dict(initial=x, taps=[0]))
    with pytest.raises(TypeError, match="at least one axis"):
        sg.scan(lambda x_t: x_t, sequences=sg.dscalar())
    with pytest.raises(ValueError, match="strict"):
        w = sg.dscalar("w")
        sg.scan(lambda x_t: x_t * w, sequences=x, strict=True)


def test_run_time_errors_name_the_loop():
    x, n = sg.dvector("x"), sg.lscalar("n")
    y, _ = sg.scan(lambda x_t: x_t * 2, sequences=x, n_steps=n)
    f = sg.function([x, n], y)
    with pytest.raises(ValueError, match="sequence 0 has 3 rows for 5 steps"):
        f(np.zeros(3), 5)
    h0 = sg.dvector("h0")
    h, _ = sg.scan(lambda h: sg.concatenate([h, h]), outputs_info=h0, n_steps=2)
    with pytest.raises(ValueError, match="fed-back output 0 has shape"):
        sg.function([h0], h)(np.zeros(2))


def test_equal_scans_merge():
    x = sg.dvector("x")
    a, _ = sg.scan(lambda x_t, h: h + x_t, sequences=x, outputs_info=zero())
    b, _ = sg.scan(lambda x_t, h: h + x_t, sequences=x, outputs_info=zero())
    assert a.owner.op == b.owner.op and isinstance(a.owner.op, Scan)
    f = sg.function([x], a * b)
    assert sum(s.kind == "loop" for s in f._program.steps) == 1


# ---------------------------------------------------------------- push-out
@pytest.mark.parametrize("backend", BACKENDS)
def test_push_out_hoists_invariants_and_the_sequence_product(backend):
    xs, W, U, b, h0 = (sg.dmatrix("x"), sg.dmatrix("W"), sg.dmatrix("U"), sg.dvector("b"),
                       sg.dvector("h0"))
    h, _ = sg.scan(lambda x_t, h: sg.tanh(sg.dot(x_t, W) + sg.dot(h, U.T) + sg.exp(b)),
                   sequences=xs, outputs_info=h0)
    f = sg.function([xs, W, U, b, h0], h, backend=backend)
    (loop,) = [s for s in f._program.steps if s.kind == "loop"]
    body = loop.what.body.steps
    assert [s.label for s in body if s.kind == "call"] == ["dot"]    # h @ U.T only
    assert not any("exp" in str(s.kernel.body) for s in body if s.kernel is not None)
    assert any(s.label == "dot" for s in f._program.steps)           # x @ W, once
    X, Wv, Uv, bv, hv = RNN_ARGS
    want, state = [], hv
    for x_t in X:
        state = np.tanh(x_t @ Wv + state @ Uv.T + np.exp(bv))
        want.append(state)
    np.testing.assert_allclose(to_host(f(X, Wv, Uv, bv, hv)), want, rtol=1e-12)


def test_push_out_of_a_batched_sequence_keeps_gradients():
    def f(x, W, h0):
        h, _ = sg.scan(lambda x_t, h: sg.tanh(sg.dot(x_t, W) + h), sequences=x,
                       outputs_info=h0)
        return h
    sg.verify_grad(f, [rng.normal(size=(4, 2, 3)), rng.normal(size=(3, 2)),
                       rng.normal(size=(2, 2))])


# ---------------------------------------------------------------- jacobian at run-time sizes
def test_jacobian_and_hessian_at_run_time_sizes_match_the_static_ones():
    x, A = sg.dvector("x"), sg.dmatrix("A")
    xs, As = sg.tensor("xs", F64, (3,)), sg.tensor("As", F64, (2, 3))

    def parts(x, A):
        y = sg.tanh(sg.dot(A, x))
        return [*sg.jacobian(y, [x, A]), sg.hessian((y ** 3).sum(), x)]
    xv, Av = rng.normal(size=3), rng.normal(size=(2, 3))
    dynamic = sg.function([x, A], parts(x, A))
    assert any(s.kind == "loop" for s in dynamic._program.steps)
    for got, want in zip(dynamic(xv, Av), sg.function([xs, As], parts(xs, As))(xv, Av)):
        np.testing.assert_allclose(got, want, rtol=1e-12)
    assert dynamic(np.zeros(0), np.zeros((2, 0)))[0].shape == (2, 0)


@pytest.mark.parametrize("batched", [False, True])
def test_push_out_of_weight_gradient_sums(batched):
    x = sg.tensor("x", F64, (None, 2, 3) if batched else (None, 3))
    W, U = sg.dmatrix("W"), sg.dmatrix("U")
    h0 = sg.zeros((2, 4) if batched else (4,), F64)
    h, _ = sg.scan(lambda x_t, h: sg.tanh(sg.dot(x_t, W) + sg.dot(h, U)), sequences=x,
                   outputs_info=h0)
    f = sg.function([x, W, U], sg.grad((h ** 2).sum(), [W, U]))
    (back,) = [s for s in f._program.steps if s.label == "grad_scan"]
    # per step only d_t @ U.T: the sums over steps of x_t.T @ d_t and h_t.T @ d_t are
    # two products after the loop
    assert [s.label for s in back.what.body.steps if s.kind == "call"] == ["dot"]
    # the one stacked output: d_t, which both sums read; the gradient of x, which nobody
    # asked for, is not computed
    assert len(back.what.nit) == 1
    args = [rng.normal(size=(5, 2, 3) if batched else (5, 3)), rng.normal(size=(3, 4)),
            0.5 * rng.normal(size=(4, 4))]
    sg.verify_grad(lambda x, W, U: sg.scan(
        lambda x_t, h: sg.tanh(sg.dot(x_t, W) + sg.dot(h, U)), sequences=x,
        outputs_info=h0)[0], args)


def test_inference_function_draws_no_dropout_inside_the_loop():
    srng = sg.RandomStreams(seed=1)
    x = sg.dmatrix("x")
    y, upd = sg.scan(lambda x_t: sg.nnet.dropout(x_t, 0.5, srng), sequences=x)
    predict = sg.function([x], y, updates=upd, training=False)
    np.testing.assert_array_equal(predict(np.ones((3, 4))), np.ones((3, 4)))
    (loop,) = [s for s in predict._program.steps if s.kind == "loop"]
    assert not any("uniform" in s.label for s in loop.what.body.steps)
    train = sg.function([x], y, updates=upd)
    assert set(np.unique(train(np.ones((30, 4))))) == {0.0, 2.0}


@pytest.mark.parametrize("backend", BACKENDS)
def test_float32_non_contiguous_negative_steps_and_return_list(backend):
    x = sg.fmatrix("x")
    W = sg.fmatrix("W")
    h, _ = sg.scan(lambda x_t, h: sg.tanh(sg.dot(x_t, W) + h), sequences=x[:, ::2],
                   outputs_info=sg.zeros((2,), "float32"), n_steps=-3, return_list=True)
    assert isinstance(h, list) and h[0].dtype == "float32"
    xv, Wv = rng.normal(size=(5, 4)).astype("float32"), rng.normal(size=(2, 2)).astype("float32")
    want, state = [], np.zeros(2, "float32")
    for x_t in xv[:, ::2][::-1][:3]:          # a negative count walks backwards
        state = np.tanh(x_t @ Wv + state)
        want.append(state)
    got = run([x, W], h[0], [xv, Wv], backend)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-5)


def test_backward_reads_the_forward_products_and_the_forward_runs_once():
    x, W, U = sg.tensor("x", F64, (None, 2, 3)), sg.dmatrix("W"), sg.dmatrix("U")

    def step(x_t, h, c):          # an LSTM-like cell: the derivative needs z itself
        z = sg.dot(x_t, W) + sg.dot(h, U)
        c = sg.sigmoid(z) * c + 0.5
        return sg.tanh(c), c
    (h, c), _ = sg.scan(step, sequences=x, outputs_info=[sg.zeros((2, 4), F64)] * 2)
    loss = (h ** 2).sum()
    f = sg.function([x, W, U], [loss, *sg.grad(loss, [W, U])])
    loops = [s for s in f._program.steps if s.kind == "loop"]
    assert sorted(s.label for s in loops) == ["grad_scan", "scan"]     # one forward loop
    back = next(s for s in loops if s.label == "grad_scan")
    # h @ U is saved by the forward loop: per step the backward multiplies by U.T only
    assert [s.label for s in back.what.body.steps if s.kind == "call"] == ["dot"]
    sg.verify_grad(lambda x, W, U: sg.scan(
        lambda x_t, h, c: (lambda z: (sg.tanh(sg.sigmoid(z) * c + 0.5),
                                      sg.sigmoid(z) * c + 0.5))(sg.dot(x_t, W) + sg.dot(h, U)),
        sequences=x, outputs_info=[sg.zeros((2, 4), F64)] * 2)[0][0],
        [rng.normal(size=(4, 2, 3)), rng.normal(size=(3, 4)), 0.5 * rng.normal(size=(4, 4))])


def test_truncation_with_two_taps():
    x, h0 = sg.dvector("x"), sg.dvector("h0")

    def grads(k):
        h, _ = sg.scan(lambda x_t, a, b: sg.tanh(0.5 * a + 0.8 * b + x_t), sequences=x,
                       outputs_info=dict(initial=h0, taps=[-2, -1]), truncate_gradient=k)
        return sg.grad((h ** 2).sum(), [x, h0])
    f = sg.function([x, h0], [*grads(-1), *grads(6), *grads(1)])
    full_x, full_h, k6_x, k6_h, k1_x, k1_h = f(rng.normal(size=6), rng.normal(size=2))
    np.testing.assert_allclose(k6_x, full_x)            # 6 steps reach back to the start
    np.testing.assert_allclose(k6_h, full_h)
    assert (k1_x[:5] == 0).all() and k1_x[5] != 0 and (k1_h == 0).all()


def test_a_failure_inside_the_body_names_its_node_line_and_step():
    xs, idx = sg.dmatrix("xs"), sg.lvector("i")
    out, _ = sg.scan(lambda x_t, i: x_t[i] * 2,
                     sequences=[xs, idx])
    f = sg.function([xs, idx], out)
    with pytest.raises(IndexError) as err:
        f(np.ones((3, 2)), np.array([0, 1, 7]))
    msg = str(err.value)
    assert "index 7 is out of range" in msg and "test_scan.py:" in msg, msg
    assert re.search(r"at step 2 of scan\(.*\) built at .*test_scan.py:\d+", msg), msg


def test_the_first_call_of_a_recurrent_training_step_compiles_nothing():
    """Gates sliced from one product with bounds known at run time, states starting from
    zeros (a broadcast): kernels meet those layouts at the first call, which finds them
    compiled by sg.function."""
    from codegen.llvm import jit
    x = sg.tensor3("x")
    W = sg.shared(np.full((3, 8), 0.1, "float32"), name="W")
    U = sg.shared(np.full((2, 8), 0.1, "float32"), name="U")

    def step(x_t, h, c):
        n = U.shape[0]
        z = sg.dot(x_t, W) + sg.dot(h, U)
        i, f = sg.sigmoid(z[:, :n]), sg.sigmoid(z[:, n:2 * n])
        g, o = sg.tanh(z[:, 2 * n:3 * n]), sg.sigmoid(z[:, 3 * n:])
        c = f * c + i * g
        return o * sg.tanh(c), c
    start = sg.zeros((x.shape[1], 2))
    (hs, _), _ = sg.scan(step, sequences=x, outputs_info=[start, start])
    loss = (hs ** 2).mean()
    train = sg.function([x], loss, updates=[(p, p - 0.1 * g) for p, g in
                                            zip([W, U], sg.grad(loss, [W, U]))])
    before = dict(jit.stats)
    train(np.ones((4, 3, 3), "float32"))
    assert [jit.stats[k] - before[k] for k in ("symbols_compiled", "symbols_loaded")] == [0, 0]
