"""The class-conditional generator ``G(z, y)``.

Every size is a constructor argument, so a generator is fully described by its JSON-able
constructor arguments (``config.json``) plus its weights (``model.safetensors``). Two families
share one interface: ``arch="conv"`` for images (a dense layer to a small feature map, stride-2
transposed convolutions, a last layer to ``C`` channels with ``tanh``) and ``arch="mlp"`` for
tabular rows (a multi-layer perceptron on ``[z, one_hot(y)]``).
"""

from __future__ import annotations

import json
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._utils.images import from_unit
from .._utils.labels import lookup, name_index
from .._utils.random import make_rng
from .layers import Crop, check_latent_scale, conv_layout, one_hot
from .serialization import SafeHubMixin, check_config

__all__ = ["Generator"]

#: How a generator picks the category of each one-hot block (``Generator(block_sampling=...)``).
BLOCK_SAMPLING = ("argmax", "gumbel")

_MODEL_CARD = """---
{{ card_data }}
---

# {{ title | default("cganbalance conditional GAN generator", true) }}

A class-conditional generator saved by [cganbalance](https://github.com/cganbalance/cganbalance).

```python
from cganbalance import from_pretrained

g = from_pretrained("{{ repo_id | default("path/to/this/folder", true) }}")
images = g.generate({{ example_labels | default('["happy", "disgust"]', true) }}, random_state=0)  # float tensor in [-1, 1]
```

{{ details | default("", true) }}
"""



class Generator(
    nn.Module,
    SafeHubMixin,
    library_name="cganbalance",
    tags=["cganbalance", "conditional-gan", "data-augmentation"],
    model_card_template=_MODEL_CARD,
    repo_url="https://github.com/cganbalance/cganbalance",
):
    """Class-conditional generator ``G(z, y)``.

    Parameters
    ----------
    n_classes : int
        Number of classes; labels are integers ``0 .. n_classes - 1``.
    latent_dim : int
        Size of the noise vector ``z``.
    output_shape : list of int
        ``[C, H, W]`` for images, ``[n_features]`` for tabular rows. This is the shape that
        :meth:`generate` returns.
    arch : {"conv", "mlp"}
        Network family.
    net_size : list of int or None
        ``[H, W]`` the convolutional stack works at (the paper preset works at 64×64);
        ``None`` means ``output_shape``'s size. :meth:`generate` resizes to ``output_shape``.
    widths : list of int
        Conv: channels of the dense feature map followed by each transposed conv.
        MLP: hidden layer sizes.
    kernel_size : int
        Kernel of the stride-2 transposed convolutions (4 keeps 'same' padding symmetric).
    last_kernel : int
        Kernel of the stride-1 output convolution (4 = the paper's Conv2DTranspose with
        Keras 'same' padding; 3 = a plain 3×3 convolution).
    last_transposed : bool
        Whether the output layer is a transposed convolution (the paper) or a convolution.
    slope : float
        LeakyReLU negative slope (0.4 in the paper).
    classes : list of str or None
        Class names in label order (stored in ``config.json``).
    value_range : list of float or None
        ``[low, high]`` of the data the generator was trained on, mapped to ``[-1, 1]``;
        used by :meth:`to_numpy` to give arrays in the data's own units.
    blocks : list of [start, end] or None
        MLP only: slices of the output that are one-hot blocks (a table's categorical columns).
        Each is made exactly one-hot (the largest of its softmax entries is 1, the rest 0; the
        gradient passes through the softmax, a straight-through estimator), so a generated
        row holds one category per column, never a number between categories.
    block_sampling : {"argmax", "gumbel"}
        How each block's category is chosen. ``"argmax"``: its largest softmax entry, a
        function of ``z`` alone. ``"gumbel"``: drawn from its softmax (the Gumbel-max trick;
        gradients through the softmax of the perturbed logits), with Gumbel noise that
        :meth:`noise` appends to ``z`` (``noise_dim`` = ``latent_dim`` + the blocks' widths).
        A generator then only has to get a category's probability right instead of carving
        the noise space into regions, and rare categories are not squeezed out.
    """

    #: ``config.json`` fields that may be absent (added later; absent means the default).
    optional_config_fields = ("blocks", "block_sampling")

    def __init__(
        self,
        n_classes: int = 7,
        latent_dim: int = 128,
        output_shape: Sequence[int] = (1, 48, 48),
        arch: str = "conv",
        net_size: Sequence[int] | None = None,
        widths: Sequence[int] = (256, 128, 64, 32),
        kernel_size: int = 4,
        last_kernel: int = 3,
        last_transposed: bool = False,
        slope: float = 0.2,
        classes: Sequence[str] | None = None,
        value_range: Sequence[float] | None = None,
        blocks: Sequence[Sequence[int]] | None = None,
        block_sampling: str = "argmax",
    ):
        super().__init__()
        self.n_classes = int(n_classes)
        self.latent_dim = int(latent_dim)
        self.output_shape = [int(s) for s in output_shape]
        self.arch = arch
        self.classes = [str(c) for c in classes] if classes is not None else [str(i) for i in range(self.n_classes)]
        self.value_range = [float(v) for v in value_range] if value_range is not None else None
        if len(self.classes) != self.n_classes:
            raise ValueError(
                f"`classes` must have n_classes={self.n_classes} names. Got {len(self.classes)}: {self.classes!r}."
            )
        name_index(self.classes, "generator's classes")  # names that differ only in case or spaces: refused
        in_dim = self.latent_dim + self.n_classes
        self.blocks = _check_blocks(blocks, arch, self.output_shape)
        if block_sampling not in BLOCK_SAMPLING:
            raise ValueError(f"`block_sampling` must be one of {list(BLOCK_SAMPLING)}. Got {block_sampling!r} instead.")
        self.block_sampling = block_sampling
        if arch == "mlp":
            self.body = _mlp_body(in_dim, widths, self.output_shape[0], slope)
            self.net_size = None
            return
        if arch != "conv":
            raise ValueError(f"`arch` must be 'conv' or 'mlp'. Got {arch!r} instead.")
        channels = self.output_shape[0]
        self.net_size = [int(s) for s in (net_size or self.output_shape[1:])]
        n_up = len(widths) - 1
        self.base = conv_layout(*self.net_size, n_up)
        self.fc = nn.Linear(in_dim, widths[0] * self.base[0] * self.base[1])
        self.body = _conv_body(widths, channels, kernel_size, last_kernel, last_transposed, slope)
        self._first_channels = widths[0]

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Map noise and integer labels to samples in ``[-1, 1]`` (images: at ``net_size``)."""
        gumbel = None
        if self.noise_dim != self.latent_dim:
            if z.shape[1] != self.noise_dim:
                raise ValueError(
                    f"`z` must have noise_dim={self.noise_dim} columns (latent_dim={self.latent_dim} plus Gumbel noise "
                    f"for block_sampling='gumbel'; draw it with Generator.noise). Got {z.shape[1]}."
                )
            z, gumbel = z[:, : self.latent_dim], z[:, self.latent_dim :]
        h = torch.cat([z, one_hot(labels, self.n_classes)], dim=1)
        if self.arch == "mlp":
            x = self.body(h)
            return _one_hot_blocks(x, self.blocks, gumbel) if self.blocks else x
        h = self.fc(h).view(-1, self._first_channels, *self.base)
        x = torch.tanh(self.body(h))
        if list(x.shape[2:]) != self.net_size:
            x = x[:, :, : self.net_size[0], : self.net_size[1]]
        return x

    def set_class_names(self, names: Sequence[str]) -> "Generator":
        """Name the classes (label order); stored in ``config.json`` on save."""
        names = [str(n) for n in names]
        if len(names) != self.n_classes:
            raise ValueError(f"`names` must have {self.n_classes} entries. Got {len(names)}: {names!r}.")
        name_index(names, "`names`")
        self.classes = names
        if self._hub_mixin_config is not None:
            self._hub_mixin_config["classes"] = names
        return self

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    def _resolve_labels(self, labels) -> torch.Tensor:
        if isinstance(labels, (str, int, np.integer)):
            labels = [labels]
        values = np.asarray(list(labels) if not isinstance(labels, (np.ndarray, torch.Tensor)) else labels)
        if values.ndim != 1:
            raise ValueError(f"`labels` must be one-dimensional. Got shape {values.shape}.")
        if values.dtype.kind in "USO":
            values = lookup(values, self.classes, "`labels` holds the class names", "the generator's classes")
        elif values.dtype.kind not in "iu":
            raise TypeError(f"`labels` must be class indices or class names. Got dtype {values.dtype}.")
        if values.size and (values.min() < 0 or values.max() >= self.n_classes):
            raise ValueError(
                f"`labels` must lie in [0, {self.n_classes - 1}]. Got values from {values.min()} to {values.max()}."
            )
        return torch.as_tensor(values.astype(np.int64))

    @property
    def noise_dim(self) -> int:
        """Width of the noise :meth:`forward` takes: ``latent_dim``, plus the blocks' widths with Gumbel sampling."""
        if self.blocks and self.block_sampling == "gumbel":
            return self.latent_dim + sum(b - a for a, b in self.blocks)
        return self.latent_dim

    def noise(self, n: int, rng: torch.Generator, latent_scale: float = 1.0) -> torch.Tensor:
        """``n`` noise vectors drawn from ``rng`` (on its device), with standard deviation ``latent_scale``.

        With ``block_sampling="gumbel"``, standard Gumbel noise for the one-hot blocks follows the
        ``latent_dim`` normal entries (``latent_scale`` scales only those).
        """
        z = torch.randn(n, self.latent_dim, generator=rng, device=rng.device)
        z = z * latent_scale if latent_scale != 1.0 else z
        if self.noise_dim == self.latent_dim:
            return z
        u = torch.rand(n, self.noise_dim - self.latent_dim, generator=rng, device=rng.device)
        gumbel = -torch.log(-torch.log(u.clamp(1e-10, 1.0 - 1e-7)))
        return torch.cat([z, gumbel], 1)

    @torch.inference_mode()
    def generate(self, labels, random_state=None, batch_size: int = 512, latent_scale: float = 1.0) -> torch.Tensor:
        """Generate one sample per entry of ``labels``.

        Parameters
        ----------
        labels : int, str or sequence of int or str
            Class indices, or class names from :attr:`classes`.
        random_state : int, numpy.random.RandomState, torch.Generator or None
            Seed for the noise; the same seed gives the same samples on the same device.
        batch_size : int
            Samples per forward pass.
        latent_scale : float, default=1.0
            Standard deviation of the noise, in ``(0, 10]`` (the generator was trained with 1).
            Above 1 spreads the samples wider (more varied, less typical of their class); below
            1 narrows them (more typical, less varied), like the truncation trick.

        Returns
        -------
        torch.Tensor
            Images as ``N×C×H×W`` (``output_shape``), tabular rows as ``N×F``, float32 in the
            generator's scaled space (``[-1, 1]`` for images), on the CPU.
        """
        latent_scale = check_latent_scale(latent_scale)
        labels = self._resolve_labels(labels)
        rng = make_rng(random_state, device="cpu")
        was_training = self.training
        self.eval()
        out = []
        try:
            for start in range(0, len(labels), batch_size):
                y = labels[start : start + batch_size]
                z = self.noise(len(y), rng, latent_scale).to(self.device)
                out.append(self.resize(self(z, y.to(self.device))).float().cpu())
        finally:
            self.train(was_training)
        if not out:
            return torch.empty(0, *self.output_shape)
        return torch.cat(out)

    def resize(self, x: torch.Tensor) -> torch.Tensor:
        """Resize images from ``net_size`` to ``output_shape`` (identity when they agree)."""
        if self.arch == "mlp" or list(x.shape[2:]) == self.output_shape[1:]:
            return x
        return F.interpolate(x, size=self.output_shape[1:], mode="bilinear", align_corners=False, antialias=True).clamp(
            -1, 1
        )

    def to_numpy(self, samples: torch.Tensor, dtype=np.uint8) -> np.ndarray:
        """Map generated images from ``[-1, 1]`` to ``value_range`` (default 0–255) as an N×H×W×C array.

        With ``dtype=np.uint8`` the values are rounded and clipped to ``[0, 255]``.
        """
        low, high = self.value_range or (0.0, 255.0)
        x = from_unit(samples.detach().cpu().float().numpy(), low, high)
        if x.ndim == 4:
            x = x.transpose(0, 2, 3, 1)
        if np.dtype(dtype).kind in "iu":
            info = np.iinfo(dtype)
            x = np.clip(np.rint(x), info.min, info.max)
        return x.astype(dtype)

    def to_pil(self, samples: torch.Tensor) -> list:
        """Generated images as PIL images ("L" for one channel, "RGB" for three)."""
        from PIL import Image

        arrays = self.to_numpy(samples, np.uint8)
        if arrays.shape[-1] == 1:
            return [Image.fromarray(a[..., 0], mode="L") for a in arrays]
        return [Image.fromarray(a) for a in arrays]

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as written to ``config.json``.

        Raises ``ValueError`` when they would not rebuild this network (the mixin records only
        JSON-able arguments, so a numpy integer passed to the constructor would silently be
        replaced by the default).
        """
        config = json.loads(json.dumps(self._hub_mixin_config or {}))
        # What the network was built from wins over the mixin's record of the arguments.
        config.update(
            n_classes=self.n_classes,
            latent_dim=self.latent_dim,
            output_shape=list(self.output_shape),
            arch=self.arch,
            classes=list(self.classes),
            value_range=self.value_range,
        )
        if self.blocks:
            config["blocks"] = [list(b) for b in self.blocks]
            if self.block_sampling != "argmax":
                config["block_sampling"] = self.block_sampling
        check_config(type(self), config, source=type(self).__name__)
        with torch.device("meta"), torch.random.fork_rng(devices=[]):
            rebuilt = type(self)(**config).state_dict()
        mine = self.state_dict()
        if {k: tuple(v.shape) for k, v in rebuilt.items()} != {k: tuple(v.shape) for k, v in mine.items()}:
            raise ValueError(
                f"The recorded constructor arguments {config} do not rebuild this generator; pass plain Python "
                "numbers and lists (not numpy scalars or arrays) to Generator(...)."
            )
        return config


def _mlp_body(in_dim: int, widths: Sequence[int], out_dim: int, slope: float) -> nn.Sequential:
    """Linear -> BatchNorm -> LeakyReLU per width, then a linear output layer."""
    layers: list[nn.Module] = []
    for w in widths:
        layers += [nn.Linear(in_dim, w), nn.BatchNorm1d(w), nn.LeakyReLU(slope)]
        in_dim = w
    layers.append(nn.Linear(in_dim, out_dim))
    return nn.Sequential(*layers)


def _conv_body(widths: Sequence[int], channels: int, kernel_size: int, last_kernel: int, last_transposed: bool,
               slope: float) -> nn.Sequential:
    """Stride-2 transposed convolutions (each doubling the size) with BatchNorm and LeakyReLU, then
    the output layer (a stride-1 convolution, or a transposed one cropped as Keras' 'same' does)."""
    layers = []
    pad = (kernel_size - 2) // 2  # stride-2 'same': output = 2 * input
    for c_in, c_out in zip(widths[:-1], widths[1:]):
        layers += [
            nn.ConvTranspose2d(c_in, c_out, kernel_size, 2, pad, output_padding=kernel_size % 2),
            nn.BatchNorm2d(c_out),
            nn.LeakyReLU(slope),
        ]
    if last_transposed:
        # Keras 'same' for a stride-1 transposed conv: full output cropped to the input size,
        # the extra (k - 1) rows split with the larger half at the end.
        extra = last_kernel - 1
        layers += [
            nn.ConvTranspose2d(widths[-1], channels, last_kernel, 1, 0),
            Crop(extra // 2, extra - extra // 2, extra // 2, extra - extra // 2),
        ]
    else:
        layers.append(nn.Conv2d(widths[-1], channels, last_kernel, 1, last_kernel // 2))
    return nn.Sequential(*layers)


def _check_blocks(blocks, arch: str, output_shape: list[int]) -> list[list[int]] | None:
    if blocks is None or len(blocks) == 0:
        return None
    if arch != "mlp":
        raise ValueError(f"`blocks` (one-hot slices of a table's rows) needs arch='mlp'. Got arch={arch!r}.")
    out, last = [], 0
    for block in blocks:
        a, b = (int(v) for v in block)
        if not last <= a < b <= output_shape[0]:
            raise ValueError(
                f"`blocks` must be ordered, non-overlapping [start, end] slices of the {output_shape[0]} outputs. "
                f"Got {[list(b) for b in blocks]!r} instead."
            )
        out.append([a, b])
        last = b
    return out


def _one_hot_blocks(x: torch.Tensor, blocks: list[list[int]], gumbel: torch.Tensor | None = None) -> torch.Tensor:
    """Each block made one-hot at its largest entry (of the logits plus ``gumbel`` noise, if given: a
    draw from the block's softmax); gradients through the softmax (straight-through)."""
    parts, last, offset = [], 0, 0
    for a, b in blocks:
        parts.append(x[:, last:a])
        logits = x[:, a:b]
        if gumbel is not None:
            logits = logits + gumbel[:, offset : offset + b - a].to(logits.dtype)
            offset += b - a
        soft = logits.softmax(1)
        hard = F.one_hot(soft.argmax(1), b - a).to(soft.dtype)
        # exactly one-hot when sampling; within a rounding error of it, with gradients, in training
        parts.append(hard + soft - soft.detach() if torch.is_grad_enabled() else hard)
        last = b
    parts.append(x[:, last:])
    return torch.cat(parts, 1)
