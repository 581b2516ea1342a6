"""timm's tests run where timm and torchvision are installed (the ``timm`` nox session); elsewhere they skip, unless
``MODELEXPORT_EXPECT_TIMM=1`` says timm must be there."""

from __future__ import annotations

import importlib.util
import os

import pytest

_NEEDED = ("timm", "torchvision", "torch", "modelexport_onnx", "onnxruntime")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = [name for name in _NEEDED if importlib.util.find_spec(name) is None]
    if not missing:
        return
    if os.environ.get("MODELEXPORT_EXPECT_TIMM") == "1":
        raise pytest.UsageError(f"MODELEXPORT_EXPECT_TIMM=1 but {', '.join(missing)} cannot be imported")
    skip = pytest.mark.skip(reason=f"timm's tests need {', '.join(missing)}")
    for item in items:
        if "tests/timm/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(skip)
