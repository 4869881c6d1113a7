"""The house rules that keep the code's shape: imports point down (no module of symgraph
or codegen imports, directly or not, one that imports it back; codegen never imports
symgraph), the graph and type modules import nothing above them, and no file or function
grows past the size that asks for a split."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("symgraph", "codegen")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules ``name`` imports (anywhere in it), with the packages they are
    in (their ``__init__`` runs first), except the packages ``name`` itself is in (they
    have begun to import already)."""
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if is_pkg else name.split(".")[:-1]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        targets = []
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = here[:len(here) - node.level + 1] if node.level else []
            mod = ".".join(base + (node.module.split(".") if node.module else []))
            targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
        for t in targets:
            parts = t.split(".")
            for k in range(2, len(parts) + 1):
                if ".".join(parts[:k]) in known:
                    found.add(".".join(parts[:k]))
    parts = name.split(".")
    return found - {".".join(parts[:k]) for k in range(1, len(parts) + 1)}


GRAPH = {n: _imports(n, p, set(_sources())) for n, p in _sources().items()}


def test_codegen_never_imports_symgraph():
    bad = {n: sorted(d for d in deps if d.startswith("symgraph"))
           for n, deps in GRAPH.items() if n.startswith("codegen")}
    assert not {n: d for n, d in bad.items() if d}


def test_no_import_cycles():
    state: dict[str, int] = {}
    path: list[str] = []

    def visit(n: str) -> None:
        state[n] = 1
        path.append(n)
        for d in sorted(GRAPH.get(n, ())):
            if state.get(d) == 1:
                cycle = path[path.index(d):] + [d]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if d not in state:
                visit(d)
        path.pop()
        state[n] = 2
    for n in sorted(GRAPH):
        if n not in state:
            visit(n)


@pytest.mark.parametrize("module,allowed", [
    ("symgraph.types", set()),
    ("symgraph.graph", {"symgraph.types"}),
    ("symgraph.variable", {"symgraph.types", "symgraph.graph", "symgraph.config"}),
])
def test_lower_layers_import_nothing_above_them(module, allowed):
    assert {d for d in GRAPH[module] if d.startswith("symgraph")} <= allowed


@pytest.mark.parametrize("name,path", sorted(_sources().items()), ids=lambda v: str(v))
def test_no_file_or_function_too_long(name, path):
    lines = path.read_text().splitlines()
    assert len(lines) <= 600, f"{name} has {len(lines)} lines: split it along a real seam"
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            n = node.end_lineno - node.lineno + 1
            assert n <= 80, f"{name}.{node.name} has {n} lines"


def test_import_symgraph_leaves_compile_only_modules_for_later():
    """``import symgraph`` stays cheap: the rewrite passes, llvmlite and networkx load at
    the first compile, gradient or graph export, the training toolkit at its first use."""
    import subprocess
    import sys
    later = ("symgraph.rewrite", "llvmlite", "networkx", "codegen.llvm", "symgraph.nnet",
             "symgraph.random", "symgraph.updates", "symgraph.init")
    code = f"import sys, symgraph; print(sorted(m for m in {later} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
    code = "import symgraph as sg; print(sg.nnet.dropout.__name__, sg.RandomStreams.__name__)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.stdout.split() == ["dropout", "RandomStreams"], out.stdout + out.stderr
