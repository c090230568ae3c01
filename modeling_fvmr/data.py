"""Training / evaluation data: annotation rows joined to their video's clip features.

A built dataset folder (see `fvmr build-dataset`) holds two `datasets` configurations saved with
`save_to_disk`:

    DIR/annotations   one row per query: video_id, duration, start, end (seconds), sentence, tokens, tree
    DIR/features      one row per video: video_id, features (Array2D (T, D) float32)

Features are stored once per video and read from the memory-mapped Arrow file when a query needs
them; nothing is copied per query.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import numpy as np
import torch
from datasets import Dataset, DatasetDict, load_from_disk
from datasets.exceptions import DatasetsError
from transformers import BatchFeature

from .processing_fvmr import FVMRProcessor

ANNOTATION_COLUMNS = ("video_id", "duration", "start", "end", "sentence")


def load_moment_retrieval(path: str | os.PathLike) -> tuple[DatasetDict, DatasetDict]:
    """(annotations, features) DatasetDicts of a built dataset folder."""
    folders = {name: os.path.join(path, name) for name in ("annotations", "features")}
    missing = [folder for folder in folders.values() if not os.path.isdir(folder)]
    if missing:
        raise FileNotFoundError(
            f"{path} is not a built FVMR dataset: missing {missing}. Build one with `fvmr build-dataset`."
        )
    annotations, features = (_load_saved(folder) for folder in folders.values())
    for name, loaded in (("annotations", annotations), ("features", features)):
        if not isinstance(loaded, DatasetDict):
            raise ValueError(f"{folders[name]} must hold a DatasetDict (one entry per split).")
    return annotations, features


def _load_saved(folder: str):
    """load_from_disk, with the folder named when a file of it is damaged (Arrow's errors do not name it)."""
    try:
        return load_from_disk(folder)
    except (ValueError, OSError, DatasetsError) as error:
        raise ValueError(f"{folder} cannot be read as a saved dataset ({type(error).__name__}: {error}).") from None


def dataset_video_features(path: str | os.PathLike) -> dict | None:
    """How a built dataset's clip features were made, as `FVMRConfig.video_features` records it: the
    extraction recipe when they come from video files, else `{"description": ...}` from build_report.json."""
    report_path = os.path.join(path, "build_report.json")
    if not os.path.isfile(report_path):
        return None
    with open(report_path, encoding="utf-8") as handle:
        facts = json.load(handle).get("features", {})
    if "recipe" in facts:
        return dict(facts["recipe"])
    if "source" in facts:
        return {"description": f"{facts.get('kind', 'real')} features: {facts['source']}"}
    return None


class MomentRetrievalDataset(torch.utils.data.Dataset):
    """Queries of one split, each with its video's clip features.

    Args:
        annotations: one row per query (columns video_id, duration, start, end, sentence[, tree]).
        features: one row per video (columns video_id, features).

    Items are dicts: sentence, tree (dict or None), video_features (T, D) float32 array,
    duration, timestamps [start, end] in seconds, video_id.
    """

    def __init__(self, annotations: Dataset, features: Dataset):
        missing_columns = [column for column in ANNOTATION_COLUMNS if column not in annotations.column_names]
        if missing_columns:
            raise ValueError(f"Annotations lack columns {missing_columns} (have {annotations.column_names}).")
        if len(annotations) == 0:
            raise ValueError("The annotation split is empty.")
        self.annotations = annotations
        self.features = features.with_format("numpy", columns=["features"])
        self.row_of_video = {video_id: row for row, video_id in enumerate(features["video_id"])}
        absent = sorted(set(annotations["video_id"]) - set(self.row_of_video))
        if absent:
            raise ValueError(f"{len(absent)} annotated videos have no features, e.g. {absent[:5]}.")
        self.has_trees = "tree" in annotations.column_names

    @property
    def feature_dim(self) -> int:
        return int(self.features[0]["features"].shape[-1])

    def __len__(self) -> int:
        return len(self.annotations)

    def __getitem__(self, index: int) -> dict:
        return self.__getitems__([index])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        """The items of a batch, read with one Arrow lookup per configuration (`DataLoader` calls this)."""
        rows = self.annotations[list(indices)]
        features = self.features[[self.row_of_video[video_id] for video_id in rows["video_id"]]]["features"]
        return [
            {
                "video_id": rows["video_id"][item],
                "sentence": rows["sentence"][item],
                "tree": rows["tree"][item] if self.has_trees else None,
                "video_features": features[item],
                "duration": rows["duration"][item],
                "timestamps": [rows["start"][item], rows["end"][item]],
            }
            for item in range(len(indices))
        ]


class MomentRetrievalCollator:
    """Batches items of [`MomentRetrievalDataset`] into the keyword arguments of `FVMRModel.forward`.

    Args:
        processor: the FVMR processor.
        with_trees: add the tensorised semantic role trees (needed to train the teacher).
    """

    def __init__(self, processor: FVMRProcessor, with_trees: bool = True):
        self.processor = processor
        self.with_trees = with_trees

    def __call__(self, items: Sequence[dict]) -> BatchFeature:
        trees = None
        if self.with_trees:
            trees = [item["tree"] for item in items]
            if any(tree is None for tree in trees):
                raise ValueError(
                    "The dataset has no semantic role trees but the collator needs them: build the dataset "
                    "with trees (`fvmr build-dataset`), or train with the teacher off (use_teacher=False)."
                )
        return self.processor(
            [item["sentence"] for item in items],
            trees=trees,
            video_features=[np.asarray(item["video_features"]) for item in items],
            durations=[item["duration"] for item in items],
            timestamps=[item["timestamps"] for item in items],
        )


__all__ = ["load_moment_retrieval", "MomentRetrievalDataset", "MomentRetrievalCollator"]
