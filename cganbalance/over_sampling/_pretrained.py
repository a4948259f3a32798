"""A pretrained generator for the sampler's data: loaded, copied, checked against ``X`` and ``y``."""

from __future__ import annotations

import copy
import math

import numpy as np
import torch

from .._utils.labels import match_classes
from ..hub import load_discriminator, load_generator
from ..nets import Discriminator, Generator

__all__ = ["pretrained_discriminator", "pretrained_for"]


def pretrained_for(generator, classes: np.ndarray, data_shape, device: torch.device) -> tuple[Generator, np.ndarray]:
    """The generator ``generator`` names (alias, folder, repo id or object), as a float32 copy on
    ``device``, and its class index for each of ``classes``.

    A copy: casting, moving to the device or fine-tuning must not change the caller's object.
    Float32: half-precision weights are slow or unsupported on a CPU.
    """
    g = copy.deepcopy(load_generator(generator)).float().to(device)
    labels = match_classes(classes, g.classes)
    made, expected = list(g.output_shape), list(data_shape)
    if made != expected:
        raise ValueError(
            f"The generator makes samples of shape {made} but X holds {_describe_mismatch(made, expected)}. "
            "Use a generator trained on data like X, or train one (generator=None)."
        )
    return g, labels


def pretrained_discriminator(generator, g: Generator, device: torch.device) -> Discriminator | None:
    """The discriminator saved with the generator ``generator`` names (see
    :func:`~cganbalance.hub.load_discriminator`; checked against ``g``, its loaded copy), as a
    float32 network on ``device``; ``None`` when it has none."""
    d = load_discriminator(generator, g)
    return None if d is None else d.float().to(device).eval()


def _describe_mismatch(made: list[int], expected: list[int]) -> str:
    """What X holds, with a hint when it is the generator's images in another form."""
    if len(expected) == 1:  # rows: perhaps flattened images
        if len(made) == 3 and math.prod(made) == expected[0]:
            shape = tuple(made[1:]) if made[0] == 1 else tuple(made)
            return f"rows of {expected[0]:,} values; if they are flattened images, pass `image_shape={shape}`"
        return f"rows of {expected[0]:,} values"
    got = f"samples of shape {expected} (channels first)"
    if len(made) == 3 and made[0] == 1 and expected[0] == 3 and made[1:] == expected[1:]:
        return got + "; the generator makes grey images: convert X to grey first"
    return got
