"""ONNX export configs: names, dynamic axes and dummy inputs, framework free."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("modelexport_onnx")

from modelexport_core import TasksManager, UnsupportedTaskError
from modelexport_onnx.config import TextEncoderOnnxConfig
from modelexport_onnx.dummy_inputs import EXPORT_SHAPES, DummyShapes, validation_shapes_for

VALIDATION_SHAPES = validation_shapes_for(EXPORT_SHAPES)

BERT = {"model_type": "bert", "vocab_size": 50, "type_vocab_size": 2}


def make(model_type: str, task: str, config: dict | None = None):
    return TasksManager.get_exporter_config_constructor("onnx", task=task, model_type=model_type)(config or BERT)


def test_dynamic_axes_use_optimum_names() -> None:
    config = make("bert", "question-answering")
    assert config.inputs == {
        name: {0: "batch_size", 1: "sequence_length"} for name in ("input_ids", "attention_mask", "token_type_ids")
    }
    assert config.outputs == {
        "start_logits": {0: "batch_size", 1: "sequence_length"},
        "end_logits": {0: "batch_size", 1: "sequence_length"},
    }
    assert set(config.dynamic_axes) == set(config.inputs) | set(config.outputs)


def test_multiple_choice_has_a_choice_axis() -> None:
    config = make("distilbert", "multiple-choice", {"vocab_size": 50})
    assert config.inputs["input_ids"] == {0: "batch_size", 1: "num_choices", 2: "sequence_length"}
    assert config.outputs == {"logits": {0: "batch_size", 1: "num_choices"}}
    dummy = config.generate_dummy_inputs(batch_size=2, num_choices=3, sequence_length=5)
    assert dummy["input_ids"].shape == (2, 3, 5)
    assert set(dummy) == {"input_ids", "attention_mask"}


@pytest.mark.parametrize("task", ["default", "masked-lm", "sequence-classification", "token-classification"])
def test_dummy_inputs_respect_the_config(task: str) -> None:
    config = make("bert", task, {"vocab_size": 7, "type_vocab_size": 2})
    dummy = config.generate_dummy_inputs(VALIDATION_SHAPES)
    assert dummy["input_ids"].shape == (VALIDATION_SHAPES.batch_size, VALIDATION_SHAPES.sequence_length)
    assert dummy["input_ids"].dtype == np.int64
    assert dummy["input_ids"].min() >= 0 and dummy["input_ids"].max() < 7
    assert set(np.unique(dummy["token_type_ids"])) <= {0, 1}
    assert dummy["attention_mask"][0].all() and not dummy["attention_mask"][-1, -2:].any()


def test_dummy_inputs_are_reproducible() -> None:
    config = make("bert", "default")
    first, second = config.generate_dummy_inputs(seed=3), config.generate_dummy_inputs(seed=3)
    for name in first:
        np.testing.assert_array_equal(first[name], second[name])
    assert not np.array_equal(first["input_ids"], config.generate_dummy_inputs(seed=4)["input_ids"])


def test_validation_shapes_differ_from_export_shapes_everywhere() -> None:
    from dataclasses import fields

    for field in fields(DummyShapes):
        assert EXPORT_SHAPES.size_of(field.name) != VALIDATION_SHAPES.size_of(field.name), field.name
    with pytest.raises(KeyError, match="no_such_dimension"):
        DummyShapes().size_of("no_such_dimension")
    assert DummyShapes().size_of("past_sequence_length + sequence_length") == 7 + 16


@pytest.mark.parametrize(
    ("type_vocab_size", "expected"),
    [(0, ["input_ids", "attention_mask"]), (2, ["input_ids", "attention_mask", "token_type_ids"])],
)
def test_deberta_token_types_follow_type_vocab_size(type_vocab_size: int, expected: list[str]) -> None:
    config = make("deberta-v2", "default", {"vocab_size": 9, "type_vocab_size": type_vocab_size})
    assert list(config.inputs) == expected
    assert config.min_opset == 12 and config.default_opset >= 12


def test_int32_inputs_on_request() -> None:
    constructor = TasksManager.get_exporter_config_constructor(
        "onnx", task="default", model_type="bert", exporter_config_kwargs={"int_dtype": "int32"}
    )
    assert constructor(BERT).generate_dummy_inputs()["input_ids"].dtype == np.int32


def test_config_refuses_a_task_it_has_no_head_for() -> None:
    with pytest.raises(UnsupportedTaskError, match="does not export task 'causal-lm'"):
        TextEncoderOnnxConfig(BERT, "causal-lm")


def test_transformers_style_config_object_works() -> None:
    class Config:
        vocab_size = 11
        type_vocab_size = 2

    dummy = make("bert", "default", Config()).generate_dummy_inputs()  # type: ignore[arg-type]
    assert dummy["input_ids"].max() < 11


def test_an_encoder_decoder_composite_reads_its_cache_sizes_from_the_decoder() -> None:
    """bert2bert's config.json: the top level has no sizes; the decoder's (2 layers of 4 heads of 8) are the cache's."""
    encoder = {
        "model_type": "bert",
        "vocab_size": 50,
        "hidden_size": 48,
        "num_hidden_layers": 3,
        "num_attention_heads": 6,
    }
    decoder = {**encoder, "hidden_size": 32, "num_hidden_layers": 2, "num_attention_heads": 4, "is_decoder": True}
    composite = {"model_type": "encoder-decoder", "encoder": encoder, "decoder": decoder, "is_encoder_decoder": True}
    config = _from_family(composite, "seq2seq-lm-with-past")
    past = config.components()["decoder_with_past_model"]
    names = {name for name in past.inputs if name.startswith("past_key_values")}
    parts = [(part, kind) for part in ("decoder", "encoder") for kind in ("key", "value")]
    assert names == {f"past_key_values.{i}.{part}.{kind}" for i in range(2) for part, kind in parts}
    dummy = past.generate_dummy_inputs()
    assert dummy["past_key_values.1.encoder.value"].shape[1::2] == (
        4,
        8,
    )  # heads and head width, not the encoder's 6 x 8


def test_a_multimodal_causal_lm_exports_its_text_path_with_the_text_models_sizes() -> None:
    """Gemma 3's config.json: the language model's sizes are under ``text_config``, the image tower's apart."""
    text = {"model_type": "gemma3_text", "vocab_size": 50, "hidden_size": 32, "num_hidden_layers": 3}
    text.update(num_attention_heads=4, num_key_value_heads=2, head_dim=8)
    vision = {"model_type": "siglip_vision_model", "hidden_size": 48, "num_hidden_layers": 5, "num_attention_heads": 6}
    gemma3 = {"model_type": "gemma3", "text_config": text, "vision_config": vision}
    gemma3["architectures"] = ["Gemma3ForConditionalGeneration"]
    config = _from_family(gemma3, "causal-lm-with-past")
    assert {name for name in config.inputs if name.startswith("past_key_values")} == {
        f"past_key_values.{i}.{kind}" for i in range(3) for kind in ("key", "value")
    }
    dummy = config.generate_dummy_inputs()
    assert dummy["past_key_values.2.value"].shape[1::2] == (2, 8)  # grouped-query heads of the text model
    assert dummy["input_ids"].max() < 50


def test_a_task_group_lists_its_own_familys_notes() -> None:
    """A speech encoder-decoder's notes (its fixed frames) are not those of its standalone decoder's tasks."""
    from modelexport_core.registry import ExporterConfigRegistry
    from modelexport_onnx.architectures import Architecture
    from modelexport_onnx.config import DecoderOnnxConfig, Seq2SeqOnnxConfig
    from modelexport_onnx.registration import ArchitectureTable

    decoder = Architecture(DecoderOnnxConfig, ("causal-lm",), {"position_ids": False})
    speech = Architecture(
        Seq2SeqOnnxConfig, ("speech2seq-lm", "causal-lm"), {"speech": "whisper"}, by_task={"causal-lm": decoder}
    )
    registry = ExporterConfigRegistry()
    ArchitectureTable({"toy-speech": speech}).register(registry)
    entries = registry.entries_for("onnx", "toy-speech") or {}
    assert any("frames fixed" in note for note in entries["speech2seq-lm"].notes)
    assert entries["causal-lm"].notes == ()


def test_perceivers_masked_lm_logits_have_a_fixed_position_axis() -> None:
    """Perceiver decodes one query per position of max_position_embeddings: only the batch axis is dynamic."""
    from modelexport_onnx.architectures import Architecture

    perceiver = {"model_type": "perceiver", "vocab_size": 50, "d_model": 32, "max_position_embeddings": 64}
    options = {"token_type_ids": "never", "decoded_positions": True}
    assert TextEncoderOnnxConfig(perceiver, "masked-lm", **options).outputs == {"logits": {0: "batch_size"}}
    assert make("bert", "masked-lm").outputs == {"logits": {0: "batch_size", 1: "sequence_length"}}
    notes = Architecture(TextEncoderOnnxConfig, ("masked-lm",), options).notes
    assert any("max_position_embeddings" in note for note in notes)


def _from_family(config: dict, task: str):
    """The export config the family of a config.json gives (framework free: the table's rows are measured with
    transformers 5, which a TensorFlow session does not have)."""
    from modelexport_onnx.families import text_family

    family = text_family(config)
    assert family is not None
    return family.build(config, task)


def test_universal_segmenters_answer_per_query_without_boxes() -> None:
    """MaskFormer's segmentation is a class and a mask per query; DETR's stays logits, boxes and masks."""
    from modelexport_onnx.config import VisionOnnxConfig

    maskformer = {"model_type": "maskformer", "backbone_config": {"image_size": 64}}
    queries = VisionOnnxConfig(maskformer, "image-segmentation", dynamic_size=False, mask_queries=True)
    assert list(queries.outputs) == ["class_queries_logits", "masks_queries_logits"]
    detr = VisionOnnxConfig({"model_type": "detr"}, "image-segmentation")
    assert list(detr.outputs) == ["logits", "pred_boxes", "pred_masks"]
    assert list(queries.inputs) == ["pixel_values"]


def test_masking_noise_is_an_input_of_one_value_per_patch() -> None:
    """ViT-MAE ranks its patches by noise: an input of (batch, patches) at the config's fixed image size."""
    from modelexport_onnx.architectures import Architecture
    from modelexport_onnx.config import VisionOnnxConfig

    vit_mae = {"model_type": "vit_mae", "image_size": 64, "patch_size": 16, "num_channels": 3, "mask_ratio": 0.75}
    config = VisionOnnxConfig(vit_mae, "default", dynamic_size=False, masking_noise=True)
    dummy = config.generate_dummy_inputs(batch_size=3)
    assert dummy["pixel_values"].shape == (3, 3, 64, 64) and dummy["noise"].shape == (3, 16)
    assert config.inputs["noise"] == {0: "batch_size"}
    assert any(
        "mask_ratio" in note
        for note in Architecture(VisionOnnxConfig, ("default",), {"masking_noise": True, "dynamic_size": False}).notes
    )
    with pytest.raises(ValueError, match="dynamic_size"):
        VisionOnnxConfig(vit_mae, "default", masking_noise=True)
