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

from codegen.kernel import Buffer, Kernel
from codegen.program import KernelCall

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
        return KernelCall(self.kernel, prepare, self.out_drop, self.examples())

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
