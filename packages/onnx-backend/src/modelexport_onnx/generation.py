"""Greedy generation in onnxruntime with an exported decoder-with-past, and the check against PyTorch.

The loop is what an ONNX Runtime consumer writes: the first step feeds the whole (left-padded)
prompt with an empty cache (length 0), each later step feeds one token per sequence and the
``present.*`` outputs of the previous step as ``past_key_values.*``. Finished sequences (EOS)
are padded, and generation stops when all are finished, as transformers' ``generate`` does.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from typing import Any, ClassVar

from modelexport_pipeline.cache_names import is_past, is_present, past_for_present
from modelexport_pipeline.dummy_inputs import EXPORT_SHAPES

from .config import OnnxConfig


def positions_from_mask(mask: Any) -> Any:
    """Position ids as transformers derives them for left padding: cumulative, pads at 1."""
    import numpy as np

    positions = np.cumsum(mask, axis=-1) - 1
    positions[mask == 0] = 1
    return positions.astype(np.int64)


def _greedy_step(logits: Any, unfinished: Any, pad_token_id: int, eos_token_ids: tuple[int, ...]) -> tuple[Any, Any]:
    """The argmax token of each row's last position (``pad_token_id`` for finished rows), and which
    rows are still unfinished once it is appended (an EOS token finishes a row)."""
    import numpy as np

    next_tokens = np.where(unfinished, logits[:, -1, :].argmax(-1).astype(np.int64), pad_token_id)
    if eos_token_ids:
        unfinished = unfinished & ~np.isin(next_tokens, eos_token_ids)
    return next_tokens, unfinished


def _cache_from_present(outputs: Mapping[str, Any]) -> dict[str, Any]:
    """The next step's ``past_key_values.*`` inputs: this step's ``present.*`` outputs, renamed."""
    return {past_for_present(name): value for name, value in outputs.items() if is_present(name)}


def greedy_generate(
    session: Any,
    config: OnnxConfig,
    input_ids: Any,
    attention_mask: Any,
    max_new_tokens: int,
    pad_token_id: int,
    eos_token_ids: tuple[int, ...] = (),
    step_logits: list[Any] | None = None,
) -> Any:
    """Generate greedily with ``session`` (a decoder-with-past export); returns prompt + new tokens.

    ``step_logits``, when given, receives each step's last-position logits.
    """
    import numpy as np

    batch = input_ids.shape[0]
    input_names = {i.name for i in session.get_inputs()}
    output_names = [o.name for o in session.get_outputs()]
    # An empty cache of each past input's own fixed sizes (key and value widths may differ: latent attention)
    past = {
        i.name: np.zeros((batch, i.shape[1], 0, i.shape[3]), dtype=np.float32)
        for i in session.get_inputs()
        if is_past(i.name)
    }
    sequences = input_ids.astype(np.int64)
    mask = attention_mask.astype(np.int64)
    step_ids = sequences
    unfinished = np.ones(batch, dtype=bool)
    for _ in range(max_new_tokens):
        feed = {"input_ids": step_ids, "attention_mask": mask, **past}
        if "position_ids" in input_names:
            feed["position_ids"] = positions_from_mask(mask)[:, -step_ids.shape[1] :]
        outputs = dict(zip(output_names, session.run(None, feed), strict=True))
        if step_logits is not None:
            step_logits.append(outputs["logits"][:, -1, :])
        next_tokens, unfinished = _greedy_step(outputs["logits"], unfinished, pad_token_id, eos_token_ids)
        sequences = np.concatenate([sequences, next_tokens[:, None]], axis=1)
        mask = np.concatenate([mask, np.ones((batch, 1), dtype=np.int64)], axis=1)
        past = _cache_from_present(outputs)
        step_ids = next_tokens[:, None]
        if not unfinished.any():
            break
    return sequences


def greedy_generate_seq2seq(
    sessions: Mapping[str, Any],
    encoder_inputs: Mapping[str, Any],
    max_new_tokens: int,
    decoder_start_token_id: int,
    pad_token_id: int,
    eos_token_ids: tuple[int, ...] = (),
    step_logits: list[Any] | None = None,
) -> Any:
    """Greedy generation with encoder_model, decoder_model and decoder_with_past_model.

    The encoder runs once; the first decoder step (``decoder_model``) returns the whole cache,
    self- and cross-attention; later steps feed it to ``decoder_with_past_model``, which returns
    the grown self-attention cache (the cross-attention cache never changes).
    """
    import numpy as np

    batch = next(iter(encoder_inputs.values())).shape[0]
    encoder = sessions["encoder_model"]
    (hidden,) = encoder.run(["last_hidden_state"], dict(encoder_inputs))
    mask = encoder_inputs.get("attention_mask")  # speech encoders without one: every frame counts
    sequences = np.full((batch, 1), decoder_start_token_id, dtype=np.int64)
    unfinished = np.ones(batch, dtype=bool)
    cache: dict[str, Any] = {}
    for step in range(max_new_tokens):
        if step == 0:
            session = sessions["decoder_model"]
            feed = {"input_ids": sequences, "encoder_hidden_states": hidden}
        else:
            session = sessions["decoder_with_past_model"]
            feed = {"input_ids": sequences[:, -1:], **cache}
        if mask is not None and "encoder_attention_mask" in {i.name for i in session.get_inputs()}:
            feed["encoder_attention_mask"] = mask
        names = [o.name for o in session.get_outputs()]
        outputs = dict(zip(names, session.run(None, feed), strict=True))
        if step_logits is not None:
            step_logits.append(outputs["logits"][:, -1, :])
        next_tokens, unfinished = _greedy_step(outputs["logits"], unfinished, pad_token_id, eos_token_ids)
        sequences = np.concatenate([sequences, next_tokens[:, None]], axis=1)
        cache.update(_cache_from_present(outputs))  # the first step's cross-attention entries stay
        if not unfinished.any():
            break
    return sequences


def padded_prompts(
    vocab_size: int, lengths: tuple[int, ...], pad_token_id: int, side: str = "left", seed: int = 3
) -> tuple[Any, Any]:
    """A batch of random prompts of different lengths, padded on ``side``, with its attention mask."""
    import numpy as np

    rng = np.random.default_rng(seed)
    width = max(lengths)
    ids = np.full((len(lengths), width), pad_token_id, dtype=np.int64)
    mask = np.zeros((len(lengths), width), dtype=np.int64)
    low = min(3, vocab_size - 1)
    for row, length in enumerate(lengths):
        span = slice(width - length, width) if side == "left" else slice(0, length)
        ids[row, span] = rng.integers(low, vocab_size, size=length)
        mask[row, span] = 1
    return ids, mask


@dataclass(frozen=True)
class GenerationCheck:
    """Greedy tokens of the exported files in onnxruntime against the framework's ``generate``."""

    report_key: ClassVar[str] = "generation"

    new_tokens: int
    batch: int
    #: Whether the ONNX tokens are exactly the framework's.
    equal: bool
    onnx_tokens: list[list[int]]
    reference_tokens: list[list[int]]
    #: Where the tokens first differ: ``{"row", "step", "onnx_token", "reference_token", "logit_gap", "bound"}``,
    #: ``logit_gap`` being how far the lower of the two tokens' ONNX logits is below the best one.
    first_difference: dict[str, Any] | None = None

    @property
    def near_tie(self) -> bool:
        """The sequences part where the ONNX logits of both tokens are closer than the validated bound:
        either token is what a correct float32 computation may pick, so the check is inconclusive there."""
        diff = self.first_difference
        return diff is not None and diff["bound"] is not None and diff["logit_gap"] <= diff["bound"]

    @property
    def passed(self) -> bool:
        return self.equal or self.near_tie

    def describe(self) -> str:
        verdict = "identical" if self.equal else "a near tie" if self.near_tie else "DIFFERS"
        return f"greedy generation of {self.new_tokens} tokens x {self.batch} prompts {verdict}"

    def failure(self) -> str:
        return (
            "Generation check failed: greedy decoding in onnxruntime gave other tokens than the framework's "
            f"generate.\n  onnx:      {self.onnx_tokens}\n  reference: {self.reference_tokens}"
            + (f"\n  first difference: {self.first_difference}" if self.first_difference else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "near_tie": self.near_tie, "passed": self.passed}


def _first_difference(
    produced: Any, expected: Any, prompt_width: int, step_logits: list[Any], logits_bound: float | None
) -> dict[str, Any] | None:
    """Where greedy decoding first parted, and how far apart the ONNX logits of the two tokens were."""
    import numpy as np

    width = min(produced.shape[1], expected.shape[1])
    differs = produced[:, prompt_width:width] != expected[:, prompt_width:width]
    if not differs.any():
        return None
    positions = np.argwhere(differs)
    step = int(positions[:, 1].min())
    row = int(positions[positions[:, 1] == step][0, 0])
    onnx_token = int(produced[row, prompt_width + step])
    reference_token = int(expected[row, prompt_width + step])
    logits = step_logits[step][row] if step < len(step_logits) else None
    # How far the lower of the two tokens is below the best logit: both must be (near) the top for a tie.
    gap = float(logits.max() - min(logits[onnx_token], logits[reference_token])) if logits is not None else math.inf
    return {
        "row": row,
        "step": step,
        "onnx_token": onnx_token,
        "reference_token": reference_token,
        "logit_gap": gap,
        "bound": logits_bound,
    }


def check_generation(
    sessions: Mapping[str, Any],
    config: OnnxConfig,
    reference_generate: Callable[[Mapping[str, Any], int, int], Any],
    max_new_tokens: int = 20,
    lengths: tuple[int, ...] = (6, 3),
    inputs: Mapping[str, Any] | None = None,
    logits_bound: float | None = None,
) -> GenerationCheck:
    """Generate with ONNX and with the framework from the same prompts; compare the tokens.

    Both sides decode plainly: argmax at every step for ``max_new_tokens`` steps, no EOS stop,
    no logits processors, so a difference can only come from the exported logits or cache.

    ``inputs``: real prompts (``input_ids`` and ``attention_mask``, left-padded, for decoders; the
    encoder's inputs for encoder-decoders). Without them, random prompts of ``lengths``: decoder-only
    prompts are left-padded (as generation needs), encoder-decoder prompts right-padded, as tokenizers
    pad encoder inputs; speech encoders get random features of the model's own shape.

    ``logits_bound``: the error bound validation allowed on the logits. Where the tokens first differ,
    a gap between the two tokens' ONNX logits within it is a near tie (see :attr:`GenerationCheck.near_tie`).
    """
    import numpy as np

    model_config = config.config
    vocab_size = int(config.normalized.get("vocab_size"))
    pad = getattr(model_config, "pad_token_id", None)
    pad = int(pad) if pad is not None and 0 <= int(pad) < vocab_size else 0
    eos_ids: tuple[int, ...] = ()  # plain greedy: exactly max_new_tokens steps, as the reference runs
    step_logits: list[Any] = []
    if "encoder_model" not in sessions:
        if inputs is None:
            ids, mask = padded_prompts(vocab_size, lengths, pad, side="left")
        else:
            ids, mask = np.asarray(inputs["input_ids"]), np.asarray(inputs["attention_mask"])
        expected = np.asarray(reference_generate({"input_ids": ids, "attention_mask": mask}, max_new_tokens, pad))
        produced = greedy_generate(sessions["model"], config, ids, mask, max_new_tokens, pad, eos_ids, step_logits)
        prompt_width = ids.shape[1]
    else:
        encoder_config = config.components()["encoder_model"]
        if inputs is not None:
            encoder_inputs = dict(inputs)
        elif encoder_config.input_specs()[0].name == "input_ids":  # text: right-padded prompts
            ids, mask = padded_prompts(vocab_size, lengths, pad, side="right")
            encoder_inputs = {"input_ids": ids, "attention_mask": mask}
        else:  # speech: random features of the model's own shape
            encoder_inputs = encoder_config.generate_dummy_inputs(
                EXPORT_SHAPES.with_sizes(batch_size=len(lengths)), seed=5
            )
        expected = np.asarray(reference_generate(encoder_inputs, max_new_tokens, pad))
        start = getattr(model_config, "decoder_start_token_id", None)
        start = int(start) if start is not None else pad
        produced = greedy_generate_seq2seq(sessions, encoder_inputs, max_new_tokens, start, pad, eos_ids, step_logits)
        prompt_width = 1
    equal = produced.shape == expected.shape and bool((produced == expected).all())
    return GenerationCheck(
        new_tokens=produced.shape[1] - prompt_width,
        batch=produced.shape[0],
        equal=equal,
        onnx_tokens=produced[:, prompt_width:].tolist(),
        reference_tokens=expected[:, prompt_width:].tolist(),
        first_difference=None
        if equal
        else _first_difference(produced, expected, prompt_width, step_logits, logits_bound),
    )
