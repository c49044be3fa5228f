"""SNS errors with their query codes (``<Code>`` in the XML error)."""

from __future__ import annotations

from cloudlet.errors import ServiceError


class NotFound(ServiceError):
    code = "NotFound"
    status = 404


class ResourceNotFound(ServiceError):
    code = "ResourceNotFound"
    status = 404


class InvalidParameter(ServiceError):
    code = "InvalidParameter"

    def __init__(self, reason: str) -> None:
        super().__init__(f"Invalid parameter: {reason}")


class InvalidParameterValue(ServiceError):
    code = "ParameterValueInvalid"


class AuthorizationError(ServiceError):
    code = "AuthorizationError"
    status = 403


class EmptyBatchRequest(ServiceError):
    code = "EmptyBatchRequest"


class TooManyEntriesInBatchRequest(ServiceError):
    code = "TooManyEntriesInBatchRequest"


class BatchEntryIdsNotDistinct(ServiceError):
    code = "BatchEntryIdsNotDistinct"


class InvalidBatchEntryId(ServiceError):
    code = "InvalidBatchEntryId"


class BatchRequestTooLong(ServiceError):
    code = "BatchRequestTooLong"


class TagLimitExceeded(ServiceError):
    code = "TagLimitExceeded"
