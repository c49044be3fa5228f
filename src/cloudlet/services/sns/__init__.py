"""Amazon SNS: topics (standard and FIFO), subscriptions, filter policies and durable fan-out.

``CLOUDLET_SNS_RETRY_DELAYS`` (comma-separated seconds) overrides the delays
between delivery attempts (tests shorten them to reach the dead-letter path).
"""

from __future__ import annotations

import os
from typing import Any

from cloudlet.events import DEFAULT_RETRY_DELAYS
from cloudlet.services.sns.provider import SnsProvider
from cloudlet.services.sns.store import MIGRATIONS

__all__ = ["MIGRATIONS", "SnsProvider", "create_provider"]


def create_provider(hub: Any) -> SnsProvider:
    text = os.environ.get("CLOUDLET_SNS_RETRY_DELAYS", "")
    delays = (
        tuple(float(x) for x in text.split(",") if x.strip())
        if text.strip()
        else DEFAULT_RETRY_DELAYS
    )
    return SnsProvider(hub.database("sns", MIGRATIONS), hub, retry_delays=delays)
