"""The `"video-moment-retrieval"` transformers pipeline: text queries + one video -> moments in seconds.

    from transformers import pipeline
    import modeling_fvmr  # registers the task (without fvmr: pipeline(model=repo, trust_remote_code=True))

    finder = pipeline("video-moment-retrieval", model="path/or/repo-of-an-fvmr-model")
    finder("a person opens the door", video="kitchen.mp4", top_k=3)
    # [{"start": 3.0, "end": 9.0, "score": 0.91}, ...]   seconds, best first, after NMS
    finder([{"video": "a.mp4", "query": "..."}, {"video": "b.mp4", "query": "..."}])  # several videos
    finder("a person opens the door", video_features="video.npy", duration=30.0)      # precomputed features

A video file is decoded and embedded with the recipe recorded in the model's config
(`config.video_features`: backbone, frames per second, clip seconds; see `video_features.py`), so its
features match those the model was trained on. A list of queries is encoded in one batch against one
`encode_video` pass and returns one list of moments per query. `score` is a probability, σ(p), of the
student's logit p. The model folder needs the processor saved beside the model. `fvmr push` adds this
code and `custom_pipelines` to the Hub repository, so `pipeline(model=repo, trust_remote_code=True)`
works without fvmr (transformers then asks for trust_remote_code=True even where fvmr is installed).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from transformers import Pipeline
from transformers.utils import logging

logger = logging.get_logger(__name__)

from .processing_fvmr import pad_video_features
from .temporal_map import check_nms_threshold, decode_moments
from .video_features import VideoFeatureRecipe, extract_video_features, load_frame_encoder, recorded_recipe

TASK = "video-moment-retrieval"


class VideoMomentRetrievalPipeline(Pipeline):
    """Moment retrieval in one video with an [`FVMRModel`] and its [`FVMRProcessor`].

    Call arguments:
        query (`str`, `list[str]`, or a list of `{"video": ..., "query": ...}` dicts): the text query or
            queries; with dicts, each names its own video (file path or features) and gets its own result.
        video (`str` or path): a video file, turned into clip features with the model's recorded recipe.
        video_features (array `(T, D)` or path to a `.npy` file): precomputed clip features instead.
        duration (`float`): video length in seconds, for `video_features`; or `clip_seconds` (`float`),
            seconds per clip row, giving duration = T × clip_seconds.
        top_k (`int`, 5): moments returned per query.
        nms_threshold (`float`): NMS IoU threshold; default `model.config.nms_threshold`, 1.0 disables NMS.

    Returns:
        For one query, a list of `{"start": s, "end": s, "score": probability}` dicts, best first; for a
        list of queries, one such list per query; for a list of dicts, one result per dict.
    """

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False

    def __call__(
        self,
        query: str | list[str] | list[dict],
        video: str | os.PathLike | None = None,
        video_features: np.ndarray | torch.Tensor | str | os.PathLike | None = None,
        duration: float | None = None,
        clip_seconds: float | None = None,
        **kwargs,
    ):
        if isinstance(query, (list, tuple)) and query and all(isinstance(item, dict) for item in query):
            return [self(**{"query": item.get("query"), **{k: v for k, v in item.items() if k != "query"}}, **kwargs) for item in query]
        inputs = {"query": query, "video": video, "video_features": video_features, "duration": duration, "clip_seconds": clip_seconds}
        return super().__call__(inputs, **kwargs)

    def _sanitize_parameters(self, top_k: int | None = None, nms_threshold: float | None = None):
        postprocess_params = {}
        if top_k is not None:
            postprocess_params["top_k"] = top_k
        if nms_threshold is not None:
            postprocess_params["nms_threshold"] = nms_threshold
        return {}, {}, postprocess_params

    def preprocess(self, inputs: dict) -> dict:
        query = inputs["query"]
        if not isinstance(query, str) and not (isinstance(query, (list, tuple)) and query):
            raise ValueError(f"query must be a string, a non-empty list of strings or of {{'video', 'query'}} dicts, got {query!r}.")
        features, duration = self._video_input(inputs)
        text = self.processor([query] if isinstance(query, str) else list(query))
        video_features, video_mask = pad_video_features([features])
        return {
            "unknown_queries": self.processor.unknown_queries(text["input_ids"], text["attention_mask"]),
            "input_ids": text["input_ids"],
            "attention_mask": text["attention_mask"],
            "video_features": video_features.to(self.model.dtype),
            "video_mask": video_mask,
            "durations": torch.tensor([duration]),
            "single_query": isinstance(query, str),
        }

    def _video_input(self, inputs: dict) -> tuple[np.ndarray, float]:
        """(T, D) float32 clip features and the duration in seconds, from a video file or given features."""
        video, features = inputs["video"], inputs["video_features"]
        if (video is None) == (features is None):
            raise ValueError("Give exactly one of video (a video file) or video_features (a (clips, dim) array or .npy file).")
        if video is not None:
            if inputs["duration"] is not None or inputs["clip_seconds"] is not None:
                raise ValueError("duration / clip_seconds are read from the video file; give them only with video_features.")
            extracted = extract_video_features(video, self.frame_encoder, self.recipe)
            return extracted.features, extracted.duration
        if isinstance(features, (str, os.PathLike)):
            if not os.path.isfile(features):
                raise FileNotFoundError(f"video_features file {features} does not exist.")
            features = np.load(features)
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2:
            raise ValueError(f"video_features must have shape (clips, dim), got {features.shape}.")
        if not np.isfinite(features).all():
            raise ValueError(f"video_features has {int(features.size - np.isfinite(features).sum())} NaN or infinite values.")
        return features, _video_duration(len(features), inputs["duration"], inputs["clip_seconds"])

    @property
    def recipe(self) -> VideoFeatureRecipe:
        """The model's recorded video feature recipe; ValueError when it was trained on precomputed features."""
        return recorded_recipe(self.model.config)

    @property
    def frame_encoder(self):
        """The recipe's frame encoder, loaded once per pipeline on the model's device."""
        if getattr(self, "_frame_encoder", None) is None:
            self._frame_encoder = load_frame_encoder(self.recipe.backbone, device=self.model.device)
        return self._frame_encoder

    def _forward(self, model_inputs: dict) -> dict:
        video = self.model.encode_video(model_inputs["video_features"], model_inputs["video_mask"], model_inputs["durations"])
        queries = self.model.encode_query(model_inputs["input_ids"], model_inputs["attention_mask"])
        moments = video.moment_embeddings.expand(len(queries), -1, -1)
        return {
            "scores": self.model.score(moments, queries),  # (Q, K) logits
            "spans": video.proposal_spans[0],  # (K, 2) seconds
            "single_query": model_inputs["single_query"],
            "unknown_queries": model_inputs["unknown_queries"],
        }

    def postprocess(self, model_outputs: dict, top_k: int = 5, nms_threshold: float | None = None):
        threshold = check_nms_threshold(self.model.config.nms_threshold if nms_threshold is None else nms_threshold)
        results = []
        for scores, unknown in zip(model_outputs["scores"], model_outputs["unknown_queries"]):
            moments = [
                {"start": start, "end": end, "score": float(torch.sigmoid(torch.tensor(score)))}
                for start, end, score in decode_moments(scores, model_outputs["spans"], top_k, threshold)
            ]
            if unknown:  # flagged, not passed off as an answer
                logger.warning("No word of a query is in the model's vocabulary: its moments mean nothing.")
                moments = [{**moment, "unknown_query": True} for moment in moments]
            results.append(moments)
        return results[0] if model_outputs["single_query"] else results

    def save_pretrained(self, save_directory: str | os.PathLike, **kwargs) -> None:
        """The model with `custom_pipelines` and this code, and the processor: `pipeline(model=folder,
        trust_remote_code=True)` then works where fvmr is not installed (and is required where it is)."""
        super().save_pretrained(save_directory, **kwargs)
        self.processor.save_pretrained(save_directory)


def _video_duration(num_clips: int, duration: float | None, clip_seconds: float | None) -> float:
    """Video length in seconds from `duration` or from `num_clips` × `clip_seconds` (exactly one given)."""
    if (duration is None) == (clip_seconds is None):
        raise ValueError("Give exactly one of duration (seconds) or clip_seconds (seconds per clip row).")
    seconds = float(duration) if duration is not None else num_clips * float(clip_seconds)
    if not (np.isfinite(seconds) and seconds > 0):
        raise ValueError(f"The video duration must be positive seconds, got {seconds}.")
    return seconds


__all__ = ["TASK", "VideoMomentRetrievalPipeline"]
