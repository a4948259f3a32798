"""FER-2013 readers, class names and a torchvision-style dataset.

Label order is the canonical CSV / torchvision order: angry, disgust, fear, happy, sad,
surprise, neutral. Sources that order classes differently (Kaggle image folders and most Hub
copies are alphabetical) are mapped by class name, never by position.

Every reader returns ``(images, labels)``: ``images`` a uint8 array N×48×48, ``labels`` int64
canonical indices (:data:`UNLABELLED`, -1, for rows of a CSV without an ``emotion`` column).

Sources (:func:`load` picks the reader from what it is given):

* ``.npz`` with ``images``, ``labels`` and optional ``classes`` and ``names`` (:func:`load_npz`);
* Kaggle CSVs (:func:`load_csv`): ``fer2013.csv`` (``emotion,pixels,Usage``),
  ``icml_face_data.csv`` (``emotion, Usage, pixels``, with leading spaces), ``train.csv``
  (``emotion,pixels``) and ``test.csv`` (``pixels`` only, or with ``emotion``);
* Kaggle image folders ``root/train/<class>/*.jpg`` and ``root/test/<class>/*.jpg``, or a
  single folder of class folders (:func:`load_image_folder`);
* a folder holding one of the CSVs above;
* a Hugging Face ``datasets.Dataset`` (or ``DatasetDict``) with an image column and a
  ``ClassLabel`` column (:func:`load_hf_dataset`).

Splits are ``"train"``, ``"public_test"``, ``"private_test"`` (the CSV ``Usage`` values
Training, PublicTest and PrivateTest) and ``"test"`` (public and private test together, the
Kaggle ``test`` folder / ``test.csv``). A source whose rows carry their split (a ``Usage``
column; file names such as ``PublicTest_123.jpg``; ``train/`` and ``test/`` folders) is filtered
by ``split``. A source that holds a single split, or does not say which, is returned whole, so
``load("public_test.npz")`` reads the public test set; asking a source that holds one known split
for another split than that one or the default ``"train"`` is an error (``load("train.npz",
split="public_test")`` would otherwise return training faces as test faces).
"""

from __future__ import annotations

import csv
import os
import warnings
from pathlib import Path

import numpy as np
from torchvision.datasets import VisionDataset

from ._utils.labels import class_key, lookup, name_index

__all__ = [
    "CLASSES",
    "FER2013",
    "SPLITS",
    "UNLABELLED",
    "load",
    "load_csv",
    "load_hf_dataset",
    "load_image_folder",
    "load_npz",
]

CLASSES = ["angry", "disgust", "fear", "happy", "sad", "surprise", "neutral"]
SPLITS = ("train", "public_test", "private_test", "test")
#: Label of rows whose source has no labels (a ``test.csv`` without ``emotion``).
UNLABELLED = -1
IMAGE_SIZE = 48

_USAGES = {"training": "train", "publictest": "public_test", "privatetest": "private_test"}
_IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".pgm"}


def _check_split(split) -> str:
    if split not in SPLITS:
        raise ValueError(f"`split` must be one of {list(SPLITS)}. Got {split!r} instead.")
    return split


def _usage_split(value: str) -> str | None:
    """The split a ``Usage`` value or a file-name prefix names, or None."""
    return _USAGES.get(str(value).strip().lower())


def _split_mask(row_splits: list, split: str, source: str) -> np.ndarray:
    """Rows of ``split``; everything when the source holds one split or does not say."""
    held = sorted({s for s in row_splits if s is not None}, key=SPLITS.index)
    wanted = {"public_test", "private_test"} if split == "test" else {split}
    if len(held) == 1 and split != "train" and held[0] not in wanted:  # asking test data of a training file
        raise ValueError(f"{source}: holds only split {held[0]!r}, not split={split!r}.")
    if len(held) <= 1:
        return np.ones(len(row_splits), dtype=bool)
    mask = np.array([s is None or s in wanted for s in row_splits], dtype=bool)
    if not any(s in wanted for s in held):
        raise ValueError(f"{source}: holds the splits {held} but not split={split!r}.")
    return mask


def _class_map(names, source: str) -> np.ndarray:
    """Canonical index of each of ``names`` (matched case- and space-insensitively)."""
    return lookup(names, CLASSES, f"{source}: the class names", "the FER-2013 classes")


def _empty() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8), np.zeros(0, dtype=np.int64)


# -- npz -------------------------------------------------------------------------------------
def _read_npz(path: Path):
    with np.load(path, allow_pickle=False) as data:
        for key in ("images", "labels"):
            if key not in data:
                raise ValueError(f"{path}: missing array {key!r}; found {sorted(data.files)}.")
        images, labels = data["images"], data["labels"]
        names = list(data["classes"]) if "classes" in data else CLASSES
        files = [str(n) for n in data["names"]] if "names" in data else None
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"{path}: expected images N×H×W and N labels; got {images.shape} and {labels.shape}.")
    if images.dtype != np.uint8:
        raise ValueError(f"{path}: `images` must be uint8. Got {images.dtype} instead.")
    if labels.dtype.kind not in "iu":
        raise ValueError(f"{path}: `labels` must be integers. Got {labels.dtype} instead.")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(names)):
        raise ValueError(f"{path}: labels must lie in [0, {len(names) - 1}]; got {labels.min()}..{labels.max()}.")
    return images, _class_map(names, str(path))[labels], files


def load_npz(path) -> tuple[np.ndarray, np.ndarray]:
    """Read an ``.npz`` with ``images`` (N×48×48 uint8), ``labels`` and optional ``classes``.

    Parameters
    ----------
    path : str or path-like
        The file, in the layout of ``../shared/data/fer2013/*.npz`` (``images``, ``labels``,
        ``names``, ``classes``).

    Returns
    -------
    images : ndarray of shape (N, H, W), uint8
    labels : ndarray of shape (N,), int64
        Canonical indices, mapped by the file's ``classes`` names (canonical order without them).
    """
    images, labels, _ = _read_npz(Path(path))
    return images, labels


# -- CSV -------------------------------------------------------------------------------------
def _parse_pixels(text: str, source: str) -> np.ndarray:
    # np.fromstring is ~4x faster than str.split; warnings are errors here (see load_csv), so a
    # malformed row falls back to the precise parser, which names the offending token.
    try:
        values = np.fromstring(text, dtype=np.int64, sep=" ")
    except (DeprecationWarning, ValueError):
        values = None
    if values is None or values.size != IMAGE_SIZE * IMAGE_SIZE:
        tokens = text.split()
        try:
            values = np.array(tokens, dtype=np.int64)
        except ValueError:
            bad = next(t for t in tokens if not t.lstrip("-").isdigit())
            raise ValueError(f"{source}: `pixels` holds a non-integer value {bad!r}.") from None
        if values.size != IMAGE_SIZE * IMAGE_SIZE:
            raise ValueError(
                f"{source}: `pixels` must hold {IMAGE_SIZE * IMAGE_SIZE} values ({IMAGE_SIZE}×{IMAGE_SIZE}). "
                f"Got {values.size} instead."
            )
    if values.min() < 0 or values.max() > 255:
        raise ValueError(f"{source}: pixel values must lie in [0, 255]. Got {values.min()}..{values.max()}.")
    return values.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE)


def load_csv(path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Read a Kaggle FER-2013 CSV.

    Parameters
    ----------
    path : str or path-like
        ``fer2013.csv``, ``icml_face_data.csv``, ``train.csv`` or ``test.csv``. Column names are
        matched without surrounding spaces and case; ``pixels`` is required, ``emotion``
        (canonical indices 0–6) and ``Usage`` are optional.
    split : {"train", "public_test", "private_test", "test"}
        Rows to keep by their ``Usage``. A file without ``Usage``, or whose rows all have one
        ``Usage``, is read whole.

    Returns
    -------
    images : ndarray of shape (N, 48, 48), uint8
    labels : ndarray of shape (N,), int64
        Canonical indices; :data:`UNLABELLED` (-1) for every row when there is no ``emotion``.

    Raises
    ------
    ValueError
        Naming the file and the 1-based line for a missing column, a wrong number of fields or
        pixels, a pixel outside 0–255, an unknown ``emotion`` or ``Usage``, or the file when it
        holds no row of ``split``.
    """
    split = _check_split(split)
    path = Path(path)
    with open(path, newline="", encoding="utf-8-sig") as handle, warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        reader = csv.reader(handle)
        header = next(reader, None)
        if header is None:
            raise ValueError(f"{path}: the file is empty; expected a header line with a 'pixels' column.")
        columns = {name.strip().lower(): i for i, name in enumerate(header)}
        if "pixels" not in columns:
            raise ValueError(f"{path}, line 1: missing column 'pixels'; found columns {[h.strip() for h in header]}.")
        pixel_col, emotion_col, usage_col = columns["pixels"], columns.get("emotion"), columns.get("usage")
        images, labels, row_splits = [], [], []
        for row in reader:
            if not row:
                continue
            where = f"{path}, line {reader.line_num}"
            if len(row) != len(header):
                raise ValueError(f"{where}: expected {len(header)} fields {header}. Got {len(row)} instead.")
            row_split = None
            if usage_col is not None:
                row_split = _usage_split(row[usage_col])
                if row_split is None:
                    raise ValueError(
                        f"{where}: `Usage` must be Training, PublicTest or PrivateTest. Got {row[usage_col]!r} instead."
                    )
            label = UNLABELLED
            if emotion_col is not None:
                text = row[emotion_col].strip()
                if not text.isdigit() or int(text) >= len(CLASSES):
                    raise ValueError(
                        f"{where}: `emotion` must be an integer in [0, 6]. Got {row[emotion_col]!r} instead."
                    )
                label = int(text)
            # Parsed now (2.3 kB per row) rather than kept as text (9 kB), then filtered by split.
            images.append(_parse_pixels(row[pixel_col], where))
            labels.append(label)
            row_splits.append(row_split)
    mask = _split_mask(row_splits, split, str(path))
    if not mask.any():
        return _empty()
    return np.stack([im for im, keep in zip(images, mask) if keep]), np.asarray(labels, dtype=np.int64)[mask]


# -- image folders ---------------------------------------------------------------------------
def _read_image(path: Path) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            array = np.asarray(img.convert("L"))
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"{path}: not a readable image ({exc}).") from None
    if array.shape != (IMAGE_SIZE, IMAGE_SIZE):
        raise ValueError(
            f"{path}: FER-2013 images are {IMAGE_SIZE}×{IMAGE_SIZE}. Got {array.shape[1]}×{array.shape[0]} instead."
        )
    return array


def _read_class_tree(folder: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    files, labels, class_folders = [], [], 0
    index = name_index(CLASSES, "FER-2013 classes")
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if not entry.is_dir():
            raise ValueError(f"{entry}: unexpected file; {folder} must hold only class folders {CLASSES}.")
        if class_key(entry.name) not in index:
            raise ValueError(f"{entry}: unknown class folder {entry.name!r}; expected folders named {CLASSES}.")
        label = index[class_key(entry.name)]
        class_folders += 1
        for file in sorted(entry.iterdir()):
            if file.name.startswith("."):
                continue
            if file.is_dir():
                raise ValueError(f"{file}: unexpected folder inside class folder {entry}; expected image files.")
            files.append(file)
            labels.append(label)
    if not class_folders:
        raise ValueError(
            f"{folder}: no FER-2013 data; expected train/ and test/ folders, class folders {CLASSES} or a CSV."
        )
    mask = _split_mask(
        [_usage_split(f.name.split("_", 1)[0]) if "_" in f.name else None for f in files], split, str(folder)
    )
    files = [f for f, keep in zip(files, mask) if keep]
    if not files:
        return _empty()
    return np.stack([_read_image(f) for f in files]), np.asarray(labels, dtype=np.int64)[mask]


def load_image_folder(root, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Read the Kaggle image-folder release.

    Parameters
    ----------
    root : str or path-like
        A folder with ``train/<class>/*.jpg`` and ``test/<class>/*.jpg``, or a single folder of
        class folders. Class folders are matched to :data:`CLASSES` by name (the Kaggle folders
        are alphabetical; labels come out canonical). Hidden files are skipped.
    split : {"train", "public_test", "private_test", "test"}
        ``"train"`` reads ``train/``, the others ``test/``; ``"public_test"`` and
        ``"private_test"`` keep the files named ``PublicTest_*`` / ``PrivateTest_*`` when the
        folder holds both.

    Returns
    -------
    images : ndarray of shape (N, 48, 48), uint8
    labels : ndarray of shape (N,), int64

    Raises
    ------
    ValueError
        Naming the folder or file for an unknown class folder, a stray file, a file that is not
        a 48×48 image, or a missing ``train/`` / ``test/`` folder.
    """
    split = _check_split(split)
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"{root}: not a folder.")
    if (root / "train").is_dir() or (root / "test").is_dir():
        sub = root / ("train" if split == "train" else "test")
        if not sub.is_dir():
            raise ValueError(f"{root}: split={split!r} is read from {sub.name}/, which does not exist.")
        return _read_class_tree(sub, split)
    return _read_class_tree(root, split)


# -- Hugging Face datasets -------------------------------------------------------------------
def _hf_columns(ds, image_column, label_column, source: str) -> tuple[str, str]:
    import datasets

    features = ds.features
    if image_column is None:
        found = [name for name, f in features.items() if isinstance(f, datasets.Image)]
        if not found:
            raise ValueError(
                f"{source}: no column of type datasets.Image; columns are {list(features)}. Pass `image_column`."
            )
        image_column = found[0]
    if label_column is None:
        found = [name for name, f in features.items() if isinstance(f, datasets.ClassLabel)]
        if not found:
            raise ValueError(
                f"{source}: no ClassLabel column, so class names are unknown; columns are {dict(features)}. "
                "Cast the label column with `ds.cast_column(name, datasets.ClassLabel(names=...))`."
            )
        label_column = found[0]
    for role, name in (("image_column", image_column), ("label_column", label_column)):
        if name not in features:
            raise ValueError(f"{source}: `{role}={name!r}` is not a column; columns are {list(features)}.")
    if not isinstance(features[label_column], datasets.ClassLabel):
        raise TypeError(
            f"{source}: `label_column={label_column!r}` must be a ClassLabel (labels are mapped by class name). "
            f"Got {features[label_column]!r} instead."
        )
    return image_column, label_column


def load_hf_dataset(ds, split: str = "train", *, image_column=None, label_column=None) -> tuple[np.ndarray, np.ndarray]:
    """Read a Hugging Face ``datasets.Dataset`` of FER-2013 faces.

    Parameters
    ----------
    ds : datasets.Dataset or datasets.DatasetDict
        With an image column (``datasets.Image``) and a ``ClassLabel`` label column, whose
        names are mapped to :data:`CLASSES`. A ``DatasetDict`` is indexed by ``split``. A
        ``Usage`` column, if any, filters rows by ``split``.
    split : {"train", "public_test", "private_test", "test"}
    image_column, label_column : str, optional
        Column names; by default the first column of type ``Image`` / ``ClassLabel``.

    Returns
    -------
    images : ndarray of shape (N, 48, 48), uint8
    labels : ndarray of shape (N,), int64

    Raises
    ------
    ValueError
        For a missing column, a label column that is not a ``ClassLabel``, unknown class names,
        or an image that is not 48×48 (naming the 0-based row).
    """
    import datasets

    split = _check_split(split)
    if isinstance(ds, datasets.DatasetDict):
        if split not in ds:
            raise ValueError(f"DatasetDict has splits {list(ds)}; `split={split!r}` is not one of them.")
        ds = ds[split]
    if not isinstance(ds, datasets.Dataset):
        raise TypeError(f"`ds` must be a datasets.Dataset or DatasetDict. Got {type(ds).__name__} instead.")
    source = f"Dataset({ds.info.dataset_name or 'unnamed'}, {ds.num_rows} rows)"
    image_column, label_column = _hf_columns(ds, image_column, label_column, source)
    ds = ds.with_format(None)
    usage = next((c for c in ds.column_names if c.strip().lower() == "usage"), None)
    rows = np.arange(ds.num_rows)
    if usage is not None:
        row_splits = [_usage_split(u) for u in ds[usage]]
        if None in row_splits:
            bad = row_splits.index(None)
            raise ValueError(f"{source}, row {bad}: `{usage}` must be Training, PublicTest or PrivateTest.")
        rows = rows[_split_mask(row_splits, split, source)]
        ds = ds.select(rows)
    mapping = _class_map(ds.features[label_column].names, source)
    labels = np.asarray(ds[label_column], dtype=np.int64)
    if labels.size and labels.min() < 0:
        raise ValueError(f"{source}, row {rows[labels.argmin()]}: label {labels.min()} is missing or negative.")
    images = []
    for i, img in zip(rows, ds[image_column]):
        array = np.asarray(img.convert("L"))
        if array.shape != (IMAGE_SIZE, IMAGE_SIZE):
            raise ValueError(
                f"{source}, row {i}: FER-2013 images are {IMAGE_SIZE}×{IMAGE_SIZE}. Got {array.shape[1]}×{array.shape[0]}."
            )
        images.append(array)
    if not images:
        return _empty()
    return np.stack(images), mapping[labels]


# -- dispatch --------------------------------------------------------------------------------
_CSV_NAMES = ("fer2013.csv", "icml_face_data.csv")


def load(path, split: str = "train") -> tuple[np.ndarray, np.ndarray]:
    """Read FER-2013 images (N×48×48 uint8) and canonical labels from any supported source.

    Parameters
    ----------
    path : str, path-like, datasets.Dataset or datasets.DatasetDict
        An ``.npz`` or ``.csv`` file; a folder holding ``fer2013.csv``, ``icml_face_data.csv``
        or ``train.csv`` / ``test.csv``; a Kaggle image folder (``train/`` and ``test/`` of
        class folders, or class folders directly); or a Hugging Face dataset.
    split : {"train", "public_test", "private_test", "test"}
        See the module documentation: sources that hold several splits are filtered, sources
        that hold one are returned whole (an error when it is another split than ``split``,
        unless ``split`` is the default ``"train"``).

    Returns
    -------
    images : ndarray of shape (N, 48, 48), uint8
    labels : ndarray of shape (N,), int64

    Examples
    --------
    >>> from cganbalance import fer2013
    >>> images, labels = fer2013.load("fer2013.csv", split="public_test")  # doctest: +SKIP
    >>> [fer2013.CLASSES[i] for i in labels[:3]]  # doctest: +SKIP
    ['angry', 'happy', 'neutral']
    """
    split = _check_split(split)
    if not isinstance(path, (str, os.PathLike)):
        if type(path).__module__.startswith("datasets"):
            return load_hf_dataset(path, split)
        raise TypeError(f"`path` must be a file, a folder or a datasets.Dataset. Got {type(path).__name__} instead.")
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() == ".npz":
            images, labels, names = _read_npz(path)
            if names is not None:
                splits = [_usage_split(n.split("_", 1)[0]) if "_" in n else None for n in names]
                mask = _split_mask(splits, split, str(path))
                images, labels = images[mask], labels[mask]
            return images, labels
        if path.suffix.lower() == ".csv":
            return load_csv(path, split)
        raise ValueError(f"{path}: unsupported FER-2013 file; expected .npz or .csv, a folder or a datasets.Dataset.")
    if path.is_dir():
        for name in _CSV_NAMES:
            if (path / name).is_file():
                return load_csv(path / name, split)
        if not (path / "train").is_dir() and ((path / "train.csv").is_file() or (path / "test.csv").is_file()):
            csv_path = path / ("train.csv" if split == "train" else "test.csv")
            if not csv_path.is_file():
                raise ValueError(f"{path}: split={split!r} is read from {csv_path.name}, which does not exist.")
            return load_csv(csv_path, split)
        return load_image_folder(path, split)
    raise ValueError(f"{path}: no such file or folder.")


class FER2013(VisionDataset):
    """FER-2013 as a map-style torchvision dataset of ``(PIL "L" image, int label)``.

    Unlike ``torchvision.datasets.FER2013``, it reads every source :func:`load` reads and does
    not check file checksums. All images are held in memory (35,887 faces take 83 MB).

    Parameters
    ----------
    root : str, path-like, datasets.Dataset
        Anything :func:`load` accepts.
    split : {"train", "public_test", "private_test", "test"}
    transform : callable, optional
        Applied to the PIL image (``torchvision.transforms`` or ``transforms.v2``).
    target_transform : callable, optional
        Applied to the label.

    Attributes
    ----------
    data : ndarray of shape (N, 48, 48), uint8
    targets : list of int
        Canonical labels (-1 for unlabelled rows).
    classes : list of str
        :data:`CLASSES`.

    Examples
    --------
    >>> from cganbalance.fer2013 import FER2013
    >>> ds = FER2013("fer2013.csv", split="public_test")  # doctest: +SKIP
    >>> image, label = ds[0]  # doctest: +SKIP
    >>> image.size, ds.classes[label]  # doctest: +SKIP
    ((48, 48), 'angry')
    """

    classes = CLASSES

    def __init__(self, root, split: str = "train", transform=None, target_transform=None):
        self.split = _check_split(split)
        self.data, labels = load(root, split)
        self.targets = labels.tolist()
        super().__init__(
            root if isinstance(root, (str, os.PathLike)) else None,
            transform=transform,
            target_transform=target_transform,
        )

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, index: int):
        from PIL import Image

        image, target = Image.fromarray(self.data[index]), self.targets[index]
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def extra_repr(self) -> str:
        return f"Split: {self.split}"
