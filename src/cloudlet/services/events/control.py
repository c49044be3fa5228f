"""EventBridge control plane: event buses, rules, targets and tags."""

from __future__ import annotations

import json
from typing import Any

from cloudlet.context import RequestContext
from cloudlet.services.events import store
from cloudlet.services.events.base import DEFAULT_BUS, EventsBase, bus_arn, rule_arn
from cloudlet.services.events.errors import (
    InvalidEventPattern,
    LimitExceeded,
    ResourceAlreadyExists,
    ResourceNotFound,
    ValidationException,
)
from cloudlet.services.events.patterns import PatternError, parse
from cloudlet.services.events.schedule import (
    Cron,
    Rate,
    ScheduleError,
    from_epoch,
    parse_expression,
)
from cloudlet.services.events.store import Bus, Rule
from cloudlet.services.events.transform import TransformError, check_path

MAX_TARGETS = 5
MAX_INPUT = 8192


def page(items: list[Any], token: Any, limit: Any, default: int = 100) -> tuple[list[Any], str | None]:
    """One page of ``items`` after ``token`` (a decimal offset) and the next token."""
    try:
        start = int(token) if token else 0
    except ValueError:
        raise ValidationException("The NextToken is invalid.") from None
    size = int(limit) if limit else default
    chunk = items[start : start + size]
    more = start + size < len(items)
    return chunk, (str(start + size) if more else None)


def tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_dict(tags: Any) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


class ControlOperations(EventsBase):
    # -- event buses ---------------------------------------------------------------------

    def describe_bus(self, bus: Bus) -> dict[str, Any]:
        out: dict[str, Any] = {"Name": bus.name, "Arn": bus.arn, "CreationTime": bus.created, "LastModifiedTime": bus.created}
        if bus.description:
            out["Description"] = bus.description
        return out

    async def CreateEventBus(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        if name == DEFAULT_BUS or "/" in name:
            raise ValidationException(f"Event bus name {name} is not valid.")
        if params.get("EventSourceName"):
            raise ValidationException("Partner event sources are not supported by Cloudlet.")
        arn = bus_arn(ctx.region, ctx.account_id, name)
        if arn in self.buses:
            raise ResourceAlreadyExists(f"Event bus {name} already exists.")
        bus = Bus(arn, ctx.account_id, ctx.region, name, params.get("Description"), self.clock(), tag_dict(params.get("Tags")))
        await self.db.write(lambda conn: store.save_bus(conn, bus))
        self.buses[arn] = bus
        out: dict[str, Any] = {"EventBusArn": arn}
        if bus.description:
            out["Description"] = bus.description
        return out

    async def DescribeEventBus(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return self.describe_bus(self.bus(ctx, params.get("Name")))

    async def DeleteEventBus(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        if name == DEFAULT_BUS:
            raise ValidationException("Cannot delete event bus default.")
        arn = bus_arn(ctx.region, ctx.account_id, name)
        bus = self.buses.get(arn)
        if bus is None:
            return {}  # AWS answers a missing bus with success
        if self.rules_of(bus):
            raise ValidationException(f"Cannot delete event bus {name} because it has rules.")
        await self.db.write(lambda conn: store.delete_bus(conn, arn))
        self.buses.pop(arn, None)
        return {}

    async def ListEventBuses(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        self.default_bus(ctx.region, ctx.account_id)
        prefix = params.get("NamePrefix") or ""
        buses = sorted(
            (b for b in self.buses.values() if b.account == ctx.account_id and b.region == ctx.region and b.name.startswith(prefix)),
            key=lambda b: b.name,
        )
        chunk, token = page(buses, params.get("NextToken"), params.get("Limit"))
        out: dict[str, Any] = {"EventBuses": [self.describe_bus(b) for b in chunk]}
        if token:
            out["NextToken"] = token
        return out

    # -- rules ---------------------------------------------------------------------------

    def describe_rule(self, rule: Rule) -> dict[str, Any]:
        out: dict[str, Any] = {"Name": rule.name, "Arn": rule.arn}
        for key in ("EventPattern", "ScheduleExpression", "State", "Description", "RoleArn"):
            if rule.body.get(key) is not None:
                out[key] = rule.body[key]
        out["EventBusName"] = rule.bus
        return out

    def next_fire(self, expression: str, anchor: float, after: float) -> float | None:
        parsed = parse_expression(expression)
        if isinstance(parsed, Rate):
            return parsed.next_after(after, anchor)
        assert isinstance(parsed, Cron)
        moment = parsed.next_after(from_epoch(after))
        return moment.timestamp() if moment else None

    async def PutRule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        name = params["Name"]
        bus = self.bus(ctx, params.get("EventBusName"))
        pattern = params.get("EventPattern")
        schedule = params.get("ScheduleExpression")
        if not pattern and not schedule:
            raise ValidationException("Parameter(s) EventPattern or ScheduleExpression must be specified.")
        if pattern:
            try:
                parse(pattern)
            except PatternError as error:
                raise InvalidEventPattern(str(error)) from None
        if schedule:
            if bus.name != DEFAULT_BUS:
                raise ValidationException("ScheduleExpression is supported only on the default event bus.")
            try:
                parse_expression(schedule)
            except ScheduleError:
                raise ValidationException("Parameter ScheduleExpression is not valid.") from None
        state = params.get("State") or "ENABLED"
        if state not in ("ENABLED", "DISABLED"):
            raise ValidationException(f"1 validation error detected: Value '{state}' at 'state' failed to satisfy constraint")
        arn = rule_arn(ctx.region, ctx.account_id, bus.name, name)
        old = self.rules.get(arn)
        body = {
            "Name": name,
            "EventPattern": pattern,
            "ScheduleExpression": schedule,
            "State": state,
            "Description": params.get("Description"),
            "RoleArn": params.get("RoleArn"),
        }
        now = self.clock()
        keep_timer = old is not None and old.body.get("ScheduleExpression") == schedule
        anchor = old.anchor if old is not None and keep_timer else now
        next_fire: float | None = None
        if schedule and state == "ENABLED":
            next_fire = old.next_fire if old is not None and keep_timer and old.next_fire else self.next_fire(schedule, anchor, now)
        tags = dict(old.tags) if old else {}
        tags.update(tag_dict(params.get("Tags")))
        rule = Rule(arn, ctx.account_id, ctx.region, bus.name, name, body, tags, anchor, next_fire)
        if old is not None:
            rule.targets = old.targets
        await self.db.write(lambda conn: store.save_rule(conn, rule))
        self.rules[arn] = rule
        self.wake_timer()
        return {"RuleArn": arn}

    async def DescribeRule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rule = self.rule(ctx, params["Name"], params.get("EventBusName"))
        out = self.describe_rule(rule)
        out["CreatedBy"] = rule.account
        return out

    async def DeleteRule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        try:
            rule = self.rule(ctx, params["Name"], params.get("EventBusName"))
        except ResourceNotFound:
            return {}  # deleting a missing rule succeeds on AWS
        if rule.targets and not params.get("Force"):
            raise ValidationException("Rule can't be deleted since it has targets.")
        await self.db.write(lambda conn: store.delete_rule(conn, rule.arn))
        self.rules.pop(rule.arn, None)
        return {}

    async def _set_state(self, ctx: RequestContext, params: dict[str, Any], state: str) -> dict[str, Any]:
        rule = self.rule(ctx, params["Name"], params.get("EventBusName"))
        rule.body["State"] = state
        schedule = rule.body.get("ScheduleExpression")
        now = self.clock()
        if state == "DISABLED":
            rule.next_fire = None
        elif schedule and rule.next_fire is None:
            rule.anchor = now
            rule.next_fire = self.next_fire(schedule, now, now)
        await self.db.write(lambda conn: store.save_rule(conn, rule))
        self.wake_timer()
        return {}

    async def EnableRule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._set_state(ctx, params, "ENABLED")

    async def DisableRule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return await self._set_state(ctx, params, "DISABLED")

    async def ListRules(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bus = self.bus(ctx, params.get("EventBusName"))
        prefix = params.get("NamePrefix") or ""
        rules = [r for r in self.rules_of(bus) if r.name.startswith(prefix)]
        chunk, token = page(rules, params.get("NextToken"), params.get("Limit"))
        out: dict[str, Any] = {"Rules": [self.describe_rule(r) for r in chunk]}
        if token:
            out["NextToken"] = token
        return out

    async def ListRuleNamesByTarget(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        bus = self.bus(ctx, params.get("EventBusName"))
        arn = params["TargetArn"]
        names = [r.name for r in self.rules_of(bus) if any(t.get("Arn") == arn for t in r.targets.values())]
        chunk, token = page(names, params.get("NextToken"), params.get("Limit"))
        out: dict[str, Any] = {"RuleNames": chunk}
        if token:
            out["NextToken"] = token
        return out

    # -- targets -------------------------------------------------------------------------

    def check_target(self, target: dict[str, Any]) -> None:
        tid = target["Id"]
        given = [k for k in ("Input", "InputPath", "InputTransformer") if target.get(k) is not None]
        if len(given) > 1:
            raise ValidationException(
                f"Only one of Input, InputPath, or InputTransformer must be provided for target {tid}."
            )
        if target.get("Input") is not None:
            if len(target["Input"]) > MAX_INPUT:
                raise ValidationException(f"Input for target {tid} is too long.")
            try:
                json.loads(target["Input"])
            except ValueError:
                raise ValidationException(f"Input for target {tid} is not a valid JSON text.") from None
        try:
            if target.get("InputPath"):
                check_path(target["InputPath"])
            transformer = target.get("InputTransformer")
            if transformer:
                paths = transformer.get("InputPathsMap") or {}
                if len(paths) > 100:
                    raise ValidationException("InputPathsMap has more than 100 entries.")
                for key, path in paths.items():
                    if key.startswith("aws."):
                        raise ValidationException(f"InputTransformer for target {tid}: key {key} is reserved.")
                    check_path(path)
        except TransformError:
            raise ValidationException(f"InputPath for target {tid} is invalid.") from None
        if not str(target.get("Arn", "")).startswith("arn:"):
            raise ValidationException(f"Parameter {target.get('Arn')} is not valid. Reason: Provided Arn is not in correct format.")

    async def PutTargets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rule = self.rule(ctx, params["Rule"], params.get("EventBusName"))
        targets = dict(rule.targets)
        for target in params["Targets"]:
            self.check_target(target)
            targets[target["Id"]] = target
        if len(targets) > MAX_TARGETS:
            raise LimitExceeded("The requested resource exceeds the maximum number allowed.")
        await self.db.write(lambda conn: store.save_targets(conn, rule.arn, targets))
        rule.targets = targets
        return {"FailedEntryCount": 0, "FailedEntries": []}

    async def RemoveTargets(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rule = self.rule(ctx, params["Rule"], params.get("EventBusName"))
        targets = dict(rule.targets)
        failed = []
        for tid in params["Ids"]:
            if targets.pop(tid, None) is None:
                failed.append({"TargetId": tid, "ErrorCode": "ResourceNotFoundException", "ErrorMessage": f"Target {tid} not found."})
        await self.db.write(lambda conn: store.save_targets(conn, rule.arn, targets))
        rule.targets = targets
        return {"FailedEntryCount": len(failed), "FailedEntries": failed}

    async def ListTargetsByRule(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        rule = self.rule(ctx, params["Rule"], params.get("EventBusName"))
        chunk, token = page(list(rule.targets.values()), params.get("NextToken"), params.get("Limit"))
        out: dict[str, Any] = {"Targets": chunk}
        if token:
            out["NextToken"] = token
        return out

    # -- tags ----------------------------------------------------------------------------

    def tagged(self, arn: str) -> Bus | Rule:
        resource: Bus | Rule | None = self.rules.get(arn) or self.buses.get(arn)
        if resource is None:
            kind = "Rule" if ":rule/" in arn else "Event bus"
            raise ResourceNotFound(f"{kind} {arn.rsplit('/', 1)[-1]} does not exist.")
        return resource

    async def _save(self, resource: Bus | Rule) -> None:
        if isinstance(resource, Rule):
            await self.db.write(lambda conn: store.save_rule(conn, resource))
        else:
            await self.db.write(lambda conn: store.save_bus(conn, resource))

    async def TagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resource = self.tagged(params["ResourceARN"])
        resource.tags.update(tag_dict(params.get("Tags")))
        await self._save(resource)
        return {}

    async def UntagResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        resource = self.tagged(params["ResourceARN"])
        for key in params.get("TagKeys") or []:
            resource.tags.pop(key, None)
        await self._save(resource)
        return {}

    async def ListTagsForResource(self, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": tag_list(self.tagged(params["ResourceARN"]).tags)}

    # -- provided by the provider --------------------------------------------------------

    def wake_timer(self) -> None:
        raise NotImplementedError

