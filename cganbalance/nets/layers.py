"""Small building blocks of the networks: layers, initialisation, label encoding."""

from __future__ import annotations

import math
from numbers import Real

import torch
import torch.nn.functional as F
from torch import nn


class Crop(nn.Module):
    """Crop ``(top, bottom, left, right)`` pixels: Keras ``padding='same'`` for even kernels."""

    def __init__(self, top: int, bottom: int, left: int, right: int):
        super().__init__()
        self.box = (top, bottom, left, right)

    def forward(self, x):
        t, b, l, r = self.box
        return x[:, :, t : x.shape[2] - b, l : x.shape[3] - r]


class SeededDropout(nn.Module):
    """Dropout that draws its mask from ``self.rng`` when one is set.

    ``nn.Dropout`` reads torch's global RNG; the trainer sets ``rng`` so training is
    reproducible without touching the caller's global random state.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.rng: torch.Generator | None = None

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if self.rng is None:
            return F.dropout(x, self.p, True)
        keep = torch.rand(x.shape, generator=self.rng, device=x.device) >= self.p
        return x * keep / (1 - self.p)


#: Largest ``latent_scale`` accepted: beyond a few standard deviations a generator's outputs saturate.
MAX_LATENT_SCALE = 10.0


def check_latent_scale(value, name: str = "latent_scale") -> float:
    """``value`` as a float if it is a number in ``(0, MAX_LATENT_SCALE]``; a clear error otherwise."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(
            f"`{name}` must be a number in (0, {MAX_LATENT_SCALE:g}]. Got {value!r} ({type(value).__name__}) instead."
        )
    if not (0 < value <= MAX_LATENT_SCALE):  # also refuses NaN
        raise ValueError(f"`{name}` must be a number in (0, {MAX_LATENT_SCALE:g}]. Got {value!r} instead.")
    return float(value)


def init_weights(module: nn.Module, rng: torch.Generator | None, std: float = 0.02) -> None:
    """DCGAN initialisation drawn from ``rng`` (weights ~ N(0, std), biases 0).

    Spectral-norm power-iteration vectors are re-drawn from the same ``rng`` so that
    construction never depends on torch's global RNG state.
    """
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.fill_(1.0)
                m.bias.zero_()
            elif isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
                weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
                weight.copy_(torch.randn(weight.shape, generator=rng) * std)
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
        for name, b in module.named_buffers():
            if name.endswith("._u") or name.endswith("._v"):
                v = torch.randn(b.shape, generator=rng)
                b.copy_(v / v.norm().clamp_min(1e-12))


def conv_layout(height: int, width: int, n_up: int) -> tuple[int, int]:
    """Base feature-map size so that ``n_up`` doublings cover ``(height, width)``."""
    scale = 2**n_up
    return math.ceil(height / scale), math.ceil(width / scale)


def one_hot(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    return F.one_hot(labels.long(), n_classes).float()
