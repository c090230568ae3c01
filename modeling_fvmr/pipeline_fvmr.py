"""The `"video-moment-retrieval"` transformers pipeline: text queries + one video's clip features -> moments.

    from transformers import pipeline
    import modeling_fvmr  # registers the task

    finder = pipeline("video-moment-retrieval", model="path/to/saved-fvmr-model")
    finder("a person opens the door", video_features="video.npy", duration=30.0, top_k=3)
    # [{"start": 3.75, "end": 9.38, "score": 4.21}, ...]   seconds, best first, after NMS

A list of queries is tokenised and encoded in one batch against one `encode_video` pass and returns
one list of moments per query. The model folder needs the processor saved beside the model
(`processor.save_pretrained(folder)`).
"""

from __future__ import annotations

import os

import numpy as np
import torch
from transformers import Pipeline

from .processing_fvmr import pad_video_features
from .temporal_map import decode_moments


class VideoMomentRetrievalPipeline(Pipeline):
    """Moment retrieval in one video with an [`FVMRModel`] and its [`FVMRProcessor`].

    Call arguments:
        query (`str` or `list[str]`): the text query or queries.
        video_features (array `(T, D)` or path to a `.npy` file): the video's clip features.
        duration (`float`): video length in seconds; or `clip_seconds` (`float`), seconds per clip
            row, giving duration = T × clip_seconds.
        top_k (`int`, 5): moments returned per query.
        nms_threshold (`float`): NMS IoU threshold; default `model.config.nms_threshold`, 1.0 disables NMS.

    Returns:
        For one query, a list of `{"start": s, "end": s, "score": logit}` dicts, best first; for a list
        of queries, one such list per query.
    """

    _load_processor = True
    _load_tokenizer = False
    _load_image_processor = False
    _load_video_processor = False
    _load_feature_extractor = False

    def __call__(
        self,
        query: str | list[str],
        video_features: np.ndarray | torch.Tensor | str | os.PathLike | None = None,
        duration: float | None = None,
        clip_seconds: float | None = None,
        **kwargs,
    ):
        inputs = {"query": query, "video_features": video_features, "duration": duration, "clip_seconds": clip_seconds}
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
            raise ValueError(f"query must be a string or a non-empty list of strings, got {query!r}.")
        features = inputs["video_features"]
        if features is None:
            raise ValueError("video_features is required: a (clips, dim) array or the path to a .npy file.")
        if isinstance(features, (str, os.PathLike)):
            if not os.path.isfile(features):
                raise FileNotFoundError(f"video_features file {features} does not exist.")
            features = np.load(features)
        features = np.asarray(features, dtype=np.float32)
        if features.ndim != 2:
            raise ValueError(f"video_features must have shape (clips, dim), got {features.shape}.")
        duration = _video_duration(len(features), inputs["duration"], inputs["clip_seconds"])
        text = self.processor([query] if isinstance(query, str) else list(query))
        video_features, video_mask = pad_video_features([features])
        return {
            "input_ids": text["input_ids"],
            "attention_mask": text["attention_mask"],
            "video_features": video_features.to(self.model.dtype),
            "video_mask": video_mask,
            "durations": torch.tensor([duration]),
            "single_query": isinstance(query, str),
        }

    def _forward(self, model_inputs: dict) -> dict:
        video = self.model.encode_video(model_inputs["video_features"], model_inputs["video_mask"], model_inputs["durations"])
        queries = self.model.encode_query(model_inputs["input_ids"], model_inputs["attention_mask"])
        moments = video.moment_embeddings.expand(len(queries), -1, -1)
        return {
            "scores": self.model.score(moments, queries),  # (Q, K)
            "spans": video.proposal_spans[0],  # (K, 2) seconds
            "single_query": model_inputs["single_query"],
        }

    def postprocess(self, model_outputs: dict, top_k: int = 5, nms_threshold: float | None = None):
        threshold = self.model.config.nms_threshold if nms_threshold is None else nms_threshold
        results = [
            [{"start": start, "end": end, "score": score} for start, end, score in decode_moments(scores, model_outputs["spans"], top_k, threshold)]
            for scores in model_outputs["scores"]
        ]
        return results[0] if model_outputs["single_query"] else results


def _video_duration(num_clips: int, duration: float | None, clip_seconds: float | None) -> float:
    """Video length in seconds from `duration` or from `num_clips` × `clip_seconds` (exactly one given)."""
    if (duration is None) == (clip_seconds is None):
        raise ValueError("Give exactly one of duration (seconds) or clip_seconds (seconds per clip row).")
    seconds = float(duration) if duration is not None else num_clips * float(clip_seconds)
    if not (np.isfinite(seconds) and seconds > 0):
        raise ValueError(f"The video duration must be positive seconds, got {seconds}.")
    return seconds


__all__ = ["VideoMomentRetrievalPipeline"]
