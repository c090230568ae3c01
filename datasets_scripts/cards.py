"""Dataset cards: `hub_cards/dataset_card.md` rendered with `huggingface_hub.DatasetCard`."""

from __future__ import annotations

from importlib import resources

from datasets import DatasetDict
from huggingface_hub import DatasetCard, DatasetCardData

from .records import DROP_REASONS, POLICY

TEMPLATE = "dataset_card.md"


DEFAULT_CONFIG = "annotations"
# the Hub has no moment-retrieval task; temporal-grounding datasets on the Hub file themselves under
# video-text-to-text (video + text in, a time span out), so the card does too, with precise tags
TASK_CATEGORIES = ["video-text-to-text"]


def data_files_config(name: str, dataset: DatasetDict) -> dict:
    """A `configs` entry of the card's YAML: the Arrow files `save_to_disk` wrote for each split
    (`annotations` is the default configuration)."""
    config = {
        "config_name": name,
        "data_files": [{"split": split, "path": f"{name}/{split}/data-*.arrow"} for split in dataset],
    }
    if name == DEFAULT_CONFIG:
        config["default"] = True
    return config


def render_dataset_card(info, report: dict, annotations: DatasetDict, features: DatasetDict) -> DatasetCard:
    """The card of a built dataset.

    Args:
        info: the source's `SourceInfo`. report: the build report (`build_report.json`).
        annotations, features: the two configurations (their split names and columns).
    """
    licence = {"license": info.license}
    if info.license == "other":
        licence.update(license_name=f"{info.name}-terms", license_link=info.homepage)
    total_queries = sum(counts["rows_kept"] for counts in report["splits"].values())
    card_data = DatasetCardData(
        pretty_name=info.pretty_name,
        language="en",
        size_categories=_size_category(total_queries),
        task_categories=TASK_CATEGORIES,
        tags=["moment-retrieval", "video-grounding", "semantic-role-labeling", f"features-{report['features']['kind']}"],
        configs=[data_files_config("annotations", annotations), data_files_config("features", features)],
        **licence,
    )
    template = resources.files("hub_cards").joinpath(TEMPLATE).read_text(encoding="utf-8")
    return DatasetCard.from_template(
        card_data,
        template_str=template,
        name=info.name,
        description=info.description,
        homepage=info.homepage,
        license_terms=info.license_terms,
        citation=info.citation.strip(),
        official_features=info.official_features,
        has_trees="tree" in next(iter(annotations.values())).column_names,
        policy=POLICY,
        drop_reasons=DROP_REASONS,
        **{key: report[key] for key in ("splits", "split_files", "features", "trees", "limit")},
        chance=report["chance_r1_iou0.5"],
    )


def _size_category(rows: int) -> str:
    for bound, label in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M")):
        if rows < bound:
            return label
    return "n>1M"


__all__ = ["render_dataset_card", "data_files_config"]
