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


DATASET_SOURCES = ("charades-sta", "activitynet-captions", "tacos", "custom", "synthetic")


def _split_counts(text: str) -> dict[str, int]:
    """`train=1000,validation=150,test=150` -> {"train": 1000, ...}."""
    counts = {}
    for item in text.split(","):
        split, separator, count = item.partition("=")
        if not separator or not count.strip().isdigit():
            raise argparse.ArgumentTypeError(f"expected split=count[,split=count...], got {text!r}")
        counts[split.strip()] = int(count)
    return counts


def _add_build_dataset(subparsers) -> None:
    parser = subparsers.add_parser(
        "build-dataset",
        help="Build a benchmark, a custom corpus or the synthetic world as a dataset folder (annotations/ + features/).",
    )
    parser.add_argument("source", choices=DATASET_SOURCES)
    parser.add_argument("--annotations", help="Folder of the official annotation files, or the custom JSONL/JSON/CSV file.")
    parser.add_argument("--features", help="HDF5 file, folder of <video_id>.npy files, or 'simulated'.")
    parser.add_argument("--output", required=True, help="Dataset folder to write.")
    parser.add_argument("--trees", choices=["spacy", "gold", "none"], help="Semantic role trees: default spacy (gold for synthetic).")
    parser.add_argument("--max-clips", type=int, help="Average-pool videos longer than this many clips.")
    parser.add_argument("--limit", type=int, help="Read only the first N queries of each split (a quick subset).")
    parser.add_argument("--feature-key", help="HDF5 key template, e.g. '{vid}' or '{vid}/c3d_features'.")
    parser.add_argument("--clip-seconds", type=float, help="Seconds per clip (simulated features; custom videos without duration).")
    parser.add_argument("--feature-dim", type=int, default=128, help="Size of simulated / synthetic features.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of simulated / synthetic features.")
    parser.add_argument("--name", help="custom: the corpus name shown in its card.")
    parser.add_argument("--num-videos", type=_split_counts, help="synthetic: e.g. train=1000,validation=150,test=150.")
    parser.add_argument("--queries-per-video", type=int, default=2, help="synthetic: queried events per video.")


def _run_build_dataset(args: argparse.Namespace) -> int:
    from datasets_scripts import build_dataset, format_report

    options = {"feature_dim": args.feature_dim, "seed": args.seed}
    if args.clip_seconds is not None:
        options["clip_seconds"] = args.clip_seconds
    if args.source == "synthetic":
        options.update(num_videos=args.num_videos, queries_per_video=args.queries_per_video)
    else:
        options.update(max_clips=args.max_clips, limit=args.limit)
        if args.feature_key:
            options["feature_key"] = args.feature_key
        if args.source == "custom" and args.name:
            options["pretty_name"] = args.name
    try:
        built = build_dataset(args.source, args.output, args.annotations, args.features, args.trees, **options)
    except (ValueError, FileNotFoundError) as error:
        print(f"fvmr build-dataset: error: {error}", file=sys.stderr)
        return 2
    print(format_report(built.report))
    print(f"Saved to {built.path} (annotations/, features/, README.md, build_report.json).")
    return 0


COMMANDS = {"demo": (_add_demo, _run_demo), "build-dataset": (_add_build_dataset, _run_build_dataset)}


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
