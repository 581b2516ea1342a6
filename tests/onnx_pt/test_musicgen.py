"""MusicGen end to end: text to music through the four exported files, against transformers' own generate.

The registry walk validates each file on its own; here the files run together as a consumer runs them (the
loop of :mod:`modelexport_onnx.musicgen_generation`: the cache carried between steps, the delay pattern done in
numpy), and the waveform must be PyTorch's.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from modelexport_core import TasksManager
from modelexport_onnx.musicgen_generation import delay_pattern, generate_audio, strip_delays
from onnx_pt.tiny import TinyPtModels, export_split_model

TASK = "text-to-audio-with-past"


@pytest.fixture(scope="module")
def musicgen(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return TinyPtModels(tmp_path_factory.mktemp("tiny-musicgen")).model("musicgen", TASK)


@pytest.mark.parametrize("audio_channels", [1, 2])
def test_delay_pattern_is_transformers(audio_channels: int) -> None:
    """The numpy delay pattern is the one ``build_delay_pattern_mask`` builds, mono and stereo."""
    import torch
    from transformers import MusicgenDecoderConfig, MusicgenForCausalLM

    codebooks, length, pad = 4, 9, 64
    decoder = MusicgenForCausalLM(
        MusicgenDecoderConfig(
            vocab_size=pad,
            hidden_size=8,
            num_hidden_layers=1,
            num_attention_heads=2,
            ffn_dim=8,
            num_codebooks=codebooks,
            audio_channels=audio_channels,
        )
    )
    start = torch.full((2 * codebooks, 1), pad)
    _, expected = decoder.build_delay_pattern_mask(start, pad_token_id=pad, max_length=length)
    pattern = np.tile(delay_pattern(codebooks, audio_channels, length, pad), (2, 1))
    np.testing.assert_array_equal(pattern, expected.numpy())
    # every row keeps length - channel codebooks codes, in order
    codes = np.where(pattern == -1, np.arange(2 * codebooks * length).reshape(pattern.shape), pattern)
    aligned = strip_delays(codes, codebooks, audio_channels)
    assert aligned.shape == (1, 2, codebooks, length - codebooks // audio_channels)
    assert (aligned != pad).all()
    np.testing.assert_array_equal(aligned[0].reshape(2 * codebooks, -1), codes[codes != pad].reshape(2 * codebooks, -1))


def test_generated_music_is_pytorchs(musicgen: Any, tmp_path: Path) -> None:
    import torch

    config = TasksManager.get_exporter_config_constructor("onnx", task=TASK, model_type="musicgen")(musicgen.config)
    sessions = export_split_model(musicgen, config, tmp_path)
    rng = np.random.default_rng(0)
    input_ids = rng.integers(0, musicgen.config.text_encoder.vocab_size, size=(2, 6), dtype=np.int64)
    attention_mask = np.ones_like(input_ids)
    attention_mask[1, -2:] = 0  # the second prompt is shorter: the mask reaches the cross attention
    decoder = musicgen.config.decoder
    new_codes = 12
    onnx_logits: list[Any] = []
    onnx = generate_audio(
        sessions,
        input_ids,
        attention_mask,
        new_codes,
        num_codebooks=decoder.num_codebooks,
        pad_token_id=decoder.pad_token_id,
        audio_channels=decoder.audio_channels,
        step_logits=onnx_logits,
    )
    with torch.inference_mode():
        generated = musicgen.generate(
            input_ids=torch.from_numpy(input_ids),
            attention_mask=torch.from_numpy(attention_mask),
            do_sample=False,
            guidance_scale=None,
            max_new_tokens=new_codes,
            return_dict_in_generate=True,
            output_logits=True,
        )
    reference, reference_logits = generated.sequences.numpy(), [step.numpy() for step in generated.logits]
    frames = new_codes + 1 - decoder.num_codebooks
    hop = int(np.prod(musicgen.config.audio_encoder.upsampling_ratios))
    assert onnx.codes.shape == (2 * decoder.num_codebooks, 1 + new_codes)
    assert onnx.audio_values.shape == reference.shape == (2, 1, frames * hop)
    assert np.abs(reference).max() > 1e-3  # a waveform, not silence
    # every step's logits, not only their argmax: a lost mask or cache shifts logits without flipping a code
    assert len(onnx_logits) == len(reference_logits) == new_codes
    np.testing.assert_allclose(np.stack(onnx_logits), np.stack(reference_logits), atol=1e-4)
    np.testing.assert_allclose(onnx.audio_values, reference, atol=1e-5 * max(1.0, float(np.abs(reference).max())))
