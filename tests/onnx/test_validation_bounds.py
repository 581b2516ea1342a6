"""The validation bound of each output, derived from the model: pass what float32 rounding explains, fail
what it does not; the report says per output the error, the bound and where the bound came from.

Framework free: the "framework" outputs here are float64 arrays and their float32 roundings, as a real
reference run gives them.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from modelexport_onnx.generation import GenerationCheck, _first_difference
from modelexport_pipeline.checks import (
    ABSOLUTE_FLOOR,
    FLOAT64_FACTOR,
    RELATIVE_BOUND,
    RELATIVE_FLOOR,
    Reference,
    Tolerance,
    ValidationReport,
    compare_outputs,
)

SHAPES = {"batch_size": 3}


def deep_model_outputs(scale: float = 30.0, drift: float = 3e-4) -> tuple[np.ndarray, np.ndarray]:
    """A float64 output and the float32 one of a deep model: off by ``drift`` (relative), like real logits."""
    rng = np.random.default_rng(0)
    exact = rng.standard_normal((3, 11, 50)) * scale
    float32 = (exact * (1 + drift * rng.standard_normal(exact.shape))).astype(np.float32)
    return exact, float32


def check(onnx: np.ndarray, float32: np.ndarray, float64: np.ndarray | None, tolerance: Tolerance | None = None):
    reference = Reference({"logits": float32}, None if float64 is None else {"logits": float64}, "no float64 here")
    report = compare_outputs({"logits": onnx}, reference, tolerance or Tolerance(), SHAPES)
    return report, report.outputs[0]


def test_an_error_like_the_frameworks_own_passes_although_it_is_far_beyond_a_fixed_tolerance() -> None:
    exact, float32 = deep_model_outputs()
    onnx = (exact * (1 + 3e-4 * np.random.default_rng(1).standard_normal(exact.shape))).astype(np.float32)
    report, output = check(onnx, float32, exact)
    assert output.max_abs_diff > 1e-2  # a fixed atol of 1e-4 (or 1e-3) would reject this correct export
    assert report.passed, report.table()
    assert output.bound == pytest.approx(FLOAT64_FACTOR * output.framework_error)
    assert output.bound_source.startswith("float64: 10 x framework float32 error")


def test_an_error_well_beyond_the_frameworks_own_fails() -> None:
    exact, float32 = deep_model_outputs()
    broken = float32.copy()
    broken[1, 4, 7] += 20 * float(np.abs(float32.astype(np.float64) - exact).max())
    report, output = check(broken, float32, exact)
    assert not report.passed and output.problem == "beyond bound"
    assert output.error > output.bound
    assert "beyond bound" in report.table() and "float64: 10 x" in report.table()


def test_where_the_framework_is_exact_the_floor_relative_to_the_magnitude_decides() -> None:
    exact = np.arange(-32, 32).reshape(1, 64) / 8.0  # exactly representable: framework error 0
    float32 = exact.astype(np.float32)
    within = float32 + np.float32(0.5 * RELATIVE_FLOOR * 4.0)
    beyond = float32 + np.float32(4 * RELATIVE_FLOOR * 4.0)
    assert check(within, float32, exact)[0].passed
    report, output = check(beyond, float32, exact)
    assert not report.passed
    assert output.framework_error == 0.0 and output.bound == pytest.approx(RELATIVE_FLOOR * 4.0)
    assert output.bound_source.startswith("floor:")


def test_without_float64_the_bound_is_relative_to_the_magnitude_and_says_why() -> None:
    _, float32 = deep_model_outputs()
    scale = float(np.abs(float32).max())
    report, output = check(float32 + np.float32(0.5 * RELATIVE_BOUND * scale), float32, None)
    assert report.passed
    assert output.bound == pytest.approx(RELATIVE_BOUND * scale)
    assert output.bound_source.startswith("relative:") and "no float64 here" in output.bound_source
    assert not check(float32 + np.float32(2 * RELATIVE_BOUND * scale), float32, None)[0].passed


def test_outputs_near_zero_keep_an_absolute_floor() -> None:
    zeros = np.zeros((2, 3))
    assert check((zeros + 0.5 * ABSOLUTE_FLOOR).astype(np.float32), zeros.astype(np.float32), zeros)[0].passed
    assert not check((zeros + 2 * ABSOLUTE_FLOOR).astype(np.float32), zeros.astype(np.float32), zeros)[0].passed


def test_atol_overrides_every_derived_bound() -> None:
    exact, float32 = deep_model_outputs()
    report, output = check(float32 + np.float32(1e-3), float32, exact, Tolerance(atol=1e-4))
    assert not report.passed and output.problem == "beyond atol"
    assert output.bound == 1e-4 and output.bound_source == "--atol"
    assert check(float32 + np.float32(1e-3), float32, exact, Tolerance(atol=1e-2))[0].passed


def test_not_finite_and_shape_problems_fail() -> None:
    exact, float32 = deep_model_outputs()
    nan = float32.copy()
    nan[0, 0, 0] = np.nan
    assert check(nan, float32, exact)[1].problem == "not finite"
    assert check(float32[:2], float32, exact)[1].problem == "shape differs"


def test_the_report_shows_error_bound_and_source_per_output(tmp_path: Path) -> None:
    exact, float32 = deep_model_outputs()
    report, _ = check(float32, float32, exact)
    assert isinstance(report, ValidationReport)
    table = report.table()
    for column in ("max abs diff", "error", "bound", "bound from"):
        assert column in table.splitlines()[0]
    path = tmp_path / "report.json"
    report.write(path)
    data = json.loads(path.read_text())
    (output,) = data["outputs"]
    assert {"error", "bound", "bound_source", "framework_error", "max_abs_diff"} <= set(output)
    assert data["atol"] is None and "derived per output" in data["tolerance"]
    assert "tightest logits" in report.summary()


def test_a_generation_difference_at_a_near_tie_is_not_a_failure_but_a_clear_win_is() -> None:
    prompt = np.array([[1, 2]])
    produced = np.array([[1, 2, 7, 8]])
    expected = np.array([[1, 2, 7, 9]])
    logits = [np.zeros((1, 10)), np.zeros((1, 10))]
    logits[1][0, 8], logits[1][0, 9] = 5.0, 5.0 - 1e-4  # ONNX chose 8 over 9 by 1e-4
    tie = _first_difference(produced, expected, prompt.shape[1], logits, logits_bound=1e-3)
    assert tie == {"row": 0, "step": 1, "onnx_token": 8, "reference_token": 9, "logit_gap": pytest.approx(1e-4)} | {
        "bound": 1e-3
    }
    check = GenerationCheck(2, 1, False, [[7, 8]], [[7, 9]], tie)
    assert check.near_tie and check.passed and check.to_dict()["near_tie"]
    logits[1][0, 9] = 4.0  # a clear preference: a real difference
    clear = _first_difference(produced, expected, prompt.shape[1], logits, logits_bound=1e-3)
    assert not GenerationCheck(2, 1, False, [[7, 8]], [[7, 9]], clear).passed
    # A token that is not even ONNX's own best is no tie, however the two compare.
    logits[1][0, 8], logits[1][0, 9], logits[1][0, 3] = 1.0, 1.0, 6.0
    neither = _first_difference(produced, expected, prompt.shape[1], logits, logits_bound=1e-3)
    assert not GenerationCheck(2, 1, False, [[7, 8]], [[7, 9]], neither).passed
    assert not GenerationCheck(2, 1, False, [[7, 8]], [[7, 9]], None).passed


# --- masked logits and a float64 run that overflows (splinter's question answering) ---------------------


def _masked(values: np.ndarray, mask: np.ndarray, fill: float) -> np.ndarray:
    out = values.copy()
    out[mask] = fill
    return out


def test_masked_logits_are_matched_by_position_not_compared_by_value() -> None:
    exact, float32 = deep_model_outputs()
    mask = np.zeros(exact.shape, dtype=bool)
    mask[-1, -2:] = True  # the padded positions of the last row
    f32 = np.finfo(np.float32).min
    # transformers adds finfo(dtype).min: float32's and float64's minimum, or -inf once it overflows
    float32 = _masked(float32, mask, f32)
    onnx = _masked(float32, mask, -np.inf)
    report, output = check(onnx, float32, _masked(exact, mask, np.finfo(np.float64).min))
    assert report.passed, report.table()
    unmasked_onnx = _masked(onnx, mask & (np.arange(exact.shape[-1]) == 0), 0.0)  # one masked logit not masked
    report, output = check(unmasked_onnx, float32, _masked(exact, mask, np.finfo(np.float64).min))
    assert not report.passed and output.problem == "masks differ"


def test_a_float64_run_that_is_not_finite_falls_back_to_the_relative_bound() -> None:
    exact, float32 = deep_model_outputs()
    broken64 = exact.copy()
    broken64[0, 0, 0] = np.nan  # inf - inf in float64 where float32 stayed finite
    report, output = check(float32.copy(), float32, broken64)
    assert report.passed, report.table()
    assert "float64 run is not finite" in output.bound_source
    far = float32 + 0.5 * RELATIVE_BOUND * 1e3 * np.abs(float32).max()
    report, _ = check(far.astype(np.float32), float32, broken64)
    assert not report.passed


def test_a_float64_run_of_another_length_falls_back_to_the_relative_bound() -> None:
    """A data-dependent length (speech synthesis rounds predicted durations up) may round otherwise in float64:
    the float32 run and ONNX are compared, the bound relative to the magnitude."""
    exact, float32 = deep_model_outputs()
    longer64 = np.concatenate([exact, exact[:, :1]], axis=1)
    report, output = check(float32.copy(), float32, longer64)
    assert report.passed, report.table()
    assert "float64 run gives another shape" in (output.bound_source or "")
    far = float32 + 0.5 * RELATIVE_BOUND * 1e3 * np.abs(float32).max()
    report, _ = check(far.astype(np.float32), float32, longer64)
    assert not report.passed
