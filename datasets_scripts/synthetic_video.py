"""The synthetic world as real video files, for the demo's raw-video path (no download).

Each video of `generate_synthetic_videos` is drawn as 64 × 64 RGB frames and encoded as H.264 MP4:

- the room is the background colour;
- during an event, the verb is a glyph at the top centre, the agent a glyph at the left, the theme in
  the centre and the goal (recipient, or the object something is put on) at the right, so who does
  what to whom is visible: a mirror-image event ("the man hands a cup to the girl" / "the girl hands a
  cup to the man") swaps two glyphs;
- between events the actors stand idle at the bottom.

Every concept (actor, object, verb) has its own glyph: a 16 × 16 square whose top half and bottom half
take two colours of a 9-colour palette. Glyphs sit on the 8-pixel grid of the built-in `pixel-grid`
frame encoder, which therefore sees them as clean colour cells; mild pixel noise and the codec keep
the features from being exact. The file lasts exactly the video's duration (millisecond time base).
"""

from __future__ import annotations

import itertools
from fractions import Fraction
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .synthetic import ACTORS, KINDS, PLACES, SOLO_ACTOR, SyntheticVideo

FRAME_SIZE = 64  # pixels; the pixel-grid encoder's 8 x 8 cells are 8 pixels wide
GLYPH = 16
PALETTE = np.array(
    [(230, 25, 75), (60, 180, 75), (0, 90, 230), (255, 225, 25), (245, 130, 48), (145, 30, 180), (70, 240, 240), (250, 250, 250), (20, 20, 20)],
    dtype=np.uint8,
)
ROOM_COLOURS = np.array([(120, 100, 80), (90, 120, 100), (100, 100, 130), (130, 130, 110), (110, 90, 110), (90, 110, 130), (125, 115, 95)], np.uint8)
# top-left pixel of each glyph slot
SLOTS = {"verb": (0, 24), "agent": (24, 0), "theme": (24, 24), "goal": (24, 48), "idle0": (48, 8), "idle1": (48, 40)}


def concept_glyphs() -> dict[str, np.ndarray]:
    """A (16, 16, 3) uint8 glyph for every actor, object and verb: two palette colours, top and bottom."""
    nouns = {SOLO_ACTOR, *ACTORS}
    verbs = set()
    for kind in KINDS.values():
        for verb, themes in kind.verbs.items():
            verbs.add(verb.lemma)
            nouns.update(themes)
    codes = itertools.product(range(len(PALETTE)), repeat=2)
    glyphs = {}
    for name, (top, bottom) in zip(sorted(verbs) + sorted(nouns), (code for code in codes if code[0] != code[1])):
        glyph = np.empty((GLYPH, GLYPH, 3), np.uint8)
        glyph[: GLYPH // 2], glyph[GLYPH // 2 :] = PALETTE[top], PALETTE[bottom]
        glyphs[name] = glyph
    return glyphs


def _draw(frame: np.ndarray, glyph: np.ndarray, slot: str) -> None:
    row, column = SLOTS[slot]
    frame[row : row + GLYPH, column : column + GLYPH] = glyph


def draw_scenes(video: SyntheticVideo, glyphs: dict[str, np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The idle frame and one frame per event of a video, (64, 64, 3) uint8 each, before noise."""
    room = np.empty((FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
    room[:] = ROOM_COLOURS[PLACES.index(video.place)]
    idle = room.copy()
    for position, actor in enumerate(video.actors):
        _draw(idle, glyphs[actor], f"idle{position}")
    scenes = []
    for event in video.events:
        frame = room.copy()
        _draw(frame, glyphs[event.verb], "verb")
        for slot in ("agent", "theme", "goal"):
            if getattr(event, slot) is not None:
                _draw(frame, glyphs[getattr(event, slot)], slot)
        scenes.append(frame)
    return idle, scenes


def write_synthetic_video(
    video: SyntheticVideo, path: str | Path, glyphs: dict[str, np.ndarray], fps: float = 4.0, noise: float = 6.0, seed: int = 0
) -> Path:
    """Encode one video: a frame every 1 / fps seconds showing the event on screen at that time."""
    import av

    idle, scenes = draw_scenes(video, glyphs)
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
            frame = av.VideoFrame.from_ndarray(noisy, format="rgb24")
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
    glyphs = concept_glyphs()
    every = [video for split_videos in videos.values() for video in split_videos]
    return [
        write_synthetic_video(video, output / f"{video.video_id}.mp4", glyphs, fps=fps, seed=seed)
        for video in tqdm(every, desc="Rendering videos", unit="video", disable=not show_progress)
    ]


__all__ = ["concept_glyphs", "draw_scenes", "render_synthetic_videos", "write_synthetic_video"]
