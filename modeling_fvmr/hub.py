"""Share FVMR models and datasets on the Hugging Face Hub.

A *model folder* is what `model.save_pretrained` + `processor.save_pretrained` write: config.json
(with `auto_map`), model.safetensors, the model code for `trust_remote_code=True` users
(configuration_fvmr.py, modeling_fvmr.py, temporal_map.py, processing_fvmr.py, semantic_roles.py),
tokenizer.json and the processor / tokenizer configs. After `fvmr train` it also holds

    eval_results.json    {"dataset": {"name", "id", "config", "split", "features"}, "num_queries",
                          "metrics": {"student": {"R@1,IoU=0.5": 41.2, ..., "mIoU": 38.0}, "teacher": {...}}}
    training_args.json   the run's settings, plus what happened: the splits that chose the epoch and gave
                         the numbers, `num_processes`, and the data lineage (`datasets`, `base_model`)

The model card is rendered from these files only (`hub_cards/model_card.md`): its `model-index`
holds exactly the student metrics of eval_results.json, and a model without one reports no results.

A *dataset folder* is what the builders write: DIR/annotations and DIR/features (`DatasetDict`s
saved with `save_to_disk`) and the dataset card DIR/README.md.

Tokens come from the argument, else `HF_TOKEN` / the `hf auth login` token; they are sent to the Hub
only and never logged, printed or written into a card.
"""

from __future__ import annotations

import json
import logging
import math
import os
from importlib import resources
from pathlib import Path

from huggingface_hub import (
    CommitInfo,
    CommitOperationAdd,
    DatasetCard,
    EvalResult,
    HfApi,
    ModelCard,
    ModelCardData,
    get_token,
    hf_hub_download,
)
from huggingface_hub.errors import EntryNotFoundError, HfHubHTTPError, HFValidationError
from huggingface_hub.utils import validate_repo_id
from safetensors import safe_open
from transformers.dynamic_module_utils import get_relative_import_files

from .data import load_moment_retrieval
from .evaluation import format_metrics_table, read_build_report
from .temporal_map import valid_proposals

logger = logging.getLogger(__name__)

WEIGHTS_NAME = "model.safetensors"
WEIGHTS_INDEX_NAME = "model.safetensors.index.json"
PICKLE_WEIGHT_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
TOKENIZER_NAME = "tokenizer.json"
EVAL_RESULTS_NAME = "eval_results.json"
TRAINING_ARGS_NAME = "training_args.json"
CARD_NAME = "README.md"
TASK = ("video-moment-retrieval", "Video Moment Retrieval")
SECRET_KEY_PARTS = ("token", "secret", "password", "api_key")

FEATURE_NOTES = {
    "real": "The clip features were extracted from the benchmark's real videos.",
    "simulated": (
        "The clip features were simulated from the annotations (no real video features were available), "
        "so these numbers do not measure retrieval on real videos."
    ),
    "synthetic": (
        "Videos, queries and features all come from the package's synthetic world, so these numbers only "
        "show that training works; they say nothing about real videos."
    ),
}


# ----------------------------------------------------------------------------------------- model card


def _read_json(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path} is not valid JSON: {error}") from error


def _is_hub_id(dataset_id: str) -> bool:
    """True for a Hub repo id, False for a local path (absolute, existing here, or not a valid id)."""
    if os.path.isabs(dataset_id) or os.path.exists(dataset_id):
        return False
    try:
        validate_repo_id(dataset_id)
    except HFValidationError:
        return False
    return True


def dataset_pretty_name(dataset: str | os.PathLike) -> str:
    """How a card names a dataset: the `pretty_name` of a local dataset folder's card (README.md), else of
    its build report, else the folder's name; a Hub id is its own name."""
    path = Path(dataset)
    card = path / CARD_NAME
    if card.is_file():
        pretty_name = DatasetCard.load(card).data.get("pretty_name")
        if pretty_name:
            return pretty_name
    return read_build_report(str(path)).get("pretty_name") or (path.name if path.exists() else str(dataset))


def read_training_record(model: str | os.PathLike) -> dict:
    """training_args.json of a model folder or Hub repository ({} when it has none)."""
    if os.path.isdir(model):
        return _read_json(Path(model) / TRAINING_ARGS_NAME) or {}
    try:
        return _read_json(Path(hf_hub_download(str(model), TRAINING_ARGS_NAME))) or {}
    except EntryNotFoundError:
        return {}


def _slug(name: str) -> str:
    return "-".join(name.lower().replace("_", " ").split())


def _check_weights(model_dir: Path) -> None:
    """Safetensors weights must be there; pickle weights (.bin, .pt, ...) are refused."""
    pickled = sorted(path.name for path in model_dir.iterdir() if path.name.endswith(PICKLE_WEIGHT_SUFFIXES))
    if pickled:
        raise ValueError(
            f"{model_dir} holds pickle weights {pickled}: only safetensors weights are pushed. Save the model with "
            "`save_pretrained` (it writes model.safetensors) and remove these files."
        )
    if not (model_dir / WEIGHTS_NAME).is_file() and not (model_dir / WEIGHTS_INDEX_NAME).is_file():
        raise FileNotFoundError(
            f"{model_dir} has no model weights ({WEIGHTS_NAME}): save the model with `model.save_pretrained` first."
        )


def _count_parameters(model_dir: Path) -> int:
    """Number of weights stored in the folder's safetensors file(s), read from their headers."""
    _check_weights(model_dir)
    index = _read_json(model_dir / WEIGHTS_INDEX_NAME)
    shards = sorted(set(index["weight_map"].values())) if index else [WEIGHTS_NAME]
    total = 0
    for shard in shards:
        with safe_open(model_dir / shard, framework="pt") as weights:
            for name in weights.keys():
                total += math.prod(weights.get_slice(name).get_shape())
    return total


def _check_eval_results(results: dict, path: Path) -> None:
    for field in ("dataset", "num_queries", "metrics"):
        if field not in results:
            raise ValueError(f"{path} lacks the field {field!r}.")
    for field in ("name", "id", "split", "features"):
        if field not in results["dataset"]:
            raise ValueError(f"{path} lacks the field dataset.{field}.")
    if results["dataset"]["features"] not in FEATURE_NOTES:
        raise ValueError(f"{path}: dataset.features must be one of {sorted(FEATURE_NOTES)}, got {results['dataset']['features']!r}.")
    if not results["metrics"].get("student"):
        raise ValueError(f"{path} has no student metrics (metrics.student).")
    for scorer, metrics in results["metrics"].items():
        for name, value in metrics.items():
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                raise ValueError(f"{path}: metrics.{scorer}.{name} must be a number (percent), got {value!r}.")


def _metric_type(name: str) -> str:
    """Metric id for the model-index: "R@1,IoU=0.5" -> "recall_at_1_iou_0.5", "mIoU" -> "mean_iou"."""
    if name == "mIoU":
        return "mean_iou"
    recall, iou = name.split(",")
    return f"recall_at_{recall.removeprefix('R@')}_iou_{iou.removeprefix('IoU=')}"


def _training_settings(model_dir: Path) -> dict:
    """training_args.json for the card: secrets left out, absolute paths cut to their last part (the
    rest is the author's disk layout)."""
    settings = _read_json(model_dir / TRAINING_ARGS_NAME) or {}
    return {
        name: f".../{Path(value).name}" if isinstance(value, str) and os.path.isabs(value) else value
        for name, value in settings.items()
        if not any(part in name.lower() for part in SECRET_KEY_PARTS)
    }


def _selection(settings: dict, report_split: str) -> str:
    """The card's sentence on which split chose the exported epoch and which split gave the numbers."""
    eval_split, best_epoch = settings.get("eval_split"), settings.get("best_epoch")
    if not settings:
        return f"The numbers come from the `{report_split}` split; how the weights were selected is not recorded."
    if eval_split is None or best_epoch is None:
        chosen = "No split chose the epoch: the weights are those of the last training step."
    else:
        chosen = (
            f"The epoch was chosen on the `{eval_split}` split (best student {settings.get('best_metric')} after "
            f"epoch {best_epoch})."
        )
    if report_split == eval_split and best_epoch is not None:
        return chosen + f" The numbers below come from that same `{report_split}` split, so they are optimistic."
    return chosen + f" The numbers below come from the `{report_split}` split, evaluated once on the exported model."


def _training_data(settings: dict) -> dict | None:
    """The card's Training data section: the datasets the weights were trained on (from
    training_args.json), oldest first, and the model a fine-tuning run started from."""
    names = settings.get("datasets") or ([settings["dataset_name"]] if settings.get("dataset_name") else [])
    if not names:
        return None
    base_model = settings.get("base_model")
    return {"datasets": names, "base_model": Path(base_model).name if base_model and not _is_hub_id(base_model) else base_model}


def _evaluation_for_card(model_dir: Path, settings: dict) -> dict | None:
    """From eval_results.json: the model-index entries (student metrics only), the Hub dataset id if
    the evaluation set is on the Hub, and the values the card's Evaluation section shows."""
    path = model_dir / EVAL_RESULTS_NAME
    evaluation = _read_json(path)
    if evaluation is None:
        return None
    _check_eval_results(evaluation, path)
    dataset = evaluation["dataset"]
    on_hub = _is_hub_id(dataset["id"])
    eval_results = [
        EvalResult(
            task_type=TASK[0],
            task_name=TASK[1],
            dataset_type=dataset["id"] if on_hub else _slug(dataset["name"]),
            dataset_name=dataset["name"],
            dataset_config=dataset.get("config"),
            dataset_split=dataset["split"],
            metric_type=_metric_type(name),
            metric_name=name,
            metric_value=value,
        )
        for name, value in evaluation["metrics"]["student"].items()
    ]
    section = {
        "num_queries": evaluation["num_queries"],
        "split": dataset["split"],
        "config": dataset.get("config"),
        "dataset_name": dataset["name"],
        "dataset_source": f"`{dataset['id']}` on the Hub" if on_hub else f"a local copy, `{Path(dataset['id']).name}`",
        "features": dataset["features"],
        "features_note": FEATURE_NOTES[dataset["features"]],
        "table": format_metrics_table(evaluation["metrics"]),
        "selection": _selection(settings, dataset["split"]),
    }
    return {"eval_results": eval_results, "hub_dataset": dataset["id"] if on_hub else None, "benchmark": dataset["name"], "section": section}


def _config_highlights(config: dict) -> list[tuple[str, object]]:
    num_proposals = len(valid_proposals(config["num_clips"], config["pooling_counts"]))
    return [
        ("Clips per video (N) / proposals (K)", f"{config['num_clips']} / {num_proposals}"),
        ("Clip feature size", config["video_feature_dim"]),
        ("Hidden size / common space", f"{config['hidden_size']} / {config['joint_dim']}"),
        ("Word embeddings / BiLSTM units", f"{config['word_embedding_dim']} / {config['lstm_hidden_size']}"),
        ("Vocabulary", config["vocab_size"]),
        ("Teacher (semantic role trees)", "yes" if config["use_teacher"] else "no"),
        ("Distillation T / λ", f"{config['distillation_temperature']} / {config['distillation_weight']}"),
        ("Soft-label IoU range", f"{config['iou_min']} – {config['iou_max']}"),
        ("Video features", _describe_video_features(config.get("video_features"))),
    ]


def _describe_video_features(recorded: dict | None) -> str:
    """How the model's clip features are made, for the card: the recorded recipe or description."""
    if not recorded:
        return "not recorded"
    if "backbone" not in recorded:
        return f"precomputed: {recorded.get('description', 'not described')}"
    return (
        f"from video files: backbone `{recorded['backbone']}` ({recorded.get('embedding') or 'pooled embedding'}), "
        f"{recorded['frames_per_second']:g} frames/s averaged over {recorded['clip_seconds']:g} s clips"
    )


def render_model_card(
    model_dir: str | os.PathLike,
    repo_id: str | None = None,
    license: str = "mit",  # noqa: A002
    datasets: list[str] | None = None,
    base_model: str | None = None,
    language: str | list[str] | None = None,
) -> ModelCard:
    """The model card of a model folder, generated from what the folder holds.

    Args:
        model_dir: a folder written by `save_pretrained` (config.json, model.safetensors), with
            eval_results.json and training_args.json when the trainer wrote them.
        repo_id: the Hub repository the card is for (used in the loading examples); defaults to the
            folder's name.
        license: licence of the weights (a Hub licence id).
        datasets: Hub dataset ids for the card's `datasets` metadata; default: the Hub ids among the
            training and evaluation datasets.
        base_model: the Hub id of the model these weights were fine-tuned from; default: training_args.json's
            `base_model` when it is a Hub id.
        language: language code(s) of the queries, e.g. "en".

    Returns:
        A `huggingface_hub.ModelCard`. Its `model-index` holds the student metrics of
        eval_results.json and nothing else; without that file the card reports no results.
    """
    model_dir = Path(model_dir)
    config = _read_json(model_dir / "config.json")
    if config is None:
        raise FileNotFoundError(f"{model_dir} has no config.json: save the model with `model.save_pretrained`.")
    if config.get("model_type") != "fvmr":
        raise ValueError(f"{model_dir / 'config.json'} is not an FVMR config (model_type {config.get('model_type')!r}).")
    model_name = (repo_id or model_dir.resolve().name).split("/")[-1]
    training_record = _read_json(model_dir / TRAINING_ARGS_NAME) or {}
    training_settings = _training_settings(model_dir)
    evaluation = _evaluation_for_card(model_dir, training_record) or {}
    if datasets is None:
        datasets = [evaluation["hub_dataset"]] if evaluation.get("hub_dataset") else []
        training_dataset = training_settings.get("dataset") or training_settings.get("dataset_path")
        if isinstance(training_dataset, str) and _is_hub_id(training_dataset) and training_dataset not in datasets:
            datasets.append(training_dataset)
    recorded_base = training_record.get("base_model")
    if base_model is None and isinstance(recorded_base, str) and _is_hub_id(recorded_base):
        base_model = recorded_base
    benchmark = evaluation.get("benchmark") or training_settings.get("dataset_name")

    card_data = ModelCardData(
        # "transformers", not "fvmr": the checkpoint is a transformers checkpoint (config.json +
        # safetensors + auto_map) that AutoModel loads, and the Hub knows that library (its filters,
        # code snippet and custom-code tag); an unknown library name gets none of these.
        library_name="transformers",
        # no pipeline_tag: the Hub has no moment-retrieval task, and a near miss would route the
        # inference widget to a pipeline that cannot run this model.
        license=license,
        language=language,
        base_model=base_model,
        tags=["video-moment-retrieval", "fvmr"] + ([_slug(benchmark)] if benchmark else []),
        datasets=datasets or None,
        metrics=["recall", "mean_iou"] if evaluation else None,
        model_name=model_name if evaluation else None,
        eval_results=evaluation.get("eval_results"),
    )
    template = resources.files("hub_cards").joinpath("model_card.md")
    return ModelCard.from_template(
        card_data,
        template_str=template.read_text(encoding="utf-8"),
        model_name=model_name,
        repo_id=repo_id or model_dir.name,
        num_parameters=_count_parameters(model_dir),
        config_highlights=_config_highlights(config),
        video_feature_dim=config["video_feature_dim"],
        training_data=_training_data(training_record),
        training_args=training_settings,
        evaluation=evaluation.get("section"),
        video_recipe=_describe_video_features(config.get("video_features")) if "backbone" in (config.get("video_features") or {}) else None,
    )


def write_model_card(model_dir: str | os.PathLike, repo_id: str | None = None, **card_options) -> Path:
    """Render the card of a model folder (see `render_model_card` for `card_options`: license, datasets,
    base_model, language) and save it as MODEL_DIR/README.md (through a temporary sibling)."""
    path = Path(model_dir) / CARD_NAME
    temporary = path.with_name(f".{CARD_NAME}.tmp")
    render_model_card(model_dir, repo_id=repo_id, **card_options).save(temporary)
    os.replace(temporary, path)
    return path


# ----------------------------------------------------------------------------------------- pushing


def check_repo_id(repo_id: str) -> str:
    """`repo_id` if huggingface_hub accepts it as a repository id, else a ValueError saying why."""
    try:
        validate_repo_id(repo_id)
    except HFValidationError as error:
        raise ValueError(f"Invalid repo id {repo_id!r}: {error} Expected 'namespace/name', e.g. 'my-user/fvmr-charades'.") from None
    return repo_id


def resolve_token(token: str | None = None) -> str:
    """The token to push with: `token`, else HF_TOKEN, else the one saved by `hf auth login`."""
    token = token or get_token()
    if not token:
        raise ValueError(
            "No Hugging Face token: pass --token, set the HF_TOKEN environment variable, or log in with `hf auth login`."
        )
    return token


def _authenticate(token: str) -> tuple[HfApi, str]:
    """(api, user name) for a token the Hub accepts; a rejected token gives a PermissionError."""
    api = HfApi(token=token)
    try:
        user = api.whoami()["name"]
    except HfHubHTTPError as error:
        if error.response is not None and error.response.status_code == 401:
            raise PermissionError(
                f"The Hugging Face token was rejected by {api.endpoint}: check HF_TOKEN or log in again with `hf auth login`."
            ) from None
        raise
    return api, user


def _full_repo_id(repo_id: str, user: str) -> str:
    """A repo id without namespace goes to the token's user, as on the Hub."""
    return repo_id if "/" in repo_id else f"{user}/{repo_id}"


def _create_repo(api: HfApi, repo_id: str, repo_type: str, private: bool, revision: str | None) -> None:
    """Create the repository if absent, and the branch `revision` (from main) if given and absent."""
    api.create_repo(repo_id, repo_type=repo_type, private=private, exist_ok=True)
    if revision is not None:
        api.create_branch(repo_id, branch=revision, repo_type=repo_type, exist_ok=True)


def _remote_code_files(model_dir: Path) -> list[str]:
    """Names of the code files `trust_remote_code=True` needs: the modules named in the auto_maps of the
    folder's configs and everything they import relatively. Missing ones raise FileNotFoundError."""
    modules = set()
    for config_name in ("config.json", "processor_config.json", "tokenizer_config.json"):
        config = _read_json(model_dir / config_name) or {}
        references = list(config.get("auto_map", {}).values())
        references += [task["impl"] for task in (config.get("custom_pipelines") or {}).values() if "impl" in task]
        for reference in references:
            for class_reference in reference if isinstance(reference, list) else [reference]:
                if class_reference and "--" not in class_reference:  # "repo--module.Class" lives in another repo
                    modules.add(f"{class_reference.split('.')[0]}.py")
    needed = set(modules)
    for module in sorted(modules):
        try:
            needed.update(Path(path).name for path in get_relative_import_files(model_dir / module))
        except FileNotFoundError as error:
            raise FileNotFoundError(
                f"{model_dir} lacks {Path(error.filename).name}, model code that `trust_remote_code=True` users "
                "need: save the model and processor with `save_pretrained` while `modeling_fvmr` is imported."
            ) from None
    return sorted(needed)


def model_folder_files(model_dir: str | os.PathLike) -> list[Path]:
    """The files of a model folder that go to the Hub (its top-level, non-hidden files), after checking
    that the folder is complete: safetensors weights (pickle weights are refused), config.json with an
    `auto_map`, the model code it names, and the tokenizer."""
    model_dir = Path(model_dir)
    if not model_dir.is_dir():
        raise FileNotFoundError(f"Model folder {model_dir} does not exist.")
    _check_weights(model_dir)
    files = sorted(path for path in model_dir.iterdir() if path.is_file() and not path.name.startswith("."))
    config = _read_json(model_dir / "config.json")
    if config is None or "AutoModel" not in config.get("auto_map", {}):
        raise ValueError(
            f"{model_dir / 'config.json'} is missing or has no auto_map: save the model with `save_pretrained` "
            "while `modeling_fvmr` is imported, so users without the package can load it."
        )
    _remote_code_files(model_dir)
    if not (model_dir / TOKENIZER_NAME).is_file():
        raise FileNotFoundError(
            f"{model_dir} has no {TOKENIZER_NAME}: save the processor with `processor.save_pretrained` into the same folder."
        )
    return files


def _refuse_files_holding(token: str, files: list[Path]) -> None:
    """Stop before a file that contains the token (e.g. a training record) leaves the machine."""
    for path in files:
        if path.suffix != ".safetensors" and token.encode() in path.read_bytes():
            raise ValueError(f"{path} contains your Hugging Face token: remove it before pushing.")


def _pipeline_operations(model_dir: Path) -> list[CommitOperationAdd]:
    """config.json with `custom_pipelines` naming the video-moment-retrieval pipeline, and the pipeline's
    code, so `pipeline(model=repo, trust_remote_code=True)` works where fvmr is not installed.

    Local folders keep config.json without it: there the installed package's registered task serves
    `pipeline("video-moment-retrieval", model=folder)` (transformers asks for trust_remote_code=True as
    soon as a config names a custom pipeline, also for a task it has registered)."""
    from . import pipeline_fvmr

    config = _read_json(model_dir / "config.json")
    config["custom_pipelines"] = {
        pipeline_fvmr.TASK: {"impl": "pipeline_fvmr.VideoMomentRetrievalPipeline", "pt": ["AutoModel"], "tf": [], "type": "multimodal"}
    }
    source = Path(pipeline_fvmr.__file__)
    code = sorted({source, *map(Path, get_relative_import_files(source))})
    return [CommitOperationAdd(path_in_repo="config.json", path_or_fileobj=(json.dumps(config, indent=2) + "\n").encode())] + [
        CommitOperationAdd(path_in_repo=path.name, path_or_fileobj=path) for path in code
    ]


def push_model_folder(
    model_dir: str | os.PathLike,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    revision: str | None = None,
    commit_message: str = "Upload FVMR model",
    write_card: bool = True,
    **card_options,
) -> CommitInfo:
    """Upload a model folder to the Hub in one commit: weights, config, model code, tokenizer /
    processor files, training record and the model card.

    Args:
        model_dir: the folder (see `model_folder_files` for what it must hold).
        repo_id: "namespace/name" (a bare name goes to the token's user). Created if absent.
        token: Hub token; defaults to HF_TOKEN / the `hf auth login` token.
        private: create the repository private (an existing repository keeps its visibility).
        revision: branch to commit to (created from main if absent); default main.
        write_card: regenerate README.md from the folder (`write_model_card`) before uploading;
            False uploads the folder's README.md as it is.
        card_options: `datasets`, `base_model`, `language` (or `license`) for the card's metadata
            (see `render_model_card`).

    Returns:
        The `CommitInfo` of the commit (`.oid` is its sha, to pin with `revision=`).
    """
    check_repo_id(repo_id)
    if card_options and not write_card:
        raise ValueError(f"Card options {sorted(card_options)} need the generated card: drop --no-card.")
    model_dir = Path(model_dir)
    files = model_folder_files(model_dir)
    token = resolve_token(token)
    _refuse_files_holding(token, files)
    api, user = _authenticate(token)
    repo_id = _full_repo_id(repo_id, user)
    if write_card:
        card_path = write_model_card(model_dir, repo_id=repo_id, **card_options)
        files = sorted(set(files) | {card_path})
    elif not (model_dir / CARD_NAME).is_file():
        logger.warning("%s has no %s: the repository will have no model card.", model_dir, CARD_NAME)
    _create_repo(api, repo_id, "model", private, revision)
    operations = [CommitOperationAdd(path_in_repo=path.name, path_or_fileobj=path) for path in files if path.name != "config.json"]
    operations += _pipeline_operations(model_dir)
    commit = api.create_commit(repo_id, operations, commit_message=commit_message, revision=revision)
    logger.info("Pushed %d files of %s to %s (commit %s).", len(operations), model_dir, repo_id, commit.oid)
    return commit


def push_dataset_folder(
    dataset_dir: str | os.PathLike,
    repo_id: str,
    token: str | None = None,
    private: bool = False,
    revision: str | None = None,
    commit_message: str = "Upload FVMR dataset",
) -> CommitInfo:
    """Upload a built dataset folder to a Hub dataset repository: its card, then the `annotations` and
    `features` configurations as Parquet (`DatasetDict.push_to_hub`, which adds each configuration to
    the card's `configs:` metadata). `annotations` is the default configuration.

    Afterwards `load_dataset(repo_id, "annotations")` and `load_dataset(repo_id, "features")` work.

    Returns:
        The `CommitInfo` of the last commit.
    """
    check_repo_id(repo_id)
    annotations, features = load_moment_retrieval(dataset_dir)
    card_path = Path(dataset_dir) / CARD_NAME
    token = resolve_token(token)
    if card_path.is_file():
        _refuse_files_holding(token, [card_path])
    api, user = _authenticate(token)
    repo_id = _full_repo_id(repo_id, user)
    _create_repo(api, repo_id, "dataset", private, revision)
    if card_path.is_file():
        # the card's `configs` describe the folder's Arrow files; on the Hub, each `push_to_hub` below
        # writes its configuration's Parquet files (datasets keeps a stale entry for a configuration
        # that is already the default, so the upload starts without them)
        card = DatasetCard.load(card_path)
        card.data.pop("configs", None)
        api.upload_file(
            path_or_fileobj=str(card).encode("utf-8"),
            path_in_repo=CARD_NAME,
            repo_id=repo_id,
            repo_type="dataset",
            revision=revision,
            commit_message=f"{commit_message}: dataset card",
        )
    else:
        logger.warning("%s has no %s: the repository gets the card `datasets` writes.", dataset_dir, CARD_NAME)
    for name, dataset in (("annotations", annotations), ("features", features)):
        commit = dataset.push_to_hub(
            repo_id,
            config_name=name,
            set_default=name == "annotations",
            token=token,
            private=private,
            revision=revision,
            commit_message=f"{commit_message}: {name}",
        )
    logger.info("Pushed %s to the dataset repository %s (commit %s).", dataset_dir, repo_id, commit.oid)
    return commit


__all__ = [
    "render_model_card",
    "write_model_card",
    "dataset_pretty_name",
    "read_training_record",
    "model_folder_files",
    "push_model_folder",
    "push_dataset_folder",
    "check_repo_id",
    "resolve_token",
]
