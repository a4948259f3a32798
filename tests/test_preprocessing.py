"""The preprocessing objects alone: fit / transform / inverse_transform of images and tables."""

import numpy as np
import pytest

from cganbalance.over_sampling import ImagePreprocessor, TablePreprocessor


@pytest.mark.parametrize("shape", [(8, 6), (8, 6, 3), (3, 8, 6)])
def test_uint8_images_round_trip_in_any_layout(shape):
    X = np.random.RandomState(0).randint(0, 256, size=(5, int(np.prod(shape)))).astype(np.uint8)
    pre = ImagePreprocessor(shape).fit(X)
    scaled = pre.transform(X)
    assert pre.range_ == (0.0, 255.0) and scaled.dtype == np.float32
    assert scaled.shape == (5, *pre.data_shape) and pre.data_shape[0] == (1 if len(shape) == 2 else 3)
    assert scaled.min() >= -1 and scaled.max() <= 1 and scaled.flags["C_CONTIGUOUS"]
    back = pre.inverse_transform(scaled)
    assert back.dtype == np.uint8 and back.shape == (5, *shape)
    np.testing.assert_array_equal(back.reshape(5, -1), X)


@pytest.mark.parametrize(("low", "high", "expected"), [(0.2, 0.7, (0.0, 1.0)), (-3.0, 5.0, (-3.0, 5.0)), (2.0, 2.0, (2.0, 3.0))])
def test_float_image_range(low, high, expected):
    X = np.full((2, 16), low, dtype=np.float32)
    X[1] = high
    pre = ImagePreprocessor((4, 4)).fit(X)
    assert pre.range_ == expected
    out = pre.inverse_transform(np.array([[[[-5.0] * 4] * 4], [[[5.0] * 4] * 4]]))  # beyond [-1, 1]: clipped
    assert out.dtype == np.float32 and out.min() == expected[0] and out.max() == expected[1]


def test_tables_are_standardised_and_come_back_in_range_and_type():
    rng = np.random.RandomState(0)
    X = np.c_[rng.normal(10, 3, 50), rng.randint(0, 5, 50), np.full(50, 7.0)]
    pre = TablePreprocessor(integer_columns=np.array([False, True, False])).fit(X)
    Z = pre.transform(X)
    assert Z.dtype == np.float32 and pre.data_shape == [3]
    np.testing.assert_allclose(Z[:, :2].mean(0), 0, atol=1e-6)
    np.testing.assert_allclose(Z[:, :2].std(0), 1, atol=1e-5)
    assert np.all(Z[:, 2] == 0)  # a constant column does not divide by zero
    back = pre.inverse_transform(np.array([[100.0, 0.3, 0.0], [-100.0, -0.3, 5.0]]))
    assert back[0, 0] == X[:, 0].max() and back[1, 0] == X[:, 0].min()  # clipped to the observed range
    assert np.all(back[:, 1] == np.rint(back[:, 1]))  # integer column: whole numbers
    assert np.all(back[:, 2] == 7.0)
    np.testing.assert_allclose(pre.inverse_transform(Z), X, atol=1e-4)


def test_integer_tables_keep_their_dtype():
    X = np.arange(20, dtype=np.int32).reshape(10, 2)
    pre = TablePreprocessor().fit(X)
    back = pre.inverse_transform(pre.transform(X) + 0.01)
    assert back.dtype == np.int32
    np.testing.assert_array_equal(back, X)
