"""Amazon EventBridge Scheduler: schedules (at/rate/cron with time zones), groups, durable firing.

``CLOUDLET_SCHEDULER_RETRY_BASE`` (seconds, default 1) sets the first delay of
the exponential backoff between attempts to invoke a failing target.
"""

from __future__ import annotations

import os
from typing import Any

from cloudlet.services.scheduler.provider import SchedulerProvider
from cloudlet.services.scheduler.store import MIGRATIONS

__all__ = ["MIGRATIONS", "SchedulerProvider", "create_provider"]


def create_provider(hub: Any) -> SchedulerProvider:
    base = float(os.environ.get("CLOUDLET_SCHEDULER_RETRY_BASE", "") or 1.0)
    return SchedulerProvider(hub.database("scheduler", MIGRATIONS), hub, retry_base_s=base)
