"""A GGUF checkpoint (llama.cpp's format) turned into a transformers folder, for the real-checkpoint tests.

transformers reads GGUF itself (``from_pretrained(..., gguf_file=...)``, through the ``gguf`` package,
de-quantizing every tensor to float32) but refuses ``save_pretrained`` on the result, as it still
counts as quantized. The weights it produced are plain float32 tensors, so they are saved directly
with the config minus its quantization entry: the folder then loads like any checkpoint.
"""

from __future__ import annotations

from pathlib import Path


def causal_lm_from_gguf(gguf_file: Path, out_dir: Path) -> Path:
    """Write ``out_dir`` (config, float32 safetensors, tokenizer, generation config) from ``gguf_file``."""
    from safetensors.torch import save_file
    from transformers import AutoModelForCausalLM, AutoTokenizer

    model = AutoModelForCausalLM.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    tokenizer = AutoTokenizer.from_pretrained(str(gguf_file.parent), gguf_file=gguf_file.name)
    out_dir.mkdir(parents=True, exist_ok=True)
    tied = {"lm_head.weight"} if model.config.tie_word_embeddings else set()
    weights = {name: tensor.contiguous() for name, tensor in model.state_dict().items() if name not in tied}
    save_file(weights, str(out_dir / "model.safetensors"), metadata={"format": "pt"})
    config = model.config
    config.architectures = [type(model).__name__]  # as the Hub's config.json names it (a GGUF file does not)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.save_pretrained(out_dir)
    model.generation_config.save_pretrained(out_dir)
    tokenizer.save_pretrained(out_dir)
    return out_dir
