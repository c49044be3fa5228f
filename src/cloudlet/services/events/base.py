"""Shared state of the EventBridge provider: cached buses and rules, names and ARNs, the outbox."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.events import Outbox
from cloudlet.services.events.delivery import Deliverer, Sender
from cloudlet.services.events.errors import ResourceNotFound, ValidationException
from cloudlet.services.events.store import Bus, Rule
from cloudlet.storage import Database

DEFAULT_BUS = "default"


def event_time(seconds: float) -> str:
    """EventBridge's ``time`` field: ISO 8601 UTC to the second."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def bus_arn(region: str, account: str, name: str) -> str:
    return f"arn:aws:events:{region}:{account}:event-bus/{name}"


def rule_arn(region: str, account: str, bus: str, name: str) -> str:
    if bus == DEFAULT_BUS:
        return f"arn:aws:events:{region}:{account}:rule/{name}"
    return f"arn:aws:events:{region}:{account}:rule/{bus}/{name}"


def bus_name(value: Any) -> str:
    """An ``EventBusName`` parameter (a name or an ARN) as a name."""
    if not value:
        return DEFAULT_BUS
    text = str(value)
    if text.startswith("arn:"):
        _, _, name = text.partition(":event-bus/")
        if not name:
            raise ValidationException(f"Parameter EventBusName is not valid: {text}")
        return name
    return text


class EventsBase:
    service_name = "events"

    def __init__(
        self,
        db: Database,
        hub: Any,
        *,
        clock: Callable[[], float] = time.time,
        retry_base_s: float = 1.0,
        retry_cap_s: float = 60.0,
        sender: Sender | None = None,
    ) -> None:
        self.db = db
        self.hub = hub
        self.clock = clock
        self.buses: dict[str, Bus] = {}  # by ARN
        self.rules: dict[str, Rule] = {}  # by ARN
        self.deliverer = Deliverer(
            hub, db, clock=clock, retry_base_s=retry_base_s, retry_cap_s=retry_cap_s, sender=sender
        )
        self.outbox = Outbox(db, self.deliverer.deliver)
        self.deliverer.outbox = self.outbox

    # -- look-ups ------------------------------------------------------------------------

    def default_bus(self, region: str, account: str) -> Bus:
        arn = bus_arn(region, account, DEFAULT_BUS)
        bus = self.buses.get(arn)
        if bus is None:  # every account and region has one; it is kept in memory only
            bus = Bus(arn, account, region, DEFAULT_BUS, None, self.clock())
            self.buses[arn] = bus
        return bus

    def bus(self, ctx: RequestContext, value: Any) -> Bus:
        name = bus_name(value)
        if name == DEFAULT_BUS:
            return self.default_bus(ctx.region, ctx.account_id)
        bus = self.buses.get(bus_arn(ctx.region, ctx.account_id, name))
        if bus is None:
            raise ResourceNotFound(f"Event bus {name} does not exist.")
        return bus

    def rule(self, ctx: RequestContext, name: Any, bus_value: Any) -> Rule:
        bus = self.bus(ctx, bus_value)
        rule = self.rules.get(rule_arn(ctx.region, ctx.account_id, bus.name, str(name)))
        if rule is None:
            raise ResourceNotFound(f"Rule {name} does not exist on EventBus {bus.name}.")
        return rule

    def rules_of(self, bus: Bus) -> list[Rule]:
        return sorted(
            (r for r in self.rules.values() if r.account == bus.account and r.region == bus.region and r.bus == bus.name),
            key=lambda r: r.name,
        )
