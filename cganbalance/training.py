"""The adversarial training loop: one discriminator step, one generator step, a fit loop.

Randomness is local: every random draw (weights, noise, batch order, dropout masks) comes
from one seeded ``torch.Generator``; torch's global RNG is never seeded or read.
"""

from __future__ import annotations

import copy
import json
import math
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from ._utils.devices import resolve_device
from ._utils.progress import progress_bar
from ._utils.random import make_rng
from .nets import Discriminator, Generator, SeededDropout
from .presets import TrainConfig

# resolve_device and make_rng live in cganbalance._utils; they are documented here, beside the trainer that uses them.
__all__ = ["CGANTrainer", "TrainingDivergedError", "make_rng", "resolve_device"]

CHECKPOINT_NAME = "checkpoint.safetensors"


class TrainingDivergedError(RuntimeError):
    """Training diverged: a non-finite loss, or a discriminator that told real from generated samples
    perfectly for a whole epoch (the generator then gets no useful gradient)."""


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


def diff_augment(x: torch.Tensor, policy: str, rng: torch.Generator) -> torch.Tensor:
    """DiffAugment (Zhao et al., 2020): random, differentiable changes of an image batch.

    ``policy`` is a comma-separated list of ``"translation"`` (shift by up to 1/8 of the side,
    zero padding, i.e. mid-grey in [-1, 1]) and ``"cutout"`` (a zero square of half the side
    at a random place). Each image gets its own draw from ``rng`` (a CPU generator). Applied to
    real and generated images alike before the discriminator, so that a discriminator trained
    on little data does not memorise it; gradients flow through to the generator.
    """
    n, _, h, w = x.shape
    for name in policy.split(","):
        name = name.strip()
        if name == "translation":
            sh, sw = int(h * 0.125 + 0.5), int(w * 0.125 + 0.5)
            ty = torch.randint(-sh, sh + 1, (n, 1), generator=rng)
            tx = torch.randint(-sw, sw + 1, (n, 1), generator=rng)
            rows = (torch.arange(h)[None] + ty + sh).to(x.device)  # indices into the padded image
            cols = (torch.arange(w)[None] + tx + sw).to(x.device)
            padded = F.pad(x, [sw, sw, sh, sh])
            batch = torch.arange(n, device=x.device)[:, None, None]
            x = padded.permute(0, 2, 3, 1)[batch, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2)
        elif name == "cutout":
            ch, cw = int(h * 0.5 + 0.5), int(w * 0.5 + 0.5)
            cy = torch.randint(0, h + (1 - ch % 2), (n, 1, 1), generator=rng).to(x.device)
            cx = torch.randint(0, w + (1 - cw % 2), (n, 1, 1), generator=rng).to(x.device)
            ys = torch.arange(h, device=x.device)[None, :, None]
            xs = torch.arange(w, device=x.device)[None, None, :]
            inside = ((ys - cy + ch // 2) >= 0) & ((ys - cy + ch // 2) < ch) & ((xs - cx + cw // 2) >= 0) & ((xs - cx + cw // 2) < cw)
            x = x * (~inside)[:, None].to(x.dtype)
        else:
            raise ValueError(f"Unknown augmentation {name!r}; known: translation, cutout.")
    return x


def class_sampling_weights(y: torch.Tensor, mode: str) -> torch.Tensor | None:
    """Per-sample weights that draw class ``c`` in proportion to ``n_c`` ** alpha.

    ``mode``: ``"uniform"`` (alpha 1: returns None, batches are plain permutations),
    ``"sqrt"`` (alpha 1/2) or ``"balanced"`` (alpha 0: every class equally often).
    """
    if mode == "uniform":
        return None
    alpha = {"sqrt": 0.5, "balanced": 0.0}[mode]
    y = y.cpu()  # drawn with the trainer's CPU generator
    counts = torch.bincount(y).double()
    share = torch.where(counts > 0, counts**alpha, torch.zeros_like(counts))
    share = share / share.sum()
    per_sample = share / counts.clamp(min=1)
    return per_sample[y]


#: torch.multinomial takes at most 2**24 categories.
_MULTINOMIAL_MAX = 2**24


def _weighted_draws(weights: torch.Tensor, n: int, y: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """``n`` sample indices drawn with replacement in proportion to ``weights``."""
    if len(weights) <= _MULTINOMIAL_MAX:
        return torch.multinomial(weights, n, replacement=True, generator=rng)
    # More rows than multinomial takes: a class by its total weight, then a row of it uniformly
    # (class_sampling_weights gives every row of a class the same weight).
    y = y.cpu()
    classes = torch.unique(y)
    shares = torch.stack([weights[y == c].sum() for c in classes])
    drawn = classes[torch.multinomial(shares, n, replacement=True, generator=rng)]
    order = torch.empty(n, dtype=torch.long)
    for c in classes:
        slots = torch.nonzero(drawn == c).flatten()
        members = torch.nonzero(y == c).flatten()
        order[slots] = members[torch.randint(len(members), (len(slots),), generator=rng)]
    return order


def _half(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` at half precision for a compact checkpoint (see ``CGANTrainer.save_checkpoint``)."""
    if tensor.dtype != torch.float32 or name.endswith(".step"):  # integers, the RNG state, Adam's step counts
        return tensor
    return tensor.to(torch.bfloat16 if name.endswith(".exp_avg_sq") else torch.float16)


class CGANTrainer:
    """Owns the networks, optimisers and EMA, and trains them on scaled tensors.

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
        self.config = config
        self.device = device
        self.rng = rng
        self.generator = generator.to(device)
        self.discriminator = discriminator.to(device)
        for m in self.discriminator.modules():
            if isinstance(m, SeededDropout):
                m.rng = rng if device.type == "cpu" else None
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=tuple(config.betas))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=tuple(config.betas))
        self.ema = copy.deepcopy(self.generator).eval() if config.ema_decay else None
        if self.ema is not None:
            self.ema.requires_grad_(False)
        self.step = 0
        self.epoch = 0
        self.history: list[dict] = []

    @property
    def sampling_generator(self) -> Generator:
        """The network to sample from: the EMA copy when there is one."""
        return self.ema if self.ema is not None else self.generator

    # -- one step each -------------------------------------------------------------------------
    def _noise(self, n: int) -> torch.Tensor:
        return torch.randn(n, self.generator.latent_dim, generator=self.rng).to(self.device)

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
        fake = self.generator(self._noise(len(labels)), labels)
        logs = self.discriminator_step(real, labels, fake=fake.detach())
        logs.update(self.generator_step(labels, fake=fake))
        return logs

    def discriminator_step(self, real: torch.Tensor, labels: torch.Tensor, fake: torch.Tensor | None = None) -> dict:
        """One update of D on a real batch and as many generated samples of the same labels.

        ``fake``: generated samples of ``labels`` to use; drawn from G when not given.
        """
        if fake is None:
            with torch.no_grad():
                fake = self.generator(self._noise(len(labels)), labels)
        fake = fake.detach()
        if self.config.augment:
            real = diff_augment(real, self.config.augment, self.rng)
            fake = diff_augment(fake, self.config.augment, self.rng)
        real_logit, real_cls = self.discriminator(real, labels)
        fake_logit, _ = self.discriminator(fake, labels)
        loss = self._adversarial_loss(real_logit, True) + self._adversarial_loss(fake_logit, False)
        if real_cls is not None:
            loss = loss + self.config.aux_weight * F.cross_entropy(real_cls, labels)
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return {
            "d_loss": loss.item(),
            "d_real": torch.sigmoid(real_logit).mean().item(),
            "d_fake": torch.sigmoid(fake_logit).mean().item(),
        }

    def generator_step(self, labels: torch.Tensor, fake: torch.Tensor | None = None) -> dict:
        """One update of G: make D call its samples of ``labels`` real (and of that class).

        ``fake``: G's samples of ``labels``, still attached to G's graph; drawn when not given.
        """
        if fake is None:
            fake = self.generator(self._noise(len(labels)), labels)
        if self.config.augment:
            fake = diff_augment(fake, self.config.augment, self.rng)
        logit, cls = self.discriminator(fake, labels)
        loss = self._adversarial_loss(logit, True, for_generator=True)
        if cls is not None:
            weight = self.config.aux_weight if self.config.aux_weight_g is None else self.config.aux_weight_g
            loss = loss + weight * F.cross_entropy(cls, labels)
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
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
        """
        if on_divergence not in ("raise", "rollback"):
            raise ValueError(f"`on_divergence` must be 'raise' or 'rollback'. Got {on_divergence!r} instead.")
        if on_divergence == "rollback" and checkpoint_dir is None:
            raise ValueError("`on_divergence='rollback'` needs `checkpoint_dir` to roll back to.")
        if epochs is None and max_time is None:
            raise ValueError("Give `epochs`, `max_time` or both: training needs a budget.")
        batch_size = min(self.config.batch_size, len(X))
        steps_per_epoch = math.ceil(len(X) / batch_size)
        start = time.perf_counter()
        self.generator.train()
        self.discriminator.train()
        bar = progress_bar(
            total=(epochs - self.epoch) * steps_per_epoch if epochs is not None else None,
            disable=not verbose,
            desc="cGAN training",
            unit="step",
            dynamic_ncols=True,
        )
        try:
            self._loop(X, y, epochs, max_time, start, batch_size, steps_per_epoch, bar, verbose,
                       checkpoint_dir, checkpoint_every, on_epoch_end)
        except TrainingDivergedError as exc:
            if on_divergence == "raise" or not (Path(checkpoint_dir) / CHECKPOINT_NAME).is_file():
                raise
            import warnings

            self.load_checkpoint(checkpoint_dir)
            warnings.warn(f"{exc} Rolled back to the checkpoint of epoch {self.epoch} and stopped.", RuntimeWarning, stacklevel=2)
        finally:
            bar.close()
            self.generator.eval()
            self.discriminator.eval()
        return self

    def _loop(self, X, y, epochs, max_time, start, batch_size, steps_per_epoch, bar, verbose,
              checkpoint_dir, checkpoint_every, on_epoch_end) -> None:
        """The epoch loop of :meth:`fit` (which validates the arguments and handles divergence)."""
        n = len(X)
        weights = class_sampling_weights(y, self.config.real_sampling)
        out_of_time = False
        while (epochs is None or self.epoch < epochs) and not out_of_time:
            if weights is None:
                order = torch.randperm(n, generator=self.rng)
            else:  # an epoch is still n draws; rare classes are drawn (with replacement) more often
                order = _weighted_draws(weights, n, y, self.rng)
            sums: dict[str, float] = {}
            epoch_start = time.perf_counter()
            steps = 0
            for i in range(steps_per_epoch):
                idx = order[i * batch_size : (i + 1) * batch_size]
                if len(idx) < 2 and steps:  # a batch of one breaks BatchNorm
                    continue
                real = self._real_input(X[idx].to(self.device, non_blocking=True))
                labels = y[idx].to(self.device)
                logs = self.train_step(real, labels)
                if not all(math.isfinite(v) for v in logs.values()):
                    raise TrainingDivergedError(
                        f"Training diverged at epoch {self.epoch + 1}, step {self.step + 1}: losses {logs}. "
                        "Lower the learning rates, or resume from an earlier checkpoint."
                    )
                self.step += 1
                steps += 1
                for k, v in logs.items():
                    sums[k] = sums.get(k, 0.0) + v
                if verbose:  # no refresh of its own: the bar redraws at its own pace (rarely in logs)
                    postfix = {"epoch": self.epoch + 1, "D": f"{logs['d_loss']:.3f}", "G": f"{logs['g_loss']:.3f}"}
                    bar.set_postfix(postfix, refresh=False)
                bar.update(1)
                if max_time is not None and time.perf_counter() - start >= max_time:
                    out_of_time = True
                    break
            self.epoch += 1
            record = {"epoch": self.epoch, "steps": steps}
            record.update({k: v / max(steps, 1) for k, v in sums.items()})
            record["seconds"] = time.perf_counter() - epoch_start
            record["complete"] = steps == steps_per_epoch
            if record.get("d_real", 0.5) > 0.99 and record.get("d_fake", 0.5) < 0.01:
                raise TrainingDivergedError(
                    f"The discriminator collapsed in epoch {self.epoch}: it tells real from generated samples "
                    f"perfectly (mean D(real)={record['d_real']:.4f}, D(fake)={record['d_fake']:.4f}), so the "
                    "generator no longer learns. Lower the discriminator's learning rate or resume from an "
                    "earlier checkpoint."
                )
            self.history.append(record)
            if on_epoch_end is not None:
                on_epoch_end(self)
            if checkpoint_dir is not None and (self.epoch % checkpoint_every == 0 or out_of_time or self.epoch == epochs):
                self.save_checkpoint(checkpoint_dir)

    # -- checkpoints ---------------------------------------------------------------------------
    def _state_tensors(self) -> tuple[dict[str, torch.Tensor], dict]:
        tensors: dict[str, torch.Tensor] = {}
        meta: dict = {"epoch": self.epoch, "step": self.step, "history": self.history, "config": self.config.to_dict()}
        nets = {"g": self.generator, "d": self.discriminator}
        if self.ema is not None:
            nets["ema"] = self.ema
        for prefix, net in nets.items():
            for k, v in net.state_dict().items():
                tensors[f"{prefix}.{k}"] = v.detach().cpu().contiguous()
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            state = opt.state_dict()
            meta[prefix] = state["param_groups"]
            for pid, pstate in state["state"].items():
                for k, v in pstate.items():
                    tensors[f"{prefix}.{pid}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
        tensors["rng"] = self.rng.get_state()
        return tensors, meta

    def save_checkpoint(self, directory: str | os.PathLike, *, half: bool = False) -> Path:
        """Write everything needed to resume into ``directory/checkpoint.safetensors``.

        The file is written to a temporary name and renamed, so a crash never leaves a
        half-written checkpoint behind. ``half=True`` stores it at half the size, small enough
        to keep under version control: weights and first moments as float16, Adam's second
        moments as bfloat16 (float16 would flush their small values to zero, and a zero
        second moment turns into a huge step). Loading casts everything back to float32.
        """
        from safetensors.torch import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        tensors, meta = self._state_tensors()
        if half:
            tensors = {k: _half(k, v) for k, v in tensors.items()}
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=".checkpoint-", suffix=".tmp")
        os.close(fd)
        try:
            save_file(tensors, tmp, metadata={"cganbalance": json.dumps(meta)})
            os.replace(tmp, directory / CHECKPOINT_NAME)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return directory / CHECKPOINT_NAME

    def load_checkpoint(self, directory: str | os.PathLike) -> "CGANTrainer":
        """Restore networks, EMA, optimisers, RNG, epoch and history from :meth:`save_checkpoint`."""
        from safetensors import safe_open

        path = Path(directory) / CHECKPOINT_NAME
        if not path.is_file():
            raise FileNotFoundError(f"No checkpoint at {str(path)!r}.")
        try:
            with safe_open(str(path), framework="pt") as f:
                meta = json.loads(f.metadata()["cganbalance"])
                tensors = {k: f.get_tensor(k) for k in f.keys()}
        except Exception as exc:  # safetensors raises several types for damaged files
            raise ValueError(f"The checkpoint {str(path)!r} is damaged or not a cganbalance checkpoint: {exc}") from exc
        nets = {"g": self.generator, "d": self.discriminator}
        if self.ema is not None:
            nets["ema"] = self.ema
        for prefix, net in nets.items():
            state = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
            try:
                net.load_state_dict(state, strict=True)
            except RuntimeError as exc:
                raise ValueError(
                    f"The checkpoint {str(path)!r} does not match this architecture ({prefix}): {exc}"
                ) from exc
        for prefix, opt in (("opt_g", self.opt_g), ("opt_d", self.opt_d)):
            state: dict = {"param_groups": meta[prefix], "state": {}}
            for k, v in tensors.items():
                parts = k.split(".")
                if parts[0] == prefix:
                    state["state"].setdefault(int(parts[1]), {})[parts[2]] = v.to(self.device) if parts[2] != "step" else v
            opt.load_state_dict(state)
        self.rng.set_state(tensors["rng"])
        # Settings a checkpoint does not record are ones added since it was written: it used their defaults.
        stored = {**json.loads(json.dumps(TrainConfig().to_dict())), **meta.get("config", {})}
        changed = {k: (stored[k], v) for k, v in json.loads(json.dumps(self.config.to_dict())).items() if stored[k] != v}
        if changed:
            import warnings

            warnings.warn(
                "Resuming with training settings that differ from the checkpoint's: "
                + ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items())
                + f" (from epoch {int(meta['epoch']) + 1} on).",
                UserWarning,
                stacklevel=2,
            )
        self.epoch = int(meta["epoch"])
        self.step = int(meta["step"])
        self.history = list(meta["history"])
        return self
