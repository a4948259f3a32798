"""FER-2013 readers: every source format, splits, label mapping by name, malformed input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from cganbalance import fer2013
from cganbalance.fer2013 import CLASSES, FER2013

ALPHABETICAL = sorted(CLASSES)  # angry, disgust, fear, happy, neutral, sad, surprise
USAGE = {"train": "Training", "public_test": "PublicTest", "private_test": "PrivateTest"}


@pytest.fixture
def rows():
    """Nine faces: 4 Training, 3 PublicTest, 2 PrivateTest, each with a distinct canonical label."""
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, size=(9, 48, 48)).astype(np.uint8)
    labels = np.array([0, 1, 3, 6, 2, 4, 5, 6, 1], dtype=np.int64)
    splits = ["train"] * 4 + ["public_test"] * 3 + ["private_test"] * 2
    return images, labels, splits


def _pixels(image) -> str:
    return " ".join(map(str, image.ravel()))


def _write_csv(path, header, records):
    path.write_text("\n".join([",".join(header)] + [",".join(r) for r in records]) + "\n")
    return path


def _fer2013_csv(path, rows):
    images, labels, splits = rows
    return _write_csv(
        path,
        ["emotion", "pixels", "Usage"],
        [[str(y), _pixels(x), USAGE[s]] for x, y, s in zip(images, labels, splits)],
    )


def _expected(rows, split):
    images, labels, splits = rows
    wanted = {"public_test", "private_test"} if split == "test" else {split}
    keep = np.array([s in wanted for s in splits])
    return images[keep], labels[keep]


def _assert_read(got, expected):
    images, labels = got
    assert images.dtype == np.uint8 and images.shape[1:] == (48, 48)
    assert labels.dtype == np.int64
    np.testing.assert_array_equal(images, expected[0])
    np.testing.assert_array_equal(labels, expected[1])


# -- CSV -------------------------------------------------------------------------------------
@pytest.mark.parametrize("split", ["train", "public_test", "private_test", "test"])
def test_fer2013_csv_selects_split_by_usage(tmp_path, rows, split):
    path = _fer2013_csv(tmp_path / "fer2013.csv", rows)
    _assert_read(fer2013.load(path, split=split), _expected(rows, split))
    _assert_read(fer2013.load_csv(path, split=split), _expected(rows, split))
    _assert_read(fer2013.load(tmp_path, split=split), _expected(rows, split))  # folder holding the CSV


def test_icml_csv_with_spaced_column_names(tmp_path, rows):
    images, labels, splits = rows
    path = _write_csv(
        tmp_path / "icml_face_data.csv",
        ["emotion", " Usage", " pixels"],
        [[str(y), " " + USAGE[s], " " + _pixels(x)] for x, y, s in zip(images, labels, splits)],
    )
    _assert_read(fer2013.load(path, split="public_test"), _expected(rows, "public_test"))
    _assert_read(fer2013.load(tmp_path, split="private_test"), _expected(rows, "private_test"))


def test_train_and_test_csv(tmp_path, rows):
    images, labels, _ = rows
    _write_csv(
        tmp_path / "train.csv", ["emotion", "pixels"], [[str(y), _pixels(x)] for x, y in zip(images[:4], labels[:4])]
    )
    _write_csv(tmp_path / "test.csv", ["pixels"], [[_pixels(x)] for x in images[4:]])
    _assert_read(fer2013.load(tmp_path / "train.csv"), (images[:4], labels[:4]))
    # test.csv without emotion: every row unlabelled
    _assert_read(fer2013.load(tmp_path / "test.csv", split="test"), (images[4:], np.full(5, fer2013.UNLABELLED)))
    # a folder with train.csv / test.csv: the split picks the file
    _assert_read(fer2013.load(tmp_path, split="train"), (images[:4], labels[:4]))
    _assert_read(fer2013.load(tmp_path, split="test"), (images[4:], np.full(5, -1)))
    # test.csv with emotion
    _write_csv(
        tmp_path / "test.csv", ["emotion", "pixels"], [[str(y), _pixels(x)] for x, y in zip(images[4:], labels[4:])]
    )
    _assert_read(fer2013.load(tmp_path, split="public_test"), (images[4:], labels[4:]))


def test_csv_with_one_usage_is_read_whole(tmp_path, rows):
    images, labels, _ = rows
    path = _write_csv(
        tmp_path / "x.csv",
        ["emotion", "pixels", "Usage"],
        [[str(y), _pixels(x), "PublicTest"] for x, y in zip(images, labels)],
    )
    _assert_read(fer2013.load(path), (images, labels))  # default split="train"


def test_csv_tolerates_bom_and_blank_lines(tmp_path, rows):
    images, labels, _ = rows
    text = "\ufeffemotion,pixels\n" + "\n".join(f"{y},{_pixels(x)}\n" for x, y in zip(images[:2], labels[:2]))
    (tmp_path / "train.csv").write_text(text, encoding="utf-8")
    _assert_read(fer2013.load(tmp_path / "train.csv"), (images[:2], labels[:2]))


def _bad_csv_cases(image):
    good = _pixels(image)
    short = " ".join(good.split()[:-1])
    return {
        "missing pixels column": (["emotion", "Usage"], [["0", "Training"]], "line 1", "missing column 'pixels'"),
        "wrong pixel count": (["emotion", "pixels"], [["0", good], ["1", short]], "line 3", "2304 values"),
        "non-integer pixel": (["emotion", "pixels"], [["0", good.replace(" ", " x ", 1)]], "line 2", "'x'"),
        "pixel above 255": (["emotion", "pixels"], [["0", "256 " + " ".join(good.split()[1:])]], "line 2", "[0, 255]"),
        "unknown emotion": (["emotion", "pixels"], [["0", good], ["0", good], ["7", good]], "line 4", "`emotion`"),
        "unknown usage": (["emotion", "pixels", "Usage"], [["0", good, "Validation"]], "line 2", "'Validation'"),
        "missing field": (["emotion", "pixels", "Usage"], [["0", good, "Training"], ["0", good]], "line 3", "fields"),
    }


@pytest.mark.parametrize("case", list(_bad_csv_cases(np.zeros((48, 48), np.uint8))))
def test_malformed_csv_names_file_and_line(tmp_path, rows, case):
    header, records, line, detail = _bad_csv_cases(rows[0][0])[case]
    path = _write_csv(tmp_path / "bad.csv", header, records)
    with pytest.raises(ValueError) as err:
        fer2013.load(path)
    message = str(err.value)
    assert str(path) in message and line in message and detail in message, message


def test_split_missing_from_multi_split_file(tmp_path, rows):
    images, labels, splits = rows
    path = _write_csv(
        tmp_path / "fer2013.csv",
        ["emotion", "pixels", "Usage"],
        [[str(y), _pixels(x), USAGE[s]] for x, y, s in zip(images, labels, splits) if s != "train"],
    )
    with pytest.raises(
        ValueError, match=r"fer2013\.csv: holds the splits \['public_test', 'private_test'\] but not split='train'"
    ):
        fer2013.load(path)


@pytest.mark.parametrize("split", ["validation", "Training", None])
def test_unknown_split(tmp_path, rows, split):
    path = _fer2013_csv(tmp_path / "fer2013.csv", rows)
    with pytest.raises(ValueError, match=r"`split` must be one of \['train', 'public_test', 'private_test', 'test'\]"):
        fer2013.load(path, split=split)
    with pytest.raises(ValueError, match="`split` must be one of"):
        FER2013(path, split=split)


# -- image folders ---------------------------------------------------------------------------
def _image_folder(root, rows, suffix=".png"):
    """Kaggle layout: alphabetical class folders under train/ and test/, Usage-prefixed names."""
    images, labels, splits = rows
    for i, (x, y, s) in enumerate(zip(images, labels, splits)):
        folder = root / ("train" if s == "train" else "test") / CLASSES[y]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(x).save(folder / f"{USAGE[s]}_{i:03d}{suffix}")
    return root


def _sorted_like_folder(rows, split):
    """Expected rows in reading order: alphabetical class folders, then file names."""
    images, labels = _expected(rows, split)
    order = sorted(range(len(labels)), key=lambda i: ALPHABETICAL.index(CLASSES[labels[i]]))
    return images[order], labels[order]


@pytest.mark.parametrize("split", ["train", "public_test", "private_test", "test"])
def test_image_folder_maps_alphabetical_folders_by_name(tmp_path, rows, split):
    root = _image_folder(tmp_path / "fer", rows)
    got = fer2013.load(root, split=split)
    _assert_read(got, _sorted_like_folder(rows, split))
    _assert_read(fer2013.load_image_folder(root, split=split), _sorted_like_folder(rows, split))


def test_image_folder_of_class_folders_and_jpeg(tmp_path, rows):
    root = _image_folder(tmp_path / "fer", rows, suffix=".jpg")
    images, labels = fer2013.load(root / "train")  # class folders directly
    expected_images, expected_labels = _sorted_like_folder(rows, "train")
    np.testing.assert_array_equal(labels, expected_labels)
    assert images.shape == (4, 48, 48) and images.dtype == np.uint8
    assert np.abs(images.astype(int) - expected_images).mean() < 20  # JPEG is lossy


def test_image_folder_skips_hidden_files(tmp_path, rows):
    root = _image_folder(tmp_path / "fer", rows)
    (root / "train" / "happy" / ".DS_Store").write_bytes(b"\0\1")
    assert len(fer2013.load(root)[0]) == 4


def test_image_folder_unknown_class_folder(tmp_path, rows):
    root = _image_folder(tmp_path / "fer", rows)
    (root / "train" / "contempt").mkdir()
    with pytest.raises(ValueError, match=r"train/contempt: unknown class folder 'contempt'"):
        fer2013.load(root)


def test_image_folder_non_image_file(tmp_path, rows):
    root = _image_folder(tmp_path / "fer", rows)
    bad = root / "test" / "fear" / "PublicTest_999.jpg"
    bad.write_text("not an image")
    with pytest.raises(ValueError, match="not a readable image") as err:
        fer2013.load(root, split="public_test")
    assert str(bad) in str(err.value)


def test_image_folder_wrong_size_and_stray_file(tmp_path, rows):
    root = _image_folder(tmp_path / "fer", rows)
    big = root / "train" / "happy" / "Training_big.png"
    Image.fromarray(np.zeros((64, 64), np.uint8)).save(big)
    with pytest.raises(ValueError, match=r"48×48\. Got 64×64") as err:
        fer2013.load(root)
    assert str(big) in str(err.value)
    big.unlink()
    (root / "train" / "notes.txt").write_text("hi")
    with pytest.raises(ValueError, match=r"train/notes\.txt: unexpected file"):
        fer2013.load(root)


def test_image_folder_missing_split_folder(tmp_path, rows):
    root = _image_folder(tmp_path / "fer", rows)
    for f in (root / "test").rglob("*.png"):
        f.unlink()
    for d in sorted((root / "test").iterdir()):
        d.rmdir()
    (root / "test").rmdir()
    with pytest.raises(ValueError, match=r"split='test' is read from test/, which does not exist"):
        fer2013.load(root, split="test")


# -- npz -------------------------------------------------------------------------------------
def test_npz_maps_classes_by_name_and_filters_mixed_splits(tmp_path, rows):
    images, labels, splits = rows
    alphabetical = np.array([ALPHABETICAL.index(CLASSES[y]) for y in labels])
    names = np.array([f"{USAGE[s]}_{i}.jpg" for i, s in enumerate(splits)])
    path = tmp_path / "all.npz"
    np.savez(path, images=images, labels=alphabetical, names=names, classes=np.array(ALPHABETICAL))
    _assert_read(fer2013.load_npz(path), (images, labels))  # whole file, canonical labels
    for split in ("train", "public_test", "test"):
        _assert_read(fer2013.load(path, split=split), _expected(rows, split))


def test_npz_of_one_split_is_read_whole(tmp_path, rows):
    images, labels, _ = rows
    path = tmp_path / "public_test.npz"
    names = np.array([f"PublicTest_{i}.jpg" for i in range(9)])
    np.savez(path, images=images, labels=labels, names=names, classes=np.array(CLASSES))
    _assert_read(fer2013.load(path), (images, labels))
    np.savez(path, images=images, labels=labels)  # no names, no classes: canonical order
    _assert_read(fer2013.load(path, split="private_test"), (images, labels))


@pytest.mark.parametrize(
    "arrays, message",
    [
        ({"images": np.zeros((2, 48, 48), np.uint8)}, "missing array 'labels'"),
        ({"images": np.zeros((2, 48, 48), np.uint8), "labels": np.array([0, 7])}, r"labels must lie in \[0, 6\]"),
        ({"images": np.zeros((2, 48, 48)), "labels": np.array([0, 1])}, "`images` must be uint8"),
        (
            {"images": np.zeros((1, 48, 48), np.uint8), "labels": np.array([0]), "classes": np.array(["joy"])},
            r"the class names \['joy'\]: not among the FER-2013 classes",
        ),
    ],
)
def test_malformed_npz(tmp_path, arrays, message):
    path = tmp_path / "bad.npz"
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=message) as err:
        fer2013.load(path)
    assert str(path) in str(err.value)


def test_unsupported_sources(tmp_path):
    (tmp_path / "x.txt").write_text("")
    with pytest.raises(ValueError, match=r"x\.txt: unsupported FER-2013 file"):
        fer2013.load(tmp_path / "x.txt")
    with pytest.raises(ValueError, match="no such file or folder"):
        fer2013.load(tmp_path / "missing.csv")
    with pytest.raises(TypeError, match="`path` must be a file, a folder or a datasets.Dataset. Got int"):
        fer2013.load(3)


# -- Hugging Face datasets -------------------------------------------------------------------
def _hf_dataset(rows, usage=False):
    datasets = pytest.importorskip("datasets")
    images, labels, splits = rows
    data = {"image": [Image.fromarray(x) for x in images], "label": [ALPHABETICAL.index(CLASSES[y]) for y in labels]}
    features = {"image": datasets.Image(), "label": datasets.ClassLabel(names=ALPHABETICAL)}
    if usage:
        data["Usage"] = [USAGE[s] for s in splits]
        features["Usage"] = datasets.Value("string")
    return datasets.Dataset.from_dict(data, features=datasets.Features(features))


def test_hf_dataset_maps_classlabel_names(rows):
    images, labels, _ = rows
    ds = _hf_dataset(rows)
    _assert_read(fer2013.load(ds), (images, labels))
    _assert_read(fer2013.load(ds.with_format("torch")), (images, labels))


@pytest.mark.parametrize("split", ["train", "public_test", "test"])
def test_hf_dataset_usage_column_and_dataset_dict(rows, split):
    datasets = pytest.importorskip("datasets")
    ds = _hf_dataset(rows, usage=True)
    _assert_read(fer2013.load(ds, split=split), _expected(rows, split))
    images, labels, _ = rows
    dd = datasets.DatasetDict(
        {"train": _hf_dataset(rows).select(range(4)), "test": _hf_dataset(rows).select(range(4, 9))}
    )
    _assert_read(fer2013.load(dd, split="train"), (images[:4], labels[:4]))
    with pytest.raises(ValueError, match=r"DatasetDict has splits \['train', 'test'\]; `split='public_test'`"):
        fer2013.load(dd, split="public_test")


def test_hf_dataset_errors(rows):
    datasets = pytest.importorskip("datasets")
    ds = _hf_dataset(rows)
    plain = ds.cast_column("label", datasets.Value("int64"))
    with pytest.raises(ValueError, match="no ClassLabel column"):
        fer2013.load(plain)
    with pytest.raises(ValueError, match=r"`label_column='emotion'` is not a column"):
        fer2013.load_hf_dataset(ds, label_column="emotion")
    renamed = ds.cast_column("label", datasets.ClassLabel(names=["joy"] + ALPHABETICAL[1:]))
    with pytest.raises(ValueError, match=r"the class names \['joy'\]: not among the FER-2013 classes"):
        fer2013.load(renamed)
    big = datasets.Dataset.from_dict(
        {
            "image": [Image.fromarray(np.zeros((48, 48), np.uint8)), Image.fromarray(np.zeros((50, 50), np.uint8))],
            "label": [0, 1],
        },
        features=datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=ALPHABETICAL)}),
    )
    with pytest.raises(ValueError, match=r"row 1: FER-2013 images are 48×48\. Got 50×50"):
        fer2013.load(big)


# -- the torchvision-style dataset -----------------------------------------------------------
def test_fer2013_vision_dataset(tmp_path, rows):
    from torchvision.datasets import VisionDataset

    images, labels, _ = rows
    path = _fer2013_csv(tmp_path / "fer2013.csv", rows)
    ds = FER2013(path, split="public_test")
    assert isinstance(ds, VisionDataset)
    assert len(ds) == 3 and ds.classes == CLASSES
    assert ds.targets == labels[4:7].tolist() and all(type(t) is int for t in ds.targets)
    np.testing.assert_array_equal(ds.data, images[4:7])
    image, label = ds[1]
    assert isinstance(image, Image.Image) and image.mode == "L" and image.size == (48, 48)
    np.testing.assert_array_equal(np.asarray(image), images[5])
    assert label == labels[5] and type(label) is int
    assert "Split: public_test" in repr(ds) and str(path) in repr(ds)


def test_fer2013_vision_dataset_transforms_v2(tmp_path, rows):
    import torch
    from torchvision.transforms import v2

    root = _image_folder(tmp_path / "fer", rows)
    ds = FER2013(
        root,
        transform=v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)]),
        target_transform=lambda y: CLASSES[y],
    )
    image, label = ds[0]
    assert image.shape == (1, 48, 48) and image.dtype == torch.float32 and 0 <= image.min() <= image.max() <= 1
    assert label == "angry"  # the alphabetical first folder, read first
    loader = torch.utils.data.DataLoader(FER2013(root, transform=v2.Compose([v2.ToImage()])), batch_size=4)
    x, y = next(iter(loader))
    assert x.shape == (4, 1, 48, 48) and x.dtype == torch.uint8
    assert (
        y.tolist() == _sorted_like_folder(rows, "train")[1].tolist() == [0, 1, 3, 6]
    )  # angry, disgust, happy, neutral


def test_empty_folder(tmp_path):
    with pytest.raises(ValueError, match=r"no FER-2013 data; expected train/ and test/ folders"):
        fer2013.load(tmp_path)


def test_a_one_split_file_refuses_another_split(tmp_path, rows):
    images, labels, _ = rows
    path = tmp_path / "train.npz"
    np.savez(path, images=images, labels=labels, names=np.array([f"Training_{i}.jpg" for i in range(9)]))
    _assert_read(fer2013.load(path, split="train"), (images, labels))
    for split in ("public_test", "private_test", "test"):
        with pytest.raises(ValueError, match=rf"train.npz: holds only split 'train', not split='{split}'"):
            fer2013.load(path, split=split)
