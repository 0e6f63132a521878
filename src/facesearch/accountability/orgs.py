"""Organisations (agencies) on one deployment: their policies, quotas and collections.

An organisation has a name (the rules of a user name; names ignore case), a face quota (None:
no limit), and policies (``OrgPolicy``). Its users, cases and audit entries carry it; its
collections are those it first ingested into (``collection_owners``; a collection missing
there belongs to ``default``, the organisation a home from before organisations became). An
owner's admin may share a collection read-only with another organisation and withdraw it
again (``collection_grants``). Creating an organisation and changing its quota or policies
is the platform operator's (``Permission.MANAGE_ORGS``, ``SET_POLICY``), an organisation's
admin may change its policies too; each change is an audit entry in the same transaction.

Lookups are scoped by the callers (``app/orgs.py``): an organisation that an actor may not
see answers NotFoundError, exactly as one that does not exist.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass, field, fields, replace
from datetime import datetime
from typing import Any

from facesearch.accountability.audit import AuditTrail
from facesearch.accountability.audit_entries import Action
from facesearch.accountability.db import Database, format_time, parse_time
from facesearch.accountability.dialect import by_name, name_is
from facesearch.accountability.permissions import DEFAULT_ORG, Actor, Permission, Role, require
from facesearch.accountability.users import current_actor, is_valid_name
from facesearch.core.text import PLAIN_NAME_RULE
from facesearch.errors import InputError, NotFoundError, PermissionDeniedError

__all__ = ["OrgPolicy", "Organisation", "Organisations", "sees_all_orgs"]

_HOURS = "HH:MM-HH:MM"


@dataclass(frozen=True)
class OrgPolicy:
    """What an organisation decides for itself (defaults for a new one)."""

    two_person: bool = True  # a candidate is confirmed only by two different people
    max_fmr: float | None = 1e-3  # the loosest false match rate of a candidate shown (None: any)
    probe_retention_days: int | None = None  # None: the deployment's setting
    account_expiry_days: int | None = None  # an account unused this long stops signing in
    search_approval: bool = False  # a supervisor approves each search before it runs
    cases_required: bool = True  # every search names an open case of the registry
    working_hours: str = "07:00-19:00"  # in the organisation's time zone; alerts outside;
    # a start after the end is a night shift, past midnight (22:00-06:00)
    time_zone: str = "UTC"
    max_searches_per_day: int = 50  # an alert fires past this many by one user in a day

    def as_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OrgPolicy:
        known = {f.name for f in fields(cls)}
        return cls().with_changes({k: v for k, v in data.items() if k in known})

    def with_changes(self, changes: dict[str, Any]) -> OrgPolicy:
        """A copy with ``changes`` checked and applied; InputError naming a bad one."""
        known = {f.name: f for f in fields(self)}
        clean: dict[str, Any] = {}
        for key, value in changes.items():
            if key not in known:
                raise InputError(f"unknown policy {key!r}; policies: {', '.join(known)}")
            clean[key] = _checked(key, value)
        return replace(self, **clean)

    def hours(self) -> tuple[int, int]:
        """Working hours as minutes after midnight (start, end); start > end: past midnight."""
        start, end = self.working_hours.split("-")
        return _minutes(start), _minutes(end)

    def working_at(self, minute: int) -> bool:
        """Whether ``minute`` after midnight is within the working hours (start inclusive,
        end exclusive; a night shift such as 22:00-06:00 runs on past midnight)."""
        return within_hours(minute, *self.hours())


def within_hours(minute: int, start: int, end: int) -> bool:
    """Whether ``minute`` after midnight lies in [start, end) (minutes after midnight), a
    window with start > end running on past midnight."""
    if start < end:
        return start <= minute < end
    return minute >= start or minute < end


def _minutes(text: str) -> int:
    """Minutes after midnight of HH:MM (24:00 is the end of the day); ValueError otherwise."""
    hours, minutes = text.strip().split(":")
    h, m = int(hours), int(minutes)
    if not (0 <= h <= 24 and 0 <= m <= 59) or (h == 24 and m):
        raise ValueError(f"not a time of day: {text!r}")
    return h * 60 + m


def _checked(key: str, value: Any) -> Any:
    if key in ("two_person", "search_approval", "cases_required"):
        if isinstance(value, str) and value.lower() in ("true", "false", "on", "off"):
            return value.lower() in ("true", "on")
        if not isinstance(value, bool):
            raise InputError(f"policy {key} is true or false")
        return value
    if key == "max_fmr":
        if value is None or value == "":
            return None
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise InputError("policy max_fmr is a number between 1e-9 and 0.1") from exc
        if not 1e-9 <= number <= 0.1:
            raise InputError("policy max_fmr is a number between 1e-9 and 0.1")
        return number
    if key in ("probe_retention_days", "account_expiry_days", "max_searches_per_day"):
        if value is None or value == "":
            if key == "max_searches_per_day":
                raise InputError("policy max_searches_per_day is a whole number from 1")
            return None
        whole = isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit())
        if isinstance(value, bool) or not whole:
            raise InputError(f"policy {key} is a whole number from 1")
        number = int(value)
        if not 1 <= number <= 100_000:
            raise InputError(f"policy {key} is a whole number from 1 to 100000")
        return number
    if key == "working_hours":
        text = str(value).strip()
        try:
            start, end = text.split("-")
            a, b = _minutes(start), _minutes(end)
        except ValueError as exc:
            raise InputError(f"policy working_hours is {_HOURS}, e.g. 07:00-19:00") from exc
        if b == 0 and a > 0:  # an evening ending at midnight (18:00-00:00): 18:00-24:00
            b = 24 * 60
        if not (0 <= a < 24 * 60 and 0 < b <= 24 * 60 and a != b):
            raise InputError(
                f"policy working_hours is {_HOURS}: a start from 00:00 to 23:59 and a "
                "different end (a start after the end runs on past midnight, e.g. "
                "22:00-06:00; 00:00-24:00: all day)"
            )
        return f"{a // 60:02d}:{a % 60:02d}-{b // 60:02d}:{b % 60:02d}"
    if key == "time_zone":
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(str(value))
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise InputError(f"unknown time zone {value!r} (e.g. Europe/Berlin)") from exc
        return str(value)
    raise InputError(f"unknown policy {key!r}")  # pragma: no cover - callers check the key


CASES_HELD = "the registry holds cases"  # why cases are required whatever the policy says


@dataclass(frozen=True)
class Organisation:
    """An organisation; ``holds_cases``: its case registry holds a case (cases are never
    removed), which makes cases required whatever ``policy.cases_required`` says."""

    name: str
    created_by: str
    created_at: datetime
    quota_faces: int | None
    policy: OrgPolicy = field(default_factory=OrgPolicy)
    holds_cases: bool = False

    @property
    def cases_required(self) -> bool:
        """The rule in force: every search, verification and decision names an open case of
        the registry (the policy, or the registry holding a case: ``cases.refusal``)."""
        return self.policy.cases_required or self.holds_cases

    @property
    def cases_required_reason(self) -> str | None:
        if self.policy.cases_required:
            return "policy"
        return CASES_HELD if self.holds_cases else None

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created_by": self.created_by,
            "created_at": format_time(self.created_at),
            "quota_faces": self.quota_faces,
            "policy": self.policy.as_json(),
            "cases_required": self.cases_required,
            "cases_required_reason": self.cases_required_reason,
        }


def sees_all_orgs(actor: Actor) -> bool:
    """The platform operator and the local CLI user see every organisation's accounts."""
    return actor.is_local or actor.role == Role.OPERATOR


_COLUMNS = "id, name, created_by, created_at, quota_faces, policies"


class Organisations:
    """The organisations of a deployment (``store.orgs``) and who owns which collection."""

    def __init__(self, db: Database, audit: AuditTrail) -> None:
        self._db = db
        self._audit = audit

    # --- organisations ----------------------------------------------------------------------

    def get(self, name: str) -> Organisation:
        with self._db.read() as conn:
            return _org_of(conn, _existing(conn, name))

    def all(self) -> list[Organisation]:
        with self._db.read() as conn:
            order = by_name(conn, "name")
            rows = conn.execute(f"SELECT {_COLUMNS} FROM organisations ORDER BY {order}")
            return [_org_of(conn, row) for row in rows.fetchall()]

    def add(
        self,
        name: str,
        *,
        quota_faces: int | None = None,
        policy: dict[str, Any] | None = None,
        by: Actor,
    ) -> Organisation:
        """A new organisation; InputError if the name is taken (names ignore case)."""
        if not is_valid_name(name):
            raise InputError(f"an organisation name is {PLAIN_NAME_RULE}")
        _check_quota(quota_faces)
        chosen = OrgPolicy().with_changes(policy or {})
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            require_local_or(actor, Permission.MANAGE_ORGS)
            if _row(conn, name) is not None:
                raise InputError(f"organisation {name} exists already (names ignore case)")
            conn.execute(
                f"INSERT INTO organisations ({_COLUMNS.split(', ', 1)[1]}) VALUES (?, ?, ?, ?, ?)",
                (
                    name,
                    actor.name,
                    format_time(self._db.now()),
                    quota_faces,
                    json.dumps(chosen.as_json()),
                ),
            )
            self._audit.append(
                actor=actor.name,
                action=Action.ORG_ADD,
                payload={"name": name, "quota_faces": quota_faces, "policy": chosen.as_json()},
                org=name,
            )
            return _org_of(conn, _existing(conn, name))

    def change(
        self,
        name: str,
        *,
        policy: dict[str, Any] | None = None,
        quota_faces: int | str | None = "unchanged",
        by: Actor,
    ) -> Organisation:
        """Change policies (an admin of ``name`` or the operator) and the quota (the operator:
        ``quota_faces`` None removes it)."""
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            row = _existing(conn, name)
            org = _org_of(conn, row)
            if not sees_all_orgs(actor):
                if actor.org is None or actor.org.lower() != org.name.lower():
                    raise NotFoundError(f"no organisation {name}")
                require(actor, Permission.SET_POLICY)
            changes: dict[str, Any] = {}
            new_policy = org.policy.with_changes(policy or {})
            if "cases_required" in (policy or {}) and not new_policy.cases_required:
                _check_cases_optional(org)
            if new_policy != org.policy:
                changes["policy"] = {
                    "old": org.policy.as_json(),
                    "new": new_policy.as_json(),
                }
            new_quota = org.quota_faces
            if quota_faces != "unchanged":
                require_local_or(actor, Permission.MANAGE_ORGS)
                _check_quota(quota_faces)  # InputError for anything but a count or None
                new_quota = quota_faces if not isinstance(quota_faces, str) else None
                if new_quota != org.quota_faces:
                    changes["quota_faces"] = {"old": org.quota_faces, "new": new_quota}
            if changes:
                conn.execute(
                    "UPDATE organisations SET policies = ?, quota_faces = ? WHERE id = ?",
                    (json.dumps(new_policy.as_json()), new_quota, row["id"]),
                )
                self._audit.append(
                    actor=actor.name,
                    action=Action.ORG_SET,
                    payload={"name": org.name, **changes},
                    org=org.name,
                )
            return _org_of(conn, _existing(conn, name))

    # --- collections ------------------------------------------------------------------------

    def owner(self, collection: str) -> str:
        """The organisation owning ``collection`` (``default`` if none claimed it)."""
        with self._db.read() as conn:
            return _owner(conn, collection)

    def claim(self, collection: str, org: str, *, by: Actor) -> None:
        """Make ``org`` the owner of ``collection`` unless someone owns it already (the first
        ingest into a new collection); PermissionDeniedError if another organisation does."""
        with self._db.write() as conn:
            org_row = _existing(conn, org)
            row = conn.execute(
                "SELECT o.name FROM collection_owners c JOIN organisations o ON o.id = c.org_id "
                "WHERE c.collection = ?",
                (collection,),
            ).fetchone()
            if row is not None:
                if str(row[0]).lower() != org.lower():
                    raise PermissionDeniedError(
                        f"collection {collection} belongs to another organisation; "
                        "choose another collection name"
                    )
                return
            conn.execute(
                "INSERT INTO collection_owners (collection, org_id, claimed_at) VALUES (?, ?, ?)",
                (collection, org_row["id"], format_time(self._db.now())),
            )
            self._audit.append(
                actor=by.name,
                action=Action.COLLECTION_CLAIM,
                payload={"collection": collection},
                org=org_row["name"],
            )

    def grant(self, collection: str, to: str, *, by: Actor) -> bool:
        """Share ``collection`` read-only with organisation ``to``; False if it was already."""
        return self._change_grant(collection, to, by, grant=True)

    def withdraw(self, collection: str, to: str, *, by: Actor) -> bool:
        """Withdraw a share; False if there was none."""
        return self._change_grant(collection, to, by, grant=False)

    def _change_grant(self, collection: str, to: str, by: Actor, *, grant: bool) -> bool:
        with self._db.write() as conn:
            actor = current_actor(conn, by)
            if not actor.is_local:
                require(actor, Permission.SHARE)
            owner = _owner(conn, collection)
            if actor.org is None or owner.lower() != actor.org.lower():
                raise NotFoundError(f"no collection {collection}")
            target = _existing(conn, to)
            if target["name"].lower() == owner.lower():
                raise InputError("a collection is not shared with its own organisation")
            held = conn.execute(
                "SELECT 1 FROM collection_grants WHERE collection = ? AND org_id = ?",
                (collection, target["id"]),
            ).fetchone()
            if grant == (held is not None):
                return False
            if grant:
                conn.execute(
                    "INSERT INTO collection_grants (collection, org_id, granted_by, granted_at) "
                    "VALUES (?, ?, ?, ?)",
                    (collection, target["id"], actor.name, format_time(self._db.now())),
                )
            else:
                conn.execute(
                    "DELETE FROM collection_grants WHERE collection = ? AND org_id = ?",
                    (collection, target["id"]),
                )
            action = Action.COLLECTION_GRANT if grant else Action.COLLECTION_WITHDRAW
            payload = {"collection": collection, ("to" if grant else "from"): target["name"]}
            self._audit.append(actor=actor.name, action=action, payload=payload, org=owner)
            return True

    def owned(self, org: str) -> set[str]:
        """The collections ``org`` claimed (``default``: see ``visible``)."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT c.collection FROM collection_owners c JOIN organisations o "
                f"ON o.id = c.org_id WHERE {name_is(conn, 'o.name')}",
                (org,),
            ).fetchall()
            return {r[0] for r in rows}

    def granted(self, org: str) -> dict[str, str]:
        """The collections shared with ``org``: collection -> owning organisation."""
        with self._db.read() as conn:
            rows = conn.execute(
                "SELECT g.collection FROM collection_grants g JOIN organisations o "
                f"ON o.id = g.org_id WHERE {name_is(conn, 'o.name')}",
                (org,),
            ).fetchall()
            return {r[0]: _owner(conn, r[0]) for r in rows}

    def claimed(self) -> set[str]:
        """Every collection some organisation claimed."""
        with self._db.read() as conn:
            return {r[0] for r in conn.execute("SELECT collection FROM collection_owners")}

    def forget_collection(self, collection: str) -> None:
        """Drop the ownership and grants of a collection that was erased."""
        with self._db.write() as conn:
            conn.execute("DELETE FROM collection_grants WHERE collection = ?", (collection,))
            conn.execute("DELETE FROM collection_owners WHERE collection = ?", (collection,))


def require_local_or(actor: Actor, permission: Permission) -> None:
    if not actor.is_local:
        require(actor, permission)


def _check_cases_optional(org: Organisation) -> None:
    """InputError when ``cases_required=false`` could not switch the rule off: once the
    registry holds a case (and cases are never removed) every search names one of them."""
    if org.holds_cases:
        raise InputError(
            f"cases_required=false cannot take effect: the case registry of {org.name} holds "
            "cases, and once it does every search, verification and decision names an open "
            "case of it whatever the policy says (cases are closed, never removed)"
        )


def _check_quota(quota: object) -> None:
    if quota is None:
        return
    if isinstance(quota, bool) or not isinstance(quota, int) or not 0 <= quota <= 10**12:
        raise InputError("a face quota is a whole number from 0 (or none)")


def _row(conn: sqlite3.Connection, name: str) -> sqlite3.Row | None:
    row: sqlite3.Row | None = conn.execute(
        f"SELECT {_COLUMNS} FROM organisations WHERE {name_is(conn, 'name')}", (name,)
    ).fetchone()
    return row


def _existing(conn: sqlite3.Connection, name: str) -> sqlite3.Row:
    row = _row(conn, name)
    if row is None:
        raise NotFoundError(f"no organisation {name}")
    return row


def _owner(conn: sqlite3.Connection, collection: str) -> str:
    row = conn.execute(
        "SELECT o.name FROM collection_owners c JOIN organisations o ON o.id = c.org_id "
        "WHERE c.collection = ?",
        (collection,),
    ).fetchone()
    return DEFAULT_ORG if row is None else str(row[0])


def _org_of(conn: sqlite3.Connection, row: sqlite3.Row) -> Organisation:
    try:
        stored = json.loads(row["policies"] or "{}")
    except ValueError:
        stored = {}
    return Organisation(
        name=row["name"],
        created_by=row["created_by"],
        created_at=parse_time(row["created_at"]),
        quota_faces=None if row["quota_faces"] is None else int(row["quota_faces"]),
        policy=OrgPolicy.from_json(stored if isinstance(stored, dict) else {}),
        holds_cases=bool(
            conn.execute(
                "SELECT EXISTS (SELECT 1 FROM cases WHERE org_id = ?)", (row["id"],)
            ).fetchone()[0]
        ),
    )
