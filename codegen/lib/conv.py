"""2-d convolution (cross-correlation) and its two gradients, written once over an array
module ``xp`` like :mod:`codegen.lib.array`, which lists them as the library entries
``conv2d``, ``conv2d_grad_input`` and ``conv2d_grad_weights``.

Arrays are NCHW (input), OIHW (filters: ``O`` output channels, ``I = C / groups`` input
channels per group) and NOHW (output). ``stride`` and ``dilation`` are ``(rows, cols)``,
``padding`` is ``((top, bottom), (left, right))`` zeros around the input, or a mode
(``half``, ``full``, ``same``: :func:`axis_padding`) resolved for the sizes of the call.

How each is computed, per shape (the measurements behind each choice are in the docs'
convolution section):

* a kernel larger than 1x1: im2col, then one GEMM per group (a batched ``matmul``: one
  large product beat a product per image). The windows of the padded input are a
  strided view (``as_strided``) ``(groups, I*kh*kw, M)`` over the ``M = N*Ho*Wo`` output
  positions, whose reshape is the one column copy, and the product is ``filters @
  columns``, ``(groups, O/groups, M)``. The order of ``M`` decides which copies are cheap
  (:func:`_images_first`): with the images first, ``(N, Ho, Wo)``, the columns come
  straight from the NCHW input in runs of ``Wo`` elements and the product is the output
  after a transpose in runs of ``Ho*Wo``; with the images last, ``(Ho, Wo, N)``, the
  input is first copied as ``(C, H, W, N)``, which makes the column copy's runs ``Wo*N``
  long, at the price of a transpose with the images innermost for the output. Images
  first pays when the rows are long (``Wo >= 16``), last when they are short.
* a 1x1 kernel: the input is already its own columns, ``(N, groups, I, Ho*Wo)`` without a
  copy, so the product is batched over the images and gives the output's layout directly.
* depthwise (groups == channels) takes the general path: a windowed multiply-sum over the
  taps won at large images and lost at small ones, no clear win.
* the gradient with respect to the input, with at least 8 input channels per group: per
  kernel tap, the output's gradient (images and channels last, ``(N*Ho*Wo, O/groups)``)
  times the tap's filters, ``(O/groups, I)``, added onto the input's gradient, also
  channels last, ``(N, H, W, C)``, where the tap's windows lie: kh*kw products with many
  rows (the orientation OpenBLAS runs fastest) and adds in runs of ``Wo*C``. With fewer
  channels those products are too thin: the filters times the output's gradient (images
  last) make the columns, ``(groups, I*kh*kw, M)``, whose taps are added back onto the
  padded input (col2im), one strided add per tap over every image and channel.
* the gradient with respect to the filters is the product of the input's columns with the
  output's gradient, one GEMM per group, the gradient copied in the columns' order of
  ``M``; with the images first, a product per image (batched) and their sum instead, as
  the gradient of each image is then already a matrix and a product with a contraction
  of ``N*Ho*Wo`` ran slower than ``N`` of ``Ho*Wo``.

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
    """``x`` (N, C, H, W) with zeros around each image (``x`` itself without padding)."""
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


def _images_first(out: Pair) -> bool:
    """Whether the columns of a call with output size ``out`` order the output positions
    with the images first, ``(N, Ho, Wo)``, rather than last, ``(Ho, Wo, N)``: first for
    rows of at least 16 outputs, where the column copy's runs of ``Wo`` are long enough
    and the transposes that the images last need cost more than it saves."""
    return out[1] >= 16


def _columns(xp, x, kernel: Pair, out: Pair, stride, padding, dilation, groups: int,
             first: bool):
    """im2col: the windows of the padded ``x`` as ``(groups, I*kh*kw, M)``, the output
    positions ``M`` ordered ``(N, Ho, Wo)`` if ``first``, else ``(Ho, Wo, N)``."""
    n, c = x.shape[:2]
    cg, (dh, dw), (sh, sw) = c // groups, dilation, stride
    if first:
        src = _padded(xp, x, padding)
        s_n, s_c, s_h, s_w = src.strides
        shape = (groups, cg, *kernel, n, *out)
        strides = (cg * s_c, s_c, dh * s_h, dw * s_w, s_n, sh * s_h, sw * s_w)
    else:
        src = _images_last(xp, x, padding)
        s_c, s_h, s_w, s_n = src.strides
        shape = (groups, cg, *kernel, *out, n)
        strides = (cg * s_c, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w, s_n)
    windows = xp.lib.stride_tricks.as_strided(src, shape, strides)
    return windows.reshape(groups, cg * kernel[0] * kernel[1], n * out[0] * out[1])


def _by_group(g, groups: int, first: bool):
    """The output's gradient ``(N, O, Ho, Wo)`` as ``(groups, O/groups, M)``, the output
    positions in the columns' order (see :func:`_columns`)."""
    n, o, ho, wo = g.shape
    g = g.transpose(1, 0, 2, 3) if first else g.transpose(1, 2, 3, 0)
    return g.reshape(groups, o // groups, n * ho * wo)


def _to_nchw(xp, a, first: bool):
    """``a`` shaped (C, N, H, W) if ``first``, else (C, H, W, N), as a new (N, C, H, W)."""
    return xp.ascontiguousarray(a.transpose((1, 0, 2, 3) if first else (3, 0, 1, 2)))


def _sizes(name: str, what: str, shape) -> Pair:
    """A spatial size given as an int vector: two entries."""
    sizes = tuple(int(v) for v in shape.tolist())
    if len(sizes) != 2:
        _fail(name, f"the {what} must have two entries (height, width), got {sizes}")
    return sizes


def _flipped(w, flip: bool):
    """The filters turned by 180 degrees for a true convolution (a view)."""
    return w[:, :, ::-1, ::-1] if flip else w


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
    first = _images_first((ho, wo))
    cols = _columns(xp, x, kernel, (ho, wo), stride, padding, dilation, groups, first)
    out = xp.matmul(w.reshape(groups, o // groups, cols.shape[1]), cols)
    return _to_nchw(xp, out.reshape((o, n, ho, wo) if first else (o, ho, wo, n)), first)


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
    if w.shape[1] >= 8:
        return _grad_input_by_taps(xp, g, w, hw, stride, padding, dilation, groups)
    return _grad_input_col2im(xp, g, w, hw, stride, padding, dilation, groups)


def _tap(p: int, q: int, out: Pair, stride, dilation) -> tuple[slice, slice]:
    """Where kernel tap ``(p, q)`` of every window lies in the padded input."""
    (ho, wo), (sh, sw), (dh, dw) = out, stride, dilation
    return (slice(p * dh, p * dh + sh * (ho - 1) + 1, sh),
            slice(q * dw, q * dw + sw * (wo - 1) + 1, sw))


def _grad_input_by_taps(xp, g, w, hw: Pair, stride, padding, dilation, groups: int):
    """The input's gradient as a sum over the kernel taps of the output's gradient times
    the tap's filters, channels last (see the module)."""
    n, o, ho, wo = g.shape
    og, cg, kh, kw = o // groups, *w.shape[1:]
    rows = xp.ascontiguousarray(g.transpose(0, 2, 3, 1)).reshape(n * ho * wo, groups, og)
    rows = rows.transpose(1, 0, 2)                                  # (groups, M, O/groups)
    taps = xp.ascontiguousarray(w.reshape(groups, og, cg, kh, kw).transpose(3, 4, 0, 1, 2))
    (t, b), (l, r) = padding
    out = xp.zeros((n, hw[0] + t + b, hw[1] + l + r, groups, cg), g.dtype)
    share = xp.empty((groups, n * ho * wo, cg), g.dtype)
    placed = share.reshape(groups, n, ho, wo, cg).transpose(1, 2, 3, 0, 4)
    for p in range(kh):
        for q in range(kw):
            xp.matmul(rows, taps[p, q], out=share)
            out[(slice(None), *_tap(p, q, (ho, wo), stride, dilation))] += placed
    out = out[:, t:t + hw[0], l:l + hw[1]].reshape(n, *hw, groups * cg)
    return xp.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _grad_input_col2im(xp, g, w, hw: Pair, stride, padding, dilation, groups: int):
    """The input's gradient as the filters times the output's gradient (images last),
    each kernel tap's columns added back where they came from (see the module)."""
    n, o, ho, wo = g.shape
    cg, kh, kw = w.shape[1:]
    cols = xp.matmul(w.reshape(groups, o // groups, cg * kh * kw).transpose(0, 2, 1),
                     _by_group(g, groups, False)).reshape(groups, cg, kh, kw, ho, wo, n)
    (t, b), (l, r) = padding
    out = xp.zeros((groups, cg, hw[0] + t + b, hw[1] + l + r, n), g.dtype)
    for p in range(kh):
        for q in range(kw):
            out[(slice(None), slice(None), *_tap(p, q, (ho, wo), stride, dilation))] += \
                cols[:, :, p, q]
    return _to_nchw(xp, out[:, :, t:t + hw[0], l:l + hw[1]].reshape(
        groups * cg, *hw, n), False)


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
    first = _images_first(out)
    cols = _columns(xp, x, kernel, out, stride, padding, dilation, groups, first)
    if first:       # a product per image, summed: g is already (N, groups, O/g, Ho*Wo)
        k, size = cols.shape[1], out[0] * out[1]
        gw = xp.matmul(cols.reshape(groups, k, n, size).transpose(2, 0, 1, 3),
                       g.reshape(n, groups, o // groups, size).transpose(0, 1, 3, 2))
        gw = gw.sum(axis=0)
    else:
        gw = xp.matmul(cols, _by_group(g, groups, first).transpose(0, 2, 1))
    gw = gw.transpose(0, 2, 1).reshape(o, c // groups, *kernel)   # from (groups, K, O/g)
    return xp.ascontiguousarray(_flipped(gw, flip))
