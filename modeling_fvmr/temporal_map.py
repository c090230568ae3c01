"""The 2D temporal map of moment proposals (2D-TAN / MMN): valid spans, IoU, soft labels, NMS, decoding.

Units: a proposal is a pair of clip indices (a, b) with a <= b, covering clips a..b inclusive of a
video pooled to N clips; in seconds it spans [a * d / N, (b + 1) * d / N] for a video of d seconds.
This file needs only torch: it travels with the model code for `trust_remote_code` users.
"""

from __future__ import annotations

from functools import lru_cache

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
    greater than `threshold` (the 2D-TAN rule). Ties keep the earlier index. With `top_k` it first walks
    only the best `NMS_PREFIX` spans (picked by `topk`, not a full sort): decisions on a prefix of the
    ranking are final, so when the prefix yields top_k spans they are the answer; otherwise a four
    times longer prefix is walked.

    Args:
        spans: (K, 2) spans. scores: (K,). top_k: stop after this many kept spans (None = all).

    Returns:
        (k,) long indices into `spans` of the kept spans, best first.
    """
    return torch.tensor(_nms(spans, scores, threshold, top_k)[0], dtype=torch.long)


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
    _, kept_spans, kept_scores = _nms(spans, scores, 1.0 if nms_threshold is None else nms_threshold, top_k)
    return [(start, end, score) for (start, end), score in zip(kept_spans, kept_scores)]


def _nms(spans: torch.Tensor, scores: torch.Tensor, threshold: float, top_k: int | None) -> tuple[list[int], list[list[float]], list[float]]:
    """[`nms`] as Python lists, best first: the kept indices, their (start, end) spans and their scores
    (as few tensor calls as possible: the single-video search runs this right after the text encoder)."""
    check_nms_threshold(threshold)
    spans, scores = spans.detach().float().cpu(), scores.detach().float().cpu()
    limit = len(scores) if top_k is None else top_k
    if len(scores) == 0 or limit <= 0:
        return [], [], []
    prefix = len(scores) if top_k is None else max(NMS_PREFIX, 8 * top_k)
    while True:
        order, values = _best_first(scores, prefix)
        ordered_spans = spans[order].tolist()
        kept = _nms_walk(ordered_spans, threshold, limit)
        if len(kept) == limit or len(order) == len(scores):
            order = order.tolist()
            return [order[p] for p in kept], [ordered_spans[p] for p in kept], [values[p] for p in kept]
        prefix *= 4


def _best_first(scores: torch.Tensor, count: int) -> tuple[torch.Tensor, list[float]]:
    """The `count` best of (K,) scores, best first, as (min(count, K),) long indices and their values;
    ties keep the earlier index (the first `count` of a stable descending sort). Without ties among
    them, one `topk`."""
    if count < len(scores):
        values, order = scores.topk(count + 1)  # sorted, best first
        values = values.tolist()
        if all(better > worse for better, worse in zip(values, values[1:])):  # no tie: one possible answer
            return order[:count], values[:count]
    values, order = torch.sort(scores, descending=True, stable=True)
    return order[:count], values[:count].tolist()


def _nms_walk(ordered: list[list[float]], threshold: float, limit: int) -> list[int]:
    """Positions kept by greedy NMS over P (start, end) spans sorted best first, at most `limit` of them:
    a plain Python loop against the spans kept so far (O(P x kept); the callers want a few), which costs
    less than tensor calls right after the text encoder has evicted their code from the caches. The IoU
    is computed in float64 from the spans' values."""
    kept, kept_spans = [], []
    for position, (start, end) in enumerate(ordered):
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
