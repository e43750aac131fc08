"""Each route's extraction step: where the value is, its model, what "nothing" gives."""

from __future__ import annotations

from typing import Any

import pytest

from legrand_async._extract import Extract, FirstItem
from legrand_async._routes import ROUTES, route
from legrand_async.errors import ResponseValidationError
from legrand_async.models.home_control import ModuleStatus, ModuleStatuses


def test_the_value_is_found_at_its_path() -> None:
    step = Extract(list[Any], at=("chronothermostats", 0, "programs"))
    assert step({"chronothermostats": [{"programs": [1, 2]}]}) == [1, 2]
    with pytest.raises(ResponseValidationError) as caught:
        step({"chronothermostats": []})
    assert caught.value.errors == ["required value missing @ $.chronothermostats[0]"]


def test_nothing_gives_empty_or_an_error() -> None:
    listing = Extract(list[Any], at=("plants",), empty=list)
    assert listing(None) == []
    assert listing({"plants": None}) == []
    with pytest.raises(ResponseValidationError, match="the response body is empty"):
        Extract(str)(None)


def test_first_item_returns_the_item_type_and_refuses_an_empty_list() -> None:
    step = FirstItem(ModuleStatuses)
    assert step.returns is ModuleStatus
    assert FirstItem(list[str])(["a", "b"]) == "a"
    with pytest.raises(ResponseValidationError) as caught:
        FirstItem(list[str])([])
    assert caught.value.errors == ["empty list @ $"]


def test_reading_keeps_the_path_with_another_model() -> None:
    listing = route("smarther", "list_plants")
    raw = listing.reading(list[Any])
    assert raw.extract == Extract(list[Any], at=("plants",), empty=list)
    assert raw.response == list[Any]
    assert listing.response != raw.response
    with pytest.raises(ValueError, match="reads no answer"):
        route("smarther", "unsubscribe").reading(list[Any])


def test_every_route_reads_its_answer_through_one_step() -> None:
    for r in ROUTES:
        assert r.extract is None or isinstance(r.extract, Extract), r.name
        assert r.response is (r.extract.model if r.extract is not None else None)
