"""Test helper: the epoch a training checkpoint file holds (0 while it is missing or being written)."""

import json


def checkpoint_epoch(path) -> int:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="np") as f:
            return json.loads(f.metadata()["cganbalance"])["epoch"]
    except Exception:  # not there yet, or half-written: the callers poll
        return 0
