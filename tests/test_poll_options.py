"""PollOptions: the pace of every poller, defined once; keywords build or override it."""

from __future__ import annotations

import typing

import attrs
import pytest

from legrand_async import LegrandClient, PollOptions
from legrand_async._poller import DISCOVERY_INTERVAL, PollKeywords, poll_options

PAIR = ("b5e48d6f-cbad-2711-e053-27182d0ad74c", "a0b1c2d3-e4f5-a6b7-c8d9-e0f1a2b3c4d5")


def test_the_defaults_and_the_keywords_are_the_fields() -> None:
    assert PollOptions() == PollOptions(None, 0.2, None, DISCOVERY_INTERVAL)
    fields = [f.name for f in attrs.fields(PollOptions)]
    assert list(typing.get_type_hints(PollKeywords)) == fields


def test_it_is_frozen() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        PollOptions().reserve = 0.5  # type: ignore[misc]


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("interval", 0, ValueError),
        ("interval", "5", TypeError),
        ("reserve", 1, ValueError),
        ("concurrency", 0, ValueError),
        ("concurrency", 2.0, TypeError),
        ("discovery_interval", -1, ValueError),
    ],
)
def test_values_are_checked_when_made(field: str, value: object, error: type) -> None:
    with pytest.raises(error, match=field):
        PollOptions(**{field: value})


def test_keywords_override_the_options() -> None:
    base = PollOptions(reserve=0.3, concurrency=4)
    assert poll_options(base, {}) is base
    assert poll_options(base, {"concurrency": 2}) == PollOptions(reserve=0.3, concurrency=2)
    assert poll_options(None, {"interval": 7}) == PollOptions(interval=7)
    with pytest.raises(TypeError, match="PollOptions"):
        poll_options({"reserve": 0.3}, {})  # type: ignore[arg-type]


def test_the_client_passes_them_through() -> None:
    client = LegrandClient(subscription_key="k", access_token="t", rate_limit=None)
    options = PollOptions(interval=60, reserve=0.5)
    poller = client.poll_thermostats([PAIR], options=options, concurrency=3)
    assert poller.options == PollOptions(interval=60, reserve=0.5, concurrency=3)
    assert poller.concurrency == 3
    generic = client.poll(client.smarther.get_topology, ["p"], options=options)
    assert generic.options is options
    with pytest.raises(TypeError):
        client.poll_thermostats([PAIR], intervals=5)  # type: ignore[call-arg]
