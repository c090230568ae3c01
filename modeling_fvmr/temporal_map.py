"""The 2D temporal map of moment proposals (2D-TAN / MMN): valid spans, IoU, soft labels, NMS, decoding.

Units: a proposal is a pair of clip indices (a, b) with a <= b, covering clips a..b inclusive of a
video pooled to N clips; in seconds it spans [a * d / N, (b + 1) * d / N] for a video of d seconds.
This file needs only torch: it travels with the model code for `trust_remote_code` users.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch


@lru_cache(maxsize=None)
def _valid_proposal_mask(num_clips: int, pooling_counts: tuple[int, ...]) -> torch.Tensor:
    # Always on the CPU: transformers builds models under a meta-device context, where `nonzero` fails.
    mask = torch.zeros(num_clips, num_clips, dtype=torch.bool, device="cpu")
    mask[range(num_clips), range(num_clips)] = True
    stride, offset = 1, 0
    for count in pooling_counts:
        for _ in range(count):
            offset += stride
            mask[range(0, num_clips - offset, stride), range(offset, num_clips, stride)] = True
        stride *= 2
    return mask


def valid_proposal_mask(num_clips: int, pooling_counts: list[int] | tuple[int, ...]) -> torch.Tensor:
    """(N, N) bool mask of the valid proposals (a, b) under the 2D-TAN / MMN sparse sampling rule.

    The diagonal (one-clip moments) is always valid. Then, starting with stride 1, each entry c of
    `pooling_counts` adds c diagonals at offsets growing by the stride, keeping every stride-th
    start; after each entry the stride doubles. E.g. N = 64, [15, 8, 8] keeps offsets 1..15 at
    every start, 17, 19, .., 31 at even starts and 35, 39, .., 63 at starts divisible by 4.
    """
    if num_clips < 1:
        raise ValueError(f"num_clips must be at least 1, got {num_clips}.")
    return _valid_proposal_mask(int(num_clips), tuple(int(c) for c in pooling_counts)).clone()


def valid_proposals(num_clips: int, pooling_counts: list[int] | tuple[int, ...]) -> torch.Tensor:
    """(K, 2) long tensor of the valid proposals (a, b) in clip indices, sorted by start then end.

    This order is the order of every per-proposal tensor in the package (scores, embeddings, spans).
    """
    return valid_proposal_mask(num_clips, pooling_counts).nonzero()


def proposal_spans(proposals: torch.Tensor, num_clips: int, durations: torch.Tensor | float) -> torch.Tensor:
    """Spans of proposals in seconds.

    Args:
        proposals: (K, 2) clip indices (a, b).
        num_clips: N, clips per video.
        durations: video length(s) in seconds, a float or a (B,) tensor.

    Returns:
        (K, 2) for a float duration, (B, K, 2) for a (B,) tensor: [a * d / N, (b + 1) * d / N].
    """
    fractions = torch.stack([proposals[:, 0], proposals[:, 1] + 1], dim=-1).float() / num_clips
    if isinstance(durations, torch.Tensor):
        return fractions.to(durations.device) * durations.float().view(-1, 1, 1)
    return fractions * float(durations)


def temporal_iou(spans: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """IoU of 1D spans.

    Args:
        spans: (..., K, 2) start and end of candidate spans.
        targets: (..., 2) one target span per leading index (same unit as `spans`).

    Returns:
        (..., K) intersection over union; 0 where the union is empty.
    """
    targets = targets.unsqueeze(-2)
    intersection = (torch.minimum(spans[..., 1], targets[..., 1]) - torch.maximum(spans[..., 0], targets[..., 0])).clamp(min=0)
    union = torch.maximum(spans[..., 1], targets[..., 1]) - torch.minimum(spans[..., 0], targets[..., 0])
    return torch.where(union > 0, intersection / union.clamp(min=1e-12), torch.zeros_like(union))


def soft_labels(iou: torch.Tensor, iou_min: float, iou_max: float) -> torch.Tensor:
    """2D-TAN soft labels y = clip((o - o_min) / (o_max - o_min), 0, 1), same shape as `iou`."""
    return ((iou - iou_min) / (iou_max - iou_min)).clamp(0.0, 1.0)


def check_nms_threshold(threshold: float) -> float:
    """`threshold`, or ValueError unless it is an IoU in [0, 1] (1 keeps every moment, 0 keeps only moments
    that do not overlap a better one; above 1 would silently turn NMS off)."""
    if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) or not 0 <= threshold <= 1:
        raise ValueError(f"The NMS threshold must be an IoU in [0, 1] (1 = no suppression), got {threshold!r}.")
    return threshold


NMS_PREFIX = 64  # spans walked first when only the top_k are wanted (more only if these run out)


def nms(spans: torch.Tensor, scores: torch.Tensor, threshold: float, top_k: int | None = None) -> torch.Tensor:
    """Greedy temporal non-maximum suppression.

    Walks the spans by decreasing score and keeps one unless its IoU with an already kept span is
    greater than `threshold` (the 2D-TAN rule). Ties keep the earlier index.

    Args:
        spans: (K, 2) spans. scores: (K,). top_k: stop after this many kept spans (None = all).

    Returns:
        (k,) long indices into `spans` of the kept spans, best first (see `nms_positions`).
    """
    return torch.from_numpy(nms_positions(spans.detach().cpu().numpy(), scores.detach().float().cpu().numpy(), threshold, top_k))


def nms_positions(spans: np.ndarray, scores: np.ndarray, threshold: float, top_k: int | None = None) -> np.ndarray:
    """[`nms`] on NumPy arrays: (K, 2) spans, (K,) scores -> (k,) int64 indices of the kept spans, best first.

    The walk compares each span, best first, with the spans kept so far. With `top_k` it first walks
    only the best `NMS_PREFIX` spans (selected by a partition, not a full sort): decisions on a prefix
    of the ranking are final, so when the prefix yields top_k spans they are the answer; otherwise a
    four times longer prefix is walked.
    """
    check_nms_threshold(threshold)
    limit = len(scores) if top_k is None else top_k
    if len(scores) == 0 or limit <= 0:
        return np.zeros(0, dtype=np.int64)
    prefix = len(scores) if top_k is None else max(NMS_PREFIX, 8 * top_k)
    while True:
        if prefix < len(scores):  # every span scoring at least the prefix-th best, in index order
            candidates = np.flatnonzero(scores >= np.partition(scores, len(scores) - prefix)[len(scores) - prefix])
        else:
            candidates = np.arange(len(scores))
        order = candidates[np.argsort(-scores[candidates], kind="stable")]  # best first; ties keep the earlier index
        kept = _nms_walk(spans[order], threshold, limit)
        if len(kept) == limit or len(order) == len(scores):
            return order[kept]
        prefix *= 4


def _nms_walk(ordered: np.ndarray, threshold: float, limit: int) -> list[int]:
    """Positions kept by greedy NMS over (P, 2) spans sorted best first, at most `limit` of them: a plain
    Python loop against the spans kept so far (O(P x kept); the callers want a few), which costs less
    than NumPy calls right after the text encoder has evicted their code from the caches. The IoU is
    computed in float64 from the spans' values."""
    kept, kept_spans = [], []
    for position, (start, end) in enumerate(ordered.tolist()):
        for kept_start, kept_end in kept_spans:
            intersection = min(end, kept_end) - max(start, kept_start)
            if intersection > 0 and intersection / (max(end, kept_end) - min(start, kept_start)) > threshold:
                break
        else:
            kept.append(position)
            kept_spans.append((start, end))
            if len(kept) == limit:
                break
    return kept


def decode_moments(
    scores: torch.Tensor,
    spans: torch.Tensor,
    top_k: int = 5,
    nms_threshold: float | None = 0.5,
) -> list[tuple[float, float, float]]:
    """Best moments of one video.

    Args:
        scores: (K,) proposal scores (logits). spans: (K, 2) proposal spans in seconds.
        top_k: number of moments returned. nms_threshold: IoU threshold of NMS, None for none.

    Returns:
        Up to `top_k` (start s, end s, score) tuples, best first.
    """
    if top_k <= 0:
        raise ValueError(f"top_k must be positive, got {top_k}.")
    scores, spans = scores.detach().float().cpu(), spans.detach().float().cpu()
    if nms_threshold is None:
        keep = torch.sort(scores, descending=True, stable=True).indices[:top_k]
    else:
        keep = nms(spans, scores, nms_threshold, top_k)
    return [(float(spans[i, 0]), float(spans[i, 1]), float(scores[i])) for i in keep]


__all__ = [
    "valid_proposal_mask",
    "valid_proposals",
    "proposal_spans",
    "temporal_iou",
    "soft_labels",
    "nms",
    "check_nms_threshold",
    "decode_moments",
]
