"""Image layout (N×H×W, N×H×W×C, N×C×H×W) and the one pixel <-> ``[-1, 1]`` scaling."""

from __future__ import annotations

import numpy as np
import torch


def channels_first(shape: tuple[int, ...]) -> bool:
    """Layout rule for 3-D image shapes: channels first when the first axis has 1, 3 or 4
    entries and the last does not."""
    return shape[0] in (1, 3, 4) and shape[-1] not in (1, 3, 4)


def to_unit(x, low: float = 0.0, high: float = 255.0):
    """Values in ``[low, high]`` (pixels 0-255 by default) to ``[-1, 1]``; numpy arrays or tensors."""
    return (x - low) / (high - low) * 2 - 1


def from_unit(x, low: float = 0.0, high: float = 255.0, clip: bool = False):
    """``[-1, 1]`` back to ``[low, high]`` (the inverse of :func:`to_unit`); ``clip`` clamps to the range."""
    out = (x + 1) / 2 * (high - low) + low
    if not clip:
        return out
    return np.clip(out, low, high) if isinstance(out, np.ndarray) else out.clamp(low, high)


class ImageLayout:
    """How the user's images map to N×C×H×W and back (shape per sample, channel axis)."""

    def __init__(self, sample_shape: tuple[int, ...]):
        self.sample_shape = tuple(int(s) for s in sample_shape)
        if len(self.sample_shape) == 2:
            self.chw = (1, *self.sample_shape)
            self.perm = None
        elif len(self.sample_shape) == 3:
            if channels_first(self.sample_shape):
                self.chw = self.sample_shape
                self.perm = None
            else:
                h, w, c = self.sample_shape
                self.chw = (c, h, w)
                self.perm = (0, 3, 1, 2)
        else:
            raise ValueError(f"Images must be H×W, H×W×C or C×H×W. Got a sample shape of {self.sample_shape}.")

    def to_nchw(self, rows: np.ndarray) -> np.ndarray:
        x = rows.reshape(len(rows), *self.sample_shape)
        if len(self.sample_shape) == 2:
            return x[:, None]
        return x.transpose(self.perm) if self.perm else x

    def from_nchw(self, x: np.ndarray) -> np.ndarray:
        """Back to the user's per-sample layout (N × sample_shape)."""
        if len(self.sample_shape) == 2:
            return x[:, 0]
        return x.transpose(0, 2, 3, 1) if self.perm else x


def to_model_input(images) -> torch.Tensor:
    """Images as a float32 ``N×C×H×W`` tensor in ``[-1, 1]``.

    Parameters
    ----------
    images : array-like or torch.Tensor
        ``N×H×W``, ``N×H×W×1`` or ``N×C×H×W``; uint8 pixels (0–255, scaled as
        ``x / 127.5 - 1``) or floats already in ``[-1, 1]`` (a generator's output).

    Raises
    ------
    ValueError
        For other shapes, or floats outside ``[-1, 1]``.
    """
    x = images if isinstance(images, torch.Tensor) else torch.as_tensor(np.asarray(images))
    if x.ndim == 3:
        x = x[:, None]
    elif x.ndim == 4 and x.shape[-1] == 1 and x.shape[1] != 1:
        x = x.permute(0, 3, 1, 2)
    if x.ndim != 4:
        raise ValueError(f"`images` must be N×H×W, N×H×W×1 or N×C×H×W. Got shape {tuple(x.shape)} instead.")
    if x.dtype == torch.uint8:
        return to_unit(x.float())
    if not x.is_floating_point():
        raise ValueError(f"`images` must be uint8 pixels or floats in [-1, 1]. Got dtype {x.dtype} instead.")
    x = x.float()
    if x.numel() and (x.min() < -1.001 or x.max() > 1.001):
        raise ValueError(
            f"Float `images` must be scaled to [-1, 1] (pass uint8 for 0-255 pixels). "
            f"Got values from {x.min().item():.3g} to {x.max().item():.3g} instead."
        )
    return x
