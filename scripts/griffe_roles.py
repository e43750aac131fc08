"""A griffe extension for the docs site: reST roles in docstrings render as code.

The docstrings use Sphinx roles (``:class:`Token```, ``:meth:`~LegrandClient.aclose```) that
Markdown shows raw. This extension rewrites each to a code span (`` `Token` ``,
`` `LegrandClient.aclose` ``) before mkdocstrings renders it; mkdocs.yml loads it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|data|exc|mod|obj|const):`~?([^`]+)`")


def plain(text: str) -> str:
    """``text`` with every reST role turned into a Markdown code span."""
    return _ROLE.sub(lambda match: f"`{match.group(1)}`", text)


class ReSTRoles(griffe.Extension):
    """Rewrite the roles of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
