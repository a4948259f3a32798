"""SyntheticBalancedDataset and BalancedLoader with tiny generators and tiny datasets."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset
from torchvision.transforms import v2

from cganbalance import datasets
from cganbalance.fer2013 import CLASSES, FER2013
from cganbalance.hub import save_generator
from cganbalance.nets import Discriminator, Generator, init_weights
from cganbalance.training import discriminator_confidence

ALPHABETICAL = sorted(CLASSES)


# Most tests here are about the generated items, so they top up with generated items only; the
# default mix of generated items and copies (max_synthetic_ratio="auto") has its own tests below.
def SyntheticBalancedDataset(*args, **kwargs):
    kwargs.setdefault("max_synthetic_ratio", None)
    return datasets.SyntheticBalancedDataset(*args, **kwargs)


def BalancedLoader(*args, **kwargs):
    kwargs.setdefault("max_synthetic_ratio", None)
    return datasets.BalancedLoader(*args, **kwargs)


def _tiny_generator(n_classes, size, classes=None, channels=1):
    g = Generator(
        n_classes=n_classes,
        latent_dim=8,
        output_shape=[channels, size, size],
        widths=[16, 8, 8, 4] if size == 48 else [8, 4, 4],
        classes=classes,
        value_range=[0, 255],
    )
    init_weights(g, torch.Generator().manual_seed(0), std=0.3)  # large weights: visibly varied images
    return g.eval()


@pytest.fixture(scope="module")
def g16():
    """Three classes 'a', 'b', 'c', 1×16×16."""
    return _tiny_generator(3, 16, classes=["a", "b", "c"])


@pytest.fixture(scope="module")
def fer_generator():
    return _tiny_generator(7, 48, classes=CLASSES)


def _tensor_dataset(labels, dtype=torch.uint8, size=16):
    labels = torch.as_tensor(labels)
    images = torch.arange(len(labels) * size * size).reshape(len(labels), 1, size, size)
    images = (images % 256).to(torch.uint8)
    if dtype.is_floating_point:
        images = images.to(dtype) / 255
    return TensorDataset(images, labels)


class _PILDataset(Dataset):
    """A torchvision-like dataset of PIL images with ``classes`` and ``targets``."""

    def __init__(self, labels, classes, size=48, mode="L"):
        self.targets, self.classes, self.size, self.mode = list(labels), list(classes), size, mode

    def __len__(self):
        return len(self.targets)

    def __getitem__(self, i):
        return Image.new(
            self.mode, (self.size, self.size), color=(i * 10) if self.mode == "L" else (i, 0, 0)
        ), self.targets[i]


def _items_equal(a, b):
    (xa, ya), (xb, yb) = a, b
    if isinstance(xa, Image.Image):
        xa, xb = np.asarray(xa), np.asarray(xb)
    return bool(np.array_equal(np.asarray(xa), np.asarray(xb))) and int(ya) == int(yb)


# -- counts ----------------------------------------------------------------------------------
LABELS = [0] * 6 + [1] * 3 + [2]


@pytest.mark.parametrize(
    "strategy, after",
    [
        ("auto", [6, 6, 6]),
        ("not majority", [6, 6, 6]),
        ("minority", [6, 3, 6]),
        ("not minority", [6, 6, 1]),
        ("all", [6, 6, 6]),
        ({1: 5, 2: 4}, [6, 5, 4]),
        ({"c": 3}, [6, 3, 3]),  # keys may be class names
        (lambda y: {2: int((y == 1).sum())}, [6, 3, 3]),
    ],
    ids=["auto", "not majority", "minority", "not minority", "all", "dict", "dict of names", "callable"],
)
def test_counts_follow_sampling_strategy(g16, strategy, after):
    ds = SyntheticBalancedDataset(_tensor_dataset(LABELS), g16, sampling_strategy=strategy, random_state=0)
    assert ds.classes == ["a", "b", "c"]
    assert ds.class_counts == {"a": (6, after[0]), "b": (3, after[1]), "c": (1, after[2])}
    assert len(ds) == sum(after) and ds.n_real == 10 and ds.n_synthetic == sum(after) - 10
    assert np.bincount(ds.targets, minlength=3).tolist() == after
    assert ds.targets[:10] == LABELS
    assert ds.synthetic_indices.tolist() == list(range(10, sum(after)))
    assert not ds.is_synthetic(9) and (ds.n_synthetic == 0 or ds.is_synthetic(10) and ds.is_synthetic(-1))
    assert [int(ds[i][1]) for i in range(len(ds))] == ds.targets


def test_float_strategy_on_binary_targets(g16):
    ds = SyntheticBalancedDataset(_tensor_dataset([0] * 8 + [1] * 2), g16, sampling_strategy=0.5, random_state=0)
    assert ds.class_counts == {"a": (8, 8), "b": (2, 4), "c": (0, 0)}


def test_invalid_strategies(g16):
    base = _tensor_dataset(LABELS)
    with pytest.raises(ValueError, match=r"`sampling_strategy` names the class \['z'\]: not among the dataset's classes"):
        SyntheticBalancedDataset(base, g16, sampling_strategy={"z": 3})
    with pytest.raises(ValueError):  # imblearn: a float needs binary targets
        SyntheticBalancedDataset(base, g16, sampling_strategy=0.5)
    with pytest.raises(ValueError):  # imblearn: over-sampling cannot ask for fewer samples
        SyntheticBalancedDataset(base, g16, sampling_strategy={0: 2})


# -- determinism -----------------------------------------------------------------------------
def test_same_random_state_same_items_in_any_order(g16):
    base = _tensor_dataset(LABELS)
    a = SyntheticBalancedDataset(base, g16, random_state=3)
    b = SyntheticBalancedDataset(base, g16, random_state=3)
    c = SyntheticBalancedDataset(base, g16, random_state=4)
    order = list(range(len(a)))
    first = [a[i] for i in order]
    second = [b[i] for i in reversed(order)][::-1]
    assert all(_items_equal(x, y) for x, y in zip(first, second))
    synthetic = a.synthetic_indices
    assert not all(_items_equal(a[i], c[i]) for i in synthetic)
    # items differ from each other: each draws its own noise
    assert len({a[i][0].numpy().tobytes() for i in synthetic}) == len(synthetic)


def test_none_random_state_is_fixed_per_object(g16):
    ds = SyntheticBalancedDataset(_tensor_dataset(LABELS), g16)
    assert _items_equal(ds[-1], ds[-1])


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_dataloader_workers_do_not_change_items(g16, dtype):
    ds = SyntheticBalancedDataset(_tensor_dataset(LABELS, dtype=dtype), g16, random_state=0)

    def epoch(num_workers):
        loader = DataLoader(ds, batch_size=4, shuffle=False, num_workers=num_workers)
        xs, ys = zip(*loader)
        return torch.cat(xs), torch.cat(ys)

    x0, y0 = epoch(0)
    x2, y2 = epoch(2)
    assert torch.equal(x0, x2) and torch.equal(y0, y2)
    assert torch.equal(x0, torch.stack([ds[i][0] for i in range(len(ds))]))


# -- forms -----------------------------------------------------------------------------------
def test_uint8_tensor_base_gives_uint8_tensors(g16):
    ds = SyntheticBalancedDataset(_tensor_dataset(LABELS), g16, random_state=0)
    image, label = ds[len(ds) - 1]
    assert image.dtype == torch.uint8 and image.shape == (1, 16, 16)
    assert isinstance(label, torch.Tensor) and label.dtype == torch.int64 and int(label) == 2
    assert image.max() > image.min()  # not a constant image
    expected = g16.to_numpy(g16.generate([2], random_state=0))  # same scale as the generator's own uint8 output
    assert abs(float(image.float().mean()) - float(expected.mean())) < 40


@pytest.mark.parametrize("value_range", [(0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)])
def test_float_base_gives_floats_in_its_range(g16, value_range):
    low, high = value_range
    base = _tensor_dataset(LABELS, dtype=torch.float32)
    base = TensorDataset(base.tensors[0] * (high - low) + low, base.tensors[1])
    ds = SyntheticBalancedDataset(base, g16, random_state=0)
    synthetic = torch.stack([ds[i][0] for i in ds.synthetic_indices])
    assert synthetic.dtype == torch.float32 and synthetic.shape[1:] == (1, 16, 16)
    assert low <= float(synthetic.min()) and float(synthetic.max()) <= high
    assert float(synthetic.max() - synthetic.min()) > 0.2 * (high - low)  # spread over the range


def test_float_range_that_cannot_be_inferred(g16):
    base = _tensor_dataset(LABELS, dtype=torch.float32)
    normalised = TensorDataset((base.tensors[0] - 0.2) * 4, base.tensors[1])
    with pytest.raises(ValueError, match="Pass `value_range=\\(low, high\\)`"):
        SyntheticBalancedDataset(normalised, g16)
    ds = SyntheticBalancedDataset(normalised, g16, value_range=(-0.8, 3.2), random_state=0)
    x = ds[len(ds) - 1][0]
    assert -0.8 <= float(x.min()) and float(x.max()) <= 3.2


def test_numpy_base_gives_arrays():
    g = _tiny_generator(3, 16)

    class Arrays(Dataset):
        def __len__(self):
            return len(LABELS)

        def __getitem__(self, i):
            return np.full((16, 16), i, np.uint8), np.int64(LABELS[i])

    ds = SyntheticBalancedDataset(Arrays(), g, random_state=0)
    image, label = ds[-1]
    assert isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.shape == (16, 16)
    assert isinstance(label, np.int64) and label == 2
    assert ds.classes == ["0", "1", "2"]  # no dataset classes: the generator's, by index


def test_pil_base_gives_pil_images_and_int_labels(tmp_path, fer_generator):
    rng = np.random.RandomState(0)
    labels = np.array([3, 3, 3, 3, 0, 0, 1, 6])
    np.savez(tmp_path / "train.npz", images=rng.randint(0, 256, (8, 48, 48)).astype(np.uint8), labels=labels)
    ds = SyntheticBalancedDataset(FER2013(tmp_path / "train.npz"), fer_generator, random_state=0)
    assert ds.classes == CLASSES
    assert (
        ds.class_counts["happy"] == (4, 4)
        and ds.class_counts["disgust"] == (1, 4)
        and ds.class_counts["fear"] == (0, 0)
    )
    image, label = ds[len(ds) - 1]
    assert isinstance(image, Image.Image) and image.mode == "L" and image.size == (48, 48)
    assert type(label) is int and label == CLASSES.index("neutral")


def test_grey_generator_tops_up_rgb_pil(g16):
    ds = SyntheticBalancedDataset(_PILDataset(LABELS, ["a", "b", "c"], size=16, mode="RGB"), g16, random_state=0)
    image = np.asarray(ds[-1][0])
    assert image.shape == (16, 16, 3)
    assert np.array_equal(image[..., 0], image[..., 2])


def test_transforms_v2_apply_to_real_and_synthetic(fer_generator):
    transform = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Resize(32)])
    base = _PILDataset([0, 0, 0, 1, 6], CLASSES)
    ds = SyntheticBalancedDataset(
        base, fer_generator, transform=transform, target_transform=lambda y: y + 100, random_state=0
    )
    for i in (0, len(ds) - 1):
        image, _ = ds[i]
        assert image.shape == (1, 32, 32) and image.dtype == torch.float32
        assert 0 <= float(image.min()) <= float(image.max()) <= 1
    assert ds[0][1] == 100 and ds[len(ds) - 1][1] == 106
    x, y = next(iter(DataLoader(ds, batch_size=len(ds))))
    assert x.shape == (9, 1, 32, 32) and sorted(y.tolist()) == [100] * 3 + [101] * 3 + [106] * 3


# -- labels by name --------------------------------------------------------------------------
def test_labels_map_to_generator_by_name(fer_generator, monkeypatch):
    asked = []
    forward = fer_generator.forward
    monkeypatch.setattr(fer_generator, "forward", lambda z, y: asked.append(y.tolist()) or forward(z, y))
    # alphabetical classes: 4 = neutral (canonical 6), 6 = surprise (canonical 5)
    base = _PILDataset([0, 0, 0, 4, 6, 6], ALPHABETICAL)
    ds = SyntheticBalancedDataset(base, fer_generator, random_state=0)
    assert ds.classes == ALPHABETICAL
    assert ds.class_counts["neutral"] == (1, 3) and ds.class_counts["surprise"] == (2, 3)
    assert [ds[i][1] for i in ds.synthetic_indices] == [4, 4, 6]  # the dataset's own labels
    assert asked == [[6], [6], [5]]  # the generator's


def test_class_mismatch_is_an_error(fer_generator, g16):
    with pytest.raises(ValueError, match=r"The dataset's classes \['contempt'\]: not among the generator's classes"):
        SyntheticBalancedDataset(_PILDataset([0, 1], ["angry", "contempt"]), fer_generator)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 2\]"):  # by index: 3 classes
        SyntheticBalancedDataset(_tensor_dataset([0, 1, 5]), g16)
    with pytest.raises(ValueError, match=r"targets must lie in \[0, 6\].*Got values from -1"):  # unlabelled rows
        SyntheticBalancedDataset(_PILDataset([0, -1], CLASSES), fer_generator)


def test_image_size_mismatch_is_an_error(g16):
    with pytest.raises(ValueError, match="makes 16×16 images but the dataset's are 48×48. Resize in `transform`"):
        SyntheticBalancedDataset(_PILDataset([0, 0, 1], ["a", "b", "c"]), g16)


def test_subset_targets_and_classes(fer_generator):
    base = _PILDataset([0, 0, 0, 1, 1, 2, 3], CLASSES)
    ds = SyntheticBalancedDataset(Subset(base, [0, 1, 3, 5]), fer_generator, random_state=0)
    assert ds.targets[:4] == [0, 0, 1, 2] and ds.class_counts["fear"] == (1, 2) and len(ds) == 6


def test_dataset_without_targets_is_read_once(g16):
    class NoTargets(Dataset):
        reads = 0

        def __len__(self):
            return len(LABELS)

        def __getitem__(self, i):
            NoTargets.reads += 1
            return torch.zeros(1, 16, 16), LABELS[i]

    ds = SyntheticBalancedDataset(NoTargets(), g16, random_state=0)
    assert ds.class_counts == {"a": (6, 6), "b": (3, 6), "c": (1, 6)}
    assert NoTargets.reads <= len(LABELS) + 4  # one pass, plus a few items to learn the image form


# -- Hugging Face datasets -------------------------------------------------------------------
def _hf(labels):
    datasets = pytest.importorskip("datasets")
    rng = np.random.RandomState(0)
    return datasets.Dataset.from_dict(
        {"img": [Image.fromarray(rng.randint(0, 256, (48, 48)).astype(np.uint8)) for _ in labels], "emotion": labels},
        features=datasets.Features({"img": datasets.Image(), "emotion": datasets.ClassLabel(names=ALPHABETICAL)}),
    )


def test_hf_dataset_in_torch_format(fer_generator):
    ds = SyntheticBalancedDataset(_hf([3, 3, 3, 4]).with_format("torch"), fer_generator, random_state=0)
    assert ds.classes == ALPHABETICAL and ds.class_counts["neutral"] == (1, 3)
    real, synthetic = ds[0], ds[len(ds) - 1]
    for image, label in (real, synthetic):
        assert isinstance(image, torch.Tensor) and image.dtype == torch.uint8 and image.shape == (1, 48, 48)
        assert isinstance(label, torch.Tensor)
    assert int(synthetic[1]) == 4


def test_hf_dataset_pil_format_and_keys(fer_generator):
    hf = _hf([3, 3, 4])
    ds = SyntheticBalancedDataset(hf, fer_generator, random_state=0)
    image, label = ds[-1]
    assert isinstance(image, Image.Image) and label == 4
    with pytest.raises(ValueError, match=r"without the keys \['pixels'\]"):
        SyntheticBalancedDataset(hf, fer_generator, image_key="pixels")


# -- fresh sampling --------------------------------------------------------------------------
def _epoch(loader):
    xs, ys = zip(*loader)
    return torch.cat(xs), torch.cat(ys)


def test_balanced_loader_counts_and_fresh_samples(g16):
    base = _tensor_dataset(LABELS)
    loader = BalancedLoader(base, g16, batch_size=4, random_state=0)
    assert len(loader) == 5 and loader.class_counts == {"a": (6, 6), "b": (3, 6), "c": (1, 6)}
    x0, y0 = _epoch(loader)
    x1, y1 = _epoch(loader)
    assert x0.shape == (18, 1, 16, 16) and x0.dtype == torch.uint8
    assert np.bincount(y0.numpy()).tolist() == [6, 6, 6] == np.bincount(y1.numpy()).tolist()
    assert not torch.equal(y0, y1)  # reshuffled
    # every real image appears once per epoch; synthetic ones are new each epoch
    real = {img.numpy().tobytes() for img in base.tensors[0]}
    synthetic0 = {img.numpy().tobytes() for img in x0} - real
    synthetic1 = {img.numpy().tobytes() for img in x1} - real
    assert len(synthetic0) == len(synthetic1) == 8 and not synthetic0 & synthetic1
    # epochs are reproducible from random_state
    again = BalancedLoader(base, g16, batch_size=4, random_state=0)
    assert all(torch.equal(a, b) for a, b in zip(_epoch(again), (x0, y0)))
    again.set_epoch(0)
    assert torch.equal(_epoch(again)[0], x0)


def test_balanced_loader_workers_transforms_and_device(g16):
    base = _tensor_dataset(LABELS)
    kwargs = {
        "batch_size": 5,
        "sampling_strategy": "minority",
        "transform": v2.Compose([v2.ToDtype(torch.float32, scale=True)]),
        "batch_transform": v2.Normalize([0.5], [0.5]),
        "shuffle": False,
        "drop_last": True,
        "device": "cpu",
        "random_state": 1,
    }
    x0, y0 = _epoch(BalancedLoader(base, g16, **kwargs))
    x2, y2 = _epoch(BalancedLoader(base, g16, num_workers=2, **kwargs))
    assert torch.equal(x0, x2) and torch.equal(y0, y2)
    assert x0.shape == (15, 1, 16, 16) and x0.dtype == torch.float32  # 6 + 3 + 6, drop_last keeps 3 full batches
    assert -1 <= float(x0.min()) and float(x0.max()) <= 1  # [0, 1] then normalised to [-1, 1]
    assert y0[:10].tolist() == LABELS  # shuffle=False: real items first, in order
    assert y0[10:].tolist() == [2] * 5
    expected_real = base.tensors[0].float() / 255 * 2 - 1
    assert torch.allclose(x0[:10], expected_real, atol=1e-6)


def test_balanced_loader_pil_dataset(fer_generator):
    loader = BalancedLoader(_PILDataset([0, 0, 0, 1], CLASSES), fer_generator, batch_size=3, random_state=0)
    x, y = _epoch(loader)
    assert x.shape == (6, 1, 48, 48) and x.dtype == torch.uint8 and sorted(y.tolist()) == [0, 0, 0, 1, 1, 1]


def test_balanced_loader_argument_errors(g16):
    base = _tensor_dataset(LABELS)
    with pytest.raises(ValueError, match="`batch_size` must be a positive int. Got 0"):
        BalancedLoader(base, g16, batch_size=0)
    with pytest.raises(TypeError, match="`sampler` cannot be passed"):
        BalancedLoader(base, g16, sampler=[0])


def test_latent_scale_changes_only_the_synthetic_items(g16):
    base = _tensor_dataset(LABELS)
    plain = SyntheticBalancedDataset(base, g16, random_state=0)
    tight = SyntheticBalancedDataset(base, g16, random_state=0, latent_scale=1e-4)
    assert plain.latent_scale == 1.0 and tight.latent_scale == 1e-4
    for i in range(plain.n_real):
        assert _items_equal(plain[i], tight[i])
    # near-zero noise: the synthetic items of a class are one image (up to pixel rounding); with noise of 1 they vary
    def pixel_range(images):
        x = torch.stack([torch.as_tensor(img) for img in images]).double()
        return (x.amax(0) - x.amin(0)).max().item()

    c_items = [i for i in tight.synthetic_indices if tight.targets[i] == 2]
    assert len(c_items) == 5
    assert pixel_range([tight[i][0] for i in c_items]) <= 1 < 20 < pixel_range([plain[i][0] for i in c_items])
    loader = BalancedLoader(base, g16, batch_size=4, random_state=0, latent_scale=1e-4)
    x, y = _epoch(loader)
    real = base.tensors[0][base.tensors[1] == 2]
    synthetic_c = [img for img, label in zip(x, y) if label == 2 and not any(torch.equal(img, r) for r in real)]
    assert len(synthetic_c) == 5 and pixel_range(synthetic_c) <= 1


@pytest.mark.parametrize("value, error", [(0, ValueError), (-1.0, ValueError), (float("nan"), ValueError),
                                          (float("inf"), ValueError), (10.5, ValueError), ("2", TypeError),
                                          (True, TypeError)])
def test_latent_scale_bad_values(g16, value, error):
    base = _tensor_dataset(LABELS)
    match = rf"`latent_scale` must be a number in \(0, 10\]. Got {re.escape(repr(value))}"
    with pytest.raises(error, match=match):
        SyntheticBalancedDataset(base, g16, latent_scale=value)
    with pytest.raises(error, match=match):
        BalancedLoader(base, g16, latent_scale=value)
    with pytest.raises(error, match=match):
        g16.generate([0], latent_scale=value)


# -- copies of real items (max_synthetic_ratio) ------------------------------------------------
MIXED = [0] * 8 + [1] * 4 + [2] * 2  # tops up "b" by 4 and "c" by 6


def _distinct_dataset(labels, dtype=torch.uint8):
    """Like ``_tensor_dataset``, but every image differs from the others (so a copy names its source)."""
    labels = torch.as_tensor(labels)
    images = (torch.arange(256).repeat(len(labels), 1) + 17 * torch.arange(len(labels))[:, None]) % 256
    images = images.reshape(len(labels), 1, 16, 16).to(torch.uint8)
    return TensorDataset(images.to(dtype) / 255 if dtype.is_floating_point else images, labels)


def test_default_mix_is_half_synthetic_then_copies(g16):
    base = _distinct_dataset(MIXED)
    ds = datasets.SyntheticBalancedDataset(base, g16, random_state=0)
    # at most floor(0.5 * n_real) generated items per class, copies for the rest
    assert (ds.n_synthetic, ds.n_copies) == (2 + 1, 2 + 5)
    assert ds.class_counts == {"a": (8, 8), "b": (4, 8), "c": (2, 8)}
    assert list(ds.synthetic_indices) == [14, 15, 16] and list(ds.copy_indices) == list(range(17, 24))
    assert [ds.targets[i] for i in ds.synthetic_indices] == [1, 1, 2]
    assert [ds.targets[i] for i in ds.copy_indices] == [1, 1, 2, 2, 2, 2, 2]
    for i, source in zip(ds.copy_indices, ds.copy_sources):
        assert not ds.is_synthetic(i) and MIXED[source] == ds.targets[i]
        assert _items_equal(ds[i], base[int(source)])
    assert ds.is_synthetic(14) and ds.is_synthetic(-8) and not ds.is_synthetic(-7)
    assert "Copies of real items: 7" in repr(ds)
    again = datasets.SyntheticBalancedDataset(base, g16, random_state=0)
    other = datasets.SyntheticBalancedDataset(base, g16, random_state=1)
    assert np.array_equal(again.copy_sources, ds.copy_sources)
    assert not np.array_equal(other.copy_sources, ds.copy_sources)


@pytest.mark.parametrize("ratio, expected", [(0, (0, 10)), (1.5, (4 + 3, 3)), (None, (10, 0))])
def test_max_synthetic_ratio_sets_the_split(g16, ratio, expected):
    ds = datasets.SyntheticBalancedDataset(_tensor_dataset(MIXED), g16, random_state=0, max_synthetic_ratio=ratio)
    assert (ds.n_synthetic, ds.n_copies) == expected and len(ds) == 24


def test_loader_draws_fresh_copies_every_epoch(g16):
    base = _distinct_dataset(MIXED)
    loader = datasets.BalancedLoader(base, g16, batch_size=5, random_state=0, shuffle=False)
    assert (loader.n_synthetic, loader.n_copies, len(loader)) == (3, 7, 5)
    copies = []
    for epoch in range(2):
        images, labels = map(torch.cat, zip(*loader))
        assert labels.tolist() == MIXED + [1, 1, 2, 2, 2, 2, 2] + [1, 1, 2]
        assert torch.equal(images[:14], torch.stack([base[i][0] for i in range(14)]))
        # the copies are the real images the plan names for this epoch, each of its own class
        sources = loader.plan.copy_sources(loader._seed, epoch)
        assert torch.equal(images[14:21], torch.stack([base[int(i)][0] for i in sources]))
        assert [MIXED[i] for i in sources] == labels[14:21].tolist()
        copies.append(images[14:21])
    assert not torch.equal(*copies)  # drawn afresh
    loader.set_epoch(0)
    assert torch.equal(torch.cat([x for x, _ in loader])[14:21], copies[0])


@pytest.mark.parametrize("ratio", [-0.5, "half", True, float("inf"), float("nan")])
def test_bad_max_synthetic_ratio_is_refused(g16, ratio):
    with pytest.raises(ValueError, match=r"`max_synthetic_ratio` must be a finite number >= 0, None or 'auto'. Got"):
        datasets.SyntheticBalancedDataset(_tensor_dataset(MIXED), g16, max_synthetic_ratio=ratio)


# -- ranking by the saved discriminator (filter_keep) -----------------------------------------
@pytest.fixture(scope="module")
def folder_with_d(g16, tmp_path_factory):
    d = Discriminator(n_classes=3, input_shape=[1, 16, 16], widths=[4, 8])
    init_weights(d, torch.Generator().manual_seed(1), std=0.3)
    return save_generator(g16, tmp_path_factory.mktemp("g") / "with-d", discriminator=d.eval()), d.eval()


def test_items_are_the_best_of_their_candidates(g16, folder_with_d):
    folder, d = folder_with_d
    base = _tensor_dataset(MIXED, dtype=torch.float32)
    ds = SyntheticBalancedDataset(base, folder, random_state=3, filter_keep=0.25)
    plain = SyntheticBalancedDataset(base, folder, random_state=3, filter_keep=None)
    assert ds.plan.n_candidates == 4 and plain.plan.n_candidates == 1 and plain.plan.discriminator is None
    assert "best of 4 by the discriminator" in repr(ds)
    for j, i in enumerate(ds.synthetic_indices[:4]):
        label = ds.targets[i]
        with torch.no_grad():  # the candidates, drawn from the item's own noise, and their scores
            z = g16.noise(4, datasets.rng_for(3, j))
            x = g16(z, torch.full((4,), label))
            best = discriminator_confidence(d, x, torch.full((4,), label)).argmax()
        torch.testing.assert_close(ds[i][0], (x[best] + 1) / 2, atol=1e-5, rtol=0)  # the dataset's [0, 1] floats
        # no ranking: exactly what the generator draws from the item's noise
        expected = g16.generate([label], random_state=datasets.rng_for(3, j))[0]
        torch.testing.assert_close(plain[i][0], (expected + 1) / 2, atol=1e-6, rtol=0)


def test_auto_ranks_only_with_a_saved_discriminator(g16, folder_with_d):
    base = _tensor_dataset(MIXED)
    assert datasets.SyntheticBalancedDataset(base, folder_with_d[0], random_state=0).plan.n_candidates == 2
    assert datasets.SyntheticBalancedDataset(base, g16, random_state=0).plan.n_candidates == 1
    loader = datasets.BalancedLoader(base, folder_with_d[0], batch_size=8, random_state=0)
    assert loader.plan.n_candidates == 2 and sum(len(y) for _, y in loader) == 24
    unranked = datasets.BalancedLoader(base, folder_with_d[0], batch_size=8, random_state=0, filter_keep=None)
    (a, _), (b, _) = next(iter(loader)), next(iter(unranked))
    assert a.shape == b.shape and not torch.equal(a, b)  # the same noise, other faces kept


@pytest.mark.parametrize("keep", [0, 1.5, "most", True])
def test_bad_filter_keep_is_refused(g16, keep):
    with pytest.raises(ValueError, match=r"`filter_keep` must be a number in \(0, 1\], None or 'auto'. Got"):
        datasets.BalancedLoader(_tensor_dataset(MIXED), g16, filter_keep=keep)


@pytest.mark.parametrize("ratio", [None, 0])  # also when nothing is generated (ratio 0: copies only)
def test_filter_keep_without_a_discriminator_says_so(g16, ratio):
    with pytest.raises(ValueError, match=r"`filter_keep=0.5` ranks candidates .* a Generator object has none"):
        datasets.SyntheticBalancedDataset(_tensor_dataset(MIXED), g16, filter_keep=0.5, max_synthetic_ratio=ratio)


def test_a_ranking_dataset_pickles_for_spawned_workers(folder_with_d):
    import pickle

    ds = datasets.SyntheticBalancedDataset(_distinct_dataset(MIXED), folder_with_d[0], random_state=0)
    assert ds.plan.discriminator is not None  # with spectral norm, which plain pickle refuses
    again = pickle.loads(pickle.dumps(ds))
    assert not again.plan.discriminator.training
    for i in range(len(ds)):
        assert _items_equal(again[i], ds[i])
