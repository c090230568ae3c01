"""The synthetic world as real video files, for the demo's raw-video path (no download).

Each video of `generate_synthetic_videos` is drawn as 64 × 64 RGB frames and encoded as H.264 MP4.
A frame is a board of 8 × 8 tiles on black, one tile per concept (every room, verb, object and actor of
the world has its own tile, in a fixed order: a legend). The room's tile glows yellow all along.
During an event, the tiles of its participants light up in the colour of their role: the verb white,
the agent red, the theme green, the goal (recipient, or the object something is put on) blue. So who
does what to whom is visible: a mirror-image event ("the man hands a cup to the girl" / "the girl
hands a cup to the man") swaps the red and blue tiles. Between events the actors' tiles glow grey.
(A black board keeps the frames of different events far apart after the model's L2 normalisation;
a coloured background shared by every frame made them 0.85-similar and training crawled.)

The tiles sit on the 8-pixel grid of the built-in `pixel-grid` frame encoder, which sees each tile as
one cell; mild pixel noise and the codec keep the features from being exact. The file lasts exactly
the video's duration (millisecond time base).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .synthetic import ACTORS, KINDS, PLACES, SOLO_ACTOR, SyntheticVideo

FRAME_SIZE = 64  # pixels: 8 x 8 tiles of 8 pixels, the cells of the pixel-grid encoder
TILE = 8
ROLE_COLOURS = {
    "verb": (250, 250, 250),
    "agent": (230, 30, 40),
    "theme": (40, 200, 60),
    "goal": (40, 80, 240),
    "idle": (120, 120, 120),
    "room": (200, 180, 40),
}


def concept_tiles() -> dict[str, tuple[int, int]]:
    """The (row, column) tile of every room, verb, object and actor: rooms, verbs, then nouns, sorted."""
    nouns = {SOLO_ACTOR, *ACTORS}
    verbs = set()
    for kind in KINDS.values():
        for verb, themes in kind.verbs.items():
            verbs.add(verb.lemma)
            nouns.update(themes)
    names = list(PLACES) + sorted(verbs) + sorted(nouns)
    side = FRAME_SIZE // TILE
    if len(names) > side * side:
        raise ValueError(f"{len(names)} concepts do not fit on a {side} x {side} board.")
    return {name: divmod(position, side) for position, name in enumerate(names)}


def _light(frame: np.ndarray, tile: tuple[int, int], colour: tuple[int, int, int]) -> None:
    row, column = tile[0] * TILE, tile[1] * TILE
    frame[row + 1 : row + TILE - 1, column + 1 : column + TILE - 1] = colour  # a 1-pixel margin keeps tiles apart


def draw_scenes(video: SyntheticVideo, tiles: dict[str, tuple[int, int]]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The idle frame and one frame per event of a video, (64, 64, 3) uint8 each, before noise."""
    room = np.zeros((FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
    _light(room, tiles[video.place], ROLE_COLOURS["room"])
    idle = room.copy()
    for actor in video.actors:
        _light(idle, tiles[actor], ROLE_COLOURS["idle"])
    scenes = []
    for event in video.events:
        frame = room.copy()
        _light(frame, tiles[event.verb], ROLE_COLOURS["verb"])
        for role in ("agent", "theme", "goal"):
            if getattr(event, role) is not None:
                _light(frame, tiles[getattr(event, role)], ROLE_COLOURS[role])
        scenes.append(frame)
    return idle, scenes


def write_synthetic_video(
    video: SyntheticVideo, path: str | Path, tiles: dict[str, tuple[int, int]], fps: float = 4.0, noise: float = 6.0, seed: int = 0
) -> Path:
    """Encode one video: a frame every 1 / fps seconds showing the event on screen at that time."""
    import av
    from av.video.reformatter import VideoReformatter

    idle, scenes = draw_scenes(video, tiles)
    to_yuv = VideoReformatter()  # one colour-conversion context for the whole video
    rng = np.random.default_rng([seed, int(video.video_id.rsplit("-", 1)[-1])])
    times_ms = np.arange(0, int(round(video.duration * 1000)), int(round(1000 / fps)))
    ends_ms = np.append(times_ms[1:], int(round(video.duration * 1000)))
    path = Path(path)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=int(round(fps)), options={"bf": "0", "preset": "ultrafast", "crf": "18"})
        stream.width = stream.height = FRAME_SIZE
        stream.pix_fmt = "yuv420p"
        stream.time_base = stream.codec_context.time_base = Fraction(1, 1000)
        durations = dict(zip(times_ms.tolist(), (ends_ms - times_ms).tolist()))

        def mux(packets) -> None:
            for packet in packets:
                packet.duration = durations[packet.pts]  # the file ends exactly at the video's duration
                container.mux(packet)

        for time_ms in times_ms.tolist():
            seconds = time_ms / 1000
            shown = next((scene for scene, (start, end) in zip(scenes, video.spans) if start <= seconds < end), idle)
            noisy = np.clip(shown + rng.normal(0.0, noise, shown.shape), 0, 255).astype(np.uint8)
            frame = to_yuv.reformat(av.VideoFrame.from_ndarray(noisy, format="rgb24"), format="yuv420p")
            frame.pts, frame.time_base = time_ms, Fraction(1, 1000)
            mux(stream.encode(frame))
        mux(stream.encode())
    return path


def render_synthetic_videos(
    videos: dict[str, list[SyntheticVideo]], output_dir: str | Path, fps: float = 4.0, seed: int = 0, show_progress: bool = True
) -> list[Path]:
    """Write every video of every split as `output_dir/<video_id>.mp4`; returns the paths."""
    output = Path(output_dir)
    output.mkdir(parents=True, exist_ok=True)
    tiles = concept_tiles()
    every = [video for split_videos in videos.values() for video in split_videos]
    return [
        write_synthetic_video(video, output / f"{video.video_id}.mp4", tiles, fps=fps, seed=seed)
        for video in tqdm(every, desc="Rendering videos", unit="video", disable=not show_progress)
    ]


__all__ = ["ROLE_COLOURS", "concept_tiles", "draw_scenes", "render_synthetic_videos", "write_synthetic_video"]
