"""SnapStart runtime hooks, importable in handlers as ``snapshot_restore_py`` (as on AWS).

``register_before_snapshot(func, *args, **kwargs)`` and
``register_after_restore(func, *args, **kwargs)`` work as plain calls and as
decorators.  Before-snapshot hooks run once, in the snapshot worker, after the
handler module was imported (init); after-restore hooks run in every
execution environment forked from it, before its first invocation — the place
to re-seed randomness or reopen connections.  Cloudlet runs both kinds in
registration order.  A hook that raises fails the snapshot (the invocation
that needed it gets ``Runtime.BeforeSnapshotError``) or the restore
(``Runtime.AfterRestoreError``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]

_before: list[Hook] = []
_after: list[Hook] = []


def register_before_snapshot(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    _before.append((func, args, kwargs))
    return func


def register_after_restore(func: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[..., Any]:
    _after.append((func, args, kwargs))
    return func


def get_before_snapshot() -> list[Hook]:
    return list(_before)


def get_after_restore() -> list[Hook]:
    return list(_after)


def run_before_snapshot() -> None:
    for func, args, kwargs in list(_before):
        func(*args, **kwargs)


def run_after_restore() -> None:
    for func, args, kwargs in list(_after):
        func(*args, **kwargs)


def reset() -> None:
    _before.clear()
    _after.clear()
