"""ONNX export configs: names, dynamic axes and dummy inputs, framework free."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("modelexport_onnx")

from modelexport_core import TasksManager, UnsupportedTaskError
from modelexport_onnx.config import TextEncoderOnnxConfig
from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES, DummyShapes, validation_shapes_for

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


#: LayoutLMv3's config.json (tiny) and its base model's forward parameters.
LAYOUTLMV3 = {
    "model_type": "layoutlmv3",
    "vocab_size": 50,
    "type_vocab_size": 1,
    "max_2d_position_embeddings": 1024,
    "input_size": 32,
    "patch_size": 8,
    "num_channels": 3,
    "visual_embed": True,
}
LAYOUTLMV3_FORWARD = ("input_ids", "bbox", "attention_mask", "token_type_ids", "position_ids", "pixel_values")


def test_a_document_model_reads_its_tokens_boxes_and_the_page_image_of_its_fixed_size() -> None:
    """LayoutLMv3: the text family, with boxes and a page image of input_size; its 4 x 4 patches and their [CLS]
    follow the text in the encoder's states, while token classification answers for the text alone."""
    from modelexport_onnx.families import text_family

    family = text_family(LAYOUTLMV3, LAYOUTLMV3_FORWARD)
    assert family is not None and family.name == "text-encoder"
    assert family.options == {"token_type_ids": "never", "bbox": True, "page_image": True}
    config = family.build(LAYOUTLMV3, "question-answering")
    assert list(config.inputs) == ["input_ids", "bbox", "attention_mask", "pixel_values"]
    assert config.inputs["pixel_values"] == {0: "batch_size"}  # channels, height and width fixed
    assert config.outputs["start_logits"] == {0: "batch_size", 1: "sequence_length + 17"}
    dummy = config.generate_dummy_inputs(VALIDATION_SHAPES)
    assert dummy["pixel_values"].shape == (VALIDATION_SHAPES.batch_size, 3, 32, 32)
    boxes = dummy["bbox"]
    assert (boxes[..., 0] <= boxes[..., 2]).all() and (boxes[..., 1] <= boxes[..., 3]).all() and boxes.max() < 1024
    assert family.build(LAYOUTLMV3, "token-classification").outputs["logits"] == {
        0: "batch_size",
        1: "sequence_length",
    }
    text_only = family.build({**LAYOUTLMV3, "visual_embed": False}, "default")  # no patch embeddings: no image
    assert "pixel_values" not in text_only.inputs
    assert text_only.outputs["last_hidden_state"] == {0: "batch_size", 1: "sequence_length"}
    # a forward without the page image is LayoutLM's: boxes only; an image model's keys without a forward: not text
    layoutlm = text_family({"model_type": "layoutlm", "vocab_size": 50}, ("input_ids", "bbox", "attention_mask"))
    assert layoutlm is not None and layoutlm.options == {"token_type_ids": "never", "bbox": True}
    assert text_family(LAYOUTLMV3) is None


def test_a_decision_transformer_reads_a_trajectory() -> None:
    """optimum's names and order; one state, action, return and step index per step; three states per step."""
    trajectory = {"model_type": "decision_transformer", "state_dim": 5, "act_dim": 3, "max_ep_len": 10}
    config = make("decision-transformer", "reinforcement-learning", trajectory)
    assert list(config.inputs) == ["states", "actions", "timesteps", "returns_to_go", "attention_mask"]
    assert list(config.outputs) == ["state_preds", "action_preds", "return_preds", "last_hidden_state"]
    assert config.outputs["last_hidden_state"] == {0: "batch_size", 1: "3 * sequence_length"}
    dummy = config.generate_dummy_inputs(DummyShapes(batch_size=2, sequence_length=7))
    assert dummy["states"].shape == (2, 7, 5) and dummy["actions"].shape == (2, 7, 3)
    assert dummy["returns_to_go"].shape == (2, 7, 1) and dummy["states"].dtype == np.float32
    assert dummy["timesteps"].dtype == np.int64 and dummy["timesteps"].min() >= 0 and dummy["timesteps"].max() < 10
    assert TasksManager.map_from_synonym("reinforcement-learning") == "reinforcement-learning"


#: Pix2Struct's config.json, shrunk: a patch encoder (patches of 4 x 4 pixels x 3 channels) and a T5-like decoder
#: whose head width (d_kv 16) is not hidden_size / num_heads.
PIX2STRUCT = {
    "model_type": "pix2struct",
    "is_encoder_decoder": True,
    "architectures": ["Pix2StructForConditionalGeneration"],
    "text_config": {"vocab_size": 50, "hidden_size": 32, "d_kv": 16, "num_layers": 3, "num_heads": 4},
    "vision_config": {"hidden_size": 24, "patch_embed_hidden_size": 48, "seq_len": 64},
}


@pytest.mark.parametrize("source", ["table", "unnamed type"])
def test_pix2struct_reads_flattened_patches_with_their_mask(source: str) -> None:
    """The encoder reads patches, not pixel_values: indices on the grid first, pixels after, zero padding where
    the mask is 0; the decoders take that mask over the same (dynamic) number of patches."""
    from modelexport_core.tasks import Task
    from modelexport_onnx.fallback import unnamed_type_constructor

    task = "vision2seq-lm-with-past"
    if source == "table":
        config = make("pix2struct", task, PIX2STRUCT)
    else:  # no row names the type: its config.json alone decides the family
        config = unnamed_type_constructor("pix2struct-like", PIX2STRUCT, Task.of(task))(PIX2STRUCT)
    parts = config.components()
    encoder = parts["encoder_model"]
    assert encoder.inputs == {
        "flattened_patches": {0: "batch_size", 1: "max_patches"},
        "attention_mask": {0: "batch_size", 1: "max_patches"},
    }
    dummy = encoder.generate_dummy_inputs(VALIDATION_SHAPES)
    patches, mask = dummy["flattened_patches"], dummy["attention_mask"]
    assert patches.shape == (VALIDATION_SHAPES.batch_size, VALIDATION_SHAPES.max_patches, 2 + 48)
    assert patches.dtype == np.float32 and 0 < mask.sum() < mask.size  # one image is padded
    assert not patches[mask == 0].any()  # padding patches are zeros, indices included
    for image in range(patches.shape[0]):
        valid = patches[image][mask[image] == 1]
        indices = {(int(row), int(column)) for row, column in valid[:, :2]}
        assert len(indices) == len(valid) and min(min(pair) for pair in indices) == 1  # a grid counted from 1
        assert max(max(pair) for pair in indices) < 64  # inside the row and column embeddings
        assert np.all(valid[:, :2] == np.round(valid[:, :2])) and valid[:, 2:].std() > 0.5
    decoder, past = parts["decoder_model"], parts["decoder_with_past_model"]
    assert decoder.inputs["encoder_attention_mask"] == {0: "batch_size", 1: "max_patches"}
    assert past.inputs["encoder_attention_mask"] == {0: "batch_size", 1: "max_patches"}
    states = decoder.generate_dummy_inputs()["encoder_hidden_states"]
    assert states.shape == (EXPORT_SHAPES.batch_size, EXPORT_SHAPES.max_patches, 24)  # the vision tower's width
    cache = past.generate_dummy_inputs()
    assert {name for name in cache if name.startswith("past_key_values")} == {
        f"past_key_values.{i}.{part}.{kind}"
        for i in range(3)
        for part in ("decoder", "encoder")
        for kind in ("key", "value")
    }
    assert cache["past_key_values.2.encoder.key"].shape == (2, 4, EXPORT_SHAPES.max_patches, 16)  # heads x d_kv
    assert decoder.outputs["present.0.encoder.key"] == {0: "batch_size", 2: "max_patches"}


def test_pix2struct_notes_say_what_is_fixed() -> None:
    from modelexport_core.registry import registry

    notes = " ".join((registry.entries_for("onnx", "pix2struct") or {})["vision2seq-lm"].notes)
    assert "max_patches dynamic" in notes and "patch size fixed" in notes and "encoder_attention_mask" in notes


#: facebook/sam-vit-base's config.json, the parts the export reads (the real checkpoint's sizes).
SAM_VIT_BASE = {
    "model_type": "sam",
    "vision_config": {"image_size": 1024, "patch_size": 16, "num_channels": 3, "output_channels": 256},
    "prompt_encoder_config": {"image_size": 1024, "patch_size": 16, "hidden_size": 256},
    "mask_decoder_config": {"hidden_size": 256},
}


def test_sam_exports_an_image_encoder_and_a_prompt_decoder() -> None:
    config = make("sam", "mask-generation", SAM_VIT_BASE)
    encoder, decoder = config.components().values()
    assert list(config.components()) == ["vision_encoder", "prompt_encoder_mask_decoder"]
    assert encoder.input_specs()[0].axes == ("batch_size", 3, 1024, 1024)
    assert list(encoder.outputs) == ["image_embeddings", "image_positional_embeddings"]
    assert list(decoder.inputs) == [
        "image_embeddings",
        "image_positional_embeddings",
        "input_points",
        "input_labels",
    ]
    assert decoder.inputs["input_points"] == {0: "batch_size", 1: "point_batch_size", 2: "num_points"}
    assert decoder.outputs == {name: {0: "batch_size", 1: "point_batch_size"} for name in ("iou_scores", "pred_masks")}
    dummy = decoder.generate_dummy_inputs(VALIDATION_SHAPES)
    assert dummy["image_embeddings"].shape == dummy["image_positional_embeddings"].shape == (3, 256, 64, 64)
    points, labels = dummy["input_points"], dummy["input_labels"]
    assert points.shape == (3, 3, 4, 2) and points.dtype == np.float32
    assert points.min() >= 0 and points.max() < 1024  # inside the image the points are given in
    assert labels.shape == (3, 3, 4) and set(np.unique(labels)) == {0, 1}  # on and off the object
    assert make("sam", "default", SAM_VIT_BASE).components().keys() == config.components().keys()


def test_sam_hq_hands_its_intermediate_states_to_the_decoder() -> None:
    hq = {**SAM_VIT_BASE, "model_type": "sam_hq"}
    hq["vision_config"] = {**SAM_VIT_BASE["vision_config"], "hidden_size": 768}
    encoder, decoder = make("sam-hq", "mask-generation", hq).components().values()
    assert list(encoder.outputs)[-1] == "intermediate_embeddings"
    assert decoder.generate_dummy_inputs()["intermediate_embeddings"].shape == (2, 64, 64, 768)


def test_sam2_hands_on_two_finer_feature_maps_and_scores_the_object() -> None:
    sam2 = {
        "model_type": "sam2",
        "vision_config": {
            "backbone_config": {"image_size": [1024, 1024]},
            "backbone_feature_sizes": [[256, 256], [128, 128], [64, 64]],
        },
        "prompt_encoder_config": {"image_size": 1024, "patch_size": 16},
        "mask_decoder_config": {"hidden_size": 256},
    }
    encoder, decoder = make("sam2", "mask-generation", sam2).components().values()
    assert encoder.input_specs()[0].axes == ("batch_size", 3, 1024, 1024)
    assert list(encoder.outputs)[2:] == ["high_resolution_features.0", "high_resolution_features.1"]
    dummy = decoder.generate_dummy_inputs()
    assert dummy["high_resolution_features.0"].shape == (2, 32, 256, 256)
    assert dummy["high_resolution_features.1"].shape == (2, 64, 128, 128)
    assert list(decoder.outputs) == ["iou_scores", "pred_masks", "object_score_logits"]


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
