"""The export spec is the pipeline's and format free; an ONNX config is a spec with its opsets."""

from __future__ import annotations

import subprocess
import sys

import pytest
from helpers import BERT_CONFIG
from modelexport_onnx.config import OnnxConfig, Seq2SeqOnnxConfig, TextEncoderOnnxConfig
from modelexport_pipeline.specs import ExportSpec, Seq2SeqSpec, TextEncoderSpec
from tiny_models import TINY_CONFIGS

T5_CONFIG = {"model_type": "t5", **TINY_CONFIGS["t5"][1]}


def test_an_onnx_config_is_its_familys_spec_with_the_opsets() -> None:
    spec = TextEncoderSpec(BERT_CONFIG, "sequence-classification")
    config = TextEncoderOnnxConfig(BERT_CONFIG, "sequence-classification", min_opset=15)
    assert isinstance(config, TextEncoderSpec) and isinstance(config, OnnxConfig) and not isinstance(spec, OnnxConfig)
    assert spec.dynamic_axes == config.dynamic_axes and list(spec.input_specs()) == list(config.input_specs())
    dummy, onnx_dummy = spec.generate_dummy_inputs(seed=3), config.generate_dummy_inputs(seed=3)
    assert dummy.keys() == onnx_dummy.keys() and all((dummy[k] == onnx_dummy[k]).all() for k in dummy)
    assert (config.min_opset, config.default_opset) == (15, 15)
    assert (TextEncoderOnnxConfig(BERT_CONFIG).min_opset, TextEncoderOnnxConfig(BERT_CONFIG).default_opset) == (11, 14)
    assert not hasattr(spec, "min_opset") and not hasattr(ExportSpec, "DEFAULT_ONNX_OPSET")


def test_a_backend_option_is_the_backends_and_a_misspelt_one_an_error() -> None:
    with pytest.raises(TypeError, match="min_opst"):
        TextEncoderOnnxConfig(BERT_CONFIG, min_opst=15)
    with pytest.raises(TypeError, match="min_opset"):  # the neutral spec reads no backend's options
        TextEncoderSpec(BERT_CONFIG, min_opset=15)


def test_the_parts_of_a_split_export_keep_their_class_and_options() -> None:
    parts = Seq2SeqOnnxConfig(T5_CONFIG, "seq2seq-lm-with-past", min_opset=13).components()
    assert list(parts) == ["encoder_model", "decoder_model", "decoder_with_past_model"]
    assert all(type(part) is Seq2SeqOnnxConfig and part.min_opset == 13 for part in parts.values())
    spec_parts = Seq2SeqSpec(T5_CONFIG, "seq2seq-lm-with-past").components()
    assert all(type(part) is Seq2SeqSpec for part in spec_parts.values())
    assert [p.dynamic_axes for p in spec_parts.values()] == [p.dynamic_axes for p in parts.values()]


def test_the_specs_import_no_backend_and_no_onnx() -> None:
    code = "import sys, modelexport_pipeline.specs; print(sorted(m for m in sys.modules if 'onnx' in m))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
