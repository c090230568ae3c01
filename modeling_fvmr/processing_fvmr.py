"""FVMR processor: queries, semantic role trees and clip features -> model inputs.

`processor(text, trees=..., video_features=..., durations=..., timestamps=...)` returns a
`BatchFeature` with exactly the keyword arguments of `FVMRModel.forward`. Tree spans are mapped onto
the tokenizer's positions through character offsets (never by searching strings), and frames or
arguments beyond `max_verbs` / `max_arguments` are dropped *and counted* in `truncation_counts`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch
from transformers import BatchFeature, ProcessorMixin

from .configuration_fvmr import DEFAULT_ROLE_LABELS
from .semantic_roles import SemanticRoleTree, pseudo_frame

logger = logging.getLogger(__name__)


def normalize_role(role: str) -> str:
    """PropBank label as used for role ids: continuation / reference prefixes dropped (C-ARG1 -> ARG1)."""
    for prefix in ("C-", "R-"):
        if role.startswith(prefix):
            return role[len(prefix) :]
    return role


def pad_video_features(video_features: Sequence) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack variable-length (T_i, D) clip features into (B, T_max, D) float32 and a (B, T_max) mask."""
    videos = [torch.from_numpy(np.array(video, dtype=np.float32)) for video in video_features]  # a copy: memory-mapped rows are read-only
    for index, video in enumerate(videos):
        if video.dim() != 2:
            raise ValueError(f"video_features[{index}] must have shape (clips, dim), got {tuple(video.shape)}.")
        if video.shape[0] == 0:
            raise ValueError(f"video_features[{index}] has zero clips.")
    dims = {video.shape[1] for video in videos}
    if len(dims) > 1:
        raise ValueError(f"video_features mix feature sizes {sorted(dims)}.")
    features = torch.nn.utils.rnn.pad_sequence(videos, batch_first=True)
    lengths = torch.tensor([len(video) for video in videos])
    mask = (torch.arange(features.shape[1]) < lengths.unsqueeze(1)).long()
    return features, mask


class FVMRProcessor(ProcessorMixin):
    """Tokenizer + semantic-role-tree tensoriser + clip-feature padding for [`FVMRModel`].

    Args:
        tokenizer: the word tokenizer (see `build_word_tokenizer`).
        role_labels: role vocabulary, in the order of the model's role embeddings (config.role_labels).
        max_verbs: frames kept per query (config.max_verbs).
        max_arguments: arguments kept per frame (config.max_arguments).
    """

    attributes = ["tokenizer"]
    tokenizer_class = "AutoTokenizer"

    def __init__(
        self,
        tokenizer=None,
        role_labels: list[str] | None = None,
        max_verbs: int = 4,
        max_arguments: int = 4,
        **kwargs,
    ):
        self.role_labels = list(role_labels) if role_labels is not None else list(DEFAULT_ROLE_LABELS)
        self.max_verbs = max_verbs
        self.max_arguments = max_arguments
        self.truncation_counts: Counter = Counter()
        super().__init__(tokenizer, **kwargs)

    @classmethod
    def from_config(cls, tokenizer, config) -> "FVMRProcessor":
        """Processor whose tree limits and role vocabulary match a model config."""
        return cls(tokenizer, role_labels=config.role_labels, max_verbs=config.max_verbs, max_arguments=config.max_arguments)

    def __call__(
        self,
        text: str | list[str],
        trees: Sequence[SemanticRoleTree | dict] | None = None,
        video_features: Sequence | None = None,
        durations: Sequence[float] | None = None,
        timestamps: Sequence[Sequence[float]] | None = None,
        padding: bool | str = True,
        truncation: bool | None = None,
        max_length: int | None = None,
        return_tensors: str = "pt",
    ) -> BatchFeature:
        """
        Args:
            text: one query or a batch of B queries.
            trees: one semantic role tree per query (objects or dicts); its `sentence` must be the query.
            video_features: one (T_i, D) array per query.
            durations: video lengths in seconds, one per query.
            timestamps: ground-truth [start, end] in seconds, one per query (become `labels`).
            padding, truncation, max_length: as for the tokenizer (pad to the longest query by default;
                `truncation=True` cuts queries to `max_length` or the tokenizer's `model_max_length` words,
                and tree arguments / frames past the cut are dropped and counted in `truncation_counts`).
            return_tensors: "pt" (torch) or "np" (numpy).

        Returns:
            `BatchFeature` with input_ids, attention_mask (B, L); with trees verb_spans (B, V, 2),
            verb_mask (B, V), argument_spans (B, V, A, 2), argument_roles (B, V, A), argument_mask
            (B, V, A); with features video_features (B, T, D), video_mask (B, T); durations (B,);
            labels (B, 2).
        """
        texts = [text] if isinstance(text, str) else list(text)
        if not texts:
            raise ValueError("No queries given.")
        for index, query in enumerate(texts):
            if not isinstance(query, str) or not query.strip():
                raise ValueError(f"Query {index} is empty.")
        if return_tensors not in ("pt", "np"):
            raise ValueError(f"return_tensors must be 'pt' or 'np', got {return_tensors!r}.")
        encoding = self.tokenizer(
            texts, padding=padding, truncation=truncation, max_length=max_length, return_offsets_mapping=True, return_tensors="pt"
        )
        offsets = encoding.pop("offset_mapping")
        batch = {"input_ids": encoding["input_ids"], "attention_mask": encoding["attention_mask"]}
        if (batch["attention_mask"].sum(1) == 0).any():
            row = int((batch["attention_mask"].sum(1) == 0).nonzero()[0])
            raise ValueError(f"Query {row} {texts[row]!r} has no tokens.")
        if trees is not None:
            batch.update(self.tensorize_trees(texts, trees, offsets, batch["attention_mask"]))
        if video_features is not None:
            batch["video_features"], batch["video_mask"] = pad_video_features(video_features)
            self._check_length("video_features", len(batch["video_features"]), len(texts))
        if durations is not None:
            batch["durations"] = torch.as_tensor(np.asarray(durations, dtype=np.float32))
            self._check_length("durations", len(batch["durations"]), len(texts))
        if timestamps is not None:
            batch["labels"] = torch.as_tensor(np.asarray(timestamps, dtype=np.float32)).view(-1, 2)
            self._check_length("timestamps", len(batch["labels"]), len(texts))
        if return_tensors == "np":
            batch = {name: value.numpy() for name, value in batch.items()}
        return BatchFeature(batch, tensor_type=return_tensors)

    def unknown_queries(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> list[bool]:
        """(B,) True for each query none of whose words is in the vocabulary (every token [UNK]): the model
        has nothing to match, so its scores mean nothing."""
        known = (input_ids != self.tokenizer.unk_token_id) & attention_mask.bool()
        return [not bool(row.any()) for row in known]

    @staticmethod
    def _check_length(name: str, got: int, expected: int) -> None:
        if got != expected:
            raise ValueError(f"{got} {name} for {expected} queries.")

    def role_id(self, role: str) -> int:
        """Index of a role label in `role_labels`; unknown labels map to index 0 ("OTHER")."""
        role = normalize_role(role)
        return self.role_labels.index(role) if role in self.role_labels else 0

    def tensorize_trees(
        self,
        texts: list[str],
        trees: Sequence[SemanticRoleTree | dict],
        offsets: torch.Tensor,
        attention_mask: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Padded tree tensors; `offsets` (B, L, 2) are the tokenizer's character offsets."""
        self._check_length("trees", len(trees), len(texts))
        batch_size = len(texts)
        verb_spans = torch.zeros(batch_size, self.max_verbs, 2, dtype=torch.long)
        verb_mask = torch.zeros(batch_size, self.max_verbs, dtype=torch.bool)
        argument_spans = torch.zeros(batch_size, self.max_verbs, self.max_arguments, 2, dtype=torch.long)
        argument_roles = torch.zeros(batch_size, self.max_verbs, self.max_arguments, dtype=torch.long)
        argument_mask = torch.zeros(batch_size, self.max_verbs, self.max_arguments, dtype=torch.bool)
        truncated_before = self.truncation_counts["frames_dropped"] + self.truncation_counts["arguments_dropped"]
        for row, (query, tree) in enumerate(zip(texts, trees)):
            tree = tree if isinstance(tree, SemanticRoleTree) else SemanticRoleTree.from_dict(tree)
            if tree.sentence != query:
                raise ValueError(f"Tree {row} is for {tree.sentence!r}, not for the query {query!r}.")
            token_offsets = offsets[row][attention_mask[row].bool()].tolist()
            frames = tree.frames or [pseudo_frame()]  # a tree without frames still gives the teacher a node
            if len(frames) > self.max_verbs:
                self.truncation_counts["frames_dropped"] += len(frames) - self.max_verbs
                frames = frames[: self.max_verbs]
            for slot, frame in enumerate(frames):
                verb_mask[row, slot] = True
                if not frame.is_pseudo:
                    span = _token_span(tree, frame.start, frame.end, token_offsets)
                    if span is None:  # the verb is past a truncated query's last word
                        verb_mask[row, slot] = False
                        self.truncation_counts["frames_dropped"] += 1
                        continue
                    verb_spans[row, slot] = torch.tensor(span)
                arguments = frame.arguments
                if len(arguments) > self.max_arguments:
                    self.truncation_counts["arguments_dropped"] += len(arguments) - self.max_arguments
                    arguments = arguments[: self.max_arguments]
                position = 0
                for argument in arguments:
                    span = _token_span(tree, argument.start, argument.end, token_offsets)
                    if span is None:
                        self.truncation_counts["arguments_dropped"] += 1
                        continue
                    argument_spans[row, slot, position] = torch.tensor(span)
                    argument_roles[row, slot, position] = self.role_id(argument.role)
                    argument_mask[row, slot, position] = True
                    position += 1
        self.truncation_counts["queries"] += batch_size
        truncated_now = self.truncation_counts["frames_dropped"] + self.truncation_counts["arguments_dropped"]
        if truncated_now > truncated_before and truncated_before == 0:
            logger.warning(
                "Semantic role trees exceed max_verbs=%d / max_arguments=%d: extra frames and arguments are "
                "dropped (counted in processor.truncation_counts).",
                self.max_verbs,
                self.max_arguments,
            )
        return {
            "verb_spans": verb_spans,
            "verb_mask": verb_mask,
            "argument_spans": argument_spans,
            "argument_roles": argument_roles,
            "argument_mask": argument_mask,
        }


def _token_span(tree: SemanticRoleTree, start: int, end: int, token_offsets: list[list[int]]) -> tuple[int, int] | None:
    """Tree token span [start, end) -> tokenizer span [first, last + 1) of the tokens overlapping it; None
    when the span lies wholly past the last token (a query truncated to max_length)."""
    if start >= end:
        raise ValueError(f"Empty argument span [{start}, {end}) in the tree of {tree.sentence!r}.")
    char_start, char_end = tree.char_span(start, end)
    covered = [index for index, (begin, finish) in enumerate(token_offsets) if begin < char_end and finish > char_start]
    if not covered and token_offsets and char_start >= token_offsets[-1][1] and token_offsets[-1][1] < len(tree.sentence.rstrip()):
        return None
    if not covered:
        raise ValueError(f"Span {tree.sentence[char_start:char_end]!r} of {tree.sentence!r} covers no model token.")
    return covered[0], covered[-1] + 1


__all__ = ["FVMRProcessor", "normalize_role", "pad_video_features"]
