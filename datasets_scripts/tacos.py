"""TACoS: `{train,val,test}.json`, `{vid: {"fps", "num_frames", "timestamps", "sentences"}}`, times in FRAMES.

Timestamps are frame indices: seconds = frame / fps, and a video lasts num_frames / fps seconds.
Splits: train.json -> "train", val.json -> "validation", test.json -> "test". Video ids are kept as in
the files (e.g. "s27-d50.avi"), which are also the keys of the official feature file.
"""

from __future__ import annotations

import os
from pathlib import Path

from .building import BuiltDataset, SourceInfo, build_moment_retrieval
from .records import QueryRecord
from .video_json import entry_number, read_video_json_splits

SPLIT_FILES = {"train": "train.json", "validation": "val.json", "test": "test.json"}

INFO = SourceInfo(
    name="tacos",
    pretty_name="TACoS",
    description=(
        "TACoS (Regneri et al., TACL 2013) aligns sentences with long videos of cooking activities recorded in "
        "the MPII Cooking Composite Activities kitchen. Annotation files as distributed in the data/ folder of "
        "microsoft/2D-TAN; their timestamps are frame indices, converted here to seconds with each video's fps "
        "(duration = num_frames / fps)."
    ),
    homepage="https://doi.org/10.1162/tacl_a_00207",
    license="other",
    license_terms=(
        "TACoS corpus: Saarland University and MPI Informatics, for research use under the terms distributed with "
        "the corpus (see the paper, https://doi.org/10.1162/tacl_a_00207, and the MPII Cooking pages of MPI "
        "Informatics). The 2D-TAN repository's MIT licence covers its code, not the data."
    ),
    citation="""@article{regneri2013grounding,
  title   = {Grounding Action Descriptions in Videos},
  author  = {Regneri, Michaela and Rohrbach, Marcus and Wetzel, Dominikus and Thater, Stefan and Schiele, Bernt and Pinkal, Manfred},
  journal = {Transactions of the Association for Computational Linguistics},
  volume  = {1},
  pages   = {25--36},
  year    = {2013}
}""",
    split_files=dict(SPLIT_FILES),
    feature_key="{vid}",
    official_features="`tall_c3d_features.hdf5`, `f[vid]` -> (T, 4096) C3D fc6 (64-frame windows, stride 12), keys like `s27-d50.avi`",
    simulated_clip_seconds=2.0,
    preset="tacos",
)


def _frames(entry: dict, origin: str) -> tuple[float, float]:
    fps = entry_number(entry, "fps", origin)
    if not fps > 0:
        raise ValueError(f"{origin}: fps must be positive, got {fps}.")
    return fps, entry_number(entry, "num_frames", origin) / fps


def read_tacos(annotations_dir: str | os.PathLike) -> dict[str, list[QueryRecord]]:
    """Records of each split file present in `annotations_dir`, times converted to seconds."""
    return read_video_json_splits(Path(annotations_dir), SPLIT_FILES, INFO.pretty_name, _frames)


def build_tacos(annotations_dir: str | os.PathLike, output_dir: str | os.PathLike, **options) -> BuiltDataset:
    """Build TACoS into `output_dir`; `options` are those of `build_moment_retrieval`."""
    return build_moment_retrieval(INFO, read_tacos(annotations_dir), output_dir, **options)


__all__ = ["INFO", "read_tacos", "build_tacos"]
