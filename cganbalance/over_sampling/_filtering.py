"""Candidate filtering: draw more samples than needed and keep the most convincing ones.

Candidates are ranked by the discriminator's confidence (real, and of the intended class) and/or
by a classifier's probability of the intended class (the sampler's ``filter_classifier``), as the
reference paper filters its generated faces.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from .._utils.labels import plain
from ..nets import Discriminator, Generator
from ..training import discriminator_confidence

__all__ = ["classifier_columns", "fer_input_map", "generate_filtered"]


def fer_input_map(value_range: tuple[float, float]) -> tuple[float, float]:
    """``(a, b)`` such that ``a * s + b`` is the FER-2013 classifier's input for samples ``s``
    scaled from ``value_range`` to ``[-1, 1]``: the range is read as pixels 0-255, ``[0, 1]``
    or ``[-1, 1]``."""
    low, high = value_range
    if 0 <= low and 1 < high <= 255:
        return (high - low) / 255.0, (low + high) / 255.0 - 1
    if 0 <= low and high <= 1:
        return high - low, low + high - 1
    if -1 <= low and high <= 1:
        return (high - low) / 2, (low + high) / 2
    raise ValueError(
        "`filter_classifier='fer2013'` needs face pixels in 0-255, [0, 1] or [-1, 1]; "
        f"X holds values from {low:g} to {high:g}. Pass a classifier fitted on data like X instead."
    )


def classifier_columns(classifier, classes: np.ndarray) -> np.ndarray:
    """The column of ``classifier.predict_proba`` for each of ``classes``; clear errors for an
    unfitted classifier or one fitted on other labels."""
    if not hasattr(classifier, "classes_"):
        raise ValueError(
            f"`filter_classifier` must be a fitted classifier; the {type(classifier).__name__} given has no "
            "`classes_`. In a Pipeline or cross-validation, scikit-learn's clone() makes an unfitted copy of a "
            "fitted estimator: wrap it in sklearn.frozen.FrozenEstimator (scikit-learn >= 1.6) to keep it fitted."
        )
    known = list(classifier.classes_)
    missing = [plain(c) for c in classes if c not in known]
    if missing:
        raise ValueError(
            f"`filter_classifier` must be fitted on the labels of y (its `classes_`); labels {missing} "
            f"are not among its classes {[plain(c) for c in known]}."
        )
    return np.array([known.index(c) for c in classes])


@torch.inference_mode()
def generate_filtered(
    generator: Generator,
    discriminator: Discriminator | None,
    label: int,
    n: int,
    rng: torch.Generator,
    *,
    keep: float,
    latent_scale: float,
    scorer: Callable[[torch.Tensor], torch.Tensor] | None,
    device: torch.device,
    batch_size: int = 256,
) -> np.ndarray:
    """``n`` generated samples of the generator's class ``label`` (scaled, at the output size).

    With ``keep < 1``, ``ceil(n / keep)`` candidates are drawn and the ``n`` with the highest
    score are kept, in their draw order: the discriminator's confidence (when there is one)
    times ``scorer(candidates)`` (when given).
    """
    n_candidates = n if keep >= 1.0 else math.ceil(n / keep)
    generator.eval()
    if discriminator is not None:
        discriminator.eval()
    samples, scores = [], []
    for start in range(0, n_candidates, batch_size):
        m = min(batch_size, n_candidates - start)
        labels = torch.full((m,), label, dtype=torch.long, device=device)
        x = generator(generator.noise(m, rng, latent_scale).to(device), labels)
        out = generator.resize(x).float()
        if keep < 1.0:
            score = torch.ones(m)
            if discriminator is not None:
                score = score * discriminator_confidence(discriminator, x, labels).float().cpu()
            if scorer is not None:
                score = score * scorer(out)
            scores.append(score)
        samples.append(out.cpu())
    x = torch.cat(samples)
    if keep < 1.0:
        # Stable sort so that ties keep their draw order (reproducible on every platform).
        best = torch.sort(torch.cat(scores), descending=True, stable=True).indices[:n]
        x = x[torch.sort(best).values]
    return x.numpy()
