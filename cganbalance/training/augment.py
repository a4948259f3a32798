"""Differentiable augmentation of the discriminator's inputs (DiffAugment)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["diff_augment"]


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
