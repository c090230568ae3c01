"""The synthetic world: generated videos, English queries, GOLD semantic role trees and clip features.

The embedded default of the demo and the tests; nothing is downloaded. A video takes place in one
room (kitchen, bedroom, ...) with one actor ("the person") or two ("the man" and "the girl", ...) and
is a sequence of events separated by idle background. An event is who does what to what:

    object  "the man opens the fridge"                 ARG0 V ARG1
    person  "a girl hugs the boy"                      ARG0 V ARG1 (a person)
    give    "the woman hands a cup to the man"         ARG0 V ARG1 ARG2 (a person)
    put     "the person puts the towel on the pillow"  ARG0 V ARG1 ARG2 (an object)
    seat    "a boy is sitting on the sofa"             ARG1 V ARG2 (PropBank sit.01 / lie.01)

plus two-event queries "the person opens the fridge and then takes out a bottle" (the second frame
inherits ARG0 and has ARGM-TMP "then"); any query may end with ARGM-LOC "in the kitchen".

Each queried (target) event comes with distractor events in the same video that share its verb, its
object or its actor: "the man opens the cabinet", "the man closes the fridge", "the girl opens the
fridge". Person, give and put events always come with their mirror image ("the man hands a cup to
the woman" next to "the woman hands a cup to the man", "puts the towel on the pillow" next to "puts
the pillow on the towel"): the same bag of words, so a scorer that ignores who does what to what
cannot tell them apart (`same_bag_fraction` of the one-event queries are like this).

Clip features: every concept has a fixed random unit vector (`ConceptSpace`, seeded); a participant
shows both its own concept and a concept of the role it plays (agent / theme / goal), as the one who
acts looks different from the one acted upon. An event shows the normalised sum of these vectors over
its span; the room and the video add a background; then temporal smoothing and noise
(`render_clip_features`). Everything is deterministic from `seed`.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
from datasets import Dataset, DatasetDict

from modeling_fvmr.atomic import check_output_folder
from modeling_fvmr.semantic_roles import Argument, Frame, SemanticRoleTree

from .building import (
    SPLITS,
    BuiltDataset,
    SourceInfo,
    annotations_dataset,
    make_report,
    save_dataset,
    video_features_schema,
)
from .features import ClipFeatureFile
from .records import QueryRecord, SplitReport
from .simulation import ConceptSpace, SimulatedMoment, render_clip_features, stable_hash
from .trees import TreeParser, describe_tree_parser, parse_trees, resolve_tree_parser

DEFAULT_NUM_VIDEOS = {"train": 1000, "validation": 150, "test": 150}

ACTORS = ("man", "woman", "boy", "girl")
SOLO_ACTOR = "person"
PLACES = ("kitchen", "living room", "bedroom", "bathroom", "garage", "office", "hallway")


@dataclass(frozen=True)
class Verb:
    """A verb in its three forms, e.g. Verb("pick up", "picks up", "picking up")."""

    lemma: str
    third_person: str
    progressive: str


def _verb(lemma: str, third_person: str, progressive: str) -> Verb:
    return Verb(lemma, third_person, progressive)


# object events: verb -> the objects it takes
OBJECT_VERBS = {
    _verb("open", "opens", "opening"): ("fridge", "door", "cabinet", "box", "window", "laptop", "drawer"),
    _verb("close", "closes", "closing"): ("fridge", "door", "cabinet", "box", "window", "laptop", "drawer"),
    _verb("pick up", "picks up", "picking up"): ("cup", "book", "phone", "bag", "towel", "bottle", "pillow", "box"),
    _verb("put down", "puts down", "putting down"): ("cup", "book", "phone", "bag", "towel", "bottle", "pillow", "box"),
    _verb("hold", "holds", "holding"): ("cup", "book", "phone", "bag", "towel", "bottle", "pillow"),
    _verb("wash", "washes", "washing"): ("cup", "plate", "towel", "window"),
    _verb("take out", "takes out", "taking out"): ("bottle", "phone", "plate", "cup", "towel"),
    _verb("read", "reads", "reading"): ("book", "letter", "newspaper"),
    _verb("eat", "eats", "eating"): ("sandwich", "apple", "cookie"),
}
# person events: the patient is the other actor
PERSON_VERBS = {
    _verb("hug", "hugs", "hugging"): (),
    _verb("follow", "follows", "following"): (),
    _verb("push", "pushes", "pushing"): (),
    _verb("greet", "greets", "greeting"): (),
    _verb("watch", "watches", "watching"): (),
}
# give events: an object passes from the agent to the other actor
GIVE_VERBS = {
    _verb("hand", "hands", "handing"): ("cup", "book", "phone", "bag", "bottle", "towel"),
    _verb("give", "gives", "giving"): ("cup", "book", "phone", "bag", "bottle", "apple"),
    _verb("show", "shows", "showing"): ("book", "phone", "letter", "newspaper", "laptop"),
    _verb("throw", "throws", "throwing"): ("ball", "pillow", "towel", "apple", "bag"),
}
# put events: one object is put on another
PUT_OBJECTS = ("book", "box", "pillow", "towel", "bag", "plate", "laptop")
PUT_VERBS = {_verb("put", "puts", "putting"): PUT_OBJECTS, _verb("stack", "stacks", "stacking"): PUT_OBJECTS}
# seat events: someone sits or lies on something
SEAT_VERBS = {
    _verb("sit", "sits", "sitting"): ("sofa", "chair", "bed", "floor"),
    _verb("lie", "lies", "lying"): ("sofa", "bed", "floor"),
}


@dataclass(frozen=True)
class EventKind:
    """A kind of event: its verbs (each with the themes it takes) and how its words are phrased.

    Args:
        verbs: verb -> themes (empty for person events, whose theme is the other actor).
        subject_role, theme_role: PropBank labels of the agent and theme phrases.
        theme_preposition: "on" for "sits on the sofa", "" for a bare noun phrase.
        goal_preposition: "to" (give: the other actor) or "on" (put: another object); None without a goal.
        mirrored: the kind's events come with their mirror image (same words, two participants swapped).
    """

    verbs: dict[Verb, tuple[str, ...]]
    subject_role: str = "ARG0"
    theme_role: str = "ARG1"
    theme_preposition: str = ""
    goal_preposition: str | None = None
    mirrored: bool = False


KINDS = {
    "object": EventKind(OBJECT_VERBS),
    "person": EventKind(PERSON_VERBS, mirrored=True),
    "give": EventKind(GIVE_VERBS, goal_preposition="to", mirrored=True),
    "put": EventKind(PUT_VERBS, goal_preposition="on", mirrored=True),
    "seat": EventKind(SEAT_VERBS, subject_role="ARG1", theme_role="ARG2", theme_preposition="on"),  # PropBank sit.01 / lie.01
}
VERBS = {verb.lemma: verb for kind in KINDS.values() for verb in kind.verbs}

# probability of each target kind ("sequence": two object events of one agent) in videos with two actors / one actor
KIND_WEIGHTS = {
    2: {"object": 0.15, "person": 0.2, "give": 0.2, "put": 0.2, "seat": 0.05, "sequence": 0.2},
    1: {"object": 0.3, "put": 0.4, "seat": 0.1, "sequence": 0.2},
}


@dataclass(frozen=True)
class Event:
    """Who does what to what: `theme` is the object, the patient or the seat; `goal` the recipient of a
    give event or the object something is put on."""

    kind: str
    agent: str
    verb: str
    theme: str
    goal: str | None = None

    def mirror(self) -> "Event":
        """The same words with two participants swapped (the man hugs the girl -> the girl hugs the man)."""
        if self.kind == "person":
            return replace(self, agent=self.theme, theme=self.agent)
        if self.kind == "give":
            return replace(self, agent=self.goal, goal=self.agent)
        if self.kind == "put":
            return replace(self, theme=self.goal, goal=self.theme)
        raise ValueError(f"{self.kind} events have no mirror image.")

    def concepts(self) -> list[str]:
        """Concept names shown on screen: the verb, and each participant plain and bound to its role.

        The plain concept ("man": how the man looks) is shared by all his roles; the role concept
        ("man@agent": what he is doing) tells the agent from the patient, the recipient or the goal.
        """
        names = [self.verb]
        for word, role in ((self.agent, "agent"), (self.theme, "theme"), (self.goal, "goal")):
            if word is not None:
                names += [word, f"{word}@{role}"]
        return names

    def words(self) -> list[str]:
        """The content words of a description (what a bag-of-words model sees, minus function words)."""
        return sorted([self.agent, *self.verb.split(), self.theme] + ([self.goal] if self.goal else []))


@dataclass
class SyntheticQuery:
    """A query about events `events` (indices into the video's events, consecutive) spanning [start, end] s."""

    sentence: str
    tree: SemanticRoleTree
    events: tuple[int, ...]
    start: float
    end: float


@dataclass
class SyntheticVideo:
    """Events in time order with their spans (seconds), the room, and the queries about the video."""

    video_id: str
    place: str
    actors: tuple[str, ...]
    events: list[Event]
    spans: list[tuple[float, float]]
    duration: float
    queries: list[SyntheticQuery] = field(default_factory=list)


@dataclass
class SyntheticWorldConfig:
    """Sizes and difficulty of the synthetic world.

    Args:
        num_videos: videos per split (default 1000 / 150 / 150 for train / validation / test).
        queries_per_video: queried (target) events per video; each brings 1-2 distractor events.
        feature_dim: D of the clip features.
        seed: everything is deterministic from it.
        clip_seconds: seconds per feature clip (a video gets round(duration / clip_seconds) clips).
        event_seconds, gap_seconds: uniform ranges of event lengths and of the idle gaps between events.
        place_probability: chance that a query ends with "in the <room>".
        progressive_probability: chance of "is opening" rather than "opens" in one-event queries.
        background_weight, smoothing, noise: see `render_clip_features`.
    """

    num_videos: dict[str, int] | None = None
    queries_per_video: int = 2
    feature_dim: int = 128
    seed: int = 0
    clip_seconds: float = 1.0
    event_seconds: tuple[float, float] = (3.0, 8.0)
    gap_seconds: tuple[float, float] = (0.5, 3.0)
    place_probability: float = 0.3
    progressive_probability: float = 0.3
    background_weight: float = 0.5
    smoothing: float = 1.0
    noise: float = 0.6

    def __post_init__(self) -> None:
        self.num_videos = dict(self.num_videos or DEFAULT_NUM_VIDEOS)
        unknown = sorted(set(self.num_videos) - set(SPLITS))
        if unknown:
            raise ValueError(f"Unknown split names {unknown}; use {list(SPLITS)}.")


class _SentenceBuilder:
    """Appends words, returning token spans [start, end), and builds the `SemanticRoleTree`."""

    def __init__(self):
        self.tokens: list[str] = []

    def add(self, text: str) -> tuple[int, int]:
        start = len(self.tokens)
        self.tokens.extend(text.split())
        return start, len(self.tokens)

    def argument(self, role: str, text: str) -> Argument:
        start, end = self.add(text)
        return Argument(role, start, end, text)

    def tree(self, frames: list[Frame]) -> SemanticRoleTree:
        sentence = " ".join(self.tokens)
        starts = list(itertools.accumulate([0] + [len(token) + 1 for token in self.tokens[:-1]]))
        for frame in frames:
            frame.arguments.sort(key=lambda argument: argument.start)
        return SemanticRoleTree(sentence, list(self.tokens), starts, frames)


def _noun_phrase(noun: str, rng: np.random.Generator) -> str:
    return f"{'the' if rng.random() < 0.6 else 'a'} {noun}"


def _clause(builder: _SentenceBuilder, event: Event, rng: np.random.Generator, progressive: bool, subject: Argument | None) -> Frame:
    """Add one event's words (its subject unless given) and return its frame."""
    kind = KINDS[event.kind]
    arguments = [subject or builder.argument(kind.subject_role, _noun_phrase(event.agent, rng))]
    verb = VERBS[event.verb]
    if progressive:
        builder.add("is")
    verb_text = verb.progressive if progressive else verb.third_person
    verb_start, verb_end = builder.add(verb_text)
    theme = f"{kind.theme_preposition} the {event.theme}" if kind.theme_preposition else _noun_phrase(event.theme, rng)
    arguments.append(builder.argument(kind.theme_role, theme))
    if event.goal is not None:
        arguments.append(builder.argument("ARG2", f"{kind.goal_preposition} the {event.goal}"))
    return Frame(verb_text, verb.lemma, verb_start, verb_end, arguments)


def describe(events: list[Event], place: str, rng: np.random.Generator, config: SyntheticWorldConfig) -> SemanticRoleTree:
    """The query sentence and its gold tree for one event or two consecutive events of one agent."""
    builder = _SentenceBuilder()
    progressive = len(events) == 1 and rng.random() < config.progressive_probability
    frames = [_clause(builder, events[0], rng, progressive, subject=None)]
    if len(events) == 2:
        builder.add("and")
        then = builder.argument("ARGM-TMP", "then")
        frame = _clause(builder, events[1], rng, False, subject=frames[0].arguments[0])
        frame.arguments.append(then)
        frames.append(frame)
    if rng.random() < config.place_probability:
        frames[-1].arguments.append(builder.argument("ARGM-LOC", f"in the {place}"))
    return builder.tree(frames)


class _VideoPlanner:
    """Draws the target and distractor events of one video, all distinct."""

    def __init__(self, rng: np.random.Generator, actors: tuple[str, ...]):
        self.rng = rng
        self.actors = actors
        self.seen: set[Event] = set()

    def choice(self, options):
        options = list(options)
        return options[int(self.rng.integers(len(options)))]

    def other_actor(self, actor: str) -> str | None:
        others = [candidate for candidate in self.actors if candidate != actor]
        return self.choice(others) if others else None

    def new_event(self, kind: str, agent: str | None = None) -> Event:
        agent = agent or self.choice(self.actors)
        verb = self.choice(KINDS[kind].verbs)
        theme = self.other_actor(agent) if kind == "person" else self.choice(KINDS[kind].verbs[verb])
        goal = None
        if kind == "give":
            goal = self.other_actor(agent)
        elif kind == "put":
            goal = self.choice(candidate for candidate in PUT_OBJECTS if candidate != theme)
        return Event(kind, agent, verb.lemma, theme, goal)

    def distractor_options(self, event: Event) -> list[Event]:
        """Events sharing the verb, the theme or the actor with `event`, its mirror image first."""
        kind = KINDS[event.kind]
        same_verb = [replace(event, theme=theme) for theme in kind.verbs[VERBS[event.verb]] if theme != event.goal]
        same_theme = [
            replace(event, verb=verb.lemma) for verb, themes in kind.verbs.items() if event.kind == "person" or event.theme in themes
        ]
        other = self.other_actor(event.agent)
        other_actor = [replace(event, agent=other)] if other is not None and event.kind not in ("person", "give") else []
        mirrored = [event.mirror()] if kind.mirrored else []
        candidates = [candidate for candidate in same_verb + same_theme + other_actor if candidate != event and candidate not in mirrored]
        return mirrored + [candidates[index] for index in self.rng.permutation(len(candidates))]

    def add(self, event: Event) -> bool:
        if event in self.seen:
            return False
        self.seen.add(event)
        return True

    def target(self, kind: str) -> list[Event] | None:
        """A fresh target: one event, or two object events of one agent for a sequence."""
        for _ in range(20):
            if kind == "sequence":
                first = self.new_event("object")
                second = self.new_event("object", agent=first.agent)
                events = [first, second] if first.verb != second.verb and first.theme != second.theme else []
            else:
                events = [self.new_event(kind)]
            if events and all(event not in self.seen for event in events):
                for event in events:
                    self.add(event)
                return events
        return None

    def distractors(self, event: Event, count: int) -> list[Event]:
        chosen = []
        for candidate in self.distractor_options(event):
            if len(chosen) == count:
                break
            if self.add(candidate):
                chosen.append(candidate)
        return chosen


def generate_video(video_id: str, rng: np.random.Generator, config: SyntheticWorldConfig) -> SyntheticVideo:
    """One video: targets with their distractors, laid out in time, and the queries about the targets."""
    solo = rng.random() < 0.25
    actors = (SOLO_ACTOR,) if solo else tuple(rng.choice(ACTORS, size=2, replace=False).tolist())
    planner = _VideoPlanner(rng, actors)
    place = planner.choice(PLACES)
    weights = KIND_WEIGHTS[len(actors)]
    groups: list[list[Event]] = []  # events that stay adjacent in time (a sequence target)
    targets: list[list[Event]] = []
    for _ in range(config.queries_per_video):
        kind = str(rng.choice(list(weights), p=list(weights.values())))
        events = planner.target(kind)
        if events is None:
            continue
        targets.append(events)
        groups.append(events)
        for event in events:
            groups.extend([distractor] for distractor in planner.distractors(event, 1 + int(rng.random() < 0.5)))
    groups = [groups[index] for index in rng.permutation(len(groups))]

    events, spans, clock = [], [], 0.0
    for group in groups:
        clock += rng.uniform(*config.gap_seconds)
        for position, event in enumerate(group):
            if position:
                clock += rng.uniform(0.0, 0.5)
            length = rng.uniform(*config.event_seconds)
            events.append(event)
            spans.append((round(clock, 2), round(clock + length, 2)))
            clock += length
    duration = round(clock + rng.uniform(*config.gap_seconds), 2)

    video = SyntheticVideo(video_id, place, actors, events, spans, duration)
    for target in targets:
        indices = tuple(events.index(event) for event in target)
        tree = describe(target, place, rng, config)
        video.queries.append(SyntheticQuery(tree.sentence, tree, indices, spans[indices[0]][0], spans[indices[-1]][1]))
    return video


def generate_synthetic_videos(config: SyntheticWorldConfig | None = None) -> dict[str, list[SyntheticVideo]]:
    """The videos (events, spans, queries, gold trees) of each split, without features."""
    config = config or SyntheticWorldConfig()
    return {
        split: [
            generate_video(f"synthetic-{split}-{index:05d}", np.random.default_rng([config.seed, split_index, index]), config)
            for index in range(count)
        ]
        for split_index, (split, count) in enumerate(config.num_videos.items())
    }


def render_video(video: SyntheticVideo, concepts: ConceptSpace, config: SyntheticWorldConfig) -> np.ndarray:
    """(T, D) float32 clip features of a synthetic video, T = round(duration / clip_seconds)."""
    moments = [SimulatedMoment(start, end, concepts.mix(event.concepts())) for event, (start, end) in zip(video.events, video.spans)]
    background = config.background_weight * concepts.mix([video.place, f"scene/{video.video_id}"])
    rng = np.random.default_rng([config.seed, stable_hash(video.video_id)])
    num_clips = max(1, int(round(video.duration / config.clip_seconds)))
    return render_clip_features(moments, video.duration, num_clips, background, rng, config.smoothing, config.noise)


def same_bag_fraction(videos: list[SyntheticVideo]) -> float:
    """Fraction of queries about one event whose content words also describe another event of the video."""
    single = [(video, query) for video in videos for query in video.queries if len(query.events) == 1]
    twins = sum(
        any(other.words() == video.events[query.events[0]].words() for index, other in enumerate(video.events) if index != query.events[0])
        for video, query in single
    )
    return twins / max(1, len(single))


def _world_info(config: SyntheticWorldConfig, videos: dict[str, list[SyntheticVideo]]) -> SourceInfo:
    train = videos.get("train") or next(iter(videos.values()))
    return SourceInfo(
        name="synthetic",
        pretty_name="FVMR synthetic world",
        description=(
            "Generated videos of people doing things in rooms, with English queries and gold semantic role trees "
            "(see `datasets_scripts/synthetic.py`). Every queried event has distractor events in its video that "
            "share its verb, object or actor; person, give and put events come with their mirror image "
            f"(same words, two participants swapped): {100 * same_bag_fraction(train):.1f}% of the one-event "
            "training queries have a distractor described by exactly the same content words, so a model that "
            "ignores who does what to what cannot tell them apart."
        ),
        homepage="generated by fvmr (datasets_scripts/synthetic.py)",
        license="mit",
        license_terms="Generated data, MIT like the fvmr code that generates it.",
        citation="",
        split_files={split: f"generated, {len(rows)} videos, seed {config.seed}" for split, rows in videos.items()},
    )


def _build(
    config: SyntheticWorldConfig, tree_parser: TreeParser | str | None, video_features: str | Path | None = None
) -> tuple[DatasetDict, DatasetDict, dict, SourceInfo]:
    started = time.perf_counter()
    videos = generate_synthetic_videos(config)
    records = {
        split: [
            QueryRecord(video.video_id, query.start, query.end, query.sentence, video.duration, f"{video.video_id} query {index}")
            for video in split_videos
            for index, query in enumerate(video.queries)
        ]
        for split, split_videos in videos.items()
    }
    if tree_parser == "gold":
        trees = {query.sentence: query.tree for split_videos in videos.values() for video in split_videos for query in video.queries}
        trees_made = "gold trees emitted by the generator with each sentence (exact token spans and roles)"
    else:
        parser = resolve_tree_parser(tree_parser)
        sentences = [record.sentence for rows in records.values() for record in rows]
        trees = parse_trees(sentences, parser) if parser is not None else None
        trees_made = describe_tree_parser(tree_parser if parser is not None else None)
    annotations = DatasetDict({split: annotations_dataset(rows, trees) for split, rows in records.items()})
    if video_features is None:
        concepts = ConceptSpace(config.feature_dim, config.seed)
        clip_features = {video.video_id: render_video(video, concepts, config) for split_videos in videos.values() for video in split_videos}
        feature_dim = config.feature_dim
        feature_facts = {
            "source": (
                f"synthetic world, seeded concept vectors mixed per event (dim {config.feature_dim}, {config.clip_seconds:g} s "
                f"per clip, smoothing {config.smoothing:g} clips, noise {config.noise:g}, seed {config.seed})"
            )
        }
    else:  # features extracted from the world's rendered video files (synthetic_video.py)
        extracted = ClipFeatureFile(video_features)
        clip_features = {video.video_id: extracted.load(video.video_id) for split_videos in videos.values() for video in split_videos}
        feature_dim = next(iter(clip_features.values())).shape[1]
        feature_facts = {"source": f"the synthetic world's rendered video files, {extracted.description}"}
        if extracted.recipe is not None:
            feature_facts["recipe"] = extracted.recipe.to_dict()
    features = DatasetDict(
        {
            split: Dataset.from_dict(
                {
                    "video_id": [video.video_id for video in split_videos],
                    "duration": [video.duration for video in split_videos],
                    "features": [clip_features[video.video_id] for video in split_videos],
                },
                features=video_features_schema(feature_dim),
            )
            for split, split_videos in videos.items()
        }
    )
    reports = {split: SplitReport(len(rows), len(rows), videos=len(videos[split])) for split, rows in records.items()}
    info = _world_info(config, videos)
    feature_facts = {"kind": "synthetic", **feature_facts, "dim": feature_dim, "max_clips": None}
    report = make_report(info, records, reports, feature_facts, trees_made, None, time.perf_counter() - started)
    return annotations, features, report, info


def build_synthetic_world(
    num_videos: dict[str, int] | None = None,
    queries_per_video: int = 2,
    feature_dim: int = 128,
    seed: int = 0,
    tree_parser: TreeParser | str | None = "gold",
    **world_options,
) -> tuple[DatasetDict, DatasetDict]:
    """(annotations, features) DatasetDicts of the synthetic world, in memory.

    Args:
        num_videos: videos per split, e.g. {"train": 1000, "validation": 150, "test": 150} (the default).
        queries_per_video, feature_dim, seed, world_options: see `SyntheticWorldConfig`.
        tree_parser: "gold" (the generator's trees), "spacy", a callable, or None (no tree column).
    """
    config = SyntheticWorldConfig(num_videos=num_videos, queries_per_video=queries_per_video, feature_dim=feature_dim, seed=seed, **world_options)
    annotations, features, _, _ = _build(config, tree_parser)
    return annotations, features


def write_synthetic_world(
    output_dir: str | Path,
    tree_parser: TreeParser | str | None = "gold",
    video_features: str | Path | None = None,
    overwrite: bool = False,
    **world_options,
) -> BuiltDataset:
    """Build the synthetic world and save it as a dataset folder (annotations/, features/, card, report).

    `world_options` are the fields of `SyntheticWorldConfig` (num_videos, queries_per_video, feature_dim, seed, ...).
    `video_features`: a folder written by `fvmr extract-features` from the world's rendered videos
    (`synthetic_video.render_synthetic_videos`) whose features replace the concept-vector features.
    `overwrite`: replace an existing non-empty `output_dir` (else refused before any work).
    """
    check_output_folder(output_dir, overwrite)
    annotations, features, report, info = _build(SyntheticWorldConfig(**world_options), tree_parser, video_features)
    return save_dataset(Path(output_dir), info, annotations, features, report, overwrite=overwrite)


__all__ = [
    "SyntheticWorldConfig",
    "SyntheticVideo",
    "SyntheticQuery",
    "Event",
    "generate_synthetic_videos",
    "build_synthetic_world",
    "write_synthetic_world",
    "describe",
    "render_video",
    "same_bag_fraction",
]
