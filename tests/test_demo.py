"""What the README shows works as a user runs it: its examples, the demo, the benchmark."""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_module(*args: str) -> str:
    """``python -m symgraph ARGS`` from the checkout; its stdout (fails on a non-zero exit)."""
    done = subprocess.run([sys.executable, "-m", "symgraph", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_readme_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    assert blocks
    for i, code in enumerate(blocks):
        exec(compile(code, f"README.md python block {i}", "exec"), {})


def test_demo_learns_digits() -> None:
    out = run_module("demo")
    found = re.search(r"final test accuracy: ([0-9.]+)", out)
    assert found, out
    assert float(found.group(1)) > 0.95, out


def test_bench_graph_quick() -> None:
    out = run_module("bench", "graph", "--quick")
    assert re.search(r"time\(25\) / time\(10\)", out), out
