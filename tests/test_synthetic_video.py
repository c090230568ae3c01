"""The synthetic world rendered as video files: what is on screen when, and the dataset built from it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datasets_scripts.synthetic import SyntheticWorldConfig, generate_synthetic_videos, write_synthetic_world
from datasets_scripts.synthetic_video import GLYPH, PALETTE, SLOTS, concept_glyphs, render_synthetic_videos
from modeling_fvmr.data import dataset_video_features
from modeling_fvmr.video import extract_features_to_folder
from modeling_fvmr.video_features import PixelGridEncoder, VideoFeatureRecipe, probe_video

WORLD = {"train": 3, "validation": 1, "test": 1}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    folder = tmp_path_factory.mktemp("synthetic-video")
    videos = generate_synthetic_videos(SyntheticWorldConfig(num_videos=WORLD, seed=3))
    paths = render_synthetic_videos(videos, folder / "videos", fps=2.0, seed=3, show_progress=False)
    recipe = VideoFeatureRecipe("pixel-grid", frames_per_second=2.0, clip_seconds=1.0)
    extract_features_to_folder(paths, folder / "features", recipe, show_progress=False)
    return folder, videos, paths


def cell_colour(features: np.ndarray, clip: int, row: int, column: int) -> np.ndarray:
    """The palette colour nearest to pixel-grid cell (row, column) of one clip's 192-d feature (the
    codec's 4:2:0 chroma blurs cell edges by ~15 levels; palette colours are far further apart)."""
    rgb = features[clip].reshape(3, 8, 8)[:, row, column] * 255
    return PALETTE[np.argmin(np.abs(PALETTE.astype(float) - rgb).sum(1))]


def test_every_concept_has_its_own_two_colour_glyph():
    glyphs = concept_glyphs()
    codes = {(tuple(glyph[0, 0]), tuple(glyph[-1, 0])) for glyph in glyphs.values()}
    assert len(codes) == len(glyphs) >= 50
    for glyph in glyphs.values():
        assert glyph.shape == (GLYPH, GLYPH, 3)
        assert any((glyph[0, 0] == colour).all() for colour in PALETTE)


def test_the_file_lasts_the_video_and_shows_each_event_where_its_roles_are(rendered):
    folder, videos, paths = rendered
    glyphs = concept_glyphs()
    video = videos["train"][0]
    path = next(p for p in paths if p.stem == video.video_id)
    assert probe_video(path).duration == pytest.approx(video.duration, abs=1e-3)
    features = np.load(folder / "features" / f"{video.video_id}.npy")
    assert features.shape == (int(np.ceil(video.duration)), PixelGridEncoder().feature_dim)
    assert json.loads((folder / "features" / "durations.json").read_text())[video.video_id] == pytest.approx(video.duration, abs=1e-3)
    for event, (start, end) in zip(video.events, video.spans):
        clip = int(np.ceil(start))  # the first clip whose two samples (c, c + 0.5 s) both fall inside the event
        if clip + 1 > end:
            continue
        for slot in ("verb", "agent", "theme", "goal"):
            concept = event.verb if slot == "verb" else getattr(event, slot)
            if concept is None:
                continue
            row, column = SLOTS[slot][0] // 8, SLOTS[slot][1] // 8
            np.testing.assert_array_equal(cell_colour(features, clip, row, column), glyphs[concept][0, 0])  # top half
            np.testing.assert_array_equal(cell_colour(features, clip, row + 1, column), glyphs[concept][-1, 0])  # bottom half


def test_mirror_events_swap_glyph_positions(rendered):
    _, videos, _ = rendered
    from datasets_scripts.synthetic_video import draw_scenes

    glyphs = concept_glyphs()
    for video in (v for split in videos.values() for v in split):
        for event, scene in zip(video.events, draw_scenes(video, glyphs)[1]):
            if event.kind == "give":
                left, right = SLOTS["agent"], SLOTS["goal"]
                assert (scene[left[0], left[1]] == glyphs[event.agent][0, 0]).all()
                assert (scene[right[0], right[1]] == glyphs[event.goal][0, 0]).all()


def test_dataset_from_the_extracted_features_records_the_recipe(rendered, tmp_path):
    folder, videos, _ = rendered
    built = write_synthetic_world(tmp_path / "data", video_features=folder / "features", num_videos=WORLD, seed=3)
    features = built.features["train"].with_format("numpy")
    first = videos["train"][0]
    row = list(features["video_id"]).index(first.video_id)
    np.testing.assert_array_equal(features[row]["features"], np.load(folder / "features" / f"{first.video_id}.npy"))
    recorded = dataset_video_features(tmp_path / "data")
    assert recorded["backbone"] == "pixel-grid" and recorded["feature_dim"] == 192 and recorded["clip_seconds"] == 1.0
    assert "rendered video files" in built.report["features"]["source"]
