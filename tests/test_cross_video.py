"""The cross-video term L_cv (config.cross_video_weight) against a hand computation."""

import math

import pytest
import torch

from modeling_fvmr import FVMRConfig, FVMRModel
from modeling_fvmr.modeling_fvmr import CrossVideoMemory, cross_video_loss, not_negative, query_signatures


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


def test_signatures_exclude_the_same_video_and_the_same_query_text():
    features = torch.randn(5, 5, 3)
    features[2] = features[0]
    features[3, :4] = features[0, :4]  # same first 4 clips, but a different length below
    features[3, 4] = 9.0  # padding: ignored
    lengths = torch.tensor([5, 5, 5, 4, 5])
    durations = torch.full((5,), 10.0)
    input_ids = torch.tensor([[1, 2, 3], [4, 5, 0], [6, 7, 8], [3, 2, 1], [4, 5, 7]])
    attention_mask = torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 1], [1, 1, 1], [1, 1, 0]])  # row 4: the text of row 1
    signatures = query_signatures(features, lengths, durations, input_ids, attention_mask)
    assert signatures.dtype == torch.float64
    expected = [10.0, 4.0, float(features[0, :4].double().sum()), float(features[0, :4].double().square().sum()), float((3 + 2 * 1_000_003 + 1_000_003**2) % (2**31 - 1))]
    torch.testing.assert_close(signatures[3], torch.tensor(expected, dtype=torch.float64))
    assert not_negative(signatures, signatures).tolist() == [
        [True, False, True, False, False],  # row 2: the same video
        [False, True, False, False, True],  # row 4: another video, the same text (ids 4 5, padding ignored)
        [True, False, True, False, False],
        [False, False, False, True, False],  # row 0's clips but another length; row 0's words in another order
        [False, True, False, False, True],
    ]
    other_duration = query_signatures(features, lengths, torch.tensor([10.0, 10.0, 9.0, 10.0, 10.0]), input_ids, attention_mask)
    assert not not_negative(other_duration, other_duration)[0, 2]
    # the same video and text padded to other lengths in another batch are still the same
    padded = query_signatures(torch.cat([features[:1], torch.zeros(1, 3, 3)], dim=1), lengths[:1], durations[:1],
                              torch.tensor([[1, 2, 3, 0]]), torch.tensor([[1, 1, 1, 0]]))  # fmt: skip
    assert not_negative(padded, signatures).tolist() == [[True, False, True, False, False]]


def test_cross_video_loss_with_memory_by_hand():
    # the first case of the test above, plus a memory of 3 rows: row 0 holds video 0, rows 1 and 2 other videos
    moments = torch.tensor([[[1.0], [2.0]], [[0.0], [-1.0]], [[1.0], [2.0]]])
    queries = torch.tensor([[1.0], [2.0], [1.0]])
    targets = torch.tensor([[0.5, 1.0], [1.0, 0.0], [0.0, 0.0]])
    same = torch.tensor([[True, False, True], [False, True, False], [True, False, True]])
    memory = torch.tensor([[3.0], [0.5], [-2.0]])
    memory_excluded = torch.tensor([[True, False, False], [False, False, False], [True, False, False]])

    def term(positive: float, negatives: list[float]) -> float:
        return -math.log(math.exp(positive) / (math.exp(positive) + sum(math.exp(n) for n in negatives)))

    query0 = (0.5 * term(1.0, [0.0, -1.0, 0.5, -2.0]) + 1.0 * term(2.0, [0.0, -1.0, 0.5, -2.0])) / 1.5  # not memory row 0: its own video
    query1 = term(0.0, [2.0, 4.0, 2.0, 4.0, 6.0, 1.0, -4.0])
    loss = cross_video_loss(moments, queries, targets, same, 1.0, memory, memory_excluded)
    assert float(loss) == pytest.approx((query0 + query1) / 2, rel=1e-6)
    # a batch of one video still has negatives in the memory
    one_video = torch.ones(3, 3, dtype=torch.bool)
    query0 = (0.5 * term(1.0, [0.5, -2.0]) + 1.0 * term(2.0, [0.5, -2.0])) / 1.5
    query1 = term(0.0, [6.0, 1.0, -4.0])
    assert float(cross_video_loss(moments, queries, targets, one_video, 1.0, memory, memory_excluded)) == pytest.approx((query0 + query1) / 2, rel=1e-6)


def test_memory_is_first_in_first_out_and_round_trips():
    memory = CrossVideoMemory(size=3, dim=2)
    assert memory.rows(torch.device("cpu"))[0].shape == (0, 2)
    memory.push(torch.tensor([[1.0, 1.0], [2.0, 2.0]]), torch.tensor([[1.0] * 5, [2.0] * 5], dtype=torch.float64))
    memory.push(torch.tensor([[3.0, 3.0], [4.0, 4.0]]), torch.tensor([[3.0] * 5, [4.0] * 5], dtype=torch.float64))
    embeddings, signatures = memory.rows(torch.device("cpu"))
    assert embeddings[:, 0].tolist() == [4.0, 2.0, 3.0]  # row 0 (the oldest) overwritten by the fourth push
    assert signatures[:, 0].tolist() == [4.0, 2.0, 3.0] and memory.written == 4
    memory.push(torch.arange(5.0)[:, None].repeat(1, 2), torch.zeros(5, 5, dtype=torch.float64))  # more than it holds: the last 3
    assert sorted(memory.rows(torch.device("cpu"))[0][:, 0].tolist()) == [2.0, 3.0, 4.0]
    copy = CrossVideoMemory(size=3, dim=2)
    copy.load_state_dict(memory.state_dict())
    assert torch.equal(copy.embeddings, memory.embeddings) and copy.written == memory.written
    with pytest.raises(ValueError, match="memory of shape \\(3, 2\\) does not fit this model's \\(4, 2\\)"):
        CrossVideoMemory(size=4, dim=2).load_state_dict(memory.state_dict())


TINY = dict(video_feature_dim=6, num_clips=4, hidden_size=8, joint_dim=4, vocab_size=10, word_embedding_dim=4, lstm_hidden_size=4, use_teacher=False, dropout=0.0)


def tiny_batch() -> dict:
    """3 queries, rows 0 and 2 of one video."""
    inputs = {
        "input_ids": torch.tensor([[1, 2, 3], [4, 5, 0], [6, 7, 8]]),
        "attention_mask": torch.tensor([[1, 1, 1], [1, 1, 0], [1, 1, 1]]),
        "video_features": torch.randn(3, 8, 6),
        "durations": torch.tensor([8.0, 16.0, 8.0]),
        "labels": torch.tensor([[0.0, 4.0], [4.0, 12.0], [2.0, 6.0]]),
    }
    inputs["video_features"][2] = inputs["video_features"][0]
    return inputs


def embeddings_and_targets(model, inputs, spans):
    from modeling_fvmr.temporal_map import soft_labels, temporal_iou

    moments = model.moment_projection(model.video_encoder(inputs["video_features"], torch.tensor([8, 8, 8])))
    queries = model.query_projection(model.text_encoder(inputs["input_ids"], inputs["attention_mask"])[1])
    return moments, queries, soft_labels(temporal_iou(spans, inputs["labels"]), 0.5, 1.0)


SAME = torch.tensor([[True, False, True], [False, True, False], [True, False, True]])


def test_forward_adds_the_weighted_cross_video_term():
    torch.manual_seed(0)
    model = FVMRModel(FVMRConfig(**TINY)).eval()
    inputs = tiny_batch()
    plain = model(**inputs)
    assert plain.loss_cross_video is None
    model.config.cross_video_weight = 0.3
    weighted = model(**inputs)
    moments, queries, targets = embeddings_and_targets(model, inputs, plain.proposal_spans)
    expected = cross_video_loss(moments, queries, targets, SAME)
    torch.testing.assert_close(weighted.loss_cross_video, expected)
    torch.testing.assert_close(weighted.loss, plain.loss + 0.3 * expected)
    with pytest.raises(ValueError, match="FVMRConfig.cross_video_weight must be a number in \\[0.0, inf\\), got -1"):
        FVMRConfig(cross_video_weight=-1.0)


def test_training_steps_fill_the_memory_with_the_batch_moments(tmp_path):
    torch.manual_seed(0)
    model = FVMRModel(FVMRConfig(**TINY, cross_video_weight=0.3, cross_video_memory_size=50))
    inputs = tiny_batch()
    first = model.train()(**inputs)  # empty memory: the in-batch term
    moments, queries, targets = embeddings_and_targets(model, inputs, first.proposal_spans)
    K = moments.shape[1]  # 10 proposals of 4 clips
    torch.testing.assert_close(first.loss_cross_video, cross_video_loss(moments, queries, targets, SAME))
    assert model.cross_video_memory.written == 3 * K
    stored, signatures = model.cross_video_memory.rows(torch.device("cpu"))
    torch.testing.assert_close(stored, moments.flatten(0, 1).detach())  # every proposal of every batch row, in order
    assert signatures[:K].unique(dim=0).shape[0] == 1 and not torch.equal(signatures[0], signatures[K])
    # the next batch (the same one, in eval mode: nothing is pushed) meets those rows as negatives,
    # except its own videos' rows
    second = model.eval()(**inputs)
    expected = cross_video_loss(moments, queries, targets, SAME, 1.0, stored, SAME.repeat_interleave(K, dim=1))
    torch.testing.assert_close(second.loss_cross_video, expected)
    assert model.cross_video_memory.written == 3 * K
    other = tiny_batch()  # other videos, the same texts: a stored row is a negative except for the query of its text
    stored_before = stored.clone()
    third = model.train()(**other)
    moments, queries, targets = embeddings_and_targets(model, other, third.proposal_spans)
    excluded = torch.eye(3, dtype=torch.bool).repeat_interleave(K, dim=1)
    torch.testing.assert_close(third.loss_cross_video, cross_video_loss(moments, queries, targets, SAME, 1.0, stored_before, excluded))
    assert model.cross_video_memory.written == 6 * K and len(model.cross_video_memory.rows(torch.device("cpu"))[0]) == 50  # 60 pushed into 50 rows
    torch.testing.assert_close(model.cross_video_memory.embeddings[:10], moments.flatten(0, 1)[-10:].detach())  # the oldest rows, overwritten
    # training state, not weights: not in the state dict, nor in the exported model
    assert not any("memory" in name for name in model.state_dict())
    model.save_pretrained(tmp_path)
    reloaded = FVMRModel.from_pretrained(tmp_path)
    assert reloaded.cross_video_memory.written == 0 and reloaded.config.cross_video_memory_size == 50
    with pytest.raises(ValueError, match="cross_video_memory_size must be an integer >= 0, got -1"):
        FVMRConfig(cross_video_memory_size=-1)
    with pytest.raises(ValueError, match="cross_video_memory_size=8 has no effect with cross_video_weight=0"):
        FVMRConfig(cross_video_memory_size=8)
