"""The cross-video term L_cv (config.cross_video_weight) against a hand computation."""

import math

import pytest
import torch

from modeling_fvmr import FVMRConfig, FVMRModel
from modeling_fvmr.modeling_fvmr import cross_video_loss, same_video_pairs


def test_cross_video_loss_by_hand():
    # 3 batch rows, K = 2 moments, J = 1: the logit of query i for moment k of video v is m_vk * q_i.
    moments = torch.tensor([[[1.0], [2.0]], [[0.0], [-1.0]], [[1.0], [2.0]]])  # rows 0 and 2: the same video
    queries = torch.tensor([[1.0], [2.0], [1.0]])
    targets = torch.tensor([[0.5, 1.0], [1.0, 0.0], [0.0, 0.0]])  # row 2 has no positive: not counted
    same = torch.tensor([[True, False, True], [False, True, False], [True, False, True]])

    def term(positive: float, negatives: list[float]) -> float:  # −log(e^s / (e^s + Σ e^n))
        return -math.log(math.exp(positive) / (math.exp(positive) + sum(math.exp(n) for n in negatives)))

    query0 = (0.5 * term(1.0, [0.0, -1.0]) + 1.0 * term(2.0, [0.0, -1.0])) / 1.5  # negatives: video 1 only
    query1 = term(0.0, [2.0, 4.0, 2.0, 4.0])  # negatives: rows 0 and 2 (video 0 twice in the batch)
    assert float(cross_video_loss(moments, queries, targets, same)) == pytest.approx((query0 + query1) / 2, rel=1e-6)

    tau = 0.5  # the temperature divides every logit
    query0 = (0.5 * term(2.0, [0.0, -2.0]) + 1.0 * term(4.0, [0.0, -2.0])) / 1.5
    query1 = term(0.0, [4.0, 8.0, 4.0, 8.0])
    assert float(cross_video_loss(moments, queries, targets, same, tau)) == pytest.approx((query0 + query1) / 2, rel=1e-6)

    one_video = torch.ones(3, 3, dtype=torch.bool)  # no other video in the batch: nothing to contrast
    loss = cross_video_loss(moments.requires_grad_(), queries, targets, one_video)
    assert float(loss.detach()) == 0.0 and loss.requires_grad


def test_same_video_pairs_compares_features_lengths_and_durations():
    features = torch.randn(4, 5, 3)
    features[2] = features[0]
    features[3, :4] = features[0, :4]  # same first 4 clips, but a different length below
    lengths = torch.tensor([5, 5, 5, 4])
    same = same_video_pairs(features, lengths, torch.tensor([10.0, 10.0, 10.0, 10.0]))
    assert same.tolist() == [[True, False, True, False], [False, True, False, False], [True, False, True, False], [False, False, False, True]]
    same = same_video_pairs(features, lengths, torch.tensor([10.0, 10.0, 9.0, 10.0]))  # another duration: another video
    assert not same[0, 2]


def test_forward_adds_the_weighted_cross_video_term():
    torch.manual_seed(0)
    config = FVMRConfig(video_feature_dim=6, num_clips=4, hidden_size=8, joint_dim=4, vocab_size=10, word_embedding_dim=4,
                        lstm_hidden_size=4, use_teacher=False, dropout=0.0)  # fmt: skip
    model = FVMRModel(config).eval()
    inputs = {
        "input_ids": torch.tensor([[1, 2, 3], [4, 5, 0], [6, 7, 8]]),
        "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 1]]),
        "video_features": torch.randn(3, 8, 6),
        "durations": torch.tensor([8.0, 16.0, 8.0]),
        "labels": torch.tensor([[0.0, 4.0], [4.0, 12.0], [2.0, 6.0]]),
    }
    inputs["video_features"][2] = inputs["video_features"][0]  # two queries of one video
    plain = model(**inputs)
    assert plain.loss_cross_video is None
    model.config.cross_video_weight = 0.3
    weighted = model(**inputs)
    moments = model.moment_projection(model.video_encoder(inputs["video_features"], torch.tensor([8, 8, 8])))
    queries = model.query_projection(model.text_encoder(inputs["input_ids"], inputs["attention_mask"])[1])
    from modeling_fvmr.temporal_map import soft_labels, temporal_iou

    targets = soft_labels(temporal_iou(plain.proposal_spans, inputs["labels"]), 0.5, 1.0)
    same = torch.tensor([[True, False, True], [False, True, False], [True, False, True]])
    expected = cross_video_loss(moments, queries, targets, same)
    torch.testing.assert_close(weighted.loss_cross_video, expected)
    torch.testing.assert_close(weighted.loss, plain.loss + 0.3 * expected)
    with pytest.raises(ValueError, match="FVMRConfig.cross_video_weight must be a number in \[0.0, inf\), got -1"):
        FVMRConfig(cross_video_weight=-1.0)
