import pytest
import torch

from modeling_fvmr.evaluation import evaluate_scores, format_metrics_table, recall_at_iou


def test_recall_at_iou_on_a_hand_made_prediction_set():
    ground_truth = [[0.0, 10.0], [5.0, 15.0], [20.0, 30.0]]
    predictions = [
        [(0.0, 10.0), (50.0, 60.0)],  # top-1 IoU 1.0
        [(0.0, 10.0), (5.0, 14.0), (40.0, 41.0)],  # top-1 IoU 5/15 = 0.333, second 0.9
        [(25.0, 35.0), (20.0, 30.0), (0.0, 1.0), (2.0, 3.0), (4.0, 5.0), (20.0, 30.0)],  # 5/15, 1.0 (6th ignored)
    ]
    metrics = recall_at_iou(predictions, ground_truth)
    assert metrics["R@1,IoU=0.1"] == pytest.approx(100.0)
    assert metrics["R@1,IoU=0.3"] == pytest.approx(100.0)
    assert metrics["R@1,IoU=0.5"] == pytest.approx(100 / 3)
    assert metrics["R@1,IoU=0.7"] == pytest.approx(100 / 3)
    assert metrics["R@5,IoU=0.7"] == pytest.approx(100.0)
    assert metrics["mIoU"] == pytest.approx(100 * (1 + 1 / 3 + 1 / 3) / 3)


def test_hit_needs_iou_strictly_above_the_threshold():
    metrics = recall_at_iou([[(0.0, 1.0)]], [[0.0, 2.0]])  # IoU exactly 0.5
    assert metrics["R@1,IoU=0.3"] == 100.0 and metrics["R@1,IoU=0.5"] == 0.0


def test_missing_predictions_count_as_misses_and_sizes_must_match():
    assert recall_at_iou([[], [(0.0, 1.0)]], [[0.0, 1.0], [0.0, 1.0]])["R@5,IoU=0.5"] == 50.0
    with pytest.raises(ValueError, match="2 predictions for 1"):
        recall_at_iou([[], []], [[0.0, 1.0]])


def test_evaluate_scores_applies_nms_before_recall():
    spans = torch.tensor([[[0.0, 10.0], [0.5, 10.0], [20.0, 30.0]]])
    scores = torch.tensor([[3.0, 2.0, 1.0]])
    with_nms = evaluate_scores(scores, spans, torch.tensor([[20.0, 30.0]]), nms_threshold=0.5, recall_at=(2,))
    without = evaluate_scores(scores, spans, torch.tensor([[20.0, 30.0]]), nms_threshold=None, recall_at=(2,))
    assert with_nms["R@2,IoU=0.5"] == 100.0 and without["R@2,IoU=0.5"] == 0.0
    table = format_metrics_table({"student": with_nms})
    assert table.splitlines()[2].startswith("| student | 100.00")


def test_corpus_recall_needs_the_right_video_on_a_hand_made_case():
    from modeling_fvmr.evaluation import corpus_recall_at_iou, video_recall_at

    ground_truth = [("a", 0.0, 10.0), ("b", 5.0, 15.0), ("c", 0.0, 4.0)]
    predictions = [
        [("a", 0.0, 10.0), ("b", 0.0, 10.0)],  # right video and span first: hit at every k
        [("a", 5.0, 15.0), ("c", 5.0, 15.0), ("b", 6.0, 15.0), ("b", 5.0, 15.0)],  # the right span in wrong videos first; IoU 0.9 at rank 3, 1.0 at 4
        [("c", 2.0, 6.0)] + [("x", 0.0, 4.0)] * 99 + [("c", 0.0, 4.0)],  # IoU 2/6 at rank 1; the exact span at rank 101 is beyond R@100
    ]
    metrics = corpus_recall_at_iou(predictions, ground_truth)
    assert metrics["VCMR R@1,IoU=0.5"] == pytest.approx(100 / 3)
    assert metrics["VCMR R@1,IoU=0.3"] == pytest.approx(200 / 3)  # query c: IoU 1/3 > 0.3
    assert metrics["VCMR R@5,IoU=0.5"] == pytest.approx(200 / 3)
    assert metrics["VCMR R@5,IoU=0.7"] == pytest.approx(200 / 3)
    assert metrics["VCMR R@100,IoU=0.5"] == pytest.approx(200 / 3)
    metrics = corpus_recall_at_iou(predictions, ground_truth, recall_at=(2, 3), iou_thresholds=(0.9,))
    assert metrics == {"VCMR R@2,IoU=0.9": pytest.approx(100 / 3), "VCMR R@3,IoU=0.9": pytest.approx(100 / 3)}  # 0.9 is not > 0.9
    assert video_recall_at([1, 3, 12], recall_at=(1, 5, 10, 100)) == {
        "VR R@1": pytest.approx(100 / 3), "VR R@5": pytest.approx(200 / 3), "VR R@10": pytest.approx(200 / 3), "VR R@100": 100.0
    }
    with pytest.raises(ValueError, match="2 predictions for 3"):
        corpus_recall_at_iou(predictions[:2], ground_truth)


def test_evaluate_corpus_matches_a_brute_force_ranking():
    """evaluate_corpus on a tiny index equals VCMR / VR computed from a full score matrix by hand."""
    from modeling_fvmr import FVMRConfig, FVMRModel, FVMRProcessor, MomentIndex, build_word_tokenizer
    from modeling_fvmr.evaluation import evaluate_corpus
    from modeling_fvmr.temporal_map import decode_moments

    queries = ["a man opens the door", "she sits down", "someone eats food", "they laugh", "a dog runs"]
    torch.manual_seed(0)
    tokenizer = build_word_tokenizer(queries)
    config = FVMRConfig(video_feature_dim=6, num_clips=4, hidden_size=8, joint_dim=4, vocab_size=len(tokenizer),
                        word_embedding_dim=4, lstm_hidden_size=4, use_teacher=False)  # fmt: skip
    model, processor = FVMRModel(config).eval(), FVMRProcessor.from_config(tokenizer, config)
    features = [torch.randn(8, 6).numpy() for _ in range(4)]
    video_ids = ["v0", "v1", "v2", "v3"]
    index = MomentIndex.build(model, processor, features, [8.0] * 4, video_ids, show_progress=False)
    found = index.search(queries, top_k=3)
    other = {"v0": "v1", "v1": "v2", "v2": "v3", "v3": "v0"}
    ground_truth = [
        (found[0][0].video_id, found[0][0].start, found[0][0].end),  # the top moment: a hit at R@1
        (found[1][2].video_id, found[1][2].start, found[1][2].end),  # the third: a hit at R@3 only
        (other[found[2][0].video_id], found[2][0].start, found[2][0].end),  # the top span, in another video
        (found[3][0].video_id, 0.0, 2.0),  # the best video (VR hit at 1), whatever the span
        ("v1", 6.0, 8.0),
    ]
    metrics = evaluate_corpus(index, queries, ground_truth, recall_at=(1, 3), iou_thresholds=(0.5,), batch_size=2)

    embeddings = index.encode_queries(queries)
    scores = (embeddings @ index.embeddings.T).view(len(queries), 4, -1)  # (Q, videos, K)
    spans = index.spans.view(4, -1, 2)
    hits, ranks = {1: 0, 3: 0}, []
    for query, (video_id, start, end) in enumerate(ground_truth):
        ranked = sorted(
            ((-score, v, rank, s, e) for v in range(4) for rank, (s, e, score) in enumerate(decode_moments(scores[query, v], spans[v], 10, 0.5))),
        )
        for k in hits:
            hits[k] += any(video_ids[v] == video_id and min(e, end) - max(s, start) > 0.5 * (max(e, end) - min(s, start)) for _, v, _, s, e in ranked[:k])
        best = scores[query].amax(-1)
        own = video_ids.index(video_id)
        ranks.append(1 + int((best > best[own]).sum()))
    assert hits[1] >= 1 and hits[3] >= 2 and ranks.count(1) >= 2  # the case is not trivial
    assert metrics["VCMR R@1,IoU=0.5"] == pytest.approx(100 * hits[1] / 5)
    assert metrics["VCMR R@3,IoU=0.5"] == pytest.approx(100 * hits[3] / 5)
    assert metrics["VR R@1"] == pytest.approx(100 * sum(r <= 1 for r in ranks) / 5)
    assert metrics["VR R@3"] == pytest.approx(100 * sum(r <= 3 for r in ranks) / 5)
    with pytest.raises(ValueError, match="not in the index"):
        evaluate_corpus(index, queries[:1], [("v9", 0.0, 1.0)])


def test_cli_evaluate_corpus_writes_both_tables(tmp_path):
    """`fvmr evaluate --corpus`: the within-video table, the corpus table, and both in the JSON,
    the corpus metrics equal to evaluate_corpus over an index of the split's videos."""
    import json
    import os
    import subprocess
    import sys

    from datasets_scripts.synthetic import write_synthetic_world
    from modeling_fvmr import FVMRConfig, FVMRModel, FVMRProcessor, MomentIndex, build_word_tokenizer
    from modeling_fvmr.data import load_moment_retrieval
    from modeling_fvmr.evaluation import evaluate_corpus

    write_synthetic_world(tmp_path / "data", num_videos={"test": 6}, queries_per_video=2, feature_dim=8, seed=0)
    annotations, features = load_moment_retrieval(tmp_path / "data")
    torch.manual_seed(0)
    tokenizer = build_word_tokenizer(annotations["test"]["sentence"])
    config = FVMRConfig(video_feature_dim=8, hidden_size=8, joint_dim=8, vocab_size=len(tokenizer), word_embedding_dim=4,
                        lstm_hidden_size=4, use_teacher=False)  # fmt: skip
    model, processor = FVMRModel(config).eval(), FVMRProcessor.from_config(tokenizer, config)
    model.save_pretrained(tmp_path / "model")
    processor.save_pretrained(tmp_path / "model")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        [sys.executable, "-m", "modeling_fvmr.cli", "evaluate", str(tmp_path / "model"), str(tmp_path / "data"), "--corpus", "--json", str(tmp_path / "r.json")],
        cwd=root, env={**os.environ, "PYTHONPATH": root, "HF_HUB_OFFLINE": "1"}, check=True, capture_output=True, text=True,
    )  # fmt: skip
    assert "Corpus level: each query searched over all 6 videos of the split" in done.stdout
    payload = json.loads((tmp_path / "r.json").read_text())
    assert set(payload["metrics"]) == {"student"} and "VCMR R@100,IoU=0.5" in payload["corpus_metrics"]

    videos = features["test"].with_format("numpy")
    index = MomentIndex.build(model, processor, videos["features"], list(videos["duration"]), list(videos["video_id"]), show_progress=False)
    rows = annotations["test"]
    expected = evaluate_corpus(index, rows["sentence"], list(zip(rows["video_id"], rows["start"], rows["end"])))
    assert payload["corpus_metrics"] == pytest.approx(expected)
