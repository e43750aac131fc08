"""The documentation site: mkdocs.yml, the API reference pages, and strict builds.

The reference pages list each public name as a mkdocstrings ``::: module.name`` entry; a name
added to a module's ``__all__`` without an entry fails here. The build tests need the ``docs``
extra and are skipped without it (``.ci/run`` installs it and builds the whole site strict).
"""

from __future__ import annotations

import argparse
import importlib
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from legrand_async import cli

ROOT = Path(__file__).parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"
MODULES = {
    "legrand_async": "legrand_async.md",
    "legrand_async.redis": "redis.md",
    "legrand_async.simulator": "simulator.md",
    "legrand_async.testing": "testing.md",
    "legrand_async.webhooks": "webhooks.md",
}
_ENTRY = re.compile(r"^::: ([\w.]+)\s*$", re.MULTILINE)


def _hooks() -> Any:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        import mkdocs_hooks
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    return mkdocs_hooks


def _config() -> dict[str, Any]:
    # mkdocs.yml has no custom YAML tags, so the safe loader reads it.
    config: dict[str, Any] = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    return config


def _entries(page: str) -> list[str]:
    """The entries of a reference page as the site shows it (the hook's section included)."""
    markdown = _hooks().complete((REFERENCE / page).read_text(encoding="utf-8"))
    return _ENTRY.findall(markdown)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_public_name_has_a_reference_entry(module: str) -> None:
    names = importlib.import_module(module).__all__
    entries = _entries(MODULES[module])
    assert [name for name in names if f"{module}.{name}" not in entries] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_reference_entries_are_public_names(module: str) -> None:
    names = set(importlib.import_module(module).__all__)
    entries = _entries(MODULES[module])
    assert len(entries) == len(set(entries)), "an entry is listed twice"
    assert [e for e in entries if e.removeprefix(f"{module}.") not in names] == []


@pytest.mark.parametrize("module", sorted(MODULES))
def test_a_new_public_name_gets_an_entry_at_once(
    module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name added to ``__all__`` (by another change) is in "Other names" until grouped."""
    hooks = _hooks()
    names = hooks.public_names(module)
    assert names == importlib.import_module(module).__all__  # read from the source, not run
    monkeypatch.setattr(hooks, "public_names", lambda name: [*names, "NewName"])
    page = (REFERENCE / MODULES[module]).read_text(encoding="utf-8")
    assert f"<!-- the other names of {module} -->" in page
    assert hooks.ungrouped(page, module) == ["NewName"]
    completed = hooks.complete(page)
    assert completed.rstrip().endswith(f"## Other names\n\n::: {module}.NewName")


def _nav_pages(nav: object) -> list[str]:
    if isinstance(nav, str):
        return [nav]
    if isinstance(nav, list):
        return [page for item in nav for page in _nav_pages(item)]
    if isinstance(nav, dict):
        return [page for value in nav.values() for page in _nav_pages(value)]
    return []


def test_nav_lists_the_guide_and_reference_pages() -> None:
    config = _config()
    pages = _nav_pages(config["nav"])
    assert config["strict"] is True
    for page in (
        "index.md",
        "quickstart.md",
        "changelog.md",
        *(f"reference/{p}" for p in MODULES.values()),
    ):
        assert page in pages, page
    assert [page for page in pages if not (DOCS / page).is_file()] == []


def test_broken_links_are_warnings() -> None:
    """Strict turns warnings into failures: every link check must warn, none only inform."""
    validation = _config()["validation"]
    assert validation["links"] == {
        "not_found": "warn",
        "absolute_links": "warn",
        "unrecognized_links": "warn",
        "anchors": "warn",
    }


def test_griffe_extension_turns_roles_into_code() -> None:
    pytest.importorskip("griffe")  # the docs extra
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from griffe_roles import plain
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    text = "See :class:`Token`, :meth:`~LegrandClient.aclose` and :py:func:`parse_notification`."
    assert plain(text) == "See `Token`, `LegrandClient.aclose` and `parse_notification`."
    literal = "Pass it as ``options=``::\n\n    f(x)\n"
    assert plain(literal) == "Pass it as ``options=``:\n\n    f(x)\n"
    assert plain("else ``==``. ::\n\n    f(x)\n") == "else ``==``.\n\n    f(x)\n"
    assert plain("a :: b") == "a :: b"


def _mkdocs() -> str:
    pytest.importorskip("mkdocs")
    pytest.importorskip("material")
    return str(Path(sys.executable).with_name("mkdocs"))


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("See [nowhere](missing.md).", "missing.md"),
        ("See [a section](#no-such-section).", "no-such-section"),
    ],
)
def test_a_broken_link_fails_the_strict_build(tmp_path: Path, text: str, problem: str) -> None:
    """Our validation settings on a one-page site: a broken link or anchor fails the build."""
    mkdocs = _mkdocs()
    config = _config()
    site = {
        "site_name": "t",
        "strict": True,
        "theme": {"name": "material"},
        "validation": config["validation"],
    }
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "index.md").write_text(f"# Home\n\n{text}\n", encoding="utf-8")
    (tmp_path / "mkdocs.yml").write_text(yaml.safe_dump(site), encoding="utf-8")
    build = subprocess.run(
        [mkdocs, "build", "--strict"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert build.returncode != 0
    assert problem in build.stderr + build.stdout


def test_the_command_line_page_names_every_command_and_flag() -> None:
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    action = next(a for a in cli.parser()._actions if isinstance(a, argparse._SubParsersAction))
    missing = []
    for name, parser in action.choices.items():
        if f"`{name}`" not in page:
            missing.append(name)
        for option in parser._actions:
            flags = [flag for flag in option.option_strings if flag.startswith("--")]
            if flags and flags[0] != "--help" and f"`{flags[0]}" not in page:
                missing.append(f"{name} {flags[0]}")
    assert missing == []
