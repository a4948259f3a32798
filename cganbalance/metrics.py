"""Offline evaluation of a class-conditional generator with a domain feature extractor.

No Inception network can be downloaded, and its ImageNet features describe grey 48×48 faces
poorly, so every feature-space metric here uses the embedding of a small CNN trained on real
FER-2013 training images (:func:`cganbalance.classifier.load_fer_classifier`). The numbers are
therefore comparable between generators evaluated with the same extractor, not with FID values
published for other feature spaces.

Feature-space metrics (two sets of embeddings, one row per sample):

* :func:`frechet_distance` — FID: the Fréchet distance between Gaussians fitted to the sets.
  Biased upwards for small sets; compare values computed on sets of equal size.
* :func:`kernel_inception_distance` — KID: the unbiased squared MMD with the polynomial kernel
  ``(a·b / d + 1)³``, averaged over random subsets; about 0 for equal distributions at any size.
* :func:`precision_recall` — Kynkäänniemi et al. (2019): how much of the generated set lies on
  the real data's k-NN manifold (precision, fidelity), and how much of the real set on the
  generated one (recall, coverage of the modes).
* :func:`density_coverage` — Naeem et al. (2020): outlier-robust variants of the two.
* :func:`within_class_diversity` — mean pairwise distance of generated samples over that of
  real samples (below 1: less varied than real faces; near 0: collapse).

Label and training-set metrics:

* :func:`classifier_recall` — the fraction of samples generated for class ``c`` that a
  classifier trained on real data labels ``c``: is the emotion recognisable?
* :func:`cas` — classification accuracy score: train a classifier on synthetic images only
  and test it on real ones.
* :func:`two_sample_test` — classifier two-sample test: train a classifier to tell generated
  from real images; its held-out accuracy is 0.5 when it cannot.
* :func:`memorisation` — pixel-space distance of each generated image to its nearest real
  training image, against the same distance for real test images.

:func:`evaluate_generator` draws samples per class and computes all of these per class;
:func:`evaluate_samples` does the same for given images (for example real training images, the
score of a perfect generator); :func:`format_markdown` renders the result as a table.

All functions are deterministic for a given ``random_state``.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import numpy as np
import torch
from scipy import linalg
from scipy.spatial.distance import cdist, pdist
from scipy.special import expit
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score, roc_auc_score
from sklearn.utils import check_random_state

from ._utils.images import from_unit
from ._utils.labels import lookup
from .classifier import extract, load_fer_classifier, to_model_input, train_classifier
from .hub import load_generator
from .nets import check_latent_scale
from .over_sampling._filtering import generate_ranked, saved_discriminator

__all__ = [
    "cas",
    "classifier_recall",
    "density_coverage",
    "evaluate_generator",
    "evaluate_samples",
    "format_markdown",
    "frechet_distance",
    "kernel_inception_distance",
    "memorisation",
    "precision_recall",
    "two_sample_test",
    "within_class_diversity",
]

#: KID computes whole kernel matrices once for sets up to this size (3 × 4096² float64 ≈ 400 MB).
_KID_PRECOMPUTE_MAX = 4096

#: Fewer images per side leave a held-out part of a handful of images, whose accuracy says nothing.
_TWO_SAMPLE_MIN = 10

#: Per-class metrics of :func:`evaluate_samples`, in table order.
PER_CLASS_METRICS = (
    "fid",
    "kid",
    "precision",
    "recall",
    "density",
    "coverage",
    "classifier_recall",
    "real_recall",
    "diversity",
)


# -- checks ----------------------------------------------------------------------------------
def _features(x, name: str, min_rows: int = 2) -> np.ndarray:
    """A 2-D float64 array of at least ``min_rows`` finite rows."""
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"`{name}` must be a 2-D array (samples × features). Got shape {x.shape} instead.")
    if len(x) < min_rows:
        raise ValueError(f"`{name}` must hold at least {min_rows} samples. Got {len(x)}.")
    if not np.isfinite(x).all():
        raise ValueError(f"`{name}` holds NaN or infinite values.")
    return x


def _pair(a, b, names=("features_a", "features_b"), min_rows: int = 2) -> tuple[np.ndarray, np.ndarray]:
    a, b = _features(a, names[0], min_rows), _features(b, names[1], min_rows)
    if a.shape[1] != b.shape[1]:
        raise ValueError(
            f"`{names[0]}` and `{names[1]}` must have the same number of features. Got {a.shape[1]} and {b.shape[1]}."
        )
    return a, b


def _model_input(images, name: str) -> torch.Tensor:
    """:func:`~cganbalance.classifier.to_model_input`, its errors naming the argument."""
    try:
        return to_model_input(images)
    except ValueError as exc:
        raise ValueError(f"`{name}`: {exc}") from exc


def _positive_int(value, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer. Got {value!r} instead.")
    return int(value)


# -- feature-space metrics -------------------------------------------------------------------
def frechet_distance(features_a, features_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (FID).

    ``|μa - μb|² + tr(Σa + Σb - 2 (Σa Σb)^½)``, with sample means and covariances.

    Parameters
    ----------
    features_a, features_b : array-like of shape (n_samples, n_features)
        At least two samples each.

    Returns
    -------
    float
        Non-negative; 0 for sets with equal means and covariances.

    Notes
    -----
    The estimate is biased upwards by roughly ``1 / n``: compare values computed on sets of the
    same size. When the matrix square root is singular (fewer samples than features), a small
    multiple of the identity is added to both covariances, as in the reference implementation.

    Examples
    --------
    >>> import numpy as np
    >>> from cganbalance.metrics import frechet_distance
    >>> a = np.random.RandomState(0).normal(size=(500, 4))
    >>> round(frechet_distance(a, a), 6)
    0.0
    >>> round(frechet_distance(a, a + [2, 0, 0, 0]), 6)
    4.0
    """
    a, b = _pair(features_a, features_b)
    mu_a, mu_b = a.mean(0), b.mean(0)
    sigma_a, sigma_b = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma_a @ sigma_b)
    if caught or not np.isfinite(covmean).all():
        offset = np.eye(len(sigma_a)) * 1e-6
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            covmean = linalg.sqrtm((sigma_a + offset) @ (sigma_b + offset))
    if np.iscomplexobj(covmean):
        # Numerical noise gives tiny imaginary parts; large ones mean the result is meaningless.
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3 * max(1.0, np.abs(covmean).max())):
            raise ValueError(
                f"The covariance product has a matrix square root with a large imaginary part "
                f"({np.abs(covmean.imag).max():.3g}); the features are degenerate."
            )
        covmean = covmean.real
    diff = mu_a - mu_b
    value = diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2 * np.trace(covmean)
    return float(max(value, 0.0))


def kernel_inception_distance(
    features_a, features_b, *, n_subsets: int = 100, subset_size: int = 1000, random_state=0
) -> float:
    """Kernel distance (KID): unbiased squared MMD with a cubic polynomial kernel.

    ``k(a, b) = (a·b / d + 1)³``, averaged over ``n_subsets`` pairs of random subsets of
    ``min(subset_size, n_a, n_b)`` samples each (Bińkowski et al., 2018).

    Parameters
    ----------
    features_a, features_b : array-like of shape (n_samples, n_features)
        At least two samples each.
    n_subsets : int
    subset_size : int
    random_state : int, numpy.random.RandomState or None
        Draws the subsets.

    Returns
    -------
    float
        The mean estimate; unbiased, so it can be slightly negative for equal distributions.

    Examples
    --------
    >>> import numpy as np
    >>> from cganbalance.metrics import kernel_inception_distance
    >>> rng = np.random.RandomState(0)
    >>> a, b = rng.normal(size=(300, 8)), rng.normal(size=(300, 8))
    >>> abs(kernel_inception_distance(a, b)) < 0.1
    True
    >>> kernel_inception_distance(a, b + 1) > 0.5
    True
    """
    a, b = _pair(features_a, features_b)
    n_subsets = _positive_int(n_subsets, "n_subsets")
    m = min(_positive_int(subset_size, "subset_size"), len(a), len(b))
    if m < 2:
        raise ValueError(f"`subset_size` must be at least 2. Got {subset_size!r}.")
    rng = check_random_state(random_state)
    d = a.shape[1]

    def kernel(x, y):
        return (x @ y.T / d + 1) ** 3

    # Small sets: one kernel matrix each, indexed per subset (same draws, same result, far fewer FLOPs).
    full = max(len(a), len(b)) <= _KID_PRECOMPUTE_MAX
    if full:
        k_aa, k_bb, k_ab = kernel(a, a), kernel(b, b), kernel(a, b)
    estimates = np.empty(n_subsets)
    for i in range(n_subsets):
        ia, ib = rng.choice(len(a), m, replace=False), rng.choice(len(b), m, replace=False)
        if full:
            k_xx, k_yy, k_xy = k_aa[np.ix_(ia, ia)], k_bb[np.ix_(ib, ib)], k_ab[np.ix_(ia, ib)]
        else:
            x, y = a[ia], b[ib]
            k_xx, k_yy, k_xy = kernel(x, x), kernel(y, y), kernel(x, y)
        estimates[i] = (
            (k_xx.sum() - np.trace(k_xx)) / (m * (m - 1))
            + (k_yy.sum() - np.trace(k_yy)) / (m * (m - 1))
            - 2 * k_xy.mean()
        )
    return float(estimates.mean())


def _distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Euclidean distances between the rows of ``a`` and ``b`` (float64)."""

    return cdist(a, b)


def _knn_radii(x: np.ndarray, k: int, name: str) -> np.ndarray:
    """Distance of each row to its ``k``-th nearest other row."""
    if k >= len(x):
        raise ValueError(f"`k` must be smaller than the number of samples in `{name}` ({len(x)}). Got {k}.")
    d = _distances(x, x)
    return np.partition(d, k, axis=1)[:, k]  # column 0 is the row itself


def precision_recall(real_features, fake_features, *, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al., 2019).

    Each set's manifold is the union of balls around its samples with radius the distance to
    the ``k``-th nearest neighbour in the same set.

    Parameters
    ----------
    real_features, fake_features : array-like of shape (n_samples, n_features)
        Each with more than ``k`` samples.
    k : int

    Returns
    -------
    precision : float
        Fraction of generated samples inside the real manifold (fidelity).
    recall : float
        Fraction of real samples inside the generated manifold (how much of the real variety
        the generator covers).
    """
    k = _positive_int(k, "k")
    real, fake = _pair(real_features, fake_features, ("real_features", "fake_features"))
    r_real = _knn_radii(real, k, "real_features")
    r_fake = _knn_radii(fake, k, "fake_features")
    d = _distances(real, fake)  # real × fake
    precision = (d <= r_real[:, None]).any(axis=0).mean()
    recall = (d <= r_fake[None, :]).any(axis=1).mean()
    return float(precision), float(recall)


def density_coverage(real_features, fake_features, *, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al., 2020): precision and recall robust to outliers.

    Parameters
    ----------
    real_features, fake_features : array-like of shape (n_samples, n_features)
    k : int
        Neighbourhood size for the real k-NN balls.

    Returns
    -------
    density : float
        Mean number of real balls holding each generated sample, divided by ``k`` (about 1 when
        the distributions match; above 1 when samples crowd dense real regions).
    coverage : float
        Fraction of real samples whose ball holds at least one generated sample.
    """
    k = _positive_int(k, "k")
    real, fake = _pair(real_features, fake_features, ("real_features", "fake_features"))
    r_real = _knn_radii(real, k, "real_features")
    inside = _distances(real, fake) <= r_real[:, None]
    return float(inside.sum(0).mean() / k), float(inside.any(axis=1).mean())


def within_class_diversity(fake_features, real_features, *, max_samples: int = 2000, random_state=0) -> float:
    """Mean pairwise feature distance of generated samples over that of real samples.

    Parameters
    ----------
    fake_features, real_features : array-like of shape (n_samples, n_features)
        Samples of one class.
    max_samples : int
        Larger sets are subsampled (without replacement) to this many rows.
    random_state : int, numpy.random.RandomState or None
        Draws the subsamples.

    Returns
    -------
    float
        1 when generated samples vary as much as real ones; near 0 for a collapsed class.
    """
    fake, real = _pair(fake_features, real_features, ("fake_features", "real_features"))
    max_samples = _positive_int(max_samples, "max_samples")
    rng = check_random_state(random_state)

    def spread(x):
        if len(x) > max_samples:
            x = x[rng.choice(len(x), max_samples, replace=False)]
        return pdist(x).mean()

    real_spread = spread(real)
    if real_spread == 0:
        raise ValueError("`real_features` are all identical; the diversity ratio is undefined.")
    return float(spread(fake) / real_spread)


# -- label-space metrics ---------------------------------------------------------------------
def _class_columns(model_classes: Sequence[str] | None, classes: Sequence[str] | None, n_outputs: int) -> np.ndarray:
    """Columns of the model's logits for each of ``classes`` (matched by name when both are named)."""

    def unnamed(names):
        return names is None or [str(c) for c in names] == [str(i) for i in range(len(names))]

    if unnamed(classes) or unnamed(model_classes):
        return np.arange(n_outputs)
    return lookup(classes, [str(c) for c in model_classes], "`classes`", "the classifier's classes")


def _predict(classifier, images, classes=None, batch_size: int = 512) -> np.ndarray:
    _, logits = extract(classifier, images, batch_size=batch_size, features=False)
    cols = _class_columns(getattr(classifier, "classes", None), classes, logits.shape[1])
    return logits[:, cols].argmax(1)


def _per_class_recall(y_true: np.ndarray, y_pred: np.ndarray, n_classes: int) -> np.ndarray:
    recall = np.full(n_classes, np.nan)
    for c in range(n_classes):
        mask = y_true == c
        if mask.any():
            recall[c] = float((y_pred[mask] == c).mean())
    return recall


def _labels(labels, n: int, name: str = "labels") -> np.ndarray:
    labels = np.asarray(labels)
    if labels.ndim != 1 or len(labels) != n:
        raise ValueError(f"`{name}` must hold one label per image ({n}). Got shape {labels.shape} instead.")
    if labels.dtype.kind not in "iu" or (n and labels.min() < 0):
        raise ValueError(f"`{name}` must hold non-negative integer class indices. Got {labels.dtype} values.")
    return labels.astype(np.int64)


def classifier_recall(
    classifier, images, labels, *, classes: Sequence[str] | None = None, batch_size: int = 512
) -> np.ndarray:
    """Per class, the fraction of ``images`` of that label that ``classifier`` assigns to it.

    For generated images, this says whether the intended class is recognisable; computed on
    real images, it is the ceiling a generator can hope for with this classifier.

    Parameters
    ----------
    classifier : FERClassifier, torch.nn.Module or callable
        Maps ``N×C×H×W`` floats in ``[-1, 1]`` to class logits.
    images : array-like or torch.Tensor
        uint8 pixels or floats in ``[-1, 1]`` (see :func:`~cganbalance.classifier.to_model_input`).
    labels : array-like of int
        The intended class of each image.
    classes : list of str or None
        Names of the label indices; when given and the classifier names its classes, logits
        are matched by name (so label orders may differ).
    batch_size : int

    Returns
    -------
    ndarray of shape (n_classes,)
        NaN for classes without images.
    """
    x = to_model_input(images)
    labels = _labels(labels, len(x))
    pred = _predict(classifier, x, classes, batch_size)
    n_classes = (
        len(classes) if classes is not None else max(int(labels.max(initial=-1)) + 1, int(pred.max(initial=-1)) + 1)
    )
    return _per_class_recall(labels, pred, n_classes)


def cas(
    X_synthetic,
    y_synthetic,
    X_real,
    y_real,
    *,
    epochs: int = 5,
    batch_size: int = 128,
    model_params: dict | None = None,
    random_state=0,
    verbose: bool = False,
) -> dict:
    """Classification accuracy score: train on synthetic images only, test on real ones.

    Parameters
    ----------
    X_synthetic, y_synthetic :
        Generated images (uint8 or floats in ``[-1, 1]``) and their intended labels.
    X_real, y_real :
        Real test images and labels (same label indices).
    epochs, batch_size :
        Training budget of the classifier (:func:`~cganbalance.classifier.train_classifier`).
    model_params : dict or None
        Constructor arguments of the :class:`~cganbalance.classifier.FERClassifier`.
    random_state : int, numpy.random.RandomState or None
    verbose : bool

    Returns
    -------
    dict
        ``accuracy``, ``balanced_accuracy``, ``macro_f1`` and ``recall`` (per class) on the
        real images.
    """


    x_syn, x_real = to_model_input(X_synthetic), to_model_input(X_real)
    y_syn, y_true = _labels(y_synthetic, len(x_syn), "y_synthetic"), _labels(y_real, len(x_real), "y_real")
    params = dict(model_params or {})
    n_classes = params.setdefault("n_classes", int(max(y_syn.max(initial=0), y_true.max(initial=0))) + 1)
    params.setdefault("image_size", list(x_real.shape[2:]))
    model = train_classifier(
        x_syn,
        y_syn,
        epochs=epochs,
        batch_size=batch_size,
        model_params=params,
        random_state=random_state,
        verbose=verbose,
    )
    pred = _predict(model, x_real)
    return {
        "accuracy": float(accuracy_score(y_true, pred)),
        "balanced_accuracy": float(balanced_accuracy_score(y_true, pred)),
        "macro_f1": float(f1_score(y_true, pred, average="macro", labels=np.arange(n_classes), zero_division=0)),
        "recall": _per_class_recall(y_true, pred, n_classes).tolist(),
    }


def _held_out(groups: np.ndarray, test_size: float, rng) -> np.ndarray:
    """Mask of ``round(test_size × size)`` rows of each group, drawn with ``rng``.

    sklearn's stratified splits refuse groups of one row; here such a group stays in training.
    """
    test = np.zeros(len(groups), dtype=bool)
    for g in np.unique(groups):
        members = rng.permutation(np.flatnonzero(groups == g))
        test[members[: int(test_size * len(members) + 0.5)]] = True
    return test


@torch.no_grad()
def _recalibrate_batchnorm(model, x: torch.Tensor, batch_size: int, rng) -> None:
    """Set the BatchNorm statistics of ``model`` to the averages over ``x`` (shuffled batches).

    After a short training run (tens of steps) the running averages still hold part of their
    initial values and lag the final weights; in evaluation mode every logit then shifts, and a
    classifier that ranks held-out images perfectly may give them all one class.
    """
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # a cumulative average
    model.train()
    try:
        order = torch.as_tensor(rng.permutation(len(x)))
        for start in range(0, len(x), batch_size):
            model.features(x[order[start : start + batch_size]])  # the body only: no dropout draws
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
        model.eval()


def _held_out_scores(logits: np.ndarray, is_generated: np.ndarray, image_class: np.ndarray | None, n_classes: int):
    """Accuracy and AUC of the real/generated classifier on held-out images, and its accuracy per
    image class (NaN for a class with none held out; None without classes)."""
    correct = logits.argmax(1) == is_generated
    per_class = None
    if image_class is not None:
        per_class = [
            float(correct[image_class == c].mean()) if (image_class == c).any() else math.nan for c in range(n_classes)
        ]
    auc = roc_auc_score(is_generated, expit(logits[:, 1] - logits[:, 0]))
    return {"accuracy": float(correct.mean()), "auc": float(auc), "per_class": per_class}


def _check_two_sample_args(y_real, y_generated, test_size) -> None:
    if (y_real is None) != (y_generated is None):
        given = "y_real" if y_generated is None else "y_generated"
        raise ValueError(f"`y_real` and `y_generated` must be given together or not at all. Got only `{given}`.")
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float, np.number)) or not 0 < test_size < 1:
        raise ValueError(f"`test_size` must be a number in (0, 1). Got {test_size!r} instead.")


def _class_matched_pairs(y_real: np.ndarray, y_generated: np.ndarray, n_classes: int, rng):
    """Indices of pairs of one real and one generated image of the same class, and each pair's
    class: as many pairs of a class as the smaller side holds, drawn without replacement."""
    real_idx, gen_idx, pair_class = [], [], []
    for c in range(n_classes):
        pool_real, pool_gen = np.flatnonzero(y_real == c), np.flatnonzero(y_generated == c)
        m = min(len(pool_real), len(pool_gen))
        real_idx.append(rng.choice(pool_real, m, replace=False))
        gen_idx.append(rng.choice(pool_gen, m, replace=False))
        pair_class.append(np.full(m, c))
    return tuple(map(np.concatenate, (real_idx, gen_idx, pair_class)))


def two_sample_test(
    X_real,
    X_generated,
    *,
    y_real=None,
    y_generated=None,
    test_size: float = 0.3,
    epochs: int = 6,
    batch_size: int = 128,
    random_state=0,
    verbose: bool = False,
) -> dict:
    """Classifier two-sample test: can a small CNN tell generated images from real ones?

    A :class:`~cganbalance.classifier.FERClassifier` with two outputs is trained
    (:func:`~cganbalance.classifier.train_classifier`) on equal numbers of real and generated
    images and scored on a held-out part (Lopez-Paz & Oquab, 2017). A held-out accuracy near
    0.5 means the classifier found no difference; 1 means every image was told apart. Unlike
    the feature-space metrics, nothing here depends on the FER-2013 extractor.

    The larger set is subsampled so that both sides hold as many images; with labels, this is
    done per class (``min(n_real_c, n_generated_c)`` of each), so that neither the set sizes nor
    the class mix is a cue. The held-out part takes ``test_size`` of the real/generated pairs
    of each class, so it holds as many real as generated images of every class. After training,
    the classifier's BatchNorm statistics are recomputed on its training images: a short run
    leaves the running averages lagging, which shifts every held-out logit.

    Parameters
    ----------
    X_real, X_generated : array-like or torch.Tensor
        Images of the same shape; uint8 pixels or floats in ``[-1, 1]`` (see
        :func:`~cganbalance.classifier.to_model_input`). Pass generated images as the sampler
        returns them (uint8 when the real ones are), so that rounding is no cue either.
    y_real, y_generated : array-like of int or None
        Class indices of the images (the same label indices on both sides), both or neither.
        With labels, the class mix is matched and ``per_class`` is reported.
    test_size : float, default=0.3
        Fraction of the images held out for scoring, in (0, 1).
    epochs, batch_size : int
        Training budget of the classifier.
    random_state : int, numpy.random.RandomState or None
        Draws the subsamples, the split and the classifier's initialisation and batches.
    verbose : bool
        Show the classifier's progress bar.

    Returns
    -------
    dict
        ``accuracy`` (held-out; 0.5: indistinguishable), ``auc`` (ROC AUC of the classifier's
        probability that an image is generated; 0.5: indistinguishable), ``n_train`` and
        ``n_test`` (images, half of them real), and ``per_class``: with labels, the held-out
        accuracy on each class's images in label order (NaN for a class without held-out
        images); None without labels.

    Raises
    ------
    ValueError
        When either side holds fewer than 10 images (of the classes both sides hold, when
        labelled), the image shapes or the label counts do not match, or ``test_size`` is not
        in (0, 1) or leaves no image for training or for scoring.

    Examples
    --------
    >>> import numpy as np
    >>> from cganbalance.metrics import two_sample_test
    >>> rng = np.random.RandomState(0)
    >>> real = rng.randint(0, 200, size=(200, 16, 16)).astype(np.uint8)
    >>> generated = rng.randint(0, 200, size=(200, 16, 16)).astype(np.uint8)
    >>> generated[:, 4:8, 4:8] = 255  # a mark no real image has
    >>> result = two_sample_test(real, generated, epochs=2)
    >>> result["accuracy"] > 0.9, result["n_train"], result["n_test"]
    (True, 280, 120)

    A generator's faces against real ones, class by class (:func:`evaluate_generator` draws
    them and rounds them to uint8 pixels):

    >>> from cganbalance import fer2013
    >>> from cganbalance.metrics import evaluate_generator
    >>> X, y = fer2013.load("public_test.npz")  # doctest: +SKIP
    >>> evaluate_generator("fer2013-cgan", X, y, two_sample_epochs=6)["two_sample"]  # doctest: +SKIP
    """
    x_real, x_gen = _model_input(X_real, "X_real"), _model_input(X_generated, "X_generated")
    if x_real.shape[1:] != x_gen.shape[1:]:
        raise ValueError(
            "`X_real` and `X_generated` must hold images of the same shape. "
            f"Got {tuple(x_real.shape[1:])} and {tuple(x_gen.shape[1:])} instead."
        )
    _check_two_sample_args(y_real, y_generated, test_size)
    epochs, batch_size = _positive_int(epochs, "epochs"), _positive_int(batch_size, "batch_size")
    labelled = y_real is not None
    if labelled:
        y_r, y_g = _labels(y_real, len(x_real), "y_real"), _labels(y_generated, len(x_gen), "y_generated")
    else:
        y_r, y_g = np.zeros(len(x_real), np.int64), np.zeros(len(x_gen), np.int64)
    n_classes = int(max(y_r.max(initial=0), y_g.max(initial=0))) + 1
    rng = check_random_state(random_state)

    real_idx, gen_idx, pair_class = _class_matched_pairs(y_r, y_g, n_classes, rng)
    n_pairs = len(pair_class)
    _check_pair_count(n_pairs, len(x_real), len(x_gen), labelled)
    test_pair = _held_out(pair_class, test_size, rng)
    _check_held_out(test_pair, n_pairs, test_size)

    x = torch.cat([x_real[torch.as_tensor(real_idx)], x_gen[torch.as_tensor(gen_idx)]])
    is_generated = np.repeat([0, 1], n_pairs)
    test, image_class = np.tile(test_pair, 2), np.tile(pair_class, 2)
    x_train = x[torch.as_tensor(~test)]
    model = train_classifier(
        x_train,
        is_generated[~test],
        epochs=epochs,
        batch_size=batch_size,
        model_params={"n_classes": 2},
        classes=["real", "generated"],
        random_state=int(rng.randint(np.iinfo(np.int32).max)),
        verbose=verbose,
    )
    _recalibrate_batchnorm(model, x_train, batch_size, rng)
    _, logits = extract(model, x[torch.as_tensor(test)], features=False)
    result = _held_out_scores(logits, is_generated[test], image_class[test] if labelled else None, n_classes)
    return {**result, "n_train": int((~test).sum()), "n_test": int(test.sum())}


# -- memorisation ----------------------------------------------------------------------------
def _pixels(images, name: str) -> torch.Tensor:
    """Images as rows of grey levels (0–255, float32)."""
    return from_unit(_model_input(images, name)).flatten(1)


def _check_pair_count(n_pairs: int, n_real: int, n_generated: int, labelled: bool) -> None:
    if n_pairs < _TWO_SAMPLE_MIN:
        got = f"{n_pairs} per side, from {n_real} real and {n_generated} generated images" if labelled else f"{n_real} and {n_generated}"
        raise ValueError(
            f"`X_real` and `X_generated` must each hold at least {_TWO_SAMPLE_MIN} images"
            + (" of the classes both hold" if labelled else "")
            + f". Got {got} instead."
        )


def _check_held_out(test_pair: np.ndarray, n_pairs: int, test_size) -> None:
    if test_pair.all() or not test_pair.any():
        raise ValueError(
            f"`test_size` leaves no image {'for training' if test_pair.all() else 'held out'} "
            f"of {2 * n_pairs} images; choose a fraction further from {1 if test_pair.all() else 0}. "
            f"Got {test_size!r} instead."
        )

def _nearest(query: torch.Tensor, reference: torch.Tensor, chunk: int = 1024, shortlist: int = 8):
    """RMS distance (grey levels) of each query row to its nearest reference row, and its index.

    Candidates are short-listed with a float32 matrix product, then their distances are
    recomputed exactly in float64, so exact copies give exactly 0.
    """
    ref_sq = (reference.double() ** 2).sum(1).float()
    shortlist = min(shortlist, len(reference))
    dist, index = [], []
    for start in range(0, len(query), chunk):
        q = query[start : start + chunk]
        approx = ref_sq[None, :] - 2 * q @ reference.T  # |q|² is constant per row
        cand = approx.topk(shortlist, dim=1, largest=False).indices
        exact = ((q[:, None, :].double() - reference[cand].double()) ** 2).sum(2)
        best = exact.argmin(1)
        dist.append(exact.gather(1, best[:, None]).squeeze(1))
        index.append(cand.gather(1, best[:, None]).squeeze(1))
    d = torch.cat(dist).sqrt() / math.sqrt(query.shape[1])
    return d.numpy(), torch.cat(index).numpy()


def memorisation(generated, train, test, *, quantile: float = 0.01, copy_tolerance: float = 1.0) -> dict:
    """Does the generator reproduce training images? Pixel-space nearest neighbours.

    For each generated image, the root-mean-square pixel difference (in grey levels, 0–255) to
    its nearest training image; for reference, the same for each real test image. A generator
    that memorises has many samples closer to the training set than real unseen faces are.

    Parameters
    ----------
    generated, train, test : array-like or torch.Tensor
        Images of the same shape; uint8 pixels or floats in ``[-1, 1]``.
    quantile : float
        The threshold is this quantile of the test-to-train distances (0.01: closer to a
        training image than 99% of real test faces are).
    copy_tolerance : float
        Distances at or below this many grey levels count as copies.

    Returns
    -------
    dict
        ``generated_nn`` and ``generated_nn_index`` (per generated image), ``test_nn``,
        ``threshold``, ``fraction_below`` (fraction of generated images under the threshold;
        about ``quantile`` for a generator that does not copy), ``median_ratio`` (median
        generated-to-train over median test-to-train distance), ``n_copies``.
    """
    if not 0 < quantile < 1:
        raise ValueError(f"`quantile` must lie in (0, 1). Got {quantile!r} instead.")
    if not copy_tolerance >= 0:
        raise ValueError(f"`copy_tolerance` must be non-negative. Got {copy_tolerance!r} instead.")
    gen, ref, held = _pixels(generated, "generated"), _pixels(train, "train"), _pixels(test, "test")
    for name, x in (("generated", gen), ("test", held)):
        if x.shape[1] != ref.shape[1]:
            raise ValueError(
                f"`{name}` and `train` must have images of the same size. Got {x.shape[1]} and {ref.shape[1]} pixels."
            )
    if not len(ref) or not len(held) or not len(gen):
        raise ValueError("`generated`, `train` and `test` must each hold at least one image.")
    gen_nn, gen_index = _nearest(gen, ref)
    test_nn, _ = _nearest(held, ref)
    threshold = float(np.quantile(test_nn, quantile))
    test_median = float(np.median(test_nn))
    return {
        "generated_nn": gen_nn,
        "generated_nn_index": gen_index,
        "test_nn": test_nn,
        "threshold": threshold,
        "fraction_below": float((gen_nn < threshold).mean()) if threshold > 0 else float((gen_nn <= 0).mean()),
        "median_ratio": float(np.median(gen_nn) / test_median) if test_median > 0 else math.inf,
        "n_copies": int((gen_nn <= copy_tolerance).sum()),
        "quantile": quantile,
    }


# -- everything, per class -------------------------------------------------------------------
def _resolve_extractor(extractor):
    if extractor is None:
        return load_fer_classifier()
    if isinstance(extractor, str) or hasattr(extractor, "__fspath__"):
        return load_fer_classifier(extractor)
    if not (hasattr(extractor, "features") and hasattr(extractor, "head")):
        raise TypeError(
            "`extractor` must be a FERClassifier, a folder saved by save_classifier, or None (the shipped one). "
            f"Got {type(extractor).__name__} instead."
        )
    return extractor


def _mean(values) -> float:
    values = np.asarray([v for v in values if v is not None], dtype=float)
    return float(np.nanmean(values)) if np.isfinite(values).any() else math.nan


def _class_row(name: str, real: np.ndarray, generated: np.ndarray, k: int, kid_subsets: int, seed: int) -> dict:
    """The feature-space metrics of one class (NaN when it has too few samples to measure)."""
    row = {"class": name, "n_real": len(real), "n_generated": len(generated)}
    row.update(dict.fromkeys(PER_CLASS_METRICS, math.nan))
    if min(len(real), len(generated)) > k + 2:
        row["fid"] = frechet_distance(generated, real)
        row["kid"] = kernel_inception_distance(generated, real, n_subsets=kid_subsets, random_state=seed)
        row["precision"], row["recall"] = precision_recall(real, generated, k=k)
        row["density"], row["coverage"] = density_coverage(real, generated, k=k + 2)
        row["diversity"] = within_class_diversity(generated, real, random_state=seed)
    return row


def evaluate_samples(
    X_generated,
    y_generated,
    X_real,
    y_real,
    *,
    classes: Sequence[str] | None = None,
    extractor=None,
    X_train=None,
    cas_epochs: int | None = None,
    two_sample_epochs: int | None = None,
    k: int = 3,
    kid_subsets: int = 100,
    random_state=0,
    batch_size: int = 512,
) -> dict:
    """Per-class generator metrics for given generated (or any candidate) images.

    Parameters
    ----------
    X_generated, y_generated :
        Candidate images (uint8 or floats in ``[-1, 1]``) and their intended labels.
    X_real, y_real :
        Real held-out images (the FER-2013 public test set) and labels, same label indices.
    classes : list of str or None
        Class names of the label indices (default ``"0"``, ``"1"``, ...); matched by name
        against the extractor's classes.
    extractor : FERClassifier, path or None
        The feature extractor and real-data classifier; ``None`` loads the shipped one.
    X_train : array-like or None
        Real training images: adds :func:`memorisation`.
    cas_epochs : int or None
        Adds :func:`cas` with this training budget.
    two_sample_epochs : int or None
        Adds :func:`two_sample_test` of the candidate images against ``X_real`` (labels given,
        so the class mix is matched and the accuracy reported per class too), with this
        training budget.
    k : int
        Neighbourhood size of precision/recall (density/coverage use ``k + 2``).
    kid_subsets : int
        Subsets averaged by KID.
    random_state : int, numpy.random.RandomState or None
    batch_size : int
        Images per forward pass of the extractor.

    Returns
    -------
    dict
        ``classes``; ``per_class`` (one dict per class with ``n_real``, ``n_generated`` and the
        metrics of :data:`PER_CLASS_METRICS`, NaN when a class has too few samples); ``mean``
        (mean over classes of each metric); ``cas``, ``two_sample`` and ``memorisation``
        summaries or None; ``settings``.
    """
    extractor = _resolve_extractor(extractor)
    x_gen, x_real = to_model_input(X_generated), to_model_input(X_real)
    y_gen, y_true = _labels(y_generated, len(x_gen), "y_generated"), _labels(y_real, len(x_real), "y_real")
    n_classes = len(classes) if classes is not None else int(max(y_gen.max(initial=-1), y_true.max(initial=-1))) + 1
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(n_classes)]
    if (y_gen.size and y_gen.max() >= n_classes) or (y_true.size and y_true.max() >= n_classes):
        raise ValueError(f"Labels must lie in [0, {n_classes - 1}] for the {n_classes} `classes` {names}.")
    k = _positive_int(k, "k")
    rng = check_random_state(random_state)
    cols = _class_columns(extractor.classes, names if classes is not None else None, extractor.n_classes)
    if len(cols) != n_classes:
        raise ValueError(
            f"The extractor has {extractor.n_classes} classes {extractor.classes}; the data has {n_classes}. "
            "Pass `classes` to match them by name."
        )
    f_gen, logit_gen = extract(extractor, x_gen, batch_size=batch_size)
    f_real, logit_real = extract(extractor, x_real, batch_size=batch_size)
    gen_recall = _per_class_recall(y_gen, logit_gen[:, cols].argmax(1), n_classes)
    real_recall = _per_class_recall(y_true, logit_real[:, cols].argmax(1), n_classes)

    per_class = []
    for c, name in enumerate(names):
        seed = int(rng.randint(np.iinfo(np.int32).max))  # drawn for every class, so classes do not shift each other
        row = _class_row(name, f_real[y_true == c], f_gen[y_gen == c], k, kid_subsets, seed)
        row["classifier_recall"], row["real_recall"] = float(gen_recall[c]), float(real_recall[c])
        per_class.append(row)
    results = {
        "classes": names,
        "per_class": per_class,
        "mean": {m: _mean(r[m] for r in per_class) for m in PER_CLASS_METRICS},
        "cas": None,
        "two_sample": None,
        "memorisation": None,
        "settings": {
            "k": k,
            "kid_subsets": kid_subsets,
            "cas_epochs": cas_epochs,
            "two_sample_epochs": two_sample_epochs,
            "extractor": extractor.get_config() if hasattr(extractor, "get_config") else type(extractor).__name__,
        },
    }
    _add_optional_metrics(results, x_gen, y_gen, x_real, y_true, n_classes, rng, cas_epochs=cas_epochs,
                          two_sample_epochs=two_sample_epochs, X_train=X_train)
    return results


def _add_optional_metrics(results, x_gen, y_gen, x_real, y_true, n_classes, rng, *, cas_epochs, two_sample_epochs,
                          X_train) -> None:
    """The costly, optional parts of :func:`evaluate_samples`: CAS, the two-sample test, memorisation."""
    if cas_epochs:
        results["cas"] = cas(
            x_gen,
            y_gen,
            x_real,
            y_true,
            epochs=cas_epochs,
            model_params={"n_classes": n_classes},
            random_state=int(rng.randint(np.iinfo(np.int32).max)),
        )
    if two_sample_epochs:
        results["two_sample"] = two_sample_test(
            x_real,
            x_gen,
            y_real=y_true,
            y_generated=y_gen,
            epochs=two_sample_epochs,
            random_state=int(rng.randint(np.iinfo(np.int32).max)),
        )
        # classes missing from both sides are beyond the largest label it saw
        results["two_sample"]["per_class"] += [math.nan] * (n_classes - len(results["two_sample"]["per_class"]))
    if X_train is not None:
        mem = memorisation(x_gen, X_train, x_real)
        results["memorisation"] = {key: v for key, v in mem.items() if not isinstance(v, np.ndarray)}


def _quantise(images: torch.Tensor) -> np.ndarray:
    """Generated ``[-1, 1]`` images as uint8 pixels, as a user of the sampler receives them."""
    return np.rint(from_unit(images.numpy(), clip=True)).astype(np.uint8)


def _label_names(generator, y_true: np.ndarray, classes) -> list[str]:
    """Names of the label indices of ``y_true``: ``classes``, or the generator's own."""
    if classes is not None:
        return [str(c) for c in classes]
    if y_true.size and y_true.max() >= generator.n_classes:
        raise ValueError(
            f"`y_real` holds label {y_true.max()}, but the generator has {generator.n_classes} classes; "
            "pass `classes` to match labels by name."
        )
    return list(generator.classes)


def evaluate_generator(
    generator,
    X_real,
    y_real,
    *,
    n_per_class: int | None = None,
    classes: Sequence[str] | None = None,
    extractor=None,
    X_train=None,
    cas_epochs: int | None = None,
    two_sample_epochs: int | None = None,
    k: int = 3,
    kid_subsets: int = 100,
    random_state=0,
    batch_size: int = 512,
    latent_scale: float = 1.0,
    filter_keep: float | None = None,
) -> dict:
    """Draw samples of every class from ``generator`` and compute :func:`evaluate_samples`.

    Generated images are rounded to uint8 pixels first, like the images the sampler returns
    and like the real ones.

    Parameters
    ----------
    generator : Generator, str or path
        A generator, or anything :func:`cganbalance.from_pretrained` loads (``"fer2013-cgan"``).
    X_real, y_real :
        Real held-out images (uint8, ``N×H×W``) and labels.
    n_per_class : int or None
        Samples per class; ``None`` draws as many as ``X_real`` holds of each class, so that
        the generated and the real sets are of equal size (FID and the k-NN metrics depend on
        set sizes).
    classes : list of str or None
        Names of ``y_real``'s label indices; when given, samples are requested by name from the
        generator (so label orders may differ). ``None`` uses the generator's label order.
    extractor, X_train, cas_epochs, two_sample_epochs, k, kid_subsets, batch_size :
        See :func:`evaluate_samples`.
    random_state : int, numpy.random.RandomState or None
        Seeds the noise and every subsampling.
    latent_scale : float, default=1.0
        Standard deviation of the generator's noise; see :meth:`~cganbalance.nets.Generator.generate`.
    filter_keep : float or None, default=None
        Below 1: score what ``CGANOverSampler`` returns with ``filter_keep`` (``1 / filter_keep``
        candidates drawn per sample, the best kept), ranked by the discriminator saved with
        ``generator`` (a folder, alias or repo id holding one; see
        :func:`~cganbalance.hub.load_discriminator`). ``None`` or 1: no ranking.

    Returns
    -------
    dict
        As :func:`evaluate_samples`, plus ``n_per_class``, ``latent_scale`` and ``filter_keep`` in
        ``settings``.

    Examples
    --------
    >>> from cganbalance import fer2013
    >>> from cganbalance.metrics import evaluate_generator, format_markdown
    >>> X, y = fer2013.load("public_test.npz")  # doctest: +SKIP
    >>> print(format_markdown(evaluate_generator("fer2013-cgan", X, y)))  # doctest: +SKIP
    """
    latent_scale = check_latent_scale(latent_scale)
    source = generator
    generator = load_generator(generator)
    discriminator = _ranking_discriminator(source, generator, filter_keep)
    x_real = to_model_input(X_real)
    y_true = _labels(y_real, len(x_real), "y_real")
    names = _label_names(generator, y_true, classes)
    if n_per_class is not None:
        counts = np.full(len(names), _positive_int(n_per_class, "n_per_class"))
    else:
        counts = np.bincount(y_true, minlength=len(names))
    rng = check_random_state(random_state)
    y_gen = np.repeat(np.arange(len(names)), counts)
    requested = [names[i] for i in y_gen] if classes is not None else y_gen
    seed = int(rng.randint(np.iinfo(np.int32).max))
    # A discriminator comes only with a generator loaded here from its folder (float32, ours to use).
    images = generate_ranked(generator, discriminator, requested, keep=filter_keep, random_state=seed,
                             batch_size=batch_size, latent_scale=latent_scale)
    results = evaluate_samples(
        _quantise(images),
        y_gen,
        x_real,
        y_true,
        classes=names,
        extractor=extractor,
        X_train=X_train,
        cas_epochs=cas_epochs,
        two_sample_epochs=two_sample_epochs,
        k=k,
        kid_subsets=kid_subsets,
        random_state=rng,
        batch_size=batch_size,
    )
    results["settings"]["n_per_class"] = n_per_class
    results["settings"]["latent_scale"] = latent_scale
    results["settings"]["filter_keep"] = filter_keep
    return results


def _ranking_discriminator(source, generator, filter_keep):
    """The discriminator saved with ``source`` when ``filter_keep`` asks for ranking; ``None`` otherwise."""
    if filter_keep is not None and (
        isinstance(filter_keep, bool) or not isinstance(filter_keep, (int, float)) or not 0 < filter_keep <= 1
    ):
        raise ValueError(f"`filter_keep` must be None or a fraction in (0, 1]. Got {filter_keep!r} instead.")
    return saved_discriminator(source, generator, filter_keep)


_HEADERS = {
    "fid": "FID ↓",
    "kid": "KID×10³ ↓",
    "precision": "precision",
    "recall": "recall",
    "density": "density",
    "coverage": "coverage",
    "classifier_recall": "recognised",
    "real_recall": "recognised (real)",
    "diversity": "diversity",
}


def format_markdown(results: dict, *, digits: int = 3, title: str | None = None) -> str:
    """The per-class table of :func:`evaluate_samples` / :func:`evaluate_generator` as Markdown.

    Columns: FID, KID (×1000), precision, recall, density, coverage, "recognised" (the real-data
    classifier's recall on generated samples), the same on real test images (its ceiling), and
    the diversity ratio; a last row holds the mean over classes. CAS, the two-sample test and
    memorisation follow as lines when present.
    """
    if not isinstance(results, dict) or "per_class" not in results:
        raise ValueError("`results` must be the dict returned by evaluate_generator or evaluate_samples.")

    def cell(metric, value):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return "–"
        return f"{value * 1000:.{max(digits - 1, 1)}f}" if metric == "kid" else f"{value:.{digits}f}"

    lines = [f"**{title}**", ""] if title else []
    lines.append("| class | real / generated | " + " | ".join(_HEADERS[m] for m in PER_CLASS_METRICS) + " |")
    lines.append("|---|---|" + "---|" * len(PER_CLASS_METRICS))
    for row in results["per_class"]:
        cells = " | ".join(cell(m, row[m]) for m in PER_CLASS_METRICS)
        lines.append(f"| {row['class']} | {row['n_real']} / {row['n_generated']} | {cells} |")
    cells = " | ".join(f"**{cell(m, results['mean'][m])}**" for m in PER_CLASS_METRICS)
    lines.append(f"| **mean** | | {cells} |")
    if results.get("cas"):
        c = results["cas"]
        lines += [
            "",
            (
                f"CAS (trained on generated only, {results['settings'].get('cas_epochs')} epochs, tested on real): "
                f"accuracy {c['accuracy']:.{digits}f}, balanced accuracy {c['balanced_accuracy']:.{digits}f}, "
                f"macro-F1 {c['macro_f1']:.{digits}f}."
            ),
        ]
    if results.get("two_sample"):
        t = results["two_sample"]
        epochs = results["settings"].get("two_sample_epochs")
        per_class = ", ".join(
            f"{name} {cell('accuracy', v)}" for name, v in zip(results["classes"], t["per_class"] or [])
        )
        lines += [
            "",
            (
                f"Two-sample test (a classifier trained {epochs} epoch{'s' * (epochs != 1)} to tell "
                f"generated from real images, class mix matched, scored on {t['n_test']} held-out images): accuracy "
                f"{t['accuracy']:.{digits}f}, AUC {t['auc']:.{digits}f} (0.5: indistinguishable, 1: always told apart)"
                + (f"; accuracy per class: {per_class}." if per_class else ".")
            ),
        ]
    if results.get("memorisation"):
        m = results["memorisation"]
        lines += [
            "",
            (
                f"Memorisation (pixel RMS distance to the nearest training image): median generated / median "
                f"test = {m['median_ratio']:.{digits}f}; {m['fraction_below']:.2%} of generated images are closer "
                f"than {m['quantile']:.0%} of real test images ({m['threshold']:.1f} grey levels); "
                f"{m['n_copies']} near-exact copies."
            ),
        ]
    return "\n".join(lines)
