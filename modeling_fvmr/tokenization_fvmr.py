"""Word-level tokenizer for FVMR queries, built with the `tokenizers` library.

Lower-cased, NFKC-normalised, split on whitespace and punctuation (`Whitespace` pre-tokenizer:
`\\w+|[^\\w\\s]+`). The result is a transformers fast tokenizer: `save_pretrained` writes
`tokenizer.json`, and `AutoTokenizer.from_pretrained` loads it back with character offsets.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

PAD_TOKEN = "[PAD]"
UNK_TOKEN = "[UNK]"


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
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer_options = {"special_tokens": [PAD_TOKEN, UNK_TOKEN], "min_frequency": min_frequency, "show_progress": False}
    if max_vocab_size is not None:
        trainer_options["vocab_size"] = max_vocab_size
    tokenizer.train_from_iterator(sentences, trainers.WordLevelTrainer(**trainer_options))
    if tokenizer.get_vocab_size() <= 2:
        raise ValueError("No words to build a vocabulary from: the training sentences are empty.")
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, pad_token=PAD_TOKEN, unk_token=UNK_TOKEN)


__all__ = ["build_word_tokenizer", "PAD_TOKEN", "UNK_TOKEN"]
