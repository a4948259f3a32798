"""Pretrained generators: alias registry, loading, saving and the Hugging Face Hub.

Resolution order of :func:`from_pretrained` ``name``:

1. a :class:`~cganbalance.nets.Generator` object is returned as it is;
2. an existing local directory is loaded from disk;
3. a registered alias (``"fer2013-cgan"``) loads the copy embedded in this package when no
   ``revision`` is asked for, so it works offline on a fresh install; with ``revision`` (or when
   the embedded weights are absent) it is downloaded from the alias's Hub repository;
4. anything else must be a Hub repo id (``"org/name"``), downloaded through ``huggingface_hub``'s
   cache (with ``HF_HUB_OFFLINE=1``, only the cache is read).

Nothing is ever unpickled: weights are read from ``model.safetensors`` only, and ``config.json``
is checked field by field (names and types) before any network is built. Missing files raise
``FileNotFoundError``; files that are present but wrong raise ``ValueError``.
"""

from __future__ import annotations

import collections.abc
import json
import os
import secrets
import shutil
import tempfile
import types
import typing
from dataclasses import dataclass
from pathlib import Path

import torch
from huggingface_hub import constants

from .nets import Generator

__all__ = ["ALIASES", "PretrainedAlias", "from_pretrained", "save_generator", "push_to_hub"]

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
CONFIG_NAME = constants.CONFIG_NAME
WEIGHTS_NAME = constants.SAFETENSORS_SINGLE_FILE
#: Files a saved generator folder may hold; ``save_generator`` replaces only such folders.
_FOLDER_FILES = {CONFIG_NAME, WEIGHTS_NAME, "README.md", ".gitattributes"}
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


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
    "fer2013-cgan-balanced": PretrainedAlias(
        repo_id="cganbalance/fer2013-cgan-balanced",
        revision="v0.1.0",
        embedded="fer2013-cgan-balanced",
        description=(
            "fer2013-cgan trained further on class-balanced batches with DiffAugment: clearer rare "
            "emotions (disgust), the better choice for balancing a FER-2013 classifier."
        ),
    ),
}


# -- checking what is read -------------------------------------------------------------------
def _matches(value, hint) -> bool:
    """Whether a JSON value fits a constructor annotation (int, float, str, bool, Sequence[...], X | None)."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if hint is type(None):
        return value is None
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    if origin in (collections.abc.Sequence, list, tuple):
        return isinstance(value, list) and all(_matches(v, args[0]) for v in value)
    return False


def check_config(cls, config, source: str) -> None:
    """Check a ``config.json`` against ``cls.__init__``: no missing, extra or ill-typed fields."""
    if not isinstance(config, dict):
        raise ValueError(f"{source}: config.json must hold a JSON object. Got {type(config).__name__} instead.")
    hints = typing.get_type_hints(cls.__init__)
    hints.pop("return", None)
    extra = sorted(set(config) - set(hints))
    missing = sorted(set(hints) - set(config))
    if extra or missing:
        raise ValueError(
            f"{source}: config.json does not match {cls.__name__}: missing fields {missing}, unknown fields {extra}."
        )
    for name, value in config.items():
        if not _matches(value, hints[name]):
            expected = getattr(hints[name], "__name__", None) or str(hints[name]).replace("typing.", "")
            raise ValueError(
                f"{source}: config.json field {name!r} must be {expected}. Got {value!r} ({type(value).__name__}) instead."
            )


def read_config(path, source: str) -> dict:
    """Parse a ``config.json``; a missing file is a ``FileNotFoundError``, bad JSON a ``ValueError``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(
            f"{source}: no {CONFIG_NAME}. A generator folder holds {CONFIG_NAME} and {WEIGHTS_NAME}."
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{source}: {CONFIG_NAME} is not valid JSON ({exc}).") from exc


def build_model(config, source: str, cls=Generator) -> Generator:
    """An untrained ``cls`` built from a checked ``config.json``."""
    check_config(cls, config, source)
    try:
        with torch.random.fork_rng(devices=[]):  # construction must not consume the caller's RNG
            return cls(**config)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{source}: {CONFIG_NAME} does not describe a valid {cls.__name__} ({exc}).") from exc


def write_model_files(model: torch.nn.Module, directory, *, half: bool = False) -> None:
    """Write ``model.safetensors`` and the checked ``config.json`` of a hub-mixin model.

    Bytes are written from Python so the files honour the umask (safetensors' ``save_file``
    makes 0600 files); ``half`` stores floating-point tensors as float16.
    """
    from safetensors.torch import save

    directory = Path(directory)
    config = model.get_config()
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    (directory / WEIGHTS_NAME).write_bytes(save(state))
    (directory / CONFIG_NAME).write_text(json.dumps(config, sort_keys=True, indent=2))


def load_pretrained(cls, model_id: str, config, *, map_location="cpu", **download) -> torch.nn.Module:
    """The body of ``_from_pretrained`` for our hub-mixin models: strict, and never a pickle.

    The mixin's default loads non-strictly and falls back to ``pytorch_model.bin``; this checks
    ``config`` before building, reads only ``model.safetensors`` (from the folder ``model_id`` or
    downloaded with ``download`` arguments) and requires every tensor to match.
    """
    from huggingface_hub import hf_hub_download

    if config is None:
        raise FileNotFoundError(
            f"{model_id}: no {CONFIG_NAME}. A {cls.__name__} folder holds {CONFIG_NAME} and {WEIGHTS_NAME}."
        )
    model = build_model(config, model_id, cls=cls)  # checked before the weights are fetched
    if os.path.isdir(model_id):
        weights = os.path.join(model_id, WEIGHTS_NAME)
    else:
        weights = hf_hub_download(repo_id=model_id, filename=WEIGHTS_NAME, **download)
    load_weights(model, weights, map_location=map_location)
    return model.eval()


def load_weights(model: torch.nn.Module, path, map_location="cpu") -> None:
    """Load ``model.safetensors`` into ``model`` strictly (every tensor present and shaped right)
    and move the model to ``map_location``."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        pickles = sorted(p.name for p in path.parent.glob("*") if p.suffix in _PICKLE_SUFFIXES)
        hint = (
            f" The folder holds {pickles}: cganbalance reads safetensors only and never unpickles weights."
            if pickles
            else ""
        )
        raise FileNotFoundError(f"No {WEIGHTS_NAME} at {str(path)!r}.{hint}")
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{path}: {WEIGHTS_NAME} is truncated or corrupted ({exc}).") from exc
    expected = model.state_dict()
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(k for k in set(expected) & set(state) if tuple(expected[k].shape) != tuple(state[k].shape))
    if missing or unexpected or wrong:
        raise ValueError(
            f"{path}: the weights do not match {CONFIG_NAME}: missing {missing[:5]}, unexpected {unexpected[:5]}, "
            f"wrong shapes {wrong[:5]}."
        )
    model.load_state_dict({k: v.to(expected[k].dtype) for k, v in state.items()}, strict=True)
    model.to(map_location)


def load_folder(folder, *, source: str | None = None, map_location="cpu") -> Generator:
    """Load a generator saved by :func:`save_generator` (``config.json`` + ``model.safetensors``)."""
    folder = Path(folder)
    source = source or str(folder)
    model = build_model(read_config(folder / CONFIG_NAME, source), source)
    load_weights(model, folder / WEIGHTS_NAME, map_location=map_location)
    return model.eval()


# -- loading ---------------------------------------------------------------------------------
def _hub_file(repo_id: str, filename: str, revision: str | None, note: str, **hub_kwargs) -> str:
    """``hf_hub_download`` with errors that say what is missing and why the Hub was not asked."""
    from huggingface_hub import hf_hub_download
    from huggingface_hub.utils import EntryNotFoundError, LocalEntryNotFoundError

    where = f"{repo_id!r} (revision {revision or constants.DEFAULT_REVISION!r})"
    try:
        return hf_hub_download(repo_id, filename, revision=revision, **hub_kwargs)
    except LocalEntryNotFoundError as exc:
        if constants.is_offline_mode():
            reason = "the Hub is offline (HF_HUB_OFFLINE=1)"
        elif hub_kwargs.get("local_files_only"):
            reason = "`local_files_only=True`"
        else:
            reason = f"the Hub could not be reached ({exc.__cause__ or exc})"
        raise FileNotFoundError(f"{note}{filename} of {where} is not in the local Hugging Face cache and {reason}.") from exc
    except EntryNotFoundError as exc:
        hint = " (cganbalance loads safetensors weights only, never pickles)" if filename == WEIGHTS_NAME else ""
        raise FileNotFoundError(f"{note}{where} has no {filename}{hint}.") from exc


def _from_hub(repo_id: str, revision: str | None, map_location, note: str = "", **hub_kwargs) -> Generator:
    source = f"{repo_id} (Hub)"
    config = read_config(_hub_file(repo_id, CONFIG_NAME, revision, note, **hub_kwargs), source)
    model = build_model(config, source)  # checked before the weights are fetched
    load_weights(model, _hub_file(repo_id, WEIGHTS_NAME, revision, note, **hub_kwargs), map_location=map_location)
    return model.eval()


def _is_repo_id(key: str) -> bool:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    if key.count("/") != 1:
        return False
    try:
        validate_repo_id(key)
    except HFValidationError:
        return False
    return True


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
    map_location : str or torch.device
        Device to put the generator on.
    **hub_kwargs
        Passed to :func:`huggingface_hub.hf_hub_download` (``cache_dir``, ``token``,
        ``local_files_only``, ``force_download``, ``endpoint``, ...).

    Returns
    -------
    Generator
        In evaluation mode.

    Raises
    ------
    FileNotFoundError
        A file is missing, or is not cached while the Hub is offline.
    ValueError
        ``name`` is none of the above, or ``config.json`` / ``model.safetensors`` is invalid.

    Examples
    --------
    >>> from cganbalance import from_pretrained
    >>> g = from_pretrained("fer2013-cgan")
    >>> g.classes
    ['angry', 'disgust', 'fear', 'happy', 'sad', 'surprise', 'neutral']
    >>> g.generate(["happy", "disgust"], random_state=0).shape
    torch.Size([2, 1, 48, 48])
    """
    return _load(name, "name", revision, map_location, hub_kwargs)


def _load(name, parameter: str, revision, map_location, hub_kwargs) -> Generator:
    """``from_pretrained``, with errors naming ``parameter`` (the caller's argument)."""
    if isinstance(name, Generator):
        return name
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(
            f"`{parameter}` must be an alias, a directory or a Hub repo id. Got {type(name).__name__} instead."
        )
    key = os.fspath(name)
    if os.path.isdir(key):
        return load_folder(key, map_location=map_location)
    if key in ALIASES:
        alias = ALIASES[key]
        embedded = PRETRAINED_DIR / alias.embedded
        if revision is None and (embedded / WEIGHTS_NAME).is_file():
            return load_folder(embedded, source=f"{key} (embedded copy)", map_location=map_location)
        note = f"The embedded copy of {key!r} is missing ({embedded / WEIGHTS_NAME}), and " if revision is None else ""
        return _from_hub(alias.repo_id, revision or alias.revision, map_location, note, **hub_kwargs)
    if isinstance(name, str) and not os.path.exists(key) and _is_repo_id(key):
        return _from_hub(key, revision, map_location, **hub_kwargs)
    known = ", ".join(repr(a) for a in sorted(ALIASES))
    expected = f"a folder holding {CONFIG_NAME} and {WEIGHTS_NAME}, a known alias ({known}) or a Hub repo id 'org/name'"
    if os.path.exists(key):
        raise ValueError(f"`{parameter}={key!r}` is a file; expected {expected}.")
    import difflib

    close = difflib.get_close_matches(key, list(ALIASES), n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"`{parameter}={key!r}` is not an existing folder; expected {expected}.{hint}")


def load_generator(spec) -> Generator:
    """``from_pretrained`` for a ``generator`` parameter: errors name ``generator``."""
    return _load(spec, "generator", None, "cpu", {})


# -- saving ----------------------------------------------------------------------------------
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


def _sibling(target: Path, tag: str) -> Path:
    """A hidden, unused path next to ``target`` (same file system, so renames are atomic)."""
    return target.parent / f".{target.name}.{tag}-{secrets.token_hex(4)}"


def save_generator(
    generator: Generator, save_directory, *, history=None, card: str | None = None, repo_id: str | None = None
) -> Path:
    """Save ``generator`` to ``save_directory`` atomically (written next to it, then renamed).

    Writes ``config.json``, ``model.safetensors`` and a ``README.md`` model card naming the
    classes, the training ``history`` summary and the ``card`` text (Markdown). An existing
    generator folder is replaced only once the new one is complete; a folder holding other
    files is refused rather than deleted. ``repo_id`` is shown in the card's usage example.
    """
    target = Path(save_directory)
    if target.exists():
        if not target.is_dir():
            raise ValueError(f"`save_directory={str(target)!r}` is an existing file, not a folder.")
        others = sorted(p.name for p in target.iterdir() if p.name not in _FOLDER_FILES)
        if others:
            raise ValueError(
                f"`save_directory={str(target)!r}` holds files other than a saved generator's ({others[:5]}); "
                "choose an empty or new folder."
            )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _sibling(target, "tmp")
    tmp.mkdir()  # unlike tempfile.mkdtemp (0700), mkdir honours the umask: a normal, shareable folder
    try:
        details = _card_details(generator, history, card)
        card_kwargs = {"details": details, "repo_id": repo_id, "example_labels": json.dumps(generator.classes[:2])}
        generator.save_pretrained(tmp, model_card_kwargs=card_kwargs)
        if target.exists():
            old = _sibling(target, "old")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return target


def push_to_hub(
    generator: Generator, repo_id: str, *, history=None, card: str | None = None, api=None, private=None, **kwargs
):
    """Upload ``generator`` (config, weights, model card) to a Hub repository, creating it if needed.

    ``api`` is an optional ``huggingface_hub.HfApi`` (for a custom endpoint or token);
    ``kwargs`` go to ``HfApi.upload_folder`` (``commit_message``, ``revision``, ...).
    Returns the ``CommitInfo``.
    """
    from huggingface_hub import HfApi

    api = api or HfApi()
    repo_id = api.create_repo(repo_id, exist_ok=True, private=private).repo_id
    kwargs.setdefault("commit_message", "Upload cganbalance generator")
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_generator(generator, Path(tmp) / "generator", history=history, card=card, repo_id=repo_id)
        return api.upload_folder(repo_id=repo_id, folder_path=folder, **kwargs)
