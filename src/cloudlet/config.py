"""One Settings object: command-line flags > environment variables (``CLOUDLET_*``) > defaults."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 4566
DEFAULT_REGION = "us-east-1"


@dataclass(frozen=True)
class Settings:
    """Everything that configures a Cloudlet server."""

    #: Interface to bind (``CLOUDLET_HOST``).
    host: str = DEFAULT_HOST
    #: TCP port (``CLOUDLET_PORT``).
    port: int = DEFAULT_PORT
    #: Where all state lives (``CLOUDLET_DATA_DIR``).
    data_dir: Path = field(default_factory=lambda: Path(".cloudlet"))
    #: Region used for unsigned requests (``CLOUDLET_REGION``).
    region: str = DEFAULT_REGION
    #: Extra key pairs ``AKID:SECRET[:ACCOUNT],…`` (``CLOUDLET_CREDENTIALS``); ``None`` = ``test``/``test``.
    credentials: str | None = None
    #: fsync every commit and blob: survives power loss, not only ``kill -9`` (``CLOUDLET_FSYNC``).
    fsync: bool = False
    #: Seconds an idle execution environment stays warm (``CLOUDLET_KEEP_WARM``).
    keep_warm: float = 600.0
    #: Most execution environments alive at once (``CLOUDLET_MAX_WORKERS``).
    max_workers: int = 64
    #: Seconds between retries of a failed async invocation (``CLOUDLET_ASYNC_RETRY_DELAYS="1,2"``);
    #: AWS waits about 60 and 120 s, far too long for local development.
    async_retry_delays: tuple[float, ...] = (1.0, 2.0)
    #: Concurrent executions of the account (``CLOUDLET_ACCOUNT_CONCURRENCY``; AWS's default quota 1000),
    #: bounded in practice by ``max_workers`` and ``memory_budget_mb``.
    account_concurrency: int = 1000
    #: Sum of MemorySize over live execution environments, in MB; idle ones are evicted first,
    #: then new ones are throttled (``CLOUDLET_MEMORY_BUDGET_MB``; 0 = no budget).
    memory_budget_mb: int = 0
    #: Give each execution environment a private ``/tmp`` mount when the server may create mount
    #: namespaces (root); otherwise only ``TMPDIR`` is private (``CLOUDLET_PRIVATE_TMP``).
    private_tmp: bool = True
    #: uvicorn log level (``CLOUDLET_LOG_LEVEL``).
    log_level: str = "warning"

    @property
    def endpoint(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Settings:
        """Defaults, then ``CLOUDLET_*`` variables, then explicit (non-``None``) overrides."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for f in fields(cls):
            raw = env.get(f"CLOUDLET_{f.name.upper()}")
            if raw is not None and raw != "":
                values[f.name] = _coerce(f.name, raw)
        for key, value in (overrides or {}).items():
            if value is not None:
                values[key] = _coerce(key, value) if isinstance(value, str) else value
        return replace(cls(), **values)


_TYPES: dict[str, type] = {f.name: type(getattr(Settings(), f.name)) for f in fields(Settings)}


def _coerce(name: str, raw: str) -> Any:
    kind = _TYPES.get(name, str)
    if name == "credentials":
        return raw
    if kind is bool:
        return raw.strip().lower() in ("1", "true", "yes", "on")
    if kind is int:
        return int(raw)
    if kind is float:
        return float(raw)
    if kind is tuple:
        return tuple(float(part) for part in raw.split(",") if part.strip())
    if issubclass(kind, Path):
        return Path(raw)
    return raw
