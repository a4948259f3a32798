"""``CGANOverSampler``: an imbalanced-learn over-sampler that trains a conditional GAN.

The sampler (``_sampler``) composes a preprocessing object (``_preprocessing``: images or
numeric tables; ``_tabular``: mixed-type tables with categorical columns <-> the scaled samples
the networks train on), the networks and the trainer.
"""

from ._preprocessing import ImagePreprocessor, TablePreprocessor
from ._sampler import CGANOverSampler
from ._tabular import MixedTablePreprocessor

__all__ = ["CGANOverSampler", "ImagePreprocessor", "MixedTablePreprocessor", "TablePreprocessor"]
