"""The GPU fast path: data on the device or pinned, mixed precision, channels_last. Skipped without CUDA."""

import pytest
import torch

from cganbalance.training import CGANTrainer, make_rng
from cganbalance.training.fast import BatchFeeder
from cganbalance.training.presets import build_networks

from .conftest import TINY_IMAGE

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


def _trainer(**train):
    rng = make_rng(0)
    g, d, config = build_networks("default", n_classes=3, data_shape=[1, 16, 16], rng=rng,
                                  overrides={**TINY_IMAGE, "train": {"batch_size": 8, **train}})
    return CGANTrainer(g, d, config, torch.device("cuda"), rng)


def _data():
    g = torch.Generator().manual_seed(0)
    return torch.rand(24, 1, 16, 16, generator=g) * 2 - 1, torch.arange(24) % 3


@pytest.mark.parametrize("resident_share", [1.0, 0.0])
def test_batches_on_the_device_equal_the_cpu_ones(resident_share):
    X, y = _data()
    feed = BatchFeeder(X, y, torch.device("cuda"), resident_share=resident_share)
    assert feed.resident == (resident_share > 0)
    for idx in (torch.tensor([3, 1, 7]), torch.tensor([0, 5]), torch.tensor([23, 2, 9, 4])):
        x, labels = feed(idx)
        assert x.is_cuda and labels.is_cuda
        torch.testing.assert_close(x.cpu(), X[idx], rtol=0, atol=0)
        assert torch.equal(labels.cpu(), y[idx])


def test_auto_precision_trains_in_bf16_or_fp16():
    trainer = _trainer()
    expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    assert trainer.precision.dtype == expected
    X, y = _data()
    trainer.fit(X, y, epochs=2)
    assert all(torch.isfinite(torch.tensor(v)) for h in trainer.history for k, v in h.items() if k.endswith("loss"))
    assert all(p.dtype == torch.float32 for p in trainer.generator.parameters())  # weights stay fp32


def test_fp16_uses_grad_scalers_and_checkpoints_them(tmp_path):
    trainer = _trainer(precision="fp16")
    assert set(trainer.precision.scalers) == {"g", "d"}
    X, y = _data()
    trainer.fit(X, y, epochs=1, checkpoint_dir=tmp_path)
    scale = trainer.precision.scalers["g"].get_scale()
    resumed = _trainer(precision="fp16").load_checkpoint(tmp_path)
    assert resumed.precision.scalers["g"].get_scale() == scale


def test_fp32_with_channels_last():
    trainer = _trainer(precision="fp32", channels_last=True)
    assert trainer.precision.dtype is None
    conv = next(m for m in trainer.discriminator.modules() if isinstance(m, torch.nn.Conv2d))
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)
    X, y = _data()
    trainer.fit(X, y, epochs=1)
    assert trainer.history[-1]["complete"]
