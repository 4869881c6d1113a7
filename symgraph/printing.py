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
import textwrap
from typing import Sequence, TextIO

from codegen.lib.index import SYM

from .graph import Constant, Variable, toposort
from .ops.elemwise import Elemwise
from .ops.fused import Fused
from .ops.indexing import _Read, _Write
from .ops.reduce import Reduce
from .ops.shape import DimShuffle, Reshape, Shape
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
    A compiled function that was profiled (``profile=True``) and has run shows each
    step's milliseconds per call and share of the call time after its node.
    With ``file="str"`` the text is returned instead of printed."""
    times = _profile_rows(obj) or {}
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
        row = times.get(id(node)) if node is not None and not seen else None
        timing = f"  {row['per_call'] * 1e3:.3f} ms {row['share']:.1%}" if row else ""
        lines.append(f"{prefix}{label} [id {ident(node or v)}]{typ}"
                     f"{' ...' if seen and node else ''}{timing}")
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


def _profile_rows(obj) -> dict[int, dict] | None:
    """A profiled compiled function's step rows by node id (see
    :meth:`~symgraph.compile.profiling.Profile.by_node`); None for anything else, or a
    function with no profiled call yet."""
    prof = getattr(obj, "profile", None) if _is_function(obj) else None
    return prof.by_node() if prof is not None and prof.calls else None


def _profiled(obj, before: bool, who: str) -> tuple[dict[int, dict], str]:
    """The step rows by node id of ``obj`` for a picture with ``profile=True``, and the
    picture's title; a clear error for anything but a profiled function that has run."""
    if not _is_function(obj):
        raise TypeError(f"{who}(profile=True) draws a compiled function's profile, got "
                        f"{type(obj).__name__}")
    if before:
        raise ValueError(f"{who}(profile=True) draws the optimized graph (the steps that "
                         "ran), not the graph as written: drop before=True")
    if getattr(obj, "profile", None) is None:
        raise ValueError(f"{who}(profile=True): the function was not profiled; compile "
                         "it with sg.function(..., profile=True) or SYMGRAPH_PROFILE=1")
    rows = _profile_rows(obj)
    if rows is None:
        raise ValueError(f"{who}(profile=True): the function has not run since it was "
                         "compiled (or its profile was reset): call it first")
    prof = obj.profile
    title = (f"{prof.calls} calls, {prof.seconds / prof.calls * 1e3:.3f} ms per call; "
             f"outside steps {prof.outside_seconds / prof.seconds:.1%}")
    return rows, title


def _heat(share: float, top: float) -> str:
    """DOT attributes shading a node white (no time) to red (the most time, ``top``)."""
    f = min(1.0, share / top) if top > 0 else 0.0
    r, g, b = (round(255 + (end - 255) * f) for end in (0xd7, 0x30, 0x1f))
    ink = "white" if f > 0.6 else "black"
    return f'style=filled, fillcolor="#{r:02x}{g:02x}{b:02x}", fontcolor={ink}'


def _hot_node(name: str, node, row: dict | None, top: float) -> str:
    """The DOT line of ``node`` in a profile picture: one box (a fused kernel's lists the
    ops it absorbed) shaded and labelled by its step's time."""
    head = "fused: " + textwrap.fill(", ".join(node.op.labels), 40) \
        if isinstance(node.op, Fused) else str(node.op)
    text = f"{head}\n{', '.join(str(o.type) for o in node.outputs)}"
    if row is None:
        return f"  {name} [label={_q(text)}, {_STYLE['node']}];"
    text += f"\n{row['per_call'] * 1e3:.3f} ms  {row['share']:.1%}"
    return f"  {name} [label={_q(text)}, shape=box, {_heat(row['share'], top)}];"


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


def to_dot(obj, before: bool = False, profile: bool = False) -> str:
    """The graph as Graphviz DOT source (no Graphviz program needed).

    ``obj`` is a variable, a list of variables, or a compiled function (its optimized
    graph; ``before=True`` for the graph as written). Each node shows its op, dtype and
    shape; inputs, shared variables, constants and outputs are styled apart; updates are
    dashed edges back to their shared variable; a fused kernel is a cluster of its scalar
    ops. ``profile=True`` (a function compiled with ``profile=True`` that has run) draws
    each step as one box labelled with its milliseconds per call and share of the call
    time, shaded from white to red by that share.

    >>> import symgraph as sg
    >>> x = sg.dvector("x")
    >>> "digraph" in sg.to_dot(sg.exp(x) + 1)
    True
    """
    hot, title = _profiled(obj, before, "to_dot") if profile else (None, "")
    roots, labels, updates = _roots(obj, before)
    everything = roots + [e for _, e in updates]
    ident: dict[int, str] = {}
    lines = ["digraph symgraph {", "  rankdir=TB; node [fontname=Helvetica, fontsize=11];",
             "  edge [fontname=Helvetica, fontsize=9, color=\"#555555\"];"]
    if hot is not None:
        lines.append(f"  labelloc=t; fontname=Helvetica; label={_q('profile: ' + title)};")
        top = max((r["share"] for r in hot.values()), default=0.0)

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
        if hot is not None:
            lines.append(_hot_node(name, node, hot.get(id(node)), top))
            lines += [f"  {vid(v)} -> {name};" for v in node.inputs]
            continue
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


def to_svg(obj, path: str | os.PathLike | None = None, before: bool = False,
           profile: bool = False) -> str:
    """The graph rendered as SVG text (see :func:`to_dot`; ``profile=True`` shades each
    step of a profiled function by its share of the time). With ``path``, also written
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
    if profile:         # the errors name to_svg
        _profiled(obj, before, "to_svg")
    import graphviz
    source = graphviz.Source(to_dot(obj, before, profile))
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


def to_networkx(obj, optimized: bool | None = None, before: bool = False):
    """The graph as a ``networkx.MultiDiGraph``, for analysis (paths, depths, what depends
    on what): one vertex per node (``kind`` ``node``, ``op``, ``types``, ``shapes`` (the
    static shapes of its outputs, None for a size known only at run time), ``built_at``
    (the user's line); a fused kernel has its ``kernel`` name and the ``labels`` of the
    ops it absorbed), per leaf (``kind`` ``input``, ``shared`` or ``constant``, ``type``)
    and per output (``kind`` ``output``); an edge per use, with the ``index`` of the input
    it is (``x * x`` has two). Updates are edges of kind ``update`` to their shared
    variable. A compiled function's optimized graph is drawn unless ``optimized=False``
    (or ``before=True``, the older name); if it was profiled and has run, each node also
    has its step's ``step`` number, ``time`` (seconds per call), ``calls`` and ``share``
    of the call time. Needs networkx (``pip install symgraph[analysis]``).

    >>> import symgraph as sg
    >>> g = sg.to_networkx(sg.exp(sg.dvector("x")) * 2)
    >>> sorted(d["kind"] for _, d in g.nodes(data=True))
    ['constant', 'input', 'node', 'node', 'output']
    """
    try:
        import networkx as nx
    except ImportError:
        raise ImportError("to_networkx needs networkx: pip install 'symgraph[analysis]' "
                          "(or networkx)") from None
    before = before if optimized is None else not optimized
    roots, labels, updates = _roots(obj, before)
    times = (None if before else _profile_rows(obj)) or {}
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
                     shapes=[tuple(getattr(o.type, "shape", ())) for o in node.outputs],
                     built_at=node.built_at)
        if isinstance(node.op, Fused):
            attrs.update(kernel=node.op.kernel.name, labels=list(node.op.labels))
        row = times.get(id(node))
        if row is not None:
            attrs.update(step=row["step"], time=row["per_call"], calls=row["calls"],
                         share=row["share"])
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


# ---------------------------------------------------------------- one-line expressions
_COMPARE, _UNARY, _ATOM = 5, 12, 14          # Python's precedences (operators': _INFIX)
_INFIX = {"add": ("+", 10), "sub": ("-", 10), "mul": ("*", 11), "true_divide": ("/", 11),
          "floor_divide": ("//", 11), "mod": ("%", 11), "power": ("**", 13),
          "bitwise_or": ("|", 6), "bitwise_xor": ("^", 7), "bitwise_and": ("&", 8),
          **{n: (s, _COMPARE) for n, s in [
              ("less", "<"), ("less_equal", "<="), ("greater", ">"), ("greater_equal", ">="),
              ("equal", "=="), ("not_equal", "!=")]}}
_PREFIX = {"neg": "-", "invert": "~"}
_FUNCTIONS = {"second": "fill"}             # Theano's name of the op


def pp(var: Variable, max_len: int = 1000) -> str:
    """``var`` as one line of Python-like text (Theano's ``pp``): operators with only the
    parentheses precedence needs, calls for other ops (``sum(x, axis=1)``), indexing and
    ``.T`` as written, names for leaves, constants short. A value used twice is written
    out twice; text longer than ``max_len`` (at any subexpression) is cut with ``...``.

    >>> import symgraph as sg
    >>> x, y = sg.dmatrix("x"), sg.dmatrix("y")
    >>> sg.pp((x + y) * 2 - sg.exp(x).sum(axis=1)[0])
    '(x + y) * 2.0 - sum(exp(x), axis=1)[0]'
    >>> sg.pp(sg.dot(x, y.T) ** -1)
    'dot(x, y.T) ** (-1.0)'
    """
    done: dict[int, tuple[str, int]] = {}

    def get(v: Variable) -> tuple[str, int]:
        if id(v) not in done:
            done[id(v)] = _pp_leaf(v)
        return done[id(v)]
    for node in toposort([var]):
        elemwise = isinstance(node.op, Elemwise)
        args = [get(_unbroadcast(i) if elemwise else i) for i in node.inputs]
        rule = next((r for cls, r in _PP_RULES.items() if isinstance(node.op, cls)), _pp_call)
        text, prec = rule(node, args)
        if len(text) > max_len:
            text, prec = text[:max_len - 3] + "...", _ATOM
        if len(node.outputs) > 1:
            text, prec = _wrap((text, prec), _ATOM), _ATOM
            for o in node.outputs:
                done[id(o)] = (f"{text}.{o.index}", _ATOM)
        else:
            done[id(node.outputs[0])] = (text, prec)
    return get(var)[0]


def _unbroadcast(v: Variable) -> Variable:
    """An elementwise operand without the leading broadcast axes numpy's rule added
    (``x + b`` rather than ``x + b.dimshuffle('x', 0)``)."""
    node = v.owner
    if node is not None and isinstance(node.op, DimShuffle):
        pattern, nd = node.op.pattern, node.inputs[0].ndim
        if pattern[len(pattern) - nd:] == tuple(range(nd)) and \
                all(p == "x" for p in pattern[:len(pattern) - nd]):
            return node.inputs[0]
    return v


def _wrap(arg: tuple[str, int], at_least: int) -> str:
    """The text of ``arg``, in parentheses if it binds more loosely than ``at_least``."""
    text, prec = arg
    return text if prec >= at_least else f"({text})"


def _pp_leaf(v: Variable) -> tuple[str, int]:
    if not isinstance(v, Constant) or v.name:
        return (v.name or repr(v)), _ATOM
    data = v.data
    if data.size == 1:
        value = data.reshape(-1)[0].item()
        text = f"{value:.7g}" if isinstance(value, float) else repr(value)
        if isinstance(value, float) and text.lstrip("-").isdigit():
            text += ".0"
        return text, (_UNARY if text.startswith("-") else _ATOM)
    if data.size <= 4:
        return repr(data.tolist()), _ATOM
    return f"constant{{{v.type}}}", _ATOM


def _pp_call(node, args, name: str | None = None, extra: Sequence[str] = ()) -> tuple[str, int]:
    """``name(args, extra...)``; by default the op's name with its properties, or the
    op as it prints when a property is long (a fused kernel's)."""
    op = node.op
    if name is None:
        props = [f"{p}={getattr(op, p)!r}" for p in op.__props__]
        if all(len(p) <= 40 for p in props):
            name, extra = op.name, [*props, *extra]
        else:
            name = str(op)
    return f"{name}({', '.join([*(a for a, _ in args), *extra])})", _ATOM


def _pp_elemwise(node, args) -> tuple[str, int]:
    s = node.op.scalar
    if s.name in _INFIX:
        sym, prec = _INFIX[s.name]
        # same precedence on the right keeps the graph's grouping: x - (y - z); the
        # comparisons and ** do not chain as Python would read them
        left = prec + 1 if s.name == "power" or prec == _COMPARE else prec
        return f"{_wrap(args[0], left)} {sym} {_wrap(args[1], prec + 1)}", prec
    if s.name in _PREFIX:
        return f"{_PREFIX[s.name]}{_wrap(args[0], _UNARY)}", _UNARY
    if s.kind == "cast":
        return _pp_call(node, args, "cast", [repr(s.to)])
    return _pp_call(node, args, _FUNCTIONS.get(s.name, s.name))


def _pp_reduce(node, args) -> tuple[str, int]:
    op, nd = node.op, node.inputs[0].ndim
    name = {"and": "all", "or": "any"}.get(op.name, op.name)
    extra = [] if len(op.axes) == nd else \
        [f"axis={op.axes[0] if len(op.axes) == 1 else op.axes}"]
    return _pp_call(node, args, name, extra + (["keepdims=True"] if op.keepdims else []))


def _pp_dimshuffle(node, args) -> tuple[str, int]:
    pattern, nd = node.op.pattern, node.inputs[0].ndim
    x = _wrap(args[0], _ATOM)
    if nd == 2 and pattern == (1, 0):
        return f"{x}.T", _ATOM
    if "x" not in pattern and len(pattern) == nd:
        return f"{x}.transpose({', '.join(map(str, pattern))})", _ATOM
    return f"{x}.dimshuffle({', '.join(repr(p) for p in pattern)})", _ATOM


def _index_text(idx_list, args: Sequence[tuple[str, int]]) -> str:
    """The index as written, with the text of its run-time inputs in place."""
    it = iter(a for a, _ in args)
    parts = []
    for e in idx_list:
        if e[0] == "slice":
            start, stop, step = ("" if b is None else next(it) if b == SYM else str(b)
                                 for b in e[1:])
            parts.append(f"{start}:{stop}" + (f":{step}" if step else ""))
        elif e[0] == "int":
            parts.append(next(it) if e[1] == SYM else str(e[1]))
        elif e[0] == "array":
            parts.append(next(it))
        else:
            parts.append({"new": "None", "...": "..."}[e[0]])
    return ", ".join(parts)


def _pp_read(node, args) -> tuple[str, int]:
    return f"{_wrap(args[0], _ATOM)}[{_index_text(node.op.idx_list, args[1:])}]", _ATOM


def _pp_write(node, args) -> tuple[str, int]:
    op = node.op
    region = f"{_wrap(args[0], _ATOM)}[{_index_text(op.idx_list, args[2:])}]"
    name = "set_subtensor" if op.set_instead_of_inc else "inc_subtensor"
    return f"{name}({region}, {args[1][0]})", _ATOM


def _pp_reshape(node, args) -> tuple[str, int]:
    static = node.op.static
    if None in static:
        return _pp_call(node, args, "reshape")
    return f"{_wrap(args[0], _ATOM)}.reshape({static})", _ATOM


def _pp_shape(node, args) -> tuple[str, int]:
    return f"{_wrap(args[0], _ATOM)}.shape", _ATOM


_PP_RULES = {Elemwise: _pp_elemwise, Reduce: _pp_reduce, DimShuffle: _pp_dimshuffle,
             _Read: _pp_read, _Write: _pp_write, Reshape: _pp_reshape, Shape: _pp_shape}
"""How :func:`pp` writes the nodes of these ops (others: ``name(args, props...)``)."""
