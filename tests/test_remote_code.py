"""`AutoModel.from_pretrained(path, trust_remote_code=True)` where the fvmr package cannot be imported."""

import json
import os
import subprocess
import sys
import textwrap

import torch

from modeling_fvmr import FVMRConfig, FVMRModel

WITHOUT_FVMR = textwrap.dedent(
    """
    import importlib.abc, json, sys

    class RefuseFvmr(importlib.abc.MetaPathFinder):
        # the fvmr distribution is installed in this venv: make it unimportable, as on a machine without it
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in {"modeling_fvmr", "datasets_scripts", "hub_cards"}:
                raise ModuleNotFoundError(name)

    sys.meta_path.insert(0, RefuseFvmr())
    try:
        import modeling_fvmr
        raise SystemExit("modeling_fvmr is importable")
    except ModuleNotFoundError:
        pass
    """
)  # a client prologue: the installed fvmr made unimportable, as on a machine without it

CLIENT = WITHOUT_FVMR + textwrap.dedent(
    """
    import torch
    from transformers import AutoModel

    model = AutoModel.from_pretrained(sys.argv[1], trust_remote_code=True).eval()
    inputs = torch.load(sys.argv[2])
    with torch.no_grad():
        scores = model(**inputs).student_scores
    print(json.dumps({"class": type(model).__module__ + "." + type(model).__name__, "scores": scores.tolist()}))
    """
)


def test_remote_code_load_without_the_package(tmp_path):
    config = FVMRConfig(video_feature_dim=10, num_clips=8, pooling_counts=[3, 2], hidden_size=8, vocab_size=9,
                        word_embedding_dim=4, lstm_hidden_size=4, semantic_dim=4, joint_dim=4, fusion_hidden_size=4)
    model = FVMRModel(config).eval()
    model_dir = tmp_path / "model"
    model.save_pretrained(model_dir)
    saved = json.loads((model_dir / "config.json").read_text())
    assert saved["auto_map"] == {"AutoConfig": "configuration_fvmr.FVMRConfig", "AutoModel": "modeling_fvmr.FVMRModel"}
    assert {"configuration_fvmr.py", "modeling_fvmr.py", "temporal_map.py"} <= set(os.listdir(model_dir))

    inputs = {"input_ids": torch.tensor([[2, 3, 4]]), "video_features": torch.randn(1, 13, 10)}
    torch.save(inputs, tmp_path / "inputs.pt")
    with torch.no_grad():
        expected = model(**inputs).student_scores
    env = {"PATH": os.environ["PATH"], "HF_HOME": str(tmp_path / "hf_home"), "HF_HUB_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-I", "-c", CLIENT, str(model_dir), str(tmp_path / "inputs.pt")],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    assert loaded["class"].startswith("transformers_modules.") and loaded["class"].endswith("FVMRModel")
    assert torch.allclose(torch.tensor(loaded["scores"]), expected, atol=1e-6)
