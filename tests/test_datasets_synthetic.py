"""The synthetic world: determinism, gold trees, distractors that defeat bag-of-words, chance level, CLI."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest

from datasets_scripts.chance import random_proposal_recall
from datasets_scripts.simulation import ConceptSpace
from datasets_scripts.synthetic import (
    Event,
    SyntheticWorldConfig,
    build_synthetic_world,
    describe,
    generate_synthetic_videos,
    render_video,
    same_bag_fraction,
)
from modeling_fvmr.cli import main as fvmr_main
from modeling_fvmr.data import load_moment_retrieval

SMALL = {"train": 60, "validation": 10, "test": 20}


@pytest.fixture(scope="module")
def videos():
    return generate_synthetic_videos(SyntheticWorldConfig(num_videos=SMALL, seed=7))


def test_world_is_deterministic_from_its_seed():
    first_annotations, first_features = build_synthetic_world(num_videos={"train": 8, "test": 4}, feature_dim=16, seed=3)
    again_annotations, again_features = build_synthetic_world(num_videos={"train": 8, "test": 4}, feature_dim=16, seed=3)
    other_annotations, other_features = build_synthetic_world(num_videos={"train": 8, "test": 4}, feature_dim=16, seed=4)
    for split in ("train", "test"):
        assert first_annotations[split].to_list() == again_annotations[split].to_list()
        np.testing.assert_array_equal(
            np.concatenate(first_features[split].with_format("numpy")["features"]),
            np.concatenate(again_features[split].with_format("numpy")["features"]),
        )
    assert first_annotations["train"]["sentence"] != other_annotations["train"]["sentence"]
    assert first_features["train"][0]["features"] != other_features["train"][0]["features"]


def test_videos_vary_in_length_and_features_follow_the_clip_rate(videos):
    annotations, features = build_synthetic_world(num_videos={"train": 30}, feature_dim=16, seed=1, clip_seconds=2.0)
    durations = np.array(features["train"]["duration"])
    clips = np.array([len(video) for video in features["train"].with_format("numpy")["features"]])
    np.testing.assert_array_equal(clips, np.round(durations / 2.0))
    assert durations.max() > 1.5 * durations.min() and len(set(clips)) > 5
    rows = annotations["train"]
    assert all(0 <= start < end <= duration for start, end, duration in zip(rows["start"], rows["end"], rows["duration"]))


def test_gold_tree_of_a_give_event_is_exact():
    config = SyntheticWorldConfig(place_probability=1.0, progressive_probability=0.0)
    tree = describe([Event("give", "man", "hand", "cup", "woman")], "living room", np.random.default_rng(0), config)
    assert re.fullmatch(r"(the|a) man hands (the|a) cup to the woman in the living room", tree.sentence)
    assert tree.tokens == tree.sentence.split()
    (frame,) = tree.frames
    assert (frame.verb, frame.lemma, frame.start, frame.end) == ("hands", "hand", 2, 3)
    assert [(argument.role, argument.start, argument.end, argument.text) for argument in frame.arguments] == [
        ("ARG0", 0, 2, " ".join(tree.tokens[0:2])),
        ("ARG1", 3, 5, " ".join(tree.tokens[3:5])),
        ("ARG2", 5, 8, "to the woman"),
        ("ARGM-LOC", 8, 12, "in the living room"),
    ]


def test_gold_tree_of_a_put_event_and_its_mirror():
    config = SyntheticWorldConfig(place_probability=0.0, progressive_probability=1.0)
    event = Event("put", "person", "put", "towel", "pillow")
    tree = describe([event], "kitchen", np.random.default_rng(0), config)
    assert re.fullmatch(r"(the|a) person is putting (the|a) towel on the pillow", tree.sentence)
    assert [(a.role, a.text) for a in tree.frames[0].arguments][1:] == [("ARG1", " ".join(tree.tokens[4:6])), ("ARG2", "on the pillow")]
    assert (tree.frames[0].verb, tree.frames[0].lemma) == ("putting", "put")
    assert event.mirror() == Event("put", "person", "put", "pillow", "towel")
    assert event.mirror().words() == event.words() and event.mirror().concepts() != event.concepts()


def test_gold_tree_of_a_two_event_query_inherits_the_subject():
    config = SyntheticWorldConfig(place_probability=0.0)
    events = [Event("object", "person", "open", "fridge"), Event("object", "person", "take out", "bottle")]
    tree = describe(events, "kitchen", np.random.default_rng(1), config)
    assert re.fullmatch(r"(the|a) person opens (the|a) fridge and then takes out (the|a) bottle", tree.sentence)
    first, second = tree.frames
    assert (second.verb, second.lemma, tree.tokens[second.start : second.end]) == ("takes out", "take out", ["takes", "out"])
    assert [(a.role, a.start, a.end) for a in second.arguments] == [("ARG0", 0, 2), ("ARGM-TMP", 6, 7), ("ARG1", 9, 11)]
    assert first.arguments[0] == second.arguments[0]


def test_every_sentence_has_a_consistent_gold_tree(videos):
    for video in videos["train"]:
        for query in video.queries:
            tree = query.tree
            assert tree.sentence == query.sentence and 1 <= len(tree.frames) == len(query.events) <= 2
            for frame in tree.frames:
                assert frame.lemma == video.events[query.events[tree.frames.index(frame)]].verb
                for argument in frame.arguments:
                    assert argument.text == " ".join(tree.tokens[argument.start : argument.end])
            assert query.start == video.spans[query.events[0]][0] and query.end == video.spans[query.events[-1]][1]


def test_every_target_has_distractors_sharing_its_verb_object_or_actor(videos):
    for video in videos["train"] + videos["test"]:
        assert len(set(video.events)) == len(video.events)  # every event is described by exactly one query text
        for query in video.queries:
            for index in query.events:
                target = video.events[index]
                others = [event for position, event in enumerate(video.events) if position not in query.events]
                assert any(
                    other.verb == target.verb or other.theme == target.theme or other.agent == target.agent for other in others
                ), (video.video_id, target)


def test_mirrored_events_come_with_their_twin(videos):
    """Person, give and put events have a twin in the same video with the same words and two
    participants swapped, at another time: a bag-of-words scorer cannot tell them apart."""
    mirrored = 0
    for video in videos["train"]:
        for query in video.queries:
            target = video.events[query.events[0]]
            if target.kind not in ("person", "give", "put"):
                continue
            assert target.mirror() in video.events
            twins = [i for i, event in enumerate(video.events) if event != target and event.words() == target.words()]
            assert len(twins) == 1
            twin_start, twin_end = video.spans[twins[0]]
            assert twin_end <= query.start or twin_start >= query.end
            mirrored += 1
    assert mirrored > 0
    one_event_queries = sum(len(query.events) == 1 for video in videos["train"] for query in video.queries)
    assert same_bag_fraction(videos["train"]) == pytest.approx(mirrored / one_event_queries)
    assert same_bag_fraction(videos["train"]) > 0.5


def test_features_separate_roles_that_bag_of_words_cannot(videos):
    """Oracle scorers that know the concept vectors: on mirror-image queries, one that binds people to
    their roles picks the target over its twin almost always; one that sees only the words is at chance."""
    config = SyntheticWorldConfig(num_videos=SMALL, seed=7)
    concepts = ConceptSpace(config.feature_dim, config.seed)

    role_aware = bag_of_words = pairs = 0
    for video in videos["train"] + videos["test"]:
        clips = render_video(video, concepts, config).astype(np.float64)
        times = (np.arange(len(clips)) + 0.5) * video.duration / len(clips)

        def span_mean(index):
            start, end = video.spans[index]
            return clips[(times >= start) & (times < end)].mean(0)

        for query in video.queries:
            target_index = query.events[0]
            target = video.events[target_index]
            if len(query.events) != 1 or target.kind not in ("person", "give", "put"):
                continue
            twin_index = next(i for i, event in enumerate(video.events) if event != target and event.words() == target.words())
            target_clips, twin_clips = span_mean(target_index), span_mean(twin_index)
            with_roles = concepts.mix(target.concepts())
            words_only = concepts.mix(target.words())  # plain word concepts: the same for the twin
            role_aware += with_roles @ target_clips > with_roles @ twin_clips
            bag_of_words += words_only @ target_clips > words_only @ twin_clips
            pairs += 1
    print(f"{pairs} mirror pairs: role-aware {role_aware / pairs:.2f}, bag of words {bag_of_words / pairs:.2f}")
    assert pairs >= 20
    assert role_aware / pairs > 0.9
    assert abs(bag_of_words / pairs - 0.5) < 0.25


def test_random_proposal_chance_level_by_hand():
    # 4 clips of a 100 s video: 10 proposals; against [0, 50] only [0, 50] (IoU 1) and [0, 75] (IoU 2/3)
    # are above 0.5 ([0, 25], [25, 50] and [0, 100] are exactly 0.5, not a hit)
    assert random_proposal_recall(np.array([0.0]), np.array([50.0]), np.array([100.0]), num_clips=4) == pytest.approx(20.0)
    # sparse geometry: 2 clips, pooling [0] keeps only the 2 one-clip proposals; [0, 50] of 100 s matches one of them
    assert random_proposal_recall(np.array([0.0]), np.array([50.0]), np.array([100.0]), num_clips=2, pooling_counts=[0]) == pytest.approx(50.0)


def test_cli_writes_the_synthetic_world(tmp_path, capsys):
    output = tmp_path / "world"
    assert fvmr_main(["build-dataset", "synthetic", "--output", str(output), "--num-videos", "train=12,validation=3,test=3", "--feature-dim", "32"]) == 0
    assert "FVMR synthetic world: SYNTHETIC features" in capsys.readouterr().out
    annotations, features = load_moment_retrieval(output)
    assert [annotations[split].num_rows for split in ("train", "validation", "test")] == [24, 6, 6]
    assert features["train"].features["features"].shape == (None, 32)
    report = json.loads((output / "build_report.json").read_text())
    assert report["features"]["kind"] == "synthetic" and report["trees"].startswith("gold trees")
    card = (output / "README.md").read_text()
    assert "**This is a SYNTHETIC world**" in card and "license: mit" in card
    assert fvmr_main(["build-dataset", "synthetic", "--output", str(output), "--features", "simulated"]) == 1
