"""The worker-side runtime pieces that need no fork: handler loading, faults, context."""

from __future__ import annotations

import base64
import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from cloudlet.engine.runtime import FaultError, LambdaContext, error_payload, load_handler


@pytest.fixture
def code_dir(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "handlers_ok.py").write_text("def handler(event, context):\n    return event\n")
    (tmp_path / "handlers_syntax.py").write_text("def handler(:\n")
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "mod.py").write_text("def run(event, context):\n    return 'nested'\n")
    sys.path.insert(0, str(tmp_path))
    yield tmp_path
    sys.path.remove(str(tmp_path))
    for name in ("handlers_ok", "handlers_syntax", "pkg", "pkg.mod"):
        sys.modules.pop(name, None)


def fault(handler: str) -> FaultError:
    with pytest.raises(FaultError) as info:
        load_handler(handler)
    return info.value


def test_handler_paths_with_dots_and_slashes(code_dir: Path) -> None:
    assert load_handler("handlers_ok.handler")({"a": 1}, None) == {"a": 1}
    assert load_handler("pkg/mod.run")({}, None) == "nested"


def test_handler_faults_use_runtime_error_types(code_dir: Path) -> None:
    assert fault("nodot").error_type == "Runtime.MalformedHandlerName"
    missing = fault("handlers_ok.nope")
    assert (missing.error_type, missing.message) == ("Runtime.HandlerNotFound", "Handler 'nope' missing on module 'handlers_ok'")
    assert fault("no_such_module.handler").message == "Unable to import module 'no_such_module': No module named 'no_such_module'"
    assert fault("handlers_syntax.handler").error_type == "Runtime.UserCodeSyntaxError"
    assert fault("sys.handler").error_type == "Runtime.BuiltInModuleConflict"


def test_error_payload_of_an_exception() -> None:
    try:
        raise KeyError("k")
    except KeyError as exc:
        payload = error_payload(exc, "req-1")
    assert payload["errorType"] == "KeyError"
    assert payload["errorMessage"] == "'k'"
    assert payload["requestId"] == "req-1"
    assert len(payload["stackTrace"]) == 1 and "test_error_payload_of_an_exception" in payload["stackTrace"][0]


def test_context_remaining_time_client_context_and_identity() -> None:
    custom = base64.b64encode(json.dumps({"client": {"app_title": "t"}, "custom": {"a": 1}, "env": {"e": 2}}).encode())
    ctx = LambdaContext({
        "request_id": "r",
        "invoked_function_arn": "arn:x",
        "deadline_ms": int(time.time() * 1000) + 2000,
        "client_context": custom.decode(),
        "cognito_identity": {"cognitoIdentityId": "i", "cognitoIdentityPoolId": "p"},
    })  # fmt: skip
    assert 1000 < ctx.get_remaining_time_in_millis() <= 2000
    assert ctx.client_context is not None and ctx.client_context.custom == {"a": 1}
    assert ctx.client_context.client is not None and ctx.client_context.client.app_title == "t"
    assert (ctx.identity.cognito_identity_id, ctx.identity.cognito_identity_pool_id) == ("i", "p")
    expired = LambdaContext({"request_id": "r", "deadline_ms": 0})
    assert expired.get_remaining_time_in_millis() == 0 and expired.client_context is None
