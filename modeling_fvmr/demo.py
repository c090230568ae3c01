"""The README's main job, from video files, on the embedded synthetic world (no download):

1. generate the synthetic world and render its videos as MP4 files (coloured glyphs show who does
   what to what, see `datasets_scripts/synthetic_video.py`);
2. extract clip features from the files with the built-in `pixel-grid` frame encoder (what
   `fvmr extract-features` does; a real backbone id works the same way);
3. build the dataset: queries, gold semantic role trees, the extracted features;
4. train FVMR with distillation (Accelerate trainer), the best epoch chosen on the validation split,
   and evaluate the exported model once on the test split;
5. reload it with `transformers.pipeline`, search a test video *file* by text, and cut the best moment
   out of the file as a clip;
6. index every test video file once and search the whole corpus (trained with cross-video negatives,
   so scores of different videos are comparable), with corpus-level recall; the index is saved (with
   where the files are and the test queries as ground truth) for `fvmr search` and `fvmr app`.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import torch
from transformers import pipeline

from datasets_scripts.synthetic import SyntheticWorldConfig, generate_synthetic_videos, write_synthetic_world
from datasets_scripts.synthetic_video import render_synthetic_videos

from .atomic import check_output_folder
from .evaluation import evaluate_corpus, format_metrics_table
from .loading import load_model_and_processor
from .retrieval import AnnotatedMoment, MomentIndex
from .training import Trainer
from .training_args import TrainingArguments
from .video import extract_features_to_folder, index_video_files, write_clip, write_video_sources
from .video_features import VideoFeatureRecipe

# Small enough to render, extract and train in about four minutes on 2 CPU cores.
DEMO_VIDEOS = {"train": 1000, "validation": 150, "test": 150}
DEMO_RECIPE = {"backbone": "pixel-grid", "frames_per_second": 2.0, "clip_seconds": 1.0}
DEMO_MODEL = {
    "hidden_size": 128,
    "word_embedding_dim": 64,
    "lstm_hidden_size": 128,
    "semantic_dim": 128,
    "joint_dim": 128,
    "fusion_hidden_size": 128,
    "cross_video_weight": 2.0,  # other videos' moments as negatives (μ, τ = 2, 1: chosen on validation by benchmarks/corpus.py)
}
DEMO_QUERIES = 3


def _step(message: str, started: float) -> None:
    print(f"\n[{time.monotonic() - started:5.0f} s] {message}")


def _search_files(model_dir: Path, videos: dict[str, Path], test_queries: list, clips_dir: Path, index_dir: Path) -> None:
    """The pipeline on video files, a clip of the best moment, and a corpus search over the test files
    (the index saved in `index_dir`)."""
    finder = pipeline("video-moment-retrieval", model=str(model_dir), device="cpu")
    for video, query in test_queries[:DEMO_QUERIES]:
        moments = finder(query.sentence, video=str(videos[video.video_id]), top_k=3)
        print(f"\nquery: {query.sentence!r}\n  video file {videos[video.video_id]} ({video.duration:.1f} s), "
              f"ground truth [{query.start:.1f}s, {query.end:.1f}s]")
        for rank, moment in enumerate(moments, 1):
            print(f"  {rank}. [{moment['start']:5.1f}s, {moment['end']:5.1f}s]  probability {moment['score']:.3g}")
    video, query = test_queries[0]
    best = finder(query.sentence, video=str(videos[video.video_id]), top_k=1)[0]
    clip, method = write_clip(videos[video.video_id], best["start"], best["end"], clips_dir, overwrite=True)
    print(f"\nThe best moment of the first query, cut from its video file ({method}): {clip}")

    model, processor = load_model_and_processor(model_dir)
    model.eval()
    index = MomentIndex(model, processor, model_path=str(model_dir))
    sources = index_video_files(index, list(videos.values()), show_progress=False)
    ground_truth: dict[str, list[AnnotatedMoment]] = {}
    for test_video, test_query in test_queries:
        ground_truth.setdefault(test_video.video_id, []).append(AnnotatedMoment(test_query.start, test_query.end, test_query.sentence))
    index.add_ground_truth(ground_truth)
    index.save(index_dir)
    write_video_sources(index_dir, sources)
    print(f"\nIndexed the {len(index)} test video files once ({len(index.embeddings)} moments) -> {index_dir}. "
          f"The first query against all of them (its video: {video.video_id}):")
    for rank, moment in enumerate(index.search(query.sentence, top_k=3), 1):
        print(f"  {rank}. {moment.video_id} [{moment.start:5.1f}s, {moment.end:5.1f}s]  score {moment.score:6.2f}")
    corpus = evaluate_corpus(index, [q.sentence for _, q in test_queries], [(v.video_id, q.start, q.end) for v, q in test_queries])
    print(f"\nEvery test query against all {len(index)} test videos (a hit needs the right video and IoU > m):")
    print(format_metrics_table({"student (corpus)": corpus}))


def run_demo(output_dir: str = "outputs/demo", seed: int = 0, epochs: int = 15, overwrite: bool = False) -> dict:
    """Render, extract, build, train, evaluate, reload and search video files; returns the test metrics."""
    started = time.monotonic()
    output = check_output_folder(output_dir, overwrite)
    shutil.rmtree(output, ignore_errors=True)
    videos_dir, features_dir, data_dir, model_dir = (output / name for name in ("videos", "features", "data", "model"))

    world = SyntheticWorldConfig(num_videos=DEMO_VIDEOS, seed=seed)
    synthetic_videos = generate_synthetic_videos(world)
    _step(f"Rendering the synthetic world's {sum(map(len, synthetic_videos.values()))} videos as MP4 files in {videos_dir}", started)
    paths = render_synthetic_videos(synthetic_videos, videos_dir, fps=DEMO_RECIPE["frames_per_second"], seed=seed)

    recipe = VideoFeatureRecipe(**DEMO_RECIPE)
    _step(f"Extracting clip features from the files: {recipe.describe()}", started)
    extraction = extract_features_to_folder(paths, features_dir, recipe)
    print(extraction.summary())

    report = write_synthetic_world(data_dir, video_features=features_dir, num_videos=DEMO_VIDEOS, seed=seed).report
    chance = report["chance_r1_iou0.5"]["percent"]["test"]
    _step(f"Dataset in {data_dir}: {report['splits']['train']['rows_kept']} training queries, "
          f"{report['splits']['test']['rows_kept']} test queries; chance R@1,IoU=0.5 = {chance:.1f}%. Training:", started)
    torch.manual_seed(seed)
    args = TrainingArguments(
        dataset=str(data_dir),
        output_dir=str(model_dir),
        config_overrides=DEMO_MODEL,
        eval_split="validation",
        test_split="test",
        num_epochs=epochs,
        batch_size=32,
        learning_rate=3e-3,
        lr_scheduler="constant_with_warmup",
        seed=seed,
        checkpoints_total_limit=1,
    )
    results = Trainer(args).train()

    _step("Reloading the model with transformers.pipeline and searching the test video files by text", started)
    test_files = {path.stem: path for path in paths if path.stem.startswith("synthetic-test-")}
    test_queries = [(video, query) for video in synthetic_videos["test"] for query in video.queries]
    _search_files(model_dir, test_files, test_queries, output / "clips", output / "index")
    student = results["student"]["R@1,IoU=0.5"]
    print(f"\nR@1,IoU=0.5 = {student:.1f}% on the {report['splits']['test']['rows_kept']} test queries (chance {chance:.1f}%). "
          f"Model in {model_dir} (with its card, README.md, and the recipe that turns a video file into its input). "
          f"Total time {time.monotonic() - started:.0f} s.")
    return results


__all__ = ["run_demo", "DEMO_MODEL", "DEMO_RECIPE", "DEMO_VIDEOS"]
