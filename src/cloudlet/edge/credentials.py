"""Access keys the edge accepts, and the account each one belongs to.

The store is a plain dictionary keyed by access key id: authentication looks a
key up once per request and never scans.  Every store holds the documented
default pair ``test``/``test`` (account ``000000000000``) — it is what
``cloudlet up`` prints and what the test fixtures use — plus any further pairs
given in ``CLOUDLET_CREDENTIALS`` (``AKID:SECRET[:ACCOUNT],…``), each with its
own account so resources can be kept apart.  A spec entry that reuses the
default key id replaces the default secret.

Keys handed to running functions are registered at run time with ``add``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

_ACCOUNT_RE = re.compile(r"^\d{12}$")
# AWS access key ids are 16-128 word characters; we also allow the short
# ``test`` style ids local tools use, but not separators that break parsing.
_ACCESS_KEY_RE = re.compile(r"^[A-Za-z0-9_.+=@-]{1,128}$")


@dataclass(frozen=True)
class Credential:
    """One access key pair and the account it acts for."""

    access_key_id: str
    secret_access_key: str
    account_id: str


class CredentialStore:
    """Access key id → ``Credential``."""

    #: The documented default key pair and its account.
    DEFAULT = ("test", "test", "000000000000")

    def __init__(self, credentials: Iterable[Credential] = (Credential(*DEFAULT),)) -> None:
        self._by_key: dict[str, Credential] = {}
        for credential in credentials:
            self.add(credential)
        #: Account of anonymous callers (the first credential's, normally the default one).
        self.default_account_id = next(iter(self._by_key.values())).account_id if self._by_key else self.DEFAULT[2]

    @classmethod
    def from_spec(cls, spec: str | None) -> CredentialStore:
        """Build a store from ``AKID:SECRET[:ACCOUNT],…``; ``None`` or blank gives only the default pair.

        Raises ``ValueError`` naming the bad entry.
        """
        credentials: dict[str, Credential] = {cls.DEFAULT[0]: Credential(*cls.DEFAULT)}
        for entry in (spec or "").split(","):
            entry = entry.strip()
            if not entry:
                continue
            parts = entry.split(":")
            if len(parts) not in (2, 3) or not all(parts):
                raise ValueError(f"bad credential {entry!r}: expected ACCESS_KEY_ID:SECRET[:ACCOUNT_ID]")
            access_key_id, secret = parts[0], parts[1]
            account_id = parts[2] if len(parts) == 3 else cls.DEFAULT[2]
            if not _ACCESS_KEY_RE.match(access_key_id):
                raise ValueError(f"bad access key id {access_key_id!r}")
            if not _ACCOUNT_RE.match(account_id):
                raise ValueError(f"bad account id {account_id!r} for {access_key_id}: expected 12 digits")
            credentials[access_key_id] = Credential(access_key_id, secret, account_id)
        return cls(credentials.values())

    def get(self, access_key_id: str) -> Credential | None:
        return self._by_key.get(access_key_id)

    def add(self, credential: Credential) -> None:
        """Register (or replace) a key pair, e.g. the keys given to a function's workers."""
        self._by_key[credential.access_key_id] = credential

    def remove(self, access_key_id: str) -> None:
        self._by_key.pop(access_key_id, None)

    def __iter__(self) -> Iterator[Credential]:
        return iter(list(self._by_key.values()))

    def __len__(self) -> int:
        return len(self._by_key)

    def __contains__(self, access_key_id: object) -> bool:
        return access_key_id in self._by_key
