"""Checking modes (symgraph/compile/modes.py): ``nan_guard`` finds the first step making a
NaN, Inf or big value and names it, with the user's line; ``debug`` checks every step
against the numpy reference, its types and its inputs, and every call against the graph
as written. ``python tests/compile/test_modes.py`` prints their overhead on an MLP step."""
import inspect
import os
import re
import subprocess
import sys
import time

import numpy as np
import pytest

import symgraph as sg
from codegen import backend as backends
from codegen.lib import Entry, Library
from codegen.llvm import LlvmBackend
from codegen.program import PythonCall
from symgraph.ops.elemwise import _elemwise
from symgraph.rewrite import engine

BACKENDS = ["numpy", "llvm"]
HERE = os.path.abspath(__file__)


def line_below() -> int:
    """The number of the caller's next line (where the node under test is built)."""
    return inspect.currentframe().f_back.f_lineno + 1


def mlp(rng, n_in=6, n_hidden=5, n_out=3):
    """A small MLP's training step: ``(x, y, params, loss, updates)``."""
    x, y = sg.matrix("x"), sg.lvector("y")
    w1 = sg.shared(rng.normal(0, 0.5, (n_in, n_hidden)).astype("float32"), name="w1")
    b1 = sg.shared(np.zeros(n_hidden, "float32"), name="b1")
    w2 = sg.shared(rng.normal(0, 0.5, (n_hidden, n_out)).astype("float32"), name="w2")
    b2 = sg.shared(np.zeros(n_out, "float32"), name="b2")
    params = [w1, b1, w2, b2]
    h = sg.tanh(sg.dot(x, w1) + b1)
    p = sg.nnet.softmax(sg.dot(h, w2) + b2)
    loss = sg.categorical_crossentropy(p, y).mean()
    updates = [(q, q - 0.1 * g) for q, g in zip(params, sg.grad(loss, params))]
    return x, y, params, loss, updates


def batch(rng, n=4, n_in=6, n_out=3):
    return rng.normal(size=(n, n_in)).astype("float32"), rng.integers(0, n_out, n)


# ---------------------------------------------------------------- nan_guard
@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_in_a_training_step_is_found_where_it_is_made(backend):
    rng = np.random.default_rng(0)
    x, y, params, _, _ = mlp(rng)
    h = sg.tanh(sg.dot(x, params[0]) + params[1])
    line = line_below()
    loss = -sg.log(h.sum(axis=1)).mean()      # the sum goes negative: NaN
    ups = [(q, q - 0.1 * g) for q, g in zip(params[:2], sg.grad(loss, params[:2]))]
    step = sg.function([x], loss, updates=ups, mode="nan_guard", backend=backend)
    before = [q.get_value() for q in params]
    xv = np.abs(batch(rng)[0])
    xv[2] *= -1                               # row 2's hidden sum is negative
    with pytest.raises(sg.NanGuardError) as err:
        step(xv)
    msg = str(err.value)
    assert "made NaN" in msg and "log" in msg, msg
    assert f"{HERE}:{line}" in msg, msg
    assert "holds 1 NaN of 1 values" in msg, msg             # the mean, fused with the log
    assert "this node made the first bad value" in msg, msg
    assert err.value.node is not None and "log" in str(err.value.node.op)
    for q, v in zip(params, before):          # no update was applied
        np.testing.assert_array_equal(q.get_value(), v)


def test_a_bad_gradient_is_blamed_on_the_line_taking_it():
    x = sg.dvector("x")
    w = sg.shared(np.array([1.0, 0.0]), name="w")
    loss = sg.sqrt(w * w + x).sum()           # finite; its gradient at 0 is not
    line = line_below()
    g = sg.grad(loss, w)
    # unfused: fused, the forward and backward ops share one kernel, and its line
    f = sg.function([x], loss, updates=[(w, w - 0.1 * g)], mode="nan_guard",
                    backend="llvm", fusion=False)
    with pytest.raises(sg.NanGuardError, match=r"true_divide made Inf") as err:
        f(np.zeros(2))
    assert f"built at {HERE}:{line}" in str(err.value)
    assert w.get_value().tolist() == [1.0, 0.0]


def test_a_fused_kernel_names_the_ops_it_was_made_of():
    x = sg.dvector("x")
    f = sg.function([x], sg.sqrt(x - 1) * 2, mode="nan_guard", backend="numpy")
    with pytest.raises(sg.NanGuardError, match=r"a fused kernel of: sub, sqrt, mul"):
        f(np.array([2.0, 0.0]))


@pytest.mark.parametrize("backend", BACKENDS)
def test_inf_and_big_are_errors_as_the_options_say(backend):
    x = sg.dvector("x")
    inv = sg.function([x], 1 / x, mode=sg.NanGuardMode(), backend=backend)
    with pytest.raises(sg.NanGuardError, match="made Inf: output 0 .* holds 1 Inf of 2"):
        inv(np.array([1.0, 0.0]))
    lenient = sg.function([x], 1 / x, mode=sg.NanGuardMode(inf_is_error=False),
                          backend=backend)
    assert lenient(np.array([1.0, 0.0]))[1] == np.inf
    big = x * 1e12
    assert sg.function([x], big, mode="nan_guard", backend=backend)(np.ones(2))[0] == 1e12
    strict = sg.function([x], big, mode=sg.NanGuardMode(big_is_error=True), backend=backend)
    with pytest.raises(sg.NanGuardError, match="made big value.*2 big value of 2 values"):
        strict(np.ones(2))
    nan_only = sg.function([x], sg.log(x), mode=sg.NanGuardMode(inf_is_error=False),
                           backend=backend)
    with pytest.raises(sg.NanGuardError, match="made NaN"):
        nan_only(np.array([0.0, -1.0]))


def test_a_bad_input_is_blamed_on_the_input():
    rng = np.random.default_rng(1)
    x, y, params, loss, ups = mlp(rng)
    step = sg.function([x, y], loss, updates=ups, mode="nan_guard", backend="numpy")
    xv, yv = batch(rng)
    xv[1, 2] = np.nan
    with pytest.raises(sg.NanGuardError,
                       match=r"input 'x' holds 1 NaN of 24 values \(float32 \(4, 6\)\); "
                             r"the first step reading it is node dot\(x, w1\)"):
        step(xv, yv)
    xv[1, 2] = 0
    w = params[0].get_value()
    w[0, 0] = np.inf
    params[0].set_value(w)
    with pytest.raises(sg.NanGuardError, match="shared variable 'w1' holds 1 Inf"):
        step(xv, yv)


def test_a_correct_step_runs_and_updates():
    rng = np.random.default_rng(2)
    x, y, params, loss, ups = mlp(rng)
    step = sg.function([x, y], loss, updates=ups, mode="nan_guard")
    fast = sg.function([x, y], loss)
    xv, yv = batch(rng)
    expected = fast(xv, yv)
    np.testing.assert_allclose(step(xv, yv), expected, rtol=1e-6)
    assert step(xv, yv) < expected


def test_the_mode_is_named_by_string_object_or_config():
    x = sg.dvector("x")
    for mode in ("nan_guard", "NanGuardMode", sg.NanGuardMode()):
        f = sg.function([x], sg.log(x), mode=mode, backend="numpy")
        with pytest.raises(sg.NanGuardError):
            f(np.array([-1.0]))
    with sg.config.change(mode="nan_guard"):
        f = sg.function([x], sg.log(x), backend="numpy")
    with pytest.raises(sg.NanGuardError):
        f(np.array([-1.0]))
    for fast in ("fast", "FAST_RUN"):
        assert np.isnan(sg.function([x], sg.log(x), mode=fast, backend="numpy")([-1.0])[0])
    with pytest.raises(ValueError, match=r"mode must be one of 'fast', .*'nan_guard'.*"
                                         r"'debug'.*got 'paranoid'"):
        sg.function([x], x, mode="paranoid")


def test_the_mode_comes_from_the_environment():
    code = ("import symgraph as sg, numpy as np\n"
            "x = sg.dvector('x')\n"
            "f = sg.function([x], sg.log(x), backend='numpy')\n"
            "try:\n    f(np.array([-1.0]))\n"
            "except sg.NanGuardError as e:\n    print('caught', sg.config.mode)\n")
    env = dict(os.environ, SYMGRAPH_MODE="nan_guard")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.stdout.strip() == "caught nan_guard", out.stderr


def test_a_guarded_function_pickles_with_its_mode():
    import pickle
    x = sg.dvector("x")
    f = sg.function([x], sg.log(x), mode=sg.NanGuardMode(inf_is_error=False),
                    backend="numpy")
    g = pickle.loads(pickle.dumps(f))
    assert g(np.array([0.0]))[0] == -np.inf
    with pytest.raises(sg.NanGuardError):
        g(np.array([-1.0]))


# ---------------------------------------------------------------- debug
@pytest.mark.parametrize("backend", BACKENDS)
def test_debug_mode_passes_a_correct_training_step(backend):
    rng = np.random.default_rng(3)
    x, y, params, loss, ups = mlp(rng)
    srng = sg.RandomStreams(7)
    noisy = loss + 1e-3 * srng.normal((2,)).sum()     # random draws: same state, same numbers
    step = sg.function([x, y], [loss, noisy], updates=ups, mode="debug", backend=backend)
    xv, yv = batch(rng)
    first = step(xv, yv)
    second = step(xv, yv)
    assert second[0] < first[0] and first[1] != second[1]


def test_debug_mode_sees_whole_calls_by_keyword_defaults_and_state():
    x, k = sg.dvector("x"), sg.dscalar("k")
    total = sg.dvector("total")
    f = sg.function([x, sg.In(k, value=2.0, name="k"),
                     sg.In(total, value=np.zeros(2), update=total + x * k)],
                    {"scaled": x * k, "total": total}, mode="debug", backend="llvm")
    assert f(x=np.ones(2))["scaled"].tolist() == [2.0, 2.0]
    assert f(np.ones(2), k=3.0)["total"].tolist() == [2.0, 2.0]
    assert f(np.ones(2))["total"].tolist() == [5.0, 5.0]


class Fails(sg.Op):
    """An op that cannot run (its ``perform`` raises): a rewrite removes it below."""

    def make_node(self, x):
        return sg.Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        raise ValueError("Fails cannot run")


def drop_fails(fg, node):
    return [node.inputs[0]] if isinstance(node.op, Fails) else None


def test_debug_mode_reports_a_graph_as_written_that_fails(monkeypatch):
    rules = engine._REGISTRY["canonicalize"]
    monkeypatch.setitem(engine._REGISTRY, "canonicalize", [*rules, (drop_fails, None)])
    x = sg.dvector("x")
    w = sg.shared(np.zeros(2), name="w")
    f = sg.function([x], Fails()(x) * 2, updates=[(w, w + 1)], mode="debug",
                    backend="numpy")
    with pytest.raises(sg.DebugModeError, match="the optimized graph runs, but the graph as "
                                                "written .* raised ValueError: Fails cannot"):
        f(np.ones(2))
    assert w.get_value().tolist() == [0.0, 0.0]


class Double(sg.Op):
    """``2 * x``, whose ``perform`` is right and whose lowering is not (``exp``)."""

    def make_node(self, x):
        return sg.Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        return [inputs[0] * 2]

    def lower(self, node):
        return _elemwise("exp").lower(node)


@pytest.mark.parametrize("backend", BACKENDS)
def test_debug_mode_names_a_wrong_lowering(backend):
    x = sg.dvector("x")
    y = Double()(x) + 1
    assert sg.function([x], y, backend=backend)(np.ones(2))[0] == pytest.approx(np.e + 1)
    f = sg.function([x], y, mode="debug", backend=backend)
    with pytest.raises(sg.DebugModeError) as err:
        f(np.ones(2))
    msg = str(err.value)
    assert "double on " + backend + " disagrees with Double.perform: output 0: max abs " \
        "diff 0.7183" in msg, msg
    assert f"built at {HERE}:" in msg, msg          # (the line of make_node's Apply)


class WrongDotBackend(LlvmBackend):
    """The llvm backend with a library whose ``dot`` adds one."""
    name = "llvm_wrong_dot"

    @property
    def lib(self):
        base = super().lib
        entries = {n: base.entry(n) for n in base.names()}
        right = entries["dot"].fn
        entries["dot"] = Entry(lambda *args, **params: right(*args, **params) + 1)
        return Library("wrong", entries)


def test_debug_mode_names_a_backend_disagreeing_with_the_reference(monkeypatch):
    monkeypatch.setitem(backends._REGISTRY, WrongDotBackend.name, WrongDotBackend())
    a, b = sg.dmatrix("a"), sg.dmatrix("b")
    line = line_below()
    f = sg.function([a, b], sg.dot(a, b), mode=sg.DebugMode(check_rewrites=False),
                    backend=WrongDotBackend.name)
    with pytest.raises(sg.DebugModeError, match=r"dot on llvm_wrong_dot disagrees with the "
                                                r"numpy reference: output 0: max abs diff 1"
                       ) as err:
        f(np.eye(2), np.eye(2))
    assert f"{HERE}:{line}" in str(err.value)


def wrong_exp(fg, node):
    """A planted wrong rewrite: exp(x) -> x + 1."""
    if getattr(node.op, "scalar", None) is not None and node.op.scalar.name == "exp":
        return [node.inputs[0] + 1]
    return None


def test_debug_mode_catches_a_wrong_rewrite(monkeypatch):
    rules = engine._REGISTRY["canonicalize"]
    monkeypatch.setitem(engine._REGISTRY, "canonicalize", [*rules, (wrong_exp, None)])
    x = sg.dvector("x")
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    line = line_below()
    out = sg.exp(x * w).sum()
    f = sg.function([x], out, updates=[(w, w + 1)], mode="debug", backend="llvm")
    with pytest.raises(sg.DebugModeError) as err:
        f(np.array([1.0, 1.0]))
    msg = str(err.value)
    assert "the optimized graph and the graph as written disagree on output 0" in msg, msg
    assert "wrong_exp (1)" in msg and f"{HERE}:{line}" in msg, msg
    np.testing.assert_array_equal(w.get_value(), [1.0, 2.0])     # no update applied


class OnlyLowered(sg.Op):
    """``x + 1``, run only as it lowers (its ``perform`` says it cannot run alone)."""

    def make_node(self, x):
        return sg.Apply(self, [x], [x.type()])

    def perform(self, node, inputs):
        raise NotImplementedError("OnlyLowered runs as it lowers")

    def lower(self, node):
        return PythonCall(lambda a: [a + 1])


def test_debug_mode_skips_a_perform_that_cannot_run():
    x = sg.dvector("x")
    f = sg.function([x], OnlyLowered()(x), mode="debug", backend="llvm")
    assert f(np.zeros(2)).tolist() == [1.0, 1.0]


class Clobber(sg.Op):
    """``x + 1``, computed by writing into ``x`` (which no step may do)."""

    def make_node(self, x):
        return sg.Apply(self, [x], [x.type()])

    def lower(self, node):
        def run(a):
            a += 1
            return [a.copy()]
        return PythonCall(run)


class WrongDtype(sg.Op):
    """Declares float32 and returns float64."""

    def make_node(self, x):
        return sg.Apply(self, [x], [sg.TensorType("float32", (None,))()])

    def lower(self, node):
        return PythonCall(lambda a: [a.astype("float64")])


def test_debug_mode_catches_a_step_writing_into_its_input():
    x = sg.dvector("x")
    f = sg.function([x], Clobber()(sg.exp(x)), mode="debug", backend="numpy")
    with pytest.raises(sg.DebugModeError, match=r"clobber wrote into its input 0 \(exp\): "
                                                r"2 of 2 values changed"):
        f(np.zeros(2))


def test_debug_mode_catches_an_output_of_the_wrong_type():
    x = sg.fvector("x")
    f = sg.function([x], WrongDtype()(x), mode="debug", backend="numpy")
    with pytest.raises(sg.DebugModeError, match=r"wrongdtype output 0 is float64 \(2,\), "
                                                r"its type says float32"):
        f(np.zeros(2, "float32"))


def test_values_compare_with_tolerances_by_dtype():
    from symgraph.compile.modes import _mismatch
    special = np.array([1.0, np.nan, np.inf, -np.inf], "float32")
    assert _mismatch(special, special.copy(), None) is None          # NaN equals NaN
    assert _mismatch(special * np.float32(1 + 3e-5), special, None) is None
    assert "max rel diff 0.0003" in _mismatch(special * np.float32(1 + 3e-4), special, None)
    flipped = special.copy()
    flipped[2] = -np.inf
    assert "NaN or Inf on one side only" in _mismatch(flipped, special, None)
    assert "max abs diff 2e-09" in _mismatch(np.array([1 + 2e-9]), np.array([1.0]), None)
    assert _mismatch(np.array([1 + 2e-9]), np.array([1.0]), rtol=1e-8) is None
    assert "1 of 2 values differ" in _mismatch(np.array([1, 2]), np.array([1, 3]), None)


# ---------------------------------------------------------------- overhead
def overhead(repeats: int = 9, calls: int = 10) -> None:
    """Print the time of an MLP step (784-512-10, batch 128, float32, llvm) in each mode
    and its ratio to fast mode: the modes take turns, ``calls`` calls each, ``repeats``
    times; the median of each mode's times and of its ratios to the fast turn before it
    (a shared machine's load changes between turns more than within one), and the
    fastest turn of each mode and its ratio to fast mode's fastest."""
    rng = np.random.default_rng(0)
    x, y, params, loss, ups = mlp(rng, 784, 512, 10)
    xv, yv = batch(rng, 128, 784, 10)
    modes = {"fast": calls, "nan_guard": calls, "debug": max(1, calls // 5)}
    steps = {m: sg.function([x, y], loss, updates=ups, mode=m) for m in modes}
    times: dict[str, list[float]] = {m: [] for m in modes}
    for m, step in steps.items():
        step(xv, yv)
    for _ in range(repeats):
        for m, n in modes.items():
            t0 = time.perf_counter()
            for _ in range(n):
                steps[m](xv, yv)
            times[m].append((time.perf_counter() - t0) / n)
    fast = times["fast"]
    for m, ts in times.items():
        ratio = np.median([t / f for t, f in zip(ts, fast)])
        print(f"{m:>10}: median {np.median(ts) * 1e3:8.2f} ms per step  x{ratio:.2f};  "
              f"fastest {min(ts) * 1e3:8.2f} ms  x{min(ts) / min(fast):.2f}")


if __name__ == "__main__":
    overhead()


# ---------------------------------------------------------------- inside loops and branches
@pytest.mark.parametrize("backend", BACKENDS)
def test_nan_guard_finds_a_nan_made_inside_a_loop_at_its_step(backend):
    xs, h0 = sg.dmatrix("xs"), sg.dvector("h0")

    def step(x_t, h):
        return sg.sqrt(x_t + h) * 0.5       # NaN once x_t + h < 0
    hs, _ = sg.scan(step, sequences=xs, outputs_info=h0)
    f = sg.function([xs, h0], hs.sum(), mode="nan_guard", backend=backend)
    assert np.isfinite(f(np.ones((4, 2)), np.ones(2)))
    with pytest.raises(sg.NanGuardError) as err:
        f(np.array([[1.0, 1.0], [1.0, 1.0], [-9.0, 1.0], [1.0, 1.0]]), np.ones(2))
    msg = str(err.value)
    assert "made NaN" in msg and "sqrt" in msg, msg           # the body's node, not the scan
    assert re.search(r"at step 2 of scan\(.*\) built at .*test_modes.py:\d+", msg), msg


def test_nan_guard_sees_inside_the_branch_taken():
    c, x = sg.iscalar("c"), sg.dvector("x")
    f = sg.function([c, x], sg.ifelse(c, sg.log(x).sum(), x.sum()), mode="nan_guard")
    assert float(f(0, -np.ones(2))) == -2.0          # the log's branch does not run
    with pytest.raises(sg.NanGuardError, match=r"(?s)log.*made NaN.*\n  ifelse\(c, x\)"):
        f(1, -np.ones(2))


def test_debug_mode_names_a_wrong_lowering_inside_a_loop():
    xs = sg.dmatrix("xs")
    ys, _ = sg.scan(lambda x_t: Double()(x_t) + 1, sequences=xs)
    f = sg.function([xs], ys, mode="debug", backend="llvm")
    with pytest.raises(sg.DebugModeError, match=r"(?s)double on llvm disagrees with "
                       r"Double.perform.*at step 0 of scan"):
        f(np.ones((3, 2)))
