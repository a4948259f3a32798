"""cganbalance: balance imbalanced datasets with a conditional GAN.

Public API
----------
CGANOverSampler
    imbalanced-learn over-sampler that trains a conditional GAN (images and tabular data).
Generator, Discriminator
    The networks; ``Generator`` saves to / loads from safetensors + config.json and the Hub.
from_pretrained, push_to_hub
    Pretrained generators by alias ("fer2013-cgan"), local folder or Hub repo id.
"""

from .hub import from_pretrained, push_to_hub, save_generator
from .nets import Discriminator, Generator
from .over_sampling import CGANOverSampler
from .training import TrainingDivergedError

__version__ = "0.1.0.dev0"

__all__ = [
    "CGANOverSampler",
    "Discriminator",
    "Generator",
    "TrainingDivergedError",
    "from_pretrained",
    "push_to_hub",
    "save_generator",
    "__version__",
]
