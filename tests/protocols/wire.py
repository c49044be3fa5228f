"""Glue between botocore's own serializers/parsers and our protocol classes.

``botocore_request`` turns what ``botocore.serialize`` produces into the
``HttpRequest`` the edge would hand a protocol; ``botocore_parse`` feeds one of
our ``HttpResponse`` objects to ``botocore.parsers`` exactly as the client's
endpoint does (lower-cased headers, body bytes, status code).
"""

from __future__ import annotations

import re
from functools import cache
from typing import Any
from urllib.parse import urlencode

from botocore.model import OperationModel, Shape
from botocore.parsers import create_parser
from botocore.serialize import create_serializer

from cloudlet.protocols.base import HttpRequest, HttpResponse
from cloudlet.protocols.validate import python_pattern
from tests.protocols import strategies
from tests.protocols.strategies import input_params, output_result

# Hypothesis builds ``from_regex`` character sets one code point at a time: a
# model pattern that allows every XML character up to U+10FFFF (DynamoDB's
# ``AutoScalingRoleArn``) costs ~20 s per strategy.  Plain text from the body
# alphabet always satisfies those patterns, so such patterns are generated as
# plain text here.
_ALL_PLANES = re.compile(r"\\U0010ffff", re.IGNORECASE)


@cache
def _generation_pattern(pattern: str) -> re.Pattern[str] | None:
    compiled = python_pattern(pattern)
    if compiled is not None and _ALL_PLANES.search(compiled.pattern):
        return None
    return compiled


strategies.python_pattern = _generation_pattern


@cache
def inputs_for(operation: OperationModel) -> Any:
    """``input_params(operation)``, built once per operation."""
    return input_params(operation)


@cache
def outputs_for(operation: OperationModel) -> Any:
    """``output_result(operation)``, built once per operation."""
    return output_result(operation)

def botocore_request(protocol: str, operation: OperationModel, params: dict[str, Any]) -> HttpRequest:
    """The request botocore sends for ``params`` (headers as botocore sets them, X-Amz-Target included)."""
    serialized = create_serializer(protocol, include_validation=False).serialize_to_request(params, operation)
    body = serialized["body"]
    if isinstance(body, dict):  # the query serializer returns the form fields
        body = urlencode(body, doseq=True).encode()
    elif isinstance(body, str):
        body = body.encode()
    query = serialized["query_string"]
    query_string = urlencode(query, doseq=True) if isinstance(query, dict) else str(query or "")
    headers = {k.lower(): str(v) for k, v in serialized["headers"].items()}
    return HttpRequest(serialized["method"], serialized["url_path"], query_string, headers, body or b"")


def botocore_parse(protocol: str, response: HttpResponse, shape: Shape | None) -> dict[str, Any]:
    """What botocore's response parser makes of ``response`` (``ResponseMetadata`` removed)."""
    parsed: dict[str, Any] = create_parser(protocol).parse(
        {
            "status_code": response.status,
            "headers": {k.lower(): v for k, v in response.headers},
            "body": response.body,
        },
        shape,
    )
    parsed.pop("ResponseMetadata", None)
    return parsed
