"""mkdocs hooks for the docs site (mkdocs.yml loads this file).

A reference page lists its module's public names in groups, as mkdocstrings ``::: module.name``
entries, and ends with a line ``<!-- the other names of MODULE -->``. At build time that line
becomes an "Other names" section holding an entry for each name in ``MODULE.__all__`` that the
page does not list yet, so a name a change adds to ``__all__`` is documented at once (and
tests/test_docs_site.py says which names still wait for a group).
"""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path
from typing import Any

_MARKER = re.compile(r"^<!-- the other names of ([\w.]+) -->$", re.MULTILINE)
_ENTRY = re.compile(r"^::: ([\w.]+)\s*$", re.MULTILINE)


def public_names(module: str) -> list[str]:
    """``module.__all__``, read from its source: the module is not run, so the docs build needs
    none of its extras (the simulator's starlette, the webhooks' uvicorn)."""
    spec = importlib.util.find_spec(module)
    if spec is None or spec.origin is None:
        raise ValueError(f"no module {module}")
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "__all__" for t in targets):
                assert node.value is not None
                names: list[str] = ast.literal_eval(node.value)
                return names
    raise ValueError(f"{module} has no __all__")


def ungrouped(markdown: str, module: str) -> list[str]:
    """The names of ``module.__all__`` that ``markdown`` has no entry for, in ``__all__`` order."""
    listed = set(_ENTRY.findall(markdown))
    return [name for name in public_names(module) if f"{module}.{name}" not in listed]


def complete(markdown: str) -> str:
    """``markdown`` with its marker line replaced by the entries it lacks (or by nothing)."""

    def section(match: re.Match[str]) -> str:
        module = match.group(1)
        missing = ungrouped(markdown, module)
        if not missing:
            return ""
        entries = "\n\n".join(f"::: {module}.{name}" for name in missing)
        return f"## Other names\n\n{entries}\n"

    return _MARKER.sub(section, markdown)


def on_page_markdown(markdown: str, **kwargs: Any) -> str:
    """mkdocs' hook: complete every page that has the marker."""
    return complete(markdown)
