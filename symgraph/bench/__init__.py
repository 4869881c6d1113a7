"""Benchmarks: programs that print measurements side by side, never pass/fail tests.

Each workload is a function ``run(quick: bool) -> None`` registered in :data:`WORKLOADS`
under the name ``python -m symgraph bench NAME`` uses; ``quick`` shrinks it to a smoke run.
"""
from __future__ import annotations

from typing import Callable

from . import adam, compile, dropout, graph, kernels, lenet, lstm, norm, threads

WORKLOADS: dict[str, Callable[[bool], None]] = {
    "adam": adam.run,
    "compile": compile.run,
    "dropout": dropout.run,
    "graph": graph.run,
    "kernels": kernels.run,
    "lenet": lenet.run,
    "lstm": lstm.run,
    "norm": norm.run,
    "threads": threads.run,
}
