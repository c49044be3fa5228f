"""State and helpers shared by the parts of the Lambda provider.

``LambdaProvider`` is assembled from three mixins over ``ProviderCore``:
``functions.FunctionOps`` (functions, code, versions), ``resources.ResourceOps``
(aliases, concurrency, tags, permissions, event invoke configs) and
``invoke.InvokeOps`` (Invoke and the async queue).  The core holds the
collaborators and resolves what callers name: a function, or a function plus a
qualifier (``$LATEST``, a version number or an alias).
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from cloudlet.context import RequestContext
from cloudlet.services.lambda_ import store
from cloudlet.services.lambda_.code import CodeStore
from cloudlet.services.lambda_.errors import REVISION_MISMATCH, PreconditionFailed, ResourceNotFound
from cloudlet.services.lambda_.names import LATEST, VERSION_RE, function_arn, parse_function_name
from cloudlet.services.lambda_.store import AliasRecord, FnKey, FunctionRecord, LambdaStore
from cloudlet.storage import BlobStore, Database

if TYPE_CHECKING:
    from cloudlet.engine import Engine
    from cloudlet.services.logs import LogsStore

#: Concurrency of an account in one region (AWS's default quota).
ACCOUNT_CONCURRENCY = 1000
#: Concurrency that must stay unreserved.
MIN_UNRESERVED = 100
#: Entries a read-between-writes cache holds before it starts over.
READ_CACHE_LIMIT = 4096

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass(frozen=True)
class Resolved:
    """A function and the version a call resolved to."""

    key: FnKey
    record: FunctionRecord
    #: The qualifier the caller used (``None`` when unqualified).
    qualifier: str | None
    #: The version that runs: ``$LATEST`` or a number.
    version: str
    #: The stored configuration of that version.
    config: dict[str, Any]
    alias: AliasRecord | None

    @property
    def invoked_arn(self) -> str:
        return function_arn(self.key.region, self.key.account, self.key.name, self.qualifier)


class ProviderCore:
    service_name = "lambda"

    def __init__(
        self,
        db: Database,
        blobs: BlobStore,
        engine: Engine | None,
        logs_store: LogsStore | None,
        *,
        credentials_for_functions: tuple[str, str] = ("test", "test"),
    ) -> None:
        self.db = db
        self.store = LambdaStore(db)
        self.blobs = blobs
        self.code = CodeStore(blobs)
        self.engine = engine
        self.logs_store = logs_store
        self.credentials_for_functions = credentials_for_functions
        #: (region, account, params' name, qualifier) → (generation when read, resolution).
        self._resolved_cache: dict[tuple[str, str, str, str | None], tuple[int, Resolved]] = {}
        #: (function, qualifier) → (generation when read, (RevisionId, policy JSON or None)).
        self._policy_cache: dict[tuple[FnKey, str | None], tuple[int, tuple[str, str | None]]] = {}

    # -- naming ----------------------------------------------------------------

    @staticmethod
    def key_for(ctx: RequestContext, name: str) -> FnKey:
        return FnKey(ctx.region, ctx.account_id, name)

    @staticmethod
    def not_found(key: FnKey, qualifier: str | None = None) -> ResourceNotFound:
        arn = function_arn(key.region, key.account, key.name, qualifier)
        return ResourceNotFound(f"Function not found: {arn}")

    def ref(self, ctx: RequestContext, params: dict[str, Any]) -> tuple[FnKey, str | None]:
        """``(function key, qualifier)`` named by ``FunctionName`` and ``Qualifier``."""
        ref = parse_function_name(params["FunctionName"], params.get("Qualifier"))
        return self.key_for(ctx, ref.name), ref.qualifier

    def require_tx(
        self, conn: sqlite3.Connection, key: FnKey, qualifier: str | None = None
    ) -> FunctionRecord:
        record = store.get_function_tx(conn, key)
        if record is None:
            raise self.not_found(key, qualifier)
        return record

    @staticmethod
    def check_revision(expected: str | None, actual: str) -> None:
        if expected is not None and expected != actual:
            raise PreconditionFailed(REVISION_MISMATCH)

    # -- resolution --------------------------------------------------------------

    def resolve_tx(
        self, conn: sqlite3.Connection, key: FnKey, qualifier: str | None, *, route: bool = True
    ) -> Resolved:
        """The version ``qualifier`` names; an alias picks by its routing weights when ``route``."""
        record = self.require_tx(conn, key, qualifier)
        if qualifier is None or qualifier == LATEST:
            return Resolved(key, record, qualifier, LATEST, record.config, None)
        if VERSION_RE.fullmatch(qualifier):
            config = store.get_version_tx(conn, key, int(qualifier))
            if config is None:
                raise self.not_found(key, qualifier)
            return Resolved(key, record, qualifier, qualifier, config, None)
        alias = store.get_alias_tx(conn, key, qualifier)
        if alias is None:
            raise self.not_found(key, qualifier)
        version = pick_version(alias) if route else alias.function_version
        if version == LATEST:
            return Resolved(key, record, qualifier, LATEST, record.config, alias)
        config = store.get_version_tx(conn, key, int(version))
        if config is None:  # an alias never outlives its versions; be safe anyway
            raise self.not_found(key, version)
        return Resolved(key, record, qualifier, version, config, alias)

    async def resolve(
        self, ctx: RequestContext, params: dict[str, Any], *, route: bool = True
    ) -> Resolved:
        key, qualifier = self.ref(ctx, params)
        return await self.db.read(lambda conn: self.resolve_tx(conn, key, qualifier, route=route))

    async def resolve_for_invoke(self, ctx: RequestContext, params: dict[str, Any]) -> Resolved:
        """``resolve`` without a database read while nothing was written to ``lambda.db``.

        Aliases with routing weights are not cached: each invoke draws its version.
        """
        cache_key = (ctx.region, ctx.account_id, str(params.get("FunctionName")), params.get("Qualifier"))
        return await self.read_between_writes(
            self._resolved_cache,
            cache_key,
            lambda conn: self.resolve_tx(conn, *self.ref(ctx, params)),
            keep=lambda resolved: resolved.alias is None or not resolved.alias.weights,
        )

    async def read_between_writes(
        self,
        cache: dict[K, tuple[int, V]],
        key: K,
        read: Callable[[sqlite3.Connection], V],
        *,
        keep: Callable[[V], bool] | None = None,
    ) -> V:
        """``read``'s result, read again only after something was written to ``lambda.db``.

        The result is cached under the database's ``generation()`` taken before
        the read, and only when no write that may change it was in flight; it is
        used only while the generation is unchanged and nothing is in flight, so
        a write that lands before, during or after the read is never missed.
        Writes of the async queue alone (``invalidates=False``) keep the cache.
        ``read`` is a few indexed look-ups (it runs on the event loop through
        ``point_read``); an exception it raises is not cached, nor a result
        ``keep`` refuses.
        """
        generation = self.db.generation()
        if generation is not None:
            cached = cache.get(key)
            if cached is not None and cached[0] == generation:
                return cached[1]
        value = await self.db.point_read(read)
        if generation is not None and (keep is None or keep(value)):
            if len(cache) >= READ_CACHE_LIMIT:
                cache.clear()
            cache[key] = (generation, value)
        return value

    async def published(self, key: FnKey, version: str, endpoint: str) -> None:
        """Hook after ``PublishVersion`` created ``version`` (SnapStart prepares its snapshot)."""

    async def discard_pools(self, key: FnKey) -> None:
        """Drop warm environments so the next invoke sees the new code/config."""
        if self.engine is not None:
            await self.engine.discard(function_arn(key.region, key.account, key.name))


def pick_version(alias: AliasRecord) -> str:
    """The version an invoke through ``alias`` runs, by its routing weights."""
    if not alias.weights:
        return alias.function_version
    draw = random.random()
    for version, weight in alias.weights.items():
        if draw < weight:
            return version
        draw -= weight
    return alias.function_version
