"""EventBridge errors (json protocol ``__type`` codes)."""

from __future__ import annotations

from cloudlet.errors import ServiceError


class ValidationException(ServiceError):
    code = "ValidationException"


class ResourceNotFound(ServiceError):
    code = "ResourceNotFoundException"


class ResourceAlreadyExists(ServiceError):
    code = "ResourceAlreadyExistsException"


class InvalidEventPattern(ServiceError):
    code = "InvalidEventPatternException"


class LimitExceeded(ServiceError):
    code = "LimitExceededException"


class ConcurrentModification(ServiceError):
    code = "ConcurrentModificationException"
