"""CloudWatch Logs: log groups, streams and events in SQLite.

``MIGRATIONS`` is the schema of ``logs.db``; ``LogsStore`` is its only user
(and what Lambda calls to write function logs); ``LogsProvider`` serves the
API operations over the store.  ``filters`` compiles filter patterns.
"""

from cloudlet.services.logs.provider import LogsProvider
from cloudlet.services.logs.schema import MIGRATIONS
from cloudlet.services.logs.store import LogsStore

__all__ = ["MIGRATIONS", "LogsProvider", "LogsStore"]
