"""The benchmark scripts' core functions and command lines work, on tiny data and budgets.

They are never run for real here: a few optimiser steps, a handful of images, one fold split.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from cganbalance.classifier import FERClassifier
from cganbalance.fer2013 import CLASSES

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))

import _docs
import downstream_fer
import tabular
import tabular_peers

from .conftest import make_fer_files

TINY_CNN = ["--widths", "4", "8", "--steps", "2", "--batch-size", "8"]


@pytest.fixture(scope="module")
def fer_files(tmp_path_factory):
    """Tiny FER-2013 npz splits (48×48, disgust rare) and a tiny untrained 48×48 generator."""
    return make_fer_files(tmp_path_factory.mktemp("fer"), [10, 4, 8, 14, 8, 6, 8], n_test=21)


def _tiny_split(path):  # the tiny train.npz is not the FER-2013 copy the stored split was made from
    data = np.load(path)
    val = np.arange(len(data["labels"])) % 4 == 0
    X, y = data["images"], data["labels"]
    return {"train": (X[~val], y[~val]), "validation": (X[val], y[val]), "classes": list(data["classes"])}


# -- shared helpers ----------------------------------------------------------------------------
def test_write_section_appends_then_replaces_only_its_own_section(tmp_path):
    page = tmp_path / "benchmarks.md"
    page.write_text("# Benchmarks\n\nIntro.\n")
    _docs.write_section(page, "first", *_docs.markers("a"))
    _docs.write_section(page, "other", *_docs.markers("b"))
    _docs.write_section(page, "second", *_docs.markers("a"))
    text = page.read_text()
    assert text.startswith("# Benchmarks\n\nIntro.\n")
    assert "<!-- a:start -->\nsecond\n<!-- a:end -->" in text and "first" not in text
    assert text.index("a:start") < text.index("b:start") and "other" in text


def test_mean_std_and_machine():
    assert _docs.mean_std([0.5, 0.7]) == "0.600 ± 0.141"
    assert _docs.mean_std([0.5]) == "0.500" and _docs.mean_std([]) == "–"
    assert f"torch {torch.__version__}" in _docs.machine()


# -- downstream FER ----------------------------------------------------------------------------
def test_downstream_resample_gives_balanced_uint8_faces(fer_files):
    from cganbalance import from_pretrained

    with np.load(fer_files / "train.npz") as data:
        X, y = data["images"], data["labels"]
    counts = np.bincount(y).tolist()
    generator = from_pretrained(fer_files / "generator")
    for strategy in downstream_fer.STRATEGIES:
        X_res, y_res, weight = downstream_fer.resample(strategy, X, y, 0, generator=generator)
        assert X_res.dtype == np.uint8 and X_res.shape[1:] == (48, 48)
        assert np.array_equal(X_res[: len(X)], X)  # originals first
        balanced = strategy in ("RandomOverSampler", "SMOTE", "cgan")
        expected = [max(counts)] * 7 if balanced else counts
        assert np.bincount(y_res).tolist() == expected
        assert weight == ("balanced" if strategy == "class_weights" else None)
    # cgan-ratio-0.5: balanced too, but at most half a synthetic face per real one, the rest real copies.
    X_mix, y_mix, _ = downstream_fer.resample("cgan-ratio-0.5", X, y, 0, generator=generator)
    assert np.bincount(y_mix).tolist() == [max(counts)] * 7  # from [10, 4, 8, 14, 8, 6, 8]
    originals = {x.tobytes() for x in X[y == 1]}
    new_disgust = [x.tobytes() in originals for x in X_mix[len(X):][y_mix[len(X):] == 1]]
    assert len(new_disgust) == 10 and sum(new_disgust) == 8  # 2 synthetic (floor(0.5 * 4)), 8 copies
    X_f, y_f, _ = downstream_fer.resample("cgan-filtered", X, y, 0, generator=generator)
    X_all, y_all, _ = downstream_fer.resample("cgan", X, y, 0, generator=generator)
    assert np.bincount(y_f).tolist() == [max(counts)] * 7 and np.array_equal(y_f, y_all)
    # the shipped classifier ranked the candidates: the kept faces look more like their class to it
    from cganbalance.classifier import extract, load_fer_classifier

    def confidence(X_res, y_res):
        new = slice(len(X), None)
        logits = torch.as_tensor(extract(load_fer_classifier(), X_res[new], features=False)[1])
        return logits.softmax(1)[torch.arange(len(logits)), torch.as_tensor(y_res[new])].mean().item()

    assert confidence(X_f, y_f) > confidence(X_all, y_all)
    # cgan-latent-2: the same draw with noise of twice the spread
    X_l, y_l, _ = downstream_fer.resample("cgan-latent-2", X, y, 0, generator=generator)
    assert np.array_equal(y_l, y_all) and np.array_equal(X_l[: len(X)], X)
    assert not np.array_equal(X_l[len(X) :], X_all[len(X) :])


def test_downstream_strategy_names():
    assert downstream_fer.check_strategy("cgan-ratio-1") == "cgan-ratio-1"
    assert downstream_fer.check_strategy("cgan-filtered-ratio-1.0") == "cgan-filtered-ratio-1"  # one name each
    assert downstream_fer.synthetic_ratio("cgan-ratio-0.5") == 0.5 and downstream_fer.synthetic_ratio("cgan") is None
    assert downstream_fer.label("cgan", "runs/g2") == "cgan (g2)" and downstream_fer.label("SMOTE", "runs/g2") == "SMOTE"
    assert downstream_fer.label("cgan-filtered", "runs/g2", "results/clf") == "cgan-filtered (g2, filter clf)"
    assert downstream_fer.label("cgan-filtered", downstream_fer.DEFAULT_GENERATOR, "x/clf") == "cgan-filtered (filter clf)"
    assert downstream_fer.label("cgan", downstream_fer.DEFAULT_GENERATOR, "x/clf") == "cgan"  # ranks with no classifier
    assert downstream_fer.classifier_filtered("cgan-filtered-ratio-2") and not downstream_fer.classifier_filtered("cgan")
    assert downstream_fer.synthetic_ratio("cgan-filtered-ratio-2") == 2.0
    assert downstream_fer.check_strategy("cgan-ratio-0.50-latent-1.50") == "cgan-ratio-0.5-latent-1.5"
    assert downstream_fer.check_strategy("cgan-latent-1.0") == "cgan"  # the default scale has one name
    assert downstream_fer.latent_scale("cgan-filtered-latent-2") == 2.0 and downstream_fer.latent_scale("cgan") == 1.0
    assert downstream_fer.synthetic_ratio("cgan-ratio-0.5-latent-1.5") == 0.5
    assert downstream_fer.check_strategy("cgan-extra-2000-latent-1.5") == "cgan-extra-2000-latent-1.5"
    assert downstream_fer.extra_synthetic("cgan-extra-2000") == 2000 and downstream_fer.extra_synthetic("cgan-extra-0.25") == 0.25
    assert downstream_fer.extra_synthetic("cgan") is None and downstream_fer.check_strategy("cgan-extra-0.250") == "cgan-extra-0.25"
    with pytest.raises(argparse.ArgumentTypeError, match="cannot be combined"):
        downstream_fer.check_strategy("cgan-ratio-1-extra-100")
    for bad in ("cgan-ratio-", "cgan-ratio-x", "smote", "cgan-ratio-1-filtered", "cgan-latent-1.5-ratio-1"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"cgan\[-filtered\]\[-ratio-R\|-extra-E\]"):
            downstream_fer.check_strategy(bad)
    for bad in ("cgan-latent-0", "cgan-latent-11"):
        with pytest.raises(argparse.ArgumentTypeError, match=r"must be in \(0, 10\]"):
            downstream_fer.check_strategy(bad)
    for unrepresentable in ("cgan-latent-0.0000001", "cgan-latent-1.0000001", "cgan-ratio-1234567"):
        with pytest.raises(argparse.ArgumentTypeError, match="at most 6 significant digits"):
            downstream_fer.check_strategy(unrepresentable)


def test_downstream_stratified_subset_keeps_every_class():
    y = np.repeat(np.arange(7), [100, 5, 80, 200, 90, 60, 90])
    X = np.arange(len(y))
    Xs, ys = downstream_fer.stratified_subset(X, y, 60)
    assert set(ys) == set(range(7)) and len(ys) <= 60 + 7
    assert np.array_equal(Xs, downstream_fer.stratified_subset(X, y, 60)[0])  # deterministic


def test_downstream_main_resumes_and_writes_its_docs_section(fer_files, tmp_path, capsys):
    results, page = tmp_path / "results.json", tmp_path / "benchmarks.md"
    common = ["--train", str(fer_files / "train.npz"), "--test", str(fer_files / "public_test.npz"), *TINY_CNN,
              "--generator", str(fer_files / "generator"), "--results", str(results), "--docs", str(page),
              "--threads", "1"]
    assert downstream_fer.main([*common, "--seeds", "0"]) == 0
    stored = json.loads(results.read_text())
    names = [s if s != "cgan" else "cgan (generator)" for s in downstream_fer.STRATEGIES]  # a local generator folder
    assert sorted(stored["runs"]) == sorted(f"{s}/seed0" for s in names)
    assert all(0 <= r["accuracy"] <= 1 and set(r["recall"]) == set(CLASSES) for r in stored["runs"].values())
    text = page.read_text()
    assert "<!-- downstream-fer:start -->" in text and "<!-- downstream-fer:end -->" in text
    for strategy in names:
        assert f"| {strategy} | 1/1 |" in text
    capsys.readouterr()

    # A second run with another seed only does the new runs; the table holds both seeds.
    assert downstream_fer.main([*common, "--seeds", "0", "1", "--strategies", "none"]) == 0
    out = capsys.readouterr().out
    assert "1 runs to do, 1 already" in out and "| none | 2/2 |" in out and " ± " in out
    assert len(json.loads(results.read_text())["runs"]) == 6

    # A cGAN variant joins the same results and table, naming its generator folder.
    assert downstream_fer.main([*common, "--seeds", "0", "--strategies", "cgan-ratio-1"]) == 0
    stored = json.loads(results.read_text())["runs"]
    variant = "cgan-ratio-1 (generator)"
    assert stored[f"{variant}/seed0"]["max_synthetic_ratio"] == 1.0
    assert f"| {variant} | 1/1 |" in page.read_text() and "| SMOTE | 1/1 |" in page.read_text()

    with pytest.raises(SystemExit, match="other settings"):
        downstream_fer.main([*common, "--steps", "3"])


def test_downstream_reads_results_files_from_before_cgan_variants(fer_files, tmp_path):
    settings = {"train": "train.npz", "steps": 3, "widths": [4, 8]}
    # files from before --classifier and --validation hold small-classifier runs on the public test split
    now = {**settings, "classifier": "small", "split": "public_test", "depths": [1, 1], "label_smoothing": 0.0}
    old = {"settings": {**settings, "generator": "fer2013-cgan", "cgan_ratio": None},
           "runs": {"cgan/seed0": {"accuracy": 0.5}, "none/seed0": {"accuracy": 0.4}}}
    path = tmp_path / "old.json"
    path.write_text(json.dumps(old))
    results = downstream_fer.load_results(path, now)
    assert results["runs"]["cgan/seed0"] == {"accuracy": 0.5, "generator": "fer2013-cgan", "max_synthetic_ratio": None}
    assert "generator" not in results["runs"]["none/seed0"]
    with pytest.raises(SystemExit, match="other settings"):
        downstream_fer.load_results(path, {**now, "classifier": "strong"})
    # runs made with another generator keep its name, as new runs with it would be named
    old["settings"]["generator"] = "runs/g2"
    path.write_text(json.dumps(old))
    assert sorted(downstream_fer.load_results(path, now)["runs"]) == ["cgan (g2)/seed0", "none/seed0"]


def test_downstream_settings_name_the_classifier_and_the_split():
    small = downstream_fer.make_settings(downstream_fer.parse_args(["--train", "t.npz", "--test", "p.npz"]))
    assert small == {"train": "t.npz", "split": "public_test", "test": "p.npz", "subset": None, "classifier": "small",
                     "steps": 1600, "batch_size": 128, "lr": 2e-3, "weight_decay": 5e-4, "max_shift": 4,
                     "widths": [32, 64, 128, 256], "depths": [1, 1, 1, 1], "label_smoothing": 0.0}
    strong = downstream_fer.make_settings(
        downstream_fer.parse_args(["--train", "t.npz", "--validation", "--classifier", "strong"])
    )
    assert strong == {**small, "split": "validation", "test": None, "classifier": "strong", "steps": 4000,
                      "widths": [48, 96, 192, 384], "depths": [2, 2, 2, 2], "label_smoothing": 0.1}
    model = FERClassifier(widths=strong["widths"], depths=strong["depths"])
    assert sum(p.numel() for p in model.parameters()) == 2_639_479  # "2.64M parameters" in the docstring
    assert downstream_fer.section("small", "public_test") == "downstream-fer"  # the section the docs link to
    assert downstream_fer.section("strong", "validation") == "downstream-fer-strong-validation"
    for argv in (["--train", "t.npz"], ["--train", "t.npz", "--test", "p.npz", "--validation"],
                 ["--train", "t.npz", "--validation", "--classifier", "large"]):
        with pytest.raises(SystemExit):
            downstream_fer.parse_args(argv)


def test_downstream_validation_split_and_strong_classifier_keep_their_own_results_and_section(
    fer_files, tmp_path, monkeypatch, capsys
):
    monkeypatch.setattr(downstream_fer, "load_split", _tiny_split)
    page = tmp_path / "benchmarks.md"
    common = ["--train", str(fer_files / "train.npz"), *TINY_CNN, "--strategies", "none", "class_weights",
              "--seeds", "0", "--docs", str(page), "--threads", "1"]
    validation, test = tmp_path / "validation.json", tmp_path / "test.json"
    assert downstream_fer.main([*common, "--validation", "--classifier", "strong", "--results", str(validation)]) == 0
    stored = json.loads(validation.read_text())
    assert stored["settings"]["split"] == "validation" and stored["settings"]["test"] is None
    assert stored["settings"]["classifier"] == "strong" and stored["settings"]["depths"] == [2, 2]
    assert stored["settings"]["label_smoothing"] == 0.1
    assert {(r["n_train"], r["n_test"]) for r in stored["runs"].values()} == {(43, 15)}  # 58 faces, every 4th held out
    small = [v.numel() for v in FERClassifier(widths=[4, 8], depths=[1, 1]).parameters()]
    assert stored["runs"]["none/seed0"]["parameters"] > sum(small)  # two convolutions per stage
    text = page.read_text()
    assert "<!-- downstream-fer-strong-validation:start -->" in text and "<!-- downstream-fer:start -->" not in text
    assert "## Downstream classifier, strong CNN (FER-2013 validation split, 15 faces of train.npz)" in text
    assert "label smoothing 0.1" in text and "| class_weights | 1/1 |" in text

    # The small classifier on the public test split writes its own section; the validation one is left as it was.
    section = text[text.index("<!-- downstream-fer-strong-validation:start -->"):]
    assert downstream_fer.main([*common, "--test", str(fer_files / "public_test.npz"), "--results", str(test)]) == 0
    text = page.read_text()
    assert "## Downstream classifier (FER-2013 public test split)" in text and section in text
    assert "label smoothing" not in text.split("<!-- downstream-fer:start -->")[1]
    assert json.loads(test.read_text())["settings"]["split"] == "public_test"

    # The runs of one classifier or split never join the results file of another.
    for argv in (["--validation", "--results", str(test)], ["--test", str(fer_files / "public_test.npz"),
                                                            "--classifier", "strong", "--results", str(test)]):
        with pytest.raises(SystemExit, match="other settings"):
            downstream_fer.main([*common, *argv])


# -- tabular -----------------------------------------------------------------------------------
def test_tabular_imbalance_follows_ratio_and_floor():
    _, y = tabular.imbalanced("breast_cancer", ratio=0.1, min_count=20, seed=0)
    assert np.bincount(y).tolist() == [357, 36]  # minority (malignant) relabelled 1
    _, y = tabular.imbalanced("wine", ratio=0.1, min_count=20, seed=0)
    assert sorted(np.bincount(y).tolist()) == [20, 22, 71]


def test_tabular_evaluate_is_deterministic():
    X, y = tabular.imbalanced("breast_cancer", ratio=0.1, min_count=20, seed=0)
    kwargs = {"splits": 2, "repeats": 1, "seed": 0, "cgan_epochs": 1}
    a = tabular.evaluate(X, y, "CGANOverSampler", "LogisticRegression", **kwargs)
    b = tabular.evaluate(X, y, "CGANOverSampler", "LogisticRegression", **kwargs)
    assert set(a) == {"macro_f1", "balanced_accuracy", "pr_auc", "fit_time"} and len(a["macro_f1"]) == 2
    assert {k: v for k, v in a.items() if k != "fit_time"} == {k: v for k, v in b.items() if k != "fit_time"}


def test_tabular_main_writes_its_docs_section(tmp_path, capsys):
    page, out_json = tmp_path / "benchmarks.md", tmp_path / "tabular.json"
    argv = ["--datasets", "wine", "--classifiers", "LogisticRegression", "--splits", "2", "--repeats", "1",
            "--cgan-epochs", "1", "--docs", str(page), "--json", str(out_json)]
    assert tabular.main(argv) == 0
    text = page.read_text()
    assert "<!-- tabular:start -->" in text and "**wine**" in text
    for sampler in tabular.SAMPLERS:
        assert f"| LogisticRegression | {sampler} |" in text
    assert "PR-AUC" not in text.split("**wine**")[1]  # multi-class: no PR-AUC column
    assert "wine" in json.loads(out_json.read_text())["results"]


# -- tabular peers (real tables; here only the synthetic one) ---------------------------------------
def test_tabular_peers_quick_run_writes_every_strategy(tmp_path, capsys):
    page, out_json = tmp_path / "benchmarks.md", tmp_path / "peers.json"
    assert tabular_peers.main(["--quick", "--json", str(out_json), "--docs", str(page)]) == 0
    block = json.loads(out_json.read_text())["tables"]["synthetic"]
    assert set(block["strategies"]) == set(tabular_peers.STRATEGIES)
    assert block["categorical"] == ["colour", "member"] and block["numeric"] == ["x1", "x2"]
    try:
        import ctgan  # noqa: F401

        expected_ctgan = "ok"
    except ImportError:
        expected_ctgan = "skipped"
    cgan_ok = tabular_peers.cgan_has_categorical_features()
    for strategy, row in block["strategies"].items():
        expected = {"CTGAN": expected_ctgan, "CGANOverSampler": "ok" if cgan_ok else "skipped"}.get(strategy, "ok")
        assert row["status"] == expected, (strategy, row.get("reason"))
        if expected == "skipped":
            assert ("ctgan is not installed" if strategy == "CTGAN" else "not supported by this version") in row["reason"]
            continue
        assert len(row["folds"]) == 2 and row["settings"]["folds"] == 2
        for fold in row["folds"]:
            assert set(fold["classifiers"]) == set(tabular_peers.CLASSIFIERS)
            for result in fold["classifiers"].values():
                assert all(0 <= result[m] <= 1 for m in tabular_peers.METRICS)
                assert result["fit_seconds"] >= fold["resample_seconds"] >= 0
    grown = block["strategies"]["RandomOverSampler"]["folds"][0]["rows_fitted"]
    assert grown > block["strategies"]["none"]["folds"][0]["rows_fitted"]  # balanced: 2 × the majority
    text = page.read_text()
    assert "<!-- tabular-peers:start -->" in text and "| LogisticRegression | SMOTENC |" in text  # mixed table
    assert "| HistGradientBoosting | RandomOverSampler |" in text and "Δ balanced accuracy" in text
    assert ("**CGANOverSampler: pending**" in text) != cgan_ok
    # --reuse keeps the stored rows and reruns only what is missing or was skipped
    stored = json.loads(out_json.read_text())
    assert tabular_peers.main(["--quick", "--strategies", "none", "SMOTE", "--json", str(out_json), "--reuse"]) == 0
    assert json.loads(out_json.read_text()) == stored


class _Spy(tabular_peers.RandomOverSampler):
    seen: list = []

    def _fit_resample(self, X, y):
        _Spy.seen.append(set(X.index))
        return super()._fit_resample(X, y)


def test_tabular_peers_sampler_sees_only_training_folds_and_matches_a_pipeline(monkeypatch):
    from imblearn.pipeline import Pipeline
    from sklearn.model_selection import StratifiedKFold, cross_validate

    X, y = tabular_peers.synthetic_table(seed=1)
    settings = {"folds": 3, "seed": 0, "quick": True, "ctgan_epochs": 1, "cgan_epochs": 1}
    _Spy.seen = []
    monkeypatch.setattr(tabular_peers, "make_sampler", lambda *args, **kwargs: _Spy(random_state=0))
    row = tabular_peers.evaluate(X, y, "RandomOverSampler", settings=settings, classifiers=["LogisticRegression"])
    cv = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    assert _Spy.seen == [set(train) for train, _ in cv.split(X, y)]  # once per fold, training rows only
    # the same scores as a Pipeline(sampler -> preprocessing -> classifier) cross-validated by scikit-learn
    model = tabular_peers.make_model("LogisticRegression", ["x1", "x2"], ["colour", "member"], balanced=False, seed=0)
    pipeline = Pipeline([("sample", tabular_peers.RandomOverSampler(random_state=0)), *model.steps])
    reference = cross_validate(pipeline, X, y, cv=cv, scoring="balanced_accuracy")["test_score"]
    ours = [fold["classifiers"]["LogisticRegression"]["balanced_accuracy"] for fold in row["folds"]]
    np.testing.assert_allclose(ours, reference)


def test_tabular_peers_ctgan_wrapper_grows_each_class_from_its_own_rows(monkeypatch):
    import types

    fitted = []

    class FakeCTGAN:  # stands in for ctgan.CTGAN: "samples" by drawing its training rows again
        def __init__(self, epochs, enable_gpu):
            self.epochs = epochs

        def set_random_state(self, seed):
            self.rng = np.random.default_rng(seed)

        def fit(self, frame, discrete_columns):
            fitted.append((frame.copy(), list(discrete_columns)))
            self.frame = frame

        def sample(self, n):
            return self.frame.iloc[self.rng.integers(len(self.frame), size=n)].reset_index(drop=True)

    monkeypatch.setitem(sys.modules, "ctgan", types.SimpleNamespace(CTGAN=FakeCTGAN))
    X, y = tabular_peers.synthetic_table(seed=2)
    X_before = X.copy()
    sampler = tabular_peers.CTGANOverSampler(epochs=3, random_state=0)
    X_res, y_res = sampler.fit_resample(X, y)
    assert np.bincount(y_res).tolist() == [np.sum(y == 0)] * 2  # what sampling_strategy="auto" asks for
    assert len(fitted) == 1 and fitted[0][1] == ["colour", "member"]  # discrete columns found in the DataFrame
    pd = pytest.importorskip("pandas")
    pd.testing.assert_frame_equal(fitted[0][0], X[y == 1].reset_index(drop=True))  # only the minority's rows
    assert isinstance(X_res, pd.DataFrame) and list(X_res.dtypes) == list(X.dtypes)
    pd.testing.assert_frame_equal(X_res.iloc[: len(X)], X) and pd.testing.assert_frame_equal(X, X_before)
    assert set(map(tuple, X_res.iloc[len(X):].to_numpy())) <= set(map(tuple, X[y == 1].to_numpy()))


def test_tabular_peers_cgan_and_class_weight_follow_what_is_installed(monkeypatch):
    from cganbalance import CGANOverSampler

    kwargs = {"ctgan_epochs": 1, "cgan_epochs": 2}
    numeric = tabular_peers.make_sampler("CGANOverSampler", [], 0, **kwargs)
    assert isinstance(numeric, CGANOverSampler) and numeric.epochs == 2 and numeric.random_state == 0
    assert numeric.get_params().get("categorical_features", "auto") == "auto"  # the default on numeric tables
    if tabular_peers.cgan_has_categorical_features():
        mixed = tabular_peers.make_sampler("CGANOverSampler", ["colour"], 0, **kwargs)
        assert mixed.categorical_features == ["colour"]
    else:
        with pytest.raises(tabular_peers.Unsupported, match="not supported by this version"):
            tabular_peers.make_sampler("CGANOverSampler", ["colour"], 0, **kwargs)
    assert tabular_peers.label("SMOTE", ["colour"]) == "SMOTENC" and tabular_peers.label("SMOTE", []) == "SMOTE"
    # --reuse: same settings; a CGANOverSampler row also needs the same code and libraries
    settings = {"folds": 5, "seed": 0, "quick": False, "ctgan_epochs": 100, "cgan_epochs": None}
    row = {"status": "ok", "versions": "old", "settings": tabular_peers.row_settings("CTGAN", settings)}
    assert tabular_peers.reusable(row, "CTGAN", settings)
    assert not tabular_peers.reusable(row, "CTGAN", {**settings, "ctgan_epochs": 300})
    assert not tabular_peers.reusable({**row, "status": "skipped"}, "CTGAN", settings)
    cgan = {**row, "settings": tabular_peers.row_settings("CGANOverSampler", settings)}
    assert not tabular_peers.reusable(cgan, "CGANOverSampler", settings)
    assert tabular_peers.reusable({**cgan, "versions": tabular_peers.versions()}, "CGANOverSampler", settings)
    # gradient boosting without class_weight (scikit-learn < 1.2): balanced sample weights instead
    monkeypatch.setattr(tabular_peers, "hgb_has_class_weight", lambda: False)
    y = np.array([0, 0, 0, 1])
    weights = tabular_peers.fit_params("HistGradientBoosting", y, True)["classify__sample_weight"]
    np.testing.assert_allclose(weights, [2 / 3, 2 / 3, 2 / 3, 2])
    assert tabular_peers.fit_params("LogisticRegression", y, True) == {}
    model = tabular_peers.make_model("HistGradientBoosting", ["x"], [], balanced=True, seed=0)
    assert model.named_steps["classify"].class_weight is None


# -- throughput ---------------------------------------------------------------------------------
@pytest.mark.slow
def test_throughput_main_measures_every_part_and_writes_its_section(fer_files, tmp_path, capsys):
    import throughput

    page = tmp_path / "benchmarks.md"
    argv = ["--steps", "1", "--presets", "default", "--sample", "14", "--fer", str(fer_files / "train.npz"),
            "--fit-seconds", "0.5", "--docs", str(page)]
    assert throughput.main(argv) == 0
    text = page.read_text()
    assert "<!-- throughput:start -->" in text and "| cganbalance, default | 48×48 |" in text
    assert "| tutorial-style reference, paper | 64×64 |" in text and "| default |" in text
    assert "peak resident memory" in text and "returning" in text
    with np.load(fer_files / "train.npz") as data:
        counts = np.bincount(data["labels"])
    assert f"returning {len(counts) * counts.max():,} faces" in text  # fit_resample balanced the fixture


def test_throughput_table_keeps_every_row_together():
    import throughput

    train = [{"preset": p, "net": n, "g_params": 1, "d_params": 1, "images_per_s": r, "gflop_per_image": 2.0,
              "gflop_per_s": 2.0 * r} for p, n, r in (("paper", "64×64", 30.0), ("default", "48×48", 150.0))]
    text = throughput.format_markdown(300.0, train, {"images_per_s": 20.0}, [], None, 5)
    rows = [line for line in text.splitlines() if line.startswith("| ")]
    table = text.split("| training loop |")[1].split("\n\n")[0]
    assert table.count("\n| ") == 3 and "tutorial-style reference" in table  # 3 rows, then a blank line
    assert "| tutorial-style reference, paper | 64×64 | same | same | 20.0 | – | ≈40 | 23.9 |" in rows
    assert "The default trains 5.0× more images per second" in text and "runs at 1.50× the tutorial" in text


# -- generator quality ------------------------------------------------------------------------
def test_generator_quality_compares_labelled_generators(fer_files, tmp_path, capsys):
    import generator_quality

    page, out = tmp_path / "benchmarks.md", tmp_path / "quality.json"
    folder = str(fer_files / "generator")
    argv = [f"first={folder}", f"second={folder}", "--test", str(fer_files / "public_test.npz"),
            "--train", str(fer_files / "train.npz"), "--cas-epochs", "0", "--n-per-class", "4",
            "--docs", str(page), "--json", str(out)]
    assert generator_quality.main(argv) == 0
    text = page.read_text()
    assert "<!-- generator-quality:begin -->" in text and "**Summary**" in text
    summary = text.split("**Summary**")[1].split("\n\n")[1]
    rows = [line for line in summary.splitlines() if line.startswith("| first") or line.startswith("| second")]
    assert len(rows) == 2 and rows[0].split("|")[3:] == rows[1].split("|")[3:]  # same generator, same scores
    assert "works at 48×48" in rows[0]
    assert set(json.loads(out.read_text())) == {"first", "second"}
    assert text.index("**Summary**") < text.index("**first")


def test_generator_quality_scores_each_latent_scale(fer_files, tmp_path, capsys):
    import generator_quality

    out = tmp_path / "quality.json"
    base = [f"g={fer_files / 'generator'}", "--test", str(fer_files / "public_test.npz"), "--cas-epochs", "0",
            "--n-per-class", "4", "--json", str(out)]
    assert generator_quality.main([*base, "--latent-scales", "1", "2", "2"]) == 0
    results = json.loads(out.read_text())
    assert list(results) == ["g", "g, latent ×2"]  # a repeated scale is scored once
    assert results["g, latent ×2"]["settings"]["latent_scale"] == 2.0 and results["g"]["settings"]["latent_scale"] == 1.0
    assert results["g"]["mean"]["fid"] != results["g, latent ×2"]["mean"]["fid"]
    for bad in ("0", "11", "nan"):
        with pytest.raises(SystemExit):
            generator_quality.main([*base, "--latent-scales", "1", bad])
        assert f"`--latent-scales` must be a number in (0, 10]. Got {float(bad)!r} instead." in capsys.readouterr().err


def test_generator_quality_on_the_validation_split_with_a_two_sample_test(fer_files, tmp_path, capsys, monkeypatch):
    import generator_quality

    with np.load(fer_files / "train.npz") as data:
        X, y = data["images"], data["labels"]
    every_other = np.arange(len(y)) % 2 == 0
    split = {"train": (X[~every_other], y[~every_other]), "validation": (X[every_other], y[every_other]),
             "classes": list(CLASSES)}
    monkeypatch.setattr(generator_quality, "load_split", lambda path: split)  # the stored split is for the real file
    page, out = tmp_path / "benchmarks.md", tmp_path / "quality.json"
    page.write_text(f"# Benchmarks\n\n{generator_quality.BEGIN}\ntest-split numbers\n{generator_quality.END}\n")
    folder = str(fer_files / "generator")
    argv = [f"first={folder}", f"second={folder}", "--validation", "--train", str(fer_files / "train.npz"),
            "--cas-epochs", "0", "--two-sample-epochs", "1", "--n-per-class", "4", "--docs", str(page),
            "--json", str(out)]
    assert generator_quality.main(argv) == 0
    text = page.read_text()
    assert "test-split numbers" in text  # the public test split's section is left alone
    assert capsys.readouterr().out.startswith("## Generator quality (FER-2013 validation split, ")
    begin, end = _docs.markers("generator-quality-validation")
    section = text.split(begin)[1].split(end)[0]
    assert f"## Generator quality (FER-2013 validation split, {every_other.sum()} faces of train.npz)" in section
    assert f"against the {(~every_other).sum()} faces of train.npz outside the validation split" in section
    assert "disgust: 2 validation images" in section and "Two-sample test" in section
    header = next(line for line in section.splitlines() if line.startswith("| generator |"))
    assert header.endswith("| CAS macro-F1 | two-sample acc (0.5 best) |")
    row = next(line for line in section.splitlines() if line.startswith("| first |"))
    assert len(row.split("|")) == len(header.split("|")) and 0 <= float(row.split("|")[-2]) <= 1
    two_sample = json.loads(out.read_text())["first"]["two_sample"]
    assert len(two_sample["per_class"]) == 7 and two_sample["n_train"] + two_sample["n_test"] == 2 * 25  # min(4, n_c)

    for bad, message in [
        (["--validation"], "--validation needs --train"),
        (["--validation", "--train", "t.npz", "--test", "p.npz"], "leave out --test"),
        ([], "--test is required (or --validation with --train)"),
        (["--test", "p.npz", "--two-sample-epochs", "-1"], "--two-sample-epochs must be 0 (off)"),
    ]:
        with pytest.raises(SystemExit):
            generator_quality.main([folder, *bad])
        assert message in capsys.readouterr().err


# -- long generator training and its curves ---------------------------------------------------
def test_train_fer_generator_resumes_and_records_its_curve(fer_files, tmp_path, monkeypatch, capsys):
    import train_fer_generator

    monkeypatch.setattr(train_fer_generator, "load_split", _tiny_split)
    tiny = FERClassifier(widths=[4, 8], depths=[1, 1], classes=CLASSES).eval()
    monkeypatch.setattr(train_fer_generator, "load_fer_classifier", lambda: tiny)
    state = tmp_path / "state"
    common = ["--recipe", "proj-aux", "--train", str(fer_files / "train.npz"), "--state", str(state), "--threads", "1"]
    assert train_fer_generator.main([*common, "--epochs", "1"]) == 0
    names = sorted(p.name for p in state.iterdir())
    assert names == ["best", "checkpoint.safetensors", "curve.json", "run.json", "samples.png"]
    with pytest.raises(ValueError, match="already holds a checkpoint: pass --resume"):
        train_fer_generator.main([*common, "--epochs", "2"])
    with pytest.raises(ValueError, match="holds recipe 'proj-aux', seed 0; got --recipe default"):
        train_fer_generator.main([*common[:1], "default", *common[2:], "--epochs", "2", "--resume"])
    assert train_fer_generator.main([*common, "--epochs", "3", "--eval-every", "2", "--resume"]) == 0
    curve = json.loads((state / "curve.json").read_text())
    assert [row["epoch"] for row in curve] == [1, 2, 3]  # every 2nd epoch, and the last
    assert [row["step"] for row in curve] == [1, 2, 3]  # 43 training faces: one batch an epoch
    assert curve[-1]["gflop"] > curve[0]["gflop"] > 0 and set(train_fer_generator.METRICS) <= set(curve[0])
    run = json.loads((state / "run.json").read_text())
    assert run["recipe"] == "proj-aux" and run["train_faces"] == 43 and run["validation_faces"] == 15
    assert [s["from_epoch"] for s in run["sessions"]] == [0, 1]
    from cganbalance import from_pretrained

    assert from_pretrained(str(state / "best")).classes == list(CLASSES)

    # a branch: another recipe continued from this run's checkpoint, with a two-sample test in its curve
    branch = tmp_path / "branch"
    argv = ["--recipe", "balanced-diffaug", "--train", str(fer_files / "train.npz"), "--state", str(branch),
            "--threads", "1", "--init-from", str(state), "--two-sample-epochs", "1", "--resume"]
    assert train_fer_generator.main([*argv, "--epochs", "4"]) == 0
    assert "--init-from: Resuming with training settings that differ" in capsys.readouterr().out
    run = json.loads((branch / "run.json").read_text())
    assert run["init_from"]["epoch"] == 3 and run["init_from"]["recipe"] == "proj-aux"
    # the parent's networks and settings, the branch recipe's on top
    assert run["overrides"]["discriminator"] == {"conditioning": "projection+auxiliary"}
    assert run["overrides"]["train"] == {"loss": "hinge", "aux_weight_g": 0.2, "real_sampling": "balanced",
                                         "augment": "translation,cutout"}
    curve = json.loads((branch / "curve.json").read_text())
    assert [row["epoch"] for row in curve] == [4] and 0.0 <= curve[0]["two_sample"] <= 1.0
    assert curve[0]["train_seconds"] > json.loads((state / "curve.json").read_text())[-1]["train_seconds"]
    assert train_fer_generator.main([*argv, "--epochs", "5"]) == 0  # the same command resumes the branch
    assert [row["epoch"] for row in json.loads((branch / "curve.json").read_text())] == [4, 5]
    assert json.loads((branch / "run.json").read_text())["init_from"]["epoch"] == 3
    with pytest.raises(ValueError, match="--init-from must name another run's folder"):
        train_fer_generator.main([*common, "--init-from", str(state), "--epochs", "9", "--state", str(tmp_path / "x"),
                                  "--init-from", str(tmp_path / "x")])
    assert train_fer_generator.selection_score({"recall": 0.2, "coverage": 0.8, "classifier_recall": 0.7,
                                                "two_sample": 0.9}) == pytest.approx(1.7 + 0.2)
    # a row with a two-sample test is compared with one without on the three shared terms only
    plain, tested = {"recall": 0.3, "coverage": 0.8, "classifier_recall": 0.7}, {"recall": 0.3, "coverage": 0.8,
                                                                                  "classifier_recall": 0.6, "two_sample": 0.7}
    assert not train_fer_generator.is_best(tested, [plain, tested]) and train_fer_generator.is_best(plain, [plain, tested])
    better = {**tested, "two_sample": 0.6}
    assert not train_fer_generator.is_best(better, [plain, tested, better])  # still below plain on the shared terms
    assert train_fer_generator.is_best({**better, "classifier_recall": 0.7}, [plain, tested])


@pytest.mark.slow  # a full-width translator: about 10 s alone, 40 s on a loaded machine
def test_train_fer_transfer_resumes_and_scores_edits_of_other_emotions(fer_files, tmp_path, monkeypatch, capsys):
    import train_fer_transfer

    monkeypatch.setattr(train_fer_transfer, "load_split", _tiny_split)
    tiny = FERClassifier(widths=[4, 8], depths=[1, 1], classes=CLASSES).eval()
    monkeypatch.setattr(train_fer_transfer, "load_fer_classifier", lambda: tiny)
    state = tmp_path / "state"
    common = ["--train", str(fer_files / "train.npz"), "--state", str(state), "--threads", "1", "--batch-size", "2",
              "--eval-every", "2"]
    assert train_fer_transfer.main([*common, "--steps", "2"]) == 0
    names = sorted(p.name for p in state.iterdir())
    assert names == ["best.safetensors", "checkpoint.safetensors", "curve.json", "run.json", "samples.png"]
    with pytest.raises(ValueError, match="already holds a checkpoint: pass --resume"):
        train_fer_transfer.main([*common, "--steps", "3"])
    assert train_fer_transfer.main([*common, "--steps", "3", "--resume"]) == 0
    curve = json.loads((state / "curve.json").read_text())
    assert [row["step"] for row in curve] == [2, 3]  # every 2nd step, and the last
    assert curve[-1]["gflop"] > curve[0]["gflop"] > 0 and set(train_fer_transfer.METRICS) <= set(curve[0])
    assert curve[0]["median_source_rms"] > 0  # an edit differs from its source
    run = json.loads((state / "run.json").read_text())
    assert [s["from_step"] for s in run["sessions"]] == [0, 2] and run["train_faces"] == 43
    assert train_fer_transfer.main([*common, "--final"]) == 0
    final = json.loads((state / "final.json").read_text())
    assert final["two_sample"]["n_test"] > 0 and final["memorisation"] is not None


def test_transfer_sources_come_from_other_emotions():
    import train_fer_transfer

    y = np.repeat(np.arange(7), [10, 4, 8, 14, 8, 6, 8])
    src, targets = train_fer_transfer.evaluation_sources(y, [3, 1, 2, 4, 2, 2, 2], seed=0)
    assert np.bincount(targets).tolist() == [3, 1, 2, 4, 2, 2, 2] and (y[src] != targets).all()
    trainer = train_fer_transfer.TransferTrainer(train_fer_transfer.TransferConfig(batch_size=64), np.bincount(y), 0)
    idx, target = trainer.draw(torch.as_tensor(y))  # sources of every emotion, targets never their own
    assert len(idx) == 64 and (torch.as_tensor(y)[idx] != target).all()


def test_generator_curves_table_and_docs_section(tmp_path, capsys):
    import generator_curves

    rows = [{"epoch": e, "step": 402 * e, "gflop": 26700 * e, "train_seconds": 900.0 * e, "fid": 9.0, "kid": 0.1,
             "precision": 0.9, "recall": 0.1 * e, "density": 1.0, "coverage": 0.5, "classifier_recall": 0.4,
             "diversity": 0.6} for e in (1, 2)]
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "curve.json").write_text(json.dumps(rows))
    page = tmp_path / "benchmarks.md"
    assert generator_curves.main([f"a={tmp_path / 'run'}", "--last", "--docs", str(page), "--section", "s",
                                  "--plot", str(tmp_path / "img")]) == 0
    text = page.read_text()
    assert "| a | 2 | 804 | 53 | 0.50 | 9.00 | 0.900 | 0.200 | 0.500 | 0.400 | 0.600 |" in text
    assert "| a | 1 |" not in text and "validation split" in text  # --last: the latest row only
    assert (tmp_path / "img" / "a.png").is_file()
    with pytest.raises(SystemExit):
        generator_curves.main(["no-equals-sign"])


def test_validation_split_is_stratified_and_refuses_another_copy_of_train(fer_files):
    import fer_split

    labels = np.repeat(np.arange(3), [600, 60, 340])
    val = fer_split.make_split(labels, n=100)
    assert len(val) == 100 and np.all(np.diff(val) > 0)
    assert np.bincount(labels[val]).tolist() == [60, 6, 34]
    stored = json.loads(fer_split.SPLIT_FILE.read_text())
    assert len(stored["indices"]) == fer_split.N_VALIDATION and stored["n_rows"] == 28709
    with pytest.raises(ValueError, match="is not the FER-2013 train.npz the validation split was made from"):
        fer_split.load_split(fer_files / "train.npz")


def test_train_fer_classifier_on_the_validation_split_keeps_out_of_the_package(fer_files, tmp_path, monkeypatch, capsys):
    import train_fer_classifier

    monkeypatch.setattr(train_fer_classifier, "load_split", _tiny_split)
    with pytest.raises(SystemExit):  # the shipped classifier's folder is for one trained on all of train.npz
        train_fer_classifier.main(["--train", str(fer_files / "train.npz"), "--validation"])
    assert "give it an --out outside the package" in capsys.readouterr().err
    out = tmp_path / "extractor"
    assert train_fer_classifier.main(["--train", str(fer_files / "train.npz"), "--validation", "--epochs", "1",
                                      "--batch-size", "16", "--threads", "1", "--out", str(out)]) == 0
    card = (out / "README.md").read_text()
    assert "without the validation faces, 43 images" in card and "## FER-2013 validation split" in card
    assert "(15 images)" in card and "Public test split" not in card
