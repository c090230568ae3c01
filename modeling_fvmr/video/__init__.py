"""Tooling for video files: feature extraction over many files (`extraction`) and clip cutting (`clips`).

The per-file recipe (decoding, frame encoders, window averaging) is `modeling_fvmr.video_features`,
which ships with the pipeline code to the Hub; this subpackage holds what only the installed package
needs.
"""

from .clips import clip_name, write_clip
from .extraction import (
    ExtractionResult,
    extract_features_to_folder,
    find_videos,
    is_video_path,
    iter_video_features,
    read_feature_folder,
)

__all__ = [
    "ExtractionResult",
    "clip_name",
    "extract_features_to_folder",
    "find_videos",
    "is_video_path",
    "iter_video_features",
    "read_feature_folder",
    "write_clip",
]
