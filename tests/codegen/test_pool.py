"""codegen.llvm.pool: parallel kernel calls give the single-thread results, from several
Python threads at once, across thread-count changes and in a forked child."""
from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import numpy as np
import pytest

from codegen.kernel import Buffer, Instr, Kernel, Store
from codegen.interpret import interpret
from codegen.llvm import compile_kernels, get_num_threads, pool, set_num_threads
from codegen.llvm.run import PARALLEL_MIN, cost

F = "float32"
needs_pool = pytest.mark.skipif(not pool.AVAILABLE, reason="the thread pool needs Linux")


def _kernels() -> list[Kernel]:
    ew = Kernel("scale", (Buffer("x", F, 2),), (Buffer("y", F, 2),), 2,
                (Instr("load", F, (), 0), Instr("const", F, (), 3.0), Instr("mul", F, (0, 1))),
                (Store(2),))
    rows = Kernel("rowsum", (Buffer("x", F, 2),), (Buffer("y", F, 2),), 2,
                  (Instr("load", F, (), 0),), (Store(0, "add", (1,)),))
    cols = Kernel("colmax", (Buffer("x", F, 2),), (Buffer("y", F, 2),), 2,
                  (Instr("load", F, (), 0),), (Store(0, "max", (0,)),))
    return [ew, rows, cols]


@pytest.fixture(scope="module")
def compiled():
    return list(zip(_kernels(), compile_kernels(_kernels())))


@pytest.fixture
def threads():
    n = get_num_threads()
    yield set_num_threads
    set_num_threads(n)


@needs_pool
@pytest.mark.parametrize("rows", [1, 3, 64, 333, 4096])
@pytest.mark.parametrize("nthreads", [1, 2, 3, 5])
def test_split_calls_match_the_reference(compiled, threads, rows, nthreads):
    """Every chunking (rows not a multiple of the chunk, fewer rows than threads, more
    threads than cores) covers the domain exactly once, with the single thread's
    results bit for bit."""
    x = np.random.default_rng(rows).standard_normal((rows, 257)).astype(F)
    layouts = (x, np.asfortranarray(x), x[::-1])
    threads(1)
    one = [[ck([a])[0] for a in layouts] for _, ck in compiled]
    threads(nthreads)
    for (k, ck), want in zip(compiled, one):
        for a, w in zip(layouts, want):
            got = ck([a])[0]
            np.testing.assert_array_equal(got, w)
            # float32 sums in another order: the rounding of 257 terms
            np.testing.assert_allclose(got, interpret(k, [a])[0], rtol=1e-5, atol=1e-4)


@needs_pool
def test_large_calls_use_the_workers(compiled, threads):
    threads(3)
    k, ck = compiled[0]
    x = np.ones((PARALLEL_MIN // cost(k) * 4, 1), F)
    ck([x])
    assert pool.workers() == 2
    threads(1)
    assert pool.workers() == 0
    np.testing.assert_array_equal(ck([x])[0], 3 * x)


@needs_pool
def test_callers_on_several_threads(compiled, threads):
    """Concurrent callers share the pool: one job runs on it, the others alone."""
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((2000, 300)).astype(F) for _ in range(4)]
    threads(1)
    want = [[ck([x])[0] for _, ck in compiled] for x in xs]
    threads(2)
    errors = []

    def work(i):
        try:
            for _ in range(20):
                for (k, ck), w in zip(compiled, want[i]):
                    np.testing.assert_array_equal(ck([xs[i]])[0], w)
        except Exception as e:     # reported by the main thread
            errors.append(e)
    ts = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert not errors, errors[0]


def _in_child(conn) -> None:
    from codegen.llvm import compile_kernel
    k = _kernels()[0]
    x = np.ones((4096, 64), F)
    conn.send(bool(np.array_equal(compile_kernel(k)([x])[0], 3 * x)))


@needs_pool
def test_forked_child_runs_parallel_calls(compiled, threads):
    """The child of a fork has none of its parent's workers; its calls still complete."""
    threads(2)
    k, ck = compiled[0]
    ck([np.ones((4096, 64), F)])           # the parent's pool is running
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    p = ctx.Process(target=_in_child, args=(child,))
    p.start()
    assert parent.poll(60), "the forked child hung"
    assert parent.recv()
    p.join(10)


def test_platforms_without_futexes_run_jobs_on_the_caller():
    """Where the pool cannot start workers, its module references no syscall (so kernels
    still link) and a job runs whole on the calling thread."""
    import ctypes
    from codegen.llvm import jit
    text = pool._alone_ir()
    assert "syscall" not in text
    addrs = jit.load_module("test_pool_alone", lambda: text, ["sg_pool_run"])
    calls = []
    task = ctypes.CFUNCTYPE(None, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p)(
        lambda lo, hi, argv: calls.append((lo, hi)))
    run = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64,
                           ctypes.c_int64)(addrs["sg_pool_run"])
    run(ctypes.cast(task, ctypes.c_void_p), None, 1000, 64)
    assert calls == [(0, 1000)]


@needs_pool
def test_a_system_that_refuses_threads_gets_a_smaller_pool(compiled, threads, monkeypatch):
    """Under a thread or address-space limit starting a worker fails: the pool runs on
    the workers it could start, warns once, and calls still give the right results."""
    real = threading.Thread

    class Refusing(real):
        started = 0

        def start(self):
            if Refusing.started >= 1:
                raise RuntimeError("can't start new thread")
            Refusing.started += 1
            super().start()
    monkeypatch.setattr(pool.threading, "Thread", Refusing)
    with pytest.warns(RuntimeWarning, match="started 1 of the 7 workers"):
        pool.start(8)
    assert pool.workers() == 1
    monkeypatch.setattr(pool.threading, "Thread", real)
    k, ck = compiled[0]
    x = np.ones((4096, 257), F)
    threads(8)
    np.testing.assert_array_equal(ck([x])[0], 3 * x)
    pool.start(2)
    assert pool.workers() == 1


_PRELOAD = r"""
import json, sys, threading, time
from codegen import profile
from codegen.llvm import BACKEND, pool
before = profile.snapshot()
BACKEND.prepare()                        # what sg.function does before rewriting
names = [t.name for t in threading.enumerate()]
BACKEND.prepare()                        # a second compile starts no second load
again = sum(t.name == "symgraph-pool-load" for t in threading.enumerate())
address = pool.run_address()             # waits for the load in flight, loads nothing twice
from codegen import settings
pool.ensure(settings.num_threads)        # waits for the workers it started, starts none
print(json.dumps({"thread": "symgraph-pool-load" in names, "again": again,
                  "address": address, "phases": sorted(profile.since(before)),
                  "workers": pool.workers(), "threads": settings.num_threads,
                  "available": pool.AVAILABLE}))
"""


def test_a_compile_loads_the_pool_module_in_the_background(tmp_path):
    """``prepare`` loads the pool's module on a thread of its own while the compile
    rewrites, and starts the workers there; the compile's own call then waits for it
    (one load, one start), and the background phases are named as such in the compile
    profile."""
    import json
    import os
    import subprocess
    import sys
    env = {**os.environ, "SYMGRAPH_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", _PRELOAD], capture_output=True, text=True,
                         env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout.strip().splitlines()[-1])
    assert got["thread"] and got["again"] <= 1 and got["address"]
    assert "llvm start (background)" in got["phases"]     # (compiled, or from the cache)
    assert not [p for p in got["phases"] if not p.endswith("(background)")]
    # and the workers for the configured thread count started there too
    assert got["workers"] == (got["threads"] - 1 if got["available"] else 0)


_FORK_DURING_PRELOAD = r"""
import os, sys
import numpy as np
from codegen.llvm import BACKEND, compile_kernel
from tests.codegen.test_pool import _kernels
BACKEND.prepare()                 # the pool's module loads in the background...
pid = os.fork()                   # ...and a fork waits for it
if pid == 0:
    k = _kernels()[0]
    x = np.ones((4096, 64), np.float32)
    os._exit(0 if np.array_equal(compile_kernel(k)([x])[0], 3 * x) else 1)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""


@needs_pool
def test_a_fork_while_the_pool_module_loads_gives_a_working_child(tmp_path):
    import os
    import subprocess
    import sys
    env = {**os.environ, "SYMGRAPH_CACHE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", _FORK_DURING_PRELOAD], capture_output=True,
                         text=True, env=env, timeout=120, cwd=str(Path(__file__).parents[2]))
    assert out.returncode == 0, out.stderr
