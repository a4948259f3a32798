"""The FER-2013 classifier: the network, its input scaling, saving and loading, and
``train_classifier`` (including the options the downstream benchmark relies on: ``steps``,
``class_weight``, ``label_smoothing``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cganbalance import classifier as clf_module
from cganbalance.classifier import (
    FERClassifier,
    extract,
    load_fer_classifier,
    save_classifier,
    to_model_input,
    train_classifier,
)

from .conftest import TINY_CLASSIFIER


# -- the classifier --------------------------------------------------------------------------
def test_to_model_input_scales_and_checks():
    x = to_model_input(np.array([[[0, 255]]], dtype=np.uint8))
    assert x.shape == (1, 1, 1, 2) and x.flatten().tolist() == [-1.0, 1.0]
    with pytest.raises(ValueError, match=r"Float `images` must be scaled to \[-1, 1\]"):
        to_model_input(np.full((1, 4, 4), 200.0))
    with pytest.raises(ValueError, match="`images` must be N×H×W"):
        to_model_input(np.zeros((4, 4), np.uint8))


def test_classifier_shapes_and_errors():
    model = FERClassifier(widths=[4, 8], depths=[1, 2]).eval()
    x = torch.zeros(3, 1, 48, 48)
    assert model.features(x).shape == (3, 8) and model(x).shape == (3, 7)
    with pytest.raises(ValueError, match="`widths` and `depths`"):
        FERClassifier(widths=[4, 8], depths=[1])
    with pytest.raises(ValueError, match="`classes` must have n_classes=7"):
        FERClassifier(classes=["a"])


def test_train_classifier_is_deterministic_and_leaves_global_rng_alone(tiny_faces):
    X, y = tiny_faces
    state = torch.get_rng_state()
    a = train_classifier(X, y, epochs=1, batch_size=30, random_state=3, model_params=TINY_CLASSIFIER)
    b = train_classifier(X, y, epochs=1, batch_size=30, random_state=3, model_params=TINY_CLASSIFIER)
    c = train_classifier(X, y, epochs=1, batch_size=30, random_state=4, model_params=TINY_CLASSIFIER)
    assert torch.equal(torch.get_rng_state(), state)
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(p, q), name
    assert not torch.equal(a.head.weight, c.head.weight)
    assert not a.training and a.image_size == [16, 16] and a.n_classes == 3


def test_train_classifier_learns_an_easy_task(tiny_extractor, tiny_faces):
    X, y = tiny_faces
    _, logits = extract(tiny_extractor, X)
    assert (logits.argmax(1) == y).mean() > 0.6  # brightness classes; chance is 1/3


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"epochs": 0}, "`epochs` must be a positive integer"),
        ({"lr": -1.0}, "`lr` must be a positive number"),
        ({"y": np.arange(90) % 3 - 1}, r"`y` must lie in \[0"),
        ({"y": np.zeros(5, int)}, "`y` must be one label per image"),
    ],
)
def test_train_classifier_errors_name_the_argument(tiny_faces, kwargs, match):
    X, y = tiny_faces
    kwargs = {"y": y, **kwargs}
    with pytest.raises(ValueError, match=match):
        train_classifier(X, model_params=TINY_CLASSIFIER, **kwargs)


@pytest.mark.parametrize("half", [False, True])
def test_classifier_save_load_round_trip(tiny_extractor, tiny_faces, tmp_path, half):
    X, _ = tiny_faces
    folder = save_classifier(tiny_extractor, tmp_path / "clf", half=half, card="trained on tiny faces")
    assert {p.name for p in folder.iterdir()} == {"config.json", "model.safetensors", "README.md"}
    assert "trained on tiny faces" in (folder / "README.md").read_text()
    loaded = load_fer_classifier(folder)
    assert loaded.get_config() == tiny_extractor.get_config() and not loaded.training
    feats, logits = extract(tiny_extractor, X)
    feats2, logits2 = extract(loaded, X)
    if half:
        np.testing.assert_allclose(logits2, logits, atol=0.05)
    else:
        np.testing.assert_array_equal(feats2, feats)
        np.testing.assert_array_equal(logits2, logits)


def test_loading_a_broken_classifier_folder(tmp_path, tiny_extractor, monkeypatch):
    with pytest.raises(FileNotFoundError, match="holds no model.safetensors"):
        load_fer_classifier(tmp_path)
    monkeypatch.setattr(clf_module, "FER_CLASSIFIER_DIR", tmp_path / "missing")
    with pytest.raises(FileNotFoundError, match="train_fer_classifier.py"):
        load_fer_classifier()
    folder = save_classifier(tiny_extractor, tmp_path / "clf")
    (folder / "config.json").write_text('{"n_classes": 3, "widths": "wide"}')
    with pytest.raises(ValueError, match="config.json does not match FERClassifier"):
        load_fer_classifier(folder)


def _state(model) -> list[torch.Tensor]:
    return [v.clone() for v in model.state_dict().values()]


# -- train_classifier: steps, class_weight and label_smoothing --------------------------------------------------
def test_train_classifier_steps_match_epochs_and_allow_partial_passes():
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(40, 16, 16)).astype(np.uint8)
    y = np.arange(40) % 3
    common = {"batch_size": 16, "random_state": 0, "model_params": {"widths": [4, 8], "depths": [1, 1]}}
    by_epochs = train_classifier(X, y, epochs=3, **common)  # 2 steps per pass
    by_steps = train_classifier(X, y, steps=6, **common)
    assert all(torch.equal(a, b) for a, b in zip(_state(by_epochs), _state(by_steps)))
    partial = train_classifier(X, y, steps=5, **common)
    assert not all(torch.equal(a, b) for a, b in zip(_state(by_epochs), _state(partial)))


def test_train_classifier_class_weight():
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(40, 16, 16)).astype(np.uint8)
    y = np.array([0] * 30 + [1] * 10)
    common = {"steps": 3, "batch_size": 16, "random_state": 0, "model_params": {"widths": [4], "depths": [1]}}
    plain = _state(train_classifier(X, y, **common))
    balanced = _state(train_classifier(X, y, class_weight="balanced", **common))
    explicit = _state(train_classifier(X, y, class_weight=[40 / 60, 40 / 20], **common))
    as_dict = _state(train_classifier(X, y, class_weight={0: 40 / 60, 1: 2.0}, **common))
    assert not all(torch.equal(a, b) for a, b in zip(plain, balanced))
    assert all(torch.allclose(a.float(), b.float()) for a, b in zip(balanced, explicit))
    assert all(torch.allclose(a.float(), b.float()) for a, b in zip(balanced, as_dict))


def test_train_classifier_label_smoothing_changes_the_weights_and_zero_is_the_default():
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(40, 16, 16)).astype(np.uint8)
    y = np.arange(40) % 3
    common = {"steps": 3, "batch_size": 16, "random_state": 0, "model_params": {"widths": [4], "depths": [1]}}
    plain = _state(train_classifier(X, y, **common))
    assert all(torch.equal(a, b) for a, b in zip(plain, _state(train_classifier(X, y, label_smoothing=0.0, **common))))
    smoothed = _state(train_classifier(X, y, label_smoothing=0.1, **common))
    assert not all(torch.equal(a, b) for a, b in zip(plain, smoothed))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"steps": 0}, "`steps` must be a positive integer"),
        ({"label_smoothing": 1.0}, r"`label_smoothing` must be a number in \[0, 1\). Got 1.0 instead"),
        ({"label_smoothing": -0.1}, r"`label_smoothing` must be a number in \[0, 1\). Got -0.1 instead"),
        ({"label_smoothing": "0.1"}, r"`label_smoothing` must be a number in \[0, 1\). Got '0.1' instead"),
        ({"label_smoothing": float("nan")}, r"`label_smoothing` must be a number in \[0, 1\). Got nan instead"),
        ({"class_weight": "inverse"}, "`class_weight` must be 'balanced'"),
        ({"class_weight": [1.0]}, "one weight per class"),
        ({"class_weight": {5: 1.0}}, "class indices"),
        ({"class_weight": [-1.0, 1.0]}, "non-negative"),
    ],
)
def test_train_classifier_new_options_name_the_argument(kwargs, match):
    X = np.zeros((8, 16, 16), np.uint8)
    with pytest.raises(ValueError, match=match):
        train_classifier(X, np.arange(8) % 2, model_params={"widths": [4], "depths": [1]}, **kwargs)
