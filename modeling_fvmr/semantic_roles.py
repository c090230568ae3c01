"""Semantic role trees: sentence -> frames (one per predicate) -> arguments (PropBank roles).

The data model only; the parsers that make trees are `srl_spacy.SpacySemanticRoleParser` (default)
and `srl_allennlp.read_allennlp_srl` (AllenNLP SRL predictor output).

Spans are token indices [start, end) into `SemanticRoleTree.tokens`; `token_starts` holds each
token's character offset in `sentence`, so spans can be mapped onto any tokenizer's positions by
character offsets. A frame whose span is empty (start == end) is the pseudo-frame of a sentence
without a verb: its arguments are the sentence's noun chunks (role "NOUN").
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

PSEUDO_FRAME_ROLE = "NOUN"


@dataclass
class Argument:
    """One argument of a frame: PropBank-style `role` (ARG0, ARGM-LOC, ...) and token span [start, end)."""

    role: str
    start: int
    end: int
    text: str


@dataclass
class Frame:
    """One predicate: verb text and lemma, its token span [start, end), and its arguments."""

    verb: str
    lemma: str
    start: int
    end: int
    arguments: list[Argument] = field(default_factory=list)

    @property
    def is_pseudo(self) -> bool:
        return self.start == self.end


@dataclass
class SemanticRoleTree:
    """The semantic role tree of one query."""

    sentence: str
    tokens: list[str]
    token_starts: list[int]
    frames: list[Frame] = field(default_factory=list)

    def __post_init__(self) -> None:
        if len(self.tokens) != len(self.token_starts):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.token_starts)} token_starts in tree of {self.sentence!r}.")
        for index, (token, start) in enumerate(zip(self.tokens, self.token_starts)):
            if self.sentence[start : start + len(token)] != token:
                raise ValueError(f"Token {index} {token!r} is not at character {start} of {self.sentence!r}.")
        for frame in self.frames:
            for name, (start, end) in [("frame", (frame.start, frame.end))] + [
                (f"argument {argument.role}", (argument.start, argument.end)) for argument in frame.arguments
            ]:
                if not 0 <= start <= end <= len(self.tokens):
                    raise ValueError(f"{name} span [{start}, {end}) is outside the {len(self.tokens)} tokens of {self.sentence!r}.")

    def char_span(self, start: int, end: int) -> tuple[int, int]:
        """Character span [begin, end) in `sentence` of the token span [start, end) (non-empty)."""
        return self.token_starts[start], self.token_starts[end - 1] + len(self.tokens[end - 1])

    def span_text(self, start: int, end: int) -> str:
        """The text of the token span [start, end) as it appears in `sentence` (inner spacing kept)."""
        begin, finish = self.char_span(start, end)
        return self.sentence[begin:finish]

    def to_dict(self) -> dict:
        """Plain nested dict (fits `tree_features()` and JSON)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SemanticRoleTree":
        frames = [
            Frame(**{**frame, "arguments": [Argument(**argument) for argument in frame["arguments"]]})
            for frame in data["frames"]
        ]
        return cls(sentence=data["sentence"], tokens=list(data["tokens"]), token_starts=list(data["token_starts"]), frames=frames)

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> "SemanticRoleTree":
        return cls.from_dict(json.loads(text))


def pseudo_frame(arguments: list[Argument] | None = None) -> Frame:
    """The frame of a sentence without a verb: empty verb span at 0, `arguments` its noun chunks."""
    return Frame(verb="", lemma="", start=0, end=0, arguments=list(arguments or []))


def tree_features():
    """The `datasets` feature type of a tree column (lists of structs as `datasets.List`)."""
    from datasets import List, Value

    argument = {"role": Value("string"), "start": Value("int32"), "end": Value("int32"), "text": Value("string")}
    frame = {
        "verb": Value("string"),
        "lemma": Value("string"),
        "start": Value("int32"),
        "end": Value("int32"),
        "arguments": List(argument),
    }
    return {
        "sentence": Value("string"),
        "tokens": List(Value("string")),
        "token_starts": List(Value("int32")),
        "frames": List(frame),
    }


def align_tokens(sentence: str, tokens: list[str]) -> list[int]:
    """Character offset of each token in `sentence`, matching tokens left to right.

    Raises ValueError naming the first token that cannot be found after the previous one.
    """
    starts, cursor = [], 0
    for index, token in enumerate(tokens):
        position = sentence.find(token, cursor)
        if position < 0:
            raise ValueError(f"Token {index} {token!r} not found after character {cursor} of {sentence!r}.")
        starts.append(position)
        cursor = position + len(token)
    return starts


__all__ = ["Argument", "Frame", "SemanticRoleTree", "tree_features", "align_tokens", "pseudo_frame", "PSEUDO_FRAME_ROLE"]
