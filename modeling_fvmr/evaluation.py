"""Moment retrieval metrics: R@n, IoU=m and the mean IoU of the top-1 moment.

A query counts as a hit at R@n, IoU=m when one of its first n moments (after NMS) has IoU with the
ground truth strictly greater than m (the 2D-TAN rule). Metrics are percentages.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from .temporal_map import decode_moments, temporal_iou

RECALL_AT = (1, 5)
IOU_THRESHOLDS = (0.1, 0.3, 0.5, 0.7)


def metric_name(n: int, iou: float) -> str:
    return f"R@{n},IoU={iou}"


def recall_at_iou(
    predictions: Sequence[Sequence[Sequence[float]]],
    ground_truth: Sequence[Sequence[float]],
    recall_at: Sequence[int] = RECALL_AT,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> dict[str, float]:
    """R@n, IoU=m and mIoU over queries.

    Args:
        predictions: per query, its ranked moments, each (start, end[, score]) in seconds.
        ground_truth: per query, the annotated (start, end) in seconds.

    Returns:
        {"R@1,IoU=0.5": 41.2, ..., "mIoU": 38.0}, in percent. A query with no prediction misses.
    """
    if len(predictions) != len(ground_truth):
        raise ValueError(f"{len(predictions)} predictions for {len(ground_truth)} ground-truth moments.")
    if not predictions:
        raise ValueError("No queries to evaluate.")
    depth = max(recall_at)
    # (Q, depth) IoU of each query's first `depth` moments; missing moments count as IoU -1.
    ious = torch.full((len(predictions), depth), -1.0, dtype=torch.float64)
    for row, (moments, target) in enumerate(zip(predictions, ground_truth)):
        moments = [moment[:2] for moment in list(moments)[:depth]]
        if moments:
            spans = torch.tensor(moments, dtype=torch.float64)
            ious[row, : len(moments)] = temporal_iou(spans, torch.tensor(target[:2], dtype=torch.float64))
    metrics = {}
    for n in recall_at:
        best = ious[:, :n].max(dim=1).values
        for threshold in iou_thresholds:
            metrics[metric_name(n, threshold)] = 100.0 * float((best > threshold).double().mean())
    metrics["mIoU"] = 100.0 * float(ious[:, 0].clamp(min=0).mean())
    return metrics


def evaluate_scores(
    scores: torch.Tensor,
    spans: torch.Tensor,
    ground_truth: torch.Tensor,
    nms_threshold: float | None = 0.5,
    recall_at: Sequence[int] = RECALL_AT,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> dict[str, float]:
    """Metrics from proposal scores.

    Args:
        scores: (Q, K) proposal logits. spans: (Q, K, 2) proposal spans in seconds.
        ground_truth: (Q, 2) annotated moments in seconds.
    """
    depth = max(recall_at)
    predictions = [decode_moments(row_scores, row_spans, depth, nms_threshold) for row_scores, row_spans in zip(scores, spans)]
    return recall_at_iou(predictions, ground_truth.tolist(), recall_at, iou_thresholds)


def format_metrics_table(results: dict[str, dict[str, float]]) -> str:
    """Markdown table, one row per scorer (e.g. "student", "teacher"), one column per metric."""
    columns = list(next(iter(results.values())))
    lines = ["| scorer | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for name, metrics in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{metrics[column]:.2f}" for column in columns) + " |")
    return "\n".join(lines)


__all__ = ["recall_at_iou", "evaluate_scores", "format_metrics_table", "metric_name", "RECALL_AT", "IOU_THRESHOLDS"]
