"""Golden outputs: the results of the public entry points for fixed seeds on the CPU.

Written once with ``python -m tests.test_golden`` (from the repository root) before a
restructuring, and checked after it: a refactor must not change what users get. The stored
arrays are compared with a small tolerance, because float rounding differs between CPUs (on
the machine that wrote them, the results are bit-identical); uint8 pixels may differ by one
level where a value sits on a rounding boundary.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from .conftest import TINY_IMAGE, TINY_MLP

GOLDEN = Path(__file__).parent / "data" / "golden.npz"


def compute() -> dict[str, np.ndarray]:
    from sklearn.datasets import make_classification
    from torch.utils.data import TensorDataset

    from cganbalance import BalancedLoader, CGANOverSampler, SyntheticBalancedDataset, from_pretrained

    torch.set_num_threads(1)
    out = {}
    X, y = make_classification(n_samples=120, n_features=5, n_informative=3, n_classes=3, weights=[0.6, 0.3, 0.1],
                               flip_y=0, random_state=0)
    X_res, y_res = CGANOverSampler(epochs=3, random_state=0, preset_params=TINY_MLP, device="cpu").fit_resample(X, y)
    out["tabular_X"], out["tabular_y"] = X_res[len(X):], y_res[len(X):]

    rng = np.random.RandomState(0)
    labels = np.array([0] * 30 + [1] * 20 + [2] * 10)
    images = rng.randint(0, 128, size=(60, 16, 16)).astype(np.uint8)
    images[labels == 2] += 100
    sampler = CGANOverSampler(epochs=2, batch_size=16, random_state=0, preset_params=TINY_IMAGE, device="cpu")
    X_res, y_res = sampler.fit_resample(images, labels)
    out["images_X"], out["images_y"] = X_res[len(images):], y_res[len(images):]
    out["images_sample"] = sampler.sample({1: 3}, random_state=1)[0]

    g = from_pretrained("fer2013-cgan")
    out["pretrained_generate"] = g.generate(list(range(7)), random_state=0).numpy()

    faces = rng.randint(0, 256, size=(40, 48, 48)).astype(np.uint8)
    names = np.array(["happy"] * 30 + ["disgust"] * 10)
    X_res, y_res = CGANOverSampler(generator="fer2013-cgan", random_state=0, device="cpu").fit_resample(faces, names)
    out["pretrained_resample"] = X_res[len(faces):]

    base = TensorDataset(torch.zeros(10, 1, 48, 48), torch.tensor([3] * 8 + [1] * 2))
    ds = SyntheticBalancedDataset(base, "fer2013-cgan", random_state=0)
    out["dataset_items"] = torch.stack([ds[i][0] for i in ds.synthetic_indices[:3]]).numpy()
    batches = list(BalancedLoader(base, "fer2013-cgan", batch_size=8, random_state=0, shuffle=False))
    out["loader_last_batch"] = batches[-1][0].numpy()
    return out


@pytest.fixture(scope="module")
def computed():
    return compute()


@pytest.mark.parametrize("key", sorted(np.load(GOLDEN).files) if GOLDEN.exists() else [])
def test_outputs_match_the_golden_ones(computed, key):
    expected, got = np.load(GOLDEN)[key], computed[key]
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if got.dtype == np.uint8:
        assert np.abs(got.astype(int) - expected.astype(int)).max(initial=0) <= 1
    elif got.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    else:
        np.testing.assert_array_equal(got, expected)


def test_every_golden_output_is_checked(computed):
    assert GOLDEN.exists() and sorted(np.load(GOLDEN).files) == sorted(computed)


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, **compute())
    print(f"Wrote {GOLDEN}")
