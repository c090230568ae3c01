"""Red team: `fvmr train` (new runs, settings, outputs) and resuming from a checkpoint."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from modeling_fvmr import atomic
from modeling_fvmr.cli import main

from .conftest import train_argv
from .harness import Case, Context, check_case


def train(ctx: Context, *extra: str) -> list[str]:
    return train_argv(ctx.world, ctx.path("out"), *extra)


def earlier_run(ctx: Context) -> Path:
    """A copy of the session's finished run at out/."""
    shutil.copytree(ctx.run_dir, ctx.path("out"))
    return ctx.path("out")


def checkpoint(ctx: Context) -> Path:
    (path,) = sorted((earlier_run(ctx) / "checkpoints").iterdir())
    return path


def resume(ctx: Context, *extra: str) -> list[str]:
    return train(ctx, "--resume-from-checkpoint", "latest", *extra)


def damaged(name: str, how: str):
    """Resume after `how` ("truncate", "flip", "delete") was done to the checkpoint's file `name`."""

    def setup(ctx: Context) -> list[str]:
        path = checkpoint(ctx) / name
        data = path.read_bytes()
        if how == "truncate":
            path.write_bytes(data[: len(data) // 2])
        elif how == "flip":
            path.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
        else:
            path.unlink()
        return resume(ctx)

    return setup


def dataset_copy(ctx: Context, edit) -> list[str]:
    """Train on a copy of the world changed by `edit(folder)`."""
    folder = ctx.path("world")
    shutil.copytree(ctx.world, folder)
    edit(folder)
    return train_argv(folder, ctx.path("out"))


def truncate_arrow(folder: Path) -> None:
    arrow = next((folder / "annotations" / "train").glob("*.arrow"))
    arrow.write_bytes(arrow.read_bytes()[:200])


def kill_export(monkeypatch) -> None:
    """A kill while the export is moved into place: after the first file, before config.json."""
    real = atomic.os.replace
    calls = []

    class KilledOS:
        def __getattr__(self, name):
            return getattr(atomic.os if not isinstance(atomic.os, KilledOS) else __import__("os"), name)

        @staticmethod
        def replace(source, target):
            calls.append(target)
            if len(calls) == 2:
                raise OSError("simulated kill during the export")
            return real(source, target)

    monkeypatch.setattr(atomic, "os", KilledOS())


SETTINGS = [
    ("set-unknown-key", ("--set", "hiden_size=8"), ("--set hiden_size", "no field 'hiden_size' (did you mean 'hidden_size'")),
    ("set-tokenizer-field", ("--set", "vocab_size=10"), ("vocab_size comes from the tokenizer",)),
    ("set-string-boolean", ("--set", "use_teacher=no"), ("FVMRConfig.use_teacher must be true or false", "'no'")),
    ("set-pooling-counts-too-long", ("--set", "pooling_counts=[15,8]"), ("pooling_counts [15, 8] reach spans of 32 clips but num_clips is 16",)),
    ("set-nms-threshold-7", ("--set", "nms_threshold=7"), ("FVMRConfig.nms_threshold must be a number in [0.0, 1.0], got 7",)),
    ("set-zero-hidden-size", ("--set", "hidden_size=0"), ("FVMRConfig.hidden_size must be a positive integer, got 0",)),
    ("set-string-number", ("--set", "joint_dim=\"8\""), ("FVMRConfig.joint_dim must be a positive integer, got '8'",)),
    ("set-dropout-1.5", ("--set", "dropout=1.5"), ("FVMRConfig.dropout must be a number in [0.0, 1.0), got 1.5",)),
    ("set-negative-distillation-weight", ("--distillation-weight", "-1"), ("FVMRConfig.distillation_weight", "got -1.0")),
    ("set-zero-temperature", ("--temperature", "0"), ("FVMRConfig.distillation_temperature", "got 0.0")),
    ("set-iou-min-above-max", ("--set", "iou_min=0.9", "--set", "iou_max=0.8"), ("iou_min (0.9) must be smaller than iou_max (0.8)",)),
    ("set-unknown-distillation-loss", ("--set", "distillation_loss=kl"), ("distillation_loss must be one of", "'kl'")),
    ("set-even-kernel", ("--set", "video_conv_layers=1", "--set", "video_conv_kernel_size=4"), ("video_conv_kernel_size must be odd",)),
    ("set-sample-clips-not-multiple", ("--set", "num_sample_clips=100"), ("num_sample_clips (100) must be a multiple of num_clips (16)",)),
    ("config-overrides-not-json", ("--config-overrides", "{bad"), ("config_overrides is not JSON",)),
    ("config-overrides-a-list", ("--config-overrides", "[1]"), ("config_overrides must be a JSON object", "[1]")),
    ("checkpoints-total-limit-negative", ("--checkpoints-total-limit", "-1"), ("--checkpoints-total-limit must be an integer >= 1, got -1",)),
    ("checkpoints-total-limit-zero", ("--checkpoints-total-limit", "0"), ("--checkpoints-total-limit must be an integer >= 1, got 0",)),
    ("best-metric-unknown", ("--best-metric", "R@1,IoU=0.6"), ("--best-metric 'R@1,IoU=0.6' is not a metric (did you mean", "'R@1,IoU=0.5'")),
    ("batch-size-zero", ("--batch-size", "0"), ("--batch-size must be an integer >= 1, got 0",)),
    ("epochs-zero", ("--epochs", "0"), ("--num-epochs must be an integer >= 1, got 0",)),
    ("max-steps-negative", ("--max-steps", "-5"), ("--max-steps must be an integer >= 1, got -5",)),
    ("checkpointing-steps-zero", ("--checkpointing-steps", "0"), ("--checkpointing-steps must be an integer >= 1, got 0",)),
    ("gradient-accumulation-zero", ("--gradient-accumulation-steps", "0"), ("--gradient-accumulation-steps must be an integer >= 1",)),
    ("eval-every-zero", ("--eval-every-epochs", "0"), ("--eval-every-epochs must be an integer >= 1",)),
    ("learning-rate-zero", ("--lr", "0"), ("--learning-rate must be a number in (0.0, inf], got 0.0",)),
    ("learning-rate-nan", ("--lr", "nan"), ("--learning-rate must be a number", "nan")),
    ("warmup-ratio-2", ("--warmup-ratio", "2"), ("--warmup-ratio must be a number in [0.0, 1.0], got 2.0",)),
    ("weight-decay-negative", ("--weight-decay", "-0.1"), ("--weight-decay must be a number in [0.0, inf], got -0.1",)),
    ("num-workers-negative", ("--num-workers", "-1"), ("--num-workers must be an integer >= 0, got -1",)),
    ("unknown-scheduler", ("--lr-scheduler", "cosine_restart"), ("--lr-scheduler 'cosine_restart' is not a transformers scheduler",)),
    ("overwrite-and-resume", ("--overwrite", "--resume-from-checkpoint", "latest"), ("--overwrite deletes the run that --resume-from-checkpoint would continue",)),
    ("preset-and-init-from", ("--preset", "tacos", "--init-from", "x"), ("--preset builds a new model",)),
    ("fp16-on-cpu", ("--mixed-precision", "fp16"), ("fp16 needs a GPU",)),
    ("missing-train-split", ("--train-split", "dev"), ("Split 'dev' is not in",)),
    ("missing-eval-split", ("--eval-split", "dev"), ("Split 'dev' is not in",)),
    ("missing-glove-file", ("--glove", "/nonexistent/glove.txt"), ("glove.txt",)),
    ("init-from-missing-model", ("--init-from", "/nonexistent/model"), ("/nonexistent/model",)),
    ("unknown-tracker", ("--log-with", "tensorbord"), ("Unknown tracker 'tensorbord'",)),
]

CASES = [
    Case(name, "silent" if name.startswith(("set-", "config-", "best-", "checkpoints-")) else "traceback",
         lambda c, extra=extra: train(c, *extra), fragments, ("out",))
    for name, extra, fragments in SETTINGS
] + [
    # ----- outputs
    Case("into-an-earlier-run", "lost", lambda c: (earlier_run(c), train(c))[1],
         ("already holds files (an earlier run?)", "--resume-from-checkpoint latest", "--overwrite"), ("out",)),
    Case("into-a-user-folder", "lost", lambda c: (c.path("out").mkdir(), (c.path("out") / "notes.txt").write_text("x"), train(c))[2], ("already holds files",), ("out",)),
    Case("output-is-a-file", "traceback", lambda c: (c.path("out").write_text("x"), train(c))[1], ("--output-dir", "is a file, not a folder"), ("out",)),
    Case("kill-during-export", "lost", lambda c: (earlier_run(c), resume(c))[1], ("simulated kill during the export",), (), kill_export),
    # ----- data
    Case("dataset-missing", "traceback", lambda c: train_argv(c.path("nowhere"), c.path("out")), ("nowhere is not a built FVMR dataset",), ("out",)),
    Case("dataset-truncated-arrow", "traceback", lambda c: dataset_copy(c, truncate_arrow), ("annotations cannot be read as a saved dataset (ArrowInvalid",), ("out",)),
    Case("dataset-without-features", "traceback", lambda c: dataset_copy(c, lambda f: shutil.rmtree(f / "features")), ("is not a built FVMR dataset: missing",), ("out",)),
    # ----- resume: exact or refused
    Case("resume-changed-set", "silent", lambda c: (earlier_run(c), resume(c, "--set", "dropout=0.3"))[1],
         ("Cannot resume from", "config_overrides", "'dropout': 0.3"), ("out",)),
    Case("resume-changed-learning-rate", "silent", lambda c: (earlier_run(c), resume(c, "--lr", "0.5"))[1], ("learning_rate 0.001 -> 0.5",), ("out",)),
    Case("resume-changed-epochs", "silent", lambda c: (earlier_run(c), resume(c, "--epochs", "3"))[1], ("num_epochs 1 -> 3",), ("out",)),
    Case("resume-changed-seed", "silent", lambda c: (earlier_run(c), resume(c, "--seed", "4"))[1], ("seed 0 -> 4",), ("out",)),
    Case("resume-no-teacher-now", "silent", lambda c: (earlier_run(c), resume(c, "--no-teacher"))[1], ("'use_teacher': False",), ("out",)),
    Case("resume-missing-rng-state", "silent", damaged("random_states_0.pkl", "delete"), ("random_states_0.pkl is missing",), ()),
    Case("resume-truncated-weights", "traceback", damaged("model.safetensors", "truncate"), ("model.safetensors does not match its recorded checksum",), ()),
    Case("resume-flipped-optimizer-byte", "silent", damaged("optimizer.bin", "flip"), ("optimizer.bin does not match its recorded checksum",), ()),
    Case("resume-truncated-scheduler", "traceback", damaged("scheduler.bin", "truncate"), ("scheduler.bin does not match",), ()),
    Case("resume-missing-weights", "traceback", damaged("model.safetensors", "delete"), ("model.safetensors is missing",), ()),
    Case("resume-edited-trainer-state", "silent", damaged("trainer_state.json", "flip"), ("trainer_state.json does not match",), ()),
    Case("resume-edited-run-args", "silent", damaged("run_args.json", "flip"), ("run_args.json does not match",), ()),
    Case("resume-without-checksums", "silent", damaged("checksums.json", "delete"), ("checksums.json is missing", "cannot be verified"), ()),
    Case("resume-missing-checkpoint-folder", "traceback", lambda c: (earlier_run(c), train(c, "--resume-from-checkpoint", str(c.path("out") / "checkpoints" / "checkpoint-9")))[1],
         ("checkpoint-9 is not a complete checkpoint",), ("out",)),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_train_red_team(case, tmp_path, capsys, monkeypatch, world, run_dir):
    ctx = Context(tmp_path, {"world": world, "run_dir": run_dir})
    check_case(case, ctx, capsys, monkeypatch)
    out = ctx.path("out")
    if case.name == "kill-during-export":  # the old export's config.json went first: no mix of old and new loads
        assert not (out / "config.json").exists() and (out / "checkpoints").is_dir()
    elif case.name.startswith("resume-") and out.is_dir():
        assert not (out / ".export.partial").exists()


def test_resume_with_only_harmless_changes_goes_on(tmp_path, world, run_dir, capsys):
    """--show-progress, --num-workers and --eval-batch-size do not change the run: the resume proceeds."""
    shutil.copytree(run_dir, tmp_path / "out")
    assert main(train_argv(world, tmp_path / "out", "--resume-from-checkpoint", "latest", "--eval-batch-size", "3",
                           "--show-progress", "true")) == 0
    assert "Resumed from" in capsys.readouterr().out
    assert json.loads((tmp_path / "out" / "config.json").read_text())["model_type"] == "fvmr"


def test_overwrite_replaces_an_earlier_run_instead_of_exporting_its_best_model(tmp_path, world, run_dir):
    """--overwrite deletes the earlier run first: nothing of it (best/, checkpoints) survives into the new one."""
    shutil.copytree(run_dir, tmp_path / "out")
    (tmp_path / "out" / "best" / "stale.txt").write_text("from the earlier run")
    assert main(train_argv(world, tmp_path / "out", "--overwrite", "--seed", "5")) == 0
    assert not (tmp_path / "out" / "best" / "stale.txt").exists()
    assert json.loads((tmp_path / "out" / "training_args.json").read_text())["seed"] == 5
