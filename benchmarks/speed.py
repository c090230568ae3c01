"""Per-query latency of FVMR's test-time path against a 2D-TAN-style cross-modal interaction baseline.

    python benchmarks/speed.py [--quick] [--json speed.json] [--threads N] [--baseline-budget SECONDS]

Both run side by side in one process, on the same clip features and proposals, for the three
geometries of the 2D-TAN lineage (16 clips dense / 64 clips [15, 8, 8] / 128 clips [15, 8, 8, 8]),
with the FVMR config defaults (hidden 256, common space 256, 300-d words, BiLSTM 2 x 256) and each
preset's clip feature size. A query's time covers everything after the video was encoded once:

    FVMR      tokenise + text encoder + φ_s + scores against the stored moment embeddings + NMS
              (`MomentIndex.search` over one video)
    baseline  tokenise + the same text encoder + fusion with the 2D moment map + conv stack
              (512 channels, 8 x kernel 5 or 4 x kernel 9) + NMS   (`tan_baseline.py`)

Latency is the median over repeated runs (warm-up runs excluded) divided by the batch size. The
baseline costs seconds per query on a CPU: the full run always measures batch 1 (the ratio per
geometry), and any other cell whose runs would exceed `--baseline-budget` seconds is skipped and
reported with its estimate (batch-1 latency × batch; the conv stack is compute
bound, so per-query time does not shrink with the batch; for a geometry not yet measured the estimate
scales the 16-clip batch-1 latency by the conv stack's FLOPs). FVMR's runs are split before and after
the baseline's so both see the same machine load. Corpus search: one query against 1k / 10k /
100k videos' worth of random moment embeddings (16-clip geometry, 136 moments per video); a corpus
that does not fit in memory is searched as consecutive 10k-video slices.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from tan_baseline import TANStyleBaseline, conv_stack_flops, conv_stack_shape  # noqa: E402

from modeling_fvmr import FVMRConfig, FVMRModel, FVMRProcessor, MomentIndex, build_word_tokenizer  # noqa: E402
from modeling_fvmr.temporal_map import decode_moments, proposal_spans  # noqa: E402

QUERIES = [
    "a person opens the door",
    "the person sits down on a chair",
    "a man is eating a sandwich in the kitchen",
    "someone takes a book from the shelf",
    "a woman closes the refrigerator",
    "the person puts a cup on the table",
    "a person turns on the light",
    "person laughing at the television",
    "a man walks through the doorway holding a bag",
    "the person pours water into a glass",
    "someone is sneezing into a towel",
    "a person throws a pillow onto the bed",
    "the woman washes her hands in the sink",
    "a person is drinking from a bottle",
    "person starts cooking on the stove",
    "a man puts on his shoes",
    "she looks out of the window",
    "a person is tidying up the closet",
    "the man sits on the sofa and reads a book",
    "a person grabs a broom and sweeps the floor",
    "the person takes off a jacket",
    "a woman is talking on the phone",
    "someone opens a laptop and starts typing",
    "a person holds a box and then puts it down",
]
GEOMETRIES = {
    "charades-sta": "16 clips dense",
    "activitynet-captions": "64 clips [15,8,8]",
    "tacos": "128 clips [15,8,8,8]",
}
CORPUS_PRESET = "charades-sta"
TOP_K = 5
VIDEO_SECONDS = 30.0
SLICE_VIDEOS = 10_000  # corpus slice searched at a time when the whole corpus does not fit in memory


@dataclass
class Settings:
    batches: tuple[int, ...]
    fvmr_warmup: int
    fvmr_repeats: int
    baseline_min_repeats: int
    always_measure_batch_1: bool  # batch-1 baseline cells ignore the budget (the headline ratio)
    baseline_max_repeats: int
    corpus_sizes: tuple[int, ...]
    corpus_repeats: int


QUICK = Settings(
    batches=(1, 8), fvmr_warmup=2, fvmr_repeats=10, baseline_min_repeats=1, baseline_max_repeats=2,
    always_measure_batch_1=False, corpus_sizes=(1_000, 10_000), corpus_repeats=3,
)  # fmt: skip
FULL = Settings(
    batches=(1, 8, 32), fvmr_warmup=3, fvmr_repeats=30, baseline_min_repeats=3, baseline_max_repeats=5,
    always_measure_batch_1=True, corpus_sizes=(1_000, 10_000, 100_000), corpus_repeats=5,
)  # fmt: skip


def run_seconds(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def samples_ms(function, warmup: int, repeats: int) -> list[float]:
    for _ in range(warmup):
        function()
    return [1000 * run_seconds(function) for _ in range(repeats)]


def median_ms(function, warmup: int, repeats: int) -> float:
    return statistics.median(samples_ms(function, warmup, repeats))


def baseline_samples_ms(function, estimate_s: float | None, settings: Settings, budget_s: float) -> list[float]:
    """Run times (ms) of `function` after one warm-up run, as many as fit in `budget_s` within the
    settings' bounds; none when even the minimum would not fit (`estimate_s` = one run, None = run)."""
    if estimate_s is not None and estimate_s * (1 + settings.baseline_min_repeats) > budget_s:
        return []
    warmup_s = run_seconds(function)
    repeats = int(min(max((budget_s - warmup_s) // warmup_s, settings.baseline_min_repeats), settings.baseline_max_repeats))
    return [1000 * run_seconds(function) for _ in range(repeats)]


def batch_of(size: int) -> list[str]:
    return [QUERIES[i % len(QUERIES)] for i in range(size)]


def build_models(preset: str, tokenizer) -> tuple[FVMRModel, FVMRProcessor, TANStyleBaseline]:
    config = FVMRConfig.from_preset(preset, vocab_size=len(tokenizer))
    model = FVMRModel(config).eval()
    baseline = TANStyleBaseline(config, model.text_encoder).eval()
    return model, FVMRProcessor.from_config(tokenizer, config), baseline


def latency_rows(preset: str, tokenizer, settings: Settings, budget_s: float, reference: dict) -> list[dict]:
    """Rows of one geometry. `reference` holds the 16-clip batch-1 baseline seconds per query
    (key "seconds") once measured, to estimate cells too slow to run."""
    model, processor, baseline = build_models(preset, tokenizer)
    config = model.config
    features = torch.randn(2 * config.num_clips, config.video_feature_dim)  # the video, encoded once (not timed)
    index = MomentIndex.build(model, processor, [features], [VIDEO_SECONDS], ["video"], show_progress=False)
    with torch.no_grad():
        moment_map = baseline.encode_video(features[None], torch.tensor([len(features)]))

    def fvmr(queries: list[str]) -> None:
        index.search(queries, top_k=TOP_K)

    @torch.no_grad()
    def cross_modal(queries: list[str]) -> None:
        inputs = processor(queries)
        for scores in baseline(moment_map, inputs["input_ids"], inputs["attention_mask"]):
            decode_moments(scores, index.spans, TOP_K, config.nms_threshold)

    layers, kernel = conv_stack_shape(config.num_clips)
    rows, per_query_s = [], None
    if "seconds" in reference:
        per_query_s = reference["seconds"] * conv_stack_flops(config.num_clips) / conv_stack_flops(16)
    for batch in settings.batches:
        queries = batch_of(batch)
        half = settings.fvmr_repeats // 2
        fvmr_samples = samples_ms(lambda: fvmr(queries), settings.fvmr_warmup, half)
        estimate_s = None if per_query_s is None else per_query_s * batch
        must_run = batch == 1 and settings.always_measure_batch_1
        baseline_samples = baseline_samples_ms(lambda: cross_modal(queries), None if must_run else estimate_s, settings, budget_s)
        fvmr_samples += samples_ms(lambda: fvmr(queries), 1, settings.fvmr_repeats - half)
        fvmr_ms = statistics.median(fvmr_samples)
        baseline_ms = statistics.median(baseline_samples) if baseline_samples else None
        if batch == 1 and baseline_ms is not None:
            per_query_s = baseline_ms / 1000
            if config.num_clips == 16:
                reference["seconds"] = per_query_s
        row = {
            "section": "latency",
            "geometry": f"{preset} ({GEOMETRIES[preset]})",
            "num_clips": config.num_clips,
            "num_proposals": index.num_proposals,
            "video_feature_dim": config.video_feature_dim,
            "baseline_conv": f"{layers} x k{kernel}, 512 ch",
            "batch": batch,
            "fvmr_ms": fvmr_ms / batch,
            "baseline_ms": None if baseline_ms is None else baseline_ms / batch,
            "ratio": None if baseline_ms is None else baseline_ms / fvmr_ms,
            "fvmr_batch_ms": fvmr_ms,
            "baseline_batch_ms": baseline_ms,
            "fvmr_min_ms": min(fvmr_samples) / batch,
            "baseline_min_ms": min(baseline_samples) / batch if baseline_samples else None,
            "fvmr_repeats": len(fvmr_samples),
            "baseline_repeats": len(baseline_samples),
            "baseline_estimated_ms": None if estimate_s is None else 1000 * estimate_s / batch,
            "ratio_estimated": None if estimate_s is None else 1000 * estimate_s / fvmr_ms,
        }
        rows.append(row)
        print_latency_row(row)
    return rows


def memory_available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as handle:
            fields = dict(line.split(":", 1) for line in handle)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def random_index(model: FVMRModel, processor: FVMRProcessor, num_videos: int) -> MomentIndex:
    """Index of `num_videos` videos with random moment embeddings (timing only)."""
    index = MomentIndex(model, processor)
    embeddings = torch.randn(num_videos, index.num_proposals, model.config.joint_dim)
    durations = torch.full((num_videos,), VIDEO_SECONDS)
    spans = proposal_spans(model.video_encoder.proposals, model.config.num_clips, durations)
    index.add_embeddings(embeddings, spans, [f"video{i}" for i in range(num_videos)], durations.tolist())
    return index


def corpus_rows(tokenizer, settings: Settings, baseline_video_ms: float | None) -> list[dict]:
    model, processor, _ = build_models(CORPUS_PRESET, tokenizer)
    proposals, dim = len(model.video_encoder.proposals), model.config.joint_dim
    rows, slice_index = [], None
    for num_videos in settings.corpus_sizes:
        needed = num_videos * proposals * (dim + 2) * 4  # float32 embeddings + spans
        available = memory_available_bytes()
        in_memory = needed * 2.5 < (available if available is not None else 4 * 2**30)
        if in_memory:
            index, passes = random_index(model, processor, num_videos), 1
            slice_index = index if num_videos == SLICE_VIDEOS else slice_index
        else:
            slice_index = slice_index or random_index(model, processor, SLICE_VIDEOS)
            index, passes = slice_index, num_videos // SLICE_VIDEOS
        for batch in (1, max(settings.batches)):
            queries = batch_of(batch)
            search_ms = median_ms(
                lambda: [index.search(queries, top_k=TOP_K) for _ in range(passes)], 1, settings.corpus_repeats
            )
            estimated = None if baseline_video_ms is None else baseline_video_ms * num_videos
            row = {
                "section": "corpus",
                "geometry": f"{CORPUS_PRESET} ({GEOMETRIES[CORPUS_PRESET]})",
                "videos": num_videos,
                "moments": num_videos * proposals,
                "memory_mb": needed / 2**20,
                "method": "in memory" if in_memory else f"{passes} slices of {SLICE_VIDEOS} videos",
                "batch": batch,
                "fvmr_ms": search_ms / batch,
                "baseline_ms": None,
                "ratio": None,
                "baseline_estimated_ms": estimated,
                "ratio_estimated": None if estimated is None else estimated / (search_ms / batch),
            }
            rows.append(row)
            print_corpus_row(row)
        del index
    return rows


def print_latency_row(row: dict) -> None:
    baseline = f"{row['baseline_ms']:12.1f}" if row["baseline_ms"] is not None else f"{'skipped':>12}"
    ratio = f"{row['ratio']:9.0f}x" if row["ratio"] is not None else f"{'-':>10}"
    note = ""
    if row["baseline_ms"] is None and row["baseline_estimated_ms"] is not None:
        note = f"  est. {row['baseline_estimated_ms']:.0f} ms/query, {row['ratio_estimated']:.0f}x"
    print(f"{row['geometry']:<40} {row['num_proposals']:>5} {row['batch']:>5} {row['fvmr_ms']:10.2f} {baseline} {ratio}{note}", flush=True)


def print_corpus_row(row: dict) -> None:
    estimate = f"{row['baseline_estimated_ms'] / 1000:12.0f} s" if row["baseline_estimated_ms"] is not None else f"{'-':>14}"
    print(
        f"{row['videos']:>8} {row['moments']:>11} {row['memory_mb']:>10.0f} {row['batch']:>5} "
        f"{row['fvmr_ms']:10.1f} {estimate}  {row['method']}",
        flush=True,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="About a minute: batches 1 and 8, corpora of 1k and 10k videos.")
    parser.add_argument("--json", default=None, help="Write the rows as a JSON list here.")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(),
        help="torch intra-op threads, fixed for all runs (1 gives steadier figures on a machine shared with other jobs).",
    )  # fmt: skip
    parser.add_argument("--baseline-budget", type=float, default=None, help="Seconds allowed per baseline cell (default 25 quick, 120 full).")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    budget_s = args.baseline_budget if args.baseline_budget is not None else (25.0 if args.quick else 120.0)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__} on {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads "
          f"(of {os.cpu_count()} cores), load average {os.getloadavg()[0]:.1f}; baseline budget {budget_s:.0f} s per cell")  # fmt: skip
    tokenizer = build_word_tokenizer(QUERIES)
    rows = []
    print(f"\n{'geometry':<40} {'K':>5} {'batch':>5} {'FVMR ms/q':>10} {'2D-TAN ms/q':>12} {'ratio':>10}")
    reference: dict = {}
    for preset in GEOMETRIES:
        rows += latency_rows(preset, tokenizer, settings, budget_s, reference)
    corpus_video_ms = next(
        (row["baseline_ms"] for row in rows if row["num_clips"] == 16 and row["batch"] == 1 and row["baseline_ms"]), None
    )
    print(f"\ncorpus search, {GEOMETRIES[CORPUS_PRESET]}, top-{TOP_K} with per-video NMS; "
          "2D-TAN estimate = its 16-clip batch-1 latency x videos")  # fmt: skip
    print(f"{'videos':>8} {'moments':>11} {'memory MB':>10} {'batch':>5} {'FVMR ms/q':>10} {'2D-TAN est.':>14}  method")
    rows += corpus_rows(tokenizer, settings, corpus_video_ms)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)
        print(f"wrote {len(rows)} rows to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
