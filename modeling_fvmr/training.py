"""The Accelerate trainer for FVMR's distillation objective L = L_ce(p, y) + L_ce(q, y) + λ L_dis(p, q).

One `Accelerator`, one `prepare`, `accumulate` for gradient accumulation, gradient clipping, an LR
schedule, `gather_for_metrics` in evaluation, atomic rotating checkpoints with `save_state` and an
exact resume (`skip_first_batches` on the seeded sampler), the best model by a chosen metric, and a
final `save_pretrained` of model + processor + `eval_results.json` + `training_args.json` + card.

The best epoch is chosen on `eval_split` (validation by default); `test_split` is evaluated once, on
the exported model, for the reported numbers. Run it as `fvmr train ...`, or on several processes /
GPUs with `accelerate launch ... -m modeling_fvmr.cli train ...` / `torchrun ... -m modeling_fvmr.cli
train ...`: every process trains on its own shard of each batch, step counts are those after
`prepare`, and only the main process writes files.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from accelerate import Accelerator, PartialState, skip_first_batches
from accelerate.tracking import LOGGER_TYPE_TO_CLASS, get_available_trackers
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, parse_flag_from_env, set_seed
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm
from transformers import AutoProcessor, get_scheduler
from transformers.utils import logging as transformers_logging

from .atomic import atomic_folder, publish_files
from .checksums import folder_checksums, verify_checksums
from .configuration_fvmr import FVMRConfig
from .data import MomentRetrievalCollator, MomentRetrievalDataset, dataset_video_features, load_moment_retrieval
from .evaluation import eval_results_payload, evaluate_model, format_metrics_table, read_build_report
from .hub import TRAINING_ARGS_NAME, dataset_pretty_name, read_training_record, write_model_card
from .modeling_fvmr import FVMRModel
from .processing_fvmr import FVMRProcessor
from .tokenization_fvmr import build_word_tokenizer, extend_word_tokenizer
from .training_args import TrainingArguments
from .word_vectors import load_word_vectors

CHECKPOINT_PREFIX = "checkpoint-"
TRAINER_STATE = "trainer_state.json"
RUN_ARGS = "run_args.json"  # the settings that shape the run, compared on resume
CHECKSUMS = "checksums.json"  # sha256 of every file of a checkpoint, verified on resume
CROSS_VIDEO_MEMORY = "cross_video_memory_{}.safetensors"  # each process's memory (config.cross_video_memory_size)
# TrainingArguments fields a resumed run may change: they do not change the trained weights or the metrics
RESUME_FREE_FIELDS = ("output_dir", "resume_from_checkpoint", "overwrite", "show_progress", "log_with", "num_workers", "eval_batch_size")
LOSS_TERMS = ("loss_student", "loss_teacher", "loss_distillation")
DEFAULT_EVAL_SPLIT, DEFAULT_TEST_SPLIT = "validation", "test"
# FVMRConfig fields that a fine-tuning run (--init-from) may change: none of them shapes a weight
TRAINING_TIME_FIELDS = (
    "dropout", "iou_min", "iou_max", "distillation_temperature", "distillation_weight", "detach_teacher", "nms_threshold",
)


def check_trackers(log_with: str | None) -> list[str]:
    """The tracker names of `--log-with` ("tensorboard,wandb"), each known to Accelerate and installed;
    else a ValueError naming the missing one and its install command (raised before any training)."""
    names = [name.strip() for name in (log_with or "").split(",") if name.strip()]
    available = {str(tracker.value) if hasattr(tracker, "value") else str(tracker) for tracker in get_available_trackers()}
    for name in names:
        if name == "all":  # Accelerate's "every installed tracker"
            continue
        if name not in LOGGER_TYPE_TO_CLASS:
            raise ValueError(f"Unknown tracker {name!r} in --log-with: Accelerate knows {sorted(LOGGER_TYPE_TO_CLASS)}.")
        if name not in available:
            extra = "pip install 'fvmr[tensorboard]'" if name == "tensorboard" else f"pip install {name}"
            raise ValueError(f"--log-with {name}: the {name} tracker is not installed ({extra}); installed: {sorted(available) or 'none'}.")
    return names


def check_mixed_precision(mixed_precision: str) -> None:
    """fp16 needs an accelerator (CUDA, XPU, MPS, ...): on a CPU run it would silently do nothing. Read from
    the environment Accelerate will use (`ACCELERATE_USE_CPU`, the devices torch sees), not from an
    Accelerator, so a refused setting never reaches the process-wide `AcceleratorState`."""
    on_cpu = parse_flag_from_env("ACCELERATE_USE_CPU") or not torch.accelerator.is_available()
    if mixed_precision == "fp16" and on_cpu:
        raise ValueError("--mixed-precision fp16 needs a GPU and this run is on the CPU: use bf16 or no.")


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
    evaluated_splits: list = field(default_factory=list)  # every evaluation, in order (resumes included)


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
        PartialState().print(f"GloVe: {vectors.found} of {vectors.vocabulary_size} words found.")
    return model, FVMRProcessor.from_config(tokenizer, config)


def continue_from_model(
    args: TrainingArguments, train_sentences: list[str], feature_dim: int
) -> tuple[FVMRModel, FVMRProcessor, list[str]]:
    """The trained model `args.init_from` ready for a new corpus: its geometry and weights kept, its
    vocabulary grown by the training words it lacks (GloVe rows with `args.glove`, else N(0, 1) like a new
    model's). Returns (model, processor, new words)."""
    model = FVMRModel.from_pretrained(args.init_from)
    config = model.config
    if config.video_feature_dim != feature_dim:
        raise ValueError(
            f"{args.dataset} has {feature_dim}-d clip features but {args.init_from} was trained on "
            f"{config.video_feature_dim}-d ones: fine-tuning keeps the model's geometry, so the new corpus needs clip "
            "features from the same extractor (rebuild it with those features, or train a new model without --init-from)."
        )
    _check_same_recipe(config.video_features, dataset_video_features(args.dataset), args)
    for key, value in args.config_overrides.items():
        if key not in TRAINING_TIME_FIELDS and getattr(config, key, None) != value:
            raise ValueError(
                f"--set {key}={value} would change the geometry of {args.init_from} ({key}={getattr(config, key, None)}); "
                f"a fine-tuning run may set only {list(TRAINING_TIME_FIELDS)}."
            )
        setattr(config, key, value)
    tokenizer, new_words = extend_word_tokenizer(
        AutoProcessor.from_pretrained(args.init_from).tokenizer, train_sentences, min_frequency=args.min_word_frequency
    )
    if new_words:
        old_size = model.get_input_embeddings().num_embeddings
        embeddings = model.resize_token_embeddings(len(tokenizer), mean_resizing=False)
        with torch.no_grad():
            embeddings.weight[old_size:] = torch.randn(len(tokenizer) - old_size, embeddings.embedding_dim)
            if args.glove is not None:
                vectors = load_word_vectors(
                    {word: tokenizer.convert_tokens_to_ids(word) for word in new_words},
                    embeddings.weight,
                    None if args.glove == "bundled" else args.glove,
                )
                embeddings.weight.copy_(vectors.weights)
                PartialState().print(f"GloVe: {vectors.found} of {len(new_words)} new words found.")
    return model, FVMRProcessor.from_config(tokenizer, config), new_words


def _check_same_recipe(model_recipe: dict | None, data_recipe: dict | None, args: TrainingArguments) -> None:
    """A fine-tuning corpus extracted from video files must be extracted the way the model's input was."""
    keys = ("backbone", "frames_per_second", "clip_seconds", "pooling")
    if model_recipe and data_recipe and "backbone" in model_recipe and "backbone" in data_recipe:
        differ = [f"{key} {data_recipe.get(key)!r} vs {model_recipe.get(key)!r}" for key in keys if data_recipe.get(key) != model_recipe.get(key)]
        if differ:
            raise ValueError(
                f"{args.dataset} was extracted differently from the input of {args.init_from} ({'; '.join(differ)}): "
                "extract the new corpus with the model's recipe (fvmr extract-features --backbone ... as in its config)."
            )


def run_settings(args: TrainingArguments) -> dict:
    """The settings that shape a run's result (all but `RESUME_FREE_FIELDS`), as JSON values; the dataset
    as an absolute path."""
    settings = {key: value for key, value in asdict(args).items() if key not in RESUME_FREE_FIELDS}
    settings["dataset"] = os.path.abspath(args.dataset)
    return json.loads(json.dumps(settings))


def check_output_dir(args: TrainingArguments) -> None:
    """A run writes into an empty or new OUTPUT_DIR; an earlier run's folder is continued only with
    --resume-from-checkpoint and replaced only with --overwrite (its files are deleted by the main process)."""
    output = args.output_dir
    if os.path.exists(output) and not os.path.isdir(output):
        raise ValueError(f"--output-dir {output} is a file, not a folder.")
    if not os.path.isdir(output) or not os.listdir(output) or args.resume_from_checkpoint:
        return
    if not args.overwrite:
        raise ValueError(
            f"--output-dir {output} already holds files (an earlier run?): continue it with --resume-from-checkpoint "
            "latest, replace it with --overwrite, or choose another folder."
        )
    state = PartialState()
    if state.is_main_process:
        for name in os.listdir(output):
            path = os.path.join(output, name)
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.remove(path)
    state.wait_for_everyone()


def _read_json(path: str) -> dict:
    """A JSON file of a checkpoint; ValueError naming it when it is missing or does not parse."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ValueError(f"{path} is missing: the checkpoint is incomplete.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"{path} is not valid JSON ({error}).") from None


class Trainer:
    """Trains an FVMR model on a built dataset folder; see [`TrainingArguments`]."""

    def __init__(self, args: TrainingArguments):
        self.args = args
        check_trackers(args.log_with)  # before the Accelerator: nothing has started yet
        check_mixed_precision(args.mixed_precision)
        check_output_dir(args)
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
        self.eval_split = self._optional_split(annotations, args.eval_split, DEFAULT_EVAL_SPLIT, "no epoch is selected (the last one is exported)")
        self.test_split = self._optional_split(annotations, args.test_split, DEFAULT_TEST_SPLIT, "the eval split is reported")
        if self.eval_split is not None and self.eval_split == self.test_split:
            self.accelerator.print(f"Note: {self.eval_split!r} both picks the epoch and is reported: its numbers are optimistic.")
        self.eval_data = self._split(annotations, features, self.eval_split) if self.eval_split else None
        self.test_data = self._split(annotations, features, self.test_split) if self.test_split else None
        self.new_words: list[str] = []
        self.model, self.processor = self._model_and_processor()
        self._check_compatible(self.model.config)
        self._save_initial()  # only once the run is known to fit its data: a refused run writes nothing
        self.evaluated_splits: list[str] = []  # every evaluation of the run, in order (see TrainerState)

    def _optional_split(self, annotations, split: str | None, default: str, consequence: str) -> str | None:
        """`split`, or None (with a note) when it is the default and the dataset lacks it."""
        if split == default and split not in annotations:
            self.accelerator.print(f"Note: {self.args.dataset} has no {split!r} split, so {consequence}.")
            return None
        return split

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
        """The run's model: reloaded from output_dir/initial when resuming (same vocabulary), else new or
        continued from `init_from`."""
        initial = os.path.join(self.args.output_dir, "initial")
        if self.args.resume_from_checkpoint and os.path.isdir(initial):
            # built like a fresh run (its weights come from the checkpoint): a model loaded with
            # from_pretrained lays out its tensors differently, and the last bits of the updates drift
            return FVMRModel(FVMRConfig.from_pretrained(initial)), AutoProcessor.from_pretrained(initial)
        sentences, feature_dim = self.train_data.annotations["sentence"], self.train_data.feature_dim
        if self.args.init_from:
            model, processor, self.new_words = continue_from_model(self.args, sentences, feature_dim)
            self.accelerator.print(f"Continuing from {self.args.init_from}: {len(self.new_words)} new words in the vocabulary.")
        else:
            model, processor = build_model_and_processor(self.args, sentences, feature_dim)
        return model, processor

    def _save_initial(self) -> None:
        """OUTPUT_DIR/initial: the new model's config and processor (a resume rebuilds the model from them)."""
        initial = os.path.join(self.args.output_dir, "initial")
        if self.args.resume_from_checkpoint and os.path.isdir(initial):
            return
        if self.accelerator.is_main_process:
            with atomic_folder(initial, overwrite=True) as staging, transformers_progress_bars_off():
                self.model.save_pretrained(staging)
                self.processor.save_pretrained(staging)
        self.accelerator.wait_for_everyone()

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
        memory = self.model.cross_video_memory
        if memory is not None:  # training state outside the weights, one file per process (like the RNG states)
            save_file(memory.state_dict(), self._memory_file(temporary))
        self.accelerator.wait_for_everyone()  # every file in place before the main process checksums them
        if self.accelerator.is_main_process:
            with open(os.path.join(temporary, TRAINER_STATE), "w") as handle:
                json.dump(asdict(state), handle, indent=2)
            with open(os.path.join(temporary, RUN_ARGS), "w") as handle:
                json.dump(run_settings(self.args), handle, indent=2)
            checksums = folder_checksums(temporary)
            with open(os.path.join(temporary, CHECKSUMS), "w") as handle:
                json.dump(checksums, handle, indent=1)
            shutil.rmtree(final, ignore_errors=True)
            os.replace(temporary, final)
            for old in self._checkpoints()[: -self.args.checkpoints_total_limit]:
                shutil.rmtree(old)
        self.accelerator.wait_for_everyone()
        return final

    def _memory_file(self, checkpoint: str) -> str:
        return os.path.join(checkpoint, CROSS_VIDEO_MEMORY.format(self.accelerator.process_index))

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
        self._check_resumable(path)
        try:
            self.accelerator.load_state(path)
            if self.model.cross_video_memory is not None:
                self.model.cross_video_memory.load_state_dict(load_file(self._memory_file(path)))
        except Exception as error:  # whatever torch / safetensors raise on a file that passed its checksum
            raise ValueError(f"{path}: the checkpoint cannot be loaded ({type(error).__name__}: {error}).") from error
        state = TrainerState(**_read_json(os.path.join(path, TRAINER_STATE)))
        self.accelerator.print(f"Resumed from {path}: epoch {state.epoch}, step {state.global_step}.")
        return state

    def _check_resumable(self, path: str) -> None:
        """Resume exactly or not at all: every file as written (checksums.json), this process's RNG state
        present, and the same settings as the run that wrote the checkpoint (`run_settings`)."""
        checksums = os.path.join(path, CHECKSUMS)
        if not os.path.isfile(checksums):
            raise ValueError(f"{checksums} is missing: the checkpoint cannot be verified (written by an older fvmr, or damaged).")
        verify_checksums(path, _read_json(checksums), "checkpoint")
        rng_state = os.path.join(path, f"random_states_{self.accelerator.process_index}.pkl")
        if not os.path.isfile(rng_state):
            raise ValueError(f"{rng_state} is missing: without the RNG state the resumed run would not be the run it continues.")
        if self.model.cross_video_memory is not None and not os.path.isfile(self._memory_file(path)):
            raise ValueError(f"{self._memory_file(path)} is missing: without the cross-video memory the resumed run would not be the run it continues.")
        recorded, current = _read_json(os.path.join(path, RUN_ARGS)), run_settings(self.args)
        changed = [f"{key} {recorded.get(key)!r} -> {current.get(key)!r}" for key in sorted(set(recorded) | set(current)) if recorded.get(key) != current.get(key)]
        if changed:
            raise ValueError(
                f"Cannot resume from {path} with other settings than the run that wrote it ({'; '.join(changed)}): "
                "resume with the same settings, or start a new run (another --output-dir, or --overwrite)."
            )

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
        """Run training; returns the exported model's results on the test split (else the eval split; {}
        without either)."""
        args, accelerator = self.args, self.accelerator
        train_loader = self._dataloader(self.train_data, args.batch_size, shuffle=True)
        optimizer = torch.optim.AdamW(self.model.parameters(), lr=args.learning_rate, weight_decay=args.weight_decay)
        model, optimizer, train_loader = accelerator.prepare(self.model, optimizer, train_loader)
        # counted after `prepare`: each process iterates over its own shard of the batches
        steps_per_epoch = math.ceil(len(train_loader) / args.gradient_accumulation_steps)
        total_steps = min(args.max_steps or math.inf, steps_per_epoch * args.num_epochs)
        # the prepared scheduler steps once per process at every optimizer step, so it counts in those units
        scheduler = get_scheduler(
            args.lr_scheduler,
            optimizer,
            num_warmup_steps=int(args.warmup_ratio * total_steps) * accelerator.num_processes,
            num_training_steps=total_steps * accelerator.num_processes,
        )
        scheduler = accelerator.prepare(scheduler)
        eval_loader = None
        if self.eval_data is not None:
            eval_loader = accelerator.prepare(self._dataloader(self.eval_data, args.eval_batch_size, shuffle=False))
        accelerator.init_trackers("fvmr", config=self._tracker_config())

        state = self.load_checkpoint() if args.resume_from_checkpoint else TrainerState()
        self.evaluated_splits = state.evaluated_splits  # `evaluate` appends to the state's record
        progress = tqdm(total=total_steps, initial=state.global_step, desc="training", disable=not (args.show_progress and accelerator.is_local_main_process))
        running = dict.fromkeys(("loss", *LOSS_TERMS, "batches"), 0.0)
        shard = torch.zeros(2, dtype=torch.float64, device=accelerator.device)  # queries, Σ (start + end) seconds
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
                losses = {name: float(getattr(output, name).detach()) for name in ("loss", *LOSS_TERMS) if getattr(output, name) is not None}
                for name, value in losses.items():
                    running[name] += value
                running["batches"] += 1
                shard += torch.tensor([len(batch["labels"]), float(batch["labels"].double().sum())], dtype=torch.float64, device=shard.device)
                if not accelerator.sync_gradients:
                    continue
                state.global_step += 1
                progress.update(1)
                progress.set_postfix(loss=f"{losses['loss']:.4f}")
                accelerator.log({f"train/{name}": value for name, value in losses.items()} | {"train/learning_rate": scheduler.get_last_lr()[0]}, step=state.global_step)
                if args.checkpointing_steps and state.global_step % args.checkpointing_steps == 0:
                    self.save_checkpoint(state)
                if state.global_step >= total_steps:
                    break
            epoch_losses = {name: running[name] / max(running["batches"], 1) for name in running if name != "batches"}
            running = dict.fromkeys(running, 0.0)
            shards = accelerator.gather(shard.unsqueeze(0)).cpu()  # (processes, 2)
            shard.zero_()
            finished_epoch = state.step_in_epoch >= len(train_loader)
            record = {
                "epoch": state.epoch,
                "step": state.global_step,
                **epoch_losses,
                # what each process trained on this epoch: its number of queries and the sum of their annotated
                # start + end seconds (a fingerprint: equal shards would give equal sums)
                "queries_per_process": [int(count) for count in shards[:, 0]],
                "moment_seconds_per_process": [round(float(total), 3) for total in shards[:, 1]],
            }
            if finished_epoch:
                state.epoch, state.step_in_epoch = state.epoch + 1, 0
            logged = {f"epoch/{name}": value for name, value in epoch_losses.items()}
            if eval_loader is not None and (state.epoch % args.eval_every_epochs == 0 or state.global_step >= total_steps):
                results = self.evaluate(model, eval_loader, self.eval_split)
                metrics = {f"{scorer}/{name}": value for scorer, scores in results.items() for name, value in scores.items()}
                record.update({"eval_split": self.eval_split, **metrics})
                logged.update({f"{self.eval_split}/{name}": value for name, value in metrics.items()})
                self._keep_best(state, results["student"][args.best_metric])
            state.history.append(record)
            accelerator.log(logged, step=state.global_step)
            if accelerator.is_main_process:
                progress.write(self._summary(record))
            if finished_epoch or state.global_step >= total_steps:
                self.save_checkpoint(state)
        progress.close()
        # the export gathers metrics across processes: it must run before the trackers and the group end
        results = self._export(state)
        accelerator.end_training()
        return results

    def evaluate(self, model, loader, split: str) -> dict:
        """Metrics of `model` on a prepared loader of `split` (gathered over processes); recorded in
        `evaluated_splits`."""
        self.evaluated_splits.append(split)
        return evaluate_model(model, loader, self.accelerator)

    def _tracker_config(self) -> dict:
        """The run's settings for the trackers' hyper-parameter tables (scalars and strings only)."""
        settings = {key: value for key, value in asdict(self.args).items() if isinstance(value, (int, float, str, bool))}
        return settings | {"num_processes": self.accelerator.num_processes}

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
            with atomic_folder(best, overwrite=True) as staging, transformers_progress_bars_off():
                self.accelerator.unwrap_model(self.model).save_pretrained(staging)
                self.processor.save_pretrained(staging)  # a complete model folder: evaluate / index / search load it
        self.accelerator.wait_for_everyone()

    def _export(self, state: TrainerState) -> dict:
        """save_pretrained the best model (or the last one) with its processor, its settings and its
        metrics on the test split (else the eval split), evaluated once here; only the main process writes."""
        accelerator, args = self.accelerator, self.args
        model = accelerator.unwrap_model(self.model)
        best = os.path.join(args.output_dir, "best")
        if state.best_epoch is not None and os.path.isdir(best):
            with transformers_progress_bars_off():
                model = FVMRModel.from_pretrained(best).to(accelerator.device)
        report_split, report_data = (self.test_split, self.test_data) if self.test_data is not None else (self.eval_split, self.eval_data)
        results = {}
        if report_data is not None:
            loader = accelerator.prepare(self._dataloader(report_data, args.eval_batch_size, shuffle=False))
            results = self.evaluate(model, loader, report_split)
        if accelerator.is_main_process:
            # written whole into a staging folder, then moved beside the checkpoints (config.json last)
            staging = os.path.join(args.output_dir, ".export.partial")
            shutil.rmtree(staging, ignore_errors=True)
            with transformers_progress_bars_off():
                model.save_pretrained(staging)
            self.processor.save_pretrained(staging)
            with open(os.path.join(staging, TRAINING_ARGS_NAME), "w") as handle:
                json.dump(self._training_record(state, report_split), handle, indent=2)
            if results:
                payload = eval_results_payload(results, args.dataset, report_split, len(report_data))
                with open(os.path.join(staging, "eval_results.json"), "w") as handle:
                    json.dump(payload, handle, indent=2)
                print(f"\nThe exported model on the {report_split!r} split ({len(report_data)} queries):")
                print(format_metrics_table(results))
            write_model_card(staging)
            publish_files(Path(staging), Path(args.output_dir), last="config.json")
            counts = self.processor.truncation_counts
            if counts["frames_dropped"] or counts["arguments_dropped"]:
                print(f"Semantic role trees truncated to the config limits: {dict(counts)}")
        accelerator.wait_for_everyone()
        return results

    def _training_record(self, state: TrainerState, report_split: str | None) -> dict:
        """training_args.json: the settings, the splits actually used, the world size and the data lineage
        (the datasets of the model this run continued from, then this run's)."""
        args = self.args
        base = read_training_record(args.init_from) if args.init_from else {}
        dataset_name = dataset_pretty_name(args.dataset)
        return {
            **asdict(args),
            "eval_split": self.eval_split,
            "test_split": self.test_split,
            "dataset_name": dataset_name,
            "datasets": [*base.get("datasets", [base["dataset_name"]] if base.get("dataset_name") else []), dataset_name],
            "base_model": args.init_from,
            "new_words": len(self.new_words),
            "num_processes": self.accelerator.num_processes,
            "best_epoch": state.best_epoch,
            "global_step": state.global_step,
            "evaluated_splits": self.evaluated_splits,
            "report_split": report_split,
        }


__all__ = ["TrainingArguments", "Trainer", "TrainerState", "check_output_dir", "run_settings", "build_model_and_processor", "continue_from_model", "check_trackers", "check_mixed_precision"]
