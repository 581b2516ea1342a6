"""A whole new backend that core has never heard of."""

from modelexport_core import registry


class ToyFormatConfig:
    def __init__(self, config: object, task: str = "default") -> None:
        self.task = task


registry.register("toyformat", "bert", ["default"], ToyFormatConfig)
