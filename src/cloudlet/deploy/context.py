"""What every resource handler of a deployment shares: clients, names, deployed values."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cloudlet.deploy.intrinsics import Resolver, TemplateError
from cloudlet.deploy.template import Template

ClientFactory = Callable[[str], Any]


@dataclass
class Deployed:
    """One resource after deployment: its Ref value and its Fn::GetAtt attributes."""

    logical_id: str
    type: str
    physical_id: str
    attributes: dict[str, Any] = field(default_factory=dict)
    action: str = "created"
    note: str = ""

    def as_state(self) -> dict[str, Any]:
        return {
            "Type": self.type,
            "PhysicalResourceId": self.physical_id,
            "Attributes": self.attributes,
            "Action": self.action,
            **({"Note": self.note} if self.note else {}),
        }


@dataclass
class DeployContext:
    """Shared state of one ``deploy`` run."""

    template: Template
    stack_name: str
    region: str
    account_id: str
    clients: ClientFactory
    log: Callable[[str], None] = print
    deployed: dict[str, Deployed] = field(default_factory=dict)
    #: bucket name → notification configuration (API shape), applied once all resources exist.
    bucket_notifications: dict[str, dict[str, Any]] = field(default_factory=dict)
    resolver: Resolver = field(init=False)
    _clients: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.resolver = Resolver(
            parameters=self.template.parameters,
            pseudo=self.pseudo_parameters(),
            ref=self.ref,
            get_att=self.get_att,
            mappings=self.template.mappings,
            conditions=self.template.conditions,
        )

    def pseudo_parameters(self) -> dict[str, Any]:
        stack_uuid = hashlib.sha256(f"{self.account_id}/{self.stack_name}".encode()).hexdigest()
        uuid = f"{stack_uuid[:8]}-{stack_uuid[8:12]}-{stack_uuid[12:16]}-{stack_uuid[16:20]}-{stack_uuid[20:32]}"
        return {
            "AWS::Region": self.region,
            "AWS::AccountId": self.account_id,
            "AWS::StackName": self.stack_name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{self.account_id}:stack/{self.stack_name}/{uuid}",
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::NotificationARNs": [],
        }

    def client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self.clients(service)
        return self._clients[service]

    def ref(self, name: str) -> Any:
        if name in self.deployed:
            return self.deployed[name].physical_id
        if name in self.template.resources:
            raise TemplateError(f"{name} is referred to before it is created")
        raise TemplateError(f"Ref to unknown parameter or resource {name!r}")

    def get_att(self, name: str, attribute: str) -> Any:
        if name not in self.deployed:
            if name in self.template.resources:
                raise TemplateError(f"{name} is referred to before it is created")
            raise TemplateError(f"Fn::GetAtt of unknown resource {name!r}")
        attributes = self.deployed[name].attributes
        if attribute not in attributes:
            known = ", ".join(sorted(a for a in attributes if not a.startswith("_"))) or "none"
            raise TemplateError(f"{name} has no attribute {attribute!r} (known: {known})")
        return attributes[attribute]

    def physical_name(self, logical_id: str, max_length: int, *, lower: bool = False, suffix: str = "") -> str:
        """``<stack>-<LogicalId>``: deterministic, so a re-deploy finds what the last one made."""
        name = f"{self.stack_name}-{logical_id}"
        if lower:
            name = re.sub(r"[^a-z0-9.-]", "-", name.lower()).strip("-.")
        room = max_length - len(suffix)
        if len(name) > room:
            digest = hashlib.sha256(name.encode()).hexdigest()[:8]
            name = f"{name[: room - 9].rstrip('-.')}-{digest}"
        return name + suffix

    def arn(self, service: str, resource: str, *, region: bool = True, account: bool = True) -> str:
        return (
            f"arn:aws:{service}:{self.region if region else ''}:{self.account_id if account else ''}:{resource}"
        )
