"""The authentication errors each service answers with.

AWS services do not agree on auth errors.  They fall into four families by
the front end that checks the signature, and within a family every service
answers alike:

=================  ======================  ==========================  ===============================  ================================
what went wrong    S3 (rest-xml)           query (SNS, SQS, STS, …)    JSON (DynamoDB, Logs, …)  [400]  rest-json (Lambda, …)  [403]
=================  ======================  ==========================  ===============================  ================================
no auth at all     AccessDenied            MissingAuthenticationToken  MissingAuthenticationTokenExc.   MissingAuthenticationTokenExc.
unknown key        InvalidAccessKeyId      InvalidClientTokenId        UnrecognizedClientException      UnrecognizedClientException
bad signature      SignatureDoesNotMatch   SignatureDoesNotMatch       InvalidSignatureException        InvalidSignatureException
clock skew         RequestTimeTooSkewed    SignatureDoesNotMatch       InvalidSignatureException        InvalidSignatureException
malformed          AuthorizationHeader-    IncompleteSignature         IncompleteSignatureException     IncompleteSignatureException
                   Malformed / …Query…
=================  ======================  ==========================  ===============================  ================================

Statuses: S3 and query services answer 403 (400 for malformed requests);
JSON services behind the "coral" front end answer **400** for all of them
(observed for DynamoDB, CloudWatch Logs, Kinesis, Cognito); rest-json services
behind the API-Gateway-style front end (Lambda) answer 403.  SQS speaks JSON
but is ``awsQueryCompatible``: it keeps its query-era codes and 403 (the SQS
serializer adds ``x-amzn-query-error``).

The family of a service comes from its protocol in botocore's model
(``FAMILY_OF`` holds the services we know; others are read from botocore once).
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from typing import Any

from cloudlet.errors import AuthError

SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
)
S3_SIGNATURE_MISMATCH_MESSAGE = (
    "The request signature we calculated does not match the signature you provided. Check your key and signing method."
)
INVALID_TOKEN_MESSAGE = "The security token included in the request is invalid."


class Family(enum.Enum):
    S3 = "s3"
    QUERY = "query"
    JSON = "json"
    REST_JSON = "rest-json"


@dataclass(frozen=True)
class FamilyCodes:
    status: int
    missing: str
    missing_message: str
    missing_status: int
    unknown_key: str
    bad_signature: str
    incomplete: str
    incomplete_status: int


CODES: dict[Family, FamilyCodes] = {
    Family.S3: FamilyCodes(
        403, "AccessDenied", "Access Denied", 403, "InvalidAccessKeyId", "SignatureDoesNotMatch",
        "AuthorizationHeaderMalformed", 400,
    ),
    Family.QUERY: FamilyCodes(
        403, "MissingAuthenticationToken", "Request is missing Authentication Token", 403,
        "InvalidClientTokenId", "SignatureDoesNotMatch", "IncompleteSignature", 400,
    ),
    Family.JSON: FamilyCodes(
        400, "MissingAuthenticationTokenException", "Request is missing Authentication Token", 400,
        "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException", 400,
    ),
    Family.REST_JSON: FamilyCodes(
        403, "MissingAuthenticationTokenException", "Missing Authentication Token", 403,
        "UnrecognizedClientException", "InvalidSignatureException", "IncompleteSignatureException", 403,
    ),
}

#: botocore service name → (family, SigV4 signing name), for the services Cloudlet routes
#: and their neighbours (AWS_FACTS §9).  Anything else is looked up in botocore's model.
KNOWN_SERVICES: dict[str, tuple[Family, str]] = {
    "s3": (Family.S3, "s3"),
    "lambda": (Family.REST_JSON, "lambda"),
    "scheduler": (Family.REST_JSON, "scheduler"),
    "apigateway": (Family.REST_JSON, "apigateway"),
    "apigatewayv2": (Family.REST_JSON, "apigateway"),
    "xray": (Family.REST_JSON, "xray"),
    "pipes": (Family.REST_JSON, "pipes"),
    "sesv2": (Family.REST_JSON, "ses"),
    "sqs": (Family.QUERY, "sqs"),
    "sns": (Family.QUERY, "sns"),
    "sts": (Family.QUERY, "sts"),
    "iam": (Family.QUERY, "iam"),
    "cloudformation": (Family.QUERY, "cloudformation"),
    "cloudwatch": (Family.QUERY, "monitoring"),
    "dynamodb": (Family.JSON, "dynamodb"),
    "dynamodbstreams": (Family.JSON, "dynamodb"),
    "stepfunctions": (Family.JSON, "states"),
    "events": (Family.JSON, "events"),
    "logs": (Family.JSON, "logs"),
    "kinesis": (Family.JSON, "kinesis"),
    "firehose": (Family.JSON, "firehose"),
    "secretsmanager": (Family.JSON, "secretsmanager"),
    "ssm": (Family.JSON, "ssm"),
    "kms": (Family.JSON, "kms"),
    "ecr": (Family.JSON, "ecr"),
    "cognito-idp": (Family.JSON, "cognito-idp"),
}


@functools.cache
def service_traits(service: str) -> tuple[Family, str]:
    """(error family, SigV4 signing name) of a botocore service name."""
    known = KNOWN_SERVICES.get(service)
    if known is not None:
        return known
    try:
        from botocore.loaders import create_loader

        metadata: dict[str, Any] = create_loader().load_service_model(service, "service-2")["metadata"]
    except Exception:  # an unknown name: treat it like a generic JSON service signing as itself
        return Family.JSON, service
    protocols = metadata.get("protocols") or [metadata.get("protocol", "json")]
    signing = metadata.get("signingName") or metadata.get("endpointPrefix") or service
    if "awsQueryCompatible" in metadata or protocols[0] in ("query", "ec2", "rest-xml"):
        return Family.QUERY, signing
    if protocols[0] == "rest-json":
        return Family.REST_JSON, signing
    return Family.JSON, signing


def _error(message: str, code: str, status: int, fields: dict[str, Any] | None = None) -> AuthError:
    return AuthError(message, code=code, status=status, fields=fields)


def missing(family: Family) -> AuthError:
    c = CODES[family]
    return _error(c.missing_message, c.missing, c.missing_status)


def unknown_key(family: Family, access_key_id: str) -> AuthError:
    c = CODES[family]
    if family is Family.S3:
        return _error(
            "The AWS Access Key Id you provided does not exist in our records.",
            c.unknown_key, c.status, {"AWSAccessKeyId": access_key_id},
        )
    return _error(INVALID_TOKEN_MESSAGE, c.unknown_key, c.status)


def signature_mismatch(
    family: Family,
    *,
    access_key_id: str,
    provided: str,
    string_to_sign: str,
    canonical_request: str | None,
) -> AuthError:
    """The signature is wrong.  S3 tells the caller what it signed, as AWS does."""
    c = CODES[family]
    if family is not Family.S3:
        return _error(SIGNATURE_MISMATCH_MESSAGE, c.bad_signature, c.status)
    fields: dict[str, Any] = {
        "AWSAccessKeyId": access_key_id,
        "StringToSign": string_to_sign,
        "SignatureProvided": provided,
        "StringToSignBytes": _hex_bytes(string_to_sign),
    }
    if canonical_request is not None:
        fields["CanonicalRequest"] = canonical_request
        fields["CanonicalRequestBytes"] = _hex_bytes(canonical_request)
    return _error(S3_SIGNATURE_MISMATCH_MESSAGE, c.bad_signature, c.status, fields)


def bad_signature(family: Family, message: str, *, s3_code: str = "AccessDenied", s3_status: int = 403,
                  fields: dict[str, Any] | None = None) -> AuthError:
    """A signature problem other than a mismatch (scope, expiry …): S3 has a code per case,
    the other families answer their signature error with an explanatory message."""
    if family is Family.S3:
        return _error(message, s3_code, s3_status, fields)
    c = CODES[family]
    return _error(message, c.bad_signature, c.status)


def incomplete(family: Family, message: str, *, s3_code: str | None = None,
               fields: dict[str, Any] | None = None) -> AuthError:
    """The auth information is malformed or incomplete."""
    c = CODES[family]
    if family is Family.S3:
        return _error(message, s3_code or c.incomplete, c.incomplete_status, fields)
    return _error(message, c.incomplete, c.incomplete_status)


def skewed(family: Family, *, request_time: str, message: str, server_time: str) -> AuthError:
    if family is Family.S3:
        return _error(
            "The difference between the request time and the current time is too large.",
            "RequestTimeTooSkewed", 403,
            {"RequestTime": request_time, "ServerTime": server_time, "MaxAllowedSkewMilliseconds": "900000"},
        )
    c = CODES[family]
    return _error(message, c.bad_signature, c.status)


def _hex_bytes(text: str) -> str:
    return " ".join(f"{b:02x}" for b in text.encode("utf-8", "surrogateescape"))
