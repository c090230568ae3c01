"""Clip features for many video files: a folder of `<stem>.npy` + `durations.json`, or features in memory.

    fvmr extract-features videos/ --backbone openai/clip-vit-base-patch32 --clip-seconds 1 --output-dir features/
    ACCELERATE_USE_CPU=1 torchrun --nproc_per_node 2 -m modeling_fvmr.cli extract-features ...   # or accelerate launch

The output folder holds one (T, D) float32 `<stem>.npy` per video, `durations.json` ({stem: seconds})
and `extraction.json` (the recipe and the skipped videos with their reasons). It is what `fvmr
build-dataset ... --features` accepts. A video that cannot be read is skipped and reported; the others
are written. The folder appears whole or not at all: the files are written into a hidden sibling that
is renamed into place at the end, and an existing output is replaced only with `overwrite=True`.

Several processes (`accelerate launch`, `torchrun`) split the videos between them; the files are the
same as with one process.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..atomic import check_output_folder, replace_folder, staging_folder
from ..video_features import VideoDecodeError, VideoFeatureRecipe, VideoFeatures, extract_video_features, load_frame_encoder

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".flv", ".wmv", ".3gp")
DURATIONS_FILE = "durations.json"
REPORT_FILE = "extraction.json"


def find_videos(paths: Sequence[str | os.PathLike]) -> list[Path]:
    """Video files named directly (any suffix) and those inside named folders (by suffix, recursively).

    Raises FileNotFoundError for a missing path, ValueError for a folder without videos or for two
    videos with the same file stem (the stem is the video id).
    """
    videos: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found = sorted(item for item in path.rglob("*") if item.is_file() and item.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise ValueError(f"{path}: no video files ({', '.join(VIDEO_SUFFIXES)}) in this folder.")
            videos.extend(found)
        elif path.exists():
            videos.append(path)
        else:
            raise FileNotFoundError(f"{path}: no such file or folder.")
    seen: dict[str, Path] = {}
    for video in videos:
        if video.stem in seen and seen[video.stem] != video:
            raise ValueError(f"Two videos share the id {video.stem!r}: {seen[video.stem]} and {video}; rename one.")
        seen[video.stem] = video
    return list(dict.fromkeys(videos))


def is_video_path(path: str | os.PathLike) -> bool:
    """True for a video file (by suffix) or a folder holding video files but no `features/` dataset."""
    path = Path(path)
    if path.is_file():
        return path.suffix.lower() in VIDEO_SUFFIXES
    return path.is_dir() and not (path / "features").is_dir() and any(
        item.suffix.lower() in VIDEO_SUFFIXES for item in path.rglob("*") if item.is_file()
    )


@dataclass
class ExtractionResult:
    """What a folder extraction did. durations in seconds per video id; skipped: path -> reason."""

    output_dir: Path | None
    recipe: VideoFeatureRecipe
    durations: dict[str, float] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    frames: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        video_seconds = sum(self.durations.values())
        rate = f"{self.frames / self.seconds:.1f} frames/s, {video_seconds / self.seconds:.1f} video-s per s" if self.seconds else ""
        lines = [f"Extracted {len(self.durations)} video(s) ({video_seconds:.1f} s of video, {self.frames} frames) in {self.seconds:.1f} s ({rate})."]
        lines += [f"Skipped: {reason}" for reason in self.skipped.values()]
        return "\n".join(lines)


def iter_video_features(
    videos: Sequence[str | os.PathLike],
    recipe: VideoFeatureRecipe,
    encoder=None,
    device: str | None = None,
    batch_size: int = 32,
    show_progress: bool = True,
    skipped: dict[str, str] | None = None,
) -> Iterator[tuple[str, VideoFeatures]]:
    """(video id = file stem, features) of each readable video, in order.

    A video that cannot be read raises VideoDecodeError, unless `skipped` is a dict: then its reason
    is recorded there under the path and the next video follows. `recipe.feature_dim` / `embedding`
    are filled in from the encoder.
    """
    encoder = encoder or load_frame_encoder(recipe.backbone, device=device)
    if getattr(encoder, "frames_per_window", None):  # a video model sets how many frames a window gets
        recipe.pooling, recipe.frames_per_second = "video-model", encoder.frames_per_window / recipe.clip_seconds
    bar = tqdm(videos, desc="Extracting features", unit="video", disable=not show_progress)
    started, frames = time.perf_counter(), 0
    for path in bar:
        try:
            features = extract_video_features(path, encoder, recipe, batch_size=batch_size)
        except VideoDecodeError as error:
            if skipped is None:
                raise
            skipped[str(path)] = str(error)
            continue
        frames += features.num_frames
        bar.set_postfix(frames_per_s=f"{frames / max(time.perf_counter() - started, 1e-9):.0f}")
        recipe.feature_dim, recipe.embedding = encoder.feature_dim, encoder.embedding
        yield Path(path).stem, features


def extract_features_to_folder(
    videos: Sequence[str | os.PathLike],
    output_dir: str | os.PathLike,
    recipe: VideoFeatureRecipe,
    device: str | None = None,
    batch_size: int = 32,
    overwrite: bool = False,
    show_progress: bool = True,
) -> ExtractionResult:
    """Write `<stem>.npy` (T, D) float32, durations.json and extraction.json for `videos` into `output_dir`.

    Runs on every process of an `accelerate launch` / `torchrun` job (each takes its share of the
    videos; the main process writes the JSON files and renames the folder into place). Raises
    ValueError when `output_dir` exists and is not empty (without `overwrite`), or when no video could
    be read (nothing is written then).
    """
    from accelerate import PartialState
    from accelerate.utils import gather_object, parse_flag_from_env

    state = PartialState(cpu=parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.cuda.is_available())
    output = check_output_folder(output_dir, overwrite)
    encoder = load_frame_encoder(recipe.backbone, device=device or str(state.device))  # before anything is written
    staging = staging_folder(output)
    if state.is_main_process:
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
    state.wait_for_everyone()

    started = time.perf_counter()
    durations, skipped, frames = {}, {}, 0
    with state.split_between_processes(list(map(str, videos))) as mine:
        for video_id, features in iter_video_features(
            mine, recipe, encoder, batch_size=batch_size, show_progress=show_progress and state.is_main_process, skipped=skipped
        ):
            _save_array(staging / f"{video_id}.npy", features.features)
            durations[video_id] = features.duration
            frames += features.num_frames
    gathered = gather_object([(durations, skipped, frames, recipe.to_dict())])
    result = ExtractionResult(output, recipe, seconds=time.perf_counter() - started)
    for part_durations, part_skipped, part_frames, part_recipe in gathered:
        result.durations.update(part_durations)
        result.skipped.update(part_skipped)
        result.frames += part_frames
        if part_recipe["feature_dim"] is not None:
            recipe.feature_dim, recipe.embedding = part_recipe["feature_dim"], part_recipe["embedding"]
    if state.is_main_process:
        if not result.durations:
            shutil.rmtree(staging, ignore_errors=True)
        else:
            _write_json(staging / DURATIONS_FILE, dict(sorted(result.durations.items())))
            _write_json(staging / REPORT_FILE, {"recipe": recipe.to_dict(), "videos": len(result.durations), "skipped": result.skipped})
            replace_folder(staging, output)
    state.wait_for_everyone()
    if not result.durations:
        reasons = "; ".join(result.skipped.values())
        raise ValueError(f"No video could be read, nothing was written: {reasons}")
    return result


def read_feature_folder(path: str | os.PathLike) -> tuple[dict[str, float], VideoFeatureRecipe | None]:
    """durations.json and the recipe of extraction.json of a feature folder (empty / None when absent)."""
    path = Path(path)
    durations = _read_json(path / DURATIONS_FILE) or {}
    report = _read_json(path / REPORT_FILE) or {}
    for video_id, seconds in durations.items():
        if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
            raise ValueError(f"{path / DURATIONS_FILE}: the duration of {video_id!r} must be positive seconds, got {seconds!r}.")
    recipe = VideoFeatureRecipe.from_dict(report["recipe"]) if "recipe" in report else None
    return {str(key): float(value) for key, value in durations.items()}, recipe


def load_feature_array(path: str | os.PathLike, mmap_mode: str | None = None) -> np.ndarray:
    """np.load of a clip-feature .npy file, never unpickling; ValueError naming the file when it is not a
    readable numeric array (truncated, pickled objects, not .npy)."""
    try:
        return np.load(path, mmap_mode=mmap_mode, allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        raise ValueError(f"{path}: not a readable .npy array ({error}).") from None


def _read_json(path: Path):
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8-sig"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}:{error.lineno}: invalid JSON ({error.msg}).") from None


def _save_array(path: Path, array: np.ndarray) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    with open(temporary, "wb") as handle:
        np.save(handle, array)
    os.replace(temporary, path)


def _write_json(path: Path, payload: dict) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


__all__ = [
    "load_feature_array",
    "DURATIONS_FILE",
    "REPORT_FILE",
    "VIDEO_SUFFIXES",
    "ExtractionResult",
    "extract_features_to_folder",
    "find_videos",
    "is_video_path",
    "iter_video_features",
    "read_feature_folder",
]
