"""Loading PyTorch models and generating with them; torch and transformers are imported inside the functions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, cast

from modelexport_core.transformers_plugin import PLAIN_GREEDY_KWARGS, Pretrained

_PICKLED_WEIGHTS = ("pytorch_model.bin", "pytorch_model.bin.index.json")
_SAFE_WEIGHTS = ("model.safetensors", "model.safetensors.index.json")


def prepare_import() -> None:
    """Nothing to set before transformers is imported for PyTorch."""


def _has_only_pickled_weights(model: str, subfolder: str) -> bool:
    directory = Path(model) / subfolder
    if not directory.is_dir():
        return False  # a Hub id: transformers picks safetensors when the repository has them
    names = {p.name for p in directory.iterdir()}
    return not names.intersection(_SAFE_WEIGHTS) and bool(names.intersection(_PICKLED_WEIGHTS))


def load_model(model_class: type, model: str, **kwargs: Any) -> Any:
    """``model_class.from_pretrained`` with safe defaults, the model in eval mode.

    Pickled ``.bin`` weights are only read with torch's ``weights_only`` unpickler, which
    transformers uses from torch 2.6 on; older torch is refused for them.
    """
    import torch

    subfolder = kwargs.get("subfolder") or ""
    if _has_only_pickled_weights(model, subfolder):
        from packaging.version import Version

        if Version(torch.__version__.split("+")[0]) < Version("2.6"):
            from modelexport_core.errors import FrameworkNotInstalledError

            raise FrameworkNotInstalledError(
                f"{model} has only pickled weights (pytorch_model.bin); loading them safely needs torch>=2.6."
            )
    kwargs = {k: v for k, v in kwargs.items() if v is not None and v != ""}
    kwargs.setdefault("trust_remote_code", False)
    with _quiet_progress_bars():
        loaded = cast(Pretrained, model_class).from_pretrained(model, **kwargs)
    rebuild_meta_tables(loaded)
    loaded.eval()
    return loaded


def rebuild_meta_tables(model: Any) -> None:
    """Give back the data of tensors that ``from_pretrained`` left on the meta device.

    transformers 5 builds a model on the meta device and then loads the weights; a tensor a module keeps as a
    plain attribute (neither parameter nor buffer) is in no checkpoint and stays without data. TrOCR's
    sinusoidal position table (its small checkpoints) is one: PyTorch itself then fails on the first forward.
    A table its module can compute again (``get_embedding``, the fairseq sinusoid) is rebuilt on the CPU;
    any other such tensor is refused with its name, before an export fails somewhere inside.
    """
    import torch

    for name, module in model.named_modules():
        for attribute, value in list(vars(module).items()):
            if not isinstance(value, torch.Tensor) or value.device.type != "meta":
                continue
            rebuild = getattr(module, "get_embedding", None)
            if attribute == "weights" and callable(rebuild):
                width, padding = getattr(module, "embedding_dim", value.shape[1]), getattr(module, "padding_idx", None)
                setattr(module, attribute, rebuild(value.shape[0], width, padding).to(value.dtype))
                continue
            from modelexport_core.errors import ModelLoadError

            raise ModelLoadError(
                f"Loading left {type(module).__name__} {name}.{attribute} without data (on the meta device): "
                "this transformers version cannot run the model."
            )


@contextlib.contextmanager
def _quiet_progress_bars() -> Iterator[None]:
    """No weight-loading progress bar between our progress lines; the user's setting is restored."""
    from transformers.utils import logging

    enabled = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if enabled:
            logging.enable_progress_bar()


def generate_greedy(model: Any, inputs: Mapping[str, Any], max_new_tokens: int, pad_token_id: int) -> Any:
    """Plain greedy ``generate`` on numpy inputs (ids and mask, or features): ``max_new_tokens`` argmax steps.

    Stopping at EOS and the logits processors a checkpoint's generation config may enable
    (forced BOS/EOS, bad words, repetition penalties...) are switched off, so that the tokens
    depend on the model's logits alone: what an exported model is checked against.
    """
    import torch
    from transformers import GenerationMixin

    tensors = {name: torch.from_numpy(value) for name, value in inputs.items()}
    with torch.inference_mode():
        # The generic generate, not a model's own override (Whisper's adds language/task prompts).
        output = GenerationMixin.generate(
            model,
            **tensors,
            max_new_tokens=max_new_tokens,
            pad_token_id=pad_token_id,
            **PLAIN_GREEDY_KWARGS,
        )
    return output.cpu().numpy()
