"""A whole new backend that core has never heard of."""

from modelexport_core.registry import ExporterConfigRegistry


class ToyFormatConfig:
    def __init__(self, config: object, task: str = "default") -> None:
        self.task = task


class ToyFormat:
    def register(self, registry: ExporterConfigRegistry) -> None:
        registry.register("toyformat", "bert", ["default"], ToyFormatConfig)


backend = ToyFormat()
