"""``einsum``: numpy's Einstein summation, lowered onto the ops that exist (dimshuffle,
diagonal, sum, elementwise products, ``dot`` and ``matmul``), so it has their gradients,
fusion and backends.

Operands are contracted left to right, two at a time. In a pair, an axis both share that
is still needed is a batch axis, one both share that is not is summed, the others are
free: with something to sum and free axes on a side, the pair becomes one ``dot`` (no
batch axes) or one ``matmul`` (the batch axes lead), after the free and summed axes of
each side are grouped into one (a reshape, where a group has several); otherwise it is
an elementwise product with its sum fused in. A label repeated in one operand takes its
diagonal; a label that no later operand and not the output has is summed early.

>>> import symgraph as sg, numpy as np
>>> a, b = sg.dtensor3("a"), sg.dtensor3("b")
>>> c = sg.einsum("bij,bjk->bik", a, b)
>>> c.owner.op.__class__.__name__, c.eval({a: np.ones((2, 3, 4)), b: np.ones((2, 4, 5))}).shape
('MatMul', (2, 3, 5))
"""
from __future__ import annotations

import string
from collections import Counter

import numpy as np

from ..graph import Variable
from ..variable import as_tensor, install
from .blas import dot, matmul
from .diagonal import diagonal
from .shape import dimshuffle, reshape

Labels = list[str]


def _split(term: str, ndim: int, k: int, subscripts: str) -> tuple[str, str, int]:
    """An operand's letters before and after ``...`` and how many axes ``...`` covers."""
    before, dots, after = term.partition("...")
    if any(c not in string.ascii_letters for c in before + after):
        raise ValueError(f"einsum: {subscripts!r}: operand {k}'s subscripts {term!r} may "
                         "hold only letters and one '...'")
    covered = ndim - len(before) - len(after)
    if covered < 0 or (covered and not dots):
        raise ValueError(f"einsum: {subscripts!r}: operand {k} has rank {ndim}, its "
                         f"subscripts {term!r} name {len(before) + len(after)} axes"
                         + (" (add '...' for the others)" if covered > 0 else ""))
    return before, after, covered


def _parse(subscripts, xs: list[Variable]) -> tuple[list[Labels], Labels]:
    """Each operand's axis labels and the output's; the axes under ``...`` get the labels
    ``...0``, ``...1``, ... aligned on the right, as numpy broadcasts them."""
    if not isinstance(subscripts, str):
        raise TypeError(f"einsum: the subscripts must be a string such as 'ij,jk->ik', got "
                        f"{subscripts!r} (the form einsum(a, [0, 1], b, [1, 2]) is not "
                        "supported)")
    spec = subscripts.replace(" ", "")
    lhs, arrow, rhs = spec.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(xs) or not xs:
        raise ValueError(f"einsum: {subscripts!r} names {len(terms)} operands, got {len(xs)}")
    parts = [_split(t, x.ndim, k, subscripts) for k, (t, x) in enumerate(zip(terms, xs))]
    n_dots = max(covered for _, _, covered in parts)
    dots = [f"...{i}" for i in range(n_dots)]
    labels = [[*before, *dots[n_dots - covered:], *after] for before, after, covered in parts]
    if not arrow:
        once = sorted(c for c, n in Counter(c for t in terms for c in t if c != ".").items()
                      if n == 1)
        return labels, dots + once
    if "->" in rhs or "," in rhs:
        raise ValueError(f"einsum: {subscripts!r} has more than one output")
    before, has_dots, after = rhs.partition("...")
    out = [*before, *(dots if has_dots else []), *after]
    if n_dots and not has_dots:
        raise ValueError(f"einsum: {subscripts!r}: the output needs '...' for the axes "
                         "that '...' covers in the operands")
    every = {c for t in labels for c in t}
    for c in out:
        if c not in every or out.count(c) > 1:
            raise ValueError(f"einsum: {subscripts!r}: output label {c!r} must appear in "
                             "an operand, and once in the output")
    return labels, out


def _sizes(xs: list[Variable], labels: list[Labels], subscripts: str
           ) -> tuple[list[Variable], list[Labels], dict]:
    """Each label's size (an int when static), checked across operands; a static-1 axis
    whose label is wider elsewhere broadcasts, so it is dropped from its operand."""
    static: dict[str, dict[int, int]] = {}
    for k, (x, ls) in enumerate(zip(xs, labels)):
        for c, s in zip(ls, x.type.shape):
            if s is not None:
                static.setdefault(c, {}).setdefault(s, k)
    for c, seen in static.items():
        wide = {s: k for s, k in seen.items() if s != 1}
        if len(wide) > 1:
            (s1, k1), (s2, k2) = list(wide.items())[:2]
            raise ValueError(f"einsum: {subscripts!r}: axis {c!r} has size {s1} in operand "
                             f"{k1} and {s2} in operand {k2}")
    wider = {c for x, ls in zip(xs, labels) for c, s in zip(ls, x.type.shape) if s != 1}
    sizes: dict = {}
    for k, (x, ls) in enumerate(zip(xs, labels)):
        keep = [a for a, (c, s) in enumerate(zip(ls, x.type.shape))
                if not (s == 1 and c in wider)]
        xs[k], labels[k] = dimshuffle(x, *keep), [ls[a] for a in keep]
        for a in keep:
            c, s = ls[a], x.type.shape[a]
            if sizes.get(c) is None or isinstance(sizes[c], Variable) and s is not None:
                sizes[c] = s if s is not None else x.shape[a]
    return xs, labels, sizes


def _align(x: Variable, t: Labels, order: Labels) -> Variable:
    """``x`` with its axes in ``order`` (a new size-1 axis for a label it lacks)."""
    return dimshuffle(x, *(t.index(c) if c in t else "x" for c in order))


def _alone(x: Variable, t: Labels, keep: set) -> tuple[Variable, Labels]:
    """Take the diagonal of a repeated label and sum the labels not in ``keep``."""
    while len(set(t)) < len(t):
        c = next(c for c in t if t.count(c) > 1)
        a1 = t.index(c)
        a2 = t.index(c, a1 + 1)
        x, t = diagonal(x, 0, a1, a2), [l for i, l in enumerate(t) if i not in (a1, a2)] + [c]
    axes = tuple(i for i, c in enumerate(t) if c not in keep)
    if axes:
        # numpy's einsum keeps the operands' dtype (no int64 accumulator); over bools its
        # sum is an or, as its product is an and
        x = x.any(axis=axes) if x.dtype == "bool" else x.sum(axis=axes, dtype=x.dtype)
        t = [c for c in t if c in keep]
    return x, t


def _product(dims: list) -> int | Variable:
    total = dims[0]
    for d in dims[1:]:
        total = total * d
    return total


def _grouped(x: Variable, lead: int, groups: list[Labels], sizes: dict, pad: bool
             ) -> Variable:
    """``x`` (its axes: ``lead`` batch axes, then ``groups`` in order) with each group
    as one axis: a reshape where a group has several labels; a new size-1 axis for an
    empty group if ``pad``."""
    if any(len(g) > 1 for g in groups):
        shape = [x.shape[a] if x.type.shape[a] is None else x.type.shape[a]
                 for a in range(lead)]
        shape += [_product([sizes[c] for c in g]) if g else 1 for g in groups if g or pad]
        return reshape(x, shape)
    axes = iter(range(lead, x.ndim))
    return dimshuffle(x, *range(lead), *(next(axes) if g else "x" for g in groups
                                         if g or pad))


def _pair(x: Variable, t: Labels, y: Variable, u: Labels, keep: set, sizes: dict
          ) -> tuple[Variable, Labels]:
    """The contraction of two operands, keeping the labels in ``keep``."""
    x, t = _alone(x, t, keep | set(u))
    y, u = _alone(y, u, keep | set(t))
    shared = [c for c in t if c in u]
    batch = [c for c in shared if c in keep]
    summed = [c for c in shared if c not in keep]
    free_x = [c for c in t if c not in u]
    free_y = [c for c in u if c not in t]
    if not summed or not (free_x or free_y):
        order = t + free_y
        a, b = _align(x, t, order), _align(y, u, order)
        return _alone(a & b if a.dtype == b.dtype == "bool" else a * b, order, keep)
    nb = len(batch)
    a = _grouped(_align(x, t, batch + free_x + summed), nb, [free_x, summed], sizes, nb > 0)
    b = _grouped(_align(y, u, batch + summed + free_y), nb, [summed, free_y], sizes, nb > 0)
    out = matmul(a, b) if nb else dot(a, b)
    labels = batch + free_x + free_y
    if len(free_x) > 1 or len(free_y) > 1:
        out = reshape(out, [sizes[c] for c in labels])
    elif nb:
        out = dimshuffle(out, *range(nb), *([nb] if free_x else []),
                         *([nb + 1] if free_y else []))
    return out, labels


def einsum(subscripts: str, *operands, optimize=False) -> Variable:
    """numpy's ``einsum`` for subscripts such as ``'ij,jk->ik'``, ``'bij,bjk->bik'``,
    ``'bhqd,bhkd->bhqk'``, ``'i,j->ij'``, ``'ii->i'``, ``'...ij->...ji'`` (implicit outputs
    too: ``'ij,jk'``). Operands are contracted left to right whatever ``optimize`` says
    (the result is the same; only numpy's order of work differs). The interleaved form
    ``einsum(a, [0, 1], ...)`` and numpy's ``dtype``, ``casting`` and ``order`` are not
    supported.

    >>> import symgraph as sg, numpy as np
    >>> x, y = sg.dmatrix("x"), sg.dmatrix("y")
    >>> sg.einsum("ij,jk->ik", x, y).eval({x: np.eye(2), y: [[1.0, 2.0], [3.0, 4.0]]}).tolist()
    [[1.0, 2.0], [3.0, 4.0]]
    >>> sg.einsum("ij->", x).eval({x: np.ones((2, 3))}).item()
    6.0
    """
    xs = [as_tensor(x) for x in operands]
    labels, out = _parse(subscripts, xs)
    xs, labels, sizes = _sizes(xs, labels, subscripts)
    x, t = xs[0], labels[0]
    for k in range(1, len(xs)):
        keep = set(out).union(*labels[k + 1:])
        x, t = _pair(x, t, xs[k], labels[k], keep, sizes)
    x, t = _alone(x, t, set(out))
    return dimshuffle(x, *(t.index(c) for c in out))


install("", einsum, np.einsum)
