"""Pictures: sample grids, loss curves and quality-against-time curves are written as PNGs."""

import numpy as np
import pytest
import torch
from PIL import Image

from cganbalance import Generator
from cganbalance.plots import loss_plot, quality_plot, sample_grid


def test_sample_grid_has_one_row_per_class(tmp_path):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        g = Generator(n_classes=3, latent_dim=4, output_shape=[1, 16, 16], widths=[8, 4], classes=["a", "b", "c"])
    path = sample_grid(g, tmp_path / "grid.png", n_per_class=4, random_state=0, title="t")
    width, height = Image.open(path).size
    assert path.exists() and height > 0.6 * width  # 3 rows of 4 (plus labels): not one long strip


def test_loss_plot(tmp_path):
    history = [{"epoch": e, "d_loss": 1.0 / e, "g_loss": float(e)} for e in range(1, 4)]
    assert Image.open(loss_plot(history, tmp_path / "losses.png")).size == (600, 350)


def test_quality_plot_draws_every_evaluation(tmp_path, monkeypatch):
    import matplotlib.figure

    rows = [{"train_seconds": 1800.0 * (i + 1), "recall": 0.1 * i, "coverage": 0.5 + 0.1 * i,
             "classifier_recall": 0.4, "fid": 9.0 - i} for i in range(3)]
    saved = {}
    real_savefig = matplotlib.figure.Figure.savefig

    def savefig(fig, *args, **kwargs):
        saved["lines"] = [ax.get_lines() for ax in fig.axes]
        return real_savefig(fig, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    path = quality_plot(rows, tmp_path / "curve.png", references={"recall": 0.84, "coverage": 0.95})
    assert Image.open(path).size == (900, 350)
    left, right = saved["lines"]
    assert len(left) == 3 + 2  # recall, coverage, recognised, and the two reference lines
    np.testing.assert_allclose(left[0].get_xdata(), [0.5, 1.0, 1.5])  # hours
    np.testing.assert_allclose(left[0].get_ydata(), [0.0, 0.1, 0.2])
    np.testing.assert_allclose(right[0].get_ydata(), [9.0, 8.0, 7.0])


@pytest.mark.parametrize("rows", [[], [{"train_seconds": 60.0}]])
def test_quality_plot_with_few_or_partial_rows(tmp_path, rows):
    assert quality_plot(rows, tmp_path / "curve.png").exists()
