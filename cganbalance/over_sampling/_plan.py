"""How many synthetic samples and how many copies of real ones each class gets.

``sampling_strategy_`` says how many samples a class gains; ``max_synthetic_ratio`` caps the
synthetic share (copies make up the rest) and ``extra_synthetic`` makes the whole top-up of copies
and then adds synthetic samples to every class. The plan is checked before any training: every
class that gains samples has enough real ones, and the output fits in memory.
"""

from __future__ import annotations

import math
import os
import warnings
from numbers import Integral

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from .._utils.labels import plain

__all__ = [
    "DISTINGUISHABLE_AUC", "DISTINGUISHABLE_RATIO", "IMAGE_SYNTHETIC_RATIO", "MIN_SAMPLES_PER_CLASS",
    "MIN_ROWS_FOR_TWO_SAMPLE_TEST", "check_output_size", "split_top_up", "top_up_plan", "two_sample_auc",
]

#: A class that is topped up needs at least this many real samples to learn from.
MIN_SAMPLES_PER_CLASS = 2

#: ``max_synthetic_ratio="rows"`` (what ``"auto"`` is for tables): a class of ``n`` real rows gets
#: at most ``n / ROWS_PER_SYNTHETIC_RATIO`` synthetic rows per real row (30 rows: 3 each, 90 in all;
#: 300 rows: 30 each), copies for the rest. A generator learns little from a few dozen rows; on
#: the validation tables (docs/user-guide/tabular.md, "What was measured") a synthetic-only
#: top-up of a 28-row class gave a linear model 0.850 balanced accuracy, copies mixed in 0.903.
ROWS_PER_SYNTHETIC_RATIO = 10

#: ``max_synthetic_ratio="auto"`` on a table, after training: a class whose generated rows a logistic
#: regression tells from its real rows with a cross-validated ROC AUC above ``DISTINGUISHABLE_AUC``
#: (:func:`two_sample_auc`; 0.5 = indistinguishable) gets at most ``DISTINGUISHABLE_RATIO``
#: synthetic rows per real row, copies for the rest, instead of the ``"rows"`` cap. A linear model
#: trained on a top-up its generated rows dominate learns where *generated* rows lie, not where the
#: class's real rows lie. Chosen on the validation tables (docs/user-guide/tabular.md, "What was
#: measured"): the generated rows of the four tables where a synthetic top-up helped scored AUC
#: 0.51-0.55 (read with the downstream encoding), those of the three where it cost the linear
#: model 0.02-0.11 balanced accuracy 0.60-0.78, and a cap of one synthetic row per real one
#: brought those three level with ``RandomOverSampler``.
DISTINGUISHABLE_AUC = 0.6
DISTINGUISHABLE_RATIO = 1.0
#: A class needs this many real rows for the test; smaller ones keep the ``"rows"`` cap (below 1).
MIN_ROWS_FOR_TWO_SAMPLE_TEST = 20

#: What ``max_synthetic_ratio="auto"`` is for images: at most one synthetic image per two real ones
#: of a class, copies for the rest. On the FER-2013 validation split (docs/benchmarks.md, "Choosing
#: the shipped generator"), with the shipped generator, a synthetic-only top-up gave a small CNN
#: macro-F1 0.477 and balanced accuracy 0.478 (no resampling: 0.490, 0.496), this mix 0.504, 0.558.
IMAGE_SYNTHETIC_RATIO = 0.5


def top_up_plan(sampling_strategy: dict, classes: np.ndarray, counts: np.ndarray, X: np.ndarray, *,
                extra_synthetic=None, max_synthetic_ratio=None) -> dict:
    """``{label: (n_synthetic, n_copies)}``, in the order the samples are made.

    ``counts[i]`` is the number of real samples of ``classes[i]``; ``X`` (the rows, for their
    width and dtype) sizes the output for the memory check. ``max_synthetic_ratio="rows"``: the
    ratio grows with the class (``ROWS_PER_SYNTHETIC_RATIO``).
    """
    if isinstance(extra_synthetic, bool):
        raise TypeError(f"`extra_synthetic` must be an int >= 0, a float > 0 or None. Got {extra_synthetic!r}.")
    if extra_synthetic is not None and max_synthetic_ratio is not None:
        raise ValueError(
            "`extra_synthetic` makes the whole top-up of copies; it cannot be combined with `max_synthetic_ratio`. "
            f"Got extra_synthetic={extra_synthetic!r} and max_synthetic_ratio={max_synthetic_ratio!r}."
        )
    n_extra = _extra_per_class(extra_synthetic, sampling_strategy, classes, counts)
    for label, n_real in zip(classes, counts.tolist()):
        if sampling_strategy.get(label, 0) + n_extra > 0 and n_real < MIN_SAMPLES_PER_CLASS:
            raise ValueError(
                f"Class {plain(label)!r} has {n_real} sample(s); a class needs at least {MIN_SAMPLES_PER_CLASS} "
                "to be over-sampled. Drop it, or leave it out of `sampling_strategy`."
            )
    n_out = len(X) + sum(max(int(n), 0) for n in sampling_strategy.values()) + n_extra * len(counts)
    check_output_size(n_out, X, "extra_synthetic" if n_extra else "sampling_strategy")
    todo = dict(sampling_strategy)
    if n_extra:  # every class gets the extra synthetic samples, also ones the strategy leaves alone
        todo.update({c: 0 for c in classes if c not in todo})
    plan = {}
    for label, n_new in todo.items():
        n_top_up = int(max(n_new, 0))
        if extra_synthetic is not None:  # the top-up is all copies; the synthetic samples come on top
            plan[label] = (n_extra, n_top_up)
            continue
        plan[label] = split_top_up(n_top_up, int(counts[np.searchsorted(classes, label)]), max_synthetic_ratio)
    return plan


def split_top_up(n_top_up: int, n_real: int, max_synthetic_ratio) -> tuple[int, int]:
    """``(n_synthetic, n_copies)`` of a class of ``n_real`` samples that gains ``n_top_up``: at most
    ``floor(ratio × n_real)`` synthetic (``None``: all of them; ``"rows"``: ratio ``n_real /
    ROWS_PER_SYNTHETIC_RATIO``), copies of real samples for the rest."""
    n_synthetic = n_top_up
    if max_synthetic_ratio is not None:
        ratio = n_real / ROWS_PER_SYNTHETIC_RATIO if max_synthetic_ratio == "rows" else max_synthetic_ratio
        n_synthetic = min(n_synthetic, math.floor(ratio * n_real + 1e-9))
    return n_synthetic, n_top_up - n_synthetic


def _extra_per_class(extra, sampling_strategy: dict, classes: np.ndarray, counts: np.ndarray) -> int:
    """Synthetic samples ``extra_synthetic`` adds to every class (0 without it)."""
    if extra is None:
        return 0
    if isinstance(extra, Integral):
        return int(extra)
    after = counts.copy()
    for label, n_new in sampling_strategy.items():
        after[np.searchsorted(classes, label)] += max(int(n_new), 0)
    return math.floor(float(extra) * int(after.max()) + 1e-9)


def _memory_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def check_output_size(n_rows: int, X: np.ndarray, parameter: str) -> None:
    """Refuse, before any training, an output that cannot fit in this machine's memory."""
    needed = n_rows * X.shape[1] * X.dtype.itemsize
    memory = _memory_bytes()
    if memory is not None and needed > memory:
        raise ValueError(
            f"`{parameter}` asks for {n_rows:,} rows of {X.shape[1]:,} {X.dtype} values ({needed / 2**30:,.1f} GiB), "
            f"more than this machine's memory ({memory / 2**30:,.1f} GiB)."
        )


def two_sample_auc(real: np.ndarray, generated: np.ndarray, seed: int = 0) -> float:
    """How well a logistic regression tells ``generated`` rows from ``real`` ones: the ROC AUC of
    its 5-fold cross-validated scores (0.5: not at all; 1: always). Both are scaled rows (the
    networks' space: quantile-normalised numbers and one-hot blocks)."""
    X = np.concatenate([real, generated]).astype(np.float64)
    is_generated = np.r_[np.zeros(len(real)), np.ones(len(generated))]
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    with warnings.catch_warnings():  # a test, not a model the user sees: a slow convergence is no news
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_predict(LogisticRegression(max_iter=1000), X, is_generated, cv=folds,
                                   method="decision_function")
    return float(roc_auc_score(is_generated, scores))
