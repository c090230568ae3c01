"""A 2D-TAN-style cross-modal interaction baseline for the speed benchmark (not part of the library).

2D-TAN (Zhang et al., AAAI 2020) scores moments by fusing *each query* with the video's 2D moment map
and running a stack of 2D convolutions over the fused map. Here it runs on the same clip features and
proposals as FVMR:

    video side (once per video, not timed): clips -> 2D max-pooled moment map (C, N, N) ->
        1x1 conv ("vis_conv")
    per query: text vector t (FVMR's own tokenizer + BiLSTM sentence feature, then a linear "tex_linear"
        to C) -> fused = normalize(t ⊙ map) ⊙ mask -> conv stack -> 1x1 conv to a score -> valid proposals

Conv stack as published: C = 512 channels; 8 layers of kernel 5 for 16 and 128 clips (Charades-STA,
TACoS), 4 layers of kernel 9 for 64 clips (ActivityNet); the first layer pads by 16 and the others
not at all, so the map returns to N x N; after each layer the output is multiplied by 1 / (number of
valid cells under the kernel), propagated from the proposal mask (2D-TAN's
`get_padded_mask_and_weight`).
"""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F
from torch import nn

from modeling_fvmr import FVMRConfig
from modeling_fvmr.modeling_fvmr import FVMRTextEncoder, FVMRVideoEncoder

CHANNELS = 512
FIRST_LAYER_PADDING = 16


def conv_stack_shape(num_clips: int) -> tuple[int, int]:
    """(layers, kernel) of 2D-TAN's conv stack: 4 x 9 for 64 clips, else 8 x 5."""
    return (4, 9) if num_clips == 64 else (8, 5)


def conv_stack_flops(num_clips: int, channels: int = CHANNELS) -> int:
    """Multiply-adds x 2 of the conv stack for one query (the dominant cost of the baseline)."""
    num_layers, kernel = conv_stack_shape(num_clips)
    size, flops = num_clips + 2 * FIRST_LAYER_PADDING, 0
    for _ in range(num_layers):
        size -= kernel - 1
        flops += 2 * channels * channels * kernel * kernel * size * size
    return flops


class TANStyleBaseline(nn.Module):
    """Cross-modal interaction scorer. `text_encoder` is shared with the FVMR model being compared."""

    def __init__(self, config: FVMRConfig, text_encoder: FVMRTextEncoder, channels: int = CHANNELS):
        super().__init__()
        num_layers, kernel = conv_stack_shape(config.num_clips)
        video_config = copy.deepcopy(config)
        video_config.hidden_size, video_config.video_conv_layers = channels, 0
        self.video_encoder = FVMRVideoEncoder(video_config)  # 2D-TAN frame layer + max-pool moment map
        self.map_projection = nn.Conv2d(channels, channels, 1)  # 2D-TAN vis_conv
        self.text_encoder = text_encoder
        self.text_projection = nn.Linear(2 * config.lstm_hidden_size, channels)  # 2D-TAN tex_linear
        self.convs = nn.ModuleList(
            nn.Conv2d(channels, channels, kernel, padding=FIRST_LAYER_PADDING if layer == 0 else 0) for layer in range(num_layers)
        )
        self.predictor = nn.Conv2d(channels, 1, 1)
        mask = self.video_encoder.proposal_mask.float()[None, None]  # (1, 1, N, N)
        self.register_buffer("mask", mask, persistent=False)
        self.layer_weights = self._mask_weights(mask)

    def _mask_weights(self, mask: torch.Tensor) -> list[torch.Tensor]:
        """Per layer, 1 / (valid cells under the kernel) where there are any, else 0 (2D-TAN)."""
        weights, padded = [], mask
        for conv in self.convs:
            counts = torch.round(F.conv2d(padded, torch.ones(1, 1, *conv.kernel_size), padding=conv.padding))
            weights.append(torch.where(counts > 0, 1.0 / counts.clamp(min=1), torch.zeros_like(counts)))
            padded = (counts > 0).float()
        return weights

    def encode_video(self, video_features: torch.Tensor, video_lengths: torch.Tensor) -> torch.Tensor:
        """(1, T, D) clip features -> (1, C, N, N) moment map (query independent, computed once)."""
        moments = self.video_encoder(video_features, video_lengths)  # (1, K, C)
        starts, ends = self.video_encoder.proposals.T
        moment_map = moments.new_zeros(1, moments.shape[2], self.mask.shape[-1], self.mask.shape[-1])
        moment_map[:, :, starts, ends] = moments.transpose(1, 2)
        return self.map_projection(moment_map)

    def forward(self, moment_map: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """(1, C, N, N) map of one video, (Q, L) queries -> (Q, K) scores of the valid proposals."""
        _, sentence = self.text_encoder(input_ids, attention_mask)
        text = self.text_projection(sentence)[:, :, None, None]  # (Q, C, 1, 1)
        fused = F.normalize(text * moment_map, dim=1) * self.mask  # (Q, C, N, N)
        for conv, weight in zip(self.convs, self.layer_weights):
            fused = torch.relu(conv(fused)) * weight
        scores = self.predictor(fused)[:, 0] * self.mask[0]  # (Q, N, N)
        starts, ends = self.video_encoder.proposals.T
        return scores[:, starts, ends]
