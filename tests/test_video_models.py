"""Video backbones (a config with `num_frames`, e.g. VideoMAE) embed each clip window whole."""

from __future__ import annotations

import av
import numpy as np
import pytest
import torch
from transformers import VideoMAEConfig, VideoMAEImageProcessor, VideoMAEModel

from modeling_fvmr.video import iter_video_features
from modeling_fvmr.video_features import TransformersWindowEncoder, VideoFeatureRecipe, load_frame_encoder, sample_times
from video_files import colour_switch


@pytest.fixture(scope="module")
def tiny_videomae(tmp_path_factory) -> str:
    folder = tmp_path_factory.mktemp("videomae")
    torch.manual_seed(0)
    config = VideoMAEConfig(image_size=32, patch_size=8, num_frames=4, tubelet_size=2, hidden_size=32,
                            num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)
    VideoMAEModel(config).save_pretrained(folder)
    VideoMAEImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}).save_pretrained(folder)
    return str(folder)


def test_window_sample_times_are_evenly_spaced_inside_each_window():
    times, clips = sample_times(5.0, frames_per_second=99.0, clip_seconds=2.0, frames_per_window=4)
    np.testing.assert_allclose(times, [0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4.125, 4.375, 4.625, 4.875])
    assert clips.tolist() == [0] * 4 + [1] * 4 + [2] * 4  # the last window is 1 s long, sampled 4 times too


def test_a_video_model_embeds_each_window_like_a_hand_run(tiny_videomae, tmp_path):
    path = colour_switch(tmp_path / "switch.mp4", switch_seconds=2.0, duration=6.0)
    encoder = load_frame_encoder(tiny_videomae)
    assert isinstance(encoder, TransformersWindowEncoder) and encoder.frames_per_window == 4
    recipe = VideoFeatureRecipe(tiny_videomae, clip_seconds=2.0)
    [(video_id, extracted)] = list(iter_video_features([path], recipe, encoder=encoder, show_progress=False))
    assert video_id == "switch" and extracted.features.shape == (3, 32)
    assert recipe.pooling == "video-model" and recipe.frames_per_second == 2.0 and recipe.feature_dim == 32

    # by hand: the frame on screen at each window time (10 fps: frame floor(10 t)), the model on each window
    with av.open(str(path)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    times, clips = sample_times(6.0, 1.0, 2.0, frames_per_window=4)
    windows = [[frames[int(np.floor(t * 10 + 1e-6))] for t in times[clips == clip]] for clip in range(3)]
    processor = VideoMAEImageProcessor.from_pretrained(tiny_videomae)
    model = VideoMAEModel.from_pretrained(tiny_videomae).eval()
    with torch.no_grad():
        expected = model(pixel_values=processor(windows, return_tensors="pt")["pixel_values"]).last_hidden_state.mean(1)
    np.testing.assert_allclose(extracted.features, expected.numpy(), atol=1e-5)
    assert not np.allclose(extracted.features[0], extracted.features[1])  # red window vs blue window
