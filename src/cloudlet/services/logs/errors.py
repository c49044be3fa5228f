"""The modelled errors of CloudWatch Logs (all HTTP 400, caller's fault)."""

from __future__ import annotations

from cloudlet.errors import ServiceError


class InvalidParameterException(ServiceError):
    code = "InvalidParameterException"


class ResourceNotFoundException(ServiceError):
    code = "ResourceNotFoundException"


class ResourceAlreadyExistsException(ServiceError):
    code = "ResourceAlreadyExistsException"


class TooManyTagsException(ServiceError):
    code = "TooManyTagsException"


class LogsValidationException(ServiceError):
    code = "ValidationException"


GROUP_NOT_FOUND = "The specified log group does not exist."
STREAM_NOT_FOUND = "The specified log stream does not exist."
GROUP_EXISTS = "The specified log group already exists"
STREAM_EXISTS = "The specified log stream already exists"
