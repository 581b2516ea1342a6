"""A whole new backend that core has never heard of, exporting through the whole pipeline.

``toyformat`` writes a PyTorch model as TorchScript (``model.pt``) and validates it by loading the file back and
comparing its outputs with the model's own (the pipeline's :func:`compare_outputs`). It registers a config table of
two model types, implements the pipeline's ``Backend`` and ``ExportPlan``, and imports nothing from any other
backend: it is the skeleton the ExecuTorch backend starts from.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from modelexport_core.registry import ExporterConfigRegistry
from modelexport_pipeline.backend import Converted, ExportResult
from modelexport_pipeline.checks import Reference, Tolerance, ValidationReport, compare_outputs
from modelexport_pipeline.errors import UnsupportedExportOptionError
from modelexport_pipeline.progress import Progress
from modelexport_pipeline.request import ExportRequest, Resolved
from modelexport_pipeline.run import copy_model_files

OUTPUTS = {"default": ("last_hidden_state",), "causal-lm": ("logits",)}


@dataclass(frozen=True)
class ToyFormatConfig:
    """Token ids and mask in, the task's outputs out (a config per model type and task)."""

    config: Any
    task: str = "default"

    def inputs(self, batch: int, sequence: int, seed: int) -> dict[str, Any]:
        import numpy as np

        rng = np.random.default_rng(seed)
        vocab = int(getattr(self.config, "vocab_size", None) or self.config["vocab_size"])
        return {
            "input_ids": rng.integers(0, vocab, (batch, sequence), dtype=np.int64),
            "attention_mask": np.ones((batch, sequence), dtype=np.int64),
        }


class _Traced:
    """The model as a function of (input_ids, attention_mask) returning the task's outputs as a tuple."""

    def __init__(self, model: Any, names: tuple[str, ...]) -> None:
        import torch

        class Wrapper(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.model = model

            def forward(self, input_ids: Any, attention_mask: Any) -> tuple[Any, ...]:
                out = self.model(input_ids=input_ids, attention_mask=attention_mask, return_dict=True)
                return tuple(out[name] for name in names)

        self.module = Wrapper().eval()


@dataclass
class ToyPlan:
    resolved: Resolved
    request: ExportRequest
    config: ToyFormatConfig
    notes: tuple[str, ...] = ()
    description: str = "toy format: TorchScript"
    layout: str = "flat"

    def export_unloaded(self, progress: Progress) -> ExportResult | None:
        return None

    def configure(self, model: Any) -> str:
        self.config = ToyFormatConfig(model.config, self.config.task)
        return f"toy config: outputs {', '.join(OUTPUTS[self.config.task])}"

    def converting(self) -> str:
        return "tracing to TorchScript"

    def _run(self, module: Any, inputs: Mapping[str, Any]) -> dict[str, Any]:
        import torch

        with torch.inference_mode():
            values = module(*(torch.from_numpy(inputs[name]) for name in ("input_ids", "attention_mask")))
        return {name: v.numpy() for name, v in zip(OUTPUTS[self.config.task], values, strict=True)}

    def convert(self, model: Any, staging: Path) -> Converted:
        import torch

        module = _Traced(model, OUTPUTS[self.config.task]).module
        example = tuple(torch.from_numpy(v) for v in self.config.inputs(2, 8, 0).values())
        traced = torch.jit.trace(module, example, strict=False)
        traced.save(str(staging / "model.pt"))
        if self.request.options.get("break_weights"):  # a broken conversion (the file's own copy of the weights)
            broken = torch.jit.load(str(staging / "model.pt"))
            with torch.no_grad():
                for parameter in broken.parameters():
                    parameter.mul_(1.5)
            broken.save(str(staging / "model.pt"))
        time.sleep(float(self.request.options.get("pause_after_write", 0)))  # a window to interrupt the export in
        files = ["model.pt", *copy_model_files(self.resolved.reference.local_directory(), model.config, staging)]
        return Converted(sorted(files), "saved model.pt")

    def validate(self, model: Any, staging: Path) -> ValidationReport:
        import torch

        inputs = self.config.inputs(3, 5, 1)  # other sizes than traced: a frozen axis fails here
        exported = self._run(torch.jit.load(str(staging / "model.pt")), inputs)
        expected = self._run(_Traced(model, OUTPUTS[self.config.task]).module, inputs)
        return compare_outputs(exported, Reference(expected, None, "toy"), Tolerance(atol=self.request.atol), {})

    def failure_hint(self) -> str | None:
        return None

    def finish(self, model: Any, staging: Path, validation: ValidationReport, files: list[str]) -> list[str]:
        return files


class ToyFormat:
    name = "toyformat"
    distribution = "modelexport-toy"
    option_types: Mapping[str, tuple[type, ...]] = {"break_weights": (bool,), "pause_after_write": (int, float)}

    def register(self, registry: ExporterConfigRegistry) -> None:
        registry.register("toyformat", "bert", ["default"], ToyFormatConfig)
        registry.register("toyformat", "gpt2", ["default", "causal-lm"], ToyFormatConfig)

    def check_request(self, request: ExportRequest) -> None:
        unknown = set(request.options) - set(self.option_types)
        if unknown:
            raise UnsupportedExportOptionError(f"toyformat has no option {', '.join(sorted(unknown))}.")
        if request.dtype != "fp32":
            raise UnsupportedExportOptionError("toyformat writes float32 only.")

    def plan(self, resolved: Resolved, request: ExportRequest) -> ToyPlan:
        from modelexport_core import TasksManager

        constructor = TasksManager.get_exporter_config_constructor(
            "toyformat", task=resolved.task, model_type=resolved.model_type
        )
        return ToyPlan(resolved, request, constructor(resolved.reference.config))


backend = ToyFormat()
