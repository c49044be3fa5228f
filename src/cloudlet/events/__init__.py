"""Events that leave a service: the durable outbox and its dispatcher."""

from cloudlet.events.outbox import DEFAULT_RETRY_DELAYS, Outbox, outbox_migration
from cloudlet.events.waiting import wait_for_wake

__all__ = ["DEFAULT_RETRY_DELAYS", "Outbox", "outbox_migration", "wait_for_wake"]
