"""The PyTorch plugin: every task row resolves to a real class, models load and run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import transformers
from helpers import lay_out_hf_cache
from modelexport_core import FrameworkNotInstalledError, TasksManager, UnsupportedTaskError
from tiny_models import TASK_EXAMPLES, build_pt_model, save_pt_model, tiny_config


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory: pytest.TempPathFactory):
    """Tiny models saved once per session, by (task, safe-serialization)."""
    cache: dict[tuple[str, bool], Path] = {}

    def get(task: str, safe: bool = True) -> Path:
        key = (task, safe)
        if key not in cache:
            name, _ = TASK_EXAMPLES[task]
            cls = TasksManager.get_model_class_for_task(task, "pt")
            cache[key] = save_pt_model(cls, name, tmp_path_factory.mktemp(f"pt-{task}"), safe=safe)
        return cache[key]

    return get


@pytest.mark.parametrize(("task", "example"), sorted(TASK_EXAMPLES.items()))
def test_every_pt_row_gives_the_real_class(task: str, example: tuple[str, str]) -> None:
    name, expected_head = example
    cls = TasksManager.get_model_class_for_task(task, "pt")
    names = TasksManager.get_autoclass_name(task, "pt")
    candidates = (names,) if isinstance(names, str) else names
    assert cls is next(getattr(transformers, n) for n in candidates if hasattr(transformers, n))
    assert type(cls.from_config(tiny_config(name))).__name__ == expected_head


@pytest.mark.parametrize("synonym", ["fill-mask", "text-generation-with-past", "automatic-speech-recognition"])
def test_synonyms_resolve_too(synonym: str) -> None:
    assert TasksManager.get_model_class_for_task(synonym, "pt") is getattr(
        transformers, TasksManager.get_autoclass_name(TasksManager.map_from_synonym(synonym), "pt")
    )


def test_pt_is_detected_from_weights(saved_models) -> None:
    assert TasksManager.determine_framework(str(saved_models("masked-lm"))) == "pt"
    assert TasksManager.determine_framework(str(saved_models("masked-lm", safe=False))) == "pt"


@pytest.mark.parametrize(
    "task",
    [
        "default",
        "masked-lm",
        "sequence-classification",
        "causal-lm",
        "seq2seq-lm",
        "image-classification",
        "speech2seq-lm",
        "semantic-segmentation",
    ],
)
def test_load_from_a_local_directory(saved_models, task: str) -> None:
    path = saved_models(task)
    model = TasksManager.get_model_from_task(task, str(path))
    name, head = TASK_EXAMPLES[task]
    assert type(model).__name__ == head
    assert not model.training
    reference = build_pt_model(type(model), name)
    for (key, value), (_, expected) in zip(model.state_dict().items(), reference.state_dict().items(), strict=True):
        assert torch.equal(value, expected), key


def test_task_is_inferred_when_not_given(saved_models) -> None:
    model = TasksManager.get_model_from_task("auto", str(saved_models("token-classification")))
    assert type(model).__name__ == "BertForTokenClassification"


def test_pickled_weights_load_with_weights_only(saved_models) -> None:
    path = saved_models("masked-lm", safe=False)
    assert (path / "pytorch_model.bin").exists() and not (path / "model.safetensors").exists()
    model = TasksManager.get_model_from_task("fill-mask", str(path))
    assert type(model).__name__ == "BertForMaskedLM"


def test_load_a_hub_id_from_the_offline_cache(saved_models, hf_cache: Path, offline) -> None:
    lay_out_hf_cache(hf_cache, "org/tiny-bert-qa", saved_models("question-answering"))
    model = TasksManager.get_model_from_task("question-answering", "org/tiny-bert-qa")
    assert type(model).__name__ == "BertForQuestionAnswering"
    assert TasksManager.determine_framework("org/tiny-bert-qa") == "pt"


def test_remote_code_stays_off(saved_models, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}
    original = transformers.AutoModelForMaskedLM.from_pretrained.__func__  # type: ignore[attr-defined]

    def spy(cls, path, **kwargs):  # type: ignore[no-untyped-def]
        seen.update(kwargs)
        return original(cls, path, **kwargs)

    monkeypatch.setattr(transformers.AutoModelForMaskedLM, "from_pretrained", classmethod(spy))
    TasksManager.get_model_from_task("masked-lm", str(saved_models("masked-lm")))
    assert seen["trust_remote_code"] is False


def test_task_without_a_class_in_a_framework() -> None:
    pytest.importorskip("modelexport_tf")
    with pytest.raises(UnsupportedTaskError, match="TensorFlow supports: default"):
        TasksManager.get_autoclass_name("object-detection", "tf")


def test_model_objects_are_recognized() -> None:
    model = build_pt_model(transformers.AutoModelForMaskedLM, "bert")
    assert TasksManager.determine_framework(model) == "pt"
    assert TasksManager.infer_task_from_model(model) == "masked-lm"


def test_tf_asked_for_but_not_installed() -> None:
    import importlib.util

    if importlib.util.find_spec("tensorflow") is not None:
        pytest.skip("TensorFlow is installed here")
    with pytest.raises(FrameworkNotInstalledError, match="tf"):
        TasksManager.get_model_class_for_task("fill-mask", "tf")


def test_a_type_no_auto_class_maps_loads_with_its_configs_class(tmp_path: Path) -> None:
    """PatchTST forecasts with ``PatchTSTForPrediction``, which no auto class lists: its config's class loads it."""
    if not hasattr(transformers, "PatchTSTForPrediction"):
        pytest.skip("this transformers has no PatchTST")
    config = transformers.PatchTSTConfig(
        num_input_channels=3, context_length=32, d_model=16, num_hidden_layers=1, num_attention_heads=2, ffn_dim=16
    )
    config.architectures = ["PatchTSTForPrediction"]
    torch.manual_seed(0)
    transformers.PatchTSTForPrediction(config).save_pretrained(tmp_path)
    model = TasksManager.get_model_from_task("time-series-forecasting", str(tmp_path))
    assert type(model).__name__ == "PatchTSTForPrediction"
    assert TasksManager.infer_task_from_model(str(tmp_path)) == "time-series-forecasting"


def test_speech_recognition_means_ctc_for_a_ctc_model(saved_models) -> None:
    path = saved_models("audio-ctc")
    assert TasksManager.infer_task_from_model(str(path)) == "audio-ctc"
    model = TasksManager.get_model_from_task("automatic-speech-recognition", str(path))
    assert type(model).__name__ == "Wav2Vec2ForCTC"
    assert TasksManager.task_for_model_type("automatic-speech-recognition", "wav2vec2") == "audio-ctc"
    assert TasksManager.task_for_model_type("automatic-speech-recognition", "whisper") == "speech2seq-lm"


def test_a_sinusoid_table_left_without_data_by_loading_is_rebuilt(tmp_path: Path) -> None:
    """TrOCR's small checkpoints keep their sinusoidal positions as a plain tensor, which transformers 5 leaves on
    the meta device after ``from_pretrained``: the loader computes it again, so the model runs as built."""
    config = transformers.TrOCRConfig(
        vocab_size=99, d_model=32, decoder_layers=1, decoder_attention_heads=4, decoder_ffn_dim=37
    )
    config.use_learned_position_embeddings = False
    torch.manual_seed(0)
    built = transformers.TrOCRForCausalLM(config).eval()
    built.save_pretrained(tmp_path)
    model = TasksManager.get_model_from_task("causal-lm", str(tmp_path))
    table = model.model.decoder.embed_positions.weights
    assert table.device.type == "cpu" and torch.equal(table, built.model.decoder.embed_positions.weights)
    ids = torch.tensor([[5, 6, 7]])
    with torch.no_grad():
        assert torch.equal(model(input_ids=ids).logits, built(input_ids=ids).logits)


def test_a_tensor_left_without_data_that_cannot_be_rebuilt_is_refused() -> None:
    from modelexport_core.errors import ModelLoadError
    from modelexport_pt.loading import rebuild_meta_tables

    module = torch.nn.Sequential(torch.nn.Linear(2, 2))
    module[0].table = torch.empty(3, 2, device="meta")
    with pytest.raises(ModelLoadError, match=r"0\.table without data"):
        rebuild_meta_tables(module)


def test_a_universal_segmenter_loads_for_image_segmentation(tmp_path: Path) -> None:
    """MaskFormer segments with ``MaskFormerForInstanceSegmentation``, which the image-segmentation auto class (DETR's)
    does not list: the universal-segmentation one loads it, even from a config that names no architecture."""
    if int(transformers.__version__.split(".")[0]) < 5:
        pytest.skip("the registry lists universal segmenters as the media walk measured them, with transformers 5")
    torch.manual_seed(0)
    transformers.MaskFormerForInstanceSegmentation(tiny_config("maskformer")).save_pretrained(tmp_path)
    saved = tmp_path / "config.json"
    config = json.loads(saved.read_text(encoding="utf-8"))
    config["architectures"] = None
    saved.write_text(json.dumps(config), encoding="utf-8")
    model = TasksManager.get_model_from_task("image-segmentation", str(tmp_path))
    assert type(model).__name__ == "MaskFormerForInstanceSegmentation"
