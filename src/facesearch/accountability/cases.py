"""The case registry: the cases work is done under, who opened them and who may work on them.

A case has a number (the text users type, unique in its organisation), a title, an optional
legal basis, a status (open or closed) with who opened and closed it and when, and members
(user accounts). Opening, closing and adding a member are audit entries (``case_open``,
``case_close``, ``case_member_add``, each under the case's number) written in the same
transaction as the change; admins (``Permission.MANAGE_USERS``) make them, and an
investigator (``Permission.SEARCH``) opens a case of which they are a member.

The registry is "in use" once it holds a case (``in_use``); from then on work under a case
must name an open case of which the user is a member (``refusal``; the application layer
enforces and logs it). ``check_cases_against_trail`` (part of ``verify``) finds cases, states
and members that the trail does not record. Each organisation has its own registry (numbers
are unique within one, ``schema.py`` version 6); a new organisation enforces it from the
start (policy ``cases_required``), ``default`` once it holds a case. An actor works in the
registry of its own organisation; members are accounts of that organisation.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from facesearch.accountability.audit import AuditTrail
from facesearch.accountability.audit_entries import Action
from facesearch.accountability.audit_report import BreakKind, ChainBreak
from facesearch.accountability.db import Database, format_time, parse_time
from facesearch.accountability.dialect import by_name, name_is
from facesearch.accountability.permissions import DEFAULT_ORG, Actor, Permission, can, require
from facesearch.accountability.text_checks import MAX_CASE_CHARS, clean_text, required_text
from facesearch.accountability.users import current_actor, existing_user, maybe_time
from facesearch.errors import InputError, NotFoundError, PermissionDeniedError

__all__ = [
    "Case",
    "CaseCheck",
    "CaseRefusal",
    "CaseStatus",
    "Cases",
    "case_number",
    "check_cases_against_trail",
]

MAX_TITLE_CHARS = 200
MAX_LEGAL_BASIS_CHARS = 2000


class CaseStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class CaseRefusal(StrEnum):
    """Why work may not be done under a case (the ``reason`` of a ``case_refused`` entry)."""

    UNKNOWN = "unknown"  # no case of that number in the registry
    CLOSED = "closed"
    NOT_MEMBER = "not_member"

    def message(self, number: str, actor: str) -> str:
        return {
            CaseRefusal.UNKNOWN: (
                f"there is no case {number} in the case registry: check the number, or open "
                "the case first (an admin, or an investigator who will be its member)"
            ),
            CaseRefusal.CLOSED: f"case {number} is closed: no new work under it",
            CaseRefusal.NOT_MEMBER: (
                f"{actor} is not a member of case {number}: an admin adds members to a case"
            ),
        }[self]


@dataclass(frozen=True)
class Case:
    number: str
    title: str
    legal_basis: str | None
    status: CaseStatus
    opened_by: str
    opened_at: datetime
    closed_by: str | None
    closed_at: datetime | None
    members: tuple[str, ...]  # user names, in name order

    def as_json(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "title": self.title,
            "legal_basis": self.legal_basis,
            "status": self.status.value,
            "opened_by": self.opened_by,
            "opened_at": format_time(self.opened_at),
            "closed_by": self.closed_by,
            "closed_at": None if self.closed_at is None else format_time(self.closed_at),
            "members": list(self.members),
        }


@dataclass(frozen=True)
class CaseCheck:
    """What the registry said of work under a case number, read at once: why it is refused
    (None: it may be done), and whether the registry held a case of that number (a case
    opened later, while the work runs, was not the one it was checked against)."""

    refusal: CaseRefusal | None
    registered: bool


def case_number(number: str | None) -> str:
    """A case number as stored: trimmed, one line; InputError if empty or unusable."""
    return required_text(number, "the case number", MAX_CASE_CHARS, one_line=True)


# what follows a case number in the addresses of its pages (server routes/case_pages.py)
PAGE_SUFFIXES = ("report", "report.pdf", "timeline", "close", "members")


def addressable_number(number: str) -> str:
    """A new case's number, InputError unless it can name its pages: a number may hold "/"
    (2026/0042) but no empty, "." or ".." part, nor be "." or ".." (a browser rewrites those
    addresses), and must not end like a page of a case ("/report", "/timeline", ...)."""
    parts = number.split("/")
    if any(p in ("", ".", "..") for p in parts) or (
        len(parts) > 1 and parts[-1].lower() in PAGE_SUFFIXES
    ):
        raise InputError(
            f"case number {number!r}: a number must not be '.' or '..' nor have such a part "
            "or an empty one between '/'s, "
            f"and must not end in /{', /'.join(PAGE_SUFFIXES)} (its pages' addresses)"
        )
    return number


_COLUMNS = "id, number, title, legal_basis, status, opened_by, opened_at, closed_by, closed_at"


class Cases:
    """The case registry of one home (``store.cases``)."""

    def __init__(self, db: Database, audit: AuditTrail) -> None:
        self._db = db
        self._audit = audit

    def in_use(self, org: str = DEFAULT_ORG) -> bool:
        """Whether ``org``'s registry holds a case: from then on its cases are enforced."""
        with self._db.read() as conn:
            return _in_use(conn, _org_id(conn, org))

    def get(self, number: str, org: str = DEFAULT_ORG) -> Case:
        """The case of ``number`` in ``org``; NotFoundError if there is none."""
        with self._db.read() as conn:
            return _case_of(conn, _existing(conn, case_number(number), _org_id(conn, org)))

    def cases(self, org: str = DEFAULT_ORG, member: str | None = None) -> list[Case]:
        """Every case of ``org`` (``member``: those of that user), newest first."""
        with self._db.read() as conn:
            org_id = _org_id(conn, org)
            if member is None:
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM cases WHERE org_id = ? ORDER BY id DESC", (org_id,)
                ).fetchall()
            else:
                user_id = existing_user(conn, member)["id"]
                rows = conn.execute(
                    f"SELECT {_COLUMNS} FROM cases WHERE org_id = ? AND id IN "
                    "(SELECT case_id FROM case_members WHERE user_id = ?) ORDER BY id DESC",
                    (org_id, user_id),
                ).fetchall()
            return [_case_of(conn, row) for row in rows]

    def open(
        self,
        number: str,
        title: str,
        *,
        legal_basis: str | None = None,
        members: tuple[str, ...] = (),
        by: Actor,
    ) -> Case:
        """Open a new case with its first members; InputError if the number is taken. An
        admin opens any case; an investigator (who may search) opens one of which they are a
        member from the start."""
        number = addressable_number(case_number(number))
        title = required_text(title, "the title", MAX_TITLE_CHARS, one_line=True)
        basis = clean_text(legal_basis, "the legal basis", MAX_LEGAL_BASIS_CHARS, one_line=False)
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            if not can(actor.role, Permission.MANAGE_USERS) and not actor.is_local:
                require(actor, Permission.SEARCH)
                members = (actor.name, *members)
            org_id = _org_id(conn, _org_name(actor))
            if _row(conn, number, org_id) is not None:
                raise InputError(f"case {number} exists already")
            users = [_member_user(conn, name, org_id) for name in dict.fromkeys(members)]
            moment = format_time(self._db.now())
            conn.execute(
                "INSERT INTO cases (number, title, legal_basis, status, opened_by, opened_at, "
                "org_id) VALUES (?, ?, ?, 'open', ?, ?, ?)",
                (number, title, basis, actor.name, moment, org_id),
            )
            case_id = _existing(conn, number, org_id)["id"]
            for user in users:
                _insert_member(conn, case_id, user["id"], actor.name, moment)
            self._audit.append(
                actor=actor.name,
                action=Action.CASE_OPEN,
                case=number,
                payload={
                    "title": title,
                    "legal_basis": basis,
                    "members": sorted(u["name"] for u in users),
                },
                org=_org_name(actor),
            )
            return _case_of(conn, _existing(conn, number, org_id))

    def close(self, number: str, *, by: Actor) -> Case:
        """Close an open case: no new work under it. InputError if it is closed already."""
        number = case_number(number)
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            require(actor, Permission.MANAGE_USERS)
            org_id = _org_id(conn, _org_name(actor))
            row = _open_case(conn, number, org_id)
            conn.execute(
                "UPDATE cases SET status = 'closed', closed_by = ?, closed_at = ? WHERE id = ?",
                (actor.name, format_time(self._db.now()), row["id"]),
            )
            self._audit.append(
                actor=actor.name,
                action=Action.CASE_CLOSE,
                case=row["number"],
                payload={},
                org=_org_name(actor),
            )
            return _case_of(conn, _existing(conn, number, org_id))

    def add_member(self, number: str, name: str, *, by: Actor) -> Case:
        """Make user ``name`` a member of an open case (nothing changes, and nothing is
        logged, if they are one already)."""
        number = case_number(number)
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            require(actor, Permission.MANAGE_USERS)
            org_id = _org_id(conn, _org_name(actor))
            row = _open_case(conn, number, org_id)
            user = _member_user(conn, name, org_id)
            if not _is_member(conn, row["id"], user["id"]):
                moment = format_time(self._db.now())
                _insert_member(conn, row["id"], user["id"], actor.name, moment)
                self._audit.append(
                    actor=actor.name,
                    action=Action.CASE_MEMBER_ADD,
                    case=row["number"],
                    payload={"name": user["name"]},
                    org=_org_name(actor),
                )
            return _case_of(conn, _existing(conn, number, org_id))

    def refusal(self, number: str | None, actor: Actor) -> CaseRefusal | None:
        """Why ``actor`` may not work under case ``number`` (None: they may): ``check``."""
        return self.check(number, actor).refusal

    def check(self, number: str | None, actor: Actor) -> CaseCheck:
        """Why ``actor`` may not work under case ``number`` (``refusal``; None: they may),
        and whether the registry holds a case of that number, read in one go.

        The registry is that of the actor's organisation. Nothing is refused when no case is
        named (whether one must be is the caller's rule), nor while the registry is empty
        unless the organisation's policy ``cases_required`` holds (a new organisation's
        default; not ``default``'s). The local CLI actor (``os:<login>``) has no account to be
        a member with: it needs an open case, not membership.
        """
        if number is None:
            return CaseCheck(None, registered=False)
        with self._db.read() as conn:
            org_id = _org_id(conn, _org_name(actor))
            row = _row(conn, number, org_id)
            if row is None:
                required = _cases_required(conn, org_id) or _in_use(conn, org_id)
                return CaseCheck(CaseRefusal.UNKNOWN if required else None, registered=False)
            if row["status"] != CaseStatus.OPEN.value:
                return CaseCheck(CaseRefusal.CLOSED, registered=True)
            if actor.is_local:
                return CaseCheck(None, registered=True)
            user = conn.execute(
                "SELECT id FROM users WHERE id IN (SELECT user_id FROM case_members "
                f"WHERE case_id = ?) AND {name_is(conn, 'name')}",
                (row["id"], actor.name),
            ).fetchone()
            refusal = None if user is not None else CaseRefusal.NOT_MEMBER
            return CaseCheck(refusal, registered=True)


def _org_name(actor: Actor) -> str:
    """The organisation whose registry ``actor`` works in (the operator has none)."""
    if actor.org is None:
        raise PermissionDeniedError(f"{actor.name} belongs to no organisation and has no cases")
    return actor.org


def _org_id(conn: sqlite3.Connection, org: str) -> int:
    row = conn.execute(
        f"SELECT id FROM organisations WHERE {name_is(conn, 'name')}", (org,)
    ).fetchone()
    if row is None:
        raise NotFoundError(f"no organisation {org}")
    return int(row[0])


def _in_use(conn: sqlite3.Connection, org_id: int) -> bool:
    query = "SELECT EXISTS (SELECT 1 FROM cases WHERE org_id = ?)"
    return bool(conn.execute(query, (org_id,)).fetchone()[0])


def _cases_required(conn: sqlite3.Connection, org_id: int) -> bool:
    row = conn.execute("SELECT policies FROM organisations WHERE id = ?", (org_id,)).fetchone()
    try:
        policies = json.loads(row[0] or "{}")
    except (TypeError, ValueError):
        policies = {}
    return bool(policies.get("cases_required", True)) if isinstance(policies, dict) else True


def _member_user(conn: sqlite3.Connection, name: str, org_id: int) -> sqlite3.Row:
    """The account ``name`` of organisation ``org_id``; NotFoundError if there is none (an
    account of another organisation is not named to this one)."""
    row = existing_user(conn, name)
    if row["org_id"] != org_id:
        raise NotFoundError(f"no user {name}")
    return row


def _row(conn: sqlite3.Connection, number: str, org_id: int) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        f"SELECT {_COLUMNS} FROM cases WHERE number = ? AND org_id = ?", (number, org_id)
    ).fetchone()
    return row


def _existing(conn: sqlite3.Connection, number: str, org_id: int) -> sqlite3.Row:
    row = _row(conn, number, org_id)
    if row is None:
        raise NotFoundError(f"no case {number}")
    return row


def _open_case(conn: sqlite3.Connection, number: str, org_id: int) -> sqlite3.Row:
    row = _existing(conn, number, org_id)
    if row["status"] != CaseStatus.OPEN.value:
        raise InputError(f"case {number} is closed")
    return row


def _is_member(conn: sqlite3.Connection, case_id: int, user_id: int) -> bool:
    return (
        conn.execute(
            "SELECT 1 FROM case_members WHERE case_id = ? AND user_id = ?", (case_id, user_id)
        ).fetchone()
        is not None
    )


def _insert_member(
    conn: sqlite3.Connection, case_id: int, user_id: int, by: str, moment: str
) -> None:
    conn.execute(
        "INSERT INTO case_members (case_id, user_id, added_by, added_at) VALUES (?, ?, ?, ?)",
        (case_id, user_id, by, moment),
    )


def _member_names(conn: sqlite3.Connection, case_id: int) -> tuple[str, ...]:
    rows = conn.execute(
        "SELECT u.name FROM case_members m JOIN users u ON u.id = m.user_id "
        f"WHERE m.case_id = ? ORDER BY {by_name(conn, 'u.name')}",
        (case_id,),
    ).fetchall()
    return tuple(r["name"] for r in rows)


def _case_of(conn: sqlite3.Connection, row: sqlite3.Row) -> Case:
    return Case(
        number=row["number"],
        title=row["title"],
        legal_basis=row["legal_basis"],
        status=CaseStatus(row["status"]),
        opened_by=row["opened_by"],
        opened_at=parse_time(row["opened_at"]),
        closed_by=row["closed_by"],
        closed_at=maybe_time(row["closed_at"]),
        members=_member_names(conn, row["id"]),
    )


def check_cases_against_trail(conn: sqlite3.Connection) -> list[ChainBreak]:
    """Cases, closed states and members that the trail's case entries do not account for:
    an edit of the registry behind the library's back (e.g. a user made a member, a closed
    case opened again). The trail is replayed in seq order and compared with the tables."""
    # (org, number) -> (open seq, status, members)
    logged: dict[tuple[str, str], tuple[int, str, set[str]]] = {}
    rows = conn.execute(
        "SELECT seq, action, case_number, payload, org FROM audit_log "
        "WHERE action IN (?, ?, ?) ORDER BY seq",
        (Action.CASE_OPEN.value, Action.CASE_CLOSE.value, Action.CASE_MEMBER_ADD.value),
    )
    for row in rows:
        payload = json.loads(row["payload"])
        number = ((row["org"] or DEFAULT_ORG).lower(), row["case_number"])
        action = row["action"]
        if action == Action.CASE_OPEN.value:
            members = {str(m).lower() for m in payload.get("members", [])}
            logged[number] = (int(row["seq"]), CaseStatus.OPEN.value, members)
        elif number in logged and action == Action.CASE_CLOSE.value:
            logged[number] = (logged[number][0], CaseStatus.CLOSED.value, logged[number][2])
        elif number in logged:
            logged[number][2].add(str(payload.get("name", "")).lower())
    found: list[ChainBreak] = []
    cases = conn.execute(  # a case of no (or no existing) organisation is no one's: no entry
        "SELECT c.id, c.number, c.status, o.name AS org FROM cases c "
        "LEFT JOIN organisations o ON o.id = c.org_id ORDER BY c.id"
    ).fetchall()
    for row in cases:
        number = row["number"]
        key = None if row["org"] is None else (str(row["org"]).lower(), number)
        if key is None or key not in logged:
            found.append(_finding(None, f"case {number} has no case_open entry"))
            continue
        seq, status, members = logged[key]
        if status != row["status"]:
            found.append(_finding(seq, f"case {number} is {row['status']}, which no entry records"))
        for name in _member_names(conn, row["id"]):
            if name.lower() not in members:
                found.append(
                    _finding(seq, f"{name} is a member of case {number}, which no entry records")
                )
    return found


def _finding(seq: int | None, detail: str) -> ChainBreak:
    return ChainBreak(BreakKind.INDEX, seq, seq, detail)
