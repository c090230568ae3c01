"""Red team: `fvmr evaluate`, `fvmr index`, `fvmr search`, `fvmr push`, `fvmr extract-features`, and the
library entry points (from_pretrained, the pipeline, MomentIndex.load / search)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from modeling_fvmr import FVMRConfig, FVMRModel, MomentIndex, atomic
from modeling_fvmr.cli import main

from .harness import Case, Context, check_case
from .test_build_dataset import kill_at_rename


def model_copy(ctx: Context, edit=None) -> Path:
    """A copy of the trained model folder, its config.json changed by `edit(config dict)`."""
    folder = ctx.path("model")
    shutil.copytree(ctx.run_dir, folder, ignore=shutil.ignore_patterns("checkpoints", "best", "initial"))
    if edit is not None:
        config = json.loads((folder / "config.json").read_text())
        edit(config)
        (folder / "config.json").write_text(json.dumps(config))
    return folder


def other_model(ctx: Context) -> Path:
    """The trained model's folder with other (freshly initialised) weights: same config, same processor."""
    import torch

    folder = model_copy(ctx)
    torch.manual_seed(123)
    FVMRModel(FVMRConfig.from_pretrained(folder)).save_pretrained(folder)
    return folder


def weights_only(ctx: Context) -> Path:
    """The trained model's folder without its processor (a model saved alone)."""
    folder = model_copy(ctx)
    for name in ("processor_config.json", "tokenizer.json", "tokenizer_config.json"):
        (folder / name).unlink()
    return folder


def set_config(**values):
    return lambda config: config.update(values)


def evaluate(ctx: Context, model=None, *extra) -> list[str]:
    return ["evaluate", model or ctx.run_dir, ctx.world, "--split", "test", *extra]


def truncated_weights(ctx: Context) -> Path:
    folder = model_copy(ctx)
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:100])
    return folder


def index_copy(ctx: Context, edit=None) -> Path:
    folder = ctx.path("index")
    shutil.copytree(ctx.index_dir, folder)
    if edit is not None:
        edit(folder)
    return folder


def edit_metadata(**values):
    def edit(folder: Path) -> None:
        metadata = json.loads((folder / "index.json").read_text())
        metadata.update(values)
        (folder / "index.json").write_text(json.dumps(metadata))
    return edit


def relabel(folder: Path) -> None:
    metadata = json.loads((folder / "index.json").read_text())
    metadata["video_ids"] = metadata["video_ids"][::-1]  # swap the two videos' names
    (folder / "index.json").write_text(json.dumps(metadata, indent=1))


def truncate_embeddings(folder: Path) -> None:
    tensors = folder / "index.safetensors"
    tensors.write_bytes(tensors.read_bytes()[:-64])


def search(ctx: Context, *extra, index=None) -> list[str]:
    return ["search", index or ctx.index_dir, "a person opens the door", *extra]


def npy(ctx: Context, array) -> Path:
    path = ctx.path("clipvideo.npy")
    np.save(path, array, allow_pickle=True)
    return path


def index(ctx: Context, *sources, extra=()) -> list[str]:
    return ["index", ctx.run_dir, *sources, "--output-dir", ctx.path("out"), *extra]


def existing_index(ctx: Context) -> None:
    shutil.copytree(ctx.index_dir, ctx.path("out"))


CASES = [
    # ----- evaluate
    Case("evaluate-json-exists", "lost", lambda c: (c.path("r.json").write_text("{}"), evaluate(c, None, "--json", c.path("r.json")))[1], ("r.json already exists", "--overwrite"), ("r.json",)),
    Case("evaluate-json-is-a-folder", "traceback", lambda c: (c.path("r").mkdir(), evaluate(c, None, "--json", c.path("r")))[1], ("r is a folder, not a file",), ("r",)),
    Case("evaluate-json-folder-missing", "traceback", lambda c: evaluate(c, None, "--json", c.path("no/r.json")), ("The folder of", "does not exist"), ("no",)),
    Case("evaluate-model-missing-offline", "traceback", lambda c: evaluate(c, c.path("no-model")), ("no-model",), ()),
    Case("evaluate-model-path-neither-folder-nor-hub-id", "traceback", lambda c: evaluate(c, "./no/such/model"),
         ("no such folder, and not a Hub id either", "'./no/such/model'"), ()),
    Case("evaluate-config-string-boolean", "silent", lambda c: evaluate(c, model_copy(c, set_config(use_teacher="false"))), ("FVMRConfig.use_teacher must be true or false", "'false'"), ()),
    Case("evaluate-config-pooling-counts", "silent", lambda c: evaluate(c, model_copy(c, set_config(pooling_counts=[15, 8, 8]))), ("pooling_counts [15, 8, 8]", "num_clips is 16"), ()),
    Case("evaluate-config-string-number", "traceback", lambda c: evaluate(c, model_copy(c, set_config(hidden_size="8"))), ("FVMRConfig.hidden_size must be a positive integer, got '8'",), ()),
    Case("evaluate-config-nms-7", "silent", lambda c: evaluate(c, model_copy(c, set_config(nms_threshold=7))), ("FVMRConfig.nms_threshold", "got 7"), ()),
    Case("evaluate-config-null-clips", "traceback", lambda c: evaluate(c, model_copy(c, set_config(num_clips=None))), ("FVMRConfig.num_clips must be a positive integer, got None",), ()),
    Case("evaluate-config-not-json", "traceback", lambda c: evaluate(c, (lambda m: ((m / "config.json").write_text("{oops"), m)[1])(model_copy(c))), ("config.json",), ()),
    Case("evaluate-truncated-weights", "traceback", lambda c: evaluate(c, truncated_weights(c)), ("model.safetensors",), ()),
    Case("evaluate-missing-split", "traceback", lambda c: ["evaluate", c.run_dir, c.world, "--split", "dev"], ("Split 'dev' is not in",), ()),
    Case("evaluate-dataset-missing", "traceback", lambda c: ["evaluate", c.run_dir, c.path("nowhere")], ("nowhere is not a built FVMR dataset",), ()),
    Case("evaluate-model-without-processor", "traceback", lambda c: evaluate(c, weights_only(c)), ("model holds no processor (processor_config.json",), ()),
    Case("evaluate-batch-size-zero", "traceback", lambda c: evaluate(c, None, "--batch-size", "0"), ("batch_size",), ()),
    # ----- index
    Case("index-output-exists", "lost", lambda c: (existing_index(c), index(c, c.world, extra=("--split", "test")))[1], ("already exists and is not empty", "--overwrite"), ("out",)),
    Case("index-output-is-a-file", "traceback", lambda c: (c.path("out").write_text("x"), index(c, c.world))[1], ("out exists and is not a folder",), ("out",)),
    Case("index-kill-before-rename", "lost", lambda c: (existing_index(c), index(c, c.world, extra=("--split", "test", "--overwrite")))[1], ("simulated kill",), ("out",), kill_at_rename),
    Case("index-nan-features", "silent", lambda c: index(c, npy(c, np.full((6, 8), np.nan, np.float32)), extra=("--clip-seconds", "1")), ("Video 'clipvideo': 48 feature values are NaN or infinite",), ("out",)),
    Case("index-npy-without-clip-seconds", "traceback", lambda c: index(c, npy(c, np.zeros((6, 8), np.float32))), ("clipvideo.npy: .npy features have no duration",), ("out",)),
    Case("index-npy-wrong-dim", "traceback", lambda c: index(c, npy(c, np.zeros((6, 5), np.float32)), extra=("--clip-seconds", "1")), ("features have dim 5 but the model expects video_feature_dim=8",), ("out",)),
    Case("index-npy-pickled", "traceback", lambda c: index(c, npy(c, np.array([{"a": 1}], dtype=object)), extra=("--clip-seconds", "1")), ("clipvideo.npy",), ("out",)),
    Case("index-source-missing", "traceback", lambda c: index(c, c.path("nothing")), ("nothing is neither a .npy file nor a dataset folder",), ("out",)),
    Case("index-split-ambiguous", "traceback", lambda c: index(c, c.world), ("choose a split with --split",), ("out",)),
    Case("index-model-missing", "traceback", lambda c: ["index", c.path("no-model"), c.world, "--output-dir", c.path("out")], ("no-model",), ("out",)),
    Case("index-model-without-processor", "traceback", lambda c: ["index", weights_only(c), c.world, "--split", "test", "--output-dir", c.path("out")],
         ("model holds no processor", "fvmr train"), ("out",)),
    Case("index-batch-size-zero", "traceback", lambda c: index(c, c.world, extra=("--split", "test", "--batch-size", "0")), ("batch_size must be positive, got 0",), ("out",)),
    # ----- search
    Case("search-relabelled-videos", "silent", lambda c: search(c, index=index_copy(c, relabel)), ("index.json does not match its recorded checksum",), ()),
    Case("search-edited-durations", "silent", lambda c: search(c, index=index_copy(c, edit_metadata(durations=[99.0, 99.0]))), ("index.json does not match its recorded checksum",), ()),
    Case("search-truncated-embeddings", "traceback", lambda c: search(c, index=index_copy(c, truncate_embeddings)), ("index.safetensors does not match its recorded checksum",), ()),
    Case("search-missing-embeddings", "traceback", lambda c: search(c, index=index_copy(c, lambda f: (f / "index.safetensors").unlink())), ("index.safetensors is missing",), ()),
    Case("search-metadata-not-json", "traceback", lambda c: search(c, index=index_copy(c, lambda f: (f / "index.json").write_text("{"))), ("index.json is not valid JSON",), ()),
    Case("search-future-format", "traceback", lambda c: search(c, index=index_copy(c, edit_metadata(format_version=99))), ("format_version 99",), ()),
    Case("search-index-missing", "traceback", lambda c: search(c, index=c.path("nothing")), ("nothing is not a saved moment index",), ()),
    Case("search-nms-threshold-7", "silent", lambda c: search(c, "--nms-threshold", "7"), ("NMS threshold must be an IoU in [0, 1]", "got 7.0"), ()),
    Case("search-nms-threshold-1.5", "silent", lambda c: search(c, "--nms-threshold", "1.5"), ("NMS threshold must be an IoU in [0, 1]", "got 1.5"), ()),
    Case("search-nms-threshold-negative", "silent", lambda c: search(c, "--nms-threshold", "-0.5"), ("got -0.5",), ()),
    Case("search-top-k-zero", "traceback", lambda c: search(c, "--top-k", "0"), ("top_k must be a positive integer, got 0",), ()),
    Case("search-unknown-video", "traceback", lambda c: search(c, "--video", "nope"), ("Unknown video id(s) ['nope']",), ()),
    Case("search-other-model", "silent", lambda c: search(c, "--model", other_model(c)), ("built by a different model",), ()),
    Case("search-model-weights-do-not-fit-config", "traceback", lambda c: search(c, "--model", model_copy(c, set_config(hidden_size=16))), ("model.safetensors", "do not fit"), ()),
    Case("search-model-without-processor", "traceback", lambda c: search(c, "--model", weights_only(c)), ("model holds no processor",), ()),
    Case("search-model-missing", "traceback", lambda c: search(c, "--model", c.path("no-model")), ("no-model",), ()),
    Case("search-empty-query", "traceback", lambda c: ["search", c.index_dir, " "], ("Query 0 is empty",), ()),
    Case("search-cut-without-videos", "traceback", lambda c: search(c, "--cut", c.path("clips")), ("No video file is known for",), ("clips",)),
    # ----- push (offline: refused before any upload)
    Case("push-missing-folder", "traceback", lambda c: ["push", c.path("no-model"), "me/model", "--token", "hf_x"], ("no-model does not exist",), ()),
    Case("push-bad-repo-id", "traceback", lambda c: ["push", c.run_dir, "a/b/c", "--token", "hf_x"], ("Invalid repo id 'a/b/c'",), ()),
    Case("push-dataset-not-a-dataset", "traceback", lambda c: ["push-dataset", c.path("no-data"), "me/data", "--token", "hf_x"], ("no-data",), ()),
    # ----- extract-features
    Case("extract-videos-missing", "traceback", lambda c: ["extract-features", c.path("none.mp4"), "--backbone", "pixel-grid", "--clip-seconds", "1", "--output-dir", c.path("out")], ("none.mp4",), ("out",)),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_evaluate_index_search_red_team(case, tmp_path, capsys, monkeypatch, world, run_dir, index_dir):
    ctx = Context(tmp_path, {"world": world, "run_dir": run_dir, "index_dir": index_dir})
    check_case(case, ctx, capsys, monkeypatch)


# ----- silent wrong results made visible, and the library entry points


def test_a_query_of_unknown_words_is_flagged_not_answered(index_dir, capsys):
    assert main(["search", str(index_dir), "zyzzyva quux", "a person opens the door", "--json"]) == 0
    captured = capsys.readouterr()
    payload = json.loads(captured.out)
    assert payload[0]["unknown_query"] is True and "unknown_query" not in payload[1]
    (warning,) = [line for line in captured.err.splitlines() if line.startswith("fvmr search: warning:")]
    assert "'zyzzyva quux'" in warning


def test_library_index_search_and_pipeline_flag_unknown_queries(run_dir, index_dir, world):
    from transformers import AutoProcessor, pipeline

    model, processor = FVMRModel.from_pretrained(run_dir), AutoProcessor.from_pretrained(run_dir)
    moments = MomentIndex.load(index_dir, model, processor).search(["qwzx", "a person opens the door"], top_k=2)
    assert [m.unknown_query for m in moments[0]] == [True, True] and not any(m.unknown_query for m in moments[1])
    finder = pipeline("video-moment-retrieval", model=model, processor=processor)
    features = np.random.default_rng(0).normal(size=(6, 8)).astype(np.float32)
    unknown, known = finder(["qwzx", "a person opens the door"], video_features=features, duration=6.0, top_k=2)
    assert all(moment["unknown_query"] for moment in unknown) and all("unknown_query" not in moment for moment in known)
    with pytest.raises(ValueError, match=r"NMS threshold must be an IoU in \[0, 1\]"):
        finder("a person", video_features=features, duration=6.0, nms_threshold=7)
    with pytest.raises(ValueError, match="6 NaN or infinite values"):
        finder("a person", video_features=np.where(np.arange(48).reshape(6, 8) < 6, np.nan, features), duration=6.0)


@pytest.mark.parametrize(
    "values, message",
    [
        ({"use_teacher": "false"}, "FVMRConfig.use_teacher must be true or false (a JSON boolean), got 'false'"),
        ({"num_clips": 8, "pooling_counts": [15]}, "pooling_counts [15] reach spans of 16 clips but num_clips is 8"),
        ({"nms_threshold": 7}, "FVMRConfig.nms_threshold must be a number in [0.0, 1.0], got 7"),
        ({"max_verbs": 2.5}, "FVMRConfig.max_verbs must be a positive integer, got 2.5"),
        ({"role_labels": []}, "role_labels must be a non-empty list of strings"),
        ({"video_features": "clip"}, "video_features must be an object"),
        ({"pad_token_id": 5, "vocab_size": 3}, "pad_token_id (5) must be smaller than vocab_size (3)"),
    ],
)
def test_from_pretrained_refuses_a_bad_config_json_naming_the_field(values, message, run_dir, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(run_dir, folder, ignore=shutil.ignore_patterns("checkpoints", "best", "initial"))
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, **values}))
    with pytest.raises(ValueError, match=re.escape(message)):
        FVMRModel.from_pretrained(folder)
    with pytest.raises(ValueError, match=re.escape(message)):
        FVMRConfig(**{key: value for key, value in {**config, **values}.items() if key in FVMRConfig.__init__.__code__.co_varnames})


def test_moment_index_load_verifies_or_skips_on_request(run_dir, index_dir, tmp_path):
    folder = tmp_path / "index"
    shutil.copytree(index_dir, folder)
    truncate_embeddings(folder)
    model = FVMRModel.from_pretrained(run_dir)
    with pytest.raises(ValueError, match="index.safetensors does not match its recorded checksum"):
        MomentIndex.load(folder, model)
    with pytest.raises(ValueError, match="index.safetensors cannot be read"):  # unverified, still named
        MomentIndex.load(folder, model, verify=False)


def test_debug_shows_the_traceback(tmp_path, monkeypatch, capsys):
    argv = ["search", str(tmp_path / "nothing"), "a query"]
    with pytest.raises(FileNotFoundError, match="is not a saved moment index"):
        main(["--debug", *argv])
    monkeypatch.setenv("FVMR_DEBUG", "1")
    with pytest.raises(FileNotFoundError):
        main(argv)
    monkeypatch.delenv("FVMR_DEBUG")
    assert main(argv) == 1


def test_a_bug_is_not_swallowed(monkeypatch, index_dir):
    """Programming errors (here an IndexError) are not anticipated: they keep their traceback."""
    from modeling_fvmr.search import index as index_module

    def broken(*args, **kwargs):
        raise IndexError("a bug")

    monkeypatch.setattr(index_module.MomentIndex, "search", broken)
    with pytest.raises(IndexError):
        main(["search", str(index_dir), "a person"])
