"""The fast path: batches without host round trips, mixed precision, memory layout, host memory
reuse and opt-in compilation.

- :class:`BatchFeeder`: on CUDA the data set lives on the GPU when it takes at most a quarter of
  the free memory; otherwise each batch is gathered into pinned host memory and copied without
  blocking. On other devices batches are indexed and moved (in channels_last when training uses it).
- :func:`autocast_dtype`: ``precision="auto"`` is bf16 on GPUs that support it, fp16 (with a
  gradient scaler) on older ones, and fp32 elsewhere: on the CPU reduced precision is slower.
- :func:`uses_channels_last`: ``channels_last="auto"`` is on for convolutional networks on the
  CPU, where oneDNN's convolutions run faster on NHWC tensors (the default preset's training step
  took 0.84-0.87 of the time, ``benchmarks/throughput.py``), and off on other devices, where it
  has not been measured.
- :func:`reuse_freed_memory`: on the CPU under glibc, freed activation buffers are kept for the
  next step instead of being returned to the system and faulted in again.
- ``compile`` (see :class:`~cganbalance.training.presets.TrainConfig`) is off unless asked for: on
  the CPU it made the default preset's step slower, and on GPUs it has not been measured.
"""

from __future__ import annotations

import ctypes
import os
import platform
from contextlib import contextmanager, nullcontext

import torch

__all__ = ["BatchFeeder", "PRECISIONS", "autocast_dtype", "compiled", "reuse_freed_memory", "uses_channels_last"]

#: Values of ``TrainConfig.precision``.
PRECISIONS = ("auto", "fp32", "bf16", "fp16")

#: Largest share of the GPU's free memory the data set may take to be kept on it.
RESIDENT_SHARE = 0.25


def autocast_dtype(precision: str, device: torch.device) -> torch.dtype | None:
    """The dtype to autocast the forward passes to, or None for plain fp32."""
    if precision not in PRECISIONS:
        raise ValueError(f"`precision` must be one of {list(PRECISIONS)}. Got {precision!r} instead.")
    if precision == "fp32" or (precision == "auto" and device.type != "cuda"):
        return None
    if device.type != "cuda":
        raise ValueError(
            f"`precision={precision!r}` is for CUDA devices; this trainer runs on {device.type!r}, where reduced "
            "precision is slower. Use 'auto' or 'fp32'."
        )
    if precision == "auto":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.bfloat16 if precision == "bf16" else torch.float16


def uses_channels_last(setting: bool | str, device: torch.device, arch: str) -> bool:
    """Whether to train in the channels_last layout: ``setting`` itself, or for ``"auto"`` whether
    the networks are convolutional (``arch == "conv"``) and run on the CPU."""
    if setting == "auto":
        return arch == "conv" and device.type == "cpu"
    return bool(setting) and arch == "conv"


# glibc's mallopt parameters, and the values glibc starts with.
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_GLIBC_DEFAULT = 128 * 1024
#: Largest mmap threshold glibc accepts on 64-bit systems: blocks below it come from the heap.
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024
_KEEP_FREED = 1 << 30
_USER_MALLOC_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "GLIBC_TUNABLES")


def _glibc():
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


@contextmanager
def reuse_freed_memory(device: torch.device):
    """On the CPU under glibc, for the time of the block: activation buffers (up to 32 MiB each) come
    from the heap and freed ones stay there for the next step.

    By default glibc maps large blocks afresh and returns freed memory to the system, so every
    training step pays page faults on megabytes of activations (about 3-5% of the default preset's
    step on 2 cores). Afterwards memory is given back (``malloc_trim``) and the thresholds are set to
    glibc's starting values (128 KiB; glibc no longer adjusts them by itself once set). Nothing
    changes on other devices, with other C libraries, or where the user set glibc's malloc tunables
    (``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TRIM_THRESHOLD_``, ``GLIBC_TUNABLES``). Process-wide: two
    fits running at once in threads share the settings, and the first to end restores them.
    """
    libc = _glibc() if device.type == "cpu" else None
    if libc is None or any(k in os.environ for k in _USER_MALLOC_SETTINGS):  # the user's own settings win
        yield
        return
    libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX)
    libc.mallopt(_M_TRIM_THRESHOLD, _KEEP_FREED)
    try:
        yield
    finally:
        libc.mallopt(_M_TRIM_THRESHOLD, _GLIBC_DEFAULT)
        libc.mallopt(_M_MMAP_THRESHOLD, _GLIBC_DEFAULT)
        libc.malloc_trim(0)


class Precision:
    """Autocast and, for fp16, one gradient scaler per optimiser."""

    def __init__(self, dtype: torch.dtype | None, device: torch.device):
        self.dtype, self.device = dtype, device
        fp16 = dtype == torch.float16
        self.scalers = {"g": torch.amp.GradScaler("cuda"), "d": torch.amp.GradScaler("cuda")} if fp16 else {}

    def autocast(self):
        if self.dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    def step(self, loss: torch.Tensor, optimizer: torch.optim.Optimizer, which: str) -> None:
        """``loss.backward()`` and an optimiser step (scaled for fp16)."""
        scaler = self.scalers.get(which)
        if scaler is None:
            loss.backward()
            optimizer.step()
            return
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()


@contextmanager
def compiled(trainer):
    """With ``trainer.config.compile``, the networks its steps call compiled by ``torch.compile``
    (after any DDP wrapping) for the time of the block."""
    if not trainer.config.compile:
        yield
        return
    plain = trainer._g, trainer._d, trainer._d_local
    trainer._g, trainer._d, trainer._d_local = (torch.compile(m) for m in plain)
    try:
        yield
    finally:
        trainer._g, trainer._d, trainer._d_local = plain


class BatchFeeder:
    """Gives each step its batch on ``device`` from samples ``X`` and labels ``y`` kept on the CPU."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor, device: torch.device, channels_last: bool = False,
                 resident_share: float = RESIDENT_SHARE):
        self.device = device
        self.channels_last = channels_last and X.dim() == 4
        self.resident = device.type == "cuda" and _fits(X, device, resident_share)
        self.X, self.y = (X.to(device), y.to(device)) if self.resident else (X, y)
        self._pinned = None
        if device.type == "cuda" and not self.resident:
            self._pinned = [None, None]
            self._turn = 0

    def __call__(self, idx: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.resident:
            idx = idx.to(self.device)
            x, y = self.X[idx], self.y[idx]
        elif self._pinned is not None:
            x, y = self._gather_pinned(idx)
        else:
            x, y = self.X[idx].to(self.device, non_blocking=True), self.y[idx].to(self.device)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        return x, y

    def _gather_pinned(self, idx):
        """The batch gathered into one of two pinned buffers (the other may still be copying) and sent ahead."""
        shape = (len(idx), *self.X.shape[1:])
        buffer = self._pinned[self._turn]
        if buffer is None or buffer.shape[0] < len(idx):
            buffer = self._pinned[self._turn] = torch.empty((max(len(idx), 1), *self.X.shape[1:]),
                                                            dtype=self.X.dtype).pin_memory()
        self._turn = 1 - self._turn
        out = buffer[: len(idx)]
        torch.index_select(self.X, 0, idx, out=out)
        x = out.view(shape).to(self.device, non_blocking=True)
        return x, self.y[idx].to(self.device, non_blocking=True)


def _fits(X: torch.Tensor, device: torch.device, share: float) -> bool:
    free, _ = torch.cuda.mem_get_info(device)
    return X.numel() * X.element_size() <= share * free
