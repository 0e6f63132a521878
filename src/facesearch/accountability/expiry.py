"""Account expiry: an account of an organisation whose policy sets ``account_expiry_days``
stops signing in with its password once it has not been used for that many days.

Used means the last of: the account made, a password login, an API token used, its password
set or the account enabled again (so an admin revives an expired account by setting a new
password, an audit entry). Nothing is written to mark an expiry: it is read
from the trail and the tokens at each login (``logins.py``), which logs the refusal
(``login_failed``, reason ``expired``).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta

from facesearch.accountability.audit_entries import Action
from facesearch.accountability.db import parse_time
from facesearch.accountability.dialect import json_text, name_is

__all__ = ["expiry_of"]


def _days(conn: sqlite3.Connection, org_id: int | None) -> int | None:
    if org_id is None:
        return None
    row = conn.execute("SELECT policies FROM organisations WHERE id = ?", (org_id,)).fetchone()
    try:
        days = json.loads(row[0] or "{}").get("account_expiry_days") if row else None
    except (TypeError, ValueError, AttributeError):
        return None
    return int(days) if isinstance(days, int) and not isinstance(days, bool) and days > 0 else None


def _last_used(conn: sqlite3.Connection, user: sqlite3.Row) -> datetime:
    times = [user["created_at"]]
    login = conn.execute(
        f"SELECT max(time) FROM audit_log WHERE action = ? AND {name_is(conn, 'actor')}",
        (Action.LOGIN.value, user["name"]),
    ).fetchone()[0]
    revived = conn.execute(
        f"SELECT max(time) FROM audit_log WHERE action IN (?, ?) AND "
        f"{name_is(conn, json_text(conn, 'payload', 'name'))}",
        (Action.USER_ENABLE.value, Action.PASSWORD_SET.value, user["name"]),
    ).fetchone()[0]
    token = conn.execute(
        "SELECT max(last_used_at) FROM api_tokens WHERE user_id = ?", (user["id"],)
    ).fetchone()[0]
    times += [t for t in (login, revived, token) if t]
    return max(parse_time(t) for t in times)


def expiry_of(conn: sqlite3.Connection, user: sqlite3.Row, now: datetime) -> int | None:
    """The policy's days if the account of ``user`` (a row of ``users.USER_COLUMNS``) has
    expired at ``now``; None if it has not (or its organisation sets no expiry)."""
    days = _days(conn, user["org_id"])
    if days is None or now - _last_used(conn, user) <= timedelta(days=days):
        return None
    return days
