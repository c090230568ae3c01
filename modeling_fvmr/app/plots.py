"""Figures: the timeline of one video for one query, and recall against the IoU threshold.

The timeline draws, along the video (seconds on x), the score of the best proposal covering each
instant: a step function, constant between consecutive proposal boundaries, whose value on [t0, t1] is
the highest student score p (a logit) among the proposals [s, e] with s <= t0 and t1 <= e. The top
moments are shaded spans numbered by rank; the ground truth (when the index has it) is a band along the
bottom (the moments annotated with the query's own sentence; the video's other annotated moments paler). Figures are `matplotlib.figure.Figure` objects made without pyplot (no GUI backend, safe in
the app's worker threads).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..search import AnnotatedMoment, MomentIndex

MOMENT_COLOUR = "tab:orange"
TRUTH_COLOUR = "tab:green"
CURVE_COLOUR = "tab:blue"
METRIC_PATTERN = re.compile(r"^(?:(?P<prefix>VCMR) )?R@(?P<n>\d+),IoU=(?P<iou>[0-9.]+)$")


def require_matplotlib() -> type[Figure]:
    """matplotlib's Figure class; ImportError with the install hint when matplotlib is missing."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError('Plots need matplotlib: pip install "fvmr[app]" (or matplotlib).') from error
    return Figure


def new_figure(rows: int = 1, width: float = 9.0, row_height: float = 2.6) -> Figure:
    """A figure of `rows` stacked axes (no pyplot)."""
    figure = require_matplotlib()(figsize=(width, row_height * rows + 0.4), layout="constrained")
    figure.subplots(rows, 1, squeeze=False)
    return figure


def best_score_curve(spans: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The score of the best proposal covering each instant, as a step function.

    Args:
        spans: (K, 2) proposal start / end in seconds. scores: (K,) their scores.

    Returns:
        edges (E + 1,) seconds (the sorted distinct proposal boundaries) and values (E,): the highest
        score of a proposal containing [edges[i], edges[i + 1]], NaN where no proposal covers it.
    """
    spans, scores = np.asarray(spans, dtype=np.float64), np.asarray(scores, dtype=np.float64)
    edges = np.unique(spans)
    covers = (spans[None, :, 0] <= edges[:-1, None] + 1e-9) & (spans[None, :, 1] >= edges[1:, None] - 1e-9)  # (E, K)
    values = np.where(covers, scores[None], -np.inf).max(axis=1)
    return edges, np.where(np.isfinite(values), values, np.nan)


def draw_timeline(
    axes: Axes,
    duration: float,
    spans: np.ndarray,
    scores: np.ndarray,
    moments: Sequence[tuple[int, float, float]] = (),
    ground_truth: Sequence[AnnotatedMoment] = (),
    title: str = "",
    other_annotations: Sequence[AnnotatedMoment] = (),
) -> None:
    """Draw one video's timeline on `axes`.

    Args:
        duration: the video length in seconds (the x range). spans, scores: every proposal of the video,
            (K, 2) seconds and (K,) scores, as [`MomentIndex.proposal_scores`] returns them.
        moments: the top moments in this video as (rank, start, end), rank 1-based in the whole result
            list; each is a shaded span with the gid `moment-<rank>`, its rank written at the top.
        ground_truth: the query's annotated moments, a band along the bottom (gid `ground-truth-<i>`).
        other_annotations: the video's moments annotated for other queries, a paler band (gid `other-<i>`).
    """
    edges, values = best_score_curve(spans, scores)
    axes.stairs(values, edges, baseline=None, color=CURVE_COLOUR, linewidth=1.6, label="best proposal covering t", gid="best-score")
    for number, (rank, start, end) in enumerate(moments):
        axes.axvspan(start, end, color=MOMENT_COLOUR, alpha=0.22, gid=f"moment-{rank}", label="top moments" if number == 0 else None)
        axes.text((start + end) / 2, 0.97 - 0.08 * (number % 3), f"#{rank}", transform=axes.get_xaxis_transform(), ha="center",
                  va="top", fontsize=9, color="black")  # fmt: skip  (staggered: spans with one centre stay readable)
    for name, moments_drawn, alpha, label in (("ground-truth", ground_truth, 0.9, "ground truth"),
                                              ("other", other_annotations, 0.3, "annotated for other queries")):  # fmt: skip
        for number, truth in enumerate(moments_drawn):
            axes.axvspan(truth.start, truth.end, ymin=0.0, ymax=0.06, color=TRUTH_COLOUR, alpha=alpha, gid=f"{name}-{number}",
                         label=label if number == 0 else None)  # fmt: skip
    axes.set_xlim(0.0, duration)
    axes.set_xlabel("time in the video (s)")
    axes.set_ylabel("score p (logit)")
    axes.set_title(title, fontsize=10, loc="left")
    axes.grid(alpha=0.3)
    axes.legend(loc="best", fontsize=8, framealpha=0.85)


def timeline_figure(
    index: MomentIndex, query: str, video_id: str, moments: Sequence[dict], width: float = 9.0
) -> Figure:
    """The timeline of one video for one query; `moments` is a result list of [`search_json`] (those of
    other videos are left out, the ranks are their places in the whole list)."""
    figure = new_figure(1, width=width)
    _draw_video(figure.axes[0], index, query, video_id, moments)
    return figure


def search_figure(index: MomentIndex, payload: Sequence[dict], max_videos: int = 3) -> Figure:
    """The timelines of `fvmr search --plot`: for each query of a [`search_json`] payload, one row per
    video among its top moments (the first `max_videos` distinct videos, in rank order)."""
    rows = []
    for entry in payload:
        videos = list(dict.fromkeys(moment["video_id"] for moment in entry["moments"]))[:max_videos]
        rows.extend((entry["query"], video_id, entry["moments"]) for video_id in videos)
    if not rows:
        raise ValueError("No moments to plot.")
    figure = new_figure(len(rows))
    for axes, (query, video_id, moments) in zip(figure.axes, rows):
        _draw_video(axes, index, query, video_id, moments)
    return figure


def _draw_video(axes: Axes, index: MomentIndex, query: str, video_id: str, moments: Sequence[dict]) -> None:
    scores, spans = index.proposal_scores(query, video_id)
    ranked = [(rank, m["start"], m["end"]) for rank, m in enumerate(moments, 1) if m["video_id"] == video_id]
    duration = index.durations[index.video_ids.index(video_id)]
    truth, others = split_ground_truth(index.ground_truth.get(video_id, ()), query)
    draw_timeline(axes, duration, spans.numpy(), scores.numpy(), ranked, truth, title=f"{query!r} in {video_id} ({duration:.1f} s)",
                  other_annotations=others)  # fmt: skip


def split_ground_truth(annotated: Sequence[AnnotatedMoment], query: str) -> tuple[list, list]:
    """(the moments annotated with this query's sentence, the others); all are the ground truth when
    none has the query's sentence (case and surrounding spaces ignored)."""
    key = query.strip().lower()
    matching = [moment for moment in annotated if moment.sentence.strip().lower() == key]
    if not matching:
        return list(annotated), []
    return matching, [moment for moment in annotated if moment.sentence.strip().lower() != key]


def recall_figure(results: dict[str, dict[str, float]], title: str = "Recall against the IoU threshold") -> Figure:
    """Recall (%) against the IoU threshold m, one line per scorer and n, from `fvmr evaluate` results
    ({"student": {"R@1,IoU=0.5": 41.2, ...}, "teacher": {...}, "corpus": {"VCMR R@1,IoU=0.5": ...}})."""
    figure = new_figure(1, width=7.0, row_height=4.2)
    axes = figure.axes[0]
    styles = ["-", "--", ":", "-."]
    for number, (scorer, metrics) in enumerate(results.items()):
        curves: dict[str, list[tuple[float, float]]] = {}
        for name, value in metrics.items():
            match = METRIC_PATTERN.match(name)
            if match:
                label = f"{scorer} {match['prefix'] + ' ' if match['prefix'] else ''}R@{match['n']}"
                curves.setdefault(label, []).append((float(match["iou"]), float(value)))
        for label, points in curves.items():
            x, y = zip(*sorted(points))
            axes.plot(x, y, styles[number % len(styles)], marker="o", label=label, gid=label)
    if not axes.lines:
        raise ValueError(f"No R@n,IoU=m metrics to plot in {sorted(results)}.")
    axes.set_xlabel("IoU threshold m (a hit needs IoU > m)")
    axes.set_ylabel("recall (% of queries)")
    axes.set_ylim(0, 102)  # points at 100 % stay whole
    axes.set_title(title)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    return figure


def save_figure(figure: Figure, path: str, overwrite: bool = False) -> None:
    """Write `figure` (format from the suffix, e.g. .png / .pdf / .svg), atomically; an existing file
    is replaced only with `overwrite`."""
    from ..atomic import atomic_file

    with atomic_file(path, overwrite=overwrite) as staging:
        figure.savefig(staging, dpi=110)


__all__ = ["best_score_curve", "draw_timeline", "new_figure", "recall_figure", "require_matplotlib", "save_figure", "search_figure", "split_ground_truth", "timeline_figure"]
