"""Validation: run the export in onnxruntime and compare every output with the framework's own.

Inputs have another batch size and sequence length than the traced ones, so an axis frozen
by the exporter shows up as a shape mismatch. Beyond the tolerance the export fails: we do
not ship a model we know is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .config import OnnxConfig
from .dummy_inputs import DummyShapes
from .errors import ValidationError


@dataclass(frozen=True)
class OutputCheck:
    name: str
    onnx_shape: list[int]
    reference_shape: list[int] | None
    max_abs_diff: float | None
    passed: bool
    problem: str | None = None


@dataclass
class ValidationReport:
    atol: float
    shapes: dict[str, int]
    outputs: list[OutputCheck] = field(default_factory=list)
    #: Further checks (the generation check of decoders) by name, already as JSON-ready dicts.
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        generation = self.extra.get("generation")
        return (
            bool(self.outputs)
            and all(check.passed for check in self.outputs)
            and (generation is None or bool(generation["equal"]))
        )

    @property
    def max_abs_diff(self) -> float:
        return max((c.max_abs_diff for c in self.outputs if c.max_abs_diff is not None), default=float("nan"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "atol": self.atol,
            "shapes": self.shapes,
            "max_abs_diff": self.max_abs_diff,
            "outputs": [asdict(c) for c in self.outputs],
            **self.extra,
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def table(self) -> str:
        rows = [("output", "onnx shape", "reference shape", "max abs diff", "ok")]
        for c in self.outputs:
            diff = "-" if c.max_abs_diff is None else f"{c.max_abs_diff:.3e}"
            rows.append(
                (c.name, str(c.onnx_shape), str(c.reference_shape), diff, "yes" if c.passed else f"NO ({c.problem})")
            )
        widths = [max(len(r[i]) for r in rows) for i in range(5)]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def onnx_session(path: Path) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def compare_outputs(
    onnx_outputs: Mapping[str, Any], reference: Mapping[str, Any], atol: float, shapes: Mapping[str, int]
) -> ValidationReport:
    """Compare named ONNX outputs with the reference outputs of the same names."""
    import numpy as np

    report = ValidationReport(atol=atol, shapes=dict(shapes))
    for name, value in onnx_outputs.items():
        onnx_shape = list(value.shape)
        expected = reference.get(name)
        if expected is None:
            report.outputs.append(OutputCheck(name, onnx_shape, None, None, False, "no reference output"))
            continue
        expected = np.asarray(expected)
        if list(expected.shape) != onnx_shape:
            report.outputs.append(OutputCheck(name, onnx_shape, list(expected.shape), None, False, "shape differs"))
            continue
        if value.size == 0:
            report.outputs.append(OutputCheck(name, onnx_shape, onnx_shape, 0.0, True))
            continue
        diff = np.abs(value.astype(np.float64) - expected.astype(np.float64))
        finite = np.isfinite(value).all() and np.isfinite(expected).all()
        max_diff = float(np.nanmax(diff)) if finite else float("inf")
        ok = finite and max_diff <= atol
        report.outputs.append(
            OutputCheck(
                name,
                onnx_shape,
                onnx_shape,
                max_diff,
                ok,
                None if ok else ("not finite" if not finite else "beyond atol"),
            )
        )
    return report


def validate(
    onnx_path: Path,
    config: OnnxConfig,
    run_reference: Callable[[Mapping[str, Any]], Mapping[str, Any]],
    shapes: DummyShapes,
    atol: float,
    seed: int = 1,
) -> ValidationReport:
    """Run ``onnx_path`` and the framework (``run_reference``) on the same dummy inputs; compare."""
    inputs = config.generate_dummy_inputs(shapes, seed=seed)
    session = onnx_session(onnx_path)
    expected_inputs = {i.name for i in session.get_inputs()}
    feed = {name: value for name, value in inputs.items() if name in expected_inputs}
    names = [o.name for o in session.get_outputs()]
    onnx_outputs = dict(zip(names, session.run(None, feed), strict=True))
    reference = run_reference(inputs)
    used_dims = {
        axis for spec in config.input_specs() for axis in spec.axes if isinstance(axis, str) and "+" not in axis
    }
    report = compare_outputs(onnx_outputs, reference, atol, {d: shapes.size_of(d) for d in sorted(used_dims)})
    missing = [name for name in config.outputs if name not in onnx_outputs]
    for name in missing:
        report.outputs.append(OutputCheck(name, [], None, None, False, "missing from the ONNX graph"))
    return report


def raise_if_failed(report: ValidationReport) -> None:
    if not report.passed:
        raise ValidationError(
            f"Validation failed (atol={report.atol:g}): the ONNX outputs differ from the framework's.\n"
            f"{report.table()}",
            report,
        )
