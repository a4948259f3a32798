"""FER-2013 readers and class names.

Label order is the canonical CSV / torchvision order: angry, disgust, fear, happy, sad,
surprise, neutral. Sources that order classes differently (Kaggle image folders and most Hub
copies are alphabetical) are mapped by class name, never by position.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

__all__ = ["CLASSES", "load_npz", "load"]

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]


def _canonical_labels(labels: np.ndarray, names, source: str) -> np.ndarray:
    index = {name: i for i, name in enumerate(CLASSES)}
    names = [str(n).strip().lower() for n in names]
    unknown = [n for n in names if n not in index]
    if unknown:
        raise ValueError(f"{source}: unknown FER-2013 class names {unknown}; expected names from {CLASSES}.")
    mapping = np.array([index[n] for n in names], dtype=np.int64)
    return mapping[labels]


def load_npz(path) -> tuple[np.ndarray, np.ndarray]:
    """Read an ``.npz`` with ``images`` (N×48×48 uint8), ``labels`` and optional ``classes``.

    Returns images and labels in the canonical order (mapped by the file's class names).
    """
    path = Path(path)
    with np.load(path, allow_pickle=False) as data:
        for key in ("images", "labels"):
            if key not in data:
                raise ValueError(f"{path}: missing array {key!r}; found {sorted(data.files)}.")
        images, labels = data["images"], data["labels"].astype(np.int64)
        names = list(data["classes"]) if "classes" in data else CLASSES
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"{path}: expected images N×H×W and N labels; got {images.shape} and {labels.shape}.")
    if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
        raise ValueError(f"{path}: labels must lie in [0, {len(names) - 1}]; got {labels.min()}..{labels.max()}.")
    return images, _canonical_labels(labels, names, str(path))


def load(path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Read FER-2013 images (N×48×48 uint8) and canonical labels from ``path``."""
    path = Path(path)
    if path.suffix == ".npz":
        return load_npz(path)
    raise ValueError(f"{path}: unsupported FER-2013 source; expected an .npz file.")
