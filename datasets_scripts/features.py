"""Reading clip features from the official layouts: one HDF5 file or a folder of `<video_id>.npy`.

An HDF5 file is addressed with a key template: `"{vid}"` reads `f[vid]` (Charades-STA VGG, TACoS
C3D), `"{vid}/c3d_features"` reads `f[vid]["c3d_features"]` (ActivityNet C3D). Every array is
(T, D): T clips in time order, D feature values. Long videos can be average-pooled to at most M
clips when the dataset is built (`pool_clips`). A folder written by `fvmr extract-features` also
holds `durations.json` (seconds per video) and `extraction.json` (the recipe: backbone, rate, window).
"""

from __future__ import annotations

import os
from pathlib import Path

import h5py
import numpy as np

from modeling_fvmr.video.extraction import load_feature_array, read_feature_folder

HDF5_SUFFIXES = (".h5", ".hdf5", ".hdf")


def pool_clips(features: np.ndarray, max_clips: int | None) -> np.ndarray:
    """Average-pool (T, D) features to (min(T, max_clips), D) float32.

    Output clip n averages input clips floor(n T / M) .. ceil((n + 1) T / M) - 1 (the windows of
    torch's adaptive average pooling, as the model uses), so clip boundaries stay proportional to time.
    """
    features = np.asarray(features, dtype=np.float32)
    if max_clips is None or len(features) <= max_clips:
        return features
    if max_clips < 1:
        raise ValueError(f"max_clips must be at least 1, got {max_clips}.")
    total = len(features)
    starts = (np.arange(max_clips) * total) // max_clips
    ends = -((-(np.arange(1, max_clips + 1)) * total) // max_clips)  # ceil((n + 1) T / M)
    cumulative = np.concatenate([np.zeros((1, features.shape[1]), np.float64), np.cumsum(features, axis=0, dtype=np.float64)])
    return ((cumulative[ends] - cumulative[starts]) / (ends - starts)[:, None]).astype(np.float32)


class ClipFeatureFile:
    """Clip features of many videos from one HDF5 file or one folder of `<video_id>.npy` files.

    Args:
        path: an `.h5`/`.hdf5` file, or a folder of `.npy` files.
        key_template: HDF5 path of a video's array, with `{vid}` for the video id.

    Use as a context manager (the HDF5 file stays open inside it).
    """

    kind = "real"

    def __init__(self, path: str | os.PathLike, key_template: str = "{vid}"):
        self.path = Path(path)
        self.key_template = key_template
        if self.path.is_dir():
            self.layout = "npy"
        elif self.path.is_file() and self.path.suffix.lower() in HDF5_SUFFIXES:
            self.layout = "hdf5"
        elif self.path.exists():
            raise ValueError(f"{self.path}: features must be an HDF5 file ({', '.join(HDF5_SUFFIXES)}) or a folder of .npy files.")
        else:
            raise FileNotFoundError(f"Feature path {self.path} does not exist.")
        if "{vid}" not in key_template:
            raise ValueError(f"The feature key template {key_template!r} must contain {{vid}}.")
        self._file: h5py.File | None = None
        self.durations, self.recipe = read_feature_folder(self.path) if self.layout == "npy" else ({}, None)

    @property
    def description(self) -> str:
        if self.recipe is not None:
            return f"extracted from video files: {self.recipe.describe()}"
        if self.layout == "npy":
            return f"one <video_id>.npy per video in {self.path.name}/"
        return f"HDF5 {self.path.name}, key {self.key_template!r}"

    def duration(self, video_id: str) -> float | None:
        """Seconds of a video from the folder's durations.json (None when it has none)."""
        return self.durations.get(video_id)

    def __enter__(self) -> "ClipFeatureFile":
        if self.layout == "hdf5":
            try:
                self._file = h5py.File(self.path, "r")
            except OSError as error:  # h5py's message (e.g. "truncated file") does not name the file
                raise ValueError(f"{self.path}: not a readable HDF5 file ({error}).") from None
        return self

    def __exit__(self, *exc_info) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _hdf5_dataset(self, video_id: str) -> h5py.Dataset | None:
        if self._file is None:
            raise RuntimeError("Open the feature file first: `with ClipFeatureFile(...) as features:`.")
        key = self.key_template.format(vid=video_id)
        item = self._file.get(key)
        if item is None:
            return None
        if not isinstance(item, h5py.Dataset):
            raise ValueError(f"{self.path}: {key!r} is an HDF5 group, not an array; set the key template (e.g. '{{vid}}/c3d_features').")
        return item

    def _npy_path(self, video_id: str) -> Path:
        return self.path / f"{video_id}.npy"

    def num_clips(self, video_id: str) -> int:
        """T of a video, without reading its values; 0 when the video is absent."""
        if self.layout == "hdf5":
            item = self._hdf5_dataset(video_id)
            return 0 if item is None else int(item.shape[0])
        path = self._npy_path(video_id)
        return int(load_feature_array(path, mmap_mode="r").shape[0]) if path.is_file() else 0

    def load(self, video_id: str) -> np.ndarray:
        """(T, D) float32 features of a video; ValueError if absent or not 2-D."""
        if self.layout == "hdf5":
            item = self._hdf5_dataset(video_id)
            array = None if item is None else item[()]
            where = f"{self.path}[{self.key_template.format(vid=video_id)!r}]"
        else:
            path = self._npy_path(video_id)
            array = load_feature_array(path) if path.is_file() else None
            where = str(path)
        if array is None:
            raise ValueError(f"No features for video {video_id!r} ({where} is missing).")
        if array.ndim != 2:
            raise ValueError(f"{where}: features must have shape (clips, dim), got {array.shape}.")
        array = np.asarray(array, dtype=np.float32)
        non_finite = int(array.size - np.count_nonzero(np.isfinite(array)))
        if non_finite:
            raise ValueError(f"{where}: {non_finite} of the {array.size} feature values of video {video_id!r} are NaN or infinite.")
        return array


__all__ = ["ClipFeatureFile", "pool_clips", "HDF5_SUFFIXES"]
