"""A generic module compiler: LLVM IR text to callable machine code for the host (target,
O2 pipeline, object cache, ORC JIT). It knows nothing of kernels or of the thread pool:
callers render the IR and name the symbols they want.

:func:`load` compiles only the symbols this process has not loaded yet, as ONE module (per-
module setup dominates LLVM's cost for small functions). The object code is stored in the
on-disk cache under a key of the symbols, the host CPU, llvmlite and the code generator's
own source, and linked into an ORC LLJIT instance; a warm process loads the object and
skips LLVM's optimizer and code generator entirely.

>>> ir_text = "define i32 @sg_doc_answer() { ret i32 42 }"
>>> addr, = load(["sg_doc_answer"], lambda missing: ir_text)
>>> import ctypes; ctypes.CFUNCTYPE(ctypes.c_int32)(addr)()
42
"""
from __future__ import annotations

import hashlib
import itertools
import threading
import time
from pathlib import Path
from typing import Callable, Sequence

import llvmlite
import llvmlite.binding as llvm

from codegen import cache as _cache

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
    with _lock:
        if not _state:
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
        tm=tm, triple=triple, layout=str(tm.target_data), lljit=llvm.create_lljit_compiler(tm),
        attrs=['"prefer-vector-width"="512"'] if "+avx512f" in flags else [],
        vector_bits=512 if "+avx512f" in flags else 256 if "+avx" in flags else 128,
        version=_cache.cache_key(FORMAT_VERSION, llvmlite.__version__,
                                 str(llvm.llvm_version_info), cpu, features,
                                 str(object.__basicsize__), source.hexdigest()))


def compile_ir(text: str) -> bytes:
    """Optimize LLVM IR text at O2 (loop and SLP vectorization on) and return object code.
    O3 adds 20% to the time LLVM takes on a training step's kernels and made none of the
    benchmark workloads measurably faster: the vectorizers do the work that matters."""
    h = host()
    mod = llvm.parse_assembly(text)
    mod.verify()
    _optimize(mod)
    return h["tm"].emit_object(mod)


def _optimize(mod: llvm.ModuleRef) -> None:
    pto = llvm.create_pipeline_tuning_options(speed_level=2)
    pto.loop_vectorization = pto.slp_vectorization = pto.loop_interleaving = True
    # The vectorizer's interleaving already unrolls the loops that matter; runtime
    # unrolling of their scalar remainders only costs compile time.
    pto.loop_unrolling = False
    pb = llvm.create_pass_builder(host()["tm"], pto)
    pb.getModulePassManager().run(mod, pb)


def assembly(text: str) -> str:
    """The optimized host assembly of LLVM IR text, to check what the vectorizer did."""
    with _lock:
        mod = llvm.parse_assembly(text)
        _optimize(mod)
        return host()["tm"].emit_assembly(mod)


def load(symbols: Sequence[str], render: Callable[[list[str]], str],
         imports: dict[str, int] | None = None) -> list[int]:
    """Addresses of ``symbols``, compiling (as one module) or loading from the cache the
    ones this process has not loaded yet: ``render(missing)`` gives the IR text of a
    module defining those; ``imports`` resolve the module's external symbols."""
    with _lock:
        todo = sorted(set(s for s in symbols if s not in _loaded))
        if todo:
            addrs = _load(todo, lambda: render(todo), imports or {})
            stats["symbols_compiled" if addrs.pop(None) else "symbols_loaded"] += len(todo)
            _loaded.update(addrs)
        return [_loaded[s] for s in symbols]


def load_module(name: str, render_ir: Callable[[], str], symbols: Sequence[str]
                ) -> dict[str, int]:
    """Load the module named ``name`` from the cache, or compile the LLVM IR text that
    ``render_ir()`` gives (and cache it); the addresses of its ``symbols``."""
    with _lock:
        addrs = _load(list(symbols), render_ir, {}, name)
        addrs.pop(None)
        return addrs


def _load(symbols: list[str], text, imports: dict[str, int], name: str = "") -> dict:
    """Link the object of the module ``text()`` renders (from the cache, else compiled and
    cached) into the JIT; the addresses of ``symbols``, and under None whether it compiled.
    A cached object that does not link is discarded (with a warning) and compiled again."""
    h = host()
    key = _cache.cache_key(h["version"], name, *symbols)
    obj = object_cache.get(key) if object_cache is not None else None
    if obj is not None:
        stats["cache_hits"] += 1
        try:
            return {None: False, **_link(obj, symbols, imports)}
        except RuntimeError:            # not an object file, or one without these symbols
            object_cache.discard(key, "does not link")
    stats["cache_misses"] += 1
    t0 = time.perf_counter()
    obj = compile_ir(text())
    stats["compile_seconds"] += time.perf_counter() - t0
    stats["modules_compiled"] += 1
    if object_cache is not None:
        object_cache.put(key, obj)
    return {None: True, **_link(obj, symbols, imports)}


def _link(obj: bytes, symbols: list[str], imports: dict[str, int]) -> dict[str, int]:
    """Link object code into the JIT; the addresses of ``symbols`` (RuntimeError if it is
    not an object file or lacks one of them)."""
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
