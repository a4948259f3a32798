"""cganbalance: balance imbalanced datasets with a conditional GAN.

Public API
----------
CGANOverSampler
    imbalanced-learn over-sampler that trains a conditional GAN (images and tabular data).
Generator, Discriminator
    The networks; ``Generator`` saves to / loads from safetensors + config.json and the Hub.
from_pretrained, push_to_hub, save_generator
    Pretrained generators by alias ("fer2013-cgan"), local folder or Hub repo id.
SyntheticBalancedDataset, BalancedLoader
    PyTorch training on balanced data: a torchvision dataset wrapper with synthetic items, or
    batches topped up with fresh generated samples every epoch.
FER2013, fer2013
    FER-2013 readers (Kaggle CSVs, image folders, npz, Hugging Face datasets), canonical labels.
"""

from . import fer2013
from .datasets import BalancedLoader, SyntheticBalancedDataset
from .fer2013 import FER2013
from .hub import from_pretrained, push_to_hub, save_generator
from .nets import Discriminator, Generator
from .over_sampling import CGANOverSampler
from .training import TrainingDivergedError

__version__ = "0.1.0.dev0"

__all__ = [
    "BalancedLoader",
    "CGANOverSampler",
    "FER2013",
    "SyntheticBalancedDataset",
    "fer2013",
    "Discriminator",
    "Generator",
    "TrainingDivergedError",
    "from_pretrained",
    "push_to_hub",
    "save_generator",
    "__version__",
]
