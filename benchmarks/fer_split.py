"""The FER-2013 validation split: every choice is made on it, the public test split is used once.

A fixed, stratified 3,000-face split of ``train.npz`` (seed 0), stored as row indices in
``benchmarks/splits/fer2013-validation.json`` together with the number of rows and a SHA-256
digest of all the file names of ``train.npz``, so that a different copy of the training split
is refused instead of silently split differently. Generators and classifiers that are compared on the validation split train on the
rest of ``train.npz`` (25,709 faces).

    python benchmarks/fer_split.py --train ../shared/data/fer2013/train.npz   # wrote the file; refuses to rewrite it
"""

from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np

SPLIT_FILE = Path(__file__).resolve().parent / "splits" / "fer2013-validation.json"
N_VALIDATION = 3000
SEED = 0


def _names_digest(names) -> str:
    return hashlib.sha256("\n".join(map(str, names)).encode()).hexdigest()


def make_split(labels: np.ndarray, n: int = N_VALIDATION, seed: int = SEED) -> np.ndarray:
    """Sorted indices of a stratified sample of ``n`` rows (each class in proportion)."""
    from sklearn.model_selection import train_test_split

    _, val = train_test_split(np.arange(len(labels)), test_size=n, stratify=labels, random_state=seed)
    return np.sort(val)


def load_split(train_npz) -> dict:
    """``train.npz`` cut into ``"train"`` and ``"validation"`` parts: ``(images, labels)`` each.

    Raises ``ValueError`` when ``train_npz`` is not the copy the stored split was made from.
    """
    data = np.load(train_npz)
    stored = json.loads(SPLIT_FILE.read_text())
    val = np.asarray(stored["indices"], dtype=np.int64)
    if len(data["labels"]) != stored["n_rows"] or _names_digest(data["names"]) != stored["names_sha256"]:
        raise ValueError(
            f"{str(train_npz)!r} is not the FER-2013 train.npz the validation split was made from "
            f"({stored['n_rows']} rows, names sha256 {stored['names_sha256'][:12]}...)."
        )
    keep = np.ones(len(data["labels"]), dtype=bool)
    keep[val] = False
    X, y = data["images"], data["labels"]
    return {"train": (X[keep], y[keep]), "validation": (X[val], y[val]), "classes": [str(c) for c in data["classes"]]}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True, help="FER-2013 train.npz")
    parser.add_argument("--force", action="store_true", help="replace an existing split file (every result on it is lost)")
    args = parser.parse_args(argv)
    if SPLIT_FILE.exists() and not args.force:
        parser.error(f"{SPLIT_FILE} exists: the validation split is fixed. Pass --force to replace it.")
    data = np.load(args.train)
    val = make_split(data["labels"])
    SPLIT_FILE.parent.mkdir(exist_ok=True)
    SPLIT_FILE.write_text(
        json.dumps(
            {
                "description": "FER-2013 validation split: rows of train.npz, stratified, seed 0 (benchmarks/fer_split.py)",
                "n_rows": int(len(data["labels"])),
                "names_sha256": _names_digest(data["names"]),
                "class_counts": np.bincount(data["labels"][val], minlength=7).tolist(),
                "indices": val.tolist(),
            }
        )
        + "\n"
    )
    print(f"Wrote {SPLIT_FILE}: {len(val)} faces, per class {np.bincount(data['labels'][val]).tolist()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
