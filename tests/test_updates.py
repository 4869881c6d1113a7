"""symgraph.updates: every optimizer, step by step, against numpy code written from its
published rule (10 steps of a logistic regression with three parameters of different
ranks, float64), on every backend; symbolic hyper-parameters; float32 kept; bad input."""
from __future__ import annotations

import numpy as np
import pytest

import symgraph as sg
from symgraph import updates
from tests.checks import BACKENDS

STEPS = 10
_rng = np.random.default_rng(7)
X = _rng.standard_normal((8, 3))
Y = (_rng.random((8, 2)) < 0.5).astype("float64")
INIT = [_rng.standard_normal((3, 2)), _rng.standard_normal(2), np.array(0.3)]


def loss_of(W, b, s):
    """Mean cross-entropy of sigmoid(X W + b + s) against Y: symbolic."""
    z = sg.dot(sg.constant(X), W) + b + s
    return sg.nnet.sigmoid_binary_crossentropy(z, sg.constant(Y)).mean()


def numpy_grads(W, b, s):
    """The same loss's gradients, by hand."""
    dz = (1 / (1 + np.exp(-(X @ W + b + s))) - Y) / Y.size
    return [X.T @ dz, dz.sum(axis=0), dz.sum()]


# Each reference: rule(params, grads, state, t) -> new params, updating ``state`` (a dict
# it fills on the first step); t counts steps from 1. Written from the papers' formulas.
def ref_sgd(lr):
    return lambda ps, gs, st, t: [p - lr * g for p, g in zip(ps, gs)]


def ref_momentum(lr, mu, nesterov=False):
    def rule(ps, gs, st, t):
        vs = st.setdefault("v", [np.zeros_like(p) for p in ps])
        out = []
        for i, (p, g) in enumerate(zip(ps, gs)):
            vs[i] = mu * vs[i] - lr * g
            out.append(p + mu * vs[i] - lr * g if nesterov else p + vs[i])
        return out
    return rule


def ref_adagrad(lr, eps):
    def rule(ps, gs, st, t):
        acc = st.setdefault("a", [np.zeros_like(p) for p in ps])
        for i, g in enumerate(gs):
            acc[i] = acc[i] + g ** 2
        return [p - lr * g / np.sqrt(a + eps) for p, g, a in zip(ps, gs, acc)]
    return rule


def ref_rmsprop(lr, rho, eps):
    def rule(ps, gs, st, t):
        acc = st.setdefault("a", [np.zeros_like(p) for p in ps])
        for i, g in enumerate(gs):
            acc[i] = rho * acc[i] + (1 - rho) * g ** 2
        return [p - lr * g / np.sqrt(a + eps) for p, g, a in zip(ps, gs, acc)]
    return rule


def ref_adadelta(lr, rho, eps):
    def rule(ps, gs, st, t):
        acc = st.setdefault("a", [np.zeros_like(p) for p in ps])
        dacc = st.setdefault("d", [np.zeros_like(p) for p in ps])
        out = []
        for i, (p, g) in enumerate(zip(ps, gs)):
            acc[i] = rho * acc[i] + (1 - rho) * g ** 2
            u = g * np.sqrt(dacc[i] + eps) / np.sqrt(acc[i] + eps)
            dacc[i] = rho * dacc[i] + (1 - rho) * u ** 2
            out.append(p - lr * u)
        return out
    return rule


def ref_adam(lr, b1, b2, eps, amsgrad=False, weight_decay=0.0):
    """Kingma and Ba's algorithm 1 in their section 2's efficient order (epsilon added to
    sqrt(v), the step size carrying the bias corrections); AMSGrad's running maximum of v;
    AdamW's decoupled decay (PyTorch's, scaled by lr)."""
    def rule(ps, gs, st, t):
        m = st.setdefault("m", [np.zeros_like(p) for p in ps])
        v = st.setdefault("v", [np.zeros_like(p) for p in ps])
        vmax = st.setdefault("vmax", [np.zeros_like(p) for p in ps])
        a_t = lr * np.sqrt(1 - b2 ** t) / (1 - b1 ** t)
        out = []
        for i, (p, g) in enumerate(zip(ps, gs)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g ** 2
            vmax[i] = np.maximum(vmax[i], v[i])
            denom = np.sqrt(vmax[i] if amsgrad else v[i]) + eps
            out.append(p * (1 - lr * weight_decay) - a_t * m[i] / denom)
        return out
    return rule


def ref_adamax(lr, b1, b2, eps):
    def rule(ps, gs, st, t):
        m = st.setdefault("m", [np.zeros_like(p) for p in ps])
        u = st.setdefault("u", [np.zeros_like(p) for p in ps])
        out = []
        for i, (p, g) in enumerate(zip(ps, gs)):
            m[i] = b1 * m[i] + (1 - b1) * g
            u[i] = np.maximum(b2 * u[i], np.abs(g))
            out.append(p - lr / (1 - b1 ** t) * m[i] / (u[i] + eps))
        return out
    return rule


def ref_nadam(lr, b1, b2, eps, decay):
    """PyTorch's NAdam (Dozat 2016 with the 0.96**(t * momentum_decay) schedule)."""
    def rule(ps, gs, st, t):
        m = st.setdefault("m", [np.zeros_like(p) for p in ps])
        v = st.setdefault("v", [np.zeros_like(p) for p in ps])
        mu = b1 * (1 - 0.5 * 0.96 ** (t * decay))
        mu_next = b1 * (1 - 0.5 * 0.96 ** ((t + 1) * decay))
        st["prod"] = st.get("prod", 1.0) * mu
        out = []
        for i, (p, g) in enumerate(zip(ps, gs)):
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g ** 2
            denom = np.sqrt(v[i] / (1 - b2 ** t)) + eps
            out.append(p - lr * (1 - mu) / (1 - st["prod"]) * g / denom
                       - lr * mu_next / (1 - st["prod"] * mu_next) * m[i] / denom)
        return out
    return rule


CASES = {
    "sgd": (lambda l, ps: updates.sgd(l, ps, 0.5), ref_sgd(0.5)),
    "momentum": (lambda l, ps: updates.momentum(l, ps, 0.3, momentum=0.8),
                 ref_momentum(0.3, 0.8)),
    "nesterov_momentum": (lambda l, ps: updates.nesterov_momentum(l, ps, 0.3),
                          ref_momentum(0.3, 0.9, nesterov=True)),
    "adagrad": (lambda l, ps: updates.adagrad(l, ps, 0.1), ref_adagrad(0.1, 1e-6)),
    "rmsprop": (lambda l, ps: updates.rmsprop(l, ps, 0.01, rho=0.8),
                ref_rmsprop(0.01, 0.8, 1e-6)),
    "adadelta": (lambda l, ps: updates.adadelta(l, ps, epsilon=1e-4),
                 ref_adadelta(1.0, 0.95, 1e-4)),
    "adam": (lambda l, ps: updates.adam(l, ps, 0.05, beta2=0.99),
             ref_adam(0.05, 0.9, 0.99, 1e-8)),
    "adamax": (lambda l, ps: updates.adamax(l, ps, beta1=0.8), ref_adamax(0.002, 0.8, 0.999, 1e-8)),
    "nadam": (lambda l, ps: updates.nadam(l, ps, 0.05), ref_nadam(0.05, 0.9, 0.999, 1e-8, 0.004)),
    "amsgrad": (lambda l, ps: updates.amsgrad(l, ps, 0.05, beta2=0.9),
                ref_adam(0.05, 0.9, 0.9, 1e-8, amsgrad=True)),
    "adamw": (lambda l, ps: updates.adamw(l, ps, 0.05, weight_decay=0.5),
              ref_adam(0.05, 0.9, 0.999, 1e-8, weight_decay=0.5)),
}


def run_reference(rule, steps=STEPS, grads=numpy_grads):
    ps, st, out = [p.copy() for p in INIT], {}, []
    for t in range(1, steps + 1):
        ps = rule(ps, grads(*ps), st, t)
        out.append(ps)
    return out


def shared_params(dtype="float64"):
    return [sg.shared(p.astype(dtype), name=n) for p, n in zip(INIT, ("W", "b", "s"))]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(CASES))
def test_optimizer_follows_its_published_rule(name, backend):
    build, rule = CASES[name]
    params = shared_params()
    ups = build(loss_of(*params), params)
    step = sg.function([], loss_of(*params), updates=ups, backend=backend)
    for t, want in enumerate(run_reference(rule), start=1):
        step()
        for p, w in zip(params, want):
            np.testing.assert_allclose(p.get_value(), w, rtol=1e-11, atol=1e-14,
                                       err_msg=f"{name} on {backend}, {p} after step {t}")
    moved = [np.abs(p.get_value() - p0).max() for p, p0 in zip(params, INIT)]
    assert min(moved) > 1e-4, f"{name}: the parameters hardly moved ({moved})"


def test_state_variables_are_shaped_named_and_typed_like_their_params():
    params = shared_params()
    ups = updates.adam(loss_of(*params), params)
    names = [k.name for k in ups]
    assert names == ["W.m", "W.v", "W", "b.m", "b.v", "b", "s.m", "s.v", "s", "adam.t"]
    for key in ups:
        if key.name.startswith(("W.", "b.", "s.")):
            p = params["Wbs".index(key.name[0])]
            assert key.type == p.type and not key.get_value().any()
    t = list(ups)[-1]
    assert t.dtype == "int64" and t.ndim == 0
    bias = sg.shared(np.zeros((1, 3)), name="bias", broadcastable=(True, False))
    (state, _), = [(k, v) for k, v in updates.rmsprop(bias.sum(), [bias]).items()
                   if k is not bias]
    assert state.type == bias.type and state.name == "bias.accu"


@pytest.mark.parametrize("name", sorted(CASES))
def test_float32_params_stay_float32(name):
    """No new value is upcast: with a float64 symbolic learning rate too."""
    build = CASES[name][0]
    params = shared_params("float32")
    ups = build(loss_of(*[p for p in params]), params)
    for key, value in ups.items():
        assert value.dtype == key.dtype, f"{name}: {key} ({key.dtype}) <- {value.type}"
    lr = sg.dscalar("lr")
    for dtype in ("float32", "float64"):       # float64 gradients are cast too
        grads = [sg.tensor(f"g{i}", dtype, (None,) * p.ndim) for i, p in enumerate(params)]
        for fn in (updates.sgd, updates.adam, updates.nadam, updates.momentum):
            for key, value in fn(grads, params, lr).items():
                assert value.dtype == key.dtype, f"{fn.__name__}: {key} <- {value.type}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_symbolic_learning_rate_follows_a_schedule(backend):
    """The learning rate as an input (changed each call) and as a shared variable."""
    schedule = [0.05 / (1 + t) for t in range(STEPS)]
    for optimizer, ref in ((updates.sgd, ref_sgd), (updates.adam, None)):
        params = shared_params()
        lr = sg.fscalar("lr")
        step = sg.function([lr], [], updates=optimizer(loss_of(*params), params, lr),
                           backend=backend)
        ps, st = [p.copy() for p in INIT], {}
        for t, rate in enumerate(schedule, start=1):
            rate = float(np.float32(rate))
            rule = ref(rate) if ref else ref_adam(rate, 0.9, 0.999, 1e-8)
            ps = rule(ps, numpy_grads(*ps), st, t)
            step(rate)
        for p, w in zip(params, ps):
            np.testing.assert_allclose(p.get_value(), w, rtol=1e-11, atol=1e-14)
    params = shared_params()
    rate = sg.shared(0.5, name="rate")
    step = sg.function([], updates=updates.sgd(loss_of(*params), params, rate),
                       backend=backend)
    step()
    rate.set_value(0.0)
    before = [p.get_value() for p in params]
    step()
    assert all(np.array_equal(p.get_value(), b) for p, b in zip(params, before))


def test_params_may_be_any_iterable():
    params = shared_params()
    for fn in (updates.sgd, updates.momentum, updates.adam):
        ups = fn(loss_of(*params), (p for p in params), 0.1)
        assert all(p in ups for p in params), fn.__name__


def test_gradients_may_be_given_as_inputs():
    w = sg.shared(np.ones(3), name="w")
    g = sg.dvector("g")
    step = sg.function([g], [], updates=updates.adam([g], [w], learning_rate=0.1))
    step(np.array([1.0, -1.0, 0.0]))
    np.testing.assert_allclose(w.get_value(), [0.9, 1.1, 1.0], rtol=1e-6)


def test_momentum_applies_to_any_update_dict():
    w, u = sg.shared(np.array([1.0]), name="w"), sg.shared(np.array([5.0]), name="u")
    base = updates.sgd(w.sum() + u.sum(), [w, u], 0.1)
    ups = updates.apply_momentum(base, [w], momentum=0.5)
    assert [k.name for k in base] == ["w", "u"]
    assert [k.name for k in ups] == ["w", "u", "w.velocity"]
    step = sg.function([], updates=ups)
    for _ in range(2):
        step()
    np.testing.assert_allclose(w.get_value(), [1 - 0.1 - 0.15])   # v: -0.1, -0.15
    np.testing.assert_allclose(u.get_value(), [5 - 0.2])
    with pytest.raises(ValueError, match="no entry in updates"):
        updates.apply_nesterov_momentum(updates.sgd(w.sum(), [w], 0.1), [u])


def test_norm_constraints_match_numpy():
    rng = np.random.default_rng(3)
    a, b, c = rng.standard_normal((4, 3)), rng.standard_normal(5), rng.standard_normal(
        (2, 3, 2, 2))
    va, vb, vc = sg.dmatrix("a"), sg.dvector("b"), sg.dtensor4("c")
    scaled, norm = updates.total_norm_constraint([va, vb], 1.5, return_norm=True)
    f = sg.function([va, vb, vc], [*scaled, norm, updates.norm_constraint(va, 0.5),
                                   updates.norm_constraint(vc, 0.5),
                                   updates.norm_constraint(vb, 0.1, norm_axes=0)])
    sa, sb, n, ca, cc, cb = f(a, b, c)
    total = np.sqrt((a ** 2).sum() + (b ** 2).sum())
    np.testing.assert_allclose(n, total)
    np.testing.assert_allclose(sa, a * 1.5 / (total + 1e-7))
    np.testing.assert_allclose(sb, b * 1.5 / (total + 1e-7))
    col = np.sqrt((a ** 2).sum(axis=0, keepdims=True))
    np.testing.assert_allclose(ca, a * np.minimum(col, 0.5) / (col + 1e-7))
    fil = np.sqrt((c ** 2).sum(axis=(1, 2, 3), keepdims=True))
    np.testing.assert_allclose(cc, c * np.minimum(fil, 0.5) / (fil + 1e-7))
    np.testing.assert_allclose(np.linalg.norm(cb), 0.1, rtol=1e-6)
    small = [x * 0.01 for x in (a, b)]
    s1, s2 = sg.function([va, vb], updates.total_norm_constraint([va, vb], 10.0))(*small)
    np.testing.assert_allclose(s1, small[0], rtol=1e-5)
    with pytest.raises(ValueError, match="give norm_axes"):
        updates.norm_constraint(vb, 1.0)


def test_bad_input_says_what_was_expected():
    w = sg.shared(np.ones(2), name="w")
    x = sg.dvector("x")
    with pytest.raises(TypeError, match="params must be shared variables.*x"):
        updates.adam((x ** 2).sum(), [x])
    with pytest.raises(ValueError, match="got 1 gradient expressions for 2 parameters"):
        updates.sgd([x], [w, sg.shared(np.ones(1), name="v")], 0.1)
    with pytest.raises(TypeError, match="the gradient given for w .* expected a float tensor"):
        updates.sgd([sg.dmatrix("g")], [w], 0.1)
    with pytest.raises(TypeError, match="scalar loss expression"):
        updates.adam(w * 2, [w])
    with pytest.raises(TypeError, match="learning_rate must be a scalar"):
        updates.sgd(w.sum(), [w], sg.dvector("lr"))
    with pytest.raises(TypeError, match="only float parameters"):
        updates.sgd([x], [sg.shared(np.arange(2), name="n")], 0.1)
    with pytest.raises(ValueError, match="twice"):
        updates.sgd([x, x], [w, w], 0.1)
    with pytest.raises(TypeError, match="expected a float tensor"):
        updates.total_norm_constraint([sg.lvector("i")], 1.0)


def test_nadam_and_adamw_match_pytorch():
    """The stated references themselves, where installed: torch.optim.NAdam (float64
    scalars: its step counter follows the default dtype) and AdamW (epsilon negligible:
    PyTorch adds it to the bias-corrected sqrt(v), Lasagne's form to sqrt(v))."""
    torch = pytest.importorskip("torch")
    cases = [(torch.optim.NAdam, dict(lr=0.05), lambda l, ps: updates.nadam(l, ps, 0.05)),
             (torch.optim.AdamW, dict(lr=0.05, weight_decay=0.5, eps=1e-30),
              lambda l, ps: updates.adamw(l, ps, 0.05, weight_decay=0.5, epsilon=1e-30))]
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        for opt_class, options, build in cases:
            ts = [torch.tensor(p.copy(), requires_grad=True) for p in INIT]
            opt = opt_class(ts, **options)
            params = shared_params()
            step = sg.function([], updates=build(loss_of(*params), params))
            for _ in range(STEPS):
                for t, g in zip(ts, numpy_grads(*[t.detach().numpy() for t in ts])):
                    t.grad = torch.from_numpy(np.asarray(g))
                opt.step()
                step()
            for p, t in zip(params, ts):
                np.testing.assert_allclose(p.get_value(), t.detach().numpy(), rtol=1e-12,
                                           atol=1e-15, err_msg=opt_class.__name__)
    finally:
        torch.set_default_dtype(default)
