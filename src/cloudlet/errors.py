"""Typed service errors.

Providers only *raise* these; the protocol serializer for the service is the
one place that turns them into wire responses (see ``protocols``).  A
``ServiceError`` carries everything a serializer needs: the AWS error code,
the HTTP status, whether the caller is at fault, the message, and any extra
members the service's modelled error shape has (Lambda's ``Type``/``Reason``,
S3's ``Key``/``BucketName`` …).  Headers to add to the error response (for
example ``Retry-After``) go in ``headers``.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An AWS error that a client is expected to see."""

    code: str = "InternalFailure"
    status: int = 400
    sender_fault: bool = True

    def __init__(
        self,
        message: str = "",
        *,
        code: str | None = None,
        status: int | None = None,
        sender_fault: bool | None = None,
        fields: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if sender_fault is not None:
            self.sender_fault = sender_fault
        self.fields: dict[str, Any] = dict(fields or {})
        self.headers: dict[str, str] = dict(headers or {})

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r}, status={self.status}, message={self.message!r})"


class ValidationError(ServiceError):
    """Input failed a modelled constraint (max length, pattern, enum, range).

    The code is chosen per service by the protocol layer (``ValidationException``
    for most JSON services, ``InvalidParameterValueException`` for Lambda …).
    """

    code = "ValidationException"
    status = 400


class NotImplementedOperation(ServiceError):
    """An operation that exists in the service model but Cloudlet does not implement."""

    code = "NotImplemented"
    status = 501
    sender_fault = False

    def __init__(self, service: str, operation: str) -> None:
        super().__init__(
            f"The operation {operation} of service {service} is not implemented by Cloudlet",
        )
        self.service = service
        self.operation = operation


class InternalError(ServiceError):
    """Our own bug: logged, and answered as a 500."""

    code = "InternalFailure"
    status = 500
    sender_fault = False


class AuthError(ServiceError):
    """Authentication failed; the code is the service's own (SignatureDoesNotMatch …)."""

    status = 403
