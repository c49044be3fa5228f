"""Settings precedence: flags > CLOUDLET_* env vars > defaults."""

from __future__ import annotations

from pathlib import Path

from cloudlet.config import Settings


def test_defaults() -> None:
    s = Settings.load(environ={})
    assert (s.host, s.port, s.data_dir, s.region) == ("127.0.0.1", 4566, Path(".cloudlet"), "us-east-1")
    assert s.endpoint == "http://127.0.0.1:4566"


def test_env_then_flags() -> None:
    env = {"CLOUDLET_PORT": "5000", "CLOUDLET_DATA_DIR": "/tmp/d", "CLOUDLET_FSYNC": "true", "CLOUDLET_KEEP_WARM": "1.5"}
    s = Settings.load(environ=env)
    assert (s.port, s.data_dir, s.fsync, s.keep_warm) == (5000, Path("/tmp/d"), True, 1.5)
    s = Settings.load({"port": 6000, "host": None}, environ=env)
    assert s.port == 6000 and s.host == "127.0.0.1"


def test_wildcard_host_advertises_loopback() -> None:
    assert Settings.load({"host": "0.0.0.0", "port": 1}, environ={}).endpoint == "http://127.0.0.1:1"
