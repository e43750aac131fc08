"""A griffe extension for the docs site: reST in docstrings renders as Markdown.

The docstrings use Sphinx roles (``:class:`Token```, ``:meth:`~LegrandClient.aclose```) and
"text::" before literal blocks, which Markdown shows raw. This extension rewrites each role to
a code span (`` `Token` ``, `` `LegrandClient.aclose` ``) and each "text::" to "text:" before
mkdocstrings renders the docstring; mkdocs.yml loads it.
"""

from __future__ import annotations

import re
from typing import Any

import griffe

_ROLE = re.compile(r":(?:py:)?(?:class|meth|func|attr|data|exc|mod|obj|const):`~?([^`]+)`")


#: reST's "text::" that introduces an indented literal block (Markdown's code block as it is).
_LITERAL = re.compile(r"(?<=\S)( *)::$", re.MULTILINE)


def plain(text: str) -> str:
    """``text`` with every reST role turned into a Markdown code span, and each "text::" before
    a literal block into "text:"."""
    code = _ROLE.sub(lambda match: f"`{match.group(1)}`", text)
    return _LITERAL.sub(lambda match: "" if match.group(1) else ":", code)


class ReSTRoles(griffe.Extension):
    """Rewrite the roles of every docstring griffe loads."""

    def on_instance(self, *, obj: griffe.Object, **kwargs: Any) -> None:
        if obj.docstring is not None:
            obj.docstring.value = plain(obj.docstring.value)
