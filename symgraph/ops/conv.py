"""2-d convolutions: :class:`Conv2D` (a cross-correlation of NCHW images with OIHW
filters) and its two gradients, :class:`Conv2DGradInput` and :class:`Conv2DGradWeights`,
each of them differentiable, so second derivatives work. All three lower to library calls
(``codegen/lib/conv.py``: im2col and one GEMM per group on numpy's BLAS, or for the input's
gradient one GEMM per kernel tap).

The user functions come in two conventions, each under the names its users know:

* **Theano's** (``conv2d``, ``conv2d_grad_wrt_inputs``, ``conv2d_grad_wrt_weights``,
  ``conv2d_transpose``), with Theano's arguments (``border_mode``, ``subsample``,
  ``filter_dilation``, ``num_groups``, ``input_shape``, ``filter_shape``) in Theano's
  order. ``filter_flip=True`` by default: the filters are flipped, a true convolution,
  so a Theano or Lasagne program gives what it gave under Theano.
* **PyTorch's** ``torch.nn.functional`` (``conv2d_xcorr`` for its ``conv2d``, ``conv1d``,
  ``conv_transpose2d``), with its arguments (``bias``, ``stride``, ``padding``,
  ``dilation``, ``groups``) in its order: a cross-correlation, as in PyTorch and jax.

Handing one convention's argument names to the other's function is a ``TypeError`` that
says which function takes them, so no call silently flips (or fails to flip) its filters.

>>> import symgraph as sg, numpy as np
>>> x, w = sg.dtensor4("x"), sg.dtensor4("w")
>>> img, k = np.arange(9.0).reshape(1, 1, 3, 3), np.array([[[[1.0, 0.0], [0.0, 0.0]]]])
>>> sg.nnet.conv2d(x, w).eval({x: img, w: k})[0, 0].tolist()         # flips: Theano's
[[4.0, 5.0], [7.0, 8.0]]
>>> sg.nnet.conv2d_xcorr(x, w).eval({x: img, w: k})[0, 0].tolist()   # PyTorch's
[[0.0, 1.0], [3.0, 4.0]]
"""
from __future__ import annotations

from numbers import Integral

import numpy as np

from codegen.lib.conv import axis_padding, output_size
from codegen.program import LibraryCall

from ..graph import Apply, Op, Variable, user_trace
from ..types import FLOATS, INTS, TensorType, result_dtype
from ..variable import as_tensor, constant
from .shape import _shape_vector, dimshuffle, shape

__all__ = ["Conv2D", "Conv2DGradInput", "Conv2DGradWeights", "conv2d", "conv2d_xcorr",
           "conv1d", "conv_transpose2d", "conv2d_grad_wrt_inputs", "conv2d_grad_wrt_weights",
           "conv2d_transpose"]

_THEANO_MODES = ("valid", "full", "half")
_TORCH_MODES = ("valid", "same", "full")


def _error(name: str, why: str, kind=ValueError) -> Exception:
    """An error naming the function and the user's line that built the call."""
    where = user_trace()
    return kind(f"{name}: {why}" + (f"\n  built at {where}" if where else ""))


def _is_int(v) -> bool:
    return isinstance(v, Integral) and not isinstance(v, bool)


# ---------------------------------------------------------------- argument specs
def _pair(value, name: str, arg: str, minimum: int = 1) -> tuple[int, int]:
    """An int or two ints (rows, cols), each at least ``minimum``."""
    pair = (value, value) if _is_int(value) else tuple(value) if isinstance(
        value, (tuple, list)) else None
    if pair is None or len(pair) != 2 or not all(_is_int(v) for v in pair):
        raise _error(name, f"{arg} must be an int or two of them (rows, cols), got "
                           f"{value!r}", TypeError)
    if min(pair) < minimum:
        raise _error(name, f"{arg} must be at least {minimum}, got {value!r}")
    return int(pair[0]), int(pair[1])


def _padding(spec, name: str, arg: str, modes: tuple[str, ...]):
    """A padding spec as the ops hold it: a mode (``half``, ``full``, ``same``) or zeros
    per side ``((top, bottom), (left, right))``; ``valid`` is no zeros."""
    def side(v):
        if _is_int(v) and v >= 0:
            return int(v), int(v)
        if isinstance(v, (tuple, list)) and len(v) == 2 and all(
                _is_int(e) and e >= 0 for e in v):
            return int(v[0]), int(v[1])
        return None

    if isinstance(spec, str) and spec in modes:
        return ((0, 0), (0, 0)) if spec == "valid" else spec
    axes = (spec, spec) if _is_int(spec) else spec
    pads = tuple(side(v) for v in axes) if isinstance(axes, (tuple, list)) else ()
    if len(pads) != 2 or None in pads:
        raise _error(name, f"{arg}={spec!r} is not a padding: expected one of "
                           f"{', '.join(map(repr, modes))}, an int >= 0, (rows, cols) or "
                           "((top, bottom), (left, right))", ValueError)
    return pads


def _groups(value, name: str) -> int:
    if not _is_int(value):
        raise _error(name, f"groups must be an int, got {value!r}", TypeError)
    if value < 1:
        raise _error(name, f"groups must be at least 1, got {value!r}")
    return int(value)


def _spatial(v: Variable) -> tuple[Variable, tuple]:
    """``v``'s last two sizes as an int64 vector (a constant when static) and statically."""
    static = v.type.shape[2:]
    if None not in static:
        return constant(np.asarray(static, "int64")), static
    return shape(v)[2:], static


# ---------------------------------------------------------------- the ops
class _Conv(Op):
    """What the three ops share: the convolution's stride, padding (zeros per side or a
    mode), dilation, groups and whether the filters are flipped (Theano's true
    convolution, the flip done where the library copies the filters anyway), their
    checks, and the lowering to a library call."""
    __props__ = ("stride", "padding", "dilation", "groups", "flip")
    entry = ""

    def __init__(self, stride=(1, 1), padding=((0, 0), (0, 0)), dilation=(1, 1),
                 groups: int = 1, flip: bool = False):
        self.stride, self.padding = tuple(stride), padding
        self.dilation, self.groups, self.flip = tuple(dilation), int(groups), bool(flip)

    @property
    def name(self) -> str:
        return self.entry

    @property
    def conv(self) -> tuple:
        return self.stride, self.padding, self.dilation, self.groups, self.flip

    def lower(self, node):
        return LibraryCall.of(self.entry, stride=self.stride, padding=self.padding,
                              dilation=self.dilation, groups=self.groups, flip=self.flip,
                              dtype=node.outputs[0].dtype)

    def _floats(self, **operands) -> str:
        for what, v in operands.items():
            if v.ndim != 4:
                raise _error(self.entry, f"the {what} must be 4-d, got {v.type}", TypeError)
            if v.dtype not in FLOATS:
                raise _error(self.entry, f"the {what} must be float32 or float64, got "
                                         f"{v.type} (cast it)", TypeError)
        return result_dtype(*(v.dtype for v in operands.values()))

    def _channels(self, c, o, cg) -> None:
        """Static channel counts: ``c`` in, ``o`` out, ``cg`` per group (None: unknown)."""
        g = self.groups
        if o is not None and o % g:
            raise _error(self.entry, f"{o} output channels do not split into {g} groups")
        if c is not None and cg is not None and c != cg * g:
            raise _error(self.entry, f"the input has {c} channels, the filters take {cg} "
                                     f"per group x {g} groups = {cg * g}")
        if c is not None and c % g:
            raise _error(self.entry, f"{c} input channels do not split into {g} groups")

    def _out(self, hw, kernel) -> list:
        """The static output size per spatial axis (None where unknown); a kernel larger
        than the padded input is an error."""
        if any(k is not None and k < 1 for k in kernel):
            raise _error(self.entry, f"the kernel's size {tuple(kernel)} is empty")
        out = []
        for a, (n, k) in enumerate(zip(hw, kernel)):
            s, d = self.stride[a], self.dilation[a]
            pad = None if k is None else self.padding[a] if not isinstance(
                self.padding, str) else axis_padding(self.padding, n, k, s, d)
            if n is None or pad is None:
                out.append(None)
                continue
            span = d * (k - 1) + 1
            if n + pad[0] + pad[1] < span:
                raise _error(self.entry, f"the kernel's {('height', 'width')[a]} {k} "
                                         f"(dilated: {span}) is larger than the padded "
                                         f"input's {n} + {pad[0]} + {pad[1]}")
            out.append(output_size(n, k, s, d, pad))
        return out

    def _check_shape_input(self, v: Variable, what: str) -> None:
        if v.ndim != 1 or v.dtype not in INTS or v.type.shape[0] != 2:
            raise _error(self.entry, f"the {what} must be an int vector of length 2, got "
                                     f"{v.type}", TypeError)


class Conv2D(_Conv):
    """``out[n, o, i, j] = sum_{c, p, q} w[o, c, p, q] * xpad[n, g*I + c, i*sh + p*dh,
    j*sw + q*dw]``: the cross-correlation of ``x`` (N, C, H, W) with ``w`` (O, I, kh, kw),
    ``I = C / groups``, ``g`` the group of output channel ``o``; with ``flip``, of ``x``
    with ``w[:, :, ::-1, ::-1]`` (a convolution)."""
    entry = "conv2d"

    def make_node(self, x: Variable, w: Variable) -> Apply:
        dtype = self._floats(input=x, filters=w)
        (n, c, h, wd), (o, cg, kh, kw) = x.type.shape, w.type.shape
        self._channels(c, o, cg)
        return Apply(self, [x, w], [TensorType(dtype, (n, o, *self._out((h, wd),
                                                                         (kh, kw))))()])

    def grad(self, inputs, outputs, output_grads):
        (x, w), (g,) = inputs, output_grads
        x_hw, x_static = _spatial(x)
        w_hw, w_static = _spatial(w)
        return [Conv2DGradInput(*self.conv, x_static)(g, w, x_hw),
                Conv2DGradWeights(*self.conv, w_static)(x, g, w_hw)]


class _ConvGrad(_Conv):
    """A gradient of :class:`Conv2D`, which takes the spatial size of what it computes as
    an int vector input; ``static`` is what is known of that size while building."""
    __props__ = _Conv.__props__ + ("static",)

    def __init__(self, stride, padding, dilation, groups, flip=False, static=(None, None)):
        super().__init__(stride, padding, dilation, groups, flip)
        self.static = tuple(static)

    def _check_output(self, g: Variable, want, given: str) -> None:
        """The output's gradient ``g`` has the output's static size ``want`` (what
        ``given``, a phrase, gives)."""
        for a, (got, w) in enumerate(zip(g.type.shape[2:], want)):
            if got is not None and w is not None and got != w:
                raise _error(self.entry, f"{given} an output {('height', 'width')[a]} of "
                                         f"{w}, the output's gradient {g.type} has {got}")


class Conv2DGradInput(_ConvGrad):
    """The gradient of :class:`Conv2D` with respect to its input, from the output's
    gradient ``g``, the filters ``w`` and the input's spatial size ``hw``: the transposed
    convolution."""
    entry = "conv2d_grad_input"

    def make_node(self, g: Variable, w: Variable, hw: Variable) -> Apply:
        dtype = self._floats(gradient=g, filters=w)
        self._check_shape_input(hw, "input size")
        (n, o, _, _), (o2, cg, kh, kw) = g.type.shape, w.type.shape
        if o is not None and o2 is not None and o != o2:
            raise _error(self.entry, f"the output's gradient {g.type} has {o} channels, "
                                     f"the filters {w.type} make {o2}")
        self._channels(None, o2, cg)
        self._check_output(g, self._out(self.static, (kh, kw)),
                           f"an input of size {self.static} gives")
        c = None if cg is None else cg * self.groups
        return Apply(self, [g, w, hw], [TensorType(dtype, (n, c, *self.static))()])

    def grad(self, inputs, outputs, output_grads):
        (g, w, _), (gx,) = inputs, output_grads
        w_hw, w_static = _spatial(w)
        return [Conv2D(*self.conv)(gx, w), Conv2DGradWeights(*self.conv, w_static)(gx, g, w_hw),
                None]


class Conv2DGradWeights(_ConvGrad):
    """The gradient of :class:`Conv2D` with respect to its filters, from its input ``x``,
    the output's gradient ``g`` and the kernel's size ``hw``."""
    entry = "conv2d_grad_weights"

    def make_node(self, x: Variable, g: Variable, hw: Variable) -> Apply:
        dtype = self._floats(input=x, gradient=g)
        self._check_shape_input(hw, "kernel size")
        (n, c, h, wd), (n2, o, _, _) = x.type.shape, g.type.shape
        if n is not None and n2 is not None and n != n2:
            raise _error(self.entry, f"the input {x.type} has {n} images, the output's "
                                     f"gradient {g.type} {n2}")
        self._channels(c, o, None)
        self._check_output(g, self._out((h, wd), self.static),
                           f"the input {x.type} and a kernel of size {self.static} give")
        cg = None if c is None else c // self.groups
        return Apply(self, [x, g, hw], [TensorType(dtype, (o, cg, *self.static))()])

    def grad(self, inputs, outputs, output_grads):
        (x, g, _), (gw,) = inputs, output_grads
        x_hw, x_static = _spatial(x)
        return [Conv2DGradInput(*self.conv, x_static)(g, gw, x_hw), Conv2D(*self.conv)(x, gw),
                None]


# ---------------------------------------------------------------- Theano's functions
_TORCH_NAMES = {"stride": "subsample", "padding": "border_mode", "dilation": "filter_dilation",
                "groups": "num_groups", "bias": None}


def _no_torch_names(name: str, kwargs: dict) -> None:
    """Theano's functions take Theano's names; PyTorch's are an error saying where they
    belong, since the two conventions differ in whether the filters are flipped."""
    if not kwargs:
        return
    arg = next(iter(kwargs))
    if arg not in _TORCH_NAMES:
        raise TypeError(f"{name}() got an unexpected keyword argument {arg!r}")
    theano = _TORCH_NAMES[arg]
    raise _error(name, f"{arg}= is PyTorch's name. sg.nnet.{name} is Theano's: a true "
                       "convolution (it flips the filters unless filter_flip=False)"
                       + (f", and it calls this argument {theano}=" if theano else
                          ", and it adds no bias")
                       + ". For PyTorch's cross-correlation, call sg.nnet.conv2d_xcorr("
                       "input, weight, bias, stride, padding, dilation, groups)", TypeError)


def _check_hint(name: str, arg: str, hint, v: Variable) -> None:
    """Theano's ``input_shape``/``filter_shape``: four sizes (ints, None, or symbolic,
    which are not checked) that must agree with what ``v``'s type knows."""
    if hint is None:
        return
    hint = tuple(hint)
    if len(hint) != 4:
        raise _error(name, f"{arg} must have 4 entries, got {hint}")
    for a, (h, s) in enumerate(zip(hint, v.type.shape)):
        if _is_int(h) and s is not None and h != s:
            raise _error(name, f"{arg}={hint} says axis {a} has size {h}, but {v.type} has "
                               f"{s}")


def _theano_op(name, border_mode, subsample, filter_dilation, num_groups) -> tuple:
    return (_pair(subsample, name, "subsample"),
            _padding(border_mode, name, "border_mode", _THEANO_MODES),
            _pair(filter_dilation, name, "filter_dilation"), _groups(num_groups, name))


def conv2d(input, filters, input_shape=None, filter_shape=None, border_mode="valid",
           subsample=(1, 1), filter_flip: bool = True, image_shape=None,
           filter_dilation=(1, 1), num_groups: int = 1, unshared: bool = False,
           **kwargs) -> Variable:
    """Theano's ``conv2d``: images (N, C, H, W) convolved with filters (O, C / num_groups,
    kh, kw). A true convolution (filters flipped) unless ``filter_flip=False``, then a
    cross-correlation. ``border_mode``: ``'valid'``, ``'full'``, ``'half'``, an int,
    (rows, cols) or ((top, bottom), (left, right)); ``subsample``: the stride;
    ``input_shape``/``filter_shape`` (or the older ``image_shape``): sizes checked
    against the inputs' static shapes. PyTorch's names are a ``TypeError``
    (:func:`conv2d_xcorr` takes them).

    >>> import symgraph as sg, numpy as np
    >>> x, w = sg.ftensor4("x"), sg.tensor("w", "float32", (8, 3, 3, 3))
    >>> y = sg.nnet.conv2d(x, w, border_mode="half", subsample=(2, 2))
    >>> y.type
    TensorType(float32, (?, 8, ?, ?))
    >>> y.eval({x: np.ones((2, 3, 9, 9), "float32"), w: np.ones((8, 3, 3, 3), "float32")}
    ...        ).shape
    (2, 8, 5, 5)
    """
    _no_torch_names("conv2d", kwargs)
    if unshared:
        raise _error("conv2d", "unshared (locally connected) filters are not supported",
                     NotImplementedError)
    if image_shape is not None and input_shape is not None:
        raise _error("conv2d", "give input_shape or its older name image_shape, not both",
                     TypeError)
    x, w = as_tensor(input), as_tensor(filters)
    _check_hint("conv2d", "input_shape", image_shape if input_shape is None else input_shape,
                x)
    _check_hint("conv2d", "filter_shape", filter_shape, w)
    conv = _theano_op("conv2d", border_mode, subsample, filter_dilation, num_groups)
    return Conv2D(*conv, filter_flip)(x, w)


def _hw(spec, name: str, arg: str) -> tuple[Variable, tuple]:
    """The spatial part of a 4-entry shape (ints, symbolic scalars or an int vector) as an
    int64 vector and what is known of it."""
    if spec is None:
        raise _error(name, f"{arg} is needed: the spatial sizes do not follow from the "
                           "output's", TypeError)
    vector, static = _shape_vector(spec)
    if len(static) != 4:
        raise _error(name, f"{arg} must have 4 entries (N, C, H, W), got {len(static)}")
    if None not in static[2:]:
        return constant(np.asarray(static[2:], "int64")), static[2:]
    return vector[2:], static[2:]


def conv2d_grad_wrt_inputs(output_grad, filters, input_shape, filter_shape=None,
                           border_mode="valid", subsample=(1, 1), filter_flip: bool = True,
                           filter_dilation=(1, 1), num_groups: int = 1) -> Variable:
    """Theano's ``conv2d_grad_wrt_inputs``: the gradient of :func:`conv2d` with respect
    to images of ``input_shape`` (4 entries, ints or symbolic; its H and W are needed
    because a stride loses them), given the gradient of its output.

    >>> import symgraph as sg, numpy as np
    >>> g, w = sg.dtensor4("g"), sg.dtensor4("w")
    >>> gx = sg.nnet.conv2d_grad_wrt_inputs(g, w, (1, 1, 5, 5), subsample=(2, 2))
    >>> gx.eval({g: np.ones((1, 1, 2, 2)), w: np.ones((1, 1, 2, 2))})[0, 0, :, 0].tolist()
    [1.0, 1.0, 1.0, 1.0, 0.0]
    """
    g, w = as_tensor(output_grad), as_tensor(filters)
    _check_hint("conv2d_grad_wrt_inputs", "filter_shape", filter_shape, w)
    hw, static = _hw(input_shape, "conv2d_grad_wrt_inputs", "input_shape")
    conv = _theano_op("conv2d_grad_wrt_inputs", border_mode, subsample, filter_dilation,
                      num_groups)
    return Conv2DGradInput(*conv, filter_flip, static)(g, w, hw)


def conv2d_transpose(input, filters, output_shape, filter_shape=None, border_mode="valid",
                     input_dilation=(1, 1), filter_flip: bool = True,
                     filter_dilation=(1, 1), num_groups: int = 1) -> Variable:
    """Theano's ``conv2d_transpose``: :func:`conv2d_grad_wrt_inputs` of ``input`` to
    images of ``output_shape``, ``input_dilation`` being the forward stride.

    >>> import symgraph as sg, numpy as np
    >>> x, w = sg.dtensor4("x"), sg.dtensor4("w")
    >>> sg.nnet.conv2d_transpose(x, w, (1, 2, 6, 6), input_dilation=(2, 2)).eval(
    ...     {x: np.ones((1, 3, 3, 3)), w: np.ones((3, 2, 2, 2))}).shape
    (1, 2, 6, 6)
    """
    return conv2d_grad_wrt_inputs(input, filters, output_shape, filter_shape, border_mode,
                                  input_dilation, filter_flip, filter_dilation, num_groups)


def conv2d_grad_wrt_weights(input, output_grad, filter_shape, input_shape=None,
                            border_mode="valid", subsample=(1, 1), filter_flip: bool = True,
                            filter_dilation=(1, 1), num_groups: int = 1) -> Variable:
    """Theano's ``conv2d_grad_wrt_weights``: the gradient of :func:`conv2d` with respect
    to filters of ``filter_shape`` (4 entries; kh and kw are needed), given its input and
    the gradient of its output.

    >>> import symgraph as sg, numpy as np
    >>> x, g = sg.dtensor4("x"), sg.dtensor4("g")
    >>> gw = sg.nnet.conv2d_grad_wrt_weights(x, g, (1, 1, 2, 2))
    >>> gw.eval({x: np.arange(9.0).reshape(1, 1, 3, 3), g: np.ones((1, 1, 2, 2))}).tolist()
    [[[[24.0, 20.0], [12.0, 8.0]]]]
    """
    x, g = as_tensor(input), as_tensor(output_grad)
    _check_hint("conv2d_grad_wrt_weights", "input_shape", input_shape, x)
    hw, static = _hw(filter_shape, "conv2d_grad_wrt_weights", "filter_shape")
    conv = _theano_op("conv2d_grad_wrt_weights", border_mode, subsample, filter_dilation,
                      num_groups)
    return Conv2DGradWeights(*conv, filter_flip, static)(x, g, hw)


# ---------------------------------------------------------------- PyTorch's functions
def _with_bias(y: Variable, bias, name: str, axes: tuple) -> Variable:
    if bias is None:
        return y
    b = as_tensor(bias)
    if b.ndim != 1:
        raise _error(name, f"the bias must be a vector (one value per output channel), "
                           f"got {b.type}", TypeError)
    o, k = y.type.shape[1], b.type.shape[0]
    if o is not None and k is not None and o != k:
        raise _error(name, f"the bias has {k} values, the output {o} channels")
    return y + dimshuffle(b, *axes)


def conv2d_xcorr(input, weight, bias=None, stride=1, padding=0, dilation=1,
                 groups: int = 1) -> Variable:
    """PyTorch's ``torch.nn.functional.conv2d`` (and jax's ``conv_general_dilated`` in
    NCHW/OIHW): the cross-correlation of images (N, C, H, W) with filters
    (O, C / groups, kh, kw), plus ``bias`` per output channel. ``padding``: an int,
    (rows, cols), ((top, bottom), (left, right)), ``'valid'``, ``'same'`` (jax's rule:
    ``ceil(H / stride)`` outputs, any odd zero after; with a stride it needs H and W
    at build time) or ``'full'``.

    >>> import symgraph as sg, numpy as np
    >>> x, w = sg.dtensor4("x"), sg.dtensor4("w")
    >>> y = sg.nnet.conv2d_xcorr(x, w, padding="same", dilation=2, groups=2)
    >>> y.eval({x: np.ones((1, 4, 5, 5)), w: np.ones((6, 2, 3, 3))})[0, 0].tolist()[0]
    [8.0, 8.0, 12.0, 8.0, 8.0]
    """
    x, w = as_tensor(input), as_tensor(weight)
    conv = (_pair(stride, "conv2d_xcorr", "stride"),
            _padding(padding, "conv2d_xcorr", "padding", _TORCH_MODES),
            _pair(dilation, "conv2d_xcorr", "dilation"), _groups(groups, "conv2d_xcorr"))
    _same_needs_sizes("conv2d_xcorr", conv, x)
    return _with_bias(Conv2D(*conv)(x, w), bias, "conv2d_xcorr", ("x", 0, "x", "x"))


def _same_needs_sizes(name: str, conv: tuple, x: Variable) -> None:
    stride, padding = conv[:2]
    if padding == "same" and any(s != 1 and n is None for s, n in zip(stride, x.type.shape[2:])):
        raise _error(name, f"padding='same' with stride {stride} depends on the input's "
                           f"height and width, which {x.type} does not know: declare them "
                           "(sg.tensor(..., shape=...)) or give the padding as ints")


def conv1d(input, weight, bias=None, stride=1, padding=0, dilation=1,
           groups: int = 1) -> Variable:
    """PyTorch's ``torch.nn.functional.conv1d``: the cross-correlation of sequences
    (N, C, L) with filters (O, C / groups, k), plus ``bias``; ``padding`` as in
    :func:`conv2d_xcorr`, for the one axis (an int, (before, after) or a mode). It is a
    :class:`Conv2D` with a unit height.

    >>> import symgraph as sg, numpy as np
    >>> x, w = sg.dtensor3("x"), sg.dtensor3("w")
    >>> sg.nnet.conv1d(x, w, padding=1).eval({x: np.ones((1, 1, 4)),
    ...                                        w: np.ones((1, 1, 3))}).tolist()
    [[[2.0, 3.0, 3.0, 2.0]]]
    """
    x, w = as_tensor(input), as_tensor(weight)
    for what, v in (("input", x), ("weight", w)):
        if v.ndim != 3:
            raise _error("conv1d", f"the {what} must be 3-d, got {v.type}", TypeError)
    if isinstance(padding, str) or _is_int(padding):
        pad = padding
    else:
        spec = tuple(padding) if isinstance(padding, (tuple, list)) else ()
        pad = spec[0] if len(spec) == 1 else spec
    pad = _padding(pad if isinstance(pad, str) else (0, pad), "conv1d", "padding",
                   _TORCH_MODES)
    conv = ((1, _pair(stride, "conv1d", "stride")[0]), pad,
            (1, _pair(dilation, "conv1d", "dilation")[0]), _groups(groups, "conv1d"))
    x4, w4 = dimshuffle(x, 0, 1, "x", 2), dimshuffle(w, 0, 1, "x", 2)
    _same_needs_sizes("conv1d", conv, x4)
    y = dimshuffle(Conv2D(*conv)(x4, w4), 0, 1, 3)
    return _with_bias(y, bias, "conv1d", ("x", 0, "x"))


def conv_transpose2d(input, weight, bias=None, stride=1, padding=0, output_padding=0,
                     groups: int = 1, dilation=1) -> Variable:
    """PyTorch's ``torch.nn.functional.conv_transpose2d``: the gradient of
    :func:`conv2d_xcorr` with respect to its input, as a layer. ``input`` (N, Cin, H, W),
    ``weight`` (Cin, Cout / groups, kh, kw); the output has height
    ``(H - 1) * stride - 2 * padding + dilation * (kh - 1) + 1 + output_padding``, and
    ``output_padding`` must be less than the stride (PyTorch also allows less than the
    dilation).

    >>> import symgraph as sg, numpy as np
    >>> x, w = sg.dtensor4("x"), sg.dtensor4("w")
    >>> y = sg.nnet.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)
    >>> y.eval({x: np.ones((1, 2, 3, 3)), w: np.ones((2, 4, 3, 3))}).shape
    (1, 4, 6, 6)
    """
    name = "conv_transpose2d"
    x, w = as_tensor(input), as_tensor(weight)
    stride, dilation = _pair(stride, name, "stride"), _pair(dilation, name, "dilation")
    pads = _pair(padding, name, "padding", minimum=0)
    extra = _pair(output_padding, name, "output_padding", minimum=0)
    if any(e >= s for e, s in zip(extra, stride)):
        raise _error(name, f"output_padding {extra} must be less than the stride {stride}")
    for what, v in (("input", x), ("weight", w)):
        if v.ndim != 4:
            raise _error(name, f"the {what} must be 4-d, got {v.type}", TypeError)
    sizes, static = [], []
    for a in range(2):
        n, k = x.type.shape[2 + a], w.type.shape[2 + a]
        lost = 2 * pads[a] - extra[a] - 1
        if n is not None and k is not None:
            size = (n - 1) * stride[a] + dilation[a] * (k - 1) - lost
            if size < 1:
                raise _error(name, f"padding {padding!r} leaves no output along axis "
                                   f"{2 + a} (size {size})")
            static.append(size)
            sizes.append(size)
        else:
            static.append(None)
            sizes.append((x.shape[2 + a] - 1) * stride[a]
                         + dilation[a] * (w.shape[2 + a] - 1) - lost)
    hw = _shape_vector(sizes)[0]
    op = Conv2DGradInput(stride, tuple((p, p) for p in pads), dilation,
                         _groups(groups, name), False, static)
    return _with_bias(op(x, w, hw), bias, name, ("x", 0, "x", "x"))
