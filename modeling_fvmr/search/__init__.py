"""Moment search: the index over one video or a corpus (`MomentIndex`), its exact scan, the FAISS
approximate backends and the on-disk (memory-mapped) storage."""

from .ann import ANN_KINDS, AnnIndex, AnnSettings
from .exact import SCORE_CHUNK_ROWS, top_scores
from .index import MomentIndex, RetrievedMoment, model_fingerprint

__all__ = ["MomentIndex", "RetrievedMoment", "model_fingerprint", "top_scores", "SCORE_CHUNK_ROWS", "AnnIndex", "AnnSettings", "ANN_KINDS"]
