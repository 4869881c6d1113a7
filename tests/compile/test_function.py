"""Compiled functions: calling conventions, shared variables and updates, givens, input
validation and the errors people see, Variable.eval and debugprint."""
from __future__ import annotations

import io

import numpy as np
import pytest

import symgraph as sg

THIS_FILE = __file__


@pytest.fixture
def f_xy():
    x, y = sg.dvector("x"), sg.dscalar("y")
    return sg.function([x, y], x * y + 1, name="affine"), x, y


# ------------------------------------------------------------------ calling
def test_call_by_position_name_or_both(f_xy):
    f, _, _ = f_xy
    a = np.array([1.0, 2.0])
    for got in (f(a, 3.0), f(x=a, y=3.0), f(a, y=3.0), f(y=3.0, x=a)):
        np.testing.assert_array_equal(got, [4.0, 7.0])


@pytest.mark.parametrize("args,kwargs,match", [
    ((np.ones(2), 1.0, 2.0), {}, "takes 2 inputs, got 3"),
    ((np.ones(2),), {}, "missing y"),
    ((), {}, "missing x, y"),
    ((np.ones(2),), {"z": 1.0}, "no input named 'z'"),
    ((np.ones(2), 1.0), {"x": np.ones(2)}, "'x' given twice"),
])
def test_wrong_argument_count_or_names(f_xy, args, kwargs, match):
    f, _, _ = f_xy
    with pytest.raises(TypeError, match=match):
        f(*args, **kwargs)


def test_single_output_is_an_array_and_a_list_gives_a_list():
    x = sg.dvector("x")
    a = np.array([1.0, 2.0])
    assert isinstance(sg.function([x], x * 2)(a), np.ndarray)
    out = sg.function([x], [x * 2])(a)
    assert isinstance(out, list) and len(out) == 1
    out = sg.function([x], (x * 2, x.sum()))(a)
    assert isinstance(out, list) and out[1] == 3.0
    assert sg.function([x], [])(a) == []
    assert sg.function([x])(a) == []


def test_constant_outputs_and_the_same_output_twice():
    x = sg.dvector("x")
    c, y = sg.constant(np.arange(3.0)), x * 2
    outs = sg.function([x], [c, y, y, x])(np.ones(3))
    np.testing.assert_array_equal(outs[0], np.arange(3.0))
    np.testing.assert_array_equal(outs[1], outs[2])
    outs[1][0] = 99                  # every output is the caller's own array
    assert outs[2][0] == 2.0


def test_an_output_that_is_also_an_update_is_not_the_shared_value():
    w = sg.shared(np.zeros(2), name="w")
    y = w + 1
    f = sg.function([], y, updates=[(w, y)])
    out = f()
    out[0] = 99
    np.testing.assert_array_equal(w.get_value(), [1.0, 1.0])


def test_outputs_never_alias_inputs_or_shared_values():
    x = sg.dmatrix("x")
    w = sg.shared(np.zeros(2), name="w")
    a = np.ones((2, 3))
    f = sg.function([x], [x, x.T, x.reshape((-1,)), w])
    outs = f(a)
    for o in outs:
        o[...] = 7
    np.testing.assert_array_equal(a, np.ones((2, 3)))
    np.testing.assert_array_equal(w.get_value(), np.zeros(2))


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_repeated_calls_with_changing_layouts(backend):
    """Each call is right whatever layouts came before (a layout seen once runs from its
    checked plan after), and an earlier result is never touched by a later call."""
    x, y = sg.fmatrix("x"), sg.frow("y")
    out = [sg.tanh(x * y + 1), (x * 2).sum(axis=0), sg.exp(x).max(axis=1)]
    f = sg.function([x, y], out, backend=backend)
    rng = np.random.default_rng(0)
    a = rng.standard_normal((300, 70)).astype("float32")
    b = rng.standard_normal((1, 70)).astype("float32")
    layouts = [a, np.asfortranarray(a), a[::-1], a[:, ::2], a[:0], a, a[::-1], a[:, ::2],
               np.asfortranarray(a), a[:5]]
    kept = []
    for v in layouts:
        w = b[:, :v.shape[1]]
        got = f(v, w)
        want = [np.tanh(v * w + 1), (v * 2).sum(axis=0), np.exp(v).max(axis=1)]
        for g, e in zip(got, want):
            np.testing.assert_allclose(g, e, rtol=2e-5, atol=1e-6)
        kept.append((got, want))
    for got, want in kept:
        for g, e in zip(got, want):
            np.testing.assert_allclose(g, e, rtol=2e-5, atol=1e-6)


def test_a_dropped_function_is_freed_at_once():
    """No reference cycle keeps a function (and its reused buffers) alive until the
    garbage collector runs."""
    import weakref
    x = sg.fvector("x")
    w = sg.shared(np.zeros(3, "float32"))
    f = sg.function([x], (sg.exp(x) * 2).sum(), updates=[(w, w + x)])
    f(np.ones(3, "float32"))
    refs = [weakref.ref(f), weakref.ref(f._program)]
    del f
    assert all(r() is None for r in refs)


def test_misaligned_inputs():
    x = sg.dvector("x")
    f = sg.function([x], sg.exp(x) * 2)
    v = np.zeros(8 * 1000 + 1, np.uint8)[1:].view(np.float64)    # one byte off
    assert not v.flags.aligned
    v[:] = np.linspace(-3, 3, 1000)
    for _ in range(2):
        np.testing.assert_allclose(f(v), np.exp(np.linspace(-3, 3, 1000)) * 2, rtol=1e-14)


def test_large_outputs_are_recycled_only_once_dropped():
    """A large output nobody holds any more is reused by the next call (no page faults
    for a fresh allocation); one still held, or viewed, is never written again."""
    x = sg.fvector("x")
    f = sg.function([x], x + 1)
    v = np.zeros(1 << 20, "float32")
    held = f(v)
    view = f(v)[10:]
    assert view.base is not None
    address = f(v).ctypes.data         # dropped at once
    assert f(v).ctypes.data == address
    np.testing.assert_array_equal(held, 1)
    np.testing.assert_array_equal(view, 1)
    again = f(v + 1)
    np.testing.assert_array_equal(again, 2)
    np.testing.assert_array_equal(held, 1)
    np.testing.assert_array_equal(view, 1)


def test_bad_function_arguments():
    x = sg.dvector("x")
    with pytest.raises(TypeError, match="list of variables"):
        sg.function(x, x * 2)
    with pytest.raises(TypeError, match="not a variable"):
        sg.function([np.ones(2)], x)
    with pytest.raises(TypeError, match="free input"):
        sg.function([x * 2], x)
    with pytest.raises(TypeError, match="free input"):
        sg.function([sg.shared(np.ones(2))], x)
    with pytest.raises(ValueError, match="listed twice"):
        sg.function([x, x], x)
    with pytest.raises(ValueError, match=r"y .*not among the inputs"):
        sg.function([x], x + sg.dvector("y"))
    with pytest.raises(ValueError, match="backend"):
        sg.function([x], x, backend="tpu")


# ------------------------------------------------------------------ input validation
@pytest.mark.parametrize("value,err,match", [
    (np.ones(3, "float32"), None, None),                 # safe casts are fine
    (np.ones(3, "int32"), None, None),
    ([1, 2, 3], None, None),                             # lists are weak, like scalars
    (np.ones(3, "int64").astype("float64"), None, None),
    (np.ones(3, "complex128"), TypeError, "dtype"),
    (np.ones((3, 1)), TypeError, r"rank 1.*rank 2.*\(3, 1\)"),
    (np.float64(1.0), TypeError, "rank 1.*rank 0"),
    (None, TypeError, "got None"),
    ("abc", TypeError, "str"),
    (["a", "b"], TypeError, "list"),
    (object(), TypeError, "object"),
    ([[1.0], [2.0, 3.0]], TypeError, "list"),
])
def test_input_conversion_and_errors(value, err, match):
    x = sg.dvector("x")
    f = sg.function([x], x * 2)
    if err is None:
        np.testing.assert_array_equal(f(value), np.asarray(value, "float64") * 2)
        return
    with pytest.raises(err, match=match) as e:
        f(value)
    assert "input 0 (x)" in str(e.value)


def test_unsafe_casts_name_the_input_the_expected_and_the_given_dtype():
    x, i = sg.fvector("x"), sg.bvector("i")
    f = sg.function([i, x], x * i)
    with pytest.raises(TypeError, match=r"input 1 \(x\).*expected dtype float32, got float64"):
        f(np.ones(2, "int8"), np.ones(2))
    with pytest.raises(TypeError, match=r"input 0 \(i\).*expected dtype int8, got int32"):
        f(np.ones(2, "int32"), np.ones(2, "float32"))
    with pytest.raises(TypeError, match=r"input 0 \(i\).*float"):
        f([1.5, 2.0], [1.0, 2.0])                 # floats into an int input
    with pytest.raises(TypeError, match=r"input 0 \(i\).*fit"):
        f([1, 300], [1.0, 2.0])                   # ints that do not fit int8
    np.testing.assert_array_equal(f([1, 2], [1.0, 2.0]), [1.0, 4.0])


def test_static_shapes_are_checked():
    x = sg.tensor("x", "float64", (2, None))
    f = sg.function([x], x + 1)
    f(np.ones((2, 5)))
    with pytest.raises(ValueError, match=r"input 0 \(x\).*expected shape \(2, \?\).*\(3, 5\)"):
        f(np.ones((3, 5)))


# ------------------------------------------------------------------ shared variables
def test_shared_get_and_set_value():
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    v = w.get_value()
    v[0] = 100                       # a copy
    assert w.get_value()[0] == 1.0
    assert w.get_value(borrow=True) is w.get_value(borrow=True)
    w.set_value([3, 4])              # ints into float64: safe
    np.testing.assert_array_equal(w.get_value(), [3.0, 4.0])
    new = np.array([5.0, 6.0, 7.0])  # the shape may change, not the rank
    w.set_value(new)
    new[0] = 0
    assert w.get_value()[0] == 5.0   # set_value copied
    w.set_value(new, borrow=True)
    assert w.get_value(borrow=True) is new
    assert sg.shared(1.5).dtype == sg.config.floatX
    assert sg.shared(np.float64(1.5)).dtype == "float64"
    assert sg.shared([1, 2]).dtype == "int64"


def test_shared_set_value_errors():
    w = sg.shared(np.zeros(2, "float32"), name="w")
    with pytest.raises(TypeError, match=r"shared variable w.*float32.*float64"):
        w.set_value(np.zeros(2))
    with pytest.raises(TypeError, match="rank 1.*rank 2"):
        w.set_value(np.zeros((2, 2), "float32"))
    with pytest.raises(TypeError, match="None"):
        w.set_value(None)
    with pytest.raises(TypeError, match="symbolic"):
        sg.shared(sg.dvector())
    with pytest.raises(TypeError, match="not supported"):
        sg.shared(np.zeros(2, "complex64"))


def test_functions_read_the_current_shared_value():
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    x = sg.dvector("x")
    f = sg.function([x], (w * x).sum())
    assert f([1.0, 1.0]) == 3.0
    w.set_value([10.0, 20.0])
    assert f([1.0, 1.0]) == 30.0


def test_updates_see_old_values_and_swap():
    a, b = sg.shared(np.array([1.0]), name="a"), sg.shared(np.array([2.0]), name="b")
    f = sg.function([], [a, b], updates=[(a, b), (b, a)])
    out = f()
    assert (out[0][0], out[1][0]) == (1.0, 2.0)          # outputs use the old values
    assert (a.get_value()[0], b.get_value()[0]) == (2.0, 1.0)
    f()
    assert (a.get_value()[0], b.get_value()[0]) == (1.0, 2.0)


def test_updates_as_a_dict_and_with_casts():
    n = sg.shared(np.int64(0), name="n")
    w = sg.shared(np.zeros(2, "float32"), name="w")
    x = sg.dvector("x")
    f = sg.function([x], [], updates={n: n + 1, w: w + x})   # float64 into float32: same kind
    f([1.0, 2.0])
    f([1.0, 2.0])
    assert n.get_value() == 2
    assert w.get_value().dtype == np.float32
    np.testing.assert_array_equal(w.get_value(), [2.0, 4.0])


def test_a_failing_call_applies_no_update():
    a, b = sg.shared(np.array([1.0, 2.0]), name="a"), sg.shared(np.array([0.0]), name="b")
    x = sg.dvector("x")
    f = sg.function([x], [], updates=[(a, a + 1), (b, (b + x).reshape((1,)))])
    with pytest.raises(ValueError):
        f([1.0, 2.0])                # the new b cannot be reshaped; a's update is ready
    np.testing.assert_array_equal(a.get_value(), [1.0, 2.0])
    np.testing.assert_array_equal(b.get_value(), [0.0])
    f([5.0])
    np.testing.assert_array_equal(a.get_value(), [2.0, 3.0])


@pytest.mark.parametrize("updates,err,match", [
    (lambda w, x: [(w, x.astype("int32"))], None, None),       # int into float: safe
    (lambda w, x: [(w, x.sum())], TypeError, "new value of w"),
    (lambda w, x: [(w, (x > 0))], None, None),
    (lambda w, x: [(x, x)], TypeError, "not a shared variable"),
    (lambda w, x: [(w, x), (w, x * 2)], ValueError, "updated twice"),
    (lambda w, x: [(w,)], TypeError, "pairs"),
])
def test_update_errors(updates, err, match):
    w, x = sg.shared(np.zeros(2), name="w"), sg.dvector("x")
    if err is None:
        sg.function([x], [], updates=updates(w, x))
        return
    with pytest.raises(err, match=match):
        sg.function([x], [], updates=updates(w, x))


def test_update_of_a_float_into_an_int_shared_is_refused():
    n = sg.shared(np.zeros(2, "int32"), name="n")
    with pytest.raises(TypeError, match="new value of n"):
        sg.function([], [], updates=[(n, n * 0.5)])


# ------------------------------------------------------------------ givens
def test_givens_replace_variables():
    x, y = sg.dvector("x"), sg.dvector("y")
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    f = sg.function([y], (x * w).sum(), givens={x: y * 2})
    assert f([1.0, 1.0]) == 6.0
    g = sg.function([], (x * w).sum(), givens=[(x, w)])   # a shared variable as given
    assert g() == 5.0
    with pytest.raises(TypeError, match="givens"):
        sg.function([y], x.sum(), givens={x: sg.fvector()})
    with pytest.raises(TypeError, match="givens"):
        sg.function([y], x.sum(), givens={x: sg.dmatrix()})


# ------------------------------------------------------------------ run-time errors
def test_runtime_errors_name_the_node_and_the_users_line():
    x, y = sg.dvector("x"), sg.dvector("y")
    z = x.reshape((2, -1))                   # fails at run time for odd sizes
    line = z.owner.built_at
    f = sg.function([x, y], [z * 2, x + y])
    assert line is not None and line.startswith(THIS_FILE + ":")
    with pytest.raises(ValueError) as e:
        f(np.ones(3), np.ones(3))
    msg = str(e.value)
    assert "reshape" in msg and "(3,)" in msg
    assert f"built at {line}" in msg
    with pytest.raises(ValueError) as e:
        f(np.ones(4), np.ones(5))            # add: shapes that do not broadcast
    assert THIS_FILE in str(e.value) and "(4,)" in str(e.value)


def test_empty_max_error_names_the_users_line():
    x = sg.dmatrix("x")
    f = sg.function([x], x.max(axis=0) * 2)
    with pytest.raises(ValueError, match="(?s)max.*empty") as e:
        f(np.ones((0, 3)))
    assert THIS_FILE in str(e.value)


# ------------------------------------------------------------------ eval, debugprint
def test_eval():
    x, y = sg.dscalar("x"), sg.dvector("y")
    z = x * y
    np.testing.assert_array_equal(z.eval({x: 2.0, y: np.array([1.0, 2.0])}), [2.0, 4.0])
    np.testing.assert_array_equal(z.eval({x: 3.0, y: np.array([1.0])}), [3.0])  # cached
    np.testing.assert_array_equal(sg.constant([1, 2]).eval(), [1, 2])
    w = sg.shared(np.array([1.0]), name="w")
    np.testing.assert_array_equal((w * 2).eval(), [2.0])
    with pytest.raises(ValueError, match="not among the inputs"):
        z.eval({x: 2.0})


def test_debugprint_of_variables():
    x = sg.dvector("x")
    y = sg.exp(x) * x
    assert sg.debugprint([y, y], file="str") == "\n".join([
        "mul [id A] float64(?,)",
        " ├─ exp [id B] float64(?,)",
        " │  └─ x [id C] float64(?,)",
        " └─ x [id C] float64(?,)",
        "mul [id A] float64(?,) ...",
    ])
    assert sg.debugprint(y, file="str", print_type=False).splitlines()[0] == "mul [id A]"
    buf = io.StringIO()
    sg.debugprint(y, file=buf)
    assert buf.getvalue() == sg.debugprint(y, file="str") + "\n"


def test_debugprint_of_a_function_labels_outputs_and_updates():
    x = sg.dvector("x")
    w = sg.shared(np.zeros(2), name="w")
    f = sg.function([x], (x * 2).sum(), updates=[(w, w + x)])
    text = sg.debugprint(f, file="str")
    assert text.splitlines()[0] == "output 0:"
    assert "update of w:" in text
    assert "w (shared) [id" in text
    assert "x [id" in text


# ------------------------------------------------------------------ updates in place
@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_an_elementwise_update_writes_the_old_values_memory(backend):
    x = sg.dmatrix("x")
    w = sg.shared(np.zeros((3, 4)), name="w")
    step = sg.function([x], (w * x).sum(), updates=[(w, w - 0.5 * x)], backend=backend)
    storage = w.get_value(borrow=True)           # borrowed: the next update makes a new array
    step(np.ones((3, 4)))
    assert w._value is not storage and storage.tolist() == [[0.0] * 4] * 3
    owned = w._value
    for _ in range(3):
        step(np.ones((3, 4)))
    assert w._value is owned                     # nobody else held it: written in place
    np.testing.assert_array_equal(w.get_value(), np.full((3, 4), -2.0))


def test_updates_in_place_are_all_or_nothing_when_a_call_fails():
    x, n = sg.dvector("x"), sg.lscalar("n")
    w = sg.shared(np.zeros(4), name="w")
    v = sg.shared(np.zeros(4), name="v")
    f = sg.function([x, n], x.reshape((n, -1)).sum(),
                    updates=[(w, w + x), (v, v - x)])
    f(np.ones(4), 2)
    with pytest.raises(ValueError, match="cannot reshape"):
        f(np.ones(4), 3)
    assert w.get_value().tolist() == [1.0] * 4 and v.get_value().tolist() == [-1.0] * 4


def test_an_update_that_is_also_an_output_keeps_both_right():
    w = sg.shared(np.zeros(3), name="w")
    f = sg.function([], [w, w * 2], updates=[(w, w + 1)])
    old, twice = f()
    assert old.tolist() == [0.0] * 3 and twice.tolist() == [0.0] * 3
    old, twice = f()
    assert old.tolist() == [1.0] * 3 and w.get_value().tolist() == [2.0] * 3


# ------------------------------------------------------------------ outputs, givens, pickling
def test_outputs_as_a_dict():
    x = sg.dvector("x")
    f = sg.function([x], {"sum": x.sum(), 3: x * 2})
    got = f([1.0, 2.0])
    assert list(got) == ["sum", 3] and float(got["sum"]) == 3.0
    with pytest.raises(TypeError, match="output 'a' is a list"):
        sg.function([x], {"a": [x]})


def test_givens_may_not_replace_a_listed_input():
    x, y = sg.dvector("x"), sg.dvector("y")
    with pytest.raises(ValueError, match=r"givens: x is also an input of the function"):
        sg.function([x], x * 2, givens={x: y})
    f = sg.function([y], x * 2, givens={x: y + 1})
    assert f([1.0]).tolist() == [4.0]


@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_a_pickled_function_works_and_keeps_its_shared_values(backend):
    import pickle
    x = sg.dvector("x")
    w = sg.shared(np.array([1.0, 2.0]), name="w")
    step = sg.function([x], {"cost": (w * x).sum()}, updates={w: w + x}, backend=backend,
                       name="step")
    step([1.0, 1.0])
    again = pickle.loads(pickle.dumps(step))
    assert again.name == "step" and again.backend == backend
    assert float(again([1.0, 0.0])["cost"]) == 2.0
    (w2,) = again.shared
    assert w2.get_value().tolist() == [3.0, 3.0] and w.get_value().tolist() == [2.0, 3.0]


def test_constant_outputs_are_fresh_writable_arrays():
    f = sg.function([], [sg.constant(np.ones(3)) * 2, sg.constant(np.arange(2))])
    a, b = f()
    assert a.flags.writeable and b.flags.writeable
    a[0] = 99
    again = f()[0]
    assert again is not a and again.tolist() == [2.0, 2.0, 2.0]


@pytest.mark.parametrize("make", [lambda x: sg.outer(x, x), lambda x: sg.dot(x[:, None], x[None]),
                                  lambda x: sg.concatenate([x] * 4000)],
                         ids=["kernel", "library", "concatenate"])
def test_an_allocation_too_big_is_a_memory_error_naming_the_node(make):
    x = sg.dvector("x")
    f = sg.function([x], make(x))
    with pytest.raises(MemoryError, match=r"(?s)Unable to allocate .* in node"):
        f(np.ones(6_000_000))


def test_the_graph_is_walked_once_for_its_leaves(monkeypatch):
    """sg.function asks for the graph's leaves three times (default updates, the
    training flag, the shared variables): one walk answers all three."""
    import symgraph.graph as graph
    walks = []
    real = graph.graph_inputs
    monkeypatch.setattr(graph, "graph_inputs", lambda outs: walks.append(1) or real(outs))
    x = sg.dvector("x")
    w = sg.shared(np.ones(3), name="w")
    f = sg.function([x], (x * w).sum(), updates=[(w, w * 2)])
    assert len(walks) == 1 and f.shared == [w]
    assert float(f(np.arange(3.0))) == 3.0 and w.get_value().tolist() == [2, 2, 2]
    # a default update adds a graph of its own: its leaves are walked too
    count = sg.shared(np.int64(0), name="count")
    count.default_update = count + 1
    g = sg.function([x], (x * w).sum() + count)
    assert {v.name for v in g.shared} == {"w", "count"}
    assert float(g(np.arange(3.0))) == 6.0 and int(count.get_value()) == 1
    memo, y = graph.InputsOf(), sg.dvector("y")
    walks.clear()
    assert memo([x * w]) == real([x * w]) and memo([x * w + y])[-1] is y
    assert memo([x, y]) == [x, y] and memo([x, y]) == [x, y] and len(walks) == 3
