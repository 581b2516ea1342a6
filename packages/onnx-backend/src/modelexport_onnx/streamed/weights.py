"""Weights straight from safetensors shards into the ONNX file's external data, one byte range at a time.

A model larger than the memory an export may use is traced with placeholder weights
(:mod:`..converters.pt.streamed`), its parameters left as graph inputs. Here each of those inputs becomes an
initializer whose bytes are copied from the checkpoint's shard into ``model.onnx_data`` in blocks: the weights
never sit in memory, neither as tensors nor in a protobuf. Nothing here imports a framework.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import onnx
from modelexport_pipeline.errors import ExportError

#: safetensors dtype -> ONNX element type; the bytes are the same layout in both.
ONNX_TYPES = {
    "F32": onnx.TensorProto.FLOAT,
    "F16": onnx.TensorProto.FLOAT16,
    "BF16": onnx.TensorProto.BFLOAT16,
    "F64": onnx.TensorProto.DOUBLE,
    "I64": onnx.TensorProto.INT64,
    "I32": onnx.TensorProto.INT32,
    "I8": onnx.TensorProto.INT8,
    "U8": onnx.TensorProto.UINT8,
    "BOOL": onnx.TensorProto.BOOL,
}
COPY_BLOCK = 16 * 2**20
ALIGNMENT = 4096


@dataclass(frozen=True)
class StoredTensor:
    """Where one tensor's bytes lie in a shard."""

    shard: Path
    dtype: str
    shape: tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


def read_header(shard: Path) -> dict[str, StoredTensor]:
    """The tensors of one ``.safetensors`` file (its JSON header only: 8 bytes of length, then the header)."""
    with shard.open("rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        header = json.loads(handle.read(length))
    base = 8 + length
    return {
        key: StoredTensor(
            shard, info["dtype"], tuple(info["shape"]), base + info["data_offsets"][0], base + info["data_offsets"][1]
        )
        for key, info in header.items()
        if key != "__metadata__"
    }


def checkpoint_index(directory: Path) -> dict[str, StoredTensor]:
    """Every tensor of the safetensors checkpoint in ``directory`` (one file or shards), by key."""
    shards = sorted(directory.glob("*.safetensors"))
    if not shards:
        raise ExportError(
            f"{directory} has no .safetensors weights: a model larger than the memory allowed is streamed from "
            "safetensors shards (save it with save_pretrained(safe_serialization=True))."
        )
    index: dict[str, StoredTensor] = {}
    for shard in shards:
        index.update(read_header(shard))
    return index


def attach_weights(
    onnx_path: Path, keys: Mapping[str, str], index: Mapping[str, StoredTensor], data_name: str
) -> list[str]:
    """Turn the graph inputs named in ``keys`` into initializers whose data is the checkpoint's ``keys[input]``.

    The bytes are copied shard range by shard range into ``data_name`` beside ``onnx_path`` (aligned); the model
    file, which holds no weights, is rewritten. Returns the initializer names, in data-file order.
    """
    model = onnx.load(str(onnx_path), load_external_data=False)
    graph = model.graph
    inputs = {value.name: value for value in graph.input}
    data_path = onnx_path.parent / data_name
    written: list[str] = []
    with data_path.open("wb") as data:
        for name, key in keys.items():
            if name not in inputs:
                continue  # traced away (an unused parameter)
            stored = index[key]
            if stored.dtype not in ONNX_TYPES:
                raise ExportError(f"{key}: safetensors dtype {stored.dtype} has no ONNX counterpart to stream into.")
            declared = inputs[name].type.tensor_type
            if declared.elem_type != ONNX_TYPES[stored.dtype] or list(stored.shape) != [
                d.dim_value for d in declared.shape.dim
            ]:
                raise ExportError(
                    f"{key} in {stored.shard.name} is {stored.dtype}{list(stored.shape)}, the model's {name} is not: "
                    "the checkpoint does not match the configuration."
                )
            offset = -data.tell() % ALIGNMENT
            data.write(b"\0" * offset)
            start = data.tell()
            _copy_range(stored, data)
            tensor = onnx.TensorProto(name=name, data_type=ONNX_TYPES[stored.dtype], dims=list(stored.shape))
            tensor.data_location = onnx.TensorProto.EXTERNAL
            for field, value in (("location", data_name), ("offset", str(start)), ("length", str(stored.nbytes))):
                entry = tensor.external_data.add()
                entry.key, entry.value = field, value
            graph.initializer.append(tensor)
            written.append(name)
    kept = [value for value in graph.input if value.name not in set(written)]
    del graph.input[:]
    graph.input.extend(kept)
    onnx.save(model, str(onnx_path))
    return written


def _copy_range(stored: StoredTensor, destination: object) -> None:
    with stored.shard.open("rb") as source:
        source.seek(stored.start)
        remaining = stored.nbytes
        while remaining:
            block = source.read(min(COPY_BLOCK, remaining))
            if not block:
                raise ExportError(f"{stored.shard} ends early: the shard is truncated.")
            destination.write(block)  # type: ignore[attr-defined]
            remaining -= len(block)
