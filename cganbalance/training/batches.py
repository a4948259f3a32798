"""Which real samples each epoch's batches hold (uniform, square-root or balanced class frequencies)."""

from __future__ import annotations

import torch

__all__ = ["class_sampling_weights", "epoch_order", "shard"]


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


def weighted_draws(weights: torch.Tensor, n: int, y: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
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


def epoch_order(y: torch.Tensor, weights: torch.Tensor | None, rng: torch.Generator) -> torch.Tensor:
    """The sample indices of one epoch: a permutation, or ``len(y)`` weighted draws (rare classes
    drawn, with replacement, more often) when ``weights`` are given."""
    if weights is None:
        return torch.randperm(len(y), generator=rng)
    return weighted_draws(weights, len(y), y, rng)



def shard(order: torch.Tensor, rank: int, world_size: int) -> torch.Tensor:
    """Process ``rank``'s part of an epoch's ``order``: every ``world_size``-th index from ``rank``.

    The order is first extended by its own start to a multiple of ``world_size`` (as torch's
    ``DistributedSampler`` does), so that every process makes as many steps. Batches of ``b``
    from each shard together hold the samples of one batch of ``world_size * b`` from ``order``.
    """
    total = -(-len(order) // world_size) * world_size
    if total != len(order):
        order = order[torch.arange(total) % len(order)]
    return order[rank::world_size]
