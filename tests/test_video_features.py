"""From a video file to clip features: sample times, timestamp alignment, odd files, the backbone by hand,
bad input, and the recorded recipe through save/load and the model card (issue 13).

Videos are made with PyAV (tests/video_files.py); the backbone is a tiny randomly initialised CLIP
vision tower saved from its config (no download).
"""

from __future__ import annotations

import math

import av
import numpy as np
import pytest
import torch
from transformers import CLIPImageProcessor, CLIPVisionConfig, CLIPVisionModelWithProjection

from modeling_fvmr import FVMRConfig
from modeling_fvmr.hub import render_model_card
from modeling_fvmr.video_features import (
    PIXEL_GRID,
    PixelGridEncoder,
    VideoDecodeError,
    VideoFeatureRecipe,
    extract_video_features,
    iter_sampled_frames,
    load_frame_encoder,
    probe_video,
    recorded_recipe,
    sample_times,
)

from video_files import (
    BLUE,
    GREEN,
    RED,
    audio_only,
    colour_switch,
    noise,
    rotate_90,
    rotated_by_pyav,
    truncated,
    with_display_matrix,
    write_video,
    zero_frames,
)

CODEC_TOLERANCE = 0.02  # H.264 + yuv420p turn pure 255 into ~253: colours are compared to this
PIXEL_GRID_RECIPE = VideoFeatureRecipe(PIXEL_GRID, frames_per_second=2, clip_seconds=1)
CELLS = 64  # pixel-grid: 8 x 8 cells per channel, channel-major (all red cells, then green, then blue)


def channel_means(features: np.ndarray) -> np.ndarray:
    """(T, 3) mean red, green, blue of each clip from pixel-grid features (T, 192)."""
    return features.reshape(len(features), 3, CELLS).mean(axis=2)


def save_tiny_clip(folder) -> str:
    """A randomly initialised CLIP vision tower with projection and its image processor, saved to `folder`."""
    torch.manual_seed(0)
    config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=32, patch_size=8, projection_dim=16)
    CLIPVisionModelWithProjection(config).save_pretrained(folder)
    CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return str(folder)


def frames_on_screen(path, times: np.ndarray) -> list[np.ndarray]:
    """By hand with PyAV: for each time, the RGB frame with the latest presentation time <= it."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        start = float(stream.start_time * stream.time_base)
        decoded = [(float(frame.pts * frame.time_base) - start, frame.to_ndarray(format="rgb24"))
                   for frame in container.decode(stream)]
    shown = [max(index for index, (time, _) in enumerate(decoded) if time <= t + 1e-9 or index == 0) for t in times]
    return [decoded[index][1] for index in shown]


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("videos")
    return {
        "switch3": colour_switch(folder / "switch3.mp4", 3.0, 6.0),
        "switch25": colour_switch(folder / "switch25.mp4", 2.5, 6.0),
        "noise": noise(folder / "noise.mp4"),
        "noise_faststart": noise(folder / "noise_faststart.mp4", duration=6.0, faststart=True),
        "folder": folder,
    }


@pytest.fixture(scope="module")
def backbone(tmp_path_factory) -> str:
    return save_tiny_clip(tmp_path_factory.mktemp("backbone") / "tiny-clip")


# ------------------------------------------------------------------------------------------ sample times


@pytest.mark.parametrize(
    "duration, fps, clip_seconds, times, clips",
    [
        # whole windows: 2 samples per second, 6 clips
        (6.0, 2, 1, [0, .5, 1, 1.5, 2, 2.5, 3, 3.5, 4, 4.5, 5, 5.5], [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]),
        # partial last window [2, 2.5): one sample at its start, T = ceil(2.5) = 3
        (2.5, 2, 1, [0, .5, 1, 1.5, 2], [0, 0, 1, 1, 2]),
        # a last window of 0.7 s at 2 frames/s holds two samples (2.0 and 2.5 < 2.7)
        (2.7, 2, 1, [0, .5, 1, 1.5, 2, 2.5], [0, 0, 1, 1, 2, 2]),
        # fps x clip_seconds = 1.5: samples at c + 0 and c + 2/3 (c + 4/3 is in the next window)
        (3.0, 1.5, 1, [0, 2 / 3, 1, 5 / 3, 2, 8 / 3], [0, 0, 1, 1, 2, 2]),
        # fps x clip_seconds = 1.2 with a partial last window of 0.2 s: T = ceil(1.0 / 0.4) = 3
        (1.0, 3, 0.4, [0, 1 / 3, .4, .4 + 1 / 3, .8], [0, 0, 1, 1, 2]),
        # 0.3 / 0.1 is 2.9999999999999996 in floats: still 3 clips, one sample each
        (0.3, 10, 0.1, [0, .1, .2], [0, 1, 2]),
        # a video shorter than one window is one clip; fewer than one frame per window still samples its start
        (0.05, 1, 1, [0], [0]),
        (5.0, 0.5, 2, [0, 2, 4], [0, 1, 2]),
    ],
)
def test_sample_times_by_hand(duration, fps, clip_seconds, times, clips):
    got_times, got_clips = sample_times(duration, fps, clip_seconds)
    np.testing.assert_allclose(got_times, times, rtol=0, atol=1e-12)
    np.testing.assert_array_equal(got_clips, clips)
    assert got_clips[-1] + 1 == math.ceil(round(duration / clip_seconds, 9))
    assert (got_times < duration).all()
    # every sample lies in its window: clip = floor(t / clip_seconds)
    np.testing.assert_array_equal(np.floor(got_times / clip_seconds + 1e-9).astype(int), got_clips)


@pytest.mark.parametrize("duration", [0.0, -1.0, float("nan"), float("inf")])
def test_sample_times_refuses_a_non_positive_duration(duration):
    with pytest.raises(ValueError, match="duration must be positive"):
        sample_times(duration, 1.0, 1.0)


@pytest.mark.parametrize("field, value", [("frames_per_second", 0), ("clip_seconds", -1.0), ("clip_seconds", float("nan")),
                                          ("frames_per_second", True), ("pooling", "max"), ("backbone", " ")])
def test_recipe_refuses_bad_fields(field, value):
    with pytest.raises(ValueError, match=field if field != "backbone" else "backbone must be"):
        VideoFeatureRecipe(**{"backbone": PIXEL_GRID, field: value})


# ------------------------------------------------------------------------------------------ timestamp alignment


def test_colour_switch_at_three_seconds_gives_three_red_then_three_blue_clips(videos):
    extracted = extract_video_features(videos["switch3"], PixelGridEncoder(), PIXEL_GRID_RECIPE)
    assert extracted.features.shape == (6, 192) and extracted.features.dtype == np.float32
    assert extracted.duration == pytest.approx(6.0, abs=1e-6)
    assert extracted.num_frames == 12
    expected = np.array([[1, 0, 0]] * 3 + [[0, 0, 1]] * 3, dtype=float)
    np.testing.assert_allclose(channel_means(extracted.features), expected, atol=CODEC_TOLERANCE)


def test_switch_inside_a_clip_splits_that_clip_half_and_half(videos):
    extracted = extract_video_features(videos["switch25"], PixelGridEncoder(), PIXEL_GRID_RECIPE)
    expected = np.array([[1, 0, 0]] * 2 + [[0.5, 0, 0.5]] + [[0, 0, 1]] * 3, dtype=float)
    np.testing.assert_allclose(channel_means(extracted.features), expected, atol=CODEC_TOLERANCE)


@pytest.mark.parametrize("clip_seconds, fps", [(0.5, 10.0), (1.0, 10.0), (0.7, 10.0)])
def test_a_frame_shown_at_t_lands_in_clip_floor_t_over_clip_seconds(tmp_path, clip_seconds, fps):
    """Single green frames among red ones, some on window boundaries: each is seen in exactly its clip."""
    markers = [0.0, 0.5, 1.4, 2.1, 2.9]
    frame_times = list(np.arange(30) / 10)
    path = write_video(tmp_path / "markers.mp4", lambda t: GREEN if any(abs(t - m) < 1e-9 for m in markers) else RED,
                       frame_times, last_frame_seconds=0.1)
    recipe = VideoFeatureRecipe(PIXEL_GRID, frames_per_second=fps, clip_seconds=clip_seconds)
    green = channel_means(extract_video_features(path, PixelGridEncoder(), recipe).features)[:, 1]
    times, clips = sample_times(3.0, fps, clip_seconds)
    expected = np.zeros(math.ceil(round(3.0 / clip_seconds, 9)))
    for marker in markers:
        clip = math.floor(round(marker / clip_seconds, 9))
        expected[clip] += 1 / np.sum(clips == clip)  # one of the clip's samples shows the marker frame
    np.testing.assert_allclose(green, expected, atol=CODEC_TOLERANCE)


def test_variable_frame_rate_file_gives_the_colour_on_screen_per_clip(tmp_path):
    """Irregular frame times: each sample takes the frame on screen then, however long it has been there."""
    colours = {0.0: RED, 0.1: GREEN, 0.15: RED, 0.9: BLUE, 1.7: GREEN, 1.75: RED, 2.6: BLUE}
    path = write_video(tmp_path / "vfr.mp4", lambda t: colours[round(t, 2)], list(colours), last_frame_seconds=0.4)
    assert probe_video(path).duration == pytest.approx(3.0, abs=1e-6)
    recipe = VideoFeatureRecipe(PIXEL_GRID, frames_per_second=4, clip_seconds=1)
    extracted = extract_video_features(path, PixelGridEncoder(), recipe)
    assert extracted.duration == pytest.approx(3.0, abs=1e-6) and extracted.features.shape[0] == 3
    # samples 0, .25, .5, .75 | 1, 1.25, 1.5, 1.75 | 2, 2.25, 2.5, 2.75 -> frames shown at
    # 0, .15, .15, .15 (R R R R) | .9 .9 .9 1.75 (B B B R) | 1.75 1.75 1.75 2.6 (R R R B)
    expected = np.array([[1, 0, 0], [0.25, 0, 0.75], [0.75, 0, 0.25]])
    np.testing.assert_allclose(channel_means(extracted.features), expected, atol=CODEC_TOLERANCE)


def left_white_image() -> np.ndarray:
    """Stored 32 wide x 24 high, white left half, black right half."""
    image = np.zeros((24, 32, 3), np.uint8)
    image[:, :16] = 255
    return image


def first_frame_rotation(path) -> int:
    """PyAV's reading of the display matrix: counter-clockwise degrees, in [-180, 180]."""
    with av.open(str(path)) as container:
        return next(container.decode(video=0)).rotation


def assert_white_half(frame: np.ndarray, white: str) -> None:
    """`frame` (32 high, 24 wide: the stored 32 x 24 turned a quarter) has its `white` half white."""
    assert frame.shape == (32, 24, 3)
    top, bottom = frame[:16].mean() / 255, frame[16:].mean() / 255
    np.testing.assert_allclose((top, bottom), (1.0, 0.0) if white == "top" else (0.0, 1.0), atol=CODEC_TOLERANCE)


@pytest.mark.parametrize("degrees, white", [(-90, "top"), (90, "bottom")])
def test_rotated_file_decodes_upright(tmp_path, degrees, white):
    """A display matrix turning the stored frame -90° (clockwise, as phones write) puts its left half on
    top, +90° (counter-clockwise) at the bottom; the decoded frames are (W, H) = 32 high, 24 wide."""
    path = rotated_by_pyav(tmp_path / "rotated.mp4", left_white_image(), degrees, [0.0, 0.5, 1.0])
    assert first_frame_rotation(path) == degrees
    (indices, frames), = list(iter_sampled_frames(path, np.array([0.0, 0.75])))
    assert list(indices) == [0, 1]
    for frame in frames:
        assert_white_half(frame, white)
    grid = extract_video_features(path, PixelGridEncoder(), PIXEL_GRID_RECIPE).features.reshape(-1, 3, 8, 8)
    top, bottom = grid[:, :, :4].mean(), grid[:, :, 4:].mean()  # the top / bottom four rows of cells
    np.testing.assert_allclose((top, bottom), (1.0, 0.0) if white == "top" else (0.0, 1.0), atol=CODEC_TOLERANCE)


def test_rotate_90_helper_writes_a_clockwise_display_matrix(tmp_path):
    """tests/video_files.rotate_90 must write the matrix FFmpeg reads as -90° (today it writes 4 bytes
    before the tkhd matrix, leaving a degenerate matrix that FFmpeg cannot read: rotation = INT_MIN)."""
    stored = write_video(tmp_path / "stored.mp4", lambda t: left_white_image(), [0.0, 0.5, 1.0], last_frame_seconds=0.5)
    rotated = rotate_90(stored, tmp_path / "rotated.mp4")
    assert first_frame_rotation(rotated) == -90
    (_, frames), = list(iter_sampled_frames(rotated, np.array([0.0])))
    assert_white_half(frames[0], "top")


@pytest.mark.parametrize("matrix, rotation, white", [
    ((0, 0x10000, 0, -0x10000, 0, 0, 0, 0, 0x40000000), -90, "top"),  # phones: a quarter turn clockwise
    ((0, -0x10000, 0, 0x10000, 0, 0, 0, 0, 0x40000000), 90, "bottom"),
])
def test_track_header_matrix_is_applied(tmp_path, matrix, rotation, white):
    stored = write_video(tmp_path / "stored.mp4", lambda t: left_white_image(), [0.0, 0.5, 1.0], last_frame_seconds=0.5)
    path = with_display_matrix(stored, tmp_path / "rotated.mp4", matrix)
    assert first_frame_rotation(path) == rotation
    (_, frames), = list(iter_sampled_frames(path, np.array([0.0])))
    assert_white_half(frames[0], white)


def test_an_unreadable_display_matrix_leaves_the_frame_as_stored(tmp_path):
    """FFmpeg cannot read an all-zero matrix (PyAV reports rotation = INT_MIN): no turn, not a guess."""
    stored = write_video(tmp_path / "stored.mp4", lambda t: left_white_image(), [0.0, 0.5, 1.0], last_frame_seconds=0.5)
    path = with_display_matrix(stored, tmp_path / "degenerate.mp4", (0,) * 9)
    assert not -180 <= first_frame_rotation(path) <= 180
    (_, frames), = list(iter_sampled_frames(path, np.array([0.0])))
    np.testing.assert_array_equal(frames[0].shape, (24, 32, 3))


def test_probe_reports_the_display_rotation(tmp_path):
    """VideoInfo.rotation is documented as the display matrix's rotation; FFmpeg >= 6 no longer puts it
    in the stream's "rotate" metadata, so it must come from the display matrix (PyAV: frame.rotation)."""
    path = rotated_by_pyav(tmp_path / "rotated.mp4", left_white_image(), -90, [0.0, 0.5])
    assert probe_video(path).rotation % 360 == 270  # -90° counter-clockwise = a quarter turn clockwise


def test_frames_are_streamed_in_batches_covering_every_sample_once(videos):
    """40 samples of a 10 frames/s video at 10 frames/s: one frame per sample, batches of 7 in order."""
    times, _ = sample_times(4.0, 10, 1)
    batches = list(iter_sampled_frames(videos["noise"], times, batch_size=7))
    assert [len(frames) for _, frames in batches] == [7, 7, 7, 7, 7, 5]
    np.testing.assert_array_equal(np.concatenate([indices for indices, _ in batches]), np.arange(40))
    frames = [frame for _, batch in batches for frame in batch]
    assert not any(np.array_equal(frames[i], frames[i + 1]) for i in range(39))  # each sample its own frame


# ------------------------------------------------------------------------------------------ backbone by hand


def test_features_equal_the_backbone_run_by_hand(videos, backbone):
    recipe = VideoFeatureRecipe(backbone, frames_per_second=3, clip_seconds=1.5)
    encoder = load_frame_encoder(backbone)
    extracted = extract_video_features(videos["noise"], encoder, recipe, batch_size=4)

    times, clips = sample_times(4.0, 3, 1.5)  # 3 clips: 4.5 + 4.5 + 1 (partial [3, 4): 3 samples)
    assert list(np.bincount(clips)) == [5, 5, 3]
    frames = frames_on_screen(videos["noise"], times)
    processor = CLIPImageProcessor.from_pretrained(backbone)
    model = CLIPVisionModelWithProjection.from_pretrained(backbone).eval()
    with torch.no_grad():
        embeds = model(pixel_values=processor(images=frames, return_tensors="pt")["pixel_values"]).image_embeds
    expected = torch.stack([embeds[torch.from_numpy(clips == clip)].mean(0) for clip in range(3)]).numpy()

    assert extracted.features.shape == (3, 16) and extracted.features.dtype == np.float32
    np.testing.assert_allclose(extracted.features, expected, atol=1e-5, rtol=0)
    assert extracted.num_frames == len(times) == 13
    assert encoder.embedding == "image_embeds" and encoder.feature_dim == 16


def test_recipe_records_the_embedding_and_dimension_after_extraction(videos, backbone):
    from modeling_fvmr.video import iter_video_features

    recipe = VideoFeatureRecipe(backbone, frames_per_second=1, clip_seconds=2)
    assert recipe.embedding is None and recipe.feature_dim is None
    [(video_id, extracted)] = list(iter_video_features([videos["noise"]], recipe, show_progress=False))
    assert video_id == "noise" and extracted.features.shape == (2, 16)
    assert (recipe.embedding, recipe.feature_dim) == ("image_embeds", 16)
    assert recipe.backbone in recipe.describe() and "16-d" in recipe.describe()
    pixel_recipe = VideoFeatureRecipe(PIXEL_GRID)
    list(iter_video_features([videos["switch3"]], pixel_recipe, show_progress=False))
    assert pixel_recipe.feature_dim == 192


# ------------------------------------------------------------------------------------------ bad input


def corrupt(folder):
    path = folder / "corrupt.mp4"
    path.write_bytes(bytes(range(256)) * 8)
    return path


BAD_VIDEOS = {
    "corrupt": (lambda folder, videos: corrupt(folder), "not a readable video file"),
    "audio_only": (lambda folder, videos: audio_only(folder / "audio_only.m4a"), "no video stream"),
    "zero_frames": (lambda folder, videos: zero_frames(folder / "zero_frames.mp4"), "zero-length"),
    # the index (moov) is written last: half a file has no index at all
    "truncated": (lambda folder, videos: truncated(videos["noise"], folder / "truncated.mp4"), "not a readable video file"),
    # the index comes first: it promises 6 s but the frames stop half way
    "truncated_faststart": (
        lambda folder, videos: truncated(videos["noise_faststart"], folder / "truncated_faststart.mp4"), "truncated"),
    "missing": (lambda folder, videos: folder / "missing.mp4", "no such file"),
    "folder": (lambda folder, videos: folder, "is a folder"),
}


@pytest.mark.parametrize("case", sorted(BAD_VIDEOS))
def test_bad_video_raises_a_decode_error_naming_the_file(case, tmp_path, videos):
    make, reason = BAD_VIDEOS[case]
    path = make(tmp_path, videos)
    with pytest.raises(VideoDecodeError, match=reason) as caught:
        extract_video_features(path, PixelGridEncoder(), PIXEL_GRID_RECIPE)
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message


def test_a_backbone_that_cannot_be_loaded_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="Cannot load the vision backbone") as caught:
        load_frame_encoder(str(tmp_path / "no-such-backbone"))
    assert str(tmp_path / "no-such-backbone") in str(caught.value)
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    with pytest.raises(ValueError, match="Cannot load the vision backbone"):
        load_frame_encoder(str(empty))


# ------------------------------------------------------------------------------------------ recorded recipe


def test_recorded_recipe_round_trips_through_save_and_load(tmp_path, backbone):
    recipe = VideoFeatureRecipe(backbone, frames_per_second=3, clip_seconds=1.5, embedding="image_embeds", feature_dim=16)
    config = FVMRConfig(video_feature_dim=16, video_features=recipe.to_dict())
    config.save_pretrained(tmp_path / "model")
    loaded = FVMRConfig.from_pretrained(tmp_path / "model")
    assert loaded.video_features == recipe.to_dict()
    assert recorded_recipe(loaded) == recipe
    assert VideoFeatureRecipe.from_dict(recipe.to_dict()) == recipe
    with pytest.raises(ValueError, match="Unknown video feature recipe field"):
        VideoFeatureRecipe.from_dict({**recipe.to_dict(), "fps": 2})


def test_a_model_on_precomputed_features_has_no_recipe_and_says_which_features():
    config = FVMRConfig(video_features={"description": "I3D, Charades-STA release"})
    with pytest.raises(ValueError, match=r"precomputed clip features \(I3D, Charades-STA release\)"):
        recorded_recipe(config)
    with pytest.raises(ValueError, match="not recorded"):
        recorded_recipe(FVMRConfig())


@pytest.mark.parametrize("recorded, expected", [
    ({"backbone": "openai/clip-vit-base-patch32", "frames_per_second": 1.0, "clip_seconds": 2.0, "pooling": "mean",
      "embedding": "image_embeds", "feature_dim": 512},
     "from video files: backbone `openai/clip-vit-base-patch32` (image_embeds), 1 frames/s averaged over 2 s clips"),
    ({"description": "I3D, Charades-STA release"}, "precomputed: I3D, Charades-STA release"),
    (None, "not recorded"),
])
def test_model_card_names_how_the_features_are_made(tmp_path, recorded, expected):
    from modeling_fvmr import FVMRModel, FVMRProcessor, build_word_tokenizer

    tokenizer = build_word_tokenizer(["a person opens the door"])
    config = FVMRConfig(vocab_size=len(tokenizer), video_feature_dim=8, num_clips=8, pooling_counts=[3, 2], hidden_size=8,
                        word_embedding_dim=4, lstm_hidden_size=4, semantic_dim=4, joint_dim=4, fusion_hidden_size=4,
                        video_features=recorded)
    FVMRModel(config).save_pretrained(tmp_path / "model")
    FVMRProcessor.from_config(tokenizer, config).save_pretrained(tmp_path / "model")
    card = str(render_model_card(tmp_path / "model"))
    assert expected in card
