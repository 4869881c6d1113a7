"""The CUDA renderer without a GPU.

* a broad corpus of kernels is rendered and compiled to PTX with ``nvcc`` (a few invocations
  over concatenated sources, warnings as errors);
* the same sources are compiled for the host with ``g++`` and a small emulation of the CUDA
  built-ins (one thread in one block), and every kernel without a block reduction (vec, flat,
  strided, thread) is run against :func:`interpret`: the opcode table, prelude, literals,
  index math and launch arguments are checked for values, not only for syntax;
* the static contracts the runtime relies on.

:func:`corpus` and :func:`random_inputs` are shared with test_cuda_run.py.
"""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from codegen import philox
from codegen.cuda import emit, render, sources
from codegen.cuda.run import compile_kernel, launch_args, available
from codegen.kernel import (COMBINERS, DTYPES, FLOATS, OPCODES, Buffer, Builder, Instr,
                            Kernel, Store, split_stages)
from codegen.interpret import interpret

NVCC = shutil.which("nvcc") or ("/usr/local/bin/nvcc"
                                if os.access("/usr/local/bin/nvcc", os.X_OK) else None)
needs_nvcc = pytest.mark.skipif(NVCC is None, reason="nvcc (CUDA toolkit) not found on PATH")
GXX = shutil.which("g++")


def accepts(op: str, dt: str) -> bool:
    return OPCODES[op].takes(dt)


def elementwise(name: str, in_dtypes: list[str], ndim: int, body: list[Instr],
                values: list[int]) -> Kernel:
    """A kernel of ``body`` storing each of ``values`` elementwise."""
    outs = tuple(Buffer(f"y{j}", body[v].dtype, ndim) for j, v in enumerate(values))
    return Kernel(name, tuple(Buffer(f"x{j}", dt, ndim) for j, dt in enumerate(in_dtypes)),
                  outs, ndim, tuple(body), tuple(Store(v) for v in values))


def one_op(op: str, dt: str, ndim: int, prefix: str = "op") -> Kernel:
    arity = OPCODES[op].arity
    res = "bool" if OPCODES[op].result == "bool" else dt
    body = [Instr("load", dt, (), j) for j in range(arity)]
    body.append(Instr(op, res, tuple(range(arity))))
    return elementwise(f"{prefix}_{op}_{dt}", [dt] * arity, ndim, body, [arity])


def cast_kernel(src: str, dst: str, ndim: int, prefix: str = "cast") -> Kernel:
    return elementwise(f"{prefix}_{src}_{dst}", [src], ndim,
                       [Instr("load", src, (), 0), Instr("cast", dst, (0,))], [1])


def select_kernel(dt: str, ndim: int) -> Kernel:
    body = [Instr("load", "bool", (), 0), Instr("load", dt, (), 1), Instr("load", dt, (), 2),
            Instr("select", dt, (0, 1, 2))]
    return elementwise(f"select_{dt}", ["bool", dt, dt], ndim, body, [3])


SPECIALS = {"float32": [np.inf, -np.inf, np.nan, -0.0, 0.1, 3.4028235e38, 1e-45, 16777217.0],
            "float64": [np.inf, -np.inf, np.nan, -0.0, 0.1, 1.7976931348623157e308, 5e-324],
            "int64": [-2**63, 2**63 - 1, 0], "int32": [-2**31, 2**31 - 1],
            "int16": [-2**15, 2**15 - 1], "int8": [-128, 127], "uint8": [0, 255],
            "uint32": [0, 2**32 - 1, 2**31],
            "bool": [True, False]}


def const_kernel(dt: str) -> Kernel:
    """Every special literal of ``dt``, combined with max so none is dead code."""
    body = [Instr("load", dt, (), 0)]
    for v in SPECIALS[dt]:
        body += [Instr("const", dt, (), v), Instr("max", dt, (len(body) - 1, len(body)))]
    return elementwise(f"const_{dt}", [dt], 1, body, [len(body) - 1])


def reduction(name: str, dt: str, combiner: str, axes: tuple[int, ...], ndim: int,
              epilogue: tuple[Instr, ...] = (), out_dt: str | None = None) -> Kernel:
    out = out_dt or (epilogue[-1].dtype if epilogue else dt)
    return Kernel(name, (Buffer("x", dt, ndim),), (Buffer("y", out, ndim),), ndim,
                  (Instr("load", dt, (), 0),), (Store(0, combiner, axes, epilogue),))


def axis_patterns(ndim: int) -> list[tuple[int, ...]]:
    pats = {(0,), (ndim - 1,), tuple(range(ndim))}
    if ndim >= 3:
        pats |= {(0, 2), (1,)}
    if ndim == 4:
        pats |= {(1, 3), (0, 1, 2)}
    return sorted(pats)


def epilogue_kernels() -> list[Kernel]:
    f32, i32 = "float32", "int32"
    mean = (Instr("acc", f32), Instr("count", f32), Instr("div", f32, (0, 1)))
    ks = [reduction("mean", f32, "add", (1,), 2, mean),
          reduction("mean_all", "float64", "add", (0, 1, 2), 3,
                    (Instr("acc", "float64"), Instr("count", "float64"),
                     Instr("div", "float64", (0, 1))))]
    # sum of int8 cast to float64 and divided by a count taken as int32 then cast
    ks.append(reduction("int_mean", "int8", "add", (0,), 2,
                        (Instr("acc", "int8"), Instr("cast", "float64", (0,)),
                         Instr("count", i32), Instr("cast", "float64", (2,)),
                         Instr("div", "float64", (1, 3)))))
    ks.append(reduction("count_bool", "bool", "or", (1,), 2,
                        (Instr("acc", "bool"), Instr("count", "bool"),
                         Instr("and", "bool", (0, 1)))))
    # logsumexp: max shift loaded at index 0 of the reduced axis (constant along it)
    body = (Instr("load", f32, (), 0), Instr("load", f32, (), 1), Instr("sub", f32, (0, 1)),
            Instr("exp", f32, (2,)))
    lse = (Instr("acc", f32), Instr("log", f32, (0,)), Instr("load", f32, (), 1),
           Instr("add", f32, (1, 2)))
    ks.append(Kernel("logsumexp", (Buffer("x", f32, 3), Buffer("m", f32, 3)),
                     (Buffer("y", f32, 3),), 3, body, (Store(3, "add", (2,), lse),)))
    return ks


def multi_and_mixed() -> list[Kernel]:
    f32 = "float32"
    body = (Instr("load", f32, (), 0), Instr("load", "int16", (), 1), Instr("mul", f32, (0, 0)),
            Instr("gt", "bool", (0, 2)), Instr("cast", "int64", (1,)), Instr("exp", f32, (0,)))
    mean = (Instr("acc", f32), Instr("count", f32), Instr("div", f32, (0, 1)))
    ins = (Buffer("x", f32, 3), Buffer("n", "int16", 3))

    def outs(*dts):
        return tuple(Buffer(f"y{j}", dt, 3) for j, dt in enumerate(dts))
    return [
        Kernel("multi_reduce", ins, outs(f32, "bool", "int64", f32), 3, body,
               (Store(2, "add", (0, 2), mean), Store(3, "or", (0, 2)), Store(4, "max", (0, 2)),
                Store(0, "min", (0, 2)))),
        Kernel("mixed", ins, outs(f32, f32, "bool", "int64"), 3, body,
               (Store(5), Store(2, "add", (1,)), Store(3), Store(4, "mul", (1,)))),
        Kernel("multi_elementwise", ins, outs(f32, "bool", "int64", f32), 3, body,
               (Store(2), Store(3), Store(4), Store(5))),
    ]


EDGES = [("floordiv", "int32", [-2**31, 7, -7, 5], [-1, 0, 2, -2]),
         ("mod", "int64", [-2**63, 7, -7, 5], [-1, 0, 2, -2]),
         ("floordiv", "int8", [-128, 7, -7, 0], [-1, 0, 2, -2]),
         ("floordiv", "float64", [5.0, -5.0, 0.0, -3.0], [0.0, 0.0, 0.0, np.inf]),
         ("mod", "float32", [5.0, -5.0, np.inf, -3.0], [0.0, 2.0, 2.0, np.inf]),
         ("max", "float32", [np.nan, 1.0, -0.0, 2.0], [1.0, np.nan, 0.0, 1.0]),
         ("min", "float64", [np.nan, 1.0, 3.0, 2.0], [1.0, np.nan, 0.0, 1.0]),
         ("pow", "int16", [2, -1, 3, 1], [-1, -3, 9, -4])]
"""(opcode, dtype, a, b): integer MIN // -1, x // 0, x % 0, float npy_divmod corners, NaN
through max/min, negative integer powers."""


def staged_softmax(dt: str = "float32") -> Kernel:
    """A row softmax in one kernel of three stages (max; sum of exp; quotient)."""
    body = (Instr("load", dt, (), 0), Instr("reduced", dt, (), 0), Instr("sub", dt, (0, 1)),
            Instr("exp", dt, (2,)), Instr("reduced", dt, (), 1), Instr("div", dt, (3, 4)))
    return Kernel(f"softmax_{dt}", (Buffer("x", dt, 2),),
                  tuple(Buffer(n, dt, 2) for n in ("m", "s", "y")), 2, body,
                  (Store(0, "max", (1,)), Store(3, "add", (1,)), Store(5)))


def random_kernels() -> list[Kernel]:
    """Philox draws (``index``, ``mulhi``, uint32): elementwise over part of the domain,
    and summed over a reduced axis."""
    ks = []
    for dt in FLOATS:
        for reduce in (None, (1,)):
            b = Builder()
            seed = [b.load(0, "int64"), b.load(1, "int64")]
            w = philox.bits(b, (0, 1) if reduce else (1,), seed, b.load(2, "int64"), 3)
            u, z = philox.unit_interval(b, w, dt), philox.standard_normal(b, w, dt)
            ins = tuple(Buffer(f"s{i}", "int64", 2) for i in range(3))
            if reduce:
                ks.append(Kernel(f"rand_sum_{dt}", ins, (Buffer("y", dt, 2),), 2,
                                 tuple(b.body), (Store(z, "add", reduce),)))
            else:
                ks.append(Kernel(f"rand_{dt}", ins, (Buffer("u", dt, 2), Buffer("z", dt, 2)),
                                 2, tuple(b.body), (Store(u), Store(z))))
    return ks


def variants(k: Kernel) -> tuple[bool, ...]:
    return (False,) if emit.strided_only(k) else (True, False)


def corpus() -> list[Kernel]:
    """Kernels covering every opcode x dtype, casts, select, literals, every combiner x
    dtype over several axis patterns, epilogues, multiple outputs, mixed stores, rank 0..4."""
    ks = []
    for i, (op, dt) in enumerate((op, dt) for op in OPCODES for dt in DTYPES if accepts(op, dt)):
        ks.append(one_op(op, dt, ndim=i % 5))
    ks += [cast_kernel(s, d, ndim=i % 5) for i, (s, d) in
           enumerate((s, d) for s in DTYPES for d in DTYPES)]
    ks += [select_kernel(dt, ndim=2) for dt in DTYPES] + [const_kernel(dt) for dt in DTYPES]
    for comb in COMBINERS:
        for dt in DTYPES:
            if (comb in ("and", "or")) != (dt == "bool"):
                continue
            for ndim in (1, 2, 3, 4):
                for axes in axis_patterns(ndim):
                    ax = "".join(map(str, axes))
                    ks.append(reduction(f"red_{comb}_{dt}_{ndim}d_ax{ax}", dt, comb, axes, ndim))
    ks += [one_op(op, dt, 1, prefix="edge") for op, dt, _, _ in EDGES]
    ks.append(cast_kernel("float32", "int32", 1, prefix="edge_cast"))
    # a staged kernel runs as one launch per stage
    ks += [part for dt in FLOATS for part, _, _ in split_stages(staged_softmax(dt))]
    return ks + epilogue_kernels() + multi_and_mixed() + random_kernels()


CORPUS = corpus()


def _nvcc(path: str, optimize: bool = True) -> subprocess.CompletedProcess:
    """PTX for sm_90, warnings as errors. Without ``optimize`` the front end still checks
    everything, 5x faster: the whole corpus at -O3 takes minutes on a small CI box."""
    return subprocess.run([NVCC, "--ptx", "-arch=sm_90", "-std=c++17", "--fmad=false", "-Werror",
                           "all-warnings", *([] if optimize else ["-Xcicc", "-O0"]), path,
                           "-o", path[:-3] + ".ptx"], capture_output=True, text=True)


@needs_nvcc
def test_corpus_compiles_to_ptx():
    texts = [src for k in CORPUS for src in sources(k).values()]
    with tempfile.TemporaryDirectory() as tmp:
        chunks = [texts[i::4] for i in range(4)]  # a few big files: nvcc startup dominates
        paths = []
        for i, chunk in enumerate(chunks):
            paths.append(os.path.join(tmp, f"corpus{i}.cu"))
            with open(paths[-1], "w") as f:
                f.write("\n".join(chunk))
        with ThreadPoolExecutor(2) as pool:
            results = list(pool.map(lambda p: _nvcc(p, optimize=False), paths))
        errors = [r.stdout + r.stderr for r in results if r.returncode]
        assert not errors, "\n".join(errors)[:6000]
        ptx = "".join(open(p[:-3] + ".ptx").read() for p in paths)
    entries = set(re.findall(r"\.entry (\w+)\(", ptx))
    want = {name for k in CORPUS for c in variants(k)
            for name in emit.entry_names(k, c).values()}
    assert want <= entries, sorted(want - entries)[:10]


@needs_nvcc
def test_vector_kernel_moves_16_bytes():
    ks = [one_op("add", "float32", 2), one_op("add", "float64", 1),
          cast_kernel("uint8", "uint8", 1)]
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "vec.cu")
        with open(path, "w") as f:
            f.write("\n".join(render(k, True) for k in ks))
        r = _nvcc(path)
        assert r.returncode == 0, r.stderr
        ptx = open(path[:-3] + ".ptx").read()
    for pattern in ("ld.global.nc.v4.f32", "st.global.v4.f32", "ld.global.nc.v2.f64",
                    "st.global.v2.f64", "ld.global.nc.v4.u32", "st.global.v4.u32"):
        assert pattern in ptx, pattern


def test_every_opcode_renders_for_every_dtype_it_takes():
    for op in OPCODES:
        for dt in DTYPES:
            if accepts(op, dt):
                assert emit.expr(op, dt, ["a", "b"][:OPCODES[op].arity])


def test_sources_are_deterministic_and_named():
    names = set()
    for k in CORPUS[::7]:
        a, b = sources(k), sources(k)
        assert a == b
        for c in variants(k):
            for name in emit.entry_names(k, c).values():
                assert f'extern "C" __global__ void {name}(' in a["contiguous" if c else "strided"]
                assert name.startswith(k.name + "_")
                names.add(name)
    assert len(names) == sum(len(emit.entry_names(k, c)) for k in CORPUS[::7]
                             for c in variants(k))


def test_names_depend_on_kernel_and_variant():
    a, b = one_op("add", "float32", 1), one_op("add", "float64", 1)
    assert emit.base_name(a, True) != emit.base_name(a, False)
    assert emit.base_name(a, True) != emit.base_name(b, True)


@pytest.mark.parametrize("dt", DTYPES)
def test_literals_are_exact(dt):
    for v in SPECIALS[dt]:
        text = emit.literal(v, dt)
        if dt in FLOATS and "SG_" not in text:
            got = np.asarray(float(text.rstrip("f")), dt)
            assert got == np.asarray(v, dt) and np.signbit(got) == np.signbit(v), text


def test_render_reads_like_the_ir():
    src = render(one_op("sigmoid", "float32", 2), contiguous=False)
    assert "// kernel op_sigmoid_float32(x0: float32) -> (y0: float32)  ndim=2" in src
    assert "const float v1 = sg_sigmoid(v0);" in src
    src = render(reduction("r", "float64", "max", (1,), 2), contiguous=True)
    assert "return sg_max(x, y);" in src and "double a0 = -SG_INF;" in src


@pytest.mark.parametrize("contiguous", [True, False])
@pytest.mark.parametrize("k", [one_op("add", "int32", 3), one_op("abs", "float32", 0),
                               *multi_and_mixed(), *epilogue_kernels()], ids=lambda k: k.name
                         if isinstance(k, Kernel) else None)
def test_launch_args_match_the_rendered_parameters(k, contiguous):
    """run.launch_args and emit.params must agree: a mismatch would corrupt memory on a GPU."""
    dom = (2, 3, 4, 5)[:k.ndim]
    ins = [np.zeros(dom, b.dtype) for b in k.inputs]
    outs = [np.zeros(k.out_shape(s, dom), b.dtype) for s, b in zip(k.stores, k.outputs)]
    parts = [np.zeros(0, k.body[s.value].dtype) for s in k.stores if s.reduce]
    args = launch_args(k, contiguous, ins, outs, parts, dom, nsplit=1)
    params = emit.params(k, contiguous)
    assert len(args) == len(params)
    ctypes = {np.int64: "long long", np.uint32: "unsigned"}
    for (ctype, name), arg in zip(params, args):
        if isinstance(arg, np.ndarray):
            assert ctype.endswith("*") or ctype.endswith("__restrict__"), name
            assert emit.CTYPE[arg.dtype.name] in ctype, name
        else:
            assert ctypes[type(arg)] == ctype, name
    src = render(k, contiguous)
    assert all(f"{t} {n}" in src for t, n in params)


def test_compile_without_cupy_says_how_to_install():
    if available()[0]:
        pytest.skip("cupy and a GPU are present")
    with pytest.raises(RuntimeError, match="cupy-cuda13x"):
        compile_kernel(one_op("neg", "float32", 1))


# --- values, checked on the host -----------------------------------------------------------
DOMAINS = {0: (), 1: (37,), 2: (5, 7), 3: (3, 4, 5), 4: (2, 3, 4, 5)}


def sample(dtype: str, shape: tuple[int, ...], rng: np.random.Generator,
           nonneg: bool = False) -> np.ndarray:
    """Random values of ``dtype``: floats in [-3, 3] with exact integers and zeros among them
    (floordiv/mod edges), small integers with zeros and negatives."""
    if dtype == "bool":
        return np.asarray(rng.random(shape) < 0.5)
    if dtype in FLOATS:
        v = rng.uniform(0 if nonneg else -3, 3, shape)
        return np.asarray(np.where(rng.random(shape) < 0.2, np.round(v), v), dtype)
    return np.asarray(rng.integers(0 if nonneg or dtype == "uint8" else -5, 6, shape), dtype)


def random_inputs(k: Kernel, shape: tuple[int, ...], rng: np.random.Generator,
                  broadcast: bool = False) -> list[np.ndarray]:
    """Inputs for ``k`` over the domain ``shape``; with ``broadcast`` input 0 has size 1 on
    axis 0. Floats cast to unsigned types are non-negative: numpy's result is undefined
    otherwise."""
    nonneg = any(i.op == "cast" and i.dtype in ("uint8", "uint32")
                 and k.body[i.args[0]].dtype in FLOATS
                 for i in k.body)
    ins = []
    for j, b in enumerate(k.inputs):
        sh = (1, *shape[1:]) if broadcast and j == 0 and shape else shape
        ins.append(sample(b.dtype, sh, rng, nonneg))
    return ins


def strided_copy(a: np.ndarray) -> np.ndarray:
    """``a`` as a view with every-other-element strides, reversed on axis 0."""
    if not a.ndim:
        return a.copy()
    big = np.zeros(tuple(2 * d for d in a.shape), a.dtype)
    view = big[tuple(slice(None, None, 2) for _ in a.shape)][::-1]
    view[...] = a
    return view


def assert_matches(k: Kernel, got: list[np.ndarray], want: list[np.ndarray], what: str,
                   reduction: bool = False) -> None:
    for j, (g, w) in enumerate(zip(got, want)):
        msg = f"{k.name} output {j} ({what})"
        if w.dtype.kind == "f":
            tol = (1e-4 if reduction else 1e-5) if w.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(g, w, rtol=tol, atol=tol, equal_nan=True, err_msg=msg)
        else:
            np.testing.assert_array_equal(g, w, err_msg=msg)


EMULATION = r"""// Host emulation of the CUDA built-ins the kernels use: one thread in one block, so
// every grid-stride loop covers all the work. Not for kernels with a block reduction.
#include <cmath>
#include <cstring>
#define __device__
#define __forceinline__ inline
#define __global__
#define __shared__ static
struct sg_dim3 { unsigned x; };
static const sg_dim3 threadIdx = {0}, blockIdx = {0}, blockDim = {1}, gridDim = {1};
static inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
static inline double __longlong_as_double(long long i) {
  double f; std::memcpy(&f, &i, 8); return f;
}
template <typename T> T __shfl_down_sync(unsigned, T v, int) { return v; }
inline unsigned __umulhi(unsigned a, unsigned b) { return (unsigned)(((unsigned long long)a * b) >> 32); }
static inline void __syncthreads() {}
"""


@pytest.fixture(scope="module")
def host_libs(tmp_path_factory) -> list[ctypes.CDLL]:
    if GXX is None:
        pytest.skip("g++ not found: cannot run the rendered kernels on the host")
    tmp = tmp_path_factory.mktemp("cuda_on_host")
    texts = [src for k in CORPUS for src in sources(k).values()]
    paths = [str(tmp / f"host{i}.cpp") for i in range(2)]
    for i, path in enumerate(paths):
        with open(path, "w") as f:
            f.write(EMULATION + "\n".join(texts[i::2]))

    def build(path: str) -> subprocess.CompletedProcess:
        return subprocess.run([GXX, "-std=c++17", "-O0", "-w", "-shared", "-fPIC", path,
                               "-o", path[:-4] + ".so"], capture_output=True, text=True)
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(build, paths))
    errors = [r.stderr for r in results if r.returncode]
    assert not errors, "\n".join(errors)[:6000]
    return [ctypes.CDLL(p[:-4] + ".so") for p in paths]


def run_on_host(libs, k: Kernel, contiguous: bool, role: str, ins: list[np.ndarray],
                outs: list[np.ndarray], domain: tuple[int, ...]) -> None:
    parts = [np.zeros(1, k.body[s.value].dtype) for s in k.stores if s.reduce]
    args = launch_args(k, contiguous, ins, outs, parts, domain, nsplit=1)
    c_args = [ctypes.c_void_p(a.ctypes.data) if isinstance(a, np.ndarray) else
              ctypes.c_longlong(int(a)) if isinstance(a, np.int64) else ctypes.c_uint(int(a))
              for a in args]
    name = emit.entry_names(k, contiguous)[role]
    fn = next(getattr(lib, name) for lib in libs if hasattr(lib, name))
    fn.restype = None
    fn(*c_args)


@pytest.mark.parametrize("k", CORPUS, ids=lambda k: k.name)
def test_kernel_values_on_host(host_libs, k):
    rng = np.random.default_rng(sum(map(ord, k.name)))
    domain = DOMAINS[k.ndim]
    reduce = bool(k.reduce_axes)
    runs = [("thread", True), ("thread", False)] if reduce else \
        [("strided", False)] if emit.strided_only(k) else \
        [("vec", True), ("flat", True), ("strided", False)]
    for role, contiguous in runs:
        ins = random_inputs(k, domain, rng, broadcast=not contiguous)
        want = interpret(k, ins, shape=domain)
        if contiguous:
            outs = [np.zeros_like(w) for w in want]
        else:
            ins = [strided_copy(a) for a in ins]
            outs = [strided_copy(np.zeros_like(w)) for w in want]
        run_on_host(host_libs, k, contiguous, role, ins, outs, domain)
        assert_matches(k, outs, want, role, reduce)


def test_staged_kernel_on_host(host_libs):
    """The launches of a staged kernel's stages, fed each other's results as the runtime
    feeds them, give the staged kernel's values."""
    k = staged_softmax()
    x = np.random.default_rng(5).standard_normal((6, 37)).astype("float32")
    want = interpret(k, [x])
    outs = [np.zeros_like(w) for w in want]
    for part, extra, js in split_stages(k):
        # results of earlier stages are read broadcast: the strided variant
        role = "thread" if part.reduce_axes else "strided"
        run_on_host(host_libs, part, not extra, role, [x, *(outs[j] for j in extra)],
                    [outs[j] for j in js], x.shape)
    assert_matches(k, outs, want, "staged", True)
    assert set(sources(k)) == {f"stage{i}_{v}" for i in range(3)
                               for v in ("contiguous", "strided")}


def test_edge_values_on_host(host_libs):
    """Integer MIN // -1, x // 0, x % 0, NaN through max/min and casts, on the host."""
    for op, dt, a, b in EDGES:
        k = one_op(op, dt, 1, prefix="edge")
        ins = [np.array(a, dt), np.array(b, dt)]
        outs = [np.zeros(4, dt)]
        run_on_host(host_libs, k, True, "flat", ins, outs, (4,))
        assert_matches(k, outs, interpret(k, ins), "edges")
    k = cast_kernel("float32", "int32", 1, prefix="edge_cast")
    outs = [np.zeros(4, "int32")]
    run_on_host(host_libs, k, True, "flat", [np.array([np.nan, 1e20, -1e20, -2.7], "float32")],
                outs, (4,))
    assert outs[0].tolist() == [0, 2**31 - 1, -2**31, -2]  # saturating, where numpy is undefined
