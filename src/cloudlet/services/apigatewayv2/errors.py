"""API Gateway errors (shared by v1 and v2; same codes and statuses on both)."""

from __future__ import annotations

from cloudlet.errors import ServiceError


class NotFound(ServiceError):
    code = "NotFoundException"
    status = 404


class BadRequest(ServiceError):
    code = "BadRequestException"
    status = 400


class Conflict(ServiceError):
    code = "ConflictException"
    status = 409
