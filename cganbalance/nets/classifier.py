"""The FER-2013 classifier network: a small VGG-style CNN (the feature extractor of the metrics)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from .layers import SeededDropout
from .serialization import SafeHubMixin

__all__ = ["FERClassifier"]

_MODEL_CARD = """---
{{ card_data }}
---

# {{ title | default("cganbalance FER-2013 classifier", true) }}

A small CNN trained on real FER-2013 faces by [cganbalance](https://github.com/cganbalance/cganbalance);
the feature extractor of its generator metrics (per-class FID/KID, precision/recall).

```python
from cganbalance.classifier import load_fer_classifier, extract

model = load_fer_classifier()
features, logits = extract(model, images_uint8)  # N×48×48 uint8 faces
```

{{ details | default("", true) }}
"""


class FERClassifier(
    nn.Module,
    SafeHubMixin,
    library_name="cganbalance",
    tags=["cganbalance", "image-classification", "fer2013"],
    model_card_template=_MODEL_CARD,
    repo_url="https://github.com/cganbalance/cganbalance",
):
    """A VGG-style CNN: stages of 3×3 convolution + BatchNorm + ReLU, 2×2 max-pooling between
    stages, global average pooling, dropout and a linear layer.

    Parameters
    ----------
    n_classes : int
        Number of classes (7 for FER-2013).
    in_channels : int
        Image channels (1 for grey faces).
    image_size : list of int
        ``[H, W]`` the network was trained at; :func:`extract` resizes other sizes to it.
    widths : list of int
        Channels of each stage. The last one is the size of the embedding :meth:`features`
        returns.
    depths : list of int
        Convolutions in each stage (same length as ``widths``).
    dropout : float
        Dropout before the linear layer, during training only.
    classes : list of str or None
        Class names in label order (stored in ``config.json``).

    Examples
    --------
    >>> import torch
    >>> from cganbalance.classifier import FERClassifier
    >>> model = FERClassifier(widths=[8, 16], depths=[1, 1]).eval()
    >>> model.features(torch.zeros(2, 1, 48, 48)).shape
    torch.Size([2, 16])
    >>> model(torch.zeros(2, 1, 48, 48)).shape
    torch.Size([2, 7])
    """

    def __init__(
        self,
        n_classes: int = 7,
        in_channels: int = 1,
        image_size: Sequence[int] = (48, 48),
        widths: Sequence[int] = (32, 64, 128, 256),
        depths: Sequence[int] = (1, 1, 1, 1),
        dropout: float = 0.3,
        classes: Sequence[str] | None = None,
    ):
        super().__init__()
        widths, depths = [int(w) for w in widths], [int(d) for d in depths]
        if not widths or len(widths) != len(depths) or min(widths) < 1 or min(depths) < 1:
            raise ValueError(
                "`widths` and `depths` must be non-empty lists of positive integers of the same length. "
                f"Got widths={widths!r} and depths={depths!r} instead."
            )
        if not 0 <= dropout < 1:
            raise ValueError(f"`dropout` must lie in [0, 1). Got {dropout!r} instead.")
        self.n_classes = int(n_classes)
        self.in_channels = int(in_channels)
        self.image_size = [int(s) for s in image_size]
        self.classes = [str(c) for c in classes] if classes is not None else [str(i) for i in range(self.n_classes)]
        if len(self.classes) != self.n_classes:
            raise ValueError(
                f"`classes` must have n_classes={self.n_classes} names. Got {len(self.classes)}: {self.classes!r}."
            )
        self._config = {
            "n_classes": self.n_classes,
            "in_channels": self.in_channels,
            "image_size": self.image_size,
            "widths": widths,
            "depths": depths,
            "dropout": float(dropout),
            "classes": self.classes,
        }
        layers: list[nn.Module] = []
        c_in = self.in_channels
        for stage, (width, depth) in enumerate(zip(widths, depths)):
            if stage:
                layers.append(nn.MaxPool2d(2))
            for _ in range(depth):
                layers += [
                    nn.Conv2d(c_in, width, 3, padding=1, bias=False),
                    nn.BatchNorm2d(width),
                    nn.ReLU(inplace=True),
                ]
                c_in = width
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
        self.body = nn.Sequential(*layers)
        self.dropout = SeededDropout(dropout)
        self.head = nn.Linear(c_in, self.n_classes)

    @property
    def embedding_dim(self) -> int:
        return self.head.in_features

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The penultimate embedding (globally averaged last-stage activations), ``N×widths[-1]``."""
        return self.body(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits of images ``N×C×H×W`` in ``[-1, 1]``."""
        return self.head(self.dropout(self.features(x)))

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as written to ``config.json``."""
        return json.loads(json.dumps(self._config))
