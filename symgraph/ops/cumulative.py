"""Running sums and products along an axis: :class:`Cumulative` (numpy's ``cumsum`` and
``cumprod``), through the library's ``cumsum`` and ``cumprod``.

The gradient of a running sum is the running sum of the output's gradient taken from the
other end. The gradient of a running product divides only where the input is not zero:
at the first zero of a run it is computed from the product with that zero left out, and
after it every gradient is zero, so inputs with zeros get exact gradients, not NaN.

>>> import symgraph as sg, numpy as np
>>> x = sg.dvector("x")
>>> sg.cumsum(x).eval({x: [1.0, 2.0, 3.0]}).tolist()
[1.0, 3.0, 6.0]
>>> sg.cumprod(x).eval({x: [1.0, 2.0, 3.0]}).tolist()
[1.0, 2.0, 6.0]
>>> sg.grad(sg.cumprod(x)[-1], x).eval({x: [2.0, 0.0, 3.0]}).tolist()
[0.0, 6.0, 0.0]
"""
from __future__ import annotations

import numpy as np

from codegen.program import LibraryCall

from ..graph import Apply, Op, Variable
from ..types import FLOATS, TensorType
from ..variable import as_tensor, install
from .elemwise import F, cast, where
from .reduce import _acc_dtype
from .shape import normalize_axes


class Cumulative(Op):
    """The running sum (``combiner="add"``) or product (``"mul"``) of ``x`` along
    ``axis``, in ``x``'s dtype (the user functions cast to numpy's accumulator first)."""
    __props__ = ("combiner", "axis")

    def __init__(self, combiner: str, axis: int):
        if combiner not in ("add", "mul"):
            raise ValueError(f"Cumulative: combiner must be 'add' or 'mul', got {combiner!r}")
        self.combiner, self.axis = combiner, axis

    @property
    def name(self) -> str:
        return "cumsum" if self.combiner == "add" else "cumprod"

    def __str__(self) -> str:
        return f"{self.name}{{axis={self.axis}}}"

    def make_node(self, x: Variable) -> Apply:
        if not 0 <= self.axis < x.ndim:
            raise ValueError(f"{self.name}: axis {self.axis} is out of range for {x.type}")
        return Apply(self, [x], [TensorType(x.dtype, x.type.shape)()])

    def lower(self, node):
        return LibraryCall.of(self.name, axis=self.axis)

    def grad(self, inputs, outputs, output_grads):
        (x,), (z,), (g,) = inputs, outputs, output_grads
        if x.dtype not in FLOATS:
            return [None]
        if self.combiner == "add":
            return [self._from_the_end(g)]
        return [self._cumprod_grad(x, z, g)]

    def _from_the_end(self, v: Variable) -> Variable:
        """The running sum of ``v`` along the axis, each element summing itself and what
        comes after it."""
        flip = (slice(None),) * self.axis + (slice(None, None, -1),)
        return Cumulative("add", self.axis)(v[flip])[flip]

    def _cumprod_grad(self, x: Variable, z: Variable, g: Variable) -> Variable:
        # d z_i / d x_j = prod_{k <= i, k != j} x_k for i >= j. Before the first zero of a
        # run that is z_i / x_j (x_j is not 0 there); at the first zero it is the running
        # product with that zero set to 1; after it, every such product holds the zero.
        is0 = F.equal(x, 0)
        zeros_so_far = Cumulative("add", self.axis)(cast(is0, "int64"))
        before = F.equal(zeros_so_far, 0)
        first = is0 & F.equal(zeros_so_far, 1)
        one = np.ones((), x.dtype)
        gx_before = self._from_the_end(g * z) / where(before, x, one)
        skip_first = Cumulative("mul", self.axis)(where(first, one, x))
        gx_first = self._from_the_end(g * skip_first)
        zero = np.zeros((), x.dtype)
        return where(before, gx_before, where(first, gx_first, zero))


def _cumulative(combiner: str, x, axis: int | None, dtype) -> Variable:
    x = as_tensor(x)
    if axis is None:
        x, axis = x.reshape((-1,)), 0
    elif x.ndim == 0:
        raise ValueError(f"{'cumsum' if combiner == 'add' else 'cumprod'}: axis {axis} is "
                         "out of range for a 0-d tensor (use axis=None)")
    (axis,) = normalize_axes(axis, x.ndim)
    return Cumulative(combiner, axis)(cast(x, _acc_dtype(x, dtype)))


def cumsum(x, axis: int | None = None, dtype=None) -> Variable:
    """numpy's ``cumsum``: the running sum along ``axis`` (of the flattened ``x`` if
    None). Small ints and bool accumulate in int64, as numpy's.

    >>> import symgraph as sg, numpy as np
    >>> m = sg.lmatrix("m")
    >>> sg.cumsum(m, axis=1).eval({m: [[1, 2], [3, 4]]}).tolist()
    [[1, 3], [3, 7]]
    """
    return _cumulative("add", x, axis, dtype)


def cumprod(x, axis: int | None = None, dtype=None) -> Variable:
    """numpy's ``cumprod``: the running product along ``axis`` (of the flattened ``x`` if
    None), with an exact gradient where ``x`` has zeros.

    >>> import symgraph as sg, numpy as np
    >>> m = sg.dmatrix("m")
    >>> sg.cumprod(m, axis=0).eval({m: [[1.0, 2.0], [3.0, 4.0]]}).tolist()
    [[1.0, 2.0], [3.0, 8.0]]
    """
    return _cumulative("mul", x, axis, dtype)


install("cumsum", cumsum, np.cumsum)
install("cumprod", cumprod, np.cumprod)
