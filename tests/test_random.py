"""Random streams: the same numbers on every backend, fused or not; state that advances by
itself and reseeds; the distributions' statistics; draws never merged or folded."""
from __future__ import annotations

import math

import numpy as np
import pytest

import symgraph as sg
from tests.checks import BACKENDS, to_host


def run(outputs, inputs=(), args=(), backend="llvm", **kw):
    f = sg.function(list(inputs), outputs, backend=backend, **kw)
    return f, [to_host(o) for o in (f(*args) if isinstance(outputs, list) else [f(*args)])]


# ---- the same numbers everywhere ---------------------------------------------------------
def draws(rng, x):
    return [rng.uniform(x.shape), rng.uniform(x.shape, -2, 3, dtype="float32"),
            rng.normal(x.shape), rng.normal(x.shape, 1.0, 2.0, dtype="float32"),
            rng.binomial(x.shape, p=0.3), rng.binomial(x.shape, n=7, p=0.6),
            rng.bernoulli(x.shape, 0.5, dtype="bool"), rng.integers(-5, 17, x.shape)]


def test_every_backend_draws_the_same_numbers():
    x = sg.dmatrix("x")
    X = np.zeros((37, 23))
    results = {}
    for backend in BACKENDS:
        rng = sg.RandomStreams(seed=2024)
        _, results[backend] = run(draws(rng, x), [x], [X], backend)
    ref = results["numpy"]
    for backend, got in results.items():
        for j, (g, w) in enumerate(zip(got, ref)):
            assert g.dtype == w.dtype and g.shape == w.shape
            if j in (2, 3):     # Box-Muller's log and cos: the backends' ULPs
                np.testing.assert_allclose(g, w, rtol=1e-5 if g.dtype == np.float32 else 1e-12,
                                           atol=1e-6)
            else:
                np.testing.assert_array_equal(g, w, err_msg=f"{backend} draw {j}")


def test_fused_and_unfused_draw_the_same_numbers():
    x = sg.fmatrix("x")
    X = np.random.default_rng(0).standard_normal((40, 30)).astype("float32")
    out = {}
    for rewrite in (True, False):
        rng = sg.RandomStreams(seed=7)
        u = rng.uniform(x.shape)
        y = x * (u > 0.25) / 0.75
        f, out[rewrite] = run([y, u], [x], [X], rewrite=rewrite)
    for a, b in zip(out[True], out[False]):
        np.testing.assert_array_equal(a, b)


def test_dropout_is_one_kernel_and_writes_no_random_array():
    x = sg.fmatrix("x")
    rng = sg.RandomStreams(seed=1)
    f = sg.function([x], x * (rng.uniform(x.shape) > 0.5))
    kernels = [n for n in f.nodes if str(n.op).startswith("fused")]
    # the draw's kernel and the counter's update (state + 1)
    assert [str(n.op) for n in kernels] == ["fused{uniform, greater, mul}", "fused{add}"]
    assert len(kernels[0].outputs) == 1           # the result, not the uniforms
    assert kernels[0].inputs[0] is x              # x's shape is the draw's: no template
    X = np.ones((64, 64), "float32")
    y = f(X)
    assert set(np.unique(y)) == {0.0, 1.0} and 0.4 < y.mean() < 0.6


def test_a_row_draw_broadcasts_like_a_row():
    x = sg.dmatrix("x")
    rng = sg.RandomStreams(seed=3)
    r = rng.uniform((1, 5))
    assert r.type.broadcastable == (True, False)
    _, (y, rv) = run([x + r, r], [x], [np.zeros((4, 5))])
    np.testing.assert_array_equal(y, np.broadcast_to(rv, (4, 5)))


def test_symbolic_and_scalar_sizes():
    n = sg.lscalar("n")
    rng = sg.RandomStreams(seed=3)
    _, (a, b, c) = run([rng.normal((n, 3)), rng.uniform(n), rng.uniform()], [n], [4])
    assert a.shape == (4, 3) and b.shape == (4,) and c.shape == ()


def test_size_none_takes_the_parameters_shape():
    p = sg.dvector("p")
    rng = sg.RandomStreams(seed=3)
    _, (b, u) = run([rng.binomial(p=p), rng.uniform(low=p, high=p + 1)], [p],
                    [np.array([0.0, 1.0, 0.0, 1.0])])
    assert b.tolist() == [0, 1, 0, 1] and u.shape == (4,)


# ---- state -------------------------------------------------------------------------------
def test_calls_advance_the_state_without_updates_and_seed_restarts():
    rng = sg.RandomStreams(seed=11)
    f = sg.function([], rng.uniform((1000,)))
    a, b = f(), f()
    assert not np.any(a == b)
    assert int(rng.state.get_value()) == 2
    rng.seed(11)
    np.testing.assert_array_equal(f(), a)
    np.testing.assert_array_equal(f(), b)


def test_a_new_stream_with_the_seed_reproduces():
    outs = []
    for _ in range(2):
        rng = sg.RandomStreams(seed=5)
        f = sg.function([], [rng.normal((3,)), rng.uniform((3,))])
        outs.append([f(), f()])
    for a, b in zip(outs[0], outs[1]):
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)
    assert int(sg.RandomStreams(6).key.get_value()) != int(sg.RandomStreams(5).key.get_value())
    assert int(sg.RandomStreams(2**64 - 1).key.get_value()) == -1       # 64 bits, wrapped


def test_two_functions_share_a_stream():
    rng = sg.RandomStreams(seed=1)
    u = rng.uniform((50,))
    f, g = sg.function([], u), sg.function([], u * 1)
    a, b = f(), g()
    assert not np.any(a == b)          # g drew at the next call number
    rng.seed(1)
    np.testing.assert_array_equal(g(), a)


def test_draws_are_never_merged_or_folded():
    rng = sg.RandomStreams(seed=1)
    a, b = rng.uniform((100,)), rng.uniform((100,))
    f = sg.function([], [a, b, a - a])
    x, y, z = f()
    assert not np.any(x == y)
    assert not np.any(z)
    assert "uniform" in " ".join(str(n.op) for n in f.nodes)


def test_bad_arguments():
    with pytest.raises(TypeError, match="integer"):
        sg.RandomStreams(seed=1.5)
    rng = sg.RandomStreams(0)
    with pytest.raises(ValueError, match="n must be"):
        rng.binomial((3,), n=10**6)
    with pytest.raises(TypeError, match="integer dtype"):
        rng.integers(0, 5, (3,), dtype="float32")
    with pytest.raises(TypeError, match="float dtype"):
        rng.uniform((3,), dtype="int32")
    with pytest.raises(ValueError, match="broadcast"):
        rng.uniform((1, 3), low=sg.dmatrix("lo"))
    with pytest.raises(ValueError, match="ndim=1"):
        rng.normal((2, 3), ndim=1)
    assert rng.binomial((2, 3), p=0.5, ndim=2).ndim == 2


# ---- statistics --------------------------------------------------------------------------
N = 200_000


def sample(make, dtype="float64"):
    rng = sg.RandomStreams(seed=123)
    return sg.function([], make(rng))()


def ks_statistic(x: np.ndarray, cdf) -> float:
    x = np.sort(x.astype(np.float64))
    f = cdf(x)
    n = len(x)
    return float(max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n)))


KS_LIMIT = 1.95 / math.sqrt(N)           # alpha = 0.001
_erf = np.vectorize(math.erf)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_uniform_statistics(dtype):
    u = sample(lambda r: r.uniform((N,), dtype=dtype))
    assert u.dtype == dtype and u.min() >= 0 and u.max() < 1
    assert abs(u.mean() - 0.5) < 4 * math.sqrt(1 / 12 / N)
    assert abs(u.var() - 1 / 12) < 0.002
    assert ks_statistic(u, lambda x: x) < KS_LIMIT


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_normal_statistics(dtype):
    z = sample(lambda r: r.normal((N,), 2.0, 3.0, dtype=dtype))
    assert abs(z.mean() - 2) < 4 * 3 / math.sqrt(N)
    assert abs(z.std() - 3) < 0.03
    assert ks_statistic((z - 2) / 3, lambda x: 0.5 * (1 + _erf(x / math.sqrt(2)))) < KS_LIMIT


def chi_square_ok(counts: np.ndarray, probs: np.ndarray) -> bool:
    """Pearson's chi-square below the 0.001 quantile's Wilson-Hilferty approximation."""
    expected = probs * counts.sum()
    stat = float(((counts - expected) ** 2 / expected).sum())
    k = len(counts) - 1
    limit = k * (1 - 2 / (9 * k) + 3.09 * math.sqrt(2 / (9 * k))) ** 3
    return stat < limit


def test_binomial_and_bernoulli_statistics():
    n, p = 9, 0.35
    counts = np.bincount(sample(lambda r: r.binomial((N,), n=n, p=p)), minlength=n + 1)
    probs = np.array([math.comb(n, k) * p ** k * (1 - p) ** (n - k) for k in range(n + 1)])
    assert chi_square_ok(counts, probs)
    b = sample(lambda r: r.bernoulli((N,), 0.2))
    assert b.dtype == np.int8 and chi_square_ok(np.bincount(b, minlength=2),
                                                np.array([0.8, 0.2]))


def test_integers_statistics():
    k = sample(lambda r: r.integers(3, 20, (N,)))
    assert k.min() == 3 and k.max() == 19
    assert chi_square_ok(np.bincount(k - 3), np.full(17, 1 / 17))


def test_no_correlation_between_neighbours_streams_and_calls():
    rng = sg.RandomStreams(seed=9)
    f = sg.function([], [rng.uniform((400, 500)), rng.uniform((400, 500))])
    a, b = f()
    c, _ = f()
    limit = 4 / math.sqrt(a.size)
    for x, y in [(a[:, 1:], a[:, :-1]), (a[1:], a[:-1]), (a, b), (a, c)]:
        assert abs(np.corrcoef(x.ravel(), y.ravel())[0, 1]) < limit


def test_permutation_and_choice():
    rng = sg.RandomStreams(seed=4)
    f = sg.function([], [rng.permutation(50), rng.choice(10, 4, replace=False),
                         rng.choice(np.array([2.0, 4.0]), (3, 5))])
    p, c, d = f()
    assert sorted(p.tolist()) == list(range(50)) and p.tolist() != list(range(50))
    assert len(set(c.tolist())) == 4 and set(c.tolist()) <= set(range(10))
    assert d.shape == (3, 5) and set(d.ravel().tolist()) <= {2.0, 4.0}


# ---- dropout and the training flag ----------------------------------------------------
def test_dropout_trains_and_predicts_from_one_graph():
    from symgraph.random import dropout
    x = sg.fmatrix("x")
    rng = sg.RandomStreams(seed=2)
    h = dropout(sg.tanh(x), 0.25, rng)
    train, predict = sg.function([x], h), sg.function([x], h, training=False)
    X = np.full((200, 100), 0.5, "float32")
    y = train(X)
    t = np.tanh(np.float32(0.5))
    kept = np.unique(y[y != 0])
    assert len(kept) == 1 and np.isclose(kept[0], t / 0.75, rtol=1e-6)
    assert abs((y == 0).mean() - 0.25) < 0.01 and abs(y.mean() - t) < 0.01
    np.testing.assert_allclose(predict(X), np.tanh(X), rtol=1e-6)     # vmath's ULPs
    assert not predict.updates and [str(n.op) for n in predict.nodes] == ["tanh"]
    state = rng.state.get_value().copy()
    predict(X)
    np.testing.assert_array_equal(rng.state.get_value(), state)   # predicting draws nothing


def test_dropout_switched_at_run_time_and_fixed_forms():
    from symgraph.random import dropout
    x = sg.dvector("x")
    rng = sg.RandomStreams(seed=2)
    on = sg.shared(True, name="on")
    f = sg.function([x], dropout(x, 0.5, rng, training=on))
    X = np.ones(1000)
    assert (f(X) == 0).any()
    on.set_value(False)
    np.testing.assert_array_equal(f(X), X)
    assert dropout(x, 0.5, rng, training=False) is x and dropout(x, 0.0, rng) is x
    g = sg.function([x], dropout(x, 0.5, rng, training=True), training=False)
    assert (g(X) == 0).any()
    with pytest.raises(ValueError, match="p must be"):
        dropout(x, 1.0, rng)
    with pytest.raises(TypeError, match="training must be"):
        sg.function([x], x, training="yes")


def test_dropout_keeps_a_row_a_row_and_nested_layers_predict():
    from symgraph.random import dropout
    r = sg.frow("r")
    rng = sg.RandomStreams(seed=2)
    assert dropout(r, 0.5, rng).type.broadcastable == (True, False)
    x = sg.fmatrix("x")
    h = dropout(sg.tanh(dropout(x, 0.5, rng)), 0.5, rng)
    predict = sg.function([x], h, training=False)
    X = np.ones((3, 3), "float32")
    np.testing.assert_allclose(predict(X), np.tanh(X))


def test_a_pickled_function_draws_on_from_its_copy_of_the_state():
    import pickle
    rng = sg.RandomStreams(seed=3)
    x = sg.dvector("x")
    f = sg.function([x], x + rng.normal(x.shape))
    f(np.zeros(3))
    g = pickle.loads(pickle.dumps(f))
    np.testing.assert_array_equal(g(np.zeros(3)), f(np.zeros(3)))
    assert g.shared[0] is not rng.state
