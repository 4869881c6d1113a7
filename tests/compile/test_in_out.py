"""``sg.In`` and ``sg.Out``: default values, keyword names, an input's state (``update``),
lent inputs (``In(borrow=True)``) and borrowed outputs (``Out(borrow=True)``), and the
errors people see."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import symgraph as sg


@pytest.fixture
def f_scaled():
    x, scale, shift = sg.dvector("x"), sg.dscalar("scale"), sg.dscalar("shift")
    f = sg.function([x, sg.In(scale, value=2.0), sg.In(shift, value=0.5, name="offset")],
                    x * scale + shift, name="scaled")
    return f


# ------------------------------------------------------------------ defaults and names
def test_defaults_fill_omitted_trailing_inputs_and_keywords(f_scaled):
    f, a = f_scaled, np.array([1.0, 2.0])
    np.testing.assert_array_equal(f(a), [2.5, 4.5])
    np.testing.assert_array_equal(f(a, 3.0), [3.5, 6.5])
    np.testing.assert_array_equal(f(a, 3.0, 1.0), [4.0, 7.0])
    np.testing.assert_array_equal(f(a, offset=1.0), [3.0, 5.0])      # skips `scale`
    np.testing.assert_array_equal(f(x=a, scale=1.0), [1.5, 2.5])
    np.testing.assert_array_equal(f(offset=0.0, x=a), [2.0, 4.0])
    np.testing.assert_array_equal(f(a), [2.5, 4.5])                  # defaults unchanged


@pytest.mark.parametrize("args,kwargs,match", [
    ((), {}, r"function 'scaled' takes 3 inputs, missing x \(an input without a default"),
    ((), {"scale": 1.0}, "missing x"),
    ((np.ones(2),), {"shift": 1.0}, r"no input named 'shift'; inputs: \['x', 'scale', "
                                    r"'offset'\]"),
    ((np.ones(2), 1.0), {"scale": 1.0}, "'scale' given twice"),
    ((np.ones(2), 1.0, 1.0, 1.0), {}, "takes 3 inputs, got 4"),
    ((np.ones(2), "a"), {}, r"input 1 \(scale\): expected a float64\(\) array, got str"),
    ((np.ones((2, 2)),), {}, r"input 0 \(x\): expected rank 1"),
])
def test_call_errors_say_which_input(f_scaled, args, kwargs, match):
    with pytest.raises(TypeError, match=match):
        f_scaled(*args, **kwargs)


def test_two_inputs_with_one_name_are_given_by_position():
    a, b = sg.dscalar("v"), sg.dscalar("v")
    f = sg.function([a, b], a - b)
    assert f(3.0, 1.0) == 2.0
    with pytest.raises(TypeError, match="two inputs are named 'v'; give them by position"):
        f(3.0, v=1.0)
    g = sg.function([a, sg.In(b, name="w")], a - b)
    assert g(v=3.0, w=1.0) == 2.0


def test_a_default_is_checked_when_given_and_copied():
    x = sg.dvector("x")
    with pytest.raises(TypeError, match=r"In\(x\): the default value: expected rank 1 "
                                        r"\(float64\(\?,\)\), got an array of rank 0"):
        sg.In(x, value=1.0)
    with pytest.raises(TypeError, match=r"In\(n\): the default value: expected dtype int32, "
                                        r"got float64"):
        sg.In(sg.iscalar("n"), value=np.float64(1.5))
    with pytest.raises(TypeError, match=r"In\(n\): the default value: expected dtype int32, "
                                        "got float values"):
        sg.In(sg.iscalar("n"), value=1.5)
    with pytest.raises(ValueError, match=r"In\(r\): the default value: expected shape "
                                         r"\(1, \?\)"):
        sg.In(sg.drow("r"), value=np.zeros((2, 2)))
    d = np.array([1.0, 2.0])
    f = sg.function([sg.In(x, value=d)], x * 1)
    d[0] = 100                                 # the default is the function's own copy
    np.testing.assert_array_equal(f(), [1.0, 2.0])
    assert sg.In(sg.dscalar("s"), value=3).value.dtype == np.float64      # safe casts


def test_in_errors():
    x = sg.dvector("x")
    with pytest.raises(TypeError, match="In takes a symbolic variable, got ndarray"):
        sg.In(np.ones(2))
    with pytest.raises(TypeError, match="positional"):
        sg.In(x, np.ones(2))                    # options are keywords
    with pytest.raises(TypeError, match=r"In\(x\): name must be a string, got int"):
        sg.In(x, name=3)
    with pytest.raises(TypeError, match=r"In\(x\): an input with an update needs a value"):
        sg.In(x, update=x + 1)
    with pytest.raises(TypeError, match=r"In\(x\): the update of x \(float64\(\?,\)\) has "
                                        r"type float64\(\) \(rank 0, expected 1\)"):
        sg.In(x, value=[0.0], update=x.sum())
    with pytest.raises(TypeError, match="must be a free input variable"):
        sg.function([sg.In(x * 2)], x)
    with pytest.raises(TypeError, match="inputs must be a list"):
        sg.function(sg.In(x), x)
    with pytest.raises(ValueError, match="listed twice"):
        sg.function([x, sg.In(x, value=[1.0])], x)


# ------------------------------------------------------------------ state
def test_an_input_with_an_update_is_the_functions_state():
    n, step = sg.lscalar("n"), sg.lscalar("step")
    f = sg.function([sg.In(n, value=0, update=n + step), sg.In(step, value=1)], n * 10)
    assert [int(f()), int(f()), int(f(step=5)), int(f())] == [0, 10, 20, 70]
    assert int(f(100)) == 1000                 # a given value is this call's, then updated
    assert int(f()) == 1010
    g = pickle.loads(pickle.dumps(f))          # the state pickles with the function
    assert int(g()) == 1020 and int(f()) == 1020
    assert int(g()) == 1030 and int(f()) == 1030


def test_a_state_never_aliases_an_output_or_the_callers_array():
    x = sg.dvector("x")
    f = sg.function([sg.In(x, value=[1.0, 2.0], update=x)], x)
    out = f()
    out[0] = 99
    np.testing.assert_array_equal(f(), [1.0, 2.0])
    mine = np.array([5.0, 6.0])
    f(mine)
    mine[0] = 0
    np.testing.assert_array_equal(f(), [5.0, 6.0])


def test_a_failing_call_keeps_the_state():
    x = sg.dvector("x")
    f = sg.function([sg.In(x, value=[1.0, 2.0], update=(x + 1).reshape((2,)))], x.sum())
    with pytest.raises(ValueError):
        f([1.0, 2.0, 3.0])
    assert f() == 3.0 and f() == 5.0


# ------------------------------------------------------------------ lent inputs
def test_a_lent_input_may_come_back_as_it_is():
    x = sg.dmatrix("x")
    outs = [x, x.T, x[1:], x.reshape((-1,)), x * 2]
    a = np.ones((3, 2))
    lent = sg.function([sg.In(x, borrow=True)], outs)(a)
    assert lent[0] is a
    assert all(np.shares_memory(o, a) for o in lent[1:4])
    assert not np.shares_memory(lent[4], a)
    a[0, 0] = 7                                 # the caller's writes show in the views
    assert lent[1][0, 0] == 7 and lent[3][0] == 7
    plain = sg.function([x], outs)(a)
    assert not any(np.shares_memory(o, a) for o in plain)
    assert sg.In(x, mutable=True).borrow       # leave to overwrite implies leave to alias


def test_an_input_lent_twice_is_handed_out_once():
    x = sg.dvector("x")
    a = np.ones(2)
    first, second = sg.function([sg.In(x, borrow=True)], [x, x])(a)
    assert first is a and second is not a
    np.testing.assert_array_equal(second, a)


def test_a_shared_variable_never_takes_a_lent_array():
    x = sg.dvector("x")
    w = sg.shared(np.zeros(2), name="w")
    a = np.ones(2)
    out = sg.function([sg.In(x, borrow=True)], x, updates=[(w, x)])(a)
    assert out is a and not np.shares_memory(w.get_value(borrow=True), a)


def test_a_lent_inputs_default_is_not_lent():
    x = sg.dvector("x")
    f = sg.function([sg.In(x, value=[1.0, 2.0], borrow=True)], x)
    f()[0] = 99
    np.testing.assert_array_equal(f(), [1.0, 2.0])


# ------------------------------------------------------------------ borrowed outputs
@pytest.mark.parametrize("backend", ["numpy", "llvm"])
def test_a_plain_output_is_never_overwritten_and_a_borrowed_one_is(backend):
    x = sg.dmatrix("x")
    outs = [sg.exp(x) * 2, sg.dot(x, x), (x + 1).T]
    plain = sg.function([x], outs, backend=backend)
    borrowed = sg.function([x], [sg.Out(o, borrow=True) for o in outs], backend=backend)
    a, b = np.zeros((2, 2)), np.ones((2, 2))
    want_a, want_b = [np.exp(a) * 2, a @ a, (a + 1).T], [np.exp(b) * 2, b @ b, (b + 1).T]
    first = plain(a)
    second = plain(b)
    for o1, o2, w in zip(first, second, want_a):    # call 2 left call 1's arrays alone
        assert not np.shares_memory(o1, o2)
        np.testing.assert_allclose(o1, w, rtol=1e-15)
    for o, w in zip(second, want_b):
        np.testing.assert_allclose(o, w, rtol=1e-15)
    first = borrowed(a)
    for o, w in zip(first, want_a):
        np.testing.assert_allclose(o, w, rtol=1e-15)
    kept = [o.copy() for o in first]
    second = borrowed(b)
    for o1, o2, w in zip(first, second, want_b):   # the function's own buffers
        assert np.shares_memory(o1, o2)
        np.testing.assert_allclose(o1, w, rtol=1e-15)
    for o, w in zip(kept, want_a):
        np.testing.assert_allclose(o, w, rtol=1e-15)


def test_a_borrowed_output_is_the_internal_value_but_never_a_callers_input():
    x = sg.dvector("x")
    w = sg.shared(np.zeros(2), name="w")
    c = sg.constant(np.arange(2.0))
    f = sg.function([x], [sg.Out(w, borrow=True), sg.Out(c, borrow=True),
                          sg.Out(x, borrow=True), sg.Out(x[::-1], borrow=True)])
    a = np.ones(2)
    out = f(a)
    assert out[0] is w.get_value(borrow=True)
    np.testing.assert_array_equal(out[1], [0.0, 1.0])
    assert not np.shares_memory(out[2], a) and not np.shares_memory(out[3], a)
    g = sg.function([sg.In(x, borrow=True)], sg.Out(x[::-1], borrow=True))
    assert np.shares_memory(g(a), a)


def test_a_borrowed_and_a_plain_output_of_one_value_are_two_arrays():
    x = sg.dvector("x")
    y = sg.exp(x)
    f = sg.function([x], {"lent": sg.Out(y, borrow=True), "own": y})
    first = f(np.zeros(2))
    keep = first["own"]
    f(np.ones(2))
    np.testing.assert_array_equal(keep, [1.0, 1.0])
    assert not np.shares_memory(first["lent"], keep)
    g = sg.function([x], [y, sg.Out(y, borrow=True)])
    a, b = g(np.zeros(2))
    assert a is not b


def test_borrowing_pickles():
    x, s = sg.dvector("x"), sg.dscalar("s")
    f = sg.function([sg.In(x, borrow=True), sg.In(s, value=3.0, name="scale")],
                    [sg.Out(x * s, borrow=True), x])
    g = pickle.loads(pickle.dumps(f))
    a = np.ones(2)
    first = g(a)
    assert first[1] is a
    second = g(a, scale=2.0)
    assert np.shares_memory(first[0], second[0]) and first[0][0] == 2.0
    assert [s.name for s in g.input_specs] == ["x", "scale"]


def test_a_state_keeps_its_declared_static_sizes():
    r, y = sg.drow("r"), sg.dmatrix("y")
    f = sg.function([sg.In(r, value=np.zeros((1, 2)), update=y), y], r.sum())
    f(y=np.ones((1, 2)))
    with pytest.raises(ValueError, match=r"the update of r has shape \(3, 2\), but r is "
                                         r"float64\(1, \?\); no update was applied"):
        f(y=np.ones((3, 2)))
    assert f(y=np.ones((1, 2))) == 2.0
