"""Benchmark and custom-corpus builders: official layouts, real annotation files, round trips, errors."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from datasets import load_dataset, load_from_disk

from datasets_scripts import (
    build_activitynet_captions,
    build_charades_sta,
    build_custom,
    build_dataset,
    build_tacos,
    pool_clips,
)
from datasets_scripts.building import annotation_features, video_features_schema
from datasets_scripts.simulation import ConceptSpace
from modeling_fvmr import FVMRConfig, FVMRModel, FVMRProcessor, build_word_tokenizer
from modeling_fvmr.cli import main as fvmr_main
from modeling_fvmr.data import MomentRetrievalCollator, MomentRetrievalDataset, load_moment_retrieval
from modeling_fvmr.semantic_roles import Argument, Frame, SemanticRoleTree, align_tokens

REPO_ROOT = Path(__file__).resolve().parents[1]



def stand_in_parser(sentences: list[str]) -> list[SemanticRoleTree]:
    """Deterministic stand-in for the spaCy parser: whitespace tokens, one frame per sentence whose
    verb is the second token, ARG0 the first token and ARG1 the rest."""
    trees = []
    for sentence in sentences:
        tokens = sentence.split()
        frames = []
        if len(tokens) >= 2:
            arguments = [Argument("ARG0", 0, 1, tokens[0])]
            if len(tokens) > 2:
                arguments.append(Argument("ARG1", 2, len(tokens), " ".join(tokens[2:])))
            frames.append(Frame(tokens[1], tokens[1].lower(), 1, 2, arguments))
        trees.append(SemanticRoleTree(sentence, tokens, align_tokens(sentence, tokens), frames))
    return trees


QUICK = {"tree_parser": stand_in_parser}


# ----- small files in the official layouts -----------------------------------------------------------


def write_charades(folder, rng) -> dict[str, np.ndarray]:
    """Charades-STA txt + metadata CSVs; returns the VGG features written per video (T, 4096)."""
    folder.mkdir()
    (folder / "charades_sta_train.txt").write_text(
        "AAAAA 0.0 6.9##a person opens the door.\n"
        "AAAAA 2.5 31.0##  person sits down on a chair  \n"  # end beyond the 30.0 s duration: clipped
        "BBBBB 8.0 7.0##person is holding medicine.\n"  # start > end: dropped
        "\n"
        "CCCCC 1.0 2.0##person eats a sandwich.\n"  # no features for CCCCC: dropped
        "BBBBB 3.0 3.0##person laughs.\n",  # zero length: dropped
        encoding="utf-8",
    )
    (folder / "charades_sta_test.txt").write_text("DDDDD 1.5 4.0##a person closes the laptop.\n", encoding="utf-8")
    header = ["id", "subject", "scene", "length"]
    for name, rows in (("Charades_v1_train.csv", [("AAAAA", 30.0), ("BBBBB", 12.17), ("CCCCC", 5.0)]), ("Charades_v1_test.csv", [("DDDDD", 9.5)])):
        with open(folder / name, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(header)
            writer.writerows([(video, "S1", "Kitchen", length) for video, length in rows])
    return {video: rng.standard_normal((clips, 4096)).astype(np.float32) for video, clips in (("AAAAA", 7), ("BBBBB", 3), ("DDDDD", 5))}


def write_activitynet(folder, rng) -> dict[str, np.ndarray]:
    folder.mkdir()
    splits = {
        "train.json": {
            "v_one": {"duration": 20.0, "timestamps": [[0.5, 4.0], [3.0, 3.0], [10.0, 25.0]], "sentences": ["A man jumps.", " He waves.", "He falls down. "]},
        },
        "val.json": {"v_two": {"duration": 8.0, "timestamps": [[1.0, 2.0]], "sentences": [" A dog runs."]}},
        "test.json": {"v_two": {"duration": 8.0, "timestamps": [[2.0, 6.0]], "sentences": ["The dog sleeps."]}},
    }
    for name, content in splits.items():
        (folder / name).write_text(json.dumps(content), encoding="utf-8")
    return {video: rng.standard_normal((clips, 500)).astype(np.float32) for video, clips in (("v_one", 9), ("v_two", 4))}


def write_tacos(folder, rng) -> dict[str, np.ndarray]:
    folder.mkdir()
    video = {"fps": 29.4, "num_frames": 2940, "timestamps": [[224, 358], [418, 3000]], "sentences": ["He took out a pan", "He washed the pan"]}
    for name in ("train.json", "val.json", "test.json"):
        (folder / name).write_text(json.dumps({"s27-d50.avi": video}), encoding="utf-8")
    return {"s27-d50.avi": rng.standard_normal((6, 4096)).astype(np.float32)}


def write_hdf5(path, features: dict[str, np.ndarray], group_key: str | None = None) -> None:
    with h5py.File(path, "w") as handle:
        for video, array in features.items():
            if group_key:
                handle.create_group(video).create_dataset(group_key, data=array)
            else:
                handle.create_dataset(video, data=array)


def write_npy_folder(folder, features: dict[str, np.ndarray]) -> None:
    folder.mkdir()
    for video, array in features.items():
        np.save(folder / f"{video}.npy", array)


# ----- the three benchmarks from their official feature layouts ------------------------------------


def test_charades_sta_from_vgg_hdf5(tmp_path):
    features = write_charades(tmp_path / "charades", np.random.default_rng(0))
    write_hdf5(tmp_path / "vgg_rgb_features.hdf5", features)
    built = build_charades_sta(tmp_path / "charades", tmp_path / "out", features=tmp_path / "vgg_rgb_features.hdf5", **QUICK)

    assert built.annotations["train"].features == annotation_features(with_trees=True)
    assert built.features["train"].features == video_features_schema(4096)
    train = built.annotations["train"]
    assert train["video_id"] == ["AAAAA", "AAAAA"]
    assert train["sentence"] == ["a person opens the door.", "person sits down on a chair"]
    assert train["start"] == [0.0, 2.5]
    assert train["end"] == [pytest.approx(6.9), 30.0]  # 31.0 clipped to the duration
    assert train["duration"] == [30.0, 30.0]
    assert train[1]["tokens"] == ["person", "sits", "down", "on", "a", "chair"]
    assert train[1]["tree"]["frames"][0]["verb"] == "sits"
    counts = built.report["splits"]["train"]
    assert (counts["rows_read"], counts["rows_kept"], counts["end_clipped"], counts["videos"]) == (5, 2, 1, 1)
    # BBBBB 8.0 7.0: start > end; BBBBB 3.0 3.0: zero length; CCCCC: no features (the blank line is no row)
    assert {reason: count for reason, count in counts["dropped"].items() if count} == {
        "start_after_end": 1,
        "zero_length": 1,
        "missing_features": 1,
    }
    assert counts["first_example"]["zero_length"] == "charades_sta_train.txt:6"
    assert json.loads((tmp_path / "out" / "build_report.json").read_text())["splits"] == built.report["splits"]
    # one features row per kept video, the exact arrays of the HDF5 file
    np.testing.assert_array_equal(np.asarray(built.features["train"].with_format("numpy")[0]["features"]), features["AAAAA"])
    assert built.features["test"]["video_id"] == ["DDDDD"]
    assert built.report["features"]["kind"] == "real"
    assert "SIMULATED" not in built.card_text and "Charades" in built.card_text


def test_charades_sta_from_i3d_npy_folder_with_pooling(tmp_path):
    write_charades(tmp_path / "charades", np.random.default_rng(0))
    rng = np.random.default_rng(1)
    i3d = {"AAAAA": rng.standard_normal((10, 1024)).astype(np.float32), "BBBBB": rng.standard_normal((2, 1024)).astype(np.float32), "DDDDD": rng.standard_normal((3, 1024)).astype(np.float32)}
    write_npy_folder(tmp_path / "i3d", i3d)
    built = build_charades_sta(tmp_path / "charades", tmp_path / "out", features=tmp_path / "i3d", max_clips=4, **QUICK)
    stored = np.asarray(built.features["train"].with_format("numpy")[0]["features"])
    expected = torch.nn.functional.adaptive_avg_pool1d(torch.from_numpy(i3d["AAAAA"]).T[None], 4)[0].T.numpy()
    assert stored.shape == (4, 1024)
    np.testing.assert_allclose(stored, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(np.asarray(built.features["test"].with_format("numpy")[0]["features"]), i3d["DDDDD"])  # 3 <= 4: unpooled
    assert built.report["features"]["max_clips"] == 4


def test_pool_clips_matches_torch_adaptive_pooling():
    features = np.random.default_rng(0).standard_normal((23, 5)).astype(np.float32)
    for clips in (1, 4, 7, 16, 23, 40):
        expected = torch.nn.functional.adaptive_avg_pool1d(torch.from_numpy(features).T[None], min(clips, 23))[0].T.numpy()
        np.testing.assert_allclose(pool_clips(features, clips), expected, rtol=1e-5, atol=1e-6)


def test_activitynet_captions_from_c3d_hdf5_groups(tmp_path):
    features = write_activitynet(tmp_path / "anet", np.random.default_rng(0))
    write_hdf5(tmp_path / "sub_activitynet_v1-3.c3d.hdf5", features, group_key="c3d_features")
    built = build_activitynet_captions(tmp_path / "anet", tmp_path / "out", features=tmp_path / "sub_activitynet_v1-3.c3d.hdf5", **QUICK)
    assert list(built.annotations) == ["train", "validation", "test"]
    train = built.annotations["train"]
    assert train["sentence"] == ["A man jumps.", "He falls down."]  # stripped; "He waves." is zero-length
    assert train["end"] == [4.0, 20.0]
    assert built.report["splits"]["train"]["dropped"]["zero_length"] == 1
    assert built.report["splits"]["train"]["end_clipped"] == 1
    assert built.annotations["validation"]["sentence"] == ["A dog runs."]
    np.testing.assert_array_equal(np.asarray(built.features["test"].with_format("numpy")[0]["features"]), features["v_two"])
    assert "val.json (original val_1) | 1 | 1" in built.card_text


def test_tacos_frames_become_seconds(tmp_path):
    features = write_tacos(tmp_path / "tacos", np.random.default_rng(0))
    write_hdf5(tmp_path / "tall_c3d_features.hdf5", features)
    built = build_tacos(tmp_path / "tacos", tmp_path / "out", features=tmp_path / "tall_c3d_features.hdf5", **QUICK)
    for split in ("train", "validation", "test"):
        rows = built.annotations[split]
        assert rows["video_id"] == ["s27-d50.avi", "s27-d50.avi"]
        assert rows["duration"] == [pytest.approx(100.0)] * 2  # 2940 frames / 29.4 fps
        assert rows["start"] == [pytest.approx(224 / 29.4), pytest.approx(418 / 29.4)]
        assert rows["end"] == [pytest.approx(358 / 29.4), pytest.approx(100.0)]  # frame 3000 > 2940: clipped
        assert built.features[split]["duration"] == [pytest.approx(100.0)]
    assert built.report["splits"]["validation"]["end_clipped"] == 1


# ----- malformed input names file and line ---------------------------------------------------------


def test_malformed_charades_line_names_file_and_line(tmp_path):
    write_charades(tmp_path / "charades", np.random.default_rng(0))
    path = tmp_path / "charades" / "charades_sta_test.txt"
    path.write_text("DDDDD 1.5 4.0##fine.\nDDDDD 1.5 4.0 no separator\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"charades_sta_test\.txt:2: expected 'VIDEO start end##sentence'"):
        build_charades_sta(tmp_path / "charades", tmp_path / "out", features="simulated", **QUICK)
    path.write_text("DDDDD 1.5 four##bad number.\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"charades_sta_test\.txt:1: cannot read end from 'four'"):
        build_charades_sta(tmp_path / "charades", tmp_path / "out", features="simulated", **QUICK)


def test_malformed_json_entries_name_file_and_key(tmp_path):
    write_tacos(tmp_path / "tacos", np.random.default_rng(0))
    (tmp_path / "tacos" / "val.json").write_text(json.dumps({"s1.avi": {"timestamps": [[1, 2]], "sentences": ["x"], "fps": 29.4}}))
    with pytest.raises(ValueError, match=r"val\.json\['s1\.avi'\]: missing 'num_frames'"):
        build_tacos(tmp_path / "tacos", tmp_path / "out", features="simulated", **QUICK)
    (tmp_path / "tacos" / "val.json").write_text('{"s1.avi": {"timestamps": [[1, 2]],\n "sentences": ["x"] "fps": 1}}')
    with pytest.raises(ValueError, match=r"val\.json:2: invalid JSON"):
        build_tacos(tmp_path / "tacos", tmp_path / "out", features="simulated", **QUICK)


def test_missing_feature_key_layout_is_explained(tmp_path):
    features = write_activitynet(tmp_path / "anet", np.random.default_rng(0))
    write_hdf5(tmp_path / "c3d.hdf5", features, group_key="c3d_features")
    with pytest.raises(ValueError, match="HDF5 group, not an array"):
        build_activitynet_captions(tmp_path / "anet", tmp_path / "out", features=tmp_path / "c3d.hdf5", feature_key="{vid}", **QUICK)


# ----- the real annotation files in ../shared/data ------------------------------------------------


def test_real_charades_sta_in_full_with_simulated_features(shared_data, tmp_path):
    built = build_charades_sta(
        shared_data / "charades_sta", tmp_path / "charades", features="simulated", max_clips=4, feature_dim=8, **QUICK
    )
    splits = built.report["splits"]
    assert (splits["train"]["rows_read"], splits["train"]["rows_kept"]) == (12408, 12404)
    assert splits["train"]["dropped"]["start_after_end"] == 4 and sum(splits["train"]["dropped"].values()) == 4
    assert (splits["train"]["end_clipped"], splits["train"]["videos"]) == (1802, 5336)
    assert (splits["test"]["rows_read"], splits["test"]["rows_kept"], sum(splits["test"]["dropped"].values())) == (3720, 3720, 0)
    assert (splits["test"]["end_clipped"], splits["test"]["videos"]) == (562, 1334)
    assert built.features["train"].num_rows == 5336 and built.features["test"].num_rows == 1334
    annotations = built.annotations["train"]
    assert (annotations[0]["video_id"], annotations[0]["start"], annotations[0]["sentence"]) == ("AO8RW", 0.0, "a person is putting a book on a shelf.")
    assert all(end <= duration for end, duration in zip(annotations["end"], annotations["duration"]))
    # simulated data is labelled as such everywhere
    assert built.report["features"]["kind"] == "simulated"
    assert "**The clip features of this dataset are SIMULATED.**" in (tmp_path / "charades" / "README.md").read_text()
    assert "features-simulated" in built.card_text


def test_real_activitynet_captions_subset(shared_data, tmp_path):
    built = build_activitynet_captions(
        shared_data / "activitynet_captions", tmp_path / "anet", features="simulated", max_clips=4, feature_dim=8, limit=7000, tree_parser=None
    )
    splits = built.report["splits"]
    # the first 7000 training queries hold the first invalid timestamp (a zero-length moment, row 6675)
    assert [(s["rows_read"], s["rows_kept"], s["end_clipped"], s["videos"]) for s in splits.values()] == [
        (7000, 6999, 53, 1865),
        (7000, 7000, 51, 1961),
        (7000, 7000, 38, 1994),
    ]
    assert splits["train"]["dropped"]["zero_length"] == 1
    assert "tree" not in built.annotations["train"].column_names
    assert built.annotations["train"][0]["tokens"] == ["A", "young", "woman", "is", "seen", "standing", "in", "a", "room", "and", "leads", "into", "her", "dancing", "."]


def test_real_tacos_subset_through_the_cli(shared_data, tmp_path, capsys):
    result = subprocess.run(
        [sys.executable, "-m", "modeling_fvmr.cli", "build-dataset", "tacos", "--annotations", str(shared_data / "tacos"),
         "--features", "simulated", "--trees", "none", "--limit", "800", "--max-clips", "16", "--output", str(tmp_path / "tacos")],
        cwd=REPO_ROOT, env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    assert "TACoS: SIMULATED features" in result.stdout
    report = json.loads((tmp_path / "tacos" / "build_report.json").read_text())
    assert [(s["rows_read"], s["rows_kept"], s["end_clipped"], s["videos"]) for s in report["splits"].values()] == [
        (800, 800, 4, 6),
        (800, 800, 0, 6),
        (800, 800, 0, 6),
    ]
    annotations, features = load_moment_retrieval(tmp_path / "tacos")
    first = annotations["train"][0]
    assert first["video_id"] == "s17-d69.avi"
    assert (first["start"], first["end"], first["duration"]) == pytest.approx((224 / 29.4, 358 / 29.4, 12438 / 29.4))
    assert max(len(video) for video in features["train"].with_format("numpy")["features"]) == 16

    assert fvmr_main(["build-dataset", "tacos", "--annotations", str(shared_data / "tacos"), "--output", str(tmp_path / "x")]) == 1
    assert "needs annotations and features" in capsys.readouterr().err


# ----- round trips and the training interface ---------------------------------------------------


@pytest.fixture
def built_charades(tmp_path):
    features = write_charades(tmp_path / "charades", np.random.default_rng(0))
    write_npy_folder(tmp_path / "npy", {video: array[:, :16] for video, array in features.items()})
    return build_charades_sta(tmp_path / "charades", tmp_path / "out", features=tmp_path / "npy", **QUICK)


def test_round_trip_parquet_and_load_from_disk(built_charades, tmp_path):
    for config in ("annotations", "features"):
        from_disk = load_from_disk(str(tmp_path / "out" / config))
        for split, dataset in from_disk.items():
            parquet = tmp_path / f"{config}-{split}.parquet"
            dataset.to_parquet(str(parquet))
            reloaded = load_dataset("parquet", data_files={split: str(parquet)}, cache_dir=str(tmp_path / "cache"))[split]
            assert reloaded.features == dataset.features
            assert reloaded.to_list() == dataset.to_list()
        # the card's `configs` make the folder loadable with load_dataset, as on the Hub
        via_card = load_dataset(str(tmp_path / "out"), config, cache_dir=str(tmp_path / "cache"))
        assert {split: via_card[split].to_list() for split in via_card} == {split: from_disk[split].to_list() for split in from_disk}


def test_torch_format_feeds_the_collator(built_charades):
    annotations = built_charades.annotations["train"].with_format("torch")
    features = built_charades.features["train"].with_format("torch")
    dataset = MomentRetrievalDataset(annotations, features)
    tokenizer = build_word_tokenizer(built_charades.annotations["train"]["sentence"])
    config = FVMRConfig(vocab_size=len(tokenizer), video_feature_dim=16, num_clips=4, pooling_counts=[3], hidden_size=8,
                        word_embedding_dim=8, lstm_hidden_size=8, semantic_dim=8, joint_dim=8, fusion_hidden_size=8)
    batch = MomentRetrievalCollator(FVMRProcessor.from_config(tokenizer, config))([dataset[0], dataset[1]])
    assert batch["video_features"].shape == (2, 7, 16)
    assert batch["labels"].tolist() == [[0.0, pytest.approx(6.9)], [2.5, 30.0]]
    assert batch["verb_mask"].sum().item() == 2
    output = FVMRModel(config)(**batch)
    assert torch.isfinite(output.loss)


# ----- custom corpora ----------------------------------------------------------------------------------


def test_custom_jsonl_with_npy_folder(tmp_path):
    rows = [
        {"video_id": "kitchen_01", "start": 1.0, "end": 4.0, "sentence": "someone opens the fridge", "duration": 10.0},
        {"video_id": "kitchen_01", "start": 5.0, "end": 12.0, "sentence": "someone drinks water", "duration": 10.0, "split": "test"},
        {"video_id": "garden_02", "start": 0.0, "end": 2.0, "sentence": "  ", "duration": 6.0},
    ]
    (tmp_path / "queries.jsonl").write_text("\n".join(json.dumps(row) for row in rows) + "\n")
    features = {"kitchen_01": np.ones((5, 3), np.float32), "garden_02": np.zeros((2, 3), np.float32)}
    write_npy_folder(tmp_path / "npy", features)
    built = build_dataset("custom", tmp_path / "out", tmp_path / "queries.jsonl", tmp_path / "npy", trees="none")
    assert built.annotations["train"]["sentence"] == ["someone opens the fridge"]
    assert built.report["splits"]["train"]["dropped"]["empty_sentence"] == 1
    assert built.annotations["test"]["end"] == [10.0] and built.report["splits"]["test"]["end_clipped"] == 1
    np.testing.assert_array_equal(np.asarray(built.features["test"].with_format("numpy")[0]["features"]), features["kitchen_01"])


def test_custom_csv_with_one_h5_and_durations_from_clips(tmp_path):
    with open(tmp_path / "queries.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["video_id", "start", "end", "sentence"])
        writer.writerows([["v1", 0.5, 2.0, "a cat jumps"], ["v2", 1.0, 3.0, "a dog barks"], ["v3", 0.0, 1.0, "nobody"]])
    write_hdf5(tmp_path / "features.h5", {"v1": np.ones((8, 4), np.float32), "v2": np.ones((4, 4), np.float32)})
    built = build_custom(tmp_path / "queries.csv", tmp_path / "out", features=tmp_path / "features.h5", clip_seconds=0.5, **QUICK)
    assert built.annotations["train"]["duration"] == [4.0, 2.0]  # 8 and 4 clips x 0.5 s
    assert built.annotations["train"]["end"] == [2.0, 2.0]  # v2's end 3.0 clipped to 2.0
    assert built.report["splits"]["train"]["dropped"]["missing_features"] == 1  # v3
    assert built.features["train"]["duration"] == [4.0, 2.0]


@pytest.mark.parametrize(
    "content, suffix, message",
    [
        ('{"video_id": "v", "start": 0, "end": 1}\n', ".jsonl", r"queries\.jsonl:1: missing field\(s\) \['sentence'\]"),
        ('{"video_id": "v", "start": 0, "end": 1, "sentence": "x"}\n{"video_id": "v", "start": "soon", "end": 1, "sentence": "x"}\n', ".jsonl", r"queries\.jsonl:2: cannot read start from 'soon'"),
        ("video_id,start,end,sentence,duration\nv,0,1,x,5\nv,1,2,y,6\n", ".csv", r"queries\.csv:3: video 'v' has duration 6\.0, but 5\.0 at .*queries\.csv:2"),
        ('[{"video_id": "v", "start": 0, "end": 1, "sentence": "x", "split": "dev"}]', ".json", r"queries\.json\[0\]: unknown split 'dev'"),
        ("video_id,start,end,sentence\nv,0,1,x\n", ".csv", r"queries\.csv:2: no duration for video 'v'"),
    ],
)
def test_custom_errors_name_file_and_line(tmp_path, content, suffix, message):
    path = tmp_path / f"queries{suffix}"
    path.write_text(content)
    write_npy_folder(tmp_path / "npy", {"v": np.ones((2, 2), np.float32)})
    with pytest.raises(ValueError, match=message):
        build_custom(path, tmp_path / "out", features=tmp_path / "npy", **QUICK)


def test_simulated_features_show_each_moment_over_its_span(tmp_path):
    write_activitynet(tmp_path / "anet", np.random.default_rng(0))
    built = build_activitynet_captions(tmp_path / "anet", tmp_path / "out", features="simulated", feature_dim=64, clip_seconds=1.0, tree_parser=None)
    validation = np.asarray(built.features["validation"].with_format("numpy")[0]["features"])
    test = np.asarray(built.features["test"].with_format("numpy")[0]["features"])
    np.testing.assert_array_equal(validation, test)  # one video, both splits: made from all its moments, once
    assert validation.shape == (8, 64)  # 8 s at 1 s per clip
    concepts = ConceptSpace(64, seed=0)
    dog_sleeps = validation @ concepts.mix(["dog", "sleeps"])  # "The dog sleeps." spans [2, 6] s
    assert dog_sleeps[2:6].min() > dog_sleeps[[0, 7]].max()
    report = built.report
    assert report["features"]["kind"] == "simulated" and "simulated from the content words" in report["features"]["source"]
