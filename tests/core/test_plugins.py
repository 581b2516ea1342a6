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
    from modelexport_core.registry import ExporterConfigRegistry

    fresh = plugin_module.Plugins(ExporterConfigRegistry())  # first use, without touching the process's plugins
    calls: list[str] = []
    original = plugin_module.load_checked

    def counting(ep, check, interface):  # type: ignore[no-untyped-def]
        calls.append(f"{ep.group}:{ep.name}:{ep.value}")
        return original(ep, check, interface)

    monkeypatch.setattr(plugin_module, "load_checked", counting)
    barrier = threading.Barrier(8)
    results: list[object] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            barrier.wait()
            fresh.ensure_backend_loaded("onnx")
            results.append(
                (
                    tuple(sorted(fresh.registry.entries_for("onnx", "distilbert") or {})),
                    tuple(sorted(fresh.frameworks())),
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
    assert "masked-lm" in results[0][0]  # type: ignore[index]
    assert len(calls) == len(set(calls)), calls  # no entry point loaded twice


def _with_entry_points(group: str, *entry_points: object) -> plugin_module.Plugins:
    from modelexport_core.registry import ExporterConfigRegistry

    fresh = plugin_module.Plugins(ExporterConfigRegistry())
    cache = fresh.framework_entry_points if group == plugin_module.FRAMEWORKS_GROUP else fresh.backend_entry_points
    cache._entry_points = tuple(entry_points)  # type: ignore[assignment]
    return fresh


def test_broken_plugin_is_named() -> None:
    from importlib import metadata

    from modelexport_core import PluginLoadError

    broken = metadata.EntryPoint(name="broken", value="no_such_module_xyz:thing", group=plugin_module.FRAMEWORKS_GROUP)
    with pytest.raises(PluginLoadError, match="'broken'.*no_such_module_xyz"):
        _with_entry_points(plugin_module.FRAMEWORKS_GROUP, broken).frameworks()


def test_backend_entry_point_must_name_a_registering_object() -> None:
    """A module (the old contract: registration as an import side effect) is refused by name."""
    from importlib import metadata

    from modelexport_core import PluginLoadError

    module = metadata.EntryPoint(name="odd", value="json", group=plugin_module.BACKENDS_GROUP)
    with pytest.raises(PluginLoadError, match=r"'odd' \(json\) does not provide register\(registry\)"):
        _with_entry_points(plugin_module.BACKENDS_GROUP, module).ensure_backend_loaded("odd")


def test_backend_registers_into_the_registry_it_is_given() -> None:
    """Loading the onnx backend into a fresh registry fills that one: nothing is registered at import."""
    pytest.importorskip("modelexport_onnx")
    from importlib import metadata

    from modelexport_core.registry import ExporterConfigRegistry

    onnx = metadata.EntryPoint(
        name="onnx", value="modelexport_onnx.registration:backend", group=plugin_module.BACKENDS_GROUP
    )
    fresh = _with_entry_points(plugin_module.BACKENDS_GROUP, onnx)
    assert fresh.registry.model_types("onnx") == []
    fresh.ensure_backend_loaded("onnx")
    assert {"bert", "gpt2", "whisper"} <= set(fresh.registry.model_types("onnx"))
    other = ExporterConfigRegistry()
    assert other.model_types("onnx") == []
