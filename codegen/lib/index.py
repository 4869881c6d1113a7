"""Index specifications: numpy indexing as hashable data, bound to run-time values.

An index is an ``idx_list``, a tuple of entries: ``("int", i)``, ``("slice", start, stop,
step)``, ``("new",)``, ``("...",)`` and ``("array", k)`` (an index array covering ``k``
axes: 1, or a mask's rank). A bound or integer given at run time is :data:`SYM`; its value,
and each index array, comes as an argument, in the order the entries appear. Several index
arrays broadcast against each other, as in numpy (a mask counts as its ``nonzero()``, a
vector per axis it covers); :func:`bind` checks every index against its axis, so whatever
runs the index (numpy, cupy) never sees one out of range.

>>> import numpy as np
>>> x = np.arange(12).reshape(3, 4)
>>> index, concrete, adv = bind((("int", SYM), ("slice", None, None, -1)), x, [np.int64(1)])
>>> x[index].tolist(), concrete
([7, 6, 5, 4], (('int', 1), ('slice', None, None, -1)))
"""
from __future__ import annotations

from typing import Any, Iterator, Sequence

#: a slice bound or integer index given at run time by an argument
SYM = "?"
Entry = tuple


def width(e: Entry) -> int:
    """How many axes of ``x`` an entry consumes (an ellipsis: see :func:`walk`)."""
    return {"int": 1, "slice": 1, "array": e[-1]}.get(e[0], 0)


def walk(idx_list: Sequence[Entry], ndim: int) -> Iterator[tuple[Entry, int]]:
    """Each entry with the first axis of ``x`` it applies to; the ellipsis takes the axes
    the other entries leave."""
    axis, rest = 0, ndim - sum(width(e) for e in idx_list)
    for e in idx_list:
        yield e, axis
        axis += rest if e[0] == "..." else width(e)


def slice_len(e: Entry, n: int | None) -> int | None:
    """The length a slice entry selects of an axis of size ``n`` (None: unknown)."""
    if n == 0:
        return 0
    if n is None or SYM in e[1:]:
        return None
    return len(range(*slice(*e[1:]).indices(n)))


def index_shape(idx_list: Sequence[Entry], shape: Sequence[int | None],
                adv_shape: Sequence[int | None] | None) -> list[int | None]:
    """numpy's result shape for indexing ``shape`` (None: unknown) by ``idx_list``;
    ``adv_shape`` is the advanced index's own result shape (the array's shape, or
    ``(count,)`` for a mask), None without one. Integers join an array as advanced
    indices: their result goes where they stand if they are adjacent, else first."""
    out: list[int | None] = []
    adv_pos, at = [], 0
    used = sum(width(e) for e in idx_list)
    for pos, (e, axis) in enumerate(walk(idx_list, len(shape))):
        kind = e[0]
        if kind == "...":
            out += shape[axis:axis + len(shape) - used]
        elif kind == "new":
            out.append(1)
        elif kind == "slice":
            out.append(slice_len(e, shape[axis]))
        elif adv_shape is not None:
            at = at if adv_pos else len(out)
            adv_pos.append(pos)
    out += shape[len(shape) if ("...",) in idx_list else used:]
    if adv_shape is not None:
        if adv_pos != list(range(adv_pos[0], adv_pos[-1] + 1)):
            at = 0
        out[at:at] = list(adv_shape)
    return out


def shape_str(shape: Sequence[int | None]) -> str:
    """A shape as numpy prints it, ``?`` for a size known only at run time."""
    sizes = ["?" if n is None else str(n) for n in shape]
    return f"({', '.join(sizes)}{',' if len(sizes) == 1 else ''})"


def broadcast(shapes: Sequence[Sequence[int | None]], axes: Sequence[int] = ()
              ) -> tuple[int | None, ...]:
    """numpy's broadcast of the advanced indices' shapes (None: a size known only at run
    time); ``axes`` (the first axis of ``x`` each one indexes) only names them in the
    IndexError that shapes which cannot broadcast raise."""
    ndim = max(map(len, shapes), default=0)
    out = []
    for d in range(ndim):
        sizes = [s[len(s) - ndim + d] for s in shapes if len(s) - ndim + d >= 0]
        known = {n for n in sizes if n is not None and n != 1}
        if len(known) > 1:
            which = [shape_str(s) for s in shapes]
            if axes:
                which = [f"{w} (axis {a})" for w, a in zip(which, axes)]
            raise IndexError(f"shape mismatch: index arrays of shapes {', '.join(which)} "
                             "cannot be broadcast together")
        out.append(known.pop() if known else None if None in sizes else 1)
    return tuple(out)


def fmt(idx_list: Sequence[Entry]) -> str:
    """The index as written, ``?`` for a run-time scalar, ``[]`` for the array."""
    def one(e: Entry) -> str:
        if e[0] == "slice":
            start, stop, step = ("" if b is None else str(b) for b in e[1:])
            return f"{start}:{stop}" + (f":{step}" if step else "")
        return {"int": str(e[-1]), "new": "None", "...": "...", "array": "[]"}[e[0]]
    return ", ".join(map(one, idx_list))


def check_range(i: int, n: int, axis: int) -> None:
    if not -n <= i < n:
        raise IndexError(f"index {i} is out of range for axis {axis} of size {n}")


def check_array_range(a, n: int, axis: int) -> None:
    """Every index in the integer array ``a`` lies in ``[-n, n)``; the first that does
    not is named. Two reductions when all fit: this runs on every call."""
    if a.size and (int(a.min()) < -n or int(a.max()) >= n):
        first = int(a[(a < -n) | (a >= n)].ravel()[0])
        raise IndexError(f"index {first} is out of range for axis {axis} of size {n}")


def bind(idx_list: Sequence[Entry], x, values: Sequence[Any]
         ) -> tuple[tuple, tuple[Entry, ...], tuple | None]:
    """The numpy index for these run-time ``values`` (checked), the ``idx_list`` with them
    filled in, and the broadcast shape of the advanced indices (None without one).

    Masks must have the shape of the axes they cover, the index arrays must broadcast,
    and every index must lie in its axis; as numpy, the indices of an empty broadcast
    select nothing and are not checked."""
    it = iter(values)
    index, concrete, arrays = [], [], []
    for e, axis in walk(idx_list, x.ndim):
        kind = e[0]
        if kind == "array":
            a = next(it)
            if a.dtype == bool and a.shape != x.shape[axis:axis + a.ndim]:
                raise IndexError(f"a mask of shape {a.shape} does not fit axes "
                                 f"{axis}..{axis + a.ndim - 1} of shape {x.shape}")
            arrays.append((a, axis))
            index.append(a)
            concrete.append(e)
            continue
        e = (kind, *(int(next(it)) if b == SYM else b for b in e[1:]))
        if kind == "int":
            check_range(e[1], x.shape[axis], axis)
            index.append(e[1])
        elif kind == "slice":
            index.append(slice(*e[1:]))
        else:
            index.append(None if kind == "new" else Ellipsis)
        concrete.append(e)
    if not arrays:
        return tuple(index), tuple(concrete), None
    adv_shape = broadcast([(int(a.sum()),) if a.dtype == bool else a.shape
                           for a, _ in arrays], [axis for _, axis in arrays])
    if 0 not in adv_shape:
        for a, axis in arrays:
            if a.dtype != bool:
                check_array_range(a, x.shape[axis], axis)
    return tuple(index), tuple(concrete), adv_shape


def basic(index: tuple) -> tuple:
    """A basic index that always gives an array view: a trailing ellipsis keeps numpy
    from turning an all-integer index into a scalar."""
    return index if Ellipsis in index else (*index, Ellipsis)
