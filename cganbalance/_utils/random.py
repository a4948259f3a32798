"""Randomness is local: every draw comes from a seeded ``torch.Generator`` passed along.

torch's and numpy's global random states are never seeded or read by the library. Two seeding
rules coexist on purpose: the sampler and the trainer derive a seed through a numpy RandomState
(:func:`make_rng`), the dataset wrappers one independent stream per item through a SeedSequence
(:func:`rng_for`); merging them would change every seeded result users already have.
"""

from __future__ import annotations

import numpy as np
import torch
from sklearn.utils import check_random_state


def make_rng(random_state=None, device="cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded from ``random_state`` (None, int, RandomState or a ``torch.Generator``,
    which is returned as it is)."""
    if isinstance(random_state, torch.Generator):
        return random_state
    if random_state is None:  # fresh OS entropy; numpy's global random state is not read
        seed = int_seed(None) % np.iinfo(np.int32).max
    else:
        seed = int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    return _seeded(seed, device)


def _seeded(seed: int, device) -> torch.Generator:
    rng = torch.Generator(device=device)
    rng.manual_seed(seed)
    return rng


def int_seed(random_state) -> int:
    """An int seed: ``random_state`` itself, one drawn from a RandomState, or fresh OS entropy for None."""
    if random_state is None:
        return int(np.random.SeedSequence().entropy)
    if isinstance(random_state, (int, np.integer)) and not isinstance(random_state, bool):
        if random_state < 0:
            raise ValueError(f"`random_state` must be a non-negative int. Got {random_state!r} instead.")
        return int(random_state)
    if isinstance(random_state, np.random.RandomState):
        return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))
    raise TypeError(
        f"`random_state` must be None, an int or a numpy RandomState. Got {type(random_state).__name__} instead."
    )


def rng_for(*words: int, device="cpu") -> torch.Generator:
    """A ``torch.Generator`` seeded from the SeedSequence of ``words``: an independent stream per tuple."""
    hi, lo = np.random.SeedSequence(list(words)).generate_state(2, dtype=np.uint32)
    return _seeded((int(hi) << 32) | int(lo), device)


def numpy_rng(rng: torch.Generator) -> np.random.RandomState:
    """A numpy RandomState seeded by one draw from ``rng`` (for numpy-only work such as index choices)."""
    return np.random.RandomState(int(torch.randint(0, 2**31 - 1, (1,), generator=rng)))
