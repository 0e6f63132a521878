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
from facesearch.accountability.chain import AuditHead, AuditReport, BreakKind
from facesearch.accountability.db import FILENAME, Clock, Database
from facesearch.accountability.decisions import Decisions
from facesearch.accountability.keying import Keyring, default_anchor_file, default_key_file
from facesearch.accountability.probes import ProbeStore
from facesearch.settings import Settings

__all__ = ["AccountabilityStore"]


class AccountabilityStore:
    """One ``accountability.sqlite`` in a facesearch home, and the four services over it.

    Open it once per process and share it between threads; close it when done (or use it as
    a context manager). Several processes may open the same file at once.
    """

    def __init__(
        self, db: Database, policy: AccountPolicy, hasher: PasswordHasher, keyring: Keyring
    ) -> None:
        self._db = db
        self.path = db.path
        self.audit = AuditTrail(db, keyring)
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
        key_file: Path | None = None,
        anchor_file: Path | None = None,
    ) -> AccountabilityStore:
        """Open (creating and migrating as needed) ``home / accountability.sqlite``.

        ``hasher`` defaults to argon2id with argon2-cffi's memory-hard defaults; tests pass a
        cheap one. ``clock`` returns the current time as an aware datetime (tests fake it).
        ``key_file`` and ``anchor_file`` are ``settings.audit_key_file`` and
        ``settings.audit_anchor_file`` (None: the defaults of ``keying.py``). A key file that
        others may read, or a keyed trail whose key is gone, is a ConfigError here.
        """
        home = Path(home)
        keyring = Keyring(
            Path(key_file) if key_file is not None else default_key_file(),
            Path(anchor_file) if anchor_file is not None else default_anchor_file(home),
        )
        db = Database.open(home / FILENAME, clock)
        try:
            store = cls(db, policy or AccountPolicy(), hasher or PasswordHasher(), keyring)
            store.audit.start_keying()
        except BaseException:
            db.close()
            raise
        return store

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        clock: Clock | None = None,
        policy: AccountPolicy | None = None,
        hasher: PasswordHasher | None = None,
    ) -> AccountabilityStore:
        """``open`` the home of ``settings`` with its audit key and anchor files."""
        return cls.open(
            settings.home,
            clock=clock,
            policy=policy,
            hasher=hasher,
            key_file=settings.audit_key_file,
            anchor_file=settings.audit_anchor_file,
        )

    def verify(
        self, expected_head: AuditHead | None = None, *, anchor_lost: bool = False
    ) -> AuditReport:
        """The full check: the hash chain and MACs, its head, the anchor file, the head
        written down by hand if given, and the tables derived from the trail (decision index,
        accounts), all from one snapshot.

        ``anchor_lost``: the anchor file is known to be gone or started over on purpose;
        report that as a warning, not a failure.
        """
        with self._db.read() as conn:
            report = self.audit.verify(expected_head)
            more = self.decisions.check_against_trail(conn) + check_accounts_against_trail(conn)
        report = report.with_findings(more)
        return report.accepting(BreakKind.ANCHOR_LOST) if anchor_lost else report

    def close(self) -> None:
        self.accounts.flush_token_use()  # last uses of API tokens noted since the last write
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
