"""Image layout (N×H×W, N×H×W×C, N×C×H×W) and the one pixel <-> ``[-1, 1]`` scaling."""

from __future__ import annotations

import numpy as np


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
