"""The networks: generator, discriminator, their layers and their serialisation.

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

from .classifier import FERClassifier
from .discriminator import CONDITIONINGS, Discriminator
from .generator import Generator
from .layers import MAX_LATENT_SCALE, SeededDropout, check_latent_scale, init_weights

__all__ = [
    "CONDITIONINGS",
    "Discriminator",
    "FERClassifier",
    "Generator",
    "MAX_LATENT_SCALE",
    "SeededDropout",
    "check_latent_scale",
    "init_weights",
]
