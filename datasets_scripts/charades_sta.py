"""Charades-STA: `charades_sta_{train,test}.txt` + video durations from `Charades_v1_{train,test}.csv`.

Each line of a split file is one query, `VIDEO start end##sentence`, times in seconds. A video's
duration is the `length` column (seconds) of the official Charades metadata CSVs.
Splits: charades_sta_train.txt -> "train", charades_sta_test.txt -> "test" (there is no validation split).
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from .building import BuiltDataset, SourceInfo, build_moment_retrieval
from .records import QueryRecord, find_split_files, parse_seconds

SPLIT_FILES = {"train": "charades_sta_train.txt", "test": "charades_sta_test.txt"}
DURATION_FILES = ("Charades_v1_train.csv", "Charades_v1_test.csv")

INFO = SourceInfo(
    name="charades-sta",
    pretty_name="Charades-STA",
    description=(
        "Charades-STA (Gao et al., ICCV 2017) annotates Charades videos of indoor daily activities "
        "(Sigurdsson et al., ECCV 2016) with sentence queries and their start and end times. Annotation "
        "files as distributed in the data/ folder of microsoft/2D-TAN; video durations from the official "
        "Charades metadata (`length` column of Charades_v1_train.csv / Charades_v1_test.csv)."
    ),
    homepage="https://prior.allenai.org/projects/charades",
    license="other",
    license_terms=(
        "Charades videos and metadata: Allen Institute for AI, non-commercial research use only, under the "
        "licence distributed with Charades (see https://prior.allenai.org/projects/charades). Charades-STA "
        "sentence annotations: https://github.com/jiyanggao/TALL. The 2D-TAN repository's MIT licence covers "
        "its code, not the data."
    ),
    citation="""@inproceedings{gao2017tall,
  title     = {TALL: Temporal Activity Localization via Language Query},
  author    = {Gao, Jiyang and Sun, Chen and Yang, Zhenheng and Nevatia, Ram},
  booktitle = {ICCV},
  year      = {2017}
}
@inproceedings{sigurdsson2016hollywood,
  title     = {Hollywood in Homes: Crowdsourcing Data Collection for Activity Understanding},
  author    = {Sigurdsson, Gunnar A. and Varol, G{\\"u}l and Wang, Xiaolong and Farhadi, Ali and Laptev, Ivan and Gupta, Abhinav},
  booktitle = {ECCV},
  year      = {2016}
}""",
    split_files={split: f"{name} (durations: Charades_v1_{split}.csv)" for split, name in SPLIT_FILES.items()},
    feature_key="{vid}",
    official_features="`vgg_rgb_features.hdf5`, `f[vid]` -> (T, 4096) VGG fc7; or I3D, one `<vid>.npy` per video, (T, 1024)",
    simulated_clip_seconds=1.0,
    preset="charades-sta",
)


def read_durations(annotations_dir: Path) -> dict[str, float]:
    """Video id -> duration in seconds from the Charades metadata CSVs found in `annotations_dir`."""
    durations: dict[str, float] = {}
    found = [annotations_dir / name for name in DURATION_FILES if (annotations_dir / name).is_file()]
    if not found:
        raise FileNotFoundError(f"No Charades metadata ({' or '.join(DURATION_FILES)}) in {annotations_dir}: they give the video durations.")
    for path in found:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not {"id", "length"} <= set(reader.fieldnames or ()):
                raise ValueError(f"{path}: expected columns 'id' and 'length', found {reader.fieldnames}.")
            for row in reader:
                durations[row["id"]] = parse_seconds(row["length"], "length", f"{path}:{reader.line_num}")
    return durations


def read_split(path: Path, durations: dict[str, float]) -> list[QueryRecord]:
    """Queries of one `VIDEO start end##sentence` file; ValueError naming file:line on a malformed line.

    Blank lines are skipped (they hold no query).
    """
    records = []
    with open(path, encoding="utf-8-sig") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            origin = f"{path}:{number}"
            head, separator, sentence = line.rstrip("\n").partition("##")
            fields = head.split()
            if not separator or len(fields) != 3:
                raise ValueError(f"{origin}: expected 'VIDEO start end##sentence', got {line.rstrip()!r}.")
            video_id, start, end = fields
            records.append(
                QueryRecord(
                    video_id=video_id,
                    start=parse_seconds(start, "start", origin),
                    end=parse_seconds(end, "end", origin),
                    sentence=sentence,
                    duration=durations.get(video_id),
                    origin=origin,
                )
            )
    return records


def read_charades_sta(annotations_dir: str | os.PathLike) -> dict[str, list[QueryRecord]]:
    """Records of each split present in `annotations_dir` ("train", "test")."""
    annotations_dir = Path(annotations_dir)
    splits = find_split_files(annotations_dir, SPLIT_FILES, INFO.pretty_name)
    durations = read_durations(annotations_dir)
    return {split: read_split(path, durations) for split, path in splits.items()}


def build_charades_sta(annotations_dir: str | os.PathLike, output_dir: str | os.PathLike, **options) -> BuiltDataset:
    """Build Charades-STA into `output_dir`; `options` are those of `build_moment_retrieval`."""
    return build_moment_retrieval(INFO, read_charades_sta(annotations_dir), output_dir, **options)


__all__ = ["INFO", "read_charades_sta", "build_charades_sta"]
