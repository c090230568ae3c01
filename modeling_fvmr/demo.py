"""The README's main job, on the embedded synthetic world (no download):

1. build the synthetic world (videos, queries with gold semantic role trees, clip features);
2. train FVMR with distillation (Accelerate trainer), picking the best epoch on the validation split;
3. evaluate the exported model on the held-out test split and compare with chance;
4. reload it with `AutoModel.from_pretrained`, index the test videos once, and answer text queries.
"""

from __future__ import annotations

import os
import time

import torch
from transformers import AutoModel, AutoProcessor

from datasets_scripts.synthetic import write_synthetic_world

from .retrieval import MomentIndex
from .training import Trainer
from .training_args import TrainingArguments

# Small enough to train in about two minutes on 2 CPU cores, large enough to learn the world.
DEMO_MODEL = {
    "hidden_size": 128,
    "word_embedding_dim": 64,
    "lstm_hidden_size": 128,
    "semantic_dim": 128,
    "joint_dim": 128,
    "fusion_hidden_size": 128,
}
DEMO_QUERIES = 3


def _show_queries(model_dir: str, data_dir: str) -> None:
    """Reload the exported model, index every test video once, and search a few test queries."""
    from .data import load_moment_retrieval

    model = AutoModel.from_pretrained(model_dir).eval()
    processor = AutoProcessor.from_pretrained(model_dir)
    annotations, features = load_moment_retrieval(data_dir)
    videos = features["test"].with_format("numpy")
    index = MomentIndex.build(
        model, processor, videos["features"], list(videos["duration"]), list(videos["video_id"]), show_progress=False
    )
    print(f"\nReloaded {type(model).__name__} with AutoModel.from_pretrained and indexed {len(index)} test videos "
          f"({len(index.embeddings)} moments).")
    for row in annotations["test"].select(range(DEMO_QUERIES)):
        print(f"\nquery: {row['sentence']!r}  (video {row['video_id']}, ground truth "
              f"[{row['start']:.1f}s, {row['end']:.1f}s] of {row['duration']:.1f}s)")
        for rank, moment in enumerate(index.search(row["sentence"], top_k=3, video_id=row["video_id"]), 1):
            print(f"  {rank}. [{moment.start:5.1f}s, {moment.end:5.1f}s]  score {moment.score:6.2f}")
    first = annotations["test"][0]
    print(f"\nThe first query against all {len(index)} test videos at once (its video: {first['video_id']}):")
    for rank, moment in enumerate(index.search(first["sentence"], top_k=3), 1):
        print(f"  {rank}. {moment.video_id} [{moment.start:5.1f}s, {moment.end:5.1f}s]  score {moment.score:6.2f}")


def run_demo(output_dir: str = "outputs/demo", seed: int = 0, epochs: int = 25) -> dict:
    """Build, train, evaluate, reload and query; returns the test metrics of the exported model."""
    started = time.monotonic()
    data_dir, model_dir = os.path.join(output_dir, "data"), os.path.join(output_dir, "model")
    report = write_synthetic_world(data_dir, seed=seed).report
    chance = report["chance_r1_iou0.5"]["percent"]["test"]
    print(f"Synthetic world in {data_dir}: {report['splits']['train']['rows_kept']} training queries, "
          f"{report['splits']['test']['rows_kept']} test queries; chance R@1,IoU=0.5 = {chance:.1f}%.")

    torch.manual_seed(seed)
    args = TrainingArguments(
        dataset=data_dir,
        output_dir=model_dir,
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
    _show_queries(model_dir, data_dir)
    student = results["student"]["R@1,IoU=0.5"]
    print(f"\nR@1,IoU=0.5 = {student:.1f}% (chance {chance:.1f}%). Model saved in {model_dir} "
          f"(with its card, README.md). Total time {time.monotonic() - started:.0f} s.")
    return results
