"""The paper preset is exact; the other presets build what their docs say."""

import pytest
import torch

from cganbalance.training.presets import build_networks


def _count(module):
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def paper():
    return build_networks("paper", n_classes=7, data_shape=[1, 48, 48], rng=torch.Generator().manual_seed(0))


def test_paper_generator_layers(paper):
    g, _, _ = paper
    assert g.latent_dim == 150 and g.net_size == [64, 64]
    assert g.fc.in_features == 157 and g.fc.out_features == 8 * 8 * 512
    x = g.fc(torch.zeros(2, 157)).view(-1, 512, 8, 8)
    shapes, slopes = [], []
    for layer in g.body:
        x = layer(x)
        if isinstance(layer, torch.nn.ConvTranspose2d):
            assert layer.kernel_size == (4, 4)
        if isinstance(layer, torch.nn.LeakyReLU):
            slopes.append(layer.negative_slope)
            shapes.append(tuple(x.shape[1:]))
    assert shapes == [(256, 16, 16), (128, 32, 32), (64, 64, 64)]
    assert slopes == [0.4, 0.4, 0.4]
    assert tuple(x.shape[1:]) == (1, 64, 64)
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in g.body) == 3
    out = g(torch.randn(3, 150), torch.tensor([0, 3, 6]))
    assert out.shape == (3, 1, 64, 64) and out.abs().max() <= 1


def test_paper_parameter_counts(paper):
    g, d, _ = paper
    # Dense 157->32768, ConvT 512->256, 256->128, 128->64 (4x4, + BN), ConvT 64->1 (4x4, stride 1)
    assert _count(g.fc) == 157 * 32768 + 32768
    assert _count(g) == 7_932_225
    # SN Conv 8->64->128->256->512 (4x4), Dense 8192->1
    assert _count(d) == 2_769_857


def test_paper_discriminator_layers(paper):
    _, d, config = paper
    assert d.conditioning == "concat" and d.cls is None
    convs = [m for m in d.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 256, 512]
    assert convs[0].in_channels == 1 + 7  # image + label replicated as 7 channels
    assert all(hasattr(c, "parametrizations") for c in convs)  # spectral norm
    assert all(m.negative_slope == 0.4 for m in d.features if isinstance(m, torch.nn.LeakyReLU))
    logit, cls = d(torch.zeros(2, 1, 64, 64), torch.tensor([0, 1]))
    assert logit.shape == (2,) and cls is None
    assert d.adv.in_features == 4 * 4 * 512
    assert (config.loss, config.lr_g, config.lr_d, config.betas[0], config.batch_size, config.epochs) == (
        "bce",
        2e-4,
        2e-4,
        0.5,
        64,
        300,
    )


def test_default_preset_native_resolution():
    g, d, config = build_networks("default", n_classes=7, data_shape=[1, 48, 48])
    assert g.net_size == [48, 48] and g.base == (6, 6) and g.fc.out_features == 6 * 6 * 256
    assert g(torch.randn(2, g.latent_dim), torch.tensor([0, 1])).shape == (2, 1, 48, 48)
    assert d.conditioning == "auxiliary" and config.ema_decay


@pytest.mark.parametrize("shape", [[1, 28, 28], [3, 32, 32], [1, 8, 8], [1, 30, 20]])
def test_default_preset_any_image_size(shape):
    g, d, _ = build_networks("default", n_classes=3, data_shape=shape)
    x = g(torch.randn(4, g.latent_dim), torch.tensor([0, 1, 2, 0]))
    assert list(x.shape[1:]) == shape
    logit, cls = d(x, torch.tensor([0, 1, 2, 0]))
    assert logit.shape == (4,) and cls.shape == (4, 3)


def test_preset_errors():
    with pytest.raises(ValueError, match="preset"):
        build_networks("nope", n_classes=2, data_shape=[4])
    with pytest.raises(ValueError, match="tabular"):
        build_networks("mlp", n_classes=2, data_shape=[1, 16, 16])
    with pytest.raises(ValueError, match="at least 8"):
        build_networks("default", n_classes=2, data_shape=[1, 4, 4])
    with pytest.raises(ValueError, match="overrides"):
        build_networks("mlp", n_classes=2, data_shape=[4], overrides={"gen": {}})


@pytest.mark.parametrize(("preset", "n_rows", "epochs"), [("mlp", 600, 60), ("mlp", 10_000, 19), ("tabular", 600, 60),
                                                         ("tabular", 10_000, 26), ("default", 600, 1000)])
def test_table_budgets_scale_with_the_table(preset, n_rows, epochs):
    from cganbalance.training.presets import epochs_for, preset_spec, train_config

    assert epochs_for(train_config(preset_spec(preset)["train"]), n_rows) == epochs


def test_d_steps_must_be_a_positive_int():
    from cganbalance.training.presets import train_config

    with pytest.raises(ValueError, match=r"`d_steps` must be an int >= 1. Got 0 instead."):
        train_config({"d_steps": 0})
