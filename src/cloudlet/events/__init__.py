"""Events that leave a service: the durable outbox and its dispatcher."""

from cloudlet.events.outbox import DEFAULT_RETRY_DELAYS, Outbox, outbox_migration
from cloudlet.events.waiting import timer_loop, wait_for_wake

__all__ = ["DEFAULT_RETRY_DELAYS", "Outbox", "outbox_migration", "timer_loop", "wait_for_wake"]
