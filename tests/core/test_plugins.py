"""Plugin discovery: a third-party package installed for real, and many threads at once."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from modelexport_core import TasksManager
from modelexport_core import plugins as plugin_module

TOY_PLUGIN = Path(__file__).resolve().parents[1] / "plugins" / "modelexport-toy"


@pytest.fixture(scope="module")
def toy_site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Install the throwaway plugin package with pip into its own folder."""
    pytest.importorskip("hatchling", reason="building the toy plugin needs hatchling")
    target = tmp_path_factory.mktemp("toy-site")
    source = tmp_path_factory.mktemp("toy-src") / "modelexport-toy"
    shutil.copytree(TOY_PLUGIN, source)  # pip builds in place: keep the repository clean
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return target


def run_with_plugin(site: Path, code: str) -> dict:
    env = {**__import__("os").environ, "PYTHONPATH": str(site)}
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, env=env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_third_party_plugin_appears(toy_site: Path, tmp_path: Path) -> None:
    model = tmp_path / "toy-model"
    model.mkdir()
    (model / "config.json").write_text('{"model_type": "toy-arch", "architectures": ["ToyModel"]}')
    (model / "toy_model.bin").write_bytes(b"")
    seen = run_with_plugin(
        toy_site,
        f"""
        import json
        from modelexport_core import TasksManager
        from modelexport_core.plugins import framework_names, backend_names
        onnx_tasks = list(TasksManager.get_supported_tasks_for_model_type("toy_arch", "onnx"))
        print(json.dumps({{
            "frameworks": framework_names(),
            "backends": backend_names(),
            "onnx_tasks": onnx_tasks,
            "toyformat": list(TasksManager.get_supported_tasks_for_model_type("bert", "toyformat")),
            "framework": TasksManager.determine_framework({str(model)!r}),
            "autoclass": TasksManager.get_autoclass_name("fill-mask", "toy"),
            "loaded": list(TasksManager.get_model_from_task("default", {str(model)!r}, framework="toy")),
        }}))
    """,
    )
    assert "toy" in seen["frameworks"]
    assert seen["frameworks"][0] == "toy"  # priority 5 comes before pt (10) and tf (20)
    assert {"onnx", "toyformat"} <= set(seen["backends"])
    assert seen["onnx_tasks"] == ["default", "masked-lm"]
    assert seen["toyformat"] == ["default"]
    assert seen["framework"] == "toy"
    assert seen["autoclass"] == "ToyModelForMaskedLM"
    assert seen["loaded"] == ["ToyModel", str(model.resolve())]


def test_concurrent_first_use_loads_each_plugin_once(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("modelexport_onnx")
    plugin_module.reset_plugin_cache()
    calls: list[str] = []
    original = plugin_module._load_entry_point

    def counting(ep):  # type: ignore[no-untyped-def]
        calls.append(f"{ep.group}:{ep.name}:{ep.value}")
        return original(ep)

    monkeypatch.setattr(plugin_module, "_load_entry_point", counting)
    barrier = threading.Barrier(8)
    results: list[object] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(
                (
                    tuple(TasksManager.get_supported_tasks_for_model_type("distilbert", "onnx")),
                    tuple(plugin_module.framework_names()),
                )
            )
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(set(results)) == 1 and len(results) == 8
    assert len(calls) == len(set(calls)), calls  # no entry point loaded twice


def test_broken_plugin_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    from modelexport_core import PluginLoadError

    broken = metadata.EntryPoint(name="broken", value="no_such_module_xyz:thing", group=plugin_module.FRAMEWORKS_GROUP)
    monkeypatch.setattr(plugin_module._framework_eps, "_entry_points", (broken,))
    monkeypatch.setattr(plugin_module, "_frameworks", None)
    with pytest.raises(PluginLoadError, match="'broken'.*no_such_module_xyz"):
        plugin_module.framework_plugins()
    monkeypatch.setattr(plugin_module, "_frameworks", None)
    plugin_module._framework_eps.reset()
