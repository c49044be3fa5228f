"""Deploy a SAM template to a running Cloudlet, through the AWS API only.

Steps: load and expand the template (``template``), sort resources by their
references (Ref, Fn::GetAtt, Fn::Sub, DependsOn), then for each resource in
that order evaluate its properties against what is already deployed and call
its handler (``resources`` / ``functions``); apply the buckets' notification
configurations last (targets may be functions made after the bucket); evaluate
the Outputs.  Every step is idempotent, so running it again updates in place.

Stack state is *derived by querying*: each resource is found again by its
deterministic name (``<stack>-<LogicalId>``), API by name, event source
mapping by function + source.  The file ``.cloudlet-stack-<stack>.json``
written next to the template records what was deployed (physical ids,
attributes, outputs) for people and scripts; it is not read back.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cloudlet.deploy.context import ClientFactory, DeployContext, Deployed
from cloudlet.deploy.functions import deploy_function
from cloudlet.deploy.intrinsics import TemplateError
from cloudlet.deploy.resources import HANDLERS, Handler, apply_bucket_notifications
from cloudlet.deploy.template import Template, deployment_order, load_template

ALL_HANDLERS: dict[str, Handler] = {**HANDLERS, "AWS::Serverless::Function": deploy_function}
DEFAULT_ACCOUNT = "000000000000"


@dataclass
class Output:
    name: str
    value: Any
    description: str = ""


@dataclass
class DeployResult:
    stack_name: str
    resources: list[Deployed] = field(default_factory=list)
    outputs: list[Output] = field(default_factory=list)
    state_file: Path | None = None


def stack_name_for(path: Path) -> str:
    """Default stack name: the template's folder name, made a valid stack name."""
    base = path.resolve().parent.name or "cloudlet"
    name = re.sub(r"[^A-Za-z0-9-]", "-", base).strip("-") or "cloudlet"
    return name if name[0].isalpha() else f"stack-{name}"


def state_path(template_path: Path, stack_name: str) -> Path:
    return template_path.resolve().parent / f".cloudlet-stack-{stack_name}.json"


def check_supported(template: Template) -> None:
    unsupported = sorted(
        {r["Type"] for r in template.resources.values() if r["Type"] not in ALL_HANDLERS}
    )
    if unsupported:
        raise TemplateError(f"resource type(s) not supported: {', '.join(unsupported)}")


def deploy_template(
    path: Path,
    clients: ClientFactory,
    *,
    stack_name: str | None = None,
    overrides: Mapping[str, str] | None = None,
    region: str = "us-east-1",
    account_id: str = DEFAULT_ACCOUNT,
    log: Callable[[str], None] = print,
    write_state: bool = True,
) -> DeployResult:
    stack = stack_name or stack_name_for(path)
    pseudo = {"AWS::Region": region, "AWS::AccountId": account_id, "AWS::StackName": stack}
    template = load_template(path, overrides, pseudo)
    check_supported(template)
    order = deployment_order(template.resources)
    ctx = DeployContext(template, stack, region, account_id, clients, log)
    result = DeployResult(stack)
    for logical_id in order:
        resource = template.resources[logical_id]
        props = ctx.resolver.resolve(resource.get("Properties") or {})
        started = time.monotonic()
        deployed = ALL_HANDLERS[resource["Type"]](ctx, logical_id, props)
        ctx.deployed[logical_id] = deployed
        result.resources.append(deployed)
        note = f"  ({deployed.note})" if deployed.note else ""
        log(
            f"{deployed.action:>9}  {logical_id} [{resource['Type']}] {deployed.physical_id}"
            f"  {time.monotonic() - started:.1f}s{note}"
        )
    apply_bucket_notifications(ctx)
    result.outputs = evaluate_outputs(ctx)
    if write_state:
        result.state_file = save_state(path, ctx, result)
    return result


def evaluate_outputs(ctx: DeployContext) -> list[Output]:
    outputs = []
    for name, spec in ctx.template.outputs.items():
        condition = spec.get("Condition")
        if condition is not None and not ctx.template.conditions.get(condition, False):
            continue
        outputs.append(
            Output(name, ctx.resolver.resolve(spec.get("Value")), str(spec.get("Description", "")))
        )
    return outputs


def save_state(path: Path, ctx: DeployContext, result: DeployResult) -> Path:
    target = state_path(path, ctx.stack_name)
    state = {
        "StackName": ctx.stack_name,
        "Template": str(path.resolve()),
        "Region": ctx.region,
        "Parameters": ctx.template.parameters,
        "Resources": {d.logical_id: d.as_state() for d in result.resources},
        "Outputs": {o.name: o.value for o in result.outputs},
        "DeployedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    target.write_text(json.dumps(state, indent=2, default=str) + "\n")
    return target


def path_form_url(url: str, endpoint: str) -> str | None:
    """``http://{id}.execute-api.localhost:P/x`` → ``{endpoint}/_aws/execute-api/{id}/x``."""
    match = re.match(r"^https?://([^./]+)\.execute-api\.[^/]*?(/.*)?$", url)
    if not match:
        return None
    return f"{endpoint.rstrip('/')}/_aws/execute-api/{match.group(1)}{match.group(2) or ''}"
