"""Bad input matrix: every mistake gets a ValueError/TypeError naming the argument; inputs never change."""

import numpy as np
import pytest
import torch

from cganbalance import CGANOverSampler, Generator, from_pretrained

from .conftest import TINY_IMAGE, TINY_MLP


def sampler(**kwargs):
    return CGANOverSampler(epochs=1, random_state=0, preset_params=TINY_MLP, device="cpu", **kwargs)


@pytest.mark.parametrize(
    "X, y, error, match",
    [
        ("not an array", [0, 1], ValueError, "Expected 2D array|Expected a 2-dimensional container"),
        (np.zeros((0, 3)), np.zeros(0), ValueError, "0 sample"),
        (np.ones((4, 2)), [0, 1, 0], ValueError, "inconsistent numbers of samples"),
        (np.ones((6, 2)), [0.5, 1.5, 0.5, 1.5, 0.5, 2.5], ValueError, "Unknown label type|continuous"),
        (np.array([["a", "b"], ["c", "d"], ["e", "f"], ["g", "h"]]), [0, 1, 0, 1], ValueError, "categorical_features"),
        (np.ones((4, 2, 3, 4, 5)), [0, 1, 0, 1], ValueError, "5 dimensions"),
    ],
)
def test_fit_resample_bad_arrays(X, y, error, match):
    with pytest.raises(error, match=match):
        sampler().fit_resample(X, y)


def test_unseen_label_in_dict_strategy(tiny_tabular):
    X, y = tiny_tabular
    with pytest.raises(ValueError, match="not present in the data"):
        sampler(sampling_strategy={7: 100}).fit_resample(X, y)


def test_dict_strategy_below_current_count(tiny_tabular):
    X, y = tiny_tabular
    with pytest.raises(ValueError, match="greater or equal to the original number"):
        sampler(sampling_strategy={2: 3}).fit_resample(X, y)


def test_huge_request_fails_before_training(tiny_tabular, monkeypatch):
    X, y = tiny_tabular
    from cganbalance.training import CGANTrainer

    def no_training(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(CGANTrainer, "fit", no_training)
    with pytest.raises(ValueError, match=r"`sampling_strategy` asks for .* GiB\), more than this machine's memory"):
        sampler(sampling_strategy={2: 10**13}).fit_resample(X, y)


def test_classes_with_two_samples_work():
    X = np.random.RandomState(0).randn(22, 3)
    y = np.array([0] * 20 + [1] * 2)
    X_res, y_res = sampler().fit_resample(X, y)
    assert (y_res == 1).sum() == 20


def test_sample_bad_arguments(tiny_tabular):
    X, y = tiny_tabular
    fitted = sampler().fit(X, y)
    with pytest.raises(TypeError, match="`n_samples` must be a dict"):
        fitted.sample(5)
    with pytest.raises(ValueError, match=r"`n_samples\[1\]` must be a non-negative integer. Got -2"):
        fitted.sample({1: -2})
    with pytest.raises(ValueError, match=r"`n_samples` asks for"):
        fitted.sample({1: 10**14})
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        sampler().sample({1: 1})


def test_generator_class_mismatch(tiny_images):
    X, y = tiny_images
    g = Generator(n_classes=2, latent_dim=4, output_shape=[1, 16, 16], widths=[8, 4, 4, 4], classes=["x", "z"])
    # Integer labels that are not names are class indices: only the out-of-range one is named.
    with pytest.raises(ValueError, match=r"do not cover the labels in y: .* must lie in \[0, 1\]\. Got \[2\]\.$"):
        CGANOverSampler(generator=g, device="cpu").fit_resample(X, y)
    names = np.array(["x", "Z", "q"])[y]  # "Z" names class "z" (case is ignored); "q" names none
    with pytest.raises(ValueError, match=r"\['q'\] are not among its class names.*ignoring case and spaces"):
        CGANOverSampler(generator=g, device="cpu").fit_resample(X, names)


def test_generator_typo_names_the_parameter(tiny_images):
    from cganbalance import SyntheticBalancedDataset

    X, y = tiny_images
    typo = r"`generator='fer2013-cgan-balancd'` is not an existing folder; .*Did you mean 'fer2013-cgan-balanced'\?"
    with pytest.raises(ValueError, match=typo):
        CGANOverSampler(generator="fer2013-cgan-balancd", device="cpu").fit_resample(X, y)
    dataset = [(torch.zeros(1, 16, 16), 0)]
    with pytest.raises(ValueError, match=typo):
        SyntheticBalancedDataset(dataset, "fer2013-cgan-balancd")


def test_generator_shape_mismatch(tiny_images):
    X, y = tiny_images
    g = Generator(n_classes=3, latent_dim=4, output_shape=[1, 24, 24], widths=[8, 4, 4, 4])
    with pytest.raises(ValueError, match=r"makes samples of shape \[1, 24, 24\]"):
        CGANOverSampler(generator=g, device="cpu").fit_resample(X, y)
    rows = np.zeros((len(y), 24 * 24), np.uint8)  # flattened images: the hint says how to read them
    with pytest.raises(ValueError, match=r"X holds rows of 576 values; .* pass `image_shape=\(24, 24\)`"):
        CGANOverSampler(generator=g, device="cpu").fit_resample(rows, y)
    rgb = np.zeros((len(y), 24, 24, 3), np.uint8)
    with pytest.raises(ValueError, match=r"\[3, 24, 24\] \(channels first\); the generator makes grey images"):
        CGANOverSampler(generator=g, device="cpu").fit_resample(rgb, y)


@pytest.mark.parametrize("labels, error, match", [
    (["nope"], ValueError, r"`labels` holds the class names \['nope'\]: not among the generator's classes"),
    ([5], ValueError, r"must lie in \[0, 2\]"),
    ([[0, 1]], ValueError, "one-dimensional"),
    ([0.5], TypeError, "class indices or class names"),
])
def test_generate_bad_labels(labels, error, match):
    g = Generator(n_classes=3, latent_dim=4, output_shape=[1, 16, 16], widths=[8, 4, 4, 4], classes=["a", "b", "c"])
    with pytest.raises(error, match=match):
        g.generate(labels)


def test_generate_latent_scale_multiplies_the_noise():
    from cganbalance._utils.random import make_rng

    g = Generator(n_classes=3, latent_dim=4, output_shape=[1, 16, 16], widths=[8, 4, 4, 4]).eval()
    labels = torch.tensor([0, 1, 2, 2])
    z = torch.randn(4, 4, generator=make_rng(0, device="cpu"))
    with torch.no_grad():
        expected = g.resize(g(z * 2.5, labels))
    torch.testing.assert_close(g.generate(labels, random_state=0, latent_scale=2.5), expected)
    assert torch.equal(g.generate(labels, random_state=0, latent_scale=1), g.generate(labels, random_state=0))
    with pytest.raises(ValueError, match=r"`latent_scale` must be a number in \(0, 10\]. Got -1"):
        g.generate(labels, latent_scale=-1)


def test_from_pretrained_bad_names(tmp_path):
    with pytest.raises(TypeError, match="`name`"):
        from_pretrained(3.5)
    with pytest.raises(ValueError, match="fer2013-cgan"):
        from_pretrained("not-an-alias")


def test_images_as_nested_lists_and_tensors(tiny_images):
    import torch

    X, y = tiny_images
    for container in (X.tolist(), torch.from_numpy(X)):
        X_res, y_res = CGANOverSampler(epochs=1, batch_size=16, random_state=0, preset_params=TINY_IMAGE,
                                       device="cpu").fit_resample(container, y)
        assert np.asarray(X_res).shape == (90, 16, 16)


def test_one_dimensional_X_gets_a_short_error():
    with pytest.raises(ValueError, match=r"Got a 1-D array of shape \(6,\); use X.reshape\(-1, 1\)"):
        sampler().fit_resample(np.arange(6.0), [0, 1, 0, 1, 0, 1])


def test_alias_typo_suggests_the_alias():
    with pytest.raises(ValueError, match="Did you mean 'fer2013-cgan'"):
        from_pretrained("fer2013-gan")


def test_class_names_mean_the_same_in_every_entry_point():
    """"Happy", "happy" and " happy " name one class in the sampler, the dataset wrapper, the
    generator, the metrics and the FER-2013 readers (one rule: case and spaces are ignored)."""
    from torch.utils.data import TensorDataset

    from cganbalance import SyntheticBalancedDataset
    from cganbalance.fer2013 import _class_map
    from cganbalance.metrics import _class_columns

    faces = np.random.RandomState(0).randint(0, 256, size=(12, 48, 48)).astype(np.uint8)
    for spelling in ("happy", "Happy", " HAPPY "):
        y = np.array([spelling] * 9 + ["Disgust"] * 3)
        _, y_res = CGANOverSampler(generator="fer2013-cgan", random_state=0, device="cpu").fit_resample(faces, y)
        assert sorted(set(y_res)) == sorted({spelling, "Disgust"}) and (y_res == "Disgust").sum() == 9
        base = TensorDataset(torch.zeros(4, 1, 48, 48), torch.tensor([0, 0, 0, 1]))
        base.classes = [spelling, "Disgust"]
        ds = SyntheticBalancedDataset(base, "fer2013-cgan", random_state=0, sampling_strategy={spelling: 3, "disgust": 3})
        assert ds.class_counts == {spelling: (3, 3), "Disgust": (1, 3)}
        assert from_pretrained("fer2013-cgan")._resolve_labels([spelling]).tolist() == [3]
        assert _class_columns(["angry", "happy"], [spelling], 2).tolist() == [1]
        assert _class_map([spelling], "test").tolist() == [3]


def test_labels_that_differ_only_in_case_or_spaces_are_refused(tiny_images):
    X, y = tiny_images
    names = np.array(["happy", "Happy", "sad"])[y]
    with pytest.raises(ValueError, match=r"labels in y .* hold 'Happy' and 'happy', which name the same class"):
        CGANOverSampler(epochs=1, preset_params=TINY_IMAGE, device="cpu").fit_resample(X, names)
    faces = np.zeros((60, 48, 48), np.uint8)
    with pytest.raises(ValueError, match="which name the same class"):
        CGANOverSampler(generator="fer2013-cgan", device="cpu").fit_resample(faces, names)
    with pytest.raises(ValueError, match="hold 'A' and 'a', which name the same class"):
        Generator(n_classes=2, latent_dim=4, output_shape=[1, 16, 16], widths=[8, 4], classes=["A", "a"])
    with pytest.raises(ValueError, match="which name the same class"):
        from_pretrained("fer2013-cgan").set_class_names(["a", "b", "c", "d", "e", "f", " A "])


def test_callbacks_must_be_callback_objects_or_callables(tiny_images):
    X, y = tiny_images
    with pytest.raises(TypeError, match=r"`callbacks` must hold cganbalance.training.Callback objects or callables"):
        CGANOverSampler(epochs=1, preset_params=TINY_IMAGE, device="cpu", callbacks=[object()]).fit(X, y)


def test_table_problems_name_the_columns():
    pd = pytest.importorskip("pandas")
    y = np.r_[np.zeros(45, int), np.ones(15, int)]
    base = {"income": np.linspace(1, 2, 60), "age": np.arange(60), "smoker": ["no", "yes"] * 30}
    cases = [
        ({"seen": pd.date_range("2020-01-01", periods=60)}, r"Columns \['seen'\] of X hold dates or durations"),
        ({"debt": np.r_[np.nan, np.ones(59)]}, r"Column 'debt' of X holds missing values.*SimpleImputer"),
        ({"city": [None] + ["Oslo"] * 59}, r"Column 'city' of X holds missing values"),
        ({"ratio": np.r_[np.inf, np.ones(59)]}, r"Column 'ratio' of X holds infinite values"),
        ({"name": [f"client {i}" for i in range(60)]}, r"Column 'name' of X holds a different value in every row.*ID"),
    ]
    for extra, match in cases:
        df = pd.DataFrame({**base, **extra})
        before = df.copy()
        with pytest.raises(ValueError, match=match):
            CGANOverSampler(epochs=1, device="cpu").fit_resample(df, y)
        pd.testing.assert_frame_equal(df, before)  # nothing the user gave is changed
    numeric = pd.DataFrame({"income": np.r_[np.nan, np.ones(59)], "age": np.arange(60)})
    with pytest.raises(ValueError, match=r"Columns \['income'\] of X hold missing \(NaN\) values"):
        CGANOverSampler(epochs=1, device="cpu").fit_resample(numeric, y)
    X = np.ones((60, 3))
    X[5, 2] = np.nan
    with pytest.raises(ValueError, match=r"Columns \['2'\] of X hold missing \(NaN\) values"):
        CGANOverSampler(epochs=1, device="cpu").fit_resample(X, y)
    objects = np.array([[1.0, "a"], ["x", "b"]] * 30, dtype=object)
    with pytest.raises(ValueError, match=r"Column '0' of X is continuous but holds 'x'.*categorical_features"):
        CGANOverSampler(epochs=1, device="cpu", categorical_features=[1]).fit_resample(objects, y)
    with pytest.warns(UserWarning, match=r"Column 'plan' of X holds one value only \('basic'\)"):
        X_res, _ = sampler().fit_resample(pd.DataFrame({**base, "plan": ["basic"] * 60}), y)
    assert set(X_res["plan"]) == {"basic"}


def test_mlp_preset_refuses_categorical_columns_but_takes_booleans():
    pd = pytest.importorskip("pandas")
    y = np.r_[np.zeros(45, int), np.ones(15, int)]
    df = pd.DataFrame({"income": np.linspace(1, 2, 60), "smoker": ["no", "yes"] * 30})
    with pytest.raises(ValueError, match=r"Columns \['smoker'\] of X are categorical, and `preset='mlp'`"):
        sampler(preset="mlp").fit_resample(df, y)
    ok = pd.DataFrame({"income": np.linspace(1, 2, 60), "member": [True, False] * 30})  # booleans as numbers
    X_res, _ = sampler(preset="mlp").fit_resample(ok, y)
    assert X_res["member"].dtype == bool
