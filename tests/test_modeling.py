import math

import pytest
import torch

from modeling_fvmr import FVMRConfig, FVMRModel, FVMRProcessor, build_word_tokenizer
from modeling_fvmr.modeling_fvmr import FVMRSemanticExtractor, distillation_loss
from modeling_fvmr.semantic_roles import Argument, Frame, SemanticRoleTree

SENTENCES = ["a person opens the door", "the person sits down"]


def tiny_config(**overrides):
    values = dict(
        video_feature_dim=12,
        num_clips=4,
        hidden_size=8,
        word_embedding_dim=6,
        lstm_hidden_size=5,
        semantic_dim=7,
        joint_dim=6,
        fusion_hidden_size=5,
        vocab_size=12,
    )
    return FVMRConfig(**{**values, **overrides})


def trees():
    first = SemanticRoleTree(
        SENTENCES[0],
        SENTENCES[0].split(),
        [0, 2, 9, 15, 19],
        [Frame("opens", "open", 2, 3, [Argument("ARG0", 0, 2, "a person"), Argument("ARG1", 3, 5, "the door")])],
    )
    second = SemanticRoleTree(SENTENCES[1], SENTENCES[1].split(), [0, 4, 11, 16], [Frame("", "", 0, 0, [Argument("NOUN", 0, 2, "the person")])])
    return [first, second]


@pytest.fixture()
def setup():
    torch.manual_seed(0)
    tokenizer = build_word_tokenizer(SENTENCES)
    config = tiny_config(vocab_size=len(tokenizer))
    model = FVMRModel(config)
    processor = FVMRProcessor.from_config(tokenizer, config)
    videos = [torch.randn(9, config.video_feature_dim), torch.randn(3, config.video_feature_dim)]
    batch = processor(SENTENCES, trees=trees(), video_features=videos, durations=[8.0, 4.0], timestamps=[[2.0, 6.0], [0.0, 2.0]])
    return model, processor, batch


def test_soft_bce_and_total_loss_by_hand(setup):
    model, _, batch = setup
    model.config.distillation_weight = 0.5
    model.eval()
    with torch.no_grad():
        output = model(**batch)
    # N = 4 dense, video of 8 s: proposal (a, b) spans [2a, 2b + 2]. IoU with [2, 6] in the order
    # (0,0) (0,1) (0,2) (0,3) (1,1) (1,2) (1,3) (2,2) (2,3) (3,3), then y = clip((o - 0.5) / 0.5, 0, 1).
    iou = [0, 1 / 3, 2 / 3, 1 / 2, 1 / 2, 1, 2 / 3, 1 / 2, 1 / 3, 0]
    labels = [min(max((o - 0.5) / 0.5, 0.0), 1.0) for o in iou]
    assert labels == pytest.approx([0, 0, 1 / 3, 0, 0, 1, 1 / 3, 0, 0, 0])
    p = output.student_scores[0].tolist()
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    by_hand = -sum(y * math.log(sigmoid(x)) + (1 - y) * math.log(1 - sigmoid(x)) for x, y in zip(p, labels)) / len(p)
    # second query: video of 4 s (1 s per clip), ground truth [0, 2] s
    iou_second = [1 / 2, 1, 2 / 3, 1 / 2, 1 / 2, 1 / 3, 1 / 4, 0, 0, 0]
    labels_second = [min(max((o - 0.5) / 0.5, 0.0), 1.0) for o in iou_second]
    p2 = output.student_scores[1].tolist()
    by_hand_second = -sum(
        y * math.log(sigmoid(x)) + (1 - y) * math.log(1 - sigmoid(x)) for x, y in zip(p2, labels_second)
    ) / len(p2)
    assert float(output.loss_student) == pytest.approx((by_hand + by_hand_second) / 2, rel=1e-5)
    expected_total = output.loss_student + output.loss_teacher + 0.5 * output.loss_distillation
    assert float(output.loss) == pytest.approx(float(expected_total), rel=1e-6)
    assert float(output.loss_distillation) == pytest.approx(
        float(distillation_loss(output.student_scores, output.teacher_scores, model.config.distillation_temperature)), rel=1e-6
    )


def test_hinton_distillation_loss_by_hand_with_two_proposals():
    # (with K = 2 the paper form gives the same values; tests/test_paper_fidelity.py pins it at K = 3)
    student = torch.tensor([[0.0, math.log(3.0)]])
    teacher = torch.tensor([[0.0, 0.0]])
    # target [1/2, 1/2]; softmax(p) = [1/4, 3/4]
    assert float(distillation_loss(student, teacher, 1.0, "hinton")) == pytest.approx(-(0.5 * math.log(0.25) + 0.5 * math.log(0.75)))
    # T = 2: softmax(p / 2) = [1, sqrt 3] / (1 + sqrt 3)
    low, high = 1 / (1 + math.sqrt(3)), math.sqrt(3) / (1 + math.sqrt(3))
    assert float(distillation_loss(student, teacher, 2.0, "hinton")) == pytest.approx(-(0.5 * math.log(low) + 0.5 * math.log(high)))
    # a non-uniform teacher is softened by the same T: q = [0, log 4] -> softmax(q / 2) = [1/3, 2/3]
    teacher = torch.tensor([[0.0, math.log(4.0)]])
    assert float(distillation_loss(student, teacher, 1.0, "hinton")) == pytest.approx(-(0.2 * math.log(0.25) + 0.8 * math.log(0.75)))
    assert float(distillation_loss(student, teacher, 2.0, "hinton")) == pytest.approx(-(math.log(low) + 2 * math.log(high)) / 3)


def test_hierarchical_attention_matches_the_equations_on_a_two_verb_tree():
    config = tiny_config(lstm_hidden_size=1, semantic_dim=2, role_labels=["OTHER", "ARG0", "ARG1"])
    extractor = FVMRSemanticExtractor(config)
    with torch.no_grad():
        extractor.node_projection.weight.copy_(torch.eye(2))
        extractor.node_projection.bias.zero_()
        extractor.role_embeddings.weight.copy_(torch.tensor([[0.0, 0.0], [0.1, -0.2], [0.3, 0.0]]))
        for attention, (w_top, w_low, w_alpha) in [
            (extractor.verb_attention, ([[1.0, 0.5], [0.0, 1.0]], [[0.5, 0.0], [0.2, 1.0]], [1.0, -1.0, 0.5, 2.0])),
            (extractor.argument_attention, ([[0.3, 0.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, -1.0]], [0.5, 1.5, -1.0, 1.0])),
        ]:
            attention.top.weight.copy_(torch.tensor(w_top))
            attention.low.weight.copy_(torch.tensor(w_low))
            attention.alpha.weight.copy_(torch.tensor([w_alpha]))
    words = [[1.0, 0.0], [0.0, 1.0], [2.0, 1.0], [-1.0, 0.5], [0.5, 0.5]]
    sentence = [1.5, 0.5]
    # verb 0: span [1, 2) with ARG0 [0, 1) and ARG1 [2, 4); verb 1: span [4, 5) with ARG1 [2, 3); slot 2 padded
    verb_spans = torch.tensor([[[1, 2], [4, 5], [0, 0]]])
    verb_mask = torch.tensor([[True, True, False]])
    argument_spans = torch.tensor([[[[0, 1], [2, 4]], [[2, 3], [0, 0]], [[0, 0], [0, 0]]]])
    argument_roles = torch.tensor([[[1, 2], [2, 0], [0, 0]]])
    argument_mask = torch.tensor([[[True, True], [True, False], [False, False]]])
    u, verb_weights, node_weights = extractor(
        torch.tensor([words]), torch.tensor([sentence]), verb_spans, verb_mask, argument_spans, argument_roles, argument_mask
    )

    # ---- the equations of DESIGN §3, written out with plain Python numbers ----
    def matvec(m, v):
        return [sum(m[i][j] * v[j] for j in range(len(v))) for i in range(len(m))]

    def alpha(w_top, w_low, w_alpha, top, low):
        hidden = [math.tanh(x) for x in matvec(w_top, top) + matvec(w_low, low)]
        return sum(a * h for a, h in zip(w_alpha, hidden))

    def softmax(xs):
        exps = [math.exp(x) for x in xs]
        return [e / sum(exps) for e in exps]

    def mean(rows):
        return [sum(col) / len(rows) for col in zip(*rows)]

    add = lambda a, b: [x + y for x, y in zip(a, b)]  # noqa: E731
    scale = lambda w, v: [w * x for x in v]  # noqa: E731
    v_top, v_low, v_alpha = [[1.0, 0.5], [0.0, 1.0]], [[0.5, 0.0], [0.2, 1.0]], [1.0, -1.0, 0.5, 2.0]
    n_top, n_low, n_alpha = [[0.3, 0.0], [1.0, 1.0]], [[1.0, 0.0], [0.0, -1.0]], [0.5, 1.5, -1.0, 1.0]
    g_s = sentence
    g_v = [words[1], words[4]]
    g_n = [[add(words[0], [0.1, -0.2]), add(mean(words[2:4]), [0.3, 0.0])], [add(words[2], [0.3, 0.0])]]
    alpha_v = [alpha(v_top, v_low, v_alpha, g_s, g) for g in g_v]
    a_v = softmax(alpha_v)
    g_hat_v = add(scale(a_v[0], g_v[0]), scale(a_v[1], g_v[1]))
    h = []
    expected_b = []
    for i in range(2):
        alpha_n = [alpha(n_top, n_low, n_alpha, g_hat_v, g) for g in g_n[i]]
        b = softmax([alpha_v[i]] + alpha_n)
        expected_b.append(b)
        h_i = scale(b[0], g_v[i])
        for weight, node in zip(b[1:], g_n[i]):
            h_i = add(h_i, scale(weight, node))
        h.append(h_i)
    expected_u = [g_s[k] * (h[0][k] + h[1][k]) / 2 for k in range(2)]

    assert u[0].tolist() == pytest.approx(expected_u, abs=1e-6)
    assert verb_weights[0].tolist() == pytest.approx(a_v + [0.0], abs=1e-6)
    assert node_weights[0, 0].tolist() == pytest.approx(expected_b[0], abs=1e-6)
    assert node_weights[0, 1].tolist() == pytest.approx(expected_b[1] + [0.0], abs=1e-6)
    assert node_weights[0, 2].tolist() == [0.0, 0.0, 0.0]


def test_pseudo_frame_uses_the_sentence_node():
    config = tiny_config(lstm_hidden_size=1, semantic_dim=2)
    extractor = FVMRSemanticExtractor(config)
    words, sentence = torch.randn(1, 3, 2), torch.randn(1, 2)
    empty = torch.zeros(1, 1, 1, 2, dtype=torch.long)
    u, _, node_weights = extractor(
        words, sentence, torch.zeros(1, 1, 2, dtype=torch.long), torch.ones(1, 1, dtype=torch.bool),
        empty, torch.zeros(1, 1, 1, dtype=torch.long), torch.zeros(1, 1, 1, dtype=torch.bool),
    )
    g_s = extractor.node_projection(sentence)
    # one frame, no arguments: b = [1], h = g^(v) = g^(s), u = g^(s) ⊙ g^(s)
    assert node_weights[0, 0].tolist() == [1.0, 0.0]
    assert torch.allclose(u, g_s * g_s)


def test_gradient_reaches_every_parameter(setup):
    model, _, batch = setup
    model.train()
    model(**batch).loss.backward()
    without_grad = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    # the padding row of the word embeddings is the only thing the loss must not train
    assert without_grad == []
    assert model.text_encoder.word_embeddings.weight.grad[model.config.pad_token_id].abs().sum() == 0


@pytest.mark.parametrize("detach", [True, False])
def test_detached_teacher_gets_no_gradient_from_distillation(setup, detach):
    model, _, batch = setup
    model.config.detach_teacher = detach
    model(**batch).loss_distillation.backward()
    teacher_parameters = [
        p for name, p in model.named_parameters() if name.startswith(("semantic_extractor", "semantic_projection", "fusion"))
    ]
    teacher_grad = sum(float(p.grad.abs().sum()) for p in teacher_parameters if p.grad is not None)
    student_grad = float(model.query_projection.weight.grad.abs().sum())
    assert student_grad > 0
    assert (teacher_grad == 0) is detach


def test_student_scores_equal_encode_video_query_and_matmul(setup):
    model, _, batch = setup
    model.eval()
    output = model(**batch)
    video = model.encode_video(batch["video_features"], batch["video_mask"], batch["durations"])
    queries = model.encode_query(batch["input_ids"], batch["attention_mask"])
    assert torch.equal(model.score(video.moment_embeddings, queries), output.student_scores)
    assert torch.equal(video.proposal_spans, output.proposal_spans)
    # the same scores as one matrix product against a stored bank of moment embeddings
    bank = video.moment_embeddings[0]
    assert torch.allclose(bank @ queries[0], output.student_scores[0], atol=1e-6)


def test_forward_without_trees_is_student_only(setup):
    model, processor, _ = setup
    model.eval()
    batch = processor(SENTENCES, video_features=[torch.randn(5, 12)] * 2, durations=[5.0, 5.0])
    output = model(**batch)
    assert output.teacher_scores is None and output.loss is None
    assert output.student_scores.shape == (2, 10)
    assert output.proposal_spans[0, -1].tolist() == pytest.approx([3.75, 5.0])


def test_video_conv_layers_keep_shapes_and_mask(setup):
    _, processor, batch = setup
    model = FVMRModel(tiny_config(vocab_size=len(processor.tokenizer), video_conv_layers=2, num_clips=8, pooling_counts=[3, 2]))
    output = model(**batch)
    # offsets 0..3 at every start (8 + 7 + 6 + 5), then stride 2: offsets 5 (starts 0, 2) and 7 (start 0)
    assert output.student_scores.shape == (2, 8 + 7 + 6 + 5 + 2 + 1)


def test_moment_features_are_max_pooled_over_the_span():
    model = FVMRModel(tiny_config())
    clips = torch.tensor([[[1.0], [5.0], [2.0], [0.0]]])
    moments = model.video_encoder.moment_max_pool(clips)
    # order (0,0) (0,1) (0,2) (0,3) (1,1) (1,2) (1,3) (2,2) (2,3) (3,3)
    assert moments[0, :, 0].tolist() == [1.0, 5.0, 5.0, 5.0, 5.0, 5.0, 5.0, 2.0, 2.0, 0.0]


def test_short_videos_repeat_clips():
    model = FVMRModel(tiny_config()).eval()
    output = model(input_ids=torch.tensor([[2, 3]]), video_features=torch.randn(1, 2, 12))
    assert output.student_scores.shape == (1, 10) and torch.isfinite(output.student_scores).all()


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda b: b.update(video_features=torch.randn(2, 9, 11)), "video_feature_dim=12"),
        (lambda b: b["video_features"].__setitem__((0, 0, 0), float("nan")), "NaN or infinite"),
        (lambda b: b["video_features"].__setitem__((1, 0, 0), float("inf")), "NaN or infinite"),
        (lambda b: b.update(video_features=torch.randn(2, 0, 12), video_mask=None), "zero clips"),
        (lambda b: b["video_mask"].__setitem__(1, 0), "zero clips"),
        (lambda b: b["attention_mask"].__setitem__(1, 0), "Empty query"),
        (lambda b: b["labels"].__setitem__((0, 1), 9.0), "not a span inside the video"),
        (lambda b: b["labels"].__setitem__((1, 0), -1.0), "not a span inside the video"),
        (lambda b: b.pop("durations"), "durations"),
        (lambda b: b.pop("verb_mask"), "missing \\['verb_mask'\\]"),
    ],
)
def test_bad_input_raises_clear_errors(setup, change, message):
    model, _, batch = setup
    batch = dict(batch)
    batch = {key: value.clone() for key, value in batch.items()}
    change(batch)
    with pytest.raises(ValueError, match=message):
        model(**batch)


def test_training_with_teacher_but_without_trees_says_what_to_do(setup):
    model, processor, _ = setup
    batch = processor(SENTENCES, video_features=[torch.randn(5, 12)] * 2, durations=[5.0, 5.0], timestamps=[[0, 1], [1, 2]])
    with pytest.raises(ValueError, match="use_teacher=False"):
        model(**batch)
    student_only = FVMRModel(tiny_config(vocab_size=model.config.vocab_size, use_teacher=False))
    output = student_only(**batch)
    assert torch.equal(output.loss, output.loss_student)
    assert not any(name.startswith("fusion") for name, _ in student_only.named_parameters())


def test_save_and_load_round_trip(setup, tmp_path):
    model, processor, batch = setup
    model.eval()
    model.save_pretrained(tmp_path)
    processor.save_pretrained(tmp_path)
    assert (tmp_path / "model.safetensors").exists() and not list(tmp_path.glob("*.bin"))
    from transformers import AutoModel, AutoProcessor

    reloaded = AutoModel.from_pretrained(tmp_path)
    assert type(reloaded) is FVMRModel
    reloaded_batch = AutoProcessor.from_pretrained(tmp_path)(
        SENTENCES, trees=trees(), video_features=[batch["video_features"][0], batch["video_features"][1, :3]],
        durations=[8.0, 4.0], timestamps=[[2.0, 6.0], [0.0, 2.0]],
    )
    for key in batch:
        assert torch.equal(batch[key], reloaded_batch[key]), key
    before, after = model(**batch), reloaded(**reloaded_batch)
    for field in ("student_scores", "teacher_scores", "loss"):
        assert torch.allclose(getattr(before, field), getattr(after, field), atol=1e-6), field


def test_config_presets_and_validation():
    tacos = FVMRConfig.from_preset("tacos", video_feature_dim=1024)
    assert (tacos.num_clips, tacos.pooling_counts, tacos.video_feature_dim) == (128, [15, 8, 8, 8], 1024)
    assert (tacos.iou_min, tacos.iou_max) == (0.3, 0.7)
    assert FVMRConfig.from_preset("activitynet-captions").pooling_counts == [15, 8, 8]
    assert FVMRConfig(num_clips=32).pooling_counts == [31]
    with pytest.raises(ValueError, match="Unknown preset 'charades'"):
        FVMRConfig.from_preset("charades")
    with pytest.raises(ValueError, match="iou_min"):
        FVMRConfig(iou_min=0.7, iou_max=0.5)


def test_model_init_is_deterministic():
    torch.manual_seed(3)
    first = FVMRModel(tiny_config()).state_dict()
    torch.manual_seed(3)
    second = FVMRModel(tiny_config()).state_dict()
    assert all(torch.equal(first[key], second[key]) for key in first)
