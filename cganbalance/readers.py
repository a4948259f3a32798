"""Labelled images from any source ``cganbalance train`` reads: FER-2013 releases, class folders,
``.npz`` files and Hugging Face datasets.

:func:`load_labelled_images` returns uint8 images (N×H×W grey or N×H×W×C), integer labels and the
class names. FER-2013 sources (its CSVs, the Kaggle folders, ``.npz`` files with its seven classes
at 48×48) are read by :mod:`cganbalance.fer2013`, exactly as before, with its split rules.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from . import fer2013
from ._utils.labels import class_key

__all__ = ["load_labelled_images"]

_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm", ".ppm"}
_HF_MARKERS = ("dataset_info.json", "state.json", "dataset_dict.json")


def load_labelled_images(source, split: str = "train") -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images, integer labels and class names from ``source``.

    Parameters
    ----------
    source : str or path-like
        - a FER-2013 source (see :func:`cganbalance.fer2013.load`);
        - a folder of class folders (``ImageFolder`` layout: ``root/<class>/<image>``), or one with
          ``train/`` and ``test/`` (or ``val/``) folders of class folders; images of one size,
          read as grey when all are grey, else as RGB;
        - an ``.npz`` with ``images`` (N×H×W or N×H×W×C, C in 1, 3, 4) and ``labels`` (integers,
          or strings), and optionally ``classes`` (the names of integer labels);
        - a folder written by ``datasets.Dataset.save_to_disk``, or a Hugging Face dataset repo
          id (needs the ``datasets`` extra): its first image column and a ``ClassLabel`` (or
          ``label``/``labels``) column.
    split : str
        FER-2013 split rules for FER-2013 sources; for other folders ``"train"`` reads ``train/``
        and any other value ``test/`` (or ``val/``) when they exist; for Hugging Face datasets, the
        split of that name.

    Returns
    -------
    images : ndarray of uint8, shape (N, H, W) or (N, H, W, C)
    labels : ndarray of int64, shape (N,)
    classes : list of str
        ``classes[labels[i]]`` names image ``i``'s class.
    """
    if not isinstance(source, (str, os.PathLike)):
        raise TypeError(f"`source` must be a path or a Hugging Face repo id. Got {type(source).__name__} instead.")
    path = Path(source)
    if path.is_file() and path.suffix.lower() == ".npz":
        images, labels, classes, named = _read_npz(path)
        if _is_fer(images, classes, named):
            images, labels = fer2013.load(path, split)
            return images, labels, list(fer2013.CLASSES)
        return images, labels, classes
    if path.is_file() and path.suffix.lower() == ".csv":
        return (*fer2013.load(path, split), list(fer2013.CLASSES))
    if path.is_dir():
        if any((path / m).is_file() for m in _HF_MARKERS):
            return _read_hf(path, split)
        if any((path / n).is_file() for n in ("fer2013.csv", "icml_face_data.csv", "train.csv", "test.csv")):
            return (*fer2013.load(path, split), list(fer2013.CLASSES))
        return _read_class_folders(path, split)
    if path.exists():
        raise ValueError(f"{path}: unsupported file; expected an .npz, a FER-2013 .csv, a folder or a Hub dataset id.")
    if str(source).count("/") == 1 and not str(source).startswith((".", "/")):
        return _read_hf(str(source), split)
    raise ValueError(f"{source}: no such file or folder (nor a Hugging Face dataset id 'owner/name').")


def _is_fer(images: np.ndarray, classes: list[str], named: bool) -> bool:
    """48×48 grey faces with FER-2013's class names (or up to seven unnamed classes, read as FER-2013's, as before)."""
    if images.ndim != 3 or images.shape[1:] != (48, 48):
        return False
    if not named:
        return len(classes) <= len(fer2013.CLASSES)
    return sorted(class_key(c) for c in classes) == sorted(class_key(c) for c in fer2013.CLASSES)


def _as_uint8_images(images: np.ndarray, source: str) -> np.ndarray:
    if images.ndim == 4 and images.shape[-1] == 1:
        images = images[..., 0]
    if images.ndim not in (3, 4) or (images.ndim == 4 and images.shape[-1] not in (3, 4)):
        raise ValueError(f"{source}: `images` must be N×H×W or N×H×W×C with C in 1, 3, 4. Got shape {images.shape} instead.")
    if images.dtype != np.uint8:
        raise ValueError(f"{source}: `images` must be uint8 (0..255). Got {images.dtype} instead.")
    return images


def _read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, list[str], bool]:
    """Images, labels, class names, and whether the file named its classes."""
    with np.load(path, allow_pickle=False) as data:
        missing = [k for k in ("images", "labels") if k not in data]
        if missing:
            raise ValueError(f"{path}: missing array(s) {missing}; found {sorted(data.files)}.")
        images, labels = data["images"], data["labels"]
        classes = [str(c) for c in data["classes"]] if "classes" in data else None
    named = classes is not None
    images = _as_uint8_images(images, str(path))
    if labels.ndim != 1 or len(labels) != len(images):
        raise ValueError(f"{path}: `labels` must hold one label per image ({len(images)}). Got shape {labels.shape} instead.")
    if labels.dtype.kind in "iu":
        if classes is None:
            classes = [str(c) for c in range(int(labels.max()) + 1 if labels.size else 0)]
        if labels.size and (labels.min() < 0 or labels.max() >= len(classes)):
            raise ValueError(f"{path}: `labels` must lie in [0, {len(classes) - 1}] (one per `classes` name). "
                             f"Got {labels.min()}..{labels.max()} instead.")
        return images, labels.astype(np.int64), classes, named
    if labels.dtype.kind in "US":
        names, index = np.unique(labels.astype(str), return_inverse=True)
        return images, index.astype(np.int64), [str(n) for n in names], True
    raise ValueError(f"{path}: `labels` must be integers or strings. Got {labels.dtype} instead.")


def _read_class_folders(root: Path, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    folder = root
    if (root / "train").is_dir():
        other = next((root / n for n in ("test", "val") if (root / n).is_dir()), None)
        folder = root / "train" if split == "train" else other
        if folder is None:
            raise ValueError(f"{root}: split={split!r} is read from test/ or val/, and neither exists.")
    classes = sorted(e.name for e in folder.iterdir() if e.is_dir() and not e.name.startswith("."))
    if not classes:
        raise ValueError(f"{folder}: no class folders; expected one folder of images per class (ImageFolder layout).")
    if sorted(class_key(c) for c in classes) == sorted(class_key(c) for c in fer2013.CLASSES):
        return (*fer2013.load_image_folder(root, split), list(fer2013.CLASSES))
    files, labels = [], []
    for label, name in enumerate(classes):
        found = sorted(f for f in (folder / name).iterdir() if f.suffix.lower() in _IMAGE_SUFFIXES)
        files += found
        labels += [label] * len(found)
    if not files:
        raise ValueError(f"{folder}: the class folders hold no images ({sorted(_IMAGE_SUFFIXES)}).")
    return _stack([_open(f) for f in files], [str(f) for f in files]), np.asarray(labels, dtype=np.int64), classes


def _open(path):
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            return img.copy()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc}).") from None


def _stack(pictures, names: list[str]) -> np.ndarray:
    """PIL images as one uint8 array: grey when every one is, else RGB; all of the first one's size."""
    grey = all(p.mode in ("L", "1", "I;16", "I", "F") for p in pictures)
    size = pictures[0].size
    for p, name in zip(pictures, names):
        if p.size != size:
            raise ValueError(f"{name}: images must all have one size; this one is {p.size[0]}×{p.size[1]}, "
                             f"the first {size[0]}×{size[1]}. Resize them first.")
    return np.stack([np.asarray(p.convert("L" if grey else "RGB")) for p in pictures])


def _read_hf(source, split: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    try:
        import datasets
    except ImportError:
        raise ValueError(f"{source}: reading a Hugging Face dataset needs `pip install cganbalance[datasets]`.") from None
    if isinstance(source, Path):
        ds = datasets.load_from_disk(str(source))
    else:
        ds = datasets.load_dataset(source)
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise ValueError(f"{source}: no split {split!r}; the splits are {list(ds)}.")
        ds = ds[split]
    features = ds.features
    images = [n for n, f in features.items() if isinstance(f, datasets.Image)]
    labels = [n for n, f in features.items() if isinstance(f, datasets.ClassLabel)] or [
        n for n in ("label", "labels") if n in features]
    if not images or not labels:
        raise ValueError(f"{source}: needs an image column and a ClassLabel (or 'label') column; "
                         f"the columns are {dict(features)}.")
    label_feature = features[labels[0]]
    values = np.asarray(ds[labels[0]])
    if isinstance(label_feature, datasets.ClassLabel):
        classes, codes = list(label_feature.names), values.astype(np.int64)
    else:
        names, codes = np.unique(values.astype(str), return_inverse=True)
        classes = [str(n) for n in names]
    pictures = list(ds[images[0]])
    return _stack(pictures, [f"{source} row {i}" for i in range(len(pictures))]), codes.astype(np.int64), classes
