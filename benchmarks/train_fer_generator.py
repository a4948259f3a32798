"""Train a FER-2013 generator for hours, resumably, and score it on the validation split as it goes.

Trains one recipe (the default preset's networks with the changes named in ``RECIPES``) on
``train.npz`` minus the validation split (``benchmarks/fer_split.py``), and after every
``--eval-every`` epochs scores the generator's weight average on the 3,000 validation faces
(per-class means of FID, recall, coverage, recognised, ... as ``cganbalance evaluate`` reports
them). The public test split is never read here.

Everything needed to continue lives in ``--state`` (meant to be committed, outside the
package): ``checkpoint.safetensors`` (networks, weight average, optimisers, RNG; half precision,
about 20 MB), ``curve.json`` (one row per evaluation: epoch, steps, training seconds, GFLOPs,
validation metrics), ``run.json`` (recipe, seed, data) and ``samples.png`` (the latest grid).
``--resume`` continues from it on any machine; the validation-best generator so far is kept in
``STATE/best`` (float16 weights, config and card), chosen by :func:`selection_score` (:func:`is_best`).

    python benchmarks/train_fer_generator.py --recipe proj-aux --train ../shared/data/fer2013/train.npz \\
        --state checkpoints/fer2013-v2-proj-aux --epochs 200 [--eval-every 2] [--threads 1] [--resume]

``--init-from OTHER_STATE`` starts a new run from another run's checkpoint and trains it on with this
recipe's settings (a branch: the same command later resumes the branch); ``--two-sample-epochs N``
adds a two-sample test (generated against real validation faces) to every evaluation, and counts it
in choosing the best generator. ``--export DIR`` writes the state's current weight average and
discriminator as a generator folder (as ``STATE/best`` holds it, float16) and trains nothing:

    python benchmarks/train_fer_generator.py --recipe default --train ../shared/data/fer2013/train.npz \
        --state checkpoints/fer2013-v2-default --epochs 56 --resume --export checkpoints/fer2013-v2-default/e56

    python benchmarks/train_fer_generator.py --recipe balanced-diffaug --train ../shared/data/fer2013/train.npz \\
        --state checkpoints/fer2013-v2-balanced-diffaug --init-from checkpoints/fer2013-v2-default \\
        --epochs 60 --eval-every 1 --two-sample-epochs 6 --threads 1 --resume

Recipes are compared at equal compute: the same networks cost the same FLOPs per step (the
heads differ by under 0.1%: 66.40 against 66.34 GFLOP per step for ``default`` and ``proj-hinge``), so equal epochs are equal FLOPs; ``curve.json`` records the
GFLOPs of every row (counted as ``benchmarks/throughput.py`` counts them).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import os
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from _docs import HelpFormatter, command, machine
from fer_split import load_split
from throughput import step_flops

from cganbalance.classifier import load_fer_classifier, to_model_input
from cganbalance.hub import save_generator
from cganbalance.metrics import evaluate_generator
from cganbalance.plots import sample_grid
from cganbalance.training.presets import build_networks
from cganbalance.training import CHECKPOINT_NAME, CGANTrainer, make_rng, resolve_device

#: Changes to the default preset (``build_networks`` overrides), by name.
RECIPES = {
    # AC-GAN, binary cross-entropy: the preset as shipped.
    "default": {},
    # Projection discriminator (Miyato & Koyama 2018) with the hinge loss: no class loss that pulls
    # every face of a class toward the most easily classified one.
    "proj-hinge": {"discriminator": {"conditioning": "projection"}, "train": {"loss": "hinge"}},
    # Both: projection for the adversarial term, the auxiliary head kept for D (clear emotions) but
    # weighted down in G's loss (0.2), so its pull toward uniform faces is weaker.
    "proj-aux": {
        "discriminator": {"conditioning": "projection+auxiliary"},
        "train": {"loss": "hinge", "aux_weight_g": 0.2},
    },
    # Aimed at realism (faces that are hard to tell from real ones): every class equally often in
    # the real batches, and DiffAugment (translation, cutout) of what D sees, real and generated.
    # Meant to continue a run (--init-from): it made fer2013-cgan-balanced from fer2013-cgan,
    # whose faces a two-sample classifier then told apart 65% of the time instead of 92% (validation split).
    "balanced-diffaug": {"train": {"real_sampling": "balanced", "augment": "translation,cutout"}},
}

METRICS = ("fid", "kid", "precision", "recall", "density", "coverage", "classifier_recall", "diversity")


def selection_score(row: dict, two_sample: bool = True) -> float:
    """What "best" means when keeping a checkpoint: the sum of the three validation targets
    of the generator issue (recall, coverage, recognised), each in [0, 1]; a metric a class
    too small to measure left undefined (NaN) counts as 0. With a two-sample test in the row
    (``--two-sample-epochs``), its accuracy counts too, as ``2 * (1 - accuracy)`` (1 when the
    faces cannot be told from real ones, 0 when every one can)."""
    score = float(np.nansum([row["recall"], row["coverage"], row["classifier_recall"]]))
    if two_sample and row.get("two_sample") is not None:
        score += 2 * (1 - row["two_sample"])
    return score


def is_best(row: dict, curve: list[dict]) -> bool:
    """Whether ``row`` scores at least as well as every row of ``curve``, each pair compared on what
    both measured: the two-sample term counts only when both rows have one, so that a run resumed
    with ``--two-sample-epochs`` does not crown its first row for a term the earlier rows lack."""
    for other in curve:
        both = row.get("two_sample") is not None and other.get("two_sample") is not None
        if selection_score(row, two_sample=both) < selection_score(other, two_sample=both):
            return False
    return True


def branch_overrides(parent: dict, recipe: str) -> dict:
    """A branch's settings: the parent run's networks and settings, with ``recipe``'s on top."""
    out = copy.deepcopy(parent)
    for part, values in RECIPES[recipe].items():
        out[part] = {**out.get(part, {}), **values}
    return out


def build_trainer(overrides: dict, seed: int, device: torch.device, classes) -> CGANTrainer:
    g, d, config = build_networks(
        "default",
        n_classes=len(classes),
        data_shape=[1, 48, 48],
        classes=classes,
        value_range=[0.0, 255.0],
        rng=make_rng(seed),
        overrides=copy.deepcopy(overrides),
    )
    return CGANTrainer(g, d, config, device, make_rng(seed + 1))


def evaluate(trainer: CGANTrainer, X_val, y_val, classes, extractor, seed: int, two_sample_epochs=None) -> dict:
    results = evaluate_generator(
        trainer.sampling_generator, X_val, y_val, classes=classes, extractor=extractor, random_state=seed,
        two_sample_epochs=two_sample_epochs or None,
    )
    row = {m: float(results["mean"][m]) for m in METRICS}
    if two_sample_epochs:
        row["two_sample"] = float(results["two_sample"]["accuracy"])
    return row


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("--recipe", choices=sorted(RECIPES), required=True)
    parser.add_argument("--train", required=True, help="FER-2013 train.npz (the validation split is cut from it)")
    parser.add_argument("--state", required=True, help="folder for the checkpoint, curve and best generator")
    parser.add_argument("--epochs", type=int, required=True, help="train until this many epochs in total")
    parser.add_argument("--eval-every", type=int, default=1, help="epochs between validation scores")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (1 leaves a core for other work)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--resume", action="store_true", help="continue from STATE/checkpoint.safetensors")
    parser.add_argument("--init-from", default=None, metavar="STATE",
                        help="start a new run (a new --state) from another run's checkpoint: its networks, weight "
                        "average, optimisers, epoch and step, trained on with this --recipe's settings")
    parser.add_argument("--two-sample-epochs", type=int, default=0, metavar="N",
                        help="add a two-sample test (a CNN trained N epochs to tell generated from real validation "
                        "faces) to every evaluation; it then counts in choosing the best generator")
    parser.add_argument("--export", default=None, metavar="DIR",
                        help="with --resume: save the state's weight average and discriminator to DIR (float16) "
                        "as a generator folder, and train nothing")
    args = parser.parse_args(argv)
    if args.export and not args.resume:
        parser.error("--export needs --resume (it exports the state's checkpoint)")
    if args.threads:
        torch.set_num_threads(args.threads)
    state = Path(args.state)
    device = resolve_device(args.device)

    split = load_split(args.train)
    classes = split["classes"]
    X_train, y_train = split["train"]
    X_val, y_val = split["validation"]
    X = to_model_input(X_train)
    y = torch.as_tensor(y_train, dtype=torch.long)
    if device.type == "cuda":  # 25,709 faces are 237 MB as float32: keep them on the GPU
        X, y = X.to(device), y.to(device)

    if args.resume and args.init_from and not (state / CHECKPOINT_NAME).exists():
        args.resume = False  # the first run of a branch: start it from --init-from; later runs resume it
    overrides, parent_run, stored = RECIPES[args.recipe], None, None
    if args.resume:
        stored = json.loads((state / "run.json").read_text())
        if stored["recipe"] != args.recipe or stored["seed"] != args.seed:
            raise ValueError(
                f"--resume: {state} holds recipe {stored['recipe']!r}, seed {stored['seed']}; "
                f"got --recipe {args.recipe} --seed {args.seed}."
            )
        overrides = stored.get("overrides", overrides)  # a branch's: its parent's networks, its recipe on top
    elif args.init_from:
        if Path(args.init_from).resolve() == state.resolve():
            raise ValueError(f"--init-from must name another run's folder than --state. Got {args.init_from} for both.")
        parent_run = json.loads((Path(args.init_from) / "run.json").read_text())
        overrides = branch_overrides(parent_run["overrides"], args.recipe)  # the parent's networks
    trainer = build_trainer(overrides, args.seed, device, classes)
    flops_per_step = step_flops(build_trainer(overrides, args.seed, torch.device("cpu"), classes), trainer.config.batch_size)
    run = {
        "recipe": args.recipe,
        "overrides": overrides,
        "seed": args.seed,
        "train_faces": len(X_train),
        "validation_faces": len(X_val),
        "gflop_per_step": flops_per_step / 1e9,
    }
    curve: list[dict] = []
    if stored is not None:
        trainer.load_checkpoint(state)
        curve = [r for r in json.loads((state / "curve.json").read_text()) if r["epoch"] <= trainer.epoch]
        run["sessions"] = stored.get("sessions", [])
        if "init_from" in stored:
            run["init_from"] = stored["init_from"]
    elif (state / CHECKPOINT_NAME).exists():
        raise ValueError(f"{state} already holds a checkpoint: pass --resume to continue it, or choose another --state.")
    elif args.init_from:
        parent = Path(args.init_from)
        with warnings.catch_warnings(record=True) as caught:  # the changed settings are the point of a branch
            warnings.simplefilter("always")
            trainer.load_checkpoint(parent)
        for w in caught:
            print(f"--init-from: {w.message}", flush=True)
        run["init_from"] = {
            "state": str(parent), "recipe": parent_run["recipe"], "epoch": trainer.epoch, "step": trainer.step,
            "train_seconds": round(sum(h["seconds"] for h in trainer.history), 1),
        }
    if args.export:
        card = (
            "## Training\n\n"
            f"- recipe `{args.recipe}` (benchmarks/train_fer_generator.py), seed {args.seed}\n"
            f"- data: FER-2013 train.npz minus the validation split ({len(X_train):,} faces)\n"
            f"- exported from `{state}` at epoch {trainer.epoch}, step {trainer.step}: the weight average, with the "
            "discriminator of the same step\n"
        )
        folder = save_generator(copy.deepcopy(trainer.sampling_generator).half(), args.export,
                                discriminator=copy.deepcopy(trainer.discriminator).half(), history=trainer.history, card=card)
        print(f"Exported epoch {trainer.epoch} (step {trainer.step}) to {folder}")
        return 0
    state.mkdir(parents=True, exist_ok=True)
    run.setdefault("sessions", []).append(
        {"started": datetime.datetime.now().isoformat(timespec="seconds"), "command": command(), "machine": machine(),
         "from_epoch": trainer.epoch}
    )
    (state / "run.json").write_text(json.dumps(run, indent=1) + "\n")
    extractor = load_fer_classifier()

    def on_epoch_end(t: CGANTrainer) -> None:
        if t.epoch % args.eval_every and t.epoch != args.epochs:
            return
        started = time.perf_counter()
        row = {
            "epoch": t.epoch,
            "step": t.step,
            "train_seconds": round(sum(h["seconds"] for h in t.history), 1),
            "gflop": round(t.step * flops_per_step / 1e9),
            **evaluate(t, X_val, y_val, classes, extractor, args.seed, args.two_sample_epochs),
        }
        row["eval_seconds"] = round(time.perf_counter() - started, 1)
        curve.append(row)
        # The curve first, then the checkpoint, each written atomically: a run killed between the
        # two resumes from the older checkpoint and drops the rows after it (see --resume).
        tmp = state / "curve.json.tmp"
        tmp.write_text(json.dumps(curve, indent=1) + "\n")
        os.replace(tmp, state / "curve.json")
        t.save_checkpoint(state, half=True)
        g = t.sampling_generator
        sample_grid(g, state / "samples.png", random_state=0, title=f"{args.recipe}, epoch {t.epoch}, step {t.step}")
        if is_best(row, curve):
            card = (
                "## Training\n\n"
                f"- recipe `{args.recipe}` (benchmarks/train_fer_generator.py), seed {args.seed}\n"
                f"- data: FER-2013 train.npz minus the validation split ({len(X_train):,} faces)\n"
                f"- chosen on the validation split at epoch {t.epoch}, step {t.step}: " +
                ", ".join(f"{k} {row[k]:.3f}" for k in ("recall", "coverage", "classifier_recall", "fid", "two_sample")
                          if k in row) + "\n"
            )
            if "init_from" in run:
                start = run["init_from"]
                card += (f"- continued from `{start['state']}` (recipe `{start['recipe']}`) at epoch {start['epoch']}, "
                         f"step {start['step']}\n")
            save_generator(copy.deepcopy(g).half(), state / "best", discriminator=copy.deepcopy(t.discriminator).half(),
                           history=t.history, card=card)
        print(json.dumps(row), flush=True)

    if trainer.epoch < args.epochs:
        trainer.fit(X, y, epochs=args.epochs, verbose=True, on_epoch_end=on_epoch_end)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
