"""Training the FER-2013 classifier (:class:`~cganbalance.nets.classifier.FERClassifier`) on labelled images."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._utils.devices import resolve_device
from .._utils.images import to_model_input
from .._utils.progress import progress_bar
from .._utils.random import make_rng
from ..nets.classifier import FERClassifier

__all__ = ["train_classifier"]


def _init_weights(model: nn.Module, rng: torch.Generator) -> None:
    """He initialisation drawn from ``rng`` (never torch's global RNG)."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu", generator=rng)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01, generator=rng)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)


def _augment(x: torch.Tensor, max_shift: int, rng: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to ``max_shift`` pixels (edges replicated)."""
    n, _, h, w = x.shape
    flip = torch.rand(n, generator=rng) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    if max_shift <= 0:
        return x
    s = max_shift
    dy = torch.randint(0, 2 * s + 1, (n,), generator=rng)
    dx = torch.randint(0, 2 * s + 1, (n,), generator=rng)
    padded = F.pad(x, (s, s, s, s), mode="replicate")
    rows = (dy[:, None] + torch.arange(h))[:, None, :, None]  # N×1×H×1
    cols = (dx[:, None] + torch.arange(w))[:, None, None, :]  # N×1×1×W
    batch = torch.arange(n)[:, None, None, None]
    chans = torch.arange(x.shape[1])[None, :, None, None]
    return padded[batch, chans, rows, cols]


def _check_labels(y, n: int, n_classes: int | None) -> np.ndarray:
    y = np.asarray(y)
    if y.ndim != 1 or len(y) != n:
        raise ValueError(f"`y` must be one label per image ({n}). Got shape {y.shape} instead.")
    if y.dtype.kind not in "iu":
        raise ValueError(f"`y` must hold integer class indices. Got dtype {y.dtype} instead.")
    if n and (y.min() < 0 or (n_classes is not None and y.max() >= n_classes)):
        upper = f"{n_classes - 1}" if n_classes is not None else "..."
        raise ValueError(f"`y` must lie in [0, {upper}]. Got values from {y.min()} to {y.max()} instead.")
    return y.astype(np.int64)


def _batches(n: int, batch_size: int, total: int, rng: torch.Generator):
    """Indices of ``total`` full batches: shuffled passes over ``n`` samples, a partial last
    batch of each pass left out. A new permutation is drawn only when a batch needs it."""
    per_pass = n // batch_size
    step = 0
    while step < total:
        order = torch.randperm(n, generator=rng)
        for i in range(min(per_pass, total - step)):
            yield order[i * batch_size : (i + 1) * batch_size]
        step += per_pass


def _class_weights(class_weight, labels: np.ndarray, n_classes: int) -> torch.Tensor | None:
    """``class_weight`` of :func:`train_classifier` as a float32 tensor of ``n_classes`` weights."""
    if class_weight is None:
        return None
    if isinstance(class_weight, str):
        if class_weight != "balanced":
            raise ValueError(
                f"`class_weight` must be 'balanced', a dict, an array or None. Got {class_weight!r} instead."
            )
        counts = np.bincount(labels, minlength=n_classes).astype(float)
        present = counts > 0
        weights = np.ones(n_classes)
        weights[present] = len(labels) / (present.sum() * counts[present])
    elif isinstance(class_weight, dict):
        weights = np.ones(n_classes)
        for c, w in class_weight.items():
            if not isinstance(c, (int, np.integer)) or not 0 <= c < n_classes:
                raise ValueError(
                    f"`class_weight` keys must be class indices in [0, {n_classes - 1}]. Got {c!r} instead."
                )
            weights[c] = w
    else:
        weights = np.asarray(class_weight, dtype=float)
        if weights.shape != (n_classes,):
            raise ValueError(
                f"`class_weight` must hold one weight per class ({n_classes}). Got shape {weights.shape} instead."
            )
    if not (np.all(np.isfinite(weights)) and np.all(weights >= 0) and weights.sum() > 0):
        raise ValueError(
            f"`class_weight` must be finite, non-negative and not all zero. Got {weights.tolist()!r} instead."
        )
    return torch.as_tensor(weights, dtype=torch.float32)


def _check_budget(*, epochs, steps, batch_size, max_shift, lr, weight_decay, label_smoothing) -> None:
    """Clear errors, naming the argument, for :func:`train_classifier`'s numeric settings."""
    for name, value, kind, low in (
        ("epochs", epochs, (int, np.integer), 1),
        *((("steps", steps, (int, np.integer), 1),) if steps is not None else ()),
        ("batch_size", batch_size, (int, np.integer), 1),
        ("max_shift", max_shift, (int, np.integer), 0),
        ("lr", lr, (int, float), np.nextafter(0, 1)),
        ("weight_decay", weight_decay, (int, float), 0),
    ):
        if not isinstance(value, kind) or isinstance(value, bool) or value < low:
            what = ("a positive " if low else "a non-negative ") + (
                "integer" if int in kind and float not in kind else "number"
            )
            raise ValueError(f"`{name}` must be {what}. Got {value!r} instead.")
    if not isinstance(label_smoothing, (int, float)) or isinstance(label_smoothing, bool) \
            or not 0 <= label_smoothing < 1:
        raise ValueError(f"`label_smoothing` must be a number in [0, 1). Got {label_smoothing!r} instead.")


def _new_model(x: torch.Tensor, n_classes: int, classes, model_params, rng: torch.Generator) -> FERClassifier:
    """A FERClassifier sized for images ``x``, its weights drawn from ``rng``."""
    params = {"n_classes": n_classes, "in_channels": x.shape[1], "image_size": list(x.shape[2:])}
    if classes is not None:
        params["classes"] = list(classes)
    params.update(model_params or {})
    with torch.random.fork_rng(devices=[]):  # constructors draw from the global RNG; keep it untouched
        model = FERClassifier(**params)
    _init_weights(model, rng)
    return model


def train_classifier(
    X,
    y,
    *,
    epochs: int = 20,
    steps: int | None = None,
    batch_size: int = 128,
    lr: float = 2e-3,
    weight_decay: float = 5e-4,
    augment: bool = True,
    max_shift: int = 4,
    class_weight=None,
    label_smoothing: float = 0.0,
    model: FERClassifier | None = None,
    model_params: dict | None = None,
    classes: Sequence[str] | None = None,
    random_state=None,
    device="cpu",
    verbose: bool = False,
) -> FERClassifier:
    """Train a :class:`FERClassifier` on labelled images.

    AdamW with a one-cycle learning-rate schedule and cross-entropy; every random draw (initial
    weights, batch order, augmentation, dropout) comes from one ``torch.Generator`` seeded from
    ``random_state``, so the same seed gives the same weights on the CPU.

    Parameters
    ----------
    X : array-like or torch.Tensor
        Images ``N×H×W`` (or ``N×C×H×W``), uint8 pixels or floats in ``[-1, 1]``.
    y : array-like of int
        Class indices.
    epochs : int
        Passes over the data. Each pass draws ``N // batch_size`` full batches (a last
        partial batch is left for the next shuffle).
    steps : int or None
        Optimiser steps in total, replacing ``epochs``: the data are reshuffled after every
        pass and training stops mid-pass when the budget is spent. Gives the same training
        budget to data sets of different sizes (an over-sampled set and the original).
    batch_size : int
    lr : float
        Peak learning rate.
    weight_decay : float
    augment : bool
        Random horizontal flips and shifts of up to ``max_shift`` pixels.
    max_shift : int
    class_weight : "balanced", dict, array-like or None
        Per-class weights of the cross-entropy (a weighted mean over each batch).
        ``"balanced"`` gives class ``c`` the weight ``N / (n_present_classes * N_c)``, as
        scikit-learn's ``compute_class_weight``; a dict maps class indices to weights (others
        get 1); an array holds one weight per class. ``None`` weighs every sample equally.
    label_smoothing : float
        In ``[0, 1)``: the cross-entropy's target puts ``1 - label_smoothing`` on the true class
        and spreads ``label_smoothing`` evenly over all classes (``torch.nn.CrossEntropyLoss``);
        0 trains on one-hot targets.
    model : FERClassifier or None
        The network to train (in place); ``None`` builds one with ``model_params`` and
        initialises it from ``random_state``.
    model_params : dict or None
        Constructor arguments of the new :class:`FERClassifier`; ``n_classes`` defaults to
        ``len(classes)`` or ``max(y) + 1``, ``image_size`` to the images' size.
    classes : list of str or None
        Class names in label order, stored with the model.
    random_state : int, numpy.random.RandomState, torch.Generator or None
    device : str or torch.device
        ``"auto"``, ``"cpu"``, ``"cuda"``, ...
    verbose : bool
        Show a progress bar with the loss and the training accuracy.

    Returns
    -------
    FERClassifier
        The trained network, in evaluation mode.

    Examples
    --------
    >>> import numpy as np
    >>> from cganbalance.classifier import train_classifier
    >>> rng = np.random.RandomState(0)
    >>> X = rng.randint(0, 256, size=(64, 16, 16)).astype(np.uint8)
    >>> y = np.arange(64) % 2
    >>> model = train_classifier(X, y, epochs=1, batch_size=32, random_state=0,
    ...                          model_params={"widths": [4, 8], "depths": [1, 1]})
    >>> model.n_classes, model.embedding_dim
    (2, 8)
    """
    _check_budget(epochs=epochs, steps=steps, batch_size=batch_size, max_shift=max_shift, lr=lr,
                  weight_decay=weight_decay, label_smoothing=label_smoothing)
    x = to_model_input(X)
    if len(x) < 2:
        raise ValueError(f"`X` must hold at least 2 images. Got {len(x)}.")
    if model is not None and not isinstance(model, FERClassifier):
        raise TypeError(f"`model` must be a FERClassifier or None. Got {type(model).__name__} instead.")
    n_classes = model.n_classes if model is not None else (model_params or {}).get("n_classes")
    if n_classes is None and classes is not None:
        n_classes = len(classes)
    labels = _check_labels(y, len(x), n_classes)
    weights = _class_weights(class_weight, labels, n_classes or int(labels.max()) + 1)
    rng = make_rng(random_state, device="cpu")
    dev = resolve_device(device)
    if model is None:
        model = _new_model(x, n_classes or int(labels.max()) + 1, classes, model_params, rng)
    model.to(dev)
    batch_size = min(int(batch_size), len(x))
    total = int(steps) if steps is not None else (len(x) // batch_size) * epochs
    _optimise(model, x, torch.as_tensor(labels), weights=weights, batch_size=batch_size, total=total, lr=lr,
              weight_decay=weight_decay, augment=augment, max_shift=max_shift, label_smoothing=label_smoothing,
              rng=rng, device=dev, verbose=verbose)
    return model


def _optimise(model, x, y_t, *, weights, batch_size, total, lr, weight_decay, augment, max_shift,
              label_smoothing, rng, device, verbose) -> None:
    """AdamW + one-cycle schedule for ``total`` steps of ``batch_size`` images; leaves ``model`` in eval mode."""
    steps_per_epoch = len(x) // batch_size
    if weights is not None:
        weights = weights.to(device)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    # OneCycleLR divides by pct_start * total - 1, which is zero for a 5-step run.
    pct_start = 0.2 if total != 5 else 0.3
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=lr, total_steps=total, pct_start=pct_start)
    model.dropout.rng = rng if device.type == "cpu" else None
    model.train()
    bar = progress_bar(total=total, disable=not verbose, desc="classifier training", unit="step", dynamic_ncols=True)
    try:
        for step, idx in enumerate(_batches(len(x), batch_size, total, rng)):
            epoch, i = divmod(step, steps_per_epoch)
            if i == 0:
                correct = seen = 0
            batch = _augment(x[idx], max_shift, rng) if augment else x[idx]
            target = y_t[idx].to(device)
            logits = model(batch.to(device))
            loss = F.cross_entropy(logits, target, weight=weights, label_smoothing=float(label_smoothing))
            if not math.isfinite(loss.item()):
                raise RuntimeError(
                    f"Classifier training diverged at epoch {epoch + 1}, step {i + 1} (loss {loss.item()}); "
                    "lower `lr`."
                )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            correct += (logits.argmax(1) == target).sum().item()
            seen += len(idx)
            if verbose:  # no refresh of its own: the bar redraws at its own pace (rarely in logs)
                bar.set_postfix({"epoch": epoch + 1, "loss": f"{loss.item():.3f}", "acc": f"{correct / seen:.3f}"},
                                refresh=False)
            bar.update(1)
    finally:
        bar.close()
        model.dropout.rng = None
        model.eval()

