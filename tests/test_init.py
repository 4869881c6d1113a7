"""symgraph.init: large samples match each initializer's formula (std, limits, mean),
fans are right for dense and convolution shapes, orthogonal is orthogonal, seeds
reproduce, dtypes follow floatX."""
from __future__ import annotations

import math

import numpy as np
import pytest

import symgraph as sg
from symgraph import init

DENSE = (600, 400)          # fan in 600, fan out 400
CONV = (64, 32, 5, 5)       # fan in 32 * 25 = 800, fan out 64 * 25 = 1600


def test_fans_of_dense_and_convolution_weights():
    assert init.fans(DENSE) == (600, 400)
    assert init.fans(CONV) == (800, 1600)
    assert init.fans((8, 3, 7)) == (21, 56)
    with pytest.raises(ValueError, match="no fan in and fan out"):
        init.fans((10,))


@pytest.mark.parametrize("shape", [DENSE, CONV], ids=["dense", "conv"])
@pytest.mark.parametrize("kind,std_of", [
    ("glorot", lambda fi, fo: math.sqrt(2 / (fi + fo))),
    ("he", lambda fi, fo: math.sqrt(2 / fi)),
])
def test_scaled_initializers_match_their_formulas(kind, std_of, shape):
    fan_in, fan_out = {DENSE: (600, 400), CONV: (800, 1600)}[shape]
    std = std_of(fan_in, fan_out)
    normal = getattr(init, f"{kind}_normal")(shape, rng=0, dtype="float64")
    uniform = getattr(init, f"{kind}_uniform")(shape, rng=1, dtype="float64")
    assert normal.shape == uniform.shape == shape
    np.testing.assert_allclose(normal.std(), std, rtol=0.01)
    assert abs(normal.mean()) < 0.01 * std
    limit = math.sqrt(3) * std
    assert np.abs(uniform).max() <= limit and np.abs(uniform).max() > 0.999 * limit
    np.testing.assert_allclose(uniform.std(), std, rtol=0.01)


def test_classes_are_lasagnes():
    """Lasagne's defaults: He's gain is 1 unless 'relu'; gain scales the std."""
    w = init.HeNormal(rng=0, dtype="float64").sample(DENSE)
    np.testing.assert_allclose(w.std(), math.sqrt(1 / 600), rtol=0.01)
    w = init.HeNormal(gain="relu", rng=0, dtype="float64")(DENSE)
    np.testing.assert_allclose(w.std(), math.sqrt(2 / 600), rtol=0.01)
    w = init.GlorotUniform(gain=2.0, rng=0, dtype="float64").sample(CONV)
    np.testing.assert_allclose(np.abs(w).max(), 2 * math.sqrt(6 / 2400), rtol=1e-3)
    w = init.Glorot(init.Normal, rng=0, dtype="float64").sample(DENSE)
    np.testing.assert_allclose(w.std(), math.sqrt(2 / 1000), rtol=0.01)


def test_normal_uniform_constant():
    n = init.normal((500, 500), std=0.5, mean=2.0, rng=0, dtype="float64")
    np.testing.assert_allclose([n.mean(), n.std()], [2.0, 0.5], rtol=0.01)
    u = init.uniform((500, 500), range=(1.0, 3.0), rng=0, dtype="float64")
    assert u.min() >= 1.0 and u.max() < 3.0 and abs(u.mean() - 2.0) < 0.01
    u = init.uniform(1000, rng=0)
    assert np.abs(u).max() <= 0.01 and u.shape == (1000,)
    u = init.Uniform(std=0.2, mean=1.0, rng=0, dtype="float64").sample((500, 500))
    np.testing.assert_allclose([u.mean(), u.std()], [1.0, 0.2], rtol=0.01)
    assert u.max() <= 1 + math.sqrt(3) * 0.2
    c = init.constant((2, 3), val=0.5)
    assert c.tolist() == [[0.5] * 3] * 2
    assert init.Constant()((4,)).tolist() == [0.0] * 4


@pytest.mark.parametrize("shape", [(50, 30), (30, 50), (16, 3, 3, 3), (20, 20)])
def test_orthogonal_is_orthogonal(shape):
    q = init.orthogonal(shape, rng=0, dtype="float64", gain=1.5)
    assert q.shape == shape
    flat = q.reshape(shape[0], -1) / 1.5
    small = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(small, np.eye(small.shape[0]), atol=1e-12)
    with pytest.raises(ValueError, match="rank 2 or more"):
        init.orthogonal((5,))


def test_seeds_reproduce_and_differ():
    a, b = init.glorot_uniform((20, 10), rng=3), init.glorot_uniform((20, 10), rng=3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, init.glorot_uniform((20, 10), rng=4))
    first, second = init.Orthogonal(rng=5), init.Orthogonal(rng=5)
    draws = [first.sample((4, 4)), first.sample((4, 4))]
    assert not np.array_equal(*draws)          # one generator, a sequence of samples
    assert np.array_equal(draws[0], second.sample((4, 4)))
    g = np.random.default_rng(9)
    assert np.array_equal(init.normal((3,), rng=g), init.normal((3,),
                                                               rng=np.random.default_rng(9)))
    assert init.he_normal((4, 4), rng=np.random.RandomState(0)).shape == (4, 4)
    saved = init.get_rng()
    try:
        init.set_rng(11)
        x = init.glorot_normal((5, 5))
        init.set_rng(np.random.default_rng(11))
        assert np.array_equal(x, init.glorot_normal((5, 5)))
    finally:
        init.set_rng(saved)


def test_dtype_is_floatx_unless_given():
    assert init.glorot_uniform((3, 3)).dtype == sg.config.floatX
    with sg.config.change(floatX="float64"):
        assert init.GlorotUniform()((3, 3)).dtype == np.float64
    assert init.orthogonal((3, 3), dtype="float32").dtype == np.float32
    assert init.normal((2,), dtype="float64").dtype == np.float64


def test_bad_input_says_what_was_expected():
    with pytest.raises(TypeError, match="rng must be None, an int seed"):
        init.normal((2,), rng="seed")
    with pytest.raises(ValueError, match="non-negative ints"):
        init.normal((2, -1))
    with pytest.raises(ValueError, match="non-negative ints"):
        init.normal((2.5,))
    with pytest.raises(TypeError, match="shape must be a tuple of ints"):
        init.constant(None)
    with pytest.raises(TypeError, match="gain must be a number or 'relu'"):
        init.GlorotUniform(gain="tanh")
    with pytest.raises(ValueError, match="no fan in"):
        init.glorot_uniform((7,))
