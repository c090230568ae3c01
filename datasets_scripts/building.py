"""Turning validated query records and clip features into a built dataset folder.

The folder layout (read by `modeling_fvmr.data.load_moment_retrieval`):

    DIR/annotations/      DatasetDict, one row per query (`annotation_features`)
    DIR/features/         DatasetDict, one row per video (`video_features_schema`)
    DIR/README.md         the dataset card
    DIR/build_report.json rows read / kept / dropped by reason per split, sources, timing

Split names are "train", "validation" and "test". All builders (benchmarks, custom corpora, the
synthetic world) end here, so the schema, the validation policy (`records.py`), tree precomputation
and the report are the same for all of them.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import datasets
import numpy as np
import pyarrow as pa
from datasets import Array2D, Dataset, DatasetDict, Features, List, Value
from datasets.exceptions import DatasetGenerationError
from datasets.table import InMemoryTable
from tqdm.auto import tqdm

from modeling_fvmr.atomic import atomic_folder, check_output_folder
from modeling_fvmr.data import load_moment_retrieval
from modeling_fvmr.semantic_roles import SemanticRoleTree, tree_features

from .chance import preset_geometry, random_proposal_recall
from .features import ClipFeatureFile, pool_clips
from .records import DROP_REASONS, QueryRecord, SplitReport, check_durations, check_spans, count_duplicates
from .simulation import SimulatedClipFeatures
from .trees import TreeParser, describe_tree_parser, parse_trees, resolve_tree_parser, word_tokens

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")


@dataclass(frozen=True)
class SourceInfo:
    """What a dataset card says about a source, and the builder's defaults for it.

    Args:
        name: CLI name ("charades-sta"). pretty_name: "Charades-STA".
        description: one paragraph about the source. homepage: its home page.
        license: the card's licence id ("other" for terms of use that are not an SPDX licence).
        license_terms: who owns the data and where the terms are.
        citation: BibTeX of the source.
        split_files: split -> the official file it is read from.
        feature_key: default HDF5 key template of the official features.
        official_features: the official feature layouts, in words.
        simulated_clip_seconds: seconds per clip of simulated features.
        preset: `BENCHMARK_PRESETS` entry giving the geometry of the chance level.
    """

    name: str
    pretty_name: str
    description: str
    homepage: str
    license: str
    license_terms: str
    citation: str
    split_files: dict[str, str]
    feature_key: str = "{vid}"
    official_features: str = ""
    simulated_clip_seconds: float = 1.0
    preset: str | None = None


@dataclass
class BuiltDataset:
    """The two configurations of a built dataset, its report, and the folder they were saved to."""

    annotations: DatasetDict
    features: DatasetDict
    report: dict
    path: Path | None = None
    card_text: str = field(default="", repr=False)


def annotation_features(with_trees: bool) -> Features:
    """Schema of the `annotations` configuration (times in seconds)."""
    columns = {
        "video_id": Value("string"),
        "duration": Value("float32"),
        "start": Value("float32"),
        "end": Value("float32"),
        "sentence": Value("string"),
        "tokens": List(Value("string")),
    }
    if with_trees:
        columns["tree"] = tree_features()
    return Features(columns)


def video_features_schema(feature_dim: int) -> Features:
    """Schema of the `features` configuration: (T, D) float32 clip features, T varying per video."""
    return Features(
        {"video_id": Value("string"), "duration": Value("float32"), "features": Array2D((None, feature_dim), "float32")}
    )


def annotations_dataset(records: list[QueryRecord], trees: dict[str, SemanticRoleTree] | None) -> Dataset:
    """One row per query; `tokens` are the tree's tokens (the sentence's words when there are no trees)."""
    features = annotation_features(trees is not None)
    tree_rows = {sentence: tree.to_dict() for sentence, tree in trees.items()} if trees is not None else None
    columns = {
        "video_id": [record.video_id for record in records],
        "duration": [record.duration for record in records],
        "start": [record.start for record in records],
        "end": [record.end for record in records],
        "sentence": [record.sentence for record in records],
        "tokens": [tree_rows[record.sentence]["tokens"] if trees else word_tokens(record.sentence) for record in records],
    }
    if tree_rows is not None:
        columns["tree"] = [tree_rows[record.sentence] for record in records]
    # Strings, floats and lists of structs need no `datasets` encoding: let Arrow convert them directly
    # (several times faster than `Dataset.from_dict` on 10^4-10^5 trees).
    table = pa.Table.from_pydict(columns, schema=features.arrow_schema)
    return Dataset(InMemoryTable(table), info=datasets.DatasetInfo(features=features))


def group_by_video(records: list[QueryRecord]) -> dict[str, list[QueryRecord]]:
    """Records of each video, videos in order of first appearance."""
    groups: dict[str, list[QueryRecord]] = {}
    for record in records:
        groups.setdefault(record.video_id, []).append(record)
    return groups


def check_features(records: list[QueryRecord], source: ClipFeatureFile, clip_seconds: float | None, report: SplitReport) -> list[QueryRecord]:
    """Drop queries of videos without features; set missing durations from the feature folder's
    durations.json, else to T x `clip_seconds`."""
    kept = []
    for video_id, video_records in group_by_video(records).items():
        num_clips = source.num_clips(video_id)
        for record in video_records:
            if num_clips == 0:
                report.drop("missing_features", record)
            elif record.duration is None and source.duration(video_id) is not None:
                kept.append(replace(record, duration=source.duration(video_id)))
            elif record.duration is None and clip_seconds:
                kept.append(replace(record, duration=num_clips * clip_seconds))
            else:
                kept.append(record)
    return kept


def validate_splits(
    records_by_split: dict[str, list[QueryRecord]],
    source: ClipFeatureFile | None,
    clip_seconds: float | None,
    limit: int | None,
) -> tuple[dict[str, list[QueryRecord]], dict[str, SplitReport]]:
    """Kept records and the report of each split (the policy of `records.py`).

    `source` is the real feature file (None for simulated features, made from the kept records later).
    """
    kept, reports = {}, {}
    for split, records in records_by_split.items():
        report = reports[split] = SplitReport()
        records = records[:limit] if limit else records
        report.rows_read = len(records)
        rows = check_spans(records, report)
        if source is not None:
            rows = check_features(rows, source, clip_seconds, report)
        kept[split] = check_durations(rows, report)
        count_duplicates(kept[split], report)
        report.rows_kept = len(kept[split])
        report.videos = len(group_by_video(kept[split]))
    empty = [split for split, rows in kept.items() if not rows]
    if empty:
        raise ValueError(f"No query of split(s) {empty} survived validation: {({s: reports[s].to_dict() for s in empty})}.")
    return kept, reports


def features_dataset(
    records: list[QueryRecord], load: Callable[[str], np.ndarray], max_clips: int | None, dim: int, cache_dir: str, split: str
) -> Dataset:
    """One row per video of `records`: (T, dim) features from `load`, pooled to `max_clips`, written to `cache_dir`."""

    def generate() -> Iterator[dict]:
        videos = group_by_video(records)
        for video_id, video_records in tqdm(videos.items(), desc=f"Writing {split} features", unit="video"):
            features = pool_clips(load(video_id), max_clips)
            if features.shape[1] != dim:
                raise ValueError(f"Video {video_id!r} has {features.shape[1]}-d features, others {dim}-d.")
            yield {"video_id": video_id, "duration": video_records[0].duration, "features": features}

    # a fresh fingerprint: the generator closes over data `datasets` cannot hash, and nothing is cached
    try:
        return Dataset.from_generator(generate, features=video_features_schema(dim), cache_dir=cache_dir, fingerprint=uuid.uuid4().hex)
    except DatasetGenerationError as error:  # "An error occurred while generating the dataset": say which
        if isinstance(error.__cause__, ValueError):
            raise error.__cause__ from None
        raise


def build_moment_retrieval(
    info: SourceInfo,
    records_by_split: dict[str, list[QueryRecord]],
    output_dir: str | os.PathLike,
    features: str | os.PathLike = "simulated",
    tree_parser: TreeParser | str | None = "spacy",
    max_clips: int | None = None,
    limit: int | None = None,
    feature_key: str | None = None,
    feature_dim: int = 128,
    clip_seconds: float | None = None,
    seed: int = 0,
    overwrite: bool = False,
) -> BuiltDataset:
    """Validate records, attach trees and features, and save the dataset folder.

    Args:
        info: the source's card facts and defaults.
        records_by_split: queries of each split ("train", "validation", "test"), in file order.
        output_dir: the folder written (see the module docstring).
        features: an HDF5 file or a folder of `<video_id>.npy` files, or "simulated".
        tree_parser: "spacy", a callable `list[str] -> list[SemanticRoleTree]`, or None (no tree column).
        max_clips: average-pool videos longer than this many clips.
        limit: keep only the first `limit` rows of each split (a quick subset).
        feature_key: HDF5 key template (default `info.feature_key`).
        feature_dim, seed: size and seed of simulated features.
        clip_seconds: seconds per clip: of simulated features (default `info.simulated_clip_seconds`),
            or to derive a missing duration from real features (T x clip_seconds).
        overwrite: replace an existing non-empty `output_dir` (else refused, before any work).

    Returns:
        The saved dataset, memory-mapped from `output_dir`.
    """
    started = time.perf_counter()
    check_output_folder(output_dir, overwrite)
    unknown = sorted(set(records_by_split) - set(SPLITS))
    if unknown:
        raise ValueError(f"Unknown split names {unknown}; use {list(SPLITS)}.")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive, got {limit}.")
    parser = resolve_tree_parser(tree_parser)
    simulated = str(features) == "simulated"
    with contextlib.ExitStack() as stack:
        source = None if simulated else stack.enter_context(ClipFeatureFile(features, feature_key or info.feature_key))
        kept, reports = validate_splits(records_by_split, source, clip_seconds, limit)
        if simulated:
            all_records = [record for rows in kept.values() for record in rows]
            source = SimulatedClipFeatures(
                group_by_video(all_records), feature_dim, clip_seconds or info.simulated_clip_seconds, max_clips, seed
            )
            logger.warning("%s: the clip features are SIMULATED from the annotations, not real video features.", info.pretty_name)

        trees = None
        if parser is not None:
            trees = parse_trees([record.sentence for rows in kept.values() for record in rows], parser)
        annotations = DatasetDict({split: annotations_dataset(rows, trees) for split, rows in kept.items()})

        dim = pool_clips(source.load(next(iter(kept.values()))[0].video_id), max_clips).shape[1]
        with tempfile.TemporaryDirectory(prefix="fvmr-build-") as cache_dir:
            video_features = DatasetDict(
                {split: features_dataset(rows, source.load, max_clips, dim, cache_dir, split) for split, rows in kept.items()}
            )
            feature_facts = {"kind": source.kind, "source": source.description, "dim": dim, "max_clips": max_clips}
            if getattr(source, "recipe", None) is not None:
                feature_facts["recipe"] = source.recipe.to_dict()
            trees_made = describe_tree_parser(tree_parser if parser is not None else None)
            report = make_report(info, kept, reports, feature_facts, trees_made, limit, time.perf_counter() - started)
            return save_dataset(Path(output_dir), info, annotations, video_features, report, overwrite=overwrite)


def make_report(
    info: SourceInfo,
    kept: dict[str, list[QueryRecord]],
    reports: dict[str, SplitReport],
    features: dict,
    trees: str,
    limit: int | None,
    seconds: float,
) -> dict:
    """The content of `build_report.json` (also rendered into the card).

    Args:
        features: kind ("real", "simulated", "synthetic"), source (in words), dim, max_clips.
        trees: how the trees were made, in words.
    """
    geometry = preset_geometry(info.preset)
    chance = {
        split: round(
            random_proposal_recall(
                np.array([r.start for r in rows]), np.array([r.end for r in rows]), np.array([r.duration for r in rows]), **geometry
            ),
            2,
        )
        for split, rows in kept.items()
    }
    return {
        "dataset": info.name,
        "pretty_name": info.pretty_name,
        "splits": {split: report.to_dict() for split, report in reports.items()},
        "split_files": {split: info.split_files.get(split, "") for split in reports},
        "features": features,
        "trees": trees,
        "limit": limit,
        "chance_r1_iou0.5": {"geometry": geometry, "percent": chance},
        "build_seconds": round(seconds, 2),
    }


def save_dataset(
    output_dir: Path, info: SourceInfo, annotations: DatasetDict, features: DatasetDict, report: dict, overwrite: bool = False
) -> BuiltDataset:
    """Write both configurations, the report and the card into a staging sibling renamed into place (a kill
    leaves the old folder or none, never a mix); an existing non-empty folder is replaced only with
    `overwrite`. Returns the dataset read back from disk."""
    from .cards import render_dataset_card

    output_dir = Path(output_dir)
    with atomic_folder(output_dir, overwrite) as staging:
        annotations.save_to_disk(staging / "annotations")
        features.save_to_disk(staging / "features")
        (staging / "build_report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
        card = render_dataset_card(info, report, annotations, features)
        card.save(staging / "README.md")
    logger.info("Saved %s to %s", info.pretty_name, output_dir)
    loaded_annotations, loaded_features = load_moment_retrieval(output_dir)
    return BuiltDataset(loaded_annotations, loaded_features, report, output_dir, str(card))


def format_report(report: dict) -> str:
    """The build report as a plain-text table (printed by the CLI and the benchmark script).

    Drop reasons that never occurred are left out of the table (they are all in the JSON report).
    """
    splits = report["splits"]
    reasons = [reason for reason in DROP_REASONS if any(counts["dropped"][reason] for counts in splits.values())]
    duplicates = ["duplicates"] if any(counts.get("duplicates") for counts in splits.values()) else []
    header = ["split", "read", "kept", "dropped", *reasons, "end_clipped", *duplicates, "videos", "chance R@1,IoU=0.5"]
    rows = [
        [
            split,
            counts["rows_read"],
            counts["rows_kept"],
            sum(counts["dropped"].values()),
            *(counts["dropped"][reason] for reason in reasons),
            counts["end_clipped"],
            *(counts["duplicates"] for _ in duplicates),
            counts["videos"],
            f"{report['chance_r1_iou0.5']['percent'][split]:.2f}%",
        ]
        for split, counts in splits.items()
    ]
    widths = [max(len(str(value)) for value in column) for column in zip(header, *rows)]
    features = report["features"]
    lines = [
        f"{report['pretty_name']}: {features['kind'].upper()} features ({features['source']}); "
        f"trees: {report['trees']}; built in {report['build_seconds']:.1f} s",
        "  ".join(str(value).rjust(width) for value, width in zip(header, widths)),
    ]
    lines += ["  ".join(str(value).rjust(width) for value, width in zip(row, widths)) for row in rows]
    return "\n".join(lines)


__all__ = [
    "SPLITS",
    "SourceInfo",
    "BuiltDataset",
    "annotation_features",
    "video_features_schema",
    "annotations_dataset",
    "group_by_video",
    "build_moment_retrieval",
    "make_report",
    "save_dataset",
    "format_report",
]
