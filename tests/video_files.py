"""Small video files made with PyAV for the tests: known colours at known seconds, odd layouts, broken files."""

from __future__ import annotations

import struct
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

RED, GREEN, BLUE = (255, 0, 0), (0, 255, 0), (0, 0, 255)


def write_video(
    path: str | Path,
    colour_at,
    frame_times: list[float],
    size: tuple[int, int] = (32, 24),
    codec: str = "libx264",
    last_frame_seconds: float = 0.1,
    faststart: bool = False,
) -> Path:
    """An H.264 MP4 whose frame shown from `frame_times[i]` seconds is filled by `colour_at(t)`.

    `colour_at(t)` returns an RGB triple or an (H, W, 3) uint8 image; `frame_times` may be irregular
    (a variable frame rate). The stream time base is 1 ms, so times are exact to the millisecond; each
    frame lasts until the next one, the last one `last_frame_seconds`.
    """
    path = Path(path)
    width, height = size
    pts = [int(round(time * 1000)) for time in frame_times]
    durations = dict(zip(pts, np.diff(pts + [pts[-1] + int(round(last_frame_seconds * 1000))]).tolist()))
    options = {"movflags": "faststart"} if faststart else {}  # faststart: the index before the frames
    with av.open(str(path), "w", options=options) as container:
        stream = container.add_stream(codec, rate=25, options={"bf": "0"})  # no B-frames: packets in time order
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)

        def mux(packets) -> None:
            for packet in packets:
                packet.duration = durations[packet.pts]  # true frame lengths, so the header duration is right
                container.mux(packet)

        for time, timestamp in zip(frame_times, pts):
            value = colour_at(time)
            image = np.asarray(value, np.uint8) if np.ndim(value) == 3 else np.full((height, width, 3), value, np.uint8)
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = timestamp, Fraction(1, 1000)
            mux(stream.encode(frame))
        mux(stream.encode())
    return path


def colour_switch(path: str | Path, switch_seconds: float, duration: float, fps: float = 10.0, **options) -> Path:
    """Red before `switch_seconds`, blue from it on, `fps` frames per second for `duration` seconds."""
    times = list(np.arange(int(round(duration * fps))) / fps)
    return write_video(path, lambda t: RED if t < switch_seconds - 1e-9 else BLUE, times, last_frame_seconds=1 / fps, **options)


def rotate_90(source: str | Path, target: str | Path) -> Path:
    """A copy of an MP4 whose track header says "rotate 90° clockwise on display" (as phones write)."""
    data = bytearray(Path(source).read_bytes())
    box = data.index(b"tkhd")
    version = data[box + 4]
    matrix = box + 8 + (32 if version == 1 else 20) + 8 + 8  # times / track id / reserved / duration, reserved, layer..volume
    data[matrix : matrix + 36] = struct.pack(">9i", 0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000)
    Path(target).write_bytes(bytes(data))
    return Path(target)


def audio_only(path: str | Path, seconds: float = 1.0) -> Path:
    """An MP4 (.m4a-like) holding only an AAC audio stream."""
    rate = 16000
    with av.open(str(path), "w", format="mp4") as container:
        stream = container.add_stream("aac", rate=rate)
        samples = (np.sin(np.arange(int(rate * seconds)) / 10) * 0.1).astype(np.float32)[None]
        for start in range(0, samples.shape[1], 1024):
            frame = av.AudioFrame.from_ndarray(samples[:, start : start + 1024], format="fltp", layout="mono")
            frame.sample_rate, frame.pts = rate, start
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return Path(path)


def zero_frames(path: str | Path) -> Path:
    """An MP4 with a video stream and no frame at all."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 32, 24, "yuv420p"
        container.start_encoding()  # writes the header although no packet follows
    return Path(path)


def truncated(source: str | Path, target: str | Path, keep: float = 0.5) -> Path:
    """The first `keep` fraction of a file's bytes (an interrupted download or copy)."""
    data = Path(source).read_bytes()
    Path(target).write_bytes(data[: int(len(data) * keep)])
    return Path(target)


def rotated_by_pyav(path: str | Path, image: np.ndarray, counter_clockwise_degrees: int, frame_times: list[float]) -> Path:
    """An MP4 showing the stored `image` (H, W, 3) at `frame_times`, whose display matrix (written by
    FFmpeg through PyAV) turns it `counter_clockwise_degrees` on display (-90: clockwise, as phones write)."""
    height, width = image.shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"bf": "0"})
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        stream.set_display_rotation(counter_clockwise_degrees)
        for time in frame_times:
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = int(round(time * 1000)), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return Path(path)


def with_display_matrix(source: str | Path, target: str | Path, matrix: tuple[int, ...]) -> Path:
    """A copy of an MP4 whose track header holds `matrix` (9 ints: a b u c d v x y w; a-d and x, y in
    16.16 fixed point, u v w in 2.30), e.g. (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000) for a
    quarter turn clockwise on display, or zeros for a degenerate matrix no player can use."""
    data = bytearray(Path(source).read_bytes())
    box = data.index(b"tkhd")
    version = data[box + 4]
    # after type: version+flags 4, creation/modification/track id/reserved/duration 20 (v0) or 32 (v1),
    # reserved 8, layer/alternate group/volume/reserved 8, then the matrix
    offset = box + 4 + 4 + (32 if version == 1 else 20) + 8 + 8
    data[offset : offset + 36] = struct.pack(">9i", *matrix)
    Path(target).write_bytes(bytes(data))
    return Path(target)


def noise(path: str | Path, duration: float = 4.0, fps: float = 10.0, size: tuple[int, int] = (40, 30), seed: int = 0, **options) -> Path:
    """Random pixels, a new image every frame (large packets, as real footage has), `duration` seconds."""
    rng = np.random.default_rng(seed)
    width, height = size
    times = list(np.arange(int(round(duration * fps))) / fps)
    return write_video(path, lambda t: rng.integers(0, 256, (height, width, 3), dtype=np.uint8), times, size=size,
                       last_frame_seconds=1 / fps, **options)


TIME_CODE_STEPS = (40, 25)  # red levels per second, green levels per frame within the second


def time_coded(path: str | Path, duration: float = 6.0, fps: int = 10, **options) -> Path:
    """Frames that show their own time: red = 40 x whole seconds, green = 25 x the frame within the
    second (`fps` <= 10, `duration` <= 6 s), so `time_code_of` reads back when a decoded frame was shown."""
    times = list(np.arange(int(round(duration * fps))) / fps)
    red, green = TIME_CODE_STEPS
    return write_video(path, lambda t: (red * (round(t * fps) // fps), green * (round(t * fps) % fps), 0), times,
                       last_frame_seconds=1 / fps, **options)


def time_code_of(image: np.ndarray, fps: int = 10) -> float:
    """The time (seconds) a `time_coded` frame (H, W, 3) RGB was made for."""
    red, green = TIME_CODE_STEPS
    return round(image[..., 0].mean() / red) + round(image[..., 1].mean() / green) / fps
