"""Moment retrieval metrics: R@n, IoU=m and the mean IoU of the top-1 moment, within a video and over a corpus.

A query counts as a hit at R@n, IoU=m when one of its first n moments (after NMS) has IoU with the
ground truth strictly greater than m (the 2D-TAN rule). Metrics are percentages.

Corpus level (video-corpus moment retrieval, VCMR): each query searches the moments of every video of
the split at once (`MomentIndex`, per-video NMS); a hit at "VCMR R@k,IoU=m" needs one of the first k
moments to be in the right video AND to have IoU > m (the right span in the wrong video is a miss).
Video retrieval "VR R@k": the right video is among the k best videos, a video scored by its best moment.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence

import torch

from .temporal_map import decode_moments, temporal_iou

RECALL_AT = (1, 5)
IOU_THRESHOLDS = (0.1, 0.3, 0.5, 0.7)
CORPUS_RECALL_AT = (1, 5, 10, 100)
CORPUS_IOU_THRESHOLDS = (0.3, 0.5, 0.7)


def metric_name(n: int, iou: float) -> str:
    return f"R@{n},IoU={iou}"


def student_metric_names() -> list[str]:
    """Every within-video metric `evaluate_scores` reports: R@n,IoU=m and mIoU (the choices of --best-metric)."""
    return [metric_name(n, iou) for n in RECALL_AT for iou in IOU_THRESHOLDS] + ["mIoU"]


def corpus_metric_name(n: int, iou: float) -> str:
    return f"VCMR R@{n},IoU={iou}"


def video_metric_name(n: int) -> str:
    return f"VR R@{n}"


def recall_at_iou(
    predictions: Sequence[Sequence[Sequence[float]]],
    ground_truth: Sequence[Sequence[float]],
    recall_at: Sequence[int] = RECALL_AT,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> dict[str, float]:
    """R@n, IoU=m and mIoU over queries.

    Args:
        predictions: per query, its ranked moments, each (start, end[, score]) in seconds.
        ground_truth: per query, the annotated (start, end) in seconds.

    Returns:
        {"R@1,IoU=0.5": 41.2, ..., "mIoU": 38.0}, in percent. A query with no prediction misses.
    """
    if len(predictions) != len(ground_truth):
        raise ValueError(f"{len(predictions)} predictions for {len(ground_truth)} ground-truth moments.")
    if not predictions:
        raise ValueError("No queries to evaluate.")
    depth = max(recall_at)
    # (Q, depth) IoU of each query's first `depth` moments; missing moments count as IoU -1.
    ious = torch.full((len(predictions), depth), -1.0, dtype=torch.float64)
    for row, (moments, target) in enumerate(zip(predictions, ground_truth)):
        moments = [moment[:2] for moment in list(moments)[:depth]]
        if moments:
            spans = torch.tensor(moments, dtype=torch.float64)
            ious[row, : len(moments)] = temporal_iou(spans, torch.tensor(target[:2], dtype=torch.float64))
    metrics = {}
    for n in recall_at:
        best = ious[:, :n].max(dim=1).values
        for threshold in iou_thresholds:
            metrics[metric_name(n, threshold)] = 100.0 * float((best > threshold).double().mean())
    metrics["mIoU"] = 100.0 * float(ious[:, 0].clamp(min=0).mean())
    return metrics


def corpus_recall_at_iou(
    predictions: Sequence[Sequence[Sequence]],
    ground_truth: Sequence[Sequence],
    recall_at: Sequence[int] = CORPUS_RECALL_AT,
    iou_thresholds: Sequence[float] = CORPUS_IOU_THRESHOLDS,
) -> dict[str, float]:
    """VCMR R@k, IoU=m over queries, in percent.

    Args:
        predictions: per query, its corpus-wide ranked moments, each (video_id, start, end[, score]) in seconds.
        ground_truth: per query, (video_id, start, end) in seconds.

    A moment counts only if its video is the query's video and its IoU with the ground truth is > m.
    """
    if len(predictions) != len(ground_truth):
        raise ValueError(f"{len(predictions)} predictions for {len(ground_truth)} ground-truth moments.")
    if not predictions:
        raise ValueError("No queries to evaluate.")
    depth = max(recall_at)
    ious = torch.full((len(predictions), depth), -1.0, dtype=torch.float64)  # -1: no moment, or another video
    for row, (moments, (video_id, start, end)) in enumerate(zip(predictions, ground_truth)):
        for column, (moment_video, moment_start, moment_end, *_) in enumerate(list(moments)[:depth]):
            if moment_video == video_id:
                ious[row, column] = temporal_iou(torch.tensor([[moment_start, moment_end]], dtype=torch.float64),
                                                 torch.tensor([start, end], dtype=torch.float64))[0]  # fmt: skip
    metrics = {}
    for n in recall_at:
        best = ious[:, :n].max(dim=1).values
        for threshold in iou_thresholds:
            metrics[corpus_metric_name(n, threshold)] = 100.0 * float((best > threshold).double().mean())
    return metrics


def video_recall_at(ranks: Sequence[int], recall_at: Sequence[int] = CORPUS_RECALL_AT) -> dict[str, float]:
    """VR R@k in percent from the 1-based rank of each query's own video."""
    if len(ranks) == 0:
        raise ValueError("No queries to evaluate.")
    ranks = torch.as_tensor(ranks)
    return {video_metric_name(n): 100.0 * float((ranks <= n).double().mean()) for n in recall_at}


@torch.no_grad()
def evaluate_corpus(
    index,
    queries: Sequence[str],
    ground_truth: Sequence[Sequence],
    recall_at: Sequence[int] = CORPUS_RECALL_AT,
    iou_thresholds: Sequence[float] = CORPUS_IOU_THRESHOLDS,
    batch_size: int = 256,
    show_progress: bool = False,
) -> dict[str, float]:
    """VCMR R@k, IoU=m and VR R@k of an index's model over a corpus (the videos of `index`).

    Args:
        index: a `MomentIndex` holding every video of the split (exact search is used).
        queries: the query texts. ground_truth: per query (video_id, start, end) in seconds.
        batch_size: queries encoded and searched at once.

    Returns:
        {"VCMR R@1,IoU=0.5": ..., "VR R@1": ...} in percent.
    """
    from tqdm.auto import tqdm

    if len(queries) != len(ground_truth):
        raise ValueError(f"{len(queries)} queries for {len(ground_truth)} ground-truth moments.")
    unknown = sorted({str(video_id) for video_id, *_ in ground_truth} - set(index.video_ids))
    if unknown:
        raise ValueError(f"{len(unknown)} ground-truth videos are not in the index, e.g. {unknown[:3]}.")
    predictions, ranks = [], []
    for start in tqdm(range(0, len(queries), batch_size), desc="Corpus search", disable=not show_progress):
        embeddings = index.encode_queries(list(queries[start : start + batch_size]))
        found = index.search_embeddings(embeddings, top_k=max(recall_at), exact=True)
        predictions += [[(m.video_id, m.start, m.end) for m in moments] for moments in found]
        ranks += index.video_ranks(embeddings, [str(video_id) for video_id, *_ in ground_truth[start : start + batch_size]]).tolist()
    return {**corpus_recall_at_iou(predictions, ground_truth, recall_at, iou_thresholds), **video_recall_at(ranks, recall_at)}


def evaluate_scores(
    scores: torch.Tensor,
    spans: torch.Tensor,
    ground_truth: torch.Tensor,
    nms_threshold: float | None = 0.5,
    recall_at: Sequence[int] = RECALL_AT,
    iou_thresholds: Sequence[float] = IOU_THRESHOLDS,
) -> dict[str, float]:
    """Metrics from proposal scores.

    Args:
        scores: (Q, K) proposal logits. spans: (Q, K, 2) proposal spans in seconds.
        ground_truth: (Q, 2) annotated moments in seconds.
    """
    depth = max(recall_at)
    predictions = [decode_moments(row_scores, row_spans, depth, nms_threshold) for row_scores, row_spans in zip(scores, spans)]
    return recall_at_iou(predictions, ground_truth.tolist(), recall_at, iou_thresholds)


@torch.no_grad()
def evaluate_model(model, dataloader, accelerator=None, with_teacher: bool = True) -> dict:
    """R@{1,5}, IoU={0.1,0.3,0.5,0.7} and mIoU of an FVMRModel over a dataloader of processor batches.

    The teacher is scored too when the batches carry trees. With an `accelerate.Accelerator`, scores
    are collected across processes with `gather_for_metrics`.

    Returns {"student": metrics, "teacher": metrics?}, in percent.
    """
    model.eval()
    student, teacher, spans, labels = [], [], [], []
    for batch in dataloader:
        output = model(**{key: value for key, value in batch.items() if key != "labels"})
        gathered = (output.student_scores, output.proposal_spans, batch["labels"])
        if with_teacher and output.teacher_scores is not None:
            gathered += (output.teacher_scores,)
        if accelerator is not None:
            gathered = accelerator.gather_for_metrics(gathered)
        student.append(gathered[0].float().cpu())
        spans.append(gathered[1].float().cpu())
        labels.append(gathered[2].float().cpu())
        if len(gathered) == 4:
            teacher.append(gathered[3].float().cpu())
    spans, labels = torch.cat(spans), torch.cat(labels)
    unwrapped = accelerator.unwrap_model(model) if accelerator is not None else model
    nms_threshold = unwrapped.config.nms_threshold
    results = {"student": evaluate_scores(torch.cat(student), spans, labels, nms_threshold)}
    if teacher:
        results["teacher"] = evaluate_scores(torch.cat(teacher), spans, labels, nms_threshold)
    return results


def read_build_report(dataset: str) -> dict:
    """The `build_report.json` of a built dataset folder ({} when absent)."""
    path = os.path.join(dataset, "build_report.json")
    if not os.path.isfile(path):
        return {}
    with open(path) as handle:
        return json.load(handle)


def eval_results_payload(results: dict, dataset: str, split: str, num_queries: int) -> dict:
    """The `eval_results.json` a model folder carries and its card reports.

    `dataset` is a built dataset folder; its `build_report.json` (when present) names the benchmark and
    says whether the features are real, simulated or synthetic.
    """
    report = read_build_report(dataset)
    return {
        "dataset": {
            "name": report.get("pretty_name", os.path.basename(os.path.normpath(dataset))),
            "id": dataset,
            "config": "annotations",
            "split": split,
            "features": report.get("features", {}).get("kind", "real"),
        },
        "num_queries": num_queries,
        "metrics": results,
    }


def _load_model_and_split(model_path: str, dataset: str, split: str):
    """(model, processor, MomentRetrievalDataset) of a saved model and a built dataset split, checked."""
    from .data import MomentRetrievalDataset, load_moment_retrieval
    from .loading import load_model_and_processor

    annotations, features = load_moment_retrieval(dataset)
    if split not in annotations:
        raise ValueError(f"Split {split!r} is not in {dataset} (has {sorted(annotations)}).")
    data = MomentRetrievalDataset(annotations[split], features[split])
    model, processor = load_model_and_processor(model_path)
    model.eval()
    if data.feature_dim != model.config.video_feature_dim:
        raise ValueError(
            f"{dataset} has {data.feature_dim}-d clip features but the model expects video_feature_dim="
            f"{model.config.video_feature_dim}."
        )
    return model, processor, data


def evaluate_corpus_split(model, processor, data, batch_size: int = 256) -> dict[str, float]:
    """[`evaluate_corpus`] over one split of a built dataset: every video of the split in one index.

    Args:
        model, processor: an FVMR model and its processor. data: a `MomentRetrievalDataset` (its
            `annotations` rows are the queries, its `features` rows the corpus).
    """
    from .retrieval import MomentIndex

    videos = data.features.with_format("numpy", columns=["features"])
    video_ids = list(data.features.with_format(None)["video_id"])
    durations = dict(zip(data.annotations["video_id"], data.annotations["duration"]))
    annotated = [position for position, video_id in enumerate(video_ids) if video_id in durations]  # videos of this split
    index = MomentIndex.build(
        model, processor, (videos[position]["features"] for position in annotated),
        [durations[video_ids[position]] for position in annotated], [video_ids[position] for position in annotated],
        show_progress=False,
    )  # fmt: skip
    rows = data.annotations.select_columns(["video_id", "start", "end", "sentence"])
    ground_truth = list(zip(rows["video_id"], rows["start"], rows["end"]))
    return evaluate_corpus(index, rows["sentence"], ground_truth, batch_size=batch_size)


def evaluate_model_on_dataset(
    model_path: str,
    dataset: str,
    split: str = "test",
    batch_size: int = 64,
    json_path: str | None = None,
    corpus: bool = False,
    overwrite: bool = False,
) -> dict:
    """`fvmr evaluate`: load a saved model and a built dataset split, print the metrics table, write JSON.

    With `corpus=True` the corpus-level metrics ([`evaluate_corpus_split`]) are added under the key
    "corpus" (and "corpus_metrics" in the JSON, beside the within-video "metrics"). An existing `json_path`
    is refused before any work unless `overwrite`; the file is written whole (a staging sibling renamed).
    """
    from .atomic import atomic_file, check_output_file
    from .data import MomentRetrievalCollator

    if json_path:
        check_output_file(json_path, overwrite)

    model, processor, data = _load_model_and_split(model_path, dataset, split)
    collator = MomentRetrievalCollator(processor, with_trees=data.has_trees and model.config.use_teacher)
    loader = torch.utils.data.DataLoader(data, batch_size=batch_size, collate_fn=collator)
    results = evaluate_model(model, loader)
    print(format_metrics_table(results))
    payload = eval_results_payload(results, dataset, split, len(data))
    if corpus:
        corpus_results = evaluate_corpus_split(model, processor, data)
        print(f"\nCorpus level: each query searched over all {len(set(data.annotations['video_id']))} videos of the split")
        print(format_metrics_table({"student": corpus_results}))
        payload["corpus_metrics"] = corpus_results
        results = {**results, "corpus": corpus_results}
    if json_path:
        with atomic_file(json_path, overwrite) as staging:
            staging.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return results


def format_metrics_table(results: dict[str, dict[str, float]]) -> str:
    """Markdown table, one row per scorer (e.g. "student", "teacher"), one column per metric."""
    columns = list(next(iter(results.values())))
    lines = ["| scorer | " + " | ".join(columns) + " |", "|---|" + "---:|" * len(columns)]
    for name, metrics in results.items():
        lines.append(f"| {name} | " + " | ".join(f"{metrics[column]:.2f}" for column in columns) + " |")
    return "\n".join(lines)


__all__ = ["recall_at_iou", "corpus_recall_at_iou", "video_recall_at", "evaluate_corpus", "evaluate_corpus_split", "corpus_metric_name", "video_metric_name", "evaluate_scores", "evaluate_model", "evaluate_model_on_dataset", "eval_results_payload", "read_build_report", "format_metrics_table", "metric_name", "student_metric_names", "RECALL_AT", "IOU_THRESHOLDS"]
