"""Precomputing the semantic role tree of every query when a dataset is built.

A tree parser is any callable `list[str] -> list[SemanticRoleTree]` (one tree per sentence, in
order). `"spacy"` names the default parser (`modeling_fvmr.semantic_roles.SpacySemanticRoleParser`,
imported only when used); `None` builds a dataset without a tree column.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from tqdm.auto import tqdm

from modeling_fvmr.semantic_roles import SemanticRoleTree

TreeParser = Callable[[list[str]], list[SemanticRoleTree]]

# The word tokenizer's pre-tokenization (tokenizers' `Whitespace`): the `tokens` of a dataset built without trees.
WORD_PATTERN = re.compile(r"\w+|[^\w\s]+")


def resolve_tree_parser(tree_parser: TreeParser | str | None) -> TreeParser | None:
    """A callable parser from `"spacy"`, `"none"`, None or a callable."""
    if tree_parser is None or tree_parser == "none":
        return None
    if callable(tree_parser):
        return tree_parser
    if tree_parser == "spacy":
        from modeling_fvmr.srl_spacy import SpacySemanticRoleParser

        parser = SpacySemanticRoleParser()
        return lambda sentences: parser.parse_batch(sentences, show_progress=False)
    raise ValueError(f"Unknown tree parser {tree_parser!r}: use 'spacy', 'none' or a callable.")


def describe_tree_parser(tree_parser: TreeParser | str | None) -> str:
    """How the trees were made, for the card and the report."""
    if tree_parser is None or tree_parser == "none":
        return "none (no tree column)"
    if tree_parser == "spacy":
        return "spaCy dependency parse mapped to PropBank-style frames (modeling_fvmr.semantic_roles.SpacySemanticRoleParser)"
    if isinstance(tree_parser, str):
        return tree_parser
    return getattr(tree_parser, "__qualname__", type(tree_parser).__name__)


def parse_trees(sentences: list[str], tree_parser: TreeParser, chunk_size: int = 1024) -> dict[str, SemanticRoleTree]:
    """Tree of each distinct sentence, parsed in chunks under a progress bar.

    Raises ValueError when the parser returns the wrong number of trees or a tree of another sentence.
    """
    unique = list(dict.fromkeys(sentences))
    trees: dict[str, SemanticRoleTree] = {}
    with tqdm(total=len(unique), desc="Parsing semantic role trees", unit="sentence") as progress:
        for begin in range(0, len(unique), chunk_size):
            chunk = unique[begin : begin + chunk_size]
            parsed = tree_parser(chunk)
            if len(parsed) != len(chunk):
                raise ValueError(f"The tree parser returned {len(parsed)} trees for {len(chunk)} sentences.")
            for sentence, tree in zip(chunk, parsed):
                if tree.sentence != sentence:
                    raise ValueError(f"The tree parser returned a tree of {tree.sentence!r} for {sentence!r}.")
                trees[sentence] = tree
            progress.update(len(chunk))
    return trees


def word_tokens(sentence: str) -> list[str]:
    """Words and punctuation runs of a sentence (the `tokens` column when there are no trees)."""
    return WORD_PATTERN.findall(sentence)


__all__ = ["TreeParser", "resolve_tree_parser", "describe_tree_parser", "parse_trees", "word_tokens"]
