"""The Hub mixin our models share: a checked ``config.json`` on save, strict loading, no pickles."""

from __future__ import annotations

from pathlib import Path

from huggingface_hub import PyTorchModelHubMixin


class SafeHubMixin(PyTorchModelHubMixin):
    """``PyTorchModelHubMixin`` whose default loader (non-strict, with a fallback to
    ``pytorch_model.bin`` pickles) is replaced by :func:`cganbalance.hub.load_pretrained`, and
    whose saver writes the checked config with the weights (:func:`cganbalance.hub.write_model_files`).

    Subclasses implement ``get_config()`` returning their JSON-able constructor arguments.
    """

    def _save_pretrained(self, save_directory: Path) -> None:
        # Written here, so the mixin keeps our checked config.json instead of its raw record.
        from .hub import write_model_files

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
        from .hub import load_pretrained

        download = dict(
            revision=revision,
            cache_dir=cache_dir,
            force_download=force_download,
            token=token,
            local_files_only=local_files_only,
        )
        return load_pretrained(cls, model_id, config, map_location=map_location, **download)
