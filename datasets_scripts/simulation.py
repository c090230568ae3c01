"""Simulated clip features: concepts -> fixed random vectors, placed over time, smoothed, with noise.

The synthetic world and the simulated features of real annotation files share this machinery:

- `ConceptSpace`: a fixed random unit vector per concept name, reproducible from a seed (the same
  name always gives the same vector, whatever else is generated).
- `render_clip_features`: a video of `duration` seconds cut into T equal clips; clip t is a
  background vector plus every moment's vector weighted by the fraction of the clip it covers, then
  Gaussian-smoothed over time and perturbed with Gaussian noise.
- `SimulatedClipFeatures`: features for real annotations, where each annotated moment's vector is
  made from the content words of its sentence. Such features carry the annotation itself (also of
  the test split): they exercise the pipeline on real queries, durations and timestamps; they say
  nothing about accuracy on real video.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from .records import QueryRecord

CONTENT_WORD_PATTERN = re.compile(r"[a-z0-9]+")

# Function words carry no visual concept: they are left out of a sentence's moment vector.
STOPWORDS = frozenset(
    "a an the and or but then while as at by for from in into of off on onto out over to up down with "
    "is are was were be been being has have had do does did his her their its this that these those "
    "he she they it him them who which what there here some another other one again also just".split()
)


def stable_hash(text: str) -> int:
    """A 64-bit hash of `text` that is the same in every process (unlike `hash`)."""
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


class ConceptSpace:
    """Fixed random unit vectors of size `dim`, one per concept name, reproducible from `seed`."""

    def __init__(self, dim: int, seed: int = 0):
        if dim < 1:
            raise ValueError(f"Feature dim must be positive, got {dim}.")
        self.dim = dim
        self.seed = seed
        self._vectors: dict[str, np.ndarray] = {}

    def __call__(self, name: str) -> np.ndarray:
        """(dim,) float64 unit vector of a concept."""
        if name not in self._vectors:
            vector = np.random.default_rng([self.seed, stable_hash(name)]).standard_normal(self.dim)
            self._vectors[name] = vector / np.linalg.norm(vector)
        return self._vectors[name]

    def mix(self, names: Iterable[str]) -> np.ndarray:
        """Unit-norm sum of the vectors of `names` (zeros when there are none)."""
        total = np.zeros(self.dim)
        for name in names:
            total += self(name)
        norm = np.linalg.norm(total)
        return total / norm if norm > 0 else total


@dataclass
class SimulatedMoment:
    """A span [start, end) in seconds showing `vector` (dim,)."""

    start: float
    end: float
    vector: np.ndarray


def gaussian_smooth(features: np.ndarray, sigma: float) -> np.ndarray:
    """Smooth (T, D) features over time with a Gaussian of `sigma` clips (edges repeat the end clips)."""
    if sigma <= 0 or len(features) == 1:
        return features
    offsets = np.arange(-max(1, int(round(3 * sigma))), max(1, int(round(3 * sigma))) + 1)
    kernel = np.exp(-0.5 * (offsets / sigma) ** 2)
    neighbours = np.clip(np.arange(len(features))[:, None] + offsets, 0, len(features) - 1)  # (T, window)
    return kernel @ features[neighbours] / kernel.sum()  # (window,) @ (T, window, D) -> (T, D)


def render_clip_features(
    moments: Iterable[SimulatedMoment],
    duration: float,
    num_clips: int,
    background: np.ndarray,
    rng: np.random.Generator,
    smoothing: float = 1.0,
    noise: float = 0.5,
) -> np.ndarray:
    """(num_clips, dim) float32 clip features of a video of `duration` seconds.

    Clip t covers [t d / T, (t + 1) d / T) seconds and starts as `background`; each moment adds its
    vector times the fraction of the clip it covers. Then Gaussian smoothing over `smoothing` clips
    and i.i.d. noise whose expected norm per clip is `noise`.
    """
    if num_clips < 1 or not duration > 0:
        raise ValueError(f"Cannot render {num_clips} clips of a {duration} s video.")
    edges = np.linspace(0.0, duration, num_clips + 1)
    clip_seconds = duration / num_clips
    features = np.tile(np.asarray(background, dtype=np.float64), (num_clips, 1))
    for moment in moments:
        covered = np.clip(np.minimum(edges[1:], moment.end) - np.maximum(edges[:-1], moment.start), 0.0, None)
        features += (covered / clip_seconds)[:, None] * moment.vector
    features = gaussian_smooth(features, smoothing)
    features += rng.standard_normal(features.shape) * (noise / np.sqrt(features.shape[1]))
    return features.astype(np.float32)


def content_words(sentence: str) -> list[str]:
    """Lower-cased words of a sentence without function words (the concepts a clip would show)."""
    return [word for word in CONTENT_WORD_PATTERN.findall(sentence.lower()) if word not in STOPWORDS]


class SimulatedClipFeatures:
    """SIMULATED clip features for real annotation files (see the module docstring).

    Args:
        records_by_video: every kept query of each video (all splits together, so a video shared by
            two splits gets the same features in both). Their `duration` must be set.
        feature_dim: D.
        clip_seconds: seconds per clip; a video gets round(duration / clip_seconds) clips, at least 1.
        max_clips: at most this many clips per video (longer videos get longer clips).
        seed: seeds the concept vectors and each video's noise (with the video id).
        background_weight, smoothing, noise: see `render_clip_features`.
    """

    kind = "simulated"

    def __init__(
        self,
        records_by_video: dict[str, list[QueryRecord]],
        feature_dim: int = 128,
        clip_seconds: float = 1.0,
        max_clips: int | None = None,
        seed: int = 0,
        background_weight: float = 0.5,
        smoothing: float = 1.0,
        noise: float = 0.5,
    ):
        if not clip_seconds > 0:
            raise ValueError(f"clip_seconds must be positive, got {clip_seconds}.")
        self.records_by_video = records_by_video
        self.concepts = ConceptSpace(feature_dim, seed)
        self.clip_seconds = clip_seconds
        self.max_clips = max_clips
        self.seed = seed
        self.background_weight = background_weight
        self.smoothing = smoothing
        self.noise = noise

    @property
    def description(self) -> str:
        return (
            f"simulated from the content words of each annotated moment's sentence (dim {self.concepts.dim}, "
            f"{self.clip_seconds:g} s per clip, seed {self.seed})"
        )

    def clips_for(self, duration: float) -> int:
        """T of a video of `duration` seconds."""
        clips = max(1, int(round(duration / self.clip_seconds)))
        return min(clips, self.max_clips) if self.max_clips else clips

    def load(self, video_id: str) -> np.ndarray:
        """(T, D) float32 simulated features of an annotated video."""
        records = self.records_by_video[video_id]
        duration = records[0].duration
        moments = [
            SimulatedMoment(record.start, record.end, self.concepts.mix(content_words(record.sentence)))
            for record in records
        ]
        background = self.background_weight * self.concepts(f"background/{video_id}")
        rng = np.random.default_rng([self.seed, stable_hash(video_id)])
        return render_clip_features(moments, duration, self.clips_for(duration), background, rng, self.smoothing, self.noise)


__all__ = [
    "ConceptSpace",
    "SimulatedMoment",
    "SimulatedClipFeatures",
    "render_clip_features",
    "gaussian_smooth",
    "content_words",
    "stable_hash",
]
