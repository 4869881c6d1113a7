"""Kernel nodes: :class:`Fused` holds a kernel-IR :class:`~codegen.kernel.Kernel` and how
the node's inputs map onto the kernel's domain. The fusion passes make them
(:mod:`symgraph.rewrite.fuse`), and every op that is kernel work (elementwise ops,
reductions) lowers through one (``as_kernel``): so the broadcast and domain checks that
native code relies on are written once, here.

>>> import symgraph as sg
>>> x = sg.dmatrix("x")
>>> f = sg.function([x], sg.exp(x).sum(axis=1))
>>> [str(n.op) for n in f.nodes]
['fused{exp, sum{axis=(1,)}}']
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from codegen.backend import NUMPY
from codegen.kernel import Buffer, Kernel
from codegen.program import KernelCall, LibraryCall

from ..graph import Apply, Op


class Fused(Op):
    """A kernel. ``in_axes[i]`` places input i's axes in the kernel's domain (the other
    axes are size 1); ``out_drop[j]`` lists the domain axes output j drops (a reduction
    without keepdims); ``in_bcast[i]`` are the domain axes input i broadcasts along
    (static size 1), the only ones allowed to differ from the domain. Its max/min
    reductions may cover an empty axis (giving the identity) only if ``empty_ok``."""
    __props__ = ("kernel", "in_axes", "out_drop", "in_bcast", "empty_ok")

    def __init__(self, kernel: Kernel, in_axes, out_drop, in_bcast, labels=(),
                 empty_ok: bool = False):
        self.kernel, self.in_axes, self.out_drop, self.in_bcast = \
            kernel, tuple(in_axes), tuple(out_drop), tuple(in_bcast)
        self.empty_ok = empty_ok
        full = tuple(range(kernel.ndim))
        self._plain = all(a == full for a in self.in_axes)   # inputs need no reshape
        self.labels = tuple(labels)      # the ops it absorbed, for people and pictures

    @property
    def name(self) -> str:
        return "fused"

    def __str__(self) -> str:
        return f"fused{{{', '.join(self.labels)}}}"

    def make_node(self, *inputs):
        raise TypeError("Fused nodes are made by the fusion pass only")

    def domain_views(self, inputs: Sequence) -> tuple[list, tuple[int, ...]]:
        """Inputs viewed with the kernel's rank, and the domain shape; raises on inputs
        that broadcast along axes not declared broadcastable."""
        nd = self.kernel.ndim
        if self._plain and inputs:
            shape = inputs[0].shape
            if all(a.shape == shape for a in inputs):   # nothing broadcasts: the fast path
                return list(inputs), tuple(shape)
        views = []
        for a, axes in zip(inputs, self.in_axes):
            shape = [1] * nd
            for ax, d in zip(axes, a.shape):
                shape[ax] = d
            views.append(a.reshape(shape))
        domain = []
        for ax in range(nd):
            sizes = {v.shape[ax] for v, b in zip(views, self.in_bcast) if ax not in b}
            if len(sizes) > 1:
                raise ValueError(
                    f"inputs of shapes {' and '.join(str(tuple(a.shape)) for a in inputs)} "
                    f"do not match on axis {ax} (sizes {sorted(sizes)}). Only axes of static "
                    "size 1 broadcast: declare them (sg.row, sg.col, shape=(1, None), "
                    "dimshuffle('x', ...), keepdims=True)")
            domain.append(sizes.pop() if sizes else 1)
        return views, tuple(domain)

    def check_domain(self, domain: tuple[int, ...]) -> None:
        """max and min have no identity: reducing an empty axis is an error, as in numpy
        (unless ``empty_ok``)."""
        if self.empty_ok:
            return
        for s in self.kernel.stores:
            if s.reduce in ("max", "min") and any(domain[a] == 0 for a in s.axes):
                raise ValueError(f"{s.reduce} over an empty axis (shape {tuple(domain)}, "
                                 f"axis {s.axes}): max and min have no identity")

    def examples(self) -> tuple[tuple[np.ndarray, ...], ...]:
        """Small inputs laid out as the real ones will be (size 1 exactly on the axes that
        broadcast), so a backend can compile the loop nests calls will need up front."""
        nd = self.kernel.ndim
        return (tuple(np.zeros([1 if ax in b else 2 for ax in range(nd)], buf.dtype)
                      for b, buf in zip(self.in_bcast, self.kernel.inputs)),)

    def lower(self, node: Apply) -> KernelCall:
        def prepare(args):
            views, domain = self.domain_views(args)
            self.check_domain(domain)
            return views, domain
        # a view's layout replaces the contiguous one (which a view seldom has): each
        # specialization compiled costs compile time
        return KernelCall(self.kernel, prepare, self.out_drop,
                          _view_examples(self, node) or self.examples())

    def as_kernel(self, node: Apply) -> "Fused":
        return self

    def grad(self, inputs, outputs, output_grads):
        raise TypeError("differentiate before compiling: fused nodes have no gradient")


def bcast_axes(v) -> tuple[int, ...]:
    """The axes of static size 1 of variable ``v``."""
    return tuple(a for a, b in enumerate(v.type.broadcastable) if b)


def placed_bcast(v, axes: tuple[int, ...], ndim: int) -> tuple[int, ...]:
    """The domain axes along which ``v``, placed at domain ``axes``, broadcasts: its
    static-1 axes and the axes it does not have."""
    placed = dict(zip(axes, v.type.broadcastable))
    return tuple(a for a in range(ndim) if placed.get(a, True))


class KernelInputs:
    """The inputs of a kernel made from other kernels' (by the rewrite passes): each
    variable once per placement in the domain, with ``axes`` and ``bcast`` as
    :class:`Fused` wants them."""

    def __init__(self) -> None:
        self.variables: list = []
        self.axes: list[tuple[int, ...]] = []
        self.bcast: list[tuple[int, ...]] = []
        self._at: dict[tuple, int] = {}

    def index(self, v, axes: tuple[int, ...], bcast: tuple[int, ...]) -> int:
        """The kernel input reading ``v`` at ``axes`` (added if new)."""
        key = (id(v), axes)
        at = self._at.get(key)
        if at is None:
            at = self._at[key] = len(self.variables)
            self.variables.append(v)
            self.axes.append(axes)
            self.bcast.append(bcast)
        return at

    def buffers(self, ndim: int) -> tuple[Buffer, ...]:
        return tuple(Buffer(f"in{i}", v.dtype, ndim) for i, v in enumerate(self.variables))


def _view_examples(op: Fused, node: Apply) -> tuple[tuple[np.ndarray, ...], ...]:
    """When some inputs of ``node`` are views (slices of a wider array, transposes), an
    example of the kernel's inputs laid out as theirs will be, so that the backend
    compiles that layout up front and no call compiles: the views run on small arrays
    standing for their sources. None where no input is a view, or the stand-ins do not
    fit together (a size only known at run time)."""
    if not any(_view_of(v) for v in node.inputs):
        return ()
    try:
        args = [_layout_example(v, 8) for v in node.inputs]
        # (stand-ins for run-time sizes may leave a slice empty: no layout to learn)
        if not any(a is None or a.size == 0 for a in args):
            return (tuple(op.domain_views(args)[0]),)
    except Exception:           # stand-in sizes a slice or a check does not accept
        pass
    return (_strided_rows(op, node),)


def _strided_rows(op: Fused, node: Apply) -> tuple[np.ndarray, ...]:
    """Kernel inputs where each view's rows lie apart (a slice of a wider array's last
    axis, the common view whose bounds are known only at run time), the others
    contiguous; sizes the static shapes give, else 2."""
    nd = op.kernel.ndim
    domain = [2] * nd
    for v, axes, bcast in zip(node.inputs, op.in_axes, op.in_bcast):
        for ax, d in zip(axes, v.type.shape):
            if d is not None and ax not in bcast:
                domain[ax] = d
    out = []
    for v, bcast, buf in zip(node.inputs, op.in_bcast, op.kernel.inputs):
        shape = [1 if ax in bcast else domain[ax] for ax in range(nd)]
        if _broadcast_view(v):          # zeros(...) and its slices: one value, repeated
            out.append(np.broadcast_to(np.zeros((), buf.dtype), shape))
        elif _view_of(v) is None or not shape or shape[-1] == 1:
            out.append(np.zeros(shape, buf.dtype))
        else:
            wide = np.zeros([*shape[:-1], 2 * shape[-1]], buf.dtype)
            out.append(wide[..., :shape[-1]])
    return tuple(out)


def _broadcast_view(v) -> bool:
    """Whether ``v`` is a broadcast of one value (``zeros(shape)``), or a view of one."""
    for _ in range(8):
        what = _view_of(v)
        if what is None:
            return False
        if what.name == "broadcast_to":
            return True
        v = v.owner.inputs[0]
    return False


def _view_of(v) -> LibraryCall | None:
    """The view entry computing ``v`` (a library call that only sets strides), if any.
    Ops that lower to kernels are not asked: their lowering looks at their own inputs'
    producers, and asking would walk the whole unfused graph from every node."""
    if v.owner is None or hasattr(v.owner.op, "as_kernel"):
        return None
    try:
        what = v.owner.op.lower(v.owner)
    except Exception:           # an op that lowers only in context: not a view
        return None
    return what if isinstance(what, LibraryCall) and what.kind == "view" else None


_EXAMPLE_SIZE = 1 << 20
"""The most elements a stand-in array may have (static sizes are taken as they are)."""


def _layout_example(v, depth: int) -> np.ndarray | None:
    """A small array laid out as ``v``'s value will be: a constant's value; a view of
    stand-ins for its sources; else zeros of ``v``'s static shape (2 where unknown)."""
    if getattr(v, "data", None) is not None and v.owner is None:
        return np.asarray(v.data)
    what = _view_of(v) if depth else None
    if what is not None:
        args = [_layout_example(i, depth - 1) for i in v.owner.inputs]
        if any(a is None for a in args):
            return None
        return np.asarray(NUMPY.lib.entry(what.name).fn(*args, **dict(what.params)))
    shape = [2 if d is None else d for d in v.type.shape]
    return np.zeros(shape, v.dtype) if np.prod(shape) <= _EXAMPLE_SIZE else None
