"""MomentRetrievalDataset: batched item reads match the Arrow rows they come from."""

import numpy as np
import pytest
import torch

from datasets_scripts.synthetic import write_synthetic_world
from modeling_fvmr.data import MomentRetrievalDataset, load_moment_retrieval


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    path = tmp_path_factory.mktemp("world") / "synthetic"
    write_synthetic_world(path, num_videos={"train": 3, "validation": 1, "test": 1}, feature_dim=8, seed=5)
    annotations, features = load_moment_retrieval(path)
    return annotations["train"], features["train"]


def test_batched_items_match_the_rows_they_join(split):
    annotations, features = split
    dataset = MomentRetrievalDataset(annotations, features)
    indices = [5, 0, 5, 2]  # repeats and any order, as a shuffled sampler gives them
    items = dataset.__getitems__(indices)
    video_rows = {video_id: row for row, video_id in enumerate(features["video_id"])}
    for index, item in zip(indices, items):
        row = annotations[index]
        assert item["sentence"] == row["sentence"] and item["video_id"] == row["video_id"]
        assert item["tree"] == row["tree"]
        assert item["timestamps"] == [row["start"], row["end"]] and item["duration"] == row["duration"]
        expected = np.asarray(features[video_rows[row["video_id"]]]["features"], dtype=np.float32)
        np.testing.assert_array_equal(np.asarray(item["video_features"]), expected)
    single = dataset[5]
    assert single["sentence"] == items[0]["sentence"]
    np.testing.assert_array_equal(single["video_features"], items[0]["video_features"])


def test_dataloader_reads_whole_batches(split, monkeypatch):
    dataset = MomentRetrievalDataset(*split)
    calls = []
    monkeypatch.setattr(MomentRetrievalDataset, "__getitem__", lambda self, index: calls.append(index))
    loader = torch.utils.data.DataLoader(dataset, batch_size=4, collate_fn=list)
    batches = list(loader)
    assert [len(batch) for batch in batches] == [4, 2] and calls == []
