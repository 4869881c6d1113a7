"""How programs run (codegen.plan), on hand-built programs: buffers reused for values that
stay inside a call and fresh arrays for those that leave it, library results reused through
``out=``, updates written in place only when that is safe and then all-or-nothing, and
errors that name their step."""
from __future__ import annotations

import numpy as np
import pytest

from codegen.backend import NUMPY, get_backend
from codegen.kernel import Buffer, Instr, Kernel, Store
from codegen.plan import _commits, build
from codegen.program import KernelCall, LibraryCall, Program, PythonCall, Step, StepError

F = "float64"
BACKENDS = [NUMPY, get_backend("llvm")]


def _add_kernel(nin: int = 2, reduce_axis: int | None = None) -> Kernel:
    """out = in0 + in1 (+ ...), elementwise or summed over ``reduce_axis`` (rank 1)."""
    body = [Instr("load", F, (), i) for i in range(nin)]
    acc = 0
    for i in range(1, nin):
        body.append(Instr("add", F, (acc, i)))
        acc = len(body) - 1
    store = Store(acc) if reduce_axis is None else Store(acc, "add", (reduce_axis,))
    return Kernel("add", tuple(Buffer(f"in{i}", F, 1) for i in range(nin)),
                  (Buffer("out", F, 1),), 1, tuple(body), (store,))


def _call(k: Kernel, drops=((),)) -> KernelCall:
    def prepare(args):
        shapes = {a.shape for a in args}
        if len(shapes) != 1:
            raise ValueError(f"shapes {sorted(shapes)} differ")
        return list(args), args[0].shape
    return KernelCall(k, prepare, drops)


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_inner_values_reuse_buffers_and_outputs_are_fresh(backend):
    # t = x + y stays inside; out = t + y leaves the call
    p = Program(4, (0, 1), (3,), [Step(_call(_add_kernel()), (0, 1), (2,), "t"),
                                  Step(_call(_add_kernel()), (2, 1), (3,), "out")])
    r = build(p, backend)
    assert r.fresh == [True] and r.stateful
    x, y = np.arange(4.0), np.ones(4)
    first = r.run([x, y])[0]
    second = r.run([x, y])[0]
    assert first is not second and not np.shares_memory(first, second)
    np.testing.assert_array_equal(first, x + 2)
    np.testing.assert_array_equal(r.run([x[:2], y[:2]])[0], x[:2] + 2)   # new shapes


def test_library_results_serve_as_the_next_calls_buffer():
    a, b = np.ones((3, 4)), np.ones((4, 5))
    p = Program(4, (0, 1), (3,), [Step(LibraryCall.of("dot", dtype=F), (0, 1), (2,), "dot"),
                                  Step(LibraryCall.of("view"), (2,), (3,), "view")])
    r = build(p, NUMPY)
    first = r.run([a, b])[0]
    assert r.run([a, b])[0].base is first.base          # the same product buffer
    np.testing.assert_array_equal(r.run([a[:2], b])[0], np.full((2, 5), 4.0))
    assert r.fresh == [False]     # a view of a reused buffer: the caller must copy it


def _update_program(step_kind: str = "kernel") -> Program:
    """w_new = w + g, as update 0 of input 1 (w); output 0 is w_new."""
    work = _call(_add_kernel()) if step_kind == "kernel" else \
        PythonCall(lambda w, g: [w + g])
    return Program(3, (0, 1), (2,), [Step(work, (1, 0), (2,), "w + g")], updates=((0, 1),))


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_an_elementwise_update_is_written_in_place_when_writable(backend):
    r = build(_update_program(), backend)
    g, w = np.ones(5), np.zeros(5)
    (out,) = r.run([g, w], (True,))
    assert out is w and w.tolist() == [1.0] * 5
    (out,) = r.run([g, w], (False,))            # someone else holds w: a new array
    assert out is not w and w.tolist() == [1.0] * 5 and out.tolist() == [2.0] * 5


def test_no_update_in_place_where_it_would_change_a_result():
    # the old value leaves the call as an output too
    p = Program(3, (0, 1), (2, 1), [Step(_call(_add_kernel()), (1, 0), (2,), "w + g")],
                updates=((0, 1),))
    assert _commits(p) == {}
    # the kernel also reads a view of the old value (another position than its own)
    k = _add_kernel()
    p = Program(4, (0, 1), (3,), [Step(LibraryCall.of("view"), (1,), (2,), "view"),
                                  Step(_call(k), (1, 2), (3,), "w + view(w)")],
                updates=((0, 1),))
    assert _commits(p) == {}
    # a reduction does not write its input's layout
    p = Program(3, (0, 1), (2,), [Step(_call(_add_kernel(1, 0), ((0,),)), (1,), (2,), "sum")],
                updates=((0, 1),))
    assert _commits(p) == {}
    # a later commit reads what an earlier one would overwrite: w_new = w + v, v_new = v + w
    p = Program(4, (0, 1), (2, 3), [Step(_call(_add_kernel()), (0, 1), (2,), "w + v"),
                                    Step(_call(_add_kernel()), (1, 0), (3,), "v + w")],
                updates=((0, 0), (1, 1)))
    assert list(_commits(p)) == [1]


def test_updates_in_place_are_all_or_nothing():
    """Every in-place step checks before any writes: a failing check leaves every old
    value as it was."""
    p = Program(6, (0, 1, 2, 3), (4, 5),
                [Step(_call(_add_kernel()), (0, 2), (4,), "w + g"),
                 Step(_call(_add_kernel()), (1, 3), (5,), "v + h")],
                updates=((0, 2), (1, 3)))
    r = build(p, NUMPY)
    g, w = np.ones(3), np.zeros(3)
    h, v = np.ones(4), np.zeros(5)          # v + h fails its check
    with pytest.raises(StepError) as e:
        r.run([g, h, w, v], (True, True))
    assert e.value.step.label == "v + h" and "differ" in str(e.value.__cause__)
    assert w.tolist() == [0.0] * 3 and v.tolist() == [0.0] * 5


def _scaled_update_program() -> Program:
    """w_new = w + g * c, c of shape (1,) broadcast, as update 0 of input 1 (w). Its
    prepare gives views, as a fused node's does when an input broadcasts."""
    body = (Instr("load", F, (), 0), Instr("load", F, (), 1), Instr("load", F, (), 2),
            Instr("mul", F, (1, 2)), Instr("add", F, (0, 3)))
    k = Kernel("scaled", tuple(Buffer(n, F, 1) for n in ("w", "g", "c")),
               (Buffer("out", F, 1),), 1, body, (Store(4),))

    def prepare(args):
        return [a.reshape(a.shape) for a in args], np.broadcast_shapes(*(a.shape for a in args))
    return Program(4, (0, 1, 2), (3,), [Step(KernelCall(k, prepare, ((),)), (1, 0, 2), (3,),
                                             "w + g * c")], updates=((0, 1),))


def test_an_update_in_place_is_checked_in_full_once_per_layout(monkeypatch):
    from codegen.llvm.run import CompiledKernel
    laid_out = []
    launch = CompiledKernel._launch
    monkeypatch.setattr(CompiledKernel, "_launch",
                        lambda self, *a: laid_out.append(1) or launch(self, *a))
    r = build(_scaled_update_program(), get_backend("llvm"))
    g, w, c = np.ones(6), np.zeros(6), np.array([0.5])
    (out,) = r.run([g, w, c], (True,))
    first = len(laid_out)
    for _ in range(3):
        (out,) = r.run([g, w, c], (True,))
    assert out is w and w.tolist() == [2.0] * 6 and len(laid_out) == first


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_an_update_in_place_reads_an_overlapping_argument_first(backend):
    """Arguments that overlap the old value take the full check (which copies them) on
    any call, also after the same layout ran straight to the native entry."""
    r = build(_scaled_update_program(), backend)
    c = np.array([1.0])
    base = np.arange(101.0)
    w, g = base[1:], base[:-1]               # the same strides as apart arrays have
    r.run([np.ones(100), w, c], (True,))     # this layout, apart
    expect = w + g
    (out,) = r.run([g, w, c], (True,))
    assert out is w and w.tolist() == expect.tolist()
    v = np.arange(4.0)
    (out,) = r.run([v, v, c], (True,))       # the gradient is the old value itself
    assert out is v and v.tolist() == [0.0, 2.0, 4.0, 6.0]


@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_an_update_goes_in_place_only_while_allowed(backend):
    r = build(_scaled_update_program(), backend)
    g, w, c = np.ones(5), np.zeros(5), np.array([2.0])
    for _ in range(2):
        (out,) = r.run([g, w, c], (True,))
    assert out is w and w.tolist() == [4.0] * 5
    (out,) = r.run([g, w, c], (False,))      # someone else holds w now
    assert out is not w and out.tolist() == [6.0] * 5 and w.tolist() == [4.0] * 5
    w.flags.writeable = False
    (out,) = r.run([g, w, c], (True,))
    assert out is not w and out.tolist() == [6.0] * 5 and w.tolist() == [4.0] * 5
    w2 = np.zeros(3)                          # a new layout
    (out,) = r.run([np.ones(3), w2, c], (True,))
    assert out is w2 and w2.tolist() == [2.0] * 3


def test_a_failing_step_names_itself_and_its_inputs():
    def boom(a):
        raise ZeroDivisionError("no")
    p = Program(3, (0,), (2,), [Step(PythonCall(lambda a: [a + 1]), (0,), (1,), "ok"),
                                Step(PythonCall(boom), (1,), (2,), "boom")])
    with pytest.raises(StepError) as e:
        build(p, NUMPY).run([np.float64(1.0)])
    assert e.value.step.label == "boom" and e.value.inputs == [2.0]
    assert isinstance(e.value.__cause__, ZeroDivisionError)


class _Recorder:
    """An observer keeping what it saw: (step, argument shapes, output shapes)."""

    def __init__(self, with_before: bool):
        self.seen, self.ahead = [], []
        if with_before:
            self.before = lambda i, args: self.ahead.append(i)

    def after(self, i, t, args, outs):
        import time
        assert t <= time.perf_counter()
        self.seen.append((i, [a.shape for a in args], [o.shape for o in outs]))
        return time.perf_counter()


@pytest.mark.parametrize("with_before", [False, True])
@pytest.mark.parametrize("backend", BACKENDS, ids=lambda b: b.name)
def test_an_observer_sees_every_step_in_order_with_its_values(backend, with_before):
    p = Program(4, (0, 1), (3,), [Step(_call(_add_kernel()), (0, 1), (2,), "a + b"),
                                  Step(PythonCall(lambda c: [c * 2]), (2,), (3,), "2c")])
    obs = _Recorder(with_before)
    r = build(p, backend, observe=obs)
    (out,) = r.run([np.ones(3), np.ones(3)])
    assert out.tolist() == [4.0] * 3
    assert obs.seen == [(0, [(3,), (3,)], [(3,)]), (1, [(3,)], [(3,)])]
    assert obs.ahead == ([0, 1] if with_before else [])


def test_an_observer_sees_updates_in_place_and_may_turn_them_off():
    obs = _Recorder(False)
    g, w = np.ones(5), np.zeros(5)
    (out,) = build(_update_program(), NUMPY, observe=obs).run([g, w], (True,))
    assert out is w and [i for i, _, _ in obs.seen] == [0]
    w = np.zeros(5)
    (out,) = build(_update_program(), NUMPY, observe=obs, in_place=False).run([g, w], (True,))
    assert out is not w and w.tolist() == [0.0] * 5 and out.tolist() == [1.0] * 5


def test_an_observer_that_raises_fails_its_step():
    class Refuse:
        def after(self, i, t, args, outs):
            raise FloatingPointError(f"step {i} made a NaN")
    p = Program(3, (0, 1), (2,), [Step(_call(_add_kernel()), (0, 1), (2,), "a + b")])
    with pytest.raises(StepError) as e:
        build(p, NUMPY, observe=Refuse()).run([np.ones(2), np.ones(2)])
    assert e.value.step.label == "a + b" and isinstance(e.value.__cause__, FloatingPointError)


def test_a_dropped_runner_is_freed_without_the_cycle_collector():
    """Its reused buffers go with it at once, not at the next collection."""
    import gc
    import weakref
    p = Program(3, (0, 1), (2,), [Step(_call(_add_kernel()), (0, 1), (2,), "a + b")])
    r = build(p, get_backend("llvm"))
    r.run([np.ones(4), np.ones(4)])
    gone = weakref.ref(r.run)           # the generated function, holding the steps
    was = gc.isenabled()
    gc.disable()
    try:
        del r
        assert gone() is None
    finally:
        if was:
            gc.enable()


def test_steps_of_one_shape_share_their_generated_code():
    """A step's generated fast path is compiled once per source text, not once per step:
    a 30-layer tanh stack's steps compile a handful of sources, and still run right."""
    import symgraph as sg
    from codegen import plan
    x = sg.dmatrix("x")
    ws = [sg.shared(np.eye(3) * 0.5, name=f"w{i}") for i in range(30)]
    h = x
    for w in ws:
        h = sg.tanh(sg.dot(h, w))
    before = plan._compiled.cache_info()
    f = sg.function([x], h)
    after = plan._compiled.cache_info()
    assert after.hits - before.hits >= 25 and after.misses - before.misses <= 3
    want = np.ones((2, 3))
    for _ in ws:
        want = np.tanh(want @ (np.eye(3) * 0.5))
    np.testing.assert_allclose(f(np.ones((2, 3))), want, rtol=1e-12)


def test_the_kernels_of_loop_bodies_and_branches_compile_in_one_batch(monkeypatch):
    """A function's kernels and those of the programs inside it (a scan's body, both
    branches of an ifelse) go to the backend in one call, so that their modules compile
    side by side; the function computes what numpy does."""
    import symgraph as sg
    llvm = get_backend("llvm")
    batches = []
    real = type(llvm).compile_kernels
    monkeypatch.setattr(type(llvm), "compile_kernels",
                        lambda self, ks, ex=None: batches.append(len(ks)) or real(self, ks, ex))
    x, w = sg.dmatrix("x"), sg.dvector("w")
    hs, _ = sg.scan(lambda x_t, h, w: sg.tanh(x_t * w + h) * 0.5, sequences=x,
                    outputs_info=sg.zeros_like(w), non_sequences=[w])
    y = sg.ifelse(hs.sum() > 0, sg.exp(hs[-1]) + 1.0, sg.log1p(hs[-1] ** 2))
    f = sg.function([x, w], [y, sg.grad(y.sum(), w)], backend="llvm")
    assert len(batches) == 1 and batches[0] >= 4, batches
    # a program handed kernels compiled for another compiles its own
    p = Program(3, (0, 1), (2,), [Step(_call(_add_kernel()), (0, 1), (2,), "s")])
    np.testing.assert_array_equal(build(p, llvm, compiled={}).run([np.ones(3), np.ones(3)])[0],
                                  np.full(3, 2.0))
    rng = np.random.default_rng(0)
    xv, wv = rng.standard_normal((5, 3)), rng.standard_normal(3)
    h, total = np.zeros(3), 0.0
    for t in range(5):
        h = np.tanh(xv[t] * wv + h) * 0.5
        total += h.sum()
    want = np.exp(h) + 1.0 if total > 0 else np.log1p(h ** 2)
    got = f(xv, wv)
    np.testing.assert_allclose(got[0], want, rtol=1e-12)
    ref = sg.function([x, w], [y, sg.grad(y.sum(), w)], backend="numpy")(xv, wv)
    np.testing.assert_allclose(got[1], ref[1], rtol=1e-10)
