"""Expression transfer on FER-2013 (prototype): edit a real face of one emotion into another.

A StarGAN / GANimation-style translator ``G(x, c)`` for 48×48 grey faces instead of a noise-to-face
cGAN: the large classes lend their identities to the small ones. ``G`` sees the face with the target
emotion as one-hot channels (StarGAN), encodes it with stride-2 convolutions, mixes it in residual
blocks at 12×12 and decodes it into a colour map ``C`` (tanh) and an attention map ``A`` (sigmoid);
the output is ``A·x + (1 − A)·C`` (GANimation), so wherever ``A`` is 1 the real face is kept exactly.
The discriminator is :class:`cganbalance.nets.Discriminator` (spectral norm) with an auxiliary class
head: hinge loss for real/fake, cross-entropy for the emotion (real faces with their labels, class
weighted so that disgust counts as much as happy; ``G``'s edits with their target). ``G`` also pays a
cycle loss ``|x − G(G(x, c'), c_x)|`` and keeps its attention map near 1 and smooth.

Sources are drawn uniformly from the 25,709 faces of ``train.npz`` outside the validation split
(``benchmarks/fer_split.py``), each target uniformly among the six other emotions: a happy face,
the commonest, lends its identity to disgust as often as to any other class.

Evaluation (every ``--eval-every`` steps, on the 3,000 validation faces, never the public test
split): for each emotion as many edits as the validation split holds of it, of sources of the
*other* emotions (non-validation faces), scored by :func:`cganbalance.metrics.evaluate_samples`
with the shipped FER-2013 classifier, as ``train_fer_generator.py`` scores its generators; plus the
median pixel RMS distance of each edit to its own source. ``--final`` scores the validation-best
weights (``STATE/best.safetensors``) once more with the two-sample test and the memorisation check
(an edit of a training face is by design close to it).

    python benchmarks/train_fer_transfer.py --train ../shared/data/fer2013/train.npz --state runs/transfer \\
        [--steps 4000] [--max-tflop 100] [--max-minutes 75] [--eval-every 400] [--threads 1] [--resume]
    python benchmarks/train_fer_transfer.py --train ../shared/data/fer2013/train.npz --state runs/transfer --final

``--state`` holds ``checkpoint.safetensors`` (networks, weight average, optimisers, RNG; half
precision), ``curve.json``, ``run.json``, ``samples.png`` (one row per target emotion: source face,
its edit, and so on) and ``best.safetensors`` (the validation-best weight average, float16).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from _docs import HelpFormatter, command, machine
from fer_split import load_split
from torch import nn

from cganbalance.classifier import load_fer_classifier, to_model_input
from cganbalance.metrics import evaluate_samples
from cganbalance.nets import Discriminator, init_weights
from cganbalance.training import CHECKPOINT_NAME, make_rng
from cganbalance.training.checkpoint import load_checkpoint, save_checkpoint
from cganbalance.training.fast import Precision

METRICS = ("fid", "kid", "precision", "recall", "density", "coverage", "classifier_recall", "diversity")


# -- the translator ------------------------------------------------------------------------------
class ResidualBlock(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.InstanceNorm2d(width, affine=True), nn.ReLU(),
            nn.Conv2d(width, width, 3, 1, 1, bias=False), nn.InstanceNorm2d(width, affine=True),
        )

    def forward(self, x):
        return x + self.body(x)


class Translator(nn.Module):
    """``G(x, c)``: a face ``x`` in ``[-1, 1]`` (N×1×H×W) edited toward emotion ``c``.

    ``forward`` returns ``(output, attention, colour)``; ``output = A·x + (1 − A)·C``.
    ``widths``: channels at full, half and quarter resolution; ``n_residual`` blocks at the last.
    """

    def __init__(self, n_classes: int = 7, widths=(32, 64, 128), n_residual: int = 3):
        super().__init__()
        self.n_classes = n_classes
        self.init_kwargs = {"n_classes": n_classes, "widths": list(widths), "n_residual": n_residual}
        w0, w1, w2 = widths

        def down(i, o, k, s, p):
            return [nn.Conv2d(i, o, k, s, p, bias=False), nn.InstanceNorm2d(o, affine=True), nn.ReLU()]

        def up(i, o):
            return [nn.ConvTranspose2d(i, o, 4, 2, 1, bias=False), nn.InstanceNorm2d(o, affine=True), nn.ReLU()]

        self.body = nn.Sequential(
            *down(1 + n_classes, w0, 5, 1, 2), *down(w0, w1, 4, 2, 1), *down(w1, w2, 4, 2, 1),
            *[ResidualBlock(w2) for _ in range(n_residual)],
            *up(w2, w1), *up(w1, w0),
        )
        self.colour = nn.Conv2d(w0, 1, 5, 1, 2)
        self.attention = nn.Conv2d(w0, 1, 5, 1, 2)

    def forward(self, x: torch.Tensor, target: torch.Tensor):
        onehot = F.one_hot(target.long(), self.n_classes).to(x.dtype)[:, :, None, None]
        h = self.body(torch.cat([x, onehot.expand(-1, -1, *x.shape[2:])], 1))
        a, c = torch.sigmoid(self.attention(h)), torch.tanh(self.colour(h))
        return a * x + (1 - a) * c, a, c


class Unchanged(nn.Module):
    """The translator that changes nothing (``A = 1``): what the metrics give real faces of the wrong emotion."""

    def forward(self, x: torch.Tensor, target: torch.Tensor):
        return x, torch.ones_like(x), x


# -- training ----------------------------------------------------------------------------------
@dataclasses.dataclass
class TransferConfig:
    """Training settings (StarGAN's weights, GANimation's attention terms, scaled for 48×48)."""

    batch_size: int = 32
    lr_g: float = 1e-4
    lr_d: float = 2e-4
    betas: tuple = (0.5, 0.999)
    lambda_cls: float = 1.0  # emotion cross-entropy (D on real faces, G on its edits)
    lambda_rec: float = 10.0  # cycle: |x − G(G(x, c'), c_x)|
    lambda_attention: float = 0.1  # mean(1 − A): change as little of the face as needed
    lambda_tv: float = 1.0  # total variation of A (mean squared neighbour difference): smooth masks
    ema_decay: float = 0.999
    widths: tuple = (32, 64, 128)
    n_residual: int = 3
    d_widths: tuple = (64, 128, 256)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(dataclasses.asdict(self)))


def total_variation(a: torch.Tensor) -> torch.Tensor:
    return (a[:, :, 1:] - a[:, :, :-1]).pow(2).mean() + (a[:, :, :, 1:] - a[:, :, :, :-1]).pow(2).mean()


class TransferTrainer:
    """Translator, discriminator, their optimisers and the translator's weight average (EMA).

    Duck-types what :func:`cganbalance.training.checkpoint.save_checkpoint` stores (``generator``,
    ``discriminator``, ``ema``, ``opt_g``, ``opt_d``, ``rng``, ``step``, ``epoch``, ``history``,
    ``config``; ``precision``, ``rank_rng``, ``is_main`` and ``processes`` of one fp32 process), so a
    checkpoint is the library's format.
    """

    def __init__(self, config: TransferConfig, class_counts, seed: int, n_classes: int = 7):
        self.config, self.n_classes = config, n_classes
        self.generator = Translator(n_classes, config.widths, config.n_residual)
        self.discriminator = Discriminator(n_classes, [1, 48, 48], widths=config.d_widths, conditioning="auxiliary")
        init = make_rng(seed)
        init_weights(self.generator, init)
        init_weights(self.discriminator, init)
        self.ema = copy.deepcopy(self.generator).eval().requires_grad_(False)
        self.opt_g = torch.optim.Adam(self.generator.parameters(), lr=config.lr_g, betas=tuple(config.betas))
        self.opt_d = torch.optim.Adam(self.discriminator.parameters(), lr=config.lr_d, betas=tuple(config.betas))
        counts = torch.as_tensor(class_counts, dtype=torch.float32)
        self.class_weights = counts.sum() / counts / len(counts)  # each class weighs as much in D's class loss
        self.rng = make_rng(seed + 1)
        self.step, self.epoch, self.history = 0, 0, []
        self.device = torch.device("cpu")
        # One process in fp32: what the checkpoint format also asks of a (distributed, mixed-precision) trainer.
        self.precision = Precision(None, self.device)
        self.rank_rng, self.is_main, self.processes = self.rng, True, None

    def draw(self, y: torch.Tensor):
        """A batch: source indices uniform over all faces, targets uniform over the other emotions."""
        idx = torch.randint(len(y), (self.config.batch_size,), generator=self.rng)
        shift = torch.randint(1, self.n_classes, (len(idx),), generator=self.rng)
        return idx, (y[idx] + shift) % self.n_classes

    def train_step(self, x: torch.Tensor, source: torch.Tensor, target: torch.Tensor) -> dict:
        """One D update and one G update on one batch of edits (made once, as CGANTrainer does)."""
        self.generator.train()
        fake, attention, _ = self.generator(x, target)
        logs = self.discriminator_step(x, source, fake.detach())
        logs.update(self.generator_step(x, source, target, fake, attention))
        self.step += 1
        return logs

    def discriminator_step(self, real, source, fake) -> dict:
        real_logit, real_cls = self.discriminator(real, source)
        fake_logit, _ = self.discriminator(fake, source)  # labels unused by the adversarial logit
        adv = F.relu(1 - real_logit).mean() + F.relu(1 + fake_logit).mean()
        cls = F.cross_entropy(real_cls, source, weight=self.class_weights)
        loss = adv + self.config.lambda_cls * cls
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        return {"d_adv": adv.item(), "d_cls": cls.item()}

    def generator_step(self, real, source, target, fake, attention) -> dict:
        c = self.config
        logit, cls_logits = self.discriminator(fake, target)
        adv = -logit.mean()
        cls = F.cross_entropy(cls_logits, target)
        back, back_attention, _ = self.generator(fake, source)
        rec = (back - real).abs().mean()
        keep = (1 - attention).mean() + (1 - back_attention).mean()
        tv = total_variation(attention) + total_variation(back_attention)
        loss = adv + c.lambda_cls * cls + c.lambda_rec * rec + c.lambda_attention * keep + c.lambda_tv * tv
        self.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_g.step()
        self._update_ema()
        return {"g_adv": adv.item(), "g_cls": cls.item(), "rec": rec.item(), "changed": (1 - attention).mean().item()}

    @torch.no_grad()
    def _update_ema(self) -> None:
        decay = min(self.config.ema_decay, (1 + self.step) / (10 + self.step))  # warm-up, as CGANTrainer
        for e, p in zip(self.ema.parameters(), self.generator.parameters()):
            e.lerp_(p, 1 - decay)


def step_flops(trainer: TransferTrainer) -> float:
    """FLOPs of one training step, counted by ``torch.utils.flop_counter`` (as ``throughput.py`` counts)."""
    from torch.utils.flop_counter import FlopCounterMode

    copy_ = copy.deepcopy(trainer)
    b = trainer.config.batch_size
    x, source = torch.rand(b, 1, 48, 48) * 2 - 1, torch.randint(0, 7, (b,))
    with FlopCounterMode(display=False) as counter:
        copy_.train_step(x, source, (source + 1) % 7)
    return counter.get_total_flops()


# -- evaluation --------------------------------------------------------------------------------
@torch.no_grad()
def translate(translator: nn.Module, X: np.ndarray, targets: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Edits of uint8 faces ``X`` toward ``targets``, as uint8 faces."""
    translator.eval()
    out = []
    for i in range(0, len(X), batch_size):
        x = to_model_input(X[i : i + batch_size])
        out.append(translator(x, torch.as_tensor(targets[i : i + batch_size]))[0])
    images = (torch.cat(out)[:, 0].clamp(-1, 1) + 1) * 127.5
    return images.round().to(torch.uint8).numpy()


def evaluation_sources(y_train: np.ndarray, counts, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """For each emotion ``c``, ``counts[c]`` distinct source faces of the other emotions; and the targets."""
    rng = np.random.RandomState(seed)
    idx = [rng.choice(np.flatnonzero(y_train != c), n, replace=False) for c, n in enumerate(counts)]
    return np.concatenate(idx), np.repeat(np.arange(len(counts)), counts)


def evaluate(translator, X_train, y_train, X_val, y_val, classes, extractor, seed: int, final: bool = False) -> dict:
    counts = np.bincount(y_val, minlength=len(classes))
    src, targets = evaluation_sources(y_train, counts, seed)
    edits = translate(translator, X_train[src], targets)
    results = evaluate_samples(
        edits, targets, X_val, y_val, classes=classes, extractor=extractor, random_state=seed,
        X_train=X_train if final else None, two_sample_epochs=6 if final else None,
    )
    row = {m: float(results["mean"][m]) for m in METRICS}
    rms = np.sqrt(((edits.astype(np.float64) - X_train[src]) ** 2).reshape(len(src), -1).mean(1))
    row["median_source_rms"] = float(np.median(rms))
    if final:
        row["per_class"] = results["per_class"]
        row["two_sample"] = results["two_sample"]
        row["memorisation"] = results["memorisation"]
    return row


def selection_score(row: dict) -> float:
    """As ``train_fer_generator.selection_score``: recall + coverage + recognised (NaN counts 0)."""
    return float(np.nansum([row["recall"], row["coverage"], row["classifier_recall"]]))


def sample_picture(translator, X_train, y_train, classes, path, title: str, n_sources: int = 5, seed: int = 0):
    """One row per target emotion: (source face of another emotion, its edit) × ``n_sources``."""
    from cganbalance.plots import _pyplot, _save

    plt = _pyplot()
    rng = np.random.RandomState(seed)
    fig, axes = plt.subplots(len(classes), 2 * n_sources, figsize=(2 * n_sources * 0.8 + 1.0, len(classes) * 0.8 + 0.5))
    for c, name in enumerate(classes):
        src = rng.choice(np.flatnonzero(y_train != c), n_sources, replace=False)
        edits = translate(translator, X_train[src], np.full(n_sources, c))
        for j in range(n_sources):
            for k, (img, tag) in enumerate(((X_train[src[j]], classes[y_train[src[j]]][:3]), (edits[j], "→"))):
                ax = axes[c, 2 * j + k]
                ax.imshow(img, cmap="gray", vmin=0, vmax=255)
                ax.set_xticks([]), ax.set_yticks([])
                ax.set_title(tag, fontsize=6, pad=1)
        axes[c, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    return _save(fig, path, dpi=80)


# -- the run -----------------------------------------------------------------------------------
def write_json(path: Path, obj) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(obj, indent=1, default=float) + "\n")
    os.replace(tmp, path)


def save_best(trainer: TransferTrainer, state: Path, row: dict) -> None:
    from safetensors.torch import save_file

    tensors = {k: v.half().contiguous() for k, v in trainer.ema.state_dict().items()}
    meta = {"config": json.dumps(trainer.config.to_dict()), "step": str(trainer.step), "row": json.dumps(row)}
    save_file(tensors, str(state / "best.safetensors.tmp"), metadata=meta)
    os.replace(state / "best.safetensors.tmp", state / "best.safetensors")


def load_best(state: Path, config: TransferConfig) -> tuple[Translator, dict]:
    from safetensors import safe_open

    with safe_open(str(state / "best.safetensors"), framework="pt") as f:
        meta = f.metadata()
        weights = {k: f.get_tensor(k).float() for k in f.keys()}
    translator = Translator(7, config.widths, config.n_residual)
    translator.load_state_dict(weights)
    return translator.eval(), {"step": int(meta["step"]), **json.loads(meta["row"])}


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--train", required=True, help="FER-2013 train.npz (the validation split is cut from it)")
    parser.add_argument("--state", required=True, help="folder for the checkpoint, curve and samples")
    parser.add_argument("--steps", type=int, default=100_000, help="train until this many steps in total")
    parser.add_argument("--max-tflop", type=float, default=None, help="stop once training has cost this much")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop after this many minutes (this session)")
    parser.add_argument("--eval-every", type=int, default=400, help="steps between validation scores")
    parser.add_argument("--checkpoint-every", type=int, default=50, help="steps between checkpoints")
    parser.add_argument("--batch-size", type=int, default=TransferConfig.batch_size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 leaves a core for other work)")
    parser.add_argument("--resume", action="store_true", help="continue from STATE/checkpoint.safetensors")
    parser.add_argument("--final", action="store_true",
                        help="score STATE/best.safetensors with the two-sample test and memorisation; no training")
    parser.add_argument("--unchanged", action="store_true",
                        help="with --final: score the sources themselves instead (STATE/unchanged.json), the "
                             "floor a translator that edits nothing gets")
    args = parser.parse_args(argv)
    if args.unchanged and not args.final:
        parser.error("--unchanged goes with --final")
    return args


def final_evaluation(args, state: Path, data: dict) -> int:
    if args.unchanged:
        translator, chosen = Unchanged(), {"step": 0, "gflop": 0}
    else:
        translator, chosen = load_best(state, TransferConfig(**json.loads((state / "run.json").read_text())["config"]))
    row = evaluate(translator, *data["train"], *data["validation"], data["classes"], load_fer_classifier(), args.seed,
                   final=True)
    row = {"step": chosen["step"], "gflop": chosen.get("gflop"), **row}
    write_json(state / ("unchanged.json" if args.unchanged else "final.json"), row)
    if args.unchanged:
        return 0
    sample_picture(translator, *data["train"], data["classes"], state / "best.png",
                   f"expression transfer, validation-best (step {chosen['step']})")
    print(json.dumps({k: v for k, v in row.items() if k != "per_class"}, default=float))
    return 0


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    state = Path(args.state)
    split = load_split(args.train)
    classes = split["classes"]
    X_train, y_train = split["train"]
    X_val, y_val = split["validation"]
    data = {"train": (X_train, y_train), "validation": (X_val, y_val), "classes": classes}
    if args.final:
        return final_evaluation(args, state, data)

    config = TransferConfig(batch_size=args.batch_size)
    trainer = TransferTrainer(config, np.bincount(y_train, minlength=len(classes)), args.seed, len(classes))
    flops_per_step = step_flops(trainer)
    run = {"seed": args.seed, "config": config.to_dict(), "train_faces": len(X_train),
           "validation_faces": len(X_val), "gflop_per_step": flops_per_step / 1e9,
           "g_params": sum(p.numel() for p in trainer.generator.parameters()),
           "d_params": sum(p.numel() for p in trainer.discriminator.parameters())}
    curve: list[dict] = []
    if args.resume:
        stored = json.loads((state / "run.json").read_text())
        if stored["config"] != config.to_dict() or stored["seed"] != args.seed:
            raise ValueError(f"--resume: {state} holds another configuration or seed: {stored['config']}, "
                             f"seed {stored['seed']}; got {config.to_dict()}, seed {args.seed}.")
        load_checkpoint(trainer, state)
        curve = [r for r in json.loads((state / "curve.json").read_text()) if r["step"] <= trainer.step]
        run["sessions"] = stored.get("sessions", [])
    elif (state / CHECKPOINT_NAME).exists():
        raise ValueError(f"{state} already holds a checkpoint: pass --resume to continue it, or choose another --state.")
    state.mkdir(parents=True, exist_ok=True)
    run.setdefault("sessions", []).append({"started": datetime.datetime.now().isoformat(timespec="seconds"),
                                           "command": command(), "machine": machine(), "from_step": trainer.step})
    write_json(state / "run.json", run)
    train_loop(args, trainer, state, curve, data, flops_per_step)
    return 0


def train_loop(args, trainer: TransferTrainer, state: Path, curve: list, data: dict, flops_per_step: float) -> None:
    """Train until a budget runs out, checkpointing often and scoring every ``--eval-every`` steps."""
    from cganbalance._utils.progress import progress_bar

    X_train, y_train = data["train"]
    X = to_model_input(X_train)
    y = torch.as_tensor(y_train, dtype=torch.long)
    extractor = load_fer_classifier()
    seconds = trainer.history[-1]["train_seconds"] if trainer.history else 0.0
    started, sums = time.perf_counter(), {}

    def out_of_budget() -> bool:
        tflop = trainer.step * flops_per_step / 1e12
        minutes = (time.perf_counter() - started) / 60
        return (trainer.step >= args.steps or (args.max_tflop is not None and tflop >= args.max_tflop)
                or (args.max_minutes is not None and minutes >= args.max_minutes))

    bar = progress_bar(total=args.steps, initial=trainer.step, desc="transfer", unit="step")
    while not out_of_budget():
        tick = time.perf_counter()
        idx, target = trainer.draw(y)
        logs = trainer.train_step(X[idx], y[idx], target)
        seconds += time.perf_counter() - tick
        for k, v in logs.items():
            sums[k] = sums.get(k, 0.0) + v
        bar.update(1)
        bar.set_postfix({k: f"{v:.2f}" for k, v in logs.items()}, refresh=False)
        done = out_of_budget()
        if trainer.step % args.checkpoint_every == 0 or trainer.step % args.eval_every == 0 or done:
            n = max(1, trainer.step - (trainer.history[-1]["step"] if trainer.history else 0))
            trainer.history.append({"step": trainer.step, "train_seconds": round(seconds, 1),
                                    **{k: v / n for k, v in sums.items()}})
            sums = {}
            if trainer.step % args.eval_every == 0 or done:
                score(trainer, state, curve, data, extractor, args.seed, flops_per_step, seconds)
            save_checkpoint(trainer, state, half=True)
    bar.close()


def score(trainer, state: Path, curve: list, data: dict, extractor, seed: int, flops_per_step: float, seconds):
    tick = time.perf_counter()
    row = {"step": trainer.step, "train_seconds": round(seconds, 1), "gflop": round(trainer.step * flops_per_step / 1e9),
           **evaluate(trainer.ema, *data["train"], *data["validation"], data["classes"], extractor, seed)}
    row["eval_seconds"] = round(time.perf_counter() - tick, 1)
    curve.append(row)
    write_json(state / "curve.json", curve)  # the curve first, then the checkpoint (see --resume)
    sample_picture(trainer.ema, *data["train"], data["classes"], state / "samples.png",
                   f"expression transfer, step {trainer.step}")
    if selection_score(row) >= max(selection_score(r) for r in curve):
        save_best(trainer, state, row)
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
