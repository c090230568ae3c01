"""The "video-moment-retrieval" pipeline on video files (issue 13): a saved model folder whose config
records the pixel-grid recipe, with the package, and under `python -I` without it (trust_remote_code),
from the folder and through the Hub loopback server."""

from __future__ import annotations

import json
import ast
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
from transformers import pipeline

from modeling_fvmr import FVMRConfig, FVMRModel, FVMRProcessor, VideoMomentRetrievalPipeline, build_word_tokenizer
from modeling_fvmr.video_features import PIXEL_GRID, PixelGridEncoder, VideoFeatureRecipe, extract_video_features

from hub_server import HubServer
from test_remote_code import WITHOUT_FVMR
from video_files import colour_switch, time_coded

REPO_ROOT = Path(__file__).resolve().parents[1]
QUERIES = ["the screen turns blue", "a red light shines", "the colour changes slowly"]
RECIPE = VideoFeatureRecipe(PIXEL_GRID, frames_per_second=2, clip_seconds=0.5, embedding="mean RGB of a 8x8 grid", feature_dim=192)
TOKEN = "hf_fvmrVIDEOtestTokenDoNotLeak01234567"
USER = "fvmr-video-tester"


def save_video_model(folder: Path, recipe: VideoFeatureRecipe | None = RECIPE, seed: int = 0, with_pipeline: bool = True) -> Path:
    """A tiny FVMRModel on 192-d pixel-grid features (recording `recipe`), saved with its processor by
    `VideoMomentRetrievalPipeline.save_pretrained` (custom_pipelines + the pipeline code), or as `fvmr
    train` exports it (`save_pretrained` of model and processor) when `with_pipeline` is False."""
    torch.manual_seed(seed)
    tokenizer = build_word_tokenizer(QUERIES)
    config = FVMRConfig(
        video_feature_dim=192, hidden_size=32, joint_dim=16, vocab_size=len(tokenizer), word_embedding_dim=8,
        lstm_hidden_size=8, semantic_dim=8, fusion_hidden_size=8,
        video_features=recipe.to_dict() if recipe is not None else None,
    )
    model, processor = FVMRModel(config).eval(), FVMRProcessor.from_config(tokenizer, config)
    if with_pipeline:
        VideoMomentRetrievalPipeline(model=model, processor=processor).save_pretrained(folder)
    else:
        model.save_pretrained(folder)
        processor.save_pretrained(folder)
    return folder


def spans(moments: list[dict]) -> list[tuple[float, float]]:
    return [(moment["start"], moment["end"]) for moment in moments]


@pytest.fixture(scope="module")
def video_dir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("videos")
    time_coded(folder / "coded.mp4")  # every clip different: distinct scores
    colour_switch(folder / "switch.mp4", 2.5, 4.0)
    return folder


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_video_model(tmp_path_factory.mktemp("models") / "pixel-grid-fvmr")


@pytest.fixture(scope="module")
def finder(model_dir):
    """The installed package's pipeline on the saved folder (see test_pipeline_task_name_alone_loads_the_folder)."""
    return pipeline("video-moment-retrieval", model=str(model_dir), device="cpu", pipeline_class=VideoMomentRetrievalPipeline)


def test_saved_folder_carries_custom_pipelines_and_the_video_code(model_dir):
    config = json.loads((model_dir / "config.json").read_text())
    assert config["custom_pipelines"] == {
        "video-moment-retrieval": {"impl": "pipeline_fvmr.VideoMomentRetrievalPipeline", "pt": ["AutoModel"]},
    }
    assert config["video_features"] == RECIPE.to_dict()
    assert {"pipeline_fvmr.py", "video_features.py", "processing_fvmr.py", "modeling_fvmr.py"} <= set(os.listdir(model_dir))
    for name in ("pipeline_fvmr.py", "video_features.py"):  # relative imports only: nothing of the package
        imported = {node.module if isinstance(node, ast.ImportFrom) else alias.name
                    for node in ast.walk(ast.parse((model_dir / name).read_text()))
                    if isinstance(node, (ast.Import, ast.ImportFrom)) and not getattr(node, "level", 0)
                    for alias in node.names}
        assert not {module.split(".")[0] for module in imported} & {"modeling_fvmr", "datasets_scripts", "hub_cards"}


def test_pipeline_task_name_alone_loads_a_plain_saved_folder(model_dir, video_dir, finder, tmp_path):
    """`pipeline("video-moment-retrieval", model=folder)` with fvmr installed, on a folder written by
    `model.save_pretrained` + `processor.save_pretrained` (what `fvmr train` exports: no custom_pipelines,
    which would make transformers demand trust_remote_code=True even for the registered task)."""
    plain_dir = save_video_model(tmp_path / "plain", with_pipeline=False)  # same seed: the same weights
    assert "custom_pipelines" not in json.loads((plain_dir / "config.json").read_text())
    plain = pipeline("video-moment-retrieval", model=str(plain_dir), device="cpu")
    video = str(video_dir / "coded.mp4")
    assert plain(QUERIES[0], video=video) == finder(QUERIES[0], video=video)


def test_pipeline_on_a_video_file_equals_the_pipeline_on_its_extracted_features(finder, video_dir):
    video = video_dir / "coded.mp4"
    extracted = extract_video_features(video, PixelGridEncoder(), RECIPE)
    assert extracted.features.shape == (12, 192) and extracted.duration == pytest.approx(6.0, abs=1e-6)
    from_file = finder(QUERIES[0], video=str(video), top_k=5)
    from_array = finder(QUERIES[0], video_features=extracted.features, duration=extracted.duration, top_k=5)
    assert from_file == from_array
    assert len(from_file) == 5
    several = finder(QUERIES, video=str(video), top_k=5)
    assert several[0] == from_file and len(several) == len(QUERIES)


def test_scores_are_the_sigmoid_of_the_student_logits(finder, model_dir, video_dir):
    extracted = extract_video_features(video_dir / "coded.mp4", PixelGridEncoder(), RECIPE)
    model, processor = FVMRModel.from_pretrained(model_dir).eval(), FVMRProcessor.from_pretrained(model_dir)
    batch = processor([QUERIES[1]], video_features=[extracted.features], durations=[extracted.duration])
    with torch.no_grad():
        output = model(**batch)
    logits, proposal_spans = output.student_scores[0], output.proposal_spans[0]
    moments = finder(QUERIES[1], video=str(video_dir / "coded.mp4"), top_k=4, nms_threshold=1.0)  # no NMS: the 4 best
    for moment in moments:
        assert 0.0 < moment["score"] < 1.0
        (index,) = torch.nonzero(
            torch.isclose(proposal_spans, torch.tensor([moment["start"], moment["end"]]), atol=1e-5).all(-1)
        ).flatten().tolist()
        assert moment["score"] == pytest.approx(torch.sigmoid(logits[index]).item(), abs=1e-6)
    best = torch.sigmoid(torch.topk(logits, 4).values)
    np.testing.assert_allclose([moment["score"] for moment in moments], best.numpy(), atol=1e-6)


def test_a_list_of_video_query_dicts_gives_one_result_per_dict(finder, video_dir):
    coded, switch = str(video_dir / "coded.mp4"), str(video_dir / "switch.mp4")
    results = finder([{"video": coded, "query": QUERIES[0]}, {"video": switch, "query": QUERIES[1]},
                      {"video": coded, "query": QUERIES[2]}], top_k=3)
    assert len(results) == 3 and all(len(moments) == 3 for moments in results)
    assert results[0] == finder(QUERIES[0], video=coded, top_k=3)
    assert results[1] == finder(QUERIES[1], video=switch, top_k=3)
    assert results[2] == finder(QUERIES[2], video=coded, top_k=3)
    assert all(moment["end"] <= 4.0 + 1e-6 for moment in results[1])  # the 4 s video's own duration


def test_a_model_without_a_recipe_says_it_cannot_read_video_files(tmp_path, video_dir):
    folder = save_video_model(tmp_path / "no-recipe", recipe=None)
    finder = pipeline("video-moment-retrieval", model=str(folder), device="cpu", pipeline_class=VideoMomentRetrievalPipeline)
    with pytest.raises(ValueError, match="trained on precomputed clip features"):
        finder(QUERIES[0], video=str(video_dir / "coded.mp4"))
    assert len(finder(QUERIES[0], video_features=np.zeros((8, 192), np.float32), duration=4.0, top_k=2)) == 2


def test_video_and_features_are_exclusive(finder, video_dir):
    with pytest.raises(ValueError, match="exactly one of video"):
        finder(QUERIES[0], video=str(video_dir / "coded.mp4"), video_features=np.zeros((8, 192), np.float32))
    with pytest.raises(ValueError, match="read from the video file"):
        finder(QUERIES[0], video=str(video_dir / "coded.mp4"), duration=6.0)


# ------------------------------------------------------------------------------------------ without the package


CLIENT = WITHOUT_FVMR + textwrap.dedent(
    """
    from transformers import pipeline

    model, queries, video = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
    finder = pipeline(model=model, trust_remote_code=True, device="cpu")
    print(json.dumps({"class": type(finder).__module__, "moments": finder(queries, video=video, top_k=5)}))
    """
)


def run_without_the_package(model: str, video: Path, cwd: Path, env: dict) -> dict:
    result = subprocess.run([sys.executable, "-I", "-c", CLIENT, model, json.dumps(QUERIES), str(video)],
                            cwd=cwd, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_remote_code_pipeline_on_a_video_file_without_the_package(model_dir, video_dir, finder, tmp_path):
    env = {"PATH": os.environ["PATH"], "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    loaded = run_without_the_package(str(model_dir), video_dir / "coded.mp4", tmp_path, env)
    assert loaded["class"].startswith("transformers_modules.") and loaded["class"].endswith(".pipeline_fvmr")
    expected = finder(QUERIES, video=str(video_dir / "coded.mp4"), top_k=5)
    assert [spans(moments) for moments in loaded["moments"]] == [spans(moments) for moments in expected]
    np.testing.assert_allclose([[m["score"] for m in ms] for ms in loaded["moments"]],
                               [[m["score"] for m in ms] for ms in expected], atol=1e-6)


def test_recipe_and_pipeline_through_the_hub_loopback(model_dir, video_dir, finder, tmp_path):
    """`fvmr push` of the folder; the Hub copy records the backbone in config.json and the card, and
    `pipeline(model=repo_id, trust_remote_code=True)` without the package finds the same moments."""
    import shutil

    folder = Path(shutil.copytree(model_dir, tmp_path / "push" / model_dir.name))  # the push writes README.md
    repo_id = f"{USER}/pixel-grid-fvmr"
    server = HubServer(tmp_path / "hub_storage", token=TOKEN, user=USER).start()
    try:
        env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "HF_HOME": str(tmp_path / "hf_home"),
               "HF_ENDPOINT": server.endpoint, "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1"}
        pushed = subprocess.run([sys.executable, "-m", "modeling_fvmr.cli", "push", str(folder), repo_id], cwd=tmp_path,
                                env={**env, "HF_TOKEN": TOKEN, "PYTHONPATH": str(REPO_ROOT)}, capture_output=True, text=True,
                                timeout=300)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        files = server.files("model", repo_id)
        assert {"pipeline_fvmr.py", "video_features.py"} <= set(files)
        assert json.loads(files["config.json"])["video_features"] == RECIPE.to_dict()
        assert f"backbone `{PIXEL_GRID}`" in files["README.md"].decode()
        loaded = run_without_the_package(repo_id, video_dir / "coded.mp4", tmp_path, env)
        assert server.unknown_routes == [], server.unknown_routes
    finally:
        server.stop()
    expected = finder(QUERIES, video=str(video_dir / "coded.mp4"), top_k=5)
    assert [spans(moments) for moments in loaded["moments"]] == [spans(moments) for moments in expected]
