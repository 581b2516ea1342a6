"""Weights that several files of one export hold alike, stored once.

A split export converts the same module more than once: Whisper's ``decoder_model.onnx`` and
``decoder_with_past_model.onnx`` each carry every decoder weight, so whisper-base's three files held
486 MB for its 290 MB of weights. ONNX's external data lets files name one data file: every tensor
that is byte for byte the same in two or more files is written once to :data:`SHARED_DATA_NAME` and
each file points at its offset there. onnxruntime (and ``onnx.load``) read it relative to the file,
as any external data; the graphs themselves do not change.

Files already too large for one protobuf message keep their own data files and are left alone.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .postprocess import _graphs

#: The data file the tensors shared by several files of an export are written to.
SHARED_DATA_NAME = "shared_weights.onnx_data"
#: Smaller tensors stay in their files: an offset and a length cost more than they save.
MIN_SHARED_BYTES = 1024
#: Up to this many bytes of files, both passes read each file once.
KEEP_LOADED_BYTES = 1 << 30
#: Each tensor starts at a multiple of this in the data file (a page: memory-mappable).
ALIGNMENT = 4096

TensorKey = tuple[int, tuple[int, ...], bytes]


@dataclass(frozen=True)
class SharedWeights:
    """What :func:`share_weights` did: the data file written (``None``: nothing shared) and what it saved."""

    data_file: str | None = None
    tensors: int = 0
    saved_bytes: int = 0

    def describe(self) -> str:
        if self.data_file is None:
            return ""
        saved = self.saved_bytes / 1e6
        return f"{self.tensors} weights held by several files stored once in {self.data_file} ({saved:.0f} MB saved)"


def _inline_tensors(model: Any) -> Iterator[Any]:
    """The initializers of ``model`` (subgraphs too) that hold their bytes inline and are worth sharing."""
    for graph in _graphs(model.graph):
        for tensor in graph.initializer:
            # 1: EXTERNAL; ByteSize, not len(raw_data): reading raw_data copies the bytes
            if tensor.data_location != 1 and tensor.HasField("raw_data") and tensor.ByteSize() >= MIN_SHARED_BYTES:
                yield tensor


def _key(tensor: Any) -> TensorKey:
    return tensor.data_type, tuple(tensor.dims), hashlib.sha256(tensor.raw_data).digest()


def _has_external_data(model: Any) -> bool:
    return any(tensor.data_location == 1 for graph in _graphs(model.graph) for tensor in graph.initializer)


def _point_at(tensor: Any, location: str, offset: int, length: int) -> None:
    """Make ``tensor`` read its bytes from ``location`` at ``offset`` instead of holding them."""
    tensor.ClearField("raw_data")
    tensor.data_location = 1
    del tensor.external_data[:]
    for key, value in (("location", location), ("offset", str(offset)), ("length", str(length))):
        entry = tensor.external_data.add()
        entry.key, entry.value = key, value


def share_weights(directory: Path, names: Sequence[str], data_name: str = SHARED_DATA_NAME) -> SharedWeights:
    """Store once, in ``directory / data_name``, every tensor two or more of the files ``<name>.onnx`` hold.

    Two passes: which tensors recur (by type, shape and SHA-256 of their bytes), then each file rewritten to
    point at the data file, the recurring tensors appended as first met. The files stay in memory between the
    passes when together under :data:`KEEP_LOADED_BYTES`, else they are read again, one at a time.
    """
    import onnx

    paths = [directory / f"{name}.onnx" for name in names]
    if len(paths) < 2:
        return SharedWeights()
    keep = sum(path.stat().st_size for path in paths) <= KEEP_LOADED_BYTES
    loaded: dict[Path, Any] = {}
    keys: list[list[TensorKey]] = []  # per file, in the order its tensors are met (hashed once)
    for path in paths:
        model = onnx.load(str(path), load_external_data=False)
        if _has_external_data(model):
            return SharedWeights()
        keys.append([_key(tensor) for tensor in _inline_tensors(model)])
        if keep:
            loaded[path] = model
        del model
    files_holding = Counter(key for file_keys in keys for key in set(file_keys))
    shared = {key for key, count in files_holding.items() if count > 1}
    if not shared:
        return SharedWeights()

    placed: dict[TensorKey, tuple[int, int]] = {}
    saved = 0
    with open(directory / data_name, "wb") as data:
        for path, file_keys in zip(paths, keys, strict=True):
            model = loaded.pop(path, None) or onnx.load(str(path), load_external_data=False)
            for tensor, key in zip(list(_inline_tensors(model)), file_keys, strict=True):
                if key not in shared:
                    continue
                if key in placed:
                    saved += placed[key][1]
                else:
                    raw = tensor.raw_data
                    data.write(b"\0" * (-data.tell() % ALIGNMENT))
                    placed[key] = (data.tell(), len(raw))
                    data.write(raw)
                _point_at(tensor, data_name, *placed[key])
            path.write_bytes(model.SerializeToString())
            del model
    return SharedWeights(data_name, len(placed), saved)
