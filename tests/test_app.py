"""See the moments (issue 17): the timeline and recall figures, `fvmr search / evaluate --plot`, the
ground truth an index keeps, the Gradio app (its `search` API through gradio_client, and a real
headless Chromium on the page), `fvmr app` errors and the Space-ready export."""

from __future__ import annotations

import json
import os
import runpy

import numpy as np
import pytest
import torch

from datasets_scripts.synthetic import write_synthetic_world
from modeling_fvmr import FVMRConfig, FVMRModel, FVMRProcessor, MomentIndex, build_word_tokenizer
from modeling_fvmr.app.gradio_app import ALL_VIDEOS, MomentSearchApp, build_app, launch, load_index
from modeling_fvmr.app.plots import best_score_curve, draw_timeline, new_figure, recall_figure, search_figure
from modeling_fvmr.data import load_moment_retrieval
from modeling_fvmr.search import AnnotatedMoment, search_json
from modeling_fvmr.video_features import probe_video

from browser import free_port, headless_chromium, require_browser, search_in_page
from test_video_cli import assert_one_error_line, run_main
from test_video_remote import save_video_model
from video_files import colour_switch, time_coded


def save_tiny_model(folder, sentences, seed: int) -> str:
    torch.manual_seed(seed)
    tokenizer = build_word_tokenizer(sentences)
    config = FVMRConfig(video_feature_dim=8, hidden_size=8, joint_dim=8, vocab_size=len(tokenizer), word_embedding_dim=4,
                        lstm_hidden_size=4, semantic_dim=4, fusion_hidden_size=4)  # fmt: skip
    FVMRModel(config).save_pretrained(folder)
    FVMRProcessor.from_config(tokenizer, config).save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """A 4-video synthetic test split, a tiny model (and another one), and `fvmr index MODEL DATA`."""
    root = tmp_path_factory.mktemp("app")
    write_synthetic_world(root / "data", num_videos={"test": 4}, queries_per_video=2, feature_dim=8, seed=0)
    annotations = load_moment_retrieval(root / "data")[0]["test"]
    sentences = list(annotations["sentence"])
    model = save_tiny_model(root / "model", sentences, seed=0)
    other = save_tiny_model(root / "other", sentences, seed=1)
    from modeling_fvmr.cli import main

    assert main(["index", model, str(root / "data"), "--split", "test", "--output-dir", str(root / "index")]) == 0
    index = MomentIndex.load(root / "index", FVMRModel.from_pretrained(model), FVMRProcessor.from_pretrained(model))
    return {"root": root, "model": model, "other": other, "index_dir": root / "index", "index": index, "annotations": annotations}


# ------------------------------------------------------------------------------------------ figures


def test_best_score_curve_by_hand():
    spans = np.array([[0.0, 4.0], [2.0, 6.0], [4.0, 10.0], [12.0, 14.0]])
    edges, values = best_score_curve(spans, np.array([1.0, 3.0, 2.0, 5.0]))
    assert edges.tolist() == [0.0, 2.0, 4.0, 6.0, 10.0, 12.0, 14.0]
    # [0,2]: only [0,4] -> 1; [2,4]: [0,4] and [2,6] -> 3; [4,6]: [2,6] and [4,10] -> 3; [6,10]: [4,10] -> 2;
    # [10,12]: nothing covers it; [12,14]: 5
    np.testing.assert_array_equal(values, [1.0, 3.0, 3.0, 2.0, np.nan, 5.0])


def test_timeline_highlights_the_top_moments_and_the_ground_truth():
    figure = new_figure()
    axes = figure.axes[0]
    spans, scores = np.array([[0.0, 4.0], [2.0, 6.0], [4.0, 10.0]]), np.array([1.0, 3.0, 2.0])
    truth = [AnnotatedMoment(3.0, 7.0, "the query")]
    other = [AnnotatedMoment(8.0, 9.5, "another query")]
    draw_timeline(axes, 12.0, spans, scores, [(1, 2.0, 6.0), (3, 4.0, 10.0)], truth, title="q in v", other_annotations=other)
    patches = {patch.get_gid(): patch for patch in axes.patches if patch.get_gid()}
    assert sorted(patches) == ["best-score", "ground-truth-0", "moment-1", "moment-3", "other-0"]
    for gid, (start, end) in {"moment-1": (2.0, 6.0), "moment-3": (4.0, 10.0), "ground-truth-0": (3.0, 7.0), "other-0": (8.0, 9.5)}.items():
        assert (patches[gid].get_x(), patches[gid].get_x() + patches[gid].get_width()) == pytest.approx((start, end)), gid
    # the top moments span the whole height; the ground truth is a band along the bottom (axes coordinates)
    assert (patches["moment-1"].get_y(), patches["moment-1"].get_height()) == (0.0, 1.0)
    assert (patches["ground-truth-0"].get_y(), patches["ground-truth-0"].get_height()) == pytest.approx((0.0, 0.06))
    curve = patches["best-score"].get_data()
    assert curve.edges.tolist() == [0.0, 2.0, 4.0, 6.0, 10.0] and curve.values.tolist() == [1.0, 3.0, 3.0, 2.0]
    assert [text.get_text() for text in axes.texts] == ["#1", "#3"]
    assert [text.get_position()[0] for text in axes.texts] == [4.0, 7.0]  # the rank sits over its span
    assert axes.get_xlim() == (0.0, 12.0) and axes.get_xlabel() == "time in the video (s)" and axes.get_title(loc="left") == "q in v"
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert legend == ["best proposal covering t", "top moments", "ground truth", "annotated for other queries"]


def test_recall_figure_draws_each_scorer_against_the_threshold():
    results = {
        "student": {"R@1,IoU=0.3": 50.0, "R@1,IoU=0.1": 60.0, "R@5,IoU=0.1": 90.0, "R@5,IoU=0.3": 80.0, "mIoU": 40.0},
        "teacher": {"R@1,IoU=0.1": 70.0, "R@1,IoU=0.3": 55.0},
        "corpus": {"VCMR R@1,IoU=0.3": 20.0, "VCMR R@1,IoU=0.5": 10.0, "VR R@1": 30.0},
    }
    axes = recall_figure(results).axes[0]
    lines = {line.get_label(): (list(line.get_xdata()), list(line.get_ydata())) for line in axes.lines}
    assert lines == {
        "student R@1": ([0.1, 0.3], [60.0, 50.0]),
        "student R@5": ([0.1, 0.3], [90.0, 80.0]),
        "teacher R@1": ([0.1, 0.3], [70.0, 55.0]),
        "corpus VCMR R@1": ([0.3, 0.5], [20.0, 10.0]),
    }
    assert axes.get_ylabel() == "recall (% of queries)" and "IoU threshold" in axes.get_xlabel()
    with pytest.raises(ValueError, match="No R@n,IoU=m metrics"):
        recall_figure({"student": {"mIoU": 3.0}})


# ------------------------------------------------------------------------------------------ index ground truth


def test_index_keeps_the_dataset_ground_truth_and_old_folders_still_load(world, tmp_path):
    index, annotations = world["index"], world["annotations"]
    expected: dict[str, list] = {}
    for row in annotations:
        expected.setdefault(row["video_id"], []).append(AnnotatedMoment(row["start"], row["end"], row["sentence"]))
    assert index.ground_truth == expected and len(expected) == 4
    # a folder saved before ground truth existed (no key) loads with none
    old = tmp_path / "old"
    old.mkdir()
    for path in world["index_dir"].iterdir():
        old.joinpath(path.name).write_bytes(path.read_bytes())
    metadata = json.loads((old / "index.json").read_text())
    del metadata["ground_truth"], metadata["checksums"]  # as format 2 wrote it (no ground truth, no checksums)
    metadata["format_version"] = 2
    (old / "index.json").write_text(json.dumps(metadata))
    assert MomentIndex.load(old, index.model, index.processor).ground_truth == {}
    metadata["ground_truth"] = {"nope": [{"start": 0.0, "end": 1.0, "sentence": "x"}]}
    (old / "index.json").write_text(json.dumps(metadata))
    with pytest.raises(ValueError, match=r"index.json: bad ground_truth \(Ground truth for 'nope', which is not in the index"):
        MomentIndex.load(old, index.model, index.processor)
    with pytest.raises(ValueError, match="need 0 <= start < end <= duration"):
        index.add_ground_truth({index.video_ids[0]: [AnnotatedMoment(5.0, 2.0, "backwards")]})


# ------------------------------------------------------------------------------------------ --plot


def test_search_plot_draws_the_top_videos_and_keeps_the_json(world, tmp_path, capsys):
    index, query = world["index"], world["annotations"][0]["sentence"]
    plot = tmp_path / "timeline.png"
    code, out, err = run_main(capsys, "search", world["index_dir"], query, "--top-k", 4, "--json", "--plot", plot)
    assert code == 0, err
    payload = json.loads(out)
    assert payload == search_json(index, [query], top_k=4) and plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    code, _, err = run_main(capsys, "search", world["index_dir"], query, "--plot", plot)
    assert code == 1
    assert_one_error_line(err, "search", str(plot), "already exists", "--overwrite")
    assert run_main(capsys, "search", world["index_dir"], query, "--plot", plot, "--overwrite")[0] == 0
    # the figure: one row per distinct video of the top moments, each moment highlighted where it is
    figure = search_figure(index, payload)
    videos = list(dict.fromkeys(moment["video_id"] for moment in payload[0]["moments"]))
    assert [axes.get_title(loc="left") for axes in figure.axes] == [
        f"{query!r} in {video} ({index.durations[index.video_ids.index(video)]:.1f} s)" for video in videos
    ]
    for axes, video in zip(figure.axes, videos):
        spans = [(patch.get_gid(), patch.get_x(), patch.get_x() + patch.get_width()) for patch in axes.patches
                 if (patch.get_gid() or "").startswith("moment-")]  # fmt: skip
        expected = [(f"moment-{rank}", m["start"], m["end"]) for rank, m in enumerate(payload[0]["moments"], 1) if m["video_id"] == video]
        assert [gid for gid, *_ in spans] == [gid for gid, *_ in expected]
        np.testing.assert_allclose([span[1:] for span in spans], [span[1:] for span in expected], rtol=1e-6)
        truth = [(p.get_x(), p.get_x() + p.get_width()) for p in axes.patches if (p.get_gid() or "").startswith("ground-truth-")]
        annotated = index.ground_truth[video]  # the query's own moments; all of them when none has its sentence
        wanted = [(t.start, t.end) for t in annotated if t.sentence == query] or [(t.start, t.end) for t in annotated]
        np.testing.assert_allclose(truth, wanted, rtol=1e-6)


def test_evaluate_plot_writes_recall_curves_and_refuses_an_existing_file_first(world, tmp_path, capsys):
    plot = tmp_path / "recall.png"
    code, out, err = run_main(capsys, "evaluate", world["model"], world["root"] / "data", "--plot", plot)
    assert code == 0, err
    assert f"Plot: {plot}" in out and plot.read_bytes()[:4] == b"\x89PNG"
    code, out, err = run_main(capsys, "evaluate", world["model"], world["root"] / "data", "--plot", plot)
    assert code == 1 and "| student |" not in out  # refused before evaluating
    assert_one_error_line(err, "evaluate", "already exists")


# ------------------------------------------------------------------------------------------ the app


@pytest.fixture(scope="module")
def served(world):
    """The app over the index, served on 127.0.0.1 at a free port; closed at the end."""
    index, sources = load_index(world["model"], str(world["index_dir"]))
    blocks = build_app(MomentSearchApp(index, sources))
    port = free_port()
    launch(blocks, port=port, block=False)
    yield {"url": f"http://127.0.0.1:{port}/", "index": index}
    blocks.close()


def test_app_search_endpoint_through_gradio_client_equals_moment_index_search(served, world):
    from gradio_client import Client

    index, query = served["index"], world["annotations"][1]["sentence"]
    client = Client(served["url"], verbose=False)
    assert list(client.view_api(return_format="dict", print_info=False)["named_endpoints"]) == ["/search"]
    found = client.predict(query, ALL_VIDEOS, 4, api_name="/search")
    expected = index.search(query, top_k=4)
    assert found == search_json(index, [query], top_k=4)
    assert [(m["video_id"], m["start"], m["end"], m["score"]) for m in found[0]["moments"]] == [
        (m.video_id, m.start, m.end, m.score) for m in expected
    ]
    video = index.video_ids[2]
    one = client.predict(query, video, 2, api_name="/search")[0]["moments"]
    assert [(m["video_id"], m["start"], m["end"]) for m in one] == [(m.video_id, m.start, m.end) for m in index.search(query, 2, video_id=video)]
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="Type a query"):
        client.predict("   ", ALL_VIDEOS, 3, api_name="/search")
    with pytest.raises(AppError, match=r"Unknown video 'no-such-video': the index holds 4 videos"):
        client.predict(query, "no-such-video", 3, api_name="/search")
    unknown = client.predict("zzyzx qwxv", ALL_VIDEOS, 2, api_name="/search")  # no word of the vocabulary
    assert unknown == search_json(index, ["zzyzx qwxv"], top_k=2) and unknown[0]["unknown_query"] is True
    assert "unknown_query" not in found[0]
    assert app_line(served, unknown).startswith("**No word of “zzyzx qwxv” is in the model's vocabulary")
    assert "vocabulary" not in app_line(served, found)


def app_line(served, payload: list[dict]) -> str:
    """The selection line the app shows under the ranked list for the first moment of `payload`."""
    return MomentSearchApp(served["index"], {}).show(payload)[2]


def test_app_in_headless_chromium_shows_the_ranked_list_and_the_timeline(served, world, tmp_path):
    require_browser()
    index, query = served["index"], world["annotations"][0]["sentence"]
    screenshot = tmp_path / "app.png"
    driver = headless_chromium()
    try:
        page = search_in_page(driver, served["url"], query, screenshot=screenshot)
    finally:
        driver.quit()
    print(f"\nbrowser screenshot: {screenshot}")
    expected = index.search(query, top_k=5)
    assert [row[:4] for row in page["rows"]] == [[str(rank), m.video_id, f"{m.start:.2f}".rstrip("0").rstrip("."), f"{m.end:.2f}".rstrip("0").rstrip(".")]
                                                 for rank, m in enumerate(expected, 1)]  # fmt: skip
    assert page["timeline_src"].startswith("data:image/png;base64,") and page["timeline_size"][0] > 300
    assert page["selection"].startswith(f"#1:") and expected[0].video_id in page["selection"]
    assert "No video file is known for this video" in page["selection"]
    assert screenshot.stat().st_size > 10_000


def test_app_built_from_video_files_plays_the_selected_moment(tmp_path):
    folder = tmp_path / "videos"
    folder.mkdir()
    time_coded(folder / "coded.mp4", duration=6.0)
    colour_switch(folder / "switch.mp4", 3.0, 6.0)
    model = save_video_model(tmp_path / "model")
    index, sources = load_index(str(model), None, str(folder))  # no --index: indexed at start
    assert sorted(index.video_ids) == ["coded", "switch"] and sources == {v: str(folder / f"{v}.mp4") for v in ("coded", "switch")}
    app = MomentSearchApp(index, sources, clip_dir=str(tmp_path / "clips"))
    payload = app.search("the screen turns blue", "switch", 3)
    moment = payload[0]["moments"][1]
    figure, clip, line = app.show(payload, row=1)
    assert line.startswith(f"**#2**: `switch` from {moment['start']:.2f} s to {moment['end']:.2f} s")
    assert probe_video(clip).duration == pytest.approx(moment["end"] - moment["start"], abs=0.15)
    assert app.table(payload)[1] == [2, "switch", round(moment["start"], 2), round(moment["end"], 2), round(moment["score"], 4)]
    assert figure.axes[0].get_xlim() == (0.0, 6.0)


def test_cli_app_errors_are_one_line(world, capsys):
    code, _, err = run_main(capsys, "app", world["other"], "--index", world["index_dir"])
    assert code == 1
    assert_one_error_line(err, "app", "was built by a different model")
    code, _, err = run_main(capsys, "app", world["model"])
    assert code == 1
    assert_one_error_line(err, "app", "Give an index (--index DIR")


def test_export_writes_a_space_that_runs_the_app(world, tmp_path, capsys):
    space = tmp_path / "space"
    code, out, err = run_main(capsys, "app", world["model"], "--index", world["index_dir"], "--export", space)
    assert code == 0, err
    assert sorted(os.listdir(space)) == ["README.md", "app.py", "index", "requirements.txt"]
    assert sorted(os.listdir(space / "index")) == ["index.json", "index.safetensors"]
    assert "fvmr[app]==0.1.0" in (space / "requirements.txt").read_text().splitlines()
    readme = (space / "README.md").read_text()
    assert "sdk: gradio" in readme and "shipped alongside in `index/` (4 videos" in readme
    code, _, err = run_main(capsys, "app", world["model"], "--index", world["index_dir"], "--export", space)
    assert code == 1
    assert_one_error_line(err, "app", "already exists", "--overwrite")
    # app.py as a Space runs it (not as __main__: no server here): the model id, the shipped index
    names = runpy.run_path(str(space / "app.py"), run_name="space")
    assert names["MODEL_ID"] == world["model"] and type(names["demo"]).__name__ == "Blocks"
    shipped, index = names["index"], world["index"]
    query = world["annotations"][3]["sentence"]
    assert shipped.ground_truth == index.ground_truth and shipped.search(query, top_k=3) == index.search(query, top_k=3)
