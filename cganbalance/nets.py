"""Generator and discriminator networks.

Every size is a constructor argument, so a network is fully described by its JSON-able
constructor arguments (``config.json``) plus its weights (``model.safetensors``).

Two families share one interface:

* ``arch="conv"`` for images: a dense layer to a small ``base`` feature map, a stack of
  stride-2 transposed convolutions, and a last layer to ``C`` channels with ``tanh``.
* ``arch="mlp"`` for tabular rows: a multi-layer perceptron on ``[z, one_hot(y)]``.

The discriminator scores ``(x, y)`` pairs. Its label enters either as extra input channels
(``conditioning="concat"``, the paper's design), through an auxiliary classification head
(``conditioning="auxiliary"``, AC-GAN), or through a projection term (``"projection"``).
"""

from __future__ import annotations

import json
import math
from numbers import Real
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._mixin import SafeHubMixin

__all__ = ["Generator", "Discriminator", "init_weights"]

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


class _Crop(nn.Module):
    """Crop ``(top, bottom, left, right)`` pixels: Keras ``padding='same'`` for even kernels."""

    def __init__(self, top: int, bottom: int, left: int, right: int):
        super().__init__()
        self.box = (top, bottom, left, right)

    def forward(self, x):
        t, b, l, r = self.box
        return x[:, :, t : x.shape[2] - b, l : x.shape[3] - r]


class SeededDropout(nn.Module):
    """Dropout that draws its mask from ``self.generator`` when one is set.

    ``nn.Dropout`` reads torch's global RNG; the trainer sets ``generator`` so training is
    reproducible without touching the caller's global random state.
    """

    def __init__(self, p: float):
        super().__init__()
        self.p = p
        self.generator: torch.Generator | None = None

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        if self.generator is None:
            return F.dropout(x, self.p, True)
        keep = torch.rand(x.shape, generator=self.generator, device=x.device) >= self.p
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


def init_weights(module: nn.Module, generator: torch.Generator | None, std: float = 0.02) -> None:
    """DCGAN initialisation drawn from ``generator`` (weights ~ N(0, std), biases 0).

    Spectral-norm power-iteration vectors are re-drawn from the same generator so that
    construction never depends on torch's global RNG state.
    """
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.weight.fill_(1.0)
                m.bias.zero_()
            elif isinstance(m, (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)):
                weight = m.parametrizations.weight.original if hasattr(m, "parametrizations") else m.weight
                weight.copy_(torch.randn(weight.shape, generator=generator) * std)
                if getattr(m, "bias", None) is not None:
                    m.bias.zero_()
        for name, b in module.named_buffers():
            if name.endswith("._u") or name.endswith("._v"):
                v = torch.randn(b.shape, generator=generator)
                b.copy_(v / v.norm().clamp_min(1e-12))


def _conv_layout(height: int, width: int, n_up: int) -> tuple[int, int]:
    """Base feature-map size so that ``n_up`` doublings cover ``(height, width)``."""
    scale = 2**n_up
    return math.ceil(height / scale), math.ceil(width / scale)


def _one_hot(labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    return F.one_hot(labels.long(), n_classes).float()


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
    """

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
        in_dim = self.latent_dim + self.n_classes
        if arch == "mlp":
            layers: list[nn.Module] = []
            for w in widths:
                layers += [nn.Linear(in_dim, w), nn.BatchNorm1d(w), nn.LeakyReLU(slope)]
                in_dim = w
            layers.append(nn.Linear(in_dim, self.output_shape[0]))
            self.body = nn.Sequential(*layers)
            self.net_size = None
            return
        if arch != "conv":
            raise ValueError(f"`arch` must be 'conv' or 'mlp'. Got {arch!r} instead.")
        channels = self.output_shape[0]
        self.net_size = [int(s) for s in (net_size or self.output_shape[1:])]
        n_up = len(widths) - 1
        self.base = _conv_layout(*self.net_size, n_up)
        self.fc = nn.Linear(in_dim, widths[0] * self.base[0] * self.base[1])
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
                _Crop(extra // 2, extra - extra // 2, extra // 2, extra - extra // 2),
            ]
        else:
            layers.append(nn.Conv2d(widths[-1], channels, last_kernel, 1, last_kernel // 2))
        self.body = nn.Sequential(*layers)
        self._first_channels = widths[0]

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Map noise and integer labels to samples in ``[-1, 1]`` (images: at ``net_size``)."""
        h = torch.cat([z, _one_hot(labels, self.n_classes)], dim=1)
        if self.arch == "mlp":
            return self.body(h)
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
            index = {name: i for i, name in enumerate(self.classes)}
            unknown = sorted({str(v) for v in values if str(v) not in index})
            if unknown:
                raise ValueError(f"`labels` contains unknown class names {unknown}; known classes are {self.classes}.")
            values = np.array([index[str(v)] for v in values], dtype=np.int64)
        elif values.dtype.kind not in "iu":
            raise TypeError(f"`labels` must be class indices or class names. Got dtype {values.dtype}.")
        if values.size and (values.min() < 0 or values.max() >= self.n_classes):
            raise ValueError(
                f"`labels` must lie in [0, {self.n_classes - 1}]. Got values from {values.min()} to {values.max()}."
            )
        return torch.as_tensor(values.astype(np.int64))

    def noise(self, n: int, rng: torch.Generator, latent_scale: float = 1.0) -> torch.Tensor:
        """``n`` noise vectors drawn from ``rng`` (on its device), with standard deviation ``latent_scale``."""
        z = torch.randn(n, self.latent_dim, generator=rng, device=rng.device)
        return z * latent_scale if latent_scale != 1.0 else z

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
        from .training import make_torch_generator

        latent_scale = check_latent_scale(latent_scale)
        labels = self._resolve_labels(labels)
        rng = make_torch_generator(random_state, device="cpu")
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
        x = (samples.detach().cpu().float().numpy() + 1) / 2 * (high - low) + low
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
        from .hub import check_config

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


#: How the discriminator sees the label (``Discriminator(conditioning=...)``).
CONDITIONINGS = ("concat", "auxiliary", "projection", "projection+auxiliary")


class Discriminator(nn.Module):
    """Conditional discriminator ``D(x, y)`` returning ``(adversarial_logit, class_logits)``.

    ``class_logits`` is ``None`` unless ``conditioning="auxiliary"``. Logits, not
    probabilities: the losses apply the sigmoid (numerically safer than a sigmoid layer).

    Parameters
    ----------
    n_classes : int
    input_shape : list of int
        ``[C, H, W]`` (at the generator's ``net_size``) or ``[n_features]``.
    arch : {"conv", "mlp"}
    widths : list of int
        Conv: filters of each stride-2 convolution. MLP: hidden sizes.
    kernel_size : int
    slope : float
        LeakyReLU slope.
    dropout : float
        Dropout after each block (0 disables).
    spectral_norm : bool
        Spectral normalisation on the convolution/hidden layers.
    conditioning : {"concat", "auxiliary", "projection", "projection+auxiliary"}
        ``concat``: one-hot label as extra input channels (the paper). ``auxiliary``: an
        extra head predicts the class (AC-GAN). ``projection``: ``<embed(y), features>`` is
        added to the logit (Miyato & Koyama, 2018). ``projection+auxiliary``: both, so the
        class loss can be weighted down for the generator without losing the conditioning.
    """

    def __init__(
        self,
        n_classes: int = 7,
        input_shape: Sequence[int] = (1, 48, 48),
        arch: str = "conv",
        widths: Sequence[int] = (64, 128, 256),
        kernel_size: int = 4,
        slope: float = 0.2,
        dropout: float = 0.0,
        spectral_norm: bool = True,
        conditioning: str = "auxiliary",
    ):
        super().__init__()
        if conditioning not in CONDITIONINGS:
            raise ValueError(f"`conditioning` must be one of {list(CONDITIONINGS)}. Got {conditioning!r} instead.")
        self.n_classes = n_classes
        self.arch = arch
        self.conditioning = conditioning
        # The constructor's arguments, to rebuild it (e.g. when a fitted sampler is unpickled).
        self.init_kwargs = dict(
            n_classes=int(n_classes), input_shape=[int(s) for s in input_shape], arch=arch,
            widths=[int(w) for w in widths], kernel_size=int(kernel_size), slope=float(slope),
            dropout=float(dropout), spectral_norm=bool(spectral_norm), conditioning=conditioning,
        )
        sn = nn.utils.parametrizations.spectral_norm if spectral_norm else (lambda m: m)
        extra = n_classes if conditioning == "concat" else 0
        layers: list[nn.Module] = []
        if arch == "mlp":
            in_dim = input_shape[0] + extra
            for w in widths:
                layers += [sn(nn.Linear(in_dim, w)), nn.LeakyReLU(slope)]
                if dropout:
                    layers.append(SeededDropout(dropout))
                in_dim = w
            feat_dim = in_dim
        elif arch == "conv":
            c, h, w_ = input_shape
            in_ch = c + extra
            pad = (kernel_size - 1) // 2
            for w in widths:
                layers += [sn(nn.Conv2d(in_ch, w, kernel_size, 2, pad)), nn.LeakyReLU(slope)]
                if dropout:
                    layers.append(SeededDropout(dropout))
                in_ch = w
                h = (h + 2 * pad - kernel_size) // 2 + 1
                w_ = (w_ + 2 * pad - kernel_size) // 2 + 1
            layers.append(nn.Flatten())
            feat_dim = in_ch * h * w_
        else:
            raise ValueError(f"`arch` must be 'conv' or 'mlp'. Got {arch!r} instead.")
        self.features = nn.Sequential(*layers)
        self.adv = nn.Linear(feat_dim, 1)
        self.cls = nn.Linear(feat_dim, n_classes) if "auxiliary" in conditioning else None
        self.embed = nn.Embedding(n_classes, feat_dim) if "projection" in conditioning else None

    def forward(self, x: torch.Tensor, labels: torch.Tensor):
        if self.conditioning == "concat":
            onehot = _one_hot(labels, self.n_classes)
            if x.dim() == 4:
                onehot = onehot[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
            x = torch.cat([x, onehot], dim=1)
        h = self.features(x)
        logit = self.adv(h).squeeze(1)
        if self.embed is not None:
            logit = logit + (self.embed(labels.long()) * h).sum(1)
        return logit, (self.cls(h) if self.cls is not None else None)
