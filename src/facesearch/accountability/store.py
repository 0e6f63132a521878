"""``AccountabilityStore``: the accounts, audit trail, decisions and probes of one home."""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

from argon2 import PasswordHasher

from facesearch.accountability.accounts import Accounts, check_accounts_against_trail
from facesearch.accountability.audit import AuditTrail
from facesearch.accountability.audit_report import AuditReport, BreakKind, ChainBreak
from facesearch.accountability.cases import Cases, check_cases_against_trail
from facesearch.accountability.chain import AuditHead
from facesearch.accountability.db import FILENAME, Clock, Database
from facesearch.accountability.decisions import Decisions
from facesearch.accountability.keying import Keyring, default_anchor_file, default_key_file
from facesearch.accountability.org_check import check_orgs_against_trail
from facesearch.accountability.orgs import Organisations
from facesearch.accountability.policy import AccountPolicy
from facesearch.accountability.probes import ProbeStore
from facesearch.errors import ConfigError, FaceSearchError
from facesearch.settings import Settings
from facesearch.sqlstore import database_target
from facesearch.types import Closing

log = logging.getLogger(__name__)

__all__ = ["AccountabilityStore", "account_policy", "audit_files"]


def account_policy(settings: Settings) -> AccountPolicy:
    """The account rules of the settings (password strength, lockout, session and token
    lifetimes); ConfigError naming the setting if one is out of range."""
    try:
        return AccountPolicy(
            min_password_length=settings.accounts.min_password_length,
            min_password_score=settings.accounts.min_password_score,
            max_failures=settings.accounts.login_max_failures,
            session_idle=timedelta(minutes=settings.accounts.session_idle_minutes),
            session_lifetime=timedelta(hours=settings.accounts.session_lifetime_hours),
            token_lifetime=(
                timedelta(days=settings.accounts.token_lifetime_days)
                if settings.accounts.token_lifetime_days
                else None
            ),
        )
    except FaceSearchError as exc:
        raise ConfigError(f"account settings: {exc}") from exc


def audit_files(settings: Settings) -> tuple[Path, Path]:
    """The audit key file and the anchor file the home of ``settings`` is opened with: the
    settings, else the defaults of ``keying.py`` (which follow this process's HOME and XDG
    variables, so a server run as another user looks elsewhere unless both are set)."""
    key = settings.audit.key_file or default_key_file()
    anchor = settings.audit.anchor_file or default_anchor_file(settings.home)
    return Path(key).expanduser(), Path(anchor).expanduser()


class AccountabilityStore(Closing):
    """The accounts, trail, decisions and probes of a home, and the four services over them:
    ``accountability.sqlite`` in the home, or the schema ``facesearch_accountability`` of
    the PostgreSQL database of ``database_url``, shared by every replica.

    Open it once per process and share it between threads; close it when done (or use it as
    a context manager). Several processes (replicas) may open the same store at once.
    """

    def __init__(
        self, db: Database, policy: AccountPolicy, hasher: PasswordHasher, keyring: Keyring
    ) -> None:
        self.db = db  # transactions: a write() around several calls makes them one
        self.path = db.path
        self.audit = AuditTrail(db, keyring)
        self.accounts = Accounts(db, self.audit, policy, hasher)
        self.decisions = Decisions(db, self.audit)
        self.probes = ProbeStore(db, self.audit)
        self.cases = Cases(db, self.audit)
        self.orgs = Organisations(db, self.audit)

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
        database_url: str = "",
    ) -> AccountabilityStore:
        """Open (creating and migrating as needed) ``home / accountability.sqlite``, or with
        ``database_url`` (``settings.database_url``) that PostgreSQL database's schema.

        ``hasher`` defaults to argon2id with argon2-cffi's memory-hard defaults; tests pass a
        cheap one. ``clock`` returns the current time as an aware datetime (tests fake it).
        ``key_file`` and ``anchor_file`` are ``settings.audit.key_file`` and
        ``settings.audit.anchor_file`` (None: the defaults of ``keying.py``). A key file that
        others may read, or a keyed trail whose key is gone, is a ConfigError here.
        """
        home = Path(home)
        keyring = Keyring(
            Path(key_file) if key_file is not None else default_key_file(),
            Path(anchor_file) if anchor_file is not None else default_anchor_file(home),
        )
        if database_target(database_url).is_postgres:
            db = Database.open_postgres(database_url, home / FILENAME, clock)
        else:
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
        hasher: PasswordHasher | None = None,
    ) -> AccountabilityStore:
        """``open`` the home of ``settings`` with its account policy (``account_policy``)
        its audit key and anchor files (``audit_files``) and its ``database_url``: what every
        CLI command and the server use."""
        key_file, anchor_file = audit_files(settings)
        return cls.open(
            settings.home,
            clock=clock,
            policy=account_policy(settings),
            hasher=hasher,
            key_file=key_file,
            anchor_file=anchor_file,
            database_url=settings.database_url,
        )

    def verify(
        self, expected_head: AuditHead | None = None, *, anchor_lost: bool = False
    ) -> AuditReport:
        """The full check: the hash chain and MACs, its head, the anchor file, the head
        written down by hand if given, and the tables derived from the trail (decision index,
        accounts, case registry, organisations and their collections), all from one snapshot.

        ``anchor_lost``: the anchor file is known to be gone or started over on purpose;
        report that as a warning, not a failure.
        """
        checks = (
            ("the decision index", self.decisions.check_against_trail),
            ("the accounts", check_accounts_against_trail),
            ("the case registry", check_cases_against_trail),
            ("the organisations", check_orgs_against_trail),
        )
        with self.db.read() as conn:
            report = self.audit.verify(expected_head)
            more = [finding for what, check in checks for finding in _derived(what, check, conn)]
        report = report.with_findings(more)
        return report.accepting(BreakKind.ANCHOR_LOST) if anchor_lost else report

    def close(self) -> None:
        self.accounts.flush_token_use()  # last uses of API tokens noted since the last write
        self.db.close()


def _derived(
    what: str, check: Callable[[sqlite3.Connection], list[ChainBreak]], conn: sqlite3.Connection
) -> list[ChainBreak]:
    """The findings of one check of a table derived from the trail; a finding, not a crash,
    when the database cannot read the payloads it reads in SQL (an entry's payload edited
    into text that is not JSON: the chain pass names that entry)."""
    try:
        return check(conn)
    except Exception as exc:  # sqlite3 "malformed JSON", PostgreSQL's invalid json input
        log.warning("audit verify: %s could not be checked: %s", what, exc)
        return [
            ChainBreak(
                BreakKind.INDEX,
                None,
                None,
                f"{what} could not be checked against the trail: the database cannot read "
                f"its payloads ({str(exc)[:200]}); an entry was edited (see above)",
            )
        ]
