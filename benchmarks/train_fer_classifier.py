"""Train the FER-2013 feature extractor that cganbalance's generator metrics use.

Trains :class:`cganbalance.classifier.FERClassifier` on the FER-2013 training split with
:func:`cganbalance.classifier.train_classifier` (flips + small shifts), reports accuracy,
macro-F1, balanced accuracy and per-class recall on the public test split, and saves the model
(config.json, model.safetensors, README.md with these scores) to the package's embedded folder.

With ``--validation`` instead of ``--test`` it trains on ``train.npz`` minus the fixed validation
split (``benchmarks/fer_split.py``; 25,709 faces), scores on the 3,000 validation faces and must be
given an ``--out`` outside the package: an extractor for choosing generators on the validation
split (``benchmarks/generator_quality.py --extractor``) whose features never saw those faces.

    python benchmarks/train_fer_classifier.py --train train.npz (--test public_test.npz | --validation) \\
        [--epochs 20] [--batch-size 128] [--lr 2e-3] [--seed 0] [--half] \\
        [--out cganbalance/pretrained/fer2013-classifier]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch
from fer_split import load_split
from sklearn.metrics import accuracy_score, balanced_accuracy_score, f1_score

from cganbalance import fer2013
from cganbalance.classifier import (
    FER_CLASSIFIER_DIR,
    extract,
    save_classifier,
    train_classifier,
)


def machine() -> str:
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", required=True, help="FER-2013 training split (train.npz or any fer2013.load source)")
    split = parser.add_mutually_exclusive_group(required=True)
    split.add_argument("--test", help="FER-2013 public test split (public_test.npz)")
    split.add_argument("--validation", action="store_true",
                       help="train without the fixed validation split of --train and score on it (needs --out)")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    parser.add_argument("--half", action="store_true", help="store the weights as float16")
    parser.add_argument("--out", default=str(FER_CLASSIFIER_DIR))
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    if args.validation:
        if Path(args.out).resolve() == Path(FER_CLASSIFIER_DIR).resolve():
            parser.error("--validation trains an extractor for choosing on the validation split: give it an --out "
                         "outside the package (the shipped classifier is trained on all of train.npz).")
        parts = load_split(args.train)
        if parts["classes"] != list(fer2013.CLASSES):
            parser.error(f"{args.train} lists its classes as {parts['classes']}, not FER-2013's {list(fer2013.CLASSES)}.")
        (X_train, y_train), (X_test, y_test) = parts["train"], parts["validation"]
        scored, evaluated = "validation", "FER-2013 validation split (benchmarks/splits/fer2013-validation.json)"
    else:
        X_train, y_train = fer2013.load(args.train, split="train")
        X_test, y_test = fer2013.load(args.test, split="public_test")
        scored, evaluated = "test", "Public test split"
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    print(f"{datetime.date.today()}; {machine()}")
    print(f"train {len(X_train):,} images, {scored} {len(X_test):,} images; {args.epochs} epochs")

    start = time.perf_counter()
    model = train_classifier(
        X_train,
        y_train,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        weight_decay=args.weight_decay,
        classes=fer2013.CLASSES,
        model_params={"n_classes": len(fer2013.CLASSES)},
        random_state=args.seed,
        verbose=True,
    )
    minutes = (time.perf_counter() - start) / 60
    _, logits = extract(model, X_test)
    pred = logits.argmax(1)
    recall = [float((pred[y_test == c] == c).mean()) for c in range(len(fer2013.CLASSES))]
    scores = {
        "accuracy": accuracy_score(y_test, pred),
        "macro-F1": f1_score(y_test, pred, average="macro"),
        "balanced accuracy": balanced_accuracy_score(y_test, pred),
    }
    n_params = sum(p.numel() for p in model.parameters())
    lines = [
        "## Training",
        "",
        (
            f"- data: FER-2013 training split{' without the validation faces' if args.validation else ''}, "
            f"{len(X_train):,} images (`{Path(args.train).name}`); "
            f"{args.epochs} epochs, batch {args.batch_size}, AdamW lr {args.lr} (one-cycle), weight decay "
            f"{args.weight_decay}, random flips and shifts of up to 4 pixels; seed {args.seed}"
        ),
        f"- {minutes:.1f} minutes on {machine()}, {datetime.date.today()}",
        f"- command: `{command}`",
        "",
        f"## {evaluated} ({len(X_test):,} images)",
        "",
        "| " + " | ".join(scores) + " | " + " | ".join(f"recall {c}" for c in fer2013.CLASSES) + " |",
        "|" + "---|" * (len(scores) + len(recall)),
        "| " + " | ".join(f"{v:.3f}" for v in scores.values()) + " | " + " | ".join(f"{r:.3f}" for r in recall) + " |",
    ]
    card = "\n".join(lines)
    print(f"\n{n_params:,} parameters, {minutes:.1f} min\n")
    print(card)
    out = save_classifier(model, args.out, half=args.half, card=card)
    size = sum(p.stat().st_size for p in out.iterdir()) / 1e6
    print(f"\nSaved to {out} ({size:.2f} MB).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
