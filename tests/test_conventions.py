"""transformers conventions of the model, processor and tokenizer: strict keyword arguments, input
embeddings that `resize_token_embeddings` can grow, the tokenizer's call options, no [UNK] for
punctuation, and a vocabulary that grows for fine-tuning."""

import numpy as np
import pytest
import torch

from modeling_fvmr import FVMRConfig, FVMRModel, FVMRProcessor, build_word_tokenizer
from modeling_fvmr.semantic_roles import Argument, Frame, SemanticRoleTree
from modeling_fvmr.tokenization_fvmr import MODEL_MAX_LENGTH, extend_word_tokenizer

SENTENCES = ["a person opens the door", "the person sits down"]


@pytest.fixture()
def setup():
    torch.manual_seed(0)
    tokenizer = build_word_tokenizer(SENTENCES)
    config = FVMRConfig(
        video_feature_dim=12, num_clips=4, hidden_size=8, word_embedding_dim=6, lstm_hidden_size=5, semantic_dim=7,
        joint_dim=6, fusion_hidden_size=5, vocab_size=len(tokenizer),
    )
    return FVMRModel(config).eval(), FVMRProcessor.from_config(tokenizer, config)


def inputs(processor, **options):
    return processor(SENTENCES, video_features=[torch.randn(5, 12)] * 2, durations=[5.0, 5.0], **options)


def test_forward_rejects_unknown_keyword_arguments(setup):
    model, processor = setup
    batch = inputs(processor)
    durations = batch.pop("durations")
    with pytest.raises(TypeError, match="unexpected keyword argument 'durrations'"):
        model(**batch, durrations=durations)


def test_resize_token_embeddings_then_forward(setup):
    model, processor = setup
    old = model.get_input_embeddings().weight.detach().clone()
    embeddings = model.resize_token_embeddings(len(old) + 3)
    assert embeddings is model.text_encoder.word_embeddings and embeddings.weight.shape == (len(old) + 3, 6)
    assert model.config.vocab_size == len(old) + 3
    assert torch.equal(embeddings.weight[: len(old)], old)  # existing words keep their vectors
    batch = inputs(processor)
    batch["input_ids"][0, 0] = len(old) + 2  # a new word's id
    with torch.no_grad():
        output = model(**batch)
    assert output.student_scores.shape == (2, 10) and torch.isfinite(output.student_scores).all()
    replacement = torch.nn.Embedding(len(old) + 3, 6)
    model.set_input_embeddings(replacement)
    assert model.text_encoder.word_embeddings is replacement


def test_processor_honours_tensor_type_padding_truncation_and_rejects_unknown_options(setup):
    _, processor = setup
    default = inputs(processor)
    assert isinstance(default["input_ids"], torch.Tensor) and default["input_ids"].shape == (2, 5)
    as_numpy = inputs(processor, return_tensors="np")
    assert all(isinstance(value, np.ndarray) for value in as_numpy.values())
    assert np.array_equal(as_numpy["input_ids"], default["input_ids"].numpy())
    padded = inputs(processor, padding="max_length", max_length=7)
    assert padded["attention_mask"].tolist() == [[1, 1, 1, 1, 1, 0, 0], [1, 1, 1, 1, 0, 0, 0]]
    cut = inputs(processor, truncation=True, max_length=3)
    assert cut["input_ids"].tolist() == default["input_ids"][:, :3].tolist()
    with pytest.raises(TypeError, match="unexpected keyword argument 'retrun_tensors'"):
        inputs(processor, retrun_tensors="np")
    with pytest.raises(ValueError, match="return_tensors must be 'pt' or 'np', got 'tf'"):
        inputs(processor, return_tensors="tf")


def test_truncated_queries_drop_the_tree_parts_past_the_cut(setup):
    _, processor = setup
    tree = SemanticRoleTree(
        SENTENCES[0], SENTENCES[0].split(), [0, 2, 9, 15, 19],
        [Frame("opens", "open", 2, 3, [Argument("ARG0", 0, 2, "a person"), Argument("ARG1", 3, 5, "the door")])],
    )
    batch = processor([SENTENCES[0]], trees=[tree], truncation=True, max_length=3)  # "a person opens"
    assert batch["verb_spans"][0, 0].tolist() == [2, 3] and batch["argument_mask"][0, 0].tolist() == [True, False, False, False]
    assert processor.truncation_counts["arguments_dropped"] == 1


def test_tokenizer_has_a_model_max_length_and_drops_punctuation(tmp_path):
    tokenizer = build_word_tokenizer(["a person opens the door"])
    assert tokenizer.model_max_length == MODEL_MAX_LENGTH
    encoding = tokenizer("A person opens the door?! (quickly).", return_offsets_mapping=True)
    assert tokenizer.convert_ids_to_tokens(encoding["input_ids"]) == ["a", "person", "opens", "the", "door", "[UNK]"]
    assert encoding["offset_mapping"][-1] == (27, 34)  # "quickly": an unknown word, not punctuation
    tokenizer.save_pretrained(tmp_path)
    from transformers import AutoTokenizer

    assert AutoTokenizer.from_pretrained(tmp_path).model_max_length == MODEL_MAX_LENGTH


def test_extend_word_tokenizer_keeps_ids_and_appends_new_words():
    tokenizer = build_word_tokenizer(["a person opens the door"])
    grown, new_words = extend_word_tokenizer(tokenizer, ["A WORKER opens the box.", "the worker sits", "a cat"], min_frequency=1)
    assert new_words == ["worker", "box", "cat", "sits"]  # most frequent first, then alphabetical
    assert {word: grown.convert_tokens_to_ids(word) for word in tokenizer.get_vocab()} == tokenizer.get_vocab()
    assert [grown.convert_tokens_to_ids(word) for word in new_words] == list(range(len(tokenizer), len(tokenizer) + 4))
    assert grown("the worker opens the box.")["input_ids"] == [tokenizer.convert_tokens_to_ids("the"), len(tokenizer), *grown("opens the box")["input_ids"]]
    _, frequent = extend_word_tokenizer(tokenizer, ["the worker sits", "a worker", "a cat"], min_frequency=2)
    assert frequent == ["worker"]
