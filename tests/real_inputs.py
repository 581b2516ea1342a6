"""Real inputs for image and audio models: a photograph and a waveform of speech, prepared as users' processors do.

Random pixels and random samples exercise every path of a graph but not the values real data bring (the
smooth regions of a photo, the silences and formants of speech). Exports are also validated on:

* ``tests/data/speech.wav``: an English sentence spoken by eSpeak NG (see ``tests/data/README.md``), as a
  wav2vec2 feature extractor gives it to a model: zero mean, unit variance.
* a photograph scikit-learn ships (``sklearn/datasets/images/china.jpg``, CC-BY 2.0, read with Pillow):
  resized to the model's input size and normalised with ImageNet's mean and deviation, as image processors do;
  for Pix2Struct, cut into flattened patches by its own image processor.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
from ct2_checkpoint import read_wav_mono16k

DATA = Path(__file__).resolve().parent / "data"
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def speech_waveform() -> np.ndarray:
    """The real speech, (1, samples) float32, normalised to zero mean and unit variance."""
    samples = read_wav_mono16k(DATA / "speech.wav")
    return ((samples - samples.mean()) / np.sqrt(samples.var() + 1e-7))[None, :].astype(np.float32)


def photograph_path() -> Path | None:
    """scikit-learn's photograph of a temple, where scikit-learn and Pillow (which decodes it) are installed."""
    spec = importlib.util.find_spec("sklearn")
    if spec is None or spec.origin is None or importlib.util.find_spec("PIL") is None:
        return None
    path = Path(spec.origin).parent / "datasets" / "images" / "china.jpg"
    return path if path.is_file() else None


def photograph(height: int, width: int, channels: int = 3) -> np.ndarray:
    """The photograph as ``pixel_values``: (1, channels, height, width) float32, resized and normalised."""
    from PIL import Image

    path = photograph_path()
    if path is None:
        raise LookupError("the real photograph needs scikit-learn and Pillow (installed by the pt session)")
    with Image.open(path) as image:
        rgb = np.asarray(image.convert("RGB").resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32)
    pixels = (rgb / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    if channels == 1:
        pixels = pixels.mean(axis=-1, keepdims=True)
    return np.ascontiguousarray(pixels.transpose(2, 0, 1)[None, :channels]).astype(np.float32)


def photograph_patches(patch_side: int, max_patches: int) -> dict[str, np.ndarray]:
    """The photograph and a tall crop of it as Pix2Struct's image processor gives them: ``flattened_patches``
    (2, max_patches, 2 + patch pixels) and ``attention_mask``; the crop has fewer patches, so padding follows them."""
    import transformers
    from PIL import Image

    path = photograph_path()
    if path is None:
        raise LookupError("the real photograph needs scikit-learn and Pillow (installed by the pt session)")
    # transformers 5 names the Pillow processor apart (the default one wants torchvision); 4.x has only that one
    processor_class = getattr(transformers, "Pix2StructImageProcessorPil", transformers.Pix2StructImageProcessor)
    processor = processor_class(patch_size={"height": patch_side, "width": patch_side}, max_patches=max_patches)
    with Image.open(path) as image:
        photo = image.convert("RGB")
        images = [photo, photo.crop((0, 0, 120, 300))]
        batch = processor(images=images, return_tensors="np")
    return {
        "flattened_patches": np.asarray(batch["flattened_patches"], dtype=np.float32),
        "attention_mask": np.asarray(batch["attention_mask"], dtype=np.int64),
    }


def ctc_greedy(logits: np.ndarray, blank: int) -> list[list[int]]:
    """Greedy CTC decoding: the best label per frame, repeats collapsed, blanks dropped (as CTC tokenizers decode)."""
    decoded = []
    for row in logits.argmax(axis=-1):
        labels = [int(label) for i, label in enumerate(row) if i == 0 or label != row[i - 1]]
        decoded.append([label for label in labels if label != blank])
    return decoded
