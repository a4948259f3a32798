"""The conditional discriminator ``D(x, y)``."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from .layers import SeededDropout, one_hot

__all__ = ["CONDITIONINGS", "Discriminator"]

#: How the discriminator sees the label (``Discriminator(conditioning=...)``).
CONDITIONINGS = ("concat", "auxiliary", "projection", "projection+auxiliary")


class Discriminator(nn.Module):
    """Conditional discriminator ``D(x, y)`` returning ``(adversarial_logit, class_logits)``.

    ``class_logits`` is ``None`` unless the conditioning has the auxiliary head (``"auxiliary"``,
    ``"projection+auxiliary"``). Logits, not
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
            onehot = one_hot(labels, self.n_classes)
            if x.dim() == 4:
                onehot = onehot[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
            x = torch.cat([x, onehot], dim=1)
        h = self.features(x)
        logit = self.adv(h).squeeze(1)
        if self.embed is not None:
            logit = logit + (self.embed(labels.long()) * h).sum(1)
        return logit, (self.cls(h) if self.cls is not None else None)
