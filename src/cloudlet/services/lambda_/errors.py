"""Lambda's modelled errors, one class per AWS error code."""

from __future__ import annotations

from cloudlet.errors import ServiceError


class ResourceNotFound(ServiceError):
    code = "ResourceNotFoundException"
    status = 404


class ResourceConflict(ServiceError):
    code = "ResourceConflictException"
    status = 409


class InvalidParameterValue(ServiceError):
    code = "InvalidParameterValueException"
    status = 400


class InvalidRequestContent(ServiceError):
    code = "InvalidRequestContentException"
    status = 400


class PreconditionFailed(ServiceError):
    code = "PreconditionFailedException"
    status = 412


class RequestTooLarge(ServiceError):
    """An Invoke payload over the invocation type's limit."""

    code = "RequestTooLargeException"
    status = 413


class RequestEntityTooLarge(ServiceError):
    """A direct code upload over 50 MB (AWS's front end answers this, not the service model)."""

    code = "RequestEntityTooLargeException"
    status = 413


class TooManyRequests(ServiceError):
    code = "TooManyRequestsException"
    status = 429

    def __init__(self, reason: str, retry_after_s: int = 1) -> None:
        super().__init__(
            "Rate Exceeded.",
            fields={"Reason": reason, "retryAfterSeconds": str(retry_after_s)},
        )
        self.reason = reason


class ProvisionedConcurrencyConfigNotFound(ServiceError):
    code = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404


class PolicyLengthExceeded(ServiceError):
    code = "PolicyLengthExceededException"
    status = 400


class ServiceFailure(ServiceError):
    code = "ServiceException"
    status = 500
    sender_fault = False


REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)
