"""Dataset builders: benchmarks, custom corpora and the synthetic world as Hugging Face datasets.

Each builder writes a folder with two `datasets` configurations (see `building.py`): `annotations`
(one row per query, with its semantic role tree) and `features` (one row per video), plus a dataset
card and a build report. `build_dataset` is the entry point of `fvmr build-dataset`.
"""

from __future__ import annotations

import os

from modeling_fvmr.atomic import check_output_folder

from .activitynet_captions import build_activitynet_captions, read_activitynet_captions
from .building import SPLITS, BuiltDataset, SourceInfo, build_moment_retrieval, format_report
from .charades_sta import build_charades_sta, read_charades_sta
from .custom import build_custom, read_custom
from .features import ClipFeatureFile, pool_clips
from .records import QueryRecord
from .simulation import ConceptSpace, SimulatedClipFeatures, render_clip_features
from .synthetic import SyntheticWorldConfig, build_synthetic_world, generate_synthetic_videos, write_synthetic_world
from .tacos import build_tacos, read_tacos

BENCHMARK_BUILDERS = {
    "charades-sta": build_charades_sta,
    "activitynet-captions": build_activitynet_captions,
    "tacos": build_tacos,
}
SOURCES = (*BENCHMARK_BUILDERS, "custom", "synthetic")


def build_dataset(
    source: str,
    output_dir: str | os.PathLike,
    annotations: str | os.PathLike | None = None,
    features: str | os.PathLike | None = None,
    trees: str | None = None,
    overwrite: bool = False,
    **options,
) -> BuiltDataset:
    """Build `source` (one of `SOURCES`) into `output_dir`.

    Args:
        annotations: the folder of the official files (benchmarks) or the annotation file (custom).
        features: an HDF5 file, a folder of `<video_id>.npy`, or "simulated" (not for synthetic).
        trees: "spacy" (default for real data), "gold" (synthetic only, its default), "none" (no tree column).
        overwrite: replace an existing non-empty `output_dir` (else a ValueError before any work).
        options: passed on (`build_moment_retrieval`, `build_custom` or `write_synthetic_world` arguments).
    """
    if source not in SOURCES:
        raise ValueError(f"Unknown dataset {source!r}; choose one of {list(SOURCES)}.")
    check_output_folder(output_dir, overwrite)
    options["overwrite"] = overwrite
    if source == "synthetic":
        if annotations is not None or features is not None:
            raise ValueError("The synthetic world is generated: give neither annotations nor features.")
        return write_synthetic_world(output_dir, tree_parser=trees or "gold", **options)
    if annotations is None or features is None:
        raise ValueError(f"Building {source} needs annotations and features (a feature file or folder, or 'simulated').")
    if trees == "gold":
        raise ValueError("Gold trees exist only for the synthetic world; use 'spacy' or 'none'.")
    tree_parser = trees or "spacy"
    if source == "custom":
        return build_custom(annotations, output_dir, features=features, tree_parser=tree_parser, **options)
    return BENCHMARK_BUILDERS[source](annotations, output_dir, features=features, tree_parser=tree_parser, **options)


__all__ = [
    "SOURCES",
    "SPLITS",
    "BuiltDataset",
    "SourceInfo",
    "QueryRecord",
    "ClipFeatureFile",
    "ConceptSpace",
    "SimulatedClipFeatures",
    "SyntheticWorldConfig",
    "build_dataset",
    "build_moment_retrieval",
    "build_charades_sta",
    "build_activitynet_captions",
    "build_tacos",
    "build_custom",
    "build_synthetic_world",
    "write_synthetic_world",
    "generate_synthetic_videos",
    "read_charades_sta",
    "read_activitynet_captions",
    "read_tacos",
    "read_custom",
    "format_report",
    "pool_clips",
    "render_clip_features",
]
