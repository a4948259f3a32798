"""Distributed training under ``torchrun``: the process group, DDP, synced batch norm, shared randomness.

Launching processes is the launcher's job (``torchrun``, or Slurm/Kubernetes starting it): it sets
``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in every process.
When they say there is more than one process, :class:`~cganbalance.training.CGANTrainer`
trains with DistributedDataParallel; with one process (or none of them set) it trains exactly as
before. During :meth:`~cganbalance.training.CGANTrainer.fit` the trainer

- initialises the process group if nobody has (NCCL on CUDA, gloo otherwise), for the rest of
  the process: it is destroyed when the process exits (a later ``fit`` in the same process uses
  it again; initialising a group a second time in a process launched by torchrun can hang);
- makes every process agree on the shared random stream (rank 0's): the epoch's order of
  samples and the generator's noise are drawn from it, for the whole global batch, and each
  process takes its own rows (so a run on N processes with ``batch_size`` b computes the steps
  a single process computes with ``batch_size`` N·b, up to float rounding, when augmentation
  and dropout are off: those draw per sample, from a stream of each process's own);
- replaces batch norm with a synced batch norm (statistics of the global batch);
- wraps generator and discriminator in DDP (gradients averaged over the processes), so weights,
  and with them the weight average (EMA), stay identical in every process;
- averages each step's losses over the processes, so every process sees the same logs and
  takes the same decisions (divergence, time limit, early stops).
"""

from __future__ import annotations

import atexit
import inspect
import os
from contextlib import contextmanager
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from .._utils.random import rng_for

__all__ = ["Processes", "is_main_process", "torchrun_processes"]

#: What torchrun sets in every process it starts.
TORCHRUN_VARIABLES = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


@dataclass(frozen=True)
class Processes:
    """This process's place among the processes of a distributed run."""

    rank: int
    world_size: int
    local_rank: int

    @property
    def is_main(self) -> bool:
        """Whether this process writes the outputs (checkpoints, pictures, the generator)."""
        return self.rank == 0


def torchrun_processes(environ=None) -> Processes | None:
    """The distributed run this process belongs to, from torchrun's environment variables.

    None when they are not all set or when they say there is only one process: a single process
    trains exactly as without torchrun.
    """
    env = os.environ if environ is None else environ
    if not all(name in env for name in TORCHRUN_VARIABLES):
        return None
    try:
        rank, world_size, local_rank = (int(env[name]) for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError:
        raise ValueError(
            "RANK, WORLD_SIZE and LOCAL_RANK must be whole numbers (torchrun sets them). Got "
            f"{env['RANK']!r}, {env['WORLD_SIZE']!r}, {env['LOCAL_RANK']!r} instead."
        ) from None
    if world_size < 2:
        return None
    if not 0 <= rank < world_size:
        raise ValueError(f"RANK must be in [0, WORLD_SIZE={world_size}). Got {rank} instead.")
    return Processes(rank, world_size, local_rank)


def is_main_process() -> bool:
    """Whether this process writes outputs: True outside a distributed run, else rank 0 only."""
    processes = torchrun_processes()
    return processes is None or processes.is_main


def process_device(device: torch.device, processes: Processes | None) -> torch.device:
    """The device of this process: an unnumbered CUDA device means the process's local GPU."""
    if processes is not None and device.type == "cuda" and device.index is None:
        return torch.device("cuda", processes.local_rank)
    return device


def init_process_group(device: torch.device) -> None:
    """Initialise the default process group unless one exists; it is destroyed when the process exits."""
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if dist.is_initialized():
        return
    dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    atexit.register(_destroy_process_group)


def _destroy_process_group() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def agree_on_rng(rng: torch.Generator) -> None:
    """Set ``rng`` to rank 0's state in every process (seeds drawn from OS entropy differ)."""
    state = [rng.get_state()]
    dist.broadcast_object_list(state, src=0)
    rng.set_state(state[0])


def rank_rng(rng: torch.Generator, rank: int) -> torch.Generator:
    """A stream of this process's own, derived from the shared ``rng`` without advancing it."""
    copy = torch.Generator()
    copy.set_state(rng.get_state())
    return rng_for(int(torch.randint(0, 2**62, (1,), generator=copy)), rank)


def gather_rng_states(rng: torch.Generator) -> list[torch.Tensor]:
    """Every process's state of its own stream ``rng``, in rank order (for a checkpoint)."""
    states: list = [None] * dist.get_world_size()
    dist.all_gather_object(states, rng.get_state())
    return states


def average_logs(logs: dict, flag: bool, device: torch.device) -> tuple[dict, bool]:
    """``logs`` averaged over the processes, and whether ``flag`` is set in any of them."""
    values = torch.tensor([*logs.values(), float(flag)], dtype=torch.float64, device=device)
    dist.all_reduce(values)
    values = (values / dist.get_world_size()).tolist()
    return dict(zip(logs, values[:-1])), values[-1] > 0


@contextmanager
def session(trainer):
    """``trainer`` set up for a distributed fit, and back as it was afterwards.

    The process group (unless one exists), rank 0's shared
    random stream in every process, each process's own stream (restored from a checkpoint of as
    many processes, else derived from the shared one), and the networks in DDP with synced batch norm.
    """
    p = trainer.processes
    init_process_group(trainer.device)
    try:
        agree_on_rng(trainer.rng)
        states = getattr(trainer, "_rank_rng_states", None)
        trainer.rank_rng = rank_rng(trainer.rng, p.rank)
        if states is not None and len(states) == p.world_size:
            trainer.rank_rng.set_state(states[p.rank])
        trainer._set_dropout_rng()
        trainer._g = wrap(trainer.generator, trainer.device)
        trainer._d = wrap(trainer.discriminator, trainer.device)
        yield
    finally:
        trainer._g, trainer._d = unwrap(trainer._g), unwrap(trainer._d)


def wrap(module: nn.Module, device: torch.device) -> nn.Module:
    """``module`` with synced batch norm, in DistributedDataParallel."""
    from torch.nn.parallel import DistributedDataParallel

    _swap_batchnorm(module, lambda bn: _synced(bn, device))
    # Buffers (batch-norm statistics, spectral-norm vectors drawn when the network was built, maybe
    # from each process's own seed) start as rank 0's, then are not broadcast again before every
    # forward pass: batch-norm statistics come from the synced global batch and spectral-norm
    # vectors from identical weights, so every process keeps the same ones (the distributed tests
    # compare them after every step), and each broadcast is one more point where processes wait.
    if "forward_sync_buffers" in inspect.signature(DistributedDataParallel).parameters:
        no_forward_sync = {"forward_sync_buffers": False}  # DDP still copies rank 0's buffers at start-up
    else:  # older torch: broadcast_buffers=False skips the start-up copy too
        for buffer in module.buffers():
            dist.broadcast(buffer, 0)
        no_forward_sync = {"broadcast_buffers": False}
    return DistributedDataParallel(module, device_ids=[device] if device.type == "cuda" else None, **no_forward_sync)


def unwrap(module: nn.Module) -> nn.Module:
    """The network inside :func:`wrap`'s result, with its batch norm layers as they were."""
    module = getattr(module, "module", module)
    _swap_batchnorm(module, _unsynced)
    return module


class SyncedBatchNorm(nn.modules.batchnorm._BatchNorm):
    """Batch norm whose training statistics are those of the global batch, on any device.

    torch's ``SyncBatchNorm`` takes GPU tensors only; this one all-reduces per-channel sums and
    sums of squares (with gradients), so it also works with gloo on the CPU. Outside training,
    or outside a process group, it is a plain batch norm.
    """

    def _check_input_dim(self, x):
        if x.dim() < 2:
            raise ValueError(f"Batch norm takes 2-D or larger input. Got {x.dim()}-D instead.")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        self._check_input_dim(x)
        dims = [0, *range(2, x.dim())]
        c = x.shape[1]
        local = torch.cat([x.sum(dims), (x * x).sum(dims), x.new_full((1,), x.numel() / c)])
        total = _SumOverProcesses.apply(local)
        n = total[-1]
        mean = total[:c] / n
        var = (total[c : 2 * c] / n - mean * mean).clamp(min=0)
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                m = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.lerp_(mean.detach(), m)
                self.running_var.lerp_(var.detach() * n / (n - 1).clamp(min=1), m)
        shape = [1, c] + [1] * (x.dim() - 2)
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        return y * self.weight.view(shape) + self.bias.view(shape) if self.affine else y


class _SumOverProcesses(torch.autograd.Function):
    """The sum of a tensor over the processes; its gradient is the sum of the processes' gradients."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, grad):
        grad = grad.clone()
        dist.all_reduce(grad)
        return grad


_BATCHNORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def _synced(bn: nn.Module, device: torch.device) -> nn.Module | None:
    if not isinstance(bn, _BATCHNORMS):
        return None
    kind = nn.SyncBatchNorm if device.type == "cuda" else SyncedBatchNorm
    return _moved(bn, kind, original=type(bn))


def _unsynced(bn: nn.Module) -> nn.Module | None:
    original = getattr(bn, "_unsynced_class", None)
    return None if original is None else _moved(bn, original)


def _moved(bn, kind, original=None) -> nn.Module:
    """A ``kind`` batch norm holding ``bn``'s own parameters and buffers (the optimiser's references stay valid)."""
    with torch.random.fork_rng(devices=[]):  # constructors must not touch the caller's global RNG
        new = kind(bn.num_features, bn.eps, bn.momentum, bn.affine, bn.track_running_stats)
    for name in ("weight", "bias"):
        setattr(new, name, getattr(bn, name))
    for name in ("running_mean", "running_var", "num_batches_tracked"):
        setattr(new, name, getattr(bn, name))
    new.train(bn.training)
    if original is not None:
        new._unsynced_class = original
    return new


def _swap_batchnorm(module: nn.Module, replace) -> None:
    for name, child in module.named_children():
        new = replace(child)
        if new is None:
            _swap_batchnorm(child, replace)
        else:
            module.add_module(name, new)
