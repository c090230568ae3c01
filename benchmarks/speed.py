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
the baseline's so both see the same machine load.

"query_path" rows (one per geometry, batch 1): `text_encoder_ms` = tokenise + text encoder + φ_s of one
query (`MomentIndex.encode_queries`), `search_ms` = the whole single-video search (`MomentIndex.search`,
top-5 after NMS, of an index holding the one video), measured alternately so both see the same load;
`ratio` = search / encoder.

"corpus" rows: top-10 search (per-video NMS) of one query at a time over 1M and 10M moments (16-clip
geometry, 136 moments per video, 256-d) for each backend: exact float32, exact float16, exact float16
memory-mapped (`MomentIndex.load(..., mmap=True)`, page cache warm), FAISS IVF-Flat, HNSW and IVF-PQ
(codes in memory, float16 embeddings memory-mapped for the exact re-scoring). `recall_at_10`: the
share of exact float32 search's top-10 moments that the backend also returns, on the same queries.
The embeddings are synthetic but clustered like real ones (a video's moments scatter around a video
vector; a query is a noisy copy of one moment), so nearest neighbours exist. 10M moments are only
run where memory allows (float32 exact and IVF-Flat / HNSW are skipped there: 10 GB each).

"bandwidth" row: a plain tensor copy of 512 MB (GB/s of bytes read) and the exact float32 scan's bytes
read per second against it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from tan_baseline import TANStyleBaseline, conv_stack_flops, conv_stack_shape  # noqa: E402

from modeling_fvmr import FVMRConfig, FVMRModel, FVMRProcessor, MomentIndex, build_word_tokenizer  # noqa: E402
from modeling_fvmr.temporal_map import decode_moments, proposal_spans  # noqa: E402

try:
    import faiss  # noqa: F401  (the `ann` extra)

    HAVE_FAISS = True
except ImportError:
    HAVE_FAISS = False

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
CORPUS_TOP_K = 10
CORPUS_DIM = 256  # the FVMRConfig default joint_dim
MEMORY_BUDGET_GB = 8  # default: the corpus rows keep their peak memory under this (shared machine)


@dataclass
class Settings:
    batches: tuple[int, ...]
    fvmr_warmup: int
    fvmr_repeats: int
    baseline_min_repeats: int
    always_measure_batch_1: bool  # batch-1 baseline cells ignore the budget (the headline ratio)
    baseline_max_repeats: int
    corpus_sizes: tuple[int, ...]  # moments
    corpus_queries: int
    query_path_repeats: int


QUICK = Settings(
    batches=(1, 8), fvmr_warmup=2, fvmr_repeats=10, baseline_min_repeats=1, baseline_max_repeats=2,
    always_measure_batch_1=False, corpus_sizes=(50_000,), corpus_queries=20, query_path_repeats=30,
)  # fmt: skip
FULL = Settings(
    batches=(1, 8, 32), fvmr_warmup=3, fvmr_repeats=30, baseline_min_repeats=3, baseline_max_repeats=5,
    always_measure_batch_1=True, corpus_sizes=(1_000_000, 10_000_000), corpus_queries=100, query_path_repeats=100,
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


def query_path_rows(tokenizer, settings: Settings) -> list[dict]:
    """Single-video search against the text encoder alone, per geometry (batch 1, measured alternately)."""
    rows = []
    for preset in GEOMETRIES:
        model, processor, _ = build_models(preset, tokenizer)
        features = torch.randn(2 * model.config.num_clips, model.config.video_feature_dim)
        index = MomentIndex.build(model, processor, [features], [VIDEO_SECONDS], ["video"], show_progress=False)
        encoder, search = [], []
        for repeat in range(settings.query_path_repeats + 3):
            query = [QUERIES[repeat % len(QUERIES)]]
            encoder_ms, search_ms = 1000 * run_seconds(lambda: index.encode_queries(query)), 1000 * run_seconds(lambda: index.search(query[0], top_k=TOP_K))
            if repeat >= 3:  # warm-up
                encoder.append(encoder_ms)
                search.append(search_ms)
        row = {
            "section": "query_path",
            "geometry": f"{preset} ({GEOMETRIES[preset]})",
            "num_proposals": index.num_proposals,
            "text_encoder_ms": statistics.median(encoder),
            "search_ms": statistics.median(search),
            "ratio": statistics.median(search) / statistics.median(encoder),
            "repeats": len(search),
            "load_average": os.getloadavg()[0],
        }
        rows.append(row)
        print(f"{row['geometry']:<40} {row['num_proposals']:>5} {row['text_encoder_ms']:10.2f} {row['search_ms']:10.2f} {row['ratio']:7.2f}   load {row['load_average']:.1f}", flush=True)
    return rows


def clustered_embeddings(num_videos: int, proposals: int, dim: int, seed: int, dtype: torch.dtype) -> Iterator[torch.Tensor]:
    """Synthetic moment embeddings in chunks of up to 4096 videos: moments = video vector + noise."""
    generator = torch.Generator().manual_seed(seed)
    for start in range(0, num_videos, 4096):
        count = min(4096, num_videos - start)
        centres = torch.randn(count, 1, dim, generator=generator)
        yield (centres + 0.7 * torch.randn(count, proposals, dim, generator=generator)).div_(dim**0.5).to(dtype)


def corpus_index(model, processor, num_videos: int, dtype: torch.dtype, seed: int) -> MomentIndex:
    index = MomentIndex(model, processor, dtype=dtype)
    spans = proposal_spans(model.video_encoder.proposals, model.config.num_clips, VIDEO_SECONDS)
    for chunk in clustered_embeddings(num_videos, index.num_proposals, model.config.joint_dim, seed, dtype):
        first = len(index)
        index.add_embeddings(chunk, spans.expand(len(chunk), -1, -1), [f"video{first + i}" for i in range(len(chunk))], [VIDEO_SECONDS] * len(chunk))
    return index


def query_vectors(index: MomentIndex, count: int, seed: int) -> torch.Tensor:
    """Queries near stored moments: a random row plus noise of the same scale."""
    generator = torch.Generator().manual_seed(seed + 1)
    rows = torch.randint(0, len(index.embeddings), (count,), generator=generator)
    vectors = index.embeddings[rows].float()
    return vectors + 0.5 * vectors.norm(dim=1, keepdim=True) * torch.randn(vectors.shape, generator=generator) / vectors.shape[1] ** 0.5


def timed_search(index: MomentIndex, queries: torch.Tensor, **kwargs) -> tuple[float, list[set]]:
    """Median ms of one-query searches (one warm-up) and each query's top-10 moments."""
    index.search_embeddings(queries[:1], top_k=CORPUS_TOP_K, **kwargs)
    times, found = [], []
    for query in queries.split(1):
        start = time.perf_counter()
        moments = index.search_embeddings(query, top_k=CORPUS_TOP_K, **kwargs)[0]
        times.append(1000 * (time.perf_counter() - start))
        found.append({(m.video_id, round(m.start, 4), round(m.end, 4)) for m in moments})
    return statistics.median(times), found


def copy_bandwidth_gb_s(megabytes: int = 512, repeats: int = 5) -> float:
    source = torch.ones(megabytes * 2**20 // 4)
    target = torch.empty_like(source)
    best = min(run_seconds(lambda: target.copy_(source)) for _ in range(repeats))
    return megabytes * 2**20 / best / 1e9


def corpus_rows(
    tokenizer, settings: Settings, work_dir: Path, seed: int, backend_names: list[str] | None = None, ann_settings: dict | None = None,
    memory_budget_gb: float = MEMORY_BUDGET_GB, ivf_pq_search: list[tuple[int, int]] | None = None,
) -> list[dict]:
    model, processor, _ = build_models(CORPUS_PRESET, tokenizer)
    proposals, rows = len(model.video_encoder.proposals), []
    for moments in settings.corpus_sizes:
        num_videos = moments // proposals
        moments = num_videos * proposals
        budget = min(memory_available_bytes() or 0, memory_budget_gb * 2**30)
        if moments * CORPUS_DIM * 2 * 2.2 > budget:  # building float16 rows peaks at about twice their size
            print(f"{moments:>11} skipped: {moments * CORPUS_DIM * 2 / 2**30:.1f} GB of float16 rows exceed the {budget / 2**30:.1f} GB memory budget", flush=True)
            rows.append({"section": "corpus", "backend": "skipped (memory budget)", "moments": moments, "load_average": os.getloadavg()[0]})
            continue
        large = moments * CORPUS_DIM * 4 * 2.2 > budget  # float32 copies (exact float32, ivf-flat, hnsw) would not fit
        half = corpus_index(model, processor, num_videos, torch.float16, seed)
        queries = query_vectors(half, settings.corpus_queries, seed)
        folder = work_dir / f"index-{moments}"
        half.save(folder, overwrite=True)
        backends: list[tuple[str, callable]] = []
        if not large:
            full = MomentIndex(model, processor)
            full.add_embeddings(half.embeddings.float().view(num_videos, proposals, -1), half.spans.view(num_videos, proposals, 2), half.video_ids, half.durations)
            backends.append(("exact float32", lambda: full))
        backends.append(("exact float16", lambda: half))
        backends.append(("exact float16 memory-mapped", lambda: MomentIndex.load(folder, model, processor, mmap=True)))
        ivf = {"nlist": int(4 * moments**0.5), "nprobe": 32, **(ann_settings or {})}
        if HAVE_FAISS:
            if not large:
                backends.append(("ivf-flat", lambda: with_ann(full, "ivf-flat", **ivf)))
                backends.append(("hnsw", lambda: with_ann(full, "hnsw", hnsw_m=32, ef_construction=80, ef_search=128)))
            backends.append(("ivf-pq", lambda: with_ann(MomentIndex.load(folder, model, processor, mmap=True), "ivf-pq", pq_m=32, rerank=200, **ivf)))
        reference = None
        for name, make in backends:
            if backend_names and name not in backend_names:
                continue
            started = time.perf_counter()
            index = make()
            build_s = time.perf_counter() - started
            search_points = [None] + (list(ivf_pq_search or []) if name == "ivf-pq" else [])
            for point in search_points:  # the built settings, then each (nprobe, rerank) on the same index
                if point is not None:
                    index.ann.set_search_parameters(nprobe=point[0], rerank=point[1])
                ms, found = timed_search(index, queries)
                if reference is None:
                    reference, reference_ms, reference_name = found, ms, name
                recall = statistics.fmean(len(a & b) / max(len(b), 1) for a, b in zip(found, reference))
                row = {
                    "section": "corpus", "backend": name, "moments": moments, "videos": num_videos, "dim": CORPUS_DIM,
                    "ms_per_query": ms, "recall_at_10": recall, "recall_reference": reference_name, "build_s": build_s if index.ann is not None else None,
                    "ann_settings": index.ann.settings_dict() if index.ann is not None else None,
                    "ann_memory_mb": index.ann.memory_bytes / 2**20 if index.ann is not None else None,
                    "embeddings_mb": index.embeddings.numel() * index.embeddings.element_size() / 2**20,
                    "queries": len(queries), "load_average": os.getloadavg()[0],
                }  # fmt: skip
                rows.append(row)
                build = f"{row['build_s']:8.0f}" if row["build_s"] is not None else f"{'-':>8}"
                label = name if index.ann is None else f"{name} {search_settings(index.ann.settings)}"
                print(f"{moments:>11} {label:<30} {ms:10.1f} {recall:8.3f} {build} {row['embeddings_mb']:9.0f}   load {row['load_average']:.1f}", flush=True)
            if index.ann is not None:
                index.remove_ann()
            del index
        if not large:
            bandwidth = copy_bandwidth_gb_s()
            scan_gb_s = moments * CORPUS_DIM * 4 / (reference_ms / 1000) / 1e9
            row = {"section": "bandwidth", "moments": moments, "copy_gb_s": bandwidth, "exact_float32_scan_gb_s": scan_gb_s,
                   "scan_over_copy": scan_gb_s / bandwidth, "load_average": os.getloadavg()[0]}  # fmt: skip
            rows.append(row)
            print(f"  memory copy {bandwidth:.1f} GB/s; exact float32 scan reads {scan_gb_s:.1f} GB/s ({scan_gb_s / bandwidth:.0%} of the copy)", flush=True)
        del half
        full = None
    return rows


def search_settings(settings) -> str:
    """The search-time knobs of an ANN's settings, for the printed table."""
    knob = f"efSearch {settings.ef_search}" if settings.kind == "hnsw" else f"nprobe {settings.nprobe}"
    return knob + (f" rerank {settings.rerank}" if settings.rerank else "")


def with_ann(index: MomentIndex, kind: str, **settings) -> MomentIndex:
    index.build_ann(kind, **settings)
    return index


def memory_available_bytes() -> int | None:
    try:
        with open("/proc/meminfo") as handle:
            fields = dict(line.split(":", 1) for line in handle)
        return int(fields["MemAvailable"].split()[0]) * 1024
    except (OSError, KeyError, ValueError):
        return None


def print_latency_row(row: dict) -> None:
    baseline = f"{row['baseline_ms']:12.1f}" if row["baseline_ms"] is not None else f"{'skipped':>12}"
    ratio = f"{row['ratio']:9.0f}x" if row["ratio"] is not None else f"{'-':>10}"
    note = ""
    if row["baseline_ms"] is None and row["baseline_estimated_ms"] is not None:
        note = f"  est. {row['baseline_estimated_ms']:.0f} ms/query, {row['ratio_estimated']:.0f}x"
    print(f"{row['geometry']:<40} {row['num_proposals']:>5} {row['batch']:>5} {row['fvmr_ms']:10.2f} {baseline} {ratio}{note}", flush=True)


def search_point(text: str) -> tuple[int, int]:
    """'NPROBE,RERANK' -> (nprobe, rerank)."""
    try:
        nprobe, rerank = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected NPROBE,RERANK (e.g. 64,1000), got {text!r}") from None
    if nprobe < 1 or rerank < 0:
        raise argparse.ArgumentTypeError(f"nprobe must be positive and rerank at least 0, got {text!r}")
    return nprobe, rerank


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="About a minute: batches 1 and 8 (the baseline only where a cell takes under 6 s, else estimated), a corpus of 50k moments.")
    parser.add_argument("--json", default=None, help="Write the rows as a JSON list here.")
    parser.add_argument(
        "--threads", type=int, default=os.cpu_count(),
        help="torch intra-op threads, fixed for all runs (1 gives steadier figures on a machine shared with other jobs).",
    )  # fmt: skip
    parser.add_argument("--baseline-budget", type=float, default=None, help="Seconds allowed per baseline cell (default 6 quick, 120 full).")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work-dir", type=Path, help="Where the on-disk indexes of the corpus rows go (default: a temporary folder).")
    parser.add_argument("--sections", nargs="+", choices=["latency", "query_path", "corpus"], default=["latency", "query_path", "corpus"])
    parser.add_argument("--corpus-moments", type=int, nargs="+", help="Corpus sizes in moments (default 1M and 10M; 50k with --quick).")
    parser.add_argument("--backends", nargs="+", help="Corpus backends to run (default all), e.g. 'exact float32' ivf-pq.")
    parser.add_argument("--memory-budget-gb", type=float, default=MEMORY_BUDGET_GB,
                        help="Peak memory the corpus rows may use (also capped by the memory available); larger corpora are skipped.")
    parser.add_argument("--nlist", type=int, help="Inverted lists of ivf-flat / ivf-pq (default 4 sqrt(moments)).")
    parser.add_argument("--train-rows", type=int, help="Rows sampled to train ivf-flat / ivf-pq (default 262144).")
    parser.add_argument("--ivf-pq-search", type=search_point, nargs="+", metavar="NPROBE,RERANK",
                        help="Also time the built ivf-pq index at these search settings (recall against speed), e.g. 64,1000 128,4000.")
    args = parser.parse_args(argv)
    settings = QUICK if args.quick else FULL
    if args.corpus_moments:
        settings = dataclasses.replace(settings, corpus_sizes=tuple(args.corpus_moments))
    budget_s = args.baseline_budget if args.baseline_budget is not None else (6.0 if args.quick else 120.0)
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__} on {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads "
          f"(of {os.cpu_count()} cores), load average {os.getloadavg()[0]:.1f}; baseline budget {budget_s:.0f} s per cell")  # fmt: skip
    tokenizer = build_word_tokenizer(QUERIES)
    rows = []
    if "latency" in args.sections:
        print(f"\n{'geometry':<40} {'K':>5} {'batch':>5} {'FVMR ms/q':>10} {'2D-TAN ms/q':>12} {'ratio':>10}")
        reference: dict = {}
        for preset in GEOMETRIES:
            rows += latency_rows(preset, tokenizer, settings, budget_s, reference)
    if "query_path" in args.sections:
        print(f"\nsingle-video query path, batch 1, top-{TOP_K} after NMS")
        print(f"{'geometry':<40} {'K':>5} {'encoder ms':>10} {'search ms':>10} {'ratio':>7}")
        rows += query_path_rows(tokenizer, settings)
    if "corpus" in args.sections:
        print(f"\ncorpus search, top-{CORPUS_TOP_K} with per-video NMS, one query at a time ({settings.corpus_queries} queries); "
              f"recall@10 against exact float32 (float16 at sizes without it); faiss {'available' if HAVE_FAISS else 'NOT installed: ANN rows skipped'}")  # fmt: skip
        print(f"{'moments':>11} {'backend':<30} {'ms/query':>10} {'recall':>8} {'build s':>8} {'emb. MB':>9}")
        with tempfile.TemporaryDirectory(prefix="fvmr-speed-") as temporary:
            ann_settings = {key: value for key, value in (("nlist", args.nlist), ("train_rows", args.train_rows)) if value is not None}
            rows += corpus_rows(tokenizer, settings, args.work_dir or Path(temporary), args.seed, args.backends, ann_settings, args.memory_budget_gb, args.ivf_pq_search)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(rows, handle, indent=1)
        print(f"wrote {len(rows)} rows to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
