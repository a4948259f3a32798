"""Pretrained generators: alias registry, loading, saving and the Hugging Face Hub.

Resolution order of :func:`from_pretrained` ``name``:

1. a :class:`~cganbalance.nets.Generator` object is returned as it is;
2. an existing local directory is loaded from disk;
3. a registered alias (``"fer2013-cgan"``) loads the copy embedded in this package when no
   ``revision`` is asked for, so it works offline on a fresh install; with ``revision`` it is
   downloaded from the alias's Hub repository;
4. anything else is a Hub repo id (``"org/name"``), downloaded through ``huggingface_hub``'s
   cache (with ``HF_HUB_OFFLINE=1``, only the cache is read).

Nothing is ever unpickled: weights are read from ``model.safetensors`` only, and the
``config.json`` is checked field by field before any network is built.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

import torch

from .nets import Generator

__all__ = ["ALIASES", "PretrainedAlias", "from_pretrained", "save_generator", "push_to_hub"]

PRETRAINED_DIR = Path(__file__).parent / "pretrained"


@dataclass(frozen=True)
class PretrainedAlias:
    """A short name for a published generator."""

    repo_id: str
    revision: str
    embedded: str  # folder under cganbalance/pretrained/
    description: str


ALIASES: dict[str, PretrainedAlias] = {
    "fer2013-cgan": PretrainedAlias(
        repo_id="cganbalance/fer2013-cgan",
        revision="v0.1.0",
        embedded="fer2013-cgan",
        description="FER-2013, 48×48 grey faces, 7 emotions (preset 'default').",
    ),
}

_TYPES = {int: (int,), float: (int, float), bool: (bool,), str: (str,)}


def check_config(cls, config: dict | None, source: str) -> None:
    """Check a ``config.json`` against ``cls.__init__``: no missing, extra or ill-typed fields."""
    if not isinstance(config, dict):
        raise ValueError(f"{source}: config.json is missing or is not a JSON object.")
    params = {
        name: p
        for name, p in inspect.signature(cls.__init__).parameters.items()
        if name != "self" and p.kind is p.POSITIONAL_OR_KEYWORD
    }
    extra = sorted(set(config) - set(params))
    missing = sorted(set(params) - set(config))
    if extra or missing:
        raise ValueError(f"{source}: config.json does not match {cls.__name__}: missing fields {missing}, unknown fields {extra}.")
    for name, value in config.items():
        default = params[name].default
        if value is None:
            continue
        if isinstance(default, bool):
            ok = isinstance(value, bool)
        elif isinstance(default, (int, float)) and not isinstance(default, bool):
            ok = isinstance(value, _TYPES[type(default)]) and not isinstance(value, bool)
        elif isinstance(default, str):
            ok = isinstance(value, str)
        else:  # sequences (possibly defaulting to None)
            ok = isinstance(value, list) and all(isinstance(v, (int, float, str)) and not isinstance(v, bool) for v in value)
        if not ok:
            raise ValueError(f"{source}: config.json field {name!r} has an ill-typed value {value!r}.")


def load_weights(model: torch.nn.Module, path: str | os.PathLike, map_location="cpu") -> None:
    """Load ``model.safetensors`` into ``model`` strictly (every tensor present and shaped right)."""
    from safetensors.torch import load_file

    path = str(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No weights file at {path!r} (expected model.safetensors).")
    try:
        state = load_file(path, device=str(map_location))
    except Exception as exc:  # safetensors raises SafetensorError, OSError, ...
        raise ValueError(f"{path}: model.safetensors is truncated or corrupted ({exc}).") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path}: the weights do not match config.json: missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"wrong shapes {wrong[:5]}."
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)


def from_pretrained(name, revision: str | None = None, *, map_location="cpu", **hub_kwargs) -> Generator:
    """Load a generator from an alias, a local directory or a Hub repo id.

    Parameters
    ----------
    name : str, path or Generator
        ``"fer2013-cgan"`` (see :data:`ALIASES`), a directory with ``config.json`` and
        ``model.safetensors``, or a Hub repo id such as ``"org/name"``.
    revision : str, optional
        Hub revision (branch, tag or commit). For an alias, asking for a revision downloads it
        from the alias's repository instead of using the embedded copy.
    map_location : str
        Device to load the weights on.
    **hub_kwargs
        Passed to ``huggingface_hub`` (``cache_dir``, ``token``, ``local_files_only``, ...).

    Examples
    --------
    >>> from cganbalance import from_pretrained
    >>> g = from_pretrained("fer2013-cgan")
    >>> g.classes
    ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']
    >>> g.generate(["happy", "disgust"], random_state=0).shape
    torch.Size([2, 1, 48, 48])
    """
    if isinstance(name, Generator):
        return name
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(f"`name` must be an alias, a directory or a Hub repo id. Got {type(name).__name__} instead.")
    key = str(name)
    if os.path.isdir(key):
        return Generator.from_pretrained(key, map_location=map_location)
    if key in ALIASES:
        alias = ALIASES[key]
        if revision is None:
            embedded = PRETRAINED_DIR / alias.embedded
            if (embedded / "model.safetensors").is_file():
                return Generator.from_pretrained(str(embedded), map_location=map_location)
            revision = alias.revision
        return Generator.from_pretrained(alias.repo_id, revision=revision, map_location=map_location, **hub_kwargs)
    if key.count("/") != 1 or os.path.sep in key.replace("/", "") or key.startswith((".", "/")):
        known = ", ".join(sorted(ALIASES))
        raise ValueError(
            f"`name={key!r}` is not a directory, a known alias ({known}) or a Hub repo id of the form 'org/name'."
        )
    return Generator.from_pretrained(key, revision=revision, map_location=map_location, **hub_kwargs)


def load_generator(spec) -> Generator:
    """``from_pretrained`` for a sampler's ``generator`` parameter."""
    return from_pretrained(spec)


def _card_details(generator: Generator, history: list | None, extra: str | None) -> str:
    cfg = generator.get_config()
    lines = [
        "## Model",
        "",
        f"- classes (label order): {', '.join(generator.classes)}",
        f"- output shape: {cfg['output_shape']} ({'images, C×H×W' if cfg['arch'] == 'conv' else 'tabular rows'})",
        f"- latent size: {cfg['latent_dim']}",
        f"- parameters: {sum(p.numel() for p in generator.parameters()):,}",
    ]
    if history:
        last = history[-1]
        lines += [
            f"- training: {len(history)} epochs, {sum(h['steps'] for h in history):,} steps, "
            f"{sum(h['seconds'] for h in history) / 60:.1f} minutes; final D loss {last.get('d_loss', float('nan')):.3f}, "
            f"G loss {last.get('g_loss', float('nan')):.3f}",
        ]
    if extra:
        lines += ["", extra]
    return "\n".join(lines)


def save_generator(generator: Generator, save_directory, *, history=None, card: str | None = None) -> Path:
    """Save ``generator`` to ``save_directory`` atomically (written to a temporary folder, then moved).

    Writes ``config.json``, ``model.safetensors`` and a ``README.md`` model card. An existing
    folder is replaced only once the new one is complete.
    """
    target = Path(save_directory)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-"))
    try:
        generator.save_pretrained(tmp)
        model_card = generator.generate_model_card(details=_card_details(generator, history, card))
        (tmp / "README.md").write_text(str(model_card), encoding="utf-8")
        if target.exists():
            old = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}-old-"))
            os.replace(target, old / "x")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def push_to_hub(generator: Generator, repo_id: str, *, history=None, card: str | None = None, api=None, **kwargs):
    """Upload ``generator`` (config, weights, model card) to a Hub repository.

    ``api`` is an optional ``huggingface_hub.HfApi`` (for a custom endpoint or token);
    ``kwargs`` go to ``HfApi.upload_folder`` (``commit_message``, ``revision``, ...).
    Returns the commit info.
    """
    from huggingface_hub import HfApi

    api = api or HfApi()
    private = kwargs.pop("private", None)
    api.create_repo(repo_id, exist_ok=True, private=private)
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_generator(generator, Path(tmp) / "model", history=history, card=card)
        return api.upload_folder(repo_id=repo_id, folder_path=folder, **kwargs)
