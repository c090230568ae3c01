"""A user's own corpus: annotations in JSONL / JSON / CSV plus per-video features (.npy folder or one .h5).

Each annotation row has `video_id`, `start`, `end` (seconds), `sentence`, and optionally `duration`
(seconds) and `split` ("train" (default), "validation" or "test"). JSON is a list of such objects,
JSONL one object per line, CSV a header row naming the columns. A video without a duration lasts
T x `clip_seconds`, T being its number of feature clips. This is the path for "fine-tune on my own videos":

    fvmr build-dataset custom --annotations my_queries.jsonl --features my_features/ --output my_dataset
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Iterator
from pathlib import Path

from modeling_fvmr.video.extraction import read_feature_folder

from .building import SPLITS, BuiltDataset, SourceInfo, build_moment_retrieval
from .records import QueryRecord, parse_seconds
from .video_json import unique_keys

REQUIRED_FIELDS = ("video_id", "start", "end", "sentence")
FORMATS = (".jsonl", ".json", ".csv")


def _rows(path: Path) -> Iterator[tuple[str, object]]:
    """(origin, row) of each annotation row of a JSONL, JSON or CSV file."""
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        with open(path, encoding="utf-8-sig") as handle:
            for number, line in enumerate(handle, start=1):
                if line.strip():
                    try:
                        yield f"{path}:{number}", json.loads(line, object_pairs_hook=unique_keys(f"{path}:{number}"))
                    except json.JSONDecodeError as error:
                        raise ValueError(f"{path}:{number}: invalid JSON ({error.msg}).") from None
    elif suffix == ".json":
        with open(path, encoding="utf-8-sig") as handle:
            try:
                data = json.load(handle, object_pairs_hook=unique_keys(str(path)))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{error.lineno}: invalid JSON ({error.msg}).") from None
        if not isinstance(data, list):
            raise ValueError(f"{path}: expected a JSON list of annotation objects, got {type(data).__name__}.")
        for index, row in enumerate(data):
            yield f"{path}[{index}]", row
    elif suffix == ".csv":
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                yield f"{path}:{reader.line_num}", row
    else:
        raise ValueError(f"{path}: annotation files must be {', '.join(FORMATS)}.")


def read_custom(annotations: str | os.PathLike) -> dict[str, list[QueryRecord]]:
    """Records of each split named in the file (all "train" without a `split` field).

    Raises ValueError naming the file and line on a missing field, an unparsable number, an unknown
    split, or a video given two different durations.
    """
    path = Path(annotations)
    if not path.is_file():
        raise FileNotFoundError(f"Annotation file {path} does not exist.")
    splits: dict[str, list[QueryRecord]] = {}
    durations: dict[str, tuple[float, str]] = {}
    for origin, row in _rows(path):
        if not isinstance(row, dict):
            raise ValueError(f"{origin}: expected an object with {list(REQUIRED_FIELDS)}, got {row!r}.")
        # an empty sentence is a data defect (dropped and counted), an empty time or id a broken row
        missing = [name for name in REQUIRED_FIELDS if name not in row or (name != "sentence" and row[name] in (None, ""))]
        if missing:
            raise ValueError(f"{origin}: missing field(s) {missing}.")
        split = row.get("split") or "train"
        if split not in SPLITS:
            raise ValueError(f"{origin}: unknown split {split!r}; use one of {list(SPLITS)}.")
        if not isinstance(row["sentence"], (str, type(None))):
            raise ValueError(f"{origin}: sentence must be a string, got {row['sentence']!r}.")
        if isinstance(row["video_id"], bool) or not isinstance(row["video_id"], (str, int)):
            raise ValueError(f"{origin}: video_id must be a string, got {row['video_id']!r}.")
        video_id = str(row["video_id"])
        duration = None
        if row.get("duration") not in (None, ""):
            duration = parse_seconds(row["duration"], "duration", origin)
            first = durations.setdefault(video_id, (duration, origin))
            if first[0] != duration:
                raise ValueError(f"{origin}: video {video_id!r} has duration {duration}, but {first[0]} at {first[1]}.")
        record = QueryRecord(
            video_id=video_id,
            start=parse_seconds(row["start"], "start", origin),
            end=parse_seconds(row["end"], "end", origin),
            sentence=str(row["sentence"] or ""),
            duration=duration,
            origin=origin,
        )
        splits.setdefault(split, []).append(record)
    if not splits:
        raise ValueError(f"{path}: no annotation rows.")
    return {split: splits[split] for split in SPLITS if split in splits}


def build_custom(
    annotations: str | os.PathLike,
    output_dir: str | os.PathLike,
    features: str | os.PathLike,
    clip_seconds: float | None = None,
    pretty_name: str | None = None,
    license: str = "unknown",
    license_terms: str = "Set by the owner of the corpus.",
    homepage: str = "",
    **options,
) -> BuiltDataset:
    """Build a user corpus into `output_dir`.

    Args:
        annotations: the JSONL / JSON / CSV file. features: `.npy` folder, `.h5` file or "simulated".
        clip_seconds: seconds per feature clip, used for videos without a `duration`.
        pretty_name, license, license_terms, homepage: what the card says about the corpus.
        options: those of `build_moment_retrieval` (tree_parser, max_clips, limit, feature_key, ...).
    """
    records = read_custom(annotations)
    extracted = read_feature_folder(features)[0] if Path(features).is_dir() else {}  # fvmr extract-features output
    undated = next(
        (record for rows in records.values() for record in rows if record.duration is None and record.video_id not in extracted), None
    )
    if undated is not None and (clip_seconds is None or str(features) == "simulated"):
        raise ValueError(
            f"{undated.origin}: no duration for video {undated.video_id!r}: give a `duration` column, features "
            "extracted from the videos (their durations.json), or real features and clip_seconds (--clip-seconds) "
            "so that duration = clips x clip_seconds."
        )
    name = Path(annotations).name
    info = SourceInfo(
        name="custom",
        pretty_name=pretty_name or f"Custom corpus {Path(annotations).stem}",
        description=f"A user corpus built from {name}.",
        homepage=homepage,
        license=license,
        license_terms=license_terms,
        citation="",
        split_files={split: f"{name} (split {split!r})" for split in records},
    )
    return build_moment_retrieval(info, records, output_dir, features=features, clip_seconds=clip_seconds, **options)


__all__ = ["read_custom", "build_custom"]
