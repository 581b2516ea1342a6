"""One job in the optimum client venv (see client_envs.py): load our export with the class people use, run it, and
run the PyTorch model it came from with the same transformers, so the two answers differ only by the export.

stdin: {"kind": ..., "export": folder, "source": folder, ...}; stdout: one JSON line {"client": ..., "torch": ...}.
"""

from __future__ import annotations

import json
import sys
import warnings

import numpy as np
import torch

warnings.filterwarnings("ignore")
job = json.loads(sys.stdin.read())
kind, export, source = job["kind"], job["export"], job.get("source")


def greedy(model, **inputs):
    kwargs = {"max_new_tokens": job["max_new_tokens"], "do_sample": False, "num_beams": 1, **job.get("generate", {})}
    with torch.inference_mode():
        return model.generate(**inputs, **kwargs).tolist()


def tensors(*names, dtype=torch.int64):
    return {name: torch.tensor(job[name], dtype=dtype) for name in names if name in job}


result: dict = {}
if kind == "seq2seq":
    from optimum.onnxruntime import ORTModelForSeq2SeqLM
    from transformers import AutoModelForSeq2SeqLM

    client = ORTModelForSeq2SeqLM.from_pretrained(export, use_cache=True)
    inputs = tensors("input_ids", "attention_mask")
    result = {
        "client": greedy(client, **inputs),
        "torch": greedy(AutoModelForSeq2SeqLM.from_pretrained(source), **inputs),
    }
    result["merged"] = bool(getattr(client.decoder, "is_merged", False))
elif kind == "speech":
    from optimum.onnxruntime import ORTModelForSpeechSeq2Seq
    from transformers import AutoModelForSpeechSeq2Seq, AutoProcessor

    client = ORTModelForSpeechSeq2Seq.from_pretrained(export, use_cache=True)
    inputs = tensors("input_features", dtype=torch.float32)
    result = {
        "client": greedy(client, **inputs),
        "torch": greedy(AutoModelForSpeechSeq2Seq.from_pretrained(source), **inputs),
    }
    if job.get("decode"):
        processor = AutoProcessor.from_pretrained(source)
        result["client_text"] = processor.batch_decode(result["client"], skip_special_tokens=True)
        result["torch_text"] = processor.batch_decode(result["torch"], skip_special_tokens=True)
elif kind == "causal-lm":
    from optimum.onnxruntime import ORTModelForCausalLM
    from transformers import AutoModelForCausalLM

    client = ORTModelForCausalLM.from_pretrained(export, use_cache=True)
    inputs = tensors("input_ids", "attention_mask")
    result = {
        "client": greedy(client, **inputs),
        "torch": greedy(AutoModelForCausalLM.from_pretrained(source), **inputs),
    }
elif kind in ("feature-extraction", "image-classification"):
    from optimum.onnxruntime import ORTModelForFeatureExtraction, ORTModelForImageClassification
    from transformers import AutoModel, AutoModelForImageClassification

    client_class, torch_class, output = (
        (ORTModelForFeatureExtraction, AutoModel, "last_hidden_state")
        if kind == "feature-extraction"
        else (ORTModelForImageClassification, AutoModelForImageClassification, "logits")
    )
    inputs = {
        **tensors("input_ids", "attention_mask", "token_type_ids"),
        **tensors("pixel_values", dtype=torch.float32),
    }
    client = client_class.from_pretrained(export)
    with torch.inference_mode():
        ours = getattr(client(**inputs), output)
        theirs = getattr(torch_class.from_pretrained(source)(**inputs), output)
    result = {"client": np.asarray(ours).tolist(), "torch": theirs.numpy().tolist()}
elif kind == "image-logits":  # a model whose framework runs elsewhere (timm): the client's logits alone
    from optimum.onnxruntime import ORTModelForImageClassification

    client = ORTModelForImageClassification.from_pretrained(export)
    with torch.inference_mode():
        logits = client(pixel_values=torch.tensor(job["pixel_values"], dtype=torch.float32)).logits
    result = {"client": np.asarray(logits).tolist()}
elif kind == "sentence-transformers":
    from sentence_transformers import SentenceTransformer

    client = SentenceTransformer(export, backend="onnx", device="cpu")
    reference = SentenceTransformer(source, device="cpu")
    result = {
        "client": client.encode(job["sentences"], convert_to_numpy=True).tolist(),
        "torch": reference.encode(job["sentences"], convert_to_numpy=True).tolist(),
        "backend": type(client[0].auto_model).__name__,
    }
else:
    raise SystemExit(f"unknown job kind {kind}")
print(json.dumps(result))
