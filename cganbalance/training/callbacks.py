"""Side concerns of the training loop, as callbacks it notifies: progress, divergence, checkpoints.

A :class:`Callback` subclass overrides any of ``on_train_begin(trainer, total_steps)``,
``on_step_end(trainer, logs)``, ``on_epoch_end(trainer)``, ``on_train_end(trainer)`` and
``on_divergence(trainer, error) -> bool`` (True when it handled the error, e.g. rolled back).
After an epoch, ``trainer.history[-1]`` is its record and ``trainer.last_epoch`` says whether
training stops after it. A plain callable is called as ``callback(trainer)`` after every epoch.
"""

from __future__ import annotations

import math
import os
import warnings
from pathlib import Path

from .._utils.progress import progress_bar
from .checkpoint import CHECKPOINT_NAME, load_checkpoint, save_checkpoint

__all__ = ["Callback", "Checkpoint", "DivergenceCheck", "EpochEnd", "ProgressBar", "TrainingDivergedError"]


class TrainingDivergedError(RuntimeError):
    """Training diverged: a non-finite loss, or a discriminator that told real from generated samples
    perfectly for a whole epoch (the generator then gets no useful gradient)."""


class Callback:
    """Does nothing at every event; subclasses override the ones they need."""

    def on_train_begin(self, trainer, total_steps: int | None) -> None:
        pass

    def on_step_end(self, trainer, logs: dict) -> None:
        pass

    def on_epoch_end(self, trainer) -> None:
        pass

    def on_train_end(self, trainer) -> None:
        pass

    def on_divergence(self, trainer, error: TrainingDivergedError) -> bool:
        return False


class EpochEnd(Callback):
    """Calls ``function(trainer)`` after every epoch (sample grids, logging)."""

    def __init__(self, function):
        self.function = function

    def on_epoch_end(self, trainer) -> None:
        self.function(trainer)


class ProgressBar(Callback):
    """A progress bar with the epoch and the last step's losses (redrawn rarely in logs)."""

    def __init__(self, enabled: bool = True):
        self.enabled = enabled

    def on_train_begin(self, trainer, total_steps) -> None:
        self.bar = progress_bar(total=total_steps, disable=not self.enabled, desc="cGAN training", unit="step",
                                dynamic_ncols=True)

    def on_step_end(self, trainer, logs) -> None:
        if self.enabled:  # no refresh of its own: the bar redraws at its own pace (rarely in logs)
            postfix = {"epoch": trainer.epoch + 1, "D": f"{logs['d_loss']:.3f}", "G": f"{logs['g_loss']:.3f}"}
            self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def on_train_end(self, trainer) -> None:
        self.bar.close()


class DivergenceCheck(Callback):
    """Raises :class:`TrainingDivergedError` on a non-finite loss, or after an epoch in which the
    discriminator told real from generated samples perfectly (mean D(real) > 0.99 and
    D(fake) < 0.01), so that the generator learns nothing more."""

    def on_step_end(self, trainer, logs) -> None:
        if not all(math.isfinite(v) for v in logs.values()):
            raise TrainingDivergedError(
                f"Training diverged at epoch {trainer.epoch + 1}, step {trainer.step}: losses {logs}. "
                "Lower the learning rates, or resume from an earlier checkpoint."
            )

    def on_epoch_end(self, trainer) -> None:
        record = trainer.history[-1]
        if record.get("d_real", 0.5) > 0.99 and record.get("d_fake", 0.5) < 0.01:
            raise TrainingDivergedError(
                f"The discriminator collapsed in epoch {trainer.epoch}: it tells real from generated samples "
                f"perfectly (mean D(real)={record['d_real']:.4f}, D(fake)={record['d_fake']:.4f}), so the "
                "generator no longer learns. Lower the discriminator's learning rate or resume from an "
                "earlier checkpoint."
            )


class Checkpoint(Callback):
    """Saves a checkpoint to ``directory`` every ``every`` epochs and after the last one.

    With ``rollback=True``, a divergence restores the last checkpoint (written before it) and
    training stops there with a warning, instead of raising.
    """

    def __init__(self, directory: str | os.PathLike, every: int = 1, rollback: bool = False, half: bool = False):
        self.directory, self.every, self.rollback, self.half = directory, every, rollback, half

    def on_epoch_end(self, trainer) -> None:
        if trainer.epoch % self.every == 0 or trainer.last_epoch:
            save_checkpoint(trainer, self.directory, half=self.half)

    def on_divergence(self, trainer, error) -> bool:
        if not self.rollback or not (Path(self.directory) / CHECKPOINT_NAME).is_file():
            return False
        load_checkpoint(trainer, self.directory)
        warnings.warn(f"{error} Rolled back to the checkpoint of epoch {trainer.epoch} and stopped.", RuntimeWarning,
                      stacklevel=3)
        return True
