"""CGANOverSampler inside an imbalanced-learn pipeline, cross-validated against the usual baselines.

The digits data set that ships with scikit-learn (8×8 grey images), made imbalanced: digits 0-6
keep all their samples, digits 7, 8 and 9 keep 15 each. Each pipeline is scored by stratified
cross-validation (resampling happens inside each training fold only, as imblearn pipelines do).
The images go to CGANOverSampler as N×8×8 arrays, so it trains its convolutional cGAN.

    python examples/imblearn_pipeline.py           # about 3 minutes on 2 CPU cores
    python examples/imblearn_pipeline.py --quick   # a smoke run in seconds
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from imblearn.datasets import make_imbalance
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.pipeline import make_pipeline
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate
from sklearn.preprocessing import FunctionTransformer

from cganbalance import CGANOverSampler


def flatten(X):
    return X.reshape(len(X), -1) / 16.0


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 folds and a few training epochs")
    args = parser.parse_args(argv)

    digits = load_digits()
    X = digits.images.astype(np.float32)  # N×8×8, values 0..16
    y = digits.target
    counts = {d: (15 if d >= 7 else int((y == d).sum())) for d in range(10)}
    X, y = make_imbalance(X.reshape(len(X), -1), y, sampling_strategy=counts, random_state=0)
    X = X.reshape(-1, 8, 8)
    print(f"training data: {len(y)} images, per class {np.bincount(y).tolist()}")

    cgan = CGANOverSampler(random_state=0, epochs=3 if args.quick else 100, verbose=False)
    samplers = {
        "no resampling": None,
        "RandomOverSampler": RandomOverSampler(random_state=0),
        "SMOTE": SMOTE(random_state=0),
        "CGANOverSampler": cgan,
    }
    cv = StratifiedKFold(n_splits=2 if args.quick else 5, shuffle=True, random_state=0)
    print(f"{'sampler':<18} {'balanced acc':>14} {'macro-F1':>14} {'fit s':>7}")
    for name, sampler in samplers.items():
        steps = ([sampler] if sampler is not None else []) + [
            FunctionTransformer(flatten),
            LogisticRegression(max_iter=500),
        ]
        if sampler is not None and name != "CGANOverSampler":
            # the classic samplers need 2-D rows
            steps = [FunctionTransformer(flatten), sampler, LogisticRegression(max_iter=500)]
        start = time.perf_counter()
        scores = cross_validate(make_pipeline(*steps), X, y, cv=cv, scoring=["balanced_accuracy", "f1_macro"])
        seconds = (time.perf_counter() - start) / cv.get_n_splits()
        bacc, f1 = scores["test_balanced_accuracy"], scores["test_f1_macro"]
        print(f"{name:<18} {bacc.mean():>7.3f} ± {bacc.std():.3f} {f1.mean():>7.3f} ± {f1.std():.3f} {seconds:>7.1f}")


if __name__ == "__main__":
    main()
