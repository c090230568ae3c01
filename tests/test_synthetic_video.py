"""The synthetic world rendered as video files: what is on screen when, and the dataset built from it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from datasets_scripts.synthetic import SyntheticWorldConfig, generate_synthetic_videos, write_synthetic_world
from datasets_scripts.synthetic_video import ROLE_COLOURS, concept_tiles, draw_scenes, render_synthetic_videos
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


def cell_colour(features: np.ndarray, clip: int, tile: tuple[int, int]) -> np.ndarray:
    """RGB (0-255) of one tile, from a clip's 192-d pixel-grid feature (channel-major 3 x 8 x 8).

    A tile's cell also holds its dark 1-pixel margin: 36 of its 64 pixels are lit."""
    return features[clip].reshape(3, 8, 8)[:, tile[0], tile[1]] * 255


def nearest_role(rgb: np.ndarray) -> str:
    """The role colour (or "off" for an unlit tile) nearest to a tile's mean colour; the codec's 4:2:0
    chroma moves small tiles by up to ~25 levels, role colours are 100+ apart."""
    colours = {"off": (0, 0, 0), **ROLE_COLOURS}
    return min(colours, key=lambda role: np.abs(np.asarray(colours[role], float) * 36 / 64 - rgb).sum())


def role_of(event, concept: str) -> str:
    return next(role for role in ("verb", "agent", "theme", "goal") if (event.verb if role == "verb" else getattr(event, role)) == concept)


def test_every_concept_has_its_own_tile():
    tiles = concept_tiles()
    assert len(set(tiles.values())) == len(tiles) >= 57  # 7 rooms, 20+ verbs, 30+ objects and actors
    assert all(0 <= row < 8 and 0 <= column < 8 for row, column in tiles.values())


def test_the_file_lasts_the_video_and_lights_each_participant_in_its_role_colour(rendered):
    folder, videos, paths = rendered
    tiles = concept_tiles()
    video = videos["train"][0]
    path = next(p for p in paths if p.stem == video.video_id)
    assert probe_video(path).duration == pytest.approx(video.duration, abs=1e-3)
    features = np.load(folder / "features" / f"{video.video_id}.npy")
    assert features.shape == (int(np.ceil(video.duration)), PixelGridEncoder().feature_dim)
    assert json.loads((folder / "features" / "durations.json").read_text())[video.video_id] == pytest.approx(video.duration, abs=1e-3)
    checked = 0
    for event, (start, end) in zip(video.events, video.spans):
        clip = int(np.ceil(start))  # the first clip whose two samples (c, c + 0.5 s) both fall inside the event
        if clip + 1 > end:
            continue
        for concept in filter(None, (event.verb, event.agent, event.theme, event.goal)):
            assert nearest_role(cell_colour(features, clip, tiles[concept])) == role_of(event, concept)
            checked += 1
    assert checked >= 3
    for clip in range(len(features)):  # the room's tile glows all along; a tile of no participant stays off
        assert nearest_role(cell_colour(features, clip, tiles[video.place])) == "room"
        assert nearest_role(cell_colour(features, clip, (7, 7))) == "off"


def test_mirror_events_swap_role_colours(rendered):
    _, videos, _ = rendered
    tiles = concept_tiles()
    for video in (v for split in videos.values() for v in split):
        for event, scene in zip(video.events, draw_scenes(video, tiles)[1]):
            if event.kind == "give":
                mirrored = draw_scenes(type(video)(**{**vars(video), "events": [event.mirror()]}), tiles)[1][0]
                for person, role, other in ((event.agent, "agent", "goal"), (event.goal, "goal", "agent")):
                    row, column = tiles[person]
                    assert tuple(scene[row * 8 + 4, column * 8 + 4]) == ROLE_COLOURS[role]
                    assert tuple(mirrored[row * 8 + 4, column * 8 + 4]) == ROLE_COLOURS[other]


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
