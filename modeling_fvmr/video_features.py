"""From a video file to FVMR's input: clip features (T, D) made with a recorded recipe.

A video of `duration` seconds is cut into T = ceil(duration / clip_seconds) windows of `clip_seconds`
seconds (the last one may be shorter). Window c is sampled at the times c·S + j / fps (S =
clip_seconds, fps = frames_per_second, j = 0, 1, ... while the time stays inside the window; at least
one sample), so a frame shown at time t lands in clip floor(t / S). A sample takes the frame on screen
at its time (the last frame whose presentation time is ≤ t): variable frame rates come out right, and
the display rotation of the file is applied. Each sampled frame is embedded by a frame encoder — a
transformers vision backbone loaded by Hub id or path (the pooled image embedding: `get_image_features`
/ `image_embeds` where the model has a projection, else `pooler_output`), or the built-in download-free
`"pixel-grid"` encoder — and the embeddings of a window are averaged.

Frames are decoded with PyAV and streamed in batches, so a long video never sits in memory at once.

This file ships with the pipeline code to the Hub (`trust_remote_code=True` users have no fvmr): it
imports only numpy, torch and transformers, and PyAV when a video is opened.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np
import torch

PIXEL_GRID = "pixel-grid"
_TIME_EPSILON = 1e-6  # seconds: a frame presented at t serves a sample at t despite float rounding


class VideoDecodeError(ValueError):
    """A video file that cannot be turned into clip features; the message names the file and the reason."""


@dataclass
class VideoFeatureRecipe:
    """How clip features are made from a video file; stored in `FVMRConfig.video_features`.

    Args:
        backbone: Hub id or local path of a transformers vision model, or `"pixel-grid"` (built in).
        frames_per_second: frames sampled per second of video (by timestamp).
        clip_seconds: seconds per clip window; a video has ceil(duration / clip_seconds) clips.
        pooling: how a window becomes one feature: "mean" of its frame embeddings (image backbones), or
            "video-model" (a video backbone embeds the window's frames together).
        embedding: which output of the backbone is used (filled in by the encoder).
        feature_dim: D of the features (filled in by the encoder).
    """

    backbone: str
    frames_per_second: float = 1.0
    clip_seconds: float = 1.0
    pooling: str = "mean"
    embedding: str | None = None
    feature_dim: int | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.backbone, str) or not self.backbone.strip():
            raise ValueError(f"backbone must be a Hub id, a local path or {PIXEL_GRID!r}, got {self.backbone!r}.")
        for name in ("frames_per_second", "clip_seconds"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise ValueError(f"{name} must be a positive number of {'frames per second' if name[0] == 'f' else 'seconds'}, got {value!r}.")
        if self.pooling not in ("mean", "video-model"):
            raise ValueError(f"pooling must be 'mean' or 'video-model', got {self.pooling!r}.")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> "VideoFeatureRecipe":
        known = {name for name in cls.__dataclass_fields__}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"Unknown video feature recipe field(s) {unknown}; expected {sorted(known)}.")
        return cls(**values)

    def describe(self) -> str:
        """One line for cards and logs."""
        made = ", ".join(str(part) for part in (self.embedding, self.feature_dim and f"{self.feature_dim}-d") if part)
        return f"{self.backbone}{f' ({made})' if made else ''}, {self.frames_per_second:g} frames/s averaged over {self.clip_seconds:g} s clips"


def recorded_recipe(config) -> VideoFeatureRecipe:
    """The recipe an FVMR config records (`config.video_features`); ValueError when the model was
    trained on precomputed features, which it cannot make from a video file."""
    recorded = getattr(config, "video_features", None) or {}
    if "backbone" not in recorded:
        made = recorded.get("description", "not recorded")
        raise ValueError(
            f"This model was trained on precomputed clip features ({made}), not on features it can make from a video "
            "file: give it (clips, dim) features made the same way, or train a model on features extracted from videos."
        )
    return VideoFeatureRecipe.from_dict(recorded)


@dataclass
class VideoInfo:
    """What the header of a video file says. duration in seconds; rotation in degrees (display matrix)."""

    path: str
    duration: float
    width: int
    height: int
    rotation: int = 0
    average_rate: float | None = None


@dataclass
class VideoFeatures:
    """Clip features of one video file: features (T, D) float32, duration in seconds, frames embedded."""

    features: np.ndarray
    duration: float
    num_frames: int
    info: VideoInfo = field(repr=False, default=None)


def sample_times(
    duration: float, frames_per_second: float, clip_seconds: float, frames_per_window: int | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Sample times (seconds, float64, increasing) and the clip index of each, for a video of `duration` s.

    Window c = [c·S, min((c + 1)·S, duration)) of length L_c is sampled at c·S + j / fps for every j
    whose time lies inside it, and at least at its start; T = ceil(duration / S) windows. With
    `frames_per_window` n (a video model's input), it is sampled at c·S + (j + 0.5)·L_c / n, j < n.
    """
    if not (math.isfinite(duration) and duration > 0):
        raise ValueError(f"duration must be positive seconds, got {duration}.")
    num_clips = max(1, math.ceil(duration / clip_seconds - 1e-9))
    times, clips = [], []
    for clip in range(num_clips):
        start = clip * clip_seconds
        length = min(clip_seconds, duration - start)
        if frames_per_window:
            times.extend(start + (np.arange(frames_per_window) + 0.5) * length / frames_per_window)
        else:
            times.extend(start + np.arange(max(1, math.ceil(length * frames_per_second - 1e-9))) / frames_per_second)
        clips.extend([clip] * (len(times) - len(clips)))
    return np.asarray(times, dtype=np.float64), np.asarray(clips, dtype=np.int64)


def _open(path: str | os.PathLike):
    """(container, video stream) of a file; VideoDecodeError naming the file when it cannot be read."""
    import av

    path = os.fspath(path)
    if not os.path.exists(path):
        raise VideoDecodeError(f"{path}: no such file.")
    if os.path.isdir(path):
        raise VideoDecodeError(f"{path}: is a folder, not a video file.")
    try:
        container = av.open(path)
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as error:
        raise VideoDecodeError(f"{path}: not a readable video file ({_reason(error)}).") from None
    if not container.streams.video:
        kinds = sorted({stream.type for stream in container.streams})
        container.close()
        if not kinds:
            raise VideoDecodeError(f"{path}: contains no stream at all (an empty, zero-length video).")
        raise VideoDecodeError(f"{path}: has no video stream (only {', '.join(kinds)}).")
    stream = container.streams.video[0]
    stream.thread_type = "AUTO"
    return container, stream


def _reason(error: Exception) -> str:
    return getattr(error, "strerror", None) or str(error).splitlines()[0]


def _stream_duration(container, stream) -> float | None:
    """Seconds of the video stream from the header (the stream's, else the container's), or None."""
    if stream.duration is not None and stream.time_base is not None and stream.duration > 0:
        return float(stream.duration * stream.time_base)
    if container.duration is not None and container.duration > 0:
        import av

        return container.duration / av.time_base
    return None


def probe_video(path: str | os.PathLike) -> VideoInfo:
    """The header facts of a video file, without decoding frames; VideoDecodeError if unusable."""
    container, stream = _open(path)
    try:
        duration = _stream_duration(container, stream)
        if duration is None:  # no header duration: the end of the last video packet
            duration = _demuxed_duration(container, stream)
        if not duration or duration <= 0:
            raise VideoDecodeError(f"{os.fspath(path)}: the video has zero length.")
        rotation = _display_rotation(container, stream)
        rate = float(stream.average_rate) if stream.average_rate else None
        return VideoInfo(os.fspath(path), duration, stream.codec_context.width, stream.codec_context.height, rotation, rate)
    finally:
        container.close()


def _demuxed_duration(container, stream) -> float:
    end = 0.0
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    for packet in container.demux(stream):
        if packet.pts is not None:
            end = max(end, float((packet.pts + (packet.duration or 0)) * packet.time_base) - start)
    return end


def _display_rotation(container, stream) -> int:
    """Counter-clockwise degrees of the display matrix (read from the first frame; 0 without one)."""
    import av

    try:
        frame = next(iter(container.decode(stream)), None)
    except av.error.FFmpegError:
        return 0
    return 90 * _quarter_turns(frame.rotation if frame is not None else None)


def _quarter_turns(rotation) -> int:
    """Counter-clockwise quarter turns of a display rotation in degrees (PyAV's `frame.rotation`); 0 when
    the file has no usable matrix (PyAV then reports INT_MIN)."""
    if rotation is None or not -360 <= rotation <= 360:
        return 0
    return int(round(rotation / 90)) % 4


def _upright(frame, reformatter) -> np.ndarray:
    """(H, W, 3) uint8 RGB of a decoded frame, turned as the file's display matrix says. `reformatter`
    (one `av.video.reformatter.VideoReformatter` per video) keeps its colour-conversion context: a
    frame's own `to_ndarray(format=...)` builds a new one each time, 16x slower on small frames."""
    image = reformatter.reformat(frame, format="rgb24").to_ndarray()
    turns = _quarter_turns(frame.rotation)
    return np.ascontiguousarray(np.rot90(image, k=turns)) if turns else image


def iter_sampled_frames(
    path: str | os.PathLike, times: np.ndarray, batch_size: int = 32, duration: float | None = None
) -> Iterator[tuple[np.ndarray, list[np.ndarray]]]:
    """Decode a video once and yield batches (sample indices, RGB frames) covering every sample time.

    The frame of sample i is the last frame whose presentation time (from the stream start) is ≤
    times[i]; samples before the first frame take the first frame, samples after the last frame the
    last one. Raises VideoDecodeError naming the file on a decoding error, when no frame decodes, or
    when the frames end well before the header's `duration` (seconds; a truncated file).
    """
    import av
    from av.video.reformatter import VideoReformatter

    container, stream = _open(path)
    reformatter = VideoReformatter()
    start = float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0
    pending, indices, frames = 0, [], []
    previous = None  # (RGB array or None, the av frame)

    def serve(frame, until: float) -> None:
        """Assign `frame` to every pending sample earlier than `until` seconds."""
        nonlocal pending, previous
        image = None
        while pending < len(times) and times[pending] < until - _TIME_EPSILON:
            image = _upright(frame, reformatter) if image is None else image
            indices.append(pending)
            frames.append(image)
            pending += 1

    try:
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            if previous is not None:
                serve(previous, float(frame.pts * frame.time_base) - start)
            previous = frame
            if len(indices) >= batch_size:
                yield np.asarray(indices), frames
                indices, frames = [], []
        if previous is None:
            raise VideoDecodeError(f"{os.fspath(path)}: no video frame could be decoded (empty or zero-length video).")
        _check_complete(path, previous, start, duration)
        serve(previous, math.inf)
    except av.error.FFmpegError as error:
        raise VideoDecodeError(f"{os.fspath(path)}: decoding failed ({_reason(error)}).") from None
    finally:
        container.close()
    if indices:
        yield np.asarray(indices), frames


def _check_complete(path, last_frame, start: float, duration: float | None) -> None:
    """VideoDecodeError when the last frame ends more than max(1 s, 10 %) before the header's duration."""
    if duration is None:
        return
    end = float((last_frame.pts + (last_frame.duration or 0)) * last_frame.time_base) - start
    if end < duration - max(1.0, 0.1 * duration):
        raise VideoDecodeError(
            f"{os.fspath(path)}: the frames end at {end:.2f} s but the header says {duration:.2f} s (truncated file?)."
        )


class PixelGridEncoder:
    """The built-in, download-free frame encoder: mean RGB of each cell of a `grid` × `grid` grid.

    A frame (H, W, 3) becomes 3·grid² values in [0, 1] (channel-major: all red cells, then green, then
    blue); cell (i, j) averages rows floor(i·H/grid) .. ceil((i+1)·H/grid) - 1 and the same for columns
    (the windows of torch's adaptive average pooling). Deterministic, no weights; numpy only, so it
    stays fast when the cores are shared.
    """

    name = PIXEL_GRID

    def __init__(self, grid: int = 8):
        self.grid = grid
        self.feature_dim = 3 * grid * grid
        self.embedding = f"mean RGB of a {grid}x{grid} grid"

    def _cells(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        index = np.arange(self.grid)
        return (index * size) // self.grid, -((-(index + 1) * size) // self.grid)

    def __call__(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """(n, 3·grid²) float32 of n RGB uint8 frames (frames may differ in size)."""
        rows = []
        for image in frames:
            height, width = image.shape[:2]
            (top, bottom), (left, right) = self._cells(height), self._cells(width)
            integral = np.zeros((height + 1, width + 1, 3))
            integral[1:, 1:] = image.cumsum(0, dtype=np.float64).cumsum(1)
            sums = integral[bottom][:, right] - integral[top][:, right] - integral[bottom][:, left] + integral[top][:, left]
            area = np.outer(bottom - top, right - left)[:, :, None]
            rows.append((sums / area / 255.0).transpose(2, 0, 1).reshape(-1))
        return torch.from_numpy(np.stack(rows).astype(np.float32))


class TransformersFrameEncoder:
    """A transformers vision backbone (CLIP, SigLIP, DINOv2, ViT, ...) as a frame encoder.

    The model class is the one named in the checkpoint's `architectures` when transformers has it (so a
    saved `CLIPVisionModelWithProjection` keeps its projection), else `AutoModel`; the image processor
    is `AutoImageProcessor`. The embedding of a frame is `get_image_features` (models with a text tower,
    e.g. CLIPModel), else `image_embeds`, else `pooler_output`, else the mean of `last_hidden_state`.

    Args:
        backbone: Hub id or local folder.
        device: torch device (default CPU).
        dtype: model dtype (default bfloat16 on CUDA, float32 elsewhere).
    """

    def __init__(self, backbone: str, device: str | torch.device | None = None, dtype: torch.dtype | None = None):
        import transformers
        from transformers import AutoConfig, AutoImageProcessor, AutoModel

        self.name = backbone
        self.device = torch.device(device or "cpu")
        self.dtype = dtype or (torch.bfloat16 if self.device.type == "cuda" else torch.float32)
        try:
            config = AutoConfig.from_pretrained(backbone)
            architecture = next(iter(getattr(config, "architectures", None) or []), None)
            model_class = getattr(transformers, architecture, None) if architecture else None
            self.image_processor = AutoImageProcessor.from_pretrained(backbone)
            self.model = (model_class or AutoModel).from_pretrained(backbone, dtype=self.dtype)
        except (OSError, ValueError, KeyError) as error:
            raise ValueError(
                f"Cannot load the vision backbone {backbone!r} ({_reason(error)}). Give a local folder with the "
                "model and its image processor, or a Hub id that is downloadable or already cached."
            ) from None
        self.model.to(self.device).eval()
        self.embedding = None
        self.feature_dim = None

    @torch.inference_mode()
    def __call__(self, frames: Sequence[np.ndarray]) -> torch.Tensor:
        """(n, D) float32 embeddings of n RGB uint8 frames."""
        pixel_values = self.image_processor(images=list(frames), return_tensors="pt")["pixel_values"]
        pixel_values = pixel_values.to(self.device, self.dtype)
        if hasattr(self.model, "get_image_features"):
            output, self.embedding = self.model.get_image_features(pixel_values=pixel_values), "get_image_features"
        else:
            output = self.model(pixel_values=pixel_values)
        embeddings = _pooled_embedding(output, self)
        self.feature_dim = embeddings.shape[-1]
        return embeddings.float().cpu()


def _pooled_embedding(output, encoder: TransformersFrameEncoder) -> torch.Tensor:
    if isinstance(output, torch.Tensor):
        return output
    for name in ("image_embeds", "pooler_output"):
        value = getattr(output, name, None)
        if value is not None:
            encoder.embedding = encoder.embedding or name
            return value.flatten(1)
    encoder.embedding = "mean of last_hidden_state"
    return output.last_hidden_state.mean(1)


class TransformersWindowEncoder(TransformersFrameEncoder):
    """A transformers video backbone (VideoMAE, TimeSformer, ViViT, ...: a config with `num_frames`)
    embedding each clip window whole: its `num_frames` frames, evenly spaced in the window, go through
    the model together; the window's feature is `pooler_output`, else the mean of `last_hidden_state`."""

    @property
    def frames_per_window(self) -> int:
        return int(self.model.config.num_frames)

    @torch.inference_mode()
    def __call__(self, windows: Sequence[Sequence[np.ndarray]]) -> torch.Tensor:
        """(n, D) float32 embeddings of n windows, each a list of `frames_per_window` RGB uint8 frames."""
        pixel_values = self.image_processor([list(frames) for frames in windows], return_tensors="pt")["pixel_values"]
        output = self.model(pixel_values=pixel_values.to(self.device, self.dtype))
        embeddings = _pooled_embedding(output, self)
        self.feature_dim = embeddings.shape[-1]
        return embeddings.float().cpu()


def load_frame_encoder(backbone: str, device: str | torch.device | None = None, dtype: torch.dtype | None = None):
    """`PixelGridEncoder` for `"pixel-grid"`, a `TransformersWindowEncoder` for a video model (its config
    has `num_frames`), else a `TransformersFrameEncoder` of the Hub id or path."""
    if backbone == PIXEL_GRID:
        return PixelGridEncoder()
    encoder = TransformersFrameEncoder(backbone, device=device, dtype=dtype)
    if hasattr(encoder.model.config, "num_frames"):
        encoder.__class__ = TransformersWindowEncoder  # same loading, window-wise embedding
    return encoder


def extract_video_features(
    path: str | os.PathLike, encoder, recipe: VideoFeatureRecipe, batch_size: int = 32
) -> VideoFeatures:
    """Clip features (T, D) float32 of one video file, T = ceil(duration / recipe.clip_seconds).

    Frames are decoded and embedded `batch_size` at a time; window embeddings are running sums, so
    memory does not grow with the video's length. Raises VideoDecodeError naming the file.
    """
    info = probe_video(path)
    per_window = getattr(encoder, "frames_per_window", None)
    times, clips = sample_times(info.duration, recipe.frames_per_second, recipe.clip_seconds, per_window)
    num_clips = int(clips[-1]) + 1
    sums, counts = None, np.zeros(num_clips)  # numpy: tiny torch ops stall on shared cores
    pending: dict[int, list[np.ndarray]] = {}  # frames of windows not yet complete (video models)
    for indices, frames in iter_sampled_frames(path, times, batch_size, duration=info.duration):
        if per_window:  # a unit is a whole window, embedded once its frames are all decoded
            for index, frame in zip(indices, frames):
                pending.setdefault(int(clips[index]), []).append(frame)
            units = [clip for clip, window in pending.items() if len(window) == per_window]
            if not units:
                continue
            embeddings, unit_clips = encoder([pending.pop(clip) for clip in units]), np.asarray(units)
        else:  # a unit is a frame; frames of a window are averaged
            embeddings, unit_clips = encoder(frames), clips[indices]
        embeddings = embeddings.numpy().astype(np.float64)
        if sums is None:
            sums = np.zeros((num_clips, embeddings.shape[1]))
        np.add.at(sums, unit_clips, embeddings)
        np.add.at(counts, unit_clips, 1.0)
    features = (sums / counts[:, None]).astype(np.float32)
    if not np.isfinite(features).all():
        raise VideoDecodeError(f"{info.path}: the backbone produced non-finite features.")
    return VideoFeatures(features, info.duration, len(times), info)


__all__ = [
    "PIXEL_GRID",
    "PixelGridEncoder",
    "TransformersFrameEncoder",
    "TransformersWindowEncoder",
    "VideoDecodeError",
    "VideoFeatureRecipe",
    "VideoFeatures",
    "VideoInfo",
    "extract_video_features",
    "iter_sampled_frames",
    "load_frame_encoder",
    "probe_video",
    "recorded_recipe",
    "sample_times",
]
