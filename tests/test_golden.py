"""Golden outputs: the results of the public entry points for fixed seeds on the CPU.

Written once with ``python -m tests.test_golden`` (from the repository root) before a
restructuring, and checked after it: a refactor must not change what users get. On a machine
like the one that wrote them (same torch, CPU model and architecture; one thread) the outputs
must be bit-identical. Elsewhere float rounding differs between CPUs, so floats are compared to
1e-4 and uint8 pixels may differ by one level in at most 0.5% of the values (where a value sits
on a rounding boundary; the paper preset's images differed in 0.13% between an AMD EPYC and an
Intel Xeon).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from .conftest import TINY_IMAGE, TINY_MLP

GOLDEN = Path(__file__).parent / "data" / "golden.npz"


def fingerprint() -> str:
    """What decides float rounding: torch's version, the CPU model and architecture (one thread)."""
    import platform

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.lower().startswith("model name")), "") if Path("/proc/cpuinfo").exists() else ""
    return f"torch {torch.__version__}; {platform.machine()}; {model or platform.processor()}"


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

    # the paths a restructuring could change silently: dropout in the discriminator, DiffAugment and
    # balanced batches, copies next to synthetic samples, a wider latent, a user's filter classifier
    paper = {"generator": {"latent_dim": 8, "widths": [16, 8, 8, 4]}, "discriminator": {"widths": [8, 8, 8, 8]}}
    X_res, _ = CGANOverSampler(preset="paper", epochs=1, batch_size=16, random_state=0, preset_params=paper,
                               device="cpu").fit_resample(images, labels)
    out["paper_dropout_X"] = X_res[len(images):]
    augmented = {**TINY_IMAGE, "train": {"augment": "translation,cutout", "real_sampling": "balanced"}}
    X_res, _ = CGANOverSampler(epochs=2, batch_size=16, random_state=0, preset_params=augmented, device="cpu",
                               max_synthetic_ratio=0.5, latent_scale=1.5).fit_resample(images, labels)
    out["augmented_ratio_latent_X"] = X_res[len(images):]
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression(max_iter=200).fit(X, y)
    X_res, _ = CGANOverSampler(epochs=3, random_state=0, preset_params=TINY_MLP, device="cpu",
                               filter_classifier=clf).fit_resample(X, y)
    out["filtered_tabular_X"] = X_res[len(X):]

    g = from_pretrained("fer2013-cgan")
    out["pretrained_generate"] = g.generate(list(range(7)), random_state=0).numpy()

    faces = rng.randint(0, 256, size=(40, 48, 48)).astype(np.uint8)
    names = np.array(["happy"] * 30 + ["disgust"] * 10)
    X_res, y_res = CGANOverSampler(generator="fer2013-cgan", random_state=0, device="cpu").fit_resample(faces, names)
    out["pretrained_resample"] = X_res[len(faces):]

    base = TensorDataset(torch.zeros(10, 1, 48, 48), torch.tensor([3] * 8 + [1] * 2))
    ds = SyntheticBalancedDataset(base, "fer2013-cgan", random_state=0, max_synthetic_ratio=None)
    out["dataset_items"] = torch.stack([ds[i][0] for i in ds.synthetic_indices[:3]]).numpy()
    batches = list(BalancedLoader(base, "fer2013-cgan", batch_size=8, random_state=0, shuffle=False))
    out["loader_last_batch"] = batches[-1][0].numpy()
    return out


@pytest.fixture(scope="module")
def computed():
    return compute()


def _outputs():
    return sorted(k for k in np.load(GOLDEN).files if k != "fingerprint") if GOLDEN.exists() else []


@pytest.mark.parametrize("key", _outputs())
def test_outputs_match_the_golden_ones(computed, key):
    stored = np.load(GOLDEN)
    expected, got = stored[key], computed[key]
    assert got.shape == expected.shape and got.dtype == expected.dtype
    if str(stored["fingerprint"]) == fingerprint():
        np.testing.assert_array_equal(got, expected)  # the machine that wrote them: bit-identical
    elif got.dtype == np.uint8:
        diff = np.abs(got.astype(int) - expected.astype(int))
        assert diff.max(initial=0) <= 1 and (diff > 0).mean() <= 0.005
    elif got.dtype.kind == "f":
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    else:
        np.testing.assert_array_equal(got, expected)


def test_every_golden_output_is_checked(computed):
    assert GOLDEN.exists() and _outputs() == sorted(computed)


if __name__ == "__main__":
    GOLDEN.parent.mkdir(exist_ok=True)
    np.savez_compressed(GOLDEN, fingerprint=np.array(fingerprint()), **compute())
    print(f"Wrote {GOLDEN} ({fingerprint()})")
