"""Video files in a moment index: indexing them, and where they are (the index folder's `videos.json`,
written by `fvmr index` on video files, and / or a folder of `<video_id>.*` files: `--videos DIR`)."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from .extraction import find_videos, iter_video_features

if TYPE_CHECKING:
    from ..search import MomentIndex

VIDEO_SOURCES = "videos.json"


def index_video_files(
    index: MomentIndex, paths: Sequence[str | os.PathLike], device: str | None = None, batch_size: int = 32,
    skipped: dict[str, str] | None = None, show_progress: bool = True,
) -> dict[str, str]:
    """Add video files (and the videos in folders) to `index`, their features made with the recipe the
    index's model records; returns video id (file stem) -> absolute path of each video added.

    Unreadable videos are recorded in `skipped` (path -> reason) when it is a dict, else raise.
    """
    from ..video_features import recorded_recipe

    recipe = recorded_recipe(index.model.config)
    files = {path.stem: path for path in find_videos(paths)}
    sources = {}
    for video_id, extracted in iter_video_features(list(files.values()), recipe, device=device, batch_size=batch_size,
                                                    skipped=skipped, show_progress=show_progress):
        index.add([extracted.features], [extracted.duration], [video_id], show_progress=False)
        sources[video_id] = os.path.abspath(files[video_id])
    return sources


def write_video_sources(index_dir: str | os.PathLike, sources: dict[str, str]) -> None:
    """Record video id -> video file (absolute paths) in `index_dir/videos.json`."""
    (Path(index_dir) / VIDEO_SOURCES).write_text(json.dumps(sources, indent=1) + "\n", encoding="utf-8")


def read_video_sources(index_dir: str | os.PathLike | None, videos_dir: str | os.PathLike | None = None) -> dict[str, str]:
    """video id -> video file: from `index_dir/videos.json` (if any), then `videos_dir`'s files by stem."""
    recorded = Path(index_dir) / VIDEO_SOURCES if index_dir is not None else None
    sources = json.loads(recorded.read_text(encoding="utf-8")) if recorded is not None and recorded.is_file() else {}
    if videos_dir:
        sources.update({path.stem: str(path) for path in find_videos([videos_dir])})
    return sources


__all__ = ["VIDEO_SOURCES", "index_video_files", "read_video_sources", "write_video_sources"]
