"""The README's main job: build a model, score a synthetic video, save it, reload it with AutoModel.

(Grows into the full demo once the trainer lands: train on the synthetic world, evaluate, answer queries.)
"""

from __future__ import annotations

import os

import torch
from transformers import AutoModel, AutoProcessor

from .configuration_fvmr import FVMRConfig
from .modeling_fvmr import FVMRModel
from .processing_fvmr import FVMRProcessor
from .temporal_map import decode_moments
from .tokenization_fvmr import build_word_tokenizer

QUERIES = ["the person opens the fridge", "a man sits down on the sofa and then reads a book"]


def run_demo(output_dir: str = "outputs/demo", seed: int = 0) -> None:
    torch.manual_seed(seed)
    tokenizer = build_word_tokenizer(QUERIES)
    config = FVMRConfig(vocab_size=len(tokenizer), video_feature_dim=64, word_embedding_dim=50)
    model = FVMRModel(config).eval()
    processor = FVMRProcessor.from_config(tokenizer, config)
    video = torch.randn(40, config.video_feature_dim)
    batch = processor(QUERIES, video_features=[video] * len(QUERIES), durations=[30.0] * len(QUERIES))
    with torch.no_grad():
        scores = model(**batch).student_scores
    model.save_pretrained(output_dir)
    processor.save_pretrained(output_dir)
    reloaded = AutoModel.from_pretrained(output_dir).eval()
    reloaded_batch = AutoProcessor.from_pretrained(output_dir)(
        QUERIES, video_features=[video] * len(QUERIES), durations=[30.0] * len(QUERIES)
    )
    with torch.no_grad():
        output = reloaded(**reloaded_batch)
    print(f"Saved an untrained FVMR model to {os.path.abspath(output_dir)} and reloaded it with AutoModel.")
    print(f"max |score difference| after reload: {float((output.student_scores - scores).abs().max()):.2e}")
    for query, row_scores, row_spans in zip(QUERIES, output.student_scores, output.proposal_spans):
        moments = decode_moments(row_scores, row_spans, top_k=3, nms_threshold=config.nms_threshold)
        print(f"{query!r}: " + ", ".join(f"[{start:.1f}s, {end:.1f}s]" for start, end, _ in moments))
