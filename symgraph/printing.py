"""Looking at graphs: ``debugprint`` (text), ``to_dot`` and ``to_svg`` (pictures) and
``to_networkx`` (a graph to analyse), of variables and of compiled functions (anything
with ``graph_outputs``, ``outputs`` and ``updates``). Ops with inner graphs show them too.

>>> import symgraph as sg
>>> x = sg.dvector("x")
>>> sg.debugprint(sg.exp(x) + 1)
add [id A] float64(?,)
 ├─ exp [id B] float64(?,)
 │  └─ x [id C] float64(?,)
 └─ 1.0 [id D] float64(1,)
"""
from __future__ import annotations

import os
import sys
from typing import TextIO

from .graph import Constant, Variable, toposort
from .ops.fused import Fused
from .variable import SharedVariable, install


def _is_function(obj) -> bool:
    return hasattr(obj, "graph_outputs") and hasattr(obj, "updates")


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
    its id. Inner graphs (of ops that own them) follow, each under the node that owns it.
    With ``file="str"`` the text is returned instead of printed."""
    if _is_function(obj):
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
        if node.op.inner_graphs():
            owners.append(node)
        for i, inp in enumerate(node.inputs):
            last = i == len(node.inputs) - 1
            show(inp, child_prefix + ("└─ " if last else "├─ "),
                 child_prefix + ("   " if last else "│  "))

    owners: list = []
    for v, lab in zip(roots, labels):
        if lab:
            lines.append(f"{lab}:")
        show(v, "", " ")
    while owners:
        node = owners.pop(0)
        for g in node.op.inner_graphs():
            ins = ", ".join(f"{v!r} [id {ident(v)}]" for v in g.inputs)
            lines.append(f"inner graph of {node.op} [id {ident(node)}], inputs {ins}:")
            for v in g.outputs:
                show(v, "", " ")
    text = "\n".join(lines)
    if file == "str":
        return text
    print(text, file=file or sys.stdout)
    return None




# ---------------------------------------------------------------- pictures
_STYLE = {
    "input": 'shape=ellipse, style=filled, fillcolor="#d8f0d8"',
    "shared": 'shape=ellipse, style=filled, fillcolor="#d8e4f8"',
    "constant": 'shape=box, style="rounded,filled", fillcolor="#eeeeee", fontsize=10',
    "node": 'shape=box, style=filled, fillcolor="#fff6d5"',
    "output": 'shape=plaintext, fontcolor="#804000"',
    "scalar": 'shape=box, style="rounded,filled", fillcolor="#ffe3b3", fontsize=10',
}


def _q(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _roots(obj, before: bool):
    """(variables to draw from, their labels, update pairs) for a variable, a list of
    them, or a compiled function (its optimized graph, or as written if ``before``)."""
    if _is_function(obj):
        n = len(obj.outputs)
        exprs = [*obj.outputs, *(u for _, u in obj.updates)] if before else obj.graph_outputs
        labels = [f"output {i}" for i in range(n)]
        return list(exprs[:n]), labels, [(s, e) for (s, _), e in zip(obj.updates, exprs[n:])]
    roots = list(obj) if isinstance(obj, (list, tuple)) else [obj]
    for r in roots:
        if not isinstance(r, Variable):
            raise TypeError(f"to_dot takes variables or a compiled function, got "
                            f"{type(r).__name__}")
    return roots, [r.name or f"output {i}" for i, r in enumerate(roots)], []


def _short(value) -> str:
    return f"{value:.7g}" if isinstance(value, float) else repr(value)


def to_dot(obj, before: bool = False) -> str:
    """The graph as Graphviz DOT source (no Graphviz program needed).

    ``obj`` is a variable, a list of variables, or a compiled function (its optimized
    graph; ``before=True`` for the graph as written). Each node shows its op, dtype and
    shape; inputs, shared variables, constants and outputs are styled apart; updates are
    dashed edges back to their shared variable; a fused kernel is a cluster of its scalar
    ops.

    >>> import symgraph as sg
    >>> x = sg.dvector("x")
    >>> "digraph" in sg.to_dot(sg.exp(x) + 1)
    True
    """
    roots, labels, updates = _roots(obj, before)
    everything = roots + [e for _, e in updates]
    ident: dict[int, str] = {}
    lines = ["digraph symgraph {", "  rankdir=TB; node [fontname=Helvetica, fontsize=11];",
             "  edge [fontname=Helvetica, fontsize=9, color=\"#555555\"];"]

    def vid(v: Variable) -> str:
        """The DOT node an edge from ``v`` starts at (its producer, or the leaf itself)."""
        if v.owner is not None:
            return ident[id(v.owner)]
        if id(v) not in ident:
            ident[id(v)] = f"v{len(ident)}"
            if isinstance(v, SharedVariable):
                style, text = "shared", f"{v.name or 'shared'}\n{v.type} (shared)"
            elif isinstance(v, Constant):
                style, text = "constant", f"{v!r}\n{v.type}"
            else:
                style, text = "input", f"{v.name or 'input'}\n{v.type}"
            lines.append(f"  {ident[id(v)]} [label={_q(text)}, {_STYLE[style]}];")
        return ident[id(v)]

    def out_types(node) -> str:
        return ", ".join(str(o.type) for o in node.outputs)

    for k, node in enumerate(toposort(everything)):
        name = ident[id(node)] = f"n{k}"
        if isinstance(node.op, Fused):
            lines += _kernel_cluster(name, node.op.kernel, out_types(node))
            for i, v in enumerate(node.inputs):
                loads = [s for s, ins in enumerate(node.op.kernel.body)
                         if ins.op == "load" and ins.attr == i]
                target = f"{name}_s{loads[0]}" if loads else name
                lines.append(f"  {vid(v)} -> {target};")
            continue
        lines.append(f"  {name} [label={_q(str(node.op) + chr(10) + out_types(node))}, "
                     f"{_STYLE['node']}];")
        for v in node.inputs:
            lines.append(f"  {vid(v)} -> {name};")
    for k, (r, label) in enumerate(zip(roots, labels)):
        lines.append(f"  out{k} [label={_q(label)}, {_STYLE['output']}];")
        lines.append(f"  {vid(r)} -> out{k};")
    for s, e in updates:
        lines.append(f"  {vid(e)} -> {vid(s)} [style=dashed, color=\"#2060c0\", "
                     f"label={_q('update')}, constraint=false];")
    lines.append("}")
    return "\n".join(lines)


def _kernel_cluster(name: str, kern, types: str) -> list[str]:
    """DOT lines drawing a fused kernel as a cluster of its scalar ops and stores; the
    cluster's output point is ``name``, its values ``{name}_s{i}``."""
    lines = [f"  subgraph cluster_{name} {{",
             f'    label={_q("fused kernel " + kern.name + chr(10) + types)};'
             ' style="rounded,filled"; fillcolor="#fff6d5"; color="#c08000";',
             f"    {name} [label={_q('outputs')}, shape=point, width=0.1];"]
    for i, ins in enumerate(kern.body):
        text = (f"load in{ins.attr}" if ins.op == "load" else
                _short(ins.attr) if ins.op == "const" else
                f"result of store {ins.attr}" if ins.op == "reduced" else ins.op)
        lines.append(f"    {name}_s{i} [label={_q(text + chr(10) + ins.dtype)}, "
                     f"{_STYLE['scalar']}];")
        for a in ins.args:
            lines.append(f"    {name}_s{a} -> {name}_s{i};")
        if ins.op == "reduced":      # read by a later pass over the rows
            lines.append(f"    {name}_st{ins.attr} -> {name}_s{i} [style=dashed, "
                         'label="next pass"];')
    for j, st in enumerate(kern.stores):
        tag = f"store {j}" + (f"\n{st.reduce} over {st.axes}" if st.reduce else "")
        if any(kern.stages):
            tag += f"\npass {kern.stages[j] + 1}"
        if st.epilogue:
            tag += "\n+ " + ", ".join(e.op for e in st.epilogue if e.op != "acc")
        lines.append(f"    {name}_st{j} [label={_q(tag)}, {_STYLE['scalar']}, "
                     'fillcolor="#f8c880"];')
        lines.append(f"    {name}_s{st.value} -> {name}_st{j};")
        lines.append(f"    {name}_st{j} -> {name} [arrowhead=none];")
    return lines + ["  }"]


_NO_DOT = ("rendering SVG needs Graphviz's `dot` program, which was not found: install it "
           "with `sudo apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
           "(macOS) or `conda install graphviz`. sg.to_dot(...) gives the DOT source "
           "without it.")


_FORMATS = ("svg", "png", "pdf")


def to_svg(obj, path: str | os.PathLike | None = None, before: bool = False) -> str:
    """The graph rendered as SVG text (see :func:`to_dot`). With ``path``, also written
    there in the format its extension names: ``.svg``, ``.png`` or ``.pdf``. Needs
    Graphviz's ``dot`` program.

    >>> import symgraph as sg
    >>> sg.to_svg(sg.dvector("x") * 2, "graph.gif")
    Traceback (most recent call last):
    ...
    ValueError: to_svg writes .svg, .png or .pdf files (by the extension), got 'graph.gif'
    """
    fmt = None
    if path is not None:
        fmt = os.path.splitext(os.fspath(path))[1].lower().lstrip(".")
        if fmt not in _FORMATS:
            raise ValueError(f"to_svg writes .svg, .png or .pdf files (by the extension), "
                             f"got {os.fspath(path)!r}")
    import graphviz
    source = graphviz.Source(to_dot(obj, before))
    try:
        svg = source.pipe(format="svg", encoding="utf-8")
        if fmt is not None and fmt != "svg":
            data = source.pipe(format=fmt)
    except graphviz.ExecutableNotFound:
        raise RuntimeError(_NO_DOT) from None
    if fmt == "svg":
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(svg)
    elif fmt is not None:
        with open(path, "wb") as fh:
            fh.write(data)
    return svg


def to_networkx(obj, before: bool = False):
    """The graph as a ``networkx.MultiDiGraph``, for analysis (paths, depths, what depends
    on what): one vertex per node (``kind`` ``node``, ``op``, ``types``; a fused kernel has
    its ``kernel`` name and the ``labels`` of the ops it absorbed), per leaf (``kind``
    ``input``, ``shared`` or ``constant``, ``type``) and per output (``kind`` ``output``);
    an edge per use, with the ``index`` of the input it is (``x * x`` has two). Updates are
    edges of kind ``update`` to their shared variable. Needs networkx.

    >>> import symgraph as sg
    >>> g = sg.to_networkx(sg.exp(sg.dvector("x")) * 2)
    >>> sorted(d["kind"] for _, d in g.nodes(data=True))
    ['constant', 'input', 'node', 'node', 'output']
    """
    import networkx as nx
    roots, labels, updates = _roots(obj, before)
    g = nx.MultiDiGraph()

    def vertex(v: Variable):
        if v.owner is not None:
            return ("node", id(v.owner))
        key = ("leaf", id(v))
        if key not in g:
            kind = "shared" if isinstance(v, SharedVariable) else \
                "constant" if isinstance(v, Constant) else "input"
            g.add_node(key, kind=kind, name=v.name or repr(v), type=str(v.type))
        return key
    for node in toposort([*roots, *(e for _, e in updates)]):
        attrs = dict(kind="node", op=str(node.op), types=[str(o.type) for o in node.outputs],
                     built_at=node.built_at)
        if isinstance(node.op, Fused):
            attrs.update(kernel=node.op.kernel.name, labels=list(node.op.labels))
        g.add_node(("node", id(node)), **attrs)
        for i, v in enumerate(node.inputs):
            g.add_edge(vertex(v), ("node", id(node)), index=i, kind="input")
    for k, (r, label) in enumerate(zip(roots, labels)):
        g.add_node(("output", k), kind="output", name=label)
        g.add_edge(vertex(r), ("output", k), index=0, kind="output")
    for s, e in updates:
        g.add_edge(vertex(e), vertex(s), index=0, kind="update")
    return g


def repr_svg(obj) -> str | None:
    """Jupyter's inline SVG for variables and functions (None without Graphviz, so the
    notebook falls back to the text repr)."""
    try:
        return to_svg(obj)
    except RuntimeError:
        return None


install("repr_svg", repr_svg)
