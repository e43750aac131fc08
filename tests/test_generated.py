"""The endpoint code is generated from the route table and must not drift from it."""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import attrs
import pytest

from legrand_async import LegrandClient
from legrand_async._endpoints._base import FamilyBase
from legrand_async._routes import FAMILIES, ROUTES

ROOT = Path(__file__).resolve().parent.parent


def generator() -> ModuleType:
    path = ROOT / "scripts" / "generate_endpoints.py"
    spec = importlib.util.spec_from_file_location("generate_endpoints", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def is_fresh(family: str, gen: ModuleType | None = None) -> bool:
    """Whether the checked-in ``_endpoints/<family>.py`` is what ``gen`` (the generator,
    reading its ``ROUTES`` and ``FAMILIES``) renders."""
    checked_in = (ROOT / "legrand_async" / "_endpoints" / f"{family}.py").read_text()
    return (gen or generator()).render(family) == checked_in


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_generated_code_is_fresh(family: str) -> None:
    assert is_fresh(family), f"legrand_async/_endpoints/{family}.py is stale: run `nox -s generate`"


def test_generator_writes_every_family(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_endpoints.py"), str(tmp_path)],
        check=True,
    )
    assert sorted(p.stem for p in tmp_path.glob("*.py")) == sorted(FAMILIES)


def test_every_route_has_a_typed_coroutine() -> None:
    client = LegrandClient(subscription_key="k", access_token="t")
    for route in ROUTES:
        api = getattr(client, FAMILIES[route.family].attribute)
        method = getattr(api, route.name)
        assert inspect.iscoroutinefunction(method), route.name
        params = list(inspect.signature(method).parameters)
        expected = [p.name for p in route.params]
        if route.body is not None:
            expected += (
                [route.body_arg]
                if route.body_arg
                else [f.name for f in attrs.fields(route.body) if f.default is attrs.NOTHING]
            )
        assert params == expected, route.name
        assert route.summary.split(" (")[0] in (method.__doc__ or ""), route.name


def test_routes_are_unique_and_marked() -> None:
    names = [(r.family, r.name) for r in ROUTES]
    assert len(names) == len(set(names))
    by_name = {r.name: r for r in ROUTES}
    assert by_name["set_status"].idempotent is True
    assert by_name["subscribe"].idempotent is False
    assert all(r.idempotent for r in ROUTES if r.method == "GET")


# ---------------------------------------------- the family wiring (issue 14), also generated


def test_the_wiring_module_is_fresh() -> None:
    checked_in = (ROOT / "legrand_async" / "_endpoints" / "__init__.py").read_text()
    assert generator().render_init() == checked_in, "run `nox -s generate`"


def test_each_family_is_an_attribute_of_its_generated_class() -> None:
    client = LegrandClient(subscription_key="k", access_token="t")
    for name, family in FAMILIES.items():
        api = getattr(client, name)
        module = importlib.import_module(f"legrand_async._endpoints.{name}")
        assert type(api) is getattr(module, family.class_name)
        assert isinstance(api, FamilyBase)
        assert family.attribute == name
        assert family.models == f"legrand_async.models.{name}"


def test_a_family_with_an_extra_module_inherits_it() -> None:
    gen = generator()
    for name, family in FAMILIES.items():
        base = gen.extra_base(name)
        generated = getattr(
            importlib.import_module(f"legrand_async._endpoints.{name}"), family.class_name
        )
        if base is None:
            assert generated.__bases__ == (FamilyBase,)
        else:
            extra = importlib.import_module(f"legrand_async._endpoints.{name}_extra")
            assert generated.__bases__ == (getattr(extra, base),)
    assert gen.extra_base("smarther") == "SmartherExtra"
    client = LegrandClient(subscription_key="k", access_token="t")
    assert callable(client.smarther.ensure_subscription)
