"""Moment index, video-moment-retrieval pipeline and `fvmr index` / `fvmr search`."""

from __future__ import annotations

import copy
import os
import subprocess
import sys

import datasets
import numpy as np
import pytest
import torch
from transformers import AutoProcessor, pipeline

from modeling_fvmr import FVMRConfig, FVMRModel, FVMRProcessor, MomentIndex, build_word_tokenizer, retrieval
from modeling_fvmr.search import exact
from modeling_fvmr.search import index as index_module
from modeling_fvmr.temporal_map import decode_moments

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUERIES = ["a person opens the door", "someone sits down on a chair", "the man eats some food", "she laughs"]
FEATURE_DIM = 12


def tiny_model(seed: int) -> tuple[FVMRModel, FVMRProcessor]:
    torch.manual_seed(seed)
    tokenizer = build_word_tokenizer(QUERIES)
    config = FVMRConfig(
        video_feature_dim=FEATURE_DIM,
        hidden_size=32,
        joint_dim=16,
        vocab_size=len(tokenizer),
        word_embedding_dim=8,
        lstm_hidden_size=8,
        semantic_dim=8,
        fusion_hidden_size=8,
    )
    return FVMRModel(config).eval(), FVMRProcessor.from_config(tokenizer, config)


@pytest.fixture(scope="module")
def model_and_processor():
    return tiny_model(seed=0)


@pytest.fixture(scope="module")
def videos():
    """Six videos of 16..47 clips (no shorter than num_clips, so no two proposals share features)."""
    rng = np.random.default_rng(0)
    features = [rng.normal(size=(int(rng.integers(16, 48)), FEATURE_DIM)).astype(np.float32) for _ in range(6)]
    durations = [float(rng.uniform(10, 60)) for _ in features]
    return features, durations, [f"video{i}" for i in range(len(features))]


@pytest.fixture(scope="module")
def index(model_and_processor, videos):
    model, processor = model_and_processor
    return MomentIndex.build(model, processor, *videos, batch_size=4, show_progress=False)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory, model_and_processor):
    folder = tmp_path_factory.mktemp("model")
    model, processor = model_and_processor
    model.save_pretrained(folder)
    processor.save_pretrained(folder)
    return folder


def brute_force(model, processor, query, videos, top_k, nms_threshold):
    """Per-video `decode_moments` of `forward`'s scores, merged by score (ties: earlier video, then proposal)."""
    ranked = []
    for position, (features, duration, video_id) in enumerate(zip(*videos)):
        with torch.no_grad():
            output = model(**processor([query], video_features=[features], durations=[duration]))
        moments = decode_moments(output.student_scores[0], output.proposal_spans[0], top_k=10**6, nms_threshold=nms_threshold)
        ranked += [(-score, position, rank, video_id, start, end, score) for rank, (start, end, score) in enumerate(moments)]
    ranked.sort(key=lambda row: row[:3])
    return [row[3:] for row in ranked[:top_k]]


def assert_same_moments(found, expected):
    """Same videos and spans in the same order; scores equal up to float rounding (different matmul kernels)."""
    assert [(m.video_id, m.start, m.end) for m in found] == [tuple(row[:3]) for row in expected]
    np.testing.assert_allclose([m.score for m in found], [row[3] for row in expected], rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("nms_threshold", [None, 0.3, 1.0])
def test_search_one_video_equals_forward(index, model_and_processor, videos, nms_threshold):
    model, processor = model_and_processor
    threshold = 0.5 if nms_threshold is None else nms_threshold  # None: the config default (0.5)
    one_video = tuple([values[2]] for values in videos)
    for query in QUERIES:
        expected = brute_force(model, processor, query, one_video, 5, None if threshold == 1.0 else threshold)
        assert_same_moments(index.search(query, top_k=5, video_id="video2", nms_threshold=nms_threshold), expected)


def test_search_corpus_batch_equals_forward(index, model_and_processor, videos):
    model, processor = model_and_processor
    results = index.search(QUERIES, top_k=7)
    assert len(results) == len(QUERIES)
    for query, found in zip(QUERIES, results):
        assert_same_moments(found, brute_force(model, processor, query, videos, 7, 0.5))
    subset = tuple([values[i] for i in (1, 4)] for values in videos)
    found = index.search(QUERIES[0], top_k=4, video_id=["video4", "video1"])
    assert_same_moments(found, brute_force(model, processor, QUERIES[0], subset, 4, 0.5))


def test_search_looks_deeper_when_nms_suppresses_candidates(index, model_and_processor, videos, monkeypatch):
    """IoU threshold 0: overlapping moments suppress each other, so the first candidates run out."""
    model, processor = model_and_processor
    counts, top_scores = [], exact.top_scores

    def spy(query_embeddings, embeddings, count):
        counts.append(count)
        return top_scores(query_embeddings, embeddings, count)

    monkeypatch.setattr(exact, "top_scores", spy)
    one_video = tuple([values[0]] for values in videos)
    found = index.search(QUERIES[1], top_k=5, video_id="video0", nms_threshold=0.0)
    assert_same_moments(found, brute_force(model, processor, QUERIES[1], one_video, 5, 0.0))
    assert counts == []  # a small search scores all its rows at once: no top-k candidates
    counts.clear()
    monkeypatch.setattr(index_module, "WHOLE_RANKING_ROWS", 0)  # as a search over a large corpus does
    found = index.search(QUERIES[1], top_k=5, video_id=["video0"], nms_threshold=0.0)  # a list: the general path
    assert_same_moments(found, brute_force(model, processor, QUERIES[1], one_video, 5, 0.0))
    assert counts[0] < counts[-1] == index.num_proposals


def test_one_video_index_takes_the_single_video_path(model_and_processor, videos, monkeypatch):
    """An index of one video searched without video_id: the same moments and scores as video_id=..."""
    model, processor = model_and_processor
    one_video = tuple([values[2]] for values in videos)
    index = MomentIndex.build(model, processor, *one_video, show_progress=False)
    restricted = index.search(QUERIES[0], top_k=5, video_id="video2")
    monkeypatch.setattr(MomentIndex, "_decode", lambda *args: pytest.fail("the general path decoded a one-video search"))
    found = index.search(QUERIES[0], top_k=5)
    assert found == restricted
    assert_same_moments(found, brute_force(model, processor, QUERIES[0], one_video, 5, 0.5))


def test_all_scores_are_dot_products_of_the_stored_rows():
    queries = torch.tensor([[1.0, 2.0], [0.0, -1.0]])
    rows = torch.tensor([[3.0, 4.0], [0.5, -2.0], [1.0, 0.0]])
    expected = torch.tensor([[11.0, -3.5, 1.0], [-4.0, 2.0, 0.0]])
    assert torch.equal(exact.all_scores(queries, rows), expected)
    assert torch.equal(exact.all_scores(queries, rows.half()), expected)


def test_save_load_round_trip(tmp_path, index, model_folder):
    index.save(tmp_path / "index")
    reloaded_model = FVMRModel.from_pretrained(model_folder)  # the same weights, read back from disk
    loaded = MomentIndex.load(tmp_path / "index", reloaded_model, AutoProcessor.from_pretrained(model_folder))
    assert loaded.video_ids == index.video_ids and loaded.durations == index.durations
    assert torch.equal(loaded.embeddings, index.embeddings) and torch.equal(loaded.spans, index.spans)
    for found, expected in zip(loaded.search(QUERIES, top_k=6), index.search(QUERIES, top_k=6)):
        assert_same_moments(found, [(m.video_id, m.start, m.end, m.score) for m in expected])


def test_other_model_is_refused(tmp_path, index, model_and_processor, videos):
    index.save(tmp_path / "index")
    other_model, processor = tiny_model(seed=1)
    with pytest.raises(ValueError, match="built by a different model"):
        MomentIndex.load(tmp_path / "index", other_model, processor)

    changed = copy.deepcopy(model_and_processor[0])
    fresh = MomentIndex.build(changed, processor, videos[0][:1], videos[1][:1], videos[2][:1], show_progress=False)
    with torch.no_grad():
        changed.moment_projection.bias += 0.1  # e.g. training went on after the index was built
    with pytest.raises(ValueError, match="changed since this index was built"):
        fresh.add(videos[0][1:2], videos[1][1:2], videos[2][1:2], show_progress=False)

    changed_text_side = copy.deepcopy(model_and_processor[0])
    with torch.no_grad():
        changed_text_side.query_projection.bias += 0.1  # the text side does not touch moment embeddings
    assert retrieval.model_fingerprint(changed_text_side) == index.fingerprint


def test_add_equals_building_at_once(index, model_and_processor, videos):
    model, processor = model_and_processor
    features, durations, video_ids = videos
    grown = MomentIndex.build(model, processor, features[:2], durations[:2], video_ids[:2], show_progress=False)
    grown.add(iter(features[2:]), durations[2:], video_ids[2:], batch_size=3, show_progress=False)
    assert grown.video_ids == index.video_ids and grown.durations == index.durations
    assert torch.equal(grown.spans, index.spans)
    torch.testing.assert_close(grown.embeddings, index.embeddings, rtol=1e-6, atol=1e-6)
    for found, expected in zip(grown.search(QUERIES, top_k=5), index.search(QUERIES, top_k=5)):
        assert_same_moments(found, [(m.video_id, m.start, m.end, m.score) for m in expected])
    with pytest.raises(ValueError, match=r"Duplicate video ids: \[\] repeated in the input, \['video3'\] already in the index"):
        grown.add([features[3]], [durations[3]], ["video3"], show_progress=False)
    with pytest.raises(ValueError, match=r"Duplicate video ids: \['new'\] repeated"):
        grown.add(features[:2], durations[:2], ["new", "new"], show_progress=False)
    assert len(grown) == 6


def test_bad_input_errors(index, model_and_processor, videos):
    model, processor = model_and_processor
    empty = MomentIndex(model, processor)
    with pytest.raises(ValueError, match="The index is empty"):
        empty.search(QUERIES[0])
    with pytest.raises(ValueError, match=r"Unknown video id\(s\) \['nope'\]"):
        index.search(QUERIES[0], video_id="nope")
    for top_k in (0, -3):
        with pytest.raises(ValueError, match=f"top_k must be a positive integer, got {top_k}"):
            index.search(QUERIES[0], top_k=top_k)
    wrong_dim = [videos[0][0], np.zeros((20, FEATURE_DIM + 1), np.float32)]
    with pytest.raises(ValueError, match="Video 'b': features have dim 13 but the model expects video_feature_dim=12"):
        empty.add(wrong_dim, [10.0, 10.0], ["a", "b"], show_progress=False)
    assert len(empty) == 0 and len(empty.embeddings) == 0  # nothing half-added
    with pytest.raises(ValueError, match="2 durations for 1 video ids"):
        empty.add(videos[0][:1], [1.0, 2.0], ["a"], show_progress=False)
    with pytest.raises(ValueError, match="Durations must be positive"):
        empty.add(videos[0][:1], [0.0], ["a"], show_progress=False)


def test_pipeline_from_saved_folder(tmp_path, model_folder, index, videos):
    assert isinstance(AutoProcessor.from_pretrained(model_folder), FVMRProcessor)
    finder = pipeline("video-moment-retrieval", model=str(model_folder), device="cpu")
    features, durations, video_ids = videos
    moments = finder(QUERIES[0], video_features=features[3], duration=durations[3], top_k=4)
    assert len(moments) == 4 and set(moments[0]) == {"start", "end", "score"}
    for moment in moments:
        assert 0.0 <= moment["start"] < moment["end"] <= durations[3] + 1e-4
    expected = index.search(QUERIES[0], top_k=4, video_id=video_ids[3])
    assert [(m["start"], m["end"]) for m in moments] == [(m.start, m.end) for m in expected]

    np.save(tmp_path / "clip.npy", features[3])
    clip_seconds = durations[3] / len(features[3])
    batched = finder(QUERIES, video_features=str(tmp_path / "clip.npy"), clip_seconds=clip_seconds, top_k=3)
    assert len(batched) == len(QUERIES) and all(len(found) == 3 for found in batched)
    np.testing.assert_allclose([m["start"] for m in batched[0]], [m["start"] for m in moments[:3]], rtol=1e-5)

    with pytest.raises(ValueError, match="video_feature_dim=12"):
        finder(QUERIES[0], video_features=np.zeros((20, 5), np.float32), duration=10.0)
    with pytest.raises(ValueError, match="exactly one of duration"):
        finder(QUERIES[0], video_features=features[3], duration=10.0, clip_seconds=0.5)


def test_cli_index_and_search_round_trip(tmp_path, model_folder, model_and_processor, videos):
    features, durations, video_ids = videos
    schema = datasets.Features(
        {
            "video_id": datasets.Value("string"),
            "duration": datasets.Value("float32"),
            "features": datasets.Array2D((None, FEATURE_DIM), "float32"),
        }
    )
    rows = {"video_id": video_ids[:4], "duration": durations[:4], "features": features[:4]}
    datasets.DatasetDict({"test": datasets.Dataset.from_dict(rows, features=schema)}).save_to_disk(tmp_path / "built" / "features")
    np.save(tmp_path / "extra.npy", features[4])
    env = {**os.environ, "PYTHONPATH": REPO_ROOT, "HF_HUB_OFFLINE": "1"}
    command = [sys.executable, "-m", "modeling_fvmr.cli"]
    index_dir = tmp_path / "index"
    subprocess.run(
        [*command, "index", str(model_folder), str(tmp_path / "built"), str(tmp_path / "extra.npy"),
         "--output", str(index_dir), "--split", "test", "--clip-seconds", "0.5"],
        cwd=REPO_ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip
    searched = subprocess.run(
        [*command, "search", str(index_dir), QUERIES[0], "--top-k", "3"],
        cwd=REPO_ROOT, env=env, check=True, capture_output=True, text=True,
    )  # fmt: skip

    model, processor = model_and_processor
    loaded = MomentIndex.load(index_dir, model, processor)
    assert loaded.video_ids == [*video_ids[:4], "extra"]
    assert loaded.durations[-1] == len(features[4]) * 0.5
    table = [line.split() for line in searched.stdout.strip().splitlines()[2:]]
    expected = loaded.search(QUERIES[0], top_k=3)
    assert [row[1] for row in table] == [m.video_id for m in expected]
    assert [(float(row[2]), float(row[3])) for row in table] == [(round(m.start, 2), round(m.end, 2)) for m in expected]


def test_chunked_scoring_gives_the_same_ranking(index, monkeypatch):
    expected = index.search(QUERIES, top_k=8)
    monkeypatch.setattr(exact, "SCORE_CHUNK_ROWS", 50)  # 816 rows in 17 chunks, merged top-k by top-k
    for found, wanted in zip(index.search(QUERIES, top_k=8), expected):
        assert_same_moments(found, [(m.video_id, m.start, m.end, m.score) for m in wanted])
