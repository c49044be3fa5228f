"""Sleeping until a wake-up or a timeout, without losing a cancellation."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def wait_for_wake(event: asyncio.Event, timeout: float | None) -> None:
    """Return when ``event`` is set or ``timeout`` seconds passed.

    Not ``asyncio.wait_for(event.wait(), timeout)``: on Python 3.11 that
    swallows a cancellation arriving together with the wake-up, and a
    ``stop()`` cancelling the loop would then hang until the next timeout.
    """
    waiter = asyncio.ensure_future(event.wait())
    try:
        await asyncio.wait({waiter}, timeout=timeout)
    finally:
        waiter.cancel()


async def timer_loop(
    *,
    wake: asyncio.Event,
    fire_due: Callable[[], Awaitable[object]],
    next_due: Callable[[], float | None],
    clock: Callable[[], float],
    idle_s: float,
    label: str,
) -> None:
    """Fire what is due, then sleep until the next due time (at most ``idle_s``) or a wake-up.

    The loop of every timer-driven service (scheduled rules, schedules): no busy
    polling, an injectable ``clock``, and a failed pass is logged, never fatal.
    """
    while True:
        wake.clear()
        try:
            await fire_due()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("%s: firing what was due failed", label)
        due = next_due()
        timeout = idle_s if due is None else min(idle_s, max(0.0, due - clock()))
        if timeout > 0:
            await wait_for_wake(wake, timeout)
