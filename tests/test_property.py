"""Property tests: random programs (DAGs of elementwise, reduction, softmax-like and shape
ops on random shapes, 0-size and static-1 axes included, float dtypes, NaN/Inf inputs,
extreme magnitudes and ties) compiled on every backend, with and without rewrites, agree
with the same program evaluated step by step in numpy; their gradients agree between
backends and with finite differences; every op takes bool and integer inputs, gradients
included.

:func:`random_program` is the reusable generator (the rewrite and fusion tests compare
optimized and unoptimized graphs with it)::

    @given(st.data())
    def test_x(data):
        p = random_program(data.draw)
        f = sg.function(p.inputs, p.outputs)
        for got, want in zip(f(*p.values), p.numpy(*p.values)):
            assert_close(got, want, tol=p.tol)
"""
from __future__ import annotations

import os
import importlib
import warnings
from dataclasses import dataclass
from typing import Callable
from unittest import mock

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import symgraph as sg
from symgraph.ops.fused import Fused
from tests.checks import BACKENDS, non_contiguous
from tests.rewrite.helpers import assert_domains_set

# the modules, not the functions symgraph.rewrite re-exports under their names
fuse_module = importlib.import_module("symgraph.rewrite.fuse")
stages_module = importlib.import_module("symgraph.rewrite.stages")
siblings_module = importlib.import_module("symgraph.rewrite.siblings")


def budget(n: int) -> dict:
    """Hypothesis settings for ``n`` examples: the same ones every run (so CI is
    repeatable), or, with ``PROPERTY_SCALE=k`` in the environment, ``k`` times as
    many, drawn afresh (a long hunt for new failures)."""
    scale = int(os.environ.get("PROPERTY_SCALE", "1"))
    return dict(max_examples=n * scale, deadline=None, derandomize=scale == 1)


def _sigmoid(x):
    return 1 / (1 + np.exp(-x))


# name -> (symbolic, numpy); all keep a float dtype. Pairs the stabilizer rewrites into
# something more accurate than numpy (log(sigmoid(x)), log(sum(exp(x))), log(1 + x)) cannot
# form: there is no plain log and there are no constants. Nothing here jumps (floor) on an
# ulp of difference either.
UNARY = {
    "exp": (sg.exp, np.exp), "tanh": (sg.tanh, np.tanh), "sin": (sg.sin, np.sin),
    "abs": (abs, np.abs), "neg": (lambda x: -x, np.negative), "sqrt": (sg.sqrt, np.sqrt),
    "log1p": (sg.log1p, np.log1p), "sigmoid": (sg.sigmoid, _sigmoid),
    "softplus": (sg.softplus, lambda x: np.logaddexp(x.dtype.type(0), x)),
    "square": (sg.square, np.square), "arctan": (sg.arctan, np.arctan),
}
BINARY = {
    "add": (lambda a, b: a + b, np.add), "sub": (lambda a, b: a - b, np.subtract),
    "mul": (lambda a, b: a * b, np.multiply), "div": (lambda a, b: a / b, np.divide),
    "maximum": (sg.maximum, np.maximum), "minimum": (sg.minimum, np.minimum),
    "pow": (lambda a, b: abs(a) ** b, lambda a, b: np.abs(a) ** b),
    "where": (lambda a, b: sg.where(a > b, b, a * b), lambda a, b: np.where(a > b, b, a * b)),
}
REDUCE = ["sum", "mean", "max", "min", "prod"]


def _shift(x, axis):
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    return x - np.where(np.isfinite(m), m, 0)


def _np_softmax(x, axis):
    e = np.exp(_shift(x, axis))
    return e / e.sum(axis=axis, keepdims=True)


def _np_log_softmax(x, axis):
    s = _shift(x, axis)
    return s - np.log(np.exp(s).sum(axis=axis, keepdims=True))


def _np_logsumexp(x, axis):
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    return np.log(np.exp(x - m).sum(axis=axis, keepdims=True)) + m


# staged kernels: a reduction's result used back over the rows, on a computed value
STAGED = {"softmax": (lambda x, a: sg.softmax(x, a), _np_softmax),
          "log_softmax": (lambda x, a: sg.log_softmax(x, a), _np_log_softmax),
          "logsumexp": (lambda x, a: sg.logsumexp(x, a, keepdims=True), _np_logsumexp)}
MAGNITUDES = {"float32": 1e30, "float64": 1e100}


@dataclass
class RandomProgram:
    """``inputs`` (symbolic) with their ``values``; ``outputs`` (symbolic); ``numpy``, the
    same program on arrays: ``numpy(*values)`` is the list of expected outputs."""
    inputs: list
    values: list[np.ndarray]
    outputs: list
    numpy: Callable[..., list[np.ndarray]]
    steps: list[str]

    @property
    def tol(self) -> float:
        """Rounding tolerance: float32's if any input is float32 (its rounding errors
        survive promotion to float64), else float64's."""
        return 1e-4 if any(v.dtype == np.float32 for v in self.values) else 1e-9

    def __repr__(self) -> str:  # what hypothesis prints for a failing example
        shapes = [f"{v.dtype}{v.shape}" for v in self.values]
        return f"RandomProgram(inputs={shapes}, steps={self.steps})"


def _broadcasts(a, b) -> bool:
    """Whether entries a and b (symbolic, actual shape) combine under symgraph's rule: sizes
    equal, or one side of static size 1 (a lower rank gets leading static-1 axes)."""
    (sa, ra), (sb, rb) = a, b
    n = max(len(ra), len(rb))
    ta = (1,) * (n - len(ra)) + sa.type.shape
    tb = (1,) * (n - len(rb)) + sb.type.shape
    ra, rb = (1,) * (n - len(ra)) + ra, (1,) * (n - len(rb)) + rb
    return all(x == y or (x == 1 and s == 1) or (y == 1 and t == 1)
               for x, y, s, t in zip(ra, rb, ta, tb))


def _values(draw, rng, dtype, shape, nonfinite: bool, extreme: bool, ties: bool
            ) -> tuple[np.ndarray, bool]:
    """Normal values, sometimes with NaN/Inf planted, huge magnitudes (1e100 in float64)
    or few distinct values (ties); and whether they are huge."""
    v = rng.standard_normal(shape) * 2
    how = "huge" if extreme == "always" else draw(st.sampled_from(
        ["plain", "plain"] + ["ties"] * ties + ["huge"] * bool(extreme)))
    if how == "ties":
        v = np.round(v)
    elif how == "huge":
        v = v * MAGNITUDES[dtype]
    v = v.astype(dtype)
    if nonfinite and v.size and rng.random() < 0.5:
        v.reshape(-1)[rng.integers(0, v.size, 2)] = rng.choice([np.nan, np.inf, -np.inf])
    return v, how == "huge"


def random_program(draw, *, dtypes=("float32", "float64"), max_inputs: int = 3,
                   max_steps: int = 8, nonfinite: bool = True, extreme: bool | str = True,
                   last: tuple[str, ...] = (), min_rank: int = 0, ties: bool = True,
                   ones: int = 4) -> RandomProgram:
    """A random DAG over 1..``max_inputs`` inputs sharing a random base shape (rank 0-3,
    sizes 0-4; each input may be broadcast along some axes, declared static 1, or have a
    lower rank), built symbolically and in numpy side by side. Values may hold NaN/Inf
    (``nonfinite``), huge magnitudes (``extreme``; ``"always"``) and ties. ``last`` forces
    the kinds of the last steps, each applied to the value the one before made. An axis
    has static size 1 with odds 1 in ``ones``."""
    base = draw(st.lists(st.sampled_from([3, 1, 2, 4, 2, 3, 0]), min_size=min_rank,
                         max_size=3))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    pool: list[tuple] = []     # (symbolic variable, actual shape)
    numpy_steps: list[Callable] = []
    steps: list[str] = []
    inputs, values = [], []
    huge = False
    for i in range(draw(st.integers(1, max_inputs))):
        dtype = draw(st.sampled_from(dtypes))
        lead = draw(st.integers(0, len(base)))
        static1 = [draw(st.integers(1, ones)) == 1 for _ in base[lead:]]
        shape = tuple(1 if o else d for o, d in zip(static1, base[lead:]))
        x = sg.tensor(f"x{i}", dtype, tuple(1 if o else None for o in static1))
        v, big = _values(draw, rng, dtype, shape, nonfinite, extreme, ties)
        huge |= big
        inputs.append(x)
        values.append(v)
        pool.append((x, shape))
    n_in = len(pool)

    def add(sym, shape, fn, label):
        pool.append((sym, shape))
        numpy_steps.append(fn)
        steps.append(label)

    n_steps = draw(st.integers(max(1, len(last)), max_steps))
    for step in range(n_steps):
        forced = step - (n_steps - len(last))
        i = draw(st.integers(0, len(pool) - 1)) if forced <= 0 else len(pool) - 1
        x, shape = pool[i]
        kind = last[forced] if forced >= 0 else draw(st.sampled_from(
            ["unary", "binary", "binary", "reduce", "shape", "staged"]))
        if kind in ("reduce", "shape", "staged") and not shape:
            kind = "unary"          # a scalar has no axes to reduce or move
        if kind == "unary":
            # sin only of the inputs, where they are moderate: it is accurate up to
            # vmath.TRIG_RANGE only (documented), and of a computed value (exp(exp(x))
            # is thousands) it turns its argument's last-ulp rounding into a large error
            no_sin = huge or i >= n_in
            name = draw(st.sampled_from(sorted(set(UNARY) - ({"sin"} if no_sin else set()))))
            s, f = UNARY[name]
            add(s(x), shape, lambda env, i=i, f=f: f(env[i]), f"{name}(%{i})")
        elif kind == "binary":
            partners = [j for j in range(len(pool)) if _broadcasts(pool[i], pool[j])]
            j = draw(st.sampled_from(partners))
            name = draw(st.sampled_from(sorted(BINARY)))
            s, f = BINARY[name]
            out = np.broadcast_shapes(shape, pool[j][1])
            add(s(x, pool[j][0]), out, lambda env, i=i, j=j, f=f: f(env[i], env[j]),
                f"{name}(%{i}, %{j})")
        elif kind == "reduce":
            axes = tuple(a for a in range(len(shape)) if draw(st.booleans())) or None
            keep = draw(st.booleans())
            reduced = range(len(shape)) if axes is None else axes
            name = draw(st.sampled_from(REDUCE))
            if name in ("max", "min") and any(shape[a] == 0 for a in reduced):
                name = "sum"        # no identity: an error, tested in test_reduce
            out = np.sum(np.empty(shape), axis=axes, keepdims=keep).shape
            add(getattr(sg, name)(x, axis=axes, keepdims=keep), out,
                lambda env, i=i, n=name, a=axes, k=keep: np.asarray(
                    getattr(np, n)(env[i], axis=a, keepdims=k)), f"{name}(%{i}, {axes}, {keep})")
        elif kind == "staged":
            name = draw(st.sampled_from(sorted(STAGED)))
            axis = draw(st.integers(0, len(shape) - 1))
            s, f = STAGED[name]
            out = shape[:axis] + (1,) + shape[axis + 1:] if name == "logsumexp" else shape
            add(s(x, axis), out, lambda env, i=i, f=f, a=axis: f(env[i], a),
                f"{name}(%{i}, {axis})")
        else:
            how = draw(st.sampled_from(["transpose", "flatten", "expand"]))
            if how == "transpose":
                perm = tuple(draw(st.permutations(range(len(shape)))))
                add(x.transpose(perm), tuple(shape[p] for p in perm),
                    lambda env, i=i, p=perm: env[i].transpose(p), f"transpose(%{i}, {perm})")
            elif how == "flatten":
                add(x.flatten(), (int(np.prod(shape)),),
                    lambda env, i=i: env[i].reshape(-1), f"flatten(%{i})")
            else:
                ax = draw(st.integers(0, len(shape)))
                add(sg.expand_dims(x, ax), shape[:ax] + (1,) + shape[ax:],
                    lambda env, i=i, a=ax: np.expand_dims(env[i], a), f"expand_dims(%{i}, {ax})")
    final = len(pool) - 1
    extra = draw(st.lists(st.integers(0, final), max_size=2))
    out_idx = [final] + [k for k in extra if k != final]

    def run_numpy(*arrays):
        env = list(arrays)
        with np.errstate(all="ignore"), warnings.catch_warnings(action="ignore"):
            for fn in numpy_steps:
                env.append(fn(env))
        return [env[k] for k in out_idx]

    assert len(pool) == n_in + len(numpy_steps)
    return RandomProgram(inputs, values, [pool[k][0] for k in out_idx], run_numpy, steps)


programs = st.composite(random_program)


def assert_close(got: np.ndarray, want: np.ndarray, what: str = "", tol: float | None = None
                 ) -> None:
    """Same dtype and shape; equal up to rounding (scaled by the largest finite value, as
    sums and cancellations round relative to their terms); NaN and ±inf where numpy.
    ``tol`` defaults to the output dtype's; pass float32's when float32 values fed it."""
    want = np.asarray(want)
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype}, numpy {want.dtype}"
    assert got.shape == want.shape, f"{what}: shape {got.shape}, numpy {want.shape}"
    finite = want[np.isfinite(want)]
    scale = 1 + (float(np.max(np.abs(finite))) if finite.size else 0)
    tol = tol if tol is not None else 1e-4 if want.dtype == np.float32 else 1e-9
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol * scale, equal_nan=True,
                               err_msg=what)


@pytest.mark.parametrize("rewrite", [True, False], ids=["optimized", "unoptimized"])
@pytest.mark.parametrize("backend", BACKENDS)
@settings(**budget(300), suppress_health_check=[HealthCheck.too_slow])
@given(p=programs())
def test_random_programs_match_numpy(p, backend, rewrite):
    f = sg.function(p.inputs, p.outputs, backend=backend, rewrite=rewrite)
    want = p.numpy(*p.values)
    for k, (got, w) in enumerate(zip(f(*p.values), want)):
        assert_close(got, w, f"{backend}, {'optimized' if rewrite else 'unoptimized'}, "
                             f"output {k} of {p!r}", p.tol)


@settings(**budget(100))
@given(p=programs(nonfinite=False, max_steps=5))
def test_optimized_equals_unoptimized_on_strided_inputs(p):
    """The same program on non-contiguous views of its inputs."""
    strided = [non_contiguous(v) if v.ndim else v for v in p.values]
    want = p.numpy(*p.values)
    for rewrite in (True, False):
        got = sg.function(p.inputs, p.outputs, rewrite=rewrite)(*strided)
        for g, w in zip(got, want):
            assert_close(g, w, repr(p), p.tol)


@pytest.mark.parametrize("backend", BACKENDS)
@settings(**budget(150), suppress_health_check=[HealthCheck.too_slow])
@given(p=programs(extreme="always", last=("binary", "staged"), nonfinite=False, max_steps=4,
                  min_rank=1))
def test_staged_kernels_over_computed_values_of_any_magnitude(p, backend):
    """A softmax, log_softmax or logsumexp of a computed value recomputes that value in
    each pass over the row: every copy must round the same, or at 1e100 the maximum no
    longer cancels to 0 and exp overflows."""
    f = sg.function(p.inputs, p.outputs, backend=backend)
    for k, (got, w) in enumerate(zip(f(*p.values), p.numpy(*p.values))):
        assert_close(got, w, f"{backend}, output {k} of {p!r}", p.tol)


def _cost(p: RandomProgram):
    """A scalar of every output of ``p`` (so its gradient goes back through several
    reductions), and the float inputs to differentiate for."""
    total = None
    for o in p.outputs:
        term = o.sum() if o.ndim else o
        total = term if total is None else total + term
    return total, [x for x in p.inputs if x.dtype in ("float32", "float64")]


@pytest.mark.parametrize("backend", [b for b in BACKENDS if b != "numpy"])
@settings(**budget(150), suppress_health_check=[HealthCheck.too_slow])
@given(p=programs(max_steps=6))
def test_gradients_of_random_programs_agree_across_backends(p, backend):
    """Gradients through reductions of reductions, staged kernels, static-1 axes, ties,
    NaN/Inf and huge values: the native backend, optimized or not, gives the reference
    backend's numbers (a gradient that does not compile or hangs fails here too)."""
    cost, wrt = _cost(p)
    grads = sg.grad(cost, wrt, disconnected_inputs="ignore")
    want = sg.function(p.inputs, grads, backend="numpy", rewrite=False)(*p.values)
    for rewrite in (True, False):
        f = sg.function(p.inputs, grads, backend=backend, rewrite=rewrite)
        assert_domains_set(f)
        for k, (g, w) in enumerate(zip(f(*p.values), want)):
            assert_close(g, w, f"{backend}, rewrite={rewrite}, gradient {k} of {p!r}",
                         10 * p.tol)


@pytest.mark.parametrize("last", [("unary", "reduce"), ("unary", "staged"),
                                  ("binary", "reduce")])
@settings(**budget(60), suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_gradients_through_reductions_of_computed_values_over_static_1_axes(last, data):
    """Reducing an axis of static size 1 keeps the shape, which fusion once took for
    epilogue work on the reduced shape (a kernel that was its own input)."""
    p = random_program(data.draw, ones=2, min_rank=1, last=last, max_steps=4,
                       extreme=False)
    cost, wrt = _cost(p)
    grads = sg.grad(cost, wrt, disconnected_inputs="ignore")
    want = sg.function(p.inputs, grads, backend="numpy", rewrite=False)(*p.values)
    for backend in BACKENDS:
        got = sg.function(p.inputs, grads, backend=backend)(*p.values)
        for k, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, f"{backend}, gradient {k} of {p!r}", 10 * p.tol)


@settings(**budget(40), suppress_health_check=[HealthCheck.too_slow])
@given(p=programs(dtypes=("float64",), max_steps=4, nonfinite=False, extreme=False,
                  ties=False))
def test_gradients_of_random_programs_match_finite_differences(p):
    """Away from kinks and ties, the symbolic gradient is the derivative (where the
    gradient is not finite, the point is a kink: sqrt(x - x) at any x)."""
    cost, wrt = _cost(p)
    assume(all(v.size for v in p.values) and len(wrt) == len(p.inputs) and cost.owner)
    out = sg.function(p.inputs, cost)(*p.values)
    assume(np.isfinite(out) and abs(out) < 1e6)
    grads = sg.function(p.inputs, sg.grad(cost, wrt, disconnected_inputs="ignore"))(*p.values)
    assume(all(np.isfinite(g).all() for g in grads))
    sg.verify_grad(lambda *xs: sg.graph.clone_replace([cost], dict(zip(p.inputs, xs)))[0],
                   p.values, rel_tol=1e-4, abs_tol=1e-5, eps=1e-7)


@pytest.mark.parametrize("name", ["max", "min"])
@settings(**budget(60))
@given(data=st.data())
def test_a_max_or_min_gradient_adds_up_to_the_output_gradient(name, data):
    """However many elements tie for the maximum, their gradients share what reached the
    result: moving every element by t moves the maximum by t."""
    shape = tuple(data.draw(st.lists(st.integers(1, 4), min_size=1, max_size=3)))
    axes = tuple(a for a in range(len(shape)) if data.draw(st.booleans())) or None
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    a = np.round(rng.standard_normal(shape))       # few distinct values: many ties
    x = sg.tensor("x", "float64", (None,) * len(shape))
    g = sg.function([x], sg.grad(getattr(sg, name)(x, axis=axes).sum(), x))(a)
    n_out = np.max(a, axis=axes).size
    np.testing.assert_allclose(g.sum(), n_out, rtol=1e-12)
    np.testing.assert_allclose(g.sum(axis=axes), np.ones(np.max(a, axis=axes).shape))
    assert (g >= 0).all() and (g[a != getattr(np, name)(a, axis=axes, keepdims=True)] == 0).all()


def _operand(draw, x, rng):
    """An operand for an op under test: the float input itself, or something of another
    dtype computed from it (a comparison, a cast) or given beside it."""
    how = draw(st.sampled_from(["x", "bool of x", "int of x", "int8 of x", "uint8 of x",
                                "float32 of x", "int input", "bool input"]))
    if how == "x":
        return x, None
    if how == "bool of x":
        return x > 0, None
    if how.endswith(" of x"):
        return (x * 3).astype(how.split()[0].replace("int", "int32") if how == "int of x"
                              else how.split()[0]), None
    dtype = "int16" if how == "int input" else "bool"
    v = sg.vector(f"extra_{dtype}", dtype=dtype)
    value = rng.integers(-3, 4, 3).astype(dtype)
    return v, (v, value)


@settings(**budget(400), suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
@given(data=st.data())
def test_every_op_takes_bool_and_integer_inputs_and_its_gradient_works(data):
    """Each elementwise op on operands of every dtype (computed from a float input or
    given), where symgraph accepts them at all: llvm gives the reference's values, and the
    gradient with respect to the float input builds and agrees on both backends."""
    from symgraph.ops.elemwise import SCALAR_OPS, UFUNCS
    name = data.draw(st.sampled_from(sorted(set(SCALAR_OPS) - {"second"})))
    rng = np.random.default_rng(data.draw(st.integers(0, 2 ** 32 - 1)))
    x = sg.dvector("x")
    picked = [_operand(data.draw, x, rng) for _ in range(SCALAR_OPS[name].nin)]
    extra = {v: value for _, given in picked if given is not None for v, value in [given]}
    try:
        y = UFUNCS[name](*(o for o, _ in picked))
    except (TypeError, OverflowError):
        assume(False)               # a refused combination, with its own message (tested)
    inputs = [x, *extra]
    values = [rng.uniform(0.2, 0.9, 3) * rng.choice([-1, 1], 3), *extra.values()]
    outs = [y]
    if y.dtype in ("float32", "float64"):
        outs.append(sg.grad((x * y).sum(), x))
    want = sg.function(inputs, outs, backend="numpy")(*values)
    got = sg.function(inputs, outs, backend="llvm")(*values)
    # float32's rounding where anything computed in float32 (small ints' transcendentals)
    tol = 1e-9 if y.dtype == "float64" and all(o.dtype in ("float64", "int32", "int64")
                                               for o, _ in picked) else 1e-4
    for g, w in zip(got, want):
        assert_close(g, w, f"{name} of {[str(o.type) for o, _ in picked]}", tol)


@settings(**budget(80), suppress_health_check=[HealthCheck.too_slow])
@given(p=programs(max_steps=6))
def test_fusion_in_tiny_windows_and_groups_keeps_gradients_right(p):
    """Fusion windows of four nodes and groups of three ops (real graphs get 512 and
    256): many window boundaries and capped groups in every gradient graph. Reachability
    must stay exact at the boundaries (the fused graph acyclic) and the results those
    of the unoptimized graph."""
    cost, wrt = _cost(p)
    grads = sg.grad(cost, wrt, disconnected_inputs="ignore")
    want = sg.function(p.inputs, grads, backend="numpy", rewrite=False)(*p.values)
    with mock.patch.object(fuse_module, "SEGMENT", 4), \
            mock.patch.object(fuse_module, "MAX_GROUP", 3), \
            mock.patch.object(stages_module, "MAX_GROUP", 3), \
            mock.patch.object(siblings_module, "MAX_GROUP", 3), \
            mock.patch.object(fuse_module, "SLACK", 1):
        f = sg.function(p.inputs, grads, backend="numpy")
        got = f(*p.values)
    assert all(len(n.op.labels) <= 4 for n in f.nodes if isinstance(n.op, Fused)), \
        "a kernel grew past MAX_GROUP ops"
    assert_domains_set(f)
    for k, (g, w) in enumerate(zip(got, want)):
        assert_close(g, w, f"gradient {k} of {p!r}", 10 * p.tol)
