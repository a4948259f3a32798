"""Named architectures and training defaults.

``"paper"``
    The reference design, exactly: 64×64 grey images, ``z`` of 150 concatenated with the one-hot
    label, Dense 8·8·512, three Conv2DTranspose(4×4, stride 2, 'same') + BatchNorm +
    LeakyReLU(0.4) with 256/128/64 filters, a Conv2DTranspose(1, 4×4, stride 1, 'same') + tanh;
    a discriminator on the image with the label replicated as channels, four spectral-norm
    Conv2D(4×4, stride 2) with 64/128/256/512 filters + LeakyReLU(0.4) + dropout, Dense 1.
    Binary cross-entropy, Adam(2e-4, beta1=0.5), batch 64, 300 epochs.
``"default"``
    The fast recipe for images at their native resolution (48×48 for FER-2013): Dense to a
    6×6×256 map, transposed convolutions 128/64/32, a 3×3 output convolution; a spectral-norm
    discriminator 64/128/256 with an auxiliary classification head (AC-GAN), which learns the
    label conditioning much sooner than label channels; an exponential moving average of the
    generator's weights. It trains 4.7× more images per second than ``"paper"`` on FER-2013
    (182 against 39 on 2 CPU cores; see docs/benchmarks.md).
``"mlp"``
    All-numeric tables, the older recipe (only on request): MLP generator and
    discriminator (128-128), label concatenated to the input, columns standardised. Budget:
    1,500 steps, at most 60 epochs.
``"tabular"``
    Every table (``"auto"`` picks it for numeric and mixed tables): MLP generator and
    discriminator (256-256); continuous columns quantile-normalised, categorical columns as
    one-hot blocks that the generator makes exactly one-hot, each category drawn from the
    generator's softmax (``Generator(blocks=..., block_sampling="gumbel")``); real batches
    class-balanced (``real_sampling="balanced"``), so that a rare class is learned as often as
    the others. Budget: 2,000 steps, at most 60 epochs.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from numbers import Real
from typing import Sequence

import torch

from ..nets import Discriminator, Generator, init_weights
from .fast import PRECISIONS

__all__ = ["PRESETS", "TABLE_PRESETS", "TrainConfig", "build_networks", "discriminator_for", "train_config"]

PRESETS = ("paper", "default", "mlp", "tabular")
#: Ways to draw real batches (``TrainConfig.real_sampling``).
REAL_SAMPLING = ("uniform", "sqrt", "balanced")
#: DiffAugment policies (``TrainConfig.augment``).
AUGMENTATIONS = ("translation", "cutout")


@dataclass
class TrainConfig:
    """Optimisation settings of one preset (all JSON-able, stored in checkpoints)."""

    loss: str = "bce"  # "bce" (the paper's) or "hinge"
    lr_g: float = 2e-4
    lr_d: float = 2e-4
    betas: tuple = (0.5, 0.999)
    batch_size: int = 64
    aux_weight: float = 1.0  # weight of the auxiliary classification loss (AC-GAN only)
    # Its weight in the generator's loss, if different: below 1 the generator is pushed less
    # towards the most easily classified faces of a class (AC-GAN's known loss of diversity).
    aux_weight_g: float | None = None
    ema_decay: float | None = None  # EMA of generator weights, warmed up as min(decay, (1+t)/(10+t))
    steps: int = 2000  # budget (generator steps) when the user gives no epochs or time
    # At most this many epochs of that budget: a small table needs fewer steps than a large one
    # (600 rows at batch 128 are 5 steps an epoch; 1,500 steps would be 300 epochs).
    max_epochs: int | None = None
    # Discriminator updates per generator update (each on fresh generated samples of the batch's
    # labels): a tabular discriminator that learns as fast as the generator adapts stays at
    # chance and teaches the generator nothing.
    d_steps: int = 1
    epochs: int | None = None  # the preset's own epoch budget, if it has one (the paper's 300)
    # How real batches are drawn: "uniform" (each sample once per epoch, as the paper does),
    # "sqrt" (class c drawn in proportion to sqrt(n_c)) or "balanced" (every class equally often).
    real_sampling: str = "uniform"
    # Differentiable augmentation (DiffAugment, Zhao et al. 2020) of real and generated images
    # before the discriminator, e.g. "translation,cutout"; None for none. Images only.
    augment: str | None = None
    # The fast path (cganbalance.training.fast): "auto" mixed precision is bf16 (or fp16 with a
    # gradient scaler) on CUDA and fp32 elsewhere; "auto" channels_last is on for convolutional
    # networks on the CPU (measured faster there) and off elsewhere; torch.compile is opt-in.
    precision: str = "auto"
    channels_last: bool | str = "auto"
    compile: bool = False

    def __post_init__(self):
        for name in ("aux_weight", "aux_weight_g"):
            value = getattr(self, name)
            if value is None and name == "aux_weight_g":
                continue
            if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value) or value < 0:
                raise ValueError(f"`{name}` must be a finite number >= 0. Got {value!r} instead.")
            setattr(self, name, float(value))  # plain floats: the config is stored as JSON
        if isinstance(self.d_steps, bool) or not isinstance(self.d_steps, int) or self.d_steps < 1:
            raise ValueError(f"`d_steps` must be an int >= 1. Got {self.d_steps!r} instead.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"`precision` must be one of {list(PRECISIONS)}. Got {self.precision!r} instead.")
        if not isinstance(self.channels_last, bool) and self.channels_last != "auto":
            raise TypeError(f"`channels_last` must be True, False or 'auto'. Got {self.channels_last!r} instead.")
        if not isinstance(self.compile, bool):
            raise TypeError(f"`compile` must be True or False. Got {self.compile!r} instead.")
        if self.real_sampling not in REAL_SAMPLING:
            raise ValueError(
                f"`real_sampling` must be one of {list(REAL_SAMPLING)}. Got {self.real_sampling!r} instead."
            )
        if self.augment is not None:
            if not isinstance(self.augment, str):
                raise TypeError(
                    "`augment` must be None or a comma-separated string of "
                    f"{list(AUGMENTATIONS)}. Got {self.augment!r} instead."
                )
            policies = [p.strip() for p in self.augment.split(",")]
            if any(p not in AUGMENTATIONS for p in policies) or len(set(policies)) != len(policies):
                raise ValueError(
                    f"`augment` must be None or a comma-separated string of {list(AUGMENTATIONS)}, each at "
                    f"most once. Got {self.augment!r} instead."
                )

    def to_dict(self) -> dict:
        return asdict(self)


_PRESETS = {
    "paper": dict(
        generator=dict(
            latent_dim=150,
            widths=[512, 256, 128, 64],
            kernel_size=4,
            last_kernel=4,
            last_transposed=True,
            slope=0.4,
        ),
        discriminator=dict(
            widths=[64, 128, 256, 512],
            kernel_size=4,
            slope=0.4,
            dropout=0.3,
            spectral_norm=True,
            conditioning="concat",
        ),
        net_size=[64, 64],
        train=dict(loss="bce", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.999), batch_size=64, epochs=300),
    ),
    "default": dict(
        generator=dict(
            latent_dim=128,
            widths=[256, 128, 64, 32],
            kernel_size=4,
            last_kernel=3,
            last_transposed=False,
            slope=0.2,
        ),
        discriminator=dict(
            widths=[64, 128, 256],
            kernel_size=4,
            slope=0.2,
            dropout=0.0,
            spectral_norm=True,
            conditioning="auxiliary",
        ),
        net_size=None,
        train=dict(loss="bce", batch_size=64, ema_decay=0.999, aux_weight=1.0, steps=10000),
    ),
    "mlp": dict(
        generator=dict(latent_dim=32, widths=[128, 128], slope=0.2),
        discriminator=dict(widths=[128, 128], slope=0.2, dropout=0.0, spectral_norm=True, conditioning="concat"),
        net_size=None,
        train=dict(loss="bce", lr_g=1e-3, lr_d=1e-3, betas=(0.5, 0.999), batch_size=128, steps=1500, max_epochs=60),
    ),
    "tabular": dict(
        generator=dict(latent_dim=32, widths=[256, 256], slope=0.2, block_sampling="gumbel"),
        discriminator=dict(widths=[256, 256], slope=0.2, dropout=0.0, spectral_norm=False, conditioning="concat"),
        net_size=None,
        train=dict(loss="bce", lr_g=2e-4, lr_d=2e-4, betas=(0.5, 0.9), batch_size=128, steps=2000, max_epochs=60,
                   real_sampling="balanced"),
    ),
}
#: Presets for tabular rows (the others are for images).
TABLE_PRESETS = ("mlp", "tabular")

#: Smallest image side the convolutional presets accept.
MIN_IMAGE_SIDE = 8


def preset_spec(preset: str) -> dict:
    """The raw specification of a preset (a copy)."""
    import copy

    if preset not in _PRESETS:
        raise ValueError(f"`preset` must be one of {list(PRESETS)}. Got {preset!r} instead.")
    return copy.deepcopy(_PRESETS[preset])


def build_networks(
    preset: str,
    *,
    n_classes: int,
    data_shape: Sequence[int],
    classes: Sequence[str] | None = None,
    value_range: Sequence[float] | None = None,
    rng: torch.Generator | None = None,
    overrides: dict | None = None,
    blocks: Sequence[Sequence[int]] | None = None,
) -> tuple[Generator, Discriminator, TrainConfig]:
    """Build the generator, discriminator and training settings of ``preset`` for the data.

    Parameters
    ----------
    preset : {"paper", "default", "mlp"}
    n_classes : int
    data_shape : sequence of int
        ``[C, H, W]`` for images, ``[n_features]`` for tabular rows.
    classes, value_range :
        Stored in the generator's config (class names, the data range that maps to [-1, 1]).
    blocks : list of [start, end] or None
        One-hot slices of a table's rows (its categorical columns), made one-hot by the generator.
    rng : torch.Generator or None
        Source of the initial weights (DCGAN initialisation, N(0, 0.02)).
    overrides : dict or None
        Keys ``"generator"``, ``"discriminator"``, ``"train"`` with settings that replace the
        preset's.
    """
    spec = preset_spec(preset)
    for key, value in (overrides or {}).items():
        if key not in ("generator", "discriminator", "train"):
            raise ValueError(
                f"`overrides` keys must be 'generator', 'discriminator' or 'train'. Got {key!r} instead."
            )
        spec[key].update(value)
    data_shape = [int(s) for s in data_shape]
    image = len(data_shape) == 3
    if preset in TABLE_PRESETS and image:
        raise ValueError(f"`preset={preset!r}` is for tabular rows; images need preset 'default' or 'paper'.")
    if preset not in TABLE_PRESETS and not image:
        raise ValueError(
            f"`preset={preset!r}` is for images; tabular rows need preset 'tabular' or 'mlp' "
            "(or pass `image_shape` to read the rows as images)."
        )
    arch = "conv" if image else "mlp"
    if image and min(data_shape[1:]) < MIN_IMAGE_SIDE:
        raise ValueError(
            f"Images must be at least {MIN_IMAGE_SIDE}×{MIN_IMAGE_SIDE} for the convolutional presets. "
            f"Got {data_shape[1]}×{data_shape[2]}; flatten them and use preset='mlp' instead."
        )
    net_size = spec["net_size"] or (data_shape[1:] if image else None)
    # Module constructors draw default weights from torch's global RNG; fork it so the caller's
    # random state is left exactly as it was (the real initial weights come from `generator`).
    with torch.random.fork_rng(devices=[]):
        g, d = _construct(spec, arch, n_classes, data_shape, net_size, classes, value_range, image, blocks)
    init_weights(g, rng)
    init_weights(d, rng)
    return g, d, train_config(spec["train"])


def discriminator_for(
    generator: Generator, rng: torch.Generator | None = None, overrides: dict | None = None
) -> tuple[Discriminator, TrainConfig]:
    """A fresh discriminator and training settings to fine-tune a trained ``generator``.

    The ``"default"`` preset's (``"mlp"`` for tabular generators), sized for the generator's
    output at the size it works at; ``overrides`` (``{"train": {...}}``) replace training
    settings. Initial weights are drawn from ``rng``.
    """
    spec = preset_spec("default" if generator.arch == "conv" else ("tabular" if generator.blocks else "mlp"))
    shape = list(generator.output_shape)
    if generator.arch == "conv":
        shape = [shape[0], *generator.net_size]
    with torch.random.fork_rng(devices=[]):  # construction must not consume the caller's RNG
        d = Discriminator(n_classes=generator.n_classes, input_shape=shape, arch=generator.arch, **spec["discriminator"])
    init_weights(d, rng)
    return d, train_config({**spec["train"], **(overrides or {}).get("train", {})})


def train_config(settings: dict) -> TrainConfig:
    """A :class:`TrainConfig` from a dict, with an error naming any unknown setting."""
    from dataclasses import fields

    known = [f.name for f in fields(TrainConfig)]
    unknown = sorted(set(settings) - set(known))
    if unknown:
        raise ValueError(f"Unknown training settings {unknown}; the settings are {known}.")
    return TrainConfig(**settings)


def _construct(spec, arch, n_classes, data_shape, net_size, classes, value_range, image, blocks=None):
    extra = {"blocks": [list(b) for b in blocks]} if blocks else {}
    g = Generator(
        n_classes=n_classes,
        output_shape=data_shape,
        arch=arch,
        net_size=net_size,
        classes=classes,
        value_range=value_range,
        **extra,
        **spec["generator"],
    )
    d_shape = [data_shape[0], *net_size] if image else data_shape
    d = Discriminator(n_classes=n_classes, input_shape=d_shape, arch=arch, **spec["discriminator"])
    return g, d


def epochs_for(config: TrainConfig, n_samples: int) -> int:
    """Epochs that give the preset's default budget for a data set of ``n_samples``."""
    if config.epochs is not None:
        return config.epochs
    steps_per_epoch = max(1, math.ceil(n_samples / config.batch_size))
    epochs = max(1, math.ceil(config.steps / steps_per_epoch))
    return epochs if config.max_epochs is None else min(epochs, config.max_epochs)
