"""Tables and plots of generator training curves (``curve.json`` of ``train_fer_generator.py``).

Each ``LABEL=PATH`` names a ``curve.json`` (or the state folder holding one). Prints a Markdown
table with one row per evaluation: epochs, steps, training compute (TFLOP) and time, and the
per-class means of the validation metrics (epoch "–" for runs that count steps only, such as
``train_fer_transfer.py``); ``--last`` keeps only each run's latest row.
``--docs FILE --section NAME`` writes the table into that marked section of FILE; ``--plot
DIR`` draws one quality-against-time picture per run (``DIR/LABEL.png``).

    python benchmarks/generator_curves.py default=checkpoints/fer2013-v2-default \\
        proj-aux=checkpoints/fer2013-v2-proj-aux [--last] [--docs docs/benchmarks.md --section NAME] \\
        [--plot docs/images]

The numbers come from the FER-2013 validation split (3,000 faces of ``train.npz``), never the
public test split.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from _docs import HelpFormatter, command, markers, write_section

from cganbalance.plots import quality_plot

COLUMNS = [
    ("fid", "FID ↓", 2),
    ("precision", "precision", 3),
    ("recall", "recall", 3),
    ("coverage", "coverage", 3),
    ("classifier_recall", "recognised", 3),
    ("diversity", "diversity", 3),
]


def read_curve(path) -> list[dict]:
    path = Path(path)
    return json.loads((path / "curve.json" if path.is_dir() else path).read_text())


def format_table(curves: dict[str, list[dict]], last: bool = False) -> str:
    head = ["run", "epoch", "steps", "TFLOP", "training h"] + [title for _, title, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for label, rows in curves.items():
        for row in rows[-1:] if last else rows:
            cells = [label, str(row.get("epoch", "–")), f"{row['step']:,}", f"{row['gflop'] / 1000:,.0f}",
                     f"{row['train_seconds'] / 3600:.2f}"]
            cells += [f"{row[key]:.{digits}f}" for key, _, digits in COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=HelpFormatter)
    parser.add_argument("runs", nargs="+", metavar="LABEL=PATH", help="a curve.json or a state folder holding one")
    parser.add_argument("--last", action="store_true", help="only the latest evaluation of each run")
    parser.add_argument("--docs", default=None, help="Markdown file to write the table into")
    parser.add_argument("--section", default=None, help="name of the marked section of --docs")
    parser.add_argument("--plot", default=None, help="folder for one quality-against-time PNG per run")
    args = parser.parse_args(argv)
    if (args.docs is None) != (args.section is None):
        parser.error("--docs and --section go together")
    curves = {}
    for spec in args.runs:
        label, sep, path = spec.partition("=")
        if not sep or not label or not path:
            parser.error(f"runs must be LABEL=PATH. Got {spec!r} instead.")
        curves[label] = read_curve(path)
    table = f"Command: `{command()}` (FER-2013 validation split).\n\n" + format_table(curves, args.last)
    print(table)
    if args.docs:
        write_section(args.docs, table, *markers(args.section))
    if args.plot:
        for label, rows in curves.items():
            path = quality_plot(rows, Path(args.plot) / f"{label}.png", title=f"{label}: validation quality during training")
            print(f"Wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
