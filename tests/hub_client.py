"""Client side of the Hub tests, run in a subprocess whose environment points HF_ENDPOINT at the
test server (huggingface_hub, transformers and datasets read it when they are imported).

    python hub_client.py load-model {package|remote-code} REPO_ID REVISION INPUTS OUTPUT
        Load the model and processor from the Hub (REVISION "" = main) with the package
        (`FVMRModel` / `FVMRProcessor`) or without it (`AutoModel` / `AutoProcessor`,
        trust_remote_code=True), score the queries and videos of INPUTS and save the student scores
        and the weights to OUTPUT (safetensors). INPUTS is JSON: queries, video_features
        (one (clips, dim) list per query), durations (seconds).
    python hub_client.py push-model MODEL_DIR REPO_ID REVISION [REVISION ...]
        `push_model_folder` to each revision in turn ("" = main).
    python hub_client.py push-with-transformers MODEL_DIR REPO_ID
        `model.push_to_hub` + `processor.push_to_hub` of a saved folder, transformers' own way.
    python hub_client.py load-dataset REPO_ID OUTPUT
        `load_dataset(REPO_ID, "annotations")` and `(REPO_ID, "features")`, rows saved as JSON.

In remote-code mode the fvmr packages are made unimportable first (as on a machine without
`pip install fvmr`), so any import of them by the downloaded code fails the run.
"""

from __future__ import annotations

import json
import sys

PACKAGES = ("modeling_fvmr", "hub_cards", "datasets_scripts")


def load_model(mode: str, repo_id: str, revision: str, inputs_path: str, output_path: str) -> None:
    if mode == "remote-code":
        for name in PACKAGES:
            sys.modules[name] = None  # `import name` now raises ImportError
        try:
            import modeling_fvmr  # noqa: F401
        except ImportError:
            pass
        else:
            raise AssertionError("modeling_fvmr is importable in the remote-code run")
    import torch
    from safetensors.torch import save_file

    revision = revision or None
    if mode == "package":
        from modeling_fvmr import FVMRModel, FVMRProcessor

        model = FVMRModel.from_pretrained(repo_id, revision=revision)
        processor = FVMRProcessor.from_pretrained(repo_id, revision=revision)
    else:
        from transformers import AutoModel, AutoProcessor

        model = AutoModel.from_pretrained(repo_id, revision=revision, trust_remote_code=True)
        processor = AutoProcessor.from_pretrained(repo_id, revision=revision, trust_remote_code=True)
    with open(inputs_path) as file:
        inputs = json.load(file)
    batch = processor(inputs["queries"], video_features=inputs["video_features"], durations=inputs["durations"])
    with torch.no_grad():
        scores = model.eval()(**batch).student_scores
    weights = {f"weights.{name}": tensor.contiguous() for name, tensor in model.state_dict().items()}
    save_file({"student_scores": scores, **weights}, output_path)
    classes = {"model": type(model).__module__, "processor": type(processor).__module__}
    print(json.dumps(classes))


def push_model(model_dir: str, repo_id: str, *revisions: str) -> None:
    from modeling_fvmr.hub import push_model_folder

    for revision in revisions:
        commit = push_model_folder(model_dir, repo_id, revision=revision or None)
        print(commit.oid)


def push_with_transformers(model_dir: str, repo_id: str) -> None:
    from modeling_fvmr import FVMRModel, FVMRProcessor

    FVMRModel.from_pretrained(model_dir).push_to_hub(repo_id)
    FVMRProcessor.from_pretrained(model_dir).push_to_hub(repo_id)


def load_rows(repo_id: str, output_path: str) -> None:
    from datasets import load_dataset

    rows = {}
    for config_name in ("annotations", "features"):
        dataset = load_dataset(repo_id, config_name)
        rows[config_name] = {split: dataset[split].to_list() for split in dataset}
        rows[f"{config_name}_features"] = {split: repr(dataset[split].features) for split in dataset}
    with open(output_path, "w") as file:
        json.dump(rows, file)


if __name__ == "__main__":
    command, *arguments = sys.argv[1:]
    commands = {
        "load-model": load_model,
        "push-model": push_model,
        "push-with-transformers": push_with_transformers,
        "load-dataset": load_rows,
    }
    commands[command](*arguments)
