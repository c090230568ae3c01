"""FVMR: Fast Video Moment Retrieval (Gao & Xu, ICCV 2021) as a transformers model.

Shapes: B batch, T input clips, D clip feature size, N pooled clips, K valid proposals, L words,
V verbs (frames) per query, A arguments per verb, H hidden size, J common-space size, F = D_f
semantic size. Times are in seconds.

Test time uses only the student: `encode_video` (once per video) gives the moment embeddings
φ_m(m) of every valid proposal, `encode_query` gives φ_s(s), and the scores are one matrix product
(`score`). Training adds the tree-aware teacher q = φ_fuse(φ_m(m) ⊙ φ_u(u)) and distils it into the
student. This file needs only torch, transformers, `configuration_fvmr` and `temporal_map`: it is
the code `trust_remote_code=True` users download.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import PreTrainedModel
from transformers import initialization as init
from transformers.utils import ModelOutput

from .configuration_fvmr import FVMRConfig
from .temporal_map import proposal_spans, soft_labels, temporal_iou, valid_proposal_mask, valid_proposals

TREE_INPUT_NAMES = ("verb_spans", "verb_mask", "argument_spans", "argument_roles", "argument_mask")


@dataclass
class FVMRVideoOutput(ModelOutput):
    """
    Args:
        moment_embeddings (`torch.FloatTensor` of shape `(B, K, J)`): φ_m(m) of every valid proposal.
        proposal_spans (`torch.FloatTensor` of shape `(B, K, 2)`): start and end of each proposal, in
            seconds when `durations` was given, else as fractions of the video length.
    """

    moment_embeddings: torch.FloatTensor | None = None
    proposal_spans: torch.FloatTensor | None = None


@dataclass
class FVMROutput(ModelOutput):
    """
    Args:
        loss (`torch.FloatTensor`, scalar): L = L_ce(p, y) + L_ce(q, y) + λ L_dis(p, q), when `labels` are given.
        loss_student, loss_teacher, loss_distillation (`torch.FloatTensor`, scalar): the three terms
            (unweighted); the teacher terms are None when the teacher did not run.
        loss_cross_video (`torch.FloatTensor`, scalar): L_cv (see [`cross_video_loss`]), when
            `config.cross_video_weight > 0` and `labels` are given; L includes μ L_cv.
        student_scores (`torch.FloatTensor` of shape `(B, K)`): p, dot-product logits.
        teacher_scores (`torch.FloatTensor` of shape `(B, K)`): q, None without tree inputs.
        proposal_spans (`torch.FloatTensor` of shape `(B, K, 2)`): see [`FVMRVideoOutput`].
        verb_weights (`torch.FloatTensor` of shape `(B, V)`): a^(v), the sentence-to-verb attention.
        node_weights (`torch.FloatTensor` of shape `(B, V, 1 + A)`): b_i over [verb, its arguments].
    """

    loss: torch.FloatTensor | None = None
    loss_student: torch.FloatTensor | None = None
    loss_teacher: torch.FloatTensor | None = None
    loss_distillation: torch.FloatTensor | None = None
    loss_cross_video: torch.FloatTensor | None = None
    student_scores: torch.FloatTensor | None = None
    teacher_scores: torch.FloatTensor | None = None
    proposal_spans: torch.FloatTensor | None = None
    verb_weights: torch.FloatTensor | None = None
    node_weights: torch.FloatTensor | None = None


def masked_softmax(logits: torch.Tensor, mask: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Softmax over the positions where `mask` is True; fully masked rows give all zeros."""
    logits = logits.masked_fill(~mask, torch.finfo(logits.dtype).min)
    return torch.softmax(logits, dim=dim) * mask


def resample_clips(features: torch.Tensor, lengths: torch.Tensor, num_samples: int) -> torch.Tensor:
    """Average each video's clips to `num_samples` clips, as 2D-TAN's `average_to_fixed_length`.

    Args:
        features: (B, T, D) clip features, video b valid in its first `lengths[b]` = T_b rows.
        lengths: (B,) number of valid clips per video (>= 1).

    Returns:
        (B, S, D). With e_i = min(round(i T_b / S), T_b - 1), sample i averages clips e_i .. e_{i+1} - 1,
        or is clip e_i when that range is empty (short videos repeat clips; like 2D-TAN, a video
        longer than S never reaches its last clip). `round` is torch's (half to even), as in 2D-TAN.
    """
    # float32 arithmetic in 2D-TAN's order, so the rounding of the window edges matches it exactly
    steps = torch.arange(0, num_samples + 1, 1.0, device=features.device) / num_samples
    lengths = lengths.to(features.device).unsqueeze(1)
    edges = torch.minimum(torch.round(steps * lengths).long(), lengths - 1)  # (B, S + 1)
    starts, ends = edges[:, :-1], edges[:, 1:]
    ends = torch.where(starts < ends, ends, starts + 1)
    positions = torch.arange(features.shape[1], device=features.device)
    inside = (positions >= starts.unsqueeze(-1)) & (positions < ends.unsqueeze(-1))  # (B, S, T)
    return (inside.to(features.dtype) / (ends - starts).unsqueeze(-1).to(features.dtype)) @ features


def span_mean(words: torch.Tensor, spans: torch.Tensor) -> torch.Tensor:
    """Mean of word features over token spans.

    Args:
        words: (B, L, F) word features. spans: (B, S, 2) token spans [start, end).

    Returns:
        (B, S, F); an empty span gives zeros.
    """
    positions = torch.arange(words.shape[1], device=words.device)
    inside = (positions >= spans[..., :1]) & (positions < spans[..., 1:])  # (B, S, L)
    weights = inside.float() / inside.sum(-1, keepdim=True).clamp(min=1)
    return weights @ words


class FVMRVideoEncoder(nn.Module):
    """Clip features -> moment features m_ab of every valid proposal: 2D-TAN's frame layer, its "pool"
    moment map and (optionally) its masked MapConv stack, on the video alone."""

    def __init__(self, config: FVMRConfig):
        super().__init__()
        self.num_clips = config.num_clips
        self.num_sample_clips = config.num_sample_clips
        self.projection = nn.Linear(config.video_feature_dim, config.hidden_size)  # 2D-TAN's 1x1 vis_conv
        # 2D-TAN pads the first layer by L (k - 1) / 2 and no other, so the map returns to N x N at the end
        kernel, layers = config.video_conv_kernel_size, config.video_conv_layers
        self.convs = nn.ModuleList(
            nn.Conv2d(config.hidden_size, config.hidden_size, kernel, padding=layers * (kernel - 1) // 2 if layer == 0 else 0)
            for layer in range(layers)
        )
        # Plain tensors, not buffers: they are derived from the config and never saved.
        self.proposals = valid_proposals(config.num_clips, config.pooling_counts)  # (K, 2)
        self.proposal_mask = valid_proposal_mask(config.num_clips, config.pooling_counts)  # (N, N)

    def pool_clips(self, video_features: torch.Tensor, video_lengths: torch.Tensor) -> torch.Tensor:
        """2D-TAN's order: L2-normalise, resample to S clips, project + ReLU, average-pool by S / N.

        (B, T, D) features with (B,) valid lengths -> (B, N, H) clip features.
        """
        samples = resample_clips(F.normalize(video_features, dim=-1), video_lengths, self.num_sample_clips)
        clips = torch.relu(self.projection(samples))  # (B, S, H)
        return clips.view(clips.shape[0], self.num_clips, -1, clips.shape[-1]).mean(2)

    def moment_max_pool(self, clips: torch.Tensor) -> torch.Tensor:
        """(B, N, H) clip features -> (B, K, H): max over clips a..b for each proposal (a, b)."""
        starts, ends = self.proposals[:, 0].to(clips.device), self.proposals[:, 1].to(clips.device)
        offsets = ends - starts
        moments = clips.new_empty(clips.shape[0], len(self.proposals), clips.shape[2])
        window_max = clips  # window_max[:, a] = max of clips a .. a + offset
        for offset in range(int(offsets.max()) + 1):
            if offset > 0:
                window_max = torch.maximum(window_max[:, :-1], clips[:, offset:])
            selected = (offsets == offset).nonzero().squeeze(1)
            if len(selected):
                moments[:, selected] = window_max[:, starts[selected]]
        return moments

    def map_conv(self, moment_map: torch.Tensor) -> torch.Tensor:
        """2D-TAN's MapConv: (B, H, N, N) map, zero outside the valid proposals -> (B, H, N, N).

        Each layer: x = ReLU(conv(x)) / c, where c counts the cells of the current mask under the
        kernel window (x = 0 where c = 0); the mask then becomes c > 0, so it grows layer by layer.
        """
        mask = self.proposal_mask.to(moment_map.device, moment_map.dtype)[None, None]  # (1, 1, N, N)
        for conv in self.convs:
            moment_map = torch.relu(conv(moment_map))
            ones = mask.new_ones(1, 1, *conv.kernel_size)
            count = torch.round(F.conv2d(mask, ones, stride=conv.stride, padding=conv.padding, dilation=conv.dilation))
            moment_map = moment_map * torch.where(count > 0, 1 / count.clamp(min=1), torch.zeros_like(count))
            mask = (count > 0).to(mask.dtype)
        return moment_map

    def forward(self, video_features: torch.Tensor, video_lengths: torch.Tensor) -> torch.Tensor:
        """(B, T, D) features with (B,) valid lengths -> (B, K, H) moment features."""
        moments = self.moment_max_pool(self.pool_clips(video_features, video_lengths))
        if len(self.convs) == 0:
            return moments
        starts, ends = self.proposals[:, 0].to(moments.device), self.proposals[:, 1].to(moments.device)
        moment_map = moments.new_zeros(moments.shape[0], moments.shape[2], self.num_clips, self.num_clips)
        moment_map[:, :, starts, ends] = moments.transpose(1, 2)
        return self.map_conv(moment_map)[:, :, starts, ends].transpose(1, 2)


class FVMRTextEncoder(nn.Module):
    """Word embeddings -> BiLSTM. w_l = forward_l ‖ backward_l, s = w_1 + w_L."""

    def __init__(self, config: FVMRConfig):
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.word_embedding_dim, padding_idx=config.pad_token_id)
        self.dropout = nn.Dropout(config.dropout)
        self.lstm = nn.LSTM(
            config.word_embedding_dim,
            config.lstm_hidden_size,
            num_layers=config.lstm_num_layers,
            batch_first=True,
            bidirectional=True,
        )

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, L) ids and mask -> word features (B, L, 2 H_lstm), sentence feature s (B, 2 H_lstm)."""
        lengths = attention_mask.sum(1)
        embedded = self.dropout(self.word_embeddings(input_ids))
        packed = nn.utils.rnn.pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        words, _ = self.lstm(packed)
        words, _ = nn.utils.rnn.pad_packed_sequence(words, batch_first=True, total_length=input_ids.shape[1])
        last_word = words[torch.arange(len(words), device=words.device), lengths - 1]
        return words, words[:, 0] + last_word


class SemanticGuidedAttention(nn.Module):
    """α_k = W_α · tanh(W_top ĝ ‖ W_low g_k): one level of the hierarchical attention."""

    def __init__(self, semantic_dim: int):
        super().__init__()
        self.top = nn.Linear(semantic_dim, semantic_dim, bias=False)
        self.low = nn.Linear(semantic_dim, semantic_dim, bias=False)
        self.alpha = nn.Linear(2 * semantic_dim, 1, bias=False)

    def forward(self, top_node: torch.Tensor, low_nodes: torch.Tensor) -> torch.Tensor:
        """(B, F) summary of the upper level, (B, M, F) lower nodes -> (B, M) logits α."""
        top = self.top(top_node).unsqueeze(1).expand(-1, low_nodes.shape[1], -1)
        return self.alpha(torch.tanh(torch.cat([top, self.low(low_nodes)], dim=-1))).squeeze(-1)


class FVMRSemanticExtractor(nn.Module):
    """Fine-grained semantic extractor: semantic role tree -> query feature u (teacher side only).

    Nodes: g^(s) from s, g^(v)_i = mean of the verb span's words, g^(n)_ij = mean of the argument
    span's words + a role embedding. A verb span with start == end marks the pseudo-frame of a
    sentence without a verb: its verb node is g^(s).
    """

    def __init__(self, config: FVMRConfig):
        super().__init__()
        self.node_projection = nn.Linear(2 * config.lstm_hidden_size, config.semantic_dim)
        self.role_embeddings = nn.Embedding(len(config.role_labels), config.semantic_dim)
        self.verb_attention = SemanticGuidedAttention(config.semantic_dim)
        self.argument_attention = SemanticGuidedAttention(config.semantic_dim)

    def forward(
        self,
        word_features: torch.Tensor,
        sentence_feature: torch.Tensor,
        verb_spans: torch.Tensor,
        verb_mask: torch.Tensor,
        argument_spans: torch.Tensor,
        argument_roles: torch.Tensor,
        argument_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """
        Args:
            word_features: (B, L, 2 H_lstm). sentence_feature: (B, 2 H_lstm).
            verb_spans: (B, V, 2) token spans [start, end). verb_mask: (B, V) bool.
            argument_spans: (B, V, A, 2). argument_roles: (B, V, A) role ids. argument_mask: (B, V, A) bool.

        Returns:
            u (B, F), verb weights a^(v) (B, V), node weights b (B, V, 1 + A).
        """
        batch, num_verbs, num_arguments = argument_roles.shape
        sentence_node = self.node_projection(sentence_feature)  # g^(s): (B, F)
        words = self.node_projection(word_features)  # projection commutes with span means
        verb_nodes = span_mean(words, verb_spans)  # g^(v): (B, V, F)
        is_pseudo = (verb_spans[..., 0] == verb_spans[..., 1]).unsqueeze(-1)
        verb_nodes = torch.where(is_pseudo, sentence_node.unsqueeze(1), verb_nodes)
        argument_nodes = span_mean(words, argument_spans.view(batch, -1, 2)).view(batch, num_verbs, num_arguments, -1)
        argument_nodes = argument_nodes + self.role_embeddings(argument_roles)  # g^(n): (B, V, A, F)

        verb_logits = self.verb_attention(sentence_node, verb_nodes)  # α^(v): (B, V)
        verb_weights = masked_softmax(verb_logits, verb_mask)  # a^(v)
        verb_summary = (verb_weights.unsqueeze(-1) * verb_nodes).sum(1)  # ĝ^(v): (B, F)
        argument_logits = self.argument_attention(verb_summary, argument_nodes.view(batch, -1, argument_nodes.shape[-1]))
        argument_logits = argument_logits.view(batch, num_verbs, num_arguments)  # α^(n)

        node_logits = torch.cat([verb_logits.unsqueeze(-1), argument_logits], dim=-1)  # (B, V, 1 + A)
        node_mask = torch.cat([verb_mask.unsqueeze(-1), argument_mask & verb_mask.unsqueeze(-1)], dim=-1)
        node_weights = masked_softmax(node_logits, node_mask)  # b_i
        nodes = torch.cat([verb_nodes.unsqueeze(2), argument_nodes], dim=2)  # (B, V, 1 + A, F)
        frames = (node_weights.unsqueeze(-1) * nodes).sum(2)  # h_i: (B, V, F)
        num_frames = verb_mask.sum(1, keepdim=True).clamp(min=1)
        frame_mean = (frames * verb_mask.unsqueeze(-1)).sum(1) / num_frames
        return sentence_node * frame_mean, verb_weights, node_weights


class FVMRPreTrainedModel(PreTrainedModel):
    config_class = FVMRConfig
    base_model_prefix = "fvmr"
    main_input_name = "input_ids"

    @classmethod
    def from_pretrained(cls, pretrained_model_name_or_path, *args, **kwargs):
        """`PreTrainedModel.from_pretrained`; a damaged weights file, or weights that do not fit config.json,
        raise an OSError naming the model folder (safetensors' and the size check's own messages do not)."""
        from safetensors import SafetensorError

        try:
            return super().from_pretrained(pretrained_model_name_or_path, *args, **kwargs)
        except SafetensorError as error:
            raise OSError(f"{pretrained_model_name_or_path}: model.safetensors cannot be read ({error}); it is damaged or truncated.") from error
        except RuntimeError as error:
            if "ignore_mismatched_sizes" not in str(error) and "size mismatch" not in str(error):
                raise
            raise OSError(f"{pretrained_model_name_or_path}: the weights in model.safetensors do not fit its config.json ({error}).") from error

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Conv2d)):
            init.xavier_uniform_(module.weight)
            if module.bias is not None:
                init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            # Word vectors start at unit scale (nn.Embedding's default, GloVe's order of magnitude): with
            # a small std the BiLSTM sees near-zero inputs and training stalls for hundreds of steps.
            is_word_embedding = module is self.text_encoder.word_embeddings
            init.normal_(module.weight, mean=0.0, std=1.0 if is_word_embedding else self.config.initializer_range)
            # the slice loses the "already loaded" flag that `init` checks, so check it here
            if module.padding_idx is not None and not getattr(module.weight, "_is_hf_initialized", False):
                init.zeros_(module.weight[module.padding_idx])
        elif isinstance(module, nn.LSTM):
            for name, parameter in module.named_parameters():
                if "weight" in name:
                    init.xavier_uniform_(parameter)
                else:
                    init.zeros_(parameter)


class FVMRModel(FVMRPreTrainedModel):
    """FVMR student (common-space dot product) and teacher (tree-aware fusion) with the distillation loss."""

    def __init__(self, config: FVMRConfig):
        super().__init__(config)
        self.video_encoder = FVMRVideoEncoder(config)
        self.text_encoder = FVMRTextEncoder(config)
        self.moment_projection = nn.Linear(config.hidden_size, config.joint_dim)  # φ_m
        self.query_projection = nn.Linear(2 * config.lstm_hidden_size, config.joint_dim)  # φ_s
        if config.use_teacher:
            # Paired seeds: `post_init` initialises the student's modules (registered first) before the
            # teacher's, and the RNG is restored after the teacher's constructors, so with one seed the
            # student starts from the same weights with and without a teacher.
            with torch.random.fork_rng(devices=[]):
                self.semantic_extractor = FVMRSemanticExtractor(config)
                self.semantic_projection = nn.Linear(config.semantic_dim, config.joint_dim)  # φ_u
                self.fusion = nn.Sequential(  # φ_fuse
                    nn.Linear(config.joint_dim, config.fusion_hidden_size),
                    nn.ReLU(),
                    nn.Dropout(config.dropout),
                    nn.Linear(config.fusion_hidden_size, 1),
                )
        self.post_init()
        # training state beside the weights (not a module: never in the state dict or the exported model)
        self.cross_video_memory = CrossVideoMemory(config.cross_video_memory_size, config.joint_dim) if config.cross_video_memory_size else None

    def get_input_embeddings(self) -> nn.Embedding:
        return self.text_encoder.word_embeddings

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        self.text_encoder.word_embeddings = value

    # ----- input checks -------------------------------------------------------------------------

    def _video_lengths(self, video_features: torch.Tensor, video_mask: torch.Tensor | None) -> torch.Tensor:
        """Validate (B, T, D) features and return (B,) valid lengths."""
        if video_features.dim() != 3:
            raise ValueError(f"video_features must have shape (batch, clips, dim), got {tuple(video_features.shape)}.")
        if video_features.shape[-1] != self.config.video_feature_dim:
            raise ValueError(
                f"video_features have dim {video_features.shape[-1]} but the model expects "
                f"video_feature_dim={self.config.video_feature_dim}."
            )
        if video_features.shape[1] == 0:
            raise ValueError("video_features hold a video with zero clips.")
        if not torch.isfinite(video_features).all():
            raise ValueError("video_features contain NaN or infinite values.")
        if video_mask is None:
            return torch.full((video_features.shape[0],), video_features.shape[1], device=video_features.device)
        lengths = video_mask.sum(1)
        if bool((lengths == 0).any()):
            raise ValueError(f"video_mask marks a video with zero clips (rows {(lengths == 0).nonzero().flatten().tolist()}).")
        return lengths

    @staticmethod
    def _check_query(attention_mask: torch.Tensor) -> None:
        empty = (attention_mask.sum(1) == 0).nonzero().flatten().tolist()
        if empty:
            raise ValueError(f"Empty query (no tokens) in batch rows {empty}.")

    # ----- fast path ----------------------------------------------------------------------------

    def encode_video(
        self,
        video_features: torch.Tensor,
        video_mask: torch.Tensor | None = None,
        durations: torch.Tensor | None = None,
    ) -> FVMRVideoOutput:
        """Moment embeddings φ_m(m) (B, K, J) and proposal spans (B, K, 2) of each video.

        Args:
            video_features: (B, T, D) clip features, any T >= 1.
            video_mask: (B, T) 1 for real clips (a prefix of each row), 0 for padding.
            durations: (B,) video lengths in seconds; without them spans are fractions of the video.
        """
        lengths = self._video_lengths(video_features, video_mask)
        moments = self.video_encoder(video_features, lengths)
        proposals = self.video_encoder.proposals
        spans = proposal_spans(proposals, self.config.num_clips, durations if durations is not None else torch.ones(len(moments)))
        return FVMRVideoOutput(moment_embeddings=self.moment_projection(moments), proposal_spans=spans.to(moments.device))

    def encode_query(self, input_ids: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Query embeddings φ_s(s): (B, L) token ids -> (B, J)."""
        attention_mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        self._check_query(attention_mask)
        _, sentence = self.text_encoder(input_ids, attention_mask)
        return self.query_projection(sentence)

    @staticmethod
    def score(moment_embeddings: torch.Tensor, query_embeddings: torch.Tensor) -> torch.Tensor:
        """Student scores p = φ_m(m)ᵀ φ_s(s): (B, K, J) moments and (B, J) queries -> (B, K) logits."""
        return torch.einsum("bkj,bj->bk", moment_embeddings, query_embeddings)

    # ----- training / full forward --------------------------------------------------------------

    def forward(
        self,
        input_ids: torch.Tensor,
        video_features: torch.Tensor,
        attention_mask: torch.Tensor | None = None,
        video_mask: torch.Tensor | None = None,
        durations: torch.Tensor | None = None,
        verb_spans: torch.Tensor | None = None,
        verb_mask: torch.Tensor | None = None,
        argument_spans: torch.Tensor | None = None,
        argument_roles: torch.Tensor | None = None,
        argument_mask: torch.Tensor | None = None,
        labels: torch.Tensor | None = None,
        return_dict: bool | None = None,
    ) -> FVMROutput | tuple:
        r"""
        Args:
            input_ids: (B, L) word ids. attention_mask: (B, L) 1 for words, 0 for padding.
            video_features: (B, T, D) clip features of each query's video. video_mask: (B, T).
            durations: (B,) video lengths in seconds (needed with `labels`).
            verb_spans .. argument_mask: the tensorised semantic role tree (see
                [`FVMRSemanticExtractor`]); without them only the student runs (test time).
            labels: (B, 2) ground-truth moment [start, end] in seconds.
        """
        return_dict = return_dict if return_dict is not None else self.config.return_dict
        attention_mask = attention_mask if attention_mask is not None else torch.ones_like(input_ids)
        self._check_query(attention_mask)
        lengths = self._video_lengths(video_features, video_mask)
        tree = dict(zip(TREE_INPUT_NAMES, (verb_spans, verb_mask, argument_spans, argument_roles, argument_mask)))
        has_tree = all(value is not None for value in tree.values())
        if any(value is not None for value in tree.values()) and not has_tree:
            missing = [name for name, value in tree.items() if value is None]
            raise ValueError(f"Incomplete semantic role tree inputs: missing {missing}.")
        run_teacher = self.config.use_teacher and has_tree
        if labels is not None and self.config.use_teacher and not has_tree:
            raise ValueError(
                "Training with the teacher (config.use_teacher=True) needs semantic role tree inputs "
                f"{list(TREE_INPUT_NAMES)}: build them with the processor, or set use_teacher=False."
            )

        moments = self.moment_projection(self.video_encoder(video_features, lengths))  # φ_m(m): (B, K, J)
        words, sentence = self.text_encoder(input_ids, attention_mask)
        queries = self.query_projection(sentence)  # φ_s(s): (B, J)
        student_scores = self.score(moments, queries)  # p: (B, K)
        proposals = self.video_encoder.proposals
        spans = proposal_spans(proposals, self.config.num_clips, durations if durations is not None else torch.ones(len(moments)))
        spans = spans.to(moments.device)

        teacher_scores = verb_weights = node_weights = None
        if run_teacher:
            u, verb_weights, node_weights = self.semantic_extractor(
                words, sentence, verb_spans, verb_mask.bool(), argument_spans, argument_roles, argument_mask.bool()
            )
            fused = moments * self.semantic_projection(u).unsqueeze(1)  # φ_m(m) ⊙ φ_u(u)
            teacher_scores = self.fusion(fused).squeeze(-1)  # q: (B, K)

        loss = loss_student = loss_teacher = loss_distillation = loss_cross_video = None
        if labels is not None:
            if durations is None:
                raise ValueError("`labels` are in seconds: pass the video `durations` too.")
            self._check_labels(labels, durations)
            targets = soft_labels(temporal_iou(spans, labels.to(spans.dtype)), self.config.iou_min, self.config.iou_max)
            loss_student = F.binary_cross_entropy_with_logits(student_scores, targets)
            loss = loss_student
            if teacher_scores is not None:
                loss_teacher = F.binary_cross_entropy_with_logits(teacher_scores, targets)
                loss_distillation = distillation_loss(
                    student_scores,
                    teacher_scores.detach() if self.config.detach_teacher else teacher_scores,
                    self.config.distillation_temperature,
                    self.config.distillation_loss,
                )
                loss = loss + loss_teacher + self.config.distillation_weight * loss_distillation
            if self.config.cross_video_weight > 0:
                signatures = query_signatures(video_features, lengths, durations, input_ids, attention_mask)
                loss_cross_video = self._cross_video_loss(moments, queries, targets, signatures)
                loss = loss + self.config.cross_video_weight * loss_cross_video

        output = FVMROutput(
            loss=loss,
            loss_student=loss_student,
            loss_teacher=loss_teacher,
            loss_distillation=loss_distillation,
            loss_cross_video=loss_cross_video,
            student_scores=student_scores,
            teacher_scores=teacher_scores,
            proposal_spans=spans,
            verb_weights=verb_weights,
            node_weights=node_weights,
        )
        return output if return_dict else output.to_tuple()

    def _cross_video_loss(self, moments: torch.Tensor, queries: torch.Tensor, targets: torch.Tensor, signatures: torch.Tensor) -> torch.Tensor:
        """L_cv against the batch's other videos and, with a memory, earlier batches' videos; in
        training mode the batch's moments then enter the memory."""
        signatures = signatures.to(moments.device)
        memory = memory_excluded = None
        if self.cross_video_memory is not None:
            memory, memory_signatures = self.cross_video_memory.rows(moments.device)
            memory_excluded = not_negative(signatures, memory_signatures)
        excluded = not_negative(signatures, signatures)
        loss = cross_video_loss(moments, queries, targets, excluded, self.config.cross_video_temperature, memory, memory_excluded)
        if self.cross_video_memory is not None and self.training:
            self.cross_video_memory.push(moments.flatten(0, 1), signatures.repeat_interleave(moments.shape[1], dim=0))
        return loss

    @staticmethod
    def _check_labels(labels: torch.Tensor, durations: torch.Tensor) -> None:
        if labels.dim() != 2 or labels.shape[1] != 2:
            raise ValueError(f"labels must have shape (batch, 2) [start, end] in seconds, got {tuple(labels.shape)}.")
        bad = ((labels[:, 0] < 0) | (labels[:, 1] > durations.to(labels.dtype) + 1e-6) | (labels[:, 0] >= labels[:, 1]))
        if bool(bad.any()):
            row = int(bad.nonzero()[0])
            raise ValueError(
                f"labels row {row} [{float(labels[row, 0])}, {float(labels[row, 1])}] s is not a span inside "
                f"the video of {float(durations[row])} s (need 0 <= start < end <= duration)."
            )


def log1m_softmax(logits: torch.Tensor) -> torch.Tensor:
    """log(1 − softmax(logits)) over the last dim, stable also where the softmax is close to 1."""
    # at the largest logit 1 − s is the sum of the other probabilities: take its log without cancelling
    top = logits.argmax(-1, keepdim=True)
    log_one_minus = torch.log1p(-torch.softmax(logits, dim=-1).scatter(-1, top, 0.0))
    others = logits.scatter(-1, top, float("-inf"))
    log_rest = torch.logsumexp(others, -1, keepdim=True) - torch.logsumexp(logits, -1, keepdim=True)
    return log_one_minus.scatter(-1, top, log_rest)


def distillation_loss(
    student_scores: torch.Tensor, teacher_scores: torch.Tensor, temperature: float, form: str = "paper"
) -> torch.Tensor:
    """L_dis(p, q) with s = softmax(p / T) (student) and t = softmax(q / T) (teacher, the target).

    (B, K) logits over the K valid proposals -> scalar, averaged over the batch.
    form "paper": the paper's L_ce on the two distributions, −(1/K) Σ_i [t_i log s_i + (1 − t_i) log(1 − s_i)].
    form "hinton" (our deviation): −Σ_i t_i log s_i, about K times larger in gradient.
    """
    student = student_scores / temperature
    target = torch.softmax(teacher_scores / temperature, dim=-1)
    log_s = torch.log_softmax(student, dim=-1)
    if form == "hinton":
        return -(target * log_s).sum(-1).mean()
    if form != "paper":
        raise ValueError(f"Unknown distillation loss form {form!r}; use 'paper' or 'hinton'.")
    return -(target * log_s + (1 - target) * log1m_softmax(student)).mean(-1).mean()


TOKEN_HASH_BASE, TOKEN_HASH_MODULUS = 1_000_003, 2**31 - 1  # polynomial hash of a query's token ids (no int64 overflow)


def query_signatures(
    video_features: torch.Tensor, lengths: torch.Tensor, durations: torch.Tensor, input_ids: torch.Tensor, attention_mask: torch.Tensor
) -> torch.Tensor:
    """(B, 5) float64 [duration, valid clips, Σ features, Σ features², hash of the token ids] of each row:
    what `not_negative` compares (several queries of one video often share a batch, the cross-video
    memory holds earlier batches' queries, and annotations repeat sentences across videos)."""
    device = "cpu" if video_features.device.type == "mps" else video_features.device  # MPS has no float64
    features = video_features.to(device)
    valid = torch.arange(features.shape[1], device=device)[None] < lengths.to(device)[:, None]  # (B, T)
    # per-clip sums accumulated in float64 (no float64 copy of the features), padding clips left out
    clip_sums = features.sum(2, dtype=torch.float64) * valid
    clip_squares = torch.linalg.vector_norm(features, dim=2, dtype=torch.float64).square() * valid
    tokens = (input_ids * attention_mask).to(device, torch.int64) % TOKEN_HASH_MODULUS  # padding hashes as id 0
    powers = torch.tensor([pow(TOKEN_HASH_BASE, position, TOKEN_HASH_MODULUS) for position in range(tokens.shape[1])], device=device)
    text = (tokens * powers % TOKEN_HASH_MODULUS).sum(1) % TOKEN_HASH_MODULUS
    return torch.stack(
        [durations.to(device, torch.float64), lengths.to(device, torch.float64), clip_sums.sum(1), clip_squares.sum(1), text.to(torch.float64)], dim=1
    )


def not_negative(signatures: torch.Tensor, other_signatures: torch.Tensor) -> torch.Tensor:
    """(A, 5), (C, 5) `query_signatures` -> (A, C) bool: True where the other row's moments are no
    negative for this row's query: the same video (the first four values equal up to float64 rounding,
    as the same features summed at other offsets may differ in the last bits), or the same query text
    (equal token ids: the text encoder cannot tell such queries apart, and a moment described by the
    very sentence being searched for is a match, not a negative)."""
    same_video = torch.isclose(signatures[:, None, :4], other_signatures[None, :, :4], rtol=1e-9, atol=1e-9).all(-1)
    return same_video | (signatures[:, None, 4] == other_signatures[None, :, 4])


def cross_video_loss(
    moment_embeddings: torch.Tensor,
    query_embeddings: torch.Tensor,
    targets: torch.Tensor,
    excluded: torch.Tensor,
    temperature: float = 1.0,
    memory_embeddings: torch.Tensor | None = None,
    memory_excluded: torch.Tensor | None = None,
) -> torch.Tensor:
    """L_cv: the moments of the other videos in the batch (and in the memory) as negatives for each
    query (MMN-style).

    With s_ivk = φ_m(m_vk)ᵀ φ_s(s_i) / τ the student logit of query i for moment k of batch video v, and
    n_i = log( Σ_{v not excluded} Σ_k exp(s_ivk) + Σ_{memory rows r not excluded} exp(s_ir) ),

        L_cv = mean_i  Σ_k y_ik · −log( exp(s_iik) / (exp(s_iik) + exp(n_i)) ) / Σ_k y_ik

    i.e. each positive moment (soft label y > 0) of the query's own video must outscore all other
    videos' moments together; excluded are the query's own video and moments annotated with the same
    query text (`not_negative`). Queries whose video has no positive moment, or that have no negative
    at all, do not count; with no such query L_cv is 0.

    Args:
        moment_embeddings: (B, K, J) φ_m(m). query_embeddings: (B, J) φ_s(s). targets: (B, K) soft labels y.
        excluded: (B, B) bool, True where batch row j's moments are no negatives for query i (its own
            video, the diagonal included; see `not_negative`).
        temperature: τ.
        memory_embeddings: (R, J) moment embeddings of earlier batches (see `CrossVideoMemory`), or None.
        memory_excluded: (B, R) bool, True where memory row r is no negative for query i.

    Returns:
        a scalar.
    """
    logits = torch.einsum("vkj,ij->ivk", moment_embeddings, query_embeddings) / temperature  # (B_query, B_video, K)
    positives = logits.diagonal(dim1=0, dim2=1).T  # (B, K): each query's own video
    negatives = logits.masked_fill(excluded.unsqueeze(-1), float("-inf")).flatten(1)  # (B, B K)
    has_negative = ~excluded.all(-1)
    if memory_embeddings is not None and len(memory_embeddings):
        memory_logits = (query_embeddings @ memory_embeddings.T / temperature).masked_fill(memory_excluded, float("-inf"))  # (B, R)
        negatives = torch.cat([negatives, memory_logits], dim=1)
        has_negative = has_negative | ~memory_excluded.all(-1)
    weights = targets.to(logits.dtype)
    counted = (weights.sum(-1) > 0) & has_negative
    if not bool(counted.any()):
        return logits.sum() * 0.0  # keeps the graph (and the device) of a real loss
    negatives = negatives[counted].logsumexp(-1)  # n_i
    per_moment = F.softplus(negatives.unsqueeze(-1) - positives[counted])  # −log(e^s / (e^s + e^n))
    per_query = (weights[counted] * per_moment).sum(-1) / weights[counted].sum(-1)
    return per_query.mean()


class CrossVideoMemory:
    """First-in-first-out memory of moment embeddings from earlier training batches: the negatives of
    L_cv beyond the batch (`config.cross_video_memory_size` rows; a cross-batch memory, without a
    momentum encoder).

    Each training step pushes φ_m of every proposal of every batch video (B K rows, detached: what the
    batch's own negatives are), each with its query's `query_signatures` row (its video and its text).
    Training state, not weights: the trainer saves each process's memory in checkpoints (`state_dict` /
    `load_state_dict`, for an exact resume); `save_pretrained` never sees it.
    """

    def __init__(self, size: int, dim: int):
        self.size = size
        self.embeddings = torch.zeros(size, dim)  # (R, J)
        self.signatures = torch.zeros(size, 5, dtype=torch.float64)  # (R, 5)
        self.written = 0  # rows pushed so far; the next goes to written % size

    def rows(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """(R', J) embeddings and (R', 5) signatures of the filled rows (R' = min(written, size)), on `device`."""
        self.embeddings, self.signatures = self.embeddings.to(device), self.signatures.to(device)
        filled = min(self.written, self.size)
        return self.embeddings[:filled], self.signatures[:filled]

    @torch.no_grad()
    def push(self, embeddings: torch.Tensor, signatures: torch.Tensor) -> None:
        """Append (N, J) embeddings and their (N, 5) signatures, overwriting the oldest rows."""
        embeddings, signatures = embeddings[-self.size :], signatures[-self.size :]
        positions = ((self.written + torch.arange(len(embeddings))) % self.size).to(self.embeddings.device)
        # out of place: the rows handed out by `rows` may still be in this step's autograd graph
        self.embeddings = self.embeddings.index_copy(0, positions, embeddings.detach().to(self.embeddings))
        self.signatures = self.signatures.index_copy(0, positions, signatures.to(self.signatures))
        self.written += len(embeddings)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """Tensors only (a safetensors file holds it)."""
        return {"embeddings": self.embeddings.cpu().contiguous(), "signatures": self.signatures.cpu().contiguous(), "written": torch.tensor(self.written)}

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        if state["embeddings"].shape != self.embeddings.shape:
            raise ValueError(f"A cross-video memory of shape {tuple(state['embeddings'].shape)} does not fit this model's {tuple(self.embeddings.shape)}.")
        self.embeddings, self.signatures, self.written = state["embeddings"], state["signatures"], int(state["written"])


__all__ = ["FVMRModel", "FVMRPreTrainedModel", "FVMROutput", "FVMRVideoOutput", "distillation_loss", "cross_video_loss", "CrossVideoMemory"]
