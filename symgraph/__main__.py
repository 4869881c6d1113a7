"""Command line: ``python -m symgraph demo`` and ``python -m symgraph bench [WORKLOAD]``."""
from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    """Parse ``argv`` and run the chosen command; returns the exit status."""
    from .bench import WORKLOADS
    from .demo import EPOCHS, OPTIMIZERS
    from .lenet import EPOCHS as LENET_EPOCHS
    parser = argparse.ArgumentParser(prog="python -m symgraph",
                                     description="symgraph: demo and benchmarks")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="train a small MLP on scikit-learn's digits, or "
                          "LeNet-5 on MNIST digits (demo lenet)")
    demo.add_argument("model", nargs="?", default="mlp", choices=["mlp", "lenet"],
                      help="mlp (default): the digits MLP; lenet: LeNet-5 on MNIST")
    demo.add_argument("--epochs", type=int, default=None,
                      help=f"default {EPOCHS} (mlp), {LENET_EPOCHS} (lenet)")
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--optimizer", choices=OPTIMIZERS, default="momentum",
                      help="momentum SGD (default) or Adam (sg.updates.adam)")
    demo.add_argument("--dropout", type=float, default=0.0, metavar="P",
                      help="dropout probability on the hidden layer (default 0: none)")
    demo.add_argument("--batchnorm", action="store_true",
                      help="lenet: batch normalization after each convolution")
    bench = sub.add_parser("bench", help="run a benchmark and print its measurements")
    bench.add_argument("workload", nargs="?", default="kernels", choices=sorted(WORKLOADS),
                       help="what to measure (default: kernels, fused vs unfused vs peers)")
    bench.add_argument("--quick", action="store_true", help="a small, fast smoke run")
    bench.add_argument("--backend", choices=["llvm", "cuda"], default="llvm",
                       help="the backend the kernel benchmarks run on")
    bench.add_argument("--json", action="store_true",
                       help="print the results as one JSON object (the adam workload)")
    args = parser.parse_args(argv)
    if args.command == "demo" and args.model == "lenet":
        from .lenet import main as lenet_main
        return lenet_main(epochs=args.epochs or LENET_EPOCHS, seed=args.seed,
                          batchnorm=args.batchnorm)
    if args.command == "demo":
        from .demo import main as demo_main
        return demo_main(epochs=args.epochs or EPOCHS, seed=args.seed,
                         optimizer=args.optimizer, dropout=args.dropout)
    if args.backend != "llvm":
        if args.workload != "kernels":
            parser.error("--backend applies to the kernels workload")
        from .bench.kernels import backend_unavailable
        reason = backend_unavailable(args.backend)
        if reason:
            print(f"bench --backend {args.backend}: {reason}", file=sys.stderr)
            return 1
    if args.json and args.workload != "adam":
        parser.error("--json applies to the adam workload")
    if args.workload == "kernels":
        WORKLOADS["kernels"](args.quick, backend=args.backend)
    elif args.workload == "adam":
        WORKLOADS["adam"](args.quick, as_json=args.json)
    else:
        WORKLOADS[args.workload](args.quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())
