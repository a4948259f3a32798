"""A small, fast FER-2013 classifier: the domain feature extractor of :mod:`cganbalance.metrics`.

No Inception network can be downloaded for FID, and ImageNet features describe grey 48×48
faces poorly anyway, so generated faces are compared in the feature space of a CNN trained on
real FER-2013 training images. The same network says whether a generated face shows the
intended emotion (:func:`cganbalance.metrics.classifier_recall`), and trained on synthetic
faces only it gives the classification accuracy score (:func:`cganbalance.metrics.cas`).

Images enter as ``N×1×H×W`` floats in ``[-1, 1]`` (``uint8 / 127.5 - 1``, the generator's
scaling); :func:`to_model_input` converts uint8 arrays. Weights are saved as
``config.json`` + ``model.safetensors`` (:class:`huggingface_hub.PyTorchModelHubMixin`); the
trained FER-2013 extractor ships in ``cganbalance/pretrained/fer2013-classifier/``
(:func:`load_fer_classifier`).

The network lives in :mod:`cganbalance.nets.classifier`, its training in
:mod:`cganbalance.training.classifier` and the input conversion in the package's image utilities;
this module gathers them with saving, loading and batched inference.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ._utils.images import to_model_input
from .nets.classifier import FERClassifier
from .nets.serialization import WEIGHTS_NAME, write_model_files
from .training.classifier import train_classifier

__all__ = [
    "FERClassifier",
    "extract",
    "load_fer_classifier",
    "save_classifier",
    "to_model_input",
    "train_classifier",
]

#: Folder of the shipped FER-2013 extractor.
FER_CLASSIFIER_DIR = Path(__file__).parent / "pretrained" / "fer2013-classifier"


def save_classifier(model: FERClassifier, save_directory, *, half: bool = False, card: str | None = None) -> Path:
    """Save ``model`` as ``config.json``, ``model.safetensors`` and a ``README.md`` model card.

    Parameters
    ----------
    model : FERClassifier
    save_directory : str or path
    half : bool
        Store floating-point weights as float16 (half the size; loading casts them back to
        float32).
    card : str or None
        Markdown added to the model card (training data, command, test scores).

    Returns
    -------
    pathlib.Path
        ``save_directory``.
    """
    if not isinstance(model, FERClassifier):
        raise TypeError(f"`model` must be a FERClassifier. Got {type(model).__name__} instead.")
    target = Path(save_directory)
    (target / "README.md").unlink(missing_ok=True)  # the mixin never overwrites a card
    n_params = sum(p.numel() for p in model.parameters())
    details = f"## Model\n\n- classes (label order): {', '.join(model.classes)}\n- parameters: {n_params:,}\n"
    model.save_pretrained(target, model_card_kwargs={"details": details + ("\n" + card if card else "")})
    if half:
        write_model_files(model, target, half=True)
    return target


def load_fer_classifier(path=None, *, map_location="cpu") -> FERClassifier:
    """Load the FER-2013 classifier shipped with cganbalance (or one saved at ``path``).

    Parameters
    ----------
    path : str, path or None
        A folder written by :func:`save_classifier`; ``None`` loads the embedded copy in
        ``cganbalance/pretrained/fer2013-classifier/``.
    map_location : str or torch.device

    Returns
    -------
    FERClassifier
        In evaluation mode.

    Raises
    ------
    FileNotFoundError
        The folder or its weights are missing.
    """
    folder = Path(path) if path is not None else FER_CLASSIFIER_DIR
    if not (folder / WEIGHTS_NAME).is_file():
        if path is None:
            raise FileNotFoundError(
                f"The FER-2013 classifier is not in this install ({folder / WEIGHTS_NAME} is "
                "missing). Train it with `python benchmarks/train_fer_classifier.py --train train.npz`, or pass "
                "your own feature extractor (`extractor=`, `--extractor`)."
            )
        raise FileNotFoundError(
            f"`path={str(path)!r}` holds no {WEIGHTS_NAME}; expected a folder written by "
            "save_classifier."
        )
    return FERClassifier.from_pretrained(str(folder), map_location=str(map_location))


# -- batched inference ------------------------------------------------------------------------
def _fit_size(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    size = getattr(model, "image_size", None)
    if size is None or list(x.shape[2:]) == list(size):
        return x
    return F.interpolate(x, size=list(size), mode="bilinear", align_corners=False, antialias=True)


@torch.inference_mode()
def extract(model: nn.Module, images, *, batch_size: int = 512, features: bool = True):
    """Embeddings and logits of ``images`` in evaluation mode, in batches.

    Parameters
    ----------
    model : FERClassifier or torch.nn.Module
        A module with ``features(x)`` and ``head``; any other module (or callable returning
        logits) gives logits only.
    images : array-like or torch.Tensor
        See :func:`to_model_input`. Resized to ``model.image_size`` when that differs.
    batch_size : int
    features : bool
        Whether to compute the embeddings.

    Returns
    -------
    features : ndarray of shape (N, embedding_dim), float64, or None
    logits : ndarray of shape (N, n_classes), float64
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"`batch_size` must be a positive integer. Got {batch_size!r} instead.")
    x = to_model_input(images)
    has_features = isinstance(model, FERClassifier)
    is_module = isinstance(model, nn.Module)
    was_training = model.training if is_module else False
    if is_module:
        model.eval()
        device = next(iter(model.parameters()), torch.empty(0)).device
    else:
        device = torch.device("cpu")
    feats, logits = [], []
    try:
        for start in range(0, len(x), batch_size):
            batch = _fit_size(model, x[start : start + batch_size]).to(device)
            if has_features:
                h = model.features(batch)
                feats.append(h.double().cpu())
                logits.append(model.head(h).double().cpu())
            else:
                logits.append(torch.as_tensor(model(batch)).double().cpu())
    finally:
        if is_module:
            model.train(was_training)
    n_out = getattr(model, "n_classes", 0)
    logit_array = torch.cat(logits).numpy() if logits else np.zeros((0, n_out))
    if not (features and has_features):
        return None, logit_array
    feat_array = torch.cat(feats).numpy() if feats else np.zeros((0, model.embedding_dim))
    return feat_array, logit_array
