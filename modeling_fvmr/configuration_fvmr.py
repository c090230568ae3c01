"""FVMR model configuration."""

from __future__ import annotations

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

# Geometry of the 2D-TAN lineage for each benchmark: clips per video, sparse sampling of the
# 2D temporal map, the usual clip feature size and the IoU range of the soft labels.
BENCHMARK_PRESETS: dict[str, dict] = {
    "charades-sta": {
        "num_clips": 16,
        "pooling_counts": [15],
        "video_feature_dim": 4096,  # VGG fc7 (`vgg_rgb_features.hdf5`); I3D features are 1024
        "iou_min": 0.5,
        "iou_max": 1.0,
    },
    "activitynet-captions": {
        "num_clips": 64,
        "pooling_counts": [15, 8, 8],
        "video_feature_dim": 500,  # C3D reduced to 500 dims by PCA
        "iou_min": 0.5,
        "iou_max": 1.0,
    },
    "tacos": {
        "num_clips": 128,
        "pooling_counts": [15, 8, 8, 8],
        "video_feature_dim": 4096,  # C3D fc6
        "iou_min": 0.3,
        "iou_max": 0.7,
    },
}


class FVMRConfig(PretrainedConfig):
    r"""
    Configuration of [`FVMRModel`] (Fast Video Moment Retrieval, Gao & Xu, ICCV 2021).

    The defaults give the Charades-STA geometry (16 clips, dense 2D map, VGG features) and sizes
    that train in minutes on a CPU. `FVMRConfig.from_preset(name)` returns the geometry of a
    benchmark (`"charades-sta"`, `"activitynet-captions"`, `"tacos"`). The paper does not publish
    its temperature, λ, dimensions or optimiser; the values below are our choices.

    Video side (precomputable):
        video_feature_dim (`int`, 4096): size D_in of one clip feature (VGG fc7 = 4096, C3D-PCA = 500, I3D = 1024).
        num_clips (`int`, 16): N, clips a video is average-pooled to (16 / 64 / 128 in 2D-TAN).
        pooling_counts (`list[int]`, `[N - 1]`): sparse sampling of the 2D map (2D-TAN / MMN). The
            first count adds that many diagonals with stride 1, each next count that many with the
            stride doubled. `[15]` with N = 16 keeps every span (dense).
        hidden_size (`int`, 256): width of the clip projection and of moment features m_ab
            (2D-TAN uses 512; 256 keeps CPU training fast).
        video_conv_layers (`int`, 0): video-only 2D conv layers over the moment map (0 = the plain
            max-pooled map; 2D-TAN's interaction stack has 8 but mixes in the query).
        video_conv_kernel_size (`int`, 5): kernel of those layers.

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
        distillation_temperature (`float`, 2.0): T of L_dis (softened teacher and student distributions).
        distillation_weight (`float`, 0.2): λ in L = L_ce(p, y) + L_ce(q, y) + λ L_dis(p, q). L_ce is
            averaged over the K proposals while L_dis sums over them, so a large λ / small T lets the
            still-random teacher dominate the student's gradient: λ ≥ 0.5 or T ≤ 0.5 stalls training
            on the synthetic world. T = 2, λ = 0.2 and T = 1, λ = 0.05 were the best settings of the
            sweep in `benchmarks/accuracy.py`; there, distillation did not beat the student trained alone.
        detach_teacher (`bool`, True): the teacher distribution is a fixed target of L_dis.
        cross_video_weight (`float`, 0.0): μ of the cross-video term L_cv added to L (0 = off, the
            paper's objective). L_cv makes student scores comparable across videos, for corpus
            search: for each query, the moments of the *other* videos in the batch are negatives
            against its own video's moments, weighted by their soft labels y (see
            `cross_video_loss` in modeling_fvmr.py; an MMN-style contrastive term on the raw logits p).
        cross_video_temperature (`float`, 1.0): τ of L_cv (the logits p are divided by it).
        nms_threshold (`float`, 0.5): temporal NMS threshold (IoU) used when decoding moments.
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
        distillation_temperature: float = 2.0,
        distillation_weight: float = 0.2,
        detach_teacher: bool = True,
        cross_video_weight: float = 0.0,
        cross_video_temperature: float = 1.0,
        nms_threshold: float = 0.5,
        initializer_range: float = 0.02,
        video_features: dict | None = None,
        **kwargs,
    ):
        if pooling_counts is None:
            pooling_counts = [num_clips - 1]
        if not iou_min < iou_max:
            raise ValueError(f"iou_min ({iou_min}) must be smaller than iou_max ({iou_max}).")
        if distillation_temperature <= 0:
            raise ValueError(f"distillation_temperature must be positive, got {distillation_temperature}.")
        if cross_video_weight < 0 or cross_video_temperature <= 0:
            raise ValueError(
                f"cross_video_weight must be >= 0 and cross_video_temperature > 0, got {cross_video_weight} and {cross_video_temperature}."
            )
        self.video_feature_dim = video_feature_dim
        self.num_clips = num_clips
        self.pooling_counts = list(pooling_counts)
        self.hidden_size = hidden_size
        self.video_conv_layers = video_conv_layers
        self.video_conv_kernel_size = video_conv_kernel_size
        self.vocab_size = vocab_size
        self.word_embedding_dim = word_embedding_dim
        self.lstm_hidden_size = lstm_hidden_size
        self.lstm_num_layers = lstm_num_layers
        self.use_teacher = use_teacher
        self.semantic_dim = semantic_dim
        self.role_labels = list(role_labels) if role_labels is not None else list(DEFAULT_ROLE_LABELS)
        self.max_verbs = max_verbs
        self.max_arguments = max_arguments
        self.joint_dim = joint_dim
        self.fusion_hidden_size = fusion_hidden_size
        self.dropout = dropout
        self.iou_min = iou_min
        self.iou_max = iou_max
        self.distillation_temperature = distillation_temperature
        self.distillation_weight = distillation_weight
        self.detach_teacher = detach_teacher
        self.cross_video_weight = cross_video_weight
        self.cross_video_temperature = cross_video_temperature
        self.nms_threshold = nms_threshold
        self.initializer_range = initializer_range
        self.pad_token_id = pad_token_id
        self.video_features = dict(video_features) if video_features is not None else None
        super().__init__(**kwargs)

    @classmethod
    def from_preset(cls, name: str, **overrides) -> "FVMRConfig":
        """Config with a benchmark's geometry (`"charades-sta"`, `"activitynet-captions"`, `"tacos"`);
        `overrides` replace any field, e.g. `video_feature_dim=1024` for I3D features."""
        if name not in BENCHMARK_PRESETS:
            raise ValueError(f"Unknown preset {name!r}; choose one of {sorted(BENCHMARK_PRESETS)}.")
        return cls(**{**BENCHMARK_PRESETS[name], **overrides})


__all__ = ["FVMRConfig", "BENCHMARK_PRESETS", "DEFAULT_ROLE_LABELS"]
