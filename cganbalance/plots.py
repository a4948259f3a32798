"""Pictures: a sample grid (one row per class), the loss curves and a quality-against-time curve."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .over_sampling._filtering import generate_ranked

__all__ = ["sample_grid", "loss_plot", "quality_plot"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path, dpi: int) -> Path:
    """Lay out, write (creating the folder) and close ``fig``."""
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    _pyplot().close(fig)
    return path


def sample_grid(
    generator, path, n_per_class: int = 8, random_state=0, title: str | None = None, latent_scale: float = 1.0,
    *, discriminator=None, filter_keep: float | None = None,
) -> Path:
    """Save a PNG grid of generated images: one row per class, labelled with the class name.

    ``latent_scale`` (default 1.0) is the standard deviation of the noise (see ``Generator.generate``).
    With a ``discriminator`` and ``filter_keep`` below 1, the images are ranked as
    ``CGANOverSampler`` ranks them (``1 / filter_keep`` candidates each, the best kept).
    """
    plt = _pyplot()
    labels = np.repeat(np.arange(generator.n_classes), n_per_class)
    samples = generate_ranked(generator, discriminator, labels, keep=filter_keep, random_state=random_state,
                              latent_scale=latent_scale)
    images = generator.to_numpy(samples)
    rows, cols = generator.n_classes, n_per_class
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9 + 1.2, rows * 0.9 + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        img = images[i]
        ax.imshow(img[..., 0] if img.shape[-1] == 1 else img, cmap="gray", vmin=0, vmax=255)
        ax.set_xticks([])
        ax.set_yticks([])
        if i % cols == 0:
            ax.set_ylabel(generator.classes[i // cols], rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path, dpi=80)


def loss_plot(history: list[dict], path, title: str = "cGAN training losses") -> Path:
    """Save a PNG of the per-epoch discriminator and generator losses."""
    plt = _pyplot()
    epochs = [h["epoch"] for h in history]
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for key, name in (("d_loss", "discriminator"), ("g_loss", "generator")):
        ax.plot(epochs, [h.get(key, np.nan) for h in history], marker="o", ms=3, label=name)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean loss")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path, dpi=100)


#: Curves of :func:`quality_plot`: metric key -> legend label (all in [0, 1]; higher is better).
QUALITY_CURVES = {"recall": "recall", "coverage": "coverage", "classifier_recall": "recognised"}


def quality_plot(rows: list[dict], path, title: str = "Generator quality during training", references=None) -> Path:
    """Save a PNG of generator quality against training time, one point per evaluation.

    ``rows`` hold ``train_seconds`` and per-class means of ``recall``, ``coverage``,
    ``classifier_recall`` and ``fid`` (as ``benchmarks/train_fer_generator.py`` writes them to
    ``curve.json``). Left: the three scores in [0, 1]; right: FID. ``references`` (optional,
    ``{key: value}``) draws the values real faces get as dashed lines, in the curve's colour.
    """
    plt = _pyplot()
    hours = [r["train_seconds"] / 3600 for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    for key, name in QUALITY_CURVES.items():
        (line,) = left.plot(hours, [r.get(key, np.nan) for r in rows], marker="o", ms=3, label=name)
        if references and key in references:
            left.axhline(references[key], color=line.get_color(), ls="--", lw=1)
    left.set_ylim(0, 1)
    left.set_ylabel("per-class mean")
    right.plot(hours, [r.get("fid", np.nan) for r in rows], marker="o", ms=3, color="black")
    right.set_ylabel("per-class mean FID (lower is better)")
    for ax in (left, right):
        ax.set_xlabel("training hours")
        ax.grid(alpha=0.3)
    left.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    return _save(fig, path, dpi=100)
