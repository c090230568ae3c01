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
