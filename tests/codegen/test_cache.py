"""The on-disk object cache: integrity, atomicity, and sharing between processes."""
from __future__ import annotations

import multiprocessing
from pathlib import Path

import numpy as np
import pytest

from codegen import settings
from codegen.cache import DiskCache, cache_dir, cache_key


def test_roundtrip_and_keys(tmp_path):
    c = DiskCache(tmp_path, namespace="t")
    k = cache_key("a", "bc")
    assert k != cache_key("ab", "c") and len(k) == 64
    assert c.get(k) is None and c.misses == 1
    c.put(k, b"\x00object\xff" * 100)
    assert c.get(k) == b"\x00object\xff" * 100 and c.hits == 1
    c.put(k, b"newer")
    assert c.get(k) == b"newer"
    assert [p.name for p in (tmp_path / "t").iterdir()] == [f"{k}.obj"]   # no temp files left


@pytest.mark.parametrize("damage", ["truncate", "flip", "empty", "garbage"])
def test_corrupt_entries_are_detected_and_removed(tmp_path, damage):
    c = DiskCache(tmp_path)
    k = cache_key("kernel")
    c.put(k, bytes(range(256)) * 10)
    path = c.path(k)
    blob = path.read_bytes()
    path.write_bytes({"truncate": blob[:-7], "flip": blob[:-1] + bytes([blob[-1] ^ 1]),
                      "empty": b"", "garbage": b"not a cache entry at all"}[damage])
    assert c.get(k) is None and c.corrupt == 1
    assert not path.exists()
    c.put(k, b"recompiled")
    assert c.get(k) == b"recompiled"


def test_cache_dir_is_the_setting(monkeypatch, tmp_path):
    """codegen reads no environment: the directory is what its user set."""
    monkeypatch.setattr(settings, "cache_dir", tmp_path / "a")
    assert cache_dir() == tmp_path / "a"
    assert DiskCache().directory == tmp_path / "a" / "llvm"


def test_unwritable_cache_only_costs_speed(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    c = DiskCache(blocker)          # its directory cannot be created under a file
    c.put("k", b"data")
    assert c.get("k") is None and c.writes == 0


def _compile_in_child(cache: str) -> dict:
    """In a fresh process: compile a kernel with the cache at ``cache``, run it, and report
    this process's JIT counters."""
    from codegen import settings
    settings.cache_dir = Path(cache)
    from codegen.kernel import Buffer, Instr, Kernel, Store
    from codegen.llvm import compile_kernel, stats
    k = Kernel("affine", (Buffer("x", "float64", 1),), (Buffer("y", "float64", 1),), 1,
               (Instr("load", "float64", (), 0), Instr("const", "float64", (), 3.0),
                Instr("mul", "float64", (0, 1)), Instr("exp", "float64", (0,)),
                Instr("sub", "float64", (2, 3))), (Store(4),))
    x = np.linspace(-2, 2, 1001)
    ok = np.allclose(compile_kernel(k)([x])[0], 3 * x - np.exp(x), rtol=1e-13)
    return dict(stats, ok=bool(ok))


@pytest.fixture(scope="module")
def spawn():
    """Two worker processes, each task in a fresh one (nothing loaded in memory yet)."""
    with multiprocessing.get_context("spawn").Pool(2, maxtasksperchild=1) as pool:
        yield pool


def test_second_process_is_served_from_cache(tmp_path, spawn):
    first = spawn.apply(_compile_in_child, (str(tmp_path),))
    assert first["ok"] and first["symbols_compiled"] == 1 and first["cache_hits"] == 0
    second = spawn.apply(_compile_in_child, (str(tmp_path),))
    # nothing compiles in the second process: neither the kernel nor the thread pool
    assert second["ok"] and second["modules_compiled"] == 0 and second["symbols_loaded"] == 1
    assert second["cache_hits"] == first["modules_compiled"]


def test_concurrent_compiles_then_corruption(tmp_path, spawn):
    """Two processes compile the same kernel at once: both work, one valid entry remains.
    Then the entry is truncated: the next process notices, recompiles and repairs it."""
    results = spawn.map(_compile_in_child, [str(tmp_path)] * 2)
    assert all(r["ok"] for r in results)
    entries = list((tmp_path / "llvm").iterdir())     # the kernel's, the thread pool's
    assert len(entries) == results[0]["modules_compiled"]
    assert all(e.suffix == ".obj" for e in entries)
    for e in entries:
        e.write_bytes(e.read_bytes()[:100])
    again = spawn.apply(_compile_in_child, (str(tmp_path),))
    assert again["ok"] and again["modules_compiled"] == len(entries)
    assert again["cache_hits"] == 0
    last = spawn.apply(_compile_in_child, (str(tmp_path),))
    assert last["ok"] and last["cache_hits"] == len(entries) and last["modules_compiled"] == 0
