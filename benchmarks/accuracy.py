"""Does distillation help? An ablation with paired seeds, settings chosen on validation, test read once.

    python benchmarks/accuracy.py [--quick] [--json accuracy.json] [--workers 2] [--work-dir DIR]
                                  [--data ../shared/data] [--seeds 3] [--steps N]
                                  [--datasets synthetic charades-sta] [--conditions base conv ...] [--no-train]

Variants (every one trained with the same budget: optimizer steps, batch, learning rate, schedule, sizes):

    student          use_teacher=False: L_ce(p, y) only
    student+teacher  use_teacher=True, λ = 0: L_ce(p, y) + L_ce(q, y), trained jointly, no distillation
    fvmr-paper       the paper's L_dis (binary cross-entropy averaged over the K proposals); λ, T and
                     the detach of the teacher chosen on validation (below)
    fvmr-hinton      our earlier form −Σ t log s (about K times larger); λ, T chosen on validation

Conditions (each a block of the table; all variants of a condition share everything else):

    base     all training queries, random word embeddings, no MapConv stack: all four variants
    train10, train30   10 % / 30 % of the training queries (a fixed subset: stable hash of the query)
    glove    word embeddings initialised from the bundled GloVe 6B 50-d vectors
    conv     + the masked MapConv stack on the video-only moment map, reduced for CPU (2 layers of kernel 3
             at the benchmark's hidden size; 2D-TAN's 8 layers of kernel 5 at 512 channels cost ~6 GFLOP
             per query on the 48 x 48 padded maps and do not fit a CPU budget)

The extra conditions run student, fvmr-paper and fvmr-hinton (student+teacher at λ = 0 is the base
condition's control); λ, T and detach come from the base condition's sweep.

Datasets: the synthetic world (`datasets_scripts/synthetic.py`, seed 0, gold trees), 1000 / 150 / 150
videos x 2 queries for train / validation / test; and the real Charades-STA annotations with SIMULATED
clip features (made from each moment's words: they say nothing about accuracy on real video) and
spaCy trees: the official test split (3,720 queries) is the test split, the official train videos
whose id hashes to 0 mod 10 are the validation split, the rest (~11k queries) the train split.

Paired seeds: seed s gives every variant of a condition the same student initialisation
(`FVMRModel` builds the teacher with the RNG restored, tests/test_paper_fidelity.py) and the same data
order (the trainer's seeded sampler). Dropout masks differ once the teacher's dropout draws.

Selection on validation only: each run keeps the epoch with the best validation student
R@1, IoU=0.5. λ, T (and, for the paper form, the detach) are chosen per dataset by one seed (seed 0)
of the base condition over the grids PAPER_GRID / HINTON_GRID, by that validation score; the chosen
values are used in every condition and seed. The test split is evaluated once per run, for the model
the validation split chose; the sweep tables show validation numbers only.

Budget (FULL): 3 seeds x 800 optimizer steps of batch 32 per run (12.8 epochs of the synthetic world,
2.3 of Charades-STA), AdamW lr 3e-3, 5 % warmup, linear decay, hidden sizes 128 (the student alone
leaves its initial plateau after ~300 steps: at 400 steps with hidden sizes 64 it was still at chance).
Synthetic world: 5 sweep runs + 4 variants x 3 seeds on base (2 of them are sweep runs) + 4 conditions
x 3 variants x 3 seeds = 51 runs; Charades-STA: 5 + 10 + conv 9 = 24 runs (DEFAULT_CONDITIONS); each a
fresh worker process with one torch thread. Each result records its CPU seconds (~90 s for an
800-step run with a teacher): about 75 x 90 s / 2 ≈ 56 min on 2 free cores, an estimate from those
CPU seconds (the README gives what was measured, with the load). `--quick` (1 seed, 100 steps, 200 / 50 / 50
synthetic videos, the first 600 Charades-STA queries of each split, the base condition, one sweep point
per form: 8 runs) takes about 2 minutes and only shows that everything runs.

Every run writes its log, model and `result.json` under the work folder (a temporary folder unless
`--work-dir` is given); with `--work-dir`, runs whose `result.json` exists are not trained again, so
an interrupted benchmark resumes, and `--no-train` prints the tables of the runs that finished.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
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
from modeling_fvmr.evaluation import evaluate_model_on_dataset, metric_name, read_build_report  # noqa: E402

MODEL_SIZES = {
    "hidden_size": 128,
    "lstm_hidden_size": 128,
    "word_embedding_dim": 64,
    "semantic_dim": 128,
    "joint_dim": 128,
    "fusion_hidden_size": 128,
    "num_sample_clips": 64,  # 2D-TAN resamples to 256; 64 = 4 x 16 keeps the order of operations, at a quarter of the cost
}
VARIANTS = {
    "student": {"use_teacher": False, "distillation_weight": 0.0},
    "student+teacher": {"use_teacher": True, "distillation_weight": 0.0},
    "fvmr-paper": {"use_teacher": True, "distillation_loss": "paper"},  # + the validation choice of PAPER_GRID
    "fvmr-hinton": {"use_teacher": True, "distillation_loss": "hinton"},  # + the validation choice of HINTON_GRID
}
GRID_OF = {"fvmr-paper": "paper", "fvmr-hinton": "hinton"}
# The paper form is ~K = 136 times weaker than the Hinton form (Charades-STA geometry): its λ range is shifted.
# (a calibration run at λ = 100 and 1000, teacher not detached, collapsed to 0 % validation R@1: the
# student's L_ce stopped falling; λ = 100 is kept with the teacher detached)
PAPER_GRID = [
    {"distillation_weight": 1.0, "distillation_temperature": 1.0, "detach_teacher": False},
    {"distillation_weight": 10.0, "distillation_temperature": 1.0, "detach_teacher": False},
    {"distillation_weight": 100.0, "distillation_temperature": 1.0, "detach_teacher": True},
]
HINTON_GRID = [
    {"distillation_weight": 0.05, "distillation_temperature": 2.0, "detach_teacher": True},
    {"distillation_weight": 0.2, "distillation_temperature": 2.0, "detach_teacher": True},
]
# The extra conditions compare the student alone with both distillation forms (student+teacher at λ = 0 is
# the base condition's control).
EXTRA_VARIANTS = ("student", "fvmr-paper", "fvmr-hinton")
CONDITIONS = {
    "base": {"variants": tuple(VARIANTS)},
    "train10": {"train_fraction": 0.1, "variants": EXTRA_VARIANTS},
    "train30": {"train_fraction": 0.3, "variants": EXTRA_VARIANTS},
    "glove": {"glove": "bundled", "config": {"word_embedding_dim": 50}, "variants": EXTRA_VARIANTS},
    "conv": {"config": {"video_conv_layers": 2, "video_conv_kernel_size": 3}, "variants": EXTRA_VARIANTS},
}
# Where a tree teacher could matter (low data, GloVe) is asked of the synthetic world; Charades-STA with
# simulated features gets the base and conv conditions, to keep the full run near an hour.
DEFAULT_CONDITIONS = {"synthetic": tuple(CONDITIONS), "charades-sta": ("base", "conv")}
REPORTED = [metric_name(n, iou) for n in (1, 5) for iou in (0.3, 0.5, 0.7)] + ["mIoU"]
SELECTION_METRIC = metric_name(1, 0.5)
CHARADES_VALIDATION_MODULO = 10  # train videos whose id hashes to 0 mod this form the validation split
EVAL_EVERY_STEPS = 50  # validation about this often (every epoch when an epoch is longer)


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
    grids: dict = field(default_factory=lambda: {"paper": PAPER_GRID, "hinton": HINTON_GRID})
    conditions: dict = field(default_factory=lambda: dict(DEFAULT_CONDITIONS))  # per dataset: the default of --conditions


FULL = Settings(seeds=(0, 1, 2), max_steps=800, synthetic_videos={"train": 1000, "validation": 150, "test": 150})
QUICK = Settings(
    seeds=(0,),
    max_steps=100,
    synthetic_videos={"train": 200, "validation": 50, "test": 50},
    charades_limit=600,
    grids={"paper": PAPER_GRID[:1], "hinton": HINTON_GRID[1:2]},
    conditions={"synthetic": ("base",), "charades-sta": ("base",)},
)


@dataclass(frozen=True)
class Job:
    """One training run: a dataset, a condition, a variant (or sweep point) with its config overrides, a seed."""

    dataset: str
    condition: str
    variant: str
    seed: int
    overrides: tuple  # FVMRConfig field -> value pairs on top of MODEL_SIZES and the condition's

    @property
    def name(self) -> str:
        label = "-".join(f"{key.split('_')[-1]}{value}" for key, value in self.overrides if key in DISTILLATION_KEYS)
        return f"{self.dataset}-{self.condition}-{self.variant}-{label}-seed{self.seed}".replace("--", "-")


DISTILLATION_KEYS = ("distillation_weight", "distillation_temperature", "detach_teacher")


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


def subset_train(dataset: Path, fraction: float, output_dir: Path) -> Path:
    """A copy of a built dataset whose train split keeps `fraction` of its queries (stable hash of the query)."""
    from datasets import load_from_disk

    annotations = load_from_disk(str(dataset / "annotations"))
    train = annotations["train"]
    keys = zip(train["video_id"], train["sentence"], train["start"], train["end"])
    kept = [row for row, key in enumerate(keys) if stable_hash("train-fraction|" + "|".join(map(str, key))) % 1000 < fraction * 1000]
    annotations["train"] = train.select(kept)
    annotations.save_to_disk(str(output_dir / "annotations"))
    shutil.copytree(dataset / "features", output_dir / "features")
    shutil.copy(dataset / "build_report.json", output_dir / "build_report.json")
    return output_dir


# ----- one training run (in a worker process) ---------------------------------------------------


def run_job(job: Job, dataset: str, output_dir: str, settings: Settings) -> dict:
    """Train on `dataset` (best epoch by validation student R@1, IoU=0.5), then evaluate once on test.

    Runs in a fresh worker process with one torch thread; the trainer's output goes to `output_dir.log.txt`
    (beside the run folder, which the trainer wants empty: an unfinished earlier run in it is replaced);
    the result is also written to `output_dir/result.json`.
    """
    torch.set_num_threads(1)
    from transformers.utils import logging as transformers_logging

    from modeling_fvmr.data import load_moment_retrieval
    from modeling_fvmr.training import Trainer, TrainingArguments

    transformers_logging.disable_progress_bar()
    os.makedirs(output_dir, exist_ok=True)
    started, cpu_started = time.perf_counter(), time.process_time()
    condition = CONDITIONS[job.condition]
    train_queries = len(load_moment_retrieval(dataset)[0]["train"])
    steps_per_epoch = -(-train_queries // settings.batch_size)
    args = TrainingArguments(
        dataset=dataset,
        output_dir=output_dir,
        config_overrides={**MODEL_SIZES, **condition.get("config", {}), **dict(job.overrides)},
        glove=condition.get("glove"),
        eval_split="validation",
        test_split=None,  # train() returns validation metrics; the test split is evaluated once below
        num_epochs=10**6,  # the budget is max_steps
        max_steps=settings.max_steps,
        eval_every_epochs=max(1, round(EVAL_EVERY_STEPS / steps_per_epoch)),
        batch_size=settings.batch_size,
        learning_rate=settings.learning_rate,
        warmup_ratio=settings.warmup_ratio,
        lr_scheduler=settings.lr_scheduler,
        seed=job.seed,
        checkpoints_total_limit=1,
        best_metric=SELECTION_METRIC,
        show_progress=False,
        overwrite=True,  # a run without result.json did not finish: train it again
    )
    with open(f"{output_dir}.log.txt", "w") as log, contextlib.redirect_stdout(log), contextlib.redirect_stderr(log):
        validation = Trainer(args).train()  # the chosen model on the validation split
        test = evaluate_model_on_dataset(output_dir, dataset, split="test")  # read once, to report
    with open(os.path.join(output_dir, "training_args.json")) as handle:
        trained = json.load(handle)
    result = {
        "seed": job.seed,
        "overrides": dict(job.overrides),
        "train_queries": train_queries,
        "validation": validation,
        "test": test,
        "best_epoch": trained["best_epoch"],
        "steps": trained["global_step"],
        "seconds": round(time.perf_counter() - started, 1),
        "cpu_seconds": round(time.process_time() - cpu_started, 1),  # ~ the wall time on a free core
    }
    write_json(Path(output_dir) / "result.json", result)
    return result


def write_json(path: Path, payload: dict) -> None:
    """Write to a temporary sibling, then rename into place."""
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(payload, indent=1), encoding="utf-8")
    temporary.replace(path)


# ----- planning and scheduling -------------------------------------------------------------------


def plan(settings: Settings, datasets: list[str], conditions: dict[str, list[str]]) -> tuple[list[Job], list[Job]]:
    """(sweep jobs, variant jobs) in priority order: dataset by dataset, its sweep first.

    Variant jobs of the fvmr forms carry no λ / T yet; `with_choice` fills them in once the sweep is done.
    """
    sweeps, variants = [], []
    for dataset in datasets:
        for form, grid in settings.grids.items():
            variant = f"fvmr-{form}"
            sweeps += [Job(dataset, "base", variant, settings.seeds[0], tuple({**VARIANTS[variant], **point}.items())) for point in grid]
        for condition in conditions[dataset]:
            variants += [
                Job(dataset, condition, variant, seed, tuple(VARIANTS[variant].items()))
                for variant in CONDITIONS[condition]["variants"]
                for seed in settings.seeds
            ]
    return sweeps, variants


def choose(sweep_results: dict[Job, dict], dataset: str, variant: str) -> Job:
    """The sweep point of `variant` on `dataset` with the best validation student R@1, IoU=0.5 (first on ties)."""
    points = [job for job in sweep_results if (job.dataset, job.variant) == (dataset, variant)]
    return max(points, key=lambda job: sweep_results[job]["validation"]["student"][SELECTION_METRIC])


def with_choice(job: Job, chosen: Job) -> Job:
    """A variant job with the distillation settings of the chosen sweep point."""
    return replace(job, overrides=chosen.overrides)


def run_all(
    sweeps: list[Job], variants: list[Job], paths: dict, work_dir: Path, settings: Settings, workers: int, train: bool
) -> tuple[dict[Job, dict], dict[Job, dict]]:
    """Run every job (at most `workers` at once, one fresh process each), highest priority first.

    A variant job of an fvmr form waits until its dataset's sweep is done. Returns (sweep results, all
    results); runs with a `result.json` in the work folder are read, not trained again.
    """
    results: dict[Job, dict] = {}
    sweep_left = {dataset: sum(job.dataset == dataset for job in sweeps) for dataset in paths}
    chosen: dict[tuple[str, str], Job] = {}
    queue = list(sweeps) + list(variants)
    # each (dataset, form)'s seed-0 base run is its chosen sweep run, not trained twice
    total = len(queue) - len({(job.dataset, job.variant) for job in sweeps})

    def ready(job: Job) -> Job | None:
        if job in sweeps or job.variant not in GRID_OF:
            return job
        if sweep_left[job.dataset]:
            return None
        return with_choice(job, chosen[job.dataset, job.variant])

    def finished(job: Job, result: dict) -> None:
        results[job] = result
        if job in sweeps:
            sweep_left[job.dataset] -= 1
            if not sweep_left[job.dataset]:
                for variant in GRID_OF:
                    if any(point.variant == variant and point.dataset == job.dataset for point in sweeps):
                        chosen[job.dataset, variant] = choose({j: results[j] for j in sweeps if j in results}, job.dataset, variant)

    def cached(job: Job) -> dict | None:
        path = work_dir / "runs" / job.name / "result.json"
        return json.loads(path.read_text()) if path.is_file() else None

    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context, max_tasks_per_child=1) as pool:
        running = {}
        while queue or running:
            for original in list(queue):
                if len(running) >= workers:
                    break
                job = ready(original)
                if job is None:
                    continue
                queue.remove(original)
                if job in results:  # a variant run identical to a sweep run (same seed and settings)
                    continue
                if (result := cached(job)) is not None:
                    finished(job, result)
                    continue
                if not train:
                    continue
                running[pool.submit(run_job, job, paths[job.dataset][job.condition], str(work_dir / "runs" / job.name), settings)] = job
            if not running:
                if queue and not any(ready(job) for job in queue):
                    break  # the sweep of a dataset did not run (--no-train): its fvmr variants cannot be planned
                continue
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                job = running.pop(future)
                finished(job, future.result())
                print_run(job, results[job], len(results), total)
    return {job: results[job] for job in sweeps if job in results}, results


def print_run(job: Job, result: dict, done: int, total: int) -> None:
    settings = ", ".join(f"{key.split('_')[-1]} {value}" for key, value in job.overrides if key in DISTILLATION_KEYS)
    teacher = result["validation"].get("teacher")
    print(
        f"[{done}/{total}] {job.dataset} {job.condition} {job.variant} ({settings}) seed {job.seed}: validation student "
        f"{SELECTION_METRIC} {result['validation']['student'][SELECTION_METRIC]:.1f}"
        + (f", teacher {teacher[SELECTION_METRIC]:.1f}" if teacher else "")
        + f" (best epoch {result['best_epoch']}, {result['seconds']:.0f} s)",
        flush=True,
    )


# ----- tables ------------------------------------------------------------------------------------


def mean_std(values: list[float]) -> tuple[float, float | None]:
    """Mean and sample standard deviation (None for a single value)."""
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def format_cell(values: list[float]) -> str:
    mean, std = mean_std(values)
    return f"{mean:.1f}" if std is None else f"{mean:.1f} ± {std:.1f}"


def variant_table(groups: list[tuple[str, str, list[dict], list[dict]]]) -> str:
    """Markdown: one row per (condition, variant), student test metrics as mean ± std over seeds, the
    paired difference to the student alone (same seeds) in R@1, IoU=0.5, and the teacher's R@1, IoU=0.5.

    `groups`: (condition, variant, runs, the student-alone runs of that condition).
    """
    header = ["condition", "variant", "λ / T / detach", "seeds"] + REPORTED + [f"Δ {SELECTION_METRIC} vs student (paired)", f"teacher {SELECTION_METRIC}"]
    lines = ["| " + " | ".join(header) + " |", "|---|---|---|---:|" + "---:|" * (len(REPORTED) + 2)]
    for condition, variant, runs, alone in groups:
        overrides = runs[0]["overrides"]
        settings = (
            f"{overrides['distillation_weight']:g} / {overrides['distillation_temperature']:g} / {str(overrides['detach_teacher']).lower()}"
            if variant in GRID_OF
            else ""
        )
        cells = [format_cell([run["test"]["student"][metric] for run in runs]) for metric in REPORTED]
        alone_by_seed = {run["seed"]: run["test"]["student"][SELECTION_METRIC] for run in alone}
        paired = [run["test"]["student"][SELECTION_METRIC] - alone_by_seed[run["seed"]] for run in runs if run["seed"] in alone_by_seed]
        delta = "" if variant == "student" or not paired else format_cell(paired)
        teacher = format_cell([run["test"]["teacher"][SELECTION_METRIC] for run in runs]) if "teacher" in runs[0]["test"] else ""
        lines.append(f"| {condition} | {variant} | {settings} | {len(runs)} | " + " | ".join(cells) + f" | {delta} | {teacher} |")
    return "\n".join(lines)


def sweep_table(sweep_results: dict[Job, dict], chosen: set) -> str:
    """Markdown: one row per sweep point (seed 0, base condition), VALIDATION metrics only."""
    metrics = [SELECTION_METRIC, metric_name(1, 0.7), "mIoU"]
    lines = [
        "| form | λ | T | detach | " + " | ".join(f"validation student {m}" for m in metrics) + f" | validation teacher {SELECTION_METRIC} | |",
        "|---|---:|---:|---|" + "---:|" * (len(metrics) + 1) + "---|",
    ]
    for job, result in sweep_results.items():
        config = dict(job.overrides)
        cells = [config["distillation_loss"], f"{config['distillation_weight']:g}", f"{config['distillation_temperature']:g}", str(config["detach_teacher"]).lower()]
        cells += [f"{result['validation']['student'][metric]:.1f}" for metric in metrics] + [f"{result['validation']['teacher'][SELECTION_METRIC]:.1f}"]
        cells.append("chosen" if job in chosen else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# ----- the benchmark -----------------------------------------------------------------------------


def default_data_dir() -> Path:
    return Path(os.environ.get("FVMR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))


def build_all(args, settings: Settings, work_dir: Path, conditions: dict[str, list[str]]) -> tuple[dict, dict]:
    """Build each dataset once and its train subsets; {dataset: {condition: path}}, {dataset: chance}."""
    builders = {
        "synthetic": lambda folder: build_synthetic(folder, settings),
        "charades-sta": lambda folder: build_charades(args.data / "charades_sta", folder, settings),
    }
    paths, chance = {}, {}
    for name in args.datasets:
        build_started = time.perf_counter()
        folder = work_dir / "data" / name
        if not (folder / "build_report.json").is_file():
            builders[name](folder)
        paths[name] = {}
        for condition in conditions[name]:
            fraction = CONDITIONS[condition].get("train_fraction")
            subset = work_dir / "data" / f"{name}-{condition}"
            if fraction and not (subset / "build_report.json").is_file():
                subset_train(folder, fraction, subset)
            paths[name][condition] = str(subset if fraction else folder)
        report = read_build_report(str(folder))
        chance[name] = report["chance_r1_iou0.5"]["percent"]
        queries = {split: facts["rows_kept"] for split, facts in report["splits"].items()}
        print(f"built {name}: {queries} queries, chance R@1,IoU=0.5 {chance[name]} ({time.perf_counter() - build_started:.0f} s)", flush=True)
    return paths, chance


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="One seed, 100 steps, small splits, two sweep points per form.")
    parser.add_argument("--json", help="Write every run's metrics and the settings here.")
    parser.add_argument("--workers", type=int, default=2, help="Training processes run at once (1 torch thread each).")
    parser.add_argument("--work-dir", help="Keep datasets, logs and models here; finished runs are reused (default: a temporary folder).")
    parser.add_argument("--data", type=Path, default=default_data_dir(), help="Folder with charades_sta/ (the real annotations).")
    parser.add_argument("--seeds", type=int, help="Number of training seeds (default: 3, or 1 with --quick).")
    parser.add_argument("--steps", type=int, help="Optimizer steps per run (default: 400, or 100 with --quick).")
    parser.add_argument("--datasets", nargs="+", choices=["synthetic", "charades-sta"], default=["synthetic", "charades-sta"])
    parser.add_argument("--conditions", nargs="+", choices=list(CONDITIONS), help=f"Default: {DEFAULT_CONDITIONS}; base with --quick.")
    parser.add_argument("--no-train", action="store_true", help="Train nothing: print the tables of the runs in --work-dir.")
    args = parser.parse_args()

    settings = QUICK if args.quick else FULL
    if args.seeds:
        settings = replace(settings, seeds=tuple(range(args.seeds)))
    if args.steps:
        settings = replace(settings, max_steps=args.steps)
    if "charades-sta" in args.datasets and not (args.data / "charades_sta").is_dir():
        parser.error(f"No charades_sta/ folder in {args.data}: pass --data or set FVMR_SHARED_DATA (or use --datasets synthetic).")
    if args.no_train and not args.work_dir:
        parser.error("--no-train reads the runs of a --work-dir.")
    conditions = {  # the sweep runs on base
        dataset: ["base"] + [name for name in args.conditions or settings.conditions[dataset] if name != "base"] for dataset in args.datasets
    }

    started, load_start = time.perf_counter(), os.getloadavg()
    print(
        f"torch {torch.__version__}, {os.cpu_count()} CPUs, {args.workers} workers x 1 thread; "
        f"{len(settings.seeds)} seed(s), {settings.max_steps} steps, batch {settings.batch_size}, lr {settings.learning_rate}; "
        f"load average {load_start[0]:.2f} {load_start[1]:.2f} {load_start[2]:.2f}",
        flush=True,
    )
    with contextlib.ExitStack() as stack:
        work_dir = Path(args.work_dir) if args.work_dir else Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="fvmr-accuracy-")))
        paths, chance = build_all(args, settings, work_dir, conditions)
        sweeps, variants = plan(settings, args.datasets, conditions)
        sweep_results, results = run_all(sweeps, variants, paths, work_dir, settings, args.workers, train=not args.no_train)

    chosen = {  # only where the whole sweep of that form ran (with --no-train it may not have)
        choose(sweep_results, dataset, variant)
        for dataset in args.datasets
        for variant in GRID_OF
        if all(job in sweep_results for job in sweeps if (job.dataset, job.variant) == (dataset, variant))
    }
    wall = time.perf_counter() - started
    entries = []
    for dataset in args.datasets:
        print(f"\n### {dataset}: λ / T / detach chosen on the validation split (seed {settings.seeds[0]}, base condition)\n")
        print(sweep_table({job: result for job, result in sweep_results.items() if job.dataset == dataset}, chosen))
        groups = []
        for condition in conditions[dataset]:
            alone = [result for job, result in results.items() if (job.dataset, job.condition, job.variant) == (dataset, condition, "student")]
            for variant in VARIANTS:
                runs = sorted(
                    (result for job, result in results.items() if (job.dataset, job.condition, job.variant) == (dataset, condition, variant)
                     and (variant not in GRID_OF or job.overrides in {c.overrides for c in chosen if c.dataset == dataset})),
                    key=lambda run: run["seed"],
                )
                if runs:
                    groups.append((condition, variant, runs, alone))
                    entries.append({"dataset": dataset, "condition": condition, "variant": variant, "runs": runs})
        print(f"\n### {dataset}: test split, mean ± std over seeds (chance R@1,IoU=0.5: {chance[dataset]['test']})\n")
        print(variant_table(groups))
    load_end = os.getloadavg()
    print(f"\nwall time {wall / 60:.1f} min, load average at the end {load_end[0]:.2f} {load_end[1]:.2f} {load_end[2]:.2f}")

    if args.json:
        payload = {
            "settings": {
                **asdict(settings),
                "model_sizes": MODEL_SIZES,
                "variants": VARIANTS,
                "conditions": CONDITIONS,
                "selection": f"best epoch by validation student {SELECTION_METRIC}; λ / T / detach by the same metric on the sweep; test read once per run",
                "workers": args.workers,
            },
            "environment": {"torch": torch.__version__, "python": platform.python_version(), "cpus": os.cpu_count(), "load_average": [load_start, load_end]},
            "chance_r1_iou0.5": chance,
            "sweep": [{"dataset": job.dataset, "config": dict(job.overrides), "chosen": job in chosen, **result} for job, result in sweep_results.items()],
            "variants": entries,
            "wall_seconds": round(wall, 1),
        }
        write_json(Path(args.json), payload)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
