"""From rendered kernels to callable machine code: host target, O2 pipeline, object cache.

All not-yet-loaded ``(kernel, signature)`` pairs of one request go into ONE module that is
optimized and compiled once (per-module setup dominates LLVM's cost for small kernels). The
object code is stored in the on-disk cache under a key of the request's contents, the host
CPU, llvmlite and the code generator's own source, and loaded into an ORC LLJIT instance;
a warm process loads the object and skips LLVM's optimizer and code generator entirely.

>>> from codegen.kernel import Buffer, Instr, Kernel, Store
>>> from codegen.llvm.emit import Signature
>>> k = Kernel("inc", (Buffer("x", "int32", 0),), (Buffer("y", "int32", 0),), 0,
...            (Instr("load", "int32", (), 0), Instr("const", "int32", (), 1),
...             Instr("add", "int32", (0, 1))), (Store(2),))
>>> addr, = load_kernels([(k, Signature("flat"))])
>>> addr > 0
True
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
from codegen.kernel import Kernel
from codegen.llvm import abi, emit
from codegen.llvm.emit import Signature

FORMAT_VERSION = "1"

_lock = threading.RLock()
_state: dict = {}
_loaded: dict[str, int] = {}          # symbol -> address, for everything loaded so far
_trackers: list = []                  # keep loaded libraries alive
_names = itertools.count()

stats = {"modules_compiled": 0, "kernels_compiled": 0, "kernels_loaded": 0, "cache_hits": 0,
         "cache_misses": 0, "compile_seconds": 0.0, "load_seconds": 0.0}
"""Counters for this process: LLVM compilations, kernels compiled and kernels loaded from
the disk cache, cache hits (objects loaded from disk), and time spent compiling and
loading."""

object_cache: _cache.DiskCache | None = _cache.DiskCache(namespace="llvm")
"""Where compiled objects are kept between processes; set to None to always compile."""


def _host() -> dict:
    """Target machine, JIT and cache version for this process, created at first use."""
    with _lock:
        if not _state:
            _state.update(_init_host())
        return _state


def _init_host() -> dict:
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
    tm = llvm.Target.from_triple(triple).create_target_machine(
        cpu=cpu, features=features, opt=3, jit=True, reloc="pic", codemodel="small")
    here = Path(emit.__file__).parent   # stale objects must not outlive a change of codegen
    source = hashlib.sha256(b"".join((here / f).read_bytes() for f in (
        "emit.py", "scalar.py", "vmath.py", "abi.py", "pool.py")))
    return dict(
        tm=tm, triple=triple, layout=str(tm.target_data), lljit=llvm.create_lljit_compiler(tm),
        attrs=['"prefer-vector-width"="512"'] if "+avx512f" in features.split(",") else [],
        version=_cache.cache_key(FORMAT_VERSION, llvmlite.__version__,
                                 str(llvm.llvm_version_info), cpu, features,
                                 str(emit.DATA_OFFSET), source.hexdigest()))


def compile_ir(text: str) -> bytes:
    """Optimize LLVM IR text at O2 (loop and SLP vectorization on) and return object code.
    O3 adds 20% to the time LLVM takes on a training step's kernels and made none of the
    benchmark workloads measurably faster: the vectorizers do the work that matters."""
    h = _host()
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
    pb = llvm.create_pass_builder(_host()["tm"], pto)
    pb.getModulePassManager().run(mod, pb)


def assembly(text: str) -> str:
    """The optimized host assembly of LLVM IR text, to check what the vectorizer did."""
    with _lock:
        mod = llvm.parse_assembly(text)
        _optimize(mod)
        return _host()["tm"].emit_assembly(mod)


def render(items: Sequence[tuple[Kernel, Signature]]) -> tuple[str, list[str]]:
    """LLVM IR text for the host, and the entry symbols, of ``items``."""
    h = _host()
    return emit.render_module(items, h["triple"], h["layout"], h["attrs"])


def load_kernels(items: Sequence[tuple[Kernel, Signature]]) -> list[int]:
    """Addresses of the Python entries (:mod:`codegen.llvm.abi`) of ``items``, compiling
    (as one module) or loading from the cache the ones this process has not loaded yet."""
    syms = [sig.symbol(k) for k, sig in items]
    with _lock:
        todo = sorted({s: ks for s, ks in zip(syms, items) if s not in _loaded}.items())
        if todo:
            from codegen.llvm import pool
            imports = {abi.POOL_RUN: pool.run_address()}
            addrs = _load([s for s, _ in todo], lambda: render([ks for _, ks in todo])[0],
                          imports)
            stats["kernels_compiled" if addrs.pop(None) else "kernels_loaded"] += len(todo)
            _loaded.update(addrs)
        return [_loaded[s] for s in syms]


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
    cached) into the JIT; the addresses of ``symbols``, and under None whether it compiled."""
    h = _host()
    key = _cache.cache_key(h["version"], name, *symbols)
    obj = object_cache.get(key) if object_cache is not None else None
    compiled = obj is None
    if compiled:
        stats["cache_misses"] += 1
        t0 = time.perf_counter()
        obj = compile_ir(text())
        stats["compile_seconds"] += time.perf_counter() - t0
        stats["modules_compiled"] += 1
        if object_cache is not None:
            object_cache.put(key, obj)
    else:
        stats["cache_hits"] += 1
    t0 = time.perf_counter()
    lib = llvm.JITLibraryBuilder().add_object_img(obj).add_current_process()
    for sym, addr in imports.items():
        lib.import_symbol(sym, addr)
    for sym in symbols:
        lib.export_symbol(sym)
    tracker = lib.link(h["lljit"], f"symgraph{next(_names)}")
    _trackers.append(tracker)
    stats["load_seconds"] += time.perf_counter() - t0
    return {None: compiled, **{sym: tracker[sym] for sym in symbols}}
