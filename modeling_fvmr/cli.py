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


def _add_index(subparsers) -> None:
    parser = subparsers.add_parser("index", help="Encode videos once into a searchable moment index.")
    parser.add_argument("model", help="Folder of a saved FVMR model and its processor.")
    parser.add_argument("features", nargs="+", help="Built dataset folders (DIR/features) and/or .npy files (T, D) named by video id.")
    parser.add_argument("--output", required=True, help="Folder the index is written to.")
    parser.add_argument("--split", default=None, help="Split of the dataset folders (needed when they have several).")
    parser.add_argument("--clip-seconds", type=float, default=None, help="Seconds per clip row: duration = T x this (required for .npy).")
    parser.add_argument("--batch-size", type=int, default=32, help="Videos per encoder call.")


def _run_index(args: argparse.Namespace) -> int:
    import os

    from .modeling_fvmr import FVMRModel
    from .retrieval import MomentIndex, load_video_features

    model = FVMRModel.from_pretrained(args.model)
    video_ids, durations, videos = load_video_features(args.features, split=args.split, clip_seconds=args.clip_seconds)
    index = MomentIndex(model, model_path=os.path.abspath(args.model))
    index.add(videos, durations, video_ids, batch_size=args.batch_size)
    index.save(args.output)
    megabytes = index.embeddings.numel() * 4 / 2**20
    print(f"Indexed {len(index)} videos, {len(index.embeddings)} moments ({megabytes:.1f} MB) -> {args.output}")
    return 0


def _add_search(subparsers) -> None:
    parser = subparsers.add_parser("search", help="Search a moment index by text.")
    parser.add_argument("index", help="Folder written by `fvmr index`.")
    parser.add_argument("queries", nargs="+", help="One or more text queries.")
    parser.add_argument("--top-k", type=int, default=5, help="Moments per query.")
    parser.add_argument("--video", nargs="+", default=None, help="Search only these video ids.")
    parser.add_argument("--nms-threshold", type=float, default=None, help="NMS IoU threshold (default: the model config's).")
    parser.add_argument("--model", default=None, help="Model folder (default: the one recorded in the index).")


def _run_search(args: argparse.Namespace) -> int:
    from .modeling_fvmr import FVMRModel
    from .processing_fvmr import FVMRProcessor
    from .retrieval import MomentIndex

    model_path = args.model or MomentIndex.read_metadata(args.index)["model_path"]
    if not model_path:
        raise SystemExit(f"{args.index} records no model path: give --model.")
    index = MomentIndex.load(args.index, FVMRModel.from_pretrained(model_path), FVMRProcessor.from_pretrained(model_path))
    results = index.search(args.queries, top_k=args.top_k, video_id=args.video, nms_threshold=args.nms_threshold)
    width = max(len("video"), *(len(moment.video_id) for moments in results for moment in moments))
    for query, moments in zip(args.queries, results):
        print(f"\n{query}")
        print(f"{'rank':>4}  {'video':<{width}}  {'start s':>9}  {'end s':>9}  {'score':>9}")
        for rank, moment in enumerate(moments, 1):
            print(f"{rank:>4}  {moment.video_id:<{width}}  {moment.start:>9.2f}  {moment.end:>9.2f}  {moment.score:>9.4f}")
    return 0


COMMANDS = {
    "demo": (_add_demo, _run_demo),
    "index": (_add_index, _run_index),
    "search": (_add_search, _run_search),
}


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
