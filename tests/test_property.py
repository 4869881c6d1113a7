"""Property tests: random programs (DAGs of elementwise, reduction and shape ops on random
shapes, 0-size included, float dtypes, NaN/Inf inputs) compiled on every backend, with and
without rewrites, agree with the same program evaluated step by step in numpy.

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

import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgraph as sg
from tests.checks import BACKENDS, non_contiguous


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


def random_program(draw, *, dtypes=("float32", "float64"), max_inputs: int = 3,
                   max_steps: int = 8, nonfinite: bool = True) -> RandomProgram:
    """A random DAG over 1..``max_inputs`` inputs sharing a random base shape (rank 0-3,
    sizes 0-4; each input may be broadcast along some axes, declared static 1, or have a
    lower rank), built symbolically and in numpy side by side."""
    base = draw(st.lists(st.sampled_from([3, 1, 2, 4, 2, 3, 0]), max_size=3))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    pool: list[tuple] = []     # (symbolic variable, actual shape)
    numpy_steps: list[Callable] = []
    steps: list[str] = []
    inputs, values = [], []
    for i in range(draw(st.integers(1, max_inputs))):
        dtype = draw(st.sampled_from(dtypes))
        lead = draw(st.integers(0, len(base)))
        ones = [draw(st.booleans()) and draw(st.booleans()) for _ in base[lead:]]
        shape = tuple(1 if o else d for o, d in zip(ones, base[lead:]))
        x = sg.tensor(f"x{i}", dtype, tuple(1 if o else None for o in ones))
        v = (rng.standard_normal(shape) * 2).astype(dtype)
        if nonfinite and v.size and rng.random() < 0.5:
            v.reshape(-1)[rng.integers(0, v.size, 2)] = rng.choice([np.nan, np.inf, -np.inf])
        inputs.append(x)
        values.append(v)
        pool.append((x, shape))
    n_in = len(pool)

    def add(sym, shape, fn, label):
        pool.append((sym, shape))
        numpy_steps.append(fn)
        steps.append(label)

    for _ in range(draw(st.integers(1, max_steps))):
        i = draw(st.integers(0, len(pool) - 1))
        x, shape = pool[i]
        kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce", "shape"]))
        if kind in ("reduce", "shape") and not shape:
            kind = "unary"          # a scalar has no axes to reduce or move
        if kind == "unary":
            name = draw(st.sampled_from(sorted(UNARY)))
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
    last = len(pool) - 1
    extra = draw(st.lists(st.integers(0, last), max_size=2))
    out_idx = [last] + [k for k in extra if k != last]

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
@settings(max_examples=300, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(p=programs())
def test_random_programs_match_numpy(p, backend, rewrite):
    f = sg.function(p.inputs, p.outputs, backend=backend, rewrite=rewrite)
    want = p.numpy(*p.values)
    for k, (got, w) in enumerate(zip(f(*p.values), want)):
        assert_close(got, w, f"{backend}, {'optimized' if rewrite else 'unoptimized'}, "
                             f"output {k} of {p!r}", p.tol)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(p=programs(nonfinite=False, max_steps=5))
def test_optimized_equals_unoptimized_on_strided_inputs(p):
    """The same program on non-contiguous views of its inputs."""
    strided = [non_contiguous(v) if v.ndim else v for v in p.values]
    want = p.numpy(*p.values)
    for rewrite in (True, False):
        got = sg.function(p.inputs, p.outputs, rewrite=rewrite)(*strided)
        for g, w in zip(got, want):
            assert_close(g, w, repr(p), p.tol)
