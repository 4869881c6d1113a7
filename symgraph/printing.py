"""Looking at graphs: ``debugprint`` (text).

>>> import symgraph as sg
>>> x = sg.dvector("x")
>>> sg.debugprint(sg.exp(x) + 1)
add [id A] float64(?,)
 ├─ exp [id B] float64(?,)
 │  └─ x [id C] float64(?,)
 └─ 1.0 [id D] float64()
"""
from __future__ import annotations

import sys
from typing import TextIO

from .graph import Constant, Variable


def _ids():
    names: dict[int, str] = {}

    def name(v) -> str:
        if id(v) not in names:
            n, s = len(names), ""
            while True:
                s = chr(ord("A") + n % 26) + s
                n = n // 26 - 1
                if n < 0:
                    break
            names[id(v)] = s
        return names[id(v)]
    return name


def debugprint(obj, file: TextIO | None = None, print_type: bool = True) -> str | None:
    """Print the graph of a variable, a list of variables, or a compiled function as an
    indented tree with types; a node seen before is printed once and then referred to by
    its id. With ``file="str"`` the text is returned instead of printed."""
    from .function import Function, SharedVariable
    if isinstance(obj, Function):
        roots = list(obj.graph_outputs)
        labels = [f"output {i}" for i in range(len(obj.outputs))] + \
            [f"update of {s!r}" for s, _ in obj.updates]
    else:
        roots = list(obj) if isinstance(obj, (list, tuple)) else [obj]
        labels = [None] * len(roots)
    ident, lines, done = _ids(), [], set()

    def show(v: Variable, prefix: str, child_prefix: str) -> None:
        node = v.owner
        label = v.name if node is None else (
            f"{node.op}" + (f".{v.index}" if len(node.outputs) > 1 else ""))
        if node is None and not v.name:
            label = repr(v)
        if isinstance(v, SharedVariable):
            label += " (shared)"
        typ = f" {v.type}" if print_type else ""
        key = id(node) if node is not None else id(v)
        seen = key in done
        lines.append(f"{prefix}{label} [id {ident(node or v)}]{typ}{' ...' if seen and node else ''}")
        if node is None or seen:
            return
        done.add(key)
        for i, inp in enumerate(node.inputs):
            last = i == len(node.inputs) - 1
            show(inp, child_prefix + ("└─ " if last else "├─ "),
                 child_prefix + ("   " if last else "│  "))

    for v, lab in zip(roots, labels):
        if lab:
            lines.append(f"{lab}:")
        show(v, "", " ")
    text = "\n".join(lines)
    if file == "str":
        return text
    print(text, file=file or sys.stdout)
    return None


__all__ = ["debugprint", "Constant"]
