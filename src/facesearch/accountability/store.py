"""``AccountabilityStore``: the accounts, audit trail, decisions and probes of one home."""

from __future__ import annotations

from pathlib import Path
from types import TracebackType

from argon2 import PasswordHasher

from facesearch.accountability.accounts import (
    AccountPolicy,
    Accounts,
    check_accounts_against_trail,
)
from facesearch.accountability.audit import AuditTrail
from facesearch.accountability.chain import AuditHead, AuditReport
from facesearch.accountability.db import FILENAME, Clock, Database
from facesearch.accountability.decisions import Decisions
from facesearch.accountability.probes import ProbeStore

__all__ = ["AccountabilityStore"]


class AccountabilityStore:
    """One ``accountability.sqlite`` in a facesearch home, and the four services over it.

    Open it once per process and share it between threads; close it when done (or use it as
    a context manager). Several processes may open the same file at once.
    """

    def __init__(self, db: Database, policy: AccountPolicy, hasher: PasswordHasher) -> None:
        self._db = db
        self.path = db.path
        self.audit = AuditTrail(db)
        self.accounts = Accounts(db, self.audit, policy, hasher)
        self.decisions = Decisions(db, self.audit)
        self.probes = ProbeStore(db, self.audit)

    @classmethod
    def open(
        cls,
        home: Path,
        *,
        clock: Clock | None = None,
        policy: AccountPolicy | None = None,
        hasher: PasswordHasher | None = None,
    ) -> AccountabilityStore:
        """Open (creating and migrating as needed) ``home / accountability.sqlite``.

        ``hasher`` defaults to argon2id with argon2-cffi's memory-hard defaults; tests pass a
        cheap one. ``clock`` returns the current time as an aware datetime (tests fake it).
        """
        db = Database.open(Path(home) / FILENAME, clock)
        return cls(db, policy or AccountPolicy(), hasher or PasswordHasher())

    def verify(self, expected_head: AuditHead | None = None) -> AuditReport:
        """The full check: the hash chain, its head and anchor, and the tables derived from
        it (decision index, accounts), all from one snapshot."""
        with self._db.read() as conn:
            report = self.audit.verify(expected_head)
            more = self.decisions.check_against_trail(conn) + check_accounts_against_trail(conn)
        return report.with_findings(more)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> AccountabilityStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
