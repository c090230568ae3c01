"""Sharing models and datasets on the Hub, against the Hub-like server of tests/hub_server.py.

The server runs in a thread of this process on 127.0.0.1. huggingface_hub, transformers and datasets
read HF_ENDPOINT when they are imported, so every client step runs unpatched in a subprocess whose
environment points at the server, with a fresh HF_HOME and a dummy token (tests/hub_client.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from datasets import Array2D, Dataset, DatasetDict, Features, List, Value, load_from_disk
from huggingface_hub import DatasetCard, ModelCard, metadata_load
from safetensors.torch import load_file

from modeling_fvmr import FVMRConfig, FVMRModel, FVMROutput, FVMRProcessor, build_word_tokenizer
from modeling_fvmr.evaluation import evaluate_scores
from modeling_fvmr.hub import model_folder_files, push_model_folder, render_model_card, write_model_card
from modeling_fvmr.semantic_roles import Argument, Frame, SemanticRoleTree, tree_features

from hub_server import HubServer

REPO_ROOT = Path(__file__).resolve().parents[1]
CLIENT = Path(__file__).with_name("hub_client.py")
TOKEN = "hf_fvmrTESTtokenDoNotLeak0123456789"
USER = "fvmr-tester"
QUERIES = ["a person opens the door", "the woman sits on the sofa", "the man reads a book"]
DURATIONS = [12.0, 30.0, 8.5]
TIMESTAMPS = [[1.5, 4.0], [10.0, 22.5], [0.0, 3.0]]


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def hub(tmp_path_factory) -> HubServer:
    server = HubServer(tmp_path_factory.mktemp("hub_storage"), token=TOKEN, user=USER).start()
    yield server
    server.stop()


def client_env(hub: HubServer, home: Path, token: str | None = TOKEN) -> dict:
    """A clean environment for a client process: the test server, its own HF_HOME, no proxies."""
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "HF_HOME": str(home / "hf_home"),
        "HF_ENDPOINT": hub.endpoint,
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "HF_HUB_DISABLE_XET": "1",  # LFS files through the LFS batch API: the server has no Xet storage
        "PYTHONPATH": str(REPO_ROOT),
    }
    if token is not None:
        env["HF_TOKEN"] = token
    return env


def run(hub: HubServer, args: list[str], home: Path, token: str | None = TOKEN, isolated: bool = False, verbose: bool = False):
    """Run a client process (from `home`, outside the repository) and check the server knew every route.
    `verbose` turns the clients' logging up to debug, to show the token is not in any log line."""
    home.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, *(["-I"] if isolated else []), *args]
    env = client_env(hub, home, token)
    if verbose:
        env.update(HF_HUB_VERBOSITY="debug", TRANSFORMERS_VERBOSITY="debug", HF_DATASETS_VERBOSITY="debug")
    result = subprocess.run(command, cwd=home, env=env, capture_output=True, text=True, timeout=300)
    assert hub.unknown_routes == [], hub.unknown_routes
    return result


def fvmr_cli(hub: HubServer, args: list[str], home: Path, token: str | None = TOKEN, verbose: bool = False):
    return run(hub, ["-m", "modeling_fvmr.cli", *args], home, token, verbose=verbose)


def assert_succeeded(result: subprocess.CompletedProcess) -> None:
    assert result.returncode == 0, result.stdout + result.stderr


def video_inputs(feature_dim: int) -> dict:
    generator = torch.Generator().manual_seed(1)
    videos = [torch.randn(clips, feature_dim, generator=generator) for clips in (20, 35, 9)]
    return {"queries": QUERIES, "video_features": [video.tolist() for video in videos], "durations": DURATIONS}


def tree_of(sentence: str) -> dict:
    """A one-frame semantic role tree: the third word is the verb, the first two its ARG0."""
    tokens = sentence.split()
    starts = [sum(len(token) + 1 for token in tokens[:index]) for index in range(len(tokens))]
    frame = Frame(verb=tokens[2], lemma=tokens[2], start=2, end=3, arguments=[Argument("ARG0", 0, 2, " ".join(tokens[:2]))])
    return SemanticRoleTree(sentence, tokens, starts, [frame]).to_dict()


def score(model, processor, inputs: dict, with_trees: bool = False) -> FVMROutput:
    trees = [tree_of(query) for query in inputs["queries"]] if with_trees else None
    batch = processor(inputs["queries"], trees=trees, video_features=inputs["video_features"], durations=inputs["durations"])
    with torch.no_grad():
        return model.eval()(**batch)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny saved model (model + processor), with the eval_results.json of a real evaluation of it
    on the three test videos, a training_args.json, and the JSON inputs used by the load checks."""
    torch.manual_seed(0)
    tokenizer = build_word_tokenizer(QUERIES)
    config = FVMRConfig(
        vocab_size=len(tokenizer), video_feature_dim=8, num_clips=8, hidden_size=16, word_embedding_dim=8,
        lstm_hidden_size=8, semantic_dim=8, joint_dim=8, fusion_hidden_size=8,
    )
    folder = tmp_path_factory.mktemp("models") / "tiny-fvmr"
    FVMRModel(config).save_pretrained(folder)
    processor = FVMRProcessor.from_config(tokenizer, config)
    processor.save_pretrained(folder)
    inputs = video_inputs(config.video_feature_dim)
    (folder.parent / "inputs.json").write_text(json.dumps(inputs))
    outputs = score(FVMRModel.from_pretrained(folder), processor, inputs, with_trees=True)
    ground_truth = torch.tensor(TIMESTAMPS)
    evaluation = {
        "dataset": {"name": "Charades-STA", "id": f"{USER}/charades-sta", "config": "annotations", "split": "test", "features": "simulated"},
        "num_queries": len(QUERIES),
        "metrics": {
            "student": evaluate_scores(outputs.student_scores, outputs.proposal_spans, ground_truth),
            "teacher": evaluate_scores(outputs.teacher_scores, outputs.proposal_spans, ground_truth),
        },
    }
    (folder / "eval_results.json").write_text(json.dumps(evaluation))
    training_args = {"epochs": 2, "learning_rate": 0.001, "batch_size": 3, "seed": 0, "dataset": f"{USER}/charades-sta"}
    (folder / "training_args.json").write_text(json.dumps(training_args))
    return folder


@pytest.fixture(scope="module")
def reference(model_dir) -> dict[str, torch.Tensor]:
    """Student scores and weights of the model loaded from its local folder."""
    inputs = json.loads((model_dir.parent / "inputs.json").read_text())
    model = FVMRModel.from_pretrained(model_dir)
    scores = score(model, FVMRProcessor.from_pretrained(model_dir), inputs).student_scores
    return {"student_scores": scores, **{f"weights.{name}": tensor for name, tensor in model.state_dict().items()}}


def copy_folder(folder: Path, destination: Path) -> Path:
    return Path(shutil.copytree(folder, destination))


# ------------------------------------------------------------------------------------------ model card


def test_card_model_index_holds_exactly_the_evaluated_student_metrics(model_dir, tmp_path):
    folder = copy_folder(model_dir, tmp_path / "model")
    evaluation = json.loads((folder / "eval_results.json").read_text())
    training_args = json.loads((folder / "training_args.json").read_text())
    (folder / "training_args.json").write_text(json.dumps({**training_args, "hub_token": TOKEN}))
    card_path = write_model_card(folder, repo_id=f"{USER}/tiny-fvmr")

    metadata = metadata_load(card_path)
    (model_index,) = metadata["model-index"]
    (result,) = model_index["results"]
    assert model_index["name"] == "tiny-fvmr"
    assert result["task"]["type"] == "video-moment-retrieval"
    assert result["dataset"] == {"name": "Charades-STA", "type": f"{USER}/charades-sta", "config": "annotations", "split": "test"}
    assert {metric["name"]: metric["value"] for metric in result["metrics"]} == evaluation["metrics"]["student"]
    assert [metric["type"] for metric in result["metrics"]][:2] == ["recall_at_1_iou_0.1", "recall_at_1_iou_0.3"]
    assert metadata["library_name"] == "transformers"
    assert metadata["tags"] == ["video-moment-retrieval", "fvmr", "charades-sta"]
    assert metadata["datasets"] == [f"{USER}/charades-sta"]
    assert metadata["license"] == "mit"

    card = ModelCard.load(card_path)
    assert {result.metric_name: result.metric_value for result in card.data.eval_results} == evaluation["metrics"]["student"]
    teacher_row = "| teacher | " + " | ".join(f"{value:.2f}" for value in evaluation["metrics"]["teacher"].values()) + " |"
    assert teacher_row in card.text  # the teacher is reported in the body only
    assert "Video features: simulated." in card.text
    assert "do not measure retrieval on real videos" in card.text
    assert '| learning_rate | 0.001 |' in card.text
    assert "Gao, Junyu and Xu, Changsheng" in card.text and "1523--1532" in card.text
    assert f'AutoModel.from_pretrained("{USER}/tiny-fvmr", trust_remote_code=True)' in card.text
    assert TOKEN not in card_path.read_text()  # training_args.json's hub_token is left out
    assert "hub_token" not in card.text


def test_card_without_evaluation_reports_no_results(model_dir, tmp_path):
    folder = copy_folder(model_dir, tmp_path / "model")
    (folder / "eval_results.json").unlink()
    (folder / "training_args.json").unlink()
    card = render_model_card(folder)
    assert "model-index" not in card.data.to_dict()
    assert card.data.eval_results is None and card.data.to_dict().get("metrics") is None
    assert card.data.to_dict()["tags"] == ["video-moment-retrieval", "fvmr"]
    assert "No evaluation results (`eval_results.json`) were found" in card.text
    assert "| student |" not in card.text and "R@1" not in card.text
    assert "holds no training record" in card.text


def test_card_names_a_local_evaluation_set_without_listing_it_as_a_hub_dataset(model_dir, tmp_path):
    folder = copy_folder(model_dir, tmp_path / "model")
    evaluation = json.loads((folder / "eval_results.json").read_text())
    evaluation["dataset"].update(id=str(tmp_path / "built" / "charades_sta"), features="real")
    (folder / "eval_results.json").write_text(json.dumps(evaluation))
    (folder / "training_args.json").write_text(json.dumps({"epochs": 2, "dataset": str(tmp_path / "built" / "charades_sta")}))
    card = render_model_card(folder)
    assert card.data.datasets is None
    assert card.data.eval_results[0].dataset_type == "charades-sta"
    assert "a local copy, `charades_sta`" in card.text and "| dataset | .../charades_sta |" in card.text
    assert str(tmp_path) not in card.text
    assert "extracted from the benchmark's real videos" in card.text


def test_card_refuses_malformed_eval_results(model_dir, tmp_path):
    folder = copy_folder(model_dir, tmp_path / "model")
    evaluation = json.loads((folder / "eval_results.json").read_text())
    evaluation["dataset"]["features"] = "imagined"
    (folder / "eval_results.json").write_text(json.dumps(evaluation))
    with pytest.raises(ValueError, match=r"eval_results.json: dataset.features must be one of \['real', 'simulated', 'synthetic'\]"):
        render_model_card(folder)


# ------------------------------------------------------------------------------------------ model pushes


@pytest.fixture(scope="module")
def pushed_model(hub, model_dir, tmp_path_factory) -> dict:
    """`fvmr push` of the tiny model folder (a copy: the push writes README.md into it)."""
    folder = copy_folder(model_dir, tmp_path_factory.mktemp("push") / "tiny-fvmr")
    repo_id = f"{USER}/tiny-fvmr"
    result = fvmr_cli(hub, ["push", str(folder), repo_id], tmp_path_factory.mktemp("client"), verbose=True)
    assert_succeeded(result)
    return {"repo_id": repo_id, "folder": folder, "output": result.stdout + result.stderr, "sha": hub.commits("model", repo_id)[0]}


def test_push_uploads_the_whole_folder_and_card_in_one_commit(hub, pushed_model):
    repo_id, folder = pushed_model["repo_id"], pushed_model["folder"]
    history = hub.commits("model", repo_id)
    assert len(history) == 2  # the repository's initial commit, then the push
    assert f"(commit {history[0]})" in pushed_model["output"]
    files = hub.files("model", repo_id)
    local = {path.name: path.read_bytes() for path in folder.iterdir()}
    assert set(files) == {".gitattributes", "pipeline_fvmr.py", "video_features.py", *local}  # + the pipeline's code
    assert {name: files[name] for name in local if name != "config.json"} == {n: c for n, c in local.items() if n != "config.json"}
    pushed_config = json.loads(files["config.json"])  # the local config + custom_pipelines for trust_remote_code users
    assert pushed_config.pop("custom_pipelines") == {
        "video-moment-retrieval": {"impl": "pipeline_fvmr.VideoMomentRetrievalPipeline", "pt": ["AutoModel"], "tf": [], "type": "multimodal"}
    }
    assert pushed_config == json.loads(local["config.json"])
    expected = {
        "model.safetensors", "config.json", "configuration_fvmr.py", "modeling_fvmr.py", "temporal_map.py",
        "processing_fvmr.py", "semantic_roles.py", "tokenizer.json", "tokenizer_config.json",
        "processor_config.json", "eval_results.json", "training_args.json", "README.md",
    }
    assert expected <= set(files)
    assert json.loads(files["config.json"])["auto_map"] == {
        "AutoConfig": "configuration_fvmr.FVMRConfig", "AutoModel": "modeling_fvmr.FVMRModel",
    }
    # the weights went through the LFS batch API and a PUT, the small files inline in the commit
    entries = hub.file_entries("model", repo_id)
    assert entries["model.safetensors"]["lfs"] and not entries["config.json"]["lfs"]
    assert f"POST /{repo_id}.git/info/lfs/objects/batch" in hub.requests
    assert f"PUT /lfs-upload/{entries['model.safetensors']['sha256']}" in hub.requests


def test_pushed_card_carries_the_metrics_and_no_token(hub, pushed_model):
    files = hub.files("model", pushed_model["repo_id"])
    card = ModelCard(files["README.md"].decode())
    evaluation = json.loads(files["eval_results.json"])
    assert {result.metric_name: result.metric_value for result in card.data.eval_results} == evaluation["metrics"]["student"]
    assert not any(TOKEN.encode() in content for content in files.values())
    assert TOKEN not in pushed_model["output"]


def test_push_sets_the_cards_datasets_base_model_and_language(hub, model_dir, tmp_path):
    folder = copy_folder(model_dir, tmp_path / "tagged-fvmr")
    repo_id = f"{USER}/tagged-fvmr"
    result = fvmr_cli(hub, [
        "push", str(folder), repo_id, "--datasets", f"{USER}/charades-sta", f"{USER}/my-corpus",
        "--base-model", f"{USER}/tiny-fvmr", "--language", "en",
    ], tmp_path / "client")
    assert_succeeded(result)
    metadata = ModelCard(hub.files("model", repo_id)["README.md"].decode()).data.to_dict()
    assert metadata["datasets"] == [f"{USER}/charades-sta", f"{USER}/my-corpus"]
    assert (metadata["base_model"], metadata["language"]) == (f"{USER}/tiny-fvmr", ["en"])
    with pytest.raises(ValueError, match=r"Card options \['language'\] need the generated card: drop --no-card"):
        push_model_folder(folder, repo_id, token=TOKEN, write_card=False, language="en")


def test_load_with_the_package_gives_identical_outputs(hub, pushed_model, model_dir, reference, tmp_path):
    output = tmp_path / "scores.safetensors"
    inputs = model_dir.parent / "inputs.json"
    result = run(hub, [str(CLIENT), "load-model", "package", pushed_model["repo_id"], "", str(inputs), str(output)], tmp_path, token=None)
    assert_succeeded(result)
    loaded = load_file(output)
    assert loaded.keys() == reference.keys()
    for name, tensor in reference.items():
        assert torch.equal(loaded[name], tensor), name


def test_load_without_the_package_gives_identical_outputs(hub, pushed_model, model_dir, reference, tmp_path):
    output = tmp_path / "scores.safetensors"
    inputs = model_dir.parent / "inputs.json"
    args = [str(CLIENT), "load-model", "remote-code", pushed_model["repo_id"], "", str(inputs), str(output)]
    result = run(hub, args, tmp_path, token=None, isolated=True)
    assert_succeeded(result)
    classes = json.loads(result.stdout.strip().splitlines()[-1])
    assert classes["model"].startswith("transformers_modules.") and classes["model"].endswith(".modeling_fvmr")
    assert classes["processor"].startswith("transformers_modules.") and classes["processor"].endswith(".processing_fvmr")
    loaded = load_file(output)
    for name, tensor in reference.items():
        assert torch.equal(loaded[name], tensor), name


def test_second_push_and_revision_pin(hub, pushed_model, model_dir, reference, tmp_path):
    """Push changed weights to a new branch, then to main; the first commit still loads by its sha."""
    repo_id, first_sha = pushed_model["repo_id"], pushed_model["sha"]
    model = FVMRModel.from_pretrained(model_dir)
    with torch.no_grad():
        model.moment_projection.weight.add_(1.0)
    changed = copy_folder(model_dir, tmp_path / "changed")
    model.save_pretrained(changed)
    result = run(hub, [str(CLIENT), "push-model", str(changed), repo_id, "experiment", ""], tmp_path / "push")
    assert_succeeded(result)
    branch_sha, main_sha = result.stdout.split()
    assert hub.commits("model", repo_id, "experiment")[:2] == [branch_sha, first_sha]  # branched from main
    assert hub.commits("model", repo_id)[:2] == [main_sha, first_sha] and main_sha != branch_sha
    for revision in ("main", "experiment"):
        assert hub.files("model", repo_id, revision)["model.safetensors"] == (changed / "model.safetensors").read_bytes()

    output = tmp_path / "scores.safetensors"
    inputs = model_dir.parent / "inputs.json"
    assert_succeeded(run(hub, [str(CLIENT), "load-model", "package", repo_id, first_sha, str(inputs), str(output)], tmp_path, token=None))
    loaded = load_file(output)
    assert torch.equal(loaded["student_scores"], reference["student_scores"])
    assert torch.equal(loaded["weights.moment_projection.weight"], reference["weights.moment_projection.weight"])


def test_transformers_push_to_hub_uploads_the_same_files(hub, model_dir, tmp_path):
    """transformers' own `push_to_hub` of the loaded model and processor puts the folder's files on
    the Hub byte for byte (the load tests above show those files load with and without the package)."""
    repo_id = f"{USER}/tiny-fvmr-transformers"
    assert_succeeded(run(hub, [str(CLIENT), "push-with-transformers", str(model_dir), repo_id], tmp_path))
    files = hub.files("model", repo_id)
    for name in (
        "model.safetensors", "config.json", "configuration_fvmr.py", "modeling_fvmr.py", "temporal_map.py",
        "processing_fvmr.py", "semantic_roles.py", "tokenizer.json", "processor_config.json",
    ):
        assert files[name] == (model_dir / name).read_bytes(), name
    # a re-saved tokenizer config gains transformers' loading notes ("is_local", ...), nothing else changes
    saved = json.loads((model_dir / "tokenizer_config.json").read_text())
    assert json.loads(files["tokenizer_config.json"]).items() >= saved.items()
    assert hub.file_entries("model", repo_id)["model.safetensors"]["lfs"]


# ------------------------------------------------------------------------------------------ errors


def test_push_without_a_token_says_how_to_give_one(hub, model_dir, tmp_path):
    result = fvmr_cli(hub, ["push", str(model_dir), f"{USER}/no-token"], tmp_path, token=None)
    assert result.returncode == 1
    assert "error: No Hugging Face token: pass --token, set the HF_TOKEN environment variable" in result.stderr
    assert not hub.storage.exists("model", f"{USER}/no-token")


def test_a_rejected_token_is_reported_without_echoing_it(hub, model_dir, tmp_path):
    wrong = "hf_WRONGtokenAlsoSecret987654321"
    result = fvmr_cli(hub, ["push", str(model_dir), f"{USER}/wrong-token", "--token", wrong], tmp_path)
    assert result.returncode == 1
    assert f"error: The Hugging Face token was rejected by {hub.endpoint}" in result.stderr
    assert wrong not in result.stdout + result.stderr and TOKEN not in result.stdout + result.stderr


def test_malformed_repo_id_is_refused(model_dir):
    with pytest.raises(ValueError, match=r"Invalid repo id 'me/two/slashes': .* Expected 'namespace/name'"):
        push_model_folder(model_dir, "me/two/slashes", token=TOKEN)
    with pytest.raises(ValueError, match=r"Invalid repo id 'me/bad name!'"):
        push_model_folder(model_dir, "me/bad name!", token=TOKEN)


def test_model_folder_without_safetensors_weights_is_refused(model_dir, tmp_path):
    folder = copy_folder(model_dir, tmp_path / "model")
    (folder / "model.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no model weights \(model.safetensors\): save the model with"):
        push_model_folder(folder, f"{USER}/x", token=TOKEN)
    torch.save({}, folder / "pytorch_model.bin")
    with pytest.raises(ValueError, match=r"holds pickle weights \['pytorch_model.bin'\]: only safetensors"):
        model_folder_files(folder)


def test_model_folder_without_model_code_or_tokenizer_is_refused(model_dir, tmp_path):
    folder = copy_folder(model_dir, tmp_path / "model")
    (folder / "tokenizer.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"has no tokenizer.json: save the processor"):
        model_folder_files(folder)
    (folder / "temporal_map.py").unlink()
    with pytest.raises(FileNotFoundError, match=r"lacks temporal_map.py, model code that `trust_remote_code=True` users"):
        model_folder_files(folder)


def test_a_file_holding_the_token_is_not_pushed(model_dir, tmp_path):
    folder = copy_folder(model_dir, tmp_path / "model")
    (folder / "training_args.json").write_text(json.dumps({"epochs": 2, "hub_token": TOKEN}))
    with pytest.raises(ValueError, match=r"training_args.json contains your Hugging Face token") as error:
        push_model_folder(folder, f"{USER}/leaky", token=TOKEN)
    assert TOKEN not in str(error.value)


# ------------------------------------------------------------------------------------------ datasets

DATASET_CARD = """---
license: cc-by-nc-4.0
pretty_name: Tiny Charades-STA
configs:
- config_name: annotations
  data_files:
  - split: train
    path: annotations/train/*.arrow
- config_name: features
  data_files:
  - split: train
    path: features/train/*.arrow
---

# Tiny Charades-STA

Built by the fvmr test suite: {rows} queries over {videos} videos.
"""


@pytest.fixture(scope="module")
def dataset_dir(tmp_path_factory) -> Path:
    """A built dataset folder as the builders write it: annotations/, features/ and README.md."""
    folder = tmp_path_factory.mktemp("datasets") / "tiny_charades"
    annotation_features = Features(
        {
            "video_id": Value("string"), "duration": Value("float32"), "start": Value("float32"), "end": Value("float32"),
            "sentence": Value("string"), "tokens": List(Value("string")), "tree": tree_features(),
        }
    )
    video_features = Features({"video_id": Value("string"), "duration": Value("float32"), "features": Array2D((None, 4), "float32")})
    sentences = ["a person opens the door", "a man sits on the sofa", "the woman reads a book", "a child runs outside"]
    rng = np.random.default_rng(0)
    annotations, features = {}, {}
    for index, split in enumerate(("train", "validation", "test")):
        videos = [f"{split}{number}" for number in range(2)]
        rows = [
            {"video_id": videos[row % 2], "duration": 20.5, "start": 1.25 * row, "end": 1.25 * row + 3.5,
             "sentence": sentence, "tokens": sentence.split(), "tree": tree_of(sentence)}
            for row, sentence in enumerate(sentences[index:] + sentences[:index])
        ]
        annotations[split] = Dataset.from_list(rows, features=annotation_features)
        features[split] = Dataset.from_list(
            [{"video_id": video, "duration": 20.5, "features": rng.standard_normal((5 + number, 4)).astype(np.float32)}
             for number, video in enumerate(videos)],
            features=video_features,
        )
    DatasetDict(annotations).save_to_disk(folder / "annotations")
    DatasetDict(features).save_to_disk(folder / "features")
    (folder / "README.md").write_text(DATASET_CARD.format(rows=12, videos=6))
    return folder


def test_dataset_push_then_load_dataset_gives_identical_rows(hub, dataset_dir, tmp_path):
    repo_id = f"{USER}/tiny-charades"
    result = fvmr_cli(hub, ["push-dataset", str(dataset_dir), repo_id, "--private"], tmp_path / "push", verbose=True)
    assert_succeeded(result)
    assert TOKEN not in result.stdout + result.stderr
    assert f"Pushed {dataset_dir} to the dataset repository {repo_id} (commit {hub.commits('dataset', repo_id)[0]})." in result.stdout
    assert hub.storage.load("dataset", repo_id)["private"]
    output = tmp_path / "rows.json"
    assert_succeeded(run(hub, [str(CLIENT), "load-dataset", repo_id, str(output)], tmp_path / "load"))
    loaded = json.loads(output.read_text())
    for config_name in ("annotations", "features"):
        local = load_from_disk(dataset_dir / config_name)
        assert set(loaded[config_name]) == {"train", "validation", "test"}
        for split in local:
            assert loaded[config_name][split] == local[split].to_list(), (config_name, split)
            assert loaded[f"{config_name}_features"][split] == repr(local[split].features)

    card = hub.files("dataset", repo_id)["README.md"].decode()
    metadata = ModelCard(card).data.to_dict()
    configs = {config["config_name"]: config for config in metadata["configs"]}
    assert set(configs) == {"annotations", "features"}
    assert configs["annotations"].get("default") is True
    assert {entry["split"]: entry["path"] for entry in configs["features"]["data_files"]} == {
        split: f"features/{split}-*" for split in ("train", "validation", "test")
    }
    assert metadata["license"] == "cc-by-nc-4.0" and metadata["pretty_name"] == "Tiny Charades-STA"
    assert "Built by the fvmr test suite: 12 queries over 6 videos." in card


def test_build_dataset_can_push_what_it_built(hub, tmp_path):
    repo_id = f"{USER}/tiny-synthetic"
    folder = tmp_path / "synthetic"
    result = fvmr_cli(hub, [
        "build-dataset", "synthetic", "--output", str(folder), "--num-videos", "train=3,validation=2,test=2",
        "--feature-dim", "8", "--push-to-hub", repo_id,
    ], tmp_path / "build")
    assert_succeeded(result)
    assert f"to the dataset repository {repo_id}" in result.stdout and TOKEN not in result.stdout + result.stderr
    card = DatasetCard.load(folder / "README.md").data
    assert (card.task_categories, card.size_categories) == (["video-text-to-text"], "n<1K")
    assert [config.get("default") for config in card.configs] == [True, None]  # annotations, then features
    output = tmp_path / "rows.json"
    assert_succeeded(run(hub, [str(CLIENT), "load-dataset", repo_id, str(output)], tmp_path / "load"))
    loaded = json.loads(output.read_text())
    for config_name in ("annotations", "features"):
        local = load_from_disk(folder / config_name)
        assert {split: rows for split, rows in loaded[config_name].items()} == {split: local[split].to_list() for split in local}
