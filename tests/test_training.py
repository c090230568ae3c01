"""The Accelerate trainer: learning, exact resume after SIGKILL, export, and clear errors."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from datasets import load_from_disk
from safetensors.torch import load_file
from transformers import AutoModel

from datasets_scripts.synthetic import write_synthetic_world
from modeling_fvmr.evaluation import evaluate_model_on_dataset
from modeling_fvmr.training import Trainer, TrainingArguments

REPO_ROOT = Path(__file__).resolve().parents[1]
TINY_MODEL = {
    "hidden_size": 64,
    "word_embedding_dim": 32,
    "lstm_hidden_size": 32,
    "semantic_dim": 32,
    "joint_dim": 64,
    "fusion_hidden_size": 32,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("world") / "synthetic"
    write_synthetic_world(path, num_videos={"train": 32, "validation": 4, "test": 4}, feature_dim=32, seed=3)
    return str(path)


def cli_args(dataset, output_dir, *extra) -> list[str]:
    overrides = [item for key, value in TINY_MODEL.items() for item in ("--set", f"{key}={value}")]
    return ["train", "--dataset", dataset, "--output-dir", str(output_dir), "--batch-size", "4", *overrides, *extra]


def run_cli(*args, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "modeling_fvmr.cli", *args], cwd=REPO_ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kwargs,
    )


def test_short_run_decreases_the_loss_and_beats_the_untrained_model(world, tmp_path):
    args = TrainingArguments(
        dataset=world, output_dir=str(tmp_path), config_overrides=TINY_MODEL, num_epochs=60, batch_size=8,
        learning_rate=1e-2, eval_split="train", test_split=None, eval_every_epochs=60, seed=0,
    )
    trainer = Trainer(args)
    untrained_model = AutoModel.from_pretrained(tmp_path / "initial")
    untrained = evaluate_model_on_dataset(str(tmp_path / "initial"), world, split="train")["student"]
    assert type(untrained_model).__name__ == "FVMRModel"
    trained = trainer.train()["student"]
    history = json.loads((tmp_path / "training_args.json").read_text())
    state = json.loads(next((tmp_path / "checkpoints").iterdir()).joinpath("trainer_state.json").read_text())
    losses = [record["loss"] for record in state["history"]]
    assert history["global_step"] == 60 * 8  # 64 queries in batches of 8
    assert losses[-1] < 0.8 * losses[0]
    first, last = state["history"][0], state["history"][-1]
    assert last["loss_student"] < first["loss_student"] and last["loss_teacher"] < first["loss_teacher"]
    assert all(record["loss_distillation"] > 0 for record in state["history"])
    assert trained["R@1,IoU=0.5"] > untrained["R@1,IoU=0.5"] + 20
    assert trained["mIoU"] > untrained["mIoU"] + 10


def test_exported_folder_reloads_with_the_same_metrics_and_a_card(world, tmp_path):
    args = TrainingArguments(
        dataset=world, output_dir=str(tmp_path), config_overrides=TINY_MODEL, num_epochs=2, batch_size=8,
        eval_split="validation", test_split="test",
    )
    Trainer(args).train()
    saved = json.loads((tmp_path / "eval_results.json").read_text())
    assert saved["dataset"]["features"] == "synthetic" and saved["dataset"]["split"] == "test"
    assert saved["num_queries"] == 8  # 4 videos, 2 queries each
    reloaded = evaluate_model_on_dataset(str(tmp_path), world, split="test", json_path=str(tmp_path / "again.json"))
    assert reloaded == saved["metrics"]
    assert json.loads((tmp_path / "again.json").read_text())["metrics"] == saved["metrics"]
    card = (tmp_path / "README.md").read_text()
    assert f"value: {saved['metrics']['student']['R@1,IoU=0.5']}" in card
    record = json.loads((tmp_path / "training_args.json").read_text())
    assert record["evaluated_splits"] == ["validation", "validation", "test"]
    assert (
        f"The epoch was chosen on the `validation` split (best student R@1,IoU=0.5 after epoch {record['best_epoch']}). "
        "The numbers below come from the `test` split, evaluated once on the exported model."
    ) in card
    # weights only as safetensors; the processor and model code travel with them
    files = set(os.listdir(tmp_path))
    assert {"model.safetensors", "tokenizer.json", "processor_config.json", "modeling_fvmr.py"} <= files
    assert not any(name.endswith((".bin", ".pt")) for name in files)
    assert {"model.safetensors", "tokenizer.json", "processor_config.json"} <= set(os.listdir(tmp_path / "best"))  # a whole model folder too


def test_sigkill_between_checkpoints_then_resume_gives_the_same_weights(world, tmp_path):
    # no progress bar: unread, its output would fill the pipe and block a slow (loaded) run
    # with the cross-video memory: training state outside the weights that the checkpoint must carry too
    common = ("--epochs", "30", "--checkpointing-steps", "5", "--eval-split", "none", "--seed", "7", "--no_show_progress",
              "--set", "cross_video_weight=0.5", "--set", "cross_video_memory_size=16")
    reference = run_cli(*cli_args(world, tmp_path / "reference", *common))
    output = reference.communicate(timeout=600)[0]
    assert reference.returncode == 0, output[-3000:]

    interrupted_dir = tmp_path / "interrupted"
    interrupted = run_cli(*cli_args(world, interrupted_dir, *common))
    first = interrupted_dir / "checkpoints" / "checkpoint-00000010"
    deadline = time.monotonic() + 300
    while not first.exists() and interrupted.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    interrupted.send_signal(signal.SIGKILL)
    interrupted.wait()
    assert interrupted.returncode == -signal.SIGKILL, "training finished before it could be killed"
    assert not (interrupted_dir / "model.safetensors").exists()
    checkpoints = sorted((interrupted_dir / "checkpoints").glob("checkpoint-*"))
    assert checkpoints and all((c / "trainer_state.json").exists() and (c / "model.safetensors").exists() for c in checkpoints)
    # a save that was cut short stays a hidden temporary folder, never a checkpoint
    half_written = interrupted_dir / "checkpoints" / ".tmp-99999999"
    half_written.mkdir(exist_ok=True)
    (half_written / "model.safetensors").write_bytes(b"truncated")

    resumed = run_cli(*cli_args(world, interrupted_dir, *common, "--resume-from-checkpoint", "latest"))
    output = resumed.communicate(timeout=600)[0]
    assert resumed.returncode == 0, output[-3000:]
    assert f"Resumed from {checkpoints[-1]}" in output
    assert json.loads((interrupted_dir / "training_args.json").read_text())["evaluated_splits"] == ["test"]
    expected, got = load_file(tmp_path / "reference" / "model.safetensors"), load_file(interrupted_dir / "model.safetensors")
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[key], got[key]) for key in expected)
    # a checkpoint without its memory file cannot be resumed exactly: refused, naming the file
    last = sorted((interrupted_dir / "checkpoints").glob("checkpoint-*"))[-1]
    (last / "cross_video_memory_0.safetensors").unlink()
    refused = run_cli(*cli_args(world, interrupted_dir, *common, "--resume-from-checkpoint", str(last)))
    output = refused.communicate(timeout=600)[0]
    assert refused.returncode == 1 and "cross_video_memory_0.safetensors" in output, output[-3000:]


def test_dataset_and_config_mismatches_are_clear(world, tmp_path):
    def trainer(dataset=world, **overrides):
        return Trainer(TrainingArguments(dataset=dataset, output_dir=str(tmp_path / "out"), config_overrides={**TINY_MODEL, **overrides},
                                         overwrite=True))  # one run folder for every attempt

    with pytest.raises(ValueError, match="32-d clip features but the model expects video_feature_dim=100"):
        trainer(video_feature_dim=100)

    def variant(name, annotations):
        """A copy of the world with other annotations."""
        path = tmp_path / name
        shutil.copytree(world, path, ignore=shutil.ignore_patterns("annotations"))
        annotations.save_to_disk(str(path / "annotations"))
        return path

    no_trees = variant("no_trees", load_from_disk(f"{world}/annotations").remove_columns("tree"))
    with pytest.raises(ValueError, match="no semantic role trees.*--trees spacy.*--no-teacher"):
        trainer(dataset=str(no_trees))
    assert trainer(dataset=str(no_trees), use_teacher=False).model.config.use_teacher is False

    annotations = load_from_disk(f"{world}/annotations")
    annotations["train"] = annotations["train"].filter(lambda row: False)
    empty = variant("empty", annotations)
    with pytest.raises(ValueError, match="'train' split of .* has no queries"):
        trainer(dataset=str(empty))

    report = json.loads((Path(world) / "build_report.json").read_text())
    pooled = tmp_path / "pooled"
    shutil.copytree(world, pooled)
    report["features"]["max_clips"] = 8
    (pooled / "build_report.json").write_text(json.dumps(report))
    with pytest.raises(ValueError, match="at most 8 clips per video but the model pools videos to num_clips=16"):
        trainer(dataset=str(pooled))
    with pytest.raises(ValueError, match="Split 'dev' is not in"):
        Trainer(TrainingArguments(dataset=world, output_dir=str(tmp_path / "o"), eval_split="dev", config_overrides=TINY_MODEL))


def test_two_real_ranks_on_cpu_split_the_batches_and_gather_the_test_metrics(world, tmp_path):
    # torchrun starts two gloo ranks (`accelerate launch --cpu` would start one process only)
    launch = ["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", "-m", "modeling_fvmr.cli"]
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "OMP_NUM_THREADS": "1", "ACCELERATE_USE_CPU": "1"}
    result = subprocess.run(
        [sys.executable, *launch, *cli_args(world, tmp_path, "--epochs", "2", "--no_show_progress",
                                            "--set", "cross_video_weight=0.5", "--set", "cross_video_memory_size=64")],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    record = json.loads((tmp_path / "training_args.json").read_text())
    assert record["num_processes"] == 2
    assert record["global_step"] == 2 * 8  # 64 queries, batches of 4 per rank: 8 optimizer steps per epoch
    history = json.loads((tmp_path / "checkpoints" / "checkpoint-00000016" / "trainer_state.json").read_text())["history"]
    train = load_from_disk(f"{world}/annotations")["train"]
    every_moment = sum(train["start"]) + sum(train["end"])
    for epoch in history:
        # each rank trained on half of the queries, and on different ones: together they saw each query once
        assert epoch["queries_per_process"] == [32, 32]
        first, second = epoch["moment_seconds_per_process"]
        assert first != second and first + second == pytest.approx(every_moment, abs=0.01)
    # the test split (8 queries, batches of 64: padded with duplicates that gather_for_metrics drops),
    # evaluated once over both ranks = the exported model evaluated in one process
    assert record["evaluated_splits"] == ["validation", "validation", "test"]
    results = json.loads((tmp_path / "eval_results.json").read_text())
    assert results["metrics"] == evaluate_model_on_dataset(str(tmp_path), world, split="test")
    # each rank's cross-video memory is its own training state, saved beside its RNG state
    memories = [load_file(tmp_path / "checkpoints" / "checkpoint-00000016" / f"cross_video_memory_{rank}.safetensors") for rank in (0, 1)]
    assert int(memories[0]["written"]) == int(memories[1]["written"]) > 64
    assert not torch.equal(memories[0]["embeddings"], memories[1]["embeddings"])


def test_transformers_progress_bars_are_off_inside_and_restored_after():
    from transformers.utils import logging as transformers_logging

    from modeling_fvmr.training import transformers_progress_bars_off

    transformers_logging.enable_progress_bar()
    with transformers_progress_bars_off():
        assert not transformers_logging.is_progress_bar_enabled()
    assert transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    with transformers_progress_bars_off():
        pass
    assert not transformers_logging.is_progress_bar_enabled()  # a caller's choice is kept
    transformers_logging.enable_progress_bar()


def test_cli_defaults_select_on_validation_report_test_once_and_log_to_tensorboard(world, tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from modeling_fvmr.cli import main

    assert main(cli_args(world, tmp_path, "--epochs", "2", "--log-with", "tensorboard", "--no_show_progress")) == 0
    record = json.loads((tmp_path / "training_args.json").read_text())
    assert (record["eval_split"], record["test_split"], record["report_split"]) == ("validation", "test", "test")
    assert record["evaluated_splits"] == ["validation", "validation", "test"]  # test: once, after training
    state = json.loads((tmp_path / "checkpoints" / "checkpoint-00000032" / "trainer_state.json").read_text())
    assert [epoch["eval_split"] for epoch in state["history"]] == ["validation", "validation"]
    (events,) = (tmp_path / "logs" / "fvmr").glob("events.out.tfevents.*")  # hyper-parameters go to a sub-folder
    accumulator = EventAccumulator(str(events))
    accumulator.Reload()
    scalars = accumulator.Tags()["scalars"]
    # every optimizer step: the loss terms and the learning rate; every epoch: the validation metrics
    for tag in ("train/loss", "train/loss_student", "train/loss_teacher", "train/loss_distillation", "train/learning_rate"):
        assert len(accumulator.Scalars(tag)) == 32, tag
    assert [event.step for event in accumulator.Scalars("validation/student/R@1,IoU=0.5")] == [16, 32]
    assert accumulator.Scalars("validation/student/R@1,IoU=0.5")[-1].value == pytest.approx(state["history"][-1]["student/R@1,IoU=0.5"])
    assert not any(tag.startswith("test/") for tag in scalars)


def test_a_dataset_without_validation_selects_no_epoch_and_says_so(world, tmp_path, capsys):
    from datasets import DatasetDict

    folder = tmp_path / "no_validation"
    shutil.copytree(world, folder, ignore=shutil.ignore_patterns("annotations", "features"))
    for name in ("annotations", "features"):
        loaded = load_from_disk(f"{world}/{name}")
        DatasetDict({split: loaded[split] for split in ("train", "test")}).save_to_disk(str(folder / name))
    args = TrainingArguments(dataset=str(folder), output_dir=str(tmp_path / "out"), config_overrides=TINY_MODEL, num_epochs=1, show_progress=False)
    Trainer(args).train()
    assert f"Note: {folder} has no 'validation' split, so no epoch is selected (the last one is exported)." in capsys.readouterr().out
    record = json.loads((tmp_path / "out" / "training_args.json").read_text())
    assert (record["eval_split"], record["best_epoch"], record["evaluated_splits"]) == (None, None, ["test"])
    card = (tmp_path / "out" / "README.md").read_text()
    assert "No split chose the epoch: the weights are those of the last training step. The numbers below come from the `test` split" in card


def test_an_uninstalled_or_unknown_tracker_is_refused_before_training(world, tmp_path, capsys, monkeypatch):
    from modeling_fvmr import training
    from modeling_fvmr.cli import main

    monkeypatch.setattr(training, "get_available_trackers", lambda: [])
    assert main(cli_args(world, tmp_path / "out", "--log-with", "tensorboard")) == 1
    error = capsys.readouterr().err
    assert error == (
        "fvmr train: error: --log-with tensorboard: the tensorboard tracker is not installed "
        "(pip install 'fvmr[tensorboard]'); installed: none.\n"
    )
    assert not (tmp_path / "out").exists()  # refused before anything was built or written
    assert main(cli_args(world, tmp_path / "out", "--log-with", "tensorbord")) == 1
    assert "Unknown tracker 'tensorbord' in --log-with: Accelerate knows [" in capsys.readouterr().err


def test_fp16_on_cpu_is_an_error(world, tmp_path, monkeypatch):
    monkeypatch.setenv("ACCELERATE_USE_CPU", "1")
    with pytest.raises(ValueError, match="fp16 needs a GPU and this run is on the CPU: use bf16 or no"):
        Trainer(TrainingArguments(dataset=world, output_dir=str(tmp_path), mixed_precision="fp16"))


def test_train_flags_come_from_the_training_arguments_with_defaults_in_the_help(capsys):
    import dataclasses

    from modeling_fvmr.cli import build_parser, main, training_arguments_from_cli

    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for field in dataclasses.fields(TrainingArguments):
        assert f"--{field.name.replace('_', '-')}" in help_text, field.name  # no field without its flag
    assert "Evaluated after each epoch to pick the best model; 'none' to skip." in help_text
    assert "(default: validation)" in help_text and "(default: 0.001)" in help_text and "--epochs NUM_EPOCHS" in help_text

    args = parser.parse_args([
        "train", "--dataset", "d", "--output-dir", "o", "--epochs", "3", "--lr", "0.01", "--scheduler", "cosine",
        "--eval-split", "none", "--set", "hidden_size=8", "--no-teacher", "--temperature", "2", "--distillation-weight", "0.5",
        "--config-overrides", '{"dropout": 0.2}',
    ])
    assert training_arguments_from_cli(args) == TrainingArguments(
        dataset="d", output_dir="o", num_epochs=3, learning_rate=0.01, lr_scheduler="cosine", eval_split=None,
        config_overrides={"dropout": 0.2, "hidden_size": 8, "use_teacher": False, "distillation_temperature": 2.0, "distillation_weight": 0.5},
    )
    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == "fvmr 0.1.0\n"
