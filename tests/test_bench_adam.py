"""``python -m symgraph bench adam`` runs: a quick run's JSON has every contender's
figures, the table prints them, and symgraph's update writes its state in place. No
timing is checked (benchmarks are programs, not pass/fail tests)."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from symgraph.__main__ import main
from symgraph.bench import WORKLOADS, adam

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def quick_result() -> dict:
    done = subprocess.run([sys.executable, "-m", "symgraph", "bench", "adam", "--quick",
                           "--json"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_quick_json_has_every_contender(quick_result):
    r = quick_result
    assert len(r["tensors"]) == 10 and r["values"] == sum(
        int(np.prod(s)) for _, s in adam.QUICK_SHAPES)
    names = [row["name"] for row in r["rows"]]
    assert names[0].startswith("symgraph") and any(n.startswith("numpy") for n in names)
    for module, label in (("jax", "jax.jit"), ("torch", "PyTorch")):
        if adam._has(module):
            assert any(n.startswith(label) for n in names), names
    for row in r["rows"]:
        assert 0 < row["p25_s"] <= row["median_s"] <= row["p75_s"]
        assert row["vs_floor"] > 0
    assert set(r["bandwidth"]) == {"numpy copy", "symgraph copy", "symgraph in-place x + 1"}
    s = r["symgraph"]
    assert s["kernels"] == 11        # one per parameter and one for the step size
    # moments and parameters are written in place: far less than they hold is allocated
    assert s["bytes_allocated_per_step"] < r["bytes_per_step"] * 3 / 7 / 4


def test_the_table_prints_every_row(quick_result, capsys):
    adam._print(quick_result)
    out = capsys.readouterr().out
    assert re.search(r"memory floor .* [0-9.]+ ms", out), out
    for row in quick_result["rows"]:
        assert re.search(rf"{re.escape(row['name'])}\s+[0-9.]+ ms\s+\[[0-9.]+, [0-9.]+\]\s+"
                         r"[0-9.]+x symgraph\s+[0-9.]+x floor", out), out
    assert "symgraph's update runs" in out


def test_registered_and_json_only_for_adam():
    assert WORKLOADS["adam"] is adam.run
    with pytest.raises(SystemExit):
        main(["bench", "graph", "--json"])


def test_round_robin_times_every_step_in_turns():
    order = []
    times = adam.round_robin({"a": lambda: order.append("a"), "b": lambda: order.append("b")},
                             rounds=2, batch=3, pause=0.0)
    assert [len(t) for t in times.values()] == [6, 6]
    assert order == (["a"] * 4 + ["b"] * 4) * 2
