"""Generator quality on FER-2013: per-class FID/KID, precision/recall, recognisability, CAS.

Evaluates each generator (an alias such as ``fer2013-cgan``, a folder, or a Hub repo id) on the
FER-2013 public test split (``--test``) with :func:`cganbalance.metrics.evaluate_generator`, in the
feature space of the shipped FER-2013 classifier, and checks memorisation against the training split.
``--validation`` scores on the project's validation split instead (3,000 faces of ``--train``,
``benchmarks/fer_split.py``), where every choice is made, and checks memorisation against the rest of
``--train``; the public test split is kept for the final tables.
``--reference`` adds real training images scored as if they were generated: the values a
perfect generator would get with the same sample sizes. ``LABEL=SOURCE`` names a generator in
the tables (``paper=runs/paper/generator``); with two or more, a summary table of the per-class
means (and the training time recorded in each generator's model card) comes first. ``--latent-scales 1 1.5``
scores each generator with noise of each standard deviation (``latent_scale``; rows "LABEL, latent ×S").
``--filter-keep 1 0.5`` scores each generator as the sampler returns its faces with ``filter_keep``
(ranked by the discriminator saved in its folder; rows "LABEL, keep K").
``--two-sample-epochs N`` adds a classifier two-sample test (:func:`cganbalance.metrics.two_sample_test`): a CNN
trained N epochs to tell each generator's faces from the real ones, class mix matched; its held-out accuracy
(0.5: indistinguishable) is a column of the summary, per class in each generator's table.
Prints Markdown tables headed by the command, date, machine and split; ``--docs`` writes them into a marked
section of docs/benchmarks.md, one for the test split and another for the validation split.

    python benchmarks/generator_quality.py fer2013-cgan --test public_test.npz --train train.npz \\
        [--reference] [--cas-epochs 5] [--two-sample-epochs 6] [--n-per-class N] [--latent-scales 1 1.5] \\
        [--seed 0] [--docs docs/benchmarks.md]
    python benchmarks/generator_quality.py fer2013-cgan --validation --train train.npz [...]
"""

from __future__ import annotations

import argparse
import datetime
import json
import re
import sys
import time
from pathlib import Path

import numpy as np
import torch
from _docs import command, machine, markers, write_section
from fer_split import N_VALIDATION, load_split

from cganbalance import fer2013
from cganbalance.classifier import load_fer_classifier
from cganbalance.metrics import evaluate_generator, evaluate_samples, format_markdown
from cganbalance.nets import check_latent_scale

BEGIN, END = "<!-- generator-quality:begin -->", "<!-- generator-quality:end -->"
VALIDATION_BEGIN, VALIDATION_END = markers("generator-quality-validation")


def reference_samples(X_train, y_train, counts, seed) -> tuple[np.ndarray, np.ndarray]:
    """Real training images, ``counts[c]`` of each class (at most all of them): what a perfect generator gives."""
    rng = np.random.RandomState(seed)
    pools = [np.flatnonzero(y_train == c) for c in range(len(counts))]
    idx = np.concatenate([rng.choice(pool, min(n, len(pool)), replace=False) for pool, n in zip(pools, counts)])
    return X_train[idx], y_train[idx]


def training_summary(source: str) -> str:
    """"preset, N epochs, S steps, M min" from a generator's config and model card, when it has them."""
    from cganbalance.hub import ALIASES, PRETRAINED_DIR

    folder = PRETRAINED_DIR / ALIASES[source].embedded if source in ALIASES else Path(source)
    try:
        config = json.loads((folder / "config.json").read_text())
        card = (folder / "README.md").read_text() if (folder / "README.md").exists() else ""
    except (OSError, ValueError):  # a Hub id, say: the table just lacks the line
        return ""
    match = re.search(r"training: (\d+) epochs, ([\d,]+) steps, ([\d.]+) minutes", card)
    trained = f"{match.group(2)} steps in {float(match.group(3)):.0f} min" if match else ""
    size = "×".join(map(str, config.get("net_size") or config.get("output_shape", [None])[1:])) or "?"
    return ", ".join(part for part in (f"works at {size}", trained) if part)


def summary_table(everything: dict) -> str:
    """One row per generator: per-class means, CAS and the two-sample accuracy (when run), side by side."""
    metrics = [("fid", "FID ↓"), ("kid", "KID×10³ ↓"), ("precision", "precision"), ("recall", "recall"),
               ("coverage", "coverage"), ("classifier_recall", "recognised"), ("diversity", "diversity")]
    two_sample = any(r.get("two_sample") for r in everything.values())
    lines = [
        "**Summary** (means over the 7 classes; CAS macro-F1 from a classifier trained on generated images only"
        + ("; two-sample acc: held-out accuracy of a classifier telling generated from real faces, 0.5 best)"
           if two_sample else ")"),
        "",
        "| generator | training | " + " | ".join(h for _, h in metrics) + " | CAS macro-F1 |"
        + (" two-sample acc (0.5 best) |" if two_sample else ""),
        "|---|---|" + "---|" * (len(metrics) + 1 + two_sample),
    ]
    for name, r in everything.items():
        cells = []
        for m, _ in metrics:
            value = r["mean"].get(m)
            missing = value is None or not np.isfinite(value)
            cells.append("–" if missing else (f"{value * 1000:.2f}" if m == "kid" else f"{value:.3f}"))
        cells.append(f"{r['cas']['macro_f1']:.3f}" if r.get("cas") else "–")
        if two_sample:
            cells.append(f"{r['two_sample']['accuracy']:.3f}" if r.get("two_sample") else "–")
        lines.append(f"| {name} | {r.get('training') or '–'} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("generators", nargs="+", help="aliases, folders or Hub repo ids, each optionally LABEL=SOURCE")
    parser.add_argument("--test", default=None,
                        help="FER-2013 public test split (public_test.npz); required unless --validation")
    parser.add_argument("--validation", action="store_true",
                        help=f"score on the validation split ({N_VALIDATION:,} faces of --train, "
                             "benchmarks/fer_split.py) instead of --test; memorisation is then checked against the "
                             "rest of --train")
    parser.add_argument("--train", default=None, help="training split, for the memorisation check and --reference "
                                                      "(with --validation: the train.npz the split is cut from)")
    parser.add_argument("--extractor", default=None, help="classifier folder (default: the shipped one)")
    parser.add_argument("--n-per-class", type=int, default=None, help="default: as many as the scored split holds")
    parser.add_argument("--cas-epochs", type=int, default=5, help="0 skips the classification accuracy score")
    parser.add_argument("--two-sample-epochs", type=int, default=0, metavar="N",
                        help="train a CNN N epochs to tell each generator's faces from the real ones (two-sample "
                             "test; 0, the default, skips it)")
    parser.add_argument("--reference", action="store_true", help="also score real training images")
    parser.add_argument("--latent-scales", nargs="+", type=float, default=[1.0], metavar="S",
                        help="standard deviations of the generators' noise to score each generator at (default: 1)")
    parser.add_argument("--filter-keep", nargs="+", type=float, default=[1.0], metavar="K",
                        help="score each generator as CGANOverSampler returns its faces with filter_keep=K: 1/K "
                             "candidates per face, ranked by the discriminator saved with it (default: 1, no ranking)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--docs", default=None, help="Markdown file whose generator-quality section is replaced "
                                                     "(with --validation: its generator-quality-validation section)")
    parser.add_argument("--json", default=None, help="write the full results here")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.validation and not args.train:
        parser.error("--validation needs --train (the validation split is cut from train.npz)")
    if args.validation and args.test:
        parser.error("--validation scores on the validation split; leave out --test (the public test split is used "
                     "once, for the final tables)")
    if not args.validation and not args.test:
        parser.error("--test is required (or --validation with --train)")
    if args.reference and not args.train:
        parser.error("--reference needs --train")
    if args.two_sample_epochs < 0:
        parser.error(f"--two-sample-epochs must be 0 (off) or a number of epochs. Got {args.two_sample_epochs}.")
    for keep in args.filter_keep:
        if not 0 < keep <= 1:
            parser.error(f"--filter-keep must be fractions in (0, 1]. Got {keep:g}.")
    for scale in args.latent_scales:  # the library's own check, before any model is loaded
        try:
            check_latent_scale(scale, "--latent-scales")
        except ValueError as err:
            parser.error(str(err))

    if args.validation:
        try:
            split = load_split(args.train)
        except ValueError as err:
            parser.error(str(err))
        classes = split["classes"]
        (X_real, y_real), (X_train, y_train) = split["validation"], split["train"]
        where, kind = f"FER-2013 validation split, {len(y_real):,} faces of {Path(args.train).name}", "validation"
    else:
        classes = fer2013.CLASSES
        X_real, y_real = fer2013.load(args.test, split="public_test")
        X_train, y_train = fer2013.load(args.train, split="train") if args.train else (None, None)
        where, kind = "FER-2013 public test split", "test"
    extractor = load_fer_classifier(args.extractor)
    common = {
        "classes": classes,
        "extractor": extractor,
        "cas_epochs": args.cas_epochs or None,
        "two_sample_epochs": args.two_sample_epochs or None,
        "random_state": args.seed,
    }
    n_disgust = int((y_real == list(classes).index("disgust")).sum())
    header = [
        f"## Generator quality ({where})",
        "",
        f"`{command()}` — {datetime.date.today()}, {machine()}.",
        "",
        (
            f"Features and recognition: the FER-2013 classifier {args.extractor or 'shipped with cganbalance'} "
            f"({sum(p.numel() for p in extractor.parameters()):,} "
            f"parameters). Per class, as many generated images as the {kind} split holds unless stated. FID is biased "
            f'upwards for small classes (disgust: {n_disgust} {kind} images); compare rows at equal sizes. "recognised" '
            f'is the classifier\'s recall on generated images, "recognised (real)" on real {kind} images (for '
            "comparison: clear, typical generated expressions can be recognised more often than real ones); "
            "diversity is the mean pairwise feature distance of generated over real images."
            + (
                f" Memorisation is checked against the {len(y_train):,} faces of {Path(args.train).name} outside the "
                "validation split (the shipped classifier, `fer2013-cgan-balanced` and `fer2013-cgan` v0.1.0 were "
                "trained on all of it, these faces included; `fer2013-cgan` v0.2.0 was not)."
                if args.validation
                else ""
            )
            + (
                f" Two-sample test: a CNN trained {args.two_sample_epochs} epoch{'s' * (args.two_sample_epochs != 1)} "
                f"to tell each generator's faces from the real {kind} faces (as many of each per class), scored on "
                "held-out faces: 0.5 when it cannot, 1 when it tells every face apart."
                if args.two_sample_epochs
                else ""
            )
            + (
                ' Rows "…, latent ×S": the same generator sampled with noise of standard deviation S instead of 1 '
                "(`latent_scale=S`)."
                if any(scale != 1.0 for scale in args.latent_scales)
                else ""
            )
            + (
                ' Rows "…, keep K": the faces `CGANOverSampler` returns with `filter_keep=K`: 1/K candidates drawn per '
                "face and ranked by the discriminator saved with the generator (its confidence that a face is real "
                "and of its class), the best K kept."
                if any(keep != 1.0 for keep in args.filter_keep)
                else ""
            )
        ),
    ]
    print("\n".join(header) + "\n", flush=True)  # which split, before the first table
    sections, everything = [], {}
    for spec in args.generators:
        name, sep, source = spec.partition("=")
        if not sep or Path(spec).exists():  # a folder whose name holds "=" is a source, not a label
            name = source = spec
        for scale, keep in [(s, k) for s in dict.fromkeys(args.latent_scales) for k in dict.fromkeys(args.filter_keep)]:
            row = name + (f", latent ×{scale:g}" if scale != 1.0 else "") + (f", keep {keep:g}" if keep != 1.0 else "")
            start = time.perf_counter()
            results = evaluate_generator(
                source, X_real, y_real, n_per_class=args.n_per_class, X_train=X_train, latent_scale=scale,
                filter_keep=keep if keep != 1.0 else None, **common
            )
            seconds = time.perf_counter() - start
            results["training"] = training_summary(source)
            sections.append(format_markdown(results, title=f"{row} ({seconds:.0f} s)"))
            everything[row] = results
            print(sections[-1] + "\n", flush=True)
    if args.reference:
        counts = [args.n_per_class or int((y_real == c).sum()) for c in range(len(classes))]
        X_ref, y_ref = reference_samples(X_train, y_train, counts, args.seed)
        results = evaluate_samples(X_ref, y_ref, X_real, y_real, **common)
        sections.append(format_markdown(results, title="reference: real training images (a perfect generator)"))
        everything["reference"] = results
        print(sections[-1] + "\n")
    if len(everything) > 1:
        sections.insert(0, summary_table(everything))
    text = "\n".join(header) + "\n\n" + "\n\n".join(sections)
    if args.docs:
        begin, end = (VALIDATION_BEGIN, VALIDATION_END) if args.validation else (BEGIN, END)
        write_section(Path(args.docs), text, begin, end)
        print(f"Updated {args.docs}")
    if args.json:
        Path(args.json).write_text(json.dumps(everything, indent=1, default=float))
    return 0


if __name__ == "__main__":
    sys.exit(main())
