"""The ``cganbalance`` command: a thin layer over the library.

    cganbalance train DATA --out DIR [--preset default] [--epochs N | --max-time SECONDS] [--resume]
    cganbalance sample GENERATOR --out grid.png|samples.npz [--n-per-class 8] [--seed 0]
    cganbalance push GENERATOR REPO_ID
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


def _train(args) -> int:
    import numpy as np

    from . import fer2013
    from .hub import save_generator
    from .over_sampling import CGANOverSampler
    from .plots import loss_plot, sample_grid

    images, labels = fer2013.load(args.data)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)

    def grid(trainer):
        g = trainer.sampling_generator
        g.set_class_names(fer2013.CLASSES)
        sample_grid(g, out / "samples" / f"epoch_{trainer.epoch:03d}.png", random_state=0, title=f"epoch {trainer.epoch}")
        (out / "history.json").write_text(json.dumps(trainer.history, indent=1))

    sampler = CGANOverSampler(
        preset=args.preset,
        epochs=args.epochs,
        max_time=args.max_time,
        batch_size=args.batch_size,
        random_state=args.seed,
        device=args.device,
        checkpoint_dir=out / "checkpoints",
        resume=args.resume,
        callbacks=[grid],
        verbose=True,
    )
    sampler.fit(images, labels)
    g = sampler.generator_
    g.set_class_names(fer2013.CLASSES)
    command = "cganbalance " + " ".join(sys.argv[1:]) if args.command_line is None else args.command_line
    card = (
        "## Training\n\n"
        f"- data: FER-2013 training split ({len(images):,} images, 48×48 grey), `{Path(args.data).name}`\n"
        f"- preset: `{sampler.preset_}`; seed {args.seed}; device {sampler.device_}\n"
        f"- command: `{command}`\n"
    )
    if args.half:
        g = g.half()
    save_generator(g.float() if not args.half else g, out / "generator", history=sampler.history_, card=card)
    loss_plot(sampler.history_, out / "losses.png")
    sample_grid(g.float(), out / "samples.png", random_state=0)
    print(f"Saved the generator to {out / 'generator'}; samples in {out / 'samples.png'}, losses in {out / 'losses.png'}.")
    return 0


def _sample(args) -> int:
    import numpy as np

    from .hub import from_pretrained
    from .plots import sample_grid

    g = from_pretrained(args.generator)
    out = Path(args.out)
    if out.suffix == ".png":
        sample_grid(g, out, n_per_class=args.n_per_class, random_state=args.seed)
    elif out.suffix == ".npz":
        labels = np.repeat(np.arange(g.n_classes), args.n_per_class)
        images = g.to_numpy(g.generate(labels, random_state=args.seed))
        np.savez_compressed(out, images=images, labels=labels, classes=np.array(g.classes))
    else:
        raise SystemExit(f"--out must end in .png or .npz; got {str(out)!r}.")
    print(f"Wrote {out}")
    return 0


def _push(args) -> int:
    from .hub import from_pretrained, push_to_hub

    info = push_to_hub(from_pretrained(args.generator), args.repo_id, private=args.private)
    print(f"Pushed to {args.repo_id}: {getattr(info, 'commit_url', info)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cganbalance", description="Balance imbalanced data sets with a conditional GAN.")
    sub = parser.add_subparsers(dest="cmd", required=True)

    t = sub.add_parser("train", help="train a FER-2013 generator")
    t.add_argument("data", help="FER-2013 source: .npz with images/labels/classes")
    t.add_argument("--out", required=True, help="output folder (generator/, checkpoints/, samples/, losses.png)")
    t.add_argument("--preset", default="default", choices=["default", "paper"])
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--max-time", type=float, default=None, help="training time limit in seconds")
    t.add_argument("--batch-size", type=int, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints")
    t.add_argument("--half", action="store_true", help="save the weights as float16")
    t.add_argument("--command-line", default=None, help=argparse.SUPPRESS)
    t.set_defaults(func=_train)

    s = sub.add_parser("sample", help="draw samples from a generator")
    s.add_argument("generator", help="alias (fer2013-cgan), folder or Hub repo id")
    s.add_argument("--out", required=True, help="grid.png or samples.npz")
    s.add_argument("--n-per-class", type=int, default=8)
    s.add_argument("--seed", type=int, default=0)
    s.set_defaults(func=_sample)

    p = sub.add_parser("push", help="upload a generator to the Hugging Face Hub")
    p.add_argument("generator")
    p.add_argument("repo_id")
    p.add_argument("--private", action="store_true")
    p.set_defaults(func=_push)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
