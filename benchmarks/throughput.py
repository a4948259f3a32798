"""Training throughput (images/s) of the paper preset and the default on FER-sized images.

Measures the library's own training step (CGANTrainer: one D step + one G step per batch) on
random 48×48 grey images, after a warm-up, with torch's default thread count. Also reports the
achieved GFLOP/s against this machine's fp32 matrix-multiply rate.

    python benchmarks/throughput.py [--steps 30] [--presets paper default]
"""

from __future__ import annotations

import argparse
import datetime
import platform
import time

import torch

from cganbalance.presets import build_networks
from cganbalance.training import CGANTrainer, make_torch_generator


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def step_flops(trainer: CGANTrainer, batch: int) -> float:
    """FLOPs of one training step (D on real + fake, G step), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    X = torch.rand(batch, 1, 48, 48) * 2 - 1
    y = torch.randint(0, 7, (batch,))
    with FlopCounterMode(display=False) as counter:
        trainer.discriminator_step(trainer._real_input(X), y)
        trainer.generator_step(y)
    return counter.get_total_flops()


def measure(preset: str, steps: int) -> dict:
    rng = make_torch_generator(0)
    g, d, config = build_networks(preset, n_classes=7, data_shape=[1, 48, 48], generator=rng)
    trainer = CGANTrainer(g, d, config, torch.device("cpu"), rng)
    batch = config.batch_size
    X = torch.rand(batch * steps, 1, 48, 48) * 2 - 1
    y = torch.randint(0, 7, (batch * steps,))
    trainer.fit(X[: batch * 3], y[: batch * 3], epochs=1)  # warm-up
    trainer.epoch = 0
    start = time.perf_counter()
    trainer.fit(X, y, epochs=1)
    seconds = time.perf_counter() - start
    flops = step_flops(trainer, batch)
    return {
        "preset": preset,
        "net": "×".join(map(str, g.net_size)),
        "G params": sum(p.numel() for p in g.parameters()),
        "D params": sum(p.numel() for p in d.parameters()),
        "img/s": batch * steps / seconds,
        "GFLOP/img": flops / batch / 1e9,
        "GFLOP/s": flops * steps / seconds / 1e9,
        "FER epoch min": 28709 / (batch * steps / seconds) / 60,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--presets", nargs="+", default=["paper", "default"])
    args = parser.parse_args()
    peak = matmul_gflops()
    print(f"date {datetime.date.today()}, {platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}; fp32 matmul {peak:.0f} GFLOP/s")
    print("| preset | works at | G params | D params | images/s | GFLOP/image | GFLOP/s (% of matmul) | min per FER epoch |")
    print("|---|---|---|---|---|---|---|---|")
    for preset in args.presets:
        r = measure(preset, args.steps)
        print(f"| {r['preset']} | {r['net']} | {r['G params']:,} | {r['D params']:,} | {r['img/s']:.1f} | "
              f"{r['GFLOP/img']:.2f} | {r['GFLOP/s']:.0f} ({100 * r['GFLOP/s'] / peak:.0f}%) | {r['FER epoch min']:.1f} |")


if __name__ == "__main__":
    main()
