"""Adds an architecture to the onnx backend of another package."""

from modelexport_core import register_exporter_config


@register_exporter_config("onnx", "toy-arch", "default", "fill-mask")
class ToyOnnxConfig:
    def __init__(self, config: object, task: str = "default") -> None:
        self.config = config
        self.task = task
