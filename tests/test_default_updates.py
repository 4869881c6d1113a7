"""Theano's default updates: ``SharedVariable.default_update`` joins the updates of every
function whose outputs or updates use the variable, unless the function's own updates
update it or ``no_default_updates`` says not (how random streams advance their state)."""
from __future__ import annotations

import pickle

import numpy as np
import pytest

import symgraph as sg


@pytest.fixture
def counter():
    c = sg.shared(0, name="c")
    c.default_update = c + 1
    return c


def test_every_call_advances_the_counter(counter):
    f = sg.function([], counter * 10)
    assert [int(f()) for _ in range(3)] == [0, 10, 20]
    assert int(counter.get_value()) == 3
    assert [s for s, _ in f.updates] == [counter]


def test_two_functions_using_it_both_advance_it(counter):
    x = sg.lscalar("x")
    f, g = sg.function([], counter), sg.function([x], counter + x)
    assert [int(f()), int(g(100)), int(f()), int(g(100))] == [0, 101, 2, 103]
    assert int(counter.get_value()) == 4


def test_the_users_update_wins(counter):
    f = sg.function([], counter, updates=[(counter, counter * 2 + 1)])
    assert [int(f()) for _ in range(3)] == [0, 1, 3]
    assert int(counter.get_value()) == 7


def test_no_default_updates_true_or_a_list(counter):
    d = sg.shared(0, name="d")
    d.default_update = d + 5
    f = sg.function([], counter + d, no_default_updates=True)
    f()
    assert (int(counter.get_value()), int(d.get_value())) == (0, 0)
    g = sg.function([], counter + d, no_default_updates=[d])
    g()
    assert (int(counter.get_value()), int(d.get_value())) == (1, 0)
    with pytest.raises(TypeError, match="no_default_updates must be True, False or a list "
                                        "of shared variables, got"):
        sg.function([], counter, no_default_updates=[counter + 1])


def test_an_unused_variables_default_update_is_not_applied(counter):
    other = sg.shared(0, name="other")
    other.default_update = other + 1
    f = sg.function([], counter)
    f()
    f()
    assert int(other.get_value()) == 0 and int(counter.get_value()) == 2


def test_default_updates_through_other_updates_and_other_default_updates():
    step = sg.shared(1, name="step")
    step.default_update = step * 2         # used only by the counter's default update
    c = sg.shared(0, name="c")
    c.default_update = c + step
    w = sg.shared(0, name="w")
    f = sg.function([], w, updates=[(w, w + c)])   # c only feeds an update
    f()
    f()
    f()
    # calls see (c, step): (0, 1), (1, 2), (3, 4); all update from the values before
    assert (int(w.get_value()), int(c.get_value()), int(step.get_value())) == (4, 7, 8)


def test_a_variable_replaced_by_givens_is_not_updated(counter):
    n = sg.lscalar("n")
    f = sg.function([n], counter * 2, givens={counter: n})
    assert int(f(4)) == 8 and int(counter.get_value()) == 0


def test_a_default_update_applies_with_the_others_or_not_at_all(counter):
    w = sg.shared(np.zeros(2), name="w")
    x = sg.dvector("x")
    f = sg.function([x], counter, updates=[(w, (w + x).reshape((2,)))])
    with pytest.raises(ValueError):
        f([1.0, 2.0, 3.0])
    assert int(counter.get_value()) == 0
    f([1.0, 2.0])
    assert int(counter.get_value()) == 1


def test_default_update_is_checked_when_set():
    c = sg.shared(np.zeros(2, "int32"), name="c")
    with pytest.raises(TypeError, match=r"c.default_update: the new value of c "
                                        r"\(int32\(\?,\)\) has type float64\(\?,\) \(casting"
                                        " float64 to int32 would lose information"):
        c.default_update = c * 0.5
    with pytest.raises(TypeError, match=r"\(rank 0, expected 1\)"):
        c.default_update = c.sum()
    b = sg.shared(np.zeros((1, 3)), name="b", shape=(1, None))
    with pytest.raises(TypeError, match=r"its static sizes \(2, \?\) contradict \(1, \?\)"):
        b.default_update = sg.concatenate([b, b])
    f32 = sg.shared(np.zeros(2, "float32"), name="f32")
    f32.default_update = f32 + np.float64(1.5)     # a float into a narrower float: cast
    assert f32.default_update.dtype == "float32"
    f32.default_update = None
    assert f32.default_update is None
    sg.function([], f32)()
    np.testing.assert_array_equal(f32.get_value(), [0.0, 0.0])


def test_default_updates_pickle_with_the_function_and_the_variable(counter):
    f = sg.function([], counter)
    f()
    g = pickle.loads(pickle.dumps(f))
    assert [int(g()), int(g())] == [1, 2]
    (c2,) = g.shared
    assert c2.default_update is not None
    assert int(sg.function([], c2)()) == 3 and int(c2.get_value()) == 4
    assert int(counter.get_value()) == 1


def test_training_flag_decides_which_default_updates_apply():
    """Layer state that only training moves (a running mean: where(flag, new, old)) is
    updated by training functions, even though their graph no longer reads it, and not by
    prediction functions; a draw's stream advances only where something still draws."""
    from symgraph.ops.special import training_flag
    x = sg.dvector("x")
    run = sg.shared(np.float64(0), name="run")
    run.default_update = sg.where(training_flag(), 0.5 * run + 0.5 * x.mean(), run)
    y = sg.where(training_flag(), x - x.mean(), x - run)
    train, predict = sg.function([x], y), sg.function([x], y, training=False)
    assert [s.name for s, _ in train.updates] == ["run"] and predict.updates == []
    train(np.full(3, 4.0))
    assert float(run.get_value()) == 2.0
    np.testing.assert_array_equal(predict(np.full(3, 4.0)), np.full(3, 2.0))
    assert float(run.get_value()) == 2.0
