"""Train a small FER-2013 CNN on real data and on cGAN-balanced data; compare per-class recall.

The balanced training set is ``SyntheticBalancedDataset``: the real faces, then, for every class
but the largest, faces the pretrained generator makes (at most one per two real faces, each the
better of two candidates by the generator's saved discriminator when it has one) and copies of
real faces, so that each class has as many samples as "happy". Both models get the same CNN,
augmentation and number of steps.

    python examples/dataloader_fer2013.py                      # ../shared/data/fer2013/*.npz
    python examples/dataloader_fer2013.py train.npz public_test.npz --steps 2000
    python examples/dataloader_fer2013.py --quick              # tiny subset, under a minute

Any FER-2013 source ``cganbalance.fer2013.load`` reads works as TRAIN / TEST (npz, Kaggle CSV,
image folder); ``--train-split`` / ``--test-split`` pick the split of a multi-split source.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from torchvision.transforms import v2

from cganbalance import from_pretrained
from cganbalance.datasets import SyntheticBalancedDataset
from cganbalance.fer2013 import CLASSES, FER2013


def small_cnn(n_classes: int = 7) -> nn.Module:
    def block(c_in, c_out):
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU(),
            nn.MaxPool2d(2),
        )  # fmt: skip

    return nn.Sequential(
        block(1, 32), block(32, 64), block(64, 128),  # 48 -> 6
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.3), nn.Linear(128, n_classes),
    )  # fmt: skip


def train(model, dataset, steps, batch_size, device, seed, num_workers) -> float:
    """``steps`` optimiser steps over ``dataset`` (reshuffled each pass); returns seconds."""
    loader = DataLoader(
        dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed), persistent_workers=num_workers > 0,
    )  # fmt: skip
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps)
    model.to(device).train()
    start, step = time.time(), 0
    while step < steps:
        for x, y in loader:
            loss = nn.functional.cross_entropy(model(x.to(device)), torch.as_tensor(y).to(device))
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            schedule.step()
            step += 1
            if step == steps:
                break
    return time.time() - start


@torch.no_grad()
def per_class_recall(model, dataset, device) -> np.ndarray:
    model.eval()
    predictions, targets = [], []
    for x, y in DataLoader(dataset, batch_size=256):
        predictions.append(model(x.to(device)).argmax(1).cpu())
        targets.append(torch.as_tensor(y))
    predictions, targets = torch.cat(predictions).numpy(), torch.cat(targets).numpy()
    return np.array(
        [(predictions[targets == c] == c).mean() if (targets == c).any() else np.nan for c in range(len(CLASSES))]
    )


def subset(dataset, n, seed):
    """A random subset of ``n`` items (the dataset itself for ``n=None`` or when it is no larger)."""
    if n is None or n >= len(dataset):
        return dataset
    return Subset(dataset, np.sort(np.random.RandomState(seed).choice(len(dataset), n, replace=False)).tolist())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", nargs="?", default="../shared/data/fer2013/train.npz", help="FER-2013 training source")
    parser.add_argument(
        "test", nargs="?", default="../shared/data/fer2013/public_test.npz", help="FER-2013 test source"
    )
    parser.add_argument("--train-split", default="train")
    parser.add_argument("--test-split", default="public_test")
    parser.add_argument(
        "--generator", default="fer2013-cgan-balanced", help="alias, folder or Hub repo id of a FER-2013 generator"
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="optimiser steps per model (default: one balanced epoch)"
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--num-workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true", help="600 training and 300 test faces, 40 steps: a smoke run")
    args = parser.parse_args(argv)

    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        from_pretrained(args.generator)  # a clear message for a name that does not load
    except (OSError, ValueError) as exc:  # offline without the embedded copy, a wrong folder, ...
        print(f"Cannot load the generator {args.generator!r}: {exc}\nPass --generator with a saved generator folder.")
        return 1

    augment = v2.Compose([v2.ToImage(), v2.RandomHorizontalFlip(), v2.ToDtype(torch.float32, scale=True)])
    to_tensor = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])
    n_train, n_test = (600, 300) if args.quick else (None, None)
    real_train = subset(FER2013(args.train, split=args.train_split, transform=augment), n_train, args.seed)
    base = subset(FER2013(args.train, split=args.train_split), n_train, args.seed)  # same faces, no transform
    test = subset(FER2013(args.test, split=args.test_split, transform=to_tensor), n_test, args.seed)
    # The name, not a loaded object: the wrapper then also finds the discriminator saved beside it and
    # ranks with it. It generates on the CPU, inside the loader's workers.
    balanced = SyntheticBalancedDataset(base, args.generator, transform=augment, random_state=args.seed)

    steps = 40 if args.quick else args.steps or len(balanced) // args.batch_size
    batch_size = 32 if args.quick else args.batch_size
    print(f"Device {device}; {steps} steps of {batch_size} per model; {balanced.n_synthetic:,} synthetic faces, "
          f"{balanced.n_copies:,} copies.")
    recalls = {}
    for name, dataset in (("real", real_train), ("balanced", balanced)):
        torch.manual_seed(args.seed)  # the same initial weights for both models (a script may seed globally)
        model = small_cnn()
        seconds = train(model, dataset, steps, batch_size, device, args.seed, args.num_workers)
        recalls[name] = per_class_recall(model, test, device)
        print(f"  trained on {name} data in {seconds:.0f} s")

    test_counts = np.bincount(
        [test.dataset.targets[i] for i in test.indices] if isinstance(test, Subset) else test.targets,
        minlength=len(CLASSES),
    )
    print(f"\n{'class':<10}{'train before':>13}{'after':>8}{'test':>6}{'recall real':>13}{'balanced':>10}")
    for c, (name, (before, after)) in enumerate(balanced.class_counts.items()):
        print(
            f"{name:<10}{before:>13,}{after:>8,}{test_counts[c]:>6,}{recalls['real'][c]:>13.3f}{recalls['balanced'][c]:>10.3f}"
        )
    print(
        f"{'mean':<10}{balanced.n_real:>13,}{len(balanced):>8,}{test_counts.sum():>6,}"
        f"{np.nanmean(recalls['real']):>13.3f}{np.nanmean(recalls['balanced']):>10.3f}"
        "   (mean recall = balanced accuracy)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
