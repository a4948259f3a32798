"""Balancing tabular data: no resampling, RandomOverSampler, SMOTE and CGANOverSampler compared.

Imbalanced versions of data sets that ship with scikit-learn (no download): the largest class
keeps all its rows and the others shrink geometrically down to ``--ratio`` times its size (never
below ``--min-count`` rows, so the training folds keep enough neighbours for SMOTE), drawn with
:func:`imblearn.datasets.make_imbalance`. For binary data the minority class is relabelled 1
(the positive class of PR-AUC).

Each data set is scored with stratified, repeated k-fold cross-validation; the sampler sits in an
imbalanced-learn ``Pipeline`` (StandardScaler -> sampler -> classifier), so resampling happens
inside the training folds only and the test folds are untouched real rows. Classifiers:
LogisticRegression and HistGradientBoostingClassifier. Scores: macro-F1, balanced accuracy,
PR-AUC (average precision of the minority class, binary data only) and the fit time of the
whole pipeline (resampling + training), mean ± sample standard deviation over the folds.
CGANOverSampler uses the ``mlp`` preset and its default budget (1,500 generator steps) unless
``--cgan-epochs`` is given. Every seed is fixed by ``--seed``.

Time: with the defaults (3 data sets, 5 folds × 3 repeats, 2 classifiers, 4 strategies) about
12 minutes on 2 cores, most of it the 90 cGAN trainings (one took 6.6 s on one thread of this
project's Xeon while another job held both cores) and the gradient boosting on 10-class
digits (about 2 minutes); ``--splits 2 --repeats 1 --cgan-epochs 2`` took 20 s on one thread.

    python benchmarks/tabular.py [--datasets breast_cancer wine digits] [--splits 5] \\
        [--repeats 3] [--ratio 0.1] [--seed 0] [--cgan-epochs N] [--docs docs/benchmarks.md]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no network
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _docs import HelpFormatter, command, machine, markers, mean_std, write_section
from imblearn.datasets import make_imbalance
from imblearn.over_sampling import SMOTE, RandomOverSampler
from imblearn.pipeline import Pipeline
from sklearn import datasets
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import RepeatedStratifiedKFold, cross_validate
from sklearn.preprocessing import StandardScaler

from cganbalance import CGANOverSampler

DATASETS = ("breast_cancer", "wine", "digits")
SAMPLERS = ("none", "RandomOverSampler", "SMOTE", "CGANOverSampler")
CLASSIFIERS = ("LogisticRegression", "HistGradientBoosting")
BEGIN, END = markers("tabular")


def imbalanced(name: str, *, ratio: float, min_count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``sklearn.datasets.load_<name>`` made imbalanced: class sizes fall geometrically from the
    largest class (kept whole) to ``ratio`` times its size, at least ``min_count`` rows each."""
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    classes, counts = np.unique(y, return_counts=True)
    order = sorted(range(len(classes)), key=lambda i: (-counts[i], classes[i]))  # largest first
    n_max, steps = counts[order[0]], max(len(classes) - 1, 1)
    target = {
        classes[i]: int(min(counts[i], max(min_count, round(n_max * ratio ** (rank / steps)))))
        for rank, i in enumerate(order)
    }
    X, y = make_imbalance(X, y, sampling_strategy=target, random_state=seed)
    if len(classes) == 2:
        y = (y == classes[order[-1]]).astype(int)  # the minority is the positive class
    return X, y


def make_sampler(name: str, seed: int, cgan_epochs: int | None):
    if name == "none":
        return "passthrough"
    if name == "RandomOverSampler":
        return RandomOverSampler(random_state=seed)
    if name == "SMOTE":
        return SMOTE(random_state=seed)
    if name == "CGANOverSampler":
        return CGANOverSampler(random_state=seed, epochs=cgan_epochs, device="cpu")
    raise ValueError(f"`name` must be one of {SAMPLERS}. Got {name!r} instead.")


def make_classifier(name: str, seed: int):
    if name == "LogisticRegression":
        return LogisticRegression(max_iter=5000)
    if name == "HistGradientBoosting":
        return HistGradientBoostingClassifier(random_state=seed)
    raise ValueError(f"`name` must be one of {CLASSIFIERS}. Got {name!r} instead.")


def evaluate(X, y, sampler: str, classifier: str, *, splits: int, repeats: int, seed: int, cgan_epochs=None) -> dict:
    """Cross-validated scores of one pipeline: lists over folds of each score and fit time."""
    pipeline = Pipeline(
        [
            ("scale", StandardScaler()),
            ("sample", make_sampler(sampler, seed, cgan_epochs)),
            ("classify", make_classifier(classifier, seed)),
        ]
    )
    scoring = {"macro_f1": "f1_macro", "balanced_accuracy": "balanced_accuracy"}
    if len(np.unique(y)) == 2:
        scoring["pr_auc"] = "average_precision"
    cv = RepeatedStratifiedKFold(n_splits=splits, n_repeats=repeats, random_state=seed)
    out = cross_validate(pipeline, X, y, cv=cv, scoring=scoring, n_jobs=1, error_score="raise")
    result = {metric: out[f"test_{metric}"].tolist() for metric in scoring}
    result["fit_time"] = out["fit_time"].tolist()
    return result


def format_markdown(results: dict, settings: dict, seconds: float) -> str:
    lines = [
        "## Tabular data (scikit-learn data sets made imbalanced)",
        "",
        f"`{command()}` — {datetime.date.today()}, {machine()}; {seconds / 60:.1f} minutes in all.",
        "",
        (
            f"Stratified {settings['splits']}-fold cross-validation × {settings['repeats']} repeats (seed "
            f"{settings['seed']}); StandardScaler -> sampler -> classifier in an imbalanced-learn Pipeline, so only "
            "training folds are resampled. Mean ± sample standard deviation over the folds. Class sizes fall "
            f"geometrically from the largest class to {settings['ratio']} of it (at least {settings['min_count']} rows). "
            "PR-AUC: average precision of the minority class (binary data). Fit time: resampling + training, "
            "seconds per fold. CGANOverSampler: preset 'mlp', "
            + (f"{settings['cgan_epochs']} epochs." if settings["cgan_epochs"] else "its default budget (1,500 steps).")
        ),
    ]
    for name, block in results.items():
        binary = len(block["counts"]) == 2
        metrics = ["macro_f1", "balanced_accuracy"] + (["pr_auc"] if binary else [])
        headers = {"macro_f1": "macro-F1", "balanced_accuracy": "balanced accuracy", "pr_auc": "PR-AUC"}
        lines += [
            "",
            (
                f"**{name}** ({sum(block['counts']):,} rows, {block['n_features']} features; class sizes "
                f"{', '.join(map(str, block['counts']))})"
            ),
            "",
            "| classifier | sampler | " + " | ".join(headers[m] for m in metrics) + " | fit time (s) |",
            "|---|---|" + "---|" * len(metrics) + "---|",
        ]
        for (classifier, sampler), scores in block["scores"].items():
            cells = " | ".join(mean_std(scores[m]) for m in metrics)
            lines.append(f"| {classifier} | {sampler} | {cells} | {mean_std(scores['fit_time'], 2)} |")
    return "\n".join(lines)


def parse_args(argv=None) -> argparse.Namespace:
    doc = __doc__.split("\n\n")
    parser = argparse.ArgumentParser(description="\n\n".join(doc[:-1]), formatter_class=HelpFormatter)
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS), metavar="NAME",
                        help=f"from {', '.join(DATASETS)}")
    parser.add_argument("--samplers", nargs="+", choices=SAMPLERS, default=list(SAMPLERS), metavar="NAME",
                        help=f"from {', '.join(SAMPLERS)}")
    parser.add_argument("--classifiers", nargs="+", choices=CLASSIFIERS, default=list(CLASSIFIERS), metavar="NAME",
                        help=f"from {', '.join(CLASSIFIERS)}")
    parser.add_argument("--splits", type=int, default=5, help="folds of the cross-validation")
    parser.add_argument("--repeats", type=int, default=3, help="repetitions of the cross-validation")
    parser.add_argument("--ratio", type=float, default=0.1, help="smallest class size over largest")
    parser.add_argument("--min-count", type=int, default=20, help="smallest class size in rows")
    parser.add_argument("--seed", type=int, default=0, help="seeds the imbalance, the folds and every sampler")
    parser.add_argument("--cgan-epochs", type=int, default=None,
                        help="CGANOverSampler training epochs")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--docs", default=None, help="Markdown file whose tabular section is replaced")
    parser.add_argument("--json", default=None, help="write every fold's scores here")
    args = parser.parse_args(argv)
    if args.splits < 2 or args.repeats < 1:
        parser.error(f"--splits must be at least 2 and --repeats at least 1. Got {args.splits} and {args.repeats}.")
    if not 0 < args.ratio <= 1:
        parser.error(f"--ratio must lie in (0, 1]. Got {args.ratio} instead.")
    if args.min_count - -(-args.min_count // args.splits) < 6:  # rows of the smallest class in a training fold
        parser.error(f"--min-count {args.min_count} leaves fewer than 6 rows of a class in a training fold of "
                     f"{args.splits}-fold cross-validation; SMOTE needs 6 (itself and 5 neighbours).")
    if args.cgan_epochs is not None and args.cgan_epochs < 1:
        parser.error(f"--cgan-epochs must be a positive integer. Got {args.cgan_epochs} instead.")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = {k: getattr(args, k) for k in ("splits", "repeats", "ratio", "min_count", "seed", "cgan_epochs")}
    print(machine(), flush=True)
    start = time.perf_counter()
    results = {}
    for name in args.datasets:
        X, y = imbalanced(name, ratio=args.ratio, min_count=args.min_count, seed=args.seed)
        counts = np.bincount(y).tolist()
        print(f"{name}: {len(y)} rows, {X.shape[1]} features, class sizes {counts}", flush=True)
        block = {"counts": counts, "n_features": int(X.shape[1]), "scores": {}}
        for classifier in args.classifiers:
            for sampler in args.samplers:
                t = time.perf_counter()
                scores = evaluate(X, y, sampler, classifier, splits=args.splits, repeats=args.repeats,
                                  seed=args.seed, cgan_epochs=args.cgan_epochs)
                block["scores"][(classifier, sampler)] = scores
                summary = ", ".join(f"{m} {np.mean(v):.3f}" for m, v in scores.items() if m != "fit_time")
                print(f"  {classifier} + {sampler}: {summary} ({time.perf_counter() - t:.0f} s)", flush=True)
        results[name] = block
    text = format_markdown(results, settings, time.perf_counter() - start)
    print("\n" + text)
    if args.docs:
        write_section(args.docs, text, BEGIN, END)
        print(f"\nUpdated {args.docs}")
    if args.json:
        plain = {
            name: {**block, "scores": {f"{c} + {s}": v for (c, s), v in block["scores"].items()}}
            for name, block in results.items()
        }
        Path(args.json).write_text(json.dumps({"settings": settings, "results": plain}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
