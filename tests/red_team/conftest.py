"""Fixtures of the red-team battery: a tiny synthetic world, a custom corpus, one short training run
(its exported model and checkpoint), and an index, each built once per session."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from modeling_fvmr.cli import main

TINY = {"hidden_size": 8, "word_embedding_dim": 8, "lstm_hidden_size": 8, "semantic_dim": 8, "joint_dim": 8, "fusion_hidden_size": 8}


def tiny_flags() -> list[str]:
    return [item for key, value in TINY.items() for item in ("--set", f"{key}={value}")]


@pytest.fixture(scope="session")
def world(tmp_path_factory) -> Path:
    """The synthetic world: 6 / 2 / 2 videos, 8-d features, gold trees."""
    from datasets_scripts.synthetic import write_synthetic_world

    path = tmp_path_factory.mktemp("red-world") / "world"
    write_synthetic_world(path, num_videos={"train": 6, "validation": 2, "test": 2}, feature_dim=8, seed=1)
    return path


def train_argv(world: Path, output: Path, *extra: str) -> list[str]:
    return ["train", "--dataset", str(world), "--output-dir", str(output), "--epochs", "1", "--batch-size", "4",
            "--show-progress", "false", *tiny_flags(), *extra]


@pytest.fixture(scope="session")
def run_dir(world, tmp_path_factory) -> Path:
    """A finished one-epoch run: exported model, initial/, best/, checkpoints/checkpoint-*."""
    path = tmp_path_factory.mktemp("red-run") / "run"
    assert main(train_argv(world, path)) == 0
    return path


@pytest.fixture(scope="session")
def index_dir(run_dir, world, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("red-index") / "index"
    assert main(["index", str(run_dir), str(world), "--split", "test", "--output-dir", str(path)]) == 0
    return path


CUSTOM_ROWS = [
    {"video_id": "v1", "start": 0.0, "end": 2.0, "sentence": "a person opens the door", "duration": 6.0},
    {"video_id": "v1", "start": 2.0, "end": 5.0, "sentence": "a person closes the door", "duration": 6.0},
    {"video_id": "v2", "start": 1.0, "end": 3.0, "sentence": "the man takes a cup", "duration": 6.0, "split": "test"},
]


@pytest.fixture(scope="session")
def custom_features(tmp_path_factory) -> Path:
    """A folder of v1.npy, v2.npy: (6, 8) float32 features."""
    folder = tmp_path_factory.mktemp("red-custom") / "features"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for video_id in ("v1", "v2"):
        np.save(folder / f"{video_id}.npy", rng.normal(size=(6, 8)).astype(np.float32))
    return folder


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def copy_tree(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target
