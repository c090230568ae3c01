"""The Accelerate trainer for FVMR's distillation objective L = L_ce(p, y) + L_ce(q, y) + λ L_dis(p, q).

One `Accelerator`, one `prepare`, `accumulate` for gradient accumulation, gradient clipping, an LR
schedule, `gather_for_metrics` in evaluation, atomic rotating checkpoints with `save_state` and an
exact resume (`skip_first_batches` on the seeded sampler), the best model by a chosen metric, and a
final `save_pretrained` of model + processor + `eval_results.json` + `training_args.json` + card.

Run it as `fvmr train ...`, or on several processes / GPUs with
`accelerate launch -m modeling_fvmr.cli train ...`.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from dataclasses import asdict, dataclass, field

import torch
from accelerate import Accelerator, skip_first_batches
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, set_seed
from tqdm.auto import tqdm
from transformers import AutoProcessor, get_scheduler
from transformers.utils import logging as transformers_logging

from .configuration_fvmr import FVMRConfig
from .data import MomentRetrievalCollator, MomentRetrievalDataset, dataset_video_features, load_moment_retrieval
from .evaluation import eval_results_payload, evaluate_model, format_metrics_table, read_build_report
from .hub import write_model_card
from .modeling_fvmr import FVMRModel
from .processing_fvmr import FVMRProcessor
from .tokenization_fvmr import build_word_tokenizer
from .training_args import TrainingArguments
from .word_vectors import load_word_vectors

CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE = "trainer_state.json"


@contextlib.contextmanager
def transformers_progress_bars_off():
    """Silence transformers' own bars ("Writing model shards") so they do not break the training bar."""
    was_enabled = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            transformers_logging.enable_progress_bar()


@dataclass
class TrainerState:
    """Where training stands; saved in every checkpoint. `step_in_epoch` counts dataloader batches."""

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    best_metric: float | None = None
    best_epoch: int | None = None
    history: list = field(default_factory=list)


def build_model_and_processor(
    args: TrainingArguments, train_sentences: list[str], feature_dim: int
) -> tuple[FVMRModel, FVMRProcessor]:
    """A new model sized for the data: vocabulary from the training queries, clip feature size from the features."""
    tokenizer = build_word_tokenizer(train_sentences, min_frequency=args.min_word_frequency)
    values = {
        "video_feature_dim": feature_dim,
        "video_features": dataset_video_features(args.dataset),  # how to make this model's input from a video
        **args.config_overrides,
        "vocab_size": len(tokenizer),
    }
    if args.glove == "bundled":
        values.setdefault("word_embedding_dim", 50)
    config = FVMRConfig.from_preset(args.preset, **values) if args.preset else FVMRConfig(**values)
    model = FVMRModel(config)
    if args.glove is not None:
        vectors = load_word_vectors(
            tokenizer.get_vocab(), model.text_encoder.word_embeddings.weight, None if args.glove == "bundled" else args.glove
        )
        with torch.no_grad():
            model.text_encoder.word_embeddings.weight.copy_(vectors.weights)
        print(f"GloVe: {vectors.found} of {vectors.vocabulary_size} words found.")
    return model, FVMRProcessor.from_config(tokenizer, config)


class Trainer:
    """Trains an FVMR model on a built dataset folder; see [`TrainingArguments`]."""

    def __init__(self, args: TrainingArguments):
        self.args = args
        self.accelerator = Accelerator(
            gradient_accumulation_steps=args.gradient_accumulation_steps,
            mixed_precision=args.mixed_precision,
            log_with=args.log_with,
            project_config=ProjectConfiguration(project_dir=args.output_dir, logging_dir=os.path.join(args.output_dir, "logs")),
            dataloader_config=DataLoaderConfiguration(use_seedable_sampler=True, data_seed=args.seed),
        )
        set_seed(args.seed)
        self.checkpoint_dir = os.path.join(args.output_dir, "checkpoints")
        annotations, features = load_moment_retrieval(args.dataset)
        self.train_data = self._split(annotations, features, args.train_split)
        self.eval_data = self._split(annotations, features, args.eval_split) if args.eval_split else None
        self.test_data = self._split(annotations, features, args.test_split) if args.test_split else None
        self.model, self.processor = self._model_and_processor()
        self._check_compatible(self.model.config)

    def _split(self, annotations, features, split: str) -> MomentRetrievalDataset:
        if split not in annotations or split not in features:
            raise ValueError(f"Split {split!r} is not in {self.args.dataset} (it has {sorted(annotations)}).")
        if len(annotations[split]) == 0:
            raise ValueError(f"The {split!r} split of {self.args.dataset} has no queries.")
        return MomentRetrievalDataset(annotations[split], features[split])

    def _check_compatible(self, config: FVMRConfig) -> None:
        """The dataset must fit the model: clip feature size, clips per video, trees for the teacher."""
        dataset = self.args.dataset
        if config.video_feature_dim != self.train_data.feature_dim:
            raise ValueError(
                f"{dataset} has {self.train_data.feature_dim}-d clip features but the model expects "
                f"video_feature_dim={config.video_feature_dim}."
            )
        max_clips = read_build_report(dataset).get("features", {}).get("max_clips")
        if max_clips is not None and max_clips < config.num_clips:
            raise ValueError(
                f"{dataset} was built with at most {max_clips} clips per video but the model pools videos to "
                f"num_clips={config.num_clips}: rebuild it with --max-clips >= {config.num_clips} or pick a smaller num_clips."
            )
        if config.use_teacher and not self.train_data.has_trees:
            raise ValueError(
                f"{dataset} has no semantic role trees, which the teacher needs: rebuild it with trees "
                "(`fvmr build-dataset ... --trees spacy`) or train the student alone (--no-teacher)."
            )

    def _model_and_processor(self) -> tuple[FVMRModel, FVMRProcessor]:
        """The run's model: reloaded from output_dir/initial when resuming (same vocabulary), else new."""
        initial = os.path.join(self.args.output_dir, "initial")
        if self.args.resume_from_checkpoint and os.path.isdir(initial):
            # built like a fresh run (its weights come from the checkpoint): a model loaded with
            # from_pretrained lays out its tensors differently, and the last bits of the updates drift
            return FVMRModel(FVMRConfig.from_pretrained(initial)), AutoProcessor.from_pretrained(initial)
        model, processor = build_model_and_processor(
            self.args, self.train_data.annotations["sentence"], self.train_data.feature_dim
        )
        if self.accelerator.is_main_process:
            model.save_pretrained(initial)
            processor.save_pretrained(initial)
        self.accelerator.wait_for_everyone()
        return model, processor

    # ----- checkpoints ---------------------------------------------------------------------------

    def _checkpoints(self) -> list[str]:
        """Complete checkpoints, oldest first (a checkpoint is complete once renamed into place)."""
        if not os.path.isdir(self.checkpoint_dir):
            return []
        names = [name for name in os.listdir(self.checkpoint_dir) if name.startswith(CHECKPOINT_PREFIX)]
        return [os.path.join(self.checkpoint_dir, name) for name in sorted(names)]

    def save_checkpoint(self, state: TrainerState) -> str:
        """Write the checkpoint to a temporary folder, then rename it: a killed run never leaves half a checkpoint."""
        final = os.path.join(self.checkpoint_dir, f"{CHECKPOINT_PREFIX}{state.global_step:08d}")
        temporary = os.path.join(self.checkpoint_dir, f".tmp-{state.global_step:08d}")
        if self.accelerator.is_main_process:
            shutil.rmtree(temporary, ignore_errors=True)
        self.accelerator.wait_for_everyone()
        self.accelerator.save_state(temporary)
        if self.accelerator.is_main_process:
            with open(os.path.join(temporary, TRAINER_STATE), "w") as handle:
                json.dump(asdict(state), handle, indent=2)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(temporary, final)
            for old in self._checkpoints()[: -self.args.checkpoints_total_limit]:
                shutil.rmtree(old)
        self.accelerator.wait_for_everyone()
        return final

    def load_checkpoint(self) -> TrainerState:
        path = self.args.resume_from_checkpoint
        if path == "latest":
            checkpoints = self._checkpoints()
            if not checkpoints:
                self.accelerator.print(f"No checkpoint in {self.checkpoint_dir}: starting from scratch.")
                return TrainerState()
            path = checkpoints[-1]
        if not os.path.isfile(os.path.join(path, TRAINER_STATE)):
            raise FileNotFoundError(f"{path} is not a complete checkpoint (no {TRAINER_STATE}).")
        self.accelerator.load_state(path)
        with open(os.path.join(path, TRAINER_STATE)) as handle:
            state = TrainerState(**json.load(handle))
        self.accelerator.print(f"Resumed from {path}: epoch {state.epoch}, step {state.global_step}.")
        return state

    # ----- the loop ----------------------------------------------------------------------------------

    def _dataloader(self, dataset: MomentRetrievalDataset, batch_size: int, shuffle: bool):
        collator = MomentRetrievalCollator(self.processor, with_trees=self.model.config.use_teacher and dataset.has_trees)
        return torch.utils.data.DataLoader(
            dataset,
            batch_size=batch_size,
            shuffle=shuffle,
            collate_fn=collator,
            num_workers=self.args.num_workers,
            # the loader's own generator: creating an iterator must not draw from the global RNG,
            # or a resumed run would see different dropout masks than an uninterrupted one
            generator=torch.Generator().manual_seed(self.args.seed),
        )

    def train(self) -> dict:
        """Run training; returns the exported model's results on test_split (else eval_split; {} without either)."""
        args, accelerator = self.args, self.accelerator
        train_loader = self._dataloader(self.train_data, args.batch_size, shuffle=True)
        eval_loader = self._dataloader(self.eval_data, args.eval_batch_size, shuffle=False) if self.eval_data else None
        steps_per_epoch = math.ceil(len(train_loader) / args.gradient_accumulation_steps)
        total_steps = min(args.max_steps or math.inf, steps_per_epoch * args.num_epochs)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
        scheduler = get_scheduler(
            args.lr_scheduler, optimizer, num_warmup_steps=int(args.warmup_ratio * total_steps), num_training_steps=total_steps
        )
        model, optimizer, train_loader, scheduler = accelerator.prepare(self.model, optimizer, train_loader, scheduler)
        if eval_loader is not None:
            eval_loader = accelerator.prepare(eval_loader)
        accelerator.init_trackers("fvmr", config={k: v for k, v in asdict(args).items() if not isinstance(v, dict)})

        state = self.load_checkpoint() if args.resume_from_checkpoint else TrainerState()
        progress = tqdm(total=total_steps, initial=state.global_step, desc="training", disable=not (args.show_progress and accelerator.is_local_main_process))
        running = {"loss": 0.0, "loss_student": 0.0, "loss_teacher": 0.0, "loss_distillation": 0.0, "batches": 0}
        while state.epoch < args.num_epochs and state.global_step < total_steps:
            model.train()
            train_loader.set_epoch(state.epoch)
            batches = skip_first_batches(train_loader, state.step_in_epoch) if state.step_in_epoch else train_loader
            for batch in batches:
                with accelerator.accumulate(model):
                    output = model(**batch)
                    accelerator.backward(output.loss)
                    if accelerator.sync_gradients and args.max_grad_norm:
                        accelerator.clip_grad_norm_(model.parameters(), args.max_grad_norm)
                    optimizer.step()
                    scheduler.step()
                    optimizer.zero_grad()
                state.step_in_epoch += 1
                for name in ("loss", "loss_student", "loss_teacher", "loss_distillation"):
                    value = getattr(output, name)
                    running[name] += float(value.detach()) if value is not None else 0.0
                running["batches"] += 1
                if not accelerator.sync_gradients:
                    continue
                state.global_step += 1
                progress.update(1)
                progress.set_postfix(loss=f"{float(output.loss.detach()):.4f}")
                if args.checkpointing_steps and state.global_step % args.checkpointing_steps == 0:
                    self.save_checkpoint(state)
                if state.global_step >= total_steps:
                    break
            epoch_losses = {name: running[name] / max(running["batches"], 1) for name in running if name != "batches"}
            running = dict.fromkeys(running, 0.0)
            finished_epoch = state.step_in_epoch >= len(train_loader)
            record = {"epoch": state.epoch, "step": state.global_step, **epoch_losses}
            if finished_epoch:
                state.epoch, state.step_in_epoch = state.epoch + 1, 0
            if eval_loader is not None and (state.epoch % args.eval_every_epochs == 0 or state.global_step >= total_steps):
                results = evaluate_model(model, eval_loader, accelerator)
                record.update({f"{scorer}/{name}": value for scorer, metrics in results.items() for name, value in metrics.items()})
                self._keep_best(state, results["student"][args.best_metric])
            state.history.append(record)
            accelerator.log({key: value for key, value in record.items() if key != "epoch"}, step=state.global_step)
            if accelerator.is_main_process:
                progress.write(self._summary(record))
            if finished_epoch or state.global_step >= total_steps:
                self.save_checkpoint(state)
        progress.close()
        accelerator.end_training()
        return self._export(state, eval_loader)

    def _summary(self, record: dict) -> str:
        """One line per epoch: the loss terms and the chosen metric."""
        text = (
            f"epoch {record['epoch']}: loss {record['loss']:.4f} (student {record['loss_student']:.4f}, "
            f"teacher {record['loss_teacher']:.4f}, distillation {record['loss_distillation']:.4f})"
        )
        metric = "student/" + self.args.best_metric
        return text + (f", {self.args.best_metric} {record[metric]:.2f}" if metric in record else "")

    def _keep_best(self, state: TrainerState, value: float) -> None:
        if state.best_metric is not None and value <= state.best_metric:
            return
        state.best_metric, state.best_epoch = value, state.epoch
        if self.accelerator.is_main_process:
            best = os.path.join(self.args.output_dir, "best")
            with transformers_progress_bars_off():
                self.accelerator.unwrap_model(self.model).save_pretrained(best)
        self.accelerator.wait_for_everyone()

    def _export(self, state: TrainerState, eval_loader) -> dict:
        """save_pretrained the best model (or the last one) with its processor, metrics and settings."""
        accelerator, args = self.accelerator, self.args
        model = accelerator.unwrap_model(self.model)
        best = os.path.join(args.output_dir, "best")
        if os.path.isdir(best):
            model = FVMRModel.from_pretrained(best).to(accelerator.device)
        report_split, report_data, report_loader = args.eval_split, self.eval_data, eval_loader
        if self.test_data is not None:
            report_split, report_data = args.test_split, self.test_data
            report_loader = accelerator.prepare(self._dataloader(self.test_data, args.eval_batch_size, shuffle=False))
        results = evaluate_model(model, report_loader, accelerator) if report_loader is not None else {}
        if accelerator.is_main_process:
            model.save_pretrained(args.output_dir)
            self.processor.save_pretrained(args.output_dir)
            with open(os.path.join(args.output_dir, "training_args.json"), "w") as handle:
                json.dump({**asdict(args), "best_epoch": state.best_epoch, "global_step": state.global_step}, handle, indent=2)
            if results:
                payload = eval_results_payload(results, args.dataset, report_split, len(report_data))
                with open(os.path.join(args.output_dir, "eval_results.json"), "w") as handle:
                    json.dump(payload, handle, indent=2)
                print(f"\nThe exported model on the {report_split!r} split ({len(report_data)} queries):")
                print(format_metrics_table(results))
            write_model_card(args.output_dir)
            counts = self.processor.truncation_counts
            if counts["frames_dropped"] or counts["arguments_dropped"]:
                print(f"Semantic role trees truncated to the config limits: {dict(counts)}")
        accelerator.wait_for_everyone()
        return results


__all__ = ["TrainingArguments", "Trainer", "TrainerState", "build_model_and_processor"]
