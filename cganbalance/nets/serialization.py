"""Serialisation of the networks: checked ``config.json`` + ``model.safetensors``, never a pickle.

- :class:`SafeHubMixin`: the Hugging Face Hub mixin our models share, with a strict loader.
- :func:`check_config`, :func:`read_config`, :func:`build_model`: ``config.json`` checked field
  by field (names and types) against the constructor before any network is built.
- :func:`write_model_files`, :func:`load_weights`, :func:`load_pretrained`: the weights.
- :class:`PickledModule`: a network as constructor arguments + weights, for pickling a fitted
  sampler.

Missing files raise ``FileNotFoundError``; files that are present but wrong raise ``ValueError``.
"""

from __future__ import annotations

import collections.abc
import json
import os
import types
import typing
from pathlib import Path

import torch
from huggingface_hub import PyTorchModelHubMixin, constants

CONFIG_NAME = constants.CONFIG_NAME
WEIGHTS_NAME = constants.SAFETENSORS_SINGLE_FILE
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")


# -- config.json -----------------------------------------------------------------------------
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
    # Fields added after configs were published may be absent (they then take their default).
    missing = sorted(set(hints) - set(config) - set(getattr(cls, "optional_config_fields", ())))
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


def build_model(config, source: str, cls) -> torch.nn.Module:
    """An untrained ``cls`` built from a checked ``config.json``."""
    check_config(cls, config, source)
    try:
        with torch.random.fork_rng(devices=[]):  # construction must not consume the caller's RNG
            return cls(**config)
    except (TypeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"{source}: {CONFIG_NAME} does not describe a valid {cls.__name__} ({exc}).") from exc


def write_model_files(
    model: torch.nn.Module, directory, *, half: bool = False, config: dict | None = None,
    config_name: str = CONFIG_NAME, weights_name: str = WEIGHTS_NAME,
) -> None:
    """Write ``model.safetensors`` and the checked ``config.json`` of a hub-mixin model.

    Bytes are written from Python so the files honour the umask (safetensors' ``save_file``
    makes 0600 files); ``half`` stores floating-point tensors as float16. ``config`` (default:
    ``model.get_config()``) and the file names can be given for networks without the mixin.
    """
    from safetensors.torch import save

    directory = Path(directory)
    config = model.get_config() if config is None else config
    state = {
        k: (v.half() if half and v.is_floating_point() else v).detach().cpu().contiguous()
        for k, v in model.state_dict().items()
    }
    (directory / weights_name).write_bytes(save(state))
    (directory / config_name).write_text(json.dumps(config, sort_keys=True, indent=2))


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
        pickles = sorted(p.name for p in path.parent.glob("*") if p.suffix in PICKLE_SUFFIXES)
        hint = (
            f" The folder holds {pickles}: cganbalance reads safetensors only and never unpickles weights."
            if pickles
            else ""
        )
        raise FileNotFoundError(f"No {path.name} at {str(path)!r}.{hint}")
    try:
        state = load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise ValueError(f"{path}: {path.name} is truncated or corrupted ({exc}).") from exc
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


# -- the Hub mixin ---------------------------------------------------------------------------
class SafeHubMixin(PyTorchModelHubMixin):
    """``PyTorchModelHubMixin`` whose default loader (non-strict, with a fallback to
    ``pytorch_model.bin`` pickles) is replaced by :func:`load_pretrained`, and
    whose saver writes the checked config with the weights (:func:`write_model_files`).

    Subclasses implement ``get_config()`` returning their JSON-able constructor arguments.
    """

    def _save_pretrained(self, save_directory: Path) -> None:
        # Written here, so the mixin keeps our checked config.json instead of its raw record.
        write_model_files(self, save_directory)

    @classmethod
    def _from_pretrained(
        cls,
        *,
        model_id: str,
        revision,
        cache_dir,
        force_download: bool,
        local_files_only: bool,
        token,
        config: dict | None = None,
        map_location: str = "cpu",
        strict: bool = True,
        **model_kwargs,
    ):
        download = dict(
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            token=token,
            local_files_only=local_files_only,
        )
        return load_pretrained(cls, model_id, config, map_location=map_location, **download)


# -- pickling --------------------------------------------------------------------------------
class PickledModule:
    """A network as (class, constructor arguments, weights, dtype, mode), for pickling; see ``CGANOverSampler.__getstate__``.

    The arguments are checked when the sampler is pickled, by building the network on the meta
    device: a file that pickles must also load.
    """

    def __init__(self, module: torch.nn.Module):
        if hasattr(module, "get_config"):
            config = module.get_config()  # Generator, FERClassifier: checked against the network
        elif hasattr(module, "init_kwargs"):
            config = module.init_kwargs  # Discriminator
        else:
            raise TypeError(f"Cannot pickle a fitted {type(module).__name__}: it records no constructor arguments.")
        self.cls = type(module)
        self.config = json.loads(json.dumps(config))
        with torch.device("meta"), torch.random.fork_rng(devices=[]):
            shapes = {k: tuple(v.shape) for k, v in self.cls(**self.config).state_dict().items()}
        state = module.state_dict()
        if shapes != {k: tuple(v.shape) for k, v in state.items()}:
            raise ValueError(f"The recorded arguments {self.config} do not rebuild this {self.cls.__name__}; it cannot be pickled.")
        params = list(module.parameters())
        self.dtype = str(params[0].dtype).removeprefix("torch.") if params else "float32"
        # numpy has no bfloat16: weights travel as float32 and are cast back on loading
        self.state = {k: (v.detach().cpu().float() if v.dtype == torch.bfloat16 else v.detach().cpu()).numpy() for k, v in state.items()}
        self.training = module.training
        self.requires_grad = any(p.requires_grad for p in params)

    def build(self, device) -> torch.nn.Module:
        with torch.random.fork_rng(devices=[]):  # constructors draw initial weights; leave the caller's RNG alone
            module = self.cls(**self.config)
        module.to(getattr(torch, self.dtype))
        module.load_state_dict({k: torch.from_numpy(v) for k, v in self.state.items()})
        module.train(self.training)
        module.requires_grad_(self.requires_grad)
        return module.to(device if device is not None else "cpu")
