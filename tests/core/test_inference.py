"""Task inference from local directories, model cards, the Hub API and the offline cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import BERT_CONFIG, lay_out_hf_cache
from modelexport_core import (
    HubUnavailableError,
    ModelNotFoundError,
    TaskInferenceError,
    TasksManager,
)
from modelexport_core.inference import task_from_class_name

ARCHITECTURE_CASES = [
    ("BertForSequenceClassification", {"model_type": "bert"}, "sequence-classification"),
    ("GPT2LMHeadModel", {"model_type": "gpt2"}, "causal-lm"),
    ("LlamaForCausalLM", {"model_type": "llama"}, "causal-lm"),
    ("T5ForConditionalGeneration", {"model_type": "t5", "is_encoder_decoder": True}, "seq2seq-lm"),
    ("BartForConditionalGeneration", {"model_type": "bart", "is_encoder_decoder": True}, "seq2seq-lm"),
    (
        "WhisperForConditionalGeneration",
        {"model_type": "whisper", "is_encoder_decoder": True, "num_mel_bins": 80},
        "speech2seq-lm",
    ),
    (
        "Speech2TextForConditionalGeneration",
        {"model_type": "speech_to_text", "is_encoder_decoder": True, "input_feat_per_channel": 80},
        "speech2seq-lm",
    ),
    ("ViTForImageClassification", {"model_type": "vit"}, "image-classification"),
    ("DeiTForImageClassificationWithTeacher", {"model_type": "deit"}, "image-classification"),
    ("ViTForMaskedImageModeling", {"model_type": "vit"}, "masked-im"),
    ("DetrForObjectDetection", {"model_type": "detr"}, "object-detection"),
    ("DetrForSegmentation", {"model_type": "detr"}, "image-segmentation"),
    ("SegformerForSemanticSegmentation", {"model_type": "segformer"}, "semantic-segmentation"),
    ("BertModel", {"model_type": "bert"}, "default"),
    ("DistilBertForMaskedLM", {"model_type": "distilbert"}, "masked-lm"),
    ("RobertaForTokenClassification", {"model_type": "roberta"}, "token-classification"),
    ("AlbertForQuestionAnswering", {"model_type": "albert"}, "question-answering"),
    ("BertForMultipleChoice", {"model_type": "bert"}, "multiple-choice"),
    ("TFBertForMaskedLM", {"model_type": "bert"}, "masked-lm"),
]


@pytest.mark.parametrize(("architecture", "config", "task"), ARCHITECTURE_CASES)
def test_local_directory_from_architectures(model_dir, architecture: str, config: dict, task: str) -> None:
    path = model_dir({**config, "architectures": [architecture]})
    assert TasksManager.infer_task_from_model(str(path)) == task
    assert TasksManager.infer_task_from_model(path) == task  # a Path works too


def test_auto_class_names_use_the_same_table() -> None:
    assert task_from_class_name("AutoModelForSpeechSeq2Seq") == "speech2seq-lm"
    assert task_from_class_name("TFAutoModelForSeq2SeqLM") == "seq2seq-lm"
    assert task_from_class_name("AutoModel") == "default"
    assert task_from_class_name("GPT2DoubleHeadsModel") is None


def test_model_card_pipeline_tag_when_architectures_say_nothing(model_dir) -> None:
    readme = "---\nlicense: apache-2.0\npipeline_tag: fill-mask\ntags:\n- bert\n---\n# A model\n"
    path = model_dir({"model_type": "bert"}, readme=readme)
    assert TasksManager.infer_task_from_model(str(path)) == "masked-lm"


def test_sentence_similarity_card_is_feature_extraction(model_dir) -> None:
    path = model_dir(
        {"model_type": "bert", "architectures": ["Unknown"]}, readme="---\npipeline_tag: sentence-similarity\n---\n"
    )
    assert TasksManager.infer_task_from_model(str(path)) == "default"


def test_uninferable_directory_asks_for_the_task(model_dir) -> None:
    path = model_dir({"model_type": "bert", "architectures": ["BertForPreTraining"]})
    with pytest.raises(TaskInferenceError, match="Pass the task explicitly"):
        TasksManager.infer_task_from_model(str(path))


def test_model_object_and_class() -> None:
    class BertForTokenClassification:
        pass

    assert TasksManager.infer_task_from_model(BertForTokenClassification) == "token-classification"
    assert TasksManager.infer_task_from_model(BertForTokenClassification()) == "token-classification"


# --- the Hub --------------------------------------------------------------------------------


def test_hub_pipeline_tag_first(fake_hub) -> None:
    fake_hub.add_model(
        "org/classifier", pipeline_tag="text-classification", auto_model="AutoModelForSequenceClassification"
    )
    assert TasksManager.infer_task_from_model("org/classifier") == "sequence-classification"
    assert fake_hub.requests == ["/api/models/org/classifier"]


def test_hub_auto_class_when_no_pipeline_tag(fake_hub) -> None:
    fake_hub.add_model("org/whisper-tiny", auto_model="AutoModelForSpeechSeq2Seq")
    assert TasksManager.infer_task_from_model("org/whisper-tiny") == "speech2seq-lm"


def test_hub_revision_is_asked_for(fake_hub) -> None:
    fake_hub.add_model("org/gpt", pipeline_tag="text-generation")
    assert TasksManager.infer_task_from_model("org/gpt", revision="v1.0") == "causal-lm"
    assert fake_hub.requests == ["/api/models/org/gpt/revision/v1.0"]


def test_hub_repository_that_does_not_exist(fake_hub) -> None:
    with pytest.raises(ModelNotFoundError, match="no accessible repository"):
        TasksManager.infer_task_from_model("org/missing")


def test_hub_without_usable_information(fake_hub) -> None:
    fake_hub.add_model("org/mystery", pipeline_tag="text-to-video")
    with pytest.raises(TaskInferenceError, match="text-to-video"):
        TasksManager.infer_task_from_model("org/mystery")


def test_offline_uses_the_cache(hf_cache: Path, model_dir, offline) -> None:
    source = model_dir({**BERT_CONFIG, "architectures": ["BertForQuestionAnswering"]})
    lay_out_hf_cache(hf_cache, "org/qa-model", source)
    assert TasksManager.infer_task_from_model("org/qa-model") == "question-answering"


def test_unreachable_hub_falls_back_to_the_cache(hf_cache: Path, model_dir) -> None:
    # HF_ENDPOINT points at a closed local port: the Hub cannot be reached.
    source = model_dir({**BERT_CONFIG, "architectures": ["BertForMaskedLM"]})
    lay_out_hf_cache(hf_cache, "org/cached", source)
    assert TasksManager.infer_task_from_model("org/cached") == "masked-lm"


def test_cache_dir_argument(tmp_path: Path, model_dir, offline) -> None:
    cache = tmp_path / "elsewhere"
    lay_out_hf_cache(cache, "org/m", model_dir({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    assert TasksManager.infer_task_from_model("org/m", cache_dir=cache) == "causal-lm"


def test_offline_and_not_cached(hf_cache: Path, offline) -> None:
    with pytest.raises(HubUnavailableError, match="HF_HUB_OFFLINE is set") as info:
        TasksManager.infer_task_from_model("org/never-downloaded")
    assert "hf download org/never-downloaded" in str(info.value)


def test_offline_never_asks_the_hub(fake_hub, hf_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_hub.add_model("org/classifier", pipeline_tag="text-classification")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(HubUnavailableError):
        TasksManager.infer_task_from_model("org/classifier")
    assert fake_hub.requests == []


def test_config_is_downloaded_to_the_cache_then_read_offline(fake_hub, hf_cache: Path, monkeypatch) -> None:
    config = {**BERT_CONFIG, "architectures": ["BertForTokenClassification"]}
    fake_hub.add_model("org/remote", contents={"config.json": json.dumps(config).encode()})
    assert TasksManager.get_model_config("org/remote")["architectures"] == ["BertForTokenClassification"]
    assert any("/resolve/" in r for r in fake_hub.requests)
    assert list(hf_cache.glob("models--org--remote/snapshots/*/config.json"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert TasksManager.infer_task_from_model("org/remote") == "token-classification"


def test_hub_repository_without_config(fake_hub, hf_cache: Path) -> None:
    from modelexport_core import InvalidModelConfigError

    fake_hub.add_model("org/no-config", contents={"README.md": b"hello"})
    with pytest.raises(InvalidModelConfigError, match="has no config.json"):
        TasksManager.get_model_config("org/no-config")
