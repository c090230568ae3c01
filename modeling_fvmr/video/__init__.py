"""Tooling for video files: feature extraction over many files (`extraction`), clip cutting (`clips`) and
the video files of an index (`sources`).

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
from .sources import VIDEO_SOURCES, index_video_files, read_video_sources, write_video_sources

__all__ = [
    "VIDEO_SOURCES",
    "ExtractionResult",
    "clip_name",
    "extract_features_to_folder",
    "find_videos",
    "index_video_files",
    "is_video_path",
    "iter_video_features",
    "read_feature_folder",
    "read_video_sources",
    "write_clip",
    "write_video_sources",
]
