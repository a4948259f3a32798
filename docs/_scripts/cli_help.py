"""MkDocs hook: replace ``<!-- cli-help -->`` with the ``--help`` text of the ``cganbalance``
command and of each of its subcommands.

The text comes from :func:`cganbalance.cli.build_parser` at build time, so the command-line
page lists every subcommand and can never disagree with the parser.
"""

from __future__ import annotations

import argparse
import os

MARKER = "<!-- cli-help -->"


def _help_sections() -> str:
    from cganbalance.cli import build_parser

    os.environ["COLUMNS"] = "88"  # argparse wraps to the terminal width; fix it for the page
    parser = build_parser()
    sections = [f"```text\n{parser.format_help().rstrip()}\n```"]
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in subparsers.choices.items():
        sections.append(f"## `cganbalance {name}`\n\n```text\n{sub.format_help().rstrip()}\n```")
    return "\n\n".join(sections)


def on_page_markdown(markdown: str, **kwargs) -> str:
    if MARKER not in markdown:
        return markdown
    return markdown.replace(MARKER, _help_sections())
