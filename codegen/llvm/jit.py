"""A generic module compiler: LLVM IR text to callable machine code for the host (target,
O2 pipeline, object cache, ORC JIT). It knows nothing of kernels or of the thread pool:
callers render the IR and name the symbols they want.

:func:`load` compiles only the symbols this process has not loaded yet, as a few modules of
similar weight (per-module setup dominates LLVM's cost for small functions, so not one per
symbol) that compile concurrently (:func:`compile_all`). Each object is stored in the
on-disk cache under a key of the symbols, the host CPU, llvmlite and the code generator's
own source, and linked into an ORC LLJIT instance; a warm process loads the object and
skips LLVM's optimizer and code generator entirely.

>>> ir_text = "define i32 @sg_doc_answer() { ret i32 42 }"
>>> addr, = load(["sg_doc_answer"], lambda missing: ir_text)
>>> import ctypes; ctypes.CFUNCTYPE(ctypes.c_int32)(addr)()
42
"""
from __future__ import annotations

import ctypes
import hashlib
import itertools
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence

import llvmlite
import llvmlite.binding as llvm
from llvmlite.binding import ffi

from codegen import cache as _cache
from codegen import settings
from codegen.profile import add as add_phase, phase

FORMAT_VERSION = "1"

_lock = threading.RLock()
_state: dict = {}
_loaded: dict[str, int] = {}          # symbol -> address, for everything loaded so far
_trackers: list = []                  # keep loaded libraries alive
_names = itertools.count()

stats = {"modules_compiled": 0, "symbols_compiled": 0, "symbols_loaded": 0, "cache_hits": 0,
         "cache_misses": 0, "compile_seconds": 0.0, "load_seconds": 0.0}
"""Counters for this process: LLVM compilations, symbols compiled and symbols loaded from
the disk cache, cache hits (objects loaded from disk), and time spent compiling and
loading."""

object_cache: _cache.DiskCache | None = _cache.DiskCache(namespace="llvm")
"""Where compiled objects are kept between processes; set to None to always compile."""


def host() -> dict:
    """Target machine (``tm``), ``triple``, data ``layout``, function ``attrs``, JIT and
    cache version for this process, created at first use."""
    if "tm" in _state:          # made once; read without the lock after
        return _state
    with _lock:
        if not _state:
            with phase("llvm start"):
                _state.update(_inithost())
        return _state


def _inithost() -> dict:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    # Process-wide LLVM options (they would apply to other llvmlite users here too).
    # Epilogue vectorization adds a second vector loop per kernel for ~15% more compile
    # time; the interleaved main loop already covers all but the last few elements.
    llvm.set_option("", "-enable-epilogue-vectorization=false")
    # Loop strength reduction is a third of code generation time here, and x86's
    # base+index*scale addressing leaves it nothing measurable to gain in these loops.
    llvm.set_option("", "-disable-lsr")
    cpu, features = llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()
    triple = llvm.get_process_triple()
    flags = features.split(",")
    tm = llvm.Target.from_triple(triple).create_target_machine(
        cpu=cpu, features=features, opt=3, jit=True, reloc="pic", codemodel="small")
    # stale objects must not outlive a change of the code that generates them
    here = Path(__file__).parent
    source = hashlib.sha256(b"".join(f.read_bytes() for f in (
        *sorted(here.glob("*.py")), here.parent / "kernel.py")))
    return dict(
        tm=tm, triple=triple, cpu=cpu, features=features, layout=str(tm.target_data), lljit=llvm.create_lljit_compiler(tm),
        attrs=['"prefer-vector-width"="512"'] if "+avx512f" in flags else [],
        vector_bits=512 if "+avx512f" in flags else 256 if "+avx" in flags else 128,
        version=_cache.cache_key(FORMAT_VERSION, llvmlite.__version__,
                                 str(llvm.llvm_version_info), cpu, features,
                                 str(object.__basicsize__), source.hexdigest()))


def compile_ir(text: str) -> bytes:
    """Optimize LLVM IR text at O2 (loop and SLP vectorization on) and return object code.
    O3 adds 20% to the time LLVM takes on a training step's kernels and made none of the
    benchmark workloads measurably faster: the vectorizers do the work that matters."""
    return compile_all([lambda: text])[0]


def compile_all(texts: Sequence[Callable[[], str]], optimize: bool = True) -> list[bytes]:
    """Object code of several modules (``texts[i]()`` renders module i's IR), compiled
    on up to ``settings.num_threads`` threads at once while this one renders the next.

    llvmlite holds one lock around every call into LLVM; LLVM itself compiles modules of
    separate contexts with separate target machines concurrently (as its ThinLTO and ORC
    compilers do), so each module gets its own context and target machine, and the two
    long calls (the optimization pipeline, code generation) go to llvmlite's underlying
    C functions without that lock. If llvmlite does not expose them, modules compile one
    after another. ``optimize=False`` skips the IR optimization pipeline (code
    generation still optimizes), for IR that is written tight already.
    """
    h = host()
    t0, rendering = time.perf_counter(), 0.0
    workers = min(settings.num_threads, len(texts)) if _UNLOCKED else 1
    try:
        with ThreadPoolExecutor(workers, thread_name_prefix="symgraph-llvm") as ex:
            futures = []
            for render in texts:
                t1 = time.perf_counter()
                text = render()
                rendering += time.perf_counter() - t1
                futures.append(ex.submit(_compile, text, h, optimize) if workers > 1 else
                               _done(text, h, optimize))
            return [f.result() for f in futures]
    finally:        # phases that do not overlap: compiling is the time not rendering
        add_phase("llvm IR", rendering)
        add_phase("llvm compile", time.perf_counter() - t0 - rendering)


def _done(text: str, h: dict, optimize: bool) -> Future:
    f: Future = Future()
    try:
        f.set_result(_compile(text, h, optimize))
    except BaseException as e:
        f.set_exception(e)
    return f


def _compile(text: str, h: dict, optimize: bool = True) -> bytes:
    """One module's object code, in a context and with a target machine of its own
    (``h`` is :func:`host`: a worker thread must not wait for the lock its caller holds)."""
    tm = _machine(h)
    try:
        ctx = llvm.create_context()
        mod = llvm.parse_assembly(text, context=ctx)
        mod.verify()
        pb = _pass_builder(tm)
        mpm = pb.getModulePassManager()
        if _UNLOCKED:
            if optimize:
                _UNLOCKED[0](mpm, mod, pb)
            with ffi.OutputString() as err:
                buf = _UNLOCKED[1](tm, mod, 1, err)
                if not buf:
                    raise RuntimeError(str(err))
            try:
                return ctypes.string_at(ffi.lib.LLVMPY_GetBufferStart(buf),
                                        ffi.lib.LLVMPY_GetBufferSize(buf))
            finally:
                ffi.lib.LLVMPY_DisposeMemoryBuffer(buf)
        if optimize:
            mpm.run(mod, pb)
        return tm.emit_object(mod)
    finally:
        _machines.append(tm)


def _machine(h: dict) -> llvm.TargetMachine:
    """A target machine no other thread is using (one per concurrent compile)."""
    try:
        return _machines.pop()
    except IndexError:
        return llvm.Target.from_triple(h["triple"]).create_target_machine(
            cpu=h["cpu"], features=h["features"], opt=3, jit=True, reloc="pic",
            codemodel="small")


def _unlocked() -> tuple | None:
    """llvmlite's C functions for running a pass pipeline and emitting object code,
    without its global lock; None if this llvmlite does not expose them so."""
    try:
        return (ffi.lib.LLVMPY_RunNewModulePassManager._cfn,
                ffi.lib.LLVMPY_TargetMachineEmitToMemory._cfn)
    except AttributeError:
        return None


_machines: list = []
_UNLOCKED = _unlocked()


def _pass_builder(tm: llvm.TargetMachine):
    pto = llvm.create_pipeline_tuning_options(speed_level=2)
    pto.loop_vectorization = pto.slp_vectorization = pto.loop_interleaving = True
    # The vectorizer's interleaving already unrolls the loops that matter; runtime
    # unrolling of their scalar remainders only costs compile time.
    pto.loop_unrolling = False
    return llvm.create_pass_builder(tm, pto)


def _optimize(mod: llvm.ModuleRef) -> None:
    pb = _pass_builder(host()["tm"])
    pb.getModulePassManager().run(mod, pb)


def assembly(text: str) -> str:
    """The optimized host assembly of LLVM IR text, to check what the vectorizer did."""
    with _lock:
        mod = llvm.parse_assembly(text)
        _optimize(mod)
        return host()["tm"].emit_assembly(mod)


PART_WEIGHT = 300
"""A module :func:`load` compiles is cut into parts of about this weight (the caller's
estimate of each symbol's LLVM work, e.g. a kernel's ops plus fixed costs: about 0.3 ms
a unit on the 2-core VM), at most :data:`MAX_PARTS`, which compile concurrently. The cut
depends on the symbols and their weights only, not on the number of threads, so another
process finds the same parts in the cache."""
MAX_PARTS = 8


def partition(symbols: Sequence[str], weight: Callable[[str], int] | None
              ) -> list[list[str]]:
    """``symbols`` in parts of similar total weight (largest first into the lightest
    part), each part's symbols sorted, the heaviest part first (it renders and starts
    compiling first); one part without weights.

    >>> partition(["a", "b", "c"], {"a": 350, "b": 250, "c": 150}.get)
    [['b', 'c'], ['a']]
    """
    if weight is None:
        return [sorted(symbols)]
    w = {s: max(1, weight(s)) for s in symbols}
    n = max(1, min(MAX_PARTS, len(symbols), sum(w.values()) // PART_WEIGHT))
    parts: list[list[str]] = [[] for _ in range(n)]
    loads = [0] * n
    for s in sorted(symbols, key=lambda s: (-w[s], s)):
        i = loads.index(min(loads))
        parts[i].append(s)
        loads[i] += w[s]
    order = sorted(range(n), key=lambda i: (-loads[i], i))
    return [sorted(parts[i]) for i in order if parts[i]]


def load(symbols: Sequence[str], render: Callable[[list[str]], str],
         imports: dict[str, int] | Callable[[], dict[str, int]] | None = None,
         weight: Callable[[str], int] | None = None) -> list[int]:
    """Addresses of ``symbols``, compiling or loading from the cache the ones this
    process has not loaded yet: ``render(missing)`` gives the IR text of a module
    defining those; ``imports`` (or what calling it gives, at the first link) resolve
    the module's external symbols. With ``weight`` (a symbol's estimated LLVM work) a
    large set is cut into modules that compile concurrently (:func:`partition`).

    Only linking holds the JIT's lock: compiling does not, so a module that another
    thread compiles (the thread pool's, loaded in the background) does not hold this
    one up. Two threads that compile the same symbols at once each link their own copy
    (in a library of its own), and one of the copies is used."""
    with _lock:
        todo = sorted(set(s for s in symbols if s not in _loaded))
    if todo:
        _load_parts(partition(todo, weight), render, imports or {})
    with _lock:
        return [_loaded[s] for s in symbols]


def load_module(name: str, render_ir: Callable[[], str], symbols: Sequence[str],
                optimize: bool = True) -> dict[str, int]:
    """Load the module named ``name`` from the cache, or compile the LLVM IR text that
    ``render_ir()`` gives (and cache it); the addresses of its ``symbols``."""
    return _load_parts([list(symbols)], lambda _: render_ir(), {}, name, optimize,
                       count=False)


def _load_parts(parts: list[list[str]], render: Callable[[list[str]], str],
                imports, name: str = "", optimize: bool = True,
                count: bool = True) -> dict[str, int]:
    """Link each part's object (from the cache, else compiled, all misses together,
    and cached) into the JIT; the addresses of the parts' symbols. A cached object that
    does not link is discarded (with a warning) and compiled again."""
    h = host()
    addrs: dict[str, int] = {}
    missing = []
    resolved: list[dict] = []

    def link(obj: bytes, part: list[str]) -> dict[str, int]:
        if not resolved:            # (may wait for the module that defines them)
            resolved.append(imports() if callable(imports) else imports)
        with _lock:
            done = _link(obj, part, resolved[0])
            _loaded.update(done)
            return done

    for part in parts:
        with phase("cache lookup"):
            key = _cache.cache_key(h["version"], name, *part)
            obj = object_cache.get(key) if object_cache is not None else None
        if obj is not None:
            stats["cache_hits"] += 1
            try:
                addrs.update(link(obj, part))
                stats["symbols_loaded"] += len(part) * count
                continue
            except RuntimeError:        # not an object file, or one without these symbols
                object_cache.discard(key, "does not link")
        stats["cache_misses"] += 1
        missing.append((part, key))
    if missing:
        t0 = time.perf_counter()
        objs = compile_all([lambda part=part: render(part) for part, _ in missing], optimize)
        stats["compile_seconds"] += time.perf_counter() - t0
        stats["modules_compiled"] += len(missing)
        for (part, key), obj in zip(missing, objs):
            if object_cache is not None:
                with phase("cache store"):
                    object_cache.put(key, obj)
            addrs.update(link(obj, part))
            stats["symbols_compiled"] += len(part) * count
    return addrs


def _link(obj: bytes, symbols: list[str], imports: dict[str, int]) -> dict[str, int]:
    """Link object code into the JIT; the addresses of ``symbols`` (RuntimeError if it is
    not an object file or lacks one of them)."""
    with phase("link"):
        return _link_object(obj, symbols, imports)


def _link_object(obj: bytes, symbols: list[str], imports: dict[str, int]) -> dict[str, int]:
    t0 = time.perf_counter()
    lib = llvm.JITLibraryBuilder().add_object_img(obj).add_current_process()
    for sym, addr in imports.items():
        lib.import_symbol(sym, addr)
    for sym in symbols:
        lib.export_symbol(sym)
    tracker = lib.link(host()["lljit"], f"symgraph{next(_names)}")
    try:
        addrs = {sym: tracker[sym] for sym in symbols}
    except (KeyError, RuntimeError) as e:
        raise RuntimeError(f"symbols missing from the object: {e}") from None
    _trackers.append(tracker)
    stats["load_seconds"] += time.perf_counter() - t0
    return addrs
