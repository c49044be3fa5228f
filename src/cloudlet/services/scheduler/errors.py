"""EventBridge Scheduler errors (rest-json ``x-amzn-ErrorType`` codes)."""

from __future__ import annotations

from cloudlet.errors import ServiceError


class ValidationException(ServiceError):
    code = "ValidationException"


class ResourceNotFound(ServiceError):
    code = "ResourceNotFoundException"
    status = 404


class Conflict(ServiceError):
    code = "ConflictException"
    status = 409
