"""TensorFlow exports: the Erfc handler, the command line from a ``tf_model.h5`` folder, generation, refusals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest
import tensorflow as tf
import transformers
from modelexport_core import TasksManager
from modelexport_core.errors import UnsupportedTaskError
from modelexport_core.plugins import get_framework
from modelexport_onnx.backend import check_framework_supported
from modelexport_onnx.converters.tf import freezing, model_calls, op_handlers
from modelexport_onnx.export import export, resolve_options
from modelexport_onnx.generation import check_generation
from modelexport_onnx.validation import onnx_session
from modelexport_pipeline.errors import ExportError
from onnx_tf.tiny import TinyTfModels, export_tf
from packaging.version import Version
from tiny_models import TINY_CONFIGS

from modelexport.cli import main


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinyTfModels:
    return TinyTfModels(tmp_path_factory.mktemp("tiny-tf-export"))


def exact_gelu_bert(tiny: TinyTfModels) -> tf.keras.Model:
    model = tiny.model("bert", "sequence-classification")
    assert model.config.hidden_act == "gelu"  # erf-based, not the tanh approximation
    return model


def traced_ops(model: tf.keras.Model, config) -> set[str]:
    options = resolve_options(config, framework="tf")
    signature = freezing.input_signature(config, options)
    graph_def, *_ = freezing.frozen_graph(model_calls.model_call(model, config), signature)
    return {node.op for node in graph_def.node}


def test_exact_gelu_exports_through_the_erfc_handler(tiny: TinyTfModels, tmp_path: Path, monkeypatch) -> None:
    model = exact_gelu_bert(tiny)
    config = TasksManager.get_exporter_config_constructor("onnx", task="sequence-classification", model_type="bert")(
        model.config
    )
    if Version(tf.__version__) >= Version("2.19"):
        assert "Erfc" in traced_ops(model, config)  # what the handler is for

    result = export(model, config, tmp_path / "model.onnx")
    ops = {node.op_type for node in onnx.load(str(result.path)).graph.node}
    assert "Erf" in ops and "Erfc" not in ops
    from modelexport_onnx.export import validate_export

    assert validate_export(model, config, result.path).passed

    if Version(tf.__version__) >= Version("2.19"):  # without the handler, tf2onnx leaves Erfc behind: refused
        monkeypatch.setattr(op_handlers, "OP_HANDLERS", {"SelectV2": op_handlers.OP_HANDLERS["SelectV2"]})
        with pytest.raises(ExportError, match="could not convert these TensorFlow ops: Erfc"):
            export(model, config, tmp_path / "again.onnx")
        assert not (tmp_path / "again.onnx").exists()


def test_pytorch_exporters_are_refused_for_tensorflow(tiny: TinyTfModels, tmp_path: Path) -> None:
    model = exact_gelu_bert(tiny)
    config = TasksManager.get_exporter_config_constructor("onnx", task="sequence-classification", model_type="bert")(
        model.config
    )
    with pytest.raises(ExportError, match="TensorFlow models are converted with tf2onnx"):
        export(model, config, tmp_path / "model.onnx", converter="torchscript")
    assert list(tmp_path.iterdir()) == []


def test_pairs_without_a_tensorflow_export_are_refused_before_loading() -> None:
    with pytest.raises(UnsupportedTaskError, match="llama causal-lm does not export from tf.*--framework pt"):
        check_framework_supported("llama", "causal-lm", "tf")
    check_framework_supported("gpt2", "causal-lm-with-past", "tf")


def test_cli_exports_a_tf_model_h5_folder(tiny: TinyTfModels, tmp_path: Path, capsys) -> None:
    source = tiny.directory("bert", "sequence-classification")
    assert {p.name for p in source.iterdir()} == {"config.json", "tf_model.h5"}
    assert TasksManager.determine_framework(str(source)) == "tf"
    out = tmp_path / "onnx"
    report = tmp_path / "report.json"
    code = main(["export", "onnx", "--model", str(source), str(out), "--report", str(report)])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "framework tf" in printed and "tf2onnx" in printed
    assert json.loads(report.read_text())["passed"] is True
    assert {"model.onnx", "config.json"} <= {p.name for p in out.iterdir()}

    # Same names as a PyTorch export, and the numbers of TensorFlow's model.
    session = onnx_session(out / "model.onnx")
    assert [i.name for i in session.get_inputs()] == ["input_ids", "attention_mask", "token_type_ids"]
    assert [i.shape for i in session.get_inputs()] == [["batch_size", "sequence_length"]] * 3
    assert session.get_outputs()[0].shape == ["batch_size", 2]
    model = transformers.TFAutoModelForSequenceClassification.from_pretrained(source)
    ids = np.array([[2, 7, 9, 11, 3], [2, 5, 3, 0, 0]], dtype=np.int64)
    mask = (ids > 0).astype(np.int64)
    types = np.zeros_like(ids)
    got = session.run(["logits"], {"input_ids": ids, "attention_mask": mask, "token_type_ids": types})[0]
    expected = model(input_ids=ids, attention_mask=mask, token_type_ids=types, training=False).logits.numpy()
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_cli_forces_tensorflow_where_both_weights_exist(tiny: TinyTfModels, tmp_path: Path, capsys) -> None:
    source = tiny.directory("bert", "sequence-classification")
    both = tmp_path / "both"
    shutil.copytree(source, both)
    # PyTorch weights beside TensorFlow's would win without --framework; transformers 4.57's TF loader
    # would also try (and fail) to read model.safetensors instead of tf_model.h5.
    (both / "model.safetensors").write_bytes(b"not read")
    code = main(["export", "onnx", "--model", str(both), "--framework", "tf", str(tmp_path / "out")])
    printed = capsys.readouterr()
    assert code == 0, printed
    assert "framework tf" in printed.out


def test_unreadable_tensorflow_weights_are_one_clear_error(tmp_path: Path, capsys) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text(json.dumps({"model_type": "bert", **TINY_CONFIGS["bert"][1]}))
    (broken / "tf_model.h5").write_bytes(b"not an HDF5 file")
    code = main(["export", "onnx", "--model", str(broken), "--task", "default", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("error: TensorFlow could not load") and "Traceback" not in err
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("model_type", "task"), [("gpt2", "causal-lm-with-past"), ("opt", "causal-lm-with-past")])
def test_decoder_greedy_tokens_equal_tensorflow_generate(
    tiny: TinyTfModels, model_type: str, task: str, tmp_path: Path
) -> None:
    model = tiny.model(model_type, task)
    config = TasksManager.get_exporter_config_constructor("onnx", task=task, model_type=model_type)(model.config)
    sessions = export_tf(model, config, tmp_path)
    plugin = get_framework("tf")
    check = check_generation(
        sessions, config, lambda inputs, n, pad: plugin.generate(model, inputs, n, pad), 20, (7, 3)
    )
    assert check.batch == 2 and check.new_tokens == 20
    assert check.equal, (check.onnx_tokens, check.reference_tokens)


@pytest.mark.parametrize("model_type", ["t5", "bart"])
def test_seq2seq_greedy_tokens_equal_tensorflow_generate(tiny: TinyTfModels, model_type: str, tmp_path: Path) -> None:
    model = tiny.model(model_type, "seq2seq-lm-with-past")
    config = TasksManager.get_exporter_config_constructor("onnx", task="seq2seq-lm-with-past", model_type=model_type)(
        model.config
    )
    sessions = export_tf(model, config, tmp_path)
    assert set(sessions) == {"encoder_model", "decoder_model", "decoder_with_past_model"}
    plugin = get_framework("tf")
    check = check_generation(
        sessions, config, lambda inputs, n, pad: plugin.generate(model, inputs, n, pad), 20, (7, 3)
    )
    assert check.equal, (check.onnx_tokens, check.reference_tokens)


def test_a_model_that_cannot_be_traced_fails_with_its_reason(tiny: TinyTfModels, tmp_path: Path) -> None:
    """TF Mistral reads the cache length from a static shape: not advertised with past, and refused clearly."""
    from_tf = TasksManager.get_supported_tasks_for_model_type("mistral", "onnx", framework="tf")
    assert "causal-lm-with-past" not in from_tf
    model = tiny.model("mistral", "causal-lm-with-past")
    config = TasksManager.get_exporter_config_constructor("onnx", task="causal-lm-with-past", model_type="mistral")(
        model.config
    )
    with pytest.raises(ExportError, match=r"^tf2onnx failed: ValueError: None values not supported"):
        export(model, config, tmp_path / "model.onnx")
    assert list(tmp_path.iterdir()) == []


def test_cli_exports_a_tf_decoder_with_its_generation_check(tiny: TinyTfModels, tmp_path: Path, capsys) -> None:
    source = tiny.directory("gpt2", "causal-lm-with-past")
    code = main(["export", "onnx", "--model", str(source), "--task", "text-generation-with-past", str(tmp_path / "o")])
    printed = capsys.readouterr().out
    assert code == 0, printed
    assert "greedy generation of 8 tokens x 2 prompts identical" in printed
    session = onnx_session(tmp_path / "o" / "model.onnx")
    assert session.get_inputs()[3].name == "past_key_values.0.key"
    assert session.get_inputs()[3].shape == ["batch_size", 4, "past_sequence_length", 8]
    assert session.get_outputs()[1].shape[2] == "past_sequence_length + sequence_length"


def test_conversion_leaves_tf2onnx_as_it_found_it(tiny: TinyTfModels, tmp_path: Path) -> None:
    """The workarounds patch tf2onnx only while converting: another user of tf2onnx sees it unchanged."""
    import os

    from tf2onnx.graph import Node
    from tf2onnx.optimizer import back_to_back_optimizer

    before = (Node.update_proto, dict(back_to_back_optimizer._func_map), os.environ.get("TF2ONNX_CATCH_ERRORS"))
    model = tiny.model("bert", "multiple-choice")
    config = TasksManager.get_exporter_config_constructor("onnx", task="multiple-choice", model_type="bert")(
        model.config
    )
    export(model, config, tmp_path / "model.onnx")
    after = (Node.update_proto, dict(back_to_back_optimizer._func_map), os.environ.get("TF2ONNX_CATCH_ERRORS"))
    assert after == before


def test_validation_failure_from_tensorflow_writes_nothing(tiny: TinyTfModels, tmp_path: Path, capsys) -> None:
    source = tiny.directory("bert", "default")
    out = tmp_path / "never"
    report = tmp_path / "failed.json"
    argv = ["export", "onnx", "-m", str(source), "--atol", "1e-30", "--report", str(report), str(out)]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "Validation failed" in err and "last_hidden_state" in err and "beyond atol" in err
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["failed.json"]
    assert json.loads(report.read_text())["passed"] is False
