"""Random streams, Theano style: ``rng = sg.RandomStreams(seed)`` makes symbolic draws
(``rng.uniform(size)``, ``rng.normal``, ``rng.binomial``, ...) whose numbers are computed
inside the kernels that use them, by a counter-based generator (Philox-4x32-10,
:mod:`codegen.philox`) keyed on the stream's seed and numbered by element, call and draw.

A stream's state is two shared int64 scalars: ``rng.key``, its seed, and ``rng.state``,
a call counter. Every function that uses one of its draws advances the counter after each
call (the counter's ``default_update``), so two calls give different numbers and nobody writes
updates for it by hand; ``rng.seed(s)``, or a new stream made with the same seed and the
same draws, gives the same numbers again. The numpy, LLVM and CUDA backends give the same
numbers for the same seed (normal draws to within the backends' ULPs of log and cos).

>>> import symgraph as sg, numpy as np
>>> rng = sg.RandomStreams(seed=42)
>>> f = sg.function([], rng.uniform((2, 3)))
>>> a, b = f(), f()
>>> bool((a != b).all()), bool(((0 <= a) & (a < 1)).all())
(True, True)
>>> rng.seed(42)
>>> bool((f() == a).all())
True
"""
from __future__ import annotations

import numpy as np

from .ops.elemwise import zeros_like
from .ops.shape import broadcast_to, shape
from .ops.sort import argsort
from .ops.special import TRAINING
from .tensor import floor, maximum, minimum, second, where
from .config import config
from .ops.random import MAX_TRIALS, draw
from .types import FLOATS, INTS, as_dtype
from .variable import SharedVariable, TensorVariable, as_tensor, constant, shared


def _seed(seed: int | None) -> np.int64:
    """``seed`` as the stream's key: its 64 bits as an int64 (a fresh random seed for
    None)."""
    if seed is None:
        seed = int(np.random.SeedSequence().generate_state(1, np.uint64)[0])
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
        raise TypeError(f"a random seed is an integer, got {type(seed).__name__}")
    return np.uint64(int(seed) % (1 << 64)).astype(np.int64)


class RandomStreams:
    """Symbolic random draws from one seeded stream (Theano's
    ``theano.tensor.shared_randomstreams.RandomStreams``; also ``sg.random.RandomStream``).

    Each method returns a symbolic tensor of ``size`` (a tuple of ints and symbolic
    scalars, or a symbolic shape such as ``x.shape``); each call of a method is a new draw
    with numbers of its own. Sizes of 1 give axes that broadcast, as in ``sg.row``.
    """

    def __init__(self, seed: int | None = None):
        self.key: SharedVariable = shared(_seed(seed), name="rng.key")
        self.state: SharedVariable = shared(np.int64(0), name="rng.state")
        # advance the call counter after every call of a function that draws from it
        self.state.default_update = self.state + 1
        self._draws = 0

    def seed(self, seed: int) -> None:
        """Restart the stream: compiled functions draw what they drew after the stream was
        made with ``seed``."""
        self.key.set_value(_seed(seed))
        self.state.set_value(np.int64(0))

    # ---- plumbing ----------------------------------------------------------------------
    @staticmethod
    def _template(size, params) -> TensorVariable:
        """A broadcast zero of the draw's shape: ``size``, or (None) the shape of the
        parameters broadcast together."""
        if size is None:
            symbolic = [as_tensor(p) for p in params if not isinstance(p, (int, float))]
            size = ()
            if symbolic:
                like = symbolic[0]
                for p in symbolic[1:]:
                    like = second(p, like)
                size = shape(like)
        elif isinstance(size, (int, np.integer)) or \
                (isinstance(size, TensorVariable) and size.ndim == 0):
            size = (size,)
        return broadcast_to(constant(np.uint8(0)), size)

    def _draw(self, dist: str, size, params=(), dtype: str | None = None,
              compute: str | None = None, trials: int = 1, like=(), ndim=None
              ) -> TensorVariable:
        """A new draw of ``dist``; with ``size`` None, the shape of ``params`` and
        ``like`` (parameters applied after the draw) broadcast. ``ndim`` (Theano's), when
        given, must be the draw's rank."""
        template = self._template(size, (*params, *like))
        if ndim is not None and ndim != template.ndim:
            raise ValueError(f"{dist}: ndim={ndim} but the size gives rank {template.ndim}")
        number = self._draws
        if number >= 1 << 24:
            raise ValueError("a stream numbers at most 2**24 draws: make another stream")
        self._draws += 1
        dtype = as_dtype(dtype or config.floatX)
        return draw(dist, template, self.key, self.state, params, dtype=dtype,
                    compute=compute or (dtype if dtype in FLOATS else "float64"),
                    number=number, trials=trials)

    @staticmethod
    def _float(dtype, *params) -> str:
        if dtype is not None:
            dt = as_dtype(dtype)
            if dt not in FLOATS:
                raise TypeError(f"expected a float dtype (float32, float64), got {dt}")
            return dt
        dts = [as_tensor(p).dtype for p in params if not isinstance(p, (int, float))]
        return "float64" if "float64" in dts else config.floatX

    # ---- distributions -----------------------------------------------------------------
    def uniform(self, size=None, low=0.0, high=1.0, ndim=None, dtype=None) -> TensorVariable:
        """Uniform numbers in ``[low, high)``; ``size`` None takes the shape of ``low``
        and ``high`` broadcast."""
        dt = self._float(dtype, low, high)
        u = self._draw("uniform", size, dtype=dt, like=(low, high), ndim=ndim)
        if isinstance(low, (int, float)) and isinstance(high, (int, float)) and \
                (low, high) == (0.0, 1.0):
            return u
        return self._fit((low + (high - low) * u).astype(dt), u, "uniform")

    def normal(self, size=None, avg=0.0, std=1.0, ndim=None, dtype=None) -> TensorVariable:
        """Normal numbers of mean ``avg`` and standard deviation ``std`` (Box-Muller)."""
        dt = self._float(dtype, avg, std)
        z = self._draw("normal", size, dtype=dt, like=(avg, std), ndim=ndim)
        if isinstance(avg, (int, float)) and isinstance(std, (int, float)) and \
                (avg, std) == (0.0, 1.0):
            return z
        return self._fit((avg + std * z).astype(dt), z, "normal")

    def binomial(self, size=None, n: int = 1, p=0.5, ndim=None, dtype="int64"
                 ) -> TensorVariable:
        """Counts of successes in ``n`` trials of probability ``p`` (``n`` a Python int
        up to :data:`~symgraph.ops.random.MAX_TRIALS`)."""
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or \
                not 0 <= n <= MAX_TRIALS:
            raise ValueError(f"binomial: n must be an int from 0 to {MAX_TRIALS}, got {n!r}")
        p = self._probability(p)
        if n == 0:
            return zeros_like(self._draw("bernoulli", size, (p,), "bool", p.dtype,
                                         ndim=ndim), dtype=as_dtype(dtype))
        dist = "bernoulli" if n == 1 else "binomial"
        return self._draw(dist, size, (p,), dtype, p.dtype, int(n), ndim=ndim)

    def bernoulli(self, size=None, p=0.5, dtype="int8") -> TensorVariable:
        """1 with probability ``p``, else 0 (``dtype="bool"`` for a mask)."""
        p = self._probability(p)
        return self._draw("bernoulli", size, (p,), dtype, p.dtype)

    def integers(self, low, high=None, size=None, dtype="int64") -> TensorVariable:
        """Integers in ``[low, high)`` (numpy's ``Generator.integers``; one argument:
        ``[0, low)``). Each is ``low + floor(u * (high - low))`` for a uniform ``u`` of 53
        bits: for ranges below 2**32 every value's probability is within 2**-21 of
        exact."""
        if high is None:
            low, high = 0, low
        dt = as_dtype(dtype)
        if dt not in INTS:
            raise TypeError(f"integers: expected an integer dtype, got {dt}")
        low, high = as_tensor(low, "int64"), as_tensor(high, "int64")
        u = self._draw("uniform", size, dtype="float64", like=(low, high))
        span = (high - low).astype("float64")
        k = minimum(floor(u * span), maximum(span - 1, 0)).astype("int64")
        return self._fit((low + k).astype(dt), u, "integers")

    def random_integers(self, size=None, low=0, high=1, ndim=None, dtype="int64"
                        ) -> TensorVariable:
        """Theano's spelling: integers in ``[low, high]``, both ends included."""
        return self.integers(low, as_tensor(high, "int64") + 1, size, dtype)

    def permutation(self, n) -> TensorVariable:
        """A random permutation of ``range(n)`` (int64): the order that sorts ``n``
        uniform keys of 53 bits (ties have probability below n**2 * 2**-54)."""
        keys = self._draw("uniform", (n,), dtype="float64")
        return argsort(keys)

    def choice(self, a, size, replace: bool = True, p=None) -> TensorVariable:
        """``size`` elements of ``a`` (a vector, or an int n for ``range(n)``); without
        replacement the first ``size`` of a random permutation (``size`` at most len(a)),
        with replacement uniform indices. ``p`` (probabilities) is not supported."""
        if p is not None:
            raise NotImplementedError("choice with probabilities p: use searchsorted on a "
                                      "cumsum of p with uniform draws")
        a = constant(np.arange(a)) if isinstance(a, (int, np.integer)) else as_tensor(a)
        if a.ndim != 1:
            raise ValueError(f"choice: a must be a vector or an int, got {a.type}")
        n = shape(a)[0]
        if replace:
            return a[self.integers(0, n, size)]
        if not isinstance(size, (int, np.integer)):
            raise TypeError("choice without replacement takes an int size")
        return a[self.permutation(n)[:int(size)]]

    # ---- helpers -----------------------------------------------------------------------
    @staticmethod
    def _probability(p) -> TensorVariable:
        p = constant(p, config.floatX) if isinstance(p, (int, float)) else as_tensor(p)
        return p if p.dtype in FLOATS else p.astype(config.floatX)

    @staticmethod
    def _fit(out: TensorVariable, draw_: TensorVariable, what: str) -> TensorVariable:
        if out.type.broadcastable != draw_.type.broadcastable:
            raise ValueError(f"{what}: its parameters broadcast the draw of {draw_.type} "
                             f"to {out.type}; give a size that covers them")
        return out


RandomStream = RandomStreams


_default: RandomStreams | None = None


def default_stream() -> RandomStreams:
    """The stream layers draw from when given none (seeded at random once per process;
    pass a seeded stream for reproducible runs)."""
    global _default
    if _default is None:
        _default = RandomStreams()
    return _default


def dropout(x, p: float = 0.5, rng: RandomStreams | None = None, training=None,
            rescale: bool = True) -> TensorVariable:
    """Inverted dropout: each element of ``x`` is zeroed with probability ``p`` and the
    others are scaled by ``1 / (1 - p)`` (unless ``rescale=False``), so the expected value
    is ``x`` and inference needs no scaling. The mask is drawn inside the kernel that
    applies it.

    ``training``: True (always drop), False (``x`` itself), a symbolic bool scalar, or
    None: the function's training flag (``sg.function(..., training=False)`` compiles the
    inference form, with no draw at all).

    >>> import symgraph as sg, numpy as np
    >>> x = sg.fmatrix("x")
    >>> h = sg.nnet.dropout(x, p=0.5, rng=sg.RandomStreams(seed=0))
    >>> train, predict = sg.function([x], h), sg.function([x], h, training=False)
    >>> sorted(set(train(np.ones((4, 4), "float32")).ravel().tolist()))
    [0.0, 2.0]
    >>> predict(np.ones((1, 2), "float32")).tolist()
    [[1.0, 1.0]]
    """
    x = as_tensor(x)
    if isinstance(p, TensorVariable) or not 0 <= p < 1:
        raise ValueError(f"dropout: p must be a number in [0, 1), got {p!r}")
    if p == 0 or training is False:
        return x
    rng = rng or default_stream()
    dt = x.dtype if x.dtype in FLOATS else config.floatX
    keep = rng.uniform(x.shape, dtype=dt) >= p
    scale = np.asarray(1 / (1 - p) if rescale else 1, dt)
    dropped = where(keep, x * scale, np.asarray(0, x.dtype)).astype(x.dtype)
    if training is True:
        return dropped
    flag = TRAINING if training is None else as_tensor(training)
    if flag.ndim or flag.dtype != "bool":
        raise TypeError(f"dropout: training must be a bool, a bool scalar or None, got "
                        f"{flag.type}")
    return where(flag, dropped, x)
