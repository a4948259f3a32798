"""Pretrained generators: alias registry, loading, saving and the Hugging Face Hub.

Resolution order of :func:`from_pretrained` ``name``:

1. a :class:`~cganbalance.nets.Generator` object is returned as it is;
2. an existing local directory is loaded from disk;
3. a registered alias (``"fer2013-cgan"``) loads the copy embedded in this package when no
   ``revision`` is asked for, so it works offline on a fresh install; with ``revision`` (or when
   the embedded weights are absent) it is downloaded from the alias's Hub repository;
4. anything else must be a Hub repo id (``"org/name"``), downloaded through ``huggingface_hub``'s
   cache (with ``HF_HUB_OFFLINE=1``, only the cache is read).

A generator folder may also hold the discriminator it was trained with (``discriminator.json`` +
``discriminator.safetensors``): :func:`load_discriminator` reads it, and ``CGANOverSampler``
ranks a pretrained generator's candidates with it (``filter_keep``).

Nothing is ever unpickled: weights are read from ``*.safetensors`` only, and every config
is checked field by field (names and types) before any network is built. Missing files raise
``FileNotFoundError``; files that are present but wrong raise ``ValueError``.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from huggingface_hub import constants

from .nets import Discriminator, Generator
from .nets.serialization import CONFIG_NAME, WEIGHTS_NAME, build_model, load_weights, read_config, write_model_files

__all__ = ["ALIASES", "PretrainedAlias", "from_pretrained", "load_discriminator", "save_generator", "push_to_hub"]

PRETRAINED_DIR = Path(__file__).parent / "pretrained"
#: The discriminator a generator was trained with, saved beside it (optional).
DISCRIMINATOR_CONFIG = "discriminator.json"
DISCRIMINATOR_WEIGHTS = "discriminator.safetensors"
#: Files a saved generator folder may hold; ``save_generator`` replaces only such folders.
_FOLDER_FILES = {CONFIG_NAME, WEIGHTS_NAME, DISCRIMINATOR_CONFIG, DISCRIMINATOR_WEIGHTS, "README.md", ".gitattributes"}


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
        revision="v0.2.0",
        embedded="fer2013-cgan",
        description=(
            "FER-2013, 48×48 grey faces, 7 emotions (preset 'default', 8.4 CPU-hours), with its "
            "discriminator for ranking candidates."
        ),
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


def load_folder(folder, *, source: str | None = None, map_location="cpu") -> Generator:
    """Load a generator saved by :func:`save_generator` (``config.json`` + ``model.safetensors``)."""
    folder = Path(folder)
    source = source or str(folder)
    model = build_model(read_config(folder / CONFIG_NAME, source), source, Generator)
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
    model = build_model(config, source, Generator)  # checked before the weights are fetched
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


@dataclass(frozen=True)
class _Location:
    """Where a generator name points: a local ``folder`` (with its ``source`` for messages), or a Hub
    ``repo_id`` at ``revision`` (``note`` prefixes errors: why the embedded copy was not used)."""

    folder: Path | None = None
    source: str = ""
    repo_id: str | None = None
    revision: str | None = None
    note: str = ""


def _locate(name, parameter: str, revision) -> _Location:
    """Resolve ``name`` as :func:`from_pretrained` documents it, with errors naming ``parameter``."""
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError(
            f"`{parameter}` must be an alias, a directory or a Hub repo id. Got {type(name).__name__} instead."
        )
    key = os.fspath(name)
    if os.path.isdir(key):
        return _Location(folder=Path(key), source=key)
    if key in ALIASES:
        alias = ALIASES[key]
        embedded = PRETRAINED_DIR / alias.embedded
        if revision is None and (embedded / WEIGHTS_NAME).is_file():
            return _Location(folder=embedded, source=f"{key} (embedded copy)")
        note = f"The embedded copy of {key!r} is missing ({embedded / WEIGHTS_NAME}), and " if revision is None else ""
        return _Location(repo_id=alias.repo_id, revision=revision or alias.revision, note=note)
    if isinstance(name, str) and not os.path.exists(key) and _is_repo_id(key):
        return _Location(repo_id=key, revision=revision)
    known = ", ".join(repr(a) for a in sorted(ALIASES))
    expected = f"a folder holding {CONFIG_NAME} and {WEIGHTS_NAME}, a known alias ({known}) or a Hub repo id 'org/name'"
    if os.path.exists(key):
        raise ValueError(f"`{parameter}={key!r}` is a file; expected {expected}.")
    import difflib

    close = difflib.get_close_matches(key, list(ALIASES), n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ValueError(f"`{parameter}={key!r}` is not an existing folder; expected {expected}.{hint}")


def _load(name, parameter: str, revision, map_location, hub_kwargs) -> Generator:
    """``from_pretrained``, with errors naming ``parameter`` (the caller's argument)."""
    if isinstance(name, Generator):
        return name
    where = _locate(name, parameter, revision)
    if where.folder is not None:
        return load_folder(where.folder, source=where.source, map_location=map_location)
    return _from_hub(where.repo_id, where.revision, map_location, where.note, **hub_kwargs)


def load_discriminator(name, generator: Generator | None = None, revision: str | None = None, *,
                       map_location="cpu", **hub_kwargs) -> Discriminator | None:
    """The discriminator saved with a generator, or ``None`` when there is none.

    ``name`` is what :func:`from_pretrained` takes (alias, folder or Hub repo id, with its errors;
    a :class:`~cganbalance.nets.Generator` object carries no discriminator, so ``None``).
    ``generator``, when given, is checked to make samples the discriminator takes (same
    classes, shape and kind). A Hub repository, or a cached copy of one while offline, without
    ``discriminator.json`` gives ``None``.
    """
    if isinstance(name, Generator):
        return None
    where = _locate(name, "name", revision)
    if where.folder is not None:
        source = where.source
        config_path, weights = where.folder / DISCRIMINATOR_CONFIG, where.folder / DISCRIMINATOR_WEIGHTS
        if not config_path.is_file():
            return None
    else:
        from huggingface_hub import hf_hub_download
        from huggingface_hub.utils import EntryNotFoundError, LocalEntryNotFoundError

        source = f"{where.repo_id} (Hub)"
        try:
            config_path = hf_hub_download(where.repo_id, DISCRIMINATOR_CONFIG, revision=where.revision, **hub_kwargs)
        except (EntryNotFoundError, LocalEntryNotFoundError):
            return None
        weights = _hub_file(where.repo_id, DISCRIMINATOR_WEIGHTS, where.revision, where.note, **hub_kwargs)
    d = build_model(read_config(config_path, source), f"{source}: {DISCRIMINATOR_CONFIG}", Discriminator)
    load_weights(d, weights, map_location=map_location)
    if generator is not None:
        check_pair(generator, d, source)
    return d.eval()


def check_pair(generator: Generator, discriminator: Discriminator, source: str = "the discriminator") -> None:
    """A ``ValueError`` unless ``discriminator`` takes ``generator``'s samples (classes, shape, kind)."""
    shape = list(generator.output_shape)
    if generator.arch == "conv":
        shape = [shape[0], *generator.net_size]
    got = discriminator.init_kwargs
    if (got["n_classes"], list(got["input_shape"]), got["arch"]) != (generator.n_classes, shape, generator.arch):
        raise ValueError(
            f"{source}: the discriminator takes {got['arch']} samples of shape {got['input_shape']} in "
            f"{got['n_classes']} classes, but the generator makes {generator.arch} samples of shape {shape} in "
            f"{generator.n_classes} classes."
        )


def load_generator(spec) -> Generator:
    """``from_pretrained`` for a ``generator`` parameter: errors name ``generator``."""
    return _load(spec, "generator", None, "cpu", {})


# -- saving ----------------------------------------------------------------------------------
def _card_details(generator: Generator, history: list | None, extra: str | None, discriminator=None) -> str:
    cfg = generator.get_config()
    lines = [
        "## Model",
        "",
        f"- classes (label order): {', '.join(generator.classes)}",
        f"- output shape: {cfg['output_shape']} ({'images, C×H×W' if cfg['arch'] == 'conv' else 'tabular rows'})",
        f"- latent size: {cfg['latent_dim']}",
        f"- parameters: {sum(p.numel() for p in generator.parameters()):,}",
    ]
    if discriminator is not None:
        lines.append(
            f"- discriminator: the one it was trained with ({sum(p.numel() for p in discriminator.parameters()):,} "
            f"parameters, `{DISCRIMINATOR_WEIGHTS}`); `CGANOverSampler` ranks candidates with it (`filter_keep`)"
        )
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
    generator: Generator, save_directory, *, discriminator: Discriminator | None = None, history=None,
    card: str | None = None, repo_id: str | None = None,
) -> Path:
    """Save ``generator`` to ``save_directory`` atomically (written next to it, then renamed).

    Writes ``config.json``, ``model.safetensors`` and a ``README.md`` model card naming the
    classes, the training ``history`` summary and the ``card`` text (Markdown); with
    ``discriminator`` (the one ``generator`` was trained with), also ``discriminator.json`` and
    ``discriminator.safetensors``, in the discriminator's own precision, so that the sampler can
    rank the generator's candidates with it. An existing generator folder is replaced only once
    the new one is complete; a folder holding other files is refused rather than deleted.
    ``repo_id`` is shown in the card's usage example.
    """
    if discriminator is not None:
        if not isinstance(discriminator, Discriminator):
            raise TypeError(f"`discriminator` must be a Discriminator or None. Got {type(discriminator).__name__} instead.")
        check_pair(generator, discriminator, "`discriminator`")
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
        details = _card_details(generator, history, card, discriminator)
        card_kwargs = {"details": details, "repo_id": repo_id, "example_labels": json.dumps(generator.classes[:2])}
        generator.save_pretrained(tmp, model_card_kwargs=card_kwargs)
        if discriminator is not None:
            write_model_files(discriminator, tmp, config=discriminator.init_kwargs,
                              config_name=DISCRIMINATOR_CONFIG, weights_name=DISCRIMINATOR_WEIGHTS)
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
    generator: Generator, repo_id: str, *, discriminator: Discriminator | None = None, history=None,
    card: str | None = None, api=None, private=None, **kwargs
):
    """Upload ``generator`` (config, weights, model card; ``discriminator`` too, when given: see
    :func:`save_generator`) to a Hub repository, creating it if needed.

    ``api`` is an optional ``huggingface_hub.HfApi`` (for a custom endpoint or token);
    ``kwargs`` go to ``HfApi.upload_folder`` (``commit_message``, ``revision``, ...).
    Returns the ``CommitInfo``.
    """
    from huggingface_hub import HfApi

    api = api or HfApi()
    repo_id = api.create_repo(repo_id, exist_ok=True, private=private).repo_id
    kwargs.setdefault("commit_message", "Upload cganbalance generator")
    with tempfile.TemporaryDirectory() as tmp:
        folder = save_generator(
            generator, Path(tmp) / "generator", discriminator=discriminator, history=history, card=card, repo_id=repo_id
        )
        return api.upload_folder(repo_id=repo_id, folder_path=folder, **kwargs)
