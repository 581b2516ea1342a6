"""Every (model type, task) pair the ONNX registry advertises exports from PyTorch and validates.

The default exporter runs on every pair; the other exporter on one pair per task. Each export
is run for real and its onnxruntime outputs compared with PyTorch's on inputs of another batch
size and sequence length.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import assert_onnx_names
from modelexport_core import TasksManager
from modelexport_core.registry import registry
from modelexport_onnx.architectures import HAND_WRITTEN
from modelexport_onnx.converters.pt import converter as pt_converter
from modelexport_onnx.converters.pt import dynamo_refusal
from modelexport_onnx.export import export, export_components, resolve_options, validate_components
from modelexport_onnx.options import DEFAULT_CONVERTER
from modelexport_onnx.spectrogram_config import TextToSpectrogramOnnxConfig
from modelexport_onnx.validation import onnx_session
from modelexport_pipeline.errors import ExportError, UnsupportedExportOptionError
from onnx_pt.tiny import TinyPtModels, generation_check, spectrogram_check

TasksManager.get_supported_backends()  # make sure the registry is filled before collection
TasksManager.get_supported_tasks_for_model_type("bert", "onnx")
ALL_PAIRS = sorted((e.model_type, e.task) for e in registry.all_entries("onnx") if e.supports_framework("pt"))


def _family(model_type: str, task: str) -> str:
    """The config class a registry entry exports through (its family)."""
    constructor = registry.entries_for("onnx", model_type)[task].constructor
    return constructor.architecture.for_task(task).config_class.__name__


def _transformers_major() -> int:
    from importlib.metadata import version

    return int(version("transformers").split(".")[0])


#: transformers 5 (the pt session) walks every advertised pair: the registry was measured with it. The
#: transformers 4.57 session (pt_tf) lacks many newer types: one model type per family and task there,
#: among those its transformers knows.
if _transformers_major() >= 5:
    PAIRS = ALL_PAIRS
else:
    from modelexport_core.registry import normalize_model_type
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING_NAMES

    _known = {normalize_model_type(name) for name in CONFIG_MAPPING_NAMES}
    PAIRS = sorted(
        {
            (_family(model_type, task), task): (model_type, task)
            for model_type, task in reversed(ALL_PAIRS)
            if model_type in _known
        }.values()
    )


def _other_pairs() -> list[tuple[str, str]]:
    """One pair per task for the exporter ``auto`` does not pick: a hand-written row's type where the task has
    one (the architectures users export most), else the first measured type."""
    chosen: dict[str, tuple[str, str]] = {}
    for model_type, task in sorted(PAIRS, key=lambda pair: (pair[0] not in HAND_WRITTEN, pair)):
        chosen.setdefault(task, (model_type, task))
    return sorted(chosen.values())


OTHER_PAIRS = _other_pairs()


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyPtModels:
    return TinyPtModels(tmp_path_factory.mktemp("tiny-pt"))


def export_and_validate(tiny: TinyPtModels, model_type: str, task: str, converter: str, tmp_path: Path) -> None:
    model = tiny.model(model_type, task)
    config = TasksManager.get_exporter_config_constructor("onnx", task=task, model_type=model_type)(model.config)
    options = resolve_options(config, converter=converter)
    posts = export_components(model, config, tmp_path, options, "pt", tmp_path / ".work")
    assert not model.training  # the export left the model as it found it
    components = config.components()
    assert list(posts) == list(components)
    assert_onnx_names(tmp_path, config)
    shapes = options.validation_shapes
    report = validate_components(model, config, tmp_path, "pt", shapes, config.atol)
    assert report.passed, report.table()
    assert report.shapes["batch_size"] != 2
    if config.generates_tokens:  # the decisive evidence for a cache: the same greedy tokens as PyTorch
        sessions = {name: onnx_session(tmp_path / f"{name}.onnx") for name in components}
        generation_check(model, config, sessions)
    if isinstance(config, TextToSpectrogramOnnxConfig):  # the files chained as a consumer chains them
        spectrogram_check(model, config, {name: onnx_session(tmp_path / f"{name}.onnx") for name in components})
    if config.uses_past and len(components) == 1:  # the first generation step: an empty cache
        empty = validate_components(
            model, config, tmp_path, "pt", shapes.with_sizes(past_sequence_length=0), config.atol
        )
        assert empty.passed, empty.table()


def test_the_walk_covers_the_registry() -> None:
    assert len(PAIRS) >= (60 if PAIRS is ALL_PAIRS else 10)
    assert {task for _, task in OTHER_PAIRS} == {task for _, task in PAIRS}


@pytest.mark.parametrize(("model_type", "task"), PAIRS)
def test_default_exporter(tiny: TinyPtModels, model_type: str, task: str, tmp_path: Path) -> None:
    export_and_validate(tiny, model_type, task, DEFAULT_CONVERTER, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize(("model_type", "task"), OTHER_PAIRS)
def test_other_exporter(tiny: TinyPtModels, model_type: str, task: str, tmp_path: Path) -> None:
    model = tiny.model(model_type, task)
    config = TasksManager.get_exporter_config_constructor("onnx", task=task, model_type=model_type)(model.config)
    if dynamo_refusal(model_type) is not None:  # dynamo cannot export it: refused before tracing, saying what to use
        with pytest.raises(UnsupportedExportOptionError, match="Use --exporter torchscript"):
            export_and_validate(tiny, model_type, task, "dynamo", tmp_path)
        return
    if pt_converter.automatic(config) == "torchscript":
        export_and_validate(tiny, model_type, task, "dynamo", tmp_path)
        return
    # auto picks dynamo here (transformers 4.x decoders, whisper): TorchScript either exports a model
    # that validates, or refuses with an ExportError; it never ships a wrong model silently.
    try:
        export_and_validate(tiny, model_type, task, "torchscript", tmp_path)
    except ExportError as error:
        assert "torch.onnx (torchscript) failed" in str(error)


def test_torchscript_refusal_is_clear_where_it_cannot_trace(tiny: TinyPtModels, tmp_path: Path) -> None:
    model = tiny.model("llama", "causal-lm-with-past")
    config = TasksManager.get_exporter_config_constructor("onnx", task="causal-lm-with-past", model_type="llama")(
        model.config
    )
    if pt_converter.automatic(config) == "torchscript":
        pytest.skip("this transformers version builds masks TorchScript can trace")
    with pytest.raises(ExportError, match="use --exporter dynamo"):
        export(model, config, tmp_path / "model.onnx", converter="torchscript")
    assert not model.training
