"""SQS quirks: query-era error codes, and the legacy query wire names.

SQS moved from the query protocol to JSON (``awsQueryCompatible``).  Two
things the current botocore model no longer says, and both wires still need:

* the query-era error codes (``AWS.SimpleQueueService.NonExistentQueue`` for
  the ``QueueDoesNotExist`` shape): :data:`QUERY_ERROR_CODES`, used by the JSON
  protocol's ``x-amzn-query-error`` header and by the query protocol's
  ``<Code>``;
* the query wire names of the legacy model (API 2012-11-05): flattened
  ``Attribute.N.Name``/``.Value`` maps, ``AttributeName.N`` lists,
  ``<Message>`` elements, ``<{Op}Result>`` wrappers and the XML namespace.
  :func:`legacy_query_model` rebuilds that model from the current one, so the
  generic :class:`~cloudlet.protocols.query.QueryProtocol` speaks exactly what
  older SDKs send and expect.
"""

from __future__ import annotations

import copy
from functools import lru_cache
from typing import Any

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel

from cloudlet.protocols.base import HttpRequest
from cloudlet.protocols.json import JsonProtocol
from cloudlet.protocols.query import Form, QueryProtocol

__all__ = ["QUERY_ERROR_CODES", "SqsJsonProtocol", "SqsQueryProtocol", "legacy_query_model"]

_PREFIX = "AWS.SimpleQueueService."

#: Error shape name -> the code query clients (and ``Error.Code`` in boto3) see.
QUERY_ERROR_CODES: dict[str, str] = {
    "QueueDoesNotExist": _PREFIX + "NonExistentQueue",
    "QueueNameExists": "QueueAlreadyExists",
    "QueueDeletedRecently": _PREFIX + "QueueDeletedRecently",
    "PurgeQueueInProgress": _PREFIX + "PurgeQueueInProgress",
    "MessageNotInflight": _PREFIX + "MessageNotInflight",
    "TooManyEntriesInBatchRequest": _PREFIX + "TooManyEntriesInBatchRequest",
    "EmptyBatchRequest": _PREFIX + "EmptyBatchRequest",
    "BatchEntryIdsNotDistinct": _PREFIX + "BatchEntryIdsNotDistinct",
    "BatchRequestTooLong": _PREFIX + "BatchRequestTooLong",
    "InvalidBatchEntryId": _PREFIX + "InvalidBatchEntryId",
    "UnsupportedOperation": _PREFIX + "UnsupportedOperation",
    "InvalidIdFormat": "InvalidIdFormat",
    "ReceiptHandleIsInvalid": "ReceiptHandleIsInvalid",
}

XML_NAMESPACE = "http://queue.amazonaws.com/doc/2012-11-05/"

#: List shape -> the element / key name of one item in the legacy model (all flattened).
_LIST_MEMBER_NAMES = {
    "AWSAccountIdList": "AWSAccountId",
    "ActionNameList": "ActionName",
    "AttributeNameList": "AttributeName",
    "BatchResultErrorEntryList": "BatchResultErrorEntry",
    "BinaryList": "BinaryListValue",
    "ChangeMessageVisibilityBatchRequestEntryList": "ChangeMessageVisibilityBatchRequestEntry",
    "ChangeMessageVisibilityBatchResultEntryList": "ChangeMessageVisibilityBatchResultEntry",
    "DeleteMessageBatchRequestEntryList": "DeleteMessageBatchRequestEntry",
    "DeleteMessageBatchResultEntryList": "DeleteMessageBatchResultEntry",
    "ListMessageMoveTasksResultEntryList": "ListMessageMoveTasksResultEntry",
    "MessageAttributeNameList": "MessageAttributeName",
    "MessageList": "Message",
    "MessageSystemAttributeList": "MessageSystemAttributeName",
    "QueueUrlList": "QueueUrl",
    "SendMessageBatchRequestEntryList": "SendMessageBatchRequestEntry",
    "SendMessageBatchResultEntryList": "SendMessageBatchResultEntry",
    "StringList": "StringListValue",
    "TagKeyList": "TagKey",
}

#: Map shape -> (name of the flattened entry, key name, value name) in the legacy model.
_MAP_NAMES = {
    "QueueAttributeMap": ("Attribute", "Name", "Value"),
    "MessageSystemAttributeMap": ("Attribute", "Name", "Value"),
    "MessageBodyAttributeMap": ("MessageAttribute", "Name", "Value"),
    "MessageBodySystemAttributeMap": ("MessageSystemAttribute", "Name", "Value"),
    "TagMap": ("Tag", "Key", "Value"),
}


def legacy_shapes(raw: dict[str, Any]) -> dict[str, Any]:
    """A copy of the service description with the legacy query names applied."""
    model = copy.deepcopy(raw)
    shapes: dict[str, Any] = model["shapes"]
    for name, item in _LIST_MEMBER_NAMES.items():
        if name in shapes:
            shapes[name]["flattened"] = True
            shapes[name]["member"]["locationName"] = item
    for name, (_, key, value) in _MAP_NAMES.items():
        if name in shapes:
            shapes[name]["flattened"] = True
            shapes[name]["key"]["locationName"] = key
            shapes[name]["value"]["locationName"] = value
    for shape in shapes.values():
        for ref in shape.get("members", {}).values() if shape.get("type") == "structure" else ():
            if ref["shape"] in _MAP_NAMES:
                ref["locationName"] = _MAP_NAMES[ref["shape"]][0]
    for op_name, operation in model["operations"].items():
        output = operation.get("output")
        if output is not None:
            output["resultWrapper"] = f"{op_name}Result"
    metadata = model["metadata"]
    metadata["xmlNamespace"] = XML_NAMESPACE
    metadata["protocol"] = "query"
    metadata["protocols"] = ["query"]
    return model


@lru_cache(maxsize=1)
def legacy_query_model() -> ServiceModel:
    """The SQS model as the query protocol (API 2012-11-05) names things on the wire."""
    raw = Loader().load_service_model("sqs", "service-2")
    return ServiceModel(legacy_shapes(raw), service_name="sqs")


class SqsJsonProtocol(JsonProtocol):
    type_namespace = "com.amazonaws.sqs#"
    query_error_codes = QUERY_ERROR_CODES


class SqsQueryProtocol(QueryProtocol):
    """Legacy SQS query wire: legacy names, query-era codes.

    Older clients may POST to the queue URL itself and leave ``QueueUrl`` out;
    the URL is then rebuilt from the ``Host`` header and the path.
    """

    query_error_codes = QUERY_ERROR_CODES

    def __init__(self, service_model: ServiceModel) -> None:
        # The registry hands over the current (JSON-era) model; speak the legacy one.
        super().__init__(legacy_query_model())

    def parse_form(self, operation: OperationModel, form: Form, request: HttpRequest) -> dict[str, Any]:
        path = request.path.split("?", 1)[0]
        shape = operation.input_shape
        if (
            shape is not None
            and "QueueUrl" in shape.members
            and "QueueUrl" not in form.values
            and path not in ("", "/")
            and "host" in request.headers
        ):
            form.values["QueueUrl"] = f"http://{request.headers['host']}{path}"
            form.prefixes.add("QueueUrl")
        return super().parse_form(operation, form, request)
