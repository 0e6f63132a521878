"""``check_orgs_against_trail`` (part of ``verify``): organisations, their quotas and policies,
collection owners and shares that the trail's entries do not record -- an edit of the file
that would, say, switch off an organisation's two-person rule, lift its quota, or share a
collection with another organisation behind the library's back.

The trail is replayed in seq order: ``org_add`` and ``org_set`` give each organisation's quota
and policies (``default`` starts from what the migration wrote, ``DEFAULT_ORG_POLICIES``),
the last ``collection_claim`` of a collection its owner, and ``collection_grant`` and
``collection_withdraw`` its shares. Only rows the trail does not explain are findings: rows
dropped with an erased collection (``Organisations.forget_collection``) are not.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from facesearch.accountability.audit_entries import Action
from facesearch.accountability.audit_report import BreakKind, ChainBreak
from facesearch.accountability.orgs import OrgPolicy
from facesearch.accountability.permissions import DEFAULT_ORG
from facesearch.accountability.schema import DEFAULT_ORG_POLICIES
from facesearch.errors import InputError

__all__ = ["check_orgs_against_trail"]

_ACTIONS = (
    Action.ORG_ADD,
    Action.ORG_SET,
    Action.COLLECTION_CLAIM,
    Action.COLLECTION_GRANT,
    Action.COLLECTION_WITHDRAW,
)


@dataclass
class _Logged:
    """What the trail says of one organisation: its quota, its policies and the entry."""

    seq: int | None
    quota: Any
    policy: OrgPolicy | None  # None: its entry holds no readable policy


@dataclass
class _Replay:
    orgs: dict[str, _Logged]  # by lower-case name
    owners: dict[str, tuple[int, str]]  # collection -> (seq, owning org, lower case)
    shares: dict[tuple[str, str], int | None]  # (collection, org) -> grant seq; None: withdrawn


def check_orgs_against_trail(conn: sqlite3.Connection) -> list[ChainBreak]:
    """Organisations, collection owners and shares that the trail's entries do not record."""
    replay = _replay(conn)
    return _check_orgs(conn, replay) + _check_owners(conn, replay) + _check_shares(conn, replay)


def _policy(data: Any) -> OrgPolicy | None:
    try:
        return OrgPolicy.from_json(data) if isinstance(data, dict) else None
    except InputError:
        return None


def _replay(conn: sqlite3.Connection) -> _Replay:
    default = _Logged(None, None, _policy(json.loads(DEFAULT_ORG_POLICIES)))
    replay = _Replay({DEFAULT_ORG: default}, {}, {})
    marks = ", ".join("?" for _ in _ACTIONS)
    rows = conn.execute(
        f"SELECT seq, action, payload, org FROM audit_log WHERE action IN ({marks}) ORDER BY seq",
        tuple(a.value for a in _ACTIONS),
    )
    for row in rows:
        seq, action = int(row["seq"]), row["action"]
        payload = json.loads(row["payload"])
        if not isinstance(payload, dict):
            continue
        name = str(payload.get("name", "")).lower()
        collection = str(payload.get("collection", ""))
        if action == Action.ORG_ADD.value:
            replay.orgs[name] = _Logged(
                seq, payload.get("quota_faces"), _policy(payload.get("policy"))
            )
        elif action == Action.ORG_SET.value and name in replay.orgs:
            logged = replay.orgs[name]
            logged.seq = seq
            if isinstance(payload.get("quota_faces"), dict):
                logged.quota = payload["quota_faces"].get("new")
            if isinstance(payload.get("policy"), dict):
                logged.policy = _policy(payload["policy"].get("new"))
        elif action == Action.COLLECTION_CLAIM.value:
            replay.owners[collection] = (seq, str(row["org"] or DEFAULT_ORG).lower())
        elif action == Action.COLLECTION_GRANT.value:
            replay.shares[(collection, str(payload.get("to", "")).lower())] = seq
        else:
            replay.shares[(collection, str(payload.get("from", "")).lower())] = None
    return replay


def _check_orgs(conn: sqlite3.Connection, replay: _Replay) -> list[ChainBreak]:
    found: list[ChainBreak] = []
    rows = conn.execute("SELECT name, quota_faces, policies FROM organisations ORDER BY name")
    for row in rows.fetchall():
        name = row["name"]
        logged = replay.orgs.get(name.lower())
        if logged is None:
            found.append(_finding(None, f"organisation {name} has no org_add entry"))
            continue
        if row["quota_faces"] != logged.quota:
            found.append(
                _finding(
                    logged.seq,
                    f"organisation {name}'s face quota is {_words(row['quota_faces'])}, "
                    f"but its entries record {_words(logged.quota)}",
                )
            )
        try:
            stored = _policy(json.loads(row["policies"] or "{}"))
        except ValueError:
            stored = None
        if stored is None or logged.policy is None or stored != logged.policy:
            differ = _differences(stored, logged.policy)
            found.append(
                _finding(
                    logged.seq,
                    f"organisation {name}'s policies are not those its entries record ({differ})",
                )
            )
    return found


def _check_owners(conn: sqlite3.Connection, replay: _Replay) -> list[ChainBreak]:
    def explained(collection: str, owner: str | None) -> tuple[bool, int | None]:
        seq, logged = replay.owners.get(collection, (None, None))
        return owner is not None and owner.lower() == logged, seq

    return _unexplained(
        conn,
        "SELECT c.collection, o.name FROM collection_owners c "
        "LEFT JOIN organisations o ON o.id = c.org_id ORDER BY c.collection",
        explained,
        "collection {collection} belongs to {org}, which no collection_claim entry records",
    )


def _check_shares(conn: sqlite3.Connection, replay: _Replay) -> list[ChainBreak]:
    def explained(collection: str, org: str | None) -> tuple[bool, int | None]:
        seq = None if org is None else replay.shares.get((collection, org.lower()))
        return seq is not None, seq

    return _unexplained(
        conn,
        "SELECT g.collection, o.name FROM collection_grants g "
        "LEFT JOIN organisations o ON o.id = g.org_id ORDER BY g.collection, o.name",
        explained,
        "collection {collection} is shared with {org}, which no collection_grant entry records",
    )


def _unexplained(
    conn: sqlite3.Connection,
    query: str,
    explained: Callable[[str, str | None], tuple[bool, int | None]],
    detail: str,
) -> list[ChainBreak]:
    """A finding (``detail``) for each (collection, organisation) row of ``query`` that the
    replayed trail does not explain."""
    found: list[ChainBreak] = []
    for collection, org in (tuple(row) for row in conn.execute(query).fetchall()):
        ok, seq = explained(collection, org)
        if not ok:
            found.append(_finding(seq, detail.format(collection=collection, org=_words(org))))
    return found


def _differences(stored: OrgPolicy | None, logged: OrgPolicy | None) -> str:
    if stored is None or logged is None:
        return "unreadable"
    names = [
        f.name for f in fields(OrgPolicy) if getattr(stored, f.name) != getattr(logged, f.name)
    ]
    return ", ".join(names)


def _words(value: Any) -> str:
    return "none" if value is None else str(value)


def _finding(seq: int | None, detail: str) -> ChainBreak:
    return ChainBreak(BreakKind.INDEX, seq, seq, detail)
