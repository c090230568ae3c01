"""Chance level of R@1, IoU=m: the expected score of ranking a uniformly random valid proposal first."""

from __future__ import annotations

import numpy as np
import torch

from modeling_fvmr.configuration_fvmr import BENCHMARK_PRESETS
from modeling_fvmr.temporal_map import proposal_spans, temporal_iou, valid_proposals


def random_proposal_recall(
    starts: np.ndarray,
    ends: np.ndarray,
    durations: np.ndarray,
    num_clips: int = 16,
    pooling_counts: list[int] | None = None,
    iou_threshold: float = 0.5,
) -> float:
    """Expected R@1, IoU=`iou_threshold` (percent) of a random valid proposal of the 2D map.

    Args:
        starts, ends, durations: (Q,) ground-truth moments and video lengths in seconds.
        num_clips, pooling_counts: the proposal geometry (`FVMRConfig`); default: 16 clips, dense.

    Returns:
        100 x mean over queries of the fraction of proposals whose IoU with the ground truth is
        strictly greater than the threshold (the 2D-TAN hit rule).
    """
    if len(starts) == 0:
        raise ValueError("No queries to compute a chance level for.")
    proposals = valid_proposals(num_clips, pooling_counts if pooling_counts is not None else [num_clips - 1])
    hits = 0.0
    for begin in range(0, len(starts), 4096):
        chunk = slice(begin, begin + 4096)
        spans = proposal_spans(proposals, num_clips, torch.as_tensor(np.asarray(durations[chunk], dtype=np.float64)))
        targets = torch.as_tensor(np.stack([starts[chunk], ends[chunk]], axis=1), dtype=spans.dtype)
        hits += float((temporal_iou(spans, targets) > iou_threshold).double().mean(dim=1).sum())
    return 100.0 * hits / len(starts)


def preset_geometry(preset: str | None) -> dict:
    """num_clips / pooling_counts of a benchmark preset (`BENCHMARK_PRESETS`), else 16 dense clips."""
    geometry = BENCHMARK_PRESETS.get(preset, {"num_clips": 16, "pooling_counts": [15]})
    return {"num_clips": geometry["num_clips"], "pooling_counts": list(geometry["pooling_counts"])}


__all__ = ["random_proposal_recall", "preset_geometry"]
