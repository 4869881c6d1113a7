"""Weight initializers, Lasagne's ``lasagne.init``: objects whose ``sample(shape)`` (or
call) gives a numpy array of ``config.floatX``, and plain functions of the shape.

>>> from symgraph import init
>>> w = init.GlorotUniform(rng=0).sample((784, 256))
>>> w.shape, w.dtype.name, bool(abs(w).max() <= (6 / (784 + 256)) ** 0.5)
((784, 256), 'float32', True)
>>> bool((init.glorot_uniform((3, 2), rng=1) == init.glorot_uniform((3, 2), rng=1)).all())
True

**Fans.** A dense weight is ``(n_in, n_out)`` (fan in ``n_in``, fan out ``n_out``); a
convolution's is ``(out_channels, in_channels, *kernel)`` (fan in ``in_channels * prod(kernel)``,
fan out ``out_channels * prod(kernel)``): Lasagne's, Theano's and PyTorch's layouts
(:func:`fans`).

**Random numbers.** ``rng`` is a seed, a ``numpy.random.Generator`` (or ``RandomState``),
or None for the module's generator, which :func:`set_rng` seeds or replaces (Lasagne's
``lasagne.random.set_rng``). An initializer made with a seed draws from its own generator
made from it: it reproduces the same sequence of samples from run to run.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence

import numpy as np

from .config import config

Shape = Sequence[int]
_rng: np.random.Generator | np.random.RandomState = np.random.default_rng()


def get_rng():
    """The generator initializers draw from when given no ``rng``."""
    return _rng


def set_rng(rng) -> None:
    """Make ``rng`` (a seed, a ``Generator`` or a ``RandomState``) the generator
    initializers draw from when given no ``rng``.

    >>> set_rng(42); a = normal((2,))
    >>> set_rng(42); bool((a == normal((2,))).all())
    True
    """
    global _rng
    _rng = _as_rng(rng, "set_rng")


def _as_rng(rng, what: str):
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"{what}: rng must be None, an int seed, a numpy Generator or a "
                    f"RandomState, got {rng!r}")


def _shape(shape, what: str) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, numbers.Integral) else shape
    try:
        dims = tuple(int(d) for d in shape)
    except TypeError:
        raise TypeError(f"{what}: shape must be a tuple of ints, got {shape!r}") from None
    if any(d < 0 for d in dims) or any(not isinstance(d, numbers.Integral) for d in shape):
        raise ValueError(f"{what}: shape must hold non-negative ints, got {shape!r}")
    return dims


def fans(shape: Shape) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight: ``(n_in, n_out)`` for a dense one,
    ``(in * k, out * k)`` with ``k`` the kernel size for a convolution's
    ``(out, in, *kernel)``.

    >>> fans((784, 256)), fans((64, 16, 3, 3))
    ((784, 256), (144, 576))
    """
    shape = _shape(shape, "fans")
    if len(shape) < 2:
        raise ValueError(f"fans: a weight of shape {shape} has no fan in and fan out: they "
                         "are defined for a dense (n_in, n_out) or a convolution "
                         "(out, in, *kernel) weight")
    if len(shape) == 2:
        return shape[0], shape[1]
    kernel = math.prod(shape[2:])
    return shape[1] * kernel, shape[0] * kernel


def _gain(gain) -> float:
    if gain == "relu":
        return math.sqrt(2.0)
    if isinstance(gain, numbers.Real) and not isinstance(gain, bool):
        return float(gain)
    raise TypeError(f"gain must be a number or 'relu', got {gain!r}")


class Initializer:
    """An initializer: ``sample(shape)`` gives a new array; calling it does the same.
    ``rng`` and ``dtype`` (default ``config.floatX`` when sampling) as the module says."""

    def __init__(self, rng=None, dtype: str | None = None):
        self.rng = None if rng is None else _as_rng(rng, type(self).__name__)
        self.dtype = dtype

    def __call__(self, shape: Shape) -> np.ndarray:
        return self.sample(shape)

    def sample(self, shape: Shape) -> np.ndarray:
        """A new array of ``shape``."""
        raise NotImplementedError(f"{type(self).__name__} must define sample(shape)")

    def _generator(self):
        return self.rng if self.rng is not None else _rng

    def _cast(self, values) -> np.ndarray:
        return np.asarray(values, dtype=self.dtype or config.floatX)


class Normal(Initializer):
    """Gaussian values of mean ``mean`` and standard deviation ``std``."""

    def __init__(self, std: float = 0.01, mean: float = 0.0, rng=None, dtype=None):
        super().__init__(rng, dtype)
        self.std, self.mean = std, mean

    def sample(self, shape: Shape) -> np.ndarray:
        return self._cast(self._generator().normal(self.mean, self.std,
                                                   _shape(shape, "Normal")))


class Uniform(Initializer):
    """Uniform values in ``[-range, range]``, or ``[lo, hi]`` for ``range=(lo, hi)``, or
    (given ``std``) in the interval centred on ``mean`` whose standard deviation is
    ``std`` (half-width ``sqrt(3) * std``)."""

    def __init__(self, range=0.01, std: float | None = None, mean: float = 0.0, rng=None,
                 dtype=None):
        super().__init__(rng, dtype)
        if std is not None:
            self.range = (mean - math.sqrt(3) * std, mean + math.sqrt(3) * std)
        elif isinstance(range, (tuple, list)):
            self.range = tuple(range)
        else:
            self.range = (-range, range)

    def sample(self, shape: Shape) -> np.ndarray:
        lo, hi = self.range
        return self._cast(self._generator().uniform(lo, hi, _shape(shape, "Uniform")))


class Constant(Initializer):
    """Every value ``val`` (biases: 0)."""

    def __init__(self, val: float = 0.0, dtype=None):
        super().__init__(None, dtype)
        self.val = val

    def sample(self, shape: Shape) -> np.ndarray:
        return self._cast(np.full(_shape(shape, "Constant"), self.val))


class Glorot(Initializer):
    """Glorot and Bengio (2010), "Xavier": ``initializer`` (:class:`Normal` or
    :class:`Uniform`) with standard deviation ``gain * sqrt(2 / (fan_in + fan_out))``
    (so the uniform one's limit is ``gain * sqrt(6 / (fan_in + fan_out))``)."""

    def __init__(self, initializer, gain=1.0, rng=None, dtype=None):
        super().__init__(rng, dtype)
        self.initializer, self.gain = initializer, _gain(gain)

    def std(self, shape: Shape) -> float:
        fan_in, fan_out = fans(shape)
        return self.gain * math.sqrt(2.0 / (fan_in + fan_out))

    def sample(self, shape: Shape) -> np.ndarray:
        return self.initializer(std=self.std(shape), rng=self._generator(),
                                dtype=self.dtype).sample(shape)


class GlorotNormal(Glorot):
    """:class:`Glorot` with Gaussian values."""

    def __init__(self, gain=1.0, rng=None, dtype=None):
        super().__init__(Normal, gain, rng, dtype)


class GlorotUniform(Glorot):
    """:class:`Glorot` with uniform values."""

    def __init__(self, gain=1.0, rng=None, dtype=None):
        super().__init__(Uniform, gain, rng, dtype)


class He(Glorot):
    """He et al. (2015): ``initializer`` with standard deviation ``gain * sqrt(1 /
    fan_in)``. As Lasagne's, ``gain`` defaults to 1 (LeCun's scaling); the paper's ReLU
    scaling is ``gain='relu'`` (sqrt 2), the default of :func:`he_normal` and
    :func:`he_uniform`."""

    def std(self, shape: Shape) -> float:
        return self.gain * math.sqrt(1.0 / fans(shape)[0])


class HeNormal(He):
    """:class:`He` with Gaussian values."""

    def __init__(self, gain=1.0, rng=None, dtype=None):
        super().__init__(Normal, gain, rng, dtype)


class HeUniform(He):
    """:class:`He` with uniform values."""

    def __init__(self, gain=1.0, rng=None, dtype=None):
        super().__init__(Uniform, gain, rng, dtype)


class Orthogonal(Initializer):
    """Saxe et al. (2014): a random orthogonal matrix times ``gain``, of shape
    ``(shape[0], prod(shape[1:]))`` reshaped to ``shape``: its rows are orthonormal when
    there are fewer of them than columns, else its columns."""

    def __init__(self, gain=1.0, rng=None, dtype=None):
        super().__init__(rng, dtype)
        self.gain = _gain(gain)

    def sample(self, shape: Shape) -> np.ndarray:
        shape = _shape(shape, "Orthogonal")
        if len(shape) < 2:
            raise ValueError(f"Orthogonal: a shape of rank 2 or more is needed, got {shape}")
        flat = (shape[0], math.prod(shape[1:]))
        u, _, vt = np.linalg.svd(self._generator().normal(0.0, 1.0, flat),
                                 full_matrices=False)
        q = u if u.shape == flat else vt
        return self._cast(self.gain * q.reshape(shape))


def glorot_uniform(shape: Shape, rng=None, dtype=None, gain=1.0) -> np.ndarray:
    """Uniform in ``±gain * sqrt(6 / (fan_in + fan_out))`` (:class:`GlorotUniform`)."""
    return GlorotUniform(gain, rng, dtype).sample(shape)


def glorot_normal(shape: Shape, rng=None, dtype=None, gain=1.0) -> np.ndarray:
    """Gaussian, std ``gain * sqrt(2 / (fan_in + fan_out))`` (:class:`GlorotNormal`)."""
    return GlorotNormal(gain, rng, dtype).sample(shape)


def he_uniform(shape: Shape, rng=None, dtype=None, gain="relu") -> np.ndarray:
    """Uniform in ``±gain * sqrt(3 / fan_in)``, by default ``±sqrt(6 / fan_in)``
    (:class:`HeUniform` with ``gain='relu'``)."""
    return HeUniform(gain, rng, dtype).sample(shape)


def he_normal(shape: Shape, rng=None, dtype=None, gain="relu") -> np.ndarray:
    """Gaussian, std ``gain * sqrt(1 / fan_in)``, by default ``sqrt(2 / fan_in)``
    (:class:`HeNormal` with ``gain='relu'``).

    >>> w = he_normal((1000, 200), rng=0, dtype="float64")
    >>> round(float(w.std() * (1000 / 2) ** 0.5), 2)
    1.0
    """
    return HeNormal(gain, rng, dtype).sample(shape)


def orthogonal(shape: Shape, rng=None, dtype=None, gain=1.0) -> np.ndarray:
    """A random orthogonal matrix times ``gain`` (:class:`Orthogonal`).

    >>> q = orthogonal((4, 4), rng=0, dtype="float64")
    >>> bool(np.allclose(q @ q.T, np.eye(4)))
    True
    """
    return Orthogonal(gain, rng, dtype).sample(shape)


def normal(shape: Shape, std: float = 0.01, mean: float = 0.0, rng=None,
           dtype=None) -> np.ndarray:
    """Gaussian values (:class:`Normal`)."""
    return Normal(std, mean, rng, dtype).sample(shape)


def uniform(shape: Shape, range=0.01, std: float | None = None, mean: float = 0.0,
            rng=None, dtype=None) -> np.ndarray:
    """Uniform values (:class:`Uniform`)."""
    return Uniform(range, std, mean, rng, dtype).sample(shape)


def constant(shape: Shape, val: float = 0.0, dtype=None) -> np.ndarray:
    """Every value ``val`` (:class:`Constant`)."""
    return Constant(val, dtype).sample(shape)


#: the other name of Glorot's initialization
xavier_uniform, xavier_normal = glorot_uniform, glorot_normal

__all__ = ["Constant", "Glorot", "GlorotNormal", "GlorotUniform", "He", "HeNormal",
           "HeUniform", "Initializer", "Normal", "Orthogonal", "Uniform", "constant", "fans",
           "get_rng", "glorot_normal", "glorot_uniform", "he_normal", "he_uniform", "normal",
           "orthogonal", "set_rng", "uniform", "xavier_normal", "xavier_uniform"]
