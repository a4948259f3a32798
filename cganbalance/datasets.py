"""Train on class-balanced data: real samples topped up with generated ones.

Two ways, with the same ``sampling_strategy`` meaning as imbalanced-learn (how many samples
each class should have; see :class:`SyntheticBalancedDataset`):

:class:`SyntheticBalancedDataset` — a static wrapper
    A map-style ``torchvision`` dataset: the base dataset's items followed by a fixed set of
    synthetic items and a fixed set of copies of real items (``max_synthetic_ratio``). Synthetic
    item ``i`` is always the same image (drawn from a seed derived from ``random_state`` and
    ``i``; the best of its candidates by the generator's saved discriminator, ``filter_keep``),
    it comes out in the base dataset's own form (PIL image, uint8 or float tensor, array) and
    passes through the same ``transform``. It works with any ``DataLoader``, sampler,
    ``num_workers`` and transform pipeline, and the balanced dataset is reproducible and
    inspectable. Each synthetic item costs one forward pass of its candidates (on the
    generator's device, normally the CPU inside the loader's workers) every time it is read;
    nothing is cached.

:class:`BalancedLoader` — fresh sampling
    An iterable of ``(images, labels)`` batches on the training device: each epoch holds every
    real sample once and, for the topped-up classes, fresh copies of real samples and fresh
    synthetic samples, generated in one forward pass per batch on the training device and never
    stored. The model never sees the
    same synthetic image twice, which regularises more than a fixed synthetic set, and batched
    generation on a GPU is much cheaper than per-item generation in workers. Epochs are
    reproducible from ``random_state``, but the batches are tensors, not a dataset.

Pick the wrapper for a fixed, auditable training set or an existing pipeline that expects a
``Dataset``; pick the loader for the fastest training and the most synthetic diversity.

The base dataset is any map-style dataset whose items are ``(image, label)`` pairs (torchvision
datasets, ``TensorDataset``, :class:`cganbalance.fer2013.FER2013`) or dicts with an image and a
label column (a Hugging Face ``datasets.Dataset``, in any format). Its labels are read from
``dataset.targets`` when it has one (through ``Subset``), from the label column of a Hugging
Face dataset, from the last tensor of a ``TensorDataset``, and otherwise by reading every item
once.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import torch
from imblearn.utils import check_sampling_strategy
from torch.utils.data import DataLoader, Dataset, Subset, TensorDataset
from torchvision.datasets import VisionDataset

from ._utils.devices import device_available, resolve_device
from ._utils.images import channels_first, from_unit
from ._utils.labels import lookup
from ._utils.random import int_seed, rng_for
from .hub import load_generator
from .nets import Discriminator, Generator, check_latent_scale
from .nets.serialization import PickledModule
from .over_sampling._filtering import generate_best_of, n_candidates, saved_discriminator
from .over_sampling._plan import IMAGE_SYNTHETIC_RATIO, split_top_up

__all__ = ["BalancePlan", "BalancedLoader", "SyntheticBalancedDataset"]

_SAMPLING_STRATEGY_DOC = """sampling_strategy : float, str, dict or callable, default="auto"
        How many samples each class should end up with, as in imbalanced-learn
        (``imblearn.utils.check_sampling_strategy`` with ``"over-sampling"``): ``"auto"`` /
        ``"not majority"`` (every class but the majority up to the majority's count),
        ``"minority"``, ``"not minority"``, ``"all"``; a float (binary targets only: the
        desired minority/majority ratio); a dict ``{class: total count}``, whose keys may be
        labels or class names; or a callable ``y -> dict``."""

_MIXING_DOC = """max_synthetic_ratio : float, None or "auto", default="auto"
        At most this many synthetic items per real item of a class (``floor(ratio × n_real)``);
        the rest of the class's top-up are copies of its real items, drawn uniformly with
        replacement as ``RandomOverSampler`` draws them. ``"auto"`` is 0.5, as
        :class:`~cganbalance.CGANOverSampler`'s for images: on the FER-2013 validation split a
        top-up of generated faces only left a classifier below no resampling at all, and this
        mix lifted it (docs/benchmarks.md, "Choosing the shipped generator"). ``None`` makes
        every new item synthetic.
    filter_keep : float, None or "auto", default="auto"
        Rank candidates by the discriminator saved beside the generator (a folder, alias or Hub
        repo that holds ``discriminator.safetensors``, as the shipped ``fer2013-cgan`` does):
        each synthetic item is the best of ``ceil(1 / filter_keep)`` candidates by the
        discriminator's confidence (2 for 0.5). ``"auto"``: 0.5 when the generator has a
        discriminator, no ranking otherwise (a :class:`~cganbalance.nets.Generator` object has
        none). ``None`` or 1: no ranking; a number below 1 without a discriminator is an error. The
        sampler keeps the best fraction of a whole class; here each item is ranked on its own,
        so that it stays generated on demand and reproducible by itself."""


# -- the base dataset ------------------------------------------------------------------------
def _root_dataset(dataset):
    """``dataset`` without ``Subset`` wrappers, and the indices they select (None for all)."""
    indices = None
    while isinstance(dataset, Subset):
        sub = np.asarray(dataset.indices, dtype=np.int64)
        indices = sub if indices is None else sub[indices]
        dataset = dataset.dataset
    return dataset, indices


def _hf_keys(dataset, image_key, label_key) -> tuple[str, str]:
    """Image and label keys of dict items: Hugging Face ``Image`` / ``ClassLabel`` columns first."""
    features = getattr(_root_dataset(dataset)[0], "features", None) or {}
    if image_key is None:
        image_key = next((k for k, f in features.items() if type(f).__name__ == "Image"), "image")
    if label_key is None:
        label_key = next((k for k, f in features.items() if type(f).__name__ == "ClassLabel"), "label")
    return image_key, label_key


def _split_item(item, image_key: str, label_key: str, index: int):
    if isinstance(item, Mapping):
        missing = [k for k in (image_key, label_key) if k not in item]
        if missing:
            raise ValueError(
                f"`dataset[{index}]` is a dict without the keys {missing}; its keys are {list(item)}. "
                "Pass `image_key` / `label_key`."
            )
        return item[image_key], item[label_key]
    if isinstance(item, (tuple, list)) and len(item) >= 2:
        return item[0], item[1]
    raise TypeError(
        f"`dataset` items must be (image, label) pairs or dicts. Got {type(item).__name__} at index {index}."
    )


def _as_label(value, index: int) -> int:
    if isinstance(value, torch.Tensor) and value.numel() == 1 or isinstance(value, np.ndarray) and value.size == 1:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"`dataset` labels must be integer class indices. Got {value!r} at index {index}.")
    return int(value)


def _label_like(label: int, reference):
    """``label`` in the type of the base dataset's labels (int, numpy integer or 0-d tensor)."""
    if isinstance(reference, torch.Tensor):
        return torch.tensor(label, dtype=reference.dtype)
    if isinstance(reference, np.generic):
        return reference.dtype.type(label)
    return int(label)


def _dataset_targets(dataset, image_key: str, label_key: str) -> np.ndarray:
    root, indices = _root_dataset(dataset)
    values = None
    if getattr(root, "targets", None) is not None:
        values = root.targets
    elif isinstance(root, TensorDataset) and len(root.tensors) >= 2:
        values = root.tensors[-1]
    elif hasattr(root, "features") and hasattr(root, "with_format") and label_key in root.features:
        values = root.with_format("numpy")[label_key]
    if values is None:  # read every item once
        return np.array(
            [_as_label(_split_item(dataset[i], image_key, label_key, i)[1], i) for i in range(len(dataset))],
            dtype=np.int64,
        )
    values = values.cpu().numpy() if isinstance(values, torch.Tensor) else np.asarray(values)
    if values.ndim != 1 or values.dtype.kind not in "iu":
        raise TypeError(
            f"`dataset` targets must be one integer class index per item. Got {values.dtype} of shape {values.shape}."
        )
    values = values.astype(np.int64)
    return values if indices is None else values[indices]


def _dataset_classes(dataset, label_key: str) -> list[str] | None:
    root, _ = _root_dataset(dataset)
    classes = getattr(root, "classes", None)
    if classes is None:
        feature = (getattr(root, "features", None) or {}).get(label_key)
        classes = getattr(feature, "names", None)
    return [str(c) for c in classes] if classes is not None else None


# -- image forms -----------------------------------------------------------------------------
def _infer_value_range(images: list[torch.Tensor]) -> tuple[float, float]:
    low, high = min(float(x.min()) for x in images), max(float(x.max()) for x in images)
    for candidate in ((0.0, 1.0), (-1.0, 1.0), (0.0, 255.0)):
        if candidate[0] <= low and high <= candidate[1]:
            return candidate
    raise ValueError(
        f"Cannot tell the value range of the dataset's float images (values from {low:.3g} to {high:.3g}). "
        "Pass `value_range=(low, high)`, or normalise in `transform` instead of in the base dataset."
    )


@dataclass
class _ImageForm:
    """The form of the base dataset's images, to give generated images the same form."""

    kind: str  # "pil", "tensor" or "numpy"
    layout: str  # "chw", "hwc" or "hw"
    channels: int
    size: tuple[int, int]  # (H, W)
    dtype: object = None  # torch or numpy dtype (None for PIL)
    mode: str | None = None  # PIL mode
    value_range: tuple[float, float] | None = None  # floats only

    @classmethod
    def of(cls, images: list, value_range=None) -> _ImageForm:
        first = images[0]
        if hasattr(first, "getbands") and hasattr(first, "mode"):  # a PIL image
            w, h = first.size
            return cls("pil", "hwc", len(first.getbands()), (h, w), mode=first.mode)
        if isinstance(first, torch.Tensor):
            kind, tensors = "tensor", [x.detach().cpu() for x in images]
        elif isinstance(first, np.ndarray):
            kind, tensors = "numpy", [torch.from_numpy(np.asarray(x)) for x in images]
        else:
            raise TypeError(f"`dataset` images must be PIL images, tensors or arrays. Got {type(first).__name__}.")
        shape = tuple(tensors[0].shape)
        if len(shape) == 2:
            layout, channels, size = "hw", 1, shape
        elif len(shape) == 3:
            # Tensors are channels-first unless clearly channels-last; arrays the other way round.
            chw = channels_first(shape) if kind == "numpy" else (channels_first(shape) or shape[-1] not in (1, 3, 4))
            layout, channels, size = ("chw", shape[0], shape[1:]) if chw else ("hwc", shape[-1], shape[:2])
        else:
            raise ValueError(f"`dataset` images must be H×W, C×H×W or H×W×C. Got shape {shape}.")
        dtype = first.dtype
        if tensors[0].is_floating_point():
            value_range = (
                tuple(float(v) for v in value_range) if value_range is not None else _infer_value_range(tensors)
            )
        elif tensors[0].dtype != torch.uint8:
            raise TypeError(f"`dataset` images must be uint8 or floating point. Got {dtype}.")
        return cls(kind, layout, int(channels), (int(size[0]), int(size[1])), dtype=dtype, value_range=value_range)

    def check(self, generator: Generator) -> None:
        if len(generator.output_shape) != 3:
            raise ValueError(
                f"`generator` must generate images (output_shape [C, H, W]). Got {generator.output_shape}."
            )
        c, h, w = generator.output_shape
        if (h, w) != self.size:
            raise ValueError(
                f"`generator` makes {h}×{w} images but the dataset's are {self.size[0]}×{self.size[1]}. "
                "Resize in `transform` (applied to real and synthetic images alike), not in the base dataset."
            )
        if c != self.channels and not (c == 1 and self.channels == 3):
            raise ValueError(f"`generator` makes {c}-channel images but the dataset's have {self.channels} channels.")

    def from_generated(self, x: torch.Tensor):
        """Generated ``[..., C, H, W]`` in ``[-1, 1]`` -> the base dataset's form."""
        if x.shape[-3] != self.channels:  # grey generator, RGB data: replicate
            x = x.expand(*x.shape[:-3], self.channels, *x.shape[-2:])
        if self.kind == "pil" or self.value_range is None:
            out = from_unit(x, 0.0, 255.0, clip=True).round().to(torch.uint8)
        else:
            out = from_unit(x, *self.value_range, clip=True)
        if self.kind == "pil":
            from PIL import Image

            array = out.cpu().movedim(-3, -1).numpy()
            image = Image.fromarray(array[..., 0] if self.channels == 1 else array)
            return image if image.mode == self.mode else image.convert(self.mode)
        if self.layout == "hw":
            out = out[..., 0, :, :]
        elif self.layout == "hwc":
            out = out.movedim(-3, -1)
        if self.kind == "numpy":
            return out.cpu().numpy().astype(self.dtype)
        return out.to(self.dtype).clone()  # clone: never hand out an inference-mode tensor


def _to_chw_tensor(image) -> torch.Tensor:
    """A PIL image, array or tensor as a C×H×W tensor of the same dtype and scale."""
    if hasattr(image, "getbands"):
        from torchvision.transforms.v2.functional import pil_to_tensor

        return pil_to_tensor(image)
    x = torch.from_numpy(np.asarray(image)) if isinstance(image, np.ndarray) else image
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"`dataset` images must be PIL images, tensors or arrays. Got {type(image).__name__}.")
    if x.dim() == 2:
        return x[None]
    if x.dim() == 3 and not (
        channels_first(tuple(x.shape)) or (isinstance(image, torch.Tensor) and x.shape[-1] not in (1, 3, 4))
    ):
        return x.permute(2, 0, 1)
    return x


# -- what to add -----------------------------------------------------------------------------
@dataclass
class BalancePlan:
    """What balancing a dataset means: its targets and classes, the label map to the generator,
    the synthetic items and copies each class gets, and how candidates are ranked. Built once by
    :meth:`of`; :class:`SyntheticBalancedDataset` and :class:`BalancedLoader` each hold one
    (``plan``)."""

    image_key: str
    label_key: str
    generator: Generator
    classes: list[str]
    generator_labels: np.ndarray  # the generator's label for each of the dataset's labels
    real_targets: np.ndarray
    synthetic_targets: np.ndarray  # the label of each synthetic item, grouped by class in label order
    copy_targets: np.ndarray  # the label of each copy of a real item, grouped by class in label order
    discriminator: Discriminator | None = None  # ranks the candidates (None: no ranking)
    filter_keep: float | None = None  # the fraction kept: the best of ceil(1 / filter_keep) candidates

    @classmethod
    def of(cls, dataset, generator, sampling_strategy, image_key=None, label_key=None, *,
           max_synthetic_ratio="auto", filter_keep="auto") -> "BalancePlan":
        """Check ``dataset``, ``generator`` and the options, and work out the plan (see the
        wrappers' parameters)."""
        max_synthetic_ratio = _check_ratio(max_synthetic_ratio)
        filter_keep = _check_keep(filter_keep)
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError(
                f"`dataset` must be a map-style dataset (with __getitem__ and __len__). Got {type(dataset).__name__}."
            )
        if len(dataset) == 0:
            raise ValueError("`dataset` is empty.")
        image_key, label_key = _hf_keys(dataset, image_key, label_key)
        g = load_generator(generator)
        real_targets = _dataset_targets(dataset, image_key, label_key)
        if len(real_targets) != len(dataset):
            raise ValueError(f"`dataset` has {len(dataset)} items but {len(real_targets)} targets.")
        dataset_classes = _dataset_classes(dataset, label_key)
        classes = dataset_classes if dataset_classes is not None else list(g.classes)
        n = len(classes)
        if real_targets.min() < 0 or real_targets.max() >= n:
            raise ValueError(
                f"`dataset` targets must lie in [0, {n - 1}] ({n} classes{'' if dataset_classes else ' of the generator'}). "
                f"Got values from {real_targets.min()} to {real_targets.max()}."
            )
        if dataset_classes is None:
            generator_labels = np.arange(n)  # by index
        else:  # by name
            generator_labels = lookup(dataset_classes, g.classes, "The dataset's classes", "the generator's classes")
        to_add = check_sampling_strategy(_strategy_by_label(sampling_strategy, classes), real_targets, "over-sampling")
        counts = np.bincount(real_targets, minlength=n)
        split = {label: split_top_up(int(k), int(counts[label]), max_synthetic_ratio) for label, k in sorted(to_add.items())}
        synthetic_targets, copy_targets = (
            np.concatenate([np.full(parts[i], label, dtype=np.int64) for label, parts in split.items()]
                           or [np.zeros(0, np.int64)])
            for i in (0, 1)
        )
        d = saved_discriminator(generator, g, filter_keep)  # also when nothing is generated: the same errors
        keep = (0.5 if filter_keep == "auto" else filter_keep) if d is not None else None
        return cls(image_key, label_key, g, classes, generator_labels, real_targets, synthetic_targets,
                   copy_targets, d, keep)

    @property
    def n_real(self) -> int:
        """Number of items of the base dataset."""
        return len(self.real_targets)

    @property
    def n_synthetic(self) -> int:
        """Number of synthetic items (per epoch for :class:`BalancedLoader`)."""
        return len(self.synthetic_targets)

    @property
    def n_copies(self) -> int:
        """Number of copies of real items (per epoch for :class:`BalancedLoader`)."""
        return len(self.copy_targets)

    @property
    def n_candidates(self) -> int:
        """Candidates drawn for each synthetic item (the discriminator keeps the best one)."""
        return n_candidates(self.filter_keep)

    @property
    def class_counts(self) -> dict[str, tuple[int, int]]:
        """``{class name: (real count, count after balancing)}`` in label order."""
        n = len(self.classes)
        before = np.bincount(self.real_targets, minlength=n)
        after = before + np.bincount(self.synthetic_targets, minlength=n) + np.bincount(self.copy_targets, minlength=n)
        return {c: (int(b), int(a)) for c, b, a in zip(self.classes, before, after)}

    def __getstate__(self):
        # A loaded discriminator has spectral-norm parametrizations, which pickle refuses: it travels
        # as constructor arguments + weights (as the sampler's networks do), so that DataLoader
        # workers started with "spawn" (macOS, Windows) get the plan too.
        state = dict(self.__dict__)
        if isinstance(self.discriminator, torch.nn.Module):
            device = str(next(self.discriminator.parameters()).device)
            state["discriminator"] = (PickledModule(self.discriminator), device)
        return state

    def __setstate__(self, state):
        if isinstance(state.get("discriminator"), tuple):
            pickled, device = state["discriminator"]
            state["discriminator"] = pickled.build(device if device_available(device) else "cpu").eval()
        self.__dict__.update(state)

    def copy_sources(self, seed: int, epoch: int = 0) -> np.ndarray:
        """The base dataset's index of each copy (in ``copy_targets`` order): drawn uniformly with
        replacement from the class's items, as ``RandomOverSampler`` draws them, from
        ``(seed, epoch)``."""
        rng = np.random.default_rng(np.random.SeedSequence([seed, epoch, 2]))
        labels, sizes = np.unique(self.copy_targets, return_counts=True)
        parts = [rng.choice(np.flatnonzero(self.real_targets == label), int(k)) for label, k in zip(labels, sizes)]
        return np.concatenate(parts).astype(np.int64) if parts else np.zeros(0, np.int64)

    def generate(self, labels: np.ndarray, rng: torch.Generator, latent_scale: float) -> torch.Tensor:
        """One synthetic sample for each of ``labels`` (the dataset's labels), ranked as planned:
        ``[-1, 1]`` floats at the generator's output size, on its device."""
        y = torch.as_tensor(self.generator_labels[labels], dtype=torch.long)
        return generate_best_of(self.generator, self.discriminator, y, rng, candidates=self.n_candidates,
                                latent_scale=latent_scale)


def _check_ratio(value):
    if value == "auto":
        return IMAGE_SYNTHETIC_RATIO
    if value is None:
        return None
    if (isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating))
            or not 0 <= value < math.inf):
        raise ValueError(f"`max_synthetic_ratio` must be a finite number >= 0, None or 'auto'. Got {value!r} instead.")
    return float(value)


def _check_keep(value):
    if value == "auto" or value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) or not 0 < value <= 1:
        raise ValueError(f"`filter_keep` must be a number in (0, 1], None or 'auto'. Got {value!r} instead.")
    return float(value)


def _strategy_by_label(sampling_strategy, classes: list[str]):
    """``sampling_strategy`` with class names as dict keys replaced by label indices."""
    if not isinstance(sampling_strategy, Mapping):
        return sampling_strategy
    out = {}
    for key, value in sampling_strategy.items():
        if isinstance(key, str):
            key = lookup([key], classes, "`sampling_strategy` names the class", "the dataset's classes")[0]
        out[int(key)] = value
    return out


def _planned(name: str, doc: str) -> property:
    """A read-only attribute of the balance plan, on the dataset or loader that holds it."""
    return property(lambda self: getattr(self.plan, name), doc=doc)


class SyntheticBalancedDataset(VisionDataset):
    """A dataset's items followed by generated items that balance its classes.

    Items ``0 .. n_real - 1`` are the base dataset's (unchanged but for ``transform``); then
    ``n_synthetic`` synthetic items, grouped by class in label order; then ``n_copies`` copies
    of real items (``max_synthetic_ratio``), grouped the same way. A synthetic item is
    generated when it is read (lazily, one forward pass of its candidates, nothing cached, so
    memory does not grow with the number of synthetic items) from noise seeded by
    ``(random_state, item index)``: the same ``random_state`` gives the same items in any
    access order, in any ``DataLoader`` worker. Outputs are bit-identical on the same machine
    and thread count; float rounding may differ across CPUs.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        Map-style dataset of ``(image, label)`` pairs, or of dicts with an image and a label
        (a Hugging Face ``datasets.Dataset``; see ``image_key`` / ``label_key``). Images may be
        PIL images, tensors (C×H×W or H×W) or arrays (H×W or H×W×C), uint8 or float.
    generator : str, path or Generator
        Anything :func:`cganbalance.from_pretrained` accepts: an alias (``"fer2013-cgan"``), a
        folder, a Hub repo id or a :class:`~cganbalance.nets.Generator`. Its ``output_shape``
        must match the dataset's image size; grey generators may top up RGB datasets.
    %(sampling_strategy)s
    transform : callable, optional
        Applied to every image, real or synthetic (``torchvision.transforms`` or ``.v2``).
    target_transform : callable, optional
        Applied to every label.
    random_state : int, numpy.random.RandomState or None
        Seed of the synthetic items. None draws a fresh seed once, at construction.
    value_range : (float, float), optional
        Range of the dataset's float images. By default inferred from a few images:
        ``[0, 1]``, ``[-1, 1]`` or ``[0, 255]``.
    image_key, label_key : str, optional
        Keys of dict items; by default the Hugging Face ``Image`` / ``ClassLabel`` columns, or
        ``"image"`` / ``"label"``.
    latent_scale : float, default=1.0
        Standard deviation of the generator's noise, in ``(0, 10]``; above 1 gives more varied,
        less typical images (see :class:`~cganbalance.CGANOverSampler`).
    %(mixing)s

    Attributes
    ----------
    targets : list of int
        The label of every item, real then synthetic.
    classes : list of str
        Class names in label order: the dataset's ``classes`` (or its ``ClassLabel`` names) when
        it has them, and then labels are matched to the generator's classes by name; otherwise
        the generator's classes, matched by index.
    synthetic_indices : ndarray of int
        Indices of the synthetic items.
    copy_indices : ndarray of int
        Indices of the copies of real items; ``copy_sources`` holds the base dataset's index of each.
    class_counts : dict
        ``{class name: (count before, count after)}``.
    plan : BalancePlan
        The targets, classes, label map to the generator and synthetic items per class.

    Notes
    -----
    Synthetic images take the form of the base dataset's images before ``transform``: PIL
    images with the same mode; tensors or arrays with the same layout and dtype, uint8 in
    ``[0, 255]`` or floats in the dataset's value range. Synthetic labels take the type of the
    base dataset's labels. Items of dict datasets come out as ``(image, label)`` pairs.

    The generator runs on its own device. With ``num_workers > 0`` keep it on the CPU (each
    worker then generates its own items); for GPU generation use :class:`BalancedLoader`.

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> from cganbalance import Generator
    >>> from cganbalance.datasets import SyntheticBalancedDataset
    >>> g = Generator(n_classes=2, latent_dim=8, output_shape=[1, 16, 16], widths=[8, 4])
    >>> base = TensorDataset(torch.zeros(10, 1, 16, 16), torch.tensor([0] * 8 + [1] * 2))
    >>> ds = SyntheticBalancedDataset(base, g, random_state=0, max_synthetic_ratio=None)
    >>> len(ds), ds.class_counts, ds.n_synthetic
    (16, {'0': (8, 8), '1': (2, 8)}, 6)
    >>> image, label = ds[15]
    >>> image.shape, image.dtype, int(label), ds.is_synthetic(15)
    (torch.Size([1, 16, 16]), torch.float32, 1, True)
    >>> mixed = SyntheticBalancedDataset(base, g, random_state=0)  # 0.5 synthetic per real item, then copies
    >>> mixed.n_synthetic, mixed.n_copies, bool((mixed[15][0] == base[int(mixed.copy_sources[-1])][0]).all())
    (1, 5, True)
    """

    n_real = _planned("n_real", "Number of items of the base dataset.")
    n_synthetic = _planned("n_synthetic", "Number of synthetic items (per epoch for :class:`BalancedLoader`).")
    n_copies = _planned("n_copies", "Number of copies of real items (per epoch for :class:`BalancedLoader`).")
    class_counts = _planned("class_counts", "``{class name: (real count, count after balancing)}`` in label order.")

    def __init__(
        self,
        dataset,
        generator,
        sampling_strategy="auto",
        transform=None,
        target_transform=None,
        random_state=None,
        *,
        value_range=None,
        image_key: str | None = None,
        label_key: str | None = None,
        latent_scale: float = 1.0,
        max_synthetic_ratio="auto",
        filter_keep="auto",
    ):
        super().__init__(root=None, transform=transform, target_transform=target_transform)
        self.latent_scale = check_latent_scale(latent_scale)
        self.dataset = dataset
        self.random_state = random_state
        self.sampling_strategy = sampling_strategy
        self.max_synthetic_ratio, self.filter_keep = max_synthetic_ratio, filter_keep
        self.plan = BalancePlan.of(dataset, generator, sampling_strategy, image_key, label_key,
                                   max_synthetic_ratio=max_synthetic_ratio, filter_keep=filter_keep)
        self.image_key, self.label_key = self.plan.image_key, self.plan.label_key
        self.generator, self.classes = self.plan.generator, self.plan.classes
        self._seed = int_seed(random_state)
        self.copy_sources = self.plan.copy_sources(self._seed)
        picks = np.unique(np.linspace(0, len(dataset) - 1, num=min(4, len(dataset))).astype(int))
        items = [_split_item(dataset[int(i)], self.image_key, self.label_key, int(i)) for i in picks]
        self._form = _ImageForm.of([image for image, _ in items], value_range)
        self._label_reference = items[0][1]
        self.targets: list[int] = np.concatenate(
            [self.plan.real_targets, self.plan.synthetic_targets, self.plan.copy_targets]
        ).tolist()
        if self.n_synthetic:
            self._form.check(self.generator)

    def __len__(self) -> int:
        return self.n_real + self.n_synthetic + self.n_copies

    def __getitem__(self, index: int):
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} is out of range for a dataset of {len(self)} items.")
        if index < self.n_real:
            image, target = _split_item(self.dataset[index], self.image_key, self.label_key, index)
        elif index < self.n_real + self.n_synthetic:
            image, target = self._synthetic_item(index - self.n_real)
        else:
            source = int(self.copy_sources[index - self.n_real - self.n_synthetic])
            image, target = _split_item(self.dataset[source], self.image_key, self.label_key, source)
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            target = self.target_transform(target)
        return image, target

    def _synthetic_item(self, j: int):
        label = int(self.plan.synthetic_targets[j])
        x = self.plan.generate(np.array([label]), rng_for(self._seed, j), self.latent_scale)[0].cpu()
        return self._form.from_generated(x), _label_like(label, self._label_reference)

    @property
    def synthetic_indices(self) -> np.ndarray:
        return np.arange(self.n_real, self.n_real + self.n_synthetic)

    @property
    def copy_indices(self) -> np.ndarray:
        return np.arange(self.n_real + self.n_synthetic, len(self))

    def is_synthetic(self, index: int) -> bool:
        """Whether item ``index`` is generated (copies of real items are not)."""
        index = int(index)
        index = index if index >= 0 else index + len(self)
        return self.n_real <= index < self.n_real + self.n_synthetic

    def extra_repr(self) -> str:
        ranked = f"best of {self.plan.n_candidates} by the discriminator" if self.plan.n_candidates > 1 else "none"
        return (
            f"Real items: {self.n_real}\nSynthetic items: {self.n_synthetic}\nCopies of real items: {self.n_copies}\n"
            f"Sampling strategy: {self.sampling_strategy!r}\nRanking: {ranked}\nLatent scale: {self.latent_scale:g}"
        )


class _RealItems(Dataset):
    """The base dataset's items as (C×H×W tensor, int label), ``transform`` applied."""

    def __init__(self, dataset, image_key, label_key, transform):
        self.dataset, self.image_key, self.label_key, self.transform = dataset, image_key, label_key, transform

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        image, label = _split_item(self.dataset[index], self.image_key, self.label_key, index)
        image = _to_chw_tensor(image)
        return (self.transform(image) if self.transform is not None else image), _as_label(label, index)


def _collate_real(items):
    if not items:
        return None
    return torch.stack([image for image, _ in items]), torch.tensor([label for _, label in items], dtype=torch.long)


class _EpochBatches:
    """Batch sampler of the real items: the current epoch's real indices, one list per batch."""

    def __init__(self):
        self.batches: list[list[int]] = []

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)


class BalancedLoader:
    """Balanced batches on the training device, with fresh synthetic samples every epoch.

    Each epoch holds every real item once and, for the classes ``sampling_strategy`` tops
    up, as many synthetic items and copies of real items as the static
    :class:`SyntheticBalancedDataset` would add, shuffled together into batches. Real items and
    copies are read through a ``DataLoader`` (workers, pinned memory, ...); the synthetic part
    of each batch is generated in one forward pass on ``device`` and never stored, and the
    copies are drawn afresh every epoch. Epoch ``e`` is reproducible from ``random_state`` alone
    (the order, the copies and the noise are seeded by ``(random_state, e)``); random
    transforms use torch's global random state, as in any ``DataLoader``.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        As for :class:`SyntheticBalancedDataset`.
    generator : str, path or Generator
        As for :class:`SyntheticBalancedDataset`. Moved (a copy) to ``device``.
    batch_size : int, default=64
    %(sampling_strategy)s
    transform : callable, optional
        Applied to each image, real (in the loader's workers) or synthetic (on ``device``),
        given as a C×H×W tensor in the dataset's dtype and scale (uint8 for PIL images). Use
        ``torchvision.transforms.v2``, which takes tensors. Its outputs must stack.
    batch_transform : callable, optional
        Applied to each whole batch on ``device`` (e.g. ``v2.ToDtype`` and ``v2.Normalize``).
    shuffle : bool, default=True
        Shuffle real and synthetic items together; without it, real items come first in order,
        then the copies, then the synthetic items (the static dataset puts its synthetic items
        before its copies: there the copies' indices come last).
    drop_last : bool, default=False
    device : str or torch.device, optional
        Where batches and generation live. Default: the generator's device.
    random_state : int, numpy.random.RandomState or None
        Seed of the order and the noise. None draws a fresh seed at construction.
    value_range, image_key, label_key, latent_scale, max_synthetic_ratio, filter_keep
        As for :class:`SyntheticBalancedDataset`.
    **loader_kwargs
        Passed to the ``DataLoader`` that reads the real items (``num_workers``,
        ``pin_memory``, ``persistent_workers``, ...).

    Examples
    --------
    >>> import torch
    >>> from torch.utils.data import TensorDataset
    >>> from cganbalance import Generator
    >>> from cganbalance.datasets import BalancedLoader
    >>> g = Generator(n_classes=2, latent_dim=8, output_shape=[1, 16, 16], widths=[8, 4])
    >>> base = TensorDataset(torch.zeros(10, 1, 16, 16), torch.tensor([0] * 8 + [1] * 2))
    >>> loader = BalancedLoader(base, g, batch_size=4, random_state=0)
    >>> len(loader), sum(len(y) for _, y in loader), loader.n_synthetic, loader.n_copies
    (4, 16, 1, 5)
    """

    n_real = _planned("n_real", "Number of items of the base dataset.")
    n_synthetic = _planned("n_synthetic", "Number of synthetic items (per epoch for :class:`BalancedLoader`).")
    n_copies = _planned("n_copies", "Number of copies of real items (per epoch for :class:`BalancedLoader`).")
    class_counts = _planned("class_counts", "``{class name: (real count, count after balancing)}`` in label order.")

    def __init__(
        self,
        dataset,
        generator,
        batch_size: int = 64,
        *,
        sampling_strategy="auto",
        transform=None,
        batch_transform=None,
        shuffle: bool = True,
        drop_last: bool = False,
        device=None,
        random_state=None,
        value_range=None,
        image_key: str | None = None,
        label_key: str | None = None,
        latent_scale: float = 1.0,
        max_synthetic_ratio="auto",
        filter_keep="auto",
        **loader_kwargs,
    ):
        self.latent_scale = check_latent_scale(latent_scale)
        if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"`batch_size` must be a positive int. Got {batch_size!r} instead.")
        for name in ("batch_sampler", "sampler", "shuffle", "batch_size", "collate_fn", "drop_last"):
            if name in loader_kwargs:
                raise TypeError(f"`{name}` cannot be passed to BalancedLoader's DataLoader: it builds its own batches.")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.transform, self.batch_transform = transform, batch_transform
        self.shuffle, self.drop_last = bool(shuffle), bool(drop_last)
        self.random_state = random_state
        self.sampling_strategy = sampling_strategy
        self.max_synthetic_ratio, self.filter_keep = max_synthetic_ratio, filter_keep
        plan = BalancePlan.of(dataset, generator, sampling_strategy, image_key, label_key,
                              max_synthetic_ratio=max_synthetic_ratio, filter_keep=filter_keep)
        self.device = resolve_device(device) if device is not None else plan.generator.device
        if plan.generator.device != self.device:  # copies: the caller's networks stay where they are
            d = plan.discriminator
            plan = dataclasses.replace(plan, generator=copy.deepcopy(plan.generator).to(self.device),
                                       discriminator=None if d is None else copy.deepcopy(d).to(self.device))
        self.plan = plan
        self.image_key, self.label_key = self.plan.image_key, self.plan.label_key
        self.generator, self.classes = self.plan.generator, self.plan.classes
        self._seed = int_seed(random_state)
        self._epoch = 0
        picks = np.unique(np.linspace(0, len(dataset) - 1, num=min(4, len(dataset))).astype(int))
        images = [
            _to_chw_tensor(_split_item(dataset[int(i)], self.image_key, self.label_key, int(i))[0]) for i in picks
        ]
        self._form = _ImageForm.of(images, value_range)
        if self.n_synthetic:
            self._form.check(self.generator)
        self._batches = _EpochBatches()
        self._real_loader = DataLoader(
            _RealItems(dataset, self.image_key, self.label_key, transform),
            batch_sampler=self._batches,
            collate_fn=_collate_real,
            **loader_kwargs,
        )

    def __len__(self) -> int:
        total = self.n_real + self.n_copies + self.n_synthetic
        return total // self.batch_size if self.drop_last else math.ceil(total / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Make the next iteration epoch ``epoch`` (the count otherwise advances by one per iteration)."""
        self._epoch = int(epoch)

    def _plan(self, epoch: int) -> list[np.ndarray]:
        """Per batch, item codes: ``i >= 0`` real item ``i`` (or a copy of it), ``-1 - label`` a synthetic item."""
        codes = np.concatenate(
            [np.arange(self.n_real), self.plan.copy_sources(self._seed, epoch), -1 - self.plan.synthetic_targets]
        )
        if self.shuffle:
            codes = np.random.default_rng(np.random.SeedSequence([self._seed, epoch, 0])).permutation(codes)
        n_batches = len(self)
        return [codes[b * self.batch_size : (b + 1) * self.batch_size] for b in range(n_batches)]

    def __iter__(self):
        epoch = self._epoch
        self._epoch += 1
        plan = self._plan(epoch)
        self._batches.batches = [codes[codes >= 0].tolist() for codes in plan]
        noise = rng_for(self._seed, epoch, 1, device=self.device)
        for codes, real in zip(plan, self._real_loader):
            parts_x, parts_y = [], []
            if real is not None:
                parts_x.append(real[0].to(self.device, non_blocking=True))
                parts_y.append(real[1].to(self.device, non_blocking=True))
            synthetic = -1 - codes[codes < 0]
            if len(synthetic):
                x = self._form.from_generated(self.plan.generate(synthetic, noise, self.latent_scale))
                if self.transform is not None:
                    x = torch.stack([self.transform(image) for image in x])
                parts_x.append(x)
                parts_y.append(torch.as_tensor(synthetic, dtype=torch.long, device=self.device))
            images, labels = torch.cat(parts_x), torch.cat(parts_y)
            if self.batch_transform is not None:
                images = self.batch_transform(images)
            yield images, labels


# The shared parameter text is written once (imblearn's Substitution uses str.format, which the
# dict examples in these docstrings would trip).
for _cls in (SyntheticBalancedDataset, BalancedLoader):
    if _cls.__doc__:
        _cls.__doc__ = _cls.__doc__.replace("%(sampling_strategy)s", _SAMPLING_STRATEGY_DOC).replace(
            "%(mixing)s", _MIXING_DOC)
