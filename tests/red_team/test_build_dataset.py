"""Red team: `fvmr build-dataset` for custom corpora, the three benchmarks and the synthetic world."""

from __future__ import annotations

import json
import pickle

import h5py
import numpy as np
import pytest

from modeling_fvmr import atomic
from modeling_fvmr.cli import main

from .conftest import CUSTOM_ROWS, write_jsonl
from .harness import Case, Context, check_case


def custom(ctx: Context, rows=None, *, name="q.jsonl", text=None, features=None, extra=()) -> list[str]:
    """build-dataset custom of `rows` (or raw `text`) with the session's feature folder (or `features`)."""
    path = ctx.path(name)
    if text is not None:
        path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    else:
        write_jsonl(path, CUSTOM_ROWS if rows is None else rows)
    return ["build-dataset", "custom", "--annotations", path, "--features", features or ctx.custom_features,
            "--output-dir", ctx.path("out"), "--trees", "none", *extra]


def row(**changes) -> list[dict]:
    return [{**CUSTOM_ROWS[0], **changes}, *CUSTOM_ROWS[1:]]


def feature_folder(ctx: Context, v1) -> str:
    """A copy of the feature folder whose v1.npy is `v1` (an array, or raw bytes)."""
    folder = ctx.path("features")
    folder.mkdir()
    np.save(folder / "v2.npy", np.load(ctx.custom_features / "v2.npy"))
    if isinstance(v1, bytes):
        (folder / "v1.npy").write_bytes(v1)
    else:
        np.save(folder / "v1.npy", v1, allow_pickle=True)
    return folder


def good(ctx: Context) -> np.ndarray:
    return np.load(ctx.custom_features / "v1.npy")


def with_value(ctx: Context, value: float) -> str:
    array = good(ctx)
    array[2, 3] = value
    return feature_folder(ctx, array)


def hdf5(ctx: Context, build) -> str:
    path = ctx.path("features.h5")
    with h5py.File(path, "w") as handle:
        build(handle, ctx)
    return path


def truncated_hdf5(ctx: Context) -> str:
    path = hdf5(ctx, lambda handle, c: [handle.create_dataset(v, data=np.load(c.custom_features / f"{v}.npy")) for v in ("v1", "v2")])
    path.write_bytes(path.read_bytes()[:1000])
    return path


def occupied(ctx: Context, name="out") -> None:
    """A user's folder with a README.md of their own where the output should go."""
    ctx.path(name).mkdir()
    (ctx.path(name) / "README.md").write_text("my notes\n")


def kill_at_rename(monkeypatch) -> None:
    """A kill between the staging folder's completion and its rename into place."""
    def killed(staging, output):
        raise OSError("simulated kill before the rename")

    monkeypatch.setattr(atomic, "replace_folder", killed)


def existing_dataset(ctx: Context) -> list[str]:
    """A built dataset at out/, then a rebuild with --overwrite that is killed before its rename."""
    argv = custom(ctx)
    assert main([str(item) for item in argv]) == 0
    return argv + ["--overwrite"]


def charades(ctx: Context, lines: str | None = None, csv: str | None = "id,length\nAAA,30.0\nBBB,20.0\n", extra=()) -> list[str]:
    folder = ctx.path("charades")
    folder.mkdir()
    if lines is not None:
        (folder / "charades_sta_train.txt").write_text(lines)
    if csv is not None:
        (folder / "Charades_v1_train.csv").write_text(csv)
    return ["build-dataset", "charades-sta", "--annotations", folder, "--features", "simulated", "--output-dir",
            ctx.path("out"), "--trees", "none", *extra]


GOOD_LINES = "AAA 1.0 5.0##a person opens a door\nBBB 2.0 4.0##a person sits down\n"


def video_json(ctx: Context, source: str, data, raw: str | None = None) -> list[str]:
    folder = ctx.path(source)
    folder.mkdir()
    (folder / "train.json").write_text(raw if raw is not None else json.dumps(data))
    return ["build-dataset", source, "--annotations", folder, "--features", "simulated", "--output-dir", ctx.path("out"),
            "--trees", "none"]


ANET = {"v_a": {"duration": 20.0, "timestamps": [[1.0, 5.0]], "sentences": ["a man runs"]}}
TACOS = {"s13-d21.avi": {"fps": 29.4, "num_frames": 900, "timestamps": [[30, 300]], "sentences": ["he cuts a cucumber"]}}

CASES = [
    # ----- custom corpora: annotation files
    Case("custom-invalid-jsonl-line", "traceback", lambda c: custom(c, text=json.dumps(CUSTOM_ROWS[0]) + "\n{oops\n"), ("q.jsonl:2", "invalid JSON"), ("out",)),
    Case("custom-missing-field", "traceback", lambda c: custom(c, [{"video_id": "v1", "end": 2, "sentence": "x", "duration": 6}]), ("q.jsonl:1", "missing field(s) ['start']"), ("out",)),
    Case("custom-unparsable-start", "traceback", lambda c: custom(c, row(start="abc")), ("q.jsonl:1", "cannot read start from 'abc'"), ("out",)),
    Case("custom-boolean-start", "silent", lambda c: custom(c, row(start=True)), ("q.jsonl:1", "start must be a number, got True"), ("out",)),
    Case("custom-nan-end", "silent", lambda c: custom(c, row(end="nan")), ("q.jsonl:1", "end is 'nan', not a finite number"), ("out",)),
    Case("custom-infinite-duration", "silent", lambda c: custom(c, row(duration="inf")), ("q.jsonl:1", "duration is 'inf'"), ("out",)),
    Case("custom-list-start", "traceback", lambda c: custom(c, row(start=[1, 2])), ("q.jsonl:1", "cannot read start"), ("out",)),
    Case("custom-number-sentence", "silent", lambda c: custom(c, row(sentence=123)), ("q.jsonl:1", "sentence must be a string, got 123"), ("out",)),
    Case("custom-list-video-id", "silent", lambda c: custom(c, row(video_id=["v1"])), ("q.jsonl:1", "video_id must be a string"), ("out",)),
    Case("custom-boolean-video-id", "silent", lambda c: custom(c, row(video_id=True)), ("q.jsonl:1", "video_id must be a string, got True"), ("out",)),
    Case("custom-video-id-parent-path", "silent", lambda c: custom(c, row(video_id="../v1")), ("q.jsonl:1", "video id '../v1' is empty or a path"), ("out",)),
    Case("custom-video-id-absolute-path", "silent", lambda c: custom(c, row(video_id="/etc/passwd")), ("q.jsonl:1", "is empty or a path"), ("out",)),
    Case("custom-video-id-backslash", "silent", lambda c: custom(c, row(video_id="a\\b")), ("q.jsonl:1", "is empty or a path"), ("out",)),
    Case("custom-video-id-blank", "silent", lambda c: custom(c, row(video_id="  ")), ("q.jsonl:1", "is empty or a path"), ("out",)),
    Case("custom-unknown-split", "silent", lambda c: custom(c, row(split="dev")), ("q.jsonl:1", "unknown split 'dev'"), ("out",)),
    Case("custom-row-not-object", "traceback", lambda c: custom(c, ["v1 0 2"]), ("q.jsonl:1", "expected an object"), ("out",)),
    Case("custom-json-not-list", "traceback", lambda c: custom(c, name="q.json", text='{"video_id": "v1"}'), ("q.json", "expected a JSON list"), ("out",)),
    Case("custom-json-duplicate-key", "silent", lambda c: custom(c, name="q.json", text='[{"video_id": "v1", "video_id": "v2", "start": 0, "end": 1, "sentence": "x", "duration": 6}]'), ("q.json", "the key 'video_id' appears twice"), ("out",)),
    Case("custom-jsonl-duplicate-key", "silent", lambda c: custom(c, text='{"video_id": "v1", "start": 0, "start": 3, "end": 4, "sentence": "x", "duration": 6}\n'), ("q.jsonl:1", "the key 'start' appears twice"), ("out",)),
    Case("custom-csv-missing-column", "traceback", lambda c: custom(c, name="q.csv", text="video_id,start,sentence\nv1,0,x\n"), ("q.csv:2", "missing field(s) ['end']"), ("out",)),
    Case("custom-unknown-extension", "traceback", lambda c: custom(c, name="q.txt", text="v1 0 2 x\n"), ("q.txt", "annotation files must be .jsonl, .json, .csv"), ("out",)),
    Case("custom-annotations-missing", "traceback", lambda c: ["build-dataset", "custom", "--annotations", c.path("none.jsonl"), "--features", c.custom_features, "--output-dir", c.path("out"), "--trees", "none"], ("none.jsonl does not exist",), ("out",)),
    Case("custom-two-durations", "silent", lambda c: custom(c, [CUSTOM_ROWS[0], {**CUSTOM_ROWS[1], "duration": 7.0}]), ("q.jsonl:2", "video 'v1' has duration 7.0, but 6.0"), ("out",)),
    Case("custom-no-duration", "silent", lambda c: custom(c, [{k: v for k, v in CUSTOM_ROWS[0].items() if k != "duration"}]), ("q.jsonl:1", "no duration for video 'v1'"), ("out",)),
    Case("custom-every-row-invalid", "silent", lambda c: custom(c, [row(sentence="  ")[0]]), ("No query of split(s) ['train'] survived validation",), ("out",)),
    Case("custom-no-rows", "traceback", lambda c: custom(c, text="\n\n"), ("q.jsonl: no annotation rows",), ("out",)),
    Case("custom-limit-zero", "silent", lambda c: custom(c, extra=("--limit", "0")), ("limit must be positive, got 0",), ("out",)),
    # ----- custom corpora: feature files
    Case("features-missing-folder", "traceback", lambda c: custom(c, features=c.path("nothing")), ("Feature path", "nothing does not exist"), ("out",)),
    Case("features-nan", "silent", lambda c: custom(c, features=with_value(c, np.nan)), ("v1.npy", "1 of the 48 feature values of video 'v1' are NaN or infinite"), ("out",)),
    Case("features-inf", "silent", lambda c: custom(c, features=with_value(c, np.inf)), ("v1.npy", "NaN or infinite"), ("out",)),
    Case("features-pickled-object-array", "traceback", lambda c: custom(c, features=feature_folder(c, np.array([{"a": 1}], dtype=object))), ("v1.npy: not a readable .npy array",), ("out",)),
    Case("features-truncated-npy", "traceback", lambda c: custom(c, features=feature_folder(c, (c.custom_features / "v1.npy").read_bytes()[:100])), ("v1.npy: not a readable .npy array",), ("out",)),
    Case("features-pickle-file-named-npy", "traceback", lambda c: custom(c, features=feature_folder(c, pickle.dumps({"x": 1}))), ("v1.npy: not a readable .npy array",), ("out",)),
    Case("features-one-dimensional", "traceback", lambda c: custom(c, features=feature_folder(c, np.zeros(6, np.float32))), ("v1.npy: features must have shape (clips, dim), got (6,)",), ("out",)),
    Case("features-dims-differ", "traceback", lambda c: custom(c, features=feature_folder(c, np.zeros((6, 5), np.float32))), ("has 8-d features, others 5-d",), ("out",)),
    Case("features-truncated-hdf5", "traceback", lambda c: custom(c, features=truncated_hdf5(c)), ("features.h5: not a readable HDF5 file",), ("out",)),
    Case("features-hdf5-group", "traceback", lambda c: custom(c, features=hdf5(c, lambda h, _: h.create_group("v1").create_dataset("c3d", data=np.zeros((6, 8))))), ("'v1' is an HDF5 group",), ("out",)),
    Case("features-wrong-suffix", "traceback", lambda c: custom(c, features=write_jsonl(c.path("f.txt"), [])), ("f.txt: features must be an HDF5 file",), ("out",)),
    Case("features-key-template-without-vid", "traceback", lambda c: custom(c, features=truncated_hdf5(c), extra=("--feature-key", "features")), ("must contain {vid}",), ("out",)),
    # ----- outputs
    Case("output-is-a-file", "traceback", lambda c: (c.path("out").write_text("x"), custom(c))[1], ("out exists and is not a folder",), ("out",)),
    Case("output-not-empty", "lost", lambda c: (occupied(c), custom(c))[1], ("out already exists and is not empty", "--overwrite"), ("out",)),
    Case("kill-before-rename-new-output", "lost", custom, ("simulated kill",), ("out",), kill_at_rename),
    Case("kill-before-rename-keeps-old-dataset", "lost", existing_dataset, ("simulated kill",), ("out",), kill_at_rename),
    # ----- Charades-STA
    Case("charades-no-split-file", "traceback", lambda c: charades(c), ("No Charades-STA split file",), ("out",)),
    Case("charades-line-without-hashes", "traceback", lambda c: charades(c, "AAA 1.0 5.0 a person opens a door\n"), ("charades_sta_train.txt:1", "expected 'VIDEO start end##sentence'"), ("out",)),
    Case("charades-unparsable-end", "traceback", lambda c: charades(c, "AAA 1.0 x##a door\n"), ("charades_sta_train.txt:1", "cannot read end from 'x'"), ("out",)),
    Case("charades-nan-start", "silent", lambda c: charades(c, "AAA nan 3##a door\n"), ("charades_sta_train.txt:1", "not a finite number"), ("out",)),
    Case("charades-video-id-path", "silent", lambda c: charades(c, "../AAA 1 3##a door\n"), ("charades_sta_train.txt:1", "video id '../AAA' is empty or a path"), ("out",)),
    Case("charades-no-metadata", "traceback", lambda c: charades(c, GOOD_LINES, csv=None), ("No Charades metadata",), ("out",)),
    Case("charades-metadata-without-length", "traceback", lambda c: charades(c, GOOD_LINES, csv="id,duration\nAAA,3\n"), ("Charades_v1_train.csv: expected columns 'id' and 'length'",), ("out",)),
    Case("charades-metadata-bad-length", "traceback", lambda c: charades(c, GOOD_LINES, csv="id,length\nAAA,long\n"), ("Charades_v1_train.csv:2", "cannot read length"), ("out",)),
    Case("charades-gold-trees", "traceback", lambda c: charades(c, GOOD_LINES)[:-2] + ["--trees", "gold"], ("Gold trees exist only for the synthetic world",), ("out",)),
    Case("charades-not-empty-output", "lost", lambda c: (occupied(c), charades(c, GOOD_LINES))[1], ("already exists and is not empty",), ("out",)),
    # ----- ActivityNet Captions and TACoS (the video-keyed JSON layout)
    Case("activitynet-invalid-json", "traceback", lambda c: video_json(c, "activitynet-captions", None, raw='{"v_a": '), ("train.json:1: invalid JSON",), ("out",)),
    Case("activitynet-top-level-list", "traceback", lambda c: video_json(c, "activitynet-captions", [ANET]), ("expected a JSON object keyed by video id, got list",), ("out",)),
    Case("activitynet-duplicate-video-key", "silent", lambda c: video_json(c, "activitynet-captions", None, raw='{"v_a": %s, "v_a": %s}' % (json.dumps(ANET["v_a"]), json.dumps(ANET["v_a"]))), ("train.json", "the key 'v_a' appears twice"), ("out",)),
    Case("activitynet-lengths-differ", "traceback", lambda c: video_json(c, "activitynet-captions", {"v_a": {**ANET["v_a"], "sentences": ["a", "b"]}}), ("'v_a'", "must be lists of the same length"), ("out",)),
    Case("activitynet-timestamp-not-pair", "traceback", lambda c: video_json(c, "activitynet-captions", {"v_a": {**ANET["v_a"], "timestamps": [[1.0]]}}), ("'v_a'] query 0", "a timestamp must be [start, end]"), ("out",)),
    Case("activitynet-sentence-not-string", "silent", lambda c: video_json(c, "activitynet-captions", {"v_a": {**ANET["v_a"], "sentences": [7]}}), ("'v_a'] query 0", "the sentence must be a string"), ("out",)),
    Case("activitynet-missing-duration", "traceback", lambda c: video_json(c, "activitynet-captions", {"v_a": {k: v for k, v in ANET["v_a"].items() if k != "duration"}}), ("missing 'duration'",), ("out",)),
    Case("activitynet-boolean-duration", "silent", lambda c: video_json(c, "activitynet-captions", {"v_a": {**ANET["v_a"], "duration": True}}), ("duration must be a number, got True",), ("out",)),
    Case("activitynet-entry-not-object", "traceback", lambda c: video_json(c, "activitynet-captions", {"v_a": [1, 2]}), ("'v_a'", "expected an object with 'timestamps' and 'sentences'"), ("out",)),
    Case("tacos-missing-fps", "traceback", lambda c: video_json(c, "tacos", {"s13-d21.avi": {k: v for k, v in TACOS["s13-d21.avi"].items() if k != "fps"}}), ("missing 'fps'",), ("out",)),
    Case("tacos-zero-fps", "silent", lambda c: video_json(c, "tacos", {"s13-d21.avi": {**TACOS["s13-d21.avi"], "fps": 0}}), ("fps must be positive",), ("out",)),
    Case("tacos-video-key-path", "silent", lambda c: video_json(c, "tacos", {"x/../s13.avi": TACOS["s13-d21.avi"]}), ("video id 'x/../s13.avi' is empty or a path",), ("out",)),
    # ----- the synthetic world
    Case("synthetic-with-annotations", "traceback", lambda c: ["build-dataset", "synthetic", "--annotations", c.path("a"), "--output-dir", c.path("out")], ("give neither annotations nor features",), ("out",)),
    Case("synthetic-not-empty-output", "lost", lambda c: (occupied(c), ["build-dataset", "synthetic", "--output-dir", c.path("out"), "--num-videos", "train=2"])[1], ("already exists and is not empty",), ("out",)),
    Case("benchmark-without-features", "traceback", lambda c: ["build-dataset", "tacos", "--annotations", c.path("a"), "--output-dir", c.path("out")], ("needs annotations and features",), ("out",)),
]


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_build_dataset_red_team(case, tmp_path, capsys, monkeypatch, custom_features):
    check_case(case, Context(tmp_path, {"custom_features": custom_features}), capsys, monkeypatch)
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".out.") and not case.patch], "staging folder left behind"


def test_a_bom_does_not_hide_the_first_video_and_duplicates_are_reported(tmp_path, custom_features, capsys):
    """Silent wrong results made right: a UTF-8 BOM (Excel's CSV) and duplicated rows."""
    rows = [CUSTOM_ROWS[0], CUSTOM_ROWS[0], CUSTOM_ROWS[1]]
    header = "video_id,start,end,sentence,duration\n"
    body = "".join(f"{r['video_id']},{r['start']},{r['end']},{r['sentence']},{r['duration']}\n" for r in rows)
    (tmp_path / "q.csv").write_bytes("\ufeff".encode() + (header + body).encode())
    out = tmp_path / "out"
    assert main(["build-dataset", "custom", "--annotations", str(tmp_path / "q.csv"), "--features", str(custom_features),
                 "--output-dir", str(out), "--trees", "none"]) == 0
    printed = capsys.readouterr().out
    report = json.loads((out / "build_report.json").read_text())["splits"]["train"]
    assert (report["rows_read"], report["rows_kept"], report["duplicates"]) == (3, 3, 1)
    assert report["first_example"]["duplicate"] == "q.csv:3"
    assert "duplicates" in printed.splitlines()[1]
    from datasets import load_from_disk

    assert load_from_disk(str(out / "annotations"))["train"]["video_id"] == ["v1", "v1", "v1"]
