"""Reading video features (and a dataset's ground truth) for a moment index, and the index itself (kept importable from here).

The moment index lives in `modeling_fvmr.search` (the index, its exact scan, the FAISS approximate
backends and the memory-mapped storage); `from modeling_fvmr.retrieval import MomentIndex` keeps
working.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from .search import AnnotatedMoment, MomentIndex, RetrievedMoment, model_fingerprint, top_scores


def load_video_features(
    paths: Sequence[str | os.PathLike], split: str | None = None, clip_seconds: float | None = None
) -> tuple[list[str], list[float], Iterator[np.ndarray]]:
    """Clip features of many videos, read lazily, for [`MomentIndex.add`].

    Args:
        paths: built dataset folders (`DIR/features` saved with `save_to_disk`: rows video_id,
            duration (s), features (T, D)) and/or `.npy` files of shape (T, D) (video id = file stem).
        split: the split of a dataset folder; may be left out when the folder has a single split.
        clip_seconds: seconds per input clip; a video's duration is T × clip_seconds where the source
            has no duration (always for .npy files).

    Returns:
        video ids, durations in seconds, and an iterator over the (T, D) feature arrays in that order.
    """
    video_ids: list[str] = []
    durations: list[float] = []
    sources: list[Iterable[np.ndarray]] = []
    from .video.extraction import load_feature_array

    for path in map(Path, paths):
        if path.suffix == ".npy":
            if clip_seconds is None:
                raise ValueError(f"{path}: .npy features have no duration; give clip_seconds (seconds per clip row).")
            features = load_feature_array(path, mmap_mode="r")
            if features.ndim != 2:
                raise ValueError(f"{path}: features must have shape (clips, dim), got {features.shape}.")
            video_ids.append(path.stem)
            durations.append(len(features) * clip_seconds)
            sources.append([features])
        elif path.is_dir():
            dataset = _features_split(path, split)
            video_ids.extend(dataset["video_id"])
            if "duration" in dataset.column_names:
                durations.extend(float(d) for d in dataset["duration"])
            elif clip_seconds is not None:
                durations.extend(len(row["features"]) * clip_seconds for row in dataset.select_columns(["features"]).with_format("numpy"))
            else:
                raise ValueError(f"{path}: the features have no duration column; give clip_seconds.")
            sources.append(row["features"] for row in dataset.select_columns(["features"]).with_format("numpy"))
        else:
            raise FileNotFoundError(f"{path} is neither a .npy file nor a dataset folder.")
    videos = (features for source in sources for features in source)
    return video_ids, durations, videos


def load_ground_truth(paths: Sequence[str | os.PathLike], split: str | None = None) -> dict[str, list[AnnotatedMoment]]:
    """video id -> annotated moments (seconds) of the built dataset folders among `paths` that have
    annotations (`DIR/annotations`: rows video_id, start, end, sentence); other paths are skipped."""
    moments: dict[str, list[AnnotatedMoment]] = {}
    for path in map(Path, paths):
        if not (path / "annotations").is_dir():
            continue
        rows = _dataset_split(path / "annotations", split, ("video_id", "start", "end", "sentence"))
        for row in rows.select_columns(["video_id", "start", "end", "sentence"]):
            moments.setdefault(row["video_id"], []).append(AnnotatedMoment(row["start"], row["end"], row["sentence"]))
    return moments


def _features_split(path: Path, split: str | None):
    """The `features` Dataset of a built dataset folder (or of a saved features DatasetDict)."""
    return _dataset_split(path / "features" if (path / "features").is_dir() else path, split, ("video_id", "features"))


def _dataset_split(folder: Path, split: str | None, columns: Sequence[str]):
    """One split of a saved Dataset / DatasetDict folder, checked to have `columns`."""
    from datasets import Dataset, DatasetDict, load_from_disk

    loaded = load_from_disk(str(folder))
    if isinstance(loaded, DatasetDict):
        if split is None and len(loaded) == 1:
            split = next(iter(loaded))
        if split not in loaded:
            raise ValueError(f"{folder}: choose a split with --split / split=, one of {sorted(loaded)} (got {split!r}).")
        loaded = loaded[split]
    if not isinstance(loaded, Dataset):
        raise ValueError(f"{folder} does not hold a dataset.")
    missing = [column for column in columns if column not in loaded.column_names]
    if missing:
        raise ValueError(f"{folder}: the dataset lacks columns {missing} (has {loaded.column_names}).")
    return loaded


__all__ = ["AnnotatedMoment", "MomentIndex", "RetrievedMoment", "model_fingerprint", "top_scores", "load_ground_truth", "load_video_features"]
