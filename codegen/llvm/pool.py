"""A persistent pool of worker threads that runs kernel ranges in native code.

The pool is a small LLVM module of its own: its state is a handful of global variables,
workers and callers synchronize with atomics, and a thread with nothing to do spins for a
moment, then sleeps on a Linux futex. No Python runs on the workers and no Python lock is
taken per job, so splitting a kernel costs a few microseconds, not the tens that a Python
thread pool costs (each of its workers must take the GIL to start its part).

A job is ``task(lo, hi, argv)`` over ``[0, extent)`` in chunks of ``grain`` iterations:
the caller and the workers claim chunks until none are left (dynamic scheduling: a thread
the machine slows down takes fewer), and the caller returns once every chunk is done. It
never waits for a worker that claimed nothing: on a busy machine (a BLAS library's
threads spinning after a matrix product, say) a worker may wake late, and the caller has
done its chunks meanwhile. A negative ``grain`` posts chunks of ``-grain`` to the workers
that are awake (still spinning after a job) and wakes none: the wake is a system call the
caller makes, and on a virtual machine, where it interrupts an idle virtual CPU, it costs
the caller more than a small job gains from a second thread. A claim names the job's
generation with the chunks left, in one 64-bit word changed by compare-and-swap, so a
worker waking for a job that has ended claims nothing of the next. Kernels call
``sg_pool_run(task, argv, extent, grain)`` from native code with the GIL released. One job
runs at a time; a caller that finds the pool busy runs its job alone, on its own thread,
and so does every caller while the pool is being reconfigured.

Workers are Python threads that call the native worker loop through ctypes (which
releases the GIL) and stay in it until the pool stops. After ``os.fork`` the child has no
workers: its jobs run alone until :func:`ensure` starts its pool (which ``codegen.llvm``
does when it plans a new parallel call, or at ``set_num_threads``).

>>> start(2); workers()
1
"""
from __future__ import annotations

import atexit
import ctypes
import os
import platform
import sys
import threading
import time
import warnings

import llvmlite.ir as ir

from codegen import profile, settings
from codegen.llvm import jit

I32, I64, PTR = ir.IntType(32), ir.IntType(64), ir.PointerType()
VOID = ir.VoidType()
TASK = ir.FunctionType(VOID, [I64, I64, PTR])
"""``void task(int64 lo, int64 hi, void *argv)``: one chunk of a job."""

SPIN = 1000
"""Spin-loop iterations (a pause instruction each: some ten microseconds in all) that a
thread waits actively before it sleeps: a job that follows at once finds the workers
awake, and a pool between jobs costs no CPU. Longer spins make back-to-back jobs faster
but steal the cores a BLAS library's own threads use next (measured on a 2-core machine:
a training step with matrix products slowed by 20% at 8000)."""

_FUTEX_NR = {"x86_64": 202, "AMD64": 202, "aarch64": 98, "arm64": 98}.get(platform.machine())
_FUTEX_WAIT, _FUTEX_WAKE = 128, 129            # FUTEX_WAIT_PRIVATE, FUTEX_WAKE_PRIVATE
AVAILABLE = sys.platform.startswith("linux") and _FUTEX_NR is not None
"""Whether this platform has the pool (it needs Linux futexes); elsewhere every kernel
runs on its calling thread."""

_WORDS = ("gen", "done", "nchunks", "sleepers", "waiting", "busy", "stop", "ready",
          "nworkers")
_JOB = (("task", PTR), ("argv", PTR), ("extent", I64), ("grain", I64), ("claim", I64))
FUNCTIONS = ("sg_pool_worker", "sg_pool_run", "sg_pool_acquire", "sg_pool_release",
             "sg_pool_set_workers", "sg_pool_ready", "sg_pool_shutdown", "sg_pool_reset")


class _Callee:
    """A function pointer as a call target (llvmlite calls need a function type)."""

    def __init__(self, ptr: ir.Value, ftype: ir.FunctionType):
        self.ptr, self.function_type, self.type = ptr, ftype, ptr.type

    def get_reference(self) -> str:
        return self.ptr.get_reference()


class _Module:
    """Builds the pool's functions. Every shared word gets a cache line of its own."""

    def __init__(self):
        self.mod = ir.Module("symgraph_pool")
        self.g: dict[str, ir.GlobalVariable] = {}
        for name, t in [*((w, I32) for w in _WORDS), *_JOB]:
            v = ir.GlobalVariable(self.mod, t, f"sg_pool.{name}")
            v.initializer = ir.Constant(t, None if t is PTR else 0)
            v.align, v.linkage = 64, "internal"
            self.g[name] = v
        self.syscall = ir.Function(self.mod, ir.FunctionType(I64, [I64], var_arg=True),
                                   "syscall")
        # the spin-wait hint: x86's pause, Arm's yield
        if platform.machine() in ("x86_64", "AMD64"):
            self.pause = (ir.Function(self.mod, ir.FunctionType(VOID, []),
                                      "llvm.x86.sse2.pause"), [])
        else:
            self.pause = (ir.Function(self.mod, ir.FunctionType(VOID, [I32]),
                                      "llvm.aarch64.hint"), [ir.Constant(I32, 1)])

    def function(self, name: str, ret=VOID, args=()) -> tuple[ir.Function, ir.IRBuilder]:
        fn = ir.Function(self.mod, ir.FunctionType(ret, list(args)), name)
        return fn, ir.IRBuilder(fn.append_basic_block("entry"))

    def load(self, b: ir.IRBuilder, name: str, order: str = "seq_cst") -> ir.Value:
        v = self.g[name]
        return b.load_atomic(v, order, 4 if v.value_type is I32 else 8, typ=v.value_type)

    def store(self, b: ir.IRBuilder, name: str, value, order: str = "seq_cst") -> None:
        v = self.g[name]
        if not isinstance(value, ir.Value):
            value = ir.Constant(v.value_type, value)
        # IRBuilder.store_atomic predates opaque pointers: insert the instruction itself
        b._insert(ir.instructions.StoreAtomicInstr(b.block, value, v, order,
                                                   4 if v.value_type is I32 else 8))

    def add(self, b: ir.IRBuilder, name: str, n: int) -> ir.Value:
        """Atomically add ``n`` to a word; its value before."""
        return b.atomic_rmw("add", self.g[name], ir.Constant(I32, n), "seq_cst")

    def futex(self, b: ir.IRBuilder, name: str, op: int, val) -> None:
        if not isinstance(val, ir.Value):
            val = ir.Constant(I32, val)
        b.call(self.syscall, [ir.Constant(I64, _FUTEX_NR), self.g[name], ir.Constant(I32, op),
                              val, ir.Constant(PTR, None), ir.Constant(PTR, None),
                              ir.Constant(I32, 0)])

    def wait(self, fn: ir.Function, b: ir.IRBuilder, name: str, done, sleep) -> ir.Value:
        """Spin up to SPIN times, then ``sleep(b)`` (which sleeps on the futex unless the
        wait is over) and check again, until ``done(b, value of name)``; the value."""
        spin, pause, slept, out = (fn.append_basic_block(n) for n in
                                   ("spin", "pause", "sleep", "waited"))
        pre = b.block
        b.branch(spin)
        b.position_at_end(spin)
        i = b.phi(I32)
        i.add_incoming(ir.Constant(I32, 0), pre)
        cur = self.load(b, name)
        b.cbranch(done(b, cur), out, pause)
        b.position_at_end(pause)
        b.call(*self.pause)
        i2 = b.add(i, ir.Constant(I32, 1))
        b.cbranch(b.icmp_signed("<", i2, ir.Constant(I32, SPIN)), spin, slept)
        i.add_incoming(i2, pause)
        b.position_at_end(slept)
        sleep(b)
        i.add_incoming(ir.Constant(I32, SPIN - 1), b.block)   # after a wake: check, sleep
        b.branch(spin)
        b.position_at_end(out)
        return cur

    def work(self, fn: ir.Function, b: ir.IRBuilder, gen: ir.Value) -> None:
        """Claim and run chunks of job ``gen`` until none are left. The job's fields are
        read before a claim: they are the job's own if the claim succeeds, since a job's
        fields change only after all its chunks are done."""
        task = _Callee(self.load(b, "task", "monotonic"), TASK)
        argv, extent, grain = (self.load(b, n, "monotonic") for n in ("argv", "extent", "grain"))
        n = b.zext(self.load(b, "nchunks", "monotonic"), I64)
        tag = b.shl(b.zext(gen, I64), ir.Constant(I64, 32))
        low = ir.Constant(I64, 0xFFFFFFFF)
        head, try_, run, out = (fn.append_basic_block(x) for x in
                                ("claim", "try_claim", "run_chunk", "worked"))
        first = self.load(b, "claim", "acquire")
        pre = b.block
        b.branch(head)
        b.position_at_end(head)
        c = b.phi(I64)
        c.add_incoming(first, pre)
        left = b.and_(c, low)
        live = b.and_(b.icmp_unsigned("==", b.and_(c, b.not_(low)), tag),
                      b.icmp_unsigned("!=", left, ir.Constant(I64, 0)))
        b.cbranch(live, try_, out)
        b.position_at_end(try_)
        swap = b.cmpxchg(self.g["claim"], c, b.sub(c, ir.Constant(I64, 1)), "acq_rel",
                         "acquire")
        c.add_incoming(b.extract_value(swap, 0), try_)
        b.cbranch(b.extract_value(swap, 1), run, head)
        b.position_at_end(run)
        lo = b.mul(b.sub(n, left), grain)
        hi = b.add(lo, grain)
        b.call(task, [lo, b.select(b.icmp_signed("<", hi, extent), hi, extent), argv])
        finished = b.add(self.add(b, "done", 1), ir.Constant(I32, 1))
        last = b.icmp_unsigned("==", b.zext(finished, I64), n)
        with b.if_then(b.and_(last, b.icmp_unsigned("!=", self.load(b, "waiting"),
                                                    ir.Constant(I32, 0)))):
            self.futex(b, "done", _FUTEX_WAKE, 1)
        latest = self.load(b, "claim", "acquire")
        c.add_incoming(latest, b.block)
        b.branch(head)
        b.position_at_end(out)


def module_ir() -> str:
    """The pool's LLVM IR: the functions named in :data:`FUNCTIONS`."""
    if not AVAILABLE:
        return _alone_ir()
    m = _Module()
    _worker(m)
    _run(m)
    _controls(m)
    return str(m.mod)


def _worker(m: _Module) -> None:
    """``sg_pool_worker``: wait for the next generation, work on its job, until stopped."""
    zero = ir.Constant(I32, 0)
    fn, b = m.function("sg_pool_worker")
    seen0 = m.load(b, "gen")
    m.add(b, "ready", 1)
    entry, loop = b.block, fn.append_basic_block("loop")
    b.branch(loop)
    b.position_at_end(loop)
    seen = b.phi(I32)
    seen.add_incoming(seen0, entry)

    def sleep_on_gen(b):
        m.add(b, "sleepers", 1)
        m.futex(b, "gen", _FUTEX_WAIT, seen)      # returns at once if gen moved on
        m.add(b, "sleepers", -1)
    gen = m.wait(fn, b, "gen", lambda b, cur: b.icmp_unsigned("!=", cur, seen), sleep_on_gen)
    with b.if_then(b.icmp_unsigned("!=", m.load(b, "stop"), zero)):
        b.ret_void()
    m.work(fn, b, gen)
    seen.add_incoming(gen, b.block)
    b.branch(loop)


def _run(m: _Module) -> None:
    """``sg_pool_run``: post the job (or run it alone), wake the sleeping workers unless
    ``grain`` is negative, work on it too, wait until its chunks are done."""
    zero = ir.Constant(I32, 0)
    fn, b = m.function("sg_pool_run", VOID, [PTR, PTR, I64, I64])
    task, argv, extent, grain = fn.args
    got = b.extract_value(b.cmpxchg(m.g["busy"], zero, ir.Constant(I32, 1), "seq_cst",
                                    "seq_cst"), 1)
    with b.if_then(b.not_(b.and_(got, b.icmp_unsigned("!=", m.load(b, "nworkers"), zero)))):
        with b.if_then(got):
            m.store(b, "busy", 0)
        b.call(_Callee(task, TASK), [ir.Constant(I64, 0), extent, argv])
        b.ret_void()
    wake = b.icmp_signed(">", grain, ir.Constant(I64, 0))
    grain = b.select(wake, grain, b.neg(grain))
    n = b.trunc(b.sdiv(b.add(extent, b.sub(grain, ir.Constant(I64, 1))), grain), I32)
    gen = b.add(m.load(b, "gen"), ir.Constant(I32, 1))
    for name, v in (("task", task), ("argv", argv), ("extent", extent), ("grain", grain),
                    ("nchunks", n), ("done", zero)):
        m.store(b, name, v, "monotonic")
    m.store(b, "claim", b.or_(b.shl(b.zext(gen, I64), ir.Constant(I64, 32)), b.zext(n, I64)),
            "release")
    m.store(b, "gen", gen)                        # publishes the job (seq_cst)
    with b.if_then(b.and_(wake, b.icmp_unsigned("!=", m.load(b, "sleepers"), zero))):
        m.futex(b, "gen", _FUTEX_WAKE, 2 ** 31 - 1)
    m.work(fn, b, gen)

    def sleep_on_done(b):
        m.store(b, "waiting", 1)
        finished = m.load(b, "done")
        with b.if_then(b.icmp_unsigned("!=", finished, n)):
            m.futex(b, "done", _FUTEX_WAIT, finished)
        m.store(b, "waiting", 0)
    m.wait(fn, b, "done", lambda b, cur: b.icmp_unsigned("==", cur, n), sleep_on_done)
    m.store(b, "busy", 0)
    b.ret_void()


def _controls(m: _Module) -> None:
    """The control functions Python calls: take and give back the pool, size it, stop
    and reset it."""
    zero = ir.Constant(I32, 0)
    fn, b = m.function("sg_pool_acquire", I32)
    b.ret(b.zext(b.extract_value(b.cmpxchg(m.g["busy"], zero, ir.Constant(I32, 1),
                                           "seq_cst", "seq_cst"), 1), I32))
    fn, b = m.function("sg_pool_release")
    m.store(b, "busy", 0)
    b.ret_void()
    fn, b = m.function("sg_pool_set_workers", VOID, [I32])
    m.store(b, "nworkers", fn.args[0])
    b.ret_void()
    fn, b = m.function("sg_pool_ready", I32)
    b.ret(m.load(b, "ready"))
    fn, b = m.function("sg_pool_shutdown")
    m.store(b, "stop", 1)
    m.add(b, "gen", 1)
    m.futex(b, "gen", _FUTEX_WAKE, 2 ** 31 - 1)
    b.ret_void()
    fn, b = m.function("sg_pool_reset")
    for name in ("stop", "ready", "nworkers", "busy", "sleepers", "waiting"):
        m.store(b, name, 0)
    b.ret_void()


def _alone_ir() -> str:
    """The pool where there are no futexes: every job runs on its caller's thread, and
    no syscall is referenced (a platform without one must still link the kernels)."""
    mod = ir.Module("symgraph_pool")
    for name in FUNCTIONS:
        ret = I32 if name in ("sg_pool_acquire", "sg_pool_ready") else VOID
        args = {"sg_pool_run": [PTR, PTR, I64, I64], "sg_pool_set_workers": [I32]}
        fn = ir.Function(mod, ir.FunctionType(ret, args.get(name, [])), name)
        b = ir.IRBuilder(fn.append_basic_block("entry"))
        if name == "sg_pool_run":
            task, argv, extent, _ = fn.args
            b.call(_Callee(task, TASK), [ir.Constant(I64, 0), extent, argv])
        if ret is VOID:
            b.ret_void()
        else:           # acquire always succeeds, and no worker is ever ready
            b.ret(ir.Constant(I32, int(name == "sg_pool_acquire")))
    return str(mod)


class _Pool:
    """The process's pool: its native functions and its worker threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.threads: list[threading.Thread] = []
        self.size: int | None = None      # the thread count jobs run on; None: not started
        self._fns: dict[str, ctypes._CFuncPtr] = {}
        self.addresses: dict[str, int] = {}
        self.loading = threading.Lock()       # held while the module loads
        self.preloader: threading.Thread | None = None     # the background load, if any

    def fn(self, name: str):
        if not self._fns:
            with self.loading:
                if not self._fns:
                    self._load()
        return self._fns[name]

    def _load(self) -> None:
        # the builder's IR is already what the pipeline would make of it; skipping
        # the pipeline halves the pool's share of a cold first compile (22 -> 10 ms)
        addresses = jit.load_module("symgraph_pool", module_ir, FUNCTIONS, optimize=False)
        i32 = ctypes.c_int32
        protos = {"sg_pool_acquire": ctypes.CFUNCTYPE(i32),
                  "sg_pool_ready": ctypes.CFUNCTYPE(i32),
                  "sg_pool_set_workers": ctypes.CFUNCTYPE(None, i32)}
        self.addresses = addresses
        self._fns = {n: protos.get(n, ctypes.CFUNCTYPE(None))(addresses[n])
                     for n in FUNCTIONS if n != "sg_pool_run"}

    def preload(self) -> None:
        """Load the module on a thread of its own (LLVM's start and the module's code
        generation, ~20 ms cold), while the caller does other work, and start the
        workers there for ``settings.num_threads`` (thread starts are 2-3 ms of a first
        call otherwise; idle workers sleep); a later :meth:`fn` waits for the load, and
        :func:`ensure` for the start. An error there is left for that call to meet
        again."""
        if self._fns or self.preloader is not None:
            return

        def load():
            try:
                with profile.background():
                    self.fn("sg_pool_ready")
                    if self.size is None:
                        self.start(settings.num_threads)
            except Exception:
                pass
        self.preloader = threading.Thread(target=load, name="symgraph-pool-load", daemon=True)
        self.preloader.start()

    def start(self, nthreads: int) -> None:
        """Run jobs on ``nthreads`` threads, the caller's included."""
        n = max(0, nthreads - 1) if AVAILABLE else 0
        with self.lock:
            self._take()
            try:
                self._stop_workers()
                self.threads = self._start_workers(n)
                n = len(self.threads)
                # every worker has read the generation before the first job is posted
                while self.fn("sg_pool_ready")() < n:
                    time.sleep(0)
                self.fn("sg_pool_set_workers")(n)
                self.size = nthreads      # what was asked: ensure() does not retry
            finally:
                self.fn("sg_pool_release")()

    def _start_workers(self, n: int) -> list[threading.Thread]:
        """Up to ``n`` started worker threads: as many as the system lets us start (it
        may refuse, under a thread or address-space limit), with a warning if fewer."""
        started: list[threading.Thread] = []
        for i in range(n):
            t = threading.Thread(target=self.fn("sg_pool_worker"),
                                 name=f"symgraph-pool-{i}", daemon=True)
            try:
                t.start()
            except RuntimeError as e:        # "can't start new thread"
                warnings.warn(f"symgraph's thread pool started {len(started)} of the {n} "
                              f"workers asked for ({e}): large kernels run on "
                              f"{len(started) + 1} threads", RuntimeWarning, stacklevel=4)
                break
            started.append(t)
        return started

    def stop(self) -> None:
        self.wait_preload()                 # (not while LLVM runs on it)
        with self.lock:
            if self.threads:
                self._take()
                self._stop_workers()
                self.fn("sg_pool_release")()
            self.size = None

    def _take(self) -> None:
        """Wait for the job in flight, if any, and keep new ones off the workers."""
        while not self.fn("sg_pool_acquire")():
            time.sleep(1e-4)

    def _stop_workers(self) -> None:
        self.fn("sg_pool_set_workers")(0)
        if self.threads:
            self.fn("sg_pool_shutdown")()
            for t in self.threads:
                t.join()
            self.threads = []
        self.fn("sg_pool_reset")()
        self.fn("sg_pool_acquire")()        # reset cleared it; the caller still holds it

    def wait_preload(self) -> None:
        """Wait for the background load (and start) in flight, if any, but not from the
        loading thread itself: a pool start, and a fork (a child must not inherit LLVM's
        locks held by a thread it does not have) and the exit, wait for it."""
        if self.preloader is not None and self.preloader is not threading.current_thread():
            self.preloader.join(60)

    def after_fork(self) -> None:
        """In the child of a fork only the forking thread exists: no workers, and the
        pool's state as if new."""
        self.lock, self.loading = threading.Lock(), threading.Lock()
        self.threads, self.size, self.preloader = [], None, None
        if self._fns:
            self.fn("sg_pool_reset")()


_pool = _Pool()
atexit.register(_pool.stop)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_pool.wait_preload, after_in_child=_pool.after_fork)


def start(nthreads: int) -> None:
    """(Re)start the pool so that jobs run on ``nthreads`` threads, the caller's included."""
    _pool.start(nthreads)


def ensure(nthreads: int) -> None:
    """Start the pool for ``nthreads`` threads unless it runs with that many already (a
    forked child's pool starts again here)."""
    if _pool.size != nthreads:
        _pool.wait_preload()
        if _pool.size != nthreads:
            _pool.start(nthreads)


def preload() -> None:
    """Start loading the pool's native module in the background (see :meth:`_Pool.preload`):
    a compile calls this before it rewrites the graph, and finds the module ready when its
    kernels link."""
    _pool.preload()


def started() -> bool:
    """Whether the pool has been started in this process."""
    return _pool.size is not None


def workers() -> int:
    """How many worker threads run now (besides the callers)."""
    return len(_pool.threads)


def run_address() -> int:
    """The address of ``void sg_pool_run(task, argv, extent, grain)``, for kernels."""
    _pool.fn("sg_pool_ready")
    return _pool.addresses["sg_pool_run"]
