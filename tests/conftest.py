"""Shared fixtures: isolated Hugging Face settings, model directories, a fake Hub, a real-format cache.

No test touches the network: ``HF_ENDPOINT`` points at a closed local port unless a test
starts the fake Hub below, and every cache lives in a temporary directory.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Set before anything imports huggingface_hub (it reads these once, at import).
_SANDBOX = tempfile.mkdtemp(prefix="modelexport-tests-")
os.environ["HF_ENDPOINT"] = "http://127.0.0.1:9"  # discard port: nothing listens, nothing leaves
os.environ["HF_HOME"] = os.path.join(_SANDBOX, "hf-home")
os.environ.pop("HF_HUB_CACHE", None)
os.environ.pop("HF_HUB_OFFLINE", None)
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")

from helpers import FakeHub, write_model_dir  # noqa: E402


@pytest.fixture
def model_dir(tmp_path: Path):
    """Factory: ``model_dir(config, files=..., readme=..., name=...)``."""

    def make(config: dict[str, Any] | str | None = None, *, files=None, readme=None, name: str = "model") -> Path:
        return write_model_dir(tmp_path / name, config, files, readme)

    return make


@pytest.fixture
def hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty Hugging Face hub cache that ``HF_HUB_CACHE`` points at."""
    cache = tmp_path / "hf-cache"
    cache.mkdir()
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    return cache


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """Start :class:`FakeHub` on 127.0.0.1 and point ``HF_ENDPOINT`` at it."""
    hub = FakeHub()
    hub.thread.start()
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    try:
        from huggingface_hub import constants

        monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
        # Read once, at import: a library that calls the Hub itself (transformers' loaders) must see this Hub too.
        template = hub.url + "/{repo_id}/resolve/{revision}/{filename}"
        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", template)
        from huggingface_hub import file_download  # huggingface_hub < 1 keeps its own copy of the template

        if hasattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE"):
            monkeypatch.setattr(file_download, "HUGGINGFACE_CO_URL_TEMPLATE", template)
    except ImportError:
        pass
    try:
        yield hub
    finally:
        hub.server.shutdown()
        hub.server.server_close()


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
