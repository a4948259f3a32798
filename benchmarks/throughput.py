"""Speed of the paper preset and the default on FER-sized images: training, sampling, memory.

- **Training throughput** (images/s) of the library's own training step
  (``CGANTrainer.train_step``: one discriminator update and one generator update on one
  generated batch) on random 48×48 grey images after a
  warm-up, with the FLOPs of a step counted by ``torch.utils.flop_counter`` and compared with
  this machine's fp32 matrix-multiply rate, measured by the same script.
- **Tutorial reference**: the paper's training loop written as tutorials write it (a
  ``Dataset`` returning one PIL image at a time through ``Resize(64)``, ``ToTensor`` and
  ``Normalize``, a ``DataLoader``, ``BCEWithLogitsLoss``, one fake batch reused for both
  updates), with the same paper networks, in the same process.
- **Sampling throughput**: faces per second from a generator (``Generator.generate``), and
  with the paper's discriminator filtering (half of the candidates kept, as ``filter_keep=0.5``).
- **Peak memory of** ``fit_resample`` on all of FER-2013 (``--fer``): a fresh process loads the
  28,709 training faces and runs ``CGANOverSampler(max_time=--fit-seconds).fit_resample`` to
  full balance (21,796 new faces); its peak resident memory is read from ``getrusage``.

    python benchmarks/throughput.py [--steps 30] [--presets paper default] \\
        [--fer train.npz] [--fit-seconds 60] [--docs docs/benchmarks.md]
"""

from __future__ import annotations

import argparse
import datetime
import json
import subprocess
import sys
import time

import numpy as np
import torch
from _docs import HelpFormatter, command, machine, markers, write_section

from cganbalance.training.presets import build_networks
from cganbalance.training import CGANTrainer, discriminator_confidence, make_rng

BEGIN, END = markers("throughput")
N_CLASSES, SIDE = 7, 48


def matmul_gflops(n: int = 2048, repeats: int = 10) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(repeats):
        a @ b
    return 2 * n**3 * repeats / (time.perf_counter() - start) / 1e9


def networks(preset: str):
    return build_networks(preset, n_classes=N_CLASSES, data_shape=[1, SIDE, SIDE], rng=make_rng(0))


def step_flops(trainer: CGANTrainer, batch: int) -> float:
    """FLOPs of one training step (D on real + fake, G step), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    X = torch.rand(batch, 1, SIDE, SIDE) * 2 - 1
    y = torch.randint(0, N_CLASSES, (batch,))
    with FlopCounterMode(display=False) as counter:
        trainer.train_step(trainer._real_input(X), y)
    return counter.get_total_flops()


def measure(preset: str, steps: int) -> dict:
    """The library's training step: images/s and GFLOP/s."""
    g, d, config = networks(preset)
    trainer = CGANTrainer(g, d, config, torch.device("cpu"), make_rng(0))
    batch = config.batch_size
    X = torch.rand(batch * steps, 1, SIDE, SIDE) * 2 - 1
    y = torch.randint(0, N_CLASSES, (batch * steps,))
    trainer.fit(X[: batch * 3], y[: batch * 3], epochs=1)  # warm-up
    trainer.epoch = 0
    start = time.perf_counter()
    trainer.fit(X, y, epochs=1)
    seconds = time.perf_counter() - start
    flops = step_flops(trainer, batch)
    return {
        "preset": preset,
        "net": "×".join(map(str, g.net_size)),
        "g_params": sum(p.numel() for p in g.parameters()),
        "d_params": sum(p.numel() for p in d.parameters()),
        "images_per_s": batch * steps / seconds,
        "gflop_per_image": flops / batch / 1e9,
        "gflop_per_s": flops * steps / seconds / 1e9,
    }


def tutorial_loop(steps: int, batch: int = 64) -> dict:
    """The paper's loop as tutorials write it: per-sample PIL transforms and a DataLoader."""
    from PIL import Image
    from torch.utils.data import DataLoader, Dataset
    from torchvision import transforms as T

    g, d, _ = networks("paper")
    rs = np.random.RandomState(0)
    n = batch * (steps + 3)
    images, labels = rs.randint(0, 256, (n, SIDE, SIDE), dtype=np.uint8), rs.randint(0, N_CLASSES, n)

    class Faces(Dataset):
        def __init__(self, images, labels, transform):
            self.images, self.labels, self.transform = images, labels, transform

        def __len__(self):
            return len(self.labels)

        def __getitem__(self, i):
            return self.transform(Image.fromarray(self.images[i])), int(self.labels[i])

    transform = T.Compose([T.Resize(64), T.ToTensor(), T.Normalize([0.5], [0.5])])
    loader = DataLoader(Faces(images, labels, transform), batch_size=batch, shuffle=True, drop_last=True)
    criterion = torch.nn.BCEWithLogitsLoss()
    opt_g = torch.optim.Adam(g.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(d.parameters(), lr=2e-4, betas=(0.5, 0.999))
    g.train(), d.train()
    start, timed = None, 0
    batches = iter(loader)
    for i in range(len(loader)):
        if i == 3:  # after the same warm-up as the library's measurement; loading the batch is timed
            start = time.perf_counter()
        real, y = next(batches)
        timed += len(y) if start is not None else 0
        ones, zeros = torch.ones(len(y)), torch.zeros(len(y))
        fake = g(torch.randn(len(y), g.latent_dim), y)
        opt_d.zero_grad()
        loss_d = criterion(d(real, y)[0].view(-1), ones) + criterion(d(fake.detach(), y)[0].view(-1), zeros)
        loss_d.backward()
        opt_d.step()
        opt_g.zero_grad()
        loss_g = criterion(d(fake, y)[0].view(-1), ones)
        loss_g.backward()
        opt_g.step()
    return {"preset": "paper, tutorial loop", "images_per_s": timed / (time.perf_counter() - start)}


@torch.inference_mode()
def sampling(preset: str, n: int = 2048, batch: int = 256) -> dict:
    """Faces per second from an (untrained, same-cost) generator, raw and with D filtering."""
    g, d, _ = networks(preset)
    g.eval(), d.eval()
    labels = torch.arange(n) % N_CLASSES
    g.generate(labels[:batch], random_state=0, batch_size=batch)  # warm-up
    start = time.perf_counter()
    g.generate(labels, random_state=0, batch_size=batch)
    raw = n / (time.perf_counter() - start)
    # filter_keep=0.5: twice the candidates, each scored by D at the networks' size; the best half kept.
    rng = make_rng(0)
    start = time.perf_counter()
    for lo in range(0, 2 * n, batch):
        y = (torch.arange(lo, min(lo + batch, 2 * n)) % N_CLASSES).long()
        x = g(torch.randn(len(y), g.latent_dim, generator=rng), y)
        discriminator_confidence(d, x, y)
        g.resize(x)
    filtered = n / (time.perf_counter() - start)
    return {"preset": preset, "raw": raw, "filtered": filtered}


MEMORY_CODE = """
import json, resource, sys, time

def peak_kib():
    # VmHWM: this process's own peak. ru_maxrss would include the parent's memory on Linux,
    # which a forked child inherits across exec.
    try:
        with open("/proc/self/status") as f:
            return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1024 if sys.platform == "darwin" else 1)

from cganbalance import CGANOverSampler, fer2013
X, y = fer2013.load(sys.argv[1], split="train")
before = peak_kib()
start = time.perf_counter()
sampler = CGANOverSampler(max_time=float(sys.argv[2]), random_state=0, device="cpu")
X_res, y_res = sampler.fit_resample(X, y)
print(json.dumps({
    "seconds": time.perf_counter() - start,
    "peak_before_kib": before,
    "peak_kib": peak_kib(),
    "n_in": len(y), "n_out": len(y_res), "steps": sum(h["steps"] for h in sampler.history_),
    "output_mib": X_res.nbytes / 2**20,
}))
"""


def fit_resample_memory(path: str, seconds: float) -> dict:
    """Peak resident memory of a fresh process running fit_resample on all of ``path``."""
    out = subprocess.run([sys.executable, "-c", MEMORY_CODE, path, str(seconds)], capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(f"The fit_resample memory run failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def format_markdown(peak: float, training: list[dict], tutorial: dict | None, sampled: list[dict],
                    memory: dict | None, steps: int) -> str:
    lines = [
        "## Speed and memory",
        "",
        f"Command: `{command()}`.",
        "",
        f"Measured {datetime.date.today()} on {machine()}; fp32 matrix-multiply rate (2048×2048, same run): "
        f"{peak:.0f} GFLOP/s.",
        "",
        f"**Training.** One step is one discriminator update and one generator update on a batch ({steps} timed "
        "steps after 3 warm-up steps, random 48×48 grey images); FLOPs counted by `torch.utils.flop_counter`.",
        "",
        "| training loop | works at | G params | D params | images/s | GFLOP/image | GFLOP/s (% of matmul) "
        "| min per FER epoch |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in training:
        lines.append(
            f"| cganbalance, {r['preset']} | {r['net']} | {r['g_params']:,} | {r['d_params']:,} | "
            f"{r['images_per_s']:.1f} | {r['gflop_per_image']:.2f} | {r['gflop_per_s']:.0f} "
            f"({100 * r['gflop_per_s'] / peak:.0f}%) | {28709 / r['images_per_s'] / 60:.1f} |"
        )
    by_preset = {r["preset"]: r for r in training}
    paper = by_preset.get("paper")
    if tutorial:
        flops = f"≈{paper['gflop_per_image'] * tutorial['images_per_s']:.0f}" if paper else "–"
        lines.append(
            f"| tutorial-style reference, paper | 64×64 | same | same | {tutorial['images_per_s']:.1f} | – | "
            f"{flops} | {28709 / tutorial['images_per_s'] / 60:.1f} |"
        )
    if "paper" in by_preset and "default" in by_preset:
        paper_rate = by_preset["paper"]["images_per_s"]
        lines += ["", (
            f"The default trains {by_preset['default']['images_per_s'] / paper_rate:.1f}× more images per second "
            f"than the paper preset; the paper's 300 epochs would take about {300 * 28709 / paper_rate / 3600:.0f} "
            "hours here."
        )]
    if tutorial:
        lines += ["", (
            "The tutorial-style reference trains the same paper networks with a `Dataset` that returns one PIL "
            "image at a time (`Resize(64)`, `ToTensor`, `Normalize`) through a `DataLoader` (no workers), "
            "`BCEWithLogitsLoss`, and one fake batch reused for both updates, as the library's step does. "
            "Its GFLOP/s is estimated from the library's count per image."
            + (f" The library's paper step runs at {paper['images_per_s'] / tutorial['images_per_s']:.2f}× the "
               "tutorial loop's rate." if paper else "")
        )]
    if sampled:
        lines += ["", "**Sampling** (faces per second, batches of 256, returned at 48×48):", "",
                  "| preset | generator only | with discriminator filtering (`filter_keep=0.5`) |", "|---|---|---|"]
        lines += [f"| {r['preset']} | {r['raw']:,.0f} | {r['filtered']:,.0f} |" for r in sampled]
    if memory:
        lines += ["", (
            f"**Memory.** `CGANOverSampler(max_time={memory['max_time']:g}).fit_resample(X, y)` on all "
            f"{memory['n_in']:,} FER-2013 training faces (uint8, 48×48), returning {memory['n_out']:,} faces "
            f"({memory['output_mib']:.0f} MiB) after {memory['steps']:,} training steps and "
            f"{memory['seconds']:.0f} s in all: peak resident memory {memory['peak_kib'] / 2**20:.2f} GiB for the "
            f"whole process, of which {memory['peak_before_kib'] / 2**20:.2f} GiB was Python, torch and the loaded "
            "data before `fit_resample` started. Training memory does not grow with more steps."
        )]
    return "\n".join(lines)


def main(argv=None) -> int:
    doc = __doc__.split("\n\n")
    parser = argparse.ArgumentParser(description="\n\n".join(doc[:-1]), formatter_class=HelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="timed training steps per measurement")
    parser.add_argument("--presets", nargs="+", default=["paper", "default"], choices=["paper", "default"],
                        help="presets to measure")
    parser.add_argument("--no-tutorial", action="store_true", help="skip the tutorial-style reference loop")
    parser.add_argument("--sample", type=int, default=2048, help="faces drawn per sampling measurement (0 skips)")
    parser.add_argument("--fer", default=None, help="FER-2013 training split for the fit_resample memory measurement")
    parser.add_argument("--fit-seconds", type=float, default=60.0, help="training time of that fit_resample")
    parser.add_argument("--docs", default=None, help="Markdown file whose throughput section is replaced")
    args = parser.parse_args(argv)
    if args.steps < 1:
        parser.error(f"--steps must be a positive integer. Got {args.steps} instead.")
    peak = matmul_gflops()
    print(f"{machine()}; fp32 matmul {peak:.0f} GFLOP/s", flush=True)
    training = []
    for preset in args.presets:
        training.append(measure(preset, args.steps))
        print(f"training {preset}: {training[-1]['images_per_s']:.1f} images/s", flush=True)
    tutorial = None
    if not args.no_tutorial:
        tutorial = tutorial_loop(args.steps)
        print(f"tutorial loop (paper): {tutorial['images_per_s']:.1f} images/s", flush=True)
    sampled = []
    for preset in args.presets if args.sample else []:
        sampled.append(sampling(preset, args.sample))
        print(f"sampling {preset}: {sampled[-1]['raw']:.0f} faces/s, filtered {sampled[-1]['filtered']:.0f}", flush=True)
    memory = None
    if args.fer:
        memory = {**fit_resample_memory(args.fer, args.fit_seconds), "max_time": args.fit_seconds}
        print(f"fit_resample peak memory {memory['peak_kib'] / 2**20:.2f} GiB", flush=True)
    text = format_markdown(peak, training, tutorial, sampled, memory, args.steps)
    print("\n" + text)
    if args.docs:
        write_section(args.docs, text, BEGIN, END)
        print(f"\nUpdated {args.docs}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
