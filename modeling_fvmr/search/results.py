"""The JSON form of search results: what `fvmr search --json` prints and the app's `search` API returns."""

from __future__ import annotations

from collections.abc import Sequence

from .index import MomentIndex

MOMENT_KEYS = ("video_id", "start", "end", "score")


def search_json(
    index: MomentIndex,
    queries: Sequence[str],
    top_k: int = 5,
    video_id: str | Sequence[str] | None = None,
    nms_threshold: float | None = None,
) -> list[dict]:
    """`[{"query": text, "moments": [{"video_id", "start", "end", "score"}, ...]}, ...]`: one entry per
    query, moments best first ([`MomentIndex.search`]; start / end in seconds, score the student logit p).
    An entry gets `"unknown_query": true` when no word of its query is in the model's vocabulary."""
    results = index.search(list(queries), top_k=top_k, video_id=video_id, nms_threshold=nms_threshold)
    return [
        {"query": query, "moments": [{key: getattr(moment, key) for key in MOMENT_KEYS} for moment in moments]}
        | ({"unknown_query": True} if any(moment.unknown_query for moment in moments) else {})
        for query, moments in zip(queries, results)
    ]


__all__ = ["search_json"]
