"""The `fvmr` command line: one sub-command per job.

Each sub-command is a pair `_add_<name>(subparsers)` / `_run_<name>(args)`, registered in
`COMMANDS`. Heavy imports happen inside the `_run_` functions so `fvmr --help` stays fast.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .training_args import TrainingArguments


def _add_demo(subparsers) -> None:
    parser = subparsers.add_parser(
        "demo", help="End-to-end run from video files of the embedded synthetic world (no download)."
    )
    parser.add_argument("--output-dir", default="outputs/demo", help="Where the videos, features, dataset, model and clips go.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=15, help="Training epochs (the validation score levels off after about 12).")
    parser.add_argument("--overwrite", action="store_true", help="Replace an earlier demo's output folder.")


def _run_demo(args: argparse.Namespace) -> int:
    from .demo import run_demo

    run_demo(output_dir=args.output_dir, seed=args.seed, epochs=args.epochs, overwrite=args.overwrite)
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
    from transformers import HfArgumentParser

    from .training_args import TrainingArguments

    # every TrainingArguments field is a flag, with its help and default (--output-dir and --output_dir
    # both work); the flags below it are shortcuts into config_overrides
    fields = HfArgumentParser(TrainingArguments, add_help=False)
    parser = subparsers.add_parser(
        "train", parents=[fields], formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        help="Train FVMR with distillation on a built dataset folder.",
        description="Train FVMR with distillation on a built dataset folder. Several processes / GPUs: run it "
                    "under `accelerate launch` or `torchrun` (see the README).",
    )
    model = parser.add_argument_group("model shortcuts (into config_overrides)")
    model.add_argument("--no-teacher", action="store_true", help="Student only: no tree-aware teacher, no distillation.")
    model.add_argument("--distillation-weight", type=float, help="λ (config.distillation_weight).")
    model.add_argument("--temperature", type=float, help="T (config.distillation_temperature).")
    model.add_argument("--set", dest="overrides", type=_parse_override, action="append", default=[],
                       metavar="KEY=VALUE", help="Any FVMRConfig field, e.g. --set hidden_size=128 (repeatable).")


def training_arguments_from_cli(args: argparse.Namespace) -> TrainingArguments:
    """The `TrainingArguments` of a parsed `fvmr train` command line (shortcuts merged into config_overrides)."""
    import dataclasses

    from .training_args import TrainingArguments

    values = {field.name: getattr(args, field.name) for field in dataclasses.fields(TrainingArguments)}
    overrides = dict(TrainingArguments(**{**values, "config_overrides": None}).config_overrides)  # checks the flags first
    if values["config_overrides"]:
        overrides.update(TrainingArguments(**values).config_overrides)
    overrides.update(dict(args.overrides))
    if args.no_teacher:
        overrides["use_teacher"] = False
    if args.distillation_weight is not None:
        overrides["distillation_weight"] = args.distillation_weight
    if args.temperature is not None:
        overrides["distillation_temperature"] = args.temperature
    return TrainingArguments(**{**values, "config_overrides": overrides})  # validated with the shortcuts merged in


def _run_train(args: argparse.Namespace) -> int:
    from .training import Trainer

    Trainer(training_arguments_from_cli(args)).train()
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
    parser.add_argument("--plot", metavar="FILE", help="Draw recall against the IoU threshold (student, teacher, corpus) into FILE (.png, .pdf, .svg).")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing --json or --plot file (else refused).")


def _run_evaluate(args: argparse.Namespace) -> int:
    import os

    from .evaluation import evaluate_model_on_dataset

    if args.plot:
        from .app.plots import require_matplotlib
        from .atomic import check_output_file

        check_output_file(args.plot, args.overwrite)  # before the evaluation, not after
        require_matplotlib()
    results = evaluate_model_on_dataset(args.model, args.dataset, split=args.split, batch_size=args.batch_size, json_path=args.json, corpus=args.corpus, overwrite=args.overwrite)
    if args.plot:
        from .app.plots import recall_figure, save_figure

        model_name, data_name = (os.path.basename(os.path.normpath(path)) for path in (args.model, args.dataset))
        title = f"Recall against the IoU threshold\n{model_name} on {data_name} ({args.split})"
        save_figure(recall_figure(results, title=title), args.plot, overwrite=args.overwrite)
        print(f"Plot: {args.plot}")
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
    card = parser.add_argument_group("model card metadata (default: from training_args.json / eval_results.json)")
    card.add_argument("--datasets", nargs="+", metavar="DATASET_ID", help="Hub dataset ids the model was trained / evaluated on.")
    card.add_argument("--base-model", metavar="MODEL_ID", help="Hub id of the model these weights were fine-tuned from.")
    card.add_argument("--language", nargs="+", metavar="CODE", help="Language code(s) of the queries, e.g. en.")


def _run_push(args: argparse.Namespace) -> int:
    from .hub import push_model_folder

    card_options = {"datasets": args.datasets, "base_model": args.base_model, "language": args.language}
    commit = push_model_folder(
        args.model_dir, args.repo_id, token=args.token, private=args.private, revision=args.revision,
        commit_message=args.commit_message, write_card=not args.no_card,
        **{name: value for name, value in card_options.items() if value is not None},
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
    parser.add_argument(
        "sources", nargs="+", metavar="SOURCE",
        help="Video files or folders of videos (features made with the model's recorded backbone), built dataset "
             "folders (DIR/features), and/or .npy files (T, D) named by video id.",
    )
    parser.add_argument("--output-dir", "--output", dest="output_dir", required=True, help="Folder the index is written to.")
    parser.add_argument("--split", default=None, help="Split of the dataset folders (needed when they have several).")
    parser.add_argument("--clip-seconds", type=float, default=None, help="Seconds per clip row of .npy files: duration = T x this.")
    parser.add_argument("--batch-size", type=int, default=32, help="Videos per encoder call (frames per backbone call for video files).")
    parser.add_argument("--device", default=None, help="Device of the vision backbone for video files (default: CPU).")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing index folder.")


def _run_index(args: argparse.Namespace) -> int:
    import os

    from .atomic import atomic_folder, check_output_folder
    from .loading import check_has_processor
    from .modeling_fvmr import FVMRModel
    from .retrieval import MomentIndex, load_ground_truth, load_video_features
    from .video import index_video_files, is_video_path, write_video_sources

    check_output_folder(args.output_dir, args.overwrite)
    check_has_processor(args.model)  # `fvmr search` and the app will need it to read text
    model = FVMRModel.from_pretrained(args.model)
    index = MomentIndex(model, model_path=os.path.abspath(args.model))
    video_paths = [path for path in args.sources if is_video_path(path)]
    feature_paths = [path for path in args.sources if path not in video_paths]
    sources = {}
    if feature_paths:
        video_ids, durations, videos = load_video_features(feature_paths, split=args.split, clip_seconds=args.clip_seconds)
        index.add(videos, durations, video_ids, batch_size=args.batch_size)
        annotated = load_ground_truth(feature_paths, split=args.split)  # drawn by the app's timeline
        index.add_ground_truth({video_id: moments for video_id, moments in annotated.items() if video_id in index})
    if video_paths:
        skipped: dict[str, str] = {}
        sources = index_video_files(index, video_paths, device=args.device, batch_size=args.batch_size, skipped=skipped)
        for reason in skipped.values():
            print(f"Skipped: {reason}", file=sys.stderr)
        if not sources and not feature_paths:
            raise ValueError("No video could be read, no index was written.")
    with atomic_folder(args.output_dir, overwrite=args.overwrite) as staging:
        index.save(staging)
        if sources:  # where each video file is, for `fvmr search --cut` and the app
            write_video_sources(staging, sources)
    megabytes = index.embeddings.numel() * index.embeddings.element_size() / 2**20
    print(f"Indexed {len(index)} videos, {len(index.embeddings)} moments ({megabytes:.1f} MB) -> {args.output_dir}")
    return 0


def _add_search(subparsers) -> None:
    parser = subparsers.add_parser("search", help="Search a moment index by text.")
    parser.add_argument("index", help="Folder written by `fvmr index`.")
    parser.add_argument("queries", nargs="+", help="One or more text queries.")
    parser.add_argument("--top-k", type=int, default=5, help="Moments per query.")
    parser.add_argument("--video", nargs="+", default=None, help="Search only these video ids.")
    parser.add_argument("--nms-threshold", type=float, default=None, help="NMS IoU threshold (default: the model config's).")
    parser.add_argument("--model", default=None, help="Model folder (default: the one recorded in the index).")
    parser.add_argument("--json", action="store_true", help="Print the results as JSON (for scripts) instead of tables.")
    parser.add_argument("--cut", metavar="DIR", help="Write each found moment as a video clip into DIR (needs the video files).")
    parser.add_argument("--videos", metavar="DIR", help="Folder of the source videos (<video_id>.*), when the index does not record them.")
    parser.add_argument("--plot", metavar="FILE", help="Draw the timeline of each query's top videos (at most 3) into FILE (.png, .pdf, .svg).")
    parser.add_argument("--overwrite", action="store_true", help="Replace clips that already exist in --cut DIR, and an existing --plot file.")


def _run_search(args: argparse.Namespace) -> int:
    import json

    from .loading import load_model_and_processor
    from .retrieval import MomentIndex
    from .search import search_json
    from .video import read_video_sources

    if args.plot:
        from .app.plots import require_matplotlib
        from .atomic import check_output_file

        check_output_file(args.plot, args.overwrite)
        require_matplotlib()
    model_path = args.model or MomentIndex.read_metadata(args.index)["model_path"]
    if not model_path:
        raise ValueError(f"{args.index} records no model path: give --model.")
    index = MomentIndex.load(args.index, *load_model_and_processor(model_path))
    payload = search_json(index, args.queries, top_k=args.top_k, video_id=args.video, nms_threshold=args.nms_threshold)
    if args.plot:
        from .app.plots import save_figure, search_figure

        save_figure(search_figure(index, payload), args.plot, overwrite=args.overwrite)
    if args.cut:
        _cut_moments(payload, read_video_sources(args.index, args.videos), args.cut, args.overwrite)
    if args.json:
        print(json.dumps(payload, indent=1))
        return 0
    if args.plot:
        print(f"Plot: {args.plot}")
    width = max(len("video"), *(len(moment["video_id"]) for entry in payload for moment in entry["moments"]))
    for entry in payload:
        print(f"\n{entry['query']}")
        print(f"{'rank':>4}  {'video':<{width}}  {'start s':>9}  {'end s':>9}  {'score':>9}")
        for rank, moment in enumerate(entry["moments"], 1):
            print(f"{rank:>4}  {moment['video_id']:<{width}}  {moment['start']:>9.2f}  {moment['end']:>9.2f}  {moment['score']:>9.4f}"
                  + (f"  -> {moment['clip']}" if "clip" in moment else ""))
    return 0


def _cut_moments(payload: list[dict], sources: dict[str, str], output_dir: str, overwrite: bool) -> None:
    """Write each moment of `payload` as a clip; adds "clip" (path) and "cut" (copy / re-encode) to it."""
    from .video import write_clip

    for entry in payload:
        for moment in entry["moments"]:
            if moment["video_id"] not in sources:
                raise ValueError(
                    f"No video file is known for {moment['video_id']!r}: index video files (fvmr index MODEL videos/) "
                    "or give --videos DIR."
                )
            path, method = write_clip(sources[moment["video_id"]], moment["start"], moment["end"], output_dir,
                                      video_id=moment["video_id"], overwrite=overwrite)
            moment["clip"], moment["cut"] = str(path), method


def _add_app(subparsers) -> None:
    parser = subparsers.add_parser(
        "app", help="A web app (Gradio) to search an index by text, see the scores along the video and play the moment.",
        description="Serve the app on HOST:PORT (no network needed), or write a Space-ready folder with --export.",
    )
    parser.add_argument("model", help="Folder of a saved FVMR model and its processor (with --export: its Hub id).")
    parser.add_argument("--index", metavar="DIR", help="Folder written by `fvmr index` with this model (default: index --videos at start).")
    parser.add_argument("--videos", metavar="DIR", help="Folder of the source videos (<video_id>.*): the player; indexed at start without --index.")
    parser.add_argument("--host", default="127.0.0.1", help="Address to serve on (0.0.0.0: every interface).")
    parser.add_argument("--port", type=int, default=7860, help="Port to serve on.")
    parser.add_argument("--export", metavar="DIR", help="Write app.py + requirements.txt (+ the index / videos) for a Hugging Face Space instead.")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing --export folder.")


def _run_app(args: argparse.Namespace) -> int:
    if args.export:
        from .app.space import export_space

        folder = export_space(args.model, args.export, index_dir=args.index, videos_dir=args.videos, overwrite=args.overwrite)
        print(f"Space folder: {folder} (app.py, requirements.txt, README.md{', index/' if args.index else ''}"
              f"{', videos/' if args.videos else ''}). Run it with `python app.py` in that folder.")
        return 0
    from .app.gradio_app import MomentSearchApp, build_app, launch, load_index

    index, sources = load_index(args.model, args.index, args.videos)
    blocks = build_app(MomentSearchApp(index, sources))
    print(f"{len(index)} videos, {len(index.embeddings)} moments; video files known for {len(sources)}. Open http://{args.host}:{args.port}")
    launch(blocks, host=args.host, port=args.port)
    return 0


def _add_recipe_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    """--backbone / --frames-per-second / --clip-seconds: a VideoFeatureRecipe."""
    parser.add_argument("--backbone", required=required,
                        help="Vision backbone: Hub id (e.g. openai/clip-vit-base-patch32) or local folder, or 'pixel-grid' (built in).")
    parser.add_argument("--frames-per-second", type=float, default=1.0, help="Frames sampled per second of video.")
    parser.add_argument("--device", default=None, help="Device of the backbone, e.g. cuda (default: the process's).")
    parser.add_argument("--frame-batch-size", type=int, default=32, help="Frames per backbone call.")


def _recipe(args: argparse.Namespace):
    from .video_features import VideoFeatureRecipe

    if args.clip_seconds is None:
        raise ValueError("--clip-seconds is required with --backbone (seconds per clip window).")
    return VideoFeatureRecipe(args.backbone, frames_per_second=args.frames_per_second, clip_seconds=args.clip_seconds)


def _add_extract_features(subparsers) -> None:
    parser = subparsers.add_parser(
        "extract-features",
        help="Video files -> DIR/<stem>.npy clip features (T, D) + durations.json, with a transformers vision backbone.",
    )
    parser.add_argument("videos", nargs="+", metavar="VIDEO_OR_DIR", help="Video files and/or folders of videos.")
    _add_recipe_arguments(parser, required=True)
    parser.add_argument("--clip-seconds", type=float, required=True, help="Seconds per clip window (T = ceil(duration / this)).")
    parser.add_argument("--output-dir", "--output", dest="output_dir", required=True, help="Folder to write.")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing output folder.")


def _run_extract_features(args: argparse.Namespace) -> int:
    from accelerate import PartialState

    from .video import extract_features_to_folder, find_videos

    try:
        result = extract_features_to_folder(
            find_videos(args.videos), args.output_dir, _recipe(args), device=args.device,
            batch_size=args.frame_batch_size, overwrite=args.overwrite,
        )
    finally:
        PartialState().destroy_process_group()  # ranks of torchrun / accelerate launch leave together
    if PartialState().is_main_process:
        print(result.summary())
        print(f"Features: {result.recipe.describe()} -> {args.output_dir}")
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
    parser.add_argument("--output-dir", "--output", dest="output_dir", required=True, help="Dataset folder to write.")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing dataset folder (else refused).")
    parser.add_argument("--videos", metavar="DIR", help="Video files to extract the features from (with --backbone) instead of --features.")
    _add_recipe_arguments(parser, required=False)
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
    from datasets_scripts import build_dataset

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
    if args.videos:
        return _build_dataset_from_videos(args, options)
    built = build_dataset(args.source, args.output_dir, args.annotations, args.features, args.trees, overwrite=args.overwrite, **options)
    _report_build(args, built)
    return 0


def _build_dataset_from_videos(args: argparse.Namespace, options: dict) -> int:
    """Extract features from --videos into a temporary sibling folder, build from it, remove it."""
    import shutil
    from pathlib import Path

    from datasets_scripts import build_dataset

    from .atomic import check_output_folder
    from .video import extract_features_to_folder, find_videos

    if args.features or args.source == "synthetic" or not args.backbone:
        raise ValueError("--videos needs --backbone and --clip-seconds, and replaces --features (not for the synthetic world).")
    output = check_output_folder(args.output_dir, args.overwrite)
    extracted = output.with_name(f".{output.name}.features")
    shutil.rmtree(extracted, ignore_errors=True)
    try:
        result = extract_features_to_folder(find_videos([args.videos]), extracted, _recipe(args), device=args.device,
                                            batch_size=args.frame_batch_size)
        print(result.summary())
        options.pop("clip_seconds", None)  # durations come from the videos
        built = build_dataset(args.source, output, args.annotations, Path(extracted), args.trees, overwrite=args.overwrite, **options)
    finally:
        shutil.rmtree(extracted, ignore_errors=True)
    _report_build(args, built)
    return 0


def _report_build(args: argparse.Namespace, built) -> None:
    from datasets_scripts import format_report

    print(format_report(built.report))
    print(f"Saved to {built.path} (annotations/, features/, README.md, build_report.json).")
    if args.push_to_hub:
        from .hub import push_dataset_folder

        commit = push_dataset_folder(built.path, args.push_to_hub)
        print(f"Pushed {built.path} to the dataset repository {commit.repo_url.repo_id} (commit {commit.oid}).")


COMMANDS = {
    "demo": (_add_demo, _run_demo),
    "train": (_add_train, _run_train),
    "evaluate": (_add_evaluate, _run_evaluate),
    "push": (_add_push, _run_push),
    "push-dataset": (_add_push_dataset, _run_push_dataset),
    "index": (_add_index, _run_index),
    "search": (_add_search, _run_search),
    "app": (_add_app, _run_app),
    "build-dataset": (_add_build_dataset, _run_build_dataset),
    "extract-features": (_add_extract_features, _run_extract_features),
}


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = argparse.ArgumentParser(prog="fvmr", description="Fast Video Moment Retrieval (FVMR, ICCV 2021).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    parser.add_argument("--debug", action="store_true",
                        help=f"Show the full traceback of an error instead of one line (also: {DEBUG_VARIABLE}=1).")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for add, _ in COMMANDS.values():
        add(subparsers)
    return parser


DEBUG_VARIABLE = "FVMR_DEBUG"


def anticipated_errors() -> tuple[type[BaseException], ...]:
    """Exception classes that mean bad input or a bad environment, not a bug in fvmr: a wrong value or
    type (ValueError, TypeError, KeyError), a missing / unreadable / damaged file (OSError, EOFError,
    safetensors' and `datasets`' errors, an unpicklable checkpoint), a missing optional dependency
    (ImportError with its install hint), a Hub refusal or offline mode
    (huggingface_hub's errors are OSError / ValueError subclasses), and torch's RuntimeError on tensors
    that do not fit the model. Anything else (AttributeError, IndexError, AssertionError, ...) is a bug."""
    import pickle

    from datasets.exceptions import DatasetsError
    from huggingface_hub.errors import HfHubHTTPError
    from safetensors import SafetensorError

    return (ValueError, TypeError, KeyError, OSError, EOFError, RuntimeError, ImportError, pickle.UnpicklingError,
            SafetensorError, DatasetsError, HfHubHTTPError)


def error_line(command: str, error: BaseException) -> str:
    """`fvmr COMMAND: error: MESSAGE` on one line; a library's own error class keeps its name (e.g.
    "SafetensorError: ..."), a KeyError says it is a missing key."""
    from huggingface_hub.errors import HFValidationError

    message = str(error)
    if isinstance(error, HFValidationError) or isinstance(error.__cause__, HFValidationError):  # (transformers wraps it)
        # a model path that is neither a folder here nor a Hub id
        message = f"no such folder, and not a Hub id either: {message}"
    if isinstance(error, KeyError):
        message = f"missing key {message}"
    if type(error).__module__ != "builtins":
        message = f"{type(error).__name__}: {message}"
    message = " ".join(line.strip() for line in message.splitlines() if line.strip())
    return f"fvmr {command}: error: {message}"


def main(argv: list[str] | None = None) -> int:
    """Run a sub-command. Anticipated failures ([`anticipated_errors`]: bad values, missing or damaged files,
    Hub refusals) print one `fvmr <command>: error: ...` line on stderr and return 1; with `--debug` or
    FVMR_DEBUG=1 they raise with their traceback. Other exceptions are bugs and always keep their traceback."""
    import os

    import logging

    args = build_parser().parse_args(argv)
    debug = args.debug or os.environ.get(DEBUG_VARIABLE, "").strip().lower() in ("1", "true", "yes")
    # fvmr's own warnings (e.g. a query of unknown words) as `fvmr <command>: warning: ...` lines
    warnings = logging.StreamHandler(sys.stderr)
    warnings.setLevel(logging.WARNING)
    warnings.setFormatter(logging.Formatter(f"fvmr {args.command}: warning: %(message)s"))
    package_logger = logging.getLogger(__package__)
    package_logger.addHandler(warnings)
    try:
        return COMMANDS[args.command][1](args)
    except anticipated_errors() as error:
        if debug:
            raise
        print(error_line(args.command, error), file=sys.stderr)
        return 1
    finally:
        package_logger.removeHandler(warnings)


if __name__ == "__main__":
    sys.exit(main())
