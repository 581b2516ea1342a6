"""Adds an architecture to the onnx backend of another package."""

from modelexport_core.registry import ExporterConfigRegistry


class ToyOnnxConfig:
    def __init__(self, config: object, task: str = "default") -> None:
        self.config = config
        self.task = task


class ToyArchitectures:
    """What the entry point names: core asks it to register into core's registry."""

    def register(self, registry: ExporterConfigRegistry) -> None:
        registry.register("onnx", "toy-arch", ["default", "fill-mask"], ToyOnnxConfig)


architectures = ToyArchitectures()
