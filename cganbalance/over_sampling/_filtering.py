"""Candidate filtering: draw more samples than needed and keep the most convincing ones.

Candidates are ranked by the discriminator's confidence (real, and of the intended class) and/or
by a classifier's probability of the intended class (the sampler's ``filter_classifier``), as the
reference paper filters its generated faces.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .._utils.images import ImageLayout
from .._utils.labels import match_classes, plain
from ..classifier import load_fer_classifier
from ..hub import load_discriminator
from ..fer2013 import CLASSES
from ..nets import Discriminator, Generator
from ..nets.serialization import PickledModule
from ..training import discriminator_confidence, make_rng

__all__ = [
    "ClassFilter", "class_filter", "classifier_columns", "fer_input_map", "generate_best_of", "generate_filtered",
    "generate_ranked", "n_candidates", "saved_discriminator",
]


class ClassFilter:
    """A classifier's probability of the intended class, for scaled candidates (``filter_classifier``).

    Either the FER-2013 network shipped with cganbalance (``model``, fed ``a * x + b`` with
    ``pixels = (a, b)``), or a user's scikit-learn style classifier (given candidates mapped back
    by ``preprocessor`` to the layout and units of ``X``). ``columns[i]`` is the probability column
    of the sampler's ``classes_[i]``. Pickles its network as arguments + weights.
    """

    def __init__(self, columns, *, model=None, pixels=None, classifier=None, preprocessor=None,
                 sample_shape=None, feature_names=None, dtypes=None):
        self.columns, self.model, self.pixels = columns, model, pixels
        self.dtypes = dtypes
        self.classifier, self.preprocessor = classifier, preprocessor
        self.sample_shape, self.feature_names = sample_shape, feature_names

    def __call__(self, x: torch.Tensor, cls_pos: int) -> torch.Tensor:
        column = int(self.columns[cls_pos])
        if self.model is not None:
            a, b = self.pixels
            with torch.inference_mode():
                logits = self.model((a * x + b).to(next(self.model.parameters()).device, torch.float32))
            return logits.softmax(1)[:, column].float().cpu()
        samples = self.preprocessor.inverse_transform(x.cpu().numpy())
        rows = samples.reshape(len(x), *(self.sample_shape or (-1,)))
        if self.feature_names is not None and rows.ndim == 2:  # a classifier fitted on a DataFrame gets one back
            import pandas as pd

            rows = pd.DataFrame(rows, columns=self.feature_names)
            if self.dtypes is not None:  # a mixed table's columns keep their own dtypes
                rows = rows.astype(self.dtypes)
        proba = np.asarray(self.classifier.predict_proba(rows))
        return torch.as_tensor(proba[:, column], dtype=torch.float32)

    def to(self, device) -> "ClassFilter":
        """Put the FER-2013 network on ``device`` (building it, after unpickling)."""
        if isinstance(self.model, PickledModule):
            self.model = self.model.build(device)
        elif self.model is not None:
            self.model = self.model.to(device)
        return self

    def __getstate__(self):
        state = dict(self.__dict__)
        if isinstance(state["model"], torch.nn.Module):
            state["model"] = PickledModule(state["model"])
        return state


def class_filter(classifier, filter_keep, classes, layout: ImageLayout | None, preprocessor, device,
                 *, sample_shape=None, feature_names=None, dtypes=None) -> ClassFilter | None:
    """Check the sampler's ``filter_classifier`` and build its :class:`ClassFilter` (``None`` without one)."""
    if classifier is None:
        return None
    if filter_keep is None or filter_keep >= 1.0:
        raise ValueError(
            f"`filter_classifier` ranks candidates for `filter_keep`, which is {filter_keep!r}: "
            "set `filter_keep` below 1 (e.g. 0.5), or leave `filter_classifier=None`."
        )
    if isinstance(classifier, (str, os.PathLike)):  # "fer2013" (the shipped one) or a saved FER-2013 classifier
        name = "'fer2013'" if classifier == "fer2013" else repr(str(classifier))
        folder = None if classifier == "fer2013" else Path(classifier)
        if folder is not None and not (folder / "config.json").is_file():
            raise ValueError(
                f"`filter_classifier` must be 'fer2013', a folder holding a FER-2013 classifier (config.json + "
                f"model.safetensors, as cganbalance.classifier.save_classifier writes it) or a fitted classifier "
                f"with predict_proba. Got {name}, {'which holds no config.json' if folder.is_dir() else 'no such folder'}."
            )
        shape = layout.chw if layout is not None else None
        if shape != (1, 48, 48):
            got = f"images of shape {shape} (channels first)" if shape else "tabular rows"
            raise ValueError(
                f"`filter_classifier={name}` scores 48×48 grey faces; X holds {got}. "
                "Pass a classifier fitted on data like X instead."
            )
        pixels = fer_input_map(preprocessor.range_)
        model = load_fer_classifier(folder, map_location=device)
        what = f"`filter_classifier={name}`: the FER-2013 classifier's"
        return ClassFilter(match_classes(classes, list(CLASSES), what=what), model=model, pixels=pixels)
    return ClassFilter(classifier_columns(classifier, classes), classifier=classifier, preprocessor=preprocessor,
                       sample_shape=sample_shape, feature_names=feature_names, dtypes=dtypes)


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


@torch.inference_mode()
def generate_ranked(generator: Generator, discriminator: Discriminator | None, labels, *, keep: float | None,
                    random_state=None, latent_scale: float = 1.0, batch_size: int = 512) -> torch.Tensor:
    """:meth:`Generator.generate` with the sampler's ranking: for each class of ``labels`` (indices
    or names), ``ceil(n / keep)`` candidates drawn and the ``n`` that ``discriminator`` finds most
    real (and of their class) kept. Same order and form as ``generate`` returns (``[-1, 1]``
    floats at the output size, on the CPU); ``generator`` keeps its mode. Without a
    ``discriminator``, or with ``keep`` None or 1, exactly ``generator.generate``."""
    if discriminator is None or keep is None or keep >= 1:
        return generator.generate(labels, random_state=random_state, batch_size=batch_size, latent_scale=latent_scale)
    labels = generator._resolve_labels(labels)
    rng = make_rng(random_state, device="cpu")
    out = torch.empty(len(labels), *generator.output_shape)
    was_training = generator.training, discriminator.training
    device = generator.device
    try:
        for label in torch.unique(labels).tolist():  # class by class, in index order
            where = torch.nonzero(labels == label).squeeze(1)
            x = generate_filtered(generator, discriminator, int(label), len(where), rng, keep=keep,
                                  latent_scale=latent_scale, scorer=None, device=device, batch_size=batch_size)
            out[where] = torch.from_numpy(x)
    finally:
        generator.train(was_training[0])
        discriminator.train(was_training[1])
    return out


def n_candidates(keep: float | None) -> int:
    """Candidates drawn per sample kept by :func:`generate_best_of` for ``filter_keep=keep``:
    ``ceil(1 / keep)`` (2 for 0.5, 4 for 0.25), 1 for ``None`` or 1."""
    return 1 if keep is None or keep >= 1 else math.ceil(1 / keep - 1e-9)


@torch.no_grad()  # not inference_mode: the loader's batches go on into a model that trains
def generate_best_of(generator: Generator, discriminator: Discriminator | None, labels: torch.Tensor,
                     rng: torch.Generator, *, candidates: int = 1, latent_scale: float = 1.0) -> torch.Tensor:
    """One sample per entry of ``labels`` (the generator's class indices): the best of
    ``candidates`` draws by the discriminator's confidence (the first of equal ones), or one draw
    when ``candidates`` is 1 or there is no discriminator. The dataset wrappers rank this way,
    sample by sample, where :func:`generate_ranked` keeps the best fraction of a whole class.

    Noise comes from ``rng`` (on its own device), ``candidates`` rows per sample in order, so
    that one candidate draws exactly what :meth:`Generator.generate` draws. Returns
    ``[-1, 1]`` floats at the output size on the generator's device; the networks keep their mode.
    """
    m = candidates if discriminator is not None else 1
    device = generator.device
    y = labels.to(device).repeat_interleave(m)
    was_training = generator.training, discriminator.training if discriminator is not None else False
    generator.eval()
    try:
        x = generator(generator.noise(len(y), rng, latent_scale).to(device), y)
        if m > 1:
            discriminator.eval()
            score = discriminator_confidence(discriminator, x, y).float().view(len(labels), m)
            x = x.view(len(labels), m, *x.shape[1:])[torch.arange(len(labels), device=device), score.argmax(1)]
        return generator.resize(x).float()
    finally:
        generator.train(was_training[0])
        if discriminator is not None:
            discriminator.train(was_training[1])


def saved_discriminator(source, generator: Generator, filter_keep) -> Discriminator | None:
    """The discriminator saved with ``source`` (the generator as the caller named it: alias,
    folder or Hub repo id; a :class:`Generator` object carries none), checked against
    ``generator`` (``source`` loaded), as float32 on its device in eval mode, when ``filter_keep``
    asks for ranking (a number below 1, or ``"auto"``); ``None`` otherwise, and for ``"auto"``
    when there is none. A number without one is a ``ValueError`` that says so."""
    if filter_keep is None or (filter_keep != "auto" and filter_keep >= 1):
        return None
    d = load_discriminator(source, generator)
    if d is None:
        if filter_keep == "auto":
            return None
        what = "a Generator object" if isinstance(source, torch.nn.Module) else repr(str(source))
        raise ValueError(
            f"`filter_keep={filter_keep!r}` ranks candidates by the discriminator saved with the generator, but {what} "
            "has none (a folder holds it as discriminator.json + discriminator.safetensors, as "
            "CGANOverSampler.save_generator and `cganbalance train` write it). Pass filter_keep=None, or a folder, "
            "alias or Hub repo that holds one."
        )
    return d.float().to(generator.device).eval()
