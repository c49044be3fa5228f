"""Fixtures shared by every test level.

``server`` is one real ``cloudlet up`` subprocess per test session (loopback,
free port, temporary data dir); ``aws_client(service)`` builds a boto3 client
for it with the default ``test``/``test`` key pair.  Tests that restart or
``kill -9`` a server start their own with ``start_server``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.servers import ServerProcess, make_client

FUNCTIONS_DIR = Path(__file__).parent / "functions"


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    proc = ServerProcess(tmp_path_factory.mktemp("cloudlet") / "data").start()
    try:
        yield proc
    finally:
        proc.stop()


@pytest.fixture
def aws_client(server: ServerProcess) -> Callable[..., Any]:
    def factory(service: str, **kwargs: Any) -> Any:
        return make_client(server.endpoint, service, **kwargs)

    return factory


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    started: list[ServerProcess] = []

    def factory(data_dir: Path | None = None, **kwargs: Any) -> ServerProcess:
        proc = ServerProcess(data_dir or tmp_path / "data", **kwargs).start()
        started.append(proc)
        return proc

    yield factory
    for proc in started:
        proc.stop()
