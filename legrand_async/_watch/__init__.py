"""Watching thermostats: push first, polls as the safety net, one stream of changes.

::

    receiver = WebhookReceiver(secret="...")      # served by your ASGI server
    async with client.watch_thermostats(receiver, "https://example.org/hooks/<secret>") as watch:
        async for change in watch:                # StatusChange, source "push" or "poll"
            print(change.source, change.plant_id, change.module_id, change.current.mode)

Inside the ``async with`` two tasks run (both end when it is left; iterating only takes what
they found, so cancelling the consumer at any await leaves nothing behind):

- the push task takes the receiver's events (:class:`ThermostatEvent`; ids that cannot be a
  thermostat's are counted in ``skipped_events``, never raised);
- the loop (:mod:`._engine`), one call at a time, never spending the reserve of the daily
  quota: discovery plant by plant (the poller's :class:`~legrand_async._poller.Plan`), then
  ``ensure_subscription`` for every plant (at start, after each listing of the plants, and for
  any plant found unsubscribed by the check every :data:`~._health.RESUBSCRIBE_INTERVAL`),
  then reads: thermostats not heard from within ``max_silence`` and every thermostat of a
  plant whose push is broken, spread at the budget's pace (:func:`~legrand_async._poller.pace`),
  and one low-rate check of each plant's push.

One stream, in order per thermostat (:mod:`._ledger`): a state stamped before the one yielded
(a push event's ``eventTime``, a read's sending time) is dropped, the same state seen again
(push then poll) is not yielded twice. A poll that finds a commanded state (function, mode,
setpoint, programs, end time) push never reported, and that push does not bring within
:data:`~._health.GRACE` seconds, marks the plant's push broken: it is subscribed again and its
thermostats are polled at the budget's pace until a push event of the plant arrives. The
defaults derived from the budget are in :mod:`._health`.
"""

from ._health import (
    CHECK_SHARE,
    GRACE,
    RESUBSCRIBE_INTERVAL,
    SILENCE_SHARE,
    PushHealth,
    check_interval,
    max_silence,
)
from ._ledger import commanded
from ._watch import ThermostatWatch

__all__ = [
    "CHECK_SHARE",
    "GRACE",
    "RESUBSCRIBE_INTERVAL",
    "SILENCE_SHARE",
    "PushHealth",
    "ThermostatWatch",
    "check_interval",
    "commanded",
    "max_silence",
]
