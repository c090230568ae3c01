"""ActivityNet Captions: `{train,val,test}.json`, `{vid: {"duration", "timestamps", "sentences"}}` in seconds.

Splits (the 2D-TAN files): train.json -> "train", val.json (original val_1) -> "validation",
test.json (original val_2) -> "test". Every test video is also a validation video, with other sentences.
"""

from __future__ import annotations

import os
from pathlib import Path

from .building import BuiltDataset, SourceInfo, build_moment_retrieval
from .records import QueryRecord
from .video_json import entry_number, read_video_json_splits

SPLIT_FILES = {"train": "train.json", "validation": "val.json", "test": "test.json"}

INFO = SourceInfo(
    name="activitynet-captions",
    pretty_name="ActivityNet Captions",
    description=(
        "ActivityNet Captions (Krishna et al., ICCV 2017) describes ActivityNet v1.3 YouTube videos with "
        "temporally localised sentences. Annotation files as distributed in the data/ folder of "
        "microsoft/2D-TAN: train, val (= original val_1) and test (= original val_2); every test video "
        "also appears in validation, with different sentences."
    ),
    homepage="https://cs.stanford.edu/people/ranjaykrishna/densevid/",
    license="other",
    license_terms=(
        "ActivityNet Captions annotations: Krishna et al. 2017, terms on "
        "https://cs.stanford.edu/people/ranjaykrishna/densevid/; the videos are YouTube videos of ActivityNet "
        "(http://activity-net.org/) under their owners' terms. The 2D-TAN repository's MIT licence covers its "
        "code, not the data."
    ),
    citation="""@inproceedings{krishna2017dense,
  title     = {Dense-Captioning Events in Videos},
  author    = {Krishna, Ranjay and Hata, Kenji and Ren, Frederic and Fei-Fei, Li and Niebles, Juan Carlos},
  booktitle = {ICCV},
  year      = {2017}
}""",
    split_files={"train": "train.json", "validation": "val.json (original val_1)", "test": "test.json (original val_2)"},
    feature_key="{vid}/c3d_features",
    official_features="`sub_activitynet_v1-3.c3d.hdf5`, `f[vid][\"c3d_features\"]` -> (T, 500), C3D reduced by PCA, one row per 8 frames",
    simulated_clip_seconds=2.0,
    preset="activitynet-captions",
)


def _seconds(entry: dict, origin: str) -> tuple[float, float]:
    return 1.0, entry_number(entry, "duration", origin)


def read_activitynet_captions(annotations_dir: str | os.PathLike) -> dict[str, list[QueryRecord]]:
    """Records of each split file present in `annotations_dir`."""
    return read_video_json_splits(Path(annotations_dir), SPLIT_FILES, INFO.pretty_name, _seconds)


def build_activitynet_captions(annotations_dir: str | os.PathLike, output_dir: str | os.PathLike, **options) -> BuiltDataset:
    """Build ActivityNet Captions into `output_dir`; `options` are those of `build_moment_retrieval`."""
    return build_moment_retrieval(INFO, read_activitynet_captions(annotations_dir), output_dir, **options)


__all__ = ["INFO", "read_activitynet_captions", "build_activitynet_captions"]
