"""The on-disk object cache: integrity, atomicity, sharing between processes, and that
nobody but its owner can choose the code it runs (forged, swapped, linked or untrusted
entries and directories)."""
from __future__ import annotations

import multiprocessing
import os
import warnings
from pathlib import Path

import numpy as np
import pytest

from codegen import settings
from codegen.cache import DiskCache, cache_dir, cache_key


@pytest.fixture(autouse=True)
def own_key(tmp_path, monkeypatch):
    """Each test its own secret key, as a new user would have."""
    monkeypatch.setattr(settings, "cache_key_file", tmp_path / "config" / "cache.key")
    warnings.simplefilter("ignore", RuntimeWarning)


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
    with pytest.warns(RuntimeWarning, match="not a valid entry: removed"):
        assert c.get(k) is None and c.corrupt == 1
    assert not path.exists()
    c.put(k, b"recompiled")
    assert c.get(k) == b"recompiled"


def test_cache_dir_is_the_setting(monkeypatch, tmp_path):
    """codegen reads no environment: the directory is what its user set."""
    monkeypatch.setattr(settings, "cache_dir", tmp_path / "a")
    assert cache_dir() == tmp_path / "a"
    assert DiskCache().directory == tmp_path / "a" / "llvm"


def test_an_unusable_directory_keeps_the_cache_in_memory(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_bytes(b"")
    c = DiskCache(blocker)          # its directory cannot be created under a file
    with pytest.warns(RuntimeWarning, match="kept in memory only"):
        c.put("k", b"data")
    assert c.get("k") == b"data" and not any(tmp_path.glob("file*/*"))


def test_the_directory_and_key_are_private(tmp_path):
    c = DiskCache(tmp_path / "new")
    c.put("k", b"x")
    assert (tmp_path / "new" / "llvm").stat().st_mode & 0o777 == 0o700
    assert settings.cache_key_file.stat().st_mode & 0o777 == 0o600
    assert c.path("k").stat().st_mode & 0o077 == 0


@pytest.mark.parametrize("what", ["directory", "key"])
def test_a_directory_or_key_others_may_write_is_not_used(tmp_path, what):
    d = tmp_path / "shared"
    DiskCache(d).put("k", b"ours")
    if what == "directory":
        os.chmod(d / "llvm", 0o777)
    else:
        os.chmod(settings.cache_key_file, 0o644)
    c = DiskCache(d)
    with pytest.warns(RuntimeWarning, match="not private to this user"):
        assert c.get("k") is None           # nothing on disk is trusted now
    c.put("k2", b"kept")
    assert c.get("k2") == b"kept" and not (d / "llvm" / "k2.obj").exists()


def test_a_forged_or_swapped_entry_is_refused(tmp_path):
    """The header's HMAC covers the key and the payload under this user's secret: an
    entry written with another secret, or moved to another key, fails it."""
    c = DiskCache(tmp_path)
    c.put("a", b"code a")
    c.put("b", b"code b")
    os.replace(c.path("a"), c.path("b"))          # swapped
    assert c.get("b") is None and not c.path("b").exists()
    settings.cache_key_file = tmp_path / "attacker.key"
    DiskCache(tmp_path).put("a", b"planted code")
    settings.cache_key_file = tmp_path / "config" / "cache.key"
    assert c.get("a") is None and not c.path("a").exists()


def test_a_link_is_not_followed_and_a_length_not_believed(tmp_path):
    c = DiskCache(tmp_path)
    c.path("a").parent.mkdir(parents=True, exist_ok=True)
    os.symlink("/dev/zero", c.path("a"))          # would read without end
    assert c.get("a") is None
    c.put("b", b"abc")
    blob = bytearray(c.path("b").read_bytes())
    blob[8:16] = (1 << 62).to_bytes(8, "little")   # a header claiming 4 EiB
    c.path("b").write_bytes(bytes(blob))
    assert c.get("b") is None


def _compile_in_child(cache: str) -> dict:
    """In a fresh process: compile a kernel with the cache at ``cache``, run it, and report
    this process's JIT counters."""
    from codegen import settings
    settings.cache_dir = Path(cache)
    settings.cache_key_file = Path(cache).parent / "cache.key"
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
    # each process compiled a module or found it, written by the other, in the cache
    assert all(len(entries) == r["modules_compiled"] + r["cache_hits"] for r in results)
    assert all(e.suffix == ".obj" for e in entries)
    for e in entries:
        e.write_bytes(e.read_bytes()[:100])
    again = spawn.apply(_compile_in_child, (str(tmp_path),))
    assert again["ok"] and again["modules_compiled"] == len(entries)
    assert again["cache_hits"] == 0
    last = spawn.apply(_compile_in_child, (str(tmp_path),))
    assert last["ok"] and last["cache_hits"] == len(entries) and last["modules_compiled"] == 0


def test_an_entry_that_does_not_link_is_compiled_again(tmp_path, monkeypatch):
    """A well-formed entry whose payload is not object code (or lacks the symbols) made
    every later process fail; it is discarded, with a warning, and compiled again."""
    from codegen.llvm import jit
    monkeypatch.setattr(jit, "object_cache", DiskCache(tmp_path))
    ir_text = "define i32 @sg_cache_test_answer() { ret i32 42 }"
    key = cache_key(jit.host()["version"], "", "sg_cache_test_answer")
    jit.object_cache.put(key, b"not an object file" * 40)
    with pytest.warns(RuntimeWarning, match="does not link: removed"):
        (addr,) = jit.load(["sg_cache_test_answer"], lambda missing: ir_text)
    import ctypes
    assert ctypes.CFUNCTYPE(ctypes.c_int32)(addr)() == 42
    assert jit.object_cache.get(key)[:4] == b"\x7fELF"      # the real object, cached now
