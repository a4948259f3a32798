"""Distributed scaling on one machine: the time of one training epoch with 1 process of 1 thread
against N processes of 1 thread each (torchrun, gloo on the CPU), on the same data.

The processes train at the same global batch (each takes ``--batch-size / N``), so they make the
same steps; the second epoch is timed (the first warms up). Data: ``--data`` (any source
``cganbalance train`` reads) or random 48×48 grey faces in 7 classes. The default preset.

    python benchmarks/ddp_scaling.py [--data train.npz] [--n 2048] [--batch-size 64] [--processes 2] [--json out.json]

Run it on a quiet machine: other jobs on the same cores distort both timings. The issue's target on
a 2-core machine: 2 processes take at most 0.6× the time of 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent


def worker(args) -> None:
    """One process of the timed run (started by torchrun)."""
    from cganbalance.readers import load_labelled_images
    from cganbalance.training import CGANTrainer, make_rng
    from cganbalance.training.presets import build_networks

    torch.set_num_threads(1)
    images, labels, classes = load_labelled_images(args.data)
    X = torch.from_numpy(images.astype(np.float32) / 127.5 - 1)
    X = X[:, None] if X.dim() == 3 else X.permute(0, 3, 1, 2)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rng = make_rng(0)
    g, d, config = build_networks("default", n_classes=len(classes), data_shape=list(X.shape[1:]), rng=rng,
                                  overrides={"train": {"batch_size": args.batch_size // world}})
    trainer = CGANTrainer(g, d, config, torch.device("cpu"), rng)
    trainer.fit(X, torch.from_numpy(labels), epochs=2)
    if os.environ.get("RANK", "0") == "0":
        Path(args.result).write_text(json.dumps(trainer.history))


def launch(data: str, processes: int, batch_size: int, result: Path) -> dict:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", str(processes),
               __file__, "--worker", "--data", data, "--batch-size", str(batch_size), "--result", str(result)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL)
    history = json.loads(result.read_text())
    return {"processes": processes, "epoch_seconds": history[-1]["seconds"], "steps": history[-1]["steps"],
            "wall_seconds_with_start_up": time.perf_counter() - start}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=None, help="labelled images (default: random 48×48 grey faces)")
    parser.add_argument("--n", type=int, default=2048, help="random faces to make without --data")
    parser.add_argument("--batch-size", type=int, default=64, help="global batch (split over the processes)")
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--json", default=None)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--result", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        return worker(args)
    if args.batch_size % args.processes:
        parser.error(f"--batch-size must be a multiple of --processes. Got {args.batch_size} and {args.processes}.")
    with tempfile.TemporaryDirectory() as tmp:
        data = args.data
        if data is None:
            rng = np.random.RandomState(0)
            data = str(Path(tmp) / "faces.npz")
            np.savez(data, images=rng.randint(0, 256, (args.n, 48, 48)).astype(np.uint8), labels=np.arange(args.n) % 7,
                     classes=np.array(["c0", "c1", "c2", "c3", "c4", "c5", "c6"]))
        runs = [launch(data, p, args.batch_size, Path(tmp) / f"run{p}.json") for p in (1, args.processes)]
    ratio = runs[1]["epoch_seconds"] / runs[0]["epoch_seconds"]
    print(f"1 process × 1 thread: {runs[0]['epoch_seconds']:.2f} s/epoch ({runs[0]['steps']} steps)")
    print(f"{args.processes} processes × 1 thread: {runs[1]['epoch_seconds']:.2f} s/epoch ({runs[1]['steps']} steps)")
    print(f"ratio: {ratio:.2f} (target on 2 cores: at most 0.6)")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": runs, "ratio": ratio, "batch_size": args.batch_size}, indent=1))


if __name__ == "__main__":
    main()
