"""Downstream value of balancing FER-2013: one CNN trained with each balancing strategy.

Every strategy trains the same :class:`cganbalance.classifier.FERClassifier` with the same
augmentation (random flips, and shifts of up to 4 pixels: pad with the edge, then crop), the
same optimiser (AdamW, one-cycle learning rate) and the SAME number of optimiser steps, so an
over-sampled training set (50,505 images at full balance, against 28,709) gets no extra
training. Two classifiers (``--classifier``); a claim about balancing should hold for both:

- ``small`` (the default): widths 32/64/128/256, one 3×3 convolution per stage (0.39M
  parameters), plain cross-entropy, 1,600 steps of 128 images;
- ``strong``: widths 48/96/192/384, two convolutions per stage (2.64M parameters),
  cross-entropy with label smoothing 0.1, 4,000 steps of 128 images (20 passes over the 25,709
  faces of the validation protocol). Meant to reach 0.65 accuracy without resampling, so that a
  gain from balancing cannot be only the repair of a weak classifier.

Strategies:

- ``none``: the training split as it is;
- ``class_weights``: cross-entropy weighted by inverse class frequency (scikit-learn's
  "balanced": ``N / (n_classes * N_c)``);
- ``RandomOverSampler``: copies of minority images (imbalanced-learn);
- ``SMOTE``: interpolations between minority images and their 5 nearest same-class neighbours
  on flattened pixels (imbalanced-learn), rounded back to 48×48 uint8;
- ``cgan``: :class:`cganbalance.CGANOverSampler` with a pretrained generator (the shipped
  ``fer2013-cgan`` unless ``--generator`` names another folder), sampled without training;
- ``cgan-ratio-R`` (e.g. ``cgan-ratio-1``): the same with ``max_synthetic_ratio=R``, at most
  ``R`` synthetic images per real one in each class, the rest of the top-up random copies of
  real images;
- ``cgan-filtered`` and ``cgan-filtered-ratio-R``: the same with
  ``filter_classifier="fer2013"``: twice the candidates are drawn and the half that the
  shipped FER-2013 classifier (trained on the training split only) finds most typical of their
  class are kept; ``--filter-classifier FOLDER`` ranks with a saved one instead (on
  ``--validation``, ``benchmarks/results/extractor-validation``, trained without the validation
  faces), and such runs are labelled ``(filter FOLDER-NAME)``.
- ``cgan-extra-E`` (e.g. ``cgan-extra-2000``): ``extra_synthetic=E``, the top-up made of
  random copies of real images as ``RandomOverSampler`` makes it, then ``E`` synthetic images
  added to every class, the majority too (``E`` with a decimal point: that fraction of the
  largest class), so that real and synthetic images are each balanced across classes;
- ``...-latent-S`` (e.g. ``cgan-latent-1.5``, ``cgan-ratio-0.5-latent-1.5``): any of these
  with ``latent_scale=S``, noise of standard deviation ``S`` (more varied faces above 1);
- ``...-keep-K`` (e.g. ``cgan-keep-0.25``, ``cgan-keep-1``): any of these with
  ``filter_keep=K``: ``1 / K`` candidates drawn per face and the best ``K`` of them kept, ranked
  by the discriminator saved with the generator (when its folder holds one) and/or the
  classifier of ``-filtered``; ``-keep-1`` ranks nothing. Without it the sampler's default
  (``"auto"``: 0.5 when there is something to rank with).

Splits, exactly one of:

- ``--validation``: train on ``--train`` minus the fixed validation split of
  ``benchmarks/fer_split.py`` (25,709 faces) and score on the 3,000 validation faces. Every
  choice (strategy, generator, ratio, filtering, latent scale) is made here. The score is
  honest only with a generator trained without the validation faces, as the shipped
  ``fer2013-cgan`` (v0.2.0) was; ``fer2013-cgan-balanced`` (and ``fer2013-cgan`` v0.1.0, whose
  runs are labelled so) saw all of ``train.npz``, and so did the shipped classifier that
  ``-filtered`` ranks with;
- ``--test public_test.npz``: train on all of ``--train`` (28,709 faces) and score on the
  public test split (3,589 faces), once, for the final tables.

Scores: accuracy, macro-F1, balanced accuracy, recall and F1 of the two rarest emotions
(disgust, fear); mean ± sample standard deviation over ``--seeds``. A seed sets the resampling,
the initial weights, the batch order, the augmentation and dropout. The resampled sets are all
fully balanced (every class as large as the largest, 7,215 images). A run made with another
``--generator`` is stored and shown as ``strategy (folder name)``.

Each (strategy, seed) result is written to ``--results`` (JSON) as soon as it is finished and
skipped when the script runs again with the same settings, so a long run can be split across
sessions: run the same command again to continue. The settings (classifier, split, steps, ...)
are stored with the runs, and a file made with other settings is refused: give each classifier
and each split its own results file. The Markdown table (with the commands, dates and machines
that produced it) is printed, and ``--docs`` writes it into its own section of a Markdown file:
``downstream-fer`` (small, public test split), ``downstream-fer-strong``,
``downstream-fer-validation`` or ``downstream-fer-strong-validation``.

Time, on this project's machine (2-core Intel Xeon, torch 2.14): the small CNN trained at 255
images/s (batch 128) on one thread while another job held both cores, so about 500 images/s
on 2 free cores; one run of its 1,600 steps then takes about 7 minutes, testing a few seconds,
and resampling under a minute per seed (SMOTE's neighbour search on 2,304 pixels; drawing
21,796 faces from a 48×48 generator took 57 s on that contended thread). The default 5
strategies × 3 seeds should take about 1 h 50 min (15 runs). The strong CNN trained at 38
images/s (batch 128) on one thread of a 2-core AMD EPYC while other jobs held both cores, where
the small one trained at 181 images/s (4.8 times as fast): one run of its 4,000 steps takes
about 3.7 hours on such a thread and, at the same ratio to the small one, about 1.4 hours on 2
free cores (not measured), so about 21 hours for 5 strategies × 3 seeds. ``--subset 700
--steps 10 --batch-size 32 --seeds 0 1 --threads 1`` (10 runs) took 90 s, mostly loading and
testing on the 3,589 test faces.

    python benchmarks/downstream_fer.py --train train.npz (--validation | --test public_test.npz) \\
        [--classifier {small,strong}] [--strategies none class_weights RandomOverSampler SMOTE cgan] \\
        [--seeds 0 1 2] [--steps N] [--batch-size 128] [--generator fer2013-cgan] \\
        [--subset N] [--results downstream_fer.json] [--docs docs/benchmarks.md]
"""

from __future__ import annotations

import os

# No network: the pretrained generator is the embedded copy (or a local folder).
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse
import datetime
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _docs import HelpFormatter, command, machine, markers, mean_std, write_section
from fer_split import N_VALIDATION, load_split
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    f1_score,
    recall_score,
)

from cganbalance import fer2013
from cganbalance.classifier import extract, train_classifier
from cganbalance.hub import load_discriminator

STRATEGIES = ("none", "class_weights", "RandomOverSampler", "SMOTE", "cgan")
#: ``cgan-ratio-R``: the cGAN with at most R synthetic images per real one, the rest copies.
#: ``cgan-filtered[-ratio-R]``: candidates also ranked by the shipped FER-2013 classifier.
CGAN_VARIANT = re.compile(
    r"cgan(?P<filtered>-filtered)?(?:-ratio-(?P<ratio>\d+(?:\.\d+)?))?(?:-extra-(?P<extra>\d+(?:\.\d+)?))?"
    r"(?:-latent-(?P<latent>\d+(?:\.\d+)?))?(?:-keep-(?P<keep>\d+(?:\.\d+)?))?"
)
DEFAULT_GENERATOR = "fer2013-cgan"
#: Per-class scores shown in the table (the two rarest FER-2013 emotions).
FOCUS = ("disgust", "fear")
#: ``--classifier``: stage widths, convolutions per stage, label smoothing and default steps.
CLASSIFIERS = {
    "small": {"widths": [32, 64, 128, 256], "depth": 1, "label_smoothing": 0.0, "steps": 1600},
    "strong": {"widths": [48, 96, 192, 384], "depth": 2, "label_smoothing": 0.1, "steps": 4000},
}


def key(strategy: str, seed: int) -> str:
    """A run's name in the results file."""
    return f"{strategy}/seed{seed}"


def check_strategy(name: str) -> str:
    """``name`` if it is a known strategy or a cgan variant (in one canonical spelling); an argparse error otherwise."""
    if name in STRATEGIES:
        return name
    match = CGAN_VARIANT.fullmatch(name)
    if match:  # one name per variant: cgan-ratio-1.0 is cgan-ratio-1, cgan-latent-1 is cgan
        ratio = f"-ratio-{float(match['ratio']):g}" if match["ratio"] else ""
        scale = float(match["latent"]) if match["latent"] else 1.0
        if not 0 < scale <= 10:
            raise argparse.ArgumentTypeError(f"the latent scale of {name!r} must be in (0, 10]")
        latent = f"-latent-{scale:g}" if scale != 1.0 else ""
        if match["keep"] and not 0 < float(match["keep"]) <= 1:
            raise argparse.ArgumentTypeError(f"the kept fraction of {name!r} must be in (0, 1]")
        keep = f"-keep-{float(match['keep']):g}" if match["keep"] else ""
        if match["ratio"] and match["extra"]:
            raise argparse.ArgumentTypeError(f"{name!r}: -ratio-R and -extra-E cannot be combined")
        extra = f"-extra-{extra_synthetic(name)}" if match["extra"] else ""
        canonical = f"cgan{match['filtered'] or ''}{ratio}{extra}{latent}{keep}"
        parsed = CGAN_VARIANT.fullmatch(canonical)
        if parsed is None or synthetic_ratio(canonical) != (float(match["ratio"]) if match["ratio"] else None) \
                or latent_scale(canonical) != scale or extra_synthetic(canonical) != extra_synthetic(name) \
                or filter_keep(canonical) != filter_keep(name):
            raise argparse.ArgumentTypeError(f"{name!r}: give R and S with at most 6 significant digits, without exponents")
        return canonical
    raise argparse.ArgumentTypeError(
        f"must be one of {', '.join(STRATEGIES)}, or cgan[-filtered][-ratio-R|-extra-E][-latent-S][-keep-K]. Got {name!r}."
    )


def section(classifier: str, split: str) -> str:
    """The Markdown section a table is written to: each classifier and split has its own."""
    strong, validation = classifier == "strong", split == "validation"
    return "downstream-fer" + ("-strong" if strong else "") + ("-validation" if validation else "")


def label(strategy: str, generator: str, filter_classifier: str = "fer2013") -> str:
    """The strategy's name in results and table: cGAN runs name a non-default generator, and
    ``-filtered`` runs a classifier other than the shipped one."""
    if not strategy.startswith("cgan"):
        return strategy
    names = [Path(generator).name] if generator != DEFAULT_GENERATOR else []
    if classifier_filtered(strategy) and str(filter_classifier) != "fer2013":
        names.append(f"filter {Path(filter_classifier).name}")
    return f"{strategy} ({', '.join(names)})" if names else strategy


def synthetic_ratio(strategy: str) -> float | None:
    match = CGAN_VARIANT.fullmatch(strategy)
    return float(match["ratio"]) if match and match["ratio"] else None


def extra_synthetic(strategy: str) -> int | float | None:
    """``-extra-E``: E synthetic faces per class (a whole number) or that fraction of the largest class (a decimal)."""
    match = CGAN_VARIANT.fullmatch(strategy)
    if not (match and match["extra"]):
        return None
    return float(match["extra"]) if "." in match["extra"] else int(match["extra"])


def latent_scale(strategy: str) -> float:
    match = CGAN_VARIANT.fullmatch(strategy)
    return float(match["latent"]) if match and match["latent"] else 1.0


def filter_keep(strategy: str) -> float | str:
    """``-keep-K``: the fraction of candidates kept after ranking (1: no ranking); the sampler's "auto" otherwise."""
    match = CGAN_VARIANT.fullmatch(strategy)
    return float(match["keep"]) if match and match["keep"] else "auto"


def classifier_filtered(strategy: str) -> bool:
    match = CGAN_VARIANT.fullmatch(strategy)
    return bool(match and match["filtered"])


# -- data --------------------------------------------------------------------------------------
def stratified_subset(X, y, n: int | None, seed: int = 0):
    """``n`` images keeping the class proportions (at least one of each class); all when ``n`` is None."""
    if n is None or n >= len(y):
        return X, y
    rng = np.random.RandomState(seed)
    classes, counts = np.unique(y, return_counts=True)
    take = np.maximum(1, np.floor(counts / counts.sum() * n).astype(int))
    idx = np.concatenate([rng.choice(np.flatnonzero(y == c), k, replace=False) for c, k in zip(classes, take)])
    idx.sort()
    return X[idx], y[idx]


def resample(strategy: str, X, y, seed: int, *, generator=None, classes=fer2013.CLASSES, filter_classifier="fer2013"):
    """The training set of ``strategy`` and the class weights to train with.

    Returns
    -------
    X_res : ndarray, uint8, N×H×W
    y_res : ndarray of int
    class_weight : "balanced" or None
    """
    if strategy == "none":
        return X, y, None
    if strategy == "class_weights":
        return X, y, "balanced"
    if strategy == "RandomOverSampler":
        from imblearn.over_sampling import RandomOverSampler

        X_res, y_res = RandomOverSampler(random_state=seed).fit_resample(X.reshape(len(X), -1), y)
        return X_res.reshape(-1, *X.shape[1:]), y_res, None
    if strategy == "SMOTE":
        from imblearn.over_sampling import SMOTE

        # Floats: imblearn subtracts rows, which wraps around in uint8.
        k = int(min(5, np.bincount(y)[np.bincount(y) > 0].min() - 1))
        X_res, y_res = SMOTE(k_neighbors=k, random_state=seed).fit_resample(
            X.reshape(len(X), -1).astype(np.float32), y
        )
        X_res = np.clip(np.rint(X_res), 0, 255).astype(np.uint8)
        return X_res.reshape(-1, *X.shape[1:]), y_res, None
    if CGAN_VARIANT.fullmatch(strategy):
        from cganbalance import CGANOverSampler

        # Labels by class name, so the generator's label order cannot matter.
        names = np.asarray(classes)
        sampler = CGANOverSampler(
            generator=generator,
            sampling_strategy="not majority",
            max_synthetic_ratio=synthetic_ratio(strategy),
            extra_synthetic=extra_synthetic(strategy),
            filter_classifier=filter_classifier if classifier_filtered(strategy) else None,
            latent_scale=latent_scale(strategy),
            filter_keep=filter_keep(strategy),
            random_state=seed,
            device="cpu",
        )
        X_res, y_named = sampler.fit_resample(X, names[y])
        lookup = {name: i for i, name in enumerate(names)}
        return X_res, np.array([lookup[v] for v in y_named], dtype=np.int64), None
    raise ValueError(f"`strategy` must be one of {STRATEGIES} or a cgan variant. Got {strategy!r} instead.")


# -- one run -----------------------------------------------------------------------------------
def scores(y_true, pred, classes=fer2013.CLASSES) -> dict:
    labels = list(range(len(classes)))
    recall = recall_score(y_true, pred, labels=labels, average=None, zero_division=0)
    f1 = f1_score(y_true, pred, labels=labels, average=None, zero_division=0)
    return {
        "accuracy": float(accuracy_score(y_true, pred)),
        "macro_f1": float(f1_score(y_true, pred, labels=labels, average="macro", zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, pred)),
        "recall": {c: float(r) for c, r in zip(classes, recall)},
        "f1": {c: float(v) for c, v in zip(classes, f1)},
    }


def run(strategy: str, seed: int, data: dict, settings: dict, *, generator=None, generator_name=None,
        has_discriminator=None, filter_classifier="fer2013", verbose=False) -> dict:
    """Resample, train and test once; the scores and timings as a JSON-able dict. ``has_discriminator``:
    whether the generator's folder holds the discriminator that ranks its candidates (recorded with cgan runs)."""
    start = time.perf_counter()
    X, y, class_weight = resample(
        strategy, data["X_train"], data["y_train"], seed, generator=generator, filter_classifier=filter_classifier
    )
    resample_seconds = time.perf_counter() - start
    model = train_classifier(
        X,
        y,
        steps=settings["steps"],
        batch_size=settings["batch_size"],
        lr=settings["lr"],
        weight_decay=settings["weight_decay"],
        max_shift=settings["max_shift"],
        class_weight=class_weight,
        classes=fer2013.CLASSES,
        model_params={
            "n_classes": len(fer2013.CLASSES),
            "widths": settings["widths"],
            "depths": settings["depths"],
        },
        label_smoothing=settings["label_smoothing"],
        random_state=seed,
        verbose=verbose,
    )
    train_seconds = time.perf_counter() - start - resample_seconds
    _, logits = extract(model, data["X_test"], features=False)
    return {
        **scores(data["y_test"], logits.argmax(1)),
        "n_train": len(y),
        "n_test": len(data["y_test"]),
        "train_counts": np.bincount(y, minlength=len(fer2013.CLASSES)).tolist(),
        **({"generator": generator_name, "max_synthetic_ratio": synthetic_ratio(strategy),
            "extra_synthetic": extra_synthetic(strategy),
            "filter_classifier": str(filter_classifier) if classifier_filtered(strategy) else None,
            "latent_scale": latent_scale(strategy), "filter_keep": filter_keep(strategy),
            "discriminator_filter": has_discriminator}
           if strategy.startswith("cgan") else {}),
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "resample_seconds": resample_seconds,
        "train_seconds": train_seconds,
        "seconds": time.perf_counter() - start,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "command": command(),
    }


# -- results file ------------------------------------------------------------------------------
def load_results(path: Path | None, settings: dict) -> dict:
    """Finished runs of ``path``; an error when they were made with other settings."""
    if path is None or not path.exists():
        return {"settings": settings, "runs": {}}
    results = json.loads(path.read_text())
    # Files from before cgan-ratio-R kept the generator in the shared settings: move it to the cGAN runs.
    stored = results.get("settings", {})
    generator, ratio = stored.pop("generator", None), stored.pop("cgan_ratio", None)
    if ratio is not None:
        raise SystemExit(f"{path} holds runs made with the old --cgan-ratio option; use another --results file.")
    if "classifier" not in stored:  # files from before --classifier and --validation
        stored.update(classifier="small", split="public_test", depths=[1] * len(stored.get("widths", [])),
                      label_smoothing=0.0)
    runs = {}
    for name, run_ in results.get("runs", {}).items():
        if name.startswith("cgan") and "generator" not in run_:
            run_.update(generator=generator or DEFAULT_GENERATOR, max_synthetic_ratio=None)
            strategy, seed = name.rsplit("/seed", 1)
            name = key(label(strategy, run_["generator"]), int(seed))
        runs[name] = run_
    results["runs"] = runs
    if results.get("settings") != settings:
        old = results.get("settings", {})
        diff = {k: (old.get(k), settings.get(k)) for k in set(old) | set(settings) if old.get(k) != settings.get(k)}
        raise SystemExit(
            f"{path} holds runs made with other settings (stored, now): {diff}. "
            "Use another --results file, or rerun with the stored settings."
        )
    return results


def save_results(path: Path | None, results: dict) -> None:
    if path is None:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(results, indent=1))
    os.replace(tmp, path)  # never a half-written file, even when killed


# -- the table ---------------------------------------------------------------------------------
COLUMNS = [
    ("accuracy", lambda r: r["accuracy"]),
    ("macro-F1", lambda r: r["macro_f1"]),
    ("balanced accuracy", lambda r: r["balanced_accuracy"]),
    *[(f"{c} {label}", lambda r, c=c, m=m: r[m][c]) for c in FOCUS for m, label in (("recall", "recall"), ("f1", "F1"))],
]


def cgan_note(runs: list[dict]) -> str:
    cgan = [r for r in runs if "generator" in r]
    if not cgan:
        return ""
    generators = sorted({r["generator"] for r in cgan})
    note = (
        " cgan: CGANOverSampler with the pretrained generator "
        + ", ".join(f"`{g}`" for g in generators)
        + " (sampled, not trained, in the run), every class topped up to the largest with synthetic faces"
        " (`max_synthetic_ratio=None`; the sampler's default for images is 0.5 since 3 December: the -ratio-0.5"
        " rows)."
    )
    if any(r.get("max_synthetic_ratio") is not None for r in cgan):
        note += (
            " -ratio-R: at most R synthetic faces per real one in each class, the rest of the top-up random copies"
            " of real faces (`max_synthetic_ratio=R`)."
        )
    if any(r.get("extra_synthetic") is not None for r in cgan):
        note += (
            " -extra-E: the top-up made of random copies of real faces (as RandomOverSampler), then E synthetic faces"
            " added to every class, the majority too (E with a decimal point: that fraction of the largest class;"
            " `extra_synthetic=E`), so that real-looking and generated faces are both balanced."
        )
    if any(r.get("filter_classifier") for r in cgan):
        note += (
            " -filtered: twice as many candidates drawn, and the half that the shipped FER-2013 classifier (trained"
            ' on the training split only) finds most typical of their class kept (`filter_classifier="fer2013"`);'
            " rows labelled (filter NAME) rank with the saved FER-2013 classifier NAME instead"
            " (`--filter-classifier`; extractor-validation was trained without the validation faces)."
        )
    if any(r.get("latent_scale", 1.0) != 1.0 for r in cgan):
        note += (
            " -latent-S: the generator's noise drawn with standard deviation S instead of 1 (`latent_scale=S`),"
            " for more varied, less typical faces."
        )
    if any(r.get("discriminator_filter") for r in cgan):
        note += (
            " With a generator whose folder holds its discriminator, candidates are ranked by it"
            " (`filter_keep`, 0.5 by default: twice as many drawn, the half it finds most real and most of"
            " their class kept)."
        )
    if any(r.get("filter_keep", "auto") != "auto" for r in cgan):
        note += " -keep-K: `filter_keep=K`, 1/K candidates per face (-keep-1: no ranking)."
    return note


def strategies_in(results: dict) -> list[str]:
    """Every strategy with a finished run, baselines first, then cGAN variants in the order they were run."""
    names = list(dict.fromkeys(name.rsplit("/seed", 1)[0] for name in results["runs"]))
    return [s for s in STRATEGIES if s in names] + [s for s in names if s not in STRATEGIES]


def heading(settings: dict, n_scored: int) -> str:
    """The table's title: the classifier (when strong) and the split the scores come from."""
    split = (
        "FER-2013 public test split" if settings["split"] == "public_test"
        else f"FER-2013 validation split, {n_scored:,} faces of {settings['train']}"
    )
    return "## Downstream classifier" + (", strong CNN" if settings["classifier"] == "strong" else "") + f" ({split})"


def format_markdown(results: dict, seeds) -> str:
    """The table of every finished run, mean ± std over ``seeds``, headed by how they were made."""
    runs, settings = results["runs"], results["settings"]
    strategies = strategies_in(results)
    finished = [runs[key(s, seed)] for s in strategies for seed in seeds if key(s, seed) in runs]
    validation = settings["split"] == "validation"
    lines = [heading(settings, finished[0]["n_test"] if finished else N_VALIDATION), ""]
    if not finished:
        return "\n".join(lines + ["No finished runs."])
    dates = sorted(r["date"][:10] for r in finished)
    commands = list(dict.fromkeys(r["command"] for r in finished))
    machines = list(dict.fromkeys(r["machine"] for r in finished))
    minutes = sum(r["seconds"] for r in finished) / 60
    lines += [
        "Command" + ("s" if len(commands) > 1 else "") + ": " + "; ".join(f"`{c}`" for c in commands) + ".",
        "",
        (
            f"Run {dates[0]}" + (f" to {dates[-1]}" if dates[-1] != dates[0] else "")
            + f" on {'; '.join(machines)}; {len(finished)} runs, {minutes:.1f} min in all."
        ),
        "",
        (
            f"One {settings['classifier']} FERClassifier (widths {settings['widths']}, depths {settings['depths']}, "
            f"{finished[0]['parameters']:,} parameters) per run, trained for {settings['steps']:,} steps of "
            f"{settings['batch_size']} images whatever the training set's size (AdamW, one-cycle lr {settings['lr']}, "
            f"weight decay {settings['weight_decay']}, "
            + (f"label smoothing {settings['label_smoothing']}, " if settings["label_smoothing"] else "")
            + f"flips and shifts of up to {settings['max_shift']} pixels) on "
            + (f"`{settings['train']}` minus the validation split" if validation else "the training split")
            + (f" (stratified subset of {settings['subset']:,})" if settings["subset"] else "")
            + (
                f"; scored on the {finished[0]['n_test']:,} faces of the validation split. " if validation
                else f"; tested on the {finished[0]['n_test']:,} images of the public test split. "
            )
            + "Mean ± sample standard deviation over seeds (the seed sets resampling, initial weights, batch order, "
            "augmentation)."
            + cgan_note(finished)
            + (
                " On the validation split the cgan rows are fair only for a generator trained without the validation"
                " faces, as `fer2013-cgan` v0.2.0 and the `checkpoints/` folders were; `fer2013-cgan-balanced`,"
                " `fer2013-cgan` v0.1.0 and the shipped classifier behind -filtered saw them."
                if validation and any("generator" in r for r in finished) else ""
            )
        ),
        "",
        "| strategy | seeds | training images | " + " | ".join(name for name, _ in COLUMNS) + " | minutes per run |",
        "|---|---|---|" + "---|" * len(COLUMNS) + "---|",
    ]
    for strategy in strategies:
        done = [runs[key(strategy, s)] for s in seeds if key(strategy, s) in runs]
        if not done:
            continue
        cells = " | ".join(mean_std([get(r) for r in done]) for _, get in COLUMNS)
        n_train = f"{int(np.mean([r['n_train'] for r in done])):,}"
        per_run = np.mean([r["seconds"] for r in done]) / 60
        lines.append(f"| {strategy} | {len(done)}/{len(seeds)} | {n_train} | {cells} | {per_run:.1f} |")
    return "\n".join(lines)


# -- command line ------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    doc = __doc__.split("\n\n")
    parser = argparse.ArgumentParser(description="\n\n".join(doc[:-1]), formatter_class=HelpFormatter)
    parser.add_argument("--train", required=True,
                        help="FER-2013 training split (train.npz; with --test, any fer2013.load source)")
    split = parser.add_mutually_exclusive_group(required=True)
    split.add_argument("--validation", action="store_true",
                       help="train on --train minus the validation split (benchmarks/fer_split.py) and score on its "
                       f"{N_VALIDATION:,} faces: where every choice is made")
    split.add_argument("--test", default=None,
                       help="FER-2013 public test split (public_test.npz): train on all of --train and score here, "
                       "once, for the final tables")
    parser.add_argument("--classifier", choices=sorted(CLASSIFIERS), default="small",
                        help="small: widths 32 64 128 256, one convolution per stage, 1600 steps; strong: widths "
                        "48 96 192 384, two convolutions per stage, label smoothing 0.1, 4000 steps")
    parser.add_argument("--strategies", nargs="+", type=check_strategy, default=list(STRATEGIES), metavar="STRATEGY",
                        help=f"balancing strategies to compare, from {', '.join(STRATEGIES)} and the cgan variants "
                        "cgan[-filtered][-ratio-R|-extra-E][-latent-S]")
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="random seeds, one run of each strategy per seed")
    parser.add_argument("--steps", type=int, default=None,
                        help="optimiser steps per run, the same for every strategy (default: the classifier's)")
    parser.add_argument("--batch-size", type=int, default=128, help="images per optimiser step")
    parser.add_argument("--lr", type=float, default=2e-3, help="peak learning rate (one-cycle)")
    parser.add_argument("--weight-decay", type=float, default=5e-4, help="AdamW weight decay")
    parser.add_argument("--max-shift", type=int, default=4, help="largest random shift of the augmentation (pixels)")
    parser.add_argument("--widths", nargs="+", type=int, default=None,
                        help="CNN stage widths, each with the classifier's convolutions per stage "
                        "(default: the classifier's)")
    parser.add_argument("--generator", default=DEFAULT_GENERATOR,
                        help="pretrained generator for the cgan strategies: an alias or a local folder; with "
                        "--validation, an honest score needs one trained without the validation faces (as fer2013-cgan "
                        "v0.2.0 was; fer2013-cgan-balanced saw them)")
    parser.add_argument("--filter-classifier", default="fer2013", metavar="FOLDER",
                        help="what -filtered strategies rank with: 'fer2013' (the shipped classifier, which saw the "
                             "validation faces) or a saved FER-2013 classifier folder, such as "
                             "benchmarks/results/extractor-validation (trained without them)")
    parser.add_argument("--subset", type=int, default=None,
                        help="train on a stratified subset of this many images (quick runs)")
    parser.add_argument("--results", default=None,
                        help="JSON file of finished runs: written after each run, finished runs skipped on rerun")
    parser.add_argument("--docs", default=None,
                        help="Markdown file whose downstream-fer[-strong][-validation] section is replaced")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    args = parser.parse_args(argv)
    for name in ("steps", "batch_size", "threads", "subset"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be a positive integer. Got {value} instead.")
    if args.widths is not None and min(args.widths) < 1:
        parser.error(f"--widths must be positive integers. Got {args.widths} instead.")
    return args


def make_settings(args: argparse.Namespace) -> dict:
    """What the runs of a results file share: data, split, classifier and training (the defaults filled in)."""
    classifier = CLASSIFIERS[args.classifier]
    widths = args.widths or classifier["widths"]
    return {
        "train": Path(args.train).name,
        "split": "validation" if args.validation else "public_test",
        "test": Path(args.test).name if args.test else None,
        "subset": args.subset,
        "classifier": args.classifier,
        "steps": args.steps or classifier["steps"],
        "batch_size": args.batch_size,
        "lr": args.lr,
        "weight_decay": args.weight_decay,
        "max_shift": args.max_shift,
        "widths": widths,
        "depths": [classifier["depth"]] * len(widths),
        "label_smoothing": classifier["label_smoothing"],
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = make_settings(args)
    results_path = Path(args.results) if args.results else None
    results = load_results(results_path, settings)

    if args.validation:
        try:
            split = load_split(args.train)
        except ValueError as exc:
            raise SystemExit(f"--train {args.train}: {exc}") from None
        if split["classes"] != list(fer2013.CLASSES):
            raise SystemExit(f"--train {args.train}: classes {split['classes']} are not in the order "
                             f"{list(fer2013.CLASSES)}.")
        (X_train, y_train), (X_test, y_test) = split["train"], split["validation"]
    else:
        X_train, y_train = fer2013.load(args.train, split="train")
        X_test, y_test = fer2013.load(args.test, split="public_test")
    X_train, y_train = stratified_subset(X_train, y_train, args.subset)
    data = {"X_train": X_train, "y_train": y_train, "X_test": X_test, "y_test": y_test}
    generator, has_discriminator = None, None
    todo = [
        (s, seed) for s in args.strategies for seed in args.seeds
        if key(label(s, args.generator, args.filter_classifier), seed) not in results["runs"]
    ]
    if any(s.startswith("cgan") for s, _ in todo):
        from cganbalance import from_pretrained

        try:  # fails before any training when it is missing
            from_pretrained(args.generator)
        except (FileNotFoundError, ValueError) as exc:
            raise SystemExit(f"--generator {args.generator}: {exc}") from None
        # The name, not the loaded network: the sampler then also loads the discriminator saved with it.
        generator = args.generator
        has_discriminator = load_discriminator(args.generator) is not None
    counts = ", ".join(f"{c} {n:,}" for c, n in zip(fer2013.CLASSES, np.bincount(y_train, minlength=7)))
    print(f"{machine()}\ntrain {len(y_train):,} images ({counts}); {settings['split'].replace('_', ' ')} "
          f"{len(y_test):,} images", flush=True)
    print(f"{len(todo)} runs to do, {len(args.strategies) * len(args.seeds) - len(todo)} already in {args.results}",
          flush=True)
    started = time.perf_counter()
    for i, (strategy, seed) in enumerate(todo, 1):
        print(f"[{i}/{len(todo)}] {strategy}, seed {seed} ...", flush=True)
        result = run(strategy, seed, data, settings, generator=generator, generator_name=str(args.generator),
                     has_discriminator=has_discriminator, filter_classifier=args.filter_classifier,
                     verbose=sys.stderr.isatty())
        results["runs"][key(label(strategy, args.generator, args.filter_classifier), seed)] = result
        save_results(results_path, results)
        print(
            f"    {result['n_train']:,} training images; accuracy {result['accuracy']:.3f}, macro-F1 "
            f"{result['macro_f1']:.3f}, balanced accuracy {result['balanced_accuracy']:.3f}, disgust recall "
            f"{result['recall']['disgust']:.3f}, fear recall {result['recall']['fear']:.3f} "
            f"({result['resample_seconds']:.0f} s resampling, {result['train_seconds']:.0f} s training; "
            f"about {(time.perf_counter() - started) / i * (len(todo) - i) / 60:.0f} min to go)",
            flush=True,
        )
    text = format_markdown(results, args.seeds)
    print("\n" + text)
    if args.docs:
        write_section(args.docs, text, *markers(section(args.classifier, settings["split"])))
        print(f"\nUpdated {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
