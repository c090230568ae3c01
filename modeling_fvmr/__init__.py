"""fvmr: Fast Video Moment Retrieval (Gao & Xu, ICCV 2021) for the Hugging Face ecosystem.

Importing the package registers `FVMRConfig` / `FVMRModel` / `FVMRProcessor` with the transformers
Auto classes, and marks the config, model and processor for `register_for_auto_class`, so
`save_pretrained` writes `auto_map` and copies their code for `trust_remote_code=True` users.
It also registers the `"video-moment-retrieval"` pipeline task (`transformers.pipeline("video-moment-retrieval", model=...)`).
"""

from transformers import AutoConfig, AutoModel, AutoProcessor
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_fvmr import BENCHMARK_PRESETS, FVMRConfig
from .evaluation import evaluate_scores, recall_at_iou
from .modeling_fvmr import FVMRModel, FVMROutput, FVMRVideoOutput
from .pipeline_fvmr import TASK as PIPELINE_TASK
from .pipeline_fvmr import VideoMomentRetrievalPipeline
from .processing_fvmr import FVMRProcessor
from .retrieval import MomentIndex, RetrievedMoment
from .semantic_roles import Argument, Frame, SemanticRoleTree
from .srl_allennlp import read_allennlp_srl
from .srl_spacy import SpacySemanticRoleParser
from .tokenization_fvmr import build_word_tokenizer
from .video_features import VideoDecodeError, VideoFeatureRecipe, extract_video_features, load_frame_encoder

__version__ = "0.1.0"

AutoConfig.register(FVMRConfig.model_type, FVMRConfig, exist_ok=True)
AutoModel.register(FVMRConfig, FVMRModel, exist_ok=True)
AutoProcessor.register(FVMRConfig, FVMRProcessor, exist_ok=True)
FVMRConfig.register_for_auto_class()
FVMRModel.register_for_auto_class("AutoModel")
FVMRProcessor.register_for_auto_class("AutoProcessor")
PIPELINE_REGISTRY.register_pipeline(
    PIPELINE_TASK, pipeline_class=VideoMomentRetrievalPipeline, pt_model=AutoModel
)

__all__ = [
    "BENCHMARK_PRESETS",
    "FVMRConfig",
    "FVMRModel",
    "FVMROutput",
    "FVMRVideoOutput",
    "FVMRProcessor",
    "MomentIndex",
    "RetrievedMoment",
    "VideoMomentRetrievalPipeline",
    "SemanticRoleTree",
    "Frame",
    "Argument",
    "SpacySemanticRoleParser",
    "read_allennlp_srl",
    "build_word_tokenizer",
    "VideoFeatureRecipe",
    "VideoDecodeError",
    "extract_video_features",
    "load_frame_encoder",
    "evaluate_scores",
    "recall_at_iou",
]
