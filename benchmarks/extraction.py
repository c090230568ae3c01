"""Throughput of turning video files into clip features: decoding against the frame encoder (issue 13).

    python benchmarks/extraction.py [--quick] [--json extraction.json [--overwrite]] [--threads N]

The script writes its own H.264 MP4s with PyAV (30 frames/s, 320x240 and 640x360; a blocky texture
that pans and changes colour, so the codec has motion and detail to code) and creates its backbones
from configs with random weights (no download), saved to a temporary folder and loaded through
`TransformersFrameEncoder` as a user's checkpoint would be:

    pixel-grid   the built-in download-free encoder (mean RGB of an 8x8 grid, 192-d)
    tiny CLIP    CLIPVisionModelWithProjection, hidden 32, 2 layers, 32 px images, patch 8
    ViT-B/32     CLIPVisionConfig() defaults: hidden 768, 12 layers, 224 px, patch 32 (the compute of
                 openai/clip-vit-base-patch32's image tower), CLIPImageProcessor at 224 px

For each video size and each sampling rate (frames/s of video) it times, over all videos of that size:

    decode    probe_video + iter_sampled_frames over every sample time (demuxing and decoding every
              frame of the file, RGB conversion of the sampled ones)
    backbone  the frame encoder on already-decoded frames, `batch` frames per call (image processor +
              model), timed on the frames sampled at the highest rate and scaled to each rate's frame
              count (the cost per frame does not depend on the rate); "proc %": the image processor's share
    whole     extract_video_features (decode + backbone + averaging over 1 s clips), same batch

Throughput is sampled frames per wall-second and video-seconds per wall-second (x realtime); times
are medians of repeated runs, warm-up runs excluded. torch runs `--threads` intra-op threads; PyAV
decodes with FFmpeg's own threads (thread_type AUTO, as the package does).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import CLIPImageProcessorPil, CLIPVisionConfig, CLIPVisionModelWithProjection

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from modeling_fvmr.video_features import (  # noqa: E402
    PIXEL_GRID,
    TransformersFrameEncoder,
    VideoFeatureRecipe,
    extract_video_features,
    iter_sampled_frames,
    load_frame_encoder,
    probe_video,
    sample_times,
)
from tests.video_files import write_video  # noqa: E402

SIZES = ((320, 240), (640, 360))  # width, height
VIDEO_FPS = 30
CLIP_SECONDS = 1.0
LARGE = "ViT-B/32"
PARTS = ("decode", "backbone", "whole")  # the three timings of a row
BACKBONES = {  # name: vision config (None: built in)
    PIXEL_GRID: None,
    "tiny CLIP": CLIPVisionConfig(
        hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
        image_size=32, patch_size=8, projection_dim=32,
    ),
    LARGE: CLIPVisionConfig(),
}  # fmt: skip


@dataclass
class Settings:
    videos: int  # per size
    seconds: float  # per video
    rates: tuple[float, ...]  # frames sampled per second of video
    batches: tuple[int, ...]
    large_batches: tuple[int, ...]  # batches of the ViT-B/32-sized backbone
    warmup: int
    repeats: int


QUICK = Settings(videos=1, seconds=8, rates=(1, 4), batches=(1, 8, 32), large_batches=(8,), warmup=1, repeats=2)
FULL = Settings(videos=3, seconds=20, rates=(1, 4), batches=(1, 8, 32), large_batches=(1, 8, 32), warmup=1, repeats=3)


def median_seconds(functions: list, warmup: int, repeats: int) -> list[float]:
    """Median wall-clock seconds of each function over `repeats` rounds, after `warmup` unmeasured
    rounds; a round calls every function once, so that all of them see the same machine load."""
    for _ in range(warmup):
        for function in functions:
            function()
    runs: list[list[float]] = [[] for _ in functions]
    for _ in range(repeats):
        for function, seconds in zip(functions, runs):
            start = time.perf_counter()
            function()
            seconds.append(time.perf_counter() - start)
    return [statistics.median(seconds) for seconds in runs]


def write_videos(folder: Path, size: tuple[int, int], settings: Settings, seed: int) -> list[Path]:
    """`settings.videos` MP4s of `settings.seconds` s at VIDEO_FPS: an 8-pixel-block random texture
    panning right and down, its colours drifting, so that successive frames differ as in real video."""
    width, height = size
    rng = np.random.default_rng(seed)
    times = list(np.arange(int(settings.seconds * VIDEO_FPS)) / VIDEO_FPS)
    paths = []
    for index in range(settings.videos):
        texture = rng.integers(0, 256, (height // 4, width // 4, 3), dtype=np.uint8).repeat(8, 0).repeat(8, 1)

        def frame_at(t: float, texture=texture) -> np.ndarray:
            x, y = int(60 * t) % width, int(25 * t) % height
            return texture[y : y + height, x : x + width] + np.uint8(int(40 * t) % 256)

        path = folder / f"video{width}x{height}_{index}.mp4"
        paths.append(write_video(path, frame_at, times, size=size, last_frame_seconds=1 / VIDEO_FPS))
    return paths


def save_backbone(folder: Path, config: CLIPVisionConfig) -> str:
    """A randomly initialised CLIP vision tower and its image processor, saved as a local checkpoint."""
    torch.manual_seed(0)
    CLIPVisionModelWithProjection(config).save_pretrained(folder)
    side = config.image_size
    CLIPImageProcessorPil(size={"shortest_edge": side}, crop_size={"height": side, "width": side}).save_pretrained(folder)
    return str(folder)


def decode(videos: list[Path], rate: float) -> list[np.ndarray]:
    """The RGB frames sampled at `rate` frames/s from every video, in order (what extraction decodes)."""
    frames = []
    for path in videos:
        info = probe_video(path)
        times, _ = sample_times(info.duration, rate, CLIP_SECONDS)
        for _, batch in iter_sampled_frames(path, times, duration=info.duration):
            frames.extend(batch)
    return frames


def encode(encoder, frames: list[np.ndarray], batch: int, processor_only: bool = False) -> None:
    """Embed `frames`, `batch` per call; with `processor_only`, run only the image processor."""
    for start in range(0, len(frames), batch):
        if processor_only:
            encoder.image_processor(images=frames[start : start + batch], return_tensors="pt")
        else:
            encoder(frames[start : start + batch])


def extract(videos: list[Path], encoder, rate: float, batch: int) -> None:
    recipe = VideoFeatureRecipe(encoder.name, frames_per_second=rate, clip_seconds=CLIP_SECONDS)
    for path in videos:
        extract_video_features(path, encoder, recipe, batch)


def size_rows(videos: list[Path], encoders: dict, settings: Settings) -> list[dict]:
    """Rows of one video size, one per backbone, batch and rate: decode / backbone / whole seconds."""
    infos = [probe_video(path) for path in videos]
    size, seconds = f"{infos[0].width}x{infos[0].height}", sum(info.duration for info in infos)
    rates, repeats = settings.rates, settings.repeats
    decoded = {rate: decode(videos, rate) for rate in rates}  # the frames, and the decode warm-up
    decode_s = dict(zip(rates, median_seconds([partial(decode, videos, rate) for rate in rates], 0, repeats)))
    frames = decoded[max(rates)]
    rows = []
    for name, encoder in encoders.items():
        for batch in settings.large_batches if name == LARGE else settings.batches:
            timed = [partial(encode, encoder, frames, batch)]
            if isinstance(encoder, TransformersFrameEncoder):
                timed.append(partial(encode, encoder, frames, batch, processor_only=True))
            backbone_s, *processor_s = median_seconds(timed, settings.warmup, repeats)
            # decoding and this encoder at this batch size are warm by now: no warm-up round
            whole_s = median_seconds([partial(extract, videos, encoder, rate, batch) for rate in rates], 0, repeats)
            for rate, whole in zip(rates, whole_s):
                sampled = len(decoded[rate])
                row = dict(
                    size=size, rate=rate, backbone=name, batch=batch, videos=len(videos), video_seconds=seconds,
                    frames=sampled, decode_s=decode_s[rate], backbone_s=backbone_s * sampled / len(frames), whole_s=whole,
                    processor_share=processor_s[0] / backbone_s if processor_s else None,
                )  # fmt: skip
                for part in PARTS:
                    row[f"{part}_frames_per_s"] = sampled / row[f"{part}_s"]
                    row[f"{part}_realtime"] = seconds / row[f"{part}_s"]
                rows.append(row)
                print_row(row)
    return rows


def print_row(row: dict) -> None:
    share = row["processor_share"]
    processor = f"{100 * share:5.0f}%" if share is not None else f"{'-':>6}"
    cells = "".join(f" {row[f'{part}_frames_per_s']:9.1f} {row[f'{part}_realtime']:7.1f}x" for part in PARTS)
    print(f"{row['size']:>8} {row['rate']:>4g} {row['backbone']:<11} {row['batch']:>5} {row['frames']:>6}{cells} {processor}", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true",
        help="About a minute on 2 idle cores: one 8 s video per size (else 3 of 20 s), ViT-B/32 at batch 8 only, 2 repeats (else 3).",
    )  # fmt: skip
    parser.add_argument("--json", default=None, help="Write the environment and the rows as JSON here.")
    parser.add_argument("--overwrite", action="store_true", help="Replace an existing --json file.")
    parser.add_argument("--threads", type=int, default=2, help="torch intra-op threads, fixed for all runs.")
    args = parser.parse_args(argv)
    if args.json and os.path.exists(args.json) and not args.overwrite:
        parser.error(f"{args.json} already exists: choose another path or pass --overwrite.")
    settings = QUICK if args.quick else FULL
    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()  # the table only: no torchvision fallback notice, no save/load bars
    transformers.logging.disable_progress_bar()
    load_start = os.getloadavg()
    print(f"torch {torch.__version__} on {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads "
          f"(of {os.cpu_count()} cores), load average {load_start[0]:.2f} at the start")  # fmt: skip
    rows = []
    with tempfile.TemporaryDirectory(prefix="fvmr-extraction-") as temporary:
        folder = Path(temporary)
        encoders = {
            name: TransformersFrameEncoder(save_backbone(folder / name.replace("/", "-"), config)) if config else load_frame_encoder(name)
            for name, config in BACKBONES.items()
        }  # fmt: skip
        print(f"{settings.videos} video(s) of {settings.seconds:g} s at {VIDEO_FPS} frames/s per size; rate = frames sampled per "
              "second; columns: sampled frames per wall-second and video-seconds per wall-second (x realtime)")  # fmt: skip
        print(f"\n{'size':>8} {'rate':>4} {'backbone':<11} {'batch':>5} {'frames':>6}"
              + "".join(f" {part + ' fr/s':>9} {'x rt':>8}" for part in PARTS) + f" {'proc %':>6}")  # fmt: skip
        for seed, size in enumerate(SIZES):
            rows += size_rows(write_videos(folder, size, settings, seed), encoders, settings)
    load_end = os.getloadavg()
    print(f"\nload average at the end: {load_end[0]:.2f}")
    if args.json:
        environment = {"torch": torch.__version__, "threads": args.threads, "cores": os.cpu_count(),
                       "load_average_start": load_start[0], "load_average_end": load_end[0], "settings": asdict(settings)}  # fmt: skip
        staging = f"{args.json}.partial"
        with open(staging, "w", encoding="utf-8") as handle:
            json.dump({"environment": environment, "rows": rows}, handle, indent=1)
        os.replace(staging, args.json)
        print(f"wrote {len(rows)} rows to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
