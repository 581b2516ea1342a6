"""Guards of the install matrix: each nox session says what must (not) be installed.

``MODELEXPORT_EXPECT_FRAMEWORKS`` (set by nox) lists the frameworks that must be usable; the
others must be absent. Without this, a session whose install silently failed would skip its
framework tests and still pass.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXPECTED = os.environ.get("MODELEXPORT_EXPECT_FRAMEWORKS")


@pytest.mark.skipif(EXPECTED is None, reason="run through nox, which says what the session installs")
def test_session_has_exactly_its_frameworks() -> None:
    from modelexport_core import TasksManager

    expected = sorted(filter(None, (EXPECTED or "").split(",")))
    assert sorted(TasksManager.get_available_frameworks()) == expected
    heavy = {"pt": "torch", "tf": "tensorflow"}
    for name, module in heavy.items():
        assert (importlib.util.find_spec(module) is not None) == (name in expected), module
    if not expected:
        assert importlib.util.find_spec("transformers") is None


def test_importing_the_facade_and_plugins_stays_light() -> None:
    code = (
        "import sys, modelexport, modelexport_core;"
        "from modelexport import TasksManager;"
        "from modelexport_core.plugins import framework_plugins; framework_plugins();"
        "TasksManager.get_all_tasks();"
        "print(','.join(m for m in ('torch','tensorflow','transformers','onnxruntime','huggingface_hub')"
        " if m in sys.modules))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == ""


REPOSITORY = Path(__file__).resolve().parents[1]
SOURCES = {
    "modelexport": REPOSITORY / "src" / "modelexport",
    "modelexport_core": REPOSITORY / "packages" / "core" / "src" / "modelexport_core",
    "modelexport_pt": REPOSITORY / "packages" / "pt" / "src" / "modelexport_pt",
    "modelexport_tf": REPOSITORY / "packages" / "tf" / "src" / "modelexport_tf",
    "modelexport_onnx": REPOSITORY / "packages" / "onnx-backend" / "src" / "modelexport_onnx",
}


@pytest.mark.parametrize("package", sorted(SOURCES))
def test_installed_packages_are_this_checkout(package: str) -> None:
    """A stale wheel from pip's cache would test old code: every installed module must match the source."""
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        pytest.skip(f"{package} is not installed here")
    installed = Path(spec.origin).parent
    source = SOURCES[package]
    for path in source.rglob("*.py"):
        copy = installed / path.relative_to(source)
        assert copy.is_file() and copy.read_bytes() == path.read_bytes(), f"{copy} differs from {path}: stale install"


def test_test_modules_have_unique_names() -> None:
    """Test folders are not packages: two ``test_x.py`` in different folders break collection."""
    from collections import Counter
    from pathlib import Path

    names = Counter(p.name for p in Path(__file__).parent.rglob("test_*.py") if "plugins" not in p.parts)
    assert [name for name, count in names.items() if count > 1] == []
