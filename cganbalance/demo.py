"""The two-minute tour behind ``cganbalance demo``: FER-2013 faces from the shipped generator, and
a small imbalanced table balanced with and without the cGAN inside a scikit-learn pipeline."""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import numpy as np
from imblearn.datasets import make_imbalance
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.pipeline import make_pipeline
from sklearn.datasets import load_wine
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score, f1_score
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler

from .hub import ALIASES, PRETRAINED_DIR, from_pretrained
from .over_sampling import CGANOverSampler
from .plots import sample_grid

__all__ = ["run"]


def run(out, quick: bool = False) -> int:
    """Write the face grid to ``out`` and print the table comparison (``quick``: a few epochs, 2 splits)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    face_grid(out)
    n_splits = 2 if quick else 5
    print(
        f"\n2. The wine data set; each of {n_splits} training splits made imbalanced (class 2 cut to 7 samples "
        "with imblearn.datasets.make_imbalance); scaler + logistic regression, scored on the untouched test split:"
    )
    scores: dict[str, list] = {}
    for split in range(n_splits):
        for name, row in compare_samplers(split, epochs=5 if quick else None).items():
            scores.setdefault(name, []).append(row)
    print_table(scores, n_splits)
    if quick:
        print("   (--quick: the cGAN trained 5 epochs, far below its default budget; its row is not representative.)")
    return 0


def face_grid(out: Path) -> None:
    if not (PRETRAINED_DIR / ALIASES["fer2013-cgan"].embedded / "model.safetensors").is_file():
        print("1. (the shipped FER-2013 generator is not in this install; skipping the face grid)")
        return
    path = sample_grid(from_pretrained("fer2013-cgan"), out / "fer2013_samples.png", n_per_class=8, random_state=0)
    print(f"1. FER-2013 faces from the shipped generator fer2013-cgan, one row per emotion: {path}")


def compare_samplers(split: int, epochs: int | None) -> dict[str, tuple]:
    """Balanced accuracy, macro-F1, class-2 F1 and fit seconds of each sampler on one split."""
    data = load_wine()
    X_train, X_test, y_train, y_test = train_test_split(
        data.data, data.target, test_size=0.4, stratify=data.target, random_state=split
    )
    X_train, y_train = make_imbalance(X_train, y_train, sampling_strategy={0: 35, 1: 42, 2: 7}, random_state=split)
    samplers = {
        "no resampling": None,
        "RandomOverSampler": RandomOverSampler(random_state=split),
        "SMOTE": SMOTE(random_state=split),
        "CGANOverSampler": CGANOverSampler(random_state=split, epochs=epochs, verbose=True),
    }
    rows = {}
    for name, sampler in samplers.items():
        steps = [StandardScaler()] + ([sampler] if sampler is not None else []) + [LogisticRegression(max_iter=2000)]
        start = time.perf_counter()
        pipe = make_pipeline(*steps).fit(X_train, y_train)
        seconds = time.perf_counter() - start
        pred = pipe.predict(X_test)
        rows[name] = (
            balanced_accuracy_score(y_test, pred),
            f1_score(y_test, pred, average="macro"),
            f1_score(y_test, pred, labels=[2], average="macro"),
            seconds,
        )
    if split == 0:
        after = Counter(y_train) + Counter(samplers["CGANOverSampler"].n_generated_)
        print(f"   training classes: before {dict(sorted(Counter(map(int, y_train)).items()))}, "
              f"after CGANOverSampler {dict(sorted((int(k), v) for k, v in after.items()))}")
    return rows


def print_table(scores: dict[str, list], n_splits: int) -> None:
    print()
    print(f"   {'sampler':<18} {'balanced acc':>15} {'macro-F1':>15} {'class-2 F1':>15} {'fit s':>6}")
    for name, rows in scores.items():
        m, sd = np.mean(rows, axis=0), np.std(rows, axis=0)
        cells = " ".join(f"{m[i]:>7.3f} ± {sd[i]:.3f}" for i in range(3))
        print(f"   {name:<18} {cells} {m[3]:>6.1f}")
    print(
        f"\n   Mean ± std over {n_splits} splits of a small data set: differences smaller than the spread are noise."
        "\n   A tour, not evidence; docs/benchmarks.md has the benchmarks (on small tables the cGAN gave no gain)."
    )
