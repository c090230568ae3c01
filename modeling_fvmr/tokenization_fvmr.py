"""Word-level tokenizer for FVMR queries, built with the `tokenizers` library.

Lower-cased, NFKC-normalised, split on whitespace and punctuation (`Whitespace` pre-tokenizer:
`\\w+|[^\\w\\s]+`), punctuation removed: a "." or "?" the vocabulary has never seen would otherwise
enter the sentence encoding as [UNK] (and s = w_1 + w_L reads the last token). The result is a
transformers fast tokenizer: `save_pretrained` writes `tokenizer.json`, and
`AutoTokenizer.from_pretrained` loads it back with character offsets.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"
# words per query the model is meant for; the longest benchmark queries (ActivityNet Captions) stay below it
MODEL_MAX_LENGTH = 128


def _fast_tokenizer(tokenizer: Tokenizer) -> PreTrainedTokenizerFast:
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, pad_token=PAD_TOKEN, unk_token=UNK_TOKEN, model_max_length=MODEL_MAX_LENGTH
    )


def build_word_tokenizer(
    sentences: Iterable[str], min_frequency: int = 1, max_vocab_size: int | None = None
) -> PreTrainedTokenizerFast:
    """Word-level tokenizer whose vocabulary is the words of `sentences`.

    Args:
        sentences: training queries.
        min_frequency: words seen fewer times map to [UNK].
        max_vocab_size: keep at most this many entries (special tokens included), most frequent first.

    Returns:
        A fast tokenizer with [PAD] = id 0 and [UNK] = id 1.
    """
    tokenizer = Tokenizer(models.WordLevel(unk_token=UNK_TOKEN))
    tokenizer.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Punctuation(behavior="removed")]
    )
    trainer_options = {"special_tokens": [PAD_TOKEN, UNK_TOKEN], "min_frequency": min_frequency, "show_progress": False}
    if max_vocab_size is not None:
        trainer_options["vocab_size"] = max_vocab_size
    tokenizer.train_from_iterator(sentences, trainers.WordLevelTrainer(**trainer_options))
    if tokenizer.get_vocab_size() <= 2:
        raise ValueError("No words to build a vocabulary from: the training sentences are empty.")
    return _fast_tokenizer(tokenizer)


def extend_word_tokenizer(
    tokenizer: PreTrainedTokenizerFast, sentences: Iterable[str], min_frequency: int = 1
) -> tuple[PreTrainedTokenizerFast, list[str]]:
    """`tokenizer` with the words of `sentences` it lacks appended (existing ids unchanged), for
    fine-tuning a trained model on a new corpus.

    Words are split exactly as the tokenizer splits them (its own normaliser and pre-tokenizer); a
    new word is kept when seen at least `min_frequency` times.

    Returns:
        (the grown tokenizer, the new words in the order of their new ids).
    """
    backend = tokenizer.backend_tokenizer
    counts: Counter = Counter()
    for sentence in sentences:
        text = backend.normalizer.normalize_str(sentence) if backend.normalizer else sentence
        counts.update(word for word, _ in backend.pre_tokenizer.pre_tokenize_str(text))
    vocabulary = dict(tokenizer.get_vocab())
    new_words = sorted(
        (word for word, count in counts.items() if count >= min_frequency and word not in vocabulary),
        key=lambda word: (-counts[word], word),
    )
    for word in new_words:
        vocabulary[word] = len(vocabulary)
    grown = Tokenizer(models.WordLevel(vocab=vocabulary, unk_token=UNK_TOKEN))
    grown.normalizer, grown.pre_tokenizer = backend.normalizer, backend.pre_tokenizer
    return _fast_tokenizer(grown), new_words


__all__ = ["build_word_tokenizer", "extend_word_tokenizer", "MODEL_MAX_LENGTH", "PAD_TOKEN", "UNK_TOKEN"]
