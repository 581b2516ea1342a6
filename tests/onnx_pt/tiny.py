"""Tiny PyTorch models per (model type, task), built once per test session and saved to disk."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tiny_models import TinyModels


class TinyPtModels(TinyModels):
    """Tiny PyTorch models, cached by (model type, task)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "pt")


def export_split_model(model: Any, config: Any, directory: Path) -> dict[str, Any]:
    """Export every file of an encoder-decoder config into ``directory``; onnxruntime sessions by file stem."""
    from modelexport_onnx.export import export_components, resolve_options
    from modelexport_onnx.validation import onnx_session

    export_components(model, config, directory, resolve_options(config), "pt", directory / ".work")
    return {name: onnx_session(directory / f"{name}.onnx") for name in config.components()}


def generation_check(model: Any, config: Any, sessions: dict[str, Any], lengths: tuple[int, ...] = (7, 3)) -> Any:
    """20 greedy tokens from the exported files against PyTorch's generate, on a batch of two prompts."""
    from modelexport_core.plugins import get_framework
    from modelexport_onnx.generation import check_generation

    plugin = get_framework("pt")
    check = check_generation(
        sessions, config, lambda inputs, n, pad: plugin.generate(model, inputs, n, pad), 20, lengths
    )
    assert check.new_tokens == 20 and check.batch == len(lengths)
    assert check.equal, (check.onnx_tokens, check.reference_tokens)
    return check


def spectrogram_check(model: Any, config: Any, sessions: dict[str, Any]) -> Any:
    """10 decoder steps of the exported text-to-spectrogram files chained in onnxruntime against transformers'
    ``generate``, on two texts (one padded): the spectrograms within the model's own float32 drift."""
    from modelexport_onnx.converters.pt.spectrogram import reference_spectrogram
    from modelexport_onnx.spectrogram_generation import check_spectrogram_generation

    check = check_spectrogram_generation(sessions, config, lambda inputs, n: reference_spectrogram(model, inputs, n))
    assert check.steps == 10 and check.batch == 2
    assert check.comparison.onnx_shape == [2, 10 * config.reduction_factor, config.num_mel_bins]
    assert check.passed, check.describe()
    return check
