"""Graph pictures: DOT source without Graphviz, SVG with it (parsed as XML: the labels,
one cluster per fused kernel, the graph before rewriting), Jupyter's ``_repr_svg_`` and
the message when Graphviz's ``dot`` is missing."""
from __future__ import annotations

import shutil
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import symgraph as sg
from symgraph.rewrite import Fused

SVG = "{http://www.w3.org/2000/svg}"
needs_dot = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")


def step():
    """A training-like function: three fused kernels (a reduction, an elementwise output,
    the update), a shared variable and its update."""
    x, y = sg.dvector("x"), sg.dvector("y")
    w = sg.shared(np.zeros(3), "w")
    f = sg.function([x, y], [((x - y) ** 2).sum(), sg.exp(x) * sg.tanh(y)],
                    updates=[(w, w + x * 2)])
    return f, x


def texts(svg: str) -> str:
    root = ET.fromstring(svg)
    return "\n".join(t.text or "" for t in root.iter(SVG + "text"))


def clusters(svg: str) -> list:
    return [g for g in ET.fromstring(svg).iter(SVG + "g") if g.get("class") == "cluster"]


def test_to_dot_needs_no_graphviz(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    f, x = step()
    dot = sg.to_dot(f)
    assert dot.startswith("digraph") and dot.rstrip().endswith("}")
    assert dot.count("subgraph cluster_") == 3
    assert "(shared)" in dot and "update" in dot and "float64(?,)" in dot
    assert "exp" in sg.to_dot(sg.exp(x))


def test_to_dot_rejects_what_is_not_a_graph():
    with pytest.raises(TypeError, match="variables or a compiled function"):
        sg.to_dot(42)


@needs_dot
def test_svg_holds_the_labels_and_one_cluster_per_fused_kernel():
    f, _ = step()
    svg = sg.to_svg(f)
    lines = texts(svg).split("\n")
    for label in ("float64(?,)", "float64()", "update", "w", "float64(?,) (shared)",
                  "output 0", "output 1", "x", "y", "exp", "tanh", "sub", "mul",
                  "load in0", "store 0", "add over (0,)", "float64"):
        assert label in lines, label
    assert sum(line.startswith("fused kernel") for line in lines) == 3
    n_fused = sum(isinstance(n.op, Fused) for n in f.nodes)
    assert n_fused == 3 and len(clusters(svg)) == n_fused


@needs_dot
def test_a_staged_kernel_shows_its_passes():
    m = sg.dmatrix("m")
    lines = texts(sg.to_svg(sg.function([m], sg.softmax(m, axis=1)))).split("\n")
    for label in ("pass 1", "pass 2", "pass 3", "result of store 0", "result of store 1",
                  "next pass"):
        assert label in lines, label


@needs_dot
def test_svg_before_shows_the_graph_as_written():
    f, _ = step()
    svg = sg.to_svg(f, before=True)
    assert not clusters(svg) and "fused kernel" not in texts(svg)
    words = texts(svg).split("\n")
    for op in ("sub", "power", "sum{axis=(0,)}", "exp", "tanh", "mul", "add"):
        assert op in words, op


@needs_dot
def test_svg_is_written_to_a_path(tmp_path):
    f, _ = step()
    svg = sg.to_svg(f, str(tmp_path / "g.svg"))
    assert (tmp_path / "g.svg").read_text() == svg


@needs_dot
def test_variables_and_functions_show_inline_in_jupyter():
    f, x = step()
    for obj in (f, sg.exp(x) + 1):
        ET.fromstring(obj._repr_svg_())


def test_missing_dot_says_how_to_install_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))       # an empty directory: no `dot`
    f, x = step()
    with pytest.raises(RuntimeError) as err:
        sg.to_svg(f)
    msg = str(err.value)
    assert "dot" in msg and "apt-get install graphviz" in msg and "brew install graphviz" in msg
    assert "to_dot" in msg
    # Jupyter falls back to the text repr instead of showing an error
    assert f._repr_svg_() is None and (sg.exp(x))._repr_svg_() is None


@needs_dot
@pytest.mark.parametrize("ext,magic", [(".svg", b"<?xml"), (".png", b"\x89PNG"),
                                       (".pdf", b"%PDF")])
def test_to_svg_writes_the_format_of_the_extension(tmp_path, ext, magic):
    x = sg.dvector("x")
    path = tmp_path / f"graph{ext}"
    svg = sg.to_svg(sg.exp(x) + 1, path)
    assert svg.lstrip().startswith("<?xml") and path.read_bytes().startswith(magic)


def test_to_svg_refuses_an_extension_it_cannot_write(tmp_path):
    with pytest.raises(ValueError, match=r"\.svg, \.png or \.pdf .*'graph\.jpeg'"):
        sg.to_svg(sg.dvector("x") * 2, "graph.jpeg")
    assert not (tmp_path / "graph.jpeg").exists()


def test_inner_graphs_are_printed_under_their_node():
    a = sg.dvector("a")
    op = sg.OpFromGraph([a], [sg.exp(a) * 2], name="twice_exp")
    text = sg.debugprint(op(sg.dvector("x")) + 1, file="str")
    head, inner = text.split("inner graph of twice_exp")
    assert "twice_exp" in head and "exp" in inner and "mul" in inner


def test_to_networkx_gives_the_graph_to_analyse():
    import networkx as nx
    f, x = step()
    g = sg.to_networkx(f)
    assert nx.is_directed_acyclic_graph(nx.DiGraph((u, v) for u, v, d in g.edges(data=True)
                                                   if d["kind"] != "update"))
    kinds = [d["kind"] for _, d in g.nodes(data=True)]
    assert kinds.count("output") == 2 and kinds.count("shared") == 1
    fused = [d for _, d in g.nodes(data=True) if "kernel" in d]
    assert len(fused) == 3 and all(d["labels"] for d in fused)
    updates = [(u, v) for u, v, d in g.edges(data=True) if d["kind"] == "update"]
    assert len(updates) == 1 and g.nodes[updates[0][1]]["kind"] == "shared"
    y = sg.dvector("y")
    assert g.number_of_nodes() < sg.to_networkx(f, before=True).number_of_nodes()
    square = sg.to_networkx(y * y)
    assert square.number_of_edges() == 3          # y feeds the product twice, then the output


def test_networkx_is_not_imported_with_symgraph():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-c", "import sys, symgraph; "
                          "print('networkx' in sys.modules)"], capture_output=True, text=True)
    assert out.stdout.strip() == "False"
