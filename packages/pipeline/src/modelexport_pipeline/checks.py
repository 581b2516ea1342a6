"""Validation, the part every backend shares: each exported output against the framework's own, and the report.

A backend runs its files (onnxruntime, ExecuTorch's runtime...) and hands the outputs to :func:`compare_outputs`.

Inputs have another batch size and sequence length than the traced ones, so an axis frozen
by the exporter shows up as a shape mismatch. Beyond the bound the export fails: we do not
ship a model we know is wrong.

**The bound comes from the model.** A fixed absolute tolerance cannot fit both a 2-layer random
model and a 30-layer pretrained one: float32 rounding grows with depth and with the magnitude of
the values (a correct export of a real 135M llama differs from PyTorch by 2.2e-3 in its logits).
So the framework runs the same model a second time in float64, and each ONNX output is compared
with that float64 output: it must be within :data:`FLOAT64_FACTOR` times the framework's *own*
float32 error on the same inputs (the error of a correct float32 computation of this model), or
within a small relative floor of the output's magnitude, whichever is larger. Where no float64
run is possible (TensorFlow, or a model too large to hold twice in memory), the bound is relative
to each output's magnitude (:data:`RELATIVE_BOUND`). ``--atol`` stays as an explicit override.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, TypeVar

from .errors import ValidationError

#: An ONNX output may be this many times further from the float64 reference than the framework's
#: own float32 output is. Measured on real checkpoints (README): ONNX Runtime's kernels sum in other
#: orders than PyTorch's, so its error is of the same order but not identical (ratios up to ~3).
FLOAT64_FACTOR = 10.0
#: Below this fraction of an output's largest magnitude no difference counts: the float32 rounding
#: of a handful of operations (2**-23 is float32's unit roundoff; 2**-16 leaves room for ~100).
RELATIVE_FLOOR = 2.0**-16
#: Without a float64 reference: the bound as a fraction of the output's largest magnitude.
RELATIVE_BOUND = 2e-4
#: Never ask for less than this absolute difference (outputs that are all zeros, or nearly).
ABSOLUTE_FLOOR = 1e-6


@dataclass(frozen=True)
class Reference:
    """The framework's outputs on one set of inputs: in float32 as exported, and in float64 where it could."""

    float32: Mapping[str, Any]
    float64: Mapping[str, Any] | None = None
    #: Why there is no float64 run (shown in the report), when there is none.
    no_float64: str | None = None


@dataclass(frozen=True)
class OutputCheck:
    name: str
    onnx_shape: list[int]
    reference_shape: list[int] | None
    #: Largest absolute difference from the framework's float32 output.
    max_abs_diff: float | None
    passed: bool
    problem: str | None = None
    #: The difference that is judged: from the float64 output where there is one, else from float32.
    error: float | None = None
    bound: float | None = None
    #: Where the bound came from, in words (``float64: 10 x framework float32 error 2.1e-4``).
    bound_source: str | None = None
    #: The framework's own float32 error (against its float64 run), when measured.
    framework_error: float | None = None


@dataclass(frozen=True)
class Tolerance:
    """How each output's bound is set: from the model (default), or an explicit ``atol``."""

    atol: float | None = None
    float64_factor: float = FLOAT64_FACTOR
    relative_floor: float = RELATIVE_FLOOR
    relative_bound: float = RELATIVE_BOUND

    def describe(self) -> str:
        if self.atol is not None:
            return f"--atol {self.atol:g} (explicit)"
        return (
            f"derived per output: {self.float64_factor:g} x the framework's float32 error against its float64 run "
            f"(at least {self.relative_floor:.1e} x the output's magnitude); without float64, "
            f"{self.relative_bound:g} x the output's magnitude"
        )

    def judge(self, onnx: Any, expected32: Any, expected64: Any | None, no_float64: str | None) -> dict[str, Any]:
        """The error, bound and bound source of one output (arrays of the same shape, all finite)."""
        import numpy as np

        onnx64 = onnx.astype(np.float64)
        diff32 = float(np.max(np.abs(onnx64 - expected32.astype(np.float64))))
        judged: dict[str, Any] = {"max_abs_diff": diff32}
        if self.atol is not None:
            return {**judged, "error": diff32, "bound": self.atol, "bound_source": "--atol"}
        scale = float(np.max(np.abs(expected32)))
        floor = max(self.relative_floor * scale, ABSOLUTE_FLOOR)
        if expected64 is None:
            bound = max(self.relative_bound * scale, ABSOLUTE_FLOOR)
            why = f" ({no_float64})" if no_float64 else ""
            source = f"relative: {self.relative_bound:g} x max |output| {scale:.3g}{why}"
            return {**judged, "error": diff32, "bound": bound, "bound_source": source}
        framework_error = float(np.max(np.abs(expected32.astype(np.float64) - expected64)))
        error = float(np.max(np.abs(onnx64 - expected64)))
        from_framework = self.float64_factor * framework_error
        if from_framework >= floor:
            source = f"float64: {self.float64_factor:g} x framework float32 error {framework_error:.2e}"
        else:
            source = f"floor: {self.relative_floor:.1e} x max |output| {scale:.3g}"
        return {
            **judged,
            "error": error,
            "bound": max(from_framework, floor),
            "bound_source": source,
            "framework_error": framework_error,
        }


class FollowUpCheck(Protocol):
    """A check step 6 runs once every output validated, on what the outputs alone cannot show: greedy
    generation (the ONNX backend's ``GenerationCheck``), a sentence-transformers pipeline's
    embeddings, sampling with noise, a spectrogram loop. The report keeps them in one list, so a new one is a
    class of its own and nothing in the report or the export steps changes."""

    #: Its key in the report's JSON.
    report_key: ClassVar[str]

    @property
    def passed(self) -> bool: ...

    def describe(self) -> str:
        """One clause of step 6's line (with ``DIFFERS`` when it failed)."""
        ...

    def failure(self) -> str:
        """Why the export fails, when it did not pass: the error's message."""
        ...

    def to_dict(self) -> dict[str, Any]: ...


CheckT = TypeVar("CheckT", bound=FollowUpCheck)


@dataclass
class ValidationReport:
    tolerance: Tolerance
    shapes: dict[str, int]
    outputs: list[OutputCheck] = field(default_factory=list)
    #: The follow-up checks that ran, in order (none when an output failed).
    checks: list[FollowUpCheck] = field(default_factory=list)

    def check_of(self, kind: type[CheckT]) -> CheckT | None:
        """The follow-up check of this kind, when it ran."""
        return next((check for check in self.checks if isinstance(check, kind)), None)

    @property
    def atol(self) -> float | None:
        """The explicit tolerance, if one was given (else every output has its own bound)."""
        return self.tolerance.atol

    @property
    def passed(self) -> bool:
        return (
            bool(self.outputs)
            and all(check.passed for check in self.outputs)
            and all(check.passed for check in self.checks)
        )

    @property
    def max_abs_diff(self) -> float:
        """The largest difference from the framework's float32 outputs, over all outputs."""
        return max((c.max_abs_diff for c in self.outputs if c.max_abs_diff is not None), default=float("nan"))

    @property
    def worst(self) -> OutputCheck | None:
        """The output closest to (or furthest past) its bound."""
        judged = [c for c in self.outputs if c.error is not None and c.bound]
        return max(judged, key=lambda c: (c.error or 0.0) / (c.bound or 1.0), default=None)

    def summary(self) -> str:
        """One line: the largest difference and the tightest output against its bound."""
        worst = self.worst
        text = f"max abs diff {self.max_abs_diff:.2e}"
        if worst is not None:
            ratio = (worst.error or 0.0) / (worst.bound or 1.0)
            share = f"{ratio:.0%} of it" if ratio <= 10 else f"{ratio:.3g} times it"
            text += f"; tightest {worst.name}: {worst.error:.2e} vs bound {worst.bound:.2e} ({share})"
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "tolerance": self.tolerance.describe(),
            "atol": self.tolerance.atol,
            "shapes": self.shapes,
            "max_abs_diff": self.max_abs_diff,
            "outputs": [asdict(c) for c in self.outputs],
            **{check.report_key: check.to_dict() for check in self.checks},
        }

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    def table(self) -> str:
        header = ("output", "onnx shape", "reference shape", "max abs diff", "error", "bound", "bound from", "ok")
        rows = [header]
        for c in self.outputs:
            rows.append(
                (
                    c.name,
                    str(c.onnx_shape),
                    str(c.reference_shape),
                    _number(c.max_abs_diff),
                    _number(c.error),
                    _number(c.bound),
                    c.bound_source or "-",
                    "yes" if c.passed else f"NO ({c.problem})",
                )
            )
        widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
        return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:.3e}"


#: At or below this, an output value is a masked logit (transformers adds ``finfo(dtype).min``, or -inf): both
#: sides must mask the same positions, whose values (float32's or float64's minimum) are not compared.
MASKED_LOGIT = -1e30


def compare_outputs(
    onnx_outputs: Mapping[str, Any],
    reference: Reference,
    tolerance: Tolerance,
    shapes: Mapping[str, int],
) -> ValidationReport:
    """Compare named ONNX outputs with the reference outputs of the same names."""
    import numpy as np

    report = ValidationReport(tolerance=tolerance, shapes=dict(shapes))
    for name, value in onnx_outputs.items():
        onnx_shape = list(value.shape)
        expected = reference.float32.get(name)
        if expected is None:
            report.outputs.append(OutputCheck(name, onnx_shape, None, None, False, "no reference output"))
            continue
        expected = np.asarray(expected)
        if list(expected.shape) != onnx_shape:
            report.outputs.append(OutputCheck(name, onnx_shape, list(expected.shape), None, False, "shape differs"))
            continue
        if value.size == 0:
            report.outputs.append(OutputCheck(name, onnx_shape, onnx_shape, 0.0, True, error=0.0, bound=0.0))
            continue
        expected64 = None if reference.float64 is None else reference.float64.get(name)
        no_float64 = reference.no_float64
        if expected64 is not None:
            expected64 = np.asarray(expected64, dtype=np.float64)
            if expected64.shape != expected.shape:  # a data-dependent length (speech synthesis) rounded otherwise
                expected64, no_float64 = None, "the float64 run gives another shape"
        masked = expected <= MASKED_LOGIT
        if masked.any():  # masked logits: the same positions on both sides, their values are not compared
            if not np.array_equal(masked, value <= MASKED_LOGIT):
                report.outputs.append(OutputCheck(name, onnx_shape, onnx_shape, math.inf, False, "masks differ"))
                continue
            value, expected = value[~masked], expected[~masked]
            expected64 = None if expected64 is None else expected64[~masked]
            if value.size == 0:
                report.outputs.append(OutputCheck(name, onnx_shape, onnx_shape, 0.0, True, error=0.0, bound=0.0))
                continue
        if not (np.isfinite(value).all() and np.isfinite(expected).all()):
            report.outputs.append(OutputCheck(name, onnx_shape, onnx_shape, math.inf, False, "not finite"))
            continue
        if expected64 is not None and not np.isfinite(expected64).all():  # float64 overflowed where float32 did not
            expected64, no_float64 = None, "the float64 run is not finite here"
        judged = tolerance.judge(value, expected, expected64, no_float64)
        ok = judged["error"] <= judged["bound"]
        problem = None if ok else "beyond atol" if tolerance.atol is not None else "beyond bound"
        report.outputs.append(OutputCheck(name, onnx_shape, onnx_shape, passed=ok, problem=problem, **judged))
    return report


def raise_if_failed(report: ValidationReport) -> None:
    """A :class:`ValidationError` for the first failed follow-up check, else for failed outputs."""
    for check in report.checks:
        if not check.passed:
            raise ValidationError(check.failure(), report)
    if not report.passed:
        raise ValidationError(
            f"Validation failed ({report.tolerance.describe()}): the ONNX outputs differ from the framework's.\n"
            f"{report.table()}",
            report,
        )
