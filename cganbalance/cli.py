"""The ``cganbalance`` command: a thin layer over the library.

    cganbalance train DATA --out DIR [--preset default] [--epochs N | --max-time SECONDS] [--resume]
    cganbalance sample GENERATOR --out grid.png|samples.npz [--n-per-class 8] [--seed 0]
    cganbalance push GENERATOR REPO_ID
    cganbalance evaluate GENERATOR --data public_test.npz [--train train.npz] [--filter-keep 0.5] [--two-sample-epochs 6]
    cganbalance demo [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["main"]


# presets.REAL_SAMPLING, spelled out so that `--help` does not import torch (a test checks they agree).
_REAL_SAMPLING = ("uniform", "sqrt", "balanced")
# fast.PRECISIONS, likewise.
_PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def _train(args) -> int:
    from .hub import save_generator
    from .over_sampling import CGANOverSampler
    from .plots import loss_plot, sample_grid
    from .readers import load_labelled_images
    from .training.distributed import is_main_process, torchrun_processes
    from .training.presets import train_config

    overrides = _train_overrides(args)
    if overrides:
        train_config(overrides["train"])  # bad values are reported before the data is read
    images, labels, classes = _present_classes(*load_labelled_images(args.data, split=args.split))
    _check_image_size(images, args.preset)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "samples").mkdir(exist_ok=True)

    def grid(trainer):
        if not trainer.is_main:  # in a distributed run, rank 0 writes
            return
        g = trainer.sampling_generator
        g.set_class_names(classes)
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
        preset_params=overrides,
    )
    sampler.fit(images, labels)
    if not is_main_process():
        return 0
    processes = torchrun_processes()
    g = sampler.generator_
    g.set_class_names(classes)
    command = "cganbalance " + " ".join(sys.argv[1:]) if args.command_line is None else args.command_line
    card = (
        "## Training\n\n"
        f"- data: `{Path(args.data).name}`, `{args.split}` split ({len(images):,} images, {_describe(images)}, "
        f"{len(classes)} classes)\n"
        f"- preset: `{sampler.preset_}`; seed {args.seed}; device {sampler.device_}"
        + (f" × {processes.world_size} processes (DDP)" if processes else "")
        + "\n"
        f"- command: `{command}`\n"
    )
    d = sampler.discriminator_
    if args.half:
        g, d = g.half(), d.half()
    save_generator(g, out / "generator", discriminator=d, history=sampler.history_, card=card)
    loss_plot(sampler.history_, out / "losses.png")
    sample_grid(g.float(), out / "samples.png", random_state=0)
    print(f"Saved the generator to {out / 'generator'}; samples in {out / 'samples.png'}, losses in {out / 'losses.png'}.")
    return 0


def _present_classes(images, labels, classes):
    """The data with only the classes that have images (labels renumbered in the same order)."""
    import numpy as np

    present = np.unique(labels)
    if len(present) == len(classes):
        return images, labels, list(classes)
    return images, np.searchsorted(present, labels), [classes[i] for i in present]


#: Largest image side `cganbalance train` accepts for the default preset (its dense layer grows with the area).
MAX_IMAGE_SIDE = 128


def _check_image_size(images, preset: str) -> None:
    side = max(images.shape[1:3])
    if preset == "default" and side > MAX_IMAGE_SIDE:
        raise ValueError(
            f"The default preset trains images of 8 to {MAX_IMAGE_SIDE} pixels a side. Got {images.shape[2]}×"
            f"{images.shape[1]} images; resize them, or use --preset paper (which trains at 64×64)."
        )


def _describe(images) -> str:
    channels = "grey" if images.ndim == 3 else {3: "RGB", 4: "RGBA"}.get(images.shape[3], f"{images.shape[3]} channels")
    return f"{images.shape[2]}×{images.shape[1]} {channels}"


def _train_overrides(args) -> dict | None:
    train = {}
    if args.real_sampling is not None:
        train["real_sampling"] = args.real_sampling
    if args.aux_weight_g is not None:
        train["aux_weight_g"] = args.aux_weight_g
    if args.augment is not None:
        train["augment"] = None if args.augment == "none" else args.augment
    if args.precision is not None:
        train["precision"] = args.precision
    if args.channels_last is not None:
        train["channels_last"] = args.channels_last
    if args.compile:
        train["compile"] = True
    return {"train": train} if train else None


def _sample(args) -> int:
    import numpy as np

    from .hub import load_generator
    from .plots import sample_grid

    g = load_generator(args.generator)
    out = Path(args.out)
    if out.suffix not in (".png", ".npz"):
        raise ValueError(f"--out must end in .png or .npz. Got {str(out)!r} instead.")
    d = _ranking_discriminator(args, g)
    if out.suffix == ".png":
        sample_grid(g, out, n_per_class=args.n_per_class, random_state=args.seed, latent_scale=args.latent_scale,
                    discriminator=d, filter_keep=args.filter_keep)
    elif out.suffix == ".npz":
        from .over_sampling._filtering import generate_ranked

        labels = np.repeat(np.arange(g.n_classes), args.n_per_class)
        samples = generate_ranked(g, d, labels, keep=args.filter_keep, random_state=args.seed,
                                  latent_scale=args.latent_scale)
        images = g.to_numpy(samples)
        np.savez_compressed(out, images=images, labels=labels, classes=np.array(g.classes))
    print(f"Wrote {out}")
    return 0


def _ranking_discriminator(args, g):
    """The discriminator saved with ``args.generator`` for ``--filter-keep`` below 1 (``None`` at 1);
    an error naming the option when there is none."""
    from .over_sampling._filtering import saved_discriminator

    try:
        return saved_discriminator(args.generator, g, args.filter_keep)
    except ValueError:  # the same check as the library's, worded for the command line
        raise ValueError(
            f"--filter-keep {args.filter_keep:g} ranks faces by the discriminator saved with the generator, but "
            f"{args.generator!r} has none (discriminator.json + discriminator.safetensors); use --filter-keep 1."
        ) from None


def _push(args) -> int:
    from .hub import load_discriminator, load_generator, push_to_hub

    g = load_generator(args.generator)
    info = push_to_hub(g, args.repo_id, discriminator=load_discriminator(args.generator, g), private=args.private)
    print(f"Pushed to {args.repo_id}: {getattr(info, 'commit_url', info)}")
    return 0


def _demo(args) -> int:
    """Balance a scikit-learn data set with and without the cGAN; draw FER-2013 faces."""
    from .demo import run

    return run(args.out, quick=args.quick)


def _evaluate(args) -> int:
    """Per-class quality of a FER-2013 generator on held-out faces (see cganbalance.metrics)."""
    from . import fer2013
    from .hub import load_generator
    from .metrics import evaluate_generator, format_markdown

    generator = load_generator(args.generator)
    _ranking_discriminator(args, generator)  # before the data and the scoring: a clear error for --filter-keep
    images, labels = fer2013.load(args.data, split=args.split)
    train = fer2013.load(args.train, split="train")[0] if args.train else None
    # FER-2013 labels are canonical; a generator that names its classes is matched by name.
    classes = fer2013.CLASSES if sorted(generator.classes) == sorted(fer2013.CLASSES) else None
    results = evaluate_generator(
        args.generator if args.filter_keep < 1 else generator,  # the name: the discriminator is found beside it
        images,
        labels,
        n_per_class=args.n_per_class,
        classes=classes,
        extractor=args.extractor,
        X_train=train,
        cas_epochs=args.cas_epochs or None,
        two_sample_epochs=args.two_sample_epochs or None,
        random_state=args.seed,
        latent_scale=args.latent_scale,
        filter_keep=args.filter_keep,
    )
    scale = f", latent ×{args.latent_scale:g}" if args.latent_scale != 1.0 else ""
    scale += f", best {args.filter_keep:g} by its discriminator" if args.filter_keep < 1 else ""
    print(format_markdown(results, title=f"{args.generator}{scale} on {Path(args.data).name} ({len(images):,} images)"))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=1, default=float))
        print(f"\nWrote {args.json}")
    return 0


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value <= 1:
        raise argparse.ArgumentTypeError(f"must be a fraction in (0, 1]. Got {text!r} instead")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0. Got {text!r} instead")
    return value


def _latent_scale(text: str) -> float:
    from .nets import check_latent_scale

    try:
        return check_latent_scale(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number in (0, 10]. Got {text!r} instead") from None


_LATENT_SCALE_HELP = (
    "standard deviation of the generator's noise, in (0, 10] (default: 1, as trained; "
    "above 1 more varied samples, below 1 more typical ones)"
)
_FILTER_KEEP_HELP = (
    "rank the samples as CGANOverSampler does: 1/K candidates each, the best K by the discriminator "
    "saved with the generator (default 1: no ranking)"
)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1. Got {text!r} instead")
    return value


def _add_train(sub) -> None:
    t = sub.add_parser("train", help="train a generator on labelled images (FER-2013 or any)")
    t.add_argument(
        "data",
        help="labelled images: a FER-2013 source (fer2013.csv, icml_face_data.csv, train.csv, a Kaggle image folder), "
        "a folder of class folders, an .npz with images and labels (and optional classes), or a Hugging Face "
        "dataset folder or repo id",
    )
    t.add_argument("--split", default="train", help="split to train on: FER-2013 train, public_test, private_test or test (both test splits); for other folders train/ or test/, for Hugging Face datasets the split of that name (default: train)")
    t.add_argument("--out", required=True, help="output folder (generator/, checkpoints/, samples/, losses.png)")
    t.add_argument("--preset", default="default", choices=["default", "paper"])
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--max-time", type=float, default=None, help="training time limit in seconds")
    t.add_argument(
        "--batch-size", type=int, default=None,
        help="samples per step in each process (under torchrun the global batch is N times this; default: the preset's)",
    )
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--device", default="auto")
    t.add_argument("--resume", action="store_true", help="continue from OUT/checkpoints")
    t.add_argument(
        "--real-sampling",
        default=None,
        choices=_REAL_SAMPLING,
        help="how real batches are drawn: uniform (the preset's), sqrt or balanced class frequencies",
    )
    t.add_argument(
        "--aux-weight-g",
        type=float,
        default=None,
        help="weight of the class loss in the generator's objective, AC-GAN ('default' preset) only (default: 1, as the discriminator's)",
    )
    t.add_argument(
        "--augment",
        default=None,
        help="DiffAugment policy for the discriminator, e.g. translation,cutout (default: the preset's, none)",
    )
    t.add_argument(
        "--precision",
        default=None,
        choices=_PRECISIONS,
        help="auto: mixed precision on CUDA (bf16, or fp16 with a gradient scaler on older GPUs), fp32 elsewhere (default)",
    )
    t.add_argument("--channels-last", action=argparse.BooleanOptionalAction, default=None,
                   help="channels_last memory layout (default: on for images on the CPU, where it is faster; off on GPUs, "
                        "where it has not been measured)")
    t.add_argument("--compile", action="store_true", help="torch.compile the networks (slower on the CPU; unmeasured on GPUs)")
    t.add_argument("--half", action="store_true", help="save the weights as float16")
    t.add_argument("--command-line", default=None, help=argparse.SUPPRESS)
    t.set_defaults(func=_train)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="cganbalance", description="Balance imbalanced data sets with a conditional GAN.")
    sub = parser.add_subparsers(dest="cmd", required=True)

    _add_train(sub)

    s = sub.add_parser("sample", help="draw samples from a generator")
    s.add_argument("generator", help="alias (fer2013-cgan), folder or Hub repo id")
    s.add_argument("--out", required=True, help="grid.png or samples.npz")
    s.add_argument("--n-per-class", type=_positive_int, default=8, help="images per class (at least 1)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--latent-scale", type=_latent_scale, default=1.0, metavar="S", help=_LATENT_SCALE_HELP)
    s.add_argument("--filter-keep", type=_fraction, default=1.0, metavar="K", help=_FILTER_KEEP_HELP)
    s.set_defaults(func=_sample)

    p = sub.add_parser("push", help="upload a generator to the Hugging Face Hub")
    p.add_argument("generator")
    p.add_argument("repo_id")
    p.add_argument("--private", action="store_true")
    p.set_defaults(func=_push)

    d = sub.add_parser("demo", help="the two-minute tour: FER-2013 faces and a balanced scikit-learn pipeline")
    d.add_argument("--out", default="cganbalance-demo", help="folder for the pictures")
    d.add_argument("--quick", action="store_true", help="a few training epochs only (seconds)")
    d.set_defaults(func=_demo)

    e = sub.add_parser("evaluate", help="per-class FID/KID, precision/recall, recognisability of a generator")
    e.add_argument("generator", help="alias (fer2013-cgan), folder or Hub repo id")
    e.add_argument("--data", required=True, help="held-out FER-2013 faces, e.g. public_test.npz")
    e.add_argument("--split", default="public_test", help="split of DATA to read (default: public_test)")
    e.add_argument("--train", default=None, help="training faces (train.npz): adds the memorisation check")
    e.add_argument("--extractor", default=None, help="classifier folder (default: the shipped FER-2013 one)")
    e.add_argument("--n-per-class", type=int, default=None, help="default: as many as DATA holds of each class")
    e.add_argument("--cas-epochs", type=_non_negative_int, default=0,
                   help="train a classifier on generated faces only (CAS)")
    e.add_argument("--two-sample-epochs", type=_non_negative_int, default=0, metavar="N",
                   help="two-sample test: train a CNN N epochs to tell generated from real faces (0.5 = indistinguishable)")
    e.add_argument("--seed", type=int, default=0)
    e.add_argument("--latent-scale", type=_latent_scale, default=1.0, metavar="S", help=_LATENT_SCALE_HELP)
    e.add_argument("--filter-keep", type=_fraction, default=1.0, metavar="K", help=_FILTER_KEEP_HELP)
    e.add_argument("--json", default=None, help="also write the full results as JSON")
    e.set_defaults(func=_evaluate)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        # User errors get one clear line, not a traceback; bugs still show theirs.
        parser.exit(2, f"cganbalance {args.cmd}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
