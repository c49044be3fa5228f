"""Value types shared by the engine and its callers (the Lambda provider).

``FunctionSpec`` says *what* to run (one function version at one revision),
``InvokeRequest`` one call of it, ``InvokeResult`` what came back, including
the Lambda-style log lines of that call.  ``Throttled`` is raised instead of
running when a concurrency limit is reached.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

#: How much of the log ``LogType=Tail`` returns (bytes).
LOG_TAIL_BYTES = 4096


@dataclass(frozen=True)
class FunctionSpec:
    """Everything needed to build an execution environment for one function version."""

    function_name: str
    #: ARN of the function (qualified or not); pools are keyed by it, ``discard`` matches its prefix.
    function_arn: str
    #: ``"$LATEST"`` or a published version number.
    version: str
    #: Changes on every code or configuration update; a new revision replaces the old warm pool.
    revision: str
    #: ``"module.function"`` (module may contain ``/``).
    handler: str
    runtime: str
    #: The unzipped deployment package.
    code_dir: Path
    layer_dirs: tuple[Path, ...] = ()
    environment: dict[str, str] = field(default_factory=dict)
    memory_mb: int = 128
    timeout_s: float = 3.0
    region: str = "us-east-1"
    account_id: str = "000000000000"
    #: ``AWS_ENDPOINT_URL`` of the function, so boto3 inside it talks to Cloudlet.
    endpoint_url: str = ""
    access_key_id: str = "test"
    secret_access_key: str = "test"
    #: ``/aws/lambda/<name>`` by default.
    log_group: str = ""
    #: ``None`` = unreserved; ``0`` blocks every invoke.
    reserved_concurrency: int | None = None
    #: SnapStart: environments fork from a snapshot worker that already ran init (published versions).
    snap_start: bool = False

    def __hash__(self) -> int:  # environment is a dict; identity of a spec is its ARN + revision
        return hash((self.function_arn, self.version, self.revision))


@dataclass(frozen=True)
class InvokeRequest:
    """One invocation of a function."""

    request_id: str
    payload: bytes
    invoked_function_arn: str
    #: Base64 of the client-context JSON (``X-Amz-Client-Context``), sync invokes only.
    client_context: str | None = None
    cognito_identity: dict[str, str] | None = None
    trace_id: str | None = None


@dataclass
class InvokeResult:
    """What one invocation produced."""

    payload: bytes
    #: ``None`` on success, ``"Unhandled"`` when the function (or the platform) failed.
    function_error: str | None
    #: ``(epoch ms, line)`` from ``START`` to ``REPORT``.
    log_events: list[tuple[int, str]]
    log_stream: str
    duration_ms: float
    billed_duration_ms: int
    #: Set on the first invocation of a fresh execution environment only.
    init_duration_ms: float | None
    max_memory_used_mb: int

    def log_text(self) -> str:
        return "".join(line + "\n" for _, line in self.log_events)

    def log_tail(self) -> str:
        """The last 4 KB of this invocation's log, as ``LogType=Tail`` returns it."""
        data = self.log_text().encode()[-LOG_TAIL_BYTES:]
        return data.decode("utf-8", errors="ignore")


class Throttled(Exception):
    """No execution environment may be started for this call (HTTP 429 on a sync invoke)."""

    def __init__(self, reason: str, message: str = "Rate Exceeded.") -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
