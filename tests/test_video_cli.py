"""The command line on video files (issue 13): `fvmr extract-features` (one process and two ranks),
`fvmr build-dataset custom --videos / --features EXTRACTED`, `fvmr index` on video files and `fvmr
search --json / --cut / --videos`. Extraction runs in subprocesses (`python -m modeling_fvmr.cli`, as
a user runs it); the other commands mostly in-process through `cli.main`."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
from transformers import pipeline

from datasets_scripts import build_dataset
from modeling_fvmr import FVMRModel, FVMRProcessor, MomentIndex, VideoMomentRetrievalPipeline
from modeling_fvmr.cli import main
from modeling_fvmr.data import dataset_video_features, load_moment_retrieval
from modeling_fvmr.video import read_feature_folder
from modeling_fvmr.video_features import PIXEL_GRID, PixelGridEncoder, VideoFeatureRecipe, extract_video_features, load_frame_encoder

from test_video_features import save_tiny_clip
from test_video_remote import QUERIES, RECIPE, save_video_model
from video_files import audio_only, colour_switch, noise, time_code_of, time_coded, with_display_matrix, write_video

REPO_ROOT = Path(__file__).resolve().parents[1]
DURATIONS = {"coded": 6.0, "noise": 4.0, "switch": 6.0}
ENV = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def cli(*args: str, launcher: list[str] | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """`python -m modeling_fvmr.cli ARGS` (or under `launcher`) in a subprocess, from the repository root."""
    command = [*(launcher or [sys.executable]), "-m", "modeling_fvmr.cli", *map(str, args)]
    return subprocess.run(command, cwd=REPO_ROOT, env={**ENV, **(env or {})}, capture_output=True, text=True, timeout=300)


def error_lines(text: str, command: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith(f"fvmr {command}: error:")]


def run_main(capsys, *args) -> tuple[int, str, str]:
    """`fvmr ARGS` in this process: (exit code, stdout, stderr)."""
    code = main(list(map(str, args)))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(err: str, command: str, *fragments: str) -> None:
    """The command failed with exactly one `fvmr COMMAND: error: ...` line holding every fragment."""
    (line,) = error_lines(err, command)
    for fragment in fragments:
        assert fragment in line, line


def folder_state(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def staging_leftovers(output: Path) -> list[str]:
    return sorted(path.name for path in output.parent.iterdir() if path.name.startswith(f".{output.name}."))


# ------------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def videos(tmp_path_factory) -> Path:
    """Three good videos: coded (every frame shows its time), switch (red, then blue from 3 s), noise."""
    folder = tmp_path_factory.mktemp("videos") / "good"
    folder.mkdir()
    time_coded(folder / "coded.mp4", duration=6.0)
    colour_switch(folder / "switch.mp4", 3.0, 6.0)
    noise(folder / "noise.mp4", duration=4.0)
    return folder


@pytest.fixture(scope="module")
def mixed_videos(videos, tmp_path_factory) -> Path:
    """The good videos plus a corrupt one and an audio-only one."""
    folder = tmp_path_factory.mktemp("videos") / "mixed"
    shutil.copytree(videos, folder)
    (folder / "corrupt.mp4").write_bytes(bytes(range(256)) * 8)
    audio_only(folder / "voice.mp4")
    return folder


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> str:
    return save_tiny_clip(tmp_path_factory.mktemp("backbone") / "tiny-clip")


@pytest.fixture(scope="module")
def extracted(mixed_videos, backbone, tmp_path_factory) -> dict:
    """`fvmr extract-features MIXED --backbone tiny-clip --frames-per-second 2 --clip-seconds 1` in one process."""
    output = tmp_path_factory.mktemp("extracted") / "features"
    result = cli("extract-features", mixed_videos, "--backbone", backbone, "--frames-per-second", 2, "--clip-seconds", 1,
                 "--output-dir", output, "--frame-batch-size", 5)
    return {"result": result, "output": output}


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return save_video_model(tmp_path_factory.mktemp("models") / "pixel-grid-fvmr")


# ------------------------------------------------------------------------------------------ extract-features


def test_extract_features_writes_npy_durations_and_report_and_skips_bad_videos(extracted, mixed_videos, backbone):
    result, output = extracted["result"], extracted["output"]
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(output)) == ["coded.npy", "durations.json", "extraction.json", "noise.npy", "switch.npy"]
    assert staging_leftovers(output) == []
    assert json.loads((output / "durations.json").read_text()) == pytest.approx(DURATIONS, abs=1e-6)

    recipe = VideoFeatureRecipe(backbone, frames_per_second=2, clip_seconds=1)
    encoder = load_frame_encoder(backbone)
    for video_id, seconds in DURATIONS.items():
        saved = np.load(output / f"{video_id}.npy")
        assert saved.dtype == np.float32 and saved.shape == (int(seconds), 16)
        expected = extract_video_features(mixed_videos / f"{video_id}.mp4", encoder, recipe, batch_size=5).features
        np.testing.assert_allclose(saved, expected, atol=1e-6, rtol=0)

    report = json.loads((output / "extraction.json").read_text())
    assert report["recipe"] == {"backbone": backbone, "frames_per_second": 2.0, "clip_seconds": 1.0, "pooling": "mean",
                                "embedding": "image_embeds", "feature_dim": 16}
    assert report["videos"] == 3
    skipped = {Path(path).name: reason for path, reason in report["skipped"].items()}
    assert set(skipped) == {"corrupt.mp4", "voice.mp4"}
    assert "not a readable video file" in skipped["corrupt.mp4"] and "no video stream" in skipped["voice.mp4"]
    for name in skipped:  # printed with its reason
        assert any(name in line and line.startswith("Skipped:") for line in result.stdout.splitlines()), result.stdout

    durations, loaded_recipe = read_feature_folder(output)
    assert durations == pytest.approx(DURATIONS, abs=1e-6) and loaded_recipe.to_dict() == report["recipe"]


def test_extract_features_refuses_an_existing_output_without_overwrite(extracted, videos, capsys):
    output = extracted["output"]
    before = folder_state(output)
    code, _, err = run_main(capsys, "extract-features", videos, "--backbone", PIXEL_GRID, "--clip-seconds", 2,
                            "--output-dir", output)
    assert code == 1
    assert_one_error_line(err, "extract-features", str(output), "already exists", "--overwrite")
    assert folder_state(output) == before

    copy = output.parent / "copy"
    shutil.copytree(output, copy)
    code, _, err = run_main(capsys, "extract-features", videos / "switch.mp4", "--backbone", PIXEL_GRID, "--clip-seconds", 2,
                            "--output-dir", copy, "--overwrite")
    assert code == 0, err
    assert sorted(os.listdir(copy)) == ["durations.json", "extraction.json", "switch.npy"]  # replaced, not merged
    assert np.load(copy / "switch.npy").shape == (3, 192)
    assert staging_leftovers(copy) == []


def test_extract_features_exits_1_and_writes_nothing_when_every_video_fails(tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "corrupt.mp4").write_bytes(b"\x00" * 4096)
    audio_only(bad / "voice.mp4")
    output = tmp_path / "features"
    code, _, err = run_main(capsys, "extract-features", bad, "--backbone", PIXEL_GRID, "--clip-seconds", 1, "--output-dir", output)
    assert code == 1
    assert_one_error_line(err, "extract-features", "No video could be read", str(bad / "corrupt.mp4"), str(bad / "voice.mp4"))
    assert not output.exists() and staging_leftovers(output) == []


@pytest.mark.parametrize("case", ["missing video", "folder without videos", "corrupt file", "missing backbone"])
def test_extract_features_bad_input_is_one_line_naming_it(case, tmp_path, videos, capsys):
    output = tmp_path / "features"
    target, backbone = videos, PIXEL_GRID
    if case == "missing video":
        target, fragments = tmp_path / "missing.mp4", (str(tmp_path / "missing.mp4"), "no such file")
    elif case == "folder without videos":
        target = tmp_path / "empty"
        target.mkdir()
        fragments = (str(target), "no video files")
    elif case == "corrupt file":
        target = tmp_path / "corrupt.mp4"
        target.write_bytes(b"not a video" * 100)
        fragments = (str(target), "not a readable video file")
    else:
        backbone = str(tmp_path / "no-such-backbone")
        fragments = (backbone, "Cannot load the vision backbone")
    code, _, err = run_main(capsys, "extract-features", target, "--backbone", backbone, "--clip-seconds", 1, "--output-dir", output)
    assert code == 1
    assert_one_error_line(err, "extract-features", *fragments)
    assert not output.exists()
    assert staging_leftovers(output) == []  # nothing half-written, no hidden .features.partial either


def test_find_videos_and_feature_folders_refuse_ambiguous_or_bad_input(tmp_path):
    from modeling_fvmr.video import find_videos, is_video_path

    (tmp_path / "videos" / "sub").mkdir(parents=True)
    for name in ("b.mp4", "a.MOV", "notes.txt", "sub/c.mkv"):
        (tmp_path / "videos" / name).write_bytes(b"")
    assert [path.name for path in find_videos([tmp_path / "videos"])] == ["a.MOV", "b.mp4", "c.mkv"]
    assert is_video_path(tmp_path / "videos") and not is_video_path(tmp_path / "videos" / "notes.txt")
    (tmp_path / "videos" / "sub" / "b.webm").write_bytes(b"")
    with pytest.raises(ValueError, match="Two videos share the id 'b'"):
        find_videos([tmp_path / "videos"])

    folder = tmp_path / "features"
    folder.mkdir()
    (folder / "durations.json").write_text(json.dumps({"a": 3.0, "b": 0}))
    with pytest.raises(ValueError, match=r"durations.json: the duration of 'b' must be positive seconds"):
        read_feature_folder(folder)
    (folder / "durations.json").write_text("{")
    with pytest.raises(ValueError, match=r"durations.json:1: invalid JSON"):
        read_feature_folder(folder)


def test_two_ranks_write_the_same_files_as_one_process(extracted, mixed_videos, backbone, tmp_path):
    """`torchrun --nproc_per_node 2` (CPU): each rank takes its share; the folder is byte-identical."""
    assert extracted["result"].returncode == 0
    output = tmp_path / "features"
    torchrun = Path(sys.executable).with_name("torchrun")
    result = cli("extract-features", mixed_videos, "--backbone", backbone, "--frames-per-second", 2, "--clip-seconds", 1,
                 "--output-dir", output, "--frame-batch-size", 5,
                 launcher=[str(torchrun), "--standalone", "--nproc_per_node", "2"], env={"ACCELERATE_USE_CPU": "1"})
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert folder_state(output) == folder_state(extracted["output"])
    assert staging_leftovers(output) == []
    assert result.stdout.count("Extracted 3 video(s)") == 1  # the main process reports, once


# ------------------------------------------------------------------------------------------ build-dataset


def write_queries(path: Path) -> Path:
    """Queries on the three good videos, without durations (they must come from the videos)."""
    rows = [
        {"video_id": "switch", "start": 3.0, "end": 6.0, "sentence": "the screen turns blue"},
        {"video_id": "coded", "start": 1.0, "end": 2.5, "sentence": "a red light shines"},
        {"video_id": "noise", "start": 0.5, "end": 3.5, "sentence": "the colour changes slowly", "split": "test"},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


def built_durations(folder: Path) -> dict[str, float]:
    annotations, features = load_moment_retrieval(folder)
    durations = {}
    for split in annotations:
        durations.update(zip(annotations[split]["video_id"], annotations[split]["duration"]))
        assert dict(zip(features[split]["video_id"], features[split]["duration"])) == {
            video_id: durations[video_id] for video_id in features[split]["video_id"]}
    return durations


def test_build_dataset_from_videos_takes_durations_and_recipe_from_them(videos, tmp_path, capsys):
    output = tmp_path / "dataset"
    code, out, err = run_main(capsys, "build-dataset", "custom", "--annotations", write_queries(tmp_path / "queries.jsonl"),
                              "--videos", videos, "--backbone", PIXEL_GRID, "--clip-seconds", 1, "--trees", "none",
                              "--output-dir", output)
    assert code == 0, err
    assert built_durations(output) == pytest.approx(DURATIONS, abs=1e-6)
    recipe = {"backbone": PIXEL_GRID, "frames_per_second": 1.0, "clip_seconds": 1.0, "pooling": "mean",
              "embedding": "mean RGB of a 8x8 grid", "feature_dim": 192}
    report = json.loads((output / "build_report.json").read_text())
    assert report["features"]["recipe"] == recipe and report["features"]["dim"] == 192
    assert dataset_video_features(output) == recipe
    _, features = load_moment_retrieval(output)
    row = features["train"][features["train"]["video_id"].index("switch")]
    expected = extract_video_features(videos / "switch.mp4", PixelGridEncoder(), VideoFeatureRecipe.from_dict(recipe)).features
    np.testing.assert_allclose(np.asarray(row["features"]), expected, atol=1e-6)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["dataset", "queries.jsonl"]  # the extraction is gone


def test_build_dataset_from_an_extracted_folder_takes_its_durations(extracted, backbone, tmp_path):
    built = build_dataset("custom", tmp_path / "dataset", write_queries(tmp_path / "queries.jsonl"),
                          str(extracted["output"]), "none")
    assert built_durations(built.path) == pytest.approx(DURATIONS, abs=1e-6)
    assert dataset_video_features(built.path)["backbone"] == backbone
    assert dataset_video_features(built.path)["feature_dim"] == 16


def test_build_dataset_from_videos_needs_a_backbone(videos, tmp_path, capsys):
    code, _, err = run_main(capsys, "build-dataset", "custom", "--annotations", write_queries(tmp_path / "queries.jsonl"),
                            "--videos", videos, "--clip-seconds", 1, "--trees", "none", "--output-dir", tmp_path / "dataset")
    assert code == 1
    assert_one_error_line(err, "build-dataset", "--backbone")
    assert not (tmp_path / "dataset").exists()


# ------------------------------------------------------------------------------------------ index and search


@pytest.fixture(scope="module")
def video_index(model_dir, videos, tmp_path_factory) -> Path:
    index_dir = tmp_path_factory.mktemp("index") / "index"
    code = main(["index", str(model_dir), str(videos), "--output-dir", str(index_dir)])
    assert code == 0
    return index_dir


def read_clip(path: Path) -> list[tuple[float, np.ndarray]]:
    """(seconds from the clip start, RGB) of every frame of a clip file."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        return [(float(frame.pts * frame.time_base) - float(stream.start_time * stream.time_base), frame.to_ndarray(format="rgb24"))
                for frame in container.decode(stream)]


def assert_clip_shows_the_span(clip: Path, start: float, end: float) -> None:
    """A clip of coded.mp4 (10 frames/s) holds exactly the frames shown in [start, end), in order."""
    frames = read_clip(clip)
    source_times = [time for time in np.arange(60) / 10 if start - 1e-6 <= time < end - 1e-6]
    assert [time_code_of(image) for _, image in frames] == pytest.approx(source_times, abs=1e-9)
    shown_at = [time for time, _ in frames]  # the clip starts at its first frame and keeps the spacing
    assert shown_at == pytest.approx([time - source_times[0] for time in source_times], abs=2e-3)


def test_index_video_files_then_search_json(video_index, model_dir, videos, capsys):
    sources = json.loads((video_index / "videos.json").read_text())
    assert sources == {video_id: os.path.abspath(videos / f"{video_id}.mp4") for video_id in DURATIONS}
    code, out, err = run_main(capsys, "search", video_index, QUERIES[0], QUERIES[1], "--json", "--top-k", 4)
    assert code == 0, err
    payload = json.loads(out)  # stdout is the JSON and nothing else
    assert [entry["query"] for entry in payload] == QUERIES[:2]

    index = MomentIndex.load(video_index, FVMRModel.from_pretrained(model_dir), FVMRProcessor.from_pretrained(model_dir))
    for entry, moments in zip(payload, index.search(QUERIES[:2], top_k=4)):
        assert entry["moments"] == [{"video_id": m.video_id, "start": m.start, "end": m.end, "score": m.score} for m in moments]
        for moment in entry["moments"]:
            assert moment["video_id"] in DURATIONS and 0 <= moment["start"] < moment["end"] <= DURATIONS[moment["video_id"]] + 1e-4

    # the index extracted each file with the model's recorded recipe: per video, the pipeline's moments
    finder = pipeline("video-moment-retrieval", model=str(model_dir), device="cpu", pipeline_class=VideoMomentRetrievalPipeline)
    for video_id in DURATIONS:
        (moments,) = index.search([QUERIES[0]], top_k=3, video_id=video_id)
        assert [(m.start, m.end) for m in moments] == [
            (m["start"], m["end"]) for m in finder(QUERIES[0], video=str(videos / f"{video_id}.mp4"), top_k=3)]


def test_search_cut_writes_the_moments_as_clips(video_index, tmp_path, capsys):
    clips = tmp_path / "clips"
    code, out, err = run_main(capsys, "search", video_index, QUERIES[2], "--video", "coded", "--top-k", 3, "--json", "--cut", clips)
    assert code == 0, err
    (entry,) = json.loads(out)
    assert len(entry["moments"]) == 3
    names = set()
    for moment in entry["moments"]:
        name = f"coded_{moment['start']:.2f}-{moment['end']:.2f}s.mp4"
        assert Path(moment["clip"]) == clips / name and moment["cut"] in ("copy", "re-encode")
        assert_clip_shows_the_span(clips / name, moment["start"], moment["end"])
        names.add(name)
    assert set(os.listdir(clips)) == names  # no temporary file left

    code, _, err = run_main(capsys, "search", video_index, QUERIES[2], "--video", "coded", "--top-k", 3, "--cut", clips)
    assert code == 1
    assert_one_error_line(err, "search", "already exists", "--overwrite")


def test_index_of_npy_features_cuts_with_videos_dir(model_dir, videos, tmp_path, capsys):
    features = tmp_path / "features"
    features.mkdir()
    np.save(features / "coded.npy", extract_video_features(videos / "coded.mp4", PixelGridEncoder(), RECIPE).features)
    index_dir = tmp_path / "index"
    code, _, err = run_main(capsys, "index", model_dir, features / "coded.npy", "--clip-seconds", RECIPE.clip_seconds,
                            "--output-dir", index_dir)
    assert code == 0, err
    assert not (index_dir / "videos.json").exists()

    code, _, err = run_main(capsys, "search", index_dir, QUERIES[0], "--top-k", 2, "--cut", tmp_path / "clips")
    assert code == 1
    assert_one_error_line(err, "search", "No video file is known for 'coded'", "--videos")

    code, out, err = run_main(capsys, "search", index_dir, QUERIES[0], "--top-k", 2, "--json", "--cut", tmp_path / "clips",
                              "--videos", videos)
    assert code == 0, err
    moments = json.loads(out)[0]["moments"]
    assert len(moments) == 2
    for moment in moments:
        assert_clip_shows_the_span(Path(moment["clip"]), moment["start"], moment["end"])


def test_write_clip_copies_at_a_keyframe_and_re_encodes_elsewhere(videos, tmp_path):
    from modeling_fvmr.video import write_clip
    from modeling_fvmr.video_features import VideoDecodeError

    source = videos / "coded.mp4"
    copied, method = write_clip(source, 0.0, 1.5, tmp_path)  # the first frame is a keyframe: no re-encoding
    assert (copied.name, method) == ("coded_0.00-1.50s.mp4", "copy")
    assert_clip_shows_the_span(copied, 0.0, 1.5)
    cut, method = write_clip(source, 1.25, 2.0, tmp_path, video_id="renamed")  # between frames, no keyframe
    assert (cut.name, method) == ("renamed_1.25-2.00s.mp4", "re-encode")
    assert_clip_shows_the_span(cut, 1.25, 2.0)
    assert sorted(os.listdir(tmp_path)) == ["coded_0.00-1.50s.mp4", "renamed_1.25-2.00s.mp4"]

    with pytest.raises(ValueError, match="already exists"):
        write_clip(source, 0.0, 1.5, tmp_path)
    with pytest.raises(ValueError, match=r"0 <= start < end"):
        write_clip(source, 2.0, 2.0, tmp_path)
    corrupt = tmp_path / "corrupt.mp4"
    corrupt.write_bytes(b"\x00" * 1000)
    with pytest.raises(VideoDecodeError, match=str(corrupt)):
        write_clip(corrupt, 0.0, 1.0, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("start", [0.0, 0.25])  # stream copy at the keyframe, re-encoding between frames
def test_a_clip_of_a_rotated_video_still_plays_upright(start, tmp_path):
    """A phone video (display matrix: a quarter turn clockwise) cut either way keeps its orientation."""
    from modeling_fvmr.video import write_clip
    from modeling_fvmr.video_features import iter_sampled_frames

    left_white = np.zeros((24, 32, 3), np.uint8)
    left_white[:, :16] = 255
    stored = write_video(tmp_path / "stored.mp4", lambda t: left_white, list(np.arange(20) / 10), last_frame_seconds=0.1)
    phone = with_display_matrix(stored, tmp_path / "phone.mp4", (0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000))
    clip, method = write_clip(phone, start, 1.5, tmp_path / "clips")
    assert method == ("copy" if start == 0.0 else "re-encode")
    (_, frames), = list(iter_sampled_frames(clip, np.array([0.0])))
    assert frames[0].shape == (32, 24, 3)  # displayed 24 wide, 32 high
    np.testing.assert_allclose((frames[0][:16].mean() / 255, frames[0][16:].mean() / 255), (1.0, 0.0), atol=0.02)
