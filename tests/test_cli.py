"""The command line: train (with resume after SIGKILL), sample, errors."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import torch
import pytest
from safetensors.numpy import load_file

from cganbalance.cli import main
from cganbalance.fer2013 import CLASSES

from ._checkpoints import checkpoint_epoch


@pytest.fixture
def tiny_fer(tmp_path):
    rng = np.random.RandomState(0)
    labels = np.arange(28) % 7
    images = rng.randint(0, 256, size=(28, 48, 48)).astype(np.uint8)
    path = tmp_path / "tiny.npz"
    np.savez(path, images=images, labels=labels, classes=np.array(CLASSES))
    return path


def _cli(*args, **kwargs):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "cganbalance.cli", *map(str, args)], env=env, **kwargs)


@pytest.mark.slow
def test_train_resume_after_sigkill_matches_uninterrupted(tiny_fer, tmp_path):
    common = ["--epochs", "4", "--batch-size", "8", "--seed", "3"]
    full = _cli("train", tiny_fer, "--out", tmp_path / "full", *common)
    assert full.wait(timeout=300) == 0

    out = tmp_path / "killed"
    proc = _cli("train", tiny_fer, "--out", out, *common, stderr=subprocess.DEVNULL)
    checkpoint = out / "checkpoints" / "checkpoint.safetensors"
    deadline = time.time() + 240
    while checkpoint_epoch(checkpoint) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    assert proc.poll() is None, "training finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (out / "generator").exists()
    assert 2 <= checkpoint_epoch(checkpoint) < 4
    assert not [p for p in checkpoint.parent.iterdir() if p.name != checkpoint.name]  # no half-written files

    resumed = _cli("train", tiny_fer, "--out", out, *common, "--resume")
    assert resumed.wait(timeout=300) == 0
    for name in ("model.safetensors", "discriminator.safetensors"):  # the discriminator is saved for filtering
        a = load_file(tmp_path / "full" / "generator" / name)
        b = load_file(out / "generator" / name)
        assert a and a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a), name
    history = json.loads((out / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3, 4]
    for name in ("losses.png", "samples.png", "samples/epoch_004.png", "generator/README.md"):
        assert (out / name).is_file(), name
    card = (out / "generator" / "README.md").read_text()
    assert "--resume" in card and "angry, disgust, fear, happy, sad, surprise, neutral" in card


def test_sample_png_and_npz(tiny_fer, tmp_path, capsys):
    assert main(["train", str(tiny_fer), "--out", str(tmp_path / "run"), "--epochs", "1", "--batch-size", "14"]) == 0
    generator = tmp_path / "run" / "generator"
    assert main(["sample", str(generator), "--out", str(tmp_path / "grid.png"), "--n-per-class", "2"]) == 0
    assert (tmp_path / "grid.png").stat().st_size > 1000
    assert main(["sample", str(generator), "--out", str(tmp_path / "s.npz"), "--n-per-class", "3"]) == 0
    with np.load(tmp_path / "s.npz") as data:
        assert data["images"].shape == (21, 48, 48, 1) and data["images"].dtype == np.uint8
        assert list(data["classes"]) == CLASSES and list(data["labels"][:4]) == [0, 0, 0, 1]


def test_cli_errors_are_one_line(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["train", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "o"), "--epochs", "1"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "cganbalance train: error:" in err and "missing.npz" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as exc:
        main(["sample", "no-such-alias", "--out", str(tmp_path / "x.png")])
    assert exc.value.code == 2
    assert "a known alias ('fer2013-cgan', 'fer2013-cgan-balanced')" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train"])


def test_sample_option_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["sample", "fer2013-cgan", "--out", str(tmp_path / "g.png"), "--n-per-class", "0"])
    assert exc.value.code == 2 and "--n-per-class: must be a whole number of at least 1. Got '0'" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["sample", "fer2013-cgan", "--out", str(tmp_path / "g.jpg")])
    assert exc.value.code == 2 and "cganbalance sample: error: --out must end in .png or .npz" in capsys.readouterr().err


def test_train_sampling_and_augment_options():
    from cganbalance import cli
    from cganbalance.training.presets import AUGMENTATIONS, REAL_SAMPLING

    assert cli._REAL_SAMPLING == REAL_SAMPLING
    parser = cli.build_parser()
    args = parser.parse_args(["train", "x.npz", "--out", "o", "--real-sampling", "sqrt", "--augment", ",".join(AUGMENTATIONS)])
    assert cli._train_overrides(args) == {"train": {"real_sampling": "sqrt", "augment": "translation,cutout"}}
    args = parser.parse_args(["train", "x.npz", "--out", "o", "--augment", "none", "--aux-weight-g", "0.25"])
    assert cli._train_overrides(args) == {"train": {"augment": None, "aux_weight_g": 0.25}}
    assert cli._train_overrides(parser.parse_args(["train", "x.npz", "--out", "o"])) is None
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "x.npz", "--out", "o", "--real-sampling", "weighted"])


def test_bad_training_options_are_reported_before_the_data_is_read(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:  # the data file does not exist: the option is what is wrong first
        main(["train", str(tmp_path / "missing.npz"), "--out", str(tmp_path / "o"), "--augment", "flip"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "`augment` must be None or a comma-separated string" in err and "missing.npz" not in err
    assert not (tmp_path / "o").exists()


def test_latent_scale_option(tmp_path, capsys):
    for command in (["sample", "fer2013-cgan", "--out", str(tmp_path / "g.npz")], ["evaluate", "fer2013-cgan", "--data", "x"]):
        with pytest.raises(SystemExit) as exc:
            main([*command, "--latent-scale", "0"])
        assert exc.value.code == 2 and "--latent-scale: must be a number in (0, 10]. Got '0'" in capsys.readouterr().err
    out = tmp_path / "wide.npz"
    assert main(["sample", "fer2013-cgan", "--out", str(out), "--n-per-class", "3", "--latent-scale", "2"]) == 0
    assert main(["sample", "fer2013-cgan", "--out", str(tmp_path / "plain.npz"), "--n-per-class", "3"]) == 0
    with np.load(out) as wide, np.load(tmp_path / "plain.npz") as plain:
        assert wide["images"].shape == plain["images"].shape and not np.array_equal(wide["images"], plain["images"])
        # wider noise, more varied faces within each class
        def spread(images):
            return images.reshape(7, 3, -1).astype(float).std(1).mean()

        assert spread(wide["images"]) > spread(plain["images"])
    assert main(["sample", "fer2013-cgan", "--out", str(tmp_path / "wide.png"), "--latent-scale", "1.5"]) == 0
    assert (tmp_path / "wide.png").stat().st_size > 1000


def test_sample_ranked_by_the_saved_discriminator(tmp_path, capsys):
    from cganbalance.hub import save_generator
    from cganbalance.nets import Discriminator, Generator, init_weights

    g = Generator(n_classes=2, latent_dim=8, output_shape=[1, 16, 16], widths=[8, 8, 4], classes=["a", "b"])
    d = Discriminator(n_classes=2, input_shape=[1, 16, 16], widths=[4, 8])
    init_weights(g, torch.Generator().manual_seed(0))
    init_weights(d, torch.Generator().manual_seed(1), std=0.3)
    with_d = save_generator(g.eval(), tmp_path / "with-d", discriminator=d.eval())
    without = save_generator(g, tmp_path / "without")
    common = ["--n-per-class", "4", "--seed", "0"]
    assert main(["sample", str(with_d), "--out", str(tmp_path / "ranked.npz"), "--filter-keep", "0.25", *common]) == 0
    assert main(["sample", str(with_d), "--out", str(tmp_path / "plain.npz"), *common]) == 0
    with np.load(tmp_path / "ranked.npz") as ranked, np.load(tmp_path / "plain.npz") as plain:
        assert ranked["images"].shape == plain["images"].shape == (8, 16, 16, 1)
        assert ranked["labels"].tolist() == plain["labels"].tolist() == [0] * 4 + [1] * 4
        assert not np.array_equal(ranked["images"], plain["images"])
    assert main(["sample", str(with_d), "--out", str(tmp_path / "ranked.png"), "--filter-keep", "0.5", *common]) == 0
    assert (tmp_path / "ranked.png").stat().st_size > 500
    with pytest.raises(SystemExit) as exc:
        main(["sample", str(without), "--out", str(tmp_path / "x.npz"), "--filter-keep", "0.5"])
    assert exc.value.code == 2 and "has none (discriminator.json + discriminator.safetensors)" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["sample", str(with_d), "--out", str(tmp_path / "x.npz"), "--filter-keep", "0"])
    assert exc.value.code == 2 and "--filter-keep: must be a fraction in (0, 1]. Got '0'" in capsys.readouterr().err


def test_evaluate_passes_ranking_and_two_sample_test_on(tmp_path, capsys, monkeypatch):
    import cganbalance.metrics
    from cganbalance import fer2013
    from cganbalance.hub import save_generator
    from cganbalance.nets import Generator

    asked = []

    def fake_evaluate(generator, images, labels, **kwargs):
        asked.append((generator, kwargs))
        raise SystemExit(0)  # stop before the scoring

    monkeypatch.setattr(cganbalance.metrics, "evaluate_generator", fake_evaluate)
    monkeypatch.setattr(fer2013, "load", lambda path, split=None: (np.zeros((7, 48, 48), np.uint8), np.arange(7)))
    for extra in ([], ["--filter-keep", "0.5", "--two-sample-epochs", "6"]):
        with pytest.raises(SystemExit):
            main(["evaluate", "fer2013-cgan", "--data", "faces.npz", *extra])
    (plain, plain_kwargs), (ranked, ranked_kwargs) = asked
    assert isinstance(plain, Generator) and plain_kwargs["filter_keep"] == 1.0 and plain_kwargs["two_sample_epochs"] is None
    assert ranked == "fer2013-cgan" and ranked_kwargs["filter_keep"] == 0.5 and ranked_kwargs["two_sample_epochs"] == 6
    g = Generator(n_classes=7, latent_dim=8, output_shape=[1, 48, 48], widths=[8, 8, 4], classes=list(fer2013.CLASSES))
    without = save_generator(g, tmp_path / "without")
    with pytest.raises(SystemExit) as exc:  # refused before the data is read
        main(["evaluate", str(without), "--data", str(tmp_path / "missing.npz"), "--filter-keep", "0.5"])
    assert exc.value.code == 2 and "--filter-keep 0.5 ranks faces by the discriminator" in capsys.readouterr().err
    for option in ("--two-sample-epochs", "--cas-epochs"):
        with pytest.raises(SystemExit) as exc:
            main(["evaluate", "fer2013-cgan", "--data", "x", option, "-1"])
        assert exc.value.code == 2 and f"{option}: must be a whole number >= 0. Got '-1'" in capsys.readouterr().err


def test_python_dash_m_runs_the_command_line():
    result = subprocess.run([sys.executable, "-m", "cganbalance", "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "usage: cganbalance" in result.stdout and "train" in result.stdout
    bad = subprocess.run([sys.executable, "-m", "cganbalance", "sample", "fer2013-cgan", "--out", "x.txt"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "--out must end in .png or .npz" in bad.stderr


def test_demo_quick_draws_faces_and_compares_samplers(tmp_path, capsys):
    from cganbalance import cli

    assert cli.main(["demo", "--quick", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert (tmp_path / "fer2013_samples.png").is_file()
    assert "Mean ± std over 2 splits" in out
    rows = [line.split() for line in out.splitlines() if line.strip().startswith(("no resampling", "RandomOverSampler",
                                                                                   "SMOTE", "CGANOverSampler"))]
    assert len(rows) == 4 and all(0 <= float(row[-10]) <= 1 for row in rows)  # balanced accuracy of each sampler


def test_train_fast_path_options():
    from cganbalance import cli
    from cganbalance.training.fast import PRECISIONS

    assert cli._PRECISIONS == PRECISIONS
    args = cli.build_parser().parse_args(["train", "x.npz", "--out", "o", "--precision", "fp32", "--channels-last", "--compile"])
    assert cli._train_overrides(args) == {"train": {"precision": "fp32", "channels_last": True, "compile": True}}
    args = cli.build_parser().parse_args(["train", "x.npz", "--out", "o", "--no-channels-last"])
    assert cli._train_overrides(args) == {"train": {"channels_last": False}}
    assert cli._train_overrides(cli.build_parser().parse_args(["train", "x.npz", "--out", "o"])) is None
