"""Moment index: FVMR's fast test-time path over one video or a whole corpus.

Videos are encoded once with `FVMRModel.encode_video`: the index stores the student moment
embeddings φ_m(m) of every valid proposal of every video as one float32 (M, J) matrix (M = videos × K
proposals, rows grouped by video in the order the videos were added), with the start / end of each
row in seconds. A search encodes its queries once (`FVMRModel.encode_query`), scores the rows with
one matrix product (in chunks of `SCORE_CHUNK_ROWS` rows for very large corpora) and decodes moments
with per-video NMS.

Ranking over several videos: rows are ranked by score (ties: lower row first, i.e. the video added
first, then the proposal order of `valid_proposals`). Walking down the ranking, a moment is kept unless
its IoU with a moment already kept *from the same video* exceeds the NMS threshold; moments of
different videos never suppress each other. The first `top_k` kept moments are returned. On a single
video this is exactly `temporal_map.decode_moments` on the scores of `FVMRModel.forward`.

The index remembers which model built it through a fingerprint (a hash of the config fields and the
weights that shape moment embeddings: the video encoder and φ_m); loading or extending an index with
another model is refused.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from tqdm.auto import tqdm

from .modeling_fvmr import FVMRModel
from .processing_fvmr import FVMRProcessor, pad_video_features
from .temporal_map import nms

INDEX_TENSORS_NAME = "index.safetensors"
INDEX_METADATA_NAME = "index.json"
INDEX_FORMAT_VERSION = 1
# Config fields that change what `encode_video` returns; the rest (text side, loss, NMS) do not.
EMBEDDING_CONFIG_KEYS = (
    "model_type",
    "video_feature_dim",
    "num_clips",
    "pooling_counts",
    "hidden_size",
    "video_conv_layers",
    "video_conv_kernel_size",
    "joint_dim",
)
EMBEDDING_MODULE_PREFIXES = ("video_encoder.", "moment_projection.")
SCORE_CHUNK_ROWS = 1 << 20  # rows scored per matrix product: bounds the (queries, rows) score memory


@dataclass(frozen=True)
class RetrievedMoment:
    """One search result: a moment of a video, in seconds, with its student score p (a logit)."""

    video_id: str
    start: float
    end: float
    score: float


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


def top_scores(query_embeddings: torch.Tensor, embeddings: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The `count` best rows per query.

    Args:
        query_embeddings: (Q, J) φ_s(s). embeddings: (M, J) φ_m(m). count: rows kept per query (<= M).

    Returns:
        scores (Q, count) and row indices (Q, count), best first. Rows are scored `SCORE_CHUNK_ROWS`
        at a time, so the score memory stays bounded on large corpora.
    """
    best_scores = best_rows = None
    for start in range(0, len(embeddings), SCORE_CHUNK_ROWS):
        # (chunk, J) @ (J, Q): the fast layout for few queries against many rows
        scores = (embeddings[start : start + SCORE_CHUNK_ROWS] @ query_embeddings.T).T  # (Q, chunk)
        scores, rows = scores.topk(min(count, scores.shape[1]), dim=1)
        rows += start
        if best_scores is not None:
            scores, rows = torch.cat([best_scores, scores], dim=1), torch.cat([best_rows, rows], dim=1)
            scores, picked = scores.topk(min(count, scores.shape[1]), dim=1)
            rows = rows.gather(1, picked)
        best_scores, best_rows = scores, rows
    return best_scores, best_rows


class MomentIndex:
    """Moment embeddings of a set of videos, searchable by text.

    Args:
        model: the FVMR model whose `encode_video` / `encode_query` fill and query the index (put in
            eval mode).
        processor: its processor (tokenises queries); None allows only `search_embeddings`.
        model_path: where the model lives, recorded in the saved metadata (default: `model.name_or_path`).

    Attributes:
        embeddings: (M, J) float32 φ_m(m), M = len(video_ids) × num_proposals, rows grouped by video.
        spans: (M, 2) float32 start / end of each row in seconds.
        video_ids, durations: one entry per video (seconds), in row order.
    """

    def __init__(self, model: FVMRModel, processor: FVMRProcessor | None = None, model_path: str | None = None):
        self.model = model.eval()
        self.processor = processor
        self.model_path = model_path if model_path is not None else (model.name_or_path or None)
        self.fingerprint = model_fingerprint(model)
        self.num_proposals = len(model.video_encoder.proposals)
        self.embeddings = torch.zeros(0, model.config.joint_dim)
        self.spans = torch.zeros(0, 2)
        self.video_ids: list[str] = []
        self.durations: list[float] = []
        self._position_of: dict[str, int] = {}

    def __len__(self) -> int:
        """Number of videos."""
        return len(self.video_ids)

    def __repr__(self) -> str:
        return f"MomentIndex(videos={len(self)}, moments={len(self.embeddings)}, dim={self.embeddings.shape[1]})"

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
    ) -> "MomentIndex":
        """Index of `videos` (one (T_i, D) clip-feature array each); see [`MomentIndex.add`]."""
        index = cls(model, processor)
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

    def _append(self, embeddings: torch.Tensor, spans: torch.Tensor, video_ids: list[str], durations: list[float]) -> None:
        """(V, K, J) embeddings and (V, K, 2) spans of checked new videos -> appended rows."""
        self.embeddings = torch.cat([self.embeddings, embeddings.reshape(-1, self.embeddings.shape[1])])
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
    ) -> list[RetrievedMoment] | list[list[RetrievedMoment]]:
        """Best moments for one query (a list of moments) or a batch of queries (one list per query).

        Args:
            query: text. top_k: moments returned per query.
            video_id: search only these videos (an id or a list); None searches the whole index.
            nms_threshold: IoU above which a moment is suppressed by a better one of the same video;
                None uses `model.config.nms_threshold`, 1.0 disables NMS.

        The queries go through the text encoder in one batch and are scored with one matrix product.
        """
        queries = [query] if isinstance(query, str) else list(query)
        self._check_search(top_k)
        if self.processor is None:
            raise ValueError("This index has no processor to tokenise text: pass one to MomentIndex, or use search_embeddings.")
        inputs = self.processor(queries)
        query_embeddings = self.model.encode_query(
            inputs["input_ids"].to(self.model.device), inputs["attention_mask"].to(self.model.device)
        )
        results = self.search_embeddings(query_embeddings, top_k, video_id, nms_threshold)
        return results[0] if isinstance(query, str) else results

    @torch.no_grad()
    def search_embeddings(
        self,
        query_embeddings: torch.Tensor,
        top_k: int = 5,
        video_id: str | Sequence[str] | None = None,
        nms_threshold: float | None = None,
    ) -> list[list[RetrievedMoment]]:
        """[`MomentIndex.search`] for precomputed query embeddings φ_s(s) of shape (Q, J)."""
        self._check_search(top_k)
        if query_embeddings.dim() != 2 or query_embeddings.shape[1] != self.embeddings.shape[1]:
            raise ValueError(f"query_embeddings must have shape (queries, {self.embeddings.shape[1]}), got {tuple(query_embeddings.shape)}.")
        threshold = self.model.config.nms_threshold if nms_threshold is None else float(nms_threshold)
        rows = self._rows_of(video_id)
        embeddings = self.embeddings if rows is None else self.embeddings[rows]
        query_embeddings = query_embeddings.detach().float().cpu()
        results: list[list[RetrievedMoment] | None] = [None] * len(query_embeddings)
        pending, count = list(range(len(query_embeddings))), min(len(embeddings), max(8 * top_k, 32))
        while pending:
            scores, positions = top_scores(query_embeddings[pending], embeddings, count)
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

    def _decode(self, scores: torch.Tensor, rows: torch.Tensor, top_k: int, threshold: float) -> list[RetrievedMoment]:
        """Per-video NMS over candidate rows (a prefix of the ranking) -> up to top_k moments.

        The decisions on a prefix of the ranking are final, so when the prefix yields top_k moments
        they are the top_k of the full ranking.
        """
        rows, order = rows.sort()
        scores = scores[order]
        videos = rows // self.num_proposals
        kept, start = [], 0
        for count in torch.unique_consecutive(videos, return_counts=True)[1].tolist():
            if count == 1:
                kept.append(torch.tensor([start]))
            else:
                kept.append(start + nms(self.spans[rows[start : start + count]], scores[start : start + count], threshold, top_k))
            start += count
        kept = torch.cat(kept).sort().values  # row order, so that ties below go to the lower row
        kept = kept[torch.sort(scores[kept], descending=True, stable=True).indices[:top_k]]
        return [
            RetrievedMoment(
                video_id=self.video_ids[int(videos[i])],
                start=float(self.spans[rows[i], 0]),
                end=float(self.spans[rows[i], 1]),
                score=float(scores[i]),
            )
            for i in kept
        ]

    def _check_search(self, top_k: int) -> None:
        if not isinstance(top_k, int) or top_k <= 0:
            raise ValueError(f"top_k must be a positive integer, got {top_k!r}.")
        if len(self.video_ids) == 0:
            raise ValueError("The index is empty: add videos before searching.")

    def _rows_of(self, video_id: str | Sequence[str] | None) -> torch.Tensor | None:
        """(R,) ascending rows of the given videos; None for the whole index."""
        if video_id is None:
            return None
        wanted = [video_id] if isinstance(video_id, str) else list(video_id)
        if not wanted:
            raise ValueError("video_id is an empty list: give at least one video id, or None for all videos.")
        unknown = [name for name in wanted if name not in self._position_of]
        if unknown:
            raise ValueError(f"Unknown video id(s) {unknown[:5]}: the index holds {len(self)} videos, e.g. {self.video_ids[:3]}.")
        positions = torch.tensor(sorted({self._position_of[name] for name in wanted}))
        return (positions.unsqueeze(1) * self.num_proposals + torch.arange(self.num_proposals)).flatten()

    # ----- saving --------------------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write `path/index.safetensors` (embeddings, spans) and `path/index.json` (videos, fingerprint)."""
        os.makedirs(path, exist_ok=True)
        save_file({"embeddings": self.embeddings.contiguous(), "spans": self.spans.contiguous()}, os.path.join(path, INDEX_TENSORS_NAME))
        metadata = {
            "format_version": INDEX_FORMAT_VERSION,
            "fingerprint": self.fingerprint,
            "model_path": self.model_path,
            "num_proposals": self.num_proposals,
            "embedding_dim": self.embeddings.shape[1],
            "video_ids": self.video_ids,
            "durations": self.durations,
        }
        with open(os.path.join(path, INDEX_METADATA_NAME), "w", encoding="utf-8") as handle:
            json.dump(metadata, handle, indent=1)

    @staticmethod
    def read_metadata(path: str | os.PathLike) -> dict:
        """The JSON metadata of a saved index (model_path, fingerprint, video_ids, durations, ...)."""
        metadata_file = Path(path) / INDEX_METADATA_NAME
        if not metadata_file.is_file():
            raise FileNotFoundError(f"{path} is not a saved moment index: {metadata_file} is missing.")
        metadata = json.loads(metadata_file.read_text(encoding="utf-8"))
        if metadata.get("format_version") != INDEX_FORMAT_VERSION:
            raise ValueError(f"{metadata_file} has format_version {metadata.get('format_version')!r}; this fvmr reads {INDEX_FORMAT_VERSION}.")
        return metadata

    @classmethod
    def load(cls, path: str | os.PathLike, model: FVMRModel, processor: FVMRProcessor | None = None) -> "MomentIndex":
        """Index saved with [`MomentIndex.save`]; `model` must be the model that built it."""
        metadata = cls.read_metadata(path)
        index = cls(model, processor, model_path=metadata["model_path"])
        if index.fingerprint != metadata["fingerprint"]:
            raise ValueError(
                f"The index at {path} was built by a different model (fingerprint {metadata['fingerprint'][:12]}, "
                f"built with {metadata['model_path']!r}) than the one given (fingerprint {index.fingerprint[:12]}): "
                "its moment embeddings do not match this model's video encoder and φ_m. Load the model that "
                "built it, or rebuild the index with this model."
            )
        tensors = load_file(os.path.join(path, INDEX_TENSORS_NAME))
        num_videos = len(metadata["video_ids"])
        if len(tensors["embeddings"]) != num_videos * index.num_proposals or len(tensors["spans"]) != len(tensors["embeddings"]):
            raise ValueError(
                f"{path}: {len(tensors['embeddings'])} embedding rows and {len(tensors['spans'])} span rows for "
                f"{num_videos} videos × {index.num_proposals} proposals; the index files are inconsistent."
            )
        if num_videos:
            index.add_embeddings(
                tensors["embeddings"].view(num_videos, index.num_proposals, -1),
                tensors["spans"].view(num_videos, index.num_proposals, 2),
                metadata["video_ids"],
                metadata["durations"],
            )
        return index


def load_video_features(
    paths: Sequence[str | os.PathLike], split: str | None = None, clip_seconds: float | None = None
) -> tuple[list[str], list[float], Iterator[np.ndarray]]:
    """Clip features of many videos, read lazily, for [`MomentIndex.add`].

    Args:
        paths: built dataset folders (`DIR/features` saved with `save_to_disk`: rows video_id,
            duration (s), features (T, D)) and/or `.npy` files of shape (T, D) (video id = file stem).
        split: the split of a dataset folder; may be left out when the folder has a single split.
        clip_seconds: seconds per input clip; a video's duration is T × clip_seconds where the source
            has no duration (always for .npy files).

    Returns:
        video ids, durations in seconds, and an iterator over the (T, D) feature arrays in that order.
    """
    video_ids: list[str] = []
    durations: list[float] = []
    sources: list[Iterable[np.ndarray]] = []
    for path in map(Path, paths):
        if path.suffix == ".npy":
            if clip_seconds is None:
                raise ValueError(f"{path}: .npy features have no duration; give clip_seconds (seconds per clip row).")
            features = np.load(path, mmap_mode="r")
            if features.ndim != 2:
                raise ValueError(f"{path}: features must have shape (clips, dim), got {features.shape}.")
            video_ids.append(path.stem)
            durations.append(len(features) * clip_seconds)
            sources.append([features])
        elif path.is_dir():
            dataset = _features_split(path, split)
            video_ids.extend(dataset["video_id"])
            if "duration" in dataset.column_names:
                durations.extend(float(d) for d in dataset["duration"])
            elif clip_seconds is not None:
                durations.extend(len(row["features"]) * clip_seconds for row in dataset.select_columns(["features"]).with_format("numpy"))
            else:
                raise ValueError(f"{path}: the features have no duration column; give clip_seconds.")
            sources.append(row["features"] for row in dataset.select_columns(["features"]).with_format("numpy"))
        else:
            raise FileNotFoundError(f"{path} is neither a .npy file nor a dataset folder.")
    videos = (features for source in sources for features in source)
    return video_ids, durations, videos


def _features_split(path: Path, split: str | None):
    """The `features` Dataset of a built dataset folder (or of a saved features DatasetDict)."""
    from datasets import Dataset, DatasetDict, load_from_disk

    folder = path / "features" if (path / "features").is_dir() else path
    loaded = load_from_disk(str(folder))
    if isinstance(loaded, DatasetDict):
        if split is None and len(loaded) == 1:
            split = next(iter(loaded))
        if split not in loaded:
            raise ValueError(f"{folder}: choose a split with --split / split=, one of {sorted(loaded)} (got {split!r}).")
        loaded = loaded[split]
    if not isinstance(loaded, Dataset):
        raise ValueError(f"{folder} does not hold a features dataset.")
    missing = [column for column in ("video_id", "features") if column not in loaded.column_names]
    if missing:
        raise ValueError(f"{folder}: the features dataset lacks columns {missing} (has {loaded.column_names}).")
    return loaded


__all__ = ["MomentIndex", "RetrievedMoment", "model_fingerprint", "top_scores", "load_video_features"]
