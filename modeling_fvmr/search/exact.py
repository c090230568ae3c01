"""Exact search: the best rows of a moment matrix for each query, by one chunked matrix product.

Rows may be stored as float32 or float16 (half the memory and the bytes read per query); float16
rows are widened to float32 a block at a time into one small reused buffer (a fresh allocation per
chunk costs more than the widening itself), so scores are float32 dot products of the stored values. The
matrix may be memory-mapped: a chunk is read from disk when it is scored.
"""

from __future__ import annotations

import numpy as np
import torch

SCORE_CHUNK_ROWS = 1 << 16  # rows scored per chunk: bounds the (queries, rows) score memory
WIDEN_BLOCK_ROWS = 2048  # float16 rows widened to float32 at a time (a cache-sized buffer)


def top_scores(query_embeddings: torch.Tensor, embeddings: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `count` best rows per query.

    Args:
        query_embeddings: (Q, J) float32 φ_s(s). embeddings: (M, J) float32 or float16 φ_m(m).
        count: rows kept per query (<= M).

    Returns:
        scores (Q, count) float32 and row indices (Q, count), best first. Rows are scored
        `SCORE_CHUNK_ROWS` at a time, so the score memory stays bounded on large corpora.
    """
    best_scores = best_rows = None
    widen = _widener(embeddings)
    for start in range(0, len(embeddings), SCORE_CHUNK_ROWS):
        # (chunk, J) @ (J, Q): the fast layout for few queries against many rows
        scores = widen(embeddings[start : start + SCORE_CHUNK_ROWS], query_embeddings).T  # (Q, chunk)
        scores, rows = scores.topk(min(count, scores.shape[1]), dim=1)
        rows += start
        if best_scores is not None:
            scores, rows = torch.cat([best_scores, scores], dim=1), torch.cat([best_rows, rows], dim=1)
            scores, picked = scores.topk(min(count, scores.shape[1]), dim=1)
            rows = rows.gather(1, picked)
        best_scores, best_rows = scores, rows
    return best_scores, best_rows


def all_scores(query_embeddings: torch.Tensor, embeddings: torch.Tensor) -> torch.Tensor:
    """(Q, M) float32 scores of every row, in row order: one matrix product (for a few thousand rows).

    One query against float32 rows (a single-video search) goes through NumPy's `einsum` loop instead:
    single-threaded and outside any BLAS, it read a video's rows faster than torch's product right after
    the text encoder (`benchmarks/speed.py`, query_path rows). (NumPy's BLAS product was faster still,
    but its OpenBLAS threads, left spinning, made the next text-encoder call 3x slower on 2 cores.)
    """
    if len(query_embeddings) == 1 and embeddings.dtype == torch.float32:
        return torch.from_numpy(np.einsum("mj,qj->qm", embeddings.numpy(), query_embeddings.numpy()))
    return _widener(embeddings)(embeddings, query_embeddings).T


def best_per_group(query_embeddings: torch.Tensor, embeddings: torch.Tensor, group_size: int) -> torch.Tensor:
    """(Q, M / group_size) best score of each consecutive group of `group_size` rows (e.g. a video's moments)."""
    chunk = max(1, SCORE_CHUNK_ROWS // group_size) * group_size
    parts, widen = [], _widener(embeddings)
    for start in range(0, len(embeddings), chunk):
        scores = widen(embeddings[start : start + chunk], query_embeddings).T  # (Q, chunk)
        parts.append(scores.view(len(query_embeddings), -1, group_size).amax(-1))
    return torch.cat(parts, dim=1)


def _widener(embeddings: torch.Tensor):
    """A function (chunk of `embeddings`, (Q, J) queries) -> (chunk, Q) float32 scores: one matrix
    product for float32 rows; for float16 rows, blocks of `WIDEN_BLOCK_ROWS` widened into one small
    float32 buffer (cache-resident, allocated once per search) and scored in turn."""
    if embeddings.dtype == torch.float32:
        return lambda chunk, queries: chunk @ queries.T
    buffer = torch.empty(min(WIDEN_BLOCK_ROWS, len(embeddings)), embeddings.shape[1])

    def score(chunk: torch.Tensor, queries: torch.Tensor) -> torch.Tensor:
        scores = torch.empty(len(chunk), len(queries))
        for start in range(0, len(chunk), WIDEN_BLOCK_ROWS):
            block = buffer[: len(chunk[start : start + WIDEN_BLOCK_ROWS])].copy_(chunk[start : start + WIDEN_BLOCK_ROWS])
            torch.mm(block, queries.T, out=scores[start : start + len(block)])
        return scores

    return score


__all__ = ["SCORE_CHUNK_ROWS", "all_scores", "top_scores", "best_per_group"]
