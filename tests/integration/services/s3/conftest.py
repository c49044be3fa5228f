"""Fixtures for the S3 integration tests: a client and a fresh bucket per test."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest


def unique(prefix: str = "bkt") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def s3(aws_client: Callable[..., Any]) -> Any:
    return aws_client("s3")


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    name = unique()
    s3.create_bucket(Bucket=name)
    yield name


@pytest.fixture
def new_name() -> Callable[[str], str]:
    return unique
