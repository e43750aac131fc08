"""Polling within the quota: statuses read in a fair ring, changes yielded, errors counted.

::

    async with client.poll_thermostats() as poller:
        async for change in poller:
            print(change.plant_id, change.module_id, change.previous, change.current)

A poller is an async iterator (and an async context manager). It keeps no task of its own:
each ``__anext__`` makes the calls that are due (a batch of reads, or discovery calls)
concurrently inside a short-lived task group, buffers what changed and returns the first
change; when nothing is due it sleeps on the client's clock. So cancelling the consumer,
breaking out of ``async for`` or leaving ``async with`` leaves nothing running.

The concerns live in their own modules: :mod:`._pacing` (when reads are due: a pure function
of the budget, the clock and the targets), :mod:`._outcomes` (one classification of what every
call came to), :mod:`._discovery` (plant by plant, each with its own backoff), :mod:`._options`
(:class:`PollOptions`, the pace every poller and the client take), :mod:`._ring` (the ring,
the batches, the change detection), :mod:`._generic` (:class:`Poller`) and :mod:`._thermostats`
(:class:`ThermostatPoller`).

Pacing. The targets form a ring, polled in the same order every cycle, ``concurrency`` at a time,
with the batches spread evenly over the cycle's ``interval``; a pause (quota, errors,
cancellation) resumes the ring where it stopped. Targets never read yet (the first cycle, and
thermostats discovered later) are read at once, as fast as the per-second limit allows, when
they all fit in the budget. Without a per-second limit, batches due within the same second are
read in one step. The interval is worked out again before every batch:

- with a daily quota (the client's :class:`RateLimit` with ``per_day``): the calls left today
  minus ``reserve`` of the day's quota are spread evenly over the time to the reset:
  ``interval = time_to_reset / (spendable / targets)``; an explicit ``interval`` is a floor
  that this stretches. Polling (discovery included) never spends the reserve: when nothing is
  spendable the poller waits for the reset. The time to the reset counts as at least an hour;
- without one: the explicit ``interval``, else :data:`DEFAULT_INTERVAL` (300 s);
- never faster than ``per_second`` allows (``targets / per_second``).

Errors. A :class:`QuotaExhausted` is counted and the poller sleeps until its ``resets_at``, then
goes on with what it could not read. Other :class:`LegrandError` (network failures, 5xx, 408,
486, 404 for an offline device, a body that is not JSON or does not fit the model...) are
counted in ``.errors`` (by class name) and kept in ``.last_error``; a target keeps its previous
value and is read again next cycle, a failed plant list or topology is tried again with backoff.
A token endpoint that is slow, down or rate limited is counted too. Errors that need the user
(other :class:`AuthError`, 401 ``Unauthorized``) and anything that is not a ``LegrandError`` (a
bug) are raised from the iteration. Ids the server sends that cannot be put
in a path are skipped and listed in ``poller.discovery.skipped``, never raised.
"""

from ._discovery import RETRY_FIRST, RETRY_LONGEST, Discovery
from ._generic import Change, Poller, T, V
from ._options import DISCOVERY_INTERVAL, PollKeywords, PollOptions, poll_options
from ._pacing import DEFAULT_INTERVAL, Pace, pace
from ._ring import DEFAULT_CONCURRENCY
from ._thermostats import StatusChange, ThermostatPoller, thermostat_state

__all__ = [
    "DEFAULT_CONCURRENCY",
    "DEFAULT_INTERVAL",
    "DISCOVERY_INTERVAL",
    "RETRY_FIRST",
    "RETRY_LONGEST",
    "Change",
    "Discovery",
    "Pace",
    "PollKeywords",
    "PollOptions",
    "Poller",
    "StatusChange",
    "T",
    "ThermostatPoller",
    "V",
    "pace",
    "poll_options",
    "thermostat_state",
]
