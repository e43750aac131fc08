"""Token stores that fail, as disks and databases do: a save that raises (any OSError, or any
exception of a custom store) or hangs, a load that raises, hangs or returns nonsense after a
good start. The rotated token is never lost: it is used from memory, the failure is kept in
``store_error`` and logged at WARNING once per streak without any secret (even when the
store's own message quotes them), and the next save writes it. The token endpoint is the
simulator's, which revokes a refresh token once it is used.
"""

from __future__ import annotations

import errno
import logging
from typing import Any

import anyio
import pytest

from legrand_async import Token, TokenStoreError
from legrand_async._auth.oauth2 import SAVE_RETRY
from legrand_async._stores import STORE_TIMEOUT

from ._auth_sim import FaultyStore, auth_for, client_for, rig, run_virtual


def secrets_of(sim: Any, *tokens: Token | None) -> list[str]:
    found = [sim.client_secret, sim.subscription_key]
    for token in tokens:
        if token is not None:
            found += [token.access_token, token.refresh_token]
    return found


def assert_no_secret(text: str, secrets: list[str]) -> None:
    for secret in secrets:
        assert secret not in text


def warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING]


SAVE_FAULTS = {
    "ENOSPC": lambda t: OSError(errno.ENOSPC, f"No space left on device writing {t.refresh_token}"),
    "EROFS": lambda t: OSError(errno.EROFS, f"Read-only file system: {t.access_token}"),
    "EACCES": lambda t: OSError(errno.EACCES, "Permission denied"),
    "PermissionError": lambda t: PermissionError(f"cannot write {t.to_json()}"),
    "custom": lambda t: RuntimeError(f"database is locked ({t.refresh_token!r})"),
}


@pytest.mark.parametrize("fault", list(SAVE_FAULTS))
@pytest.mark.asyncio
async def test_a_store_that_cannot_be_written_loses_nothing(
    fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="legrand_async")
    sim, clock, tap, login = rig()
    store = FaultyStore(login)
    store.fail_save = SAVE_FAULTS[fault]
    auth = auth_for(sim, tap, store)
    async with client_for(sim, auth) as client:
        assert len(await client.smarther.list_plants()) == 1  # the new token, from memory
        assert isinstance(auth.store_error, OSError | RuntimeError)
        new = await auth.token()
        assert new.refresh_token in sim.app.refresh
        assert await store.load() == login  # the store still holds the old one
        for _ in range(5):  # the store keeps failing: tried again once a minute
            clock.advance(SAVE_RETRY + 1)
            assert len(await client.smarther.list_plants()) == 1
        assert store.saves == 6
        assert len(warnings(caplog)) == 1  # one WARNING for the streak, DEBUG after
        store.fail_save = None
        clock.advance(SAVE_RETRY + 1)
        assert len(await client.smarther.list_plants()) == 1  # ... and the next save writes it
    assert auth.store_error is None
    assert await store.load() == new
    assert tap.sent == [login.refresh_token]  # never a second refresh for the failing store
    assert_no_secret(caplog.text, secrets_of(sim, login, new))


def test_a_store_whose_save_hangs_does_not_wedge_the_login(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A save that never returns (a hung network share): the refresh completes after
    STORE_TIMEOUT, the token is used from memory and saved once the store answers again."""

    async def main() -> None:
        sim, clock, tap, login = rig()
        store = FaultyStore(login)
        store.hang_save = True
        auth = auth_for(sim, tap, store)
        async with client_for(sim, auth) as client:
            started = anyio.current_time()
            with anyio.fail_after(STORE_TIMEOUT + 30):
                assert len(await client.smarther.list_plants()) == 1
            assert anyio.current_time() - started == pytest.approx(STORE_TIMEOUT)
            assert isinstance(auth.store_error, TimeoutError)
            started = anyio.current_time()
            assert len(await client.smarther.list_plants()) == 1  # no wait now
            assert anyio.current_time() == started
            store.hang_save = False
            clock.advance(SAVE_RETRY + 1)
            assert len(await client.smarther.list_plants()) == 1
        assert auth.store_error is None
        stored = await store.load()
        assert stored is not None
        assert stored.refresh_token in sim.app.refresh
        assert tap.sent == [login.refresh_token]

    run_virtual(main)
    assert len(warnings(caplog)) == 1


def test_a_store_whose_load_hangs(caplog: pytest.LogCaptureFixture) -> None:
    """Nothing in memory: TokenStoreError after STORE_TIMEOUT; then the next call tries again.
    A token in memory: the refresh goes on with it after STORE_TIMEOUT."""

    async def main() -> None:
        sim, clock, tap, login = rig()
        store = FaultyStore(login)
        store.hang_load = True
        auth = auth_for(sim, tap, store)
        async with client_for(sim, auth) as client:
            with anyio.fail_after(STORE_TIMEOUT + 30), pytest.raises(TokenStoreError) as info:
                await client.smarther.list_plants()
            assert "TimeoutError" in str(info.value)
            assert_no_secret(str(info.value), secrets_of(sim, login))
            store.hang_load = False
            assert len(await client.smarther.list_plants()) == 1
            store.hang_load = True
            clock.advance(3600)  # expired: load (hangs), then refresh with the token in memory
            with anyio.fail_after(STORE_TIMEOUT + 30):
                assert len(await client.smarther.list_plants()) == 1
            assert len(tap.sent) == 2
            assert auth.store_error is None  # the load failed, the save worked

    run_virtual(main)
    assert "could not read" in warnings(caplog)[0].getMessage()


LOAD_FAULTS = {
    "EIO": lambda: OSError(errno.EIO, "Input/output error"),
    "custom": lambda: RuntimeError("the keyring is locked"),
    "not-a-token": lambda: {"access_token": "AT-from-nowhere"},
}


@pytest.mark.parametrize("fault", list(LOAD_FAULTS))
@pytest.mark.asyncio
async def test_a_store_whose_load_fails_after_a_good_start(
    fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    sim, clock, tap, login = rig()
    store = FaultyStore(login)
    auth = auth_for(sim, tap, store)
    async with client_for(sim, auth) as client:
        assert len(await client.smarther.list_plants()) == 1
        first = await auth.token()
        store.fail_load = LOAD_FAULTS[fault]
        clock.advance(3600)
        with caplog.at_level(logging.WARNING, logger="legrand_async"):
            assert len(await client.smarther.list_plants()) == 1  # refreshed from memory
        assert auth.store_error is None  # the load failed, the save of the refresh worked
        second = await auth.token()
    assert tap.sent == [login.refresh_token, first.refresh_token]
    assert second.refresh_token in sim.app.refresh
    assert store.token == second  # saved all the same
    assert len(warnings(caplog)) == 1
    assert "could not read" in warnings(caplog)[0].getMessage()
    assert_no_secret(caplog.text, secrets_of(sim, login, first, second))
