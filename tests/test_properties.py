"""Property-based test: any valid small input gives well-formed output."""

from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cganbalance import CGANOverSampler

from .conftest import TINY_IMAGE, TINY_MLP

DTYPES = [np.float64, np.float32, np.int64, np.uint8]


@st.composite
def datasets(draw):
    n_classes = draw(st.integers(2, 4))
    counts = [draw(st.integers(2, 12)) for _ in range(n_classes)]
    image = draw(st.booleans())
    dtype = draw(st.sampled_from(DTYPES))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.RandomState(seed)
    n = sum(counts)
    shape = (n, 8, 8) if image else (n, draw(st.integers(1, 6)))
    if np.dtype(dtype).kind == "f":
        X = (rng.randn(*shape) * draw(st.floats(0.01, 100.0))).astype(dtype)
    else:
        X = rng.randint(0, 256 if dtype == np.uint8 else 1000, size=shape).astype(dtype)
    labels = draw(st.sampled_from([np.arange(n_classes), np.array(["a", "b", "c", "d"][:n_classes])]))
    y = np.repeat(labels, counts)
    rng.shuffle(y)
    return X, y, image


@settings(max_examples=15, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(data=datasets(), keep=st.sampled_from([None, 0.5, 1.0]))
def test_fit_resample_output_is_well_formed(data, keep):
    X, y, image = data
    X_before, y_before = X.copy(), y.copy()
    sampler = CGANOverSampler(
        epochs=1,
        batch_size=8,
        random_state=0,
        filter_keep=keep,
        preset_params=TINY_IMAGE if image else TINY_MLP,
        device="cpu",
    )
    X_res, y_res = sampler.fit_resample(X, y)
    counts = Counter(y)
    top = max(counts.values())
    assert Counter(y_res) == {label: top for label in counts}
    assert X_res.shape == (top * len(counts), *X.shape[1:])
    assert X_res.dtype == X.dtype and y_res.dtype == y.dtype
    np.testing.assert_array_equal(X_res[: len(X)], X)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(y, y_before)
    new = X_res[len(X) :].astype(np.float64)
    assert np.isfinite(new).all()
    if not len(new):  # the classes were balanced already: nothing to add
        assert len(set(counts.values())) == 1
    elif image:
        assert new.min() >= X.min() - 1e-6 and new.max() <= max(X.max(), 1.0) + 1e-6
    else:
        assert (new >= X.min(0) - 1e-6).all() and (new <= X.max(0) + 1e-6).all()
