"""Sleeping until a wake-up or a timeout, without losing a cancellation."""

from __future__ import annotations

import asyncio


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
