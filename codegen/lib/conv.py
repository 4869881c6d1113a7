"""2-d convolution (cross-correlation) and its two gradients, written once over an array
module ``xp`` like :mod:`codegen.lib.array`, which lists them as the library entries
``conv2d``, ``conv2d_grad_input`` and ``conv2d_grad_weights``.

Arrays are NCHW (input), OIHW (filters: ``O`` output channels, ``I = C / groups`` input
channels per group) and NOHW (output). ``stride`` and ``dilation`` are ``(rows, cols)``,
``padding`` is ``((top, bottom), (left, right))`` zeros around the input, or a mode
(``half``, ``full``, ``same``: :func:`axis_padding`) resolved for the sizes of the call.

How each is computed, per shape (the measurements behind each choice are in the docs'
convolution section):

* a kernel larger than 1x1: im2col, then one GEMM per group. The input is copied once
  with the images last, ``(C, H, W, N)``, zeros of the padding included; its sliding
  windows are then a strided view (``as_strided``) ``(groups, I*kh*kw, Ho*Wo*N)``, whose
  reshape is the one column copy. Images last make that copy's innermost runs ``Wo*N``
  long instead of ``Wo``. A single batched ``matmul`` over the groups multiplies the
  columns by the filters: one large product beat a product per image. It is taken as
  ``columns.T @ filters.T`` (many rows, few columns), the orientation OpenBLAS ran
  fastest.
* a 1x1 kernel: the input is already its own columns, ``(N, groups, I, Ho*Wo)`` without a
  copy, so the product is batched over the images and gives the output's layout directly.
* depthwise (groups == channels) takes the general path: a windowed multiply-sum over the
  taps won at large images and lost at small ones, no clear win.
* the gradient with respect to the input multiplies the filters by the output's gradient
  (images last) into columns and adds each kernel tap's columns back onto the padded
  input (col2im): a loop over the kh*kw taps, each one strided add over every image and
  channel, whose innermost runs are again ``Wo*N`` long.
* the gradient with respect to the filters is the product of the input's columns with the
  output's gradient, one GEMM per group, again with few columns.

>>> import numpy as np
>>> x, w = np.arange(16.0).reshape(1, 1, 4, 4), np.ones((1, 1, 2, 2))
>>> conv2d(np, x, w, stride=(2, 2), padding=((0, 0), (0, 0)), dilation=(1, 1), groups=1,
...        flip=False, dtype="float64")[0, 0].tolist()
[[10.0, 18.0], [42.0, 50.0]]
"""
from __future__ import annotations

Pair = tuple[int, int]
Padding = tuple[Pair, Pair]


def output_size(size: int, kernel: int, stride: int, dilation: int, pad: Pair) -> int:
    """The length of a convolution's output along one axis: the number of positions a
    dilated kernel fits in the padded input, every ``stride``-th (0 if it never fits)."""
    span = dilation * (kernel - 1) + 1
    return max((size + pad[0] + pad[1] - span) // stride + 1, 0)


def axis_padding(mode: str, size: int | None, kernel: int, stride: int,
                 dilation: int) -> Pair | None:
    """The zeros before and after one axis that a padding ``mode`` asks for: ``half``
    (Theano's: half the dilated kernel each side), ``full`` (all of it but one each side),
    ``same`` (jax's ``SAME``: ``ceil(size / stride)`` outputs, any odd zero after). None
    where it depends on a ``size`` that is not known (``same`` with a stride)."""
    span = dilation * (kernel - 1) + 1
    if mode == "half":
        return span // 2, span // 2
    if mode == "full":
        return span - 1, span - 1
    if size is None and stride != 1:
        return None
    total = span - 1 if stride == 1 else max((-(-size // stride) - 1) * stride + span - size,
                                              0)
    return total // 2, total - total // 2


def resolve_padding(padding: Padding | str, size: Pair, kernel: Pair, stride: Pair,
                    dilation: Pair) -> Padding:
    """``padding`` as zeros per side: explicit pairs pass through, a mode (``half``,
    ``full``, ``same``) is resolved for this input size and kernel."""
    if not isinstance(padding, str):
        return padding
    rows, cols = (axis_padding(padding, *a) for a in zip(size, kernel, stride, dilation))
    return rows, cols


def _fail(name: str, why: str):
    raise ValueError(f"{name}: {why}")


def _check_rank(name: str, **arrays) -> None:
    for what, a in arrays.items():
        if a.ndim != 4:
            _fail(name, f"the {what} must be 4-d, got shape {a.shape}")


def _check_filters(name: str, channels: int, w_shape: tuple, groups: int) -> None:
    """Filters ``w_shape`` (OIHW) must fit an input of ``channels`` channels in ``groups``
    and have a kernel of at least 1x1."""
    if min(w_shape[2:]) < 1:
        _fail(name, f"the filters of shape {w_shape} have an empty kernel")
    if w_shape[0] % groups:
        _fail(name, f"{w_shape[0]} output channels (filters of shape {w_shape}) do not "
                    f"split into {groups} groups")
    if channels != w_shape[1] * groups:
        _fail(name, f"the input has {channels} channels, the filters of shape {w_shape} "
                    f"take {w_shape[1]} per group x {groups} groups = "
                    f"{w_shape[1] * groups}")


def _out_shape(name: str, hw: tuple, kernel: tuple, stride, padding, dilation) -> Pair:
    """The output's ``(Ho, Wo)``; a kernel larger than the padded input is an error."""
    out = []
    for axis, n, k, s, d, p in zip(("height", "width"), hw, kernel, stride, dilation,
                                   padding):
        span = d * (k - 1) + 1
        if n + p[0] + p[1] < span:
            _fail(name, f"the kernel's {axis} {k} (dilated: {span}) is larger than the "
                        f"padded input's {n} + {p[0]} + {p[1]}")
        out.append(output_size(n, k, s, d, p))
    return out[0], out[1]


def _padded(xp, x, padding: Padding):
    (t, b), (l, r) = padding
    if not (t or b or l or r):
        return x
    n, c, h, w = x.shape
    out = xp.zeros((n, c, h + t + b, w + l + r), x.dtype)
    out[:, :, t:t + h, l:l + w] = x
    return out


def _images_last(xp, x, padding: Padding):
    """``x`` (N, C, H, W) padded with zeros and copied as (C, H', W', N)."""
    (t, b), (l, r) = padding
    n, c, h, w = x.shape
    out = xp.zeros((c, h + t + b, w + l + r, n), x.dtype)
    out[:, t:t + h, l:l + w, :] = x.transpose(1, 2, 3, 0)
    return out


def _columns(xp, x, kernel: Pair, out: Pair, stride, padding, dilation, groups: int):
    """im2col: the windows of the padded ``x`` as ``(groups, I*kh*kw, Ho*Wo*N)``."""
    chwn = _images_last(xp, x, padding)
    c, n = chwn.shape[0], chwn.shape[3]
    cg = c // groups
    sc, sh, sw, sn = chwn.strides
    windows = xp.lib.stride_tricks.as_strided(
        chwn, (groups, cg, *kernel, *out, n),
        (cg * sc, sc, dilation[0] * sh, dilation[1] * sw, stride[0] * sh, stride[1] * sw, sn))
    return windows.reshape(groups, cg * kernel[0] * kernel[1], out[0] * out[1] * n)


def _sizes(name: str, what: str, shape) -> Pair:
    """A spatial size given as an int vector: two entries."""
    sizes = tuple(int(v) for v in shape.tolist())
    if len(sizes) != 2:
        _fail(name, f"the {what} must have two entries (height, width), got {sizes}")
    return sizes


def _flipped(w, flip: bool):
    """The filters turned by 180 degrees for a true convolution (a view)."""
    return w[:, :, ::-1, ::-1] if flip else w


def _by_group(g, groups: int):
    """The output's gradient ``(N, O, Ho, Wo)`` as ``(groups, O/groups, Ho*Wo*N)``."""
    n, o, ho, wo = g.shape
    return g.transpose(1, 2, 3, 0).reshape(groups, o // groups, ho * wo * n)


def conv2d(xp, x, w, *, stride: Pair, padding: Padding | str, dilation: Pair, groups: int,
           flip: bool, dtype: str):
    """The cross-correlation of ``x`` (NCHW) with ``w`` (OIHW), computed in ``dtype``:
    ``out[n, o, i, j] = sum_{c, p, q} w[o, c, p, q] * xpad[n, g*I + c, i*sh + p*dh,
    j*sw + q*dw]`` where ``g`` is the group of ``o``; with ``flip``, with the filters
    flipped (``w[:, :, ::-1, ::-1]``: a true convolution)."""
    _check_rank("conv2d", input=x, filters=w)
    _check_filters("conv2d", x.shape[1], w.shape, groups)
    x, w = x.astype(dtype, copy=False), _flipped(w, flip).astype(dtype, copy=False)
    kernel = w.shape[2:]
    padding = resolve_padding(padding, x.shape[2:], kernel, stride, dilation)
    ho, wo = _out_shape("conv2d", x.shape[2:], kernel, stride, padding, dilation)
    n, (o, cg) = x.shape[0], w.shape[:2]
    if kernel == (1, 1):
        picked = _padded(xp, x, padding)[:, :, ::stride[0], ::stride[1]]
        cols = picked.reshape(n, groups, cg, ho * wo)
        return xp.matmul(w.reshape(groups, o // groups, cg), cols).reshape(n, o, ho, wo)
    cols = _columns(xp, x, kernel, (ho, wo), stride, padding, dilation, groups)
    filters = w.reshape(groups, o // groups, cols.shape[1])
    out = xp.matmul(cols.transpose(0, 2, 1), filters.transpose(0, 2, 1))
    out = out.reshape(groups, ho, wo, n, o // groups).transpose(3, 0, 4, 1, 2)
    return xp.ascontiguousarray(out).reshape(n, o, ho, wo)


def conv2d_grad_input(xp, g, w, shape, *, stride: Pair, padding: Padding | str,
                      dilation: Pair, groups: int, flip: bool, dtype: str):
    """The gradient of :func:`conv2d` (with these parameters) with respect to its input
    of spatial ``shape`` (an int vector ``[H, W]``), given the output's gradient ``g``:
    the transposed convolution of ``g`` with ``w``."""
    name = "conv2d_grad_input"
    _check_rank(name, gradient=g, filters=w)
    hw = _sizes(name, "input size", shape)
    n, o, ho, wo = g.shape
    if o != w.shape[0]:
        _fail(name, f"the output's gradient of shape {g.shape} has {o} channels, the "
                    f"filters of shape {w.shape} make {w.shape[0]}")
    _check_filters(name, w.shape[1] * groups, w.shape, groups)
    kernel = w.shape[2:]
    padding = resolve_padding(padding, hw, kernel, stride, dilation)
    want = _out_shape(name, hw, kernel, stride, padding, dilation)
    if want != (ho, wo):
        _fail(name, f"an input of size {hw[0]}x{hw[1]} gives an output of size "
                    f"{want[0]}x{want[1]}, the output's gradient has shape {g.shape}")
    g, w = g.astype(dtype, copy=False), _flipped(w, flip).astype(dtype, copy=False)
    cg, (kh, kw) = w.shape[1], kernel
    cols = xp.matmul(w.reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1),
                     _by_group(g, groups)).reshape(groups, cg, kh, kw, ho, wo, n)
    (t, b), (l, r) = padding
    out = xp.zeros((groups, cg, hw[0] + t + b, hw[1] + l + r, n), dtype)
    (sh, sw), (dh, dw) = stride, dilation
    for p in range(kh):              # col2im: each tap's columns go back where they came
        for q in range(kw):
            out[:, :, p * dh:p * dh + sh * (ho - 1) + 1:sh,
                q * dw:q * dw + sw * (wo - 1) + 1:sw] += cols[:, :, p, q]
    out = out[:, :, t:t + hw[0], l:l + hw[1]].transpose(4, 0, 1, 2, 3)
    return xp.ascontiguousarray(out).reshape(n, groups * cg, *hw)


def conv2d_grad_weights(xp, x, g, shape, *, stride: Pair, padding: Padding | str,
                        dilation: Pair, groups: int, flip: bool, dtype: str):
    """The gradient of :func:`conv2d` (with these parameters) with respect to its filters
    of spatial ``shape`` (an int vector ``[kh, kw]``), given its input ``x`` and the
    output's gradient ``g``."""
    name = "conv2d_grad_weights"
    _check_rank(name, input=x, gradient=g)
    kernel = _sizes(name, "kernel size", shape)
    if min(kernel) < 1:
        _fail(name, f"the kernel's size {kernel} is empty")
    n, c = x.shape[:2]
    o = g.shape[1]
    if c % groups or o % groups:
        _fail(name, f"the input's {c} channels and the output's {o} must both split into "
                    f"{groups} groups")
    padding = resolve_padding(padding, x.shape[2:], kernel, stride, dilation)
    out = _out_shape(name, x.shape[2:], kernel, stride, padding, dilation)
    if g.shape[0] != n or g.shape[2:] != out:
        _fail(name, f"the output's gradient has shape {g.shape}; an input of shape "
                    f"{x.shape} and a {kernel[0]}x{kernel[1]} kernel give "
                    f"({n}, {o}, {out[0]}, {out[1]})")
    x, g = x.astype(dtype, copy=False), g.astype(dtype, copy=False)
    cols = _columns(xp, x, kernel, out, stride, padding, dilation, groups)
    gw = xp.matmul(cols, _by_group(g, groups).transpose(0, 2, 1))    # (groups, I*kh*kw, O/g)
    gw = gw.transpose(0, 2, 1).reshape(o, c // groups, *kernel)
    return xp.ascontiguousarray(_flipped(gw, flip))
