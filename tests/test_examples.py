"""Every script in examples/ runs as written, in its quick mode, on tiny data the test makes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import make_fer_files

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def _run(script, *args, cwd):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *map(str, args)], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def fer_files(tmp_path_factory):
    """Tiny FER-2013 npz files and a tiny 48×48 generator folder."""
    return make_fer_files(tmp_path_factory.mktemp("fer"), [30, 4, 20, 40, 20, 12, 14], n_test=70)


@pytest.mark.slow
def test_imblearn_pipeline_example(tmp_path):
    out = _run("imblearn_pipeline.py", "--quick", cwd=tmp_path)
    for name in ("no resampling", "RandomOverSampler", "SMOTE", "CGANOverSampler"):
        assert name in out


@pytest.mark.slow
def test_pretrained_fer_example(fer_files, tmp_path):
    out = _run("pretrained_fer.py", "--generator", fer_files / "generator", "--data", fer_files / "train.npz",
               "--balance-with", fer_files / "generator", "--out", tmp_path / "grid.png", cwd=tmp_path)
    assert (tmp_path / "grid.png").is_file()
    assert "disgust" in out and "X_res: (280, 48, 48) uint8" in out


@pytest.mark.slow
def test_dataloader_example(fer_files, tmp_path):
    out = _run("dataloader_fer2013.py", fer_files / "train.npz", fer_files / "public_test.npz",
               "--generator", fer_files / "generator", "--quick", "--num-workers", "0", cwd=tmp_path)
    assert "disgust" in out and "balanced" in out
