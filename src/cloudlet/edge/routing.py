"""Which service does a request belong to?

Built once at start-up from botocore's service models; on the request path it
is a handful of dictionary look-ups, cheapest signal first (DESIGN.md):

1. the SigV4 credential scope's service (signing name), disambiguated by
   ``X-Amz-Target`` where several services share a signing name
   (``dynamodb`` / ``dynamodbstreams``);
2. the ``X-Amz-Target`` prefix (JSON protocol services);
3. the ``Action`` form field (query protocol services);
4. the first path segment of a REST service's URIs (Lambda's
   ``/2015-03-31/…``), so that an unsigned Lambda call is refused by Lambda
   rather than mistaken for an S3 bucket;
5. S3 as the fallback — the only service reached unsigned.

The result also names the wire protocol: a service that speaks more than one
(SQS answers both its JSON protocol and the legacy query protocol) gets the
one the request is written in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl

from botocore.model import ServiceModel

from cloudlet.protocols import load_service_model, resolved_protocol
from cloudlet.protocols.base import HttpRequest

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


@dataclass(frozen=True)
class Route:
    """The service a request is for, and the protocol it is written in."""

    service: str
    protocol: str


class ServiceRouter:
    """Maps a request to a ``Route``; everything is precomputed in ``__init__``."""

    def __init__(self, services: Iterable[str], fallback: str = "s3") -> None:
        self.services = tuple(services)
        self.fallback = fallback
        self._models: dict[str, ServiceModel] = {n: load_service_model(n) for n in self.services}
        self._by_signing_name: dict[str, list[str]] = {}
        self._by_target_prefix: dict[str, str] = {}
        self._query_actions: dict[str, str] = {}
        self._protocol: dict[str, str] = {}
        self._by_path_segment: dict[str, str] = {}
        for name, model in self._models.items():
            md = model.metadata
            signing = md.get("signingName") or md.get("endpointPrefix") or name
            self._by_signing_name.setdefault(signing, []).append(name)
            self._protocol[name] = resolved_protocol(model)
            if md.get("targetPrefix"):
                self._by_target_prefix[md["targetPrefix"]] = name
            # Query-speaking services, and JSON services that still accept the
            # legacy query protocol (awsQueryCompatible: SQS).
            if name != fallback and self._protocol[name].startswith("rest-"):
                for op in model.operation_names:
                    segment = _first_segment(model.operation_model(op).http.get("requestUri", ""))
                    if segment and "{" not in segment:
                        self._by_path_segment.setdefault(segment, name)
            if self._protocol[name] == "query" or "awsQueryCompatible" in md:
                for op in model.operation_names:
                    self._query_actions.setdefault(op, name)

    def model(self, service: str) -> ServiceModel:
        return self._models[service]

    def route(self, request: HttpRequest, signing_service: str | None) -> Route:
        target = request.headers.get("x-amz-target")
        target_service = self._by_target_prefix.get(target.split(".", 1)[0]) if target else None
        if signing_service is not None:
            candidates = self._by_signing_name.get(signing_service)
            if candidates:
                name = candidates[0]
                if len(candidates) > 1:
                    # Services sharing a signing name: DynamoDB and its Streams differ by
                    # X-Amz-Target, API Gateway v1 and v2 by their URI prefix.
                    by_path = self._by_path_segment.get(_first_segment(request.path))
                    if target_service is not None and target_service in candidates:
                        name = target_service
                    elif by_path is not None and by_path in candidates:
                        name = by_path
                return Route(name, self._wire_protocol(name, request, target))
        if target_service is not None:
            return Route(target_service, "json")
        action = self.form_action(request)
        if action is not None and action in self._query_actions:
            name = self._query_actions[action]
            return Route(name, "query")
        by_path = self._by_path_segment.get(_first_segment(request.path))
        if by_path is not None:
            return Route(by_path, self._protocol[by_path])
        return Route(self.fallback, self._protocol[self.fallback])

    def _wire_protocol(self, name: str, request: HttpRequest, target: str | None) -> str:
        native = self._protocol[name]
        if native == "json" and target is None and self.form_action(request) is not None:
            return "query"
        return native

    @staticmethod
    def form_action(request: HttpRequest) -> str | None:
        """The query protocol's ``Action`` (form body or query string), if any."""
        if request.method == "POST" and request.headers.get("content-type", "").startswith(FORM_CONTENT_TYPE):
            for key, value in parse_qsl(request.body.decode("utf-8", "replace")):
                if key == "Action":
                    return value
        if "Action=" in request.query_string:
            for key, value in parse_qsl(request.query_string):
                if key == "Action":
                    return value
        return None


def _first_segment(path: str) -> str:
    """``/2015-03-31/functions/x?y`` → ``2015-03-31``."""
    return path.lstrip("/").split("?", 1)[0].split("/", 1)[0]
