"""Generator metrics, on tiny synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from cganbalance.classifier import save_classifier, train_classifier
from cganbalance.metrics import (
    cas,
    classifier_recall,
    density_coverage,
    evaluate_generator,
    evaluate_samples,
    format_markdown,
    frechet_distance,
    kernel_inception_distance,
    memorisation,
    precision_recall,
    two_sample_test,
    within_class_diversity,
)
from cganbalance.nets import Generator, init_weights

from .conftest import TINY_CLASSIFIER


def with_moments(n, mean, cov, seed):
    """``n`` samples whose sample mean and covariance are exactly ``mean`` and ``cov``."""
    z = np.random.RandomState(seed).normal(size=(n, len(mean)))
    z -= z.mean(0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T  # sample covariance = I
    return z @ np.linalg.cholesky(cov).T + mean


@pytest.fixture(scope="module")
def tiny_generator():
    g = Generator(n_classes=3, latent_dim=8, output_shape=[1, 16, 16], widths=[8, 8, 4], classes=["a", "b", "c"])
    init_weights(g, torch.Generator().manual_seed(0))
    return g.eval()


# -- FID -------------------------------------------------------------------------------------
def test_fid_of_identical_sets_is_zero():
    a = np.random.RandomState(0).normal(size=(200, 6))
    assert frechet_distance(a, a) == pytest.approx(0, abs=1e-8)


def test_fid_matches_closed_form_for_diagonal_gaussians():
    mean_a, mean_b = np.zeros(4), np.array([1.0, -2.0, 0.5, 0.0])
    var_a, var_b = np.array([1.0, 2.0, 0.5, 3.0]), np.array([4.0, 1.0, 0.5, 1.0])
    a = with_moments(400, mean_a, np.diag(var_a), 0)
    b = with_moments(300, mean_b, np.diag(var_b), 1)
    expected = np.sum((mean_a - mean_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_fid_matches_closed_form_for_correlated_gaussians():
    rng = np.random.RandomState(3)
    m = rng.normal(size=(5, 5))
    cov_a, cov_b = m @ m.T + np.eye(5), np.diag(rng.uniform(0.5, 2, 5))
    mean_b = rng.normal(size=5)
    a, b = with_moments(500, np.zeros(5), cov_a, 0), with_moments(500, mean_b, cov_b, 1)
    root_a = linalg.sqrtm(cov_a).real
    expected = mean_b @ mean_b + np.trace(cov_a + cov_b - 2 * linalg.sqrtm(root_a @ cov_b @ root_a).real)
    assert frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_fid_grows_with_the_mean_shift():
    a = np.random.RandomState(0).normal(size=(300, 3))
    shifts = [frechet_distance(a, a + [s, 0, 0]) for s in (0.5, 1.0, 2.0)]
    assert shifts == pytest.approx([0.25, 1.0, 4.0])


def test_fid_with_fewer_samples_than_features_is_finite():
    rng = np.random.RandomState(0)
    value = frechet_distance(rng.normal(size=(10, 32)), rng.normal(size=(12, 32)))
    assert np.isfinite(value) and value > 0


@pytest.mark.parametrize(
    "a, b, match",
    [
        (np.zeros((5, 3)), np.zeros((5, 4)), "same number of features"),
        (np.zeros(5), np.zeros((5, 1)), "`features_a` must be a 2-D array"),
        (np.zeros((1, 3)), np.zeros((5, 3)), "`features_a` must hold at least 2"),
        (np.full((5, 3), np.nan), np.zeros((5, 3)), "`features_a` holds NaN"),
    ],
)
def test_fid_errors_name_the_argument(a, b, match):
    with pytest.raises(ValueError, match=match):
        frechet_distance(a, b)


# -- KID -------------------------------------------------------------------------------------
def test_kid_is_near_zero_for_one_distribution_and_positive_when_shifted():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(400, 8)), rng.normal(size=(400, 8))
    same = kernel_inception_distance(a, b, subset_size=200, random_state=0)
    shifted = kernel_inception_distance(a, b + 0.5, subset_size=200, random_state=0)
    assert abs(same) < 0.01
    assert shifted > 0.1 and shifted > 20 * abs(same)


def test_kid_of_large_sets_gives_the_same_estimate(monkeypatch):
    from cganbalance import metrics

    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(60, 4)), rng.normal(size=(50, 4)) + 0.3
    small = kernel_inception_distance(a, b, subset_size=20, n_subsets=5, random_state=1)
    monkeypatch.setattr(metrics, "_KID_PRECOMPUTE_MAX", 10)  # per-subset kernels, as for large sets
    assert kernel_inception_distance(a, b, subset_size=20, n_subsets=5, random_state=1) == pytest.approx(
        small, rel=1e-12
    )


def test_kid_is_deterministic_for_a_seed():
    rng = np.random.RandomState(0)
    a, b = rng.normal(size=(100, 4)), rng.normal(size=(80, 4)) + 0.2
    first = kernel_inception_distance(a, b, subset_size=50, n_subsets=10, random_state=7)
    assert first == kernel_inception_distance(a, b, subset_size=50, n_subsets=10, random_state=7)
    with pytest.raises(ValueError, match="`n_subsets` must be a positive integer"):
        kernel_inception_distance(a, b, n_subsets=0)


# -- precision / recall, density / coverage, diversity ---------------------------------------
def test_precision_recall_identical_and_disjoint():
    rng = np.random.RandomState(0)
    a = rng.normal(size=(100, 5))
    assert precision_recall(a, a) == (1.0, 1.0)
    assert precision_recall(a, a + 100) == (0.0, 0.0)


def test_precision_and_recall_separate_fidelity_from_variety():
    rng = np.random.RandomState(0)
    real = rng.normal(size=(300, 2))
    collapsed = rng.normal(scale=0.05, size=(300, 2))  # realistic but not varied
    precision, recall = precision_recall(real, collapsed, k=3)
    assert precision > 0.9 and recall < 0.3


def test_density_and_coverage():
    rng = np.random.RandomState(0)
    a = rng.normal(size=(100, 5))
    density, coverage = density_coverage(a, a, k=5)
    assert coverage == 1.0 and density >= 1.0
    assert density_coverage(a, a + 100, k=5) == (0.0, 0.0)
    with pytest.raises(ValueError, match="`k` must be smaller than the number of samples in `real_features`"):
        density_coverage(a[:4], a, k=5)


def test_within_class_diversity():
    rng = np.random.RandomState(0)
    real = rng.normal(size=(200, 6))
    assert within_class_diversity(rng.normal(size=(200, 6)), real) == pytest.approx(1.0, abs=0.05)
    assert within_class_diversity(0.1 * rng.normal(size=(200, 6)), real) == pytest.approx(0.1, abs=0.02)
    with pytest.raises(ValueError, match="all identical"):
        within_class_diversity(real, np.ones((5, 6)))


# -- classifier recall, memorisation ---------------------------------------------------------
class Brightness(torch.nn.Module):
    """A stub classifier: class 0 for dark images, 1 for bright ones."""

    def forward(self, x):
        m = x.mean((1, 2, 3))
        return torch.stack([-m, m], 1)


def test_classifier_recall_with_a_stub_classifier():
    dark, bright = np.full((4, 8, 8), 20, np.uint8), np.full((6, 8, 8), 230, np.uint8)
    images = np.concatenate([dark, bright, bright[:2]])
    labels = np.array([0] * 4 + [1] * 6 + [0] * 2)  # two bright images meant as class 0
    assert classifier_recall(Brightness(), images, labels).tolist() == pytest.approx([4 / 6, 1.0])
    assert np.isnan(classifier_recall(Brightness(), dark, np.zeros(4, int), classes=["d", "b", "x"])[2])


def test_classifier_recall_matches_classes_by_name(tiny_extractor, tiny_faces):
    X, y = tiny_faces
    by_index = classifier_recall(tiny_extractor, X, y)
    # The same data with labels in another order, named: identical recall per name.
    order = ["c", "a", "b"]
    relabel = np.array([order.index(n) for n in tiny_extractor.classes])[y]
    by_name = classifier_recall(tiny_extractor, X, relabel, classes=order)
    assert by_name.tolist() == pytest.approx([by_index[2], by_index[0], by_index[1]])
    with pytest.raises(ValueError, match=r": not among the classifier's classes"):
        classifier_recall(tiny_extractor, X, y, classes=["a", "b", "zebra"])


def test_memorisation_flags_exact_copies():
    rng = np.random.RandomState(0)
    train = rng.randint(0, 256, size=(50, 8, 8)).astype(np.uint8)
    test = rng.randint(0, 256, size=(20, 8, 8)).astype(np.uint8)
    copies = train[[3, 7, 7, 41]]
    result = memorisation(copies, train, test)
    assert result["n_copies"] == 4 and result["fraction_below"] == 1.0
    assert result["generated_nn"].tolist() == [0.0] * 4
    assert result["generated_nn_index"].tolist() == [3, 7, 7, 41]
    assert result["median_ratio"] == 0.0
    fresh = memorisation(rng.randint(0, 256, size=(30, 8, 8)).astype(np.uint8), train, test)
    assert fresh["n_copies"] == 0 and fresh["median_ratio"] == pytest.approx(1.0, abs=0.15)


def test_memorisation_reads_generator_scaling_and_checks_sizes():
    train = np.random.RandomState(0).randint(0, 256, size=(10, 8, 8)).astype(np.uint8)
    as_float = torch.as_tensor(train[:2]).float()[:, None] / 127.5 - 1
    assert memorisation(as_float, train, train[5:])["generated_nn"] == pytest.approx([0, 0], abs=1e-4)
    with pytest.raises(ValueError, match="`generated` and `train` must have images of the same size"):
        memorisation(np.zeros((2, 4, 4), np.uint8), train, train)
    with pytest.raises(ValueError, match="`quantile` must lie in"):
        memorisation(train, train, train, quantile=1.5)


# -- two-sample test --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def noise_images():
    """Two independent draws of 400 uniform-noise 16×16 uint8 images: one distribution."""
    rng = np.random.RandomState(0)
    return tuple(rng.randint(0, 200, size=(400, 16, 16)).astype(np.uint8) for _ in range(2))


def test_two_sample_test_cannot_tell_one_distribution_apart(noise_images):
    real, generated = noise_images
    numpy_state, torch_state = np.random.get_state(), torch.get_rng_state()
    result = two_sample_test(real, generated, random_state=0)
    assert set(result) == {"accuracy", "auc", "n_train", "n_test", "per_class"}
    assert result["n_train"] == 560 and result["n_test"] == 240 and result["per_class"] is None
    assert abs(result["accuracy"] - 0.5) < 0.15 and abs(result["auc"] - 0.5) < 0.15
    assert result == two_sample_test(real, generated, random_state=0)  # same seed, same result
    assert np.array_equal(np.random.get_state()[1], numpy_state[1]) and torch.equal(torch.get_rng_state(), torch_state)


def test_two_sample_test_tells_marked_images_apart(noise_images):
    real, generated = noise_images
    marked = generated.copy()
    marked[:, 4:8, 4:8] = 255  # a bright square no real image has
    result = two_sample_test(real, marked, random_state=0)
    assert result["accuracy"] > 0.9 and result["auc"] > 0.95


def test_two_sample_test_matches_the_class_mix():
    # Two classes, dark and bright, each the same on both sides, but mostly dark real images and
    # mostly bright generated ones: brightness tells the side unless the class mix is matched.
    rng = np.random.RandomState(1)

    def faces(counts):
        y = np.repeat([0, 1], counts)
        return np.clip(rng.normal(60 + 120 * y[:, None, None], 20, size=(len(y), 16, 16)), 0, 255).astype(np.uint8), y

    (X_real, y_real), (X_gen, y_gen) = faces([240, 60]), faces([60, 240])
    blind = two_sample_test(X_real, X_gen, random_state=0)
    matched = two_sample_test(X_real, X_gen, y_real=y_real, y_generated=y_gen, random_state=0)
    assert blind["accuracy"] > 0.7  # 80% of dark images are real
    assert abs(matched["accuracy"] - 0.5) < 0.15 and matched["n_train"] + matched["n_test"] == 2 * (60 + 60)
    assert len(matched["per_class"]) == 2


def test_two_sample_test_per_class_with_labels(noise_images):
    real, generated = noise_images
    y_real = np.repeat([0, 1, 2, 3], [30, 12, 20, 5])
    y_gen = np.repeat([0, 1, 3], [18, 30, 9])  # no generated image of class 2
    result = two_sample_test(real[:67], generated[:57], y_real=y_real, y_generated=y_gen, epochs=2, random_state=0)
    assert result["n_train"] + result["n_test"] == 2 * (18 + 12 + 0 + 5)
    assert result["n_test"] == 2 * (5 + 4 + 0 + 2)  # 30% of each class's pairs, rounded
    assert len(result["per_class"]) == 4 and np.isnan(result["per_class"][2])
    assert all(0 <= result["per_class"][c] <= 1 for c in (0, 1, 3))
    np.testing.assert_equal(  # NaN included
        result, two_sample_test(real[:67], generated[:57], y_real=y_real, y_generated=y_gen, epochs=2, random_state=0)
    )


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"X_real": np.zeros((9, 16, 16), np.uint8)}, "must each hold at least 10 images. Got 9 and 40 instead."),
        (
            {"y_real": np.zeros(40, int), "y_generated": np.ones(40, int)},
            "at least 10 images of the classes both hold. Got 0 per side",
        ),
        ({"y_real": np.zeros(39, int), "y_generated": np.zeros(40, int)}, r"`y_real` must hold one label per image"),
        ({"y_real": np.zeros(40, int)}, "must be given together or not at all. Got only `y_real`."),
        ({"X_generated": np.zeros((40, 8, 8), np.uint8)}, r"same shape. Got \(1, 16, 16\) and \(1, 8, 8\) instead"),
        ({"X_real": np.full((40, 16, 16), 3.0)}, r"`X_real`: Float `images` must be scaled to \[-1, 1\]"),
        ({"test_size": 0}, r"`test_size` must be a number in \(0, 1\). Got 0 instead."),
        ({"test_size": 1.5}, r"`test_size` must be a number in \(0, 1\). Got 1.5 instead."),
        ({"test_size": "0.3"}, r"Got '0.3' instead."),
        ({"test_size": 0.01}, "`test_size` leaves no image held out of 80 images"),
        ({"test_size": 0.99}, "`test_size` leaves no image for training of 80 images"),
        ({"epochs": 0}, "`epochs` must be a positive integer. Got 0 instead."),
    ],
)
def test_two_sample_test_errors_name_the_argument(kwargs, match):
    kwargs = {"X_real": np.zeros((40, 16, 16), np.uint8), "X_generated": np.zeros((40, 16, 16), np.uint8), **kwargs}
    with pytest.raises(ValueError, match=match):
        two_sample_test(kwargs.pop("X_real"), kwargs.pop("X_generated"), **kwargs)


# -- everything together ---------------------------------------------------------------------
def test_cas_trains_on_synthetic_and_tests_on_real(tiny_faces):
    X, y = tiny_faces
    result = cas(X, y, X, y, epochs=20, batch_size=30, model_params=TINY_CLASSIFIER, random_state=0)
    assert set(result) == {"accuracy", "balanced_accuracy", "macro_f1", "recall"}
    assert len(result["recall"]) == 3
    assert result["accuracy"] > 0.6  # the classes differ in brightness: well above chance (1/3)
    assert result["accuracy"] == pytest.approx(np.mean(result["recall"]))  # 30 real images per class
    assert result == cas(X, y, X, y, epochs=20, batch_size=30, model_params=TINY_CLASSIFIER, random_state=0)


def test_evaluate_samples_of_real_images_scores_as_real(tiny_extractor, tiny_faces):
    X, y = tiny_faces
    result = evaluate_samples(X, y, X, y, classes=["a", "b", "c"], extractor=tiny_extractor, kid_subsets=5)
    for row in result["per_class"]:
        assert row["fid"] == pytest.approx(0, abs=1e-6)
        assert row["precision"] == row["recall"] == row["coverage"] == 1.0
        assert row["diversity"] == pytest.approx(1.0)
        assert row["classifier_recall"] == row["real_recall"]


def test_evaluate_samples_adds_the_two_sample_test(tiny_extractor, tiny_faces):
    X, y = tiny_faces
    kwargs = {"classes": ["a", "b", "c"], "extractor": tiny_extractor, "kid_subsets": 2, "random_state": 0}
    result = evaluate_samples(X, y, X, y, two_sample_epochs=1, **kwargs)
    two_sample = result["two_sample"]
    assert two_sample["n_train"] + two_sample["n_test"] == 2 * len(X) and len(two_sample["per_class"]) == 3
    assert result["settings"]["two_sample_epochs"] == 1
    assert "Two-sample test (a classifier trained 1 epoch to" in format_markdown(result)
    assert "accuracy per class: a " in format_markdown(result)
    assert evaluate_samples(X, y, X, y, **kwargs)["two_sample"] is None


def test_evaluate_generator_on_a_tiny_generator(tiny_generator, tiny_extractor, tiny_faces):
    X, y = tiny_faces
    kwargs = {"extractor": tiny_extractor, "X_train": X, "n_per_class": 12, "kid_subsets": 5, "random_state": 0}
    result = evaluate_generator(tiny_generator, X, y, cas_epochs=1, **kwargs)
    assert result["classes"] == ["a", "b", "c"]
    assert [r["n_generated"] for r in result["per_class"]] == [12, 12, 12]
    assert [r["n_real"] for r in result["per_class"]] == [30, 30, 30]
    mean = result["mean"]
    assert set(mean) >= {"fid", "kid", "precision", "recall", "classifier_recall", "diversity"}
    assert all(np.isfinite(v) for v in mean.values())
    assert mean["fid"] > 0 and 0 <= mean["precision"] <= 1
    assert result["cas"]["accuracy"] == pytest.approx(np.mean(result["cas"]["recall"]))  # 30 real images per class
    assert result["memorisation"]["n_copies"] == 0
    again = evaluate_generator(tiny_generator, X, y, cas_epochs=1, **kwargs)
    assert format_markdown(again) == format_markdown(result)  # same seed, same numbers

    table = format_markdown(result, title="tiny")
    assert table.count("\n| ") == 5  # header + 3 classes + mean (the separator starts "|---")
    assert "| **mean** |" in table and "CAS" in table and "Memorisation" in table


def test_evaluate_generator_ranks_with_the_saved_discriminator(tiny_generator, tiny_extractor, tiny_faces, tmp_path):
    from cganbalance.hub import save_generator
    from cganbalance.nets import Discriminator

    X, y = tiny_faces
    d = Discriminator(n_classes=3, input_shape=[1, 16, 16], widths=[4, 8])
    init_weights(d, torch.Generator().manual_seed(0), std=0.3)
    folder = save_generator(tiny_generator, tmp_path / "g", discriminator=d.eval())
    kwargs = {"extractor": tiny_extractor, "n_per_class": 10, "kid_subsets": 3, "random_state": 0}
    plain = evaluate_generator(folder, X, y, **kwargs)
    assert format_markdown(evaluate_generator(folder, X, y, filter_keep=1.0, **kwargs)) == format_markdown(plain)
    ranked = evaluate_generator(folder, X, y, filter_keep=0.5, **kwargs)
    assert ranked["settings"]["filter_keep"] == 0.5 and plain["settings"]["filter_keep"] is None
    assert [r["n_generated"] for r in ranked["per_class"]] == [10, 10, 10]
    assert format_markdown(ranked) != format_markdown(plain)
    assert format_markdown(evaluate_generator(folder, X, y, filter_keep=0.5, **kwargs)) == format_markdown(ranked)
    assert all(p.dtype == torch.float32 for p in tiny_generator.parameters()) and not tiny_generator.training
    with pytest.raises(ValueError, match=r"`filter_keep=0.5` ranks candidates by the discriminator saved with the "
                                         r"generator, but a Generator object has none"):
        evaluate_generator(tiny_generator, X, y, filter_keep=0.5, **kwargs)
    with pytest.raises(ValueError, match=r"`filter_keep` must be None or a fraction in \(0, 1\]. Got 2 instead."):
        evaluate_generator(folder, X, y, filter_keep=2, **kwargs)


def test_evaluate_generator_matches_real_labels_by_name(tiny_generator, tiny_extractor, tiny_faces):
    X, y = tiny_faces
    order = ["c", "a", "b"]
    relabel = np.array([order.index(n) for n in tiny_generator.classes])[y]
    kwargs = {"extractor": tiny_extractor, "n_per_class": 10, "kid_subsets": 3, "random_state": 0}
    by_index = evaluate_generator(tiny_generator, X, y, **kwargs)
    by_name = evaluate_generator(tiny_generator, X, relabel, classes=order, **kwargs)
    assert [r["class"] for r in by_name["per_class"]] == order
    assert by_name["per_class"][1]["real_recall"] == by_index["per_class"][0]["real_recall"]
    with pytest.raises(ValueError, match="`y_real` holds label 5"):
        evaluate_generator(tiny_generator, X, np.full(len(X), 5), **kwargs)
    with pytest.raises(ValueError, match="`n_per_class` must be a positive integer"):
        evaluate_generator(tiny_generator, X, y, **{**kwargs, "n_per_class": 0})


def test_cli_evaluate(tmp_path, capsys):
    from cganbalance import fer2013
    from cganbalance.cli import main
    from cganbalance.hub import save_generator

    rng = np.random.RandomState(0)
    y = np.arange(70) % 7
    X = np.clip(rng.normal(40 + 25 * y[:, None, None], 20, size=(70, 16, 16)), 0, 255).astype(np.uint8)
    data = tmp_path / "faces.npz"
    np.savez(data, images=X, labels=y, classes=np.array(fer2013.CLASSES))
    extractor = train_classifier(
        X, y, epochs=1, batch_size=35, random_state=0, model_params=TINY_CLASSIFIER, classes=fer2013.CLASSES
    )
    save_classifier(extractor, tmp_path / "clf")
    g = Generator(latent_dim=8, output_shape=[1, 16, 16], widths=[8, 8, 4], classes=fer2013.CLASSES)
    init_weights(g, torch.Generator().manual_seed(0))
    save_generator(g.eval(), tmp_path / "gen")

    args = [
        "evaluate",
        str(tmp_path / "gen"),
        "--data",
        str(data),
        "--extractor",
        str(tmp_path / "clf"),
        "--train",
        str(data),
        "--n-per-class",
        "6",
        "--json",
        str(tmp_path / "r.json"),
    ]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "| disgust | 10 / 6 |" in out and "| **mean** |" in out and "Memorisation" in out
    import json

    assert json.loads((tmp_path / "r.json").read_text())["classes"] == fer2013.CLASSES

    with pytest.raises(SystemExit) as exit_info:
        main(args[:4] + ["--extractor", str(tmp_path / "nowhere")])
    assert exit_info.value.code == 2
    assert "holds no model.safetensors" in capsys.readouterr().err
