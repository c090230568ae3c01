"""FVMR model configuration."""

from __future__ import annotations

import math

from transformers import PretrainedConfig

DEFAULT_ROLE_LABELS = [
    "OTHER",  # any label not listed below (C-/R- prefixes are stripped first)
    "ARG0",
    "ARG1",
    "ARG2",
    "ARG3",
    "ARG4",
    "ARGM-LOC",
    "ARGM-DIR",
    "ARGM-TMP",
    "ARGM-MNR",
    "ARGM-PRP",
    "ARGM-ADV",
    "ARGM-GOL",
    "ARGM-COM",
    "ARGM-EXT",
    "ARGM-PRD",
    "ARGM-NEG",
    "ARGM-MOD",
    "NOUN",  # a noun chunk under the pseudo-frame of a sentence without a verb
]

DISTILLATION_LOSSES = ("paper", "hinton")

# The 2D-TAN lineage for each benchmark (2D-TAN's published configs): clips per video (256 resampled
# clips average-pooled by 16 / 4 / 2), sparse sampling of the 2D temporal map, the usual clip feature
# size, the IoU range of the soft labels, the NMS threshold, and the video side at 2D-TAN's sizes
# (512 channels; MapConv 8 layers of kernel 5, or 4 of kernel 9 on ActivityNet Captions). The MapConv
# stack runs over the video-only moment map, so moment embeddings stay precomputable.
BENCHMARK_PRESETS: dict[str, dict] = {
    "charades-sta": {
        "num_clips": 16,
        "num_sample_clips": 256,
        "pooling_counts": [15],
        "video_feature_dim": 4096,  # VGG fc7 (`vgg_rgb_features.hdf5`); I3D features are 1024
        "hidden_size": 512,
        "video_conv_layers": 8,
        "video_conv_kernel_size": 5,
        "iou_min": 0.5,
        "iou_max": 1.0,
        "nms_threshold": 0.45,
    },
    "activitynet-captions": {
        "num_clips": 64,
        "num_sample_clips": 256,
        "pooling_counts": [15, 8, 8],
        "video_feature_dim": 500,  # C3D reduced to 500 dims by PCA
        "hidden_size": 512,
        "video_conv_layers": 4,
        "video_conv_kernel_size": 9,
        "iou_min": 0.5,
        "iou_max": 1.0,
        "nms_threshold": 0.5,
    },
    "tacos": {
        "num_clips": 128,
        "num_sample_clips": 256,
        "pooling_counts": [15, 8, 8, 8],
        "video_feature_dim": 4096,  # C3D fc6
        "hidden_size": 512,
        "video_conv_layers": 8,
        "video_conv_kernel_size": 5,
        "iou_min": 0.3,
        "iou_max": 0.7,
        "nms_threshold": 0.4,
    },
}
SAMPLE_CLIPS = 256  # 2D-TAN resamples every video to 256 clips before the projection

# What `FVMRConfig.validate` checks: integer fields, and number fields with their range (low, high, (low
# included, high included)).
POSITIVE_INTS = (
    "video_feature_dim", "num_clips", "num_sample_clips", "hidden_size", "video_conv_kernel_size", "vocab_size",
    "word_embedding_dim", "lstm_hidden_size", "lstm_num_layers", "semantic_dim", "max_verbs", "max_arguments",
    "joint_dim", "fusion_hidden_size",
)
NON_NEGATIVE_INTS = ("video_conv_layers", "pad_token_id", "cross_video_memory_size")
INFINITY = float("inf")
FLOAT_RANGES = {
    "dropout": (0.0, 1.0, (True, False)),
    "iou_min": (0.0, 1.0, (True, True)),
    "iou_max": (0.0, 1.0, (True, True)),
    "distillation_temperature": (0.0, INFINITY, (False, False)),
    "distillation_weight": (0.0, INFINITY, (True, False)),
    "cross_video_weight": (0.0, INFINITY, (True, False)),
    "cross_video_temperature": (0.0, INFINITY, (False, False)),
    "nms_threshold": (0.0, 1.0, (True, True)),
    "initializer_range": (0.0, INFINITY, (False, False)),
}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _check(config, name: str, type_ok, expected: str, range_ok=lambda value: True) -> None:
    """ValueError naming the field and its value unless it has the right type and range."""
    value = getattr(config, name)
    if not type_ok(value) or not range_ok(value):
        raise ValueError(f"FVMRConfig.{name} must be {expected}, got {value!r}.")


class FVMRConfig(PretrainedConfig):
    r"""
    Configuration of [`FVMRModel`] (Fast Video Moment Retrieval, Gao & Xu, ICCV 2021).

    The defaults give the Charades-STA geometry (16 clips, dense 2D map, VGG features) and sizes
    that train in minutes on a CPU (no MapConv stack). `FVMRConfig.from_preset(name)` returns a
    benchmark's geometry and 2D-TAN's published video-side sizes (`"charades-sta"`,
    `"activitynet-captions"`, `"tacos"`). The paper does not publish its temperature, λ, dimensions or
    optimiser; the values below are our choices.

    Fidelity to the paper, in short (the README's "Fidelity to the paper" has the full table): exact are
    the clip pooling and MapConv of 2D-TAN, s = w_1 + w_L, the hierarchical attention (a^(v), b, u),
    p = φ_m(m)ᵀ φ_s(s), q = φ_fuse(φ_m(m) ⊙ φ_u(u)), the soft labels, L_ce and (with
    `distillation_loss="paper"`) L_dis. Our deviations: MapConv runs on the video-only map (the student
    must stay precomputable), the spaCy-based role trees instead of AllenNLP SRL, GloVe 50-d instead of
    300-d, role embeddings added to argument nodes, one shared node projection, a pseudo-frame for
    queries without a verb, truncation to `max_verbs` / `max_arguments`, and dropout.

    Video side (precomputable):
        video_feature_dim (`int`, 4096): size D_in of one clip feature (VGG fc7 = 4096, C3D-PCA = 500, I3D = 1024).
        num_clips (`int`, 16): N, clips of the 2D map (16 / 64 / 128 in 2D-TAN).
        num_sample_clips (`int`, None): S, clips every video is first resampled to (2D-TAN: 256). The
            video path is 2D-TAN's: L2-normalise the input clips, average them to S clips, project
            (1x1 conv = linear) + ReLU, average-pool by S / N to N clips. None gives the smallest
            multiple of N that is >= 256.
        pooling_counts (`list[int]`, `[N - 1]`): sparse sampling of the 2D map (2D-TAN / MMN). The
            first count adds that many diagonals with stride 1, each next count that many with the
            stride doubled. `[15]` with N = 16 keeps every span (dense).
        hidden_size (`int`, 256): width of the clip projection and of moment features m_ab
            (2D-TAN and the presets: 512; 256 keeps CPU training fast).
        video_conv_layers (`int`, 0): layers of 2D-TAN's masked MapConv over the video-only moment map
            (0 = the plain max-pooled map; presets: 8, or 4 on ActivityNet Captions).
        video_conv_kernel_size (`int`, 5): odd kernel of those layers (presets: 5, or 9 on ActivityNet).

    Text side:
        vocab_size (`int`, 2): rows of the word embedding table; set from the tokenizer.
        pad_token_id (`int`, 0): id of the padding word.
        word_embedding_dim (`int`, 300): GloVe size used by the paper (the bundled GloVe is 50-d).
        lstm_hidden_size (`int`, 256): units per direction; word features w_l have 2x this size.
        lstm_num_layers (`int`, 1): stacked BiLSTM layers.

    Teacher (fine-grained semantic extractor):
        use_teacher (`bool`, True): build the tree-aware teacher branch. False gives the plain
            dot-product model trained with L_ce(p, y) only.
        semantic_dim (`int`, 256): D_f, size of sentence / verb / argument nodes.
        role_labels (`list[str]`): PropBank role vocabulary for the argument role embeddings.
        max_verbs (`int`, 4): frames kept per query (more are truncated and counted by the processor).
        max_arguments (`int`, 4): arguments kept per frame.

    Common space and loss:
        joint_dim (`int`, 256): size of the common space of φ_m, φ_s, φ_u.
        fusion_hidden_size (`int`, 256): hidden width of the teacher's scoring MLP φ_fuse.
        dropout (`float`, 0.1): dropout on word embeddings and inside φ_fuse.
        iou_min, iou_max (`float`, 0.5, 1.0): o_min / o_max of the soft labels
            y = clip((o - o_min) / (o_max - o_min), 0, 1); 2D-TAN uses 0.3 / 0.7 on TACoS.
        distillation_loss (`str`, "paper"): the form of L_dis. "paper" (the paper's equation): the
            binary cross-entropy L_ce averaged over the K valid proposals between s = softmax(p / T)
            (student, prediction) and t = softmax(q / T) (teacher, target). "hinton" (our earlier
            deviation, kept for comparison): −Σ_i t_i log s_i, summed over K with no (1 − t) log(1 − s)
            term; its gradient is about K times larger (136 / 1104 / 2548 x for the three presets), so
            Hinton λ = 0.2 acts like a paper λ of about 27 / 221 / 509.
        distillation_temperature (`float`, 1.0): T of L_dis (softens both distributions).
        distillation_weight (`float`, 1.0): λ in L = L_ce(p, y) + L_ce(q, y) + λ L_dis(p, q). At the
            paper's scale L_dis is small (at λ = 0.2 its gradient is 1e-4 to 2e-3 of L_ce's). λ = 1, T = 1
            is the best point of the paper-form grid of `benchmarks/accuracy.py` on the synthetic world's
            VALIDATION split (seed 0, 800 steps): student R@1,IoU=0.5 26.0 at λ = 1, 5.7 at λ = 10, 3.7
            at λ = 100 (teacher detached); larger λ stalls the student. Choose λ and T on your own
            validation data: these are not the paper's (unpublished) values.
        detach_teacher (`bool`, False): stop L_dis's gradient at the teacher. The paper does not say it
            does, so the default does not; no validation result argued otherwise (the one detached
            point tried, λ = 100, stalled like the non-detached λ = 10).
        cross_video_weight (`float`, 0.0): μ of the cross-video term L_cv added to L (0 = off, the
            paper's objective). L_cv makes student scores comparable across videos, for corpus
            search: for each query, the moments of the *other* videos in the batch are negatives
            against its own video's moments, weighted by their soft labels y (see
            `cross_video_loss` in modeling_fvmr.py; an MMN-style contrastive term on the raw logits p).
        cross_video_temperature (`float`, 1.0): τ of L_cv (the logits p are divided by it).
        cross_video_memory_size (`int`, 0): negatives of L_cv beyond the batch (0 = the batch only): a
            first-in-first-out memory of this many moment embeddings (rows) from earlier training
            batches, every proposal of every video (K rows per query, detached), each with a signature
            of its video and query text so that a query's own video is never its negative (see
            `CrossVideoMemory` in modeling_fvmr.py). Training state, not weights: it is saved in
            checkpoints, not in exported models. In every setting of `benchmarks/corpus.py` it lowered
            both within-video and corpus R@1 (README, "Results: corpus search").
        nms_threshold (`float`, 0.5): temporal NMS threshold (IoU) used when decoding moments and in
            evaluation (2D-TAN: 0.45 Charades-STA, 0.5 ActivityNet Captions, 0.4 TACoS; set by the presets).
        initializer_range (`float`, 0.02): std of the normal init of the role embeddings (word
            embeddings start at std 1, like `nn.Embedding`, unless GloVe initialises them).

    Provenance of the inputs:
        video_features (`dict`, None): how the clip features were made. From video files: the recipe
            of `video_features.VideoFeatureRecipe` (`backbone` id or path, `frames_per_second`,
            `clip_seconds`, `pooling`, `embedding`, `feature_dim`), so the pipeline and `fvmr index`
            turn a video file into this model's input. From precomputed features: `{"description":
            "..."}` (e.g. the benchmark's feature release). None when unknown.
    """

    model_type = "fvmr"

    def __init__(
        self,
        video_feature_dim: int = 4096,
        num_clips: int = 16,
        num_sample_clips: int | None = None,
        pooling_counts: list[int] | None = None,
        hidden_size: int = 256,
        video_conv_layers: int = 0,
        video_conv_kernel_size: int = 5,
        vocab_size: int = 2,
        pad_token_id: int = 0,
        word_embedding_dim: int = 300,
        lstm_hidden_size: int = 256,
        lstm_num_layers: int = 1,
        use_teacher: bool = True,
        semantic_dim: int = 256,
        role_labels: list[str] | None = None,
        max_verbs: int = 4,
        max_arguments: int = 4,
        joint_dim: int = 256,
        fusion_hidden_size: int = 256,
        dropout: float = 0.1,
        iou_min: float = 0.5,
        iou_max: float = 1.0,
        distillation_loss: str = "paper",
        distillation_temperature: float = 1.0,
        distillation_weight: float = 1.0,
        detach_teacher: bool = False,
        cross_video_weight: float = 0.0,
        cross_video_temperature: float = 1.0,
        cross_video_memory_size: int = 0,
        nms_threshold: float = 0.5,
        initializer_range: float = 0.02,
        video_features: dict | None = None,
        **kwargs,
    ):
        if pooling_counts is None and _is_int(num_clips):
            pooling_counts = [num_clips - 1]
        if num_sample_clips is None and _is_int(num_clips) and num_clips > 0:
            num_sample_clips = num_clips * math.ceil(SAMPLE_CLIPS / num_clips)
        self.video_feature_dim = video_feature_dim
        self.num_clips = num_clips
        self.num_sample_clips = num_sample_clips
        self.pooling_counts = list(pooling_counts) if isinstance(pooling_counts, (list, tuple)) else pooling_counts
        self.hidden_size = hidden_size
        self.video_conv_layers = video_conv_layers
        self.video_conv_kernel_size = video_conv_kernel_size
        self.vocab_size = vocab_size
        self.word_embedding_dim = word_embedding_dim
        self.lstm_hidden_size = lstm_hidden_size
        self.lstm_num_layers = lstm_num_layers
        self.use_teacher = use_teacher
        self.semantic_dim = semantic_dim
        self.role_labels = list(role_labels) if isinstance(role_labels, (list, tuple)) else (role_labels or list(DEFAULT_ROLE_LABELS))
        self.max_verbs = max_verbs
        self.max_arguments = max_arguments
        self.joint_dim = joint_dim
        self.fusion_hidden_size = fusion_hidden_size
        self.dropout = dropout
        self.iou_min = iou_min
        self.iou_max = iou_max
        self.distillation_loss = distillation_loss
        self.distillation_temperature = distillation_temperature
        self.distillation_weight = distillation_weight
        self.detach_teacher = detach_teacher
        self.cross_video_weight = cross_video_weight
        self.cross_video_temperature = cross_video_temperature
        self.cross_video_memory_size = cross_video_memory_size
        self.nms_threshold = nms_threshold
        self.initializer_range = initializer_range
        self.pad_token_id = pad_token_id
        self.video_features = dict(video_features) if isinstance(video_features, dict) else video_features
        self.validate()
        super().__init__(**kwargs)

    def validate(self) -> None:
        """Check every field's type and range (called on construction, so also by `from_pretrained`):
        a ValueError names the field and the value. Booleans must be real booleans (not "false")."""
        for name in POSITIVE_INTS:
            _check(self, name, _is_int, "a positive integer", lambda value: value >= 1)
        for name in NON_NEGATIVE_INTS:
            _check(self, name, _is_int, "an integer >= 0", lambda value: value >= 0)
        for name in ("use_teacher", "detach_teacher"):
            _check(self, name, lambda value: isinstance(value, bool), "true or false (a JSON boolean)")
        for name, (low, high, closed) in FLOAT_RANGES.items():
            text = f"a number in {'[' if closed[0] else '('}{low}, {high}{']' if closed[1] else ')'}"
            _check(self, name, _is_number, text, lambda value: (value >= low if closed[0] else value > low) and (value <= high if closed[1] else value < high))
        if not self.iou_min < self.iou_max:
            raise ValueError(f"iou_min ({self.iou_min}) must be smaller than iou_max ({self.iou_max}).")
        if self.num_sample_clips % self.num_clips:
            raise ValueError(f"num_sample_clips ({self.num_sample_clips}) must be a multiple of num_clips ({self.num_clips}).")
        if self.video_conv_layers and self.video_conv_kernel_size % 2 == 0:
            raise ValueError(f"video_conv_kernel_size must be odd (2D-TAN's MapConv), got {self.video_conv_kernel_size}.")
        if self.pad_token_id >= self.vocab_size:
            raise ValueError(f"pad_token_id ({self.pad_token_id}) must be smaller than vocab_size ({self.vocab_size}).")
        counts = self.pooling_counts
        if not isinstance(counts, list) or not counts or not all(_is_int(count) and count >= 1 for count in counts):
            raise ValueError(f"pooling_counts must be a non-empty list of positive integers, got {counts!r}.")
        reach = sum(count * 2**level for level, count in enumerate(counts))  # the longest span's offset, in clips
        if reach > self.num_clips - 1:
            raise ValueError(
                f"pooling_counts {counts} reach spans of {reach + 1} clips but num_clips is {self.num_clips}: the longest "
                f"offset (sum of count x 2^level = {reach}) must be at most num_clips - 1 = {self.num_clips - 1}."
            )
        if self.cross_video_memory_size and not self.cross_video_weight:
            raise ValueError(
                f"cross_video_memory_size={self.cross_video_memory_size} has no effect with cross_video_weight=0: "
                "set cross_video_weight > 0 (the cross-video term uses the memory), or cross_video_memory_size=0."
            )
        if self.distillation_loss not in DISTILLATION_LOSSES:
            raise ValueError(f"distillation_loss must be one of {DISTILLATION_LOSSES}, got {self.distillation_loss!r}.")
        if not isinstance(self.role_labels, list) or not self.role_labels or not all(isinstance(label, str) and label for label in self.role_labels):
            raise ValueError(f"role_labels must be a non-empty list of strings, got {self.role_labels!r}.")
        if self.video_features is not None and not isinstance(self.video_features, dict):
            raise ValueError(f"video_features must be an object (dict) or null, got {self.video_features!r}.")

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "FVMRConfig":
        """Config with a benchmark's geometry (`"charades-sta"`, `"activitynet-captions"`, `"tacos"`);
        `overrides` replace any field, e.g. `video_feature_dim=1024` for I3D features."""
        if name not in BENCHMARK_PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(BENCHMARK_PRESETS)}.")
        return cls(**{**BENCHMARK_PRESETS[name], **overrides})


__all__ = ["FVMRConfig", "BENCHMARK_PRESETS", "DEFAULT_ROLE_LABELS", "DISTILLATION_LOSSES", "FLOAT_RANGES"]
