"""Tiny sentence-transformers checkpoints, saved by the library itself (its current file format), and the tiny
BERT with a real word-piece tokenizer they wrap. Shared by the sentence-transformers tests, the option matrix and
the client tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import transformers
from tiny_models import save_pt_model

WORDS = ["a", "man", "is", "eating", "food", "the", "cat", "sat", "on", "mat", "paris", "capital", "of", "france"]


def tiny_bert(directory: Path) -> Path:
    save_pt_model(transformers.AutoModel, "bert", directory)
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]
    (directory / "vocab.txt").write_text("\n".join(vocab + [f"tok{i}" for i in range(99 - len(vocab))]) + "\n")
    transformers.BertTokenizerFast(vocab_file=str(directory / "vocab.txt")).save_pretrained(directory)
    return directory


def sentence_folder(root: Path, pooling: str | tuple[str, ...], dense: bool = False, normalize: bool = True) -> Path:
    """A tiny sentence-transformers checkpoint, laid out by the library: transformer, pooling[, dense][, normalize]."""
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.base.modules import Dense, Normalize, Transformer
    from sentence_transformers.sentence_transformer.modules import Pooling

    transformer = Transformer(str(tiny_bert(root / "bert")))
    modules: list[Any] = [transformer, Pooling(32, pooling_mode=pooling)]
    if dense:
        import torch

        torch.manual_seed(3)
        modules.append(Dense(modules[-1].get_embedding_dimension(), 16))
    if normalize:
        modules.append(Normalize())
    folder = root / "sentence"
    SentenceTransformer(modules=modules, device="cpu").save(str(folder))
    return folder
