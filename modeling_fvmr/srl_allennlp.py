"""Reader for the output of AllenNLP's `structured-prediction-srl-bert` predictor (DESIGN §4).

One record per sentence: `{"words": [...], "verbs": [{"verb": "opens", "description": "...",
"tags": ["B-ARG0", "I-ARG0", "B-V", "O", ...]}]}`, as JSON lines (`allennlp predict` output) or as
one JSON list. Each verb becomes a frame whose arguments are its BIO-tagged spans; frames with no
argument are dropped (as the HGR pipeline does), and a sentence left without frames gets an empty
pseudo-frame. AllenNLP gives no lemmas: a frame's lemma is its verb text, lower-cased.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import replace

from .semantic_roles import Argument, Frame, SemanticRoleTree, align_tokens, pseudo_frame


def bio_spans(tags: Sequence[str]) -> list[tuple[str, int, int]]:
    """BIO tags -> (label, start, end) spans [start, end), in order.

    Raises ValueError for a tag that is not O / B-<label> / I-<label>, or an I- tag that does not
    continue a span of the same label.
    """
    spans: list[tuple[str, int, int]] = []
    for index, tag in enumerate(tags):
        if tag == "O":
            continue
        prefix, _, label = str(tag).partition("-")
        if prefix not in ("B", "I") or not label:
            raise ValueError(f"tag {index} {tag!r} is not O, B-<label> or I-<label>")
        if prefix == "B":
            spans.append((label, index, index + 1))
        elif spans and spans[-1][0] == label and spans[-1][2] == index:
            spans[-1] = (label, spans[-1][1], index + 1)
        else:
            raise ValueError(f"tag {index} {tag!r} does not follow B-{label} or I-{label}")
    return spans


def tree_from_allennlp(record: dict, sentence: str | None = None) -> SemanticRoleTree:
    """One predictor record -> its semantic role tree.

    Args:
        record: `{"words": [...], "verbs": [{"verb": ..., "tags": [...]}, ...]}`.
        sentence: the original text of the words (keeps the query's own spacing); default
            `" ".join(words)`.
    """
    if not isinstance(record, dict) or "words" not in record or "verbs" not in record:
        raise ValueError("a record must be an object with 'words' and 'verbs'")
    words = list(record["words"])
    if not words:
        raise ValueError("the record has no words")
    sentence = " ".join(words) if sentence is None else sentence
    tree = SemanticRoleTree(sentence, words, align_tokens(sentence, words))
    frames = []
    for number, verb in enumerate(record["verbs"]):
        if not isinstance(verb, dict):
            raise ValueError(f"verb {number} is not an object with 'verb' and 'tags'")
        tags = verb.get("tags", [])
        name = f"verb {number} ({verb.get('verb')!r})"
        if len(tags) != len(words):
            raise ValueError(f"{name} has {len(tags)} tags for {len(words)} words")
        try:
            spans = bio_spans(tags)
        except ValueError as error:
            raise ValueError(f"{name}: {error}") from None
        verb_spans = [(start, end) for label, start, end in spans if label == "V"]
        if len(verb_spans) != 1:
            raise ValueError(f"{name} has {len(verb_spans)} B-V spans, expected exactly 1")
        arguments = [
            Argument(role=label, start=start, end=end, text=tree.span_text(start, end))
            for label, start, end in spans
            if label != "V"
        ]
        if arguments:
            start, end = verb_spans[0]
            text = tree.span_text(start, end)
            frames.append(Frame(verb=text, lemma=text.lower(), start=start, end=end, arguments=arguments))
    return replace(tree, frames=frames or [pseudo_frame()])


def read_allennlp_srl(path: str | os.PathLike, sentences: Sequence[str] | None = None) -> list[SemanticRoleTree]:
    """Trees of every record of a predictor output file: JSON lines, or one JSON list.

    Args:
        path: the file. Blank lines of a JSONL file are skipped.
        sentences: optional original sentences, one per record (see `tree_from_allennlp`).

    Raises ValueError naming the file and the 1-based line (JSONL) or 0-based record index (JSON list).
    """
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    if text.lstrip().startswith("["):
        try:
            records = [(f"record {index}", record) for index, record in enumerate(json.loads(text))]
        except json.JSONDecodeError as error:
            raise ValueError(f"{path}: not valid JSON ({error})") from None
    else:
        records = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                records.append((f"line {number}", json.loads(line)))
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}, line {number}: not valid JSON ({error})") from None
    if sentences is not None and len(sentences) != len(records):
        raise ValueError(f"{path}: {len(records)} records but {len(sentences)} sentences")
    trees = []
    for index, (where, record) in enumerate(records):
        try:
            trees.append(tree_from_allennlp(record, None if sentences is None else sentences[index]))
        except ValueError as error:
            raise ValueError(f"{path}, {where}: {error}") from None
    return trees


__all__ = ["read_allennlp_srl", "tree_from_allennlp", "bio_spans"]
