"""Loading a saved FVMR model together with its processor, refusing a folder that holds only weights.

A folder written by `save_pretrained` of the model alone (e.g. a copy of a run's `best/` made before it
held the processor) loads as a model, but its tokenizer is missing and transformers' error about it
("Couldn't instantiate the backend tokenizer ...") does not say so.
"""

from __future__ import annotations

import os

PROCESSOR_FILE = "processor_config.json"


def check_has_processor(model_path: str | os.PathLike) -> None:
    """ValueError unless `model_path` is a Hub id or a folder holding a processor (`processor_config.json`)."""
    if os.path.isdir(model_path) and not os.path.isfile(os.path.join(model_path, PROCESSOR_FILE)):
        raise ValueError(
            f"{model_path} holds no processor ({PROCESSOR_FILE} and tokenizer.json), which turns text into the "
            "model's word ids: use a model folder exported by `fvmr train` (its output_dir), or save the "
            "processor into this folder with processor.save_pretrained."
        )


def load_model_and_processor(model_path: str | os.PathLike):
    """(FVMRModel, FVMRProcessor) of a saved model folder or Hub id, checked by [`check_has_processor`]."""
    from .modeling_fvmr import FVMRModel
    from .processing_fvmr import FVMRProcessor

    check_has_processor(model_path)
    return FVMRModel.from_pretrained(model_path), FVMRProcessor.from_pretrained(model_path)


__all__ = ["PROCESSOR_FILE", "check_has_processor", "load_model_and_processor"]
