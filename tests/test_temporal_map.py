import pytest
import torch

from modeling_fvmr.temporal_map import (
    decode_moments,
    nms,
    proposal_spans,
    soft_labels,
    temporal_iou,
    valid_proposal_mask,
    valid_proposals,
)


def sparse_rule(num_clips, start, end):
    """2D-TAN / MMN rule written out by hand for the presets: offset bands and start strides."""
    offset = end - start
    if offset < 0:
        return False
    if offset <= 15:
        return True
    if 17 <= offset <= 31 and offset % 2 == 1:
        return start % 2 == 0
    if 35 <= offset <= 63 and offset % 4 == 3:
        return start % 4 == 0
    if num_clips == 128 and 71 <= offset <= 127 and offset % 8 == 7:
        return start % 8 == 0
    return False


@pytest.mark.parametrize(
    "num_clips, pooling_counts, expected_count",
    # counts by hand: N + sum over kept offsets o of the number of starts ceil((N - o) / stride)
    [(16, [15], 136), (64, [15, 8, 8], 1104), (128, [15, 8, 8, 8], 2548)],
)
def test_valid_mask_matches_the_sparse_rule(num_clips, pooling_counts, expected_count):
    mask = valid_proposal_mask(num_clips, pooling_counts)
    expected = torch.tensor([[sparse_rule(num_clips, a, b) for b in range(num_clips)] for a in range(num_clips)])
    assert torch.equal(mask, expected)
    assert int(mask.sum()) == expected_count


def test_dense_map_keeps_every_span_and_orders_by_start_then_end():
    proposals = valid_proposals(4, [3])
    assert proposals.tolist() == [[0, 0], [0, 1], [0, 2], [0, 3], [1, 1], [1, 2], [1, 3], [2, 2], [2, 3], [3, 3]]


def test_sparse_map_entries():
    mask = valid_proposal_mask(64, [15, 8, 8])
    assert mask[0, 15] and not mask[0, 16] and mask[0, 17] and not mask[1, 18] and mask[2, 19]
    assert mask[0, 35] and mask[4, 39] and not mask[2, 37] and not mask[0, 33]


def test_proposal_spans_in_seconds():
    proposals = torch.tensor([[0, 0], [1, 3]])
    assert proposal_spans(proposals, 4, 8.0).tolist() == [[0.0, 2.0], [2.0, 8.0]]
    batched = proposal_spans(proposals, 4, torch.tensor([8.0, 4.0]))
    assert batched.shape == (2, 2, 2)
    assert batched[1].tolist() == [[0.0, 1.0], [1.0, 4.0]]


def test_temporal_iou_by_hand():
    spans = torch.tensor([[0.0, 2.0], [1.0, 3.0], [4.0, 5.0], [1.0, 2.0]])
    iou = temporal_iou(spans, torch.tensor([1.0, 2.0]))
    assert iou.tolist() == pytest.approx([0.5, 0.5, 0.0, 1.0])
    batched = temporal_iou(spans.expand(2, -1, -1), torch.tensor([[1.0, 2.0], [0.0, 4.0]]))
    assert batched[1].tolist() == pytest.approx([0.5, 0.5, 0.0, 0.25])


def test_soft_labels_clip_at_both_ends():
    iou = torch.tensor([0.2, 0.5, 0.75, 1.0])
    assert soft_labels(iou, 0.5, 1.0).tolist() == pytest.approx([0.0, 0.0, 0.5, 1.0])
    assert soft_labels(iou, 0.3, 0.7).tolist() == pytest.approx([0.0, 0.5, 1.0, 1.0])


def test_nms_suppresses_overlaps_above_threshold():
    spans = torch.tensor([[0.0, 10.0], [1.0, 10.0], [20.0, 30.0], [0.0, 9.0]])
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert nms(spans, scores, 0.5).tolist() == [0, 2]
    assert nms(spans, scores, 0.95).tolist() == [0, 1, 2, 3]
    assert nms(spans, scores, 0.5, top_k=1).tolist() == [0]
    # IoU exactly at the threshold is kept (suppression needs IoU > threshold)
    assert nms(torch.tensor([[0.0, 2.0], [1.0, 2.0]]), torch.tensor([1.0, 0.5]), 0.5).tolist() == [0, 1]


def test_nms_ties_keep_the_earlier_index():
    spans = torch.tensor([[float(i), i + 0.5] for i in range(100)])  # disjoint: nothing is suppressed
    scores = torch.zeros(100)
    scores[[7, 3, 90]] = torch.tensor([2.0, 2.0, 1.0])
    assert nms(spans, scores, 0.5, top_k=3).tolist() == [3, 7, 90]
    assert nms(spans, scores, 0.5).tolist()[:5] == [3, 7, 90, 0, 1]


@pytest.mark.parametrize("case", ["random", "ties", "top_cluster"])
def test_nms_top_k_walks_a_prefix_with_the_full_walk_s_answer(case):
    # the top_k answer (a walk over the best spans first) must be the first top_k of the full walk
    generator = torch.Generator().manual_seed(0)
    starts = torch.randint(0, 100, (2500,), generator=generator).float()
    spans = torch.stack([starts, starts + torch.randint(1, 30, (2500,), generator=generator).float()], dim=1)
    scores = torch.rand(2500, generator=generator)
    if case == "ties":
        scores = (scores * 20).round()  # many equal scores, also at the prefix's edge
    if case == "top_cluster":  # the 300 best spans suppress each other: the first prefix runs out
        spans[:300] = torch.tensor([0.0, 50.0]) + torch.rand(300, 1, generator=generator)
        scores[:300] += 10
    full = nms(spans, scores, 0.5)
    for top_k in (1, 5, 10, 40):
        assert nms(spans, scores, 0.5, top_k=top_k).tolist() == full[:top_k].tolist()


def test_decode_moments_ranks_after_nms():
    spans = torch.tensor([[0.0, 10.0], [1.0, 10.0], [20.0, 30.0]])
    moments = decode_moments(torch.tensor([2.0, 3.0, 1.0]), spans, top_k=5, nms_threshold=0.5)
    assert moments == [(1.0, 10.0, 3.0), (20.0, 30.0, 1.0)]
    assert decode_moments(torch.tensor([2.0, 3.0, 1.0]), spans, top_k=2, nms_threshold=None)[1] == (0.0, 10.0, 2.0)
    with pytest.raises(ValueError, match="top_k"):
        decode_moments(torch.tensor([1.0]), spans[:1], top_k=0)
