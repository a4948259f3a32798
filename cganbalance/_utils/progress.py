"""Progress bars that redraw in place in a terminal or notebook and write a line now and then in a log."""

from __future__ import annotations

import sys

#: Seconds between progress-bar updates when stderr is a file or a pipe (a log, ``nohup``):
#: a terminal redraws one line, a log would get a new line for every update.
LOG_PROGRESS_INTERVAL = 30.0


def progress_bar(**kwargs):
    """A ``tqdm.auto`` progress bar that updates every :data:`LOG_PROGRESS_INTERVAL` s in logs."""
    from tqdm.auto import tqdm

    stream = kwargs.get("file") or sys.stderr
    in_notebook = tqdm.__module__.startswith("tqdm.notebook")
    if not in_notebook and not getattr(stream, "isatty", lambda: False)():
        kwargs.setdefault("mininterval", LOG_PROGRESS_INTERVAL)
    return tqdm(**kwargs)
