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


def test_demo_with_adam_and_dropout() -> None:
    out = run_module("demo", "--optimizer", "adam", "--dropout", "0.2", "--epochs", "8")
    assert "adam, dropout 0.2" in out, out
    found = re.search(r"final test accuracy: ([0-9.]+)", out)
    assert found and float(found.group(1)) > 0.93, out


def test_demo_lenet_learns_mnist_digits() -> None:
    out = run_module("demo", "lenet", "--epochs", "2")
    assert "LeNet-5" in out and "epoch  2" in out, out
    found = re.search(r"final held-out accuracy: ([0-9.]+)", out)
    assert found and float(found.group(1)) > 0.93, out


def test_demo_lenet_with_batch_norm() -> None:
    out = run_module("demo", "lenet", "--batchnorm", "--epochs", "1")
    assert "batch norm" in out and re.search(r"final held-out accuracy: 0\.9", out), out


def test_bench_lenet_quick() -> None:
    out = run_module("bench", "lenet", "--quick")
    assert re.search(r"LeNet-5 training step.*\n  symgraph llvm\s+[0-9.]+ ms", out), out
    assert re.search(r"conv2d forward.*\n  symgraph llvm\s+[0-9.]+ ms", out), out


def test_bench_norm_quick() -> None:
    out = run_module("bench", "norm", "--quick")
    for case in ("layer norm", "batch norm, per activation", "batch norm, spatial", "softmax"):
        block = out.split(case, 1)[1]
        assert re.search(r"symgraph fwd\s+[0-9.]+ ms", block), out
        assert re.search(r"symgraph fwd\+bwd\s+[0-9.]+ ms", block), out


def test_bench_dropout_quick() -> None:
    out = run_module("bench", "dropout", "--quick")
    for row in ("symgraph llvm fused", "symgraph llvm unfused", "numpy, np.random.rand"):
        assert re.search(rf"{row}.*\s[0-9.]+ ms \[", out), out


def test_bench_graph_quick() -> None:
    out = run_module("bench", "graph", "--quick")
    assert re.search(r"time\(25\) / time\(10\)", out), out


def test_bench_compile_quick() -> None:
    """Every graph of the quick run compiles in new processes, cold and warm, and no
    first call compiles anything (sg.function compiled it all)."""
    out = run_module("bench", "compile", "--quick")
    for label in ("chain 100", "chain 400", "MLP 5x256", "MLP 20x256", "MLP 784-512-10",
                  "LSTM 16x5", "LeNet-5 b16"):
        assert re.search(rf"^{label}\s+\d+\s+\d+(\s+[0-9.]+){{8}}", out, re.M), out
    assert "first calls that compiled code: none" in out, out
    assert re.search(r"import symgraph: \d+ ms \(\d+ ms compiling every module", out), out
    assert re.search(r"time per node, chain 400 / chain 100: [0-9.]+", out), out


def test_bench_threads_quick() -> None:
    out = run_module("bench", "threads", "--quick")
    for title in ("denoising autoencoder step", "logistic regression epoch", "MLP step"):
        block = out.split(title, 1)[1].split("\n\n", 1)[0]
        assert re.search(r"default environment\s+[0-9.]+ ms", block), out
        assert re.search(r"OPENBLAS_NUM_THREADS=1\s+[0-9.]+ ms", block), out
    assert re.search(r"symgraph +back-to-back [0-9.]+ ms, after idle [0-9.]+ ms", out), out
    assert re.search(r"symgraph, 1 thread +[0-9.]+ ms", out), out
