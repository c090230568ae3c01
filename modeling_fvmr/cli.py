"""The `fvmr` command line: one sub-command per job.

Each sub-command is a pair `_add_<name>(subparsers)` / `_run_<name>(args)`, registered in
`COMMANDS`. Heavy imports happen inside the `_run_` functions so `fvmr --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys


def _add_demo(subparsers) -> None:
    parser = subparsers.add_parser("demo", help="End-to-end run on the embedded synthetic world (no download).")
    parser.add_argument("--output-dir", default="outputs/demo", help="Where the model is saved.")
    parser.add_argument("--seed", type=int, default=0)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(output_dir=args.output_dir, seed=args.seed)
    return 0


COMMANDS = {"demo": (_add_demo, _run_demo)}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fvmr", description="Fast Video Moment Retrieval (FVMR, ICCV 2021).")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return COMMANDS[args.command][1](args)


if __name__ == "__main__":
    sys.exit(main())
