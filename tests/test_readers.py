"""Any labelled images for `cganbalance train`: npz, class folders, Hugging Face datasets; FER-2013 as before."""

import numpy as np
import pytest
from PIL import Image

from cganbalance.cli import main
from cganbalance.fer2013 import CLASSES
from cganbalance.readers import load_labelled_images


def _rgb(n, size=16, seed=0):
    return np.random.RandomState(seed).randint(0, 256, size=(n, size, size, 3)).astype(np.uint8)


def test_npz_with_string_labels_and_channels(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, images=_rgb(6), labels=np.array(["cat", "dog", "cat", "dog", "eel", "eel"]))
    images, labels, classes = load_labelled_images(path)
    assert images.shape == (6, 16, 16, 3) and classes == ["cat", "dog", "eel"]
    assert labels.tolist() == [0, 1, 0, 1, 2, 2]


def test_npz_with_integer_labels_and_class_names(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(path, images=_rgb(4)[..., :1], labels=np.array([1, 0, 1, 0]), classes=np.array(["no", "yes"]))
    images, labels, classes = load_labelled_images(path)
    assert images.shape == (4, 16, 16) and classes == ["no", "yes"] and labels.tolist() == [1, 0, 1, 0]


def test_fer_npz_is_read_as_before(tmp_path):
    from cganbalance import fer2013

    path = tmp_path / "fer.npz"
    rng = np.random.RandomState(0)
    alphabetical = sorted(CLASSES)
    np.savez(path, images=rng.randint(0, 256, (7, 48, 48)).astype(np.uint8), labels=np.arange(7), classes=np.array(alphabetical))
    images, labels, classes = load_labelled_images(path)
    expected = fer2013.load(path)
    assert classes == CLASSES and np.array_equal(labels, expected[1]) and np.array_equal(images, expected[0])


@pytest.mark.parametrize(
    "images, labels, message",
    [
        (np.zeros((3, 4), np.uint8), np.zeros(3, int), "N×H×W"),
        (np.zeros((3, 8, 8), np.float32), np.zeros(3, int), "uint8"),
        (np.zeros((3, 8, 8), np.uint8), np.zeros(2, int), "one label per image"),
        (np.zeros((3, 8, 8), np.uint8), np.zeros(3, float), "integers or strings"),
    ],
)
def test_npz_errors_name_the_array(tmp_path, images, labels, message):
    path = tmp_path / "bad.npz"
    np.savez(path, images=images, labels=labels)
    with pytest.raises(ValueError, match=message):
        load_labelled_images(path)


def _folder(root, sizes=None, mode="RGB"):
    for i, name in enumerate(["b_class", "a_class", "a_class", "b_class"]):
        (root / name).mkdir(parents=True, exist_ok=True)
        size = (sizes or {}).get(i, 12)
        Image.fromarray(_rgb(1, size, seed=i)[0]).convert(mode).save(root / name / f"{i}.png")
    return root


def test_class_folders_train_and_test(tmp_path):
    _folder(tmp_path / "train")
    _folder(tmp_path / "test", mode="L")
    images, labels, classes = load_labelled_images(tmp_path)
    assert images.shape == (4, 12, 12, 3) and classes == ["a_class", "b_class"] and sorted(labels.tolist()) == [0, 0, 1, 1]
    grey, _, _ = load_labelled_images(tmp_path, split="test")
    assert grey.shape == (4, 12, 12)


def test_class_folders_of_mixed_sizes_are_refused(tmp_path):
    _folder(tmp_path, sizes={2: 10})
    with pytest.raises(ValueError, match="one size"):
        load_labelled_images(tmp_path)


def test_hugging_face_dataset_folder(tmp_path):
    datasets = pytest.importorskip("datasets")
    features = datasets.Features({"img": datasets.Image(), "y": datasets.ClassLabel(names=["x", "z"])})
    ds = datasets.Dataset.from_dict({"img": [Image.fromarray(a) for a in _rgb(4)], "y": [0, 1, 1, 0]}, features=features)
    ds.save_to_disk(str(tmp_path / "hf"))
    images, labels, classes = load_labelled_images(tmp_path / "hf")
    assert images.shape == (4, 16, 16, 3) and classes == ["x", "z"] and labels.tolist() == [0, 1, 1, 0]


def test_unknown_source_is_refused(tmp_path):
    with pytest.raises(ValueError, match="no such file"):
        load_labelled_images(tmp_path / "missing")


@pytest.mark.slow
def test_train_on_rgb_npz_plugs_into_the_sampler_and_dataset(tmp_path):
    import torch
    from torch.utils.data import TensorDataset

    from cganbalance import CGANOverSampler, SyntheticBalancedDataset

    path = tmp_path / "rgb.npz"
    labels = np.array(["cat"] * 8 + ["dog"] * 4)
    np.savez(path, images=_rgb(12), labels=labels)
    assert main(["train", str(path), "--out", str(tmp_path / "out"), "--epochs", "1", "--batch-size", "4"]) == 0
    X = _rgb(12, seed=1)
    X_res, y_res = CGANOverSampler(generator=tmp_path / "out" / "generator", random_state=0).fit_resample(X, labels)
    assert X_res.shape == (16, 16, 16, 3) and (y_res == "dog").sum() == 8
    base = TensorDataset(torch.zeros(12, 3, 16, 16), torch.from_numpy((labels == "dog").astype(np.int64)))
    ds = SyntheticBalancedDataset(base, tmp_path / "out" / "generator", random_state=0)
    assert len(ds) == 16


def test_train_refuses_images_too_large_for_the_default_preset(tmp_path, capsys):
    path = tmp_path / "big.npz"
    np.savez(path, images=np.zeros((4, 130, 130), np.uint8), labels=np.array([0, 1, 0, 1]), classes=np.array(["a", "b"]))
    with pytest.raises(SystemExit):
        main(["train", str(path), "--out", str(tmp_path / "out"), "--epochs", "1"])
    assert "8 to 128 pixels" in capsys.readouterr().err
