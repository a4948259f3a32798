"""Pictures: a sample grid (one row per class) and the loss curves."""

from __future__ import annotations

from pathlib import Path

import numpy as np

__all__ = ["sample_grid", "loss_plot"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def sample_grid(
    generator, path, n_per_class: int = 8, random_state=0, title: str | None = None, latent_scale: float = 1.0
) -> Path:
    """Save a PNG grid of generated images: one row per class, labelled with the class name.

    ``latent_scale`` (default 1.0) is the standard deviation of the noise (see ``Generator.generate``).
    """
    plt = _pyplot()
    labels = np.repeat(np.arange(generator.n_classes), n_per_class)
    images = generator.to_numpy(generator.generate(labels, random_state=random_state, latent_scale=latent_scale))
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
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path


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
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
