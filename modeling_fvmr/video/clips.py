"""Cut a retrieved moment out of its video file (`fvmr search ... --cut DIR`).

Stream copy when a keyframe sits at the moment's start (no quality loss, no decoding); otherwise the
frames of [start, end) are decoded and re-encoded as H.264 MP4, so the clip starts exactly where the
moment does. Only the video stream is kept. The clip is written to a hidden sibling and renamed.
"""

from __future__ import annotations

import os
from pathlib import Path

import av

from ..video_features import VideoDecodeError, _open, probe_video


def clip_name(video_id: str, start: float, end: float, suffix: str = ".mp4") -> str:
    """`<video_id>_<start>-<end>s<suffix>` with seconds to two decimals, e.g. `vid7_3.50-9.25s.mp4`."""
    return f"{video_id}_{start:.2f}-{end:.2f}s{suffix}"


def write_clip(
    source: str | os.PathLike, start: float, end: float, output_dir: str | os.PathLike, video_id: str | None = None,
    overwrite: bool = False,
) -> tuple[Path, str]:
    """Write the [start, end) seconds of `source` into `output_dir`; returns (path, "copy" | "re-encode").

    Raises ValueError for an empty span or an existing clip (without `overwrite`), VideoDecodeError for
    an unreadable source.
    """
    if not end > start >= 0:
        raise ValueError(f"A clip needs 0 <= start < end seconds, got [{start}, {end}].")
    source = Path(source)
    video_id = video_id or source.stem
    rotation = probe_video(source).rotation  # a re-encoded clip keeps the display matrix
    container, stream = _open(source)
    try:
        copy = _keyframe_at(container, stream, start)
        suffix = source.suffix if copy else ".mp4"
        target = Path(output_dir) / clip_name(video_id, start, end, suffix)
        if target.exists() and not overwrite:
            raise ValueError(f"{target} already exists: pass --overwrite to replace it.")
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.tmp{suffix}")
        try:
            if copy:
                _copy_packets(container, stream, start, end, temporary)
            else:
                _reencode(container, stream, start, end, temporary, rotation)
        except av.error.FFmpegError as error:
            temporary.unlink(missing_ok=True)
            raise VideoDecodeError(f"{source}: cutting [{start:.2f}, {end:.2f}] s failed ({error}).") from None
        os.replace(temporary, target)
        return target, "copy" if copy else "re-encode"
    finally:
        container.close()


def _stream_start(stream) -> float:
    return float(stream.start_time * stream.time_base) if stream.start_time is not None else 0.0


def _seek(container, stream, seconds: float) -> None:
    """Position the demuxer on the last keyframe at or before `seconds` (from the stream start)."""
    container.seek(int((seconds + _stream_start(stream)) / stream.time_base), stream=stream, backward=True, any_frame=False)


def _keyframe_at(container, stream, start: float) -> bool:
    """True when the keyframe found by seeking to `start` is within half a frame of it."""
    _seek(container, stream, start)
    rate = float(stream.average_rate or 25)
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        return packet.is_keyframe and abs(float(packet.pts * packet.time_base) - _stream_start(stream) - start) <= 0.5 / rate
    return False


def _copy_packets(container, stream, start: float, end: float, target: Path) -> None:
    _seek(container, stream, start)
    offset = None
    with av.open(str(target), "w") as output:
        copied = output.add_stream_from_template(stream)
        for packet in container.demux(stream):
            if packet.pts is None or packet.dts is None:
                continue
            seconds = float(packet.pts * packet.time_base) - _stream_start(stream)
            if seconds >= end:
                break
            offset = packet.dts if offset is None else offset
            packet.pts, packet.dts = packet.pts - offset, packet.dts - offset
            packet.stream = copied
            output.mux(packet)


def _reencode(container, stream, start: float, end: float, target: Path, rotation: int = 0) -> None:
    from av.video.reformatter import VideoReformatter

    _seek(container, stream, start)
    to_yuv = VideoReformatter()
    rate = stream.average_rate or 25
    with av.open(str(target), "w") as output:
        encoded = output.add_stream("libx264", rate=rate)
        encoded.width, encoded.height, encoded.pix_fmt = stream.codec_context.width, stream.codec_context.height, "yuv420p"
        if rotation:
            encoded.set_display_rotation(rotation)
        first = None
        for frame in container.decode(stream):
            if frame.pts is None:
                continue
            seconds = float(frame.pts * frame.time_base) - _stream_start(stream)
            if seconds < start - 1e-6:
                continue
            if seconds >= end:
                break
            first = frame.pts if first is None else first
            frame.pts = frame.pts - first
            for packet in encoded.encode(to_yuv.reformat(frame, format="yuv420p")):
                output.mux(packet)
        for packet in encoded.encode():
            output.mux(packet)


__all__ = ["clip_name", "write_clip"]
