"""PyTorch task -> transformers AutoClass names (strings: nothing is imported here)."""

from __future__ import annotations

from types import MappingProxyType

#: Canonical base task -> AutoClass name, or names tried in order where transformers renamed one.
PT_TASK_TO_AUTOCLASS: MappingProxyType[str, str | tuple[str, ...]] = MappingProxyType(
    {
        "default": "AutoModel",
        "causal-lm": "AutoModelForCausalLM",
        "masked-lm": "AutoModelForMaskedLM",
        "seq2seq-lm": "AutoModelForSeq2SeqLM",
        "sequence-classification": "AutoModelForSequenceClassification",
        "token-classification": "AutoModelForTokenClassification",
        "question-answering": "AutoModelForQuestionAnswering",
        "multiple-choice": "AutoModelForMultipleChoice",
        "image-classification": "AutoModelForImageClassification",
        "object-detection": "AutoModelForObjectDetection",
        "image-segmentation": "AutoModelForImageSegmentation",
        "masked-im": "AutoModelForMaskedImageModeling",
        "semantic-segmentation": "AutoModelForSemanticSegmentation",
        "speech2seq-lm": "AutoModelForSpeechSeq2Seq",
    }
)
