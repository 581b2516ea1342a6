"""TensorFlow task -> transformers AutoClass names (strings: nothing is imported here)."""

from __future__ import annotations

from types import MappingProxyType

#: Canonical base task -> TF AutoClass name. transformers 4.x only: 5.x has no TF classes.
TF_TASK_TO_AUTOCLASS: MappingProxyType[str, str | tuple[str, ...]] = MappingProxyType(
    {
        "default": "TFAutoModel",
        "causal-lm": "TFAutoModelForCausalLM",
        "masked-lm": "TFAutoModelForMaskedLM",
        "seq2seq-lm": "TFAutoModelForSeq2SeqLM",
        "sequence-classification": "TFAutoModelForSequenceClassification",
        "token-classification": "TFAutoModelForTokenClassification",
        "question-answering": "TFAutoModelForQuestionAnswering",
        "multiple-choice": "TFAutoModelForMultipleChoice",
        "semantic-segmentation": "TFAutoModelForSemanticSegmentation",
        # Beyond the task table of DESIGN.md, but transformers 4.x has it and exporters need it.
        "image-classification": "TFAutoModelForImageClassification",
        "audio-classification": "TFAutoModelForAudioClassification",
        "zero-shot-image-classification": "TFAutoModelForZeroShotImageClassification",
    }
)
