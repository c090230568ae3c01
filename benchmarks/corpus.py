"""Corpus search: does the cross-video term make scores comparable across videos?

    python benchmarks/corpus.py [--quick] [--json corpus.json] [--workers 2] [--work-dir DIR]
                                [--data ../shared/data] [--seeds 3] [--steps 1500]
                                [--grid 0.5,1 2,1 0.5,0.1 2,0.1 0.5,0.1,16384 ...] [--datasets synthetic charades-sta]

The full FVMR model (FVMRConfig defaults: teacher, the paper's L_dis with λ = 1, T = 1) trained with and
without the cross-video term L_cv (`cross_video_weight` μ > 0, `cross_video_temperature` τ: the other
videos' moments in the batch as negatives, see `cross_video_loss`; with `cross_video_memory_size` M > 0
also the last M moments of earlier batches' videos, see `CrossVideoMemory`), with the same
budget, seeds and model sizes, on:

    synthetic     the synthetic world (seed 0, gold trees), 1000 / 150 / 150 videos x 2 queries
    charades-sta  the real Charades-STA annotations with SIMULATED clip features (made from each moment's
                  words: they say nothing about accuracy on real video) and spaCy trees; validation =
                  official train videos whose id hashes to 0 mod 10, test = the official test split.

Selection on validation only: each run keeps the epoch with the best validation within-video R@1,
IoU=0.5 (the trainer's rule); (μ, τ, M) is chosen per dataset over `--grid` by the validation split's
corpus VCMR R@1, IoU=0.5 (seed 0), then trained with the other seeds. A grid point is (μ, τ, M). Every run then reads the test
split once: within-video R@1 (`evaluate_model`: each query ranks the proposals of its own video) and
corpus-level VCMR R@k, IoU=m and VR R@k (`evaluate_corpus`: each query searches every test video at
once; a hit needs the right video). Tables: the grid's validation numbers; test mean ± sample std over
seeds for fvmr and the chosen (μ, τ, M), and the ratio of corpus R@1, IoU=0.5 to within-video R@1,
IoU=0.5 (the issue's goal: at least 0.5).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import asdict, dataclass, replace
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing

import torch  # noqa: E402

from accuracy import build_charades, build_synthetic  # noqa: E402  (the same datasets as benchmarks/accuracy.py)
from datasets_scripts.simulation import content_words  # noqa: E402
from modeling_fvmr.evaluation import corpus_metric_name, evaluate_model_on_dataset, metric_name, video_metric_name  # noqa: E402

MODEL_SIZES = {  # as benchmarks/accuracy.py and the demo
    "hidden_size": 128,
    "lstm_hidden_size": 128,
    "word_embedding_dim": 64,
    "semantic_dim": 128,
    "joint_dim": 128,
    "fusion_hidden_size": 128,
}
WITHIN = [metric_name(1, 0.5), metric_name(1, 0.7), metric_name(5, 0.5)]
CORPUS = [corpus_metric_name(n, 0.5) for n in (1, 5, 10, 100)] + [corpus_metric_name(1, 0.7)]
VIDEO = [video_metric_name(n) for n in (1, 5, 10)]
SELECTION_METRIC = metric_name(1, 0.5)  # the best epoch of a run, by validation within-video R@1
CHOICE_METRIC = corpus_metric_name(1, 0.5)  # (μ, τ, M), by validation corpus VCMR R@1, IoU=0.5
RESULT_NAME = "corpus_result.json"  # each finished run's validation and test metrics, in its folder
GRID = ((0.5, 1.0, 0), (2.0, 1.0, 0), (0.5, 0.1, 0), (2.0, 0.1, 0))  # (μ, τ, M); memories (M > 0) hurt: README


@dataclass(frozen=True)
class Settings:
    seeds: tuple[int, ...]
    max_steps: int
    grid: tuple[tuple[float, float, int], ...] = GRID
    synthetic_videos: tuple = (("train", 1000), ("validation", 150), ("test", 150))
    charades_limit: int | None = None
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_ratio: float = 0.05


FULL = Settings(seeds=(0, 1, 2), max_steps=1500)
QUICK = Settings(seeds=(0,), max_steps=150, grid=GRID[:1], synthetic_videos=(("train", 200), ("validation", 50), ("test", 50)), charades_limit=600)


def variant_name(weight: float, temperature: float, memory: int = 0) -> str:
    return f"fvmr + cross-video μ={weight:g} τ={temperature:g}" + (f" M={memory}" if memory else "")


def variants(settings: Settings) -> dict[str, dict]:
    """{name: config overrides}: fvmr alone and each grid point."""
    named = {"fvmr": {}}
    for weight, temperature, memory in settings.grid:
        overrides = {"cross_video_weight": weight, "cross_video_temperature": temperature}
        named[variant_name(weight, temperature, memory)] = overrides | ({"cross_video_memory_size": memory} if memory else {})
    return named


def run_job(dataset: str, overrides: dict, seed: int, output_dir: str, settings: Settings) -> dict:
    """Train (best epoch by validation within-video R@1, IoU=0.5), then read the validation split (for the
    choice of μ, τ) and the test split (once, to report). The log goes beside the run folder
    (`output_dir.log.txt`): the trainer wants the folder empty."""
    torch.set_num_threads(1)
    from transformers.utils import logging as transformers_logging

    from modeling_fvmr.training import Trainer, TrainingArguments

    transformers_logging.disable_progress_bar()
    os.makedirs(output_dir, exist_ok=True)
    started = time.perf_counter()
    args = TrainingArguments(
        dataset=dataset,
        output_dir=output_dir,
        config_overrides={**MODEL_SIZES, **overrides},
        eval_split="validation",
        num_epochs=10**6,
        max_steps=settings.max_steps,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        warmup_ratio=settings.warmup_ratio,
        seed=seed,
        checkpoints_total_limit=1,
        best_metric=SELECTION_METRIC,
        show_progress=False,
        overwrite=True,  # a run without its result did not finish: train it again
    )
    with open(f"{output_dir}.log.txt", "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        Trainer(args).train()
        result = {"seed": seed, "overrides": overrides}
        for split in ("validation", "test"):
            metrics = evaluate_model_on_dataset(output_dir, dataset, split=split, corpus=True)
            result[split] = {"within": metrics["student"], "corpus": metrics["corpus"]}
    result["seconds"] = round(time.perf_counter() - started, 1)
    with open(os.path.join(output_dir, RESULT_NAME), "w") as handle:
        json.dump(result, handle, indent=1)
    return result


def run_folder(work_dir: Path, dataset: str, variant: str, seed: int) -> Path:
    return work_dir / "runs" / f"{dataset}-{variant.replace(' ', '').replace('=', '')}-seed{seed}"


def choose(results: dict[tuple, dict], dataset: str, named: dict, seed: int) -> str | None:
    """The grid point with the best validation corpus R@1, IoU=0.5 (seed `seed`); None until all ran."""
    points = [variant for variant in named if variant != "fvmr"]
    if not all((dataset, variant, seed) in results for variant in points):
        return None
    return max(points, key=lambda variant: results[(dataset, variant, seed)]["validation"]["corpus"][CHOICE_METRIC])


def ambiguity_bound(dataset: str, split: str) -> float:
    """Mean over the split's queries of 1 / n, n = the split's videos with a query of the same content
    words (the words simulated features are made of): the VR R@1 (%) of a model that ranks such videos
    equally well and picks among them at random, an approximate bound for simulated features."""
    from collections import defaultdict

    from datasets import load_from_disk

    annotations = load_from_disk(os.path.join(dataset, "annotations"))[split]
    words = [frozenset(content_words(sentence)) for sentence in annotations["sentence"]]
    videos = defaultdict(set)
    for key, video_id in zip(words, annotations["video_id"]):
        videos[key].add(video_id)
    return 100 * statistics.fmean(1 / len(videos[key]) for key in words)


def cell(values: list[float]) -> str:
    return f"{statistics.fmean(values):.1f}" + (f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else "")


def ratio(run: dict, split: str) -> float:
    return run[split]["corpus"][CHOICE_METRIC] / max(run[split]["within"][SELECTION_METRIC], 1e-9)


def grid_table(results: dict[tuple, dict], dataset: str, named: dict, seed: int, chosen: str | None) -> str:
    """Markdown: fvmr and each grid point, seed `seed`, VALIDATION metrics only."""
    columns = [f"within {SELECTION_METRIC}", CHOICE_METRIC, corpus_metric_name(10, 0.5), video_metric_name(1), "corpus / within"]
    lines = ["| variant | μ | τ | M | " + " | ".join(f"validation {name}" for name in columns) + " | |", "|---|---:|---:|---:|" + "---:|" * len(columns) + "---|"]
    for variant, overrides in named.items():
        run = results.get((dataset, variant, seed))
        if run is None:
            continue
        values = [run["validation"]["within"][SELECTION_METRIC]] + [run["validation"]["corpus"][name] for name in columns[1:4]]
        cells = [f"{overrides.get('cross_video_weight', 0):g}", f"{overrides.get('cross_video_temperature', 1):g}", str(overrides.get("cross_video_memory_size", 0))]
        cells += [f"{value:.1f}" for value in values] + [f"{ratio(run, 'validation'):.2f}", "chosen" if variant == chosen else ""]
        lines.append(f"| {variant} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def test_table(entries: list[dict]) -> str:
    columns = [f"within {name}" for name in WITHIN] + CORPUS + VIDEO + ["corpus / within R@1,IoU=0.5"]
    lines = ["| variant | seeds | " + " | ".join(columns) + " |", "|---|---:|" + "---:|" * len(columns)]
    for item in entries:
        runs = item["runs"]
        cells = [cell([run["test"]["within"][name] for run in runs]) for name in WITHIN]
        cells += [cell([run["test"]["corpus"][name] for run in runs]) for name in CORPUS + VIDEO]
        cells.append(f"{statistics.fmean(ratio(run, 'test') for run in runs):.2f}")
        lines.append(f"| {item['variant']} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def parse_point(text: str) -> tuple[float, float, int]:
    parts = text.split(",")
    try:
        if len(parts) not in (2, 3):
            raise ValueError
        point = float(parts[0]), float(parts[1]), int(parts[2]) if len(parts) == 3 else 0
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected μ,τ or μ,τ,M (e.g. 0.5,1 or 0.5,0.1,4096), got {text!r}") from None
    if point[0] <= 0 or point[1] <= 0 or point[2] < 0:
        raise argparse.ArgumentTypeError(f"μ and τ must be positive and M at least 0, got {text!r}")
    return point


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="One seed, 150 steps, small splits, one grid point (shows that everything runs).")
    parser.add_argument("--json", help="Write every run's metrics and the settings here.")
    parser.add_argument("--workers", type=int, default=2, help="Training processes at once (1 torch thread each).")
    parser.add_argument("--work-dir", help="Keep datasets, logs and models here; finished runs are reused (default: a temporary folder).")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FVMR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")))
    parser.add_argument("--seeds", type=int, help="Number of training seeds (default 3, 1 with --quick).")
    parser.add_argument("--steps", type=int, help="Optimizer steps per run (default 1500, 150 with --quick).")
    parser.add_argument("--grid", type=parse_point, nargs="+", help=f"(μ, τ, M) points of the cross-video term, as μ,τ or μ,τ,M (default {' '.join(f'{w:g},{t:g},{m}' for w, t, m in GRID)}).")
    parser.add_argument("--datasets", nargs="+", choices=["synthetic", "charades-sta"], default=["synthetic", "charades-sta"])
    parser.add_argument("--summarize", action="store_true", help="Train nothing: tabulate the runs already finished in --work-dir.")
    args = parser.parse_args()
    if args.summarize and not args.work_dir:
        parser.error("--summarize needs the --work-dir of an earlier run.")
    settings = QUICK if args.quick else FULL
    if args.seeds:
        settings = replace(settings, seeds=tuple(range(args.seeds)))
    if args.steps:
        settings = replace(settings, max_steps=args.steps)
    if args.grid:
        settings = replace(settings, grid=tuple(args.grid))
    if "charades-sta" in args.datasets and not (args.data / "charades_sta").is_dir():
        parser.error(f"No charades_sta/ folder in {args.data}: pass --data or set FVMR_SHARED_DATA.")

    started, load_start = time.perf_counter(), os.getloadavg()[0]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {args.workers} workers x 1 thread; {len(settings.seeds)} seed(s), "
          f"{settings.max_steps} steps of batch {settings.batch_size}; load average {load_start:.1f}", flush=True)  # fmt: skip
    named, first_seed = variants(settings), settings.seeds[0]
    results: dict[tuple, dict] = {}
    with contextlib.ExitStack() as stack:
        work_dir = Path(args.work_dir) if args.work_dir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fvmr-corpus-")))
        builders = {
            "synthetic": lambda: build_synthetic(work_dir / "data" / "synthetic", settings),
            "charades-sta": lambda: build_charades(args.data / "charades_sta", work_dir / "data" / "charades-sta", settings),
        }
        paths = {}
        for name in args.datasets:
            built = work_dir / "data" / name
            paths[name] = str(built if (built / "build_report.json").is_file() else builders[name]())
            print(f"dataset {name}: {paths[name]}", flush=True)

        def planned() -> list[tuple]:
            """Jobs that can run now: fvmr x seeds and the grid at the first seed; the chosen point's other
            seeds once its dataset's grid is done."""
            jobs = []
            for dataset in args.datasets:
                jobs += [(dataset, "fvmr", seed) for seed in settings.seeds]
                jobs += [(dataset, variant, first_seed) for variant in named if variant != "fvmr"]
                chosen = choose(results, dataset, named, first_seed)
                if chosen is not None:
                    jobs += [(dataset, chosen, seed) for seed in settings.seeds[1:]]
            return jobs

        for job in planned() + [(d, v, s) for d in args.datasets for v in named for s in settings.seeds]:
            path = run_folder(work_dir, *job) / RESULT_NAME
            if path.is_file():
                results[job] = json.loads(path.read_text())
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=args.workers, mp_context=context, max_tasks_per_child=1) as pool:
            running: dict = {}
            while not args.summarize:
                for job in planned():
                    if job not in results and job not in running.values():
                        future = pool.submit(run_job, paths[job[0]], named[job[1]], job[2], str(run_folder(work_dir, *job)), settings)
                        running[future] = job
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    job = running.pop(future)
                    result = results[job] = future.result()
                    print(f"{job[0]} {job[1]} seed {job[2]}: validation within {SELECTION_METRIC} {result['validation']['within'][SELECTION_METRIC]:.1f}, "
                          f"corpus {result['validation']['corpus'][CHOICE_METRIC]:.1f} ({result['seconds']:.0f} s, load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip

    wall, load_end = time.perf_counter() - started, os.getloadavg()[0]
    entries, grids = [], {}
    for dataset in args.datasets:
        chosen = choose(results, dataset, named, first_seed)
        grids[dataset] = {"chosen": chosen, "runs": [results[(dataset, v, first_seed)] for v in named if (dataset, v, first_seed) in results]}
        print(f"\n### {dataset}: (μ, τ, M) chosen on the validation split (seed {first_seed})\n")
        print(grid_table(results, dataset, named, first_seed, chosen))
        reported = [variant for variant in ("fvmr", chosen) if variant is not None]
        items = [{"dataset": dataset, "variant": v, "overrides": named[v], "runs": [results[(dataset, v, s)] for s in settings.seeds if (dataset, v, s) in results]} for v in reported]
        items = [item for item in items if item["runs"]]
        entries += items
        print(f"\n### {dataset}: test split, mean ± std over seeds\n")
        print(test_table(items))
        bound = grids[dataset]["ambiguity_bound"] = ambiguity_bound(paths[dataset], "test")
        print(f"\nAmbiguity: {bound:.1f} % = mean over test queries of 1 / (test videos with a query of the same content words),"
              " the VR R@1 of a model that cannot tell those videos apart")
    print(f"\nwall time {wall / 60:.1f} min, load average {load_start:.1f} at the start, {load_end:.1f} at the end")
    if args.json:
        payload = {
            "settings": {**asdict(settings), "model_sizes": MODEL_SIZES, "workers": args.workers, "choice": f"validation {CHOICE_METRIC}, seed {first_seed}"},
            "environment": {"torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(), "load_average": [load_start, load_end]},
            "grids": grids,
            "entries": entries,
            "wall_seconds": round(wall, 1),
        }
        temporary = Path(args.json).with_suffix(".tmp")
        temporary.write_text(json.dumps(payload, indent=1), encoding="utf-8")
        temporary.replace(args.json)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
