"""``--quantize dynamic`` on tiny models: the int8 files, the fallback between schemes, the check failing.

Tiny random models have no tokenizer: the check runs on step 6's dummy inputs and says so. The real
checkpoints (tests/real) run it on real sentences; here the plumbing: what is written, what a quantizer
that breaks the weights does to the export (it fails, and nothing is written), and the options refused
before anything is loaded.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnx
import pytest
import transformers
from modelexport_onnx import quantize as quantization
from modelexport_onnx.main_export import main_export
from modelexport_onnx.quantize import QuantizationCheck, QuantizeSettings, row_cosines, top1_agreement
from modelexport_onnx.validation import onnx_session
from modelexport_pipeline.errors import UnsupportedExportOptionError, ValidationError
from onnx import numpy_helper
from tiny_models import save_pt_model

from modelexport.cli import main

Scheme = Callable[[Path, Path, int, QuantizeSettings], list[str]]


@pytest.fixture(scope="module")
def bert(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_pt_model(transformers.AutoModel, "bert", tmp_path_factory.mktemp("bert"))


def _ops(path: Path) -> Counter[str]:
    return Counter(node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node)


def _scales_off(scheme: Scheme) -> Scheme:
    """A quantizer that wrote its weight scales 100 times too large (a unit mix-up): a tiny random model's states
    are mostly its embeddings (its layers add little to the residual), so the error has to be large to show."""

    def broken(source: Path, target: Path, float_bytes: int, settings: QuantizeSettings) -> list[str]:
        files = scheme(source, target, float_bytes, settings)
        model = onnx.load(str(target))
        for tensor in model.graph.initializer:
            if "scale" in tensor.name and tensor.data_type == onnx.TensorProto.FLOAT:
                tensor.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(tensor) * np.float32(100), tensor.name))
        onnx.save(model, str(target))
        return files

    return broken


def test_encoder_gets_int8_files_beside_the_float_ones(bert: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    result = main_export(bert, out, "default", quantize="dynamic", progress=None)
    check = result.validation.check_of(QuantizationCheck)
    assert check is not None and check.passed and check.scheme == "per-channel" and not check.rejected
    assert check.inputs == "dummy inputs (the model's folder has no tokenizer)"
    assert {"model.onnx", "model_quantized.onnx"} <= set(result.files) and (out / "model_quantized.onnx").is_file()
    assert check.quantized_bytes < check.float_bytes and check.float_ms > 0 and check.quantized_ms > 0
    ops = _ops(out / "model_quantized.onnx")
    assert ops["DynamicQuantizeLinear"] and (ops["MatMulInteger"] or ops["DynamicQuantizeMatMul"]), ops
    assert not _ops(out / "model.onnx")["DynamicQuantizeLinear"]  # the float file is left as validated
    assert result.validation.to_dict()["quantization"]["passed"]


def test_decoder_is_quantized_blockwise_and_generates(tmp_path: Path, llama: Path) -> None:
    out = tmp_path / "o"
    result = main_export(llama, out, "causal-lm-with-past", quantize="dynamic", progress=None)
    check = result.validation.check_of(QuantizationCheck)
    assert check is not None and check.passed and check.scheme == "blockwise"
    assert [o.metric for o in check.outputs] == ["top1"] and check.outputs[0].count > 0
    assert _ops(out / "model_quantized.onnx")["MatMulNBits"] > 0
    # The quantized file still decodes with its cache: past and present keep the float file's names.
    session = onnx_session(out / "model_quantized.onnx")
    assert [i.name for i in session.get_inputs()] == [i.name for i in onnx_session(out / "model.onnx").get_inputs()]


def test_a_scheme_that_breaks_the_weights_falls_back_to_the_next(
    bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(quantization.SCHEMES, "per-channel", _scales_off(quantization.quantize_per_channel))
    result = main_export(bert, tmp_path / "o", "default", quantize="dynamic", progress=None)
    check = result.validation.check_of(QuantizationCheck)
    assert check is not None and check.passed and check.scheme == "blockwise"
    assert len(check.rejected) == 1 and check.rejected[0].startswith("per-channel: last_hidden_state min cosine")
    assert "BELOW 0.99" in check.rejected[0]
    assert "model_quantized.onnx" in result.files and _ops(tmp_path / "o" / "model_quantized.onnx")["MatMulNBits"]


def test_when_every_scheme_breaks_the_export_fails_and_writes_nothing(
    bert: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, scheme in list(quantization.SCHEMES.items()):
        monkeypatch.setitem(quantization.SCHEMES, name, _scales_off(scheme))
    report = tmp_path / "report.json"
    with pytest.raises(ValidationError, match="Quantization check failed: every int8 scheme") as failure:
        main_export(bert, tmp_path / "o", "default", quantize="dynamic", report=report, progress=None)
    assert failure.value.report.outputs and all(c.passed for c in failure.value.report.outputs)  # the float is fine
    assert not (tmp_path / "o").exists()
    assert '"quantization"' in report.read_text()  # the report says why, also on failure


def test_the_metrics_fail_on_what_they_must() -> None:
    rng = np.random.default_rng(0)
    states = rng.normal(size=(1, 7, 16)).astype(np.float32)
    mask = np.ones((1, 7), dtype=np.int64)
    assert min(row_cosines(states, states * 1.01, mask)) > 0.9999
    assert min(row_cosines(states, -states, mask)) < 0
    logits = rng.normal(size=(1, 7, 50)).astype(np.float32) * 5
    assert top1_agreement(logits, logits + 1e-3, mask) == (7, 7)
    flipped = logits.copy()
    flipped[0, 3] = -flipped[0, 3]  # another top-1 at one position, far from a tie
    assert top1_agreement(logits, flipped, mask) == (6, 7)
    masked = mask.copy()
    masked[0, 3] = 0  # a padded position does not count
    assert top1_agreement(logits, flipped, masked) == (6, 6)


def test_bad_quantize_options_fail_before_loading(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-model"  # never read: the options fail first
    with pytest.raises(UnsupportedExportOptionError, match="Unknown quantization 'static'; choose one of dynamic"):
        main_export(missing, tmp_path / "o", quantize="static", progress=None)
    with pytest.raises(UnsupportedExportOptionError, match="--quantize dynamic quantizes float32 weights"):
        main_export(missing, tmp_path / "o", quantize="dynamic", dtype="fp16", progress=None)
    with pytest.raises(SystemExit) as exit_:
        main(["export", "onnx", "--model", str(missing), "--quantize", "static", str(tmp_path / "o")])
    assert exit_.value.code == 2 and "invalid choice: 'static'" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()
