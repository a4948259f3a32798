"""Devices: ``"auto"`` means CUDA, then Apple MPS, then the CPU."""

from __future__ import annotations

import torch

_KINDS = "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"


def resolve_device(device="auto") -> torch.device:
    """``"auto"`` picks CUDA, then Apple MPS, then the CPU; other values are checked.

    Raises
    ------
    ValueError
        For an unknown device string, or a device this machine does not have.
    """
    if isinstance(device, torch.device):
        device = str(device)
    if not isinstance(device, str):
        raise TypeError(f"`device` must be a string such as 'auto', 'cpu' or 'cuda:0'. Got {device!r} instead.")
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps") if _mps_available() else torch.device("cpu")
    try:
        dev = torch.device(device)
    except RuntimeError as exc:
        raise ValueError(f"`device` must be {_KINDS}. Got {device!r} instead.") from exc
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"`device={device!r}` was requested but CUDA is not available on this machine; use 'auto' or 'cpu'.")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(f"`device={device!r}`: this machine has {torch.cuda.device_count()} CUDA device(s).")
    elif dev.type == "mps":
        if not _mps_available():
            raise ValueError(f"`device={device!r}` was requested but MPS is not available on this machine; use 'auto' or 'cpu'.")
    elif dev.type != "cpu":
        raise ValueError(f"`device` must be {_KINDS}. Got {device!r} instead.")
    return dev


def device_available(device) -> bool:
    """Whether this machine has ``device``."""
    try:
        resolve_device(device)
    except ValueError:
        return False
    return True


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()
