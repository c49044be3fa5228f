"""Amazon S3: buckets, objects, multipart uploads, versioning, configurations, notifications.
Uploads and downloads stream between the socket and disk; browser form uploads (POST Object,
which botocore's model does not list) are answered too.

Bytes live in files (temp file, then rename) — bodies of at most 3 KiB in their
SQLite row —, metadata in SQLite; see :mod:`.files` and :mod:`.schema`.  ``create_provider(hub)`` is what the hub calls.
"""

from cloudlet.services.s3.provider import S3Provider, create_provider
from cloudlet.services.s3.schema import MIGRATIONS

__all__ = ["MIGRATIONS", "S3Provider", "create_provider"]
