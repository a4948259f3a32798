"""Saving, loading and the Hub: a real push/pull round trip against a loopback Hub, strict loading,
the model card, safe folder replacement and pretrained generators in ``CGANOverSampler``."""

from __future__ import annotations

import json
import os
import pickle
import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import HfApi, ModelCard, constants

from cganbalance import (
    CGANOverSampler,
    Generator,
    from_pretrained,
    push_to_hub,
    save_generator,
)
from cganbalance import hub as hub_module
from cganbalance.nets import init_weights

from .hub_server import HubServer

LABELS = ["a", "b", "c", "a", "c", "b"]
TINY = dict(n_classes=3, latent_dim=4, output_shape=[1, 16, 16], widths=[8, 4, 4, 4], classes=["a", "b", "c"], value_range=[0, 255])


def tiny_generator(seed: int = 0, **overrides) -> Generator:
    """A tiny generator with seeded, non-default weights and buffers."""
    g = Generator(**{**TINY, **overrides})
    rng = torch.Generator().manual_seed(seed)
    init_weights(g, rng, std=0.3)
    with torch.no_grad():
        for name, buffer in g.named_buffers():
            if name.endswith("running_mean"):
                buffer.copy_(torch.randn(buffer.shape, generator=rng) * 0.1)
    return g.eval()


def same_samples(a: Generator, b: Generator) -> bool:
    return torch.equal(a.generate(LABELS, random_state=0), b.generate(LABELS, random_state=0))


@pytest.fixture
def generator():
    g = tiny_generator()
    samples = g.generate(LABELS, random_state=0)
    assert samples.std() > 0.01, "the reference generator must not be trivial"
    assert not torch.equal(samples, tiny_generator(seed=1).generate(LABELS, random_state=0))
    return g


@pytest.fixture
def hub():
    with HubServer() as server:
        yield server
    assert not server._thread.is_alive()
    assert server.unhandled == [] and server.errors == []


@pytest.fixture
def online(monkeypatch, hub):
    """The test Hub as ``HF_ENDPOINT`` (both constants it sets at import) with offline mode off."""
    monkeypatch.setattr(constants, "ENDPOINT", hub.url)
    monkeypatch.setattr(constants, "HUGGINGFACE_CO_URL_TEMPLATE", hub.url + "/{repo_id}/resolve/{revision}/{filename}")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    return hub


@pytest.fixture
def no_unpickling(monkeypatch):
    """Fail if anything tries to unpickle."""

    def refuse(*args, **kwargs):
        raise AssertionError("something tried to unpickle")

    for module, name in [(pickle, "load"), (pickle, "loads"), (pickle, "Unpickler"), (torch, "load")]:
        monkeypatch.setattr(module, name, refuse)


# -- the Hub round trip ------------------------------------------------------------------------
@pytest.mark.parametrize("xet", [True, False], ids=["xet-pipeline", "create-commit"])
def test_push_pull_round_trip(generator, online, monkeypatch, tmp_path, xet):
    # With hf_xet installed upload_folder streams through its pipeline; without, it calls create_commit.
    monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", not xet)
    cache = tmp_path / "hf-cache"
    api = HfApi(endpoint=online.url, token="x")

    info = push_to_hub(generator, "org/name", api=api, card="Trained on nothing at all.")

    files = online.files("org/name")
    assert set(files) == {".gitattributes", "config.json", "model.safetensors", "README.md"}
    assert info.oid == online.repos["org/name"].branches["main"]
    assert json.loads(files["config.json"]) == generator.get_config()
    assert ("POST", "/api/models/org/name/preupload/main") in online.requests
    assert 'from_pretrained("org/name")' in files["README.md"].decode()

    pulled = from_pretrained("org/name", cache_dir=cache)
    assert same_samples(pulled, generator)
    assert pulled.classes == ["a", "b", "c"] and not pulled.training
    assert list((cache / "models--org--name" / "snapshots").iterdir())[0].name == info.oid

    # Offline again: the cache alone serves the same generator, without a single request.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    n_requests = len(online.requests)
    again = from_pretrained("org/name", cache_dir=cache)
    assert same_samples(again, generator)
    assert len(online.requests) == n_requests


def test_revisions_resolve_to_commits(generator, online, tmp_path):
    api = HfApi(endpoint=online.url, token="x")
    first = push_to_hub(generator, "org/name", api=api).oid
    second = push_to_hub(tiny_generator(seed=1), "org/name", api=api).oid
    assert first != second
    cache = tmp_path / "hf-cache"
    assert same_samples(from_pretrained("org/name", revision=first, cache_dir=cache), generator)
    assert same_samples(from_pretrained("org/name", cache_dir=cache), tiny_generator(seed=1))
    # The mixin's own path (Generator.from_pretrained) downloads and checks the same files.
    assert same_samples(Generator.from_pretrained("org/name", revision=first, cache_dir=cache), generator)


def test_unchanged_push_makes_no_commit(generator, online):
    api = HfApi(endpoint=online.url, token="x")
    first = push_to_hub(generator, "org/name", api=api).oid
    assert push_to_hub(generator, "org/name", api=api).oid == first
    assert len(online.repos["org/name"].commits) == 2  # the repo's initial commit and ours


def test_endpoint_is_passed_through(generator, hub, monkeypatch, tmp_path):
    """Without HF_ENDPOINT, ``endpoint=`` reaches hf_hub_download."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    push_to_hub(generator, "org/name", api=HfApi(endpoint=hub.url, token="x"))
    pulled = from_pretrained("org/name", endpoint=hub.url, cache_dir=tmp_path / "hf-cache")
    assert same_samples(pulled, generator)


def test_missing_repo_and_missing_weights_on_the_hub(generator, online, tmp_path):
    api = HfApi(endpoint=online.url, token="x")
    with pytest.raises(OSError, match="Repository Not Found"):
        from_pretrained("org/absent", cache_dir=tmp_path)
    api.create_repo("org/pickles")
    api.upload_file(path_or_fileobj=json.dumps(generator.get_config()).encode(), path_in_repo="config.json", repo_id="org/pickles")
    api.upload_file(path_or_fileobj=b"not a pickle", path_in_repo="pytorch_model.bin", repo_id="org/pickles")
    with pytest.raises(FileNotFoundError, match="has no model.safetensors .*never pickles"):
        from_pretrained("org/pickles", cache_dir=tmp_path)


def test_offline_and_not_cached(tmp_path):
    assert constants.HF_HUB_OFFLINE  # conftest
    with pytest.raises(FileNotFoundError, match=r"'org/name' .*not in the local Hugging Face cache and the Hub is offline"):
        from_pretrained("org/name", cache_dir=tmp_path)


def test_alias_without_embedded_weights_offline(monkeypatch, tmp_path):
    monkeypatch.setattr(hub_module, "PRETRAINED_DIR", tmp_path / "pretrained")
    with pytest.raises(FileNotFoundError) as err:
        from_pretrained("fer2013-cgan", cache_dir=tmp_path / "hf-cache")
    message = str(err.value)
    assert "embedded copy of 'fer2013-cgan' is missing" in message
    assert "the Hub is offline" in message
    assert "cganbalance/fer2013-cgan" in message


def test_alias_loads_the_embedded_copy(generator, monkeypatch, tmp_path):
    monkeypatch.setattr(hub_module, "PRETRAINED_DIR", tmp_path)
    save_generator(generator, tmp_path / "fer2013-cgan")
    assert same_samples(from_pretrained("fer2013-cgan"), generator)


# -- local folders -----------------------------------------------------------------------------
def test_local_round_trip(generator, tmp_path):
    folder = save_generator(generator, tmp_path / "g")
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "config.json", "model.safetensors"]
    assert json.loads((folder / "config.json").read_text()) == generator.get_config()
    for loaded in (from_pretrained(folder), from_pretrained(str(folder)), Generator.from_pretrained(folder)):
        assert same_samples(loaded, generator)
        assert loaded.get_config() == generator.get_config()
        assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), generator.state_dict().values()))
    assert from_pretrained(generator) is generator


def test_saving_and_loading_leave_the_global_rng_alone(generator, tmp_path):
    state = torch.random.get_rng_state()
    folder = save_generator(generator, tmp_path / "g")
    from_pretrained(folder)
    Generator.from_pretrained(folder)
    assert torch.equal(torch.random.get_rng_state(), state)


def test_model_card(generator, tmp_path):
    history = [{"epoch": 1, "steps": 12, "seconds": 30.0, "d_loss": 0.5, "g_loss": 1.5}]
    folder = save_generator(generator, tmp_path / "g", history=history, card="## Training\n\n- data: 30 toy images")
    text = (folder / "README.md").read_text(encoding="utf-8")
    assert "classes (label order): a, b, c" in text
    assert "## Training\n\n- data: 30 toy images" in text
    assert "1 epochs, 12 steps" in text
    assert 'g.generate(["a", "b"], random_state=0)' in text  # the usage example runs for these classes
    card = ModelCard.load(folder / "README.md")
    assert card.data.library_name == "cganbalance"
    assert "conditional-gan" in card.data.tags


# -- strict loading ----------------------------------------------------------------------------
def _edit_config(folder: Path, edit) -> None:
    config = json.loads((folder / "config.json").read_text())
    edit(config)
    (folder / "config.json").write_text(json.dumps(config))


def _truncate(folder):
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])


CORRUPTIONS = {
    "truncated weights": (_truncate, "model.safetensors is truncated or corrupted"),
    "garbage weights": (lambda f: (f / "model.safetensors").write_bytes(os.urandom(64)), "truncated or corrupted"),
    "weights for other widths": (
        lambda f: _edit_config(f, lambda c: c.update(widths=[8, 4, 4, 8])),
        "the weights do not match config.json: .*wrong shapes",
    ),
    "missing field": (lambda f: _edit_config(f, lambda c: c.pop("latent_dim")), r"missing fields \['latent_dim'\]"),
    "extra field": (lambda f: _edit_config(f, lambda c: c.update(dropout=0.1)), r"unknown fields \['dropout'\]"),
    "string for int": (
        lambda f: _edit_config(f, lambda c: c.update(latent_dim="8")),
        r"field 'latent_dim' must be int. Got '8' \(str\)",
    ),
    "bool for int": (lambda f: _edit_config(f, lambda c: c.update(n_classes=True)), "field 'n_classes' must be int"),
    "null for int": (lambda f: _edit_config(f, lambda c: c.update(n_classes=None)), "field 'n_classes' must be int"),
    "string in a shape": (
        lambda f: _edit_config(f, lambda c: c.update(output_shape=[1, "16", 16])),
        "field 'output_shape' must be Sequence",
    ),
    "classes do not match n_classes": (
        lambda f: _edit_config(f, lambda c: c.update(classes=["a", "b"])),
        "does not describe a valid Generator .*classes",
    ),
    "not a JSON object": (lambda f: (f / "config.json").write_text("[1, 2]"), "must hold a JSON object. Got list"),
}


@pytest.mark.parametrize("loader", ["from_pretrained", "Generator.from_pretrained"])
@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_strict_loading(generator, tmp_path, no_unpickling, loader, corruption):
    if loader == "Generator.from_pretrained" and corruption == "not a JSON object":
        pytest.skip("the mixin reads config.json before our checks run")
    folder = save_generator(generator, tmp_path / "g")
    corrupt, message = CORRUPTIONS[corruption]
    corrupt(folder)
    load = from_pretrained if loader == "from_pretrained" else Generator.from_pretrained
    with pytest.raises(ValueError, match=message):
        load(folder)


def test_invalid_json(generator, tmp_path, no_unpickling):
    folder = save_generator(generator, tmp_path / "g")
    (folder / "config.json").write_text('{"n_classes": 3,')
    with pytest.raises(ValueError, match="config.json is not valid JSON"):
        from_pretrained(folder)


def test_missing_files(generator, tmp_path):
    folder = save_generator(generator, tmp_path / "g")
    (folder / "config.json").unlink()
    with pytest.raises(FileNotFoundError, match="no config.json"):
        from_pretrained(folder)
    with pytest.raises(FileNotFoundError, match="no config.json"):
        Generator.from_pretrained(folder)


class _Payload:
    """Unpickling this creates a marker file: proof that a pickle was (not) loaded."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def test_pickles_are_never_loaded(generator, tmp_path, no_unpickling):
    marker = tmp_path / "unpickled"
    folder = save_generator(generator, tmp_path / "g")
    (folder / "pytorch_model.bin").write_bytes(pickle.dumps(_Payload(marker)))
    assert same_samples(from_pretrained(folder), generator)  # safetensors wins; the pickle is ignored
    (folder / "model.safetensors").unlink()
    for loader in (from_pretrained, Generator.from_pretrained):
        with pytest.raises(FileNotFoundError, match=r"No model.safetensors .*\['pytorch_model.bin'\].*never unpickles"):
            loader(folder)
    assert not marker.exists()


def test_name_that_is_nothing_known(tmp_path):
    with pytest.raises(ValueError, match=r"`name='fer2013'` is not an existing folder; .*known alias \('fer2013-cgan', 'fer2013-cgan-balanced'\)"):
        from_pretrained("fer2013")
    for name in ["no/such/folder", "./missing", "org/", "/abs/missing", "org/na me", ""]:
        with pytest.raises(ValueError, match="is not an existing folder"):
            from_pretrained(name)
    with pytest.raises(ValueError, match="is not an existing folder"):
        from_pretrained(Path("org/name"))  # a path object is never a repo id
    (tmp_path / "file.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match="is a file"):
        from_pretrained(tmp_path / "file.safetensors")
    with pytest.raises(TypeError, match="Got int instead"):
        from_pretrained(3)


# -- saving ------------------------------------------------------------------------------------
@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_save_replaces_a_folder_cleanly(generator, tmp_path, umask_022):
    target = tmp_path / "models" / "g"
    save_generator(tiny_generator(seed=1), target)
    save_generator(generator, target)
    assert same_samples(from_pretrained(target), generator)
    assert [p.name for p in target.parent.iterdir()] == ["g"], "temporary folders were left behind"
    assert stat.S_IMODE(target.stat().st_mode) == 0o755
    for path in target.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path.name


def test_save_refuses_to_replace_other_things(generator, tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "holiday.jpg").write_bytes(b"jpeg")
    with pytest.raises(ValueError, match=r"holds files other than a saved generator's \(\['holiday.jpg'\]\)"):
        save_generator(generator, folder)
    assert sorted(p.name for p in folder.iterdir()) == ["holiday.jpg"]
    with pytest.raises(ValueError, match="is an existing file"):
        save_generator(generator, folder / "holiday.jpg")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["photos"]


def test_config_that_would_not_rebuild_the_network_is_refused(tmp_path):
    # The mixin records only JSON-able arguments: a numpy integer would silently become the default.
    g = Generator(**{**TINY, "n_classes": np.int64(3)})
    assert g.get_config()["n_classes"] == 3
    odd = Generator(**{**TINY, "kernel_size": np.int64(2)})
    with pytest.raises(ValueError, match="do not rebuild this generator"):
        save_generator(odd, tmp_path / "g")
    assert not (tmp_path / "g").exists()


# -- pretrained generators in CGANOverSampler --------------------------------------------------
@pytest.fixture
def letters():
    """30 grey 16×16 uint8 images labelled a/b/c with 15/10/5 samples."""
    rng = np.random.RandomState(0)
    X = rng.randint(0, 256, size=(30, 16, 16)).astype(np.uint8)
    y = np.array(["a"] * 15 + ["b"] * 10 + ["c"] * 5)
    return X, y


def test_sampler_with_a_generator_object_or_folder(generator, letters, tmp_path):
    X, y = letters
    folder = save_generator(generator, tmp_path / "g")
    results = []
    for spec in (generator, folder, str(folder)):
        sampler = CGANOverSampler(generator=spec, random_state=0, max_synthetic_ratio=None)  # every new face synthetic
        X_res, y_res = sampler.fit_resample(X, y)
        assert X_res.dtype == np.uint8 and X_res.shape == (45, 16, 16)
        assert {label: int((y_res == label).sum()) for label in "abc"} == {"a": 15, "b": 15, "c": 15}
        np.testing.assert_array_equal(X_res[:30], X)
        assert sampler.discriminator_ is None and sampler.history_ == []
        results.append(X_res)
    np.testing.assert_array_equal(results[0], results[1])
    np.testing.assert_array_equal(results[0], results[2])
    assert len(np.unique(results[0][30:].reshape(15, -1), axis=0)) == 15  # fresh samples, not copies


def test_sampler_saves_and_pushes_its_generator(generator, letters, online, tmp_path):
    X, y = letters
    sampler = CGANOverSampler(generator=generator, random_state=0).fit(X, y)
    sampler.save_generator(tmp_path / "saved")
    assert same_samples(from_pretrained(tmp_path / "saved"), generator)

    info = sampler.push_to_hub("org/sampled", api=HfApi(endpoint=online.url, token="x"))
    assert info.oid == online.repos["org/sampled"].branches["main"]
    assert same_samples(from_pretrained("org/sampled", cache_dir=tmp_path / "hf-cache"), generator)


def test_sampler_rejects_a_generator_for_other_classes(letters):
    X, y = letters
    other = tiny_generator(classes=["x", "y", "z"])
    with pytest.raises(ValueError, match=r"generator's classes \['x', 'y', 'z'\] do not cover the labels"):
        CGANOverSampler(generator=other, random_state=0).fit_resample(X, y)
    wrong_shape = tiny_generator(output_shape=[1, 8, 8])
    with pytest.raises(ValueError, match=r"makes samples of shape \[1, 8, 8\]"):
        CGANOverSampler(generator=wrong_shape, random_state=0).fit_resample(X, y)


def test_sampler_with_an_unknown_generator_name(letters):
    X, y = letters
    with pytest.raises(ValueError, match="known alias"):
        CGANOverSampler(generator="no-such-generator", random_state=0).fit_resample(X, y)


@pytest.mark.parametrize("alias", sorted(hub_module.ALIASES))
def test_every_alias_ships_its_generator(alias):
    """Each alias loads offline from the copy inside the package, with its model card."""
    from cganbalance.fer2013 import CLASSES

    folder = hub_module.PRETRAINED_DIR / hub_module.ALIASES[alias].embedded
    if not (folder / "model.safetensors").is_file():
        pytest.skip("the pretrained generators are not embedded in this install")
    g = from_pretrained(alias)
    assert g.classes == list(CLASSES) and g.output_shape == [1, 48, 48]
    assert f"# {alias}:" in (folder / "README.md").read_text()
    images = g.generate(["disgust", "happy"], random_state=0)
    assert images.shape == (2, 1, 48, 48) and torch.isfinite(images).all()
    if alias == "fer2013-cgan":  # shipped with its discriminator, which the sampler ranks candidates with
        d = hub_module.load_discriminator(alias, g)
        assert d is not None and "- discriminator: the one it was trained with" in (folder / "README.md").read_text()
        with torch.no_grad():
            logit, class_logits = d(images, torch.tensor([1, 3]))
        assert logit.shape == (2,) and class_logits.shape == (2, 7)


# -- the discriminator saved beside a generator --------------------------------------------------
def tiny_discriminator(generator: Generator, seed: int = 0, **overrides):
    """A discriminator that takes ``generator``'s samples, with seeded weights."""
    from cganbalance.nets import Discriminator

    kwargs = dict(n_classes=generator.n_classes, input_shape=[1, *generator.net_size], widths=[4, 8])
    d = Discriminator(**{**kwargs, **overrides})
    init_weights(d, torch.Generator().manual_seed(seed), std=0.3)
    return d.eval()


@torch.no_grad()
def same_scores(a, b, generator) -> bool:
    x = generator.generate(LABELS, random_state=0).clone()
    labels = torch.tensor([generator.classes.index(c) for c in LABELS])
    return all(torch.equal(u, v) for u, v in zip(a(x, labels), b(x, labels)))


def test_discriminator_round_trip(generator, tmp_path):
    d = tiny_discriminator(generator)
    folder = save_generator(generator, tmp_path / "g", discriminator=d)
    assert {p.name for p in folder.iterdir()} == {
        "config.json", "model.safetensors", "discriminator.json", "discriminator.safetensors", "README.md"
    }
    loaded = hub_module.load_discriminator(folder, from_pretrained(folder))
    assert same_scores(loaded, d, generator) and not loaded.training
    assert "- discriminator: the one it was trained with" in (folder / "README.md").read_text()
    # A folder without one, a generator object and an alias without one give None.
    assert hub_module.load_discriminator(save_generator(generator, tmp_path / "plain")) is None
    assert "discriminator" not in (tmp_path / "plain" / "README.md").read_text()
    assert hub_module.load_discriminator(generator) is None


def test_a_discriminator_for_other_samples_is_refused(generator, tmp_path):
    for wrong, what in [({"n_classes": 4}, "in 4 classes"), ({"input_shape": [1, 8, 8]}, r"of shape \[1, 8, 8\]")]:
        with pytest.raises(ValueError, match=rf"`discriminator`: the discriminator takes conv samples .*{what}.*"
                                             r"but the generator makes conv samples of shape \[1, 16, 16\] in 3 classes"):
            save_generator(generator, tmp_path / "g", discriminator=tiny_discriminator(generator, **wrong))
    assert not (tmp_path / "g").exists()
    with pytest.raises(TypeError, match="`discriminator` must be a Discriminator or None. Got Generator instead."):
        save_generator(generator, tmp_path / "g", discriminator=generator)
    # A folder whose discriminator was swapped for another one is refused when loaded with its generator.
    folder = save_generator(generator, tmp_path / "g", discriminator=tiny_discriminator(generator))
    other = save_generator(tiny_generator(output_shape=[1, 8, 8]), tmp_path / "small",
                           discriminator=tiny_discriminator(tiny_generator(output_shape=[1, 8, 8])))
    for name in ("discriminator.json", "discriminator.safetensors"):
        (folder / name).write_bytes((other / name).read_bytes())
    with pytest.raises(ValueError, match=rf"{folder}: the discriminator takes conv samples of shape \[1, 8, 8\]"):
        hub_module.load_discriminator(folder, from_pretrained(folder))


def test_discriminator_weights_are_checked(generator, tmp_path, no_unpickling):
    folder = save_generator(generator, tmp_path / "g", discriminator=tiny_discriminator(generator))
    (folder / "discriminator.safetensors").unlink()
    with pytest.raises(FileNotFoundError, match="No discriminator.safetensors at "):
        hub_module.load_discriminator(folder)
    folder = save_generator(generator, tmp_path / "g", discriminator=tiny_discriminator(generator))
    config = json.loads((folder / "discriminator.json").read_text())
    (folder / "discriminator.json").write_text(json.dumps({**config, "widths": "wide"}))
    with pytest.raises(ValueError, match=r"discriminator.json.*field 'widths' must be"):
        hub_module.load_discriminator(folder)


def test_sampler_ranks_a_pretrained_generators_candidates_with_its_discriminator(generator, letters, tmp_path):
    X, y = letters
    d = tiny_discriminator(generator)
    folder = save_generator(generator, tmp_path / "g", discriminator=d)
    ranked = CGANOverSampler(generator=folder, random_state=0)
    X_ranked, _ = ranked.fit_resample(X, y)
    assert ranked.discriminator_ is not None and same_scores(ranked.discriminator_, d, generator)
    # The same draw without ranking (filter_keep=None), and from a folder without the discriminator.
    X_plain, _ = CGANOverSampler(generator=folder, random_state=0, filter_keep=None).fit_resample(X, y)
    X_no_d, _ = CGANOverSampler(generator=save_generator(generator, tmp_path / "plain"), random_state=0).fit_resample(X, y)
    np.testing.assert_array_equal(X_plain, X_no_d)
    assert not np.array_equal(X_ranked[30:], X_plain[30:])
    # Ranking keeps the candidates the discriminator scores highest: kept ones beat the median candidate.
    from cganbalance.training import discriminator_confidence

    @torch.no_grad()
    def mean_confidence(images, label):
        x = torch.as_tensor(images, dtype=torch.float32)[:, None] / 127.5 - 1
        return float(discriminator_confidence(d, x, torch.full((len(x),), label)).mean())

    y_new = np.array(["b"] * 5 + ["c"] * 10)
    assert mean_confidence(X_ranked[30:][y_new == "c"], 2) > mean_confidence(X_plain[30:][y_new == "c"], 2)
    # The fitted sampler saves it again, so the saved folder ranks the same way.
    again = ranked.save_generator(tmp_path / "again")
    assert (again / "discriminator.safetensors").is_file()
    np.testing.assert_array_equal(CGANOverSampler(generator=again, random_state=0).fit_resample(X, y)[0], X_ranked)


def test_discriminator_through_the_hub(generator, online, monkeypatch, tmp_path):
    api = HfApi(endpoint=online.url, token="x")
    d = tiny_discriminator(generator)
    push_to_hub(generator, "org/with-d", api=api, discriminator=d)
    push_to_hub(generator, "org/without-d", api=api)
    assert {"discriminator.json", "discriminator.safetensors"} <= set(online.files("org/with-d"))
    cache = tmp_path / "hf-cache"
    pulled = hub_module.load_discriminator("org/with-d", from_pretrained("org/with-d", cache_dir=cache), cache_dir=cache)
    assert same_scores(pulled, d, generator)
    assert hub_module.load_discriminator("org/without-d", cache_dir=cache) is None
    # Offline, the cache serves it; a repo cached without one gives None rather than an error.
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert same_scores(hub_module.load_discriminator("org/with-d", cache_dir=cache), d, generator)
    assert hub_module.load_discriminator("org/without-d", cache_dir=cache) is None
