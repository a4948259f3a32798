"""A tiny cGAN trained in every process torchrun starts (run by tests/test_distributed.py).

    python -m torch.distributed.run --standalone --nproc-per-node 2 tests/distributed_worker.py OUT \
        --batch-size 4 --epochs 2 [--augment translation,cutout]

Each process writes ``OUT/rank{RANK}.json``: a SHA-256 of its generator, discriminator and weight
average after every step, its history, and the final SHA-256 of a run stopped after one epoch
(with a checkpoint) and resumed by a new trainer; and ``OUT/rank{RANK}.safetensors``: its final
weights and samples of a fixed noise batch.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch

from cganbalance.training import Callback, CGANTrainer, make_rng
from cganbalance.training.presets import build_networks

# Dropout and augmentation draw from each process's own stream: the weights must stay identical all the same.
TINY = {"generator": {"latent_dim": 8, "widths": [16, 8, 8, 4]}, "discriminator": {"widths": [8, 8, 8], "dropout": 0.3}}


def digest(trainer) -> str:
    """One hash of every weight and buffer of the generator, discriminator and weight average."""
    h = hashlib.sha256()
    for net in (trainer.generator, trainer.discriminator, trainer.ema):
        for name, tensor in net.state_dict().items():
            h.update(name.encode())
            h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class Digests(Callback):
    def __init__(self):
        self.digests = []

    def on_step_end(self, trainer, logs):
        self.digests.append(digest(trainer))


def _trainer(args) -> CGANTrainer:
    rng = make_rng(0)
    overrides = {**TINY, "train": {"batch_size": args.batch_size, "augment": args.augment}}
    g, d, config = build_networks("default", n_classes=3, data_shape=[1, 16, 16], rng=rng, overrides=overrides)
    return CGANTrainer(g, d, config, torch.device("cpu"), rng)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("out")
    parser.add_argument("--batch-size", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--augment", default=None)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    data = np.random.RandomState(0)
    y = torch.from_numpy(np.arange(40) % 3)
    X = torch.from_numpy(data.uniform(-1, 1, size=(40, 1, 16, 16)).astype(np.float32))
    digests = Digests()
    trainer = _trainer(args).fit(X, y, epochs=args.epochs, callbacks=[digests])
    rank = os.environ.get("RANK", "0")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Interrupted after one epoch, resumed by a new trainer (a new process group too).
    _trainer(args).fit(X, y, epochs=1, checkpoint_dir=out / "checkpoint")
    resumed = _trainer(args).load_checkpoint(out / "checkpoint").fit(X, y, epochs=args.epochs)
    record = {"digests": digests.digests, "history": trainer.history, "resumed": digest(resumed)}
    (out / f"rank{rank}.json").write_text(json.dumps(record))
    from safetensors.torch import save_file

    weights = {f"{k}.{n}": t.detach().cpu().contiguous() for k, net in (("g", trainer.generator), ("ema", trainer.ema))
               for n, t in net.state_dict().items()}
    # Samples with batch statistics: free of the biases just before batch norm, whose true gradient is
    # zero (Adam turns their rounding noise into steps, so they differ between runs that agree otherwise).
    z, labels = torch.randn(30, 8, generator=make_rng(1)), torch.arange(30) % 3
    with torch.no_grad():
        weights.update({f"probe.{k}": net.train()(z, labels) for k, net in (("g", trainer.generator), ("ema", trainer.ema))})
    save_file(weights, str(out / f"rank{rank}.safetensors"))


if __name__ == "__main__":
    main()
