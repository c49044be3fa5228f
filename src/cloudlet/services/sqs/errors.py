"""SQS errors, raised with their query-era codes.

The SQS protocols (:mod:`cloudlet.protocols.sqs`) map a modelled shape to its
``__type`` and the legacy code to ``x-amzn-query-error`` / ``<Code>``; the
codes here are the ones ``ClientError.response["Error"]["Code"]`` shows.
"""

from __future__ import annotations

from cloudlet.errors import ServiceError

_PREFIX = "AWS.SimpleQueueService."


class QueueDoesNotExist(ServiceError):
    code = _PREFIX + "NonExistentQueue"

    def __init__(self, message: str = "The specified queue does not exist.") -> None:
        super().__init__(message)


class QueueNameExists(ServiceError):
    code = "QueueAlreadyExists"


class PurgeQueueInProgress(ServiceError):
    code = _PREFIX + "PurgeQueueInProgress"


class MessageNotInflight(ServiceError):
    code = _PREFIX + "MessageNotInflight"

    def __init__(self, message: str = "The message referred to isn't in flight.") -> None:
        super().__init__(message)


class ReceiptHandleIsInvalid(ServiceError):
    code = "ReceiptHandleIsInvalid"


class TooManyEntriesInBatchRequest(ServiceError):
    code = _PREFIX + "TooManyEntriesInBatchRequest"


class EmptyBatchRequest(ServiceError):
    code = _PREFIX + "EmptyBatchRequest"


class BatchEntryIdsNotDistinct(ServiceError):
    code = _PREFIX + "BatchEntryIdsNotDistinct"


class BatchRequestTooLong(ServiceError):
    code = _PREFIX + "BatchRequestTooLong"


class InvalidBatchEntryId(ServiceError):
    code = _PREFIX + "InvalidBatchEntryId"


class UnsupportedOperation(ServiceError):
    code = _PREFIX + "UnsupportedOperation"


class InvalidAttributeName(ServiceError):
    code = "InvalidAttributeName"


class InvalidAttributeValue(ServiceError):
    code = "InvalidAttributeValue"


class InvalidMessageContents(ServiceError):
    code = "InvalidMessageContents"


class InvalidParameterValue(ServiceError):
    code = "InvalidParameterValue"


class MissingParameter(ServiceError):
    code = "MissingParameter"


class ResourceNotFound(ServiceError):
    code = "ResourceNotFoundException"
