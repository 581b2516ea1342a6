"""ONNX exports from PyTorch: only where torch, the pt plugin and the onnx backend are installed."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

if any(importlib.util.find_spec(m) is None for m in ("torch", "modelexport_pt", "modelexport_onnx", "onnxruntime")):
    collect_ignore_glob = ["test_*.py"]
elif os.environ.get("MODELEXPORT_EXPECT_FRAMEWORKS") == "pt,tf":
    # The pt_tf session measures what transformers 4.57 with both frameworks changes: the sampled walk, the
    # cross-framework tests, the option matrix's sample. These run our own pipeline around an export, whatever
    # transformers is (workers, locks, signals, staging): the pt session runs them, once.
    collect_ignore = [
        "test_export_batch.py",
        "test_export_batch_ray.py",
        "test_interrupted_batch.py",
        "test_interrupted_export.py",
        "test_output_lock.py",
        "test_streamed_export.py",
        "test_toy_backend.py",  # the pipeline with a second backend: once, in the pt session
    ]


@pytest.fixture(scope="session")
def llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny llama causal LM saved as ``save_pretrained`` lays it out (exports only read it)."""
    import transformers
    from tiny_models import save_pt_model

    return save_pt_model(transformers.AutoModelForCausalLM, "llama", tmp_path_factory.mktemp("llama"))


@pytest.fixture(scope="session")
def zoo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """export-batch's zoo: three tiny models, and one that cannot be exported (its config names no model type)."""
    import transformers
    from tiny_models import save_pt_model

    root = tmp_path_factory.mktemp("zoo")
    save_pt_model(transformers.AutoModel, "bert", root / "bert")
    save_pt_model(transformers.AutoModelForCausalLM, "gpt2", root / "gpt2")
    save_pt_model(transformers.AutoModelForSequenceClassification, "bert", root / "classifier")
    (root / "broken").mkdir()
    (root / "broken" / "config.json").write_text('{"hidden_size": 8}')
    return root
