"""Moment search: the index over one video or a corpus (`MomentIndex`), its exact scan, the FAISS
approximate backends, the on-disk (memory-mapped) storage and the JSON form of results."""

from .ann import ANN_KINDS, AnnIndex, AnnSettings
from .exact import SCORE_CHUNK_ROWS, top_scores
from .index import AnnotatedMoment, MomentIndex, RetrievedMoment, model_fingerprint
from .results import search_json

__all__ = ["AnnotatedMoment", "MomentIndex", "RetrievedMoment", "model_fingerprint", "search_json", "top_scores", "SCORE_CHUNK_ROWS", "AnnIndex", "AnnSettings", "ANN_KINDS"]
