"""``CGANOverSampler``: an imbalanced-learn over-sampler that trains a conditional GAN.

The sampler (``_sampler``) composes a preprocessing object (``_preprocessing``: images or
tables <-> the scaled samples the networks train on), the networks and the trainer.
"""

from ._preprocessing import ImagePreprocessor, TablePreprocessor
from ._sampler import CGANOverSampler

__all__ = ["CGANOverSampler", "ImagePreprocessor", "TablePreprocessor"]
