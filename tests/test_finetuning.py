"""`fvmr train --init-from`: continue a trained model on a second corpus with new words."""

import json
import re
import shutil
from pathlib import Path

import pytest
import torch
from datasets import load_from_disk
from huggingface_hub import DatasetCard
from safetensors.torch import load_file
from transformers import AutoTokenizer

from datasets_scripts.synthetic import write_synthetic_world
from modeling_fvmr.cli import main
from modeling_fvmr.training import TrainingArguments, continue_from_model
from tests.test_training import cli_args

# same-length replacements keep every character offset of the trees valid
NEW_WORDS = {"person": "worker", "cup": "mug"}


def relabelled_world(world: str, path: Path, pretty_name: str) -> str:
    """A copy of `world` whose queries (and trees) use other words, under another card name."""
    shutil.copytree(world, path, ignore=shutil.ignore_patterns("annotations"))

    def replace(text: str) -> str:
        return re.sub(r"\b(" + "|".join(NEW_WORDS) + r")\b", lambda match: NEW_WORDS[match.group(1)], text)

    def relabel(row):
        tree = row["tree"]
        tree["sentence"], tree["tokens"] = replace(tree["sentence"]), [replace(token) for token in tree["tokens"]]
        for frame in tree["frames"]:
            for argument in frame["arguments"]:
                argument["text"] = replace(argument["text"])
        return {"sentence": replace(row["sentence"]), "tokens": [replace(token) for token in row["tokens"]], "tree": tree}

    load_from_disk(f"{world}/annotations").map(relabel).save_to_disk(str(path / "annotations"))
    card = DatasetCard.load(path / "README.md")
    card.data.pretty_name = pretty_name
    card.save(path / "README.md")
    return str(path)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> tuple[str, str]:
    """(the synthetic world, a model trained on it for one epoch)."""
    root = tmp_path_factory.mktemp("base")
    world = str(root / "world")
    write_synthetic_world(world, num_videos={"train": 16, "validation": 2, "test": 2}, feature_dim=32, seed=5)
    assert main(cli_args(world, root / "model", "--epochs", "1", "--no_show_progress")) == 0
    return world, str(root / "model")


def test_fine_tuning_grows_the_vocabulary_keeps_the_geometry_and_names_both_datasets(base, tmp_path):
    world, model_dir = base
    corpus = relabelled_world(world, tmp_path / "corpus", "Relabelled world")
    output = tmp_path / "tuned"
    run = ["train", "--init-from", model_dir, "--dataset", corpus, "--output-dir", str(output), "--batch-size", "4",
           "--epochs", "1", "--no_show_progress", "--set", "distillation_weight=0.5"]
    assert main(run) == 0

    old_tokenizer, new_tokenizer = AutoTokenizer.from_pretrained(model_dir), AutoTokenizer.from_pretrained(output)
    old_vocabulary, new_vocabulary = old_tokenizer.get_vocab(), new_tokenizer.get_vocab()
    assert set(new_vocabulary) - set(old_vocabulary) == set(NEW_WORDS.values())
    assert all(new_vocabulary[word] == index for word, index in old_vocabulary.items())  # old ids unchanged
    old_config, new_config = (json.loads((Path(folder) / "config.json").read_text()) for folder in (model_dir, output))
    assert new_config["vocab_size"] == old_config["vocab_size"] + 2
    assert new_config["distillation_weight"] == 0.5
    for key in ("hidden_size", "joint_dim", "word_embedding_dim", "num_clips", "video_feature_dim", "use_teacher"):
        assert new_config[key] == old_config[key], key
    old_weights, new_weights = load_file(Path(model_dir) / "model.safetensors"), load_file(output / "model.safetensors")
    assert {name: tensor.shape for name, tensor in old_weights.items() if "word_embeddings" not in name} == {
        name: tensor.shape for name, tensor in new_weights.items() if "word_embeddings" not in name
    }

    record = json.loads((output / "training_args.json").read_text())
    assert record["datasets"] == ["FVMR synthetic world", "Relabelled world"]
    assert (record["base_model"], record["new_words"]) == (model_dir, 2)
    card = (output / "README.md").read_text()
    assert f"Fine-tuned from `{Path(model_dir).name}`. Trained on **FVMR synthetic world**, then **Relabelled world**." in card


def test_new_words_get_glove_vectors_and_old_rows_are_kept(base, tmp_path):
    world, model_dir = base
    corpus = relabelled_world(world, tmp_path / "corpus", "Relabelled world")
    glove = tmp_path / "glove.txt"
    glove.write_text("worker " + " ".join(["0.5"] * 32) + "\nperson " + " ".join(["9"] * 32) + "\n", encoding="utf-8")
    args = TrainingArguments(dataset=corpus, output_dir=str(tmp_path / "out"), init_from=model_dir, glove=str(glove))
    sentences = load_from_disk(f"{corpus}/annotations")["train"]["sentence"]
    model, processor, new_words = continue_from_model(args, sentences, feature_dim=32)
    assert sorted(new_words) == ["mug", "worker"]
    weights = model.get_input_embeddings().weight.detach()
    old = load_file(Path(model_dir) / "model.safetensors")["text_encoder.word_embeddings.weight"]
    assert torch.equal(weights[: len(old)], old)  # trained rows, "person" included, untouched by GloVe
    assert torch.equal(weights[processor.tokenizer.convert_tokens_to_ids("worker")], torch.full((32,), 0.5))
    mug = weights[processor.tokenizer.convert_tokens_to_ids("mug")]  # not in the file: random, unit scale
    assert 0.3 < float(mug.std()) < 3.0


def test_fine_tuning_refuses_other_features_or_another_geometry(base, tmp_path):
    _, model_dir = base
    other = tmp_path / "other"
    write_synthetic_world(other, num_videos={"train": 2, "validation": 1, "test": 1}, feature_dim=16, seed=1)
    args = TrainingArguments(dataset=str(other), output_dir=str(tmp_path / "a"), init_from=model_dir)
    with pytest.raises(ValueError, match=r"has 16-d clip features but .* was trained on 32-d ones: fine-tuning keeps the model's geometry"):
        continue_from_model(args, ["a worker"], feature_dim=16)
    args = TrainingArguments(dataset=str(other), output_dir=str(tmp_path / "b"), init_from=model_dir, config_overrides={"hidden_size": 128})
    with pytest.raises(ValueError, match=r"--set hidden_size=128 would change the geometry of .* \(hidden_size=64\)"):  # the tiny test model
        continue_from_model(args, ["a worker"], feature_dim=32)
    with pytest.raises(ValueError, match="--preset builds a new model"):
        TrainingArguments(dataset="d", output_dir="o", init_from=model_dir, preset="tacos")
