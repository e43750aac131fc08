"""Developer sessions: ``nox -s tests lint typecheck generate bench docs``."""

from __future__ import annotations

import nox

nox.options.sessions = ["tests", "lint", "typecheck"]
nox.options.default_venv_backend = "venv"

SOURCES = ["legrand_async", "tests", "scripts", "benchmarks", "noxfile.py"]


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff check."""
    session.install("ruff")
    session.run("ruff", "check", *SOURCES)


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict on the package."""
    session.install("-e", ".", "mypy")
    session.run("mypy", "--strict", "legrand_async")


@nox.session
def generate(session: nox.Session) -> None:
    """Regenerate legrand_async/_endpoints/ from the route table."""
    session.install("-e", ".")
    session.run("python", "scripts/generate_endpoints.py")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmarks: overhead versus raw httpx, quota use, fleet scale, webhook acks."""
    session.install("-e", ".[simulator,webhooks]")
    for script in ("overhead", "quota", "fleet_scale", "webhook_ack"):
        session.run("python", f"benchmarks/{script}.py", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the documentation site strict (broken links and references fail it) into site/."""
    session.install("-e", ".[docs]")
    session.run("mkdocs", "build", "--strict", *session.posargs, env={"NO_MKDOCS_2_WARNING": "1"})
