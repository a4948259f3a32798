"""CGANOverSampler: imbalanced-learn semantics, data kinds, determinism and bad input."""

import copy
from collections import Counter

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from imblearn.pipeline import make_pipeline
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score

from cganbalance import CGANOverSampler

from .conftest import TINY_IMAGE, TINY_MLP


def tab_sampler(**kwargs):
    params = dict(epochs=1, random_state=0, preset_params=TINY_MLP, device="cpu")
    params.update(kwargs)
    return CGANOverSampler(**params)


def img_sampler(**kwargs):
    params = dict(epochs=1, batch_size=16, random_state=0, preset_params=TINY_IMAGE, device="cpu")
    params.update(kwargs)
    return CGANOverSampler(**params)


# -- sampling_strategy --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "strategy, expected",
    [
        ("auto", {0: 72, 1: 72, 2: 72}),
        ("not majority", {0: 72, 1: 72, 2: 72}),
        ("minority", {0: 72, 1: 36, 2: 72}),
        ("not minority", {0: 72, 1: 72, 2: 12}),
        ("all", {0: 72, 1: 72, 2: 72}),
        ({1: 50, 2: 40}, {0: 72, 1: 50, 2: 40}),
        (lambda y: {2: 30}, {0: 72, 1: 36, 2: 30}),
    ],
)
def test_sampling_strategy_forms(tiny_tabular, strategy, expected):
    X, y = tiny_tabular
    assert Counter(y) == {0: 72, 1: 36, 2: 12}
    X_res, y_res = tab_sampler(sampling_strategy=strategy).fit_resample(X, y)
    assert dict(Counter(y_res)) == expected
    assert X_res.shape == (sum(expected.values()), X.shape[1])


def test_float_strategy_binary():
    rng = np.random.RandomState(0)
    X, y = rng.randn(50, 3), np.array([0] * 40 + [1] * 10)
    _, y_res = tab_sampler(sampling_strategy=0.5).fit_resample(X, y)
    assert Counter(y_res) == {0: 40, 1: 20}


def test_originals_first_and_untouched(tiny_tabular):
    X, y = tiny_tabular
    X_copy, y_copy = X.copy(), y.copy()
    sampler = tab_sampler()
    X_res, y_res = sampler.fit_resample(X, y)
    np.testing.assert_array_equal(X, X_copy)
    np.testing.assert_array_equal(y, y_copy)
    np.testing.assert_array_equal(X_res[: len(X)], X)
    np.testing.assert_array_equal(y_res[: len(y)], y)
    # max_synthetic_ratio="auto": at most n_real / 10 synthetic rows per real row (12 rows: 14 in all)
    assert sampler.n_generated_ == {1: 36, 2: 14} and sampler.n_copied_ == {1: 0, 2: 46}
    assert sampler.preset_ == "tabular"  # "auto" picks it for numeric tables too
    assert not hasattr(sampler, "sample_indices_")


def test_max_synthetic_ratio_caps_synthetic_rows_and_copies_the_rest(tiny_tabular):
    X, y = tiny_tabular  # counts {0: 72, 1: 36, 2: 12}
    sampler = tab_sampler(max_synthetic_ratio=1.5)
    X_res, y_res = sampler.fit_resample(X, y)
    assert Counter(y_res) == {0: 72, 1: 72, 2: 72}  # the target is still met
    assert sampler.n_generated_ == {1: 36, 2: 18} and sampler.n_copied_ == {1: 0, 2: 42}
    new, new_y = X_res[len(X) :], y_res[len(X) :]
    is_copy = np.array([(np.abs(X[y == label] - row).sum(1) == 0).any() for row, label in zip(new, new_y)])
    assert is_copy[new_y == 2].sum() == 42 and not is_copy[new_y == 1].any()
    # the copies come after the synthetic rows of their class, and random_state fixes them
    assert not is_copy[new_y == 2][:18].any() and is_copy[new_y == 2][18:].all()
    X_again, _ = tab_sampler(max_synthetic_ratio=1.5).fit_resample(X, y)
    np.testing.assert_array_equal(X_res, X_again)
    # ratio 0: random over-sampling only, and no change to the default when the cap is not hit
    sampler0 = tab_sampler(max_synthetic_ratio=0)
    X0, y0 = sampler0.fit_resample(X, y)
    assert sampler0.n_generated_ == {1: 0, 2: 0} and Counter(y0) == {0: 72, 1: 72, 2: 72}
    uncapped = tab_sampler(max_synthetic_ratio=None).fit_resample(X, y)[0]
    np.testing.assert_array_equal(tab_sampler(max_synthetic_ratio=10).fit_resample(X, y)[0], uncapped)


def test_auto_caps_the_synthetic_share_of_rows_easy_to_tell_from_real_ones(tiny_tabular, monkeypatch):
    import cganbalance.over_sampling._sampler as sampler_module

    X, y = tiny_tabular  # counts {0: 72, 1: 36, 2: 12}
    strategy = {1: 100, 2: 40}  # class 1 gains 64 ("rows" allows 3.6 per real row), class 2 (12 rows) 28
    measured = tab_sampler(sampling_strategy=strategy)
    measured.fit_resample(X, y)
    assert list(measured.synthetic_auc_) == [1] and 0 <= measured.synthetic_auc_[1] <= 1  # 12 rows: too few to test
    for auc, generated in ((0.55, 64), (0.9, 36)):  # hard to tell apart: all synthetic; easy: one per real row
        monkeypatch.setattr(sampler_module, "two_sample_auc", lambda real, gen, seed=0, auc=auc: auc)
        s = tab_sampler(sampling_strategy=strategy)
        X_res, y_res = s.fit_resample(X, y)
        assert s.synthetic_auc_ == {1: auc} and Counter(y_res) == {0: 72, 1: 100, 2: 40}
        assert s.n_generated_[1] == generated and s.n_copied_[1] == 64 - generated
        assert s.n_generated_[2] == 14 and s.n_copied_[2] == 14  # the "rows" cap: 1.2 per real row
    assert tab_sampler(sampling_strategy=strategy).fit(X, y).synthetic_auc_ == {}  # fit generates nothing
    explicit = tab_sampler(sampling_strategy=strategy, max_synthetic_ratio=None)
    explicit.fit_resample(X, y)
    assert explicit.synthetic_auc_ == {} and explicit.n_generated_ == {1: 64, 2: 28}


def test_two_sample_auc_reads_how_far_apart_two_sets_of_rows_are():
    from cganbalance.over_sampling._plan import two_sample_auc

    rng = np.random.RandomState(0)
    real = rng.randn(200, 4)
    assert two_sample_auc(real, rng.randn(200, 4)) < 0.6
    assert two_sample_auc(real, rng.randn(200, 4) + [3, 0, 0, 0]) > 0.95


def test_extra_synthetic_balances_with_copies_then_adds_the_same_synthetic_count_to_every_class(tiny_tabular):
    X, y = tiny_tabular  # counts {0: 72, 1: 36, 2: 12}

    def is_copy(rows, labels):
        return np.array([(np.abs(X[y == label] - row).sum(1) == 0).any() for row, label in zip(rows, labels)])

    sampler = tab_sampler(extra_synthetic=10)
    X_res, y_res = sampler.fit_resample(X, y)
    np.testing.assert_array_equal(X_res[: len(X)], X)
    assert Counter(y_res) == {0: 82, 1: 82, 2: 82}  # the majority gets synthetic rows too
    assert sampler.n_generated_ == {0: 10, 1: 10, 2: 10} and sampler.n_copied_ == {0: 0, 1: 36, 2: 60}
    assert sampler.sampling_strategy_ == {1: 36, 2: 60}  # the strategy's top-up, all copies
    new, new_y = X_res[len(X) :], y_res[len(X) :]
    copies = is_copy(new, new_y)
    for label in (0, 1, 2):  # per class: real-looking rows equal in number, and the same synthetic count
        assert (y == label).sum() + copies[new_y == label].sum() == 72 and (~copies[new_y == label]).sum() == 10
    # a float is a fraction of the largest class after the top-up; 0 is plain random over-sampling
    sampler_f = tab_sampler(extra_synthetic=0.25)
    assert Counter(sampler_f.fit_resample(X, y)[1]) == {0: 90, 1: 90, 2: 90} and sampler_f.n_generated_[0] == 18
    sampler0 = tab_sampler(extra_synthetic=0)
    X0, y0 = sampler0.fit_resample(X, y)
    assert Counter(y0) == {0: 72, 1: 72, 2: 72} and is_copy(X0[len(X) :], y0[len(X) :]).all()
    # a strategy that leaves class 0 alone still gives it the extra synthetic rows
    sampler_d = tab_sampler(extra_synthetic=4, sampling_strategy={2: 20})
    assert Counter(sampler_d.fit_resample(X, y)[1]) == {0: 76, 1: 40, 2: 24} and sampler_d.n_copied_[2] == 8
    np.testing.assert_array_equal(X_res, tab_sampler(extra_synthetic=10).fit_resample(X, y)[0])  # random_state


@pytest.mark.parametrize("params, error, match", [
    ({"extra_synthetic": 5, "max_synthetic_ratio": 1.0}, ValueError, "cannot be combined with `max_synthetic_ratio`"),
    ({"extra_synthetic": True}, TypeError, "`extra_synthetic` must be an int >= 0, a float > 0 or None. Got True"),
    ({"extra_synthetic": -1}, ValueError, "'extra_synthetic' parameter"),
    ({"extra_synthetic": 0.0}, ValueError, "'extra_synthetic' parameter"),
])
def test_extra_synthetic_bad_values(tiny_tabular, params, error, match):
    X, y = tiny_tabular
    with pytest.raises(error, match=match):
        tab_sampler(**params).fit_resample(X, y)


def test_max_synthetic_ratio_with_images(tiny_images):
    X, y = tiny_images
    counts = Counter(y)
    largest = max(counts.values())
    sampler = img_sampler(max_synthetic_ratio=0.5)
    X_res, y_res = sampler.fit_resample(X, y)
    assert X_res.shape[1:] == X.shape[1:] and X_res.dtype == X.dtype
    assert Counter(y_res) == {c: largest for c in counts}
    # "auto" (the default) is the same cap for images: one synthetic image per two real ones, copies for the rest
    auto = img_sampler()
    X_auto, _ = auto.fit_resample(X, y)
    np.testing.assert_array_equal(X_auto, X_res)
    for c, n in counts.items():
        if n < largest:
            assert auto.n_generated_[c] == min(largest - n, n // 2)
            assert auto.n_copied_[c] == largest - n - auto.n_generated_[c]
    assert any(auto.n_copied_.values())
    uncapped = img_sampler(max_synthetic_ratio=None)
    uncapped.fit_resample(X, y)
    assert not any(uncapped.n_copied_.values())


class _PrefersLargeFirstFeature:
    """A fitted classifier whose confidence in every class grows with the first feature."""

    classes_ = np.array([0, 1, 2])

    def __init__(self, sign=1.0):
        self.calls, self.sign = 0, sign

    def predict_proba(self, X):
        self.calls += 1
        assert X.ndim == 2  # given rows in the layout of X
        p = 1 / (1 + np.exp(-self.sign * 10 * X[:, 0]))
        return np.column_stack([p, p, p])


def test_filter_classifier_keeps_the_candidates_it_finds_most_typical(tiny_tabular):
    X, y = tiny_tabular
    clf = _PrefersLargeFirstFeature()
    plain = tab_sampler(filter_keep=0.5, max_synthetic_ratio=None)  # every new row synthetic
    X_plain, y_plain = plain.fit_resample(X, y)
    ranked = tab_sampler(filter_keep=0.5, filter_classifier=clf, max_synthetic_ratio=None)
    X_ranked, y_ranked = ranked.fit_resample(X, y)
    X_low, _ = tab_sampler(filter_keep=0.5, filter_classifier=_PrefersLargeFirstFeature(-1.0),
                           max_synthetic_ratio=None).fit_resample(X, y)
    assert clf.calls > 0
    np.testing.assert_array_equal(y_plain, y_ranked)
    # the classifier's preference shows, either way (the 1-epoch generator varies little: compare means)
    assert X_low[len(X) :, 0].mean() < X_plain[len(X) :, 0].mean() < X_ranked[len(X) :, 0].mean()
    # a pretrained generator has no discriminator: the classifier alone ranks its candidates
    def first_feature_mean(**kwargs):
        X_new = tab_sampler(generator=plain.generator_, filter_keep=0.5, max_synthetic_ratio=None,
                            **kwargs).fit_resample(X, y)[0]
        return X_new[len(X) :, 0].mean()

    low, unranked = first_feature_mean(filter_classifier=_PrefersLargeFirstFeature(-1.0)), first_feature_mean()
    assert low < unranked < first_feature_mean(filter_classifier=clf)


class _PerClassPreference:
    """classes_ in another order than y's; class 2 likes a large first feature, class 0 a small one."""

    classes_ = np.array([2, 0, 1])

    def predict_proba(self, X):
        p = 1 / (1 + np.exp(-10 * X[:, 0]))
        return np.column_stack([p, 1 - p, np.full(len(X), 0.5)])


def test_filter_classifier_reads_the_column_of_each_label(tiny_tabular):
    X, y = tiny_tabular  # classes 1 and 2 are topped up
    kwargs = dict(filter_keep=0.5, max_synthetic_ratio=None)  # both ranked by the discriminator, one also by the classifier
    X_plain, y_plain = tab_sampler(**kwargs).fit_resample(X, y)
    X_ranked, y_ranked = tab_sampler(filter_classifier=_PerClassPreference(), **kwargs).fit_resample(X, y)
    new = slice(len(X), None)
    is2, is1 = y_plain[new] == 2, y_plain[new] == 1
    assert X_ranked[new][is2, 0].mean() > X_plain[new][is2, 0].mean()  # class 2's own column, not position 2
    np.testing.assert_array_equal(X_ranked[new][is1], X_plain[new][is1])  # a constant column changes nothing


def test_filter_classifier_gets_images_in_the_layout_of_X(tiny_images):
    X, y = tiny_images
    X_hwc = X[..., None]  # N×H×W×1

    class Brightness:
        classes_ = np.unique(y)
        shapes = []

        def predict_proba(self, images):
            self.shapes.append(images.shape[1:])
            p = images.reshape(len(images), -1).mean(1) / 255.0
            return np.repeat(p[:, None], len(self.classes_), axis=1)

    clf = Brightness()
    X_res, _ = img_sampler(filter_classifier=clf).fit_resample(X_hwc, y)
    assert set(clf.shapes) == {X_hwc.shape[1:]} and X_res.shape[1:] == X_hwc.shape[1:]


def test_filter_classifier_bad_input(tiny_tabular):
    X, y = tiny_tabular
    with pytest.raises(ValueError, match="'filter_classifier' parameter"):
        tab_sampler(filter_classifier=object()).fit_resample(X, y)
    with pytest.raises(ValueError, match="`filter_classifier` must be 'fer2013', a folder .* Got 'imagenet', no such folder"):
        tab_sampler(filter_classifier="imagenet").fit_resample(X, y)
    with pytest.raises(ValueError, match="set `filter_keep` below 1"):
        tab_sampler(filter_keep=None, filter_classifier=_PrefersLargeFirstFeature()).fit_resample(X, y)
    other = _PrefersLargeFirstFeature()
    other.classes_ = np.array([0, 1])
    with pytest.raises(ValueError, match=r"labels \[2\] are not among its classes \[0, 1\]"):
        tab_sampler(filter_classifier=other).fit_resample(X, y)
    from sklearn.linear_model import LogisticRegression

    with pytest.raises(ValueError, match="has no `classes_`.*FrozenEstimator"):
        tab_sampler(filter_classifier=LogisticRegression()).fit_resample(X, y)
    with pytest.raises(ValueError, match="scores 48×48 grey faces; X holds tabular rows"):
        tab_sampler(filter_classifier="fer2013").fit_resample(X, y)


def test_filter_classifier_survives_pipeline_clones_when_frozen(tiny_tabular):
    FrozenEstimator = pytest.importorskip("sklearn.frozen").FrozenEstimator

    X, y = tiny_tabular
    clf = FrozenEstimator(LogisticRegression().fit(X, y))
    pipe = make_pipeline(tab_sampler(filter_classifier=clf), LogisticRegression())
    scores = cross_val_score(pipe, X, y, cv=2, scoring="balanced_accuracy")
    assert scores.shape == (2,) and np.all(np.isfinite(scores))


def test_filter_classifier_fer2013_on_faces(tmp_path):
    from cganbalance.classifier import FER_CLASSIFIER_DIR
    from cganbalance.hub import PRETRAINED_DIR

    if not (FER_CLASSIFIER_DIR / "model.safetensors").is_file():
        pytest.skip("the FER-2013 classifier is not embedded in this install")
    if not (PRETRAINED_DIR / "fer2013-cgan" / "model.safetensors").is_file():
        pytest.skip("the FER-2013 generator is not embedded in this install")
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(70, 48, 48)).astype(np.uint8)
    y = np.array(["happy"] * 40 + ["disgust"] * 30)
    kwargs = {"generator": "fer2013-cgan", "random_state": 0, "device": "cpu"}
    filtered = CGANOverSampler(filter_classifier="fer2013", **kwargs)
    X_res, y_res = filtered.fit_resample(X, y)
    X_raw, _ = CGANOverSampler(**kwargs).fit_resample(X, y)
    # a saved FER-2013 classifier (here a copy of the shipped one) ranks as the shipped one does
    import shutil

    folder = shutil.copytree(FER_CLASSIFIER_DIR, tmp_path / "classifier")
    for spec in (folder, str(folder)):
        np.testing.assert_array_equal(CGANOverSampler(filter_classifier=spec, **kwargs).fit_resample(X, y)[0], X_res)
    for spec, why in ((tmp_path / "missing", "no such folder"), (tmp_path, "which holds no config.json")):
        with pytest.raises(ValueError, match=rf"`filter_classifier` must be 'fer2013', a folder holding .* {why}"):
            CGANOverSampler(filter_classifier=str(spec), **kwargs).fit_resample(X, y)
    import pickle

    restored = pickle.loads(pickle.dumps(filtered))  # the shipped classifier travels as config + weights
    np.testing.assert_array_equal(filtered.sample({"disgust": 5}, random_state=0)[0], restored.sample({"disgust": 5}, random_state=0)[0])
    from cganbalance.classifier import extract, load_fer_classifier

    model = load_fer_classifier()
    disgust = 1  # FER-2013 index
    p_kept = extract(model, X_res[70:], features=False)[1]
    p_raw = extract(model, X_raw[70:], features=False)[1]
    # kept faces look more like disgust to the classifier (its probability of the intended class)
    assert torch.softmax(torch.as_tensor(p_kept), 1)[:, disgust].mean() > torch.softmax(torch.as_tensor(p_raw), 1)[:, disgust].mean()
    assert Counter(y_res) == {"happy": 40, "disgust": 40}
    # float faces in [0, 1] are scored in the classifier's own units: the same choice as for uint8
    X_unit, _ = CGANOverSampler(filter_classifier="fer2013", **kwargs).fit_resample(X / 255.0, y)
    assert np.abs(X_unit[70:] * 255 - X_res[70:]).max() <= 1.0
    with pytest.raises(ValueError, match="needs face pixels in 0-255, \\[0, 1\\] or \\[-1, 1\\]; X holds values from -3"):
        CGANOverSampler(filter_classifier="fer2013", **kwargs).fit_resample((X / 255.0 - 0.5) * 6, y)


def test_tabular_values_inside_observed_range(tiny_tabular):
    X, y = tiny_tabular
    X_res, y_res = tab_sampler(max_synthetic_ratio=None).fit_resample(X, y)
    new = X_res[len(X) :]
    for label in (1, 2):
        assert new[y_res[len(X) :] == label].shape[0] > 0
    assert np.all(new >= X.min(0)) and np.all(new <= X.max(0))
    # synthetic rows are new points, not copies of real rows
    assert not any((np.abs(X - row).sum(1) == 0).any() for row in new)


def test_integer_tabular_stays_integer():
    rng = np.random.RandomState(0)
    X = rng.randint(0, 10, size=(60, 4))
    y = np.array([0] * 45 + [1] * 15)
    X_res, _ = tab_sampler().fit_resample(X, y)
    assert X_res.dtype == X.dtype
    assert X_res.min() >= 0 and X_res.max() <= 9


def test_string_labels_list_input_float32():
    rng = np.random.RandomState(1)
    X = rng.randn(40, 3).astype(np.float32)
    y = ["cat"] * 30 + ["dog"] * 10
    X_res, y_res = tab_sampler().fit_resample(X, y)
    assert isinstance(y_res, list) and Counter(y_res) == {"cat": 30, "dog": 30}
    assert X_res.dtype == np.float32
    X_res, y_res = tab_sampler().fit_resample(X.tolist(), y)
    assert isinstance(X_res, list) and len(X_res) == 60


def test_pandas_round_trip(tiny_tabular):
    pd = pytest.importorskip("pandas")
    X, y = tiny_tabular
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])]).astype("float32")
    s = pd.Series(y, name="target")
    X_res, y_res = tab_sampler().fit_resample(df, s)
    assert isinstance(X_res, pd.DataFrame) and list(X_res.columns) == list(df.columns)
    assert isinstance(y_res, pd.Series) and y_res.name == "target"
    assert (X_res.dtypes == "float32").all()
    assert len(X_res) == len(y_res) == 3 * 72


# -- scikit-learn integration -------------------------------------------------------------------
def test_pipeline_cross_val_and_grid_search(tiny_tabular):
    X, y = tiny_tabular
    pipe = make_pipeline(tab_sampler(), LogisticRegression(max_iter=200))
    scores = cross_val_score(pipe, X, y, cv=3, scoring="balanced_accuracy")
    assert scores.shape == (3,) and np.all(scores > 0.3)
    grid = GridSearchCV(pipe, {"cganoversampler__filter_keep": [None, 0.5]}, cv=2, scoring="balanced_accuracy")
    grid.fit(X, y)
    scores = grid.cv_results_["mean_test_score"]
    assert len(scores) == 2 and np.all(np.isfinite(scores))  # both candidates were fitted and scored
    assert grid.best_params_ == grid.cv_results_["params"][int(np.argmax(scores))]


def test_clone_and_params_round_trip():
    sampler = CGANOverSampler(sampling_strategy={1: 10}, epochs=3, preset="mlp", image_shape=None, filter_keep=None)
    params = sampler.get_params()
    twin = clone(sampler)
    assert twin.get_params() == params
    twin.set_params(epochs=7, preset="default")
    assert twin.epochs == 7 and twin.preset == "default" and sampler.epochs == 3


def test_clone_does_not_copy_fitted_state(tiny_tabular):
    X, y = tiny_tabular
    sampler = tab_sampler().fit(X, y)
    assert hasattr(sampler, "generator_")
    assert not hasattr(clone(sampler), "generator_")


# -- determinism --------------------------------------------------------------------------------
def test_same_random_state_bit_identical(tiny_tabular, tiny_images):
    X, y = tiny_tabular
    a, _ = tab_sampler(random_state=3).fit_resample(X, y)
    b, _ = tab_sampler(random_state=3).fit_resample(X, y)
    c, _ = tab_sampler(random_state=4).fit_resample(X, y)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)
    Xi, yi = tiny_images
    a, _ = img_sampler(random_state=3).fit_resample(Xi, yi)
    b, _ = img_sampler(random_state=3).fit_resample(Xi, yi)
    assert np.array_equal(a, b)


def test_global_rng_untouched(tiny_tabular):
    X, y = tiny_tabular
    torch.manual_seed(123)
    np.random.seed(123)
    expected_t, expected_n = torch.rand(1), np.random.rand()
    torch.manual_seed(123)
    np.random.seed(123)
    tab_sampler(random_state=0).fit_resample(X, y)
    assert torch.rand(1) == expected_t and np.random.rand() == expected_n


# -- images -------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["NHW", "NHWC", "NCHW", "rows"])
def test_image_layouts_round_trip(tiny_images, layout):
    X, y = tiny_images
    kwargs = {}
    if layout == "NHWC":
        X = np.repeat(X[..., None], 3, axis=3)
    elif layout == "NCHW":
        X = np.repeat(X[:, None], 3, axis=1)
    elif layout == "rows":
        X = X.reshape(len(X), -1)
        kwargs["image_shape"] = (16, 16)
    X_copy = X.copy()
    sampler = img_sampler(**kwargs)
    X_res, y_res = sampler.fit_resample(X, y)
    np.testing.assert_array_equal(X, X_copy)
    assert X_res.shape == (90, *X.shape[1:])
    assert X_res.dtype == np.uint8
    np.testing.assert_array_equal(X_res[:60], X)
    channels = 3 if layout in ("NHWC", "NCHW") else 1
    assert sampler.generator_.output_shape == [channels, 16, 16]
    assert Counter(y_res) == {0: 30, 1: 30, 2: 30}


def test_float_images_keep_range_and_dtype(tiny_images):
    X, y = tiny_images
    Xf = (X / 255.0).astype(np.float32)
    X_res, _ = img_sampler().fit_resample(Xf, y)
    assert X_res.dtype == np.float32 and X_res.min() >= 0 and X_res.max() <= 1


def test_paper_preset_resizes_to_input(tiny_images):
    X, y = tiny_images
    tiny_paper = {"generator": {"latent_dim": 8, "widths": [16, 8, 8, 4]}, "discriminator": {"widths": [8, 8, 8, 8]}}
    sampler = img_sampler(preset="paper", preset_params=tiny_paper)
    X_res, _ = sampler.fit_resample(X, y)
    assert X_res.shape == (90, 16, 16)
    assert sampler.generator_.net_size == [64, 64]
    assert sampler.generator_.generate([0, 1]).shape == (2, 1, 16, 16)


def test_fitted_attributes_and_more_samples(tiny_images):
    X, y = tiny_images
    sampler = img_sampler(epochs=2)
    sampler.fit_resample(X, y)
    assert [h["epoch"] for h in sampler.history_] == [1, 2]
    assert all(np.isfinite(h["d_loss"]) and np.isfinite(h["g_loss"]) for h in sampler.history_)
    assert sampler.device_ == torch.device("cpu")
    assert sampler.preset_ == "default"
    X_new, y_new = sampler.sample({2: 5, 0: 3}, random_state=0)
    assert X_new.shape == (8, 16, 16) and X_new.dtype == np.uint8
    assert list(y_new) == [2] * 5 + [0] * 3
    X_again, _ = sampler.sample({2: 5, 0: 3}, random_state=0)
    np.testing.assert_array_equal(X_new, X_again)
    with pytest.raises(ValueError, match="not seen in fit"):
        sampler.sample({7: 1})


def test_filtering_changes_selection(tiny_tabular):
    X, y = tiny_tabular
    kept, _ = tab_sampler(filter_keep=0.5).fit_resample(X, y)
    unfiltered, _ = tab_sampler(filter_keep=None).fit_resample(X, y)
    assert kept.shape == unfiltered.shape
    assert not np.array_equal(kept, unfiltered)


def test_max_time_budget_stops_training(tiny_tabular):
    X, y = tiny_tabular
    sampler = tab_sampler(epochs=None, max_time=0.05)
    sampler.fit_resample(X, y)
    assert 1 <= len(sampler.history_) < 1000


def test_verbose_progress_bar(tiny_tabular, capsys):
    X, y = tiny_tabular
    tab_sampler(verbose=True).fit_resample(X, y)
    err = capsys.readouterr().err
    assert "cGAN training" in err and "D=" in err and "G=" in err


# -- bad input ----------------------------------------------------------------------------------
def test_nan_and_inf_rejected(tiny_tabular):
    X, y = tiny_tabular
    for bad, what in ((np.nan, r"missing \(NaN\) values"), (np.inf, "infinite values")):
        Xb = X.copy()
        Xb[3, 1] = bad
        with pytest.raises(ValueError, match=rf"Columns \['1'\] of X hold {what}"):
            tab_sampler().fit_resample(Xb, y)


def test_single_class_rejected(tiny_tabular):
    X, _ = tiny_tabular
    with pytest.raises(ValueError, match="more than 1 class"):
        tab_sampler().fit_resample(X, np.zeros(len(X)))


def test_class_with_one_sample_rejected():
    X = np.random.RandomState(0).randn(21, 3)
    y = np.array([0] * 20 + [1])
    with pytest.raises(ValueError, match=r"Class 1 has 1 sample\(s\).*at least 2"):
        tab_sampler().fit_resample(X, y)


def test_image_shape_mismatch(tiny_images):
    X, y = tiny_images
    with pytest.raises(ValueError, match=r"image_shape=\(10, 10\).*100 values per row.*256 columns"):
        img_sampler(image_shape=(10, 10)).fit_resample(X.reshape(60, -1), y)
    with pytest.raises(ValueError, match="does not match the images in X"):
        img_sampler(image_shape=(8, 32)).fit_resample(X, y)
    with pytest.raises(ValueError, match="image_shape"):
        img_sampler(image_shape=(16, -16)).fit_resample(X.reshape(60, -1), y)


def test_sparse_rejected(tiny_tabular):
    X, y = tiny_tabular
    with pytest.raises(TypeError, match="Sparse data"):
        tab_sampler().fit_resample(sp.csr_matrix(X), y)


def test_multilabel_rejected(tiny_tabular):
    X, _ = tiny_tabular
    Y = np.zeros((len(X), 3), dtype=int)
    Y[:, 0] = 1
    Y[::2, 1] = 1
    with pytest.raises(ValueError, match="Multilabel"):
        tab_sampler().fit_resample(X, Y)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"preset": "huge"}, "'preset' parameter"),
        ({"epochs": 0}, "'epochs' parameter"),
        ({"filter_keep": 1.5}, "'filter_keep' parameter"),
        ({"max_synthetic_ratio": -1}, "'max_synthetic_ratio' parameter"),
        ({"latent_scale": 0}, "'latent_scale' parameter"),
        ({"latent_scale": 10.5}, "'latent_scale' parameter"),
        ({"latent_scale": float("nan")}, "'latent_scale' parameter"),
        ({"device": 3}, "'device' parameter"),
    ],
)
def test_bad_parameters(tiny_tabular, params, match):
    X, y = tiny_tabular
    with pytest.raises(ValueError, match=match):
        tab_sampler(**params).fit_resample(X, y)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_cuda_without_cuda(tiny_tabular):
    X, y = tiny_tabular
    with pytest.raises(ValueError, match="CUDA is not available"):
        tab_sampler(device="cuda").fit_resample(X, y)


def test_unknown_device_string(tiny_tabular):
    X, y = tiny_tabular
    with pytest.raises(ValueError, match="`device` must be"):
        tab_sampler(device="tpu").fit_resample(X, y)


def test_resume_needs_checkpoint_dir(tiny_tabular):
    X, y = tiny_tabular
    with pytest.raises(ValueError, match="checkpoint_dir"):
        tab_sampler(resume=True).fit_resample(X, y)


def test_pandas_mixed_integer_and_float_columns():
    pd = pytest.importorskip("pandas")
    rng = np.random.RandomState(0)
    df = pd.DataFrame({"age": rng.randint(20, 80, 60), "score": rng.rand(60), "flag": rng.rand(60) > 0.5})
    y = np.array([0] * 45 + [1] * 15)
    X_res, _ = tab_sampler().fit_resample(df, y)
    assert list(X_res.dtypes) == list(df.dtypes)
    new = X_res.iloc[60:]
    assert new["age"].between(20, 79).all() and new["score"].between(0, 1).all()
    # whole numbers by rounding (not truncation): the mean stays near the real mean
    assert abs(new["age"].mean() - df["age"].mean()) < 15
    assert not np.allclose(new["score"], new["score"].round())


def test_pandas_integer_columns_are_rounded_not_truncated(monkeypatch):
    pd = pytest.importorskip("pandas")
    df = pd.DataFrame({"age": [50] * 48 + [54] * 12, "score": np.linspace(0, 1, 60)})  # mean age 50.8
    y = np.array([0] * 45 + [1] * 15)
    # every synthetic sample at the standardised origin of the "mlp" recipe, i.e. at each feature's mean
    monkeypatch.setattr(CGANOverSampler, "_generate_filtered", lambda self, c, n, rng: np.zeros((n, 2), dtype=np.float32))
    X_res, _ = tab_sampler(preset="mlp", max_synthetic_ratio=None).fit_resample(df, y)
    assert (X_res["age"].iloc[60:] == 51).all()


def test_pretrained_generator_used_as_is_and_fine_tuned(tiny_images):
    from cganbalance import Generator

    X, y = tiny_images
    g = Generator(n_classes=3, latent_dim=8, output_shape=[1, 16, 16], widths=[16, 8, 8, 4], classes=["0", "1", "2"])
    before = {k: v.clone() for k, v in g.state_dict().items()}
    as_is = CGANOverSampler(generator=g, random_state=0, device="cpu")
    X_res, _ = as_is.fit_resample(X, y)
    assert as_is.history_ == [] and as_is.discriminator_ is None and X_res.shape == (90, 16, 16)
    tuned = CGANOverSampler(generator=g, fine_tune=True, epochs=2, batch_size=16, random_state=0, device="cpu")
    X_tuned, _ = tuned.fit_resample(X, y)
    assert len(tuned.history_) == 2 and tuned.discriminator_ is not None
    assert not torch.equal(tuned.generator_.fc.weight, g.fc.weight)
    assert all(torch.equal(before[k], v) for k, v in g.state_dict().items())  # the caller's object is untouched
    assert not np.array_equal(X_res[60:], X_tuned[60:])


def test_fine_tune_starts_from_the_saved_discriminator(tiny_images, tmp_path, monkeypatch):
    from cganbalance import Discriminator, Generator, save_generator
    from cganbalance.nets import init_weights

    X, y = tiny_images
    g = Generator(n_classes=3, latent_dim=8, output_shape=[1, 16, 16], widths=[16, 8, 8, 4], classes=["0", "1", "2"])
    d = Discriminator(n_classes=3, input_shape=[1, 16, 16], widths=[4, 8])
    init_weights(d, torch.Generator().manual_seed(1), std=0.3)
    folder = save_generator(g, tmp_path / "with-d", discriminator=d.eval())
    started = []

    class Stop(Exception):
        pass

    def record(self, g, d, *args):
        started.append({k: v.clone() for k, v in d.state_dict().items()})
        raise Stop

    monkeypatch.setattr(CGANOverSampler, "_train_networks", record)
    for generator in (folder, save_generator(g, tmp_path / "without")):
        with pytest.raises(Stop):
            CGANOverSampler(generator=str(generator), fine_tune=True, epochs=1, random_state=0, device="cpu").fit(X, y)
    saved, fresh = started
    assert saved.keys() == d.state_dict().keys() and all(torch.equal(v, d.state_dict()[k]) for k, v in saved.items())
    assert fresh.keys() != saved.keys() or not all(torch.equal(v, saved[k]) for k, v in fresh.items())


def test_latent_scale_sets_the_spread_of_the_synthetic_samples(tiny_images):
    from cganbalance import Generator
    from cganbalance.nets import init_weights

    X, y = tiny_images
    g = Generator(n_classes=3, latent_dim=8, output_shape=[1, 16, 16], widths=[16, 8, 8, 4], classes=["0", "1", "2"])
    init_weights(g, torch.Generator().manual_seed(0), std=0.3)

    def synthetic(**params):
        X_res, y_res = CGANOverSampler(generator=g, random_state=0, device="cpu", **params).fit_resample(X, y)
        new = y_res[len(X) :] == 1  # one class, so the spread is within a class
        return X_res[len(X) :][new].astype(np.float64)

    default, one, wide, tight = synthetic(), synthetic(latent_scale=1.0), synthetic(latent_scale=3.0), synthetic(
        latent_scale=1e-4
    )
    np.testing.assert_array_equal(default, one)  # 1 is exactly the default draw
    spread = [x.std(0).mean() for x in (tight, one, wide)]
    assert spread[0] < 1.0 < spread[1] < spread[2], spread  # near-zero noise: (almost) one image per class
    # set after fit, it applies to sample() too, and is checked there
    sampler = CGANOverSampler(generator=g, random_state=0, device="cpu").fit(X, y)
    sampler.set_params(latent_scale=1e-4)
    assert sampler.sample({1: 6}, random_state=0)[0].astype(np.float64).std(0).mean() < 1.0
    sampler.set_params(latent_scale=0)
    with pytest.raises(ValueError, match=r"`latent_scale` must be a number in \(0, 10\]. Got 0"):
        sampler.sample({1: 2})


def test_latent_scale_leaves_training_alone_and_is_checked_before_it(tiny_images, monkeypatch):
    X, y = tiny_images
    plain, wide = img_sampler(epochs=2), img_sampler(epochs=2, latent_scale=2.0)
    X_plain, _ = plain.fit_resample(X, y)
    X_wide, _ = wide.fit_resample(X, y)
    state = wide.generator_.state_dict()
    assert all(torch.equal(v, state[k]) for k, v in plain.generator_.state_dict().items())  # same training
    assert [h["g_loss"] for h in plain.history_] == [h["g_loss"] for h in wide.history_]
    assert np.array_equal(X_plain[: len(X)], X_wide[: len(X)])
    # a bool passes scikit-learn's Interval check; it is refused before any training
    from cganbalance import training

    monkeypatch.setattr(training.CGANTrainer, "fit", lambda *a, **k: pytest.fail("trained with a bad latent_scale"))
    with pytest.raises(TypeError, match=r"`latent_scale` must be a number in \(0, 10\]. Got True \(bool\)"):
        img_sampler(latent_scale=True).fit_resample(X, y)


# -- pickling -----------------------------------------------------------------------------------
def test_fitted_sampler_pickles_and_samples_the_same(tiny_images, tiny_tabular, tmp_path):
    import pickle

    import joblib

    X, y = tiny_images
    fitted = img_sampler(epochs=2).fit(X, y)  # spectral-norm discriminator, EMA generator
    restored = pickle.loads(pickle.dumps(fitted))
    assert type(restored.discriminator_).__name__ == "Discriminator"
    assert not restored.generator_.training and not any(p.requires_grad for p in restored.generator_.parameters())
    # sample() uses the generator and the discriminator's filtering: both came back intact
    np.testing.assert_array_equal(fitted.sample({2: 6}, random_state=3)[0], restored.sample({2: 6}, random_state=3)[0])
    # a fitted imblearn pipeline through joblib, as users save models
    Xt, yt = tiny_tabular
    pipe = make_pipeline(tab_sampler(epochs=2), LogisticRegression(max_iter=200)).fit(Xt, yt)
    joblib.dump(pipe, tmp_path / "pipe.joblib")
    loaded = joblib.load(tmp_path / "pipe.joblib")
    np.testing.assert_array_equal(pipe.predict(Xt), loaded.predict(Xt))
    s0, s1 = pipe[0], loaded[0]
    np.testing.assert_array_equal(s0.sample({1: 4}, random_state=0)[0], s1.sample({1: 4}, random_state=0)[0])


def test_unpickling_a_gpu_sampler_on_a_cpu_machine_warns(tiny_tabular, monkeypatch):
    import pickle

    from cganbalance.over_sampling import _sampler

    X, y = tiny_tabular
    fitted = tab_sampler(epochs=1).fit(X, y)
    fitted.device_ = torch.device("cuda:0")  # as if fitted on a GPU (weights are saved on the CPU)
    monkeypatch.setattr(_sampler, "device_available", lambda device: torch.device(device).type == "cpu")
    with pytest.warns(RuntimeWarning, match="fitted on cuda:0, which this machine does not have"):
        restored = pickle.loads(pickle.dumps(fitted))
    assert restored.device_ == torch.device("cpu")
    assert restored.sample({1: 3}, random_state=0)[0].shape == (3, X.shape[1])


def test_pickling_keeps_user_objects_as_they_are(tiny_tabular, tiny_images):
    """Only the sampler's own networks are stored as arguments + weights; a user's classifier or
    generator object pickles the way it pickles on its own."""
    import pickle

    from sklearn.frozen import FrozenEstimator

    from cganbalance.nets import Generator

    X, y = tiny_tabular
    clf = LogisticRegression(max_iter=200).fit(X, y)
    fitted = tab_sampler(epochs=1, filter_classifier=FrozenEstimator(clf)).fit(X, y)
    restored = pickle.loads(pickle.dumps(fitted))
    np.testing.assert_array_equal(restored.filter_classifier.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(fitted.sample({1: 4}, random_state=0)[0], restored.sample({1: 4}, random_state=0)[0])
    # a user Generator given as `generator=`, built with numpy integers (which the Hub mixin's
    # record of the arguments drops): the sampler's copy is stored from what the network is
    Xi, yi = tiny_images
    g = Generator(n_classes=np.int64(3), latent_dim=8, output_shape=[1, 16, 16], widths=[16, 8, 8, 4], classes=["0", "1", "2"])
    fitted = img_sampler(generator=g).fit(Xi, np.array(["0", "1", "2"])[yi])
    restored = pickle.loads(pickle.dumps(fitted))
    assert restored.generator is not restored.generator_ and restored.generator_.n_classes == 3
    np.testing.assert_array_equal(fitted.sample({"2": 3}, random_state=0)[0], restored.sample({"2": 3}, random_state=0)[0])


def test_pickled_networks_keep_their_dtype():
    from cganbalance.nets import Generator
    from cganbalance.nets.serialization import PickledModule

    g = Generator(n_classes=3, latent_dim=8, output_shape=[1, 16, 16], widths=[16, 8, 8, 4])
    for dtype in (torch.float16, torch.bfloat16):
        rebuilt = PickledModule(copy.deepcopy(g).to(dtype)).build("cpu")
        assert next(rebuilt.parameters()).dtype == dtype
        for a, b in zip(rebuilt.state_dict().values(), g.to(dtype).state_dict().values()):
            assert torch.equal(a, b)


def test_half_precision_generator_is_used_in_float32_and_left_as_it_was(tiny_images):
    from cganbalance.nets import Generator

    X, y = tiny_images
    g = Generator(n_classes=3, latent_dim=8, output_shape=[1, 16, 16], widths=[16, 8, 8, 4]).half()
    X_res, y_res = img_sampler(generator=g).fit_resample(X, y.astype(str))
    assert len(X_res) > len(X) and np.isfinite(X_res).all()
    assert next(g.parameters()).dtype == torch.float16  # the caller's object is untouched
