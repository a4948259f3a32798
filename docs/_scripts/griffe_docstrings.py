"""Griffe extension: docstrings as Python sees them, with Sphinx roles turned into links.

1. ``CGANOverSampler`` fills in its shared ``sampling_strategy`` and ``random_state`` text with
   ``imblearn.utils.Substitution`` when it is imported (``cganbalance.datasets`` does the same
   with ``%(sampling_strategy)s``), so the source holds placeholders. Griffe reads the source;
   classes whose run-time ``__doc__`` differs get the run-time text.
2. The docstrings are numpydoc, written for Sphinx: ``:class:`~cganbalance.nets.Generator```,
   ``:func:`load```, ``:math:`N_{M}```. Each role becomes inline code, linked (an optional
   autoref, so an object without a page stays plain code) when the name resolves to an object
   of the package, looked up from the documented object outwards as Sphinx would. In a
   ``name : type`` line the role becomes the bare name, which griffe resolves and links.
"""

from __future__ import annotations

import html
import importlib
import inspect
import re

import griffe

_ROLE = re.compile(r":(?:py:)?(class|func|meth|mod|data|attr|exc|obj|math):`(~?)([^`]+)`")
#: A numpydoc definition line: ``name : type`` (parameters, returns, attributes).
_DEFINITION = re.compile(r"^\s*\**[A-Za-z_][\w, *]*\s:\s")


class Docstrings(griffe.Extension):
    def on_class_instance(self, *, cls: griffe.Class, **kwargs) -> None:
        if cls.docstring is None:
            return
        try:
            runtime = getattr(importlib.import_module(cls.module.path), cls.name)
        except (ImportError, AttributeError):
            return
        doc = runtime.__dict__.get("__doc__")
        if doc and inspect.cleandoc(doc) != cls.docstring.value:
            cls.docstring.value = inspect.cleandoc(doc)

    def on_package(self, *, pkg: griffe.Module, **kwargs) -> None:
        for obj in _walk(pkg):
            if obj.docstring is not None:
                lines = obj.docstring.value.split("\n")
                obj.docstring.value = "\n".join(_convert(line, obj, pkg) for line in lines)


def _convert(line: str, obj, pkg) -> str:
    if _DEFINITION.match(line):  # "name : type": griffe parses and links the type itself
        return _ROLE.sub(lambda m: m.group(3).rsplit(".", 1)[-1] if m.group(2) else m.group(3), line)
    return _ROLE.sub(lambda m: _link(m, obj, pkg), line)


def _walk(obj):
    yield obj
    for member in obj.members.values():
        if not member.is_alias:
            yield from _walk(member)


def _resolve(name: str, obj, pkg) -> str | None:
    """Path of the package object ``name`` refers to from ``obj``'s docstring, or None."""
    if name.startswith(pkg.name + "."):
        candidates = [name[len(pkg.name) + 1 :]]
    else:
        scope, candidates = obj, []
        while scope is not None:
            if scope.is_module or scope.is_class:
                prefix = scope.path[len(pkg.name) + 1 :]
                candidates.append(f"{prefix}.{name}" if prefix else name)
            scope = scope.parent
    for candidate in candidates:
        try:
            found = pkg[candidate]
            return found.final_target.path if found.is_alias else found.path
        except Exception:  # KeyError, or an alias that points outside the package
            continue
    return None


def _link(match: re.Match, obj, pkg) -> str:
    role, short, name = match.groups()
    name = name.strip()
    if role == "math":
        return f"`{name}`"
    text = name.rsplit(".", 1)[-1] if short else name
    code = f"<code>{html.escape(text)}</code>"
    path = _resolve(name, obj, pkg)
    if path is None:
        return code
    return f'<autoref identifier="{html.escape(path)}" optional>{code}</autoref>'
