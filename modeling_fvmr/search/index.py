"""Moment index: FVMR's fast test-time path over one video or a whole corpus.

Videos are encoded once with `FVMRModel.encode_video`: the index stores the student moment
embeddings φ_m(m) of every valid proposal of every video as one (M, J) matrix (M = videos × K
proposals, rows grouped by video in the order the videos were added; float32, or float16 for half the
memory), with the start / end of each row in seconds. A search encodes its queries once
(`FVMRModel.encode_query`), finds candidate rows and decodes moments with per-video NMS:

- exact (the default, and always for `video_id`-restricted searches): one chunked matrix product
  over the rows (`exact.top_scores`);
- approximate, after `build_ann(kind)`: a FAISS index (`ann.AnnIndex`: IVF-Flat, HNSW or IVF-PQ)
  proposes candidate rows, which are re-scored exactly from the stored embeddings.

Ranking over several videos: rows are ranked by score (ties: lower row first, i.e. the video added
first, then the proposal order of `valid_proposals`). Walking down the ranking, a moment is kept unless
its IoU with a moment already kept *from the same video* exceeds the NMS threshold; moments of
different videos never suppress each other. The first `top_k` kept moments are returned. Candidates
are taken 8 × top_k (at least 32) at a time, 4 times more whenever NMS leaves fewer than top_k (a search
over at most `WHOLE_RANKING_ROWS` rows ranks them all at once). On a
single video this is exactly `temporal_map.decode_moments` on the scores of `FVMRModel.forward`.

Saved indexes are a folder: `index.safetensors` (embeddings, spans; `load(..., mmap=True)` maps the
file instead of reading it), `index.json` (videos, durations, dtype, ANN settings, fingerprint, and the annotated moments of
the videos when they came from an annotated dataset: optional, absent in older folders) and, with an
ANN, `ann.faiss`. `index.json` records the sha256 of its own content and of the other files; `load`
verifies them (one sequential read of the files) and refuses an edited or truncated index. The index
remembers which model built it through a fingerprint (a hash of
the config fields and the weights that shape moment embeddings: the video encoder and φ_m); loading
or extending an index with another model is refused.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from ..atomic import atomic_folder
from ..checksums import folder_checksums, verify_checksums
from ..modeling_fvmr import FVMRModel
from ..processing_fvmr import FVMRProcessor, pad_video_features
from ..temporal_map import check_nms_threshold, decode_moments, nms
from . import exact as exact_scan
from .ann import AnnIndex, AnnSettings
from .storage import memory_map_safetensors

INDEX_TENSORS_NAME = "index.safetensors"
INDEX_METADATA_NAME = "index.json"
ANN_FILE_NAME = "ann.faiss"
INDEX_FORMAT_VERSION = 3  # 2 added dtype and ann, 3 checksums; version 1 / 2 folders still load, unverified
READABLE_FORMAT_VERSIONS = (1, 2, 3)
METADATA_CHECKSUM = "index.json"  # the key of the metadata's own checksum in "checksums"
STORAGE_DTYPES = {"float32": torch.float32, "float16": torch.float16}
# searches over at most this many rows (one video, a few videos) score all of them and run NMS on the whole
# ranking: no top-k selection, and no second pass when NMS empties a short candidate prefix
WHOLE_RANKING_ROWS = 4096
# Config fields that change what `encode_video` returns; the rest (text side, loss, NMS) do not.
EMBEDDING_CONFIG_KEYS = (
    "model_type",
    "video_feature_dim",
    "num_clips",
    "num_sample_clips",
    "pooling_counts",
    "hidden_size",
    "video_conv_layers",
    "video_conv_kernel_size",
    "joint_dim",
)
EMBEDDING_MODULE_PREFIXES = ("video_encoder.", "moment_projection.")

logger = logging.getLogger(__name__)


def metadata_checksum(metadata: dict) -> str:
    """sha256 of the metadata's content (sorted-key JSON, without its "checksums" entry)."""
    content = {key: value for key, value in metadata.items() if key != "checksums"}
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class AnnotatedMoment:
    """A ground-truth moment of an indexed video (seconds), e.g. one query row of a dataset's annotations."""

    start: float
    end: float
    sentence: str


@dataclass(frozen=True)
class RetrievedMoment:
    """One search result: a moment of a video, in seconds, with its student score p (a logit).

    `unknown_query` is True when no word of the query is in the model's vocabulary: the moments are then
    ranked on the [UNK] embedding alone and mean nothing.
    """

    video_id: str
    start: float
    end: float
    score: float
    unknown_query: bool = False


def model_fingerprint(model: FVMRModel) -> str:
    """sha256 of the config fields in `EMBEDDING_CONFIG_KEYS` and the float32 weights of the video
    encoder and φ_m: equal fingerprints mean equal moment embeddings for the same clip features."""
    digest = hashlib.sha256()
    config = {key: getattr(model.config, key) for key in EMBEDDING_CONFIG_KEYS}
    digest.update(json.dumps(config, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        if name.startswith(EMBEDDING_MODULE_PREFIXES):
            digest.update(name.encode())
            digest.update(tensor.detach().to("cpu", torch.float32).contiguous().numpy().tobytes())
    return digest.hexdigest()


class MomentIndex:
    """Moment embeddings of a set of videos, searchable by text.

    Args:
        model: the FVMR model whose `encode_video` / `encode_query` fill and query the index (put in
            eval mode).
        processor: its processor (tokenises queries); None allows only `search_embeddings`.
        model_path: where the model lives, recorded in the saved metadata (default: `model.name_or_path`).
        dtype: storage of the embeddings, torch.float32 or torch.float16 (half the memory and bytes read
            per exact search; scores are float32 dot products of the stored values).

    Attributes:
        embeddings: (M, J) φ_m(m) in `dtype`, M = len(video_ids) × num_proposals, rows grouped by video.
        spans: (M, 2) float32 start / end of each row in seconds.
        video_ids, durations: one entry per video (seconds), in row order.
        ground_truth: video id -> its annotated moments (`add_ground_truth`), for the videos that have any.
        ann: the approximate candidate search (`build_ann`), None for exact search only.
    """

    def __init__(
        self,
        model: FVMRModel,
        processor: FVMRProcessor | None = None,
        model_path: str | None = None,
        *,
        dtype: torch.dtype = torch.float32,
    ):
        if dtype not in STORAGE_DTYPES.values():
            raise ValueError(f"dtype must be torch.float32 or torch.float16, got {dtype}.")
        self.model = model.eval()
        self.processor = processor
        self.model_path = model_path if model_path is not None else (model.name_or_path or None)
        self.fingerprint = model_fingerprint(model)
        self.num_proposals = len(model.video_encoder.proposals)
        self.embeddings = torch.zeros(0, model.config.joint_dim, dtype=dtype)
        self.ann: AnnIndex | None = None
        self.spans = torch.zeros(0, 2)
        self.video_ids: list[str] = []
        self.durations: list[float] = []
        self.ground_truth: dict[str, list[AnnotatedMoment]] = {}
        self._position_of: dict[str, int] = {}

    def __contains__(self, video_id: object) -> bool:
        return video_id in self._position_of

    def __len__(self) -> int:
        """Number of videos."""
        return len(self.video_ids)

    def __repr__(self) -> str:
        ann = f", ann={self.ann.settings.kind}" if self.ann is not None else ""
        dtype = str(self.embeddings.dtype).removeprefix("torch.")
        return f"MomentIndex(videos={len(self)}, moments={len(self.embeddings)}, dim={self.embeddings.shape[1]}, dtype={dtype}{ann})"

    # ----- building ------------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        model: FVMRModel,
        processor: FVMRProcessor | None,
        videos: Iterable,
        durations: Sequence[float],
        video_ids: Sequence[str],
        batch_size: int = 32,
        show_progress: bool = True,
        *,
        dtype: torch.dtype = torch.float32,
    ) -> "MomentIndex":
        """Index of `videos` (one (T_i, D) clip-feature array each); see [`MomentIndex.add`]."""
        index = cls(model, processor, dtype=dtype)
        index.add(videos, durations, video_ids, batch_size=batch_size, show_progress=show_progress)
        return index

    @torch.no_grad()
    def add(
        self,
        videos: Iterable,
        durations: Sequence[float],
        video_ids: Sequence[str],
        batch_size: int = 32,
        show_progress: bool = True,
    ) -> None:
        """Encode and append videos; videos already in the index are not re-encoded.

        Args:
            videos: one (T_i, D) clip-feature array per video (read lazily, `batch_size` at a time).
            durations: video lengths in seconds. video_ids: unique names, new to the index.
            batch_size: videos per `encode_video` call. show_progress: tqdm bar over videos.

        Nothing is appended if any video fails its checks.
        """
        video_ids, durations = self._check_new_videos(video_ids, durations)
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}.")
        self._check_model_unchanged()
        device = self.model.device
        videos = iter(videos)
        embeddings, spans = [], []
        with tqdm(total=len(video_ids), desc="Encoding videos", unit="video", disable=not show_progress) as bar:
            for start in range(0, len(video_ids), batch_size):
                batch_ids = video_ids[start : start + batch_size]
                batch = list(islice(videos, len(batch_ids)))
                if len(batch) < len(batch_ids):
                    raise ValueError(f"Got {start + len(batch)} videos for {len(video_ids)} video ids.")
                features, mask = pad_video_features([self._check_features(v, i) for v, i in zip(batch, batch_ids)])
                output = self.model.encode_video(
                    features.to(device, self.model.dtype),
                    mask.to(device),
                    torch.tensor(durations[start : start + batch_size], device=device),
                )
                embeddings.append(output.moment_embeddings.float().cpu())
                spans.append(output.proposal_spans.float().cpu())
                bar.update(len(batch))
        if next(videos, None) is not None:
            raise ValueError(f"Got more videos than the {len(video_ids)} video ids.")
        self._append(torch.cat(embeddings), torch.cat(spans), video_ids, durations)

    def add_embeddings(
        self,
        moment_embeddings: torch.Tensor,
        proposal_spans: torch.Tensor,
        video_ids: Sequence[str],
        durations: Sequence[float],
    ) -> None:
        """Append precomputed `encode_video` outputs of this model (e.g. computed on another machine).

        Args:
            moment_embeddings: (V, K, J) φ_m(m). proposal_spans: (V, K, 2) in seconds.
            video_ids, durations: one per video.
        """
        video_ids, durations = self._check_new_videos(video_ids, durations)
        expected = (len(video_ids), self.num_proposals, self.embeddings.shape[1])
        if tuple(moment_embeddings.shape) != expected:
            raise ValueError(f"moment_embeddings must have shape {expected} (videos, proposals, dim), got {tuple(moment_embeddings.shape)}.")
        if tuple(proposal_spans.shape) != expected[:2] + (2,):
            raise ValueError(f"proposal_spans must have shape {expected[:2] + (2,)}, got {tuple(proposal_spans.shape)}.")
        self._append(moment_embeddings.float().cpu(), proposal_spans.float().cpu(), video_ids, durations)

    def add_ground_truth(self, moments: dict[str, Iterable[AnnotatedMoment]]) -> None:
        """Record annotated moments of indexed videos (video id -> moments in seconds); saved with the
        index and drawn by the app's timeline. Appends to the moments a video already has."""
        checked = {}
        for video_id, video_moments in moments.items():
            if video_id not in self._position_of:
                raise ValueError(f"Ground truth for {video_id!r}, which is not in the index.")
            video_moments = [AnnotatedMoment(float(m.start), float(m.end), str(m.sentence)) for m in video_moments]
            duration = self.durations[self._position_of[video_id]]
            bad = [m for m in video_moments if not 0 <= m.start < m.end <= duration + 1e-3]
            if bad:
                raise ValueError(f"Ground truth of {video_id!r} ({duration:.2f} s): need 0 <= start < end <= duration, got {bad[0]}.")
            checked[video_id] = video_moments
        for video_id, video_moments in checked.items():
            self.ground_truth.setdefault(video_id, []).extend(video_moments)

    def _append(self, embeddings: torch.Tensor, spans: torch.Tensor, video_ids: list[str], durations: list[float]) -> None:
        """(V, K, J) embeddings and (V, K, 2) spans of checked new videos -> appended rows (and ANN entries).

        Appending to a memory-mapped index reads it into memory.
        """
        rows = embeddings.reshape(-1, self.embeddings.shape[1]).to(self.embeddings.dtype)
        if self.ann is not None:
            self.ann.add(rows)
        self.embeddings = torch.cat([self.embeddings, rows])
        self.spans = torch.cat([self.spans, spans.reshape(-1, 2)])
        for video_id in video_ids:
            self._position_of[video_id] = len(self.video_ids)
            self.video_ids.append(video_id)
        self.durations.extend(durations)

    def _check_new_videos(self, video_ids: Sequence[str], durations: Sequence[float]) -> tuple[list[str], list[float]]:
        video_ids, durations = [str(video_id) for video_id in video_ids], [float(d) for d in durations]
        if not video_ids:
            raise ValueError("No videos given.")
        if len(video_ids) != len(durations):
            raise ValueError(f"{len(durations)} durations for {len(video_ids)} video ids.")
        seen: set[str] = set()
        repeated = [video_id for video_id in video_ids if video_id in seen or seen.add(video_id)]
        already = [video_id for video_id in video_ids if video_id in self._position_of]
        if repeated or already:
            raise ValueError(
                f"Duplicate video ids: {sorted(set(repeated))[:5]} repeated in the input, "
                f"{already[:5]} already in the index ({len(set(repeated)) + len(already)} in all)."
            )
        bad = [(video_id, d) for video_id, d in zip(video_ids, durations) if not (np.isfinite(d) and d > 0)]
        if bad:
            raise ValueError(f"Durations must be positive seconds; {len(bad)} are not, e.g. {bad[:3]}.")
        return video_ids, durations

    def _check_features(self, video, video_id: str) -> np.ndarray:
        features = np.asarray(video, dtype=np.float32)
        expected = self.model.config.video_feature_dim
        if features.size and not np.isfinite(features).all():
            raise ValueError(f"Video {video_id!r}: {int(np.size(features) - np.isfinite(features).sum())} feature values are NaN or infinite.")
        if features.ndim != 2 or features.shape[0] == 0:
            raise ValueError(f"Video {video_id!r}: features must have shape (clips >= 1, {expected}), got {features.shape}.")
        if features.shape[1] != expected:
            raise ValueError(
                f"Video {video_id!r}: features have dim {features.shape[1]} but the model expects video_feature_dim={expected}."
            )
        return features

    def _check_model_unchanged(self) -> None:
        current = model_fingerprint(self.model)
        if current != self.fingerprint:
            raise ValueError(
                f"The model's video encoder or φ_m changed since this index was built (fingerprint "
                f"{self.fingerprint[:12]}, now {current[:12]}): new rows would not match the old ones. "
                "Rebuild the index with the current model."
            )

    # ----- searching -----------------------------------------------------------------------------

    @torch.no_grad()
    def search(
        self,
        query: str | list[str],
        top_k: int = 5,
        video_id: str | Sequence[str] | None = None,
        nms_threshold: float | None = None,
        *,
        exact: bool = False,
    ) -> list[RetrievedMoment] | list[list[RetrievedMoment]]:
        """Best moments for one query (a list of moments) or a batch of queries (one list per query).

        Args:
            query: text. top_k: moments returned per query.
            video_id: search only these videos (an id or a list); None searches the whole index.
            nms_threshold: IoU above which a moment is suppressed by a better one of the same video;
                None uses `model.config.nms_threshold`, 1.0 disables NMS.
            exact: score every row even when an ANN is built (searches restricted by `video_id`, and
                searches of an index of one video, are always exact).

        The queries go through the text encoder in one batch and are scored with one matrix product.
        """
        queries = [query] if isinstance(query, str) else list(query)
        self._check_search(top_k)
        embeddings, unknown = self._encode_queries(queries)
        results = self.search_embeddings(embeddings, top_k, video_id, nms_threshold, exact=exact)
        for position in [position for position, flag in enumerate(unknown) if flag]:
            logger.warning("No word of the query %r is in the model's vocabulary: its moments mean nothing.", queries[position])
            results[position] = [dataclasses.replace(moment, unknown_query=True) for moment in results[position]]
        return results[0] if isinstance(query, str) else results

    @torch.no_grad()
    def encode_queries(self, queries: Sequence[str]) -> torch.Tensor:
        """(Q, J) float32 query embeddings φ_s(s) of texts, on the CPU (one text-encoder batch)."""
        return self._encode_queries(queries)[0]

    def _encode_queries(self, queries: Sequence[str]) -> tuple[torch.Tensor, list[bool]]:
        """[`encode_queries`] and, per query, whether none of its words is in the vocabulary."""
        if self.processor is None:
            raise ValueError("This index has no processor to tokenise text: pass one to MomentIndex, or use search_embeddings.")
        inputs = self.processor(list(queries))
        embeddings = self.model.encode_query(inputs["input_ids"].to(self.model.device), inputs["attention_mask"].to(self.model.device))
        return embeddings.float().cpu(), self.processor.unknown_queries(inputs["input_ids"], inputs["attention_mask"])

    @torch.no_grad()
    def search_embeddings(
        self,
        query_embeddings: torch.Tensor,
        top_k: int = 5,
        video_id: str | Sequence[str] | None = None,
        nms_threshold: float | None = None,
        *,
        exact: bool = False,
    ) -> list[list[RetrievedMoment]]:
        """[`MomentIndex.search`] for precomputed query embeddings φ_s(s) of shape (Q, J)."""
        self._check_search(top_k)
        if query_embeddings.dim() != 2 or query_embeddings.shape[1] != self.embeddings.shape[1]:
            raise ValueError(f"query_embeddings must have shape (queries, {self.embeddings.shape[1]}), got {tuple(query_embeddings.shape)}.")
        threshold = check_nms_threshold(self.model.config.nms_threshold if nms_threshold is None else nms_threshold)
        query_embeddings = query_embeddings.detach().float().cpu()
        if isinstance(video_id, str) or (video_id is None and len(self.video_ids) == 1):  # one video: as few operations as possible
            return self._search_video(query_embeddings, 0 if video_id is None else self._positions_of(video_id)[0], top_k, threshold)
        rows = self._rows_of(video_id)
        embeddings = self.embeddings if rows is None else self.embeddings[rows]
        results: list[list[RetrievedMoment] | None] = [None] * len(query_embeddings)
        use_ann = self.ann is not None and rows is None and not exact
        if not use_ann and len(embeddings) <= WHOLE_RANKING_ROWS:  # one or a few videos: every row at once
            candidates = torch.arange(len(embeddings)) if rows is None else rows
            return [self._decode(query_scores, candidates, top_k, threshold) for query_scores in exact_scan.all_scores(query_embeddings, embeddings)]
        count, pending = min(len(embeddings), max(8 * top_k, 32)), list(range(len(query_embeddings)))
        while pending:
            if use_ann:
                scores, candidates = self._ann_candidates(query_embeddings[pending], count)
            else:
                scores, positions = exact_scan.top_scores(query_embeddings[pending], embeddings, count)
                candidates = positions if rows is None else rows[positions]
            unfinished = []
            for query, query_scores, query_rows in zip(pending, scores, candidates):
                moments = self._decode(query_scores, query_rows, top_k, threshold)
                if len(moments) < top_k and count < len(embeddings):
                    unfinished.append(query)  # NMS emptied the candidates: look deeper
                else:
                    results[query] = moments
            pending, count = unfinished, min(len(embeddings), 4 * count)
        return results

    def _search_video(self, query_embeddings: torch.Tensor, position: int, top_k: int, threshold: float) -> list[list[RetrievedMoment]]:
        """Search one video: its rows are a slice (a view, no copy), scored with one product; one NMS per query."""
        rows = slice(position * self.num_proposals, (position + 1) * self.num_proposals)
        spans, video_id = self.spans[rows], self.video_ids[position]
        return [
            [RetrievedMoment(video_id, start, end, score) for start, end, score in decode_moments(scores, spans, top_k, threshold)]
            for scores in exact_scan.all_scores(query_embeddings, self.embeddings[rows])
        ]

    def _ann_candidates(self, query_embeddings: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(Q, count) exact scores and rows of the ANN's candidates, best first (-inf / row 0 pad missing ones)."""
        rows = self.ann.search(query_embeddings, count)  # (Q, count), -1 where the ANN found fewer
        found = rows >= 0
        rows = rows.clamp(min=0)
        candidate_embeddings = self.embeddings[rows.flatten()].float().view(*rows.shape, -1)  # reads only these rows
        scores = torch.einsum("qcj,qj->qc", candidate_embeddings, query_embeddings).masked_fill(~found, float("-inf"))
        scores, order = scores.sort(dim=1, descending=True, stable=True)
        return scores, rows.gather(1, order)

    @torch.no_grad()
    def video_ranks(self, query_embeddings: torch.Tensor, video_ids: Sequence[str]) -> torch.Tensor:
        """(Q,) 1-based rank of `video_ids[q]` among all videos for query q, a video scored by its best
        moment (exact; ties go to the video added first, as in the moment ranking)."""
        positions = torch.tensor([self._position_of[str(video_id)] for video_id in video_ids])
        scores = exact_scan.best_per_group(query_embeddings.float().cpu(), self.embeddings, self.num_proposals)  # (Q, V)
        own = scores.gather(1, positions[:, None])
        earlier = torch.arange(scores.shape[1])[None] < positions[:, None]
        return 1 + ((scores > own) | ((scores == own) & earlier)).sum(1)

    @torch.no_grad()
    def proposal_scores(self, query: str, video_id: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Every proposal of one video for one query, before NMS: (K,) float32 student scores p (logits)
        and (K, 2) start / end in seconds (what the app's timeline draws)."""
        rows = self._rows_of(video_id)
        scores = self.embeddings[rows].float() @ self.encode_queries([query])[0]
        return scores, self.spans[rows]

    def _decode(self, scores: torch.Tensor, rows: torch.Tensor, top_k: int, threshold: float) -> list[RetrievedMoment]:
        """Per-video NMS over candidate rows (a prefix of the ranking, or all rows in any order) -> up to
        top_k moments.

        The decisions on a prefix of the ranking are final, so when the prefix yields top_k moments
        they are the top_k of the full ranking. Rows scored -inf (ANN padding) are dropped.
        """
        found = scores > float("-inf")
        if not bool(found.all()):
            scores, rows = scores[found], rows[found]
        if len(rows) > 1 and not bool((rows[1:] > rows[:-1]).all()):  # group the rows by video
            rows, order = rows.sort()
            scores = scores[order]
        videos = rows // self.num_proposals
        if len(videos) == 0 or videos[0] == videos[-1]:  # one video (e.g. a single-video search): one NMS
            kept = nms(self.spans[rows], scores, threshold, top_k)
        else:
            kept, start = [], 0
            for count in torch.unique_consecutive(videos, return_counts=True)[1].tolist():
                if count == 1:
                    kept.append(torch.tensor([start]))
                else:
                    kept.append(start + nms(self.spans[rows[start : start + count]], scores[start : start + count], threshold, top_k))
                start += count
            kept = torch.cat(kept).sort().values  # row order, so that ties below go to the lower row
            kept = kept[torch.sort(scores[kept], descending=True, stable=True).indices[:top_k]]
        spans, kept_scores, kept_videos = self.spans[rows[kept]].tolist(), scores[kept].tolist(), videos[kept].tolist()
        return [
            RetrievedMoment(video_id=self.video_ids[video], start=start, end=end, score=score)
            for video, (start, end), score in zip(kept_videos, spans, kept_scores)
        ]

    # ----- approximate search ----------------------------------------------------------------------

    def build_ann(self, kind: str = "ivf-flat", **settings) -> AnnIndex:
        """Build the approximate candidate search over the rows indexed so far (and those added later).

        Args:
            kind: "ivf-flat", "hnsw" or "ivf-pq" (see `modeling_fvmr.search.ann`).
            settings: fields of [`AnnSettings`], e.g. nlist=1024, nprobe=32, ef_search=256, pq_m=32.

        Whole-index searches then use it (`search(..., exact=True)` bypasses it); `remove_ann()` drops it.
        """
        self.ann = AnnIndex.build(self.embeddings, AnnSettings(kind=kind, **settings))
        return self.ann

    def remove_ann(self) -> None:
        """Back to exact search only."""
        self.ann = None

    def _check_search(self, top_k: int) -> None:
        if not isinstance(top_k, int) or top_k <= 0:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
        if len(self.video_ids) == 0:
            raise ValueError("The index is empty: add videos before searching.")

    def _positions_of(self, video_id: str | Sequence[str]) -> list[int]:
        """Ascending positions (in `video_ids`) of the given videos, each once."""
        wanted = [video_id] if isinstance(video_id, str) else list(video_id)
        if not wanted:
            raise ValueError("video_id is an empty list: give at least one video id, or None for all videos.")
        unknown = [name for name in wanted if name not in self._position_of]
        if unknown:
            raise ValueError(f"Unknown video id(s) {unknown[:5]}: the index holds {len(self)} videos, e.g. {self.video_ids[:3]}.")
        return sorted({self._position_of[name] for name in wanted})

    def _rows_of(self, video_id: str | Sequence[str] | None) -> torch.Tensor | None:
        """(R,) ascending rows of the given videos; None for the whole index."""
        if video_id is None:
            return None
        positions = torch.tensor(self._positions_of(video_id))
        return (positions.unsqueeze(1) * self.num_proposals + torch.arange(self.num_proposals)).flatten()

    # ----- saving --------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike, *, overwrite: bool = False) -> None:
        """Write the index folder: `index.safetensors` (embeddings in their dtype, spans), `index.json`
        (videos, durations, dtype, ANN settings, fingerprint, sha256 checksums) and `ann.faiss` when an ANN
        is built.

        The folder is written beside `path` and renamed into place; an existing index at `path` is
        replaced only with `overwrite=True`.
        """
        path = Path(path)
        occupied = path.is_file() or (path.is_dir() and any(path.iterdir()))  # an empty folder may be filled
        if occupied and not overwrite:
            raise FileExistsError(f"{path} already exists: pass overwrite=True to replace it.")
        with atomic_folder(path, overwrite=True) as staging:
            save_file({"embeddings": self.embeddings.contiguous(), "spans": self.spans.contiguous()}, staging / INDEX_TENSORS_NAME)
            if self.ann is not None:
                self.ann.save(staging / ANN_FILE_NAME)
            metadata = {
                "format_version": INDEX_FORMAT_VERSION,
                "fingerprint": self.fingerprint,
                "model_path": self.model_path,
                "num_proposals": self.num_proposals,
                "embedding_dim": self.embeddings.shape[1],
                "dtype": str(self.embeddings.dtype).removeprefix("torch."),
                "ann": None if self.ann is None else self.ann.settings_dict(),
                "video_ids": self.video_ids,
                "durations": self.durations,
            }
            if self.ground_truth:
                metadata["ground_truth"] = {
                    video_id: [asdict(moment) for moment in moments] for video_id, moments in self.ground_truth.items()
                }
            files = [INDEX_TENSORS_NAME] + ([ANN_FILE_NAME] if self.ann is not None else [])
            metadata["checksums"] = {**folder_checksums(staging, files), METADATA_CHECKSUM: metadata_checksum(metadata)}
            (staging / INDEX_METADATA_NAME).write_text(json.dumps(metadata, indent=1), encoding="utf-8")

    @staticmethod
    def read_metadata(path: str | os.PathLike) -> dict:
        """The JSON metadata of a saved index (model_path, fingerprint, video_ids, durations, dtype, ann, ...),
        checked against its recorded checksum (format 3); ValueError naming the file when it was edited."""
        metadata_file = Path(path) / INDEX_METADATA_NAME
        if not metadata_file.is_file():
            raise FileNotFoundError(f"{path} is not a saved moment index: {metadata_file} is missing.")
        try:
            metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as error:
            raise ValueError(f"{metadata_file} is not valid JSON ({error}): the index is damaged.") from None
        if not isinstance(metadata, dict) or metadata.get("format_version") not in READABLE_FORMAT_VERSIONS:
            version = metadata.get("format_version") if isinstance(metadata, dict) else None
            raise ValueError(f"{metadata_file} has format_version {version!r}; this fvmr reads {list(READABLE_FORMAT_VERSIONS)}.")
        if metadata["format_version"] >= 3:
            recorded = metadata.get("checksums")
            if not isinstance(recorded, dict) or recorded.get(METADATA_CHECKSUM) != metadata_checksum(metadata):
                raise ValueError(f"{metadata_file} does not match its recorded checksum: the index metadata was edited or damaged.")
        return {"dtype": "float32", "ann": None, **metadata}

    @classmethod
    def load(
        cls,
        path: str | os.PathLike,
        model: FVMRModel,
        processor: FVMRProcessor | None = None,
        *,
        mmap: bool = False,
        verify: bool = True,
    ) -> "MomentIndex":
        """Index saved with [`MomentIndex.save`]; `model` must be the model that built it.

        Args:
            mmap: memory-map the embeddings instead of reading them (an index larger than memory;
                searches read the pages they score). The ANN, if any, is read whole.
            verify: check the files against the sha256 checksums in `index.json` (one sequential read of
                each file, about 1 s per GB; a memory-mapped index then starts with warm pages). False
                skips it (the metadata's own checksum is always checked). Indexes saved before format 3
                have no checksums and load unverified, with a warning.
        """
        path = Path(path)
        metadata = cls.read_metadata(path)
        if "checksums" in metadata:
            if verify:
                files = {name: digest for name, digest in metadata["checksums"].items() if name != METADATA_CHECKSUM}
                verify_checksums(path, files, "moment index")
        else:
            logger.warning("%s was saved by an older fvmr (format %s) without checksums: it is loaded unverified.", path, metadata["format_version"])
        if metadata["dtype"] not in STORAGE_DTYPES:
            raise ValueError(f"{path / INDEX_METADATA_NAME}: unknown dtype {metadata['dtype']!r}.")
        index = cls(model, processor, model_path=metadata["model_path"], dtype=STORAGE_DTYPES[metadata["dtype"]])
        if index.fingerprint != metadata["fingerprint"]:
            raise ValueError(
                f"The index at {path} was built by a different model (fingerprint {metadata['fingerprint'][:12]}, "
                f"built with {metadata['model_path']!r}) than the one given (fingerprint {index.fingerprint[:12]}): "
                "its moment embeddings do not match this model's video encoder and φ_m. Load the model that "
                "built it, or rebuild the index with this model."
            )
        tensors_file = path / INDEX_TENSORS_NAME
        try:
            tensors = memory_map_safetensors(tensors_file) if mmap else load_file(tensors_file)
            embeddings, spans = tensors["embeddings"], tensors["spans"]
        except Exception as error:  # safetensors / numpy errors on a damaged file do not name it
            raise ValueError(f"{tensors_file} cannot be read ({type(error).__name__}: {error}): the index is damaged.") from None
        num_videos = len(metadata["video_ids"])
        expected = (num_videos * index.num_proposals, index.embeddings.shape[1])
        if tuple(embeddings.shape) != expected or tuple(spans.shape) != (expected[0], 2) or embeddings.dtype != index.embeddings.dtype:
            raise ValueError(
                f"{tensors_file}: embeddings {tuple(embeddings.shape)} {embeddings.dtype} and spans {tuple(spans.shape)} "
                f"for {num_videos} videos × {index.num_proposals} proposals of dim {expected[1]} ({metadata['dtype']}); "
                "the index files are inconsistent."
            )
        if num_videos:
            video_ids, durations = index._check_new_videos(metadata["video_ids"], metadata["durations"])
            index.embeddings, index.spans = embeddings, spans.float()  # not copied: memory-mapped stays mapped
            index.video_ids, index.durations = video_ids, durations
            index._position_of = {video_id: position for position, video_id in enumerate(video_ids)}
        ground_truth = metadata.get("ground_truth", {})  # absent in folders saved before it existed
        try:
            index.add_ground_truth({video_id: [AnnotatedMoment(**m) for m in moments] for video_id, moments in ground_truth.items()})
        except (TypeError, ValueError) as error:
            raise ValueError(f"{path / INDEX_METADATA_NAME}: bad ground_truth ({error}).") from None
        if metadata["ann"] is not None:
            index.ann = AnnIndex.load(path / ANN_FILE_NAME, metadata["ann"])
            if len(index.ann) != len(index.embeddings):
                raise ValueError(f"{path / ANN_FILE_NAME} holds {len(index.ann)} rows for {len(index.embeddings)} embeddings.")
        return index


__all__ = ["AnnotatedMoment", "MomentIndex", "RetrievedMoment", "model_fingerprint", "metadata_checksum"]
