"""The one rule for class names: compared case- and space-insensitively, everywhere.

``"Happy"``, ``"happy"`` and ``" happy "`` name the same class in the sampler, the dataset
wrappers, the generator, the metrics and the FER-2013 readers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np


def class_key(name) -> str:
    """The form in which class names are compared: without white space, case-folded."""
    return "".join(str(name).split()).casefold()


def plain(value):
    """numpy scalars as plain Python values, for readable messages."""
    return value.item() if isinstance(value, np.generic) else value


def name_index(names: Sequence[str], what: str = "classes") -> dict[str, int]:
    """``{class_key(name): position}``; an error when two names differ only in case or spaces."""
    index: dict[str, int] = {}
    for i, name in enumerate(names):
        key = class_key(name)
        if key in index:
            raise ValueError(
                f"The {what} {list(names)} hold {names[index[key]]!r} and {name!r}, which name the same class "
                "(class names are compared case- and space-insensitively): spell each class one way."
            )
        index[key] = i
    return index


def lookup(names, known: Sequence[str], what: str, known_what: str) -> np.ndarray:
    """Position in ``known`` of each of ``names`` (by the one rule), or a ``ValueError`` that lists
    the names found nowhere: "{what} [...]: not among {known_what} [...]"."""
    index = name_index([str(k) for k in known], known_what.removeprefix("the "))
    missing = list(dict.fromkeys(str(n) for n in names if class_key(n) not in index))
    if missing:
        raise ValueError(
            f"{what} {missing!r}: not among {known_what} {list(known)} (class names match ignoring case and spaces)."
        )
    return np.array([index[class_key(n)] for n in names], dtype=np.int64)


def match_classes(labels, names: Sequence[str], what: str = "The generator's") -> np.ndarray:
    """Position in ``names`` of each of ``labels``: by class name, else (integers) by index.

    Raises ``ValueError`` naming the labels that match neither way.
    """
    labels = np.asarray(labels)
    names = [str(n) for n in names]
    index = name_index(names, f"{what[0].lower()}{what[1:]} classes")
    if labels.dtype.kind in "USO":
        name_index([str(label) for label in labels], "labels in y")  # "Happy" and "happy" in one y: refused
    by_name = [index.get(class_key(label)) for label in labels]
    if all(i is not None for i in by_name):
        return np.asarray(by_name, dtype=np.int64)
    integers = labels.dtype.kind in "iu"
    if integers and labels.min() >= 0 and labels.max() < len(names):
        return labels.astype(np.int64)
    if integers:  # integers that are not names are matched by position: only the out-of-range ones are wrong
        outside = [plain(label) for label, i in zip(labels, by_name) if i is None and not 0 <= label < len(names)]
        raise ValueError(
            f"{what} classes {names} do not cover the labels in y: integer labels are class indices, "
            f"which must lie in [0, {len(names) - 1}]. Got {outside!r}."
        )
    missing = [plain(label) for label, i in zip(labels, by_name) if i is None]
    raise ValueError(
        f"{what} classes {names} do not cover the labels in y: {missing!r} are not among its class "
        "names. Labels are matched by class name (ignoring case and spaces), or by index for integer labels."
    )
