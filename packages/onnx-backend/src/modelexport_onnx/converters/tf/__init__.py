"""The TensorFlow converter: ``tf2onnx``, from a ``tf.function`` traced with ``None`` dims.

This module imports neither tensorflow, tf2onnx, numpy, onnx nor transformers: the option checks
ask it before the model is loaded. :mod:`.conversion` (imported by :meth:`TensorFlowConverter.convert`)
does the work, from the model call of :mod:`.model_calls`, frozen by :mod:`.freezing`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelexport_pipeline.errors import UnsupportedExportOptionError

from .. import import_heavy

if TYPE_CHECKING:
    from modelexport_pipeline.checks import Reference

    from ...config import OnnxConfig
    from ...options import ExportOptions

TF2ONNX = "tf2onnx"
_FP16 = "--dtype fp16 needs PyTorch on a CUDA GPU; TensorFlow models export in fp32 only (the default)."
#: Why validation has no float64 reference for these models (shown in the report).
NO_FLOAT64 = "no float64 run for TensorFlow models"


def not_tf2onnx(name: str) -> str:
    """The refusal of a PyTorch conversion path for a TensorFlow model (by ``convert``)."""
    return f"--exporter {name} is a PyTorch exporter; TensorFlow models are converted with tf2onnx."


class TensorFlowConverter:
    """TensorFlow has one conversion path, tf2onnx, and exports in fp32 only."""

    framework = "tf"
    names: tuple[str, ...] = (TF2ONNX,)
    required_modules: tuple[str, ...] = ("tensorflow", "tf2onnx")

    def automatic(self, config: OnnxConfig | None) -> str | None:
        return TF2ONNX

    def opset_floor(self, name: str) -> int:
        return 1

    def preferred_opset(self, name: str) -> int:
        return 1  # the architecture's: the TensorFlow table was measured at it

    def check_options(self, *, opset: int | None, name: str | None, dtype: str, model_type: str = "") -> None:
        if dtype == "fp16":
            raise UnsupportedExportOptionError(_FP16)
        # A PyTorch path (``name``) is refused by name before loading (option_checks), and by ``convert``.

    def export_notes(self, model_type: str) -> list[str]:
        return []  # tf2onnx is the one path: nothing to choose between

    def check_loaded(self, options: ExportOptions) -> None:
        """Nothing more to check once TensorFlow is loaded: ``check_options`` said it all."""

    def convert(self, model: Any, config: OnnxConfig, path: Path, options: ExportOptions) -> None:
        import_heavy(self.framework, f"{__name__}.conversion").convert(model, config, path, options)

    def run_reference(self, model: Any, config: OnnxConfig, inputs: Mapping[str, Any]) -> Reference:
        from modelexport_pipeline.checks import Reference

        outputs: Mapping[str, Any] = import_heavy(self.framework, f"{__name__}.model_calls").eager_outputs(
            model, config, inputs
        )
        return Reference(outputs, None, NO_FLOAT64)

    def kind_module(self, name: str) -> Any:
        return import_heavy(self.framework, f"{__name__}.{name}")


converter = TensorFlowConverter()
