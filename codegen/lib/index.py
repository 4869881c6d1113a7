"""Index specifications: numpy indexing as hashable data, bound to run-time values.

An index is an ``idx_list``, a tuple of entries: ``("int", i)``, ``("slice", start, stop,
step)``, ``("new",)``, ``("...",)`` and ``("array", k)`` (an index array covering ``k``
axes: 1, or a mask's rank). A bound or integer given at run time is :data:`SYM`; its value,
and each index array, comes as an argument, in the order the entries appear.

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
    """Every index in the integer array ``a`` lies in ``[-n, n)``."""
    bad = (a < -n) | (a >= n)
    if bool(bad.any()):
        first = int(a[bad].ravel()[0])
        raise IndexError(f"index {first} is out of range for axis {axis} of size {n}")


def bind(idx_list: Sequence[Entry], x, values: Sequence[Any]
         ) -> tuple[tuple, tuple[Entry, ...], tuple | None]:
    """The numpy index for these run-time ``values`` (range-checked), the ``idx_list``
    with them filled in, and the advanced index's result shape (None without one)."""
    it = iter(values)
    index, concrete, adv_shape = [], [], None
    for e, axis in walk(idx_list, x.ndim):
        kind = e[0]
        if kind == "array":
            a = next(it)
            if a.dtype == bool:
                if a.shape != x.shape[axis:axis + a.ndim]:
                    raise IndexError(f"a mask of shape {a.shape} does not fit axes "
                                     f"{axis}..{axis + a.ndim - 1} of shape {x.shape}")
                adv_shape = (int(a.sum()),)
            else:
                if a.size:
                    check_array_range(a, x.shape[axis], axis)
                adv_shape = tuple(a.shape)
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
    return tuple(index), tuple(concrete), adv_shape


def basic(index: tuple) -> tuple:
    """A basic index that always gives an array view: a trailing ellipsis keeps numpy
    from turning an all-integer index into a scalar."""
    return index if Ellipsis in index else (*index, Ellipsis)
