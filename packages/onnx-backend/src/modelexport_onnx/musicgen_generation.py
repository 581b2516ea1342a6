"""Greedy text-to-music in onnxruntime with a MusicGen ``text-to-audio-with-past`` export (numpy only).

What an ONNX Runtime consumer of the four files writes, and what the export notes describe: the text encoder
runs once; the first decoder step reads the start token on every codebook row with an empty cache and returns
the first ``present.*``; each later step feeds one code per row and the cache back. The delay pattern is index
arithmetic on the codes: codebook ``k`` of a channel lags ``k`` steps, so its first ``k + 1`` codes and its last
``channel_codebooks - 1 - k`` are the pad id whatever the decoder predicts; those are dropped before EnCodec
decodes the rest. This is ``MusicgenForConditionalGeneration.generate`` with ``do_sample=False`` and no
classifier-free guidance.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from modelexport_pipeline.cache_names import is_present, past_for_present


def delay_pattern(num_codebooks: int, audio_channels: int, length: int, pad_token_id: int) -> Any:
    """(num_codebooks, length): the pad id where codebook ``k`` must hold it, -1 where the decoder's code goes.

    Codebook ``k`` (of its channel: stereo codebooks alternate left and right) is padded at its first ``k + 1``
    positions (the start token and its delay) and its last ``channel_codebooks - 1 - k``.
    """
    import numpy as np

    channel_codebooks = num_codebooks // audio_channels
    columns = np.arange(length)[None, :]
    delay = (np.arange(num_codebooks) // audio_channels)[:, None]
    padded = (columns <= delay) | (columns >= length - channel_codebooks + 1 + delay)
    return np.where(padded, pad_token_id, -1).astype(np.int64)


def strip_delays(codes: Any, num_codebooks: int, audio_channels: int) -> Any:
    """(batch * num_codebooks, length) codes in delay pattern -> (1, batch, num_codebooks, length - channel
    codebooks): each codebook's own codes, aligned, as ``encodec_decode`` takes them."""
    import numpy as np

    channel_codebooks = num_codebooks // audio_channels
    rows, length = codes.shape
    kept = length - channel_codebooks
    by_codebook = codes.reshape(rows // num_codebooks, num_codebooks, length)
    aligned = [
        by_codebook[:, k, 1 + k // audio_channels : 1 + k // audio_channels + kept] for k in range(num_codebooks)
    ]
    return np.stack(aligned, axis=1)[None]


@dataclass(frozen=True)
class GeneratedAudio:
    #: (batch * num_codebooks, 1 + new codes) in delay pattern, pads included (as ``generate`` builds them).
    codes: Any
    #: (batch, audio_channels, samples): the waveform EnCodec decodes from the aligned codes.
    audio_values: Any


def generate_audio(
    sessions: Mapping[str, Any],
    input_ids: Any,
    attention_mask: Any,
    max_new_tokens: int,
    *,
    num_codebooks: int,
    pad_token_id: int,
    audio_channels: int = 1,
    step_logits: list[Any] | None = None,
) -> GeneratedAudio:
    """Greedy MusicGen with ``text_encoder``, ``decoder_model``, ``decoder_with_past_model`` and ``encodec_decode``.

    ``pad_token_id``: the decoder's start and pad id (``decoder.pad_token_id``: ``vocab_size``). Generates
    ``max_new_tokens`` steps: ``max_new_tokens + 1 - num_codebooks // audio_channels`` frames of audio.
    ``step_logits``, when given, receives each step's last-position logits (batch * num_codebooks, vocab).
    """
    import numpy as np

    batch = input_ids.shape[0]
    states = sessions["text_encoder"].run(None, {"input_ids": input_ids, "attention_mask": attention_mask})[0]
    length = 1 + max_new_tokens
    pattern = np.tile(delay_pattern(num_codebooks, audio_channels, length, pad_token_id), (batch, 1))
    codes = np.full((batch * num_codebooks, 1), pad_token_id, dtype=np.int64)
    feed: dict[str, Any] = {
        "input_ids": codes,
        "encoder_attention_mask": attention_mask,
        "encoder_hidden_states": states,
    }
    session = sessions["decoder_model"]
    cache: dict[str, Any] = {}
    for step in range(max_new_tokens):
        names = [output.name for output in session.get_outputs()]
        outputs = dict(zip(names, session.run(None, _accepted(session, feed)), strict=True))
        logits = outputs["logits"][:, -1, :]
        if step_logits is not None:
            step_logits.append(logits)
        column = logits.argmax(-1).astype(np.int64)
        column = np.where(pattern[:, step + 1] == -1, column, pattern[:, step + 1])
        codes = np.concatenate([codes, column[:, None]], axis=1)
        # the self-attention cache grows at every step; the cross-attention one comes from the first alone
        cache = {**cache, **{past_for_present(name): value for name, value in outputs.items() if is_present(name)}}
        feed = {"input_ids": column[:, None], "encoder_attention_mask": attention_mask, **cache}
        session = sessions["decoder_with_past_model"]
    aligned = strip_delays(codes, num_codebooks, audio_channels)
    audio = sessions["encodec_decode"].run(None, {"audio_codes": aligned})[0]
    return GeneratedAudio(codes, audio)


def _accepted(session: Any, feed: Mapping[str, Any]) -> dict[str, Any]:
    """The inputs ``session`` takes, of ``feed`` (the first step's encoder states are the first file's only)."""
    names = {item.name for item in session.get_inputs()}
    return {name: value for name, value in feed.items() if name in names}
