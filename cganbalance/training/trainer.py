"""The adversarial training loop: one discriminator step, one generator step, an epoch, a fit loop.

Side concerns (progress, divergence checks, checkpoints, sample grids) are callbacks the loop
notifies (:mod:`cganbalance.training.callbacks`). Randomness is local: every random draw
(weights, noise, batch order, dropout masks) comes from one seeded ``torch.Generator``;
torch's global RNG is never seeded or read.
"""

from __future__ import annotations

import copy
import math
import os
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from ..nets import Discriminator, Generator, SeededDropout
from .augment import diff_augment
from . import distributed
from .batches import class_sampling_weights, epoch_order, shard
from .callbacks import Callback, Checkpoint, DivergenceCheck, EpochEnd, ProgressBar, TrainingDivergedError
from .checkpoint import load_checkpoint, save_checkpoint
from .fast import BatchFeeder, Precision, autocast_dtype, compiled, reuse_freed_memory, uses_channels_last
from .presets import TrainConfig

__all__ = ["CGANTrainer", "discriminator_confidence"]


def discriminator_confidence(discriminator: Discriminator, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Probability that ``x`` is a real sample of class ``labels``.

    With an auxiliary head, the "real" probability times the probability of the intended class,
    so that filtering keeps samples that are both realistic and recognisably of their class.
    """
    logit, class_logits = discriminator(x, labels)
    score = torch.sigmoid(logit)
    if class_logits is not None:
        score = score * class_logits.softmax(1).gather(1, labels.long()[:, None]).squeeze(1)
    return score


class CGANTrainer:
    """Owns the networks, optimisers and EMA, and trains them on scaled tensors.

    Under ``torchrun`` with more than one process, :meth:`fit` trains with DistributedDataParallel
    (see :mod:`cganbalance.training.distributed`): ``config.batch_size`` is then the batch of each
    process, an unnumbered CUDA ``device`` means the process's local GPU, and only the main
    process (:attr:`is_main`) writes checkpoints.

    Parameters
    ----------
    generator, discriminator : Generator, Discriminator
    config : TrainConfig
    device : torch.device
    rng : torch.Generator
        The only source of randomness (on the CPU; noise is moved to ``device``).
    """

    def __init__(
        self,
        generator: Generator,
        discriminator: Discriminator,
        config: TrainConfig,
        device: torch.device,
        rng: torch.Generator,
    ):
        if config.aux_weight_g is not None and getattr(discriminator, "cls", None) is None:
            raise ValueError(
                f"`aux_weight_g` ({config.aux_weight_g}) weighs the class loss of an AC-GAN discriminator, and this "
                f"one conditions by {getattr(discriminator, 'conditioning', None)!r}. Use the 'default' preset, or "
                "leave `aux_weight_g` at None."
            )
        if config.augment and generator.arch != "conv":
            raise ValueError(
                f"`augment` ({config.augment!r}) works on images only; this generator makes "
                f"{generator.arch!r} rows. Leave `augment` at None for tabular data."
            )
        self.processes = distributed.torchrun_processes()
        device = distributed.process_device(device, self.processes)
        self.config = config
        self.device = device
        self.rng = rng
        # Per-sample draws (augmentation, dropout masks): the shared `rng` in one process, a stream of
        # each process's own in a distributed run (set when fit starts).
        self.rank_rng = rng
        self.precision = Precision(autocast_dtype(config.precision, device), device)
        self.generator = generator.to(device)
        self.discriminator = discriminator.to(device)
        self.channels_last = uses_channels_last(config.channels_last, device, generator.arch)
        layout = torch.channels_last if self.channels_last else torch.contiguous_format
        if generator.arch == "conv":  # a network handed over from another trainer may be in the other layout
            self.generator.to(memory_format=layout)
            self.discriminator.to(memory_format=layout)
        # What the steps call: DDP-wrapped in a distributed fit, compiled with `config.compile`.
        self._g, self._d, self._d_local = self.generator, self.discriminator, self.discriminator
        self._set_dropout_rng()
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=tuple(config.betas))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=tuple(config.betas))
        self.ema = copy.deepcopy(self.generator).eval() if config.ema_decay else None
        if self.ema is not None:
            self.ema.requires_grad_(False)
        self.step = 0
        self.epoch = 0
        self.history: list[dict] = []
        self.last_epoch = False  # set before callbacks hear of an epoch's end: whether training stops after it

    @property
    def is_main(self) -> bool:
        """Whether this process writes outputs: always in one process, rank 0's in a distributed run."""
        return self.processes is None or self.processes.is_main

    def _set_dropout_rng(self) -> None:
        for m in self.discriminator.modules():
            if isinstance(m, SeededDropout):
                m.rng = self.rank_rng if self.device.type == "cpu" else None

    @property
    def sampling_generator(self) -> Generator:
        """The network to sample from: the EMA copy when there is one."""
        return self.ema if self.ema is not None else self.generator

    # -- one step each -------------------------------------------------------------------------
    def _noise(self, n: int) -> torch.Tensor:
        if self.processes is None:
            return self.generator.noise(n, self.rng).to(self.device)
        # The global batch's noise, from the shared stream; this process's rows match its shard's.
        p = self.processes
        return self.generator.noise(n * p.world_size, self.rng)[p.rank :: p.world_size].to(self.device)

    def _real_input(self, x: torch.Tensor) -> torch.Tensor:
        """Real images resized to the size the networks work at (the paper's 64×64)."""
        size = self.generator.net_size
        if size is not None and list(x.shape[2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
        return x

    def _adversarial_loss(self, logits: torch.Tensor, real: bool, for_generator: bool = False) -> torch.Tensor:
        if self.config.loss == "hinge":
            if for_generator:
                return -logits.mean()
            return F.relu(1 - logits).mean() if real else F.relu(1 + logits).mean()
        return F.softplus(-logits).mean() if real else F.softplus(logits).mean()

    def train_step(self, real: torch.Tensor, labels: torch.Tensor) -> dict:
        """One training step: a D update, then a G update, on one generated batch.

        The batch is generated once, with gradients, and used for both updates (as the DCGAN
        recipe does): a second forward pass of G for the generator update would cost about a
        fifth more time per step for the paper preset, for no measured gain.
        """
        with self.precision.autocast():
            fake = self._g(self._noise(len(labels)), labels)
        for _ in range(self.config.d_steps - 1):  # extra D updates first, each on fresh samples
            self.discriminator_step(real, labels)
        logs = self.discriminator_step(real, labels, fake=fake.detach())
        logs.update(self.generator_step(labels, fake=fake))
        return logs

    def discriminator_step(self, real: torch.Tensor, labels: torch.Tensor, fake: torch.Tensor | None = None) -> dict:
        """One update of D on a real batch and as many generated samples of the same labels.

        ``fake``: generated samples of ``labels`` to use; drawn from G when not given.
        """
        with self.precision.autocast():
            if fake is None:
                with torch.no_grad():
                    fake = self.generator(self._noise(len(labels)), labels)
            fake = fake.detach()
            if self.config.augment:
                real = diff_augment(real, self.config.augment, self.rank_rng)
                fake = diff_augment(fake, self.config.augment, self.rank_rng)
            real_logit, real_cls = self._d(real, labels)
            fake_logit, _ = self._d(fake, labels)
            loss = self._adversarial_loss(real_logit, True) + self._adversarial_loss(fake_logit, False)
            if real_cls is not None:
                loss = loss + self.config.aux_weight * F.cross_entropy(real_cls, labels)
        self.opt_d.zero_grad(set_to_none=True)
        self.precision.step(loss, self.opt_d, "d")
        return {
            "d_loss": loss.item(),
            "d_real": torch.sigmoid(real_logit).mean().item(),
            "d_fake": torch.sigmoid(fake_logit).mean().item(),
        }

    def generator_step(self, labels: torch.Tensor, fake: torch.Tensor | None = None) -> dict:
        """One update of G: make D call its samples of ``labels`` real (and of that class).

        ``fake``: G's samples of ``labels``, still attached to G's graph; drawn when not given.
        """
        with self.precision.autocast():
            if fake is None:
                fake = self._g(self._noise(len(labels)), labels)
            if self.config.augment:
                fake = diff_augment(fake, self.config.augment, self.rank_rng)
            # D itself, not its DDP wrapper: its gradients from this loss are discarded, so not averaged.
            logit, cls = self._d_local(fake, labels)
            loss = self._adversarial_loss(logit, True, for_generator=True)
            if cls is not None:
                weight = self.config.aux_weight if self.config.aux_weight_g is None else self.config.aux_weight_g
                loss = loss + weight * F.cross_entropy(cls, labels)
        self.opt_g.zero_grad(set_to_none=True)
        self.precision.step(loss, self.opt_g, "g")
        self._update_ema()
        return {"g_loss": loss.item()}

    @torch.no_grad()
    def _update_ema(self) -> None:
        if self.ema is None:
            return
        # Warm-up: early on the average follows the weights closely, so the EMA is not stuck
        # near the random initialisation when training is short.
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))
        for e, p in zip(self.ema.parameters(), self.generator.parameters()):
            e.lerp_(p, 1 - decay)
        for e, b in zip(self.ema.buffers(), self.generator.buffers()):
            e.copy_(b)

    # -- the loop ------------------------------------------------------------------------------
    def fit(
        self,
        X: torch.Tensor,
        y: torch.Tensor,
        *,
        epochs: int | None,
        max_time: float | None = None,
        verbose: bool = False,
        checkpoint_dir: str | os.PathLike | None = None,
        checkpoint_every: int = 1,
        on_epoch_end: Callable[["CGANTrainer"], None] | None = None,
        on_divergence: str = "raise",
        callbacks: Sequence[Callback | Callable] = (),
    ) -> "CGANTrainer":
        """Train until ``epochs`` epochs are done in total or ``max_time`` seconds have passed.

        ``epochs=None`` trains until ``max_time`` (which is then required).

        Divergence — a non-finite loss, or an epoch in which the discriminator tells real from
        generated samples perfectly (mean D(real) > 0.99 and D(fake) < 0.01, so the generator
        learns nothing more) — raises :class:`TrainingDivergedError` with
        ``on_divergence="raise"``. With ``"rollback"`` the networks, optimisers and RNG are
        restored from the last checkpoint in ``checkpoint_dir`` (written before the divergence)
        and training stops there with a warning.

        ``X`` holds scaled samples (``[-1, 1]`` images, standardised rows) and ``y`` integer
        labels; both stay on the CPU and batches are moved to the device. A resumed trainer
        (see :meth:`load_checkpoint`) continues from its epoch.

        ``verbose``, ``checkpoint_dir``/``checkpoint_every``, ``on_epoch_end`` and
        ``on_divergence`` set up the :mod:`~cganbalance.training.callbacks` the loop notifies;
        ``callbacks`` adds more (callback objects, or callables run after every epoch).
        """
        if on_divergence not in ("raise", "rollback"):
            raise ValueError(f"`on_divergence` must be 'raise' or 'rollback'. Got {on_divergence!r} instead.")
        if on_divergence == "rollback" and checkpoint_dir is None:
            raise ValueError("`on_divergence='rollback'` needs `checkpoint_dir` to roll back to.")
        if epochs is None and max_time is None:
            raise ValueError("Give `epochs`, `max_time` or both: training needs a budget.")
        listeners = [DivergenceCheck(), ProgressBar(verbose and self.is_main)]
        listeners += [EpochEnd(f) for f in ([on_epoch_end] if on_epoch_end else [])]
        for c in callbacks:
            if not (isinstance(c, Callback) or callable(c)):
                raise TypeError(
                    "`callbacks` must hold cganbalance.training.Callback objects or callables taking the trainer. "
                    f"Got {c!r} ({type(c).__name__}) instead."
                )
        listeners += [c if isinstance(c, Callback) else EpochEnd(c) for c in callbacks]
        if checkpoint_dir is not None:
            listeners.append(Checkpoint(checkpoint_dir, checkpoint_every, rollback=on_divergence == "rollback"))
        with self._distributed():
            self._loop(X, y, epochs, max_time, listeners)
        return self

    def _loop(self, X, y, epochs, max_time, listeners) -> None:
        feed = BatchFeeder(X, y, self.device, self.channels_last)
        batch_size = min(self.config.batch_size, self._shard_size(len(X)))
        steps_per_epoch = math.ceil(self._shard_size(len(X)) / batch_size)
        deadline = None if max_time is None else time.perf_counter() + max_time
        weights = class_sampling_weights(y, self.config.real_sampling)
        self._notify(listeners, "on_train_begin", (epochs - self.epoch) * steps_per_epoch if epochs is not None else None)
        try:
            self.last_epoch = epochs is not None and self.epoch >= epochs
            while not self.last_epoch:
                out_of_time = self.train_epoch(X, y, weights, batch_size, deadline, listeners, feed)
                self.last_epoch = out_of_time or (epochs is not None and self.epoch >= epochs)
                self._notify(listeners, "on_epoch_end")
        except TrainingDivergedError as exc:
            if not self._handled(listeners, exc):
                raise
        finally:
            self._notify(listeners, "on_train_end")
            self.generator.eval()
            self.discriminator.eval()

    def _shard_size(self, n: int) -> int:
        """Samples of an epoch this process trains on."""
        return n if self.processes is None else math.ceil(n / self.processes.world_size)

    @contextmanager
    def _distributed(self):
        """For the time of :meth:`fit`: in a distributed run the process group, shared randomness and
        DDP (:func:`~cganbalance.training.distributed.session`); with ``config.compile``, compiled
        networks; on the CPU, freed activation memory kept for reuse (:func:`~.fast.reuse_freed_memory`)."""
        session = distributed.session(self) if self.processes is not None else nullcontext()
        with session, compiled(self), reuse_freed_memory(self.device):
            yield

    def train_epoch(self, X, y, weights, batch_size: int, deadline: float | None, listeners=(), feed=None) -> bool:
        """One pass over the data in batches (stopping early at ``deadline``); appends the epoch's
        record to :attr:`history` and returns whether the time ran out. ``feed``: a
        :class:`~cganbalance.training.fast.BatchFeeder` of ``X, y`` (made when not given)."""
        feed = feed if feed is not None else BatchFeeder(X, y, self.device, self.channels_last)
        self.generator.train()
        self.discriminator.train()
        order = epoch_order(y, weights, self.rng)
        if self.processes is not None:
            order = shard(order, self.processes.rank, self.processes.world_size)
        sums: dict[str, float] = {}
        start, steps, out_of_time = time.perf_counter(), 0, False
        for idx in order.split(batch_size):
            if len(idx) < 2 and steps:  # a batch of one breaks BatchNorm
                continue
            real, labels = feed(idx)
            logs = self.train_step(self._real_input(real), labels)
            out_of_time = deadline is not None and time.perf_counter() >= deadline
            if self.processes is not None:  # the same logs and decisions in every process
                logs, out_of_time = distributed.average_logs(logs, out_of_time, self.device)
            self.step += 1
            steps += 1
            for k, v in logs.items():
                sums[k] = sums.get(k, 0.0) + v
            self._notify(listeners, "on_step_end", logs)
            if out_of_time:
                break
        self.epoch += 1
        record = {"epoch": self.epoch, "steps": steps, **{k: v / max(steps, 1) for k, v in sums.items()}}
        record["seconds"] = time.perf_counter() - start
        record["complete"] = steps == math.ceil(len(order) / batch_size)
        self.history.append(record)
        return out_of_time

    def _notify(self, listeners, event: str, *args) -> None:
        for listener in listeners:
            getattr(listener, event)(self, *args)

    def _handled(self, listeners, error: TrainingDivergedError) -> bool:
        for listener in listeners:
            if listener.on_divergence(self, error):
                return True
        return False

    # -- checkpoints ---------------------------------------------------------------------------
    def save_checkpoint(self, directory: str | os.PathLike, *, half: bool = False) -> Path:
        """See :func:`cganbalance.training.checkpoint.save_checkpoint`."""
        return save_checkpoint(self, directory, half=half)

    def load_checkpoint(self, directory: str | os.PathLike) -> "CGANTrainer":
        """See :func:`cganbalance.training.checkpoint.load_checkpoint`."""
        return load_checkpoint(self, directory)
