"""Use the FER-2013 generator shipped in the package: faces per emotion, arrays, PIL, a sampler.

    python examples/pretrained_fer.py                         # writes fer2013_grid.png
    python examples/pretrained_fer.py --data train.npz        # also tops up a FER-2013 copy

No network is needed: "fer2013-cgan" and "fer2013-cgan-balanced" resolve to the weights embedded
in the package. The pictures come from ``--generator`` (``fer2013-cgan``: the more varied faces);
the top-up from ``--balance-with`` (``fer2013-cgan-balanced``: the better one for balancing a
classifier, see docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from cganbalance import CGANOverSampler, from_pretrained
from cganbalance.plots import sample_grid


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", default="fer2013-cgan", help="alias, folder or Hub repo id")
    parser.add_argument("--data", default=None, help="optional FER-2013 source to balance (npz, CSV, folder)")
    parser.add_argument("--balance-with", default="fer2013-cgan-balanced", help="generator for the --data top-up")
    parser.add_argument("--out", default="fer2013_grid.png")
    args = parser.parse_args(argv)

    g = from_pretrained(args.generator)
    print(f"classes (label order): {g.classes}; output shape {g.output_shape}")

    faces = g.generate(["disgust"] * 4 + ["happy"] * 4, random_state=0)  # float tensor in [-1, 1]
    arrays = g.to_numpy(faces)  # uint8, N×48×48×1
    pil = g.to_pil(faces)  # PIL "L" images
    print(f"generated {tuple(faces.shape)} in [{faces.min():.2f}, {faces.max():.2f}] -> "
          f"uint8 {arrays.shape}, {len(pil)} PIL images of size {pil[0].size}")
    print(f"grid: {sample_grid(g, args.out, n_per_class=8, random_state=0)}")

    if args.data:
        from cganbalance.fer2013 import CLASSES, load

        images, labels = load(args.data)
        sampler = CGANOverSampler(generator=args.balance_with, random_state=0)  # no training: sample as it is
        X_res, y_res = sampler.fit_resample(images, labels)
        before, after = Counter(labels.tolist()), Counter(y_res.tolist())
        print(f"{'class':<10} {'before':>7} {'after':>7}")
        for i, name in enumerate(CLASSES):
            print(f"{name:<10} {before[i]:>7} {after[i]:>7}")
        print(f"X_res: {X_res.shape} {X_res.dtype}")


if __name__ == "__main__":
    main()
