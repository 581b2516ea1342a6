"""Dummy inputs built from shapes: what an export traces with and what validation feeds.

Values respect the model's config (token ids below ``vocab_size``, type ids below
``type_vocab_size``) so that an embedding lookup never goes out of range, and come from a
seeded generator so a failing validation can be reproduced.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from typing import Any

#: The kinds of dummy input that hold floating-point values (the others hold integers).
FLOAT_KINDS = frozenset({"float", "zero", "flattened_patches"})
#: Image dimensions: moved by a whole 32-pixel stride between the traced and the validated shapes.
IMAGE_DIMENSIONS = ("height", "width")


@dataclass(frozen=True)
class DummyShapes:
    """Sizes of every named dimension a dummy input may have."""

    batch_size: int = 2
    sequence_length: int = 16
    num_choices: int = 4
    past_sequence_length: int = 7
    encoder_sequence_length: int = 16
    decoder_sequence_length: int = 5
    past_decoder_sequence_length: int = 7
    encoder_output_length: int = 4
    height: int = 64
    width: int = 64
    #: Audio: one second at 16 kHz (validated at 15995 samples: a length no convolution stride divides).
    num_samples: int = 16000
    #: Spectrogram frames (a text-to-speech postnet's input).
    num_frames: int = 24
    #: Texts compared with images (zero-shot image classification: one row of logits per text).
    text_batch_size: int = 3
    #: Image patches a patch encoder reads (Pix2Struct's ``max_patches``), padding included.
    max_patches: int = 16
    #: Prompts per image of a promptable mask generator (SAM: one set of masks per prompt).
    point_batch_size: int = 2
    #: Points in one prompt.
    num_points: int = 3

    def size_of(self, axis: str | int) -> int:
        """The size of a named dimension, a sum of them (``"a + b"``), or a fixed size."""
        if isinstance(axis, int):
            return axis
        if "+" in axis:
            return sum(self.size_of(part.strip()) for part in axis.split("+"))
        if not hasattr(self, axis):
            raise KeyError(f"No dummy size for dimension {axis!r}; known: {[f.name for f in fields(self)]}.")
        return int(getattr(self, axis))

    def with_sizes(self, **sizes: int | None) -> DummyShapes:
        return replace(self, **{k: v for k, v in sizes.items() if v is not None})


#: The shapes an export traces with. Validation uses :func:`validation_shapes_for` of them, which
#: differ in every dimension, so an axis wrongly frozen to its traced size is caught.
EXPORT_SHAPES = DummyShapes()


def validation_shapes_for(shapes: DummyShapes) -> DummyShapes:
    """Every dimension moved off its traced size: one larger, or smaller for sequence-like sizes."""
    changed = {}
    for f in fields(shapes):
        size = int(getattr(shapes, f.name))
        if f.name in IMAGE_DIMENSIONS:  # keep images a multiple of the usual 32-pixel stride
            changed[f.name] = size + 32
        else:
            changed[f.name] = size - 5 if size > 8 else size + 1
    return DummyShapes(**changed)


def _vocab_size(config: Any) -> int:
    """The number of token ids random text may use (100 where the config does not say)."""
    return int(getattr(config, "vocab_size", 100) or 100)


def generate_array(kind: str, shape: tuple[int, ...], config: Any, dtype: str, rng: Any) -> Any:
    """One dummy array of ``kind`` (``token_ids``, ``attention_mask``, ``token_type_ids``, ``float``, ``zero``,
    ``flattened_patches``...)."""
    import numpy as np

    if kind == "token_ids":
        return rng.integers(0, _vocab_size(config), size=shape, dtype=np.int64).astype(dtype)
    if kind == "token_ids_ending_eos":  # one end-of-sequence token, last in every row (BART-style classifiers)
        eos = int(getattr(config, "eos_token_id", 2))
        ids = rng.integers(0, _vocab_size(config) - 1, size=shape, dtype=np.int64)
        ids[ids >= eos] += 1  # no end-of-sequence token anywhere else
        ids[..., -1] = eos
        return ids.astype(dtype)
    if kind == "attention_mask":
        mask = np.ones(shape, dtype=dtype)
        if len(shape) >= 2 and shape[-1] > 2 and shape[0] > 1:
            mask[-1, ..., -2:] = 0  # right padding on one row exercises the mask
        return mask
    if kind == "token_type_ids":
        high = max(int(getattr(config, "type_vocab_size", 1) or 1), 1)
        return rng.integers(0, high, size=shape, dtype=np.int64).astype(dtype)
    if kind == "bbox":  # boxes on the page: x0 <= x1, y0 <= y1, inside the 2-D position table
        side = max(int(getattr(config, "max_2d_position_embeddings", 1024) or 1024) // 2, 1)
        corner = rng.integers(0, side, size=(*shape[:-1], 2), dtype=np.int64)
        extent = rng.integers(0, side, size=(*shape[:-1], 2), dtype=np.int64)
        return np.concatenate([corner, corner + extent], axis=-1).astype(dtype)
    if kind == "timesteps":  # a trajectory's step indices: below the episode length its embedding table holds
        high = max(int(getattr(config, "max_ep_len", 1) or 1), 1)
        return rng.integers(0, high, size=shape, dtype=np.int64).astype(dtype)
    if kind == "float":
        return rng.standard_normal(size=shape).astype(dtype)
    if kind == "zero":  # a rate or switch validated at zero (SpeechT5's prenet dropout: off to compare numbers)
        return np.zeros(shape, dtype=dtype)
    if kind == "flattened_patches":
        return flattened_patches(
            generate_array("attention_mask", shape[:-1], config, "int64", rng), shape[-1], rng, dtype
        )
    if kind.startswith("position_ids"):  # "position_ids+N": positions N, N + 1, ... after a past of N
        start = int(kind.partition("+")[2] or 0)
        return np.broadcast_to(np.arange(start, start + shape[-1], dtype=dtype), shape).copy()
    raise ValueError(f"Unknown dummy input kind {kind!r}.")


def flattened_patches(mask: Any, width: int, rng: Any, dtype: str) -> Any:
    """Patches as Pix2Struct's processor lays them out, for the patch ``mask`` (batch, max_patches).

    Each row is one patch: its row and column index on the image's grid of patches, counted from 1, then
    ``width - 2`` pixel values (normalised: standard normal). Where the mask is 0 the patch is padding, all
    zeros, indices included. Each image's patches fill a grid about as wide as high, row by row.
    """
    import numpy as np

    patches = np.zeros((*mask.shape, width), dtype=dtype)
    for image, row_mask in enumerate(mask):
        positions = np.flatnonzero(row_mask)
        columns = max(1, int(np.ceil(np.sqrt(len(positions)))))
        index = np.arange(len(positions))
        patches[image, positions, 0] = index // columns + 1
        patches[image, positions, 1] = index % columns + 1
        patches[image, positions, 2:] = rng.standard_normal(size=(len(positions), width - 2))
    return patches
