"""Mixed-type tables: categorical columns in, the same columns out (the "tabular" recipe)."""

import pickle

import numpy as np
import pytest
import torch

from cganbalance import CGANOverSampler, Generator
from cganbalance.hub import load_generator
from cganbalance.over_sampling import MixedTablePreprocessor

pd = pytest.importorskip("pandas")

TINY_TABULAR = {"generator": {"latent_dim": 4, "widths": [16]}, "discriminator": {"widths": [16]}}


def sampler(**kwargs):
    return CGANOverSampler(epochs=2, random_state=0, preset_params=TINY_TABULAR, device="cpu", **kwargs)


@pytest.fixture
def mixed():
    rng = np.random.RandomState(0)
    n = 60
    df = pd.DataFrame(
        {
            "colour": rng.choice(["red", "green", "blue"], n).astype(object),
            "size": pd.Categorical(rng.choice(["S", "M", "L"], n), categories=["S", "M", "L", "XL"], ordered=True),
            "member": rng.rand(n) > 0.5,
            "visits": rng.randint(3, 9, n),
            "amount": np.exp(rng.randn(n)).round(2),
            "plan": pd.array(rng.choice(["basic", "pro"], n), dtype="string"),
            "children": pd.array(rng.randint(0, 3, n), dtype="Int64"),
        },
        index=np.arange(100, 100 + n),
    )
    y = np.r_[np.zeros(45, int), np.ones(15, int)]
    return df, y


def test_mixed_columns_come_back_with_their_dtypes_and_seen_values_only(mixed):
    df, y = mixed
    before = df.copy()
    s = sampler()
    X_res, y_res = s.fit_resample(df, y)
    pd.testing.assert_frame_equal(df, before)  # nothing the user gave is changed
    assert s.preset_ == "tabular" and list(X_res.columns) == list(df.columns)
    assert X_res.dtypes.equals(df.dtypes)
    assert list(X_res["size"].cat.categories) == ["S", "M", "L", "XL"] and X_res["size"].cat.ordered
    new = X_res.iloc[len(df):]
    assert len(new) == 30 and (y_res[len(df):] == 1).all()
    for column in ("colour", "size", "member", "plan"):
        assert set(new[column]) <= set(df[column])  # only values seen in the data
    for column in ("visits", "amount", "children"):
        assert new[column].min() >= df[column].min() and new[column].max() <= df[column].max()
    pd.testing.assert_frame_equal(X_res.iloc[: len(df)].reset_index(drop=True), df.reset_index(drop=True))
    X_again, _ = sampler().fit_resample(df, y)
    pd.testing.assert_frame_equal(X_res, X_again)  # the same random_state, the same rows


def test_the_generator_knows_the_one_hot_blocks(mixed):
    df, y = mixed
    s = sampler().fit(df, y)
    blocks = s.preprocessor_.blocks_
    # visits, amount, children (continuous), then colour (3), size (3 seen), member (2), plan (2)
    assert blocks == [[3, 6], [6, 9], [9, 11], [11, 13]] and s.generator_.blocks == blocks
    rows = s.generator_.generate([0, 1] * 20, random_state=0).numpy()
    for a, b in blocks:
        np.testing.assert_array_equal(np.sort(rows[:, a:b], 1)[:, -1], 1.0)
        assert set(np.unique(rows[:, a:b])) <= {0.0, 1.0}


def test_one_hot_blocks_pass_gradients():
    g = Generator(n_classes=2, latent_dim=3, output_shape=[5], arch="mlp", widths=[8], blocks=[[1, 4]])
    z = torch.randn(6, 3, generator=torch.Generator().manual_seed(0))
    out = g(z, torch.tensor([0, 1] * 3))
    (out[:, 1:4] * torch.arange(3.0)).sum().backward()
    assert g.body[-1].weight.grad.abs().sum() > 0
    with pytest.raises(ValueError, match="`blocks` must be ordered"):
        Generator(n_classes=2, output_shape=[5], arch="mlp", widths=[8], blocks=[[3, 6]])


def _known_logits(block_sampling):
    """A generator whose one block always has logits log(0.6), log(0.3), log(0.1), whatever z is."""
    g = Generator(n_classes=2, latent_dim=3, output_shape=[4], arch="mlp", widths=[8], blocks=[[1, 4]],
                  block_sampling=block_sampling)
    with torch.no_grad():
        g.body[-1].weight.zero_()
        g.body[-1].bias.copy_(torch.tensor([0.0, *np.log([0.6, 0.3, 0.1])]))
    return g


def test_gumbel_block_sampling_draws_categories_from_the_softmax():
    gumbel, argmax = _known_logits("gumbel"), _known_logits("argmax")
    assert gumbel.noise_dim == 3 + 3 and argmax.noise_dim == 3
    rows = gumbel.generate([0, 1] * 2000, random_state=0).numpy()
    assert set(np.unique(rows[:, 1:])) == {0.0, 1.0} and (rows[:, 1:].sum(1) == 1).all()
    np.testing.assert_allclose(rows[:, 1:].mean(0), [0.6, 0.3, 0.1], atol=0.02)  # rare categories kept
    np.testing.assert_array_equal(argmax.generate([0, 1] * 50, random_state=0).numpy()[:, 1:].mean(0), [1, 0, 0])
    np.testing.assert_array_equal(rows, gumbel.generate([0, 1] * 2000, random_state=0).numpy())  # seeded
    z = gumbel.noise(5, torch.Generator().manual_seed(0), latent_scale=2.0)
    assert z.shape == (5, 6) and (z[:, :3].abs().max() > 0)
    with pytest.raises(ValueError, match=r"`z` must have noise_dim=6 columns .* Got 3"):
        gumbel(torch.zeros(5, 3), torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"`block_sampling` must be one of \['argmax', 'gumbel'\]. Got 'soft'"):
        Generator(n_classes=2, output_shape=[4], arch="mlp", widths=[8], blocks=[[1, 4]], block_sampling="soft")


def test_gumbel_generators_save_their_sampling_and_older_ones_load_as_argmax(tmp_path):
    gumbel = _known_logits("gumbel")
    gumbel.save_pretrained(tmp_path / "g")
    loaded = Generator.from_pretrained(tmp_path / "g")
    assert loaded.block_sampling == "gumbel"
    torch.testing.assert_close(loaded.generate([1] * 20, random_state=3), gumbel.generate([1] * 20, random_state=3))
    import json

    _known_logits("argmax").save_pretrained(tmp_path / "a")
    config = json.loads((tmp_path / "a" / "config.json").read_text())
    del config["block_sampling"]  # as generators saved before the option were written
    (tmp_path / "a" / "config.json").write_text(json.dumps(config))
    assert Generator.from_pretrained(tmp_path / "a").block_sampling == "argmax"


def test_the_tabular_recipe_samples_categories_and_balances_batches(mixed):
    from cganbalance.training.presets import build_networks

    df, y = mixed
    s = sampler().fit(df, y)
    assert s.generator_.block_sampling == "gumbel" and s.generator_.noise_dim == 4 + 10
    _, _, config = build_networks("tabular", n_classes=2, data_shape=[5], blocks=[[1, 3]])
    assert config.real_sampling == "balanced"


@pytest.mark.parametrize("key", [[0, 1, 2, 5], ["colour", "size", "member", "plan"], [-7, -6, -5, -2],
                                 [True, True, True, False, False, True, False]])
def test_categorical_features_forms(mixed, key):
    df, y = mixed
    s = sampler(categorical_features=key).fit(df, y)
    np.testing.assert_array_equal(s.preprocessor_.categorical_, [0, 1, 2, 5])


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ([0, 9], r"column indices from -7 to 6 for X's 7 columns"),
        ([True, False], r"boolean mask needs one entry per column of X \(7\)"),
        (["colour", "nope"], r"nope"),
        ("infer", r"'categorical_features' parameter of CGANOverSampler must be an array-like or a str among {'auto'}"),
    ],
)
def test_categorical_features_errors(mixed, key, match):
    df, y = mixed
    with pytest.raises(ValueError, match=match):
        sampler(categorical_features=key).fit(df, y)


def test_numpy_object_arrays_need_categorical_features(mixed):
    df, y = mixed
    X = df[["colour", "visits", "amount"]].to_numpy(dtype=object)
    with pytest.raises(ValueError, match="dtype object: say which columns are categorical with `categorical_features`"):
        sampler().fit_resample(X, y)
    X_res, _ = sampler(categorical_features=[0]).fit_resample(X, y)
    assert X_res.dtype == object and set(X_res[len(X):, 0]) <= {"red", "green", "blue"}
    assert all(float(v).is_integer() for v in X_res[len(X):, 1])  # an integer column stays whole


def test_numeric_tables_can_ask_for_the_tabular_recipe():
    rng = np.random.RandomState(0)
    X = np.c_[rng.randn(60), rng.randint(0, 4, 60)].astype(np.float32)
    y = np.r_[np.zeros(45, int), np.ones(15, int)]
    s = sampler(preset="tabular")
    X_res, _ = s.fit_resample(X, y)
    assert s.preset_ == "tabular" and X_res.dtype == np.float32 and s.generator_.blocks is None
    assert X_res[60:, 0].min() >= X[:, 0].min() and X_res[60:, 0].max() <= X[:, 0].max()
    assert sampler(preset="tabular", categorical_features=[1]).fit(X, y).generator_.blocks == [[1, 5]]


def test_a_fitted_mixed_sampler_pickles_and_saves(mixed, tmp_path):
    df, y = mixed
    s = sampler().fit(df, y)
    copy = pickle.loads(pickle.dumps(s))
    X_a, _ = s.sample({1: 5}, random_state=3)
    X_b, _ = copy.sample({1: 5}, random_state=3)
    np.testing.assert_array_equal(X_a, X_b)
    assert set(X_a[:, 0]) <= {"red", "green", "blue"}
    g = load_generator(s.save_generator(tmp_path / "g"))
    assert g.blocks == s.generator_.blocks
    torch.testing.assert_close(g.generate([1, 0], random_state=0), s.generator_.generate([1, 0], random_state=0))


def test_in_a_pipeline_before_a_column_transformer(mixed):
    from imblearn.pipeline import make_pipeline
    from sklearn.compose import make_column_transformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import OneHotEncoder

    df, y = mixed
    encode = make_column_transformer(
        (OneHotEncoder(handle_unknown="ignore"), ["colour", "size", "member", "plan"]), remainder="passthrough"
    )
    model = make_pipeline(sampler(), encode, LogisticRegression(max_iter=500)).fit(df, y)
    assert set(model.predict(df)) <= {0, 1}


def test_preprocessor_alone_round_trips_and_decodes_blocks():
    X = np.array([["a", 1, 0.5], ["b", 2, 1.5], ["a", 3, 9.0], ["c", 2, 0.1]] * 5, dtype=object)
    pre = MixedTablePreprocessor(np.array([True, False, False]), np.array([False, True, False])).fit(X)
    Z = pre.transform(X)
    assert Z.dtype == np.float32 and pre.data_shape == [5] and pre.blocks_ == [[2, 5]]
    back = pre.inverse_transform(Z)
    assert back.dtype == object and list(back[:, 0]) == list(X[:, 0])
    np.testing.assert_allclose(back[:, 1:].astype(float), X[:, 1:].astype(float), atol=1e-6)
    wild = pre.inverse_transform(np.array([[9.0, -9.0, 0.1, 0.7, 0.2], [0.3, 0.2, 0.0, 0.0, 5.0]]))
    assert list(wild[:, 0]) == ["b", "c"] and wild[0, 1] == 3 and wild[0, 2] == 0.1  # in range, whole numbers


def test_filter_keep_auto_filters_only_the_mlp_recipe(mixed):
    df, y = mixed
    assert sampler().fit(df, y)._filter_keep() is None
    numeric = sampler().fit(df[["visits", "amount"]], y)
    assert numeric.preset_ == "tabular" and numeric._filter_keep() is None  # "auto" picks "tabular" for every table
    mlp = CGANOverSampler(epochs=2, random_state=0, preset="mlp", device="cpu").fit(df[["visits", "amount"]], y)
    assert mlp.preset_ == "mlp" and mlp._filter_keep() == 0.5
    assert sampler(filter_keep=0.25).fit(df, y)._filter_keep() == 0.25
