"""Query records read from annotation files, their validation policy, and the per-split report.

Every builder turns its source format into `QueryRecord`s (times in seconds). The same policy
(`POLICY`, checks in order; a row is dropped for its first failing check) applies to every dataset:
rows with an empty sentence, a negative start, start > end, start == end, no features, no duration or
a start at or past the duration are dropped and counted; an end past the duration is clipped to the
duration, and the row kept and counted ("end_clipped").

Malformed input (unparsable numbers, a line without `##`, missing JSON fields) is not a data defect
but a broken file: readers raise ValueError naming the file and line (or JSON key) instead.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

# Each check of the policy, in the order it is applied, and what it does (rendered into dataset cards).
POLICY = {
    "empty_sentence": "the sentence is empty after stripping: dropped",
    "negative_start": "start < 0: dropped",
    "start_after_end": "start > end: dropped",
    "zero_length": "start == end, a moment without extent: dropped",
    "missing_features": "the video has no features (or zero clips) in the feature file: dropped",
    "missing_duration": "the video's duration is unknown: dropped",
    "start_beyond_duration": "start >= the video duration: dropped",
    "end_clipped": "end > the video duration: end set to the duration, row kept and counted",
}
DROP_REASONS = tuple(reason for reason in POLICY if reason != "end_clipped")


@dataclass(frozen=True)
class QueryRecord:
    """One annotated query. Times in seconds; `duration` None when the source does not give it.

    `origin` names where the row came from ("file:line" or "file[key][index]") for messages.
    """

    video_id: str
    start: float
    end: float
    sentence: str
    duration: float | None
    origin: str

    def __post_init__(self) -> None:
        check_video_id(self.video_id, self.origin)


def check_video_id(video_id: str, origin: str) -> str:
    """`video_id`, or ValueError when it is empty or looks like a path (a separator, "." or ".."): feature
    files are found as FOLDER/<video_id>.npy, so a path would read (or name) a file elsewhere."""
    if not video_id.strip() or any(separator in video_id for separator in ("/", "\\", "\0")) or video_id in (".", ".."):
        raise ValueError(f"{origin}: video id {video_id!r} is empty or a path; video ids are plain names (no '/', '\\', '..').")
    return video_id


@dataclass
class SplitReport:
    """Counts of one split: rows read, kept, dropped by reason, ends clipped, duplicates, videos kept.

    `duplicates` counts kept rows equal to an earlier kept row of the split (same video, start, end and
    sentence): they are kept, as the official files have them, and reported.
    """

    rows_read: int = 0
    rows_kept: int = 0
    dropped: Counter = field(default_factory=Counter)
    end_clipped: int = 0
    duplicates: int = 0
    videos: int = 0
    examples: dict = field(default_factory=dict)  # reason -> origin of its first row

    def drop(self, reason: str, record: QueryRecord) -> None:
        if reason not in DROP_REASONS:
            raise ValueError(f"Unknown drop reason {reason!r}.")
        self.dropped[reason] += 1
        self.examples.setdefault(reason, os.path.basename(record.origin))  # no local folders in reports

    def to_dict(self) -> dict:
        return {
            "rows_read": self.rows_read,
            "rows_kept": self.rows_kept,
            "dropped": {reason: self.dropped[reason] for reason in DROP_REASONS},
            "end_clipped": self.end_clipped,
            "duplicates": self.duplicates,
            "videos": self.videos,
            "first_example": dict(self.examples),
        }


def check_spans(records: list[QueryRecord], report: SplitReport) -> list[QueryRecord]:
    """Apply the duration-independent checks; returns the surviving records (sentences stripped)."""
    kept = []
    for record in records:
        sentence = record.sentence.strip()
        if not sentence:
            report.drop("empty_sentence", record)
        elif record.start < 0:
            report.drop("negative_start", record)
        elif record.start > record.end:
            report.drop("start_after_end", record)
        elif record.start == record.end:
            report.drop("zero_length", record)
        else:
            kept.append(replace(record, sentence=sentence))
    return kept


def check_durations(records: list[QueryRecord], report: SplitReport) -> list[QueryRecord]:
    """Apply the checks against the video duration; ends past the duration are clipped and counted."""
    kept = []
    for record in records:
        if record.duration is None or not record.duration > 0:
            report.drop("missing_duration", record)
        elif record.start >= record.duration:
            report.drop("start_beyond_duration", record)
        elif record.end > record.duration:
            report.end_clipped += 1
            kept.append(replace(record, end=record.duration))
        else:
            kept.append(record)
    return kept


def count_duplicates(records: list[QueryRecord], report: SplitReport) -> None:
    """Count rows that repeat an earlier row (video, start, end, sentence) into `report`, with the first one's origin."""
    seen: set[tuple] = set()
    for record in records:
        key = (record.video_id, record.start, record.end, record.sentence)
        if key in seen:
            report.duplicates += 1
            report.examples.setdefault("duplicate", os.path.basename(record.origin))
        seen.add(key)


def find_split_files(annotations_dir: Path, split_files: dict[str, str], pretty_name: str) -> dict[str, Path]:
    """Split -> path of each official split file present in `annotations_dir` (at least one must be)."""
    found = {split: annotations_dir / name for split, name in split_files.items() if (annotations_dir / name).is_file()}
    if not found:
        raise FileNotFoundError(f"No {pretty_name} split file ({', '.join(split_files.values())}) in {annotations_dir}.")
    return found


def parse_seconds(text: str, what: str, origin: str) -> float:
    """float(text), or ValueError naming the field and the origin ("file:line")."""
    if isinstance(text, bool):
        raise ValueError(f"{origin}: {what} must be a number, got {text!r}.")
    try:
        value = float(text)
    except (TypeError, ValueError):
        raise ValueError(f"{origin}: cannot read {what} from {text!r}.") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError(f"{origin}: {what} is {text!r}, not a finite number.")
    return value


__all__ = ["QueryRecord", "SplitReport", "POLICY", "DROP_REASONS", "check_spans", "check_durations", "check_video_id", "count_duplicates", "find_split_files", "parse_seconds"]
