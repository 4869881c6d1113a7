"""Pooling, the windowed reductions over the last two axes of an array, written once over an
array module ``xp`` (numpy or cupy) like :mod:`codegen.lib.array`, which lists these
entries: ``pool`` (max, sum and the two averages), ``pool_grad`` (the gradient of the sums
and averages), ``max_pool_grad`` and ``max_pool_grad_grad``.

The window geometry is Theano's ``Pool`` (:func:`out_size`): window ``ws``, ``stride``,
``pad`` on both sides of each image axis, and with ``ignore_border=False`` the partial
windows at the far border counted (that needs ``pad == (0, 0)``, as in Theano). Each
entry reads the windows through a strided view of the array, or of a padded copy when some
window reaches outside it, and reduces them one window offset at a time: ``ws[0] * ws[1]``
vectorized calls over the whole batch, never a loop over batch or channels. The offset
loop is what makes it fast: numpy's own reduction over the two window axes of such a view
runs its inner loop over the window (2 or 3 elements) and is many times slower.

Ties in a max window: the gradient goes to the first maximum in window order (row by row,
then along the row), the only one counted; a NaN in the window is the maximum, and the
first NaN takes the gradient. Padding never takes it.

>>> import numpy as np
>>> x = np.arange(16.0).reshape(1, 1, 4, 4)
>>> pool(np, x, ws=(2, 2), stride=(2, 2), pad=(0, 0), mode="max", ignore_border=True)
array([[[[ 5.,  7.],
         [13., 15.]]]])
>>> pool(np, x, ws=(3, 3), stride=(3, 3), pad=(0, 0), mode="sum", ignore_border=False)
array([[[[45., 21.],
         [39., 15.]]]])
"""
from __future__ import annotations

from typing import Iterator, NamedTuple

MODES = ("max", "sum", "average_inc_pad", "average_exc_pad")


def out_size(size: int, ws: int, stride: int, pad: int, ignore_border: bool) -> int:
    """The number of windows along one image axis of ``size`` elements (Theano's
    ``Pool.out_shape``): with ``ignore_border`` only whole windows of the padded axis, else
    also the partial ones that start inside it."""
    size += 2 * pad
    if ignore_border:
        return max(0, (size - ws) // stride + 1)
    if stride >= ws:
        return (size - 1) // stride + 1
    return max(0, (size - 1 - ws + stride) // stride) + 1


class Geometry(NamedTuple):
    """Where the windows of one call lie: ``image`` the input's last two sizes, ``out`` the
    windows per axis, ``span`` the extent of the buffer the windows read (the padded image,
    or more where a partial window reaches past it)."""
    image: tuple[int, int]
    out: tuple[int, int]
    span: tuple[int, int]
    ws: tuple[int, int]
    stride: tuple[int, int]
    pad: tuple[int, int]

    @classmethod
    def of(cls, name: str, x, ws, stride, pad, ignore_border: bool) -> "Geometry":
        if x.ndim < 2:
            raise ValueError(f"{name}: pooling needs an array of rank >= 2, got shape "
                             f"{x.shape}")
        image = tuple(x.shape[-2:])
        out = tuple(out_size(*a, ignore_border) for a in zip(image, ws, stride, pad))
        span = tuple(max(v + 2 * p, (o - 1) * s + w if o else 0)
                     for v, o, w, s, p in zip(image, out, ws, stride, pad))
        return cls(image, out, span, tuple(ws), tuple(stride), tuple(pad))

    @property
    def overlap(self) -> bool:
        """Whether some element lies in more than one window."""
        return any(s < w for s, w in zip(self.stride, self.ws))

    @property
    def padded(self) -> bool:
        """Whether the windows reach outside the image, so that they read a padded copy."""
        return self.span != self.image

    def offsets(self) -> Iterator[tuple[slice, slice]]:
        """For each offset in the window (in window order), the slices of the buffer
        that hold the element at that offset of every window: each is shaped like the
        output."""
        # an empty slice where there are no windows: a stop below 0 would count from the end
        rows, cols = ([slice(k, k + s * (n - 1) + 1 if n else k, s) for k in range(w)]
                      for n, s, w in zip(self.out, self.stride, self.ws))
        for si in rows:
            for sj in cols:
                yield si, sj

    @property
    def tiles(self) -> bool:
        """Whether the windows cover the buffer once each (no overlap, no gap), so that
        a gradient written window offset by window offset fills it."""
        return self.stride == self.ws and self.span == tuple(
            o * s for o, s in zip(self.out, self.stride))

    def interior(self) -> tuple[slice, slice]:
        """The image's place in the buffer."""
        return tuple(slice(p, p + v) for p, v in zip(self.pad, self.image))

    def counts(self, xp, mode: str, dtype):
        """The number of elements each average divides by, an array shaped like the last
        two axes of the output: the window cut to the padded image (``average_inc_pad``)
        or to the image itself (``average_exc_pad``); at least 1, so that a window with no
        element (only where an image axis is empty) averages to 0."""
        per_axis = []
        for v, o, w, s, p in zip(self.image, self.out, self.ws, self.stride, self.pad):
            start = xp.arange(o) * s
            if mode == "average_inc_pad":
                n = xp.minimum(start + w, v + 2 * p) - start
            else:
                n = xp.minimum(start + w, p + v) - xp.maximum(start, p)
            per_axis.append(xp.maximum(n, 1))
        return (per_axis[0][:, None] * per_axis[1][None, :]).astype(dtype)


def _buffer(xp, x, g: Geometry, fill):
    """``x`` placed in a buffer of the windows' span, ``fill`` around it (``x`` itself when
    the windows stay inside it)."""
    if not g.padded:
        return x
    buf = xp.full((*x.shape[:-2], *g.span), fill, dtype=x.dtype)
    buf[(..., *g.interior())] = x
    return buf


def _lowest(xp, dtype):
    """The identity of max in ``dtype``: what padding holds in a max pool."""
    return -xp.inf if dtype.kind == "f" else xp.iinfo(dtype).min


def _check_shape(name: str, what: str, a, want: tuple) -> None:
    if tuple(a.shape) != tuple(want):
        raise ValueError(f"{name}: {what} has shape {a.shape}, the pooling of this input "
                         f"needs {want}")


def pool(xp, x, *, ws, stride, pad, mode: str, ignore_border: bool):
    """The max, sum or average of each window over ``x``'s last two axes, in ``x``'s
    dtype (see the module for the geometry)."""
    g = Geometry.of("pool", x, ws, stride, pad, ignore_border)
    if mode not in MODES:
        raise ValueError(f"pool: mode must be one of {', '.join(MODES)}, got {mode!r}")
    buf = _buffer(xp, x, g, _lowest(xp, x.dtype) if mode == "max" else 0)
    combine = xp.maximum if mode == "max" else xp.add
    out = None
    for si, sj in g.offsets():
        part = buf[..., si, sj]
        if out is None:
            out = part.copy()
        else:
            combine(out, part, out=out)
    if mode.startswith("average"):
        out /= g.counts(xp, mode, x.dtype)
    return out


def pool_grad(xp, x, gz, *, ws, stride, pad, mode: str, ignore_border: bool):
    """The gradient of a sum or average :func:`pool` of ``x`` given the output's gradient
    ``gz``: each window's gradient spread over its elements (divided by its count for the
    averages; the share of padding is dropped)."""
    g = Geometry.of("pool_grad", x, ws, stride, pad, ignore_border)
    _check_shape("pool_grad", "the output gradient", gz, (*x.shape[:-2], *g.out))
    if mode not in ("sum", "average_inc_pad", "average_exc_pad"):
        raise ValueError(f"pool_grad: mode must be sum, average_inc_pad or average_exc_pad "
                         f"(max has max_pool_grad), got {mode!r}")
    share = gz / g.counts(xp, mode, gz.dtype) if mode.startswith("average") else gz
    buf = (xp.empty if g.tiles else xp.zeros)((*x.shape[:-2], *g.span), dtype=gz.dtype)
    for si, sj in g.offsets():
        if g.overlap:
            buf[..., si, sj] += share
        else:           # each element lies in one window at most: write, not add
            buf[..., si, sj] = share
    return xp.ascontiguousarray(buf[(..., *g.interior())]) if g.padded else buf


def _first_max(xp, x, z, g: Geometry) -> Iterator[tuple[tuple[slice, slice], object]]:
    """Per window offset, its slices and where that offset holds its window's first
    maximum ``z`` (a NaN where ``z`` is NaN) among the elements of ``x``. ``z`` must be the
    max :func:`pool` of ``x``: some offset of each window holds it, so the last offset
    is where no other one is."""
    buf = _buffer(xp, x, g, _lowest(xp, x.dtype))
    real = None
    if g.padded:        # a window of -inf elements must not give its gradient to padding
        real = xp.zeros(g.span, dtype=bool)
        real[g.interior()] = True
    # a NaN maximum propagates: one reduction tells whether any window holds a NaN
    nan = z != z if x.dtype.kind == "f" and z.size and bool(xp.isnan(z.max())) else None
    last = g.ws[0] * g.ws[1] - 1
    taken = None
    for k, (si, sj) in enumerate(g.offsets()):
        if k == last and taken is not None:
            yield (si, sj), ~taken
            return
        part = buf[..., si, sj]
        hit = part == z
        if nan is not None:
            hit |= nan & (part != part)
        if real is not None:
            hit &= real[si, sj]
        if taken is not None:
            hit = xp.greater(hit, taken)        # a hit where none was before
        taken = hit if taken is None else taken | hit
        yield (si, sj), hit


def max_pool_grad(xp, x, z, gz, *, ws, stride, pad, ignore_border: bool):
    """The gradient of the max :func:`pool` ``z`` of ``x`` given ``gz``: each window's
    gradient goes to its first maximum in window order."""
    g = Geometry.of("max_pool_grad", x, ws, stride, pad, ignore_border)
    want = (*x.shape[:-2], *g.out)
    _check_shape("max_pool_grad", "the pooled value", z, want)
    _check_shape("max_pool_grad", "the output gradient", gz, want)
    # a product with the mask is branch-free (numpy's where over a random mask is many
    # times slower), and exact while gz is finite (0 * inf would be NaN); a sum that
    # overflows only takes the exact path too
    finite = bool(xp.isfinite(gz.sum()))
    fill = xp.empty if g.tiles and finite else xp.zeros
    buf = fill((*x.shape[:-2], *g.span), dtype=gz.dtype)
    for (si, sj), hit in _first_max(xp, x, z, g):
        target = buf[..., si, sj]
        if not finite:
            target += xp.where(hit, gz, 0)
        elif g.overlap:
            target += gz * hit
        else:           # each element lies in one window at most: write, not add
            xp.multiply(gz, hit, out=target)
    return xp.ascontiguousarray(buf[(..., *g.interior())]) if g.padded else buf


def max_pool_grad_grad(xp, x, z, ggx, *, ws, stride, pad, ignore_border: bool):
    """The gradient of :func:`max_pool_grad` with respect to its ``gz``: per window, the
    value of ``ggx`` (shaped like ``x``) at the window's first maximum."""
    g = Geometry.of("max_pool_grad_grad", x, ws, stride, pad, ignore_border)
    _check_shape("max_pool_grad_grad", "the pooled value", z, (*x.shape[:-2], *g.out))
    _check_shape("max_pool_grad_grad", "the input gradient", ggx, x.shape)
    src = _buffer(xp, ggx, g, 0)
    out = xp.zeros(z.shape, dtype=ggx.dtype)
    for (si, sj), hit in _first_max(xp, x, z, g):
        out = xp.where(hit, src[..., si, sj], out)
    return out
