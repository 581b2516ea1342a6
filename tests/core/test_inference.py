"""Task inference from local directories, model cards, the Hub API and the offline cache."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from helpers import BERT_CONFIG, lay_out_hf_cache, write_model_dir
from modelexport_core import (
    HubUnavailableError,
    ModelNotFoundError,
    TaskInferenceError,
    TasksManager,
)
from modelexport_core.inference import task_from_class_name, task_from_pipeline_tag
from modelexport_core.registry import registry

from modelexport.cli import main

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


# --- generation heads: the class name does not say the task -----------------------------------
#
# config.json of real checkpoints as transformers 5 writes them: model_type, architectures and the
# keys that differ from the base config. transformers 5.24 keeps ``is_encoder_decoder: true``, but
# files written by other versions and tools often lack it, so every case also runs without it.

T5_SMALL: dict[str, Any] = {
    "architectures": ["T5ForConditionalGeneration"],
    "d_ff": 2048,
    "d_kv": 64,
    "d_model": 512,
    "dense_act_fn": "relu",
    "eos_token_id": 1,
    "feed_forward_proj": "relu",
    "is_encoder_decoder": True,
    "model_type": "t5",
    "num_decoder_layers": 6,
    "num_heads": 8,
    "num_layers": 6,
    "pad_token_id": 0,
    "task_specific_params": {"summarization": {"prefix": "summarize: "}},
    "tie_word_embeddings": True,
    "transformers_version": "5.24.0",
    "vocab_size": 32128,
}
BART_BASE: dict[str, Any] = {
    "activation_function": "gelu",
    "architectures": ["BartForConditionalGeneration"],
    "bos_token_id": 0,
    "d_model": 768,
    "decoder_attention_heads": 12,
    "decoder_ffn_dim": 3072,
    "decoder_layers": 6,
    "decoder_start_token_id": 2,
    "encoder_attention_heads": 12,
    "encoder_ffn_dim": 3072,
    "encoder_layers": 6,
    "eos_token_id": 2,
    "forced_eos_token_id": 2,
    "id2label": {"0": "LABEL_0", "1": "LABEL_1", "2": "LABEL_2"},
    "is_encoder_decoder": True,
    "label2id": {"LABEL_0": 0, "LABEL_1": 1, "LABEL_2": 2},
    "max_position_embeddings": 1024,
    "model_type": "bart",
    "pad_token_id": 1,
    "transformers_version": "5.24.0",
    "vocab_size": 50265,
}
OPUS_MT_EN_DE: dict[str, Any] = {
    "activation_function": "swish",
    "architectures": ["MarianMTModel"],
    "bos_token_id": None,
    "d_model": 512,
    "decoder_attention_heads": 8,
    "decoder_ffn_dim": 2048,
    "decoder_layers": 6,
    "decoder_start_token_id": 58100,
    "decoder_vocab_size": 58101,
    "encoder_attention_heads": 8,
    "encoder_ffn_dim": 2048,
    "encoder_layers": 6,
    "eos_token_id": 0,
    "forced_eos_token_id": 0,
    "is_encoder_decoder": True,
    "max_position_embeddings": 512,
    "model_type": "marian",
    "pad_token_id": 58100,
    "scale_embedding": True,
    "share_encoder_decoder_embeddings": True,
    "transformers_version": "5.24.0",
    "vocab_size": 58101,
}
WHISPER_BASE: dict[str, Any] = {
    "activation_function": "gelu",
    "architectures": ["WhisperForConditionalGeneration"],
    "begin_suppress_tokens": [220, 50257],
    "bos_token_id": 50257,
    "d_model": 512,
    "decoder_attention_heads": 8,
    "decoder_ffn_dim": 2048,
    "decoder_layers": 6,
    "decoder_start_token_id": 50258,
    "encoder_attention_heads": 8,
    "encoder_ffn_dim": 2048,
    "encoder_layers": 6,
    "eos_token_id": 50257,
    "is_encoder_decoder": True,
    "max_source_positions": 1500,
    "max_target_positions": 448,
    "model_type": "whisper",
    "num_mel_bins": 80,
    "pad_token_id": 50257,
    "transformers_version": "5.24.0",
    "vocab_size": 51865,
}

GENERATION_CHECKPOINTS = {
    "t5-small": (T5_SMALL, "seq2seq-lm"),
    "facebook/bart-base": (BART_BASE, "seq2seq-lm"),
    "Helsinki-NLP/opus-mt-en-de": (OPUS_MT_EN_DE, "seq2seq-lm"),
    "openai/whisper-base": (WHISPER_BASE, "speech2seq-lm"),
}


def _without(config: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {key: value for key, value in config.items() if key not in keys}


@pytest.mark.parametrize("flag", ["with is_encoder_decoder", "without is_encoder_decoder"])
@pytest.mark.parametrize("checkpoint", list(GENERATION_CHECKPOINTS))
def test_generation_checkpoints(checkpoint: str, flag: str, model_dir, capsys: pytest.CaptureFixture[str]) -> None:
    config, task = GENERATION_CHECKPOINTS[checkpoint]
    if flag.startswith("without"):
        config = _without(config, "is_encoder_decoder")
    path = model_dir(config)
    assert TasksManager.infer_task_from_model(str(path)) == task
    assert main(["infer-task", str(path)]) == 0
    assert capsys.readouterr().out.strip() == task


@pytest.mark.parametrize("checkpoint", list(GENERATION_CHECKPOINTS))
def test_generation_checkpoints_of_an_unregistered_model_type(checkpoint: str, model_dir) -> None:
    """No backend knows the model type: the config's own keys still tell (core alone, no backend installed)."""
    config, task = GENERATION_CHECKPOINTS[checkpoint]
    config = {**_without(config, "is_encoder_decoder"), "model_type": "custom-" + config["model_type"]}
    assert TasksManager.infer_task_from_model(str(model_dir(config))) == task


@pytest.mark.parametrize(
    ("architecture", "config"),
    [
        ("FSMTForConditionalGeneration", {"model_type": "fsmt", "d_model": 1024, "encoder_layers": 6}),
        ("PegasusForConditionalGeneration", {"model_type": "pegasus", "d_model": 1024, "decoder_start_token_id": 0}),
        ("MBartForConditionalGeneration", {"model_type": "mbart", "decoder_layers": 12, "encoder_layers": 12}),
        ("M2M100ForConditionalGeneration", {"model_type": "m2m_100", "d_model": 1024, "decoder_start_token_id": 2}),
        ("TFMarianMTModel", {"model_type": "marian", "d_model": 512, "decoder_start_token_id": 58100}),
    ],
)
def test_other_seq2seq_heads(architecture: str, config: dict[str, Any], model_dir) -> None:
    config = {**config, "architectures": [architecture], "decoder_layers": 6}
    assert TasksManager.infer_task_from_model(str(model_dir(config))) == "seq2seq-lm"


def test_registered_tasks_decide_over_config_hints(model_dir) -> None:
    """Where a class name is ambiguous, the model type's registered tasks decide."""
    # Its keys look like a text encoder-decoder, but the model type only exports speech-to-text.
    config = {
        "model_type": "made-up-asr",
        "architectures": ["MadeUpAsrForConditionalGeneration"],
        "d_model": 256,
        "decoder_layers": 2,
        "encoder_layers": 2,
        "decoder_start_token_id": 1,
    }
    assert TasksManager.infer_task_from_model(str(model_dir(config, name="hints"))) == "seq2seq-lm"
    registry.register("inference-test", "made-up-asr", ["speech2seq-lm", "speech2seq-lm-with-past"], dict)
    try:
        assert TasksManager.infer_task_from_model(str(model_dir(config, name="registered"))) == "speech2seq-lm"
        # Registered for both generation tasks: the registry cannot decide, the config hints do.
        registry.register("inference-test", "made-up-asr", ["seq2seq-lm"], dict)
        assert TasksManager.infer_task_from_model(str(model_dir(config, name="both"))) == "seq2seq-lm"
    finally:
        registry.unregister_model_type("inference-test", "made-up-asr")


def test_registered_model_type_needs_no_config_hints(model_dir) -> None:
    config = {"model_type": "made-up-mt", "architectures": ["MadeUpForConditionalGeneration"]}
    with pytest.raises(TaskInferenceError):
        TasksManager.infer_task_from_model(str(model_dir(config, name="unknown")))
    registry.register("inference-test", "made_up_mt", ["seq2seq-lm"], dict)  # normalized like any model type
    try:
        assert TasksManager.infer_task_from_model(str(model_dir(config, name="registered"))) == "seq2seq-lm"
    finally:
        registry.unregister_model_type("inference-test", "made-up-mt")


def test_unknown_generation_head_without_hints_asks_for_the_task(model_dir, capsys: pytest.CaptureFixture[str]) -> None:
    path = model_dir({"model_type": "brand-new", "architectures": ["BrandNewForConditionalGeneration"]})
    with pytest.raises(TaskInferenceError) as info:
        TasksManager.infer_task_from_model(str(path))
    message = str(info.value)
    assert "BrandNewForConditionalGeneration" in message
    assert "seq2seq-lm" in message and "speech2seq-lm" in message
    assert "'brand-new'" in message
    assert "Pass the task explicitly (--task seq2seq-lm or --task speech2seq-lm)" in message
    assert main(["infer-task", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "--task" in err and "Traceback" not in err


def test_image_to_text_head_is_not_exportable(model_dir) -> None:
    config = {
        "model_type": "blip",
        "architectures": ["BlipForConditionalGeneration"],
        "text_config": {"model_type": "blip_text_model"},
        "vision_config": {"model_type": "blip_vision_model"},
    }
    with pytest.raises(
        TaskInferenceError, match="BlipForConditionalGeneration is a generation head and it is an image"
    ):
        TasksManager.infer_task_from_model(str(model_dir(config)))
    path = model_dir({"model_type": "vision-encoder-decoder", "architectures": ["VisionEncoderDecoderModel"]}, name="v")
    assert TasksManager.infer_task_from_model(str(path)) == "vision2seq-lm"


def test_generation_class_names() -> None:
    assert task_from_class_name(
        "MarianMTModel", {"model_type": "marian", "decoder_layers": 6, "encoder_layers": 6}
    ) == ("seq2seq-lm")
    assert task_from_class_name("FSMTModel") == "default"  # the base model, not a translation head
    assert task_from_class_name("SpeechEncoderDecoderModel") == "speech2seq-lm"
    assert task_from_class_name("EncoderDecoderModel") == "seq2seq-lm"
    assert task_from_class_name("SeamlessM4TForTextToText") == "seq2seq-lm"
    assert task_from_class_name("SpeechT5ForSpeechToText") == "speech2seq-lm"
    assert task_from_class_name("VisionEncoderDecoderModel") == "vision2seq-lm"
    # ``is_decoder: false`` (written by transformers 5) is no hint; T5's num_decoder_layers is
    assert task_from_class_name("XForConditionalGeneration", {"model_type": "x", "is_decoder": False}) is None
    assert task_from_class_name("XForConditionalGeneration", {"model_type": "x", "num_decoder_layers": 6}) == (
        "seq2seq-lm"
    )
    # decoder_start_token_id 0 (T5's) is a value, not a missing key
    assert task_from_class_name("XForConditionalGeneration", {"decoder_start_token_id": 0, "d_model": 8}) == (
        "seq2seq-lm"
    )


def test_generation_model_object() -> None:
    class Config:
        def to_dict(self) -> dict[str, Any]:
            return _without(OPUS_MT_EN_DE, "is_encoder_decoder")

    class MarianMTModel:
        config = Config()

    assert TasksManager.infer_task_from_model(MarianMTModel()) == "seq2seq-lm"

    class MysteryForConditionalGeneration:
        pass

    with pytest.raises(TaskInferenceError, match="MysteryForConditionalGeneration is a generation head"):
        TasksManager.infer_task_from_model(MysteryForConditionalGeneration)


_WITHOUT_FRAMEWORKS = textwrap.dedent(
    """
    import importlib.abc
    import sys

    BLOCKED = ("transformers", "torch", "tensorflow")
    assert not any(name in sys.modules for name in BLOCKED)


    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.partition(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)", name=name)
            return None


    sys.meta_path.insert(0, Blocker())
    try:
        import transformers  # noqa: F401
    except ModuleNotFoundError:
        pass
    else:
        raise SystemExit("transformers is importable")

    from modelexport.cli import main
    from modelexport_core import TasksManager

    for directory in sys.argv[1:]:
        print(TasksManager.infer_task_from_model(directory), flush=True)
        assert main(["infer-task", directory]) == 0
    print("loaded:", [name for name in BLOCKED if name in sys.modules])
    """
)


def test_generation_heads_without_transformers(tmp_path: Path) -> None:
    """No transformers, torch or TensorFlow: inference reads names and keys only."""
    directories = []
    for i, (config, _) in enumerate(GENERATION_CHECKPOINTS.values()):
        directories.append(str(write_model_dir(tmp_path / f"m{i}", _without(config, "is_encoder_decoder"))))
    result = subprocess.run(
        [sys.executable, "-c", _WITHOUT_FRAMEWORKS, *directories], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    expected = []
    for _, task in GENERATION_CHECKPOINTS.values():
        expected += [task, task]  # TasksManager, then the command
    assert result.stdout.splitlines() == [*expected, "loaded: []"]


def test_audio_and_vision_class_names() -> None:
    assert task_from_class_name("Wav2Vec2ForCTC") == "audio-ctc"
    assert task_from_class_name("WavLMForXVector") == "audio-xvector"
    assert task_from_class_name("UniSpeechSatForAudioFrameClassification") == "audio-frame-classification"
    assert task_from_class_name("WhisperForAudioClassification") == "audio-classification"
    assert task_from_class_name("DPTForDepthEstimation") == "depth-estimation"
    assert task_from_class_name("Swin2SRForImageSuperResolution") == "image-to-image"
    assert task_from_class_name("VitPoseForPoseEstimation") == "keypoint-detection"
    assert task_from_class_name("PatchTSTForPrediction") == "time-series-forecasting"
    assert task_from_class_name("SamModel") == "mask-generation"
    assert task_from_class_name("DecisionTransformerModel") == "reinforcement-learning"
    assert task_from_class_name("Sam2Model") == task_from_class_name("Sam3TrackerModel") == "mask-generation"
    assert task_from_class_name("VitsModel") == "text-to-audio"
    assert task_from_class_name("SpeechT5ForTextToSpeech") == "text-to-audio"
    assert task_from_class_name("CLIPModel", {"model_type": "clip"}) == "zero-shot-image-classification"
    assert task_from_class_name("TFCLIPModel", {"model_type": "clip"}) == "zero-shot-image-classification"


def test_the_model_type_decides_a_shared_class_suffix() -> None:
    """``...ForSequenceClassification`` classifies audio for wav2vec2 and text for BERT; ``...ForObjectDetection``
    detects text queries for OWL-ViT: the tasks the model type registers decide."""
    registry.register("test-backend", "toy-speech", ["default", "audio-classification"], dict)
    registry.register("test-backend", "toy-owl", ["zero-shot-object-detection"], dict)
    try:
        config = {"model_type": "toy-speech"}
        assert task_from_class_name("ToySpeechForSequenceClassification", config) == "audio-classification"
        assert task_from_class_name("ToyOwlForObjectDetection", {"model_type": "toy-owl"}) == (
            "zero-shot-object-detection"
        )
        assert task_from_class_name("BertForSequenceClassification", {"model_type": "bert"}) == (
            "sequence-classification"
        )
        assert task_from_class_name("DetrForObjectDetection", {"model_type": "detr"}) == "object-detection"
    finally:
        registry.unregister_model_type("test-backend", "toy-speech")
        registry.unregister_model_type("test-backend", "toy-owl")


def test_a_speech_recognition_tag_means_ctc_for_a_ctc_model_type() -> None:
    registry.register("test-backend", "toy-ctc", ["default", "audio-ctc"], dict)
    try:
        assert task_from_pipeline_tag("automatic-speech-recognition", "toy-ctc") == "audio-ctc"
        assert task_from_pipeline_tag("automatic-speech-recognition", "whatever") == "speech2seq-lm"
        assert task_from_pipeline_tag("automatic-speech-recognition") == "speech2seq-lm"
        assert TasksManager.task_for_model_type("automatic-speech-recognition", "toy-ctc") == "audio-ctc"
    finally:
        registry.unregister_model_type("test-backend", "toy-ctc")
