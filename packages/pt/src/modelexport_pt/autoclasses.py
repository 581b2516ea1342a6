"""PyTorch task -> transformers AutoClass names (strings: nothing is imported here)."""

from __future__ import annotations

from types import MappingProxyType

#: Canonical base task -> AutoClass name, or names tried in order: where transformers renamed one, or where
#: one task has several (the first that maps the model type loads it).
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
        # DETR's boxes and masks; the universal segmenters (MaskFormer, Mask2Former) load through the second
        "image-segmentation": ("AutoModelForImageSegmentation", "AutoModelForUniversalSegmentation"),
        "masked-im": "AutoModelForMaskedImageModeling",
        "semantic-segmentation": "AutoModelForSemanticSegmentation",
        "speech2seq-lm": "AutoModelForSpeechSeq2Seq",
        "audio-ctc": "AutoModelForCTC",
        "audio-classification": "AutoModelForAudioClassification",
        "audio-frame-classification": "AutoModelForAudioFrameClassification",
        "audio-xvector": "AutoModelForAudioXVector",
        "zero-shot-image-classification": "AutoModelForZeroShotImageClassification",
        "zero-shot-object-detection": "AutoModelForZeroShotObjectDetection",
        # transformers 5 folds the vision-to-text auto class into the image-text-to-text one
        "vision2seq-lm": ("AutoModelForVision2Seq", "AutoModelForImageTextToText"),
        "depth-estimation": "AutoModelForDepthEstimation",
        "image-to-image": "AutoModelForImageToImage",
        # ViTPose: transformers 5 names its class a pose estimator, 4.x a keypoint detector
        "keypoint-detection": ("AutoModelForPoseEstimation", "AutoModelForKeypointDetection"),
        "mask-generation": "AutoModelForMaskGeneration",
        "text-to-audio": ("AutoModelForTextToWaveform", "AutoModelForTextToSpectrogram"),
        "time-series-forecasting": "AutoModelForTimeSeriesPrediction",
        # Decision Transformer's one class is its base model (AutoModel maps it)
        "reinforcement-learning": "AutoModel",
    }
)
