"""Amazon EventBridge: event buses, rules (event patterns and schedules), targets, PutEvents.

``CLOUDLET_EVENTS_RETRY_BASE`` (seconds, default 1) sets the first delay of the
exponential backoff between delivery attempts to a failing target.
"""

from __future__ import annotations

import os
from typing import Any

from cloudlet.services.events.provider import EventsProvider
from cloudlet.services.events.store import MIGRATIONS

__all__ = ["MIGRATIONS", "EventsProvider", "create_provider"]


def create_provider(hub: Any) -> EventsProvider:
    base = float(os.environ.get("CLOUDLET_EVENTS_RETRY_BASE", "") or 1.0)
    return EventsProvider(hub.database("events", MIGRATIONS), hub, retry_base_s=base)
