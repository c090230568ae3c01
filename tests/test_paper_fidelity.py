"""Pins of the paper's equations and of 2D-TAN's video path against hand computations."""

import math

import pytest
import torch
from torch import nn

from modeling_fvmr import FVMRConfig, FVMRModel
from modeling_fvmr.modeling_fvmr import FVMRTextEncoder, FVMRVideoEncoder, distillation_loss, resample_clips


def small_config(**overrides) -> FVMRConfig:
    values = dict(
        video_feature_dim=2, num_clips=2, num_sample_clips=4, hidden_size=2, word_embedding_dim=3,
        lstm_hidden_size=2, semantic_dim=3, joint_dim=3, fusion_hidden_size=3, vocab_size=6,
    )
    return FVMRConfig(**{**values, **overrides})


# ----- L_dis ------------------------------------------------------------------------------------


def paper_l_dis_by_hand(s: list[float], t: list[float]) -> float:
    """−(1/K) Σ_i [t_i log s_i + (1 − t_i) log(1 − s_i)]."""
    return -sum(ti * math.log(si) + (1 - ti) * math.log(1 - si) for si, ti in zip(s, t)) / len(s)


def test_paper_distillation_loss_by_hand_on_a_non_uniform_case():
    # p = log [1, 2, 5]: softmax(p) = [1, 2, 5] / 8; q = log [3, 1, 4]: softmax(q) = [3, 1, 4] / 8
    student = torch.tensor([[0.0, math.log(2.0), math.log(5.0)]])
    teacher = torch.tensor([[math.log(3.0), 0.0, math.log(4.0)]])
    s, t = [1 / 8, 2 / 8, 5 / 8], [3 / 8, 1 / 8, 4 / 8]
    expected = paper_l_dis_by_hand(s, t)
    assert expected == pytest.approx(0.6712, abs=1e-4)  # the hand value, written out once
    assert float(distillation_loss(student, teacher, 1.0)) == pytest.approx(expected, rel=1e-6)
    # T = 2 softens both sides: softmax(p / 2) = [1, √2, √5] / (1 + √2 + √5), softmax(q / 2) = [√3, 1, 2] / (3 + √3)
    s2 = [x / (1 + math.sqrt(2) + math.sqrt(5)) for x in (1, math.sqrt(2), math.sqrt(5))]
    t2 = [x / (3 + math.sqrt(3)) for x in (math.sqrt(3), 1, 2)]
    assert float(distillation_loss(student, teacher, 2.0)) == pytest.approx(paper_l_dis_by_hand(s2, t2), rel=1e-6)
    # a batch is the mean of its rows (a uniform student and teacher in the second row)
    batch = distillation_loss(torch.cat([student, torch.zeros(1, 3)]), torch.cat([teacher, torch.zeros(1, 3)]), 1.0)
    uniform = paper_l_dis_by_hand([1 / 3] * 3, [1 / 3] * 3)
    assert float(batch) == pytest.approx((expected + uniform) / 2, rel=1e-6)


def test_hinton_distillation_loss_by_hand():
    student = torch.tensor([[0.0, math.log(2.0), math.log(5.0)]])
    teacher = torch.tensor([[math.log(3.0), 0.0, math.log(4.0)]])
    # −Σ_i t_i log s_i, summed over K (our deviation, kept as an option)
    expected = -(3 * math.log(1 / 8) + 1 * math.log(2 / 8) + 4 * math.log(5 / 8)) / 8
    assert float(distillation_loss(student, teacher, 1.0, "hinton")) == pytest.approx(expected, rel=1e-6)
    with pytest.raises(ValueError, match="'kl'"):
        distillation_loss(student, teacher, 1.0, "kl")


def test_paper_distillation_loss_is_finite_when_one_proposal_takes_all_the_mass():
    student = torch.tensor([[60.0, 0.0, -5.0]], requires_grad=True)
    teacher = torch.tensor([[0.0, 1.0, 2.0]])
    loss = distillation_loss(student, teacher, 1.0)
    loss.backward()
    t = torch.softmax(teacher.double(), -1)[0].tolist()
    # s_0 = 1 − (e^-60 + e^-65) / (1 + ...) rounds to 1 in float32; log(1 − s_0) ≈ −60 must survive
    log_s = torch.log_softmax(student.detach().double(), -1)[0].tolist()
    log_1m_s = [math.log(math.exp(-60) + math.exp(-65)), math.log1p(-math.exp(log_s[1])), math.log1p(-math.exp(log_s[2]))]
    expected = -sum(ti * ls + (1 - ti) * l1 for ti, ls, l1 in zip(t, log_s, log_1m_s)) / 3
    assert float(loss.detach()) == pytest.approx(expected, rel=1e-5)
    assert torch.isfinite(student.grad).all()


def test_config_selects_the_distillation_form():
    assert FVMRConfig().distillation_loss == "paper" and FVMRConfig().detach_teacher is False
    with pytest.raises(ValueError, match="distillation_loss must be one of"):
        FVMRConfig(distillation_loss="kl")


# ----- text side: s = w_1 + w_L ---------------------------------------------------------------------


def test_sentence_feature_is_first_plus_last_word_feature():
    torch.manual_seed(0)
    encoder = FVMRTextEncoder(small_config(dropout=0.0)).eval()
    ids = torch.tensor([[1, 2, 3, 0, 0], [4, 5, 1, 2, 3]])
    words, sentence = encoder(ids, (ids != 0).long())
    for row, length in enumerate([3, 5]):
        # the BiLSTM run on the unpadded query alone: w_l = forward_l ‖ backward_l
        alone, _ = encoder.lstm(encoder.word_embeddings(ids[row : row + 1, :length]))
        assert torch.allclose(words[row, :length], alone[0], atol=1e-6)
        assert torch.allclose(sentence[row], alone[0, 0] + alone[0, length - 1], atol=1e-6)
    # w_1 and w_L carry different information: their sum is neither of them alone
    assert not torch.allclose(sentence[0], words[0, 2], atol=1e-3)


# ----- video side: 2D-TAN's clip pooling -----------------------------------------------------------


def test_resampling_follows_2d_tan_rounding_and_lengths():
    clips = torch.arange(1.0, 6.0).unsqueeze(-1)  # clip values 1 .. 5
    features = torch.stack([clips, torch.cat([clips[:2], torch.full((3, 1), 99.0)])])  # video 2: 2 clips + padding
    samples = resample_clips(features, torch.tensor([5, 2]), 4)
    # T = 5, S = 4: edges round([0, 1.25, 2.5, 3.75, 5]) = [0, 1, 2, 4, 5] (2.5 rounds to even), capped
    # at T − 1 = 4: windows [0, 1) [1, 2) [2, 4) and the empty [4, 4), which takes clip 4
    assert samples[0, :, 0].tolist() == [1.0, 2.0, 3.5, 5.0]
    # T = 2: edges round([0, .5, 1, 1.5, 2]) = [0, 0, 1, 2, 2] capped at 1 -> clips 0, 0, 1, 1 (padding unused)
    assert samples[1, :, 0].tolist() == [1.0, 1.0, 2.0, 2.0]


def test_clip_pooling_normalises_then_projects_then_averages():
    encoder = FVMRVideoEncoder(small_config())
    with torch.no_grad():
        encoder.projection.weight.copy_(torch.tensor([[1.0, 0.0], [1.0, -1.0]]))
        encoder.projection.bias.zero_()
    features = torch.tensor([[[3.0, 4.0], [0.0, 2.0], [1.0, 0.0], [0.0, 0.5]]])  # T = S = 4, N = 2
    clips = encoder.pool_clips(features, torch.tensor([4]))
    # L2-normalised: [.6, .8], [0, 1], [1, 0], [0, 1]. Unit 1 (x_1): ReLU [.6, 0, 1, 0] -> pooled [.3, .5].
    # Unit 2 (x_1 − x_2): [−.2, −1, 1, −1] -> ReLU [0, 0, 1, 0] -> pooled [0, .5] (ReLU before pooling).
    assert clips[0].flatten().tolist() == pytest.approx([0.3, 0.0, 0.5, 0.5], abs=1e-6)


# ----- video side: 2D-TAN's masked MapConv ---------------------------------------------------------


def test_map_conv_divides_by_valid_cells_and_grows_the_mask():
    encoder = FVMRVideoEncoder(small_config(hidden_size=1, video_conv_layers=2, video_conv_kernel_size=3))
    assert [conv.padding for conv in encoder.convs] == [(2, 2), (0, 0)]  # 2D-TAN pads the first layer only
    with torch.no_grad():
        for conv in encoder.convs:
            conv.weight.fill_(1.0)
            conv.bias.zero_()
    # N = 2: valid cells (0, 0), (0, 1), (1, 1) hold 1, 2, 4; (1, 0) is invalid and zero
    moment_map = torch.tensor([[[[1.0, 2.0], [0.0, 4.0]]]])
    out = encoder.map_conv(moment_map)
    # Layer 1 (padding 2, 4 x 4 output): each cell is the window sum / the valid cells in it, e.g. the
    # full window 7 / 3; the mask grows to every cell but (3, 0), whose window holds no valid cell.
    # Layer 2 (no padding): 3 x 3 windows of the layer-1 map / the cells of the grown mask in them:
    # 9 each, 8 for output (1, 0), whose window contains (3, 0).
    assert out[0, 0].flatten().tolist() == pytest.approx([46 / 27, 61 / 27, 29 / 12, 82 / 27], rel=1e-6)


def test_video_encoder_reads_the_map_conv_at_the_valid_proposals():
    torch.manual_seed(0)
    encoder = FVMRVideoEncoder(small_config(num_clips=4, num_sample_clips=4, hidden_size=3, video_conv_layers=2, pooling_counts=[2]))
    features, lengths = torch.randn(2, 4, 2), torch.tensor([4, 3])
    moments = encoder(features, lengths)
    plain = encoder.moment_max_pool(encoder.pool_clips(features, lengths))
    starts, ends = encoder.proposals.T
    moment_map = torch.zeros(2, 3, 4, 4)
    moment_map[:, :, starts, ends] = plain.transpose(1, 2)
    assert torch.allclose(moments, encoder.map_conv(moment_map)[:, :, starts, ends].transpose(1, 2))


# ----- presets and seeds ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "preset, nms, layers, kernel",
    [("charades-sta", 0.45, 8, 5), ("activitynet-captions", 0.5, 4, 9), ("tacos", 0.4, 8, 5)],
)
def test_presets_have_2d_tan_nms_and_video_sizes(preset, nms, layers, kernel):
    config = FVMRConfig.from_preset(preset)
    assert (config.nms_threshold, config.video_conv_layers, config.video_conv_kernel_size) == (nms, layers, kernel)
    assert (config.hidden_size, config.num_sample_clips) == (512, 256)
    # the text side keeps the CPU-sized defaults: only the video side follows 2D-TAN
    assert config.lstm_hidden_size == FVMRConfig().lstm_hidden_size


def test_sample_clips_must_be_a_multiple_of_the_clips():
    assert FVMRConfig(num_clips=10).num_sample_clips == 260
    with pytest.raises(ValueError, match="multiple of num_clips"):
        FVMRConfig(num_clips=16, num_sample_clips=100)
    with pytest.raises(ValueError, match="must be odd"):
        FVMRConfig(video_conv_layers=2, video_conv_kernel_size=4)


@pytest.mark.parametrize("conv_layers", [0, 2])
def test_student_init_does_not_depend_on_the_teacher(conv_layers):
    def student_weights(**overrides):
        torch.manual_seed(7)
        model = FVMRModel(small_config(video_conv_layers=conv_layers, num_clips=4, **overrides))
        return {name: value for name, value in model.state_dict().items() if not name.startswith(("semantic_", "fusion"))}

    alone = student_weights(use_teacher=False)
    for variant in ({"use_teacher": True}, {"use_teacher": True, "distillation_loss": "hinton", "distillation_weight": 0.0}):
        with_teacher = student_weights(**variant)
        assert list(with_teacher) == list(alone)
        assert all(torch.equal(alone[name], with_teacher[name]) for name in alone)
