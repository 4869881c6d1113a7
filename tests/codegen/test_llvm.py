"""The LLVM backend checked against the reference interpreter, ``codegen.interpret.interpret``.

Kernels of one kind are compiled together (one LLVM module, as a function's kernels are),
which keeps this file fast. Integer, bool and IEEE-exact float results must be equal;
transcendentals (vmath polynomials) are compared with rtol 1e-5
(float32) / 1e-12 (float64).
"""
from __future__ import annotations

import itertools
import re
import time

import numpy as np
import pytest

from codegen import cache, settings
from codegen.kernel import (COMBINERS, DTYPES, FLOATS, OPCODES, Buffer, Instr,
                            Kernel, KernelError, Store)
from codegen.interpret import interpret
from codegen.llvm import compile_kernel, compile_kernels, get_num_threads, jit, set_num_threads
from codegen.llvm import run
from codegen.llvm.run import PARALLEL_MIN, CompiledKernel
from codegen.llvm.vmath import TRIG_RANGE

I = Instr
EXACT = {"add", "sub", "mul", "div", "neg", "abs", "sign", "floor", "ceil", "trunc", "round",
         "sqrt", "max", "min", "floordiv", "mod"}


@pytest.fixture(scope="module", autouse=True)
def private_cache(tmp_path_factory):
    old, jit.object_cache = jit.object_cache, cache.DiskCache(tmp_path_factory.mktemp("obj"))
    yield
    jit.object_cache = old


def kernel(name, in_dtypes, ndim, body, stores) -> Kernel:
    out_dtypes = [s.epilogue[-1].dtype if s.epilogue else body[s.value].dtype for s in stores]
    return Kernel(name, tuple(Buffer(f"x{i}", dt, ndim) for i, dt in enumerate(in_dtypes)),
                  tuple(Buffer(f"y{j}", dt, ndim) for j, dt in enumerate(out_dtypes)),
                  ndim, tuple(body), tuple(stores))


def accepts(op: str, dt: str) -> bool:
    return OPCODES[op].takes(dt)


def one_op(op: str, dt: str, ndim: int = 2) -> Kernel:
    n = OPCODES[op].arity
    res = "bool" if OPCODES[op].result == "bool" else dt
    return kernel(f"{op}_{dt}", [dt] * n, ndim,
                  [I("load", dt, (), j) for j in range(n)] + [I(op, res, tuple(range(n)))],
                  [Store(n)])


def sample(rng, dt: str, shape, special: bool = True) -> np.ndarray:
    """Random values of ``dt`` with the edge cases of the type mixed in."""
    if dt == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if dt in FLOATS:
        a = np.asarray(rng.standard_normal(shape) * 3, dtype=dt)
        edge = [np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, 0.5, 2.5, -2.5, 1e30, -1e-30]
    else:
        info = np.iinfo(dt)
        a = np.asarray(rng.integers(max(info.min, -20), min(info.max, 20), shape, endpoint=True),
                       dtype=dt)
        edge = [0, 1, info.max, info.min, *([-1] if info.min else [])]
    if special and a.size:
        flat = a.reshape(-1)
        pos = rng.choice(flat.size, min(flat.size, 3 * len(edge)), replace=False)
        flat[pos] = np.resize(np.array(edge, dtype=dt), pos.size)
    return a


def check(ck, k: Kernel, inputs, outputs=None, shape=None, exact=False) -> list[np.ndarray]:
    """``ck`` agrees with the interpreter on ``inputs`` (written into ``outputs`` if given)."""
    want = interpret(k, inputs, shape=shape)
    got = ck(inputs, outputs, shape) if outputs is not None or shape is not None else ck(inputs)
    if outputs is not None:
        assert all(g is o for g, o in zip(got, outputs))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        if w.dtype.kind == "f" and not exact:
            tol = 1e-5 if w.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol / 10, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, w)
    return got


# ---- every opcode, every dtype ---------------------------------------------------------------
OP_CASES = [(op, dt) for op in OPCODES for dt in DTYPES if accepts(op, dt)]


@pytest.fixture(scope="module")
def op_kernels():
    ks = [one_op(op, dt) for op, dt in OP_CASES]
    return dict(zip(OP_CASES, zip(ks, compile_kernels(ks))))


@pytest.mark.parametrize("op,dt", OP_CASES, ids=[f"{o}-{d}" for o, d in OP_CASES])
def test_opcode(op_kernels, op, dt):
    k, ck = op_kernels[op, dt]
    rng = np.random.default_rng(OP_CASES.index((op, dt)))
    xs = [sample(rng, dt, (9, 37)) for _ in k.inputs]
    if op == "pow" and dt not in FLOATS:
        xs[1] = rng.integers(-3, 9, xs[1].shape).astype(dt) if dt != "uint8" else xs[1] % 9
    if op in ("sin", "cos", "tan"):     # vmath's documented range (NaN and inf still in)
        xs[0][np.abs(xs[0]) > TRIG_RANGE[dt]] = 1e3
    check(ck, k, xs, exact=op in EXACT or dt not in FLOATS)


def test_transcendentals_on_their_domains():
    """Away from the edges: a dense sweep where each function is smooth."""
    doms = {"log": (1e-3, 50), "log2": (1e-3, 50), "log10": (1e-3, 50), "log1p": (-0.9, 50),
            "sqrt": (0, 50), "asin": (-1, 1), "acos": (-1, 1), "atanh": (-0.99, 0.99),
            "acosh": (1, 50), "exp": (-80, 80), "exp2": (-100, 100), "expm1": (-10, 10),
            "sinh": (-20, 20), "cosh": (-20, 20)}
    names = sorted(n for n, oc in OPCODES.items() if oc.operands == "float" and oc.arity == 1)
    ks = [one_op(n, dt, 1) for n in names for dt in FLOATS]
    for k, ck in zip(ks, compile_kernels(ks)):
        lo, hi = doms.get(k.body[-1].op, (-8, 8))
        check(ck, k, [np.linspace(lo, hi, 4099, dtype=k.inputs[0].dtype)])


def test_int_division_edges():
    for dt in ("int8", "int32", "int64", "uint8"):
        info = np.iinfo(dt)
        if info.min:
            a = np.array([info.min, info.min, 7, -7, 7, -7, 0, info.max, 5], dt)
            b = np.array([-1, 0, 0, 2, -2, -2, 0, -1, 1], dt)
        else:
            a = np.array([255, 7, 7, 0, 200, 5], dt)
            b = np.array([0, 0, 2, 0, 7, 1], dt)
        for op in ("floordiv", "mod"):
            k = one_op(op, dt, 1)
            check(compile_kernel(k), k, [a, b])


# ---- casts, select, comparisons, bool logic --------------------------------------------------
def test_casts_between_all_dtypes():
    pairs = list(itertools.product(DTYPES, DTYPES))
    ks = [kernel(f"cast_{s}_{d}", [s], 1, [I("load", s, (), 0), I("cast", d, (0,))], [Store(1)])
          for s, d in pairs]
    rng = np.random.default_rng(1)
    for (src, dst), k, ck in zip(pairs, ks, compile_kernels(ks)):
        if src in FLOATS and dst not in FLOATS:
            if dst == "bool":   # NaN and inf are defined here: nonzero is True
                x = sample(rng, src, 301)
            else:              # numpy leaves NaN/out-of-range float->int undefined
                info = np.iinfo(dst)
                x = rng.uniform(max(info.min, -1e6), min(info.max, 1e6), 301).astype(src)
        else:
            x = sample(rng, src, 301)
        check(ck, k, [x])


def test_select_compare_logic():
    # y0 = select(a < b, a*2, b) ; y1 = (a >= b) xor (a != 0) ; y2 = not (a == b) or isnan(a)
    for dt in ("float32", "int16", "uint8", "float64"):
        two = 2.0 if dt in FLOATS else 2
        body = [I("load", dt, (), 0), I("load", dt, (), 1), I("lt", "bool", (0, 1)),
                I("const", dt, (), two), I("mul", dt, (0, 3)), I("select", dt, (2, 4, 1)),
                I("ge", "bool", (0, 1)), I("const", dt, (), 0), I("ne", "bool", (0, 7)),
                I("xor", "bool", (6, 8)), I("eq", "bool", (0, 1)), I("not", "bool", (10,)),
                I("isnan", "bool", (0,)), I("or", "bool", (11, 12)), I("and", "bool", (13, 9))]
        k = kernel(f"logic_{dt}", [dt, dt], 2, body, [Store(5), Store(9), Store(14)])
        rng = np.random.default_rng(2)
        check(compile_kernel(k), k, [sample(rng, dt, (5, 40)), sample(rng, dt, (5, 40))],
              exact=True)


# ---- layouts: broadcasting, strides, rank 0..4, 0-size ---------------------------------------
def fma_kernel(dt: str, ndim: int) -> Kernel:
    """y0 = x0 * x1 + x2 (rounded twice, as numpy), y1 = x0 > x1."""
    return kernel(f"fma{ndim}_{dt}", [dt] * 3, ndim,
                  [I("load", dt, (), 0), I("load", dt, (), 1), I("load", dt, (), 2),
                   I("mul", dt, (0, 1)), I("add", dt, (3, 2)), I("gt", "bool", (0, 1))],
                  [Store(4), Store(5)])


def strided_view(rng, dt: str, shape) -> np.ndarray:
    """Values in a view stepping by 2, backwards on some axes (or a contiguous copy)."""
    a = sample(rng, dt, tuple(2 * d for d in shape), special=False)
    a = a[(*(slice(None, None, -2) if rng.random() < 0.4 else slice(0, None, 2)
             for _ in shape), ...)]
    return a.copy() if rng.random() < 0.3 else a


@pytest.mark.parametrize("ndim", [0, 1, 2, 3, 4])
def test_broadcasting_and_strides(ndim):
    rng = np.random.default_rng(ndim)
    ks = [fma_kernel(dt, ndim) for dt in ("float32", "int32")]
    calls = [[], []]
    for trial in range(12):
        dom = tuple(int(d) for d in rng.integers(1, 6, ndim))
        if trial == 11 and ndim:
            dom = dom[:-1] + (0,)
        for k, c in zip(ks, calls):
            xs = [strided_view(rng, k.inputs[0].dtype,
                               tuple(1 if rng.random() < 0.3 else d for d in dom))
                  for _ in range(3)]
            c.append((xs, dom if trial % 2 or all(x.shape != dom for x in xs) else None))
    before = jit.stats["modules_compiled"]
    cks = compile_kernels(ks, [[xs for xs, _ in c] for c in calls])
    assert jit.stats["modules_compiled"] > before
    for k, ck, c in zip(ks, cks, calls):
        for xs, dom in c:
            check(ck, k, xs, shape=dom)


def test_noncontiguous_outputs_and_in_place():
    k = fma_kernel("float64", 2)
    ck = compile_kernel(k)
    rng = np.random.default_rng(3)
    x, y, z = (rng.standard_normal((31, 17)) for _ in range(3))
    out = [np.empty((62, 17))[::2], np.empty((31, 34), bool)[:, ::-2]]
    check(ck, k, [x, y, z], out)
    for _ in range(2):          # the second call of a layout reuses its plan
        x, y, z = (rng.standard_normal((31, 17)) for _ in range(3))
        check(ck, k, [x, y[:1], z])
        check(ck, k, [x, y, z], [np.empty((31, 17)), np.empty((31, 17), bool)])
    want = interpret(k, [x, y, z])
    ck([x, y, z], [z, np.empty((31, 17), bool)])          # in place: z = x*y + z
    np.testing.assert_allclose(z, want[0], rtol=1e-12)
    got = check(ck, k, [x.T, y.T, z.T])                    # outputs in the inputs' order
    assert got[0].flags.f_contiguous and got[1].flags.f_contiguous
    v = np.zeros((40, 17))[3:34]                           # a view, in place
    want = interpret(k, [x, y, v])
    ck([x, y, v], [v, np.empty((31, 17), bool)])
    np.testing.assert_allclose(v, want[0], rtol=1e-12)
    a = rng.standard_normal((1, 100))                      # overlapping, not identical
    want = interpret(k, [a[:, :-1], a[:, 1:], a[:, :-1]])
    got = ck([a[:, :-1], a[:, 1:], a[:, :-1]], [a[:, 1:], np.empty((1, 99), bool)])
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)


def test_kernel_without_inputs_fills_its_domain():
    k = kernel("iota", [], 2, [I("const", "int16", (), 7), I("const", "int16", (), 3),
                               I("floordiv", "int16", (0, 1))], [Store(2)])
    got = check(compile_kernel(k), k, [], shape=(3, 4))
    assert got[0].tolist() == [[2] * 4] * 3


def test_zero_size_domains():
    k = fma_kernel("float32", 2)
    ck = compile_kernel(k)
    for dom in [(0, 5), (3, 0), (0, 0)]:
        xs = [np.ones(dom, "float32")] * 3
        got = check(ck, k, xs)
        assert got[0].shape == dom
    red = kernel("s", ["float32"], 2, [I("load", "float32", (), 0)],
                 [Store(0, "add", (1,)), Store(0, "max", (1,))])
    got = check(compile_kernel(red), red, [np.ones((4, 0), "float32")])
    assert got[0].tolist() == [[0.0]] * 4 and got[1].tolist() == [[-np.inf]] * 4


# ---- reductions ------------------------------------------------------------------------------
def reduce_kernel(comb: str, dt: str, ndim: int, axes, epilogue: bool) -> Kernel:
    """out = comb over ``axes`` of f(x), with f(x) = x*|x| (x for bool); with an epilogue
    out = acc / count + x0[reduced axes at 0] (floats), or acc * count (ints, wrapping)."""
    if dt == "bool":
        body = [I("load", dt, (), 0)]
    else:
        body = [I("load", dt, (), 0), I("abs", dt, (0,)), I("mul", dt, (0, 1))]
    epi = ()
    if epilogue and dt in FLOATS:
        epi = (I("acc", dt), I("count", dt), I("div", dt, (0, 1)), I("load", dt, (), 0),
               I("add", dt, (2, 3)))
    elif epilogue and dt != "bool":
        epi = (I("acc", dt), I("count", "int64"), I("cast", dt, (1,)), I("mul", dt, (0, 2)))
    elif epilogue:
        epi = (I("acc", dt), I("count", "int32"), I("const", "int32", (), 3),
               I("gt", "bool", (1, 2)), I("and", "bool", (0, 3)))
    return kernel(f"red_{comb}_{dt}", [dt], ndim, body,
                  [Store(len(body) - 1, comb, tuple(axes), epi)])


REDUCE_AXES = [(1, (0,)), (2, (0,)), (2, (1,)), (2, (0, 1)), (3, (1,)), (3, (0, 2)), (3, (2,)),
               (3, (0,)), (4, (1, 2)), (4, (0, 3)), (4, (0, 1, 2, 3))]
REDUCE_CASES = [(c, dt) for c in COMBINERS for dt in (
    ["bool"] if c in ("and", "or") else
    ["float32", "float64", "int32", "int8" if c in ("add", "mul") else "uint8"])]


@pytest.mark.parametrize("comb,dt", REDUCE_CASES)
def test_reductions(comb, dt):
    """Every combiner over first, middle, last, several and all axes; with and without an
    epilogue; C order, another memory order, and size-1 axes."""
    rng = np.random.default_rng(4)
    ks, calls = [], []
    for i, (nd, ax) in enumerate(REDUCE_AXES):
        ks.append(reduce_kernel(comb, dt, nd, ax, i % 2 == 1))
        calls.append([])
        for shape in [(7, 130, 3, 5)[:nd], (1, 5, 1, 64)[:nd]]:
            if comb == "mul" and dt in FLOATS:      # stay in range: values near 1
                x = rng.uniform(0.9, 1.1, shape).astype(dt)
            elif comb == "add" and dt in FLOATS:    # no cancellation: summation order shows
                x = np.abs(sample(rng, dt, shape, special=False))
            else:
                x = sample(rng, dt, shape, special=comb in ("max", "min"))
            calls[-1].append([x])
        x = calls[-1][0][0]
        calls[-1].append([x.T.copy().T if nd > 1 else x[::-1]])    # another memory order
    for k, ck, cs in zip(ks, compile_kernels(ks, calls), calls):
        for xs in cs:
            check(ck, k, xs, exact=dt not in FLOATS or comb in ("max", "min"))


def test_nan_and_inf_in_reductions():
    x = np.array([[1.0, np.nan, 3.0], [-np.inf, 2.0, np.inf], [np.inf, 1.0, 5.0]], "float32")
    for comb in ("max", "min", "add", "mul"):
        for ax in [(0,), (1,), (0, 1)]:
            k = reduce_kernel(comb, "float32", 2, ax, False)
            k = kernel(k.name, ["float32"], 2, [I("load", "float32", (), 0)],
                       [Store(0, comb, ax)])
            check(compile_kernel(k), k, [x], exact=True)
            big = np.tile(x, (50, 50))
            check(compile_kernel(k), k, [big], exact=comb in ("max", "min"))


def test_logsumexp_softmax_multi_output():
    """Mixed stores: an elementwise output inside the nest, two reductions, an epilogue
    that loads an input broadcast along the reduced axis."""
    F = "float32"
    body = [I("load", F, (), 0), I("load", F, (), 1), I("sub", F, (0, 1)), I("exp", F, (2,))]
    lse = (I("acc", F), I("log", F, (0,)), I("load", F, (), 1), I("add", F, (1, 2)))
    for ax in [(1,), (0,)]:
        k = kernel(f"lse{ax}", [F, F], 2, body,
                   [Store(3), Store(3, "add", ax, lse), Store(0, "max", ax)])
        ck = compile_kernel(k)
        rng = np.random.default_rng(5)
        x = rng.standard_normal((70, 90)).astype(F)
        m = x.max(axis=ax[0], keepdims=True)
        check(ck, k, [x, m])
        check(ck, k, [x[::-1, ::2], np.ascontiguousarray(m[..., ::2] if ax == (0,) else m[::-1])])


@pytest.fixture(scope="module")
def staged():
    from tests.codegen.test_kernel import layernorm, softmax
    ks = [softmax(), layernorm(), layernorm(3, (1, 2)), layernorm(3, (0,))]
    return list(zip(ks, compile_kernels(ks)))


def test_staged_kernels_over_layouts(staged):
    """Several passes over each row: every layout (rows contiguous, columns contiguous,
    reversed, strided, broadcast, empty, one element) against the interpreter, on one
    thread and split over threads."""
    rng = np.random.default_rng(11)
    n = get_num_threads()
    try:
        for threads in (1, 3):
            set_num_threads(threads)
            for k, ck in staged:
                nd = k.ndim
                shape = (700, 300) if nd == 2 else (40, 7, 30)
                x = rng.standard_normal(shape).astype("float32")
                layouts = [x, np.asfortranarray(x), x[::-1], x[..., ::3], x[:1], x[:0],
                           np.broadcast_to(x[:1], x.shape)]
                for a in layouts:
                    g = [rng.standard_normal((1,) + a.shape[1:]).astype("float32")]
                    check(ck, k, [a, *g][:len(k.inputs)])
    finally:
        set_num_threads(n)


def test_staged_kernel_keeps_rows_in_registers_and_cache(staged):
    """The row-contiguous softmax is one loop nest with three vectorized passes, not three
    kernels (column-contiguous calls run the stages as tiled kernels instead)."""
    k, ck = staged[0]
    x = np.zeros((4, 1024), "float32")
    assert ck.signature([x]).kind == "inner"
    asm = jit.assembly(run.render([(k, ck.signature([x]))])[0])
    assert len(re.findall(r"\bv(max|add|div)ps\s.*%[yz]mm", asm)) >= 3


def test_float32_sum_of_10m_is_pairwise_accurate():
    k = kernel("sum", ["float32"], 1, [I("load", "float32", (), 0)], [Store(0, "add", (0,))])
    x = np.random.default_rng(6).random(10_000_000, dtype=np.float32)
    got = float(compile_kernel(k)([x])[0][0])
    exact = float(x.sum(dtype=np.float64))
    assert abs(got - exact) <= 1e-6 * exact


def test_threads_match_single_thread():
    F = "float32"
    ew = kernel("big", [F, F], 2, [I("load", F, (), 0), I("load", F, (), 1), I("tanh", F, (0,)),
                                   I("mul", F, (2, 1))], [Store(3)])
    red = kernel("rows", [F], 2, [I("load", F, (), 0)], [Store(0, "add", (1,))])
    cols = kernel("cols", [F], 2, [I("load", F, (), 0)], [Store(0, "max", (0,))])
    cks = compile_kernels([ew, red, cols])
    rng = np.random.default_rng(7)
    x = rng.standard_normal((512, 1000)).astype(F)
    y = rng.standard_normal((512, 1000)).astype(F)
    wide = rng.standard_normal((64, 5000)).astype(F)     # columns split in 1024-wide chunks
    args = [[x, y], [x], [x], [x, y[:1]], [wide]]
    n = get_num_threads()
    try:
        set_num_threads(1)
        one = [ck(a) for ck, a in zip([*cks, cks[0], cks[2]], args)]
        set_num_threads(3)
        many = [ck(a) for ck, a in zip([*cks, cks[0], cks[2]], args)]
    finally:
        set_num_threads(n)
    np.testing.assert_array_equal(many[-1][0], wide.max(axis=0, keepdims=True))
    assert x.size >= 4 * PARALLEL_MIN
    for a, b in zip(one, many):
        np.testing.assert_array_equal(a[0], b[0])
    check(cks[0], ew, args[0])


@pytest.mark.parametrize("comb,dt", REDUCE_CASES)
def test_full_reductions_split_in_fixed_chunks(comb, dt):
    """A large reduction of everything is cut into chunks fixed by its size: right against
    the interpreter in every layout, with and without an epilogue (which loads an input and
    the count), and bitwise the same on one thread and on three; a small one runs whole."""
    rng = np.random.default_rng(14)
    ks = [reduce_kernel(comb, dt, nd, tuple(range(nd)), epi) for nd in (1, 2, 4)
          for epi in (False, True)]
    cks = compile_kernels(ks)

    def value(shape):
        if comb == "mul" and dt in FLOATS:     # exact products: powers of two, few
            return rng.choice(np.array([0.5, 1, 2], dt), shape, p=[2e-4, 0.9996, 2e-4])
        if comb == "add" and dt in FLOATS:
            return np.abs(sample(rng, dt, shape, special=False))
        return sample(rng, dt, shape, special=comb in ("max", "min"))
    wide = value((300, 800))
    layouts = {1: [value(70_000), value(140_001)[::2]],
               2: [wide, wide.T, wide[:, ::3], np.broadcast_to(wide[:1], (90, 800))],
               4: [value((6, 50, 30, 40)).transpose(2, 0, 3, 1)]}
    n = get_num_threads()
    try:
        for k, ck in zip(ks, cks):
            for x in layouts[k.ndim]:
                assert isinstance(ck._launch([x], None, None)[0].entry, run._SplitReduction)
                set_num_threads(1)
                one = check(ck, k, [x], exact=dt not in FLOATS or comb in ("max", "min"))
                set_num_threads(3)
                np.testing.assert_array_equal(ck([x])[0], one[0])
            small = value((5,) * k.ndim)
            assert not isinstance(ck._launch([small], None, None)[0].entry,
                                  run._SplitReduction)
            check(ck, k, [small], exact=dt not in FLOATS or comb in ("max", "min"))
    finally:
        set_num_threads(n)


def test_split_reduction_keeps_elementwise_stores_and_positions():
    """A kernel writing an elementwise value and reducing everything, its values keyed
    on positions (``index``, as random draws are): each chunk writes its own part."""
    F = "float32"
    k = kernel("mixed", [F], 2, [I("load", F, (), 0), I("index", "int64", (), (0, 1)),
                                 I("cast", F, (1,)), I("mul", F, (0, 2)), I("max", F, (0, 3))],
               [Store(3), Store(3, "add", (0, 1)), Store(4, "max", (0, 1))])
    ck = compile_kernel(k)
    x = np.random.default_rng(15).random((400, 700), dtype=np.float32)
    for a in (x, x.T, x[::-1, ::2]):
        assert isinstance(ck._launch([a], None, None)[0].entry, run._SplitReduction)
        got = check(ck, k, [a])
        pos = np.arange(a.size, dtype=np.float32).reshape(a.shape)
        np.testing.assert_array_equal(got[0], a * pos)


def test_column_reductions_add_rows_in_groups_as_one_at_a_time():
    """A tile kernel adds several reduced rows into its accumulators per pass when rows lie
    far apart (run.emit._ROW_GAP) and one at a time otherwise: either way in row order, so
    float32 column sums equal numpy's to the last bit. Row counts not a multiple of the
    group, 0 rows, reversed rows, two reduced axes and an elementwise store beside the sums."""
    F = "float32"
    k = kernel("colsum", [F], 2, [I("load", F, (), 0)], [Store(0, "add", (0,))])
    both = kernel("colsum_sq", [F, "int32"], 2,
                  [I("load", F, (), 0), I("mul", F, (0, 0)), I("load", "int32", (), 1)],
                  [Store(0, "add", (0,)), Store(1, "max", (0,)), Store(2, "add", (0,)),
                   Store(1)])
    three = kernel("colsum3", [F], 3, [I("load", F, (), 0)], [Store(0, "add", (0, 1))])
    cks = compile_kernels([k, both, three])
    rng = np.random.default_rng(11)
    for shape in [(13, 1024), (8, 1030), (21, 16), (3, 2000), (0, 1024), (1, 1024)]:
        x = rng.standard_normal(shape).astype(F)
        for a in (x, x[::-1], x[:, 1:]):
            got = check(cks[0], k, [a], exact=True)[0]
            np.testing.assert_array_equal(got[0], a.sum(axis=0))
            n = rng.integers(-9, 9, shape).astype("int32")
            check(cks[1], both, [a, n[:, :a.shape[1]]], exact=True)
    y = rng.standard_normal((5, 7, 1024)).astype(F)
    check(cks[2], three, [y], exact=True)


def test_column_reductions_group_rows_only_for_plain_sums():
    """Rows in groups repeat the body once per row of the group: a body with a
    transcendental, or a kernel with an elementwise store too, adds one row at a time
    (LLVM compiled such a body nine times over, 150 of the MLP step's 270 ms)."""
    F = "float32"
    heavy = kernel("colexp", [F], 2, [I("load", F, (), 0), I("exp", F, (0,)),
                                      I("mul", F, (0, 1))], [Store(2, "add", (0,))])
    plain = kernel("colsq", [F], 2, [I("load", F, (), 0), I("mul", F, (0, 0))],
                   [Store(1, "add", (0,))])
    x = np.zeros((16, 1024), F)
    for k, grouped in ((heavy, False), (plain, True)):
        ck = CompiledKernel(k)
        tile, inner = ck.signature([x]), ck.signature([np.asfortranarray(x)])
        assert (tile.kind, inner.kind) == ("tile", "inner")
        muls = [run.render([(k, sig)])[0].count("fmul") for sig in (tile, inner)]
        assert (muls[0] - muls[1] >= 7) == grouped, muls     # the body's mul, 9 times
        check(ck, k, [np.random.default_rng(3).random((37, 1024), dtype=np.float32)])


def test_column_reductions_split_only_in_wide_chunks():
    """A tile reduction split along its contiguous axis gives each chunk at least
    TILE_CHUNK columns (narrower segments of every row read memory slower than one thread
    reading whole rows); a call that would make one chunk runs on the calling thread."""
    work = run.WAKE_MIN
    assert run.grain(1000, work, False, run.TILE_CHUNK) == 0
    assert run.grain(5000, work, False, run.TILE_CHUNK) == run.TILE_CHUNK
    assert run.grain(5000, work, False) < run.TILE_CHUNK
    assert run.grain(5000, PARALLEL_MIN - 1, False) == 0


def test_small_parallel_calls_wake_no_sleeping_worker():
    """Below WAKE_MIN a call's grain is negative: its chunks go only to workers that are
    awake. Such calls give the single thread's results whether the workers are awake or
    asleep."""
    assert run.grain(4096, run.WAKE_MIN, True) == 512
    assert run.grain(4096, run.WAKE_MIN - 1, True) == -512
    k = kernel("sq", ["float32"], 1, [I("load", "float32", (), 0), I("mul", "float32", (0, 0))],
               [Store(1)])
    ck = CompiledKernel(k)
    x = np.random.default_rng(0).standard_normal(2 * PARALLEL_MIN).astype("float32")
    assert ck.bind([x]).grain < 0
    n = get_num_threads()
    try:
        set_num_threads(1)
        want = ck([x])[0]
        set_num_threads(2)
        big = np.ones(4 * run.WAKE_MIN, "float32")
        for wait in (0.0, 0.05):       # right after a job that woke the pool; later
            ck([big])
            time.sleep(wait)
            np.testing.assert_array_equal(ck([x])[0], want)
    finally:
        set_num_threads(n)


# ---- generated code --------------------------------------------------------------------------
def test_contiguous_loops_are_vectorized():
    F = "float32"
    body = [I("load", F, (), 0), I("load", F, (), 1), I("mul", F, (0, 0)), I("neg", F, (2,)),
            I("exp", F, (3,)), I("sin", F, (1,)), I("mul", F, (4, 5)), I("mul", F, (0, 1)),
            I("tanh", F, (7,)), I("add", F, (6, 8))]
    ew = kernel("ew", [F, F], 1, body, [Store(9)])
    red = kernel("sum", [F], 2, [I("load", F, (), 0)], [Store(0, "add", (1,))])
    cols = kernel("sum0", [F], 2, [I("load", F, (), 0)], [Store(0, "add", (0,))])
    for k in (ew, red, cols):
        ck = compile_kernel(k)
        asm = jit.assembly(run.render([(k, ck.default_signature)])[0])
        # packed single-precision math on 256-bit (AVX2) or 512-bit (AVX-512) registers
        assert re.search(r"\bv\w+ps\s.*%[yz]mm", asm), k.name
        assert not re.search(r"call.*(exp|sin|tanh)", asm), k.name
    # no contraction in elementwise math (copies of a value must agree to the bit), and
    # reassociation on reduction accumulators only
    assert "contract" not in compile_kernel(ew).source
    assert "reassoc" in compile_kernel(red).source and "reassoc" not in compile_kernel(ew).source


def test_buffers_are_told_apart_by_alias_scopes():
    """Each access names its buffer's scope and the others' (scoped-noalias metadata,
    made once per module): a loop over many buffers vectorizes with no run-time overlap
    checks, and two kernels in one module share the scopes."""
    import llvmlite.binding as llvm
    F = "float32"
    n = 6
    body = [I("load", F, (), i) for i in range(n)]
    for i in range(1, n):
        body.append(I("add", F, (len(body) - 1 if i > 1 else 0, i)))
    k = kernel("many", [F] * n, 1, body, [Store(len(body) - 1), Store(n - 1)])
    k2 = kernel("two", [F], 1, [I("load", F, (), 0), I("neg", F, (0,))], [Store(1)])
    text = run.render([(k, compile_kernel(k).default_signature),
                       (k2, compile_kernel(k2).default_signature)])[0]
    access = [line for line in text.splitlines() if re.search(r"= load float|store float", line)]
    assert len(access) == n + 2 + 2
    assert all("!alias.scope" in a and "!noalias" in a for a in access)
    assert text.count('!"sg.buf0"') == 1 and text.count('!"sg.buffers"') == 1
    mod = llvm.parse_assembly(text)
    jit._optimize(mod)
    opt = str(mod)
    assert "vector.body" in opt and "vector.memcheck" not in opt


@pytest.mark.parametrize("layout", ["flat", "strided", "in place", "rows", "columns", "all"])
def test_many_buffers_are_noalias_arguments_of_the_loop_nest(layout):
    """Past SCOPED_MAX buffers the loop nest takes them as noalias arguments (no metadata
    on the accesses): it still vectorizes without overlap checks, and every layout
    (flat, strided, an output in an input's memory, row, column and full reductions,
    which keep partials in meta) computes what the interpreter does."""
    import llvmlite.binding as llvm
    from codegen.llvm import emit
    F, n = "float64", emit.SCOPED_MAX + 4
    body = [I("load", F, (), i) for i in range(n)]
    for i in range(1, n):
        body.append(I("add", F, (len(body) - 1 if i > 1 else 0, i)))
    reduce = {"rows": (1,), "columns": (0,), "all": (0, 1)}.get(layout)
    stores = ([Store(n + i) for i in range(n - 1)] if reduce is None else
              [Store(len(body) - 1, "add", reduce), Store(n, "max", reduce)])
    k = kernel("many", [F] * n, 2, body, stores)
    ck = compile_kernel(k)
    text = ck.source
    assert "noalias" in text and "!alias.scope" not in text
    mod = llvm.parse_assembly(text)
    jit._optimize(mod)
    opt = str(mod)
    assert "vector.body" in opt and "vector.memcheck" not in opt
    rng = np.random.default_rng(3)
    shape = (37, 300) if layout != "all" else (700, 300)
    xs = [rng.standard_normal(shape) for _ in range(n)]
    if layout == "strided":
        xs = [np.asfortranarray(x)[:, ::2] for x in xs]
    want = interpret(k, [x.copy() for x in xs])
    if layout == "in place":
        got = ck(xs, [xs[0]] + [np.empty(shape) for _ in range(n - 2)])
        assert got[0] is xs[0]
    else:
        got = ck(xs)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12)


def test_batch_compiles_one_module():
    before = dict(jit.stats)
    ks = [fma_kernel(dt, 3) for dt in ("int8", "int16", "int64", "uint8", "float64")]
    cks = compile_kernels(ks)
    assert jit.stats["modules_compiled"] - before["modules_compiled"] == 1
    assert jit.stats["symbols_compiled"] - before["symbols_compiled"] == len(ks)
    rng = np.random.default_rng(8)
    for k, ck in zip(ks, cks):
        check(ck, k, [sample(rng, k.inputs[0].dtype, (3, 4, 5)) for _ in range(3)])


# ---- bad calls -------------------------------------------------------------------------------
def test_bad_calls_raise_kernel_error():
    k = fma_kernel("float32", 2)
    ck = compile_kernel(k)
    x = np.ones((3, 4), "float32")
    good_out = [np.empty((3, 4), "float32"), np.empty((3, 4), bool)]
    bad = [
        ([x, x], None), ([x, x, x, x], None), ([x, x, x.astype("float64")], None),
        ([x, x, x[0]], None), ([x, x, np.ones((2, 4), "float32")], None),
        ([x, x, [[1.0] * 4] * 3], None), ([x, x, x], good_out[:1]),
        ([x, x, x], [good_out[0], np.empty((3, 4), "int8")]),
        ([x, x, x], [good_out[0], np.empty((3, 5), bool)]),
        ([x, x, x], [good_out[0], "out"]),
    ]
    ro = np.empty((3, 4), bool)
    ro.flags.writeable = False
    bad.append(([x, x, x], [good_out[0], ro]))
    for inputs, outputs in bad:
        with pytest.raises(KernelError):
            ck(inputs, outputs)
    with pytest.raises(KernelError):
        ck([x, x, x], shape=(3, 5))
    with pytest.raises(KernelError):
        ck(x)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_many_transcendentals_call_vector_variants(dtype, monkeypatch):
    """A kernel with more transcendental sites than OUTLINE_MIN calls vmath out of line
    (vector variants, compiled once per module): the results are bitwise those of the
    inlined functions, over contiguous and strided layouts and the scalar remainder."""
    from codegen.llvm import scalar
    from codegen.kernel import Builder
    ops, sites = ["tanh", "exp", "sigmoid", "log1p", "sin"], scalar.OUTLINE_MIN + 4

    def chain(n_in):          # n_in - 1 unused inputs: another kernel, computing the same
        b = Builder()
        v = b.load(0, dtype)
        for i in range(sites):
            v = b.emit(ops[i % len(ops)], dtype, (v,))
            v = b.emit("mul", dtype, (v, b.const(0.5, dtype)))
        return Kernel("vm", tuple(Buffer(f"x{i}", dtype, 2) for i in range(n_in)),
                      (Buffer("y", dtype, 2),), 2, tuple(b.body), (Store(v),))

    outlined = compile_kernel(chain(1))
    assert "vector-function-abi-variant" in outlined.source
    monkeypatch.setattr(scalar, "OUTLINE_MIN", 10 ** 9)
    inlined = compile_kernel(chain(2))
    assert "vector-function-abi-variant" not in inlined.source
    x = np.random.default_rng(5).uniform(-3, 3, (37, 53)).astype(dtype)
    for a in (x, x[:, ::2], x.T):
        got, want = outlined([a])[0], inlined([a, a])[0]
        assert np.array_equal(got, want)
        np.testing.assert_allclose(got, interpret(chain(1), [a])[0],
                                   rtol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("unlocked", [True, False])
def test_a_large_batch_compiles_as_parts_concurrently(unlocked, monkeypatch):
    """Many kernels compile as several modules of similar weight, on several threads
    (or one after another where llvmlite's C functions are not reachable without its
    lock); the cut depends on the kernels only, not on the thread count."""
    if not unlocked:
        monkeypatch.setattr(jit, "_UNLOCKED", None)
    ks = [fma_kernel(dt, nd) for dt in ("float32", "float64", "int32", "int64", "uint8",
                                        "int16") for nd in (1, 2, 3)]
    ks = [Kernel(f"{k.name}_{unlocked}", k.inputs, k.outputs, k.ndim,
                 k.body + (Instr("const", k.body[-1].dtype, (), 3 + unlocked),), k.stores)
          for k in ks]            # kernels of their own: compiled here, not loaded
    items = [(k, CompiledKernel(k).default_signature) for k in ks]
    weight = {s.symbol(k): len(k.body) + run.KERNEL_WEIGHT for k, s in items}
    parts = jit.partition(list(weight), weight.get)
    assert len(parts) > 1 and sorted(sum(parts, [])) == sorted(weight)
    monkeypatch.setattr(settings, "num_threads", 1)
    assert jit.partition(list(weight), weight.get) == parts
    monkeypatch.setattr(settings, "num_threads", 2)
    run.pool.run_address()              # the thread pool's module, compiled once
    before = jit.stats["modules_compiled"]
    cks = compile_kernels(ks)
    assert jit.stats["modules_compiled"] - before == len(parts)
    rng = np.random.default_rng(9)
    for k, ck in zip(ks, cks):
        check(ck, k, [sample(rng, k.inputs[0].dtype, (2, 3, 4)[:k.ndim]) for _ in range(3)])


def test_modules_are_balanced_by_what_llvm_spends_on_each_kernel():
    """A kernel's weight counts its reductions and transcendentals, not its body's
    length alone: a row-wise exp-and-sum outweighs two elementwise ops twice over,
    and the heaviest part of a cut comes first (it renders and starts compiling first)."""
    F = "float32"
    two = kernel("two", [F, F], 2, [I("load", F, (), 0), I("load", F, (), 1),
                                    I("mul", F, (0, 1)), I("sub", F, (0, 2))], [Store(3)])
    rows = kernel("rows", [F], 2, [I("load", F, (), 0), I("exp", F, (0,))],
                  [Store(1, "add", (1,))])
    w = {k.name: run.weight(k) for k in (two, rows)}
    assert w["rows"] > 1.9 * w["two"]
    # a tanh inlined costs LLVM what the first does; called out of line, a few ops
    from codegen.llvm.scalar import OUTLINE_MIN

    def chain(n):
        return kernel(f"chain{n}", [F], 1, [I("load", F, (), 0)] + [
            I("tanh", F, (i,)) for i in range(n)], [Store(n)])
    inlined, outlined = run.weight(chain(OUTLINE_MIN)), run.weight(chain(OUTLINE_MIN + 1))
    assert inlined > 1.5 * outlined
    weights = {"a": 500, "b": 300, "c": 250, "d": 100}
    parts = jit.partition(list(weights), weights.get)
    loads = [sum(weights[s] for s in p) for p in parts]
    assert loads == sorted(loads, reverse=True) and sorted(sum(parts, [])) == sorted(weights)


def test_threads_compiling_the_same_kernels_at_once_both_get_working_code():
    """Compiling holds no lock (only linking does): two threads compiling one new kernel
    at the same time each get an entry that computes it."""
    import threading
    F = "float32"
    c = float(3 + time.time_ns() % 997)      # a kernel no other test has loaded
    k = kernel("concurrent", [F], 1,
               [I("load", F, (), 0), I("const", F, (), c), I("mul", F, (0, 1))], [Store(2)])
    got, errors = [], []
    start = threading.Barrier(2)

    def compile_and_call():
        try:
            start.wait()
            got.append(compile_kernel(k)([np.arange(4, dtype=F)])[0].tolist())
        except Exception as e:           # a failure in the thread fails the test below
            errors.append(e)
    workers = [threading.Thread(target=compile_and_call) for _ in range(2)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(60)
    assert not errors and got == [[0.0, c, 2 * c, 3 * c]] * 2
