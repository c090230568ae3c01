"""MomentIndex storage and search backends: float16, memory-mapped files, FAISS IVF-Flat / HNSW / IVF-PQ."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from test_retrieval import QUERIES, assert_same_moments, tiny_model

from modeling_fvmr import MomentIndex

pytest.importorskip("faiss", reason="the ann extra (faiss-cpu) is part of `all`; CI installs it")

# ANN parameters under which each backend must return exactly what exact search returns:
# every inverted list probed; an HNSW beam as wide as the index; every ivf-pq row re-scored exactly.
EXACT_SETTINGS = {
    "ivf-flat": {"nlist": 4, "nprobe": 4},
    "hnsw": {"hnsw_m": 8, "ef_search": 10_000},
    "ivf-pq": {"nlist": 2, "nprobe": 2, "pq_m": 4, "pq_bits": 4, "rerank": 10_000},
}


@pytest.fixture(scope="module")
def model_and_processor():
    return tiny_model(seed=0)


@pytest.fixture(scope="module")
def videos():
    rng = np.random.default_rng(1)
    features = [rng.normal(size=(int(rng.integers(16, 40)), 12)).astype(np.float32) for _ in range(8)]
    return features, [float(rng.uniform(10, 60)) for _ in features], [f"video{i}" for i in range(len(features))]


@pytest.fixture(scope="module")
def index(model_and_processor, videos):
    return MomentIndex.build(*model_and_processor, *videos, show_progress=False)


def random_index(model_and_processor, num_videos: int = 8, seed: int = 0) -> MomentIndex:
    """Random moment embeddings: no two rows score alike, so no near-tie can make two float kernels
    (the exact scan's matrix product, the ANN path's re-scoring) disagree about the order."""
    index = MomentIndex(*model_and_processor)
    generator = torch.Generator().manual_seed(seed)
    embeddings = torch.randn(num_videos, index.num_proposals, index.embeddings.shape[1], generator=generator)
    spans = index.model.video_encoder.proposals.float().add(torch.tensor([0.0, 1.0])).expand(num_videos, -1, -1)
    index.add_embeddings(embeddings, spans, [f"video{i}" for i in range(num_videos)], [16.0] * num_videos)
    return index


def as_rows(moments):
    return [(m.video_id, m.start, m.end, m.score) for m in moments]


@pytest.mark.parametrize("kind", sorted(EXACT_SETTINGS))
def test_backend_equals_exact_search_when_its_parameters_make_it_exact(model_and_processor, kind, tmp_path):
    index, ann_index = random_index(model_and_processor), random_index(model_and_processor)
    ann_index.build_ann(kind, **EXACT_SETTINGS[kind])
    assert len(ann_index.ann) == len(index.embeddings) == 8 * index.num_proposals
    expected = index.search(QUERIES, top_k=9)
    for found, wanted in zip(ann_index.search(QUERIES, top_k=9), expected):
        assert_same_moments(found, as_rows(wanted))

    ann_index.save(tmp_path / "index")  # the ANN travels with the index, under the same fingerprint
    for mmap in (False, True):
        loaded = MomentIndex.load(tmp_path / "index", *model_and_processor, mmap=mmap)
        assert loaded.ann is not None and loaded.ann.settings == ann_index.ann.settings
        for found, wanted in zip(loaded.search(QUERIES, top_k=9), expected):
            assert_same_moments(found, as_rows(wanted))
    with pytest.raises(ValueError, match="built by a different model"):
        MomentIndex.load(tmp_path / "index", *tiny_model(seed=1))


def test_approximate_search_is_used_and_restricted_searches_stay_exact(index, model_and_processor, videos, monkeypatch):
    ann_index = MomentIndex.build(*model_and_processor, *videos, show_progress=False)
    ann_index.build_ann("ivf-flat", nlist=4, nprobe=1)  # one list of four: approximate
    calls = []
    search = type(ann_index.ann).search
    monkeypatch.setattr(type(ann_index.ann), "search", lambda self, *args: calls.append(args) or search(self, *args))
    found = ann_index.search(QUERIES[0], top_k=3)
    assert len(calls) == 1 and len(found) == 3
    rows = {int(row) for row in search(ann_index.ann, ann_index.encode_queries(QUERIES[:1]), 32)[0] if row >= 0}
    exact_scores = (ann_index.encode_queries(QUERIES[:1]) @ ann_index.embeddings.T)[0]
    assert found[0].score == pytest.approx(float(exact_scores[sorted(rows)].max()), rel=1e-5)  # re-scored exactly
    assert_same_moments(ann_index.search(QUERIES[0], top_k=3, video_id="video2"), as_rows(index.search(QUERIES[0], top_k=3, video_id="video2")))
    assert_same_moments(ann_index.search(QUERIES[0], top_k=3, exact=True), as_rows(index.search(QUERIES[0], top_k=3)))
    assert len(calls) == 1  # neither the video_id search nor exact=True asked the ANN


def test_adding_videos_after_building_the_ann(model_and_processor):
    index, grown = random_index(model_and_processor), random_index(model_and_processor, num_videos=5)
    grown.build_ann("hnsw", **EXACT_SETTINGS["hnsw"])
    grown.add_embeddings(index.embeddings[5 * index.num_proposals :].view(3, index.num_proposals, -1),
                         index.spans[5 * index.num_proposals :].view(3, -1, 2), ["video5", "video6", "video7"], [16.0] * 3)  # fmt: skip
    assert len(grown.ann) == len(grown.embeddings) == len(index.embeddings)
    for found, wanted in zip(grown.search(QUERIES, top_k=6), index.search(QUERIES, top_k=6)):
        assert_same_moments(found, as_rows(wanted))


def test_float16_storage_scores_the_rounded_embeddings(index, model_and_processor, videos, tmp_path):
    half = MomentIndex.build(*model_and_processor, *videos, show_progress=False, dtype=torch.float16)
    assert half.embeddings.dtype == torch.float16
    assert torch.equal(half.embeddings, index.embeddings.half())
    rounded = MomentIndex(*model_and_processor)  # float32 storage of the rounded values
    rounded.add_embeddings(index.embeddings.half().float().view(8, index.num_proposals, -1), index.spans.view(8, -1, 2), videos[2], videos[1])
    expected = rounded.search(QUERIES, top_k=5)
    for found, wanted in zip(half.search(QUERIES, top_k=5), expected):
        assert_same_moments(found, as_rows(wanted))
    half.save(tmp_path / "half")
    assert MomentIndex.read_metadata(tmp_path / "half")["dtype"] == "float16"
    loaded = MomentIndex.load(tmp_path / "half", *model_and_processor, mmap=True)
    assert loaded.embeddings.dtype == torch.float16 and torch.equal(loaded.embeddings, half.embeddings)
    for found, wanted in zip(loaded.search(QUERIES, top_k=5), expected):
        assert_same_moments(found, as_rows(wanted))
    with pytest.raises(ValueError, match="dtype must be torch.float32 or torch.float16"):
        MomentIndex(*model_and_processor, dtype=torch.bfloat16)


def test_memory_mapped_index_equals_the_in_memory_one(index, model_and_processor, tmp_path):
    index.save(tmp_path / "index")
    in_memory = MomentIndex.load(tmp_path / "index", *model_and_processor)
    mapped = MomentIndex.load(tmp_path / "index", *model_and_processor, mmap=True)
    with open("/proc/self/maps") as maps:  # the file is mapped, not read into an anonymous buffer
        assert str(tmp_path / "index" / "index.safetensors") in maps.read()
    assert torch.equal(mapped.embeddings, in_memory.embeddings) and torch.equal(mapped.spans, in_memory.spans)
    assert mapped.video_ids == in_memory.video_ids and mapped.durations == in_memory.durations
    for found, wanted in zip(mapped.search(QUERIES, top_k=7), in_memory.search(QUERIES, top_k=7)):
        assert as_rows(found) == as_rows(wanted)  # identical, scores included
    assert as_rows(mapped.search(QUERIES[1], top_k=4, video_id="video3")) == as_rows(in_memory.search(QUERIES[1], top_k=4, video_id="video3"))


def test_save_refuses_to_overwrite_and_writes_atomically(index, model_and_processor, tmp_path):
    index.save(tmp_path / "index")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        index.save(tmp_path / "index")
    index.save(tmp_path / "index", overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["index"]  # no staging folder left behind
    (tmp_path / "empty").mkdir()
    index.save(tmp_path / "empty")  # an empty folder may be filled
    assert MomentIndex.load(tmp_path / "empty", *model_and_processor).video_ids == index.video_ids


def test_bad_ann_settings(index):
    with pytest.raises(ValueError, match="Unknown ANN kind 'lsh'"):
        index.build_ann("lsh")
    with pytest.raises(ValueError, match="pq_m \\(5\\) must divide the embedding size 16"):
        index.build_ann("ivf-pq", nlist=2, pq_m=5, pq_bits=4)
    with pytest.raises(ValueError, match="nlist must be between 1 and the"):
        index.build_ann("ivf-flat", nlist=10**6)
    assert index.ann is None


def test_search_parameters_change_at_search_time_and_are_checked(model_and_processor):
    exact, index = random_index(model_and_processor), random_index(model_and_processor)
    index.build_ann("ivf-pq", nlist=2, nprobe=1, pq_m=4, pq_bits=4)  # one list of two, coarse codes: approximate
    expected = [as_rows(moments) for moments in exact.search(QUERIES, top_k=9)]
    assert [as_rows(moments) for moments in index.search(QUERIES, top_k=9)] != expected
    index.ann.set_search_parameters(nprobe=2, rerank=10_000)  # every list, every row re-scored: exact
    assert (index.ann.settings.nprobe, index.ann.settings.rerank) == (2, 10_000)
    for found, wanted in zip(index.search(QUERIES, top_k=9), expected):
        assert_same_moments(found, wanted)
    with pytest.raises(ValueError, match="rerank must be at least 0, got -1"):
        index.ann.set_search_parameters(rerank=-1)
    with pytest.raises(ValueError, match="nprobe must be positive, got 0"):
        index.ann.set_search_parameters(nprobe=0)
    assert index.ann.settings.rerank == 10_000  # a refused change changes nothing
