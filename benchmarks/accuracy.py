"""Does distillation help? FVMR's student alone, student + teacher, and full FVMR, over seeds.

    python benchmarks/accuracy.py [--quick] [--json accuracy.json] [--workers 2] [--work-dir DIR]
                                  [--data ../shared/data] [--seeds 3] [--datasets synthetic charades-sta] [--no-sweep]

Three variants trained with the same budget (optimizer steps, batch, learning rate, schedule, model
sizes), each with several training seeds (model initialisation and data order):

    student          use_teacher=False: no teacher, no L_ce(q, y), no L_dis (λ = 0)
    student+teacher  use_teacher=True, λ = 0: L_ce(p, y) + L_ce(q, y), both trained jointly, no distillation
    fvmr             use_teacher=True with the FVMRConfig defaults (λ = 0.2, T = 2, teacher detached)

on two datasets:

    synthetic     the synthetic world (`datasets_scripts/synthetic.py`, seed 0, gold trees), 1000 / 150 / 150
                  videos x 2 queries for train / validation / test
    charades-sta  the real Charades-STA annotations with SIMULATED clip features (made from each moment's
                  words; they say nothing about accuracy on real video) and spaCy trees. The official test
                  split (3,720 queries) is reported; about 10 % of the official train videos (those whose
                  id hashes to 0 mod 10) are held out as the validation split, the rest (~11k queries) is
                  the train split.

Model selection: the trainer evaluates on the validation split after each epoch and keeps the model
with the best student R@1, IoU=0.5; that model (student and, where there is one, teacher) is then
evaluated once on the test split, which is what the tables report (mean ± sample std over seeds).

A sweep over the distillation temperature T and weight λ (and the teacher detached or not) trains the
full model on the synthetic world with ONE seed (seed 0; the point with the config defaults is the fvmr
run of seed 0).

Budget: the full run (3 seeds, 1,500 optimizer steps of batch 32 per run = 24 epochs of the synthetic
world, 4.3 of Charades-STA; 9 + 9 + 7 runs of 1.5 to 2.5 minutes) took 29 minutes (peak RSS 0.8 GB)
with 2 worker processes of 1 torch thread each on a quiet 2-core machine. `--quick` (1 seed, 150 steps, 200 / 50 / 50
synthetic videos, the first 600 Charades-STA queries of each split, 2 sweep points) takes about 2
minutes; its numbers only show that everything runs (150 steps barely leave chance level).
Every run writes its log, checkpoint and exported model under the work folder (a temporary folder
unless `--work-dir` is given).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import platform
import statistics
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")  # library progress bars (dataset writing, tree parsing, weight loading)
os.environ.setdefault("OMP_NUM_THREADS", "1")

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # run from a checkout without installing

import torch  # noqa: E402

from datasets_scripts.building import build_moment_retrieval  # noqa: E402
from datasets_scripts.charades_sta import INFO as CHARADES_INFO  # noqa: E402
from datasets_scripts.charades_sta import read_charades_sta  # noqa: E402
from datasets_scripts.simulation import stable_hash  # noqa: E402
from datasets_scripts.synthetic import write_synthetic_world  # noqa: E402
from modeling_fvmr.configuration_fvmr import FVMRConfig  # noqa: E402
from modeling_fvmr.evaluation import evaluate_model_on_dataset, metric_name, read_build_report  # noqa: E402

MODEL_SIZES = {
    "hidden_size": 128,
    "lstm_hidden_size": 128,
    "word_embedding_dim": 64,
    "semantic_dim": 128,
    "joint_dim": 128,
    "fusion_hidden_size": 128,
}
VARIANTS = {
    "student": {"use_teacher": False, "distillation_weight": 0.0},
    "student+teacher": {"use_teacher": True, "distillation_weight": 0.0},
    "fvmr": {"use_teacher": True},  # λ, T and detach_teacher: the FVMRConfig defaults
}
DEFAULTS = FVMRConfig()
DEFAULT_DISTILLATION = {
    "distillation_temperature": DEFAULTS.distillation_temperature,
    "distillation_weight": DEFAULTS.distillation_weight,
    "detach_teacher": DEFAULTS.detach_teacher,
}
# full model on the synthetic world, one seed: T at the default λ, λ at the default T, the teacher not detached
SWEEP = (
    [{"distillation_temperature": value} for value in (0.5, 1.0, 2.0, 4.0)]
    + [{"distillation_weight": value} for value in (0.05, 0.2, 0.5, 1.0)]
    + [{"detach_teacher": False}]
)
QUICK_SWEEP = [{"distillation_temperature": 1.0}, {"detach_teacher": False}]
REPORTED = [metric_name(n, iou) for n in (1, 5) for iou in (0.3, 0.5, 0.7)] + ["mIoU"]
SELECTION_METRIC = metric_name(1, 0.5)
CHARADES_VALIDATION_MODULO = 10  # train videos whose id hashes to 0 mod this form the validation split


@dataclass(frozen=True)
class Settings:
    """The budget and data sizes of one benchmark run (the same for every variant)."""

    seeds: tuple[int, ...]
    max_steps: int
    synthetic_videos: dict = field(default_factory=dict)
    charades_limit: int | None = None  # queries kept per split (None = all); the quick run only
    batch_size: int = 32
    learning_rate: float = 3e-3
    warmup_ratio: float = 0.05
    lr_scheduler: str = "linear"
    sweep: tuple[dict, ...] = ()  # config overrides of the sweep points


FULL = Settings(seeds=(0, 1, 2), max_steps=1500, synthetic_videos={"train": 1000, "validation": 150, "test": 150}, sweep=tuple(SWEEP))
QUICK = Settings(
    seeds=(0,), max_steps=150, synthetic_videos={"train": 200, "validation": 50, "test": 50}, charades_limit=600, sweep=tuple(QUICK_SWEEP)
)


@dataclass(frozen=True)
class Job:
    """One training run: a dataset, a variant (or sweep point) with its config overrides, a seed."""

    dataset: str
    variant: str
    seed: int
    overrides: tuple  # FVMRConfig field -> value pairs on top of MODEL_SIZES

    @property
    def name(self) -> str:
        return f"{self.dataset}-{self.variant}-seed{self.seed}".replace(" ", "").replace("=", "").replace(",", "_")


# ----- datasets ------------------------------------------------------------------------------------


def build_synthetic(output_dir: Path, settings: Settings) -> Path:
    write_synthetic_world(output_dir, num_videos=settings.synthetic_videos, queries_per_video=2, feature_dim=128, seed=0)
    return output_dir


def build_charades(annotations_dir: Path, output_dir: Path, settings: Settings) -> Path:
    """Charades-STA with simulated features and spaCy trees; validation = held-out official train videos."""
    records = read_charades_sta(annotations_dir)
    held_out = [stable_hash(record.video_id) % CHARADES_VALIDATION_MODULO == 0 for record in records["train"]]
    splits = {
        "train": [record for record, hold in zip(records["train"], held_out) if not hold],
        "validation": [record for record, hold in zip(records["train"], held_out) if hold],
        "test": records["test"],
    }
    info = replace(
        CHARADES_INFO,
        split_files={
            **CHARADES_INFO.split_files,
            "validation": f"charades_sta_train.txt, videos whose id hashes to 0 mod {CHARADES_VALIDATION_MODULO} (held out of train)",
        },
    )
    build_moment_retrieval(
        info, splits, output_dir, features="simulated", tree_parser="spacy", limit=settings.charades_limit, feature_dim=128, seed=0
    )
    return output_dir


# ----- one training run (in a worker process) ---------------------------------------------------


def run_job(job: Job, dataset: str, output_dir: str, settings: Settings) -> dict:
    """Train on `dataset` (best epoch by validation student R@1, IoU=0.5), then evaluate on test.

    Runs in a fresh worker process with one torch thread; the trainer's output goes to `output_dir/log.txt`.
    """
    torch.set_num_threads(1)
    from transformers.utils import logging as transformers_logging

    from modeling_fvmr.training import Trainer, TrainingArguments

    transformers_logging.disable_progress_bar()
    os.makedirs(output_dir, exist_ok=True)
    started = time.perf_counter()
    args = TrainingArguments(
        dataset=dataset,
        output_dir=output_dir,
        config_overrides={**MODEL_SIZES, **dict(job.overrides)},
        eval_split="validation",
        test_split=None,  # train() returns validation metrics; the test split is evaluated once below
        num_epochs=10**6,  # the budget is max_steps
        max_steps=settings.max_steps,
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        warmup_ratio=settings.warmup_ratio,
        lr_scheduler=settings.lr_scheduler,
        seed=job.seed,
        checkpoints_total_limit=1,
        best_metric=SELECTION_METRIC,
        show_progress=False,
    )
    with open(os.path.join(output_dir, "log.txt"), "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        validation = Trainer(args).train()
        test = evaluate_model_on_dataset(output_dir, dataset, split="test")
    with open(os.path.join(output_dir, "training_args.json")) as handle:
        trained = json.load(handle)
    return {
        "seed": job.seed,
        "validation": validation,
        "test": test,
        "best_epoch": trained["best_epoch"],
        "steps": trained["global_step"],
        "seconds": round(time.perf_counter() - started, 1),
    }


# ----- tables ------------------------------------------------------------------------------------


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def format_cell(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}"


def summarize(runs: list[dict], split: str = "test") -> dict:
    """{scorer: {metric: {"mean", "std", "per_seed"}}} over the runs of one variant."""
    summary = {}
    for scorer in runs[0][split]:
        summary[scorer] = {}
        for metric in runs[0][split][scorer]:
            values = [run[split][scorer][metric] for run in runs]
            mean, std = mean_std(values)
            summary[scorer][metric] = {"mean": mean, "std": std, "per_seed": values}
    return summary


def variant_table(entries: list[dict]) -> str:
    """Markdown: one row per (variant, scorer), test-split metrics as mean ± std over seeds."""
    lines = ["| variant | scorer | seeds | " + " | ".join(REPORTED) + " |", "|---|---|---:|" + "---:|" * len(REPORTED)]
    for entry in entries:
        for scorer in entry["runs"][0]["test"]:
            cells = [format_cell([run["test"][scorer][metric] for run in entry["runs"]]) for metric in REPORTED]
            lines.append(f"| {entry['variant']} | {scorer} | {len(entry['runs'])} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def sweep_table(entries: list[dict]) -> str:
    """Markdown: one row per sweep point (one seed), student test metrics and the teacher's R@1, IoU=0.5."""
    lines = [
        "| T | λ | detach | " + " | ".join(f"student {m}" for m in REPORTED) + f" | teacher {SELECTION_METRIC} | |",
        "|" + "---:|" * (3 + len(REPORTED) + 1) + "---|",
    ]
    for item in entries:
        config, test = item["config"], item["runs"][0]["test"]
        cells = [f"{config['distillation_temperature']:g}", f"{config['distillation_weight']:g}", str(config["detach_teacher"]).lower()]
        cells += [f"{test['student'][metric]:.1f}" for metric in REPORTED] + [f"{test['teacher'][SELECTION_METRIC]:.1f}"]
        cells.append("config defaults (the fvmr run)" if is_default(config) else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def is_default(config: dict) -> bool:
    """Whether a config has the FVMRConfig defaults of T, λ and detach_teacher."""
    return all(config.get(key, value) == value for key, value in DEFAULT_DISTILLATION.items())


# ----- the benchmark -----------------------------------------------------------------------------


def plan_jobs(settings: Settings, datasets: list[str]) -> tuple[list[Job], list[Job]]:
    """The variant runs (every dataset x variant x seed) and the sweep runs (synthetic, first seed)."""
    variants = [
        Job(dataset, variant, seed, tuple(overrides.items())) for dataset in datasets for variant, overrides in VARIANTS.items() for seed in settings.seeds
    ]
    sweep = []
    if "synthetic" in datasets:
        for point in settings.sweep:
            if not is_default(point):  # the default point is the fvmr run of the first seed
                label = "sweep " + ",".join(f"{key}={value}" for key, value in point.items())
                sweep.append(Job("synthetic", label, settings.seeds[0], (("use_teacher", True), *point.items())))
    return variants, sweep


def run_all(jobs: list[Job], paths: dict[str, str], work_dir: Path, settings: Settings, workers: int) -> dict[Job, dict]:
    """Run the jobs on `workers` fresh processes (one per run); print one line per finished run."""
    results = {}
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, max_tasks_per_child=1) as pool:
        futures = {pool.submit(run_job, job, paths[job.dataset], str(work_dir / "runs" / job.name), settings): job for job in jobs}
        for done, future in enumerate(as_completed(futures), start=1):
            job = futures[future]
            result = results[job] = future.result()
            teacher = result["test"].get("teacher")
            print(
                f"[{done}/{len(jobs)}] {job.dataset} {job.variant} seed {job.seed}: test student {SELECTION_METRIC} "
                f"{result['test']['student'][SELECTION_METRIC]:.1f}"
                + (f", teacher {teacher[SELECTION_METRIC]:.1f}" if teacher else "")
                + f" (best epoch {result['best_epoch']}, {result['seconds']:.0f} s)",
                flush=True,
            )
    return results


def entry(variant: str, dataset: str, overrides: dict, runs: list[dict]) -> dict:
    """The JSON entry of one variant on one dataset: its config, every seed's metrics, and their summary."""
    return {
        "dataset": dataset,
        "variant": variant,
        "config": {**DEFAULT_DISTILLATION, **overrides},
        "seeds": [run["seed"] for run in runs],
        "runs": runs,
        "test": summarize(runs),
    }


def default_data_dir() -> Path:
    return Path(os.environ.get("FVMR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="One seed, 150 steps, small splits, two sweep points.")
    parser.add_argument("--json", help="Write every run's metrics and the settings here.")
    parser.add_argument("--workers", type=int, default=2, help="Training processes run at once (1 torch thread each).")
    parser.add_argument("--work-dir", help="Keep datasets, logs and models here (default: a temporary folder, deleted).")
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="Folder with charades_sta/ (the real annotations).")
    parser.add_argument("--seeds", type=int, help="Number of training seeds (default: 3, or 1 with --quick).")
    parser.add_argument("--steps", type=int, help="Optimizer steps per run (default: 1500, or 150 with --quick).")
    parser.add_argument("--datasets", nargs="+", choices=["synthetic", "charades-sta"], default=["synthetic", "charades-sta"])
    parser.add_argument("--no-sweep", action="store_true", help="Skip the T / λ / detach sweep.")
    args = parser.parse_args()

    settings = QUICK if args.quick else FULL
    if args.seeds:
        settings = replace(settings, seeds=tuple(range(args.seeds)))
    if args.steps:
        settings = replace(settings, max_steps=args.steps)
    if args.no_sweep:
        settings = replace(settings, sweep=())
    if "charades-sta" in args.datasets and not (args.data / "charades_sta").is_dir():
        parser.error(f"No charades_sta/ folder in {args.data}: pass --data or set FVMR_SHARED_DATA (or use --datasets synthetic).")

    started, load_start = time.perf_counter(), os.getloadavg()[0]
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, {args.workers} workers x 1 thread; "
        f"{len(settings.seeds)} seed(s), {settings.max_steps} steps, batch {settings.batch_size}, lr {settings.learning_rate}; "
        f"load average {load_start:.1f}",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        work_dir = Path(args.work_dir) if args.work_dir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fvmr-accuracy-")))
        builders = {
            "synthetic": lambda: build_synthetic(work_dir / "data" / "synthetic", settings),
            "charades-sta": lambda: build_charades(args.data / "charades_sta", work_dir / "data" / "charades-sta", settings),
        }
        paths, chance = {}, {}
        for name in args.datasets:
            build_started = time.perf_counter()
            paths[name] = str(builders[name]())
            report = read_build_report(paths[name])
            chance[name] = report["chance_r1_iou0.5"]["percent"]
            queries = {split: facts["rows_kept"] for split, facts in report["splits"].items()}
            print(f"built {name}: {queries} queries, chance R@1,IoU=0.5 {chance[name]} ({time.perf_counter() - build_started:.0f} s)", flush=True)

        variant_jobs, sweep_jobs = plan_jobs(settings, args.datasets)
        results = run_all(variant_jobs + sweep_jobs, paths, work_dir, settings, args.workers)

    variants = [
        entry(variant, dataset, overrides, [results[job] for job in variant_jobs if (job.dataset, job.variant) == (dataset, variant)])
        for dataset in args.datasets
        for variant, overrides in VARIANTS.items()
    ]
    sweep = []
    if sweep_jobs:
        default = next(item for item in variants if (item["dataset"], item["variant"]) == ("synthetic", "fvmr"))
        sweep.append(entry("sweep default (= fvmr, first seed)", "synthetic", VARIANTS["fvmr"], default["runs"][:1]))
        sweep += [entry(job.variant, "synthetic", dict(job.overrides), [results[job]]) for job in sweep_jobs]
        sweep.sort(key=lambda item: (item["config"]["detach_teacher"] is False, item["config"]["distillation_weight"], item["config"]["distillation_temperature"]))

    wall = time.perf_counter() - started
    for dataset in args.datasets:
        print(f"\n### {dataset}: test split, mean ± std over {len(settings.seeds)} seed(s) (chance R@1,IoU=0.5: {chance[dataset]['test']})\n")
        print(variant_table([item for item in variants if item["dataset"] == dataset]))
    if sweep:
        print(f"\n### synthetic: T / λ / detach sweep of the full model, test split, seed {settings.seeds[0]} only\n")
        print(sweep_table(sweep))
    load_end = os.getloadavg()[0]
    print(f"\nwall time {wall / 60:.1f} min, load average at the end {load_end:.1f}")

    if args.json:
        payload = {
            "settings": {
                **asdict(settings),
                "model_sizes": MODEL_SIZES,
                "variants": VARIANTS,
                "config_defaults": DEFAULT_DISTILLATION,
                "selection": f"best epoch by validation student {SELECTION_METRIC}; metrics on the test split",
                "workers": args.workers,
            },
            "environment": {"torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(), "load_average": [load_start, load_end]},
            "chance_r1_iou0.5": chance,
            "variants": variants,
            "sweep": sweep,
            "wall_seconds": round(wall, 1),
        }
        with open(args.json, "w", encoding="utf-8") as handle:
            json.dump(payload, handle, indent=1)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
