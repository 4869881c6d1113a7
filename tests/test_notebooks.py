"""Every notebook in notebooks/ runs top to bottom without an error, and every cell that
draws a figure shows it (an image in its outputs, not a text repr)."""
from __future__ import annotations

import os
from pathlib import Path

import nbclient
import nbformat
import pytest
from ipykernel.kernelspec import write_kernel_spec

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
FIGURE_MARKS = ("plt.", "SVG(", "to_svg(")


@pytest.fixture
def kernel_of_this_python(tmp_path, monkeypatch) -> str:
    """A 'python3' kernel spec running this interpreter, found first on JUPYTER_PATH: a
    user's or the system's own 'python3' may be another Python without symgraph."""
    write_kernel_spec(tmp_path / "kernels" / "python3")
    monkeypatch.setenv("JUPYTER_PATH", str(tmp_path))
    # the kernel works in notebooks/; an uninstalled checkout must still import symgraph
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        p for p in (str(ROOT), os.environ.get("PYTHONPATH")) if p))
    return "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name for p in NOTEBOOKS])
def test_notebook_runs(path: Path, kernel_of_this_python: str) -> None:
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name=kernel_of_this_python, timeout=300,
                                     resources={"metadata": {"path": str(path.parent)}})
    client.execute()  # raises CellExecutionError, naming the cell, on any error
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and any(k in cell.source for k in FIGURE_MARKS):
            shown = {m for out in cell.get("outputs", []) for m in out.get("data", {})}
            assert shown & {"image/png", "image/svg+xml"}, \
                f"{path.name} cell {i} draws a figure but shows none (outputs: {shown})"


def test_there_are_notebooks() -> None:
    assert NOTEBOOKS, "notebooks/ holds no notebook to test"
