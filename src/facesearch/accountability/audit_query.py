"""The audit trail's queries: which entries an organisation owns, and the one parameterised
SELECT behind ``AuditTrail.entries``, ``count`` and ``export`` (``audit.py``)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from facesearch.accountability.audit_entries import Action
from facesearch.accountability.chain import AUDIT_COLUMNS
from facesearch.accountability.db import format_time
from facesearch.accountability.dialect import is_postgres, name_is, no_limit
from facesearch.accountability.permissions import DEFAULT_ORG
from facesearch.accountability.schema import PROBE_KEY
from facesearch.errors import InputError

__all__ = [
    "COLUMNS_WITH_MAC",
    "PLATFORM_ORG",
    "action_of",
    "canonical_org",
    "dialect_of",
    "entry_in_org",
    "org_clause",
    "select",
]


def action_of(action: Action | str) -> Action:
    try:
        return Action(action)
    except ValueError as exc:
        raise InputError(f"unknown audit action {action!r}") from exc


PLATFORM_ORG = "(platform)"  # the org of entries that belong to no organisation


def org_clause(org: str) -> tuple[str, list[Any]]:
    """SQL (and its arguments) picking the entries of organisation ``org``; the ``default``
    organisation also owns the entries written before organisations (org NULL)."""
    if org.lower() == DEFAULT_ORG:
        return "(org = ? OR org IS NULL)", [DEFAULT_ORG]
    return "org = ?", [org]


def entry_in_org(entry_org: str | None, org: str) -> bool:
    """Whether an entry whose org column holds ``entry_org`` belongs to ``org``."""
    if entry_org is None:
        return org.lower() == DEFAULT_ORG
    return entry_org.lower() == org.lower()


def dialect_of(conn: sqlite3.Connection) -> str:
    return "postgresql" if is_postgres(conn) else "sqlite"


def select(
    conn: sqlite3.Connection,
    org: str | None,
    actor: str | None,
    action: Action | None,
    case: str | None,
    since: datetime | None,
    until: datetime | None,
    limit: int | None,
    offset: int,
    probe: str | None = None,
    what: str = "",
    newest_first: bool = False,
    before: int | None = None,
    after: int | None = None,
) -> tuple[str, list[Any]]:
    """The parameterised SELECT behind entries(), count() and export() (``what``: the
    columns, default the entry's with its MAC; a count asks for no order or limit;
    ``newest_first``: in descending seq order; ``before``/``after``: only the entries whose
    seq is below/above it, a page's cursor that new entries do not shift)."""
    if (limit is not None and limit < 0) or offset < 0:
        raise InputError("limit and offset must not be negative")
    where: list[str] = []
    args: list[Any] = []
    if before is not None:
        where.append("seq < ?")
        args.append(int(before))
    if after is not None:
        where.append("seq > ?")
        args.append(int(after))
    if org is not None:
        clause, values = org_clause(canonical_org(conn, org))
        where.append(clause)
        args.extend(values)
    if actor is not None:
        where.append("actor = ?")
        args.append(actor)
    if action is not None:
        where.append("action = ?")
        args.append(action_of(action).value)
    if case is not None:
        where.append("case_number = ?")
        args.append(case)
    if since is not None:
        where.append("time >= ?")
        args.append(format_time(since))
    if until is not None:
        where.append("time < ?")
        args.append(format_time(until))
    if probe is not None:  # searches only, through their probe index (schema version 7)
        where.append(  # a subquery, so that the planner looks the probe up in its index
            "seq IN (SELECT seq FROM audit_log WHERE action = 'search' AND "
            f"{PROBE_KEY[dialect_of(conn)]} = ?)"
        )
        args.append(probe)
    sql = f"SELECT {what or COLUMNS_WITH_MAC} FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    if what:
        return sql, args
    sql += f" ORDER BY seq{' DESC' if newest_first else ''} LIMIT ? OFFSET ?"
    return sql, [*args, no_limit(conn) if limit is None else limit, offset]


COLUMNS_WITH_MAC = (
    f"{AUDIT_COLUMNS}, (SELECT mac FROM audit_mac m WHERE m.seq = audit_log.seq) AS mac"
)


def canonical_org(conn: sqlite3.Connection, org: str) -> str:
    """``org`` as the organisations table spells it (names ignore case; the trail stores the
    table's spelling); unchanged if there is no such organisation."""
    row = conn.execute(
        f"SELECT name FROM organisations WHERE {name_is(conn, 'name')}", (org,)
    ).fetchone()
    return org if row is None else str(row[0])
