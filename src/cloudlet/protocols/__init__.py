"""Data-driven AWS wire protocols, built from botocore's service models.

One class per wire protocol, named in one table (:data:`PROTOCOLS`); the
handful of services whose wire format departs from their model get a subclass
picked from :data:`SERVICE_QUIRKS` (keyed by ``(service, protocol)`` or by
service alone).  Classes are referenced as ``"module:Class"`` strings and
imported on first use, so a protocol module is only loaded when a service
speaking it is.

Everything here is built once and cached: the service model per service name
(latest API version known to the installed botocore), and the protocol
instance per ``(service, protocol)``.  The request path only does look-ups.
"""

from __future__ import annotations

import importlib
import threading
from functools import cache

from botocore.loaders import Loader
from botocore.model import ServiceModel

from cloudlet.protocols.base import HttpRequest, HttpResponse, Protocol

__all__ = [
    "PROTOCOLS",
    "SERVICE_QUIRKS",
    "HttpRequest",
    "HttpResponse",
    "Protocol",
    "load_service_model",
    "protocol_for",
    "protocol_named",
    "resolved_protocol",
]

#: Wire protocol name (botocore's spelling) -> ``"module:Class"``.
PROTOCOLS: dict[str, str] = {
    "json": "cloudlet.protocols.json:JsonProtocol",
    "query": "cloudlet.protocols.query:QueryProtocol",
    "rest-json": "cloudlet.protocols.rest_json:RestJsonProtocol",
    "rest-xml": "cloudlet.protocols.rest_xml:RestXmlProtocol",
}

#: Service-specific overrides: ``(service, protocol)`` or ``service`` -> ``"module:Class"``.
#: A ``(service, protocol)`` entry wins over a bare ``service`` entry.
SERVICE_QUIRKS: dict[tuple[str, str] | str, str] = {
    "s3": "cloudlet.protocols.s3:S3Protocol",
    ("dynamodb", "json"): "cloudlet.protocols.json:DynamoDbJsonProtocol",
    ("dynamodbstreams", "json"): "cloudlet.protocols.json:DynamoDbJsonProtocol",
    ("sqs", "json"): "cloudlet.protocols.sqs:SqsJsonProtocol",
    ("sqs", "query"): "cloudlet.protocols.sqs:SqsQueryProtocol",
}

_loader = Loader()
_lock = threading.Lock()
_instances: dict[tuple[str, str], Protocol] = {}


@cache
def load_service_model(name: str) -> ServiceModel:
    """botocore's model of ``name`` (latest API version installed), loaded once."""
    raw = _loader.load_service_model(name, "service-2")
    return ServiceModel(raw, service_name=name)


def resolved_protocol(model: ServiceModel) -> str:
    """The protocol the installed botocore (and so boto3) speaks to this service.

    botocore takes the first entry of ``metadata.protocols`` in its own
    priority order (``json`` before ``query``, so SQS speaks JSON), and falls
    back to ``metadata.protocol``.
    """
    return str(model.resolved_protocol)


def _import(spec: str) -> type[Protocol]:
    module_name, _, class_name = spec.partition(":")
    cls = getattr(importlib.import_module(module_name), class_name)
    if not (isinstance(cls, type) and issubclass(cls, Protocol)):
        raise TypeError(f"{spec} is not a Protocol class")
    return cls


def protocol_class(service: str, protocol: str) -> type[Protocol]:
    """The class that speaks ``protocol`` for ``service`` (quirk subclass if any)."""
    spec = SERVICE_QUIRKS.get((service, protocol)) or SERVICE_QUIRKS.get(service)
    if spec is None:
        try:
            spec = PROTOCOLS[protocol]
        except KeyError:
            raise ValueError(f"unsupported protocol {protocol!r} for service {service!r}") from None
    return _import(spec)


def protocol_named(service: str, protocol: str) -> Protocol:
    """The (cached) protocol instance speaking ``protocol`` for ``service``."""
    key = (service, protocol)
    instance = _instances.get(key)
    if instance is None:
        with _lock:
            instance = _instances.get(key)
            if instance is None:
                cls = protocol_class(service, protocol)
                instance = _instances[key] = cls(load_service_model(service))
    return instance


def protocol_for(service: str) -> Protocol:
    """The (cached) protocol instance for the protocol boto3 speaks to ``service``."""
    return protocol_named(service, resolved_protocol(load_service_model(service)))
