"""Shared test set-up: no network, a private Hugging Face home, tiny data and configurations."""

from __future__ import annotations

import ipaddress
import os
import socket

import numpy as np
import pytest
import torch

# Set before huggingface_hub is imported anywhere: its constants read the environment once.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ.setdefault("HF_HOME", os.path.join(os.environ.get("TMPDIR", "/tmp"), f"cganbalance-tests-hf-{os.getpid()}"))

# Tests are timed by nobody, but two torch processes on two cores thrash; one thread is plenty
# for the tiny networks used here and keeps results comparable across machines.
torch.set_num_threads(1)

#: Training settings small enough for a unit test (a few steps, narrow networks).
TINY_IMAGE = {
    "generator": {"latent_dim": 8, "widths": [16, 8, 8, 4]},
    "discriminator": {"widths": [8, 8, 8]},
}
TINY_MLP = {"generator": {"latent_dim": 4, "widths": [16]}, "discriminator": {"widths": [16]}}
TINY_CLASSIFIER = {"widths": [4, 8], "depths": [1, 1], "dropout": 0.2}


def _is_loopback(address) -> bool:
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, str) and host in ("localhost",):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@pytest.fixture(autouse=True)
def _no_network(monkeypatch):
    """Fail any test that opens a connection to a non-loopback address."""
    real_connect = socket.socket.connect
    real_create = socket.create_connection

    def guarded_connect(self, address):
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address):
            raise RuntimeError(f"Test tried to open a network connection to {address!r}.")
        return real_connect(self, address)

    def guarded_create(address, *args, **kwargs):
        if not _is_loopback(address):
            raise RuntimeError(f"Test tried to open a network connection to {address!r}.")
        return real_create(address, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "create_connection", guarded_create)
    yield


@pytest.fixture
def tiny_images():
    """60 grey 16×16 uint8 images, classes 0/1/2 with 30/20/10 samples (class 2 brighter)."""
    rng = np.random.RandomState(0)
    y = np.array([0] * 30 + [1] * 20 + [2] * 10)
    X = rng.randint(0, 128, size=(60, 16, 16)).astype(np.uint8)
    X[y == 2] += 100
    return X, y


@pytest.fixture
def tiny_tabular():
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=120, n_features=5, n_informative=3, n_classes=3, weights=[0.6, 0.3, 0.1], flip_y=0, random_state=0
    )
    return X, y


def make_fer_files(root, train_counts, n_test):
    """Tiny FER-2013 ``train.npz`` / ``public_test.npz`` (random 48×48 faces, ``train_counts``
    per class, ``n_test`` test faces in class order) and a tiny untrained 48×48 ``generator/``."""
    from cganbalance import Generator, save_generator
    from cganbalance.fer2013 import CLASSES

    rng = np.random.RandomState(0)
    for name, labels in (("train", np.repeat(np.arange(7), train_counts)), ("public_test", np.arange(n_test) % 7)):
        images = rng.randint(0, 256, size=(len(labels), 48, 48)).astype(np.uint8)
        np.savez(root / f"{name}.npz", images=images, labels=labels, classes=np.array(CLASSES))
    with torch.random.fork_rng(devices=[]):  # the same weights whatever ran before
        torch.manual_seed(0)
        g = Generator(n_classes=7, latent_dim=8, output_shape=[1, 48, 48], widths=[16, 8, 8, 4], classes=CLASSES,
                      value_range=[0, 255])
    save_generator(g, root / "generator")
    return root


@pytest.fixture(scope="module")
def tiny_faces():
    """90 grey 16×16 uint8 images of 3 classes (dark, mid, bright, with noise)."""
    rng = np.random.RandomState(0)
    y = np.repeat(np.arange(3), 30)
    X = np.clip(rng.normal(60 + 70 * y[:, None, None], 25, size=(90, 16, 16)), 0, 255).astype(np.uint8)
    return X, y


@pytest.fixture(scope="module")
def tiny_extractor(tiny_faces):
    X, y = tiny_faces
    from cganbalance.classifier import train_classifier

    return train_classifier(
        X, y, epochs=2, batch_size=30, random_state=0, model_params=TINY_CLASSIFIER, classes=["a", "b", "c"]
    )
