"""Checkpoints: everything needed to resume training, in one safetensors file written atomically.

Networks, weight average, optimiser states, the random state, epoch, step, history and the
training settings. Never a pickle. In a distributed run every process takes part (each one's own
random stream is gathered) and the main process writes.
"""

from __future__ import annotations

import json
import os
import tempfile
import warnings
from pathlib import Path

import torch

from . import distributed
from .presets import TrainConfig

__all__ = ["CHECKPOINT_NAME", "load_checkpoint", "save_checkpoint"]

CHECKPOINT_NAME = "checkpoint.safetensors"


def _half(name: str, tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` at half precision for a compact checkpoint (see :func:`save_checkpoint`)."""
    if tensor.dtype != torch.float32 or name.endswith(".step"):  # integers, the RNG state, Adam's step counts
        return tensor
    return tensor.to(torch.bfloat16 if name.endswith(".exp_avg_sq") else torch.float16)


def _state_tensors(trainer) -> tuple[dict[str, torch.Tensor], dict]:
    tensors: dict[str, torch.Tensor] = {}
    meta: dict = {"epoch": trainer.epoch, "step": trainer.step, "history": trainer.history, "config": trainer.config.to_dict()}
    nets = {"g": trainer.generator, "d": trainer.discriminator}
    if trainer.ema is not None:
        nets["ema"] = trainer.ema
    for prefix, net in nets.items():
        for k, v in net.state_dict().items():
            tensors[f"{prefix}.{k}"] = v.detach().cpu().contiguous()
    for prefix, opt in (("opt_g", trainer.opt_g), ("opt_d", trainer.opt_d)):
        state = opt.state_dict()
        meta[prefix] = state["param_groups"]
        for pid, pstate in state["state"].items():
            for k, v in pstate.items():
                tensors[f"{prefix}.{pid}.{k}"] = torch.as_tensor(v).detach().cpu().contiguous()
    tensors["rng"] = trainer.rng.get_state()
    meta["grad_scalers"] = {k: scaler.state_dict() for k, scaler in trainer.precision.scalers.items()}
    if trainer.rank_rng is not trainer.rng and distributed.dist.is_initialized():  # a distributed fit
        states = distributed.gather_rng_states(trainer.rank_rng)
        tensors.update({f"rank_rng.{r}": state for r, state in enumerate(states)})
        meta["world_size"] = len(states)
    return tensors, meta


def save_checkpoint(trainer, directory: str | os.PathLike, *, half: bool = False) -> Path:
    """Write everything needed to resume ``trainer`` into ``directory/checkpoint.safetensors``.

    The file is written to a temporary name and renamed, so a crash never leaves a
    half-written checkpoint behind. ``half=True`` stores it at half the size, small enough
    to keep under version control: weights and first moments as float16, Adam's second
    moments as bfloat16 (float16 would flush their small values to zero, and a zero
    second moment turns into a huge step). Loading casts everything back to float32.
    """
    directory = Path(directory)
    tensors, meta = _state_tensors(trainer)
    if trainer.is_main:
        _write(tensors if not half else {k: _half(k, v) for k, v in tensors.items()}, meta, directory)
    if "world_size" in meta:  # a distributed run: the file exists for every process once this returns
        distributed.dist.barrier()
    return directory / CHECKPOINT_NAME


def _write(tensors: dict, meta: dict, directory: Path) -> None:
    from safetensors.torch import save_file

    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".checkpoint-", suffix=".tmp")
    os.close(fd)
    try:
        save_file(tensors, tmp, metadata={"cganbalance": json.dumps(meta)})
        os.replace(tmp, directory / CHECKPOINT_NAME)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load_checkpoint(trainer, directory: str | os.PathLike):
    """Restore ``trainer``'s networks, EMA, optimisers, RNG, epoch and history from :func:`save_checkpoint`."""
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
    nets = {"g": trainer.generator, "d": trainer.discriminator}
    if trainer.ema is not None:
        nets["ema"] = trainer.ema
    for prefix, net in nets.items():
        state = {k[len(prefix) + 1 :]: v for k, v in tensors.items() if k.startswith(prefix + ".")}
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ValueError(
                f"The checkpoint {str(path)!r} does not match this architecture ({prefix}): {exc}"
            ) from exc
    for prefix, opt in (("opt_g", trainer.opt_g), ("opt_d", trainer.opt_d)):
        state: dict = {"param_groups": meta[prefix], "state": {}}
        for k, v in tensors.items():
            parts = k.split(".")
            if parts[0] == prefix:
                state["state"].setdefault(int(parts[1]), {})[parts[2]] = v.to(trainer.device) if parts[2] != "step" else v
        opt.load_state_dict(state)
    trainer.rng.set_state(tensors["rng"])
    for k, state in meta.get("grad_scalers", {}).items():  # fp16 training's loss scales
        if k in trainer.precision.scalers:
            trainer.precision.scalers[k].load_state_dict(state)
    # Each process's own stream: restored when as many processes resume (else derived afresh).
    states = [tensors[f"rank_rng.{r}"] for r in range(int(meta.get("world_size", 0)))]
    trainer._rank_rng_states = states or None
    if trainer.processes is not None and trainer.rank_rng is not trainer.rng and len(states) == trainer.processes.world_size:
        trainer.rank_rng.set_state(states[trainer.processes.rank])
    # Settings a checkpoint does not record are ones added since it was written: it used their defaults.
    # Memory layout and compilation change how fast a step runs, not what it computes: not reported.
    stored = {**json.loads(json.dumps(TrainConfig().to_dict())), **meta.get("config", {})}
    changed = {k: (stored[k], v) for k, v in json.loads(json.dumps(trainer.config.to_dict())).items()
               if stored[k] != v and k not in ("channels_last", "compile")}
    if changed:
        warnings.warn(
            "Resuming with training settings that differ from the checkpoint's: "
            + ", ".join(f"{k} {old!r} -> {new!r}" for k, (old, new) in changed.items())
            + f" (from epoch {int(meta['epoch']) + 1} on).",
            UserWarning,
            stacklevel=3,
        )
    trainer.epoch = int(meta["epoch"])
    trainer.step = int(meta["step"])
    trainer.history = list(meta["history"])
    return trainer
