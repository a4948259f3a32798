"""Helpers shared by the benchmark scripts: the machine line, the command line, mean ± std
cells, and the marked sections of docs/benchmarks.md that each script rewrites."""

from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import sys
from pathlib import Path

import numpy as np


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """``--help`` shows the module docstring as written, and the default of every option that has one."""

    def _get_help_string(self, action):
        text, default = action.help or "", action.default
        if action.required or default in (None, False, argparse.SUPPRESS):
            return text
        shown = " ".join(map(str, default)) if isinstance(default, (list, tuple)) else default
        return f"{text} (default: {shown})".lstrip()


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what ``platform`` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> str:
    """CPU model, cores, torch threads and torch version: what a reader needs to compare timings."""
    import torch

    return (
        f"{cpu_model()}, {os.cpu_count()} cores, {torch.get_num_threads()} torch threads, torch {torch.__version__}"
    )


def command() -> str:
    """This process's command line, as a reader would type it."""
    return "python " + " ".join(shlex.quote(a) for a in sys.argv)


def mean_std(values, digits: int = 3) -> str:
    """``"0.612 ± 0.004"`` (sample standard deviation); only the mean for one value, "–" for none."""
    values = np.asarray([v for v in values if v is not None and np.isfinite(v)], dtype=float)
    if not len(values):
        return "–"
    if len(values) == 1:
        return f"{values[0]:.{digits}f}"
    return f"{values.mean():.{digits}f} ± {values.std(ddof=1):.{digits}f}"


def markers(name: str) -> tuple[str, str]:
    """The HTML comments that delimit the section ``name`` of a Markdown file."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_section(path, text: str, begin: str, end: str) -> None:
    """Replace the part of ``path`` between ``begin`` and ``end`` with ``text``.

    The markers are kept; when they are missing, the section is appended (and ``path``
    created with a title when it does not exist).
    """
    path = Path(path)
    block = f"{begin}\n{text}\n{end}"
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(re.escape(begin) + ".*?" + re.escape(end), re.DOTALL)
    new = pattern.sub(lambda _: block, old) if pattern.search(old) else old.rstrip("\n") + "\n\n" + block + "\n"
    path.write_text(new, encoding="utf-8")
