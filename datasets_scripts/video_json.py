"""The `{video_id: {"timestamps": [[s, e], ...], "sentences": [...], ...}}` JSON layout.

ActivityNet Captions (times in seconds, "duration") and TACoS (frame indices, "fps", "num_frames")
share it; `read_video_json` reads either into query records, converting times with a per-video
function. Malformed entries raise ValueError naming the file, the video key and the query index.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .records import QueryRecord, find_split_files, parse_seconds

# (entry, origin) -> (timestamp units per second, duration in seconds)
TimeBase = Callable[[dict, str], tuple[float, float]]


def unique_keys(origin: str) -> Callable[[list[tuple[str, object]]], dict]:
    """A `json` object_pairs_hook that refuses a key given twice in one object (json keeps the last one
    silently), naming `origin` and the key."""

    def hook(pairs: list[tuple[str, object]]) -> dict:
        result = {}
        for key, value in pairs:
            if key in result:
                raise ValueError(f"{origin}: the key {key!r} appears twice in one object (only one can be kept).")
            result[key] = value
        return result

    return hook


def load_json(path: Path) -> dict:
    """A JSON object from `path` (a UTF-8 BOM is skipped); ValueError naming the file and line when it does
    not parse, or the key given twice in one object."""
    try:
        with open(path, encoding="utf-8-sig") as handle:
            data = json.load(handle, object_pairs_hook=unique_keys(str(path)))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: invalid JSON ({error.msg}, column {error.colno}).") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object keyed by video id, got {type(data).__name__}.")
    return data


def read_video_json(path: Path, time_base: TimeBase) -> list[QueryRecord]:
    """Query records of one split file, videos and queries in file order."""
    records = []
    for video_id, entry in load_json(path).items():
        origin = f"{path}[{video_id!r}]"
        if not isinstance(entry, dict) or not {"timestamps", "sentences"} <= set(entry):
            raise ValueError(f"{origin}: expected an object with 'timestamps' and 'sentences'.")
        timestamps, sentences = entry["timestamps"], entry["sentences"]
        if not isinstance(timestamps, list) or not isinstance(sentences, list) or len(timestamps) != len(sentences):
            raise ValueError(f"{origin}: 'timestamps' and 'sentences' must be lists of the same length.")
        units_per_second, duration = time_base(entry, origin)
        for index, (span, sentence) in enumerate(zip(timestamps, sentences)):
            where = f"{origin} query {index}"
            if not isinstance(span, list) or len(span) != 2:
                raise ValueError(f"{where}: a timestamp must be [start, end], got {span!r}.")
            if not isinstance(sentence, str):
                raise ValueError(f"{where}: the sentence must be a string, got {sentence!r}.")
            start, end = (parse_seconds(value, name, where) / units_per_second for value, name in zip(span, ("start", "end")))
            records.append(QueryRecord(video_id, start, end, sentence, duration, where))
    return records


def read_video_json_splits(annotations_dir: Path, split_files: dict[str, str], pretty_name: str, time_base: TimeBase) -> dict[str, list[QueryRecord]]:
    """Records of each official split file present in `annotations_dir`."""
    splits = find_split_files(Path(annotations_dir), split_files, pretty_name)
    return {split: read_video_json(path, time_base) for split, path in splits.items()}


def entry_number(entry: dict, key: str, origin: str) -> float:
    """A numeric field of a video entry; ValueError naming it when absent or not a number."""
    if key not in entry:
        raise ValueError(f"{origin}: missing {key!r}.")
    return parse_seconds(entry[key], key, origin)


__all__ = ["read_video_json", "read_video_json_splits", "load_json", "entry_number", "unique_keys"]
