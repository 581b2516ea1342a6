"""Install hints a new user gets must work from a clone, and the facade's extras must bring what they promise.

No package index serves modelexport's split distributions (``modelexport-pt``, ``modelexport-onnx``...)
nor the facade itself: a hint such as ``pip install modelexport-onnx[pt]`` sends the user to a command
that cannot work. Hints name the facade's extras from the root of a clone, or packages an index serves.
"""

from __future__ import annotations

import re
from importlib import metadata
from pathlib import Path

import pytest
from modelexport_core import BackendNotInstalledError, FrameworkNotInstalledError, TasksManager
from modelexport_core.plugins import CLONE_INSTALL_COMMANDS, get_framework, install_hint, requirements_hint
from packaging.requirements import Requirement

REPOSITORY = Path(__file__).resolve().parents[2]
SOURCE_TREES = [REPOSITORY / "src", *sorted((REPOSITORY / "packages").glob("*/src"))]

#: What must not follow ``pip install`` on a line: a modelexport distribution (split or facade), or a
#: distribution name computed from a plugin (``{plugin.distribution}``, ``DISTRIBUTION_PREFIX``).
NOT_INSTALLABLE = re.compile(r"modelexport-|\bmodelexport\[|^\s+['\"]?modelexport\b|distribution|DISTRIBUTION_PREFIX")


def _pip_install_lines() -> list[tuple[Path, int, str]]:
    found = []
    for tree in SOURCE_TREES:
        for path in sorted(tree.rglob("*")):
            if path.suffix not in (".py", ".md", ".txt", ".toml") or not path.is_file():
                continue
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                if "pip install" in line:
                    found.append((path, number, line))
    return found


def test_source_tree_is_found() -> None:
    assert (REPOSITORY / "packages" / "core" / "src" / "modelexport_core").is_dir()
    assert len(SOURCE_TREES) >= 5  # the facade and the four packages


def test_no_install_hint_names_a_distribution_no_index_serves() -> None:
    lines = _pip_install_lines()
    assert lines, "the install hints moved: point this test at them"
    bad = [
        f"{path.relative_to(REPOSITORY)}:{number}: {line.strip()}"
        for path, number, line in lines
        if NOT_INSTALLABLE.search(line.split("pip install", 1)[1])
    ]
    assert not bad, "install hints that cannot work from a clone:\n" + "\n".join(bad)


def test_the_checker_catches_the_old_hints() -> None:
    for old in (
        'f"`pip install modelexport-onnx[{framework}]`."',
        '"The dynamo exporter needs onnxscript: `pip install modelexport-onnx[pt]` "',
        'f"Install it with `pip install {plugin.distribution}`"',
        'return f"pip install {DISTRIBUTION_PREFIX}{name}"',
        "raise ImportError(\"needs the ONNX backend: pip install 'modelexport[onnx]'\")",
    ):
        assert NOT_INSTALLABLE.search(old.split("pip install", 1)[1]), old


@pytest.mark.parametrize("name", sorted(CLONE_INSTALL_COMMANDS))
def test_own_plugins_install_through_the_facade_extras(name: str) -> None:
    command = CLONE_INSTALL_COMMANDS[name]
    assert f"modelexport clone: `{command}`" in install_hint(name)
    assert f'".[{name}' in command
    assert command.startswith("pip install -c constraints/")  # pinned: an unpinned torch is the multi-GB CUDA build
    assert (REPOSITORY / command.split()[3]).is_file()


def test_errors_carry_the_hints() -> None:
    with pytest.raises(FrameworkNotInstalledError) as unknown:
        get_framework("jax")
    assert "no plugin called 'jax'" in str(unknown.value) and "modelexport.frameworks" in str(unknown.value)
    with pytest.raises(BackendNotInstalledError) as backend:
        TasksManager.get_supported_tasks_for_model_type("bert", "tflite")
    assert "pip install" not in str(backend.value) and "modelexport.backends" in str(backend.value)
    assert requirements_hint("pt", "modelexport-pt", ["torch"]) == install_hint("pt")
    third_party = requirements_hint("jax", "modelexport-jax", ["jax", "flax"])
    assert "pip install" not in third_party and "jax, flax" in third_party


def _extra_requirements(extra: str) -> list[Requirement]:
    requirements = [Requirement(text) for text in metadata.requires("modelexport") or []]
    return [r for r in requirements if r.marker is not None and r.marker.evaluate({"extra": extra})]


def test_pt_extra_brings_onnxscript() -> None:
    """The dynamo exporter needs onnxscript, and `auto` routes Whisper and beit to it: `.[pt,onnx]` must bring it."""
    names = {r.name for r in _extra_requirements("pt")}
    assert "onnxscript" in names, f"the installed facade's pt extra brings {sorted(names)}: reinstall the facade?"
    assert "modelexport-pt" in names
    pins = (REPOSITORY / "constraints" / "pt.txt").read_text().splitlines()
    assert any(line.startswith("onnxscript==") for line in pins)
