"""The client tests run in their own nox session (``clients``), which sets ``MODELEXPORT_CLIENTS=1``: each makes
or reuses its client's environment (``client_envs.py``), minutes the first time. Elsewhere they are not collected.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

if os.environ.get("MODELEXPORT_CLIENTS") != "1" or any(
    importlib.util.find_spec(m) is None for m in ("torch", "modelexport_pt", "modelexport_onnx", "onnxruntime")
):
    collect_ignore_glob = ["test_*.py"]


@pytest.fixture(scope="session", autouse=True)
def node_and_npm() -> None:
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"the client tests need {' and '.join(missing)} (apt-get install nodejs npm)")


@pytest.fixture(scope="session")
def tiny_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One tiny model per family, saved once for the session."""
    import transformers
    from sentence_folders import tiny_bert
    from tiny_models import save_pt_model

    root = tmp_path_factory.mktemp("client-models")
    return {
        "bert": tiny_bert(root / "bert"),
        "gpt2": save_pt_model(transformers.AutoModelForCausalLM, "gpt2", root / "gpt2"),
        "t5": save_pt_model(transformers.AutoModelForSeq2SeqLM, "t5", root / "t5"),
        "whisper": save_pt_model(transformers.AutoModelForSpeechSeq2Seq, "whisper", root / "whisper"),
        "vit": save_pt_model(transformers.AutoModelForImageClassification, "vit", root / "vit"),
    }


def _real(name: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from real_models import REAL_CHECKPOINTS, checkpoint_dir

    checkpoint = REAL_CHECKPOINTS[name]
    if not checkpoint.installed():
        pytest.fail(f"{name}: install {checkpoint.missing()} (see noxfile.py, session clients)")
    base = tmp_path_factory.getbasetemp()
    shared = (base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "real-checkpoints"
    return checkpoint_dir(checkpoint, shared)


@pytest.fixture(scope="session")
def minilm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _real("all-MiniLM-L6-v2", tmp_path_factory)


@pytest.fixture(scope="session")
def whisper_base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _real("whisper-base", tmp_path_factory)


@pytest.fixture(scope="session")
def smollm2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _real("SmolLM2-135M-Instruct", tmp_path_factory)
