"""Corpus search: does the cross-video term make scores comparable across videos?

    python benchmarks/corpus.py [--quick] [--json corpus.json] [--workers 2] [--work-dir DIR]
                                [--data ../shared/data] [--seeds 3] [--steps 1500] [--weights 0.5]
                                [--datasets synthetic charades-sta]

The full FVMR model (FVMRConfig defaults: teacher, λ = 0.2, T = 2) trained with and without the
cross-video term L_cv (`cross_video_weight` μ > 0: the other videos' moments in the batch as negatives,
see `cross_video_loss`), with the same budget, seeds and model sizes, on:

    synthetic     the synthetic world (seed 0, gold trees), 1000 / 150 / 150 videos x 2 queries
    charades-sta  the real Charades-STA annotations with SIMULATED clip features (made from each moment's
                  words: they say nothing about accuracy on real video) and spaCy trees; validation =
                  official train videos whose id hashes to 0 mod 10, test = the official test split.

Each run keeps the epoch with the best validation within-video R@1, IoU=0.5 (the trainer's rule), then
reads the test split once: within-video R@1 (`evaluate_model`: each query ranks the proposals of its own
video) and corpus-level VCMR R@k, IoU=m and VR R@k (`evaluate_corpus`: each query searches every test
video at once; a hit needs the right video). Tables: mean ± sample std over seeds, and the ratio of
corpus R@1, IoU=0.5 to within-video R@1, IoU=0.5 (the issue's goal: at least 0.5).
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
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing

import torch  # noqa: E402

from accuracy import build_charades, build_synthetic  # noqa: E402  (the same datasets as benchmarks/accuracy.py)
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
SELECTION_METRIC = metric_name(1, 0.5)
RESULT_NAME = "corpus_result.json"  # each finished run's test metrics, in its folder


@dataclass(frozen=True)
class Settings:
    seeds: tuple[int, ...]
    max_steps: int
    weights: tuple[float, ...]  # μ of the variants with the cross-video term
    synthetic_videos: tuple = (("train", 1000), ("validation", 150), ("test", 150))
    charades_limit: int | None = None
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_ratio: float = 0.05


FULL = Settings(seeds=(0, 1, 2), max_steps=1500, weights=(0.5,))
QUICK = Settings(seeds=(0,), max_steps=150, weights=(0.5,), synthetic_videos=(("train", 200), ("validation", 50), ("test", 50)), charades_limit=600)


def variants(settings: Settings) -> dict[str, dict]:
    named = {"fvmr": {}}
    named.update({f"fvmr + cross-video μ={weight:g}": {"cross_video_weight": weight} for weight in settings.weights})
    return named




def run_job(dataset: str, overrides: dict, seed: int, output_dir: str, settings: Settings) -> dict:
    """Train (best epoch by validation within-video R@1, IoU=0.5), then read the test split once."""
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
    result = test_result(output_dir, dataset, seed)
    result["seconds"] = round(time.perf_counter() - started, 1)
    with open(os.path.join(output_dir, RESULT_NAME), "w") as handle:
        json.dump(result, handle, indent=1)
    return result


def test_result(model_dir: str, dataset: str, seed: int) -> dict:
    """The test split read once: within-video and corpus-level metrics of a trained model folder."""
    with open(f"{model_dir}.log.txt", "a") as log, contextlib.redirect_stdout(log):  # beside the run folder
        test = evaluate_model_on_dataset(model_dir, dataset, split="test", corpus=True)
    return {"seed": seed, "within": test["student"], "corpus": test["corpus"]}


def run_folder(work_dir: Path, dataset: str, variant: str, seed: int) -> Path:
    return work_dir / "runs" / f"{dataset}-{variant.replace(' ', '').replace('=', '')}-seed{seed}"


def finished_results(work_dir: Path, paths: dict, named: dict, settings: Settings) -> dict[tuple, dict]:
    """Results of the runs that finished in an earlier (possibly interrupted) invocation: their
    `corpus_result.json`, or, for an exported model without one, its test split read now."""
    results = {}
    for dataset in paths:
        for variant in named:
            for seed in settings.seeds:
                folder = run_folder(work_dir, dataset, variant, seed)
                if (folder / RESULT_NAME).is_file():
                    results[(dataset, variant, seed)] = json.loads((folder / RESULT_NAME).read_text())
                elif (folder / "eval_results.json").is_file():  # exported, not yet read on the test split
                    results[(dataset, variant, seed)] = test_result(str(folder), paths[dataset], seed)
    return results


def cell(values: list[float]) -> str:
    return f"{statistics.fmean(values):.1f}" + (f" ± {statistics.stdev(values):.1f}" if len(values) > 1 else "")


def table(entries: list[dict]) -> str:
    columns = [f"within {name}" for name in WITHIN] + CORPUS + VIDEO + ["corpus / within R@1,IoU=0.5"]
    lines = ["| variant | seeds | " + " | ".join(columns) + " |", "|---|---:|" + "---:|" * len(columns)]
    for item in entries:
        runs = item["runs"]
        cells = [cell([run["within"][name] for run in runs]) for name in WITHIN]
        cells += [cell([run["corpus"][name] for run in runs]) for name in CORPUS + VIDEO]
        ratios = [run["corpus"][corpus_metric_name(1, 0.5)] / max(run["within"][SELECTION_METRIC], 1e-9) for run in runs]
        cells.append(f"{statistics.fmean(ratios):.2f}")
        lines.append(f"| {item['variant']} | {len(runs)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="One seed, 150 steps, small splits (shows that everything runs).")
    parser.add_argument("--json", help="Write every run's metrics and the settings here.")
    parser.add_argument("--workers", type=int, default=2, help="Training processes at once (1 torch thread each).")
    parser.add_argument("--work-dir", help="Keep datasets, logs and models here (default: a temporary folder).")
    parser.add_argument("--data", type=Path, default=Path(os.environ.get("FVMR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data")))
    parser.add_argument("--seeds", type=int, help="Number of training seeds (default 3, 1 with --quick).")
    parser.add_argument("--steps", type=int, help="Optimizer steps per run (default 1500, 150 with --quick).")
    parser.add_argument("--weights", type=float, nargs="+", help="μ values of the cross-video variants (default 0.5).")
    parser.add_argument("--datasets", nargs="+", choices=["synthetic", "charades-sta"], default=["synthetic", "charades-sta"])
    parser.add_argument("--summarize", action="store_true",
                        help="Train nothing: tabulate the runs already finished in --work-dir (seeds with every run done).")  # fmt: skip
    args = parser.parse_args()
    if args.summarize and not args.work_dir:
        parser.error("--summarize needs the --work-dir of an earlier run.")
    settings = QUICK if args.quick else FULL
    if args.seeds:
        settings = replace(settings, seeds=tuple(range(args.seeds)))
    if args.steps:
        settings = replace(settings, max_steps=args.steps)
    if args.weights:
        settings = replace(settings, weights=tuple(args.weights))
    if "charades-sta" in args.datasets and not (args.data / "charades_sta").is_dir():
        parser.error(f"No charades_sta/ folder in {args.data}: pass --data or set FVMR_SHARED_DATA.")

    started, load_start = time.perf_counter(), os.getloadavg()[0]
    print(f"torch {torch.__version__}, {os.cpu_count()} CPUs, {args.workers} workers x 1 thread; {len(settings.seeds)} seed(s), "
          f"{settings.max_steps} steps of batch {settings.batch_size}; load average {load_start:.1f}", flush=True)  # fmt: skip
    named = variants(settings)
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
        results = finished_results(work_dir, paths, named, settings)
        if args.summarize:  # keep the seeds that finished for every dataset and variant
            done = [seed for seed in settings.seeds if all((d, v, seed) in results for d in args.datasets for v in named)]
            settings = replace(settings, seeds=tuple(done))
            if not done:
                print("No seed has finished for every dataset and variant yet.")
                return 1
        jobs = [(dataset, variant, seed) for seed in settings.seeds for dataset in args.datasets for variant in named]
        jobs = [job for job in jobs if job not in results]
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=args.workers, mp_context=context, max_tasks_per_child=1) as pool:
            futures = {
                pool.submit(run_job, paths[dataset], named[variant], seed, str(run_folder(work_dir, dataset, variant, seed)), settings): (dataset, variant, seed)
                for dataset, variant, seed in jobs
            }  # fmt: skip
            for done, future in enumerate(as_completed(futures), start=1):
                key = futures[future]
                result = results[key] = future.result()
                print(f"[{done}/{len(jobs)}] {key[0]} {key[1]} seed {key[2]}: within R@1,IoU=0.5 {result['within'][SELECTION_METRIC]:.1f}, "
                      f"corpus {result['corpus'][corpus_metric_name(1, 0.5)]:.1f}, VR R@1 {result['corpus'][video_metric_name(1)]:.1f} "
                      f"({result['seconds']:.0f} s, load {os.getloadavg()[0]:.1f})", flush=True)  # fmt: skip

    entries = [
        {"dataset": dataset, "variant": variant, "overrides": named[variant], "runs": [results[(dataset, variant, seed)] for seed in settings.seeds]}
        for dataset in args.datasets
        for variant in named
    ]
    wall, load_end = time.perf_counter() - started, os.getloadavg()[0]
    for dataset in args.datasets:
        print(f"\n### {dataset}: test split, mean ± std over {len(settings.seeds)} seed(s)\n")
        print(table([item for item in entries if item["dataset"] == dataset]))
    print(f"\nwall time {wall / 60:.1f} min, load average {load_start:.1f} at the start, {load_end:.1f} at the end")
    if args.json:
        payload = {
            "settings": {**asdict(settings), "model_sizes": MODEL_SIZES, "workers": args.workers},
            "environment": {"torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(), "load_average": [load_start, load_end]},
            "entries": entries,
            "wall_seconds": round(wall, 1),
        }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
