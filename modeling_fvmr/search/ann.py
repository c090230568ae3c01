"""Approximate nearest-neighbour (maximum inner product) candidate search on FAISS.

Three kinds, all with the inner-product metric of FVMR's scores p = φ_m(m)ᵀ φ_s(s):

    ivf-flat  inverted file: rows clustered into `nlist` lists by k-means; a query scans the `nprobe`
              lists whose centroids score best. Keeps a float32 copy of every row in memory.
              nprobe = nlist scans every row: exact.
    hnsw      hierarchical navigable small-world graph (`hnsw_m` links per row, `ef_search` candidates
              kept while walking). No training; keeps a float32 copy of every row plus the graph.
    ivf-pq    inverted file of product-quantised codes: `pq_m` bytes per row (pq_bits = 8) instead of
              4 J, for corpora larger than memory; the scores it ranks by are approximate.

The ANN only proposes candidate rows; `MomentIndex` re-scores them exactly from its stored
embeddings (which may be memory-mapped) before per-video NMS, so returned scores are always exact.
`faiss-cpu` is an optional dependency (`pip install "fvmr[ann]"`).
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict, dataclass, replace

import numpy as np
import torch

ANN_KINDS = ("ivf-flat", "hnsw", "ivf-pq")
ADD_CHUNK_ROWS = 1 << 18  # rows widened to float32 and added at a time (bounds the memory of adding)


def import_faiss():
    try:
        import faiss
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError('ANN search needs FAISS: pip install "fvmr[ann]" (or faiss-cpu).') from error
    return faiss


@dataclass
class AnnSettings:
    """Parameters of an ANN index (saved in the index metadata).

    kind: one of `ANN_KINDS`. nlist: inverted lists (ivf-*; None = about 4 √M, at most M / 39).
    nprobe: lists scanned per query (ivf-*). hnsw_m, ef_construction, ef_search: HNSW graph degree
    and beam widths. pq_m: bytes per row of ivf-pq codes (must divide J; None = J / 8), pq_bits: bits
    per code. train_rows: rows sampled (seeded) to train the k-means / PQ codebooks (None = all).
    rerank: fetch at least this many candidates per query for exact re-scoring (ivf-pq ranks by
    approximate scores, so a deeper candidate list recovers recall; 0 = as many as the search asks).
    """

    kind: str
    nlist: int | None = None
    nprobe: int = 16
    hnsw_m: int = 32
    ef_construction: int = 80
    ef_search: int = 128
    pq_m: int | None = None
    pq_bits: int = 8
    train_rows: int | None = 262_144
    rerank: int = 0
    seed: int = 0

    def __post_init__(self):
        if self.kind not in ANN_KINDS:
            raise ValueError(f"Unknown ANN kind {self.kind!r}; choose one of {ANN_KINDS}.")
        for name in ("nprobe", "hnsw_m", "ef_construction", "ef_search", "pq_bits"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}.")
        if self.rerank < 0:
            raise ValueError(f"rerank must be at least 0, got {self.rerank}.")


class AnnIndex:
    """A FAISS index over the rows of a moment matrix (row i of the matrix = FAISS id i)."""

    def __init__(self, settings: AnnSettings, faiss_index):
        self.settings = settings
        self.faiss_index = faiss_index
        self._apply_search_settings()

    def __len__(self) -> int:
        return self.faiss_index.ntotal

    @classmethod
    def build(cls, embeddings: torch.Tensor, settings: AnnSettings) -> "AnnIndex":
        """Train (ivf-*) on a seeded sample of the (M, J) rows and add them all, in chunks."""
        faiss = import_faiss()
        rows, dim = embeddings.shape
        if rows == 0:
            raise ValueError("Cannot build an ANN index over an empty index: add videos first.")
        metric = faiss.METRIC_INNER_PRODUCT
        if settings.kind == "hnsw":
            index = faiss.IndexHNSWFlat(dim, settings.hnsw_m, metric)
            index.hnsw.efConstruction = settings.ef_construction
        else:
            if settings.nlist is None:
                settings.nlist = max(1, min(int(4 * math.sqrt(rows)), rows // 39))
            if not 1 <= settings.nlist <= rows:
                raise ValueError(f"nlist must be between 1 and the {rows} rows, got {settings.nlist}.")
            quantizer = faiss.IndexFlatIP(dim)
            if settings.kind == "ivf-flat":
                index = faiss.IndexIVFFlat(quantizer, dim, settings.nlist, metric)
            else:
                if settings.pq_m is None:
                    settings.pq_m = max(1, dim // 8)
                if dim % settings.pq_m:
                    raise ValueError(f"pq_m ({settings.pq_m}) must divide the embedding size {dim}.")
                index = faiss.IndexIVFPQ(quantizer, dim, settings.nlist, settings.pq_m, settings.pq_bits, metric)
            sample = np.arange(rows)
            if settings.train_rows is not None and settings.train_rows < rows:
                sample = np.sort(np.random.default_rng(settings.seed).choice(rows, settings.train_rows, replace=False))
            index.cp.seed = settings.seed  # k-means of the inverted lists
            index.train(np.ascontiguousarray(embeddings[torch.from_numpy(sample)].float().numpy()))
        ann = cls(settings, index)
        ann.add(embeddings)
        return ann

    def add(self, embeddings: torch.Tensor) -> None:
        """Append (R, J) rows (their ids continue the matrix's row numbers)."""
        for start in range(0, len(embeddings), ADD_CHUNK_ROWS):
            self.faiss_index.add(np.ascontiguousarray(embeddings[start : start + ADD_CHUNK_ROWS].float().numpy()))

    def search(self, query_embeddings: torch.Tensor, count: int) -> torch.Tensor:
        """(Q, max(count, rerank)) candidate rows per query (at most the indexed rows), best first by the
        ANN's own scores; -1 pads missing ones."""
        count = min(max(count, self.settings.rerank), len(self))
        if self.settings.kind == "hnsw":
            self.faiss_index.hnsw.efSearch = max(self.settings.ef_search, count)  # the beam must hold `count`
        _, rows = self.faiss_index.search(np.ascontiguousarray(query_embeddings.float().numpy()), count)
        return torch.from_numpy(rows)

    def _apply_search_settings(self) -> None:
        if self.settings.kind == "hnsw":
            self.faiss_index.hnsw.efSearch = self.settings.ef_search
        else:
            self.faiss_index.nprobe = min(self.settings.nprobe, self.faiss_index.nlist)

    def set_search_parameters(self, nprobe: int | None = None, ef_search: int | None = None, rerank: int | None = None) -> None:
        """Trade speed for recall at search time (ivf-*: nprobe; hnsw: ef_search; any kind: rerank, the
        candidates re-scored exactly); the values are checked as in `AnnSettings`."""
        changes = {name: value for name, value in (("nprobe", nprobe), ("ef_search", ef_search), ("rerank", rerank)) if value is not None}
        self.settings = replace(self.settings, **changes)
        self._apply_search_settings()

    @property
    def memory_bytes(self) -> int:
        """Approximate bytes the FAISS structures hold (vectors / codes; graph links for hnsw)."""
        dim = self.faiss_index.d
        if self.settings.kind == "ivf-pq":
            per_row = self.settings.pq_m * self.settings.pq_bits / 8 + 8  # code + id
        elif self.settings.kind == "ivf-flat":
            per_row = 4 * dim + 8
        else:
            per_row = 4 * dim + 2 * 4 * self.settings.hnsw_m  # vector + level-0 links
        return int(per_row * len(self))

    def save(self, path: str | os.PathLike) -> None:
        import_faiss().write_index(self.faiss_index, str(path))

    @classmethod
    def load(cls, path: str | os.PathLike, settings: dict) -> "AnnIndex":
        return cls(AnnSettings(**settings), import_faiss().read_index(str(path)))

    def settings_dict(self) -> dict:
        return asdict(self.settings)


__all__ = ["ANN_KINDS", "AnnSettings", "AnnIndex", "import_faiss"]
