"""The training loop: checkpoints, resuming, divergence, devices, seeding."""

import copy

import numpy as np
import pytest
import torch

from cganbalance import CGANOverSampler, TrainingDivergedError
from cganbalance.training.presets import build_networks
from cganbalance.training import CHECKPOINT_NAME, CGANTrainer, make_rng, resolve_device

from .conftest import TINY_IMAGE


def _sampler(**kwargs):
    params = dict(batch_size=16, random_state=0, preset_params=TINY_IMAGE, device="cpu")
    params.update(kwargs)
    return CGANOverSampler(**params)


def _weights(module):
    return {k: v.clone() for k, v in module.state_dict().items()}


def test_resumed_run_matches_uninterrupted(tiny_images, tmp_path):
    X, y = tiny_images
    full = _sampler(epochs=4).fit(X, y)
    _sampler(epochs=2, checkpoint_dir=tmp_path).fit(X, y)
    assert (tmp_path / CHECKPOINT_NAME).is_file()
    resumed = _sampler(epochs=4, checkpoint_dir=tmp_path, resume=True).fit(X, y)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4]
    a, b = _weights(full.generator_), _weights(resumed.generator_)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(full.sample({2: 4}, random_state=1)[0], resumed.sample({2: 4}, random_state=1)[0])


def test_resume_without_checkpoint_starts_fresh(tiny_images, tmp_path):
    X, y = tiny_images
    sampler = _sampler(epochs=1, checkpoint_dir=tmp_path / "new", resume=True).fit(X, y)
    assert len(sampler.history_) == 1
    assert (tmp_path / "new" / CHECKPOINT_NAME).is_file()


def test_checkpoint_leaves_no_temporary_files(tiny_images, tmp_path):
    X, y = tiny_images
    _sampler(epochs=2, checkpoint_dir=tmp_path).fit(X, y)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CHECKPOINT_NAME]


def test_damaged_checkpoint_is_a_clear_error(tiny_images, tmp_path):
    X, y = tiny_images
    (tmp_path / CHECKPOINT_NAME).write_bytes(b"\x00garbage")
    with pytest.raises(ValueError, match="damaged"):
        _sampler(epochs=1, checkpoint_dir=tmp_path, resume=True).fit(X, y)


def test_checkpoint_of_other_architecture_is_a_clear_error(tiny_images, tmp_path):
    X, y = tiny_images
    _sampler(epochs=1, checkpoint_dir=tmp_path).fit(X, y)
    other = {"generator": {"latent_dim": 8, "widths": [32, 8, 8, 4]}, "discriminator": {"widths": [8, 8, 8]}}
    with pytest.raises(ValueError, match="does not match this architecture"):
        _sampler(epochs=2, checkpoint_dir=tmp_path, resume=True, preset_params=other).fit(X, y)


def test_non_finite_loss_stops_training(monkeypatch):
    g, d, config = build_networks("mlp", n_classes=2, data_shape=[3], rng=make_rng(0))
    trainer = CGANTrainer(g, d, config, torch.device("cpu"), make_rng(0))
    monkeypatch.setattr(trainer, "discriminator_step", lambda real, labels, fake=None: {"d_loss": float("nan")})
    X, y = torch.randn(20, 3), torch.tensor([0, 1] * 10)
    with pytest.raises(TrainingDivergedError, match="diverged at epoch 1, step 1"):
        trainer.fit(X, y, epochs=1)


def test_train_step_generates_one_batch_for_both_updates(monkeypatch):
    g, d, config = build_networks("mlp", n_classes=2, data_shape=[3], rng=make_rng(0))
    trainer = CGANTrainer(g, d, config, torch.device("cpu"), make_rng(0))
    calls = []
    forward = g.forward
    monkeypatch.setattr(g, "forward", lambda z, labels: calls.append(len(z)) or forward(z, labels))
    before = [p.detach().clone() for p in list(g.parameters()) + list(d.parameters())]
    logs = trainer.train_step(torch.randn(8, 3), torch.tensor([0, 1] * 4))
    assert calls == [8]  # one forward pass of G per step
    assert set(logs) == {"d_loss", "d_real", "d_fake", "g_loss"}
    after = list(g.parameters()) + list(d.parameters())
    assert all(not torch.equal(a, b) for a, b in zip(before, after))  # both networks were updated


def test_fit_needs_a_budget():
    g, d, config = build_networks("mlp", n_classes=2, data_shape=[3])
    trainer = CGANTrainer(g, d, config, torch.device("cpu"), make_rng(0))
    with pytest.raises(ValueError, match="budget"):
        trainer.fit(torch.randn(4, 3), torch.tensor([0, 1, 0, 1]), epochs=None)


def test_ema_warms_up_quickly():
    g, d, config = build_networks("default", n_classes=2, data_shape=[1, 8, 8], rng=make_rng(0))
    trainer = CGANTrainer(g, d, config, torch.device("cpu"), make_rng(0))
    X, y = torch.rand(32, 1, 8, 8) * 2 - 1, torch.tensor([0, 1] * 16)
    trainer.fit(X, y, epochs=3)
    # with a fixed 0.999 decay the average would still be ~99% the initial weights after 6 steps
    gap_ema = sum((e - p).abs().sum() for e, p in zip(trainer.ema.parameters(), g.parameters()))
    assert trainer.sampling_generator is trainer.ema
    assert gap_ema < 0.5 * sum(p.abs().sum() for p in g.parameters())


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type in ("cpu", "cuda", "mps")
    with pytest.raises(TypeError, match="device"):
        resolve_device(0)
    with pytest.raises(ValueError, match="`device` must be"):
        resolve_device("gpu")


def test_torch_generator_from_random_state():
    a = torch.randn(3, generator=make_rng(5))
    b = torch.randn(3, generator=make_rng(np.random.RandomState(5)))
    assert torch.equal(a, torch.randn(3, generator=make_rng(5)))
    assert torch.equal(a, b)  # an int seeds a RandomState, exactly as check_random_state does
    assert not torch.equal(a, torch.randn(3, generator=make_rng(6)))
    g = torch.Generator().manual_seed(1)
    assert make_rng(g) is g


def _collapse_from_epoch(trainer_cls, monkeypatch, epoch):
    """Make the discriminator report a perfect separation from ``epoch`` on."""
    real_step = trainer_cls.discriminator_step

    def step(self, real, labels, fake=None):
        logs = real_step(self, real, labels, fake=fake)
        if self.epoch + 1 >= epoch:
            logs.update(d_real=1.0, d_fake=0.0)
        return logs

    monkeypatch.setattr(trainer_cls, "discriminator_step", step)


def test_collapsed_discriminator_raises(tiny_images, monkeypatch):
    X, y = tiny_images
    _collapse_from_epoch(CGANTrainer, monkeypatch, epoch=2)
    with pytest.raises(TrainingDivergedError, match="collapsed in epoch 2"):
        _sampler(epochs=3).fit(X, y)


def test_collapsed_discriminator_rolls_back(tiny_images, monkeypatch, tmp_path):
    X, y = tiny_images
    reference = _sampler(epochs=1).fit(X, y)
    _collapse_from_epoch(CGANTrainer, monkeypatch, epoch=2)
    with pytest.warns(RuntimeWarning, match="Rolled back to the checkpoint of epoch 1"):
        sampler = _sampler(epochs=3, checkpoint_dir=tmp_path, on_divergence="rollback").fit(X, y)
    assert [h["epoch"] for h in sampler.history_] == [1]
    a, b = _weights(reference.generator_), _weights(sampler.generator_)
    assert all(torch.equal(a[k], b[k]) for k in a)
    X_new, _ = sampler.sample({2: 3}, random_state=0)
    assert X_new.shape == (3, 16, 16)


def test_rollback_needs_checkpoint_dir(tiny_images):
    X, y = tiny_images
    with pytest.raises(ValueError, match="checkpoint_dir"):
        _sampler(epochs=1, on_divergence="rollback").fit(X, y)


# -- real-batch sampling and DiffAugment -------------------------------------------------------
def test_balanced_sampling_draws_every_class_equally_often():
    from cganbalance.training import class_sampling_weights

    y = torch.tensor([0] * 90 + [1] * 9 + [2] * 1)
    assert class_sampling_weights(y, "uniform") is None
    for mode, expected in (("balanced", [1 / 3] * 3), ("sqrt", np.sqrt([90, 9, 1]) / np.sqrt([90, 9, 1]).sum())):
        w = class_sampling_weights(y, mode)
        shares = [w[y == c].sum().item() for c in range(3)]
        np.testing.assert_allclose(shares, expected)
        # and the loop's draws follow them
        draws = y[torch.multinomial(w, 30000, replacement=True, generator=torch.Generator().manual_seed(0))]
        np.testing.assert_allclose(torch.bincount(draws).numpy() / 30000, expected, atol=0.01)


def test_fit_with_balanced_sampling_sees_the_rare_class_more_often(tiny_images, monkeypatch):
    X, y = tiny_images
    keep = np.r_[np.flatnonzero(y != 2), np.flatnonzero(y == 2)[:2]]  # class 2: two samples
    X, y = X[keep], y[keep]
    seen = []
    original = CGANTrainer.train_step

    def spy(self, real, labels):
        seen.append(labels.clone())
        return original(self, real, labels)

    monkeypatch.setattr(CGANTrainer, "train_step", spy)
    counts = {}
    for mode in ("uniform", "balanced"):
        seen.clear()
        _sampler(epochs=3, preset_params={**TINY_IMAGE, "train": {"real_sampling": mode}}).fit(X, y)
        labels = torch.cat(seen)
        counts[mode] = (labels == 2).float().mean().item()
    assert counts["uniform"] == pytest.approx(2 / len(y))
    assert counts["balanced"] > 0.2  # a third of the draws, give or take


def _reference_diff_augment(x, policy, rng):
    """DiffAugment's rand_translation / rand_cutout (Zhao et al., 2020, DiffAugment_pytorch.py), as published."""
    F = torch.nn.functional
    for p in policy.split(","):
        if p == "translation":
            shift_x, shift_y = int(x.size(2) * 0.125 + 0.5), int(x.size(3) * 0.125 + 0.5)
            translation_x = torch.randint(-shift_x, shift_x + 1, size=[x.size(0), 1, 1], generator=rng)
            translation_y = torch.randint(-shift_y, shift_y + 1, size=[x.size(0), 1, 1], generator=rng)
            grid_batch, grid_x, grid_y = torch.meshgrid(
                torch.arange(x.size(0)), torch.arange(x.size(2)), torch.arange(x.size(3)), indexing="ij"
            )
            grid_x = torch.clamp(grid_x + translation_x + 1, 0, x.size(2) + 1)
            grid_y = torch.clamp(grid_y + translation_y + 1, 0, x.size(3) + 1)
            x_pad = F.pad(x, [1, 1, 1, 1, 0, 0, 0, 0])
            x = x_pad.permute(0, 2, 3, 1).contiguous()[grid_batch, grid_x, grid_y].permute(0, 3, 1, 2)
        elif p == "cutout":
            cutout_size = int(x.size(2) * 0.5 + 0.5), int(x.size(3) * 0.5 + 0.5)
            offset_x = torch.randint(0, x.size(2) + (1 - cutout_size[0] % 2), size=[x.size(0), 1, 1], generator=rng)
            offset_y = torch.randint(0, x.size(3) + (1 - cutout_size[1] % 2), size=[x.size(0), 1, 1], generator=rng)
            grid_batch, grid_x, grid_y = torch.meshgrid(
                torch.arange(x.size(0)), torch.arange(cutout_size[0]), torch.arange(cutout_size[1]), indexing="ij"
            )
            grid_x = torch.clamp(grid_x + offset_x - cutout_size[0] // 2, min=0, max=x.size(2) - 1)
            grid_y = torch.clamp(grid_y + offset_y - cutout_size[1] // 2, min=0, max=x.size(3) - 1)
            mask = torch.ones(x.size(0), x.size(2), x.size(3), dtype=x.dtype)
            mask[grid_batch, grid_x, grid_y] = 0
            x = x * mask.unsqueeze(1)
    return x


@pytest.mark.parametrize("shape", [(6, 1, 16, 16), (4, 3, 15, 21), (3, 1, 48, 48)])
@pytest.mark.parametrize("policy", ["translation", "cutout", "translation,cutout"])
def test_diff_augment_matches_the_published_diffaugment(shape, policy):
    """The shifts keep the published padding (zeros, i.e. mid-grey in [-1, 1]) and the cut squares
    the published placement, draw for draw from the same generator."""
    from cganbalance.training import diff_augment

    x = torch.randn(*shape, generator=torch.Generator().manual_seed(0))
    for seed in range(3):
        ours = diff_augment(x, policy, torch.Generator().manual_seed(seed))
        assert not torch.equal(ours, x)
        # The published translation pads by one pixel and clamps, i.e. any shift beyond it also reads zeros.
        torch.testing.assert_close(ours, _reference_diff_augment(x, policy, torch.Generator().manual_seed(seed)), rtol=0, atol=0)


def test_diff_augment_is_differentiable_and_reproducible():
    from cganbalance.training import diff_augment

    x = torch.randn(2, 1, 16, 16, requires_grad=True)
    diff_augment(x, "translation,cutout", torch.Generator().manual_seed(0)).sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    a = diff_augment(x, "translation,cutout", torch.Generator().manual_seed(3))
    b = diff_augment(x, "translation,cutout", torch.Generator().manual_seed(3))
    assert torch.equal(a, b)


def test_augmented_training_is_reproducible_and_augmentation_is_used(tiny_images):
    X, y = tiny_images

    def weights(train):
        return _weights(_sampler(epochs=2, preset_params={**TINY_IMAGE, "train": train}).fit(X, y).generator_)

    augmented, again, plain = weights({"augment": "translation,cutout"}), weights({"augment": "translation,cutout"}), weights({})
    assert all(torch.equal(augmented[k], again[k]) for k in augmented)
    assert not all(torch.equal(augmented[k], plain[k]) for k in augmented)  # augment alone changes training
    sqrt = weights({"real_sampling": "sqrt"})
    assert not all(torch.equal(sqrt[k], plain[k]) for k in sqrt)


def test_weighted_draws_for_more_rows_than_multinomial_takes(monkeypatch):
    from cganbalance.training import batches

    y = torch.tensor([0] * 900 + [1] * 90 + [2] * 10)
    w = batches.class_sampling_weights(y, "balanced")
    monkeypatch.setattr(batches, "_MULTINOMIAL_MAX", 100)
    order = batches.weighted_draws(w, 30000, y, torch.Generator().manual_seed(0))
    assert order.min() >= 0 and order.max() < len(y)
    np.testing.assert_allclose(torch.bincount(y[order]).numpy() / 30000, [1 / 3] * 3, atol=0.01)
    assert len(torch.unique(order[y[order] == 0])) > 800  # rows of a class are drawn uniformly


def test_resume_with_other_training_settings_warns(tiny_images, tmp_path):
    X, y = tiny_images
    _sampler(epochs=1, checkpoint_dir=tmp_path).fit(X, y)
    changed = {**TINY_IMAGE, "train": {"real_sampling": "balanced"}}
    with pytest.warns(UserWarning, match="real_sampling 'uniform' -> 'balanced' \\(from epoch 2 on\\)"):
        _sampler(epochs=2, checkpoint_dir=tmp_path, resume=True, preset_params=changed).fit(X, y)


def test_resume_from_a_checkpoint_older_than_a_setting_warns_about_it(tiny_images, tmp_path):
    """A checkpoint written before `real_sampling` existed used its default, "uniform"."""
    import json

    from safetensors import safe_open
    from safetensors.torch import load_file, save_file

    X, y = tiny_images
    _sampler(epochs=1, checkpoint_dir=tmp_path).fit(X, y)
    path = tmp_path / CHECKPOINT_NAME
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads(f.metadata()["cganbalance"])
    del meta["config"]["real_sampling"]
    save_file(load_file(str(path)), str(path), metadata={"cganbalance": json.dumps(meta)})
    with pytest.warns(UserWarning, match="real_sampling 'uniform' -> 'sqrt'"):
        _sampler(epochs=2, checkpoint_dir=tmp_path, resume=True, preset_params={**TINY_IMAGE, "train": {"real_sampling": "sqrt"}}).fit(X, y)


def test_aux_weight_g_needs_an_auxiliary_discriminator(tiny_images):
    X, y = tiny_images
    with pytest.raises(ValueError, match="`aux_weight_g` \\(0.5\\) weighs the class loss of an AC-GAN discriminator, and this one conditions by 'concat'"):
        _sampler(epochs=1, preset="paper", preset_params={"train": {"aux_weight_g": 0.5}}).fit(X, y)


@pytest.mark.parametrize(
    "train, match",
    [
        ({"real_sampling": "weighted"}, r"`real_sampling` must be one of \['uniform', 'sqrt', 'balanced'\]. Got 'weighted'"),
        ({"augment": "flip"}, r"`augment` must be None or a comma-separated string of \['translation', 'cutout'\], each at most once. Got 'flip'"),
        ({"augment": ""}, r"`augment` must be None"),
        ({"learning_rate": 1e-3}, r"Unknown training settings \['learning_rate'\]"),
        ({"aux_weight_g": -1}, r"`aux_weight_g` must be a finite number >= 0. Got -1 instead."),
        ({"aux_weight": float("nan")}, r"`aux_weight` must be a finite number >= 0. Got nan instead."),
        ({"augment": "translation,translation"}, r"each at most once. Got 'translation,translation'"),
    ],
)
def test_bad_training_settings_are_named(tiny_images, train, match):
    X, y = tiny_images
    with pytest.raises(ValueError, match=match):
        _sampler(epochs=1, preset_params={**TINY_IMAGE, "train": train}).fit(X, y)


def test_augment_is_refused_for_tabular_rows():
    X = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    y = np.r_[np.zeros(45, int), np.ones(15, int)]
    with pytest.raises(ValueError, match="works on images only"):
        CGANOverSampler(epochs=1, random_state=0, preset_params={"train": {"augment": "cutout"}}).fit_resample(X, y)


def test_aux_weight_g_weighs_the_class_loss_of_the_generator_only():
    g, d, config = build_networks("default", n_classes=3, data_shape=[1, 16, 16], rng=torch.Generator().manual_seed(0),
                                  overrides={**TINY_IMAGE})
    g.eval(), d.eval()  # no BatchNorm statistics or spectral-norm power iterations between the two passes
    labels = torch.tensor([0, 1, 2, 0])
    z = torch.randn(4, g.latent_dim, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logit, cls = d(g(z, labels), labels)
    adversarial = torch.nn.functional.softplus(-logit).mean().item()
    ce = torch.nn.functional.cross_entropy(cls, labels).item()
    for weight in (None, 0.0, 0.25):
        config.aux_weight_g = weight
        trainer = CGANTrainer(copy.deepcopy(g), copy.deepcopy(d), config, torch.device("cpu"), torch.Generator())
        loss = trainer.generator_step(labels, fake=trainer.generator(z, labels))["g_loss"]
        # None means aux_weight (1.0)
        assert loss == pytest.approx(adversarial + (1.0 if weight is None else weight) * ce, rel=1e-5)
        # the discriminator's own class loss keeps aux_weight (1.0): its loss on real-only terms
        trainer = CGANTrainer(copy.deepcopy(g), copy.deepcopy(d), config, torch.device("cpu"), torch.Generator())
        real = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(2))
        fake = torch.randn(4, 1, 16, 16, generator=torch.Generator().manual_seed(3))
        with torch.no_grad():
            rl, rc = trainer.discriminator(real, labels)
            fl, _ = trainer.discriminator(fake, labels)
        expected = (torch.nn.functional.softplus(-rl).mean() + torch.nn.functional.softplus(fl).mean()
                    + 1.0 * torch.nn.functional.cross_entropy(rc, labels)).item()
        assert trainer.discriminator_step(real, labels, fake=fake)["d_loss"] == pytest.approx(expected, rel=1e-5)


def test_progress_bar_updates_rarely_in_logs():
    import io

    from cganbalance._utils.progress import LOG_PROGRESS_INTERVAL, progress_bar

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    with progress_bar(total=3, file=io.StringIO()) as bar:  # a log file or a pipe
        assert bar.mininterval == LOG_PROGRESS_INTERVAL
    with progress_bar(total=3, file=Terminal()) as bar:  # a terminal redraws in place: tqdm's default
        assert bar.mininterval == 0.1
    with progress_bar(total=3, file=io.StringIO(), mininterval=1.0) as bar:  # the caller's choice wins
        assert bar.mininterval == 1.0


def test_verbose_training_in_a_log_writes_a_few_lines(tiny_tabular, capsys):
    from .conftest import TINY_MLP

    X, y = tiny_tabular  # 120 rows: 40 epochs of one step, a second
    CGANOverSampler(epochs=40, random_state=0, preset_params=TINY_MLP, device="cpu", verbose=True).fit_resample(X, y)
    err = capsys.readouterr().err  # captured: not a terminal
    updates = err.count("cGAN training")
    assert 1 <= updates <= 4, err  # the first and the last draw, not one per step (40 steps)
    assert "40/40" in err and "D=" in err  # the final state, with the losses


def test_half_checkpoint_is_half_the_size_and_resumes(tiny_images, tmp_path):
    X, y = tiny_images
    full = _sampler(epochs=3).fit(X, y)
    _sampler(epochs=2, checkpoint_dir=tmp_path / "full").fit(X, y)
    g, d, config = build_networks("default", n_classes=3, data_shape=[1, 16, 16], overrides=TINY_IMAGE)
    trainer = CGANTrainer(g, d, config, torch.device("cpu"), torch.Generator())
    trainer.load_checkpoint(tmp_path / "full")
    trainer.save_checkpoint(tmp_path / "half", half=True)
    size = {k: (tmp_path / k / CHECKPOINT_NAME).stat().st_size for k in ("full", "half")}
    assert size["half"] < 0.6 * size["full"]
    from safetensors import safe_open

    with safe_open(str(tmp_path / "half" / CHECKPOINT_NAME), framework="pt") as f:
        dtypes = {k: f.get_tensor(k).dtype for k in f.keys()}
    assert dtypes["g.fc.weight"] == torch.float16
    assert {v for k, v in dtypes.items() if k.endswith(".exp_avg_sq")} == {torch.bfloat16}
    assert {v for k, v in dtypes.items() if k.endswith(".step")} == {torch.float32}  # exact step counts
    resumed = _sampler(epochs=3, checkpoint_dir=tmp_path / "half", resume=True).fit(X, y)
    assert all(p.dtype == torch.float32 for p in resumed.generator_.parameters())
    a, b = _weights(full.generator_), _weights(resumed.generator_)
    assert max((a[k].float() - b[k].float()).abs().max().item() for k in a) < 0.05  # close, not bit-identical


@pytest.mark.parametrize("conditioning", ["projection", "projection+auxiliary"])
def test_projection_discriminators_train(tiny_images, conditioning):
    X, y = tiny_images
    params = {**TINY_IMAGE, "discriminator": {**TINY_IMAGE.get("discriminator", {}), "conditioning": conditioning},
              "train": {"loss": "hinge", **({"aux_weight_g": 0.2} if "auxiliary" in conditioning else {})}}
    sampler = _sampler(epochs=2, preset_params=params).fit(X, y)
    assert (sampler.discriminator_.cls is not None) == ("auxiliary" in conditioning)
    assert sampler.discriminator_.embed is not None
    assert np.isfinite(sampler.history_[-1]["d_loss"])


def test_fit_notifies_callbacks_of_every_event_in_order(tiny_images):
    from cganbalance.training import Callback

    X, y = tiny_images
    g, d, config = build_networks("default", n_classes=3, data_shape=[1, 16, 16], overrides=TINY_IMAGE,
                                  rng=make_rng(0))
    config.batch_size = 20
    events = []

    class Recorder(Callback):
        def on_train_begin(self, trainer, total_steps):
            events.append(("begin", total_steps))

        def on_step_end(self, trainer, logs):
            events.append(("step", trainer.step, sorted(logs)))

        def on_epoch_end(self, trainer):
            events.append(("epoch", trainer.epoch, trainer.last_epoch, trainer.history[-1]["steps"]))

        def on_train_end(self, trainer):
            events.append(("end",))

    trainer = CGANTrainer(g, d, config, torch.device("cpu"), make_rng(0))
    x = torch.as_tensor(X[:, None] / 127.5 - 1, dtype=torch.float32)
    trainer.fit(x, torch.as_tensor(y), epochs=2, callbacks=[Recorder(), lambda t: events.append(("fn", t.epoch))])
    keys = ["d_fake", "d_loss", "d_real", "g_loss"]
    assert events == [
        ("begin", 6),
        ("step", 1, keys), ("step", 2, keys), ("step", 3, keys), ("epoch", 1, False, 3), ("fn", 1),
        ("step", 4, keys), ("step", 5, keys), ("step", 6, keys), ("epoch", 2, True, 3), ("fn", 2),
        ("end",),
    ]


def test_make_rng_without_a_seed_leaves_numpy_global_state_alone():
    before = np.random.get_state()[1].copy()
    a, b = make_rng(None), make_rng(None)
    assert np.array_equal(np.random.get_state()[1], before)
    assert not torch.equal(torch.randn(4, generator=a), torch.randn(4, generator=b))  # fresh entropy each time


def test_train_epoch_after_fit_trains_in_train_mode(tiny_images):
    X, y = tiny_images
    g, d, config = build_networks("default", n_classes=3, data_shape=[1, 16, 16], overrides=TINY_IMAGE, rng=make_rng(0))
    trainer = CGANTrainer(g, d, config, torch.device("cpu"), make_rng(0))
    x, labels = torch.as_tensor(X[:, None] / 127.5 - 1, dtype=torch.float32), torch.as_tensor(y)
    trainer.fit(x, labels, epochs=1)
    assert not trainer.generator.training  # fit leaves the networks in evaluation mode
    modes = []
    trainer.train_step = lambda real, lab: modes.append(trainer.generator.training and trainer.discriminator.training) or {"d_loss": 0.0, "g_loss": 0.0}
    trainer.train_epoch(x, labels, None, 30, None)
    assert modes == [True, True]


def test_reduced_precision_is_refused_off_cuda():
    from cganbalance.training import CGANTrainer, make_rng
    from cganbalance.training.presets import build_networks

    for precision in ("bf16", "fp16"):
        g, d, config = build_networks("mlp", n_classes=2, data_shape=[3], rng=make_rng(0),
                                      overrides={"train": {"precision": precision}})
        with pytest.raises(ValueError, match="`precision='.*'` is for CUDA devices"):
            CGANTrainer(g, d, config, torch.device("cpu"), make_rng(0))
    with pytest.raises(ValueError, match="`precision` must be one of"):
        build_networks("mlp", n_classes=2, data_shape=[3], overrides={"train": {"precision": "fp8"}})
    g, d, config = build_networks("mlp", n_classes=2, data_shape=[3], rng=make_rng(0))
    assert CGANTrainer(g, d, config, torch.device("cpu"), make_rng(0)).precision.dtype is None  # auto: fp32 on the CPU


def test_batch_feeder_on_the_cpu_indexes_as_before():
    from cganbalance.training.fast import BatchFeeder

    X, y = torch.arange(20.0).reshape(10, 2), torch.arange(10)
    feed = BatchFeeder(X, y, torch.device("cpu"))
    assert not feed.resident
    x, labels = feed(torch.tensor([4, 1]))
    assert torch.equal(x, X[[4, 1]]) and torch.equal(labels, y[[4, 1]])


def test_channels_last_is_automatic_for_images_on_the_cpu_only():
    from cganbalance.training.fast import uses_channels_last
    from cganbalance.training.presets import TrainConfig

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert uses_channels_last("auto", cpu, "conv") and not uses_channels_last("auto", cuda, "conv")
    assert not uses_channels_last("auto", cpu, "mlp") and not uses_channels_last(True, cpu, "mlp")
    assert uses_channels_last(True, cuda, "conv") and not uses_channels_last(False, cpu, "conv")
    with pytest.raises(TypeError, match="`channels_last` must be True, False or 'auto'. Got 'yes'"):
        TrainConfig(channels_last="yes")
    g, d, config = build_networks("default", n_classes=2, data_shape=[3, 8, 8], rng=make_rng(0), overrides=TINY_IMAGE)
    trainer = CGANTrainer(g, d, config, torch.device("cpu"), make_rng(0))
    conv = next(m for m in trainer.generator.modules() if isinstance(m, torch.nn.ConvTranspose2d))
    assert not conv.weight.is_contiguous() and conv.weight.is_contiguous(memory_format=torch.channels_last)
    trainer.fit(torch.rand(8, 3, 8, 8) * 2 - 1, torch.tensor([0, 1] * 4), epochs=1)  # colour images: layout kept
    assert conv.weight.is_contiguous(memory_format=torch.channels_last)


class _FakeLibc:
    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))
        return 1


def test_freed_memory_is_kept_during_cpu_training_and_given_back_after(monkeypatch):
    from cganbalance.training import fast

    libc = _FakeLibc()
    monkeypatch.setattr(fast, "_glibc", lambda: libc)
    with pytest.raises(RuntimeError, match="boom"):
        with fast.reuse_freed_memory(torch.device("cpu")):
            assert libc.calls == [("mallopt", -3, 32 * 1024 * 1024), ("mallopt", -1, 1 << 30)]
            raise RuntimeError("boom")
    assert libc.calls[2:] == [("mallopt", -1, 128 * 1024), ("mallopt", -3, 128 * 1024), ("malloc_trim", 0)]
    libc.calls.clear()
    with fast.reuse_freed_memory(torch.device("cuda")):  # nothing changes for other devices
        pass
    assert libc.calls == []


def test_users_malloc_settings_are_left_alone(monkeypatch):
    from cganbalance.training import fast

    libc = _FakeLibc()
    monkeypatch.setattr(fast, "_glibc", lambda: libc)
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "65536")
    with fast.reuse_freed_memory(torch.device("cpu")):
        pass
    assert libc.calls == []
