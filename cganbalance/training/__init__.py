"""Training: presets, the trainer (step / epoch / fit loop), its callbacks, checkpoints, augmentation.

Randomness is local: every random draw (weights, noise, batch order, dropout masks) comes from
one seeded ``torch.Generator``; torch's global RNG is never seeded or read.
"""

from .._utils.devices import resolve_device
from .._utils.random import make_rng
from .augment import diff_augment
from .batches import class_sampling_weights
from .callbacks import Callback, Checkpoint, DivergenceCheck, EpochEnd, ProgressBar, TrainingDivergedError
from .checkpoint import CHECKPOINT_NAME
from .classifier import train_classifier
from .trainer import CGANTrainer, discriminator_confidence

# resolve_device and make_rng live in cganbalance._utils; they are documented here, beside the trainer that uses them.
__all__ = [
    "CHECKPOINT_NAME",
    "CGANTrainer",
    "Callback",
    "Checkpoint",
    "DivergenceCheck",
    "EpochEnd",
    "ProgressBar",
    "TrainingDivergedError",
    "class_sampling_weights",
    "diff_augment",
    "discriminator_confidence",
    "make_rng",
    "resolve_device",
    "train_classifier",
]
