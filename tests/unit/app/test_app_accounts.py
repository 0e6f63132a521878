"""app.accounts and app.trail: who may manage accounts and read the trail, through the app."""

from __future__ import annotations

import io
import json

import pytest
from accountability_helpers import PW

from facesearch.accountability import AccountabilityStore, Action, Role, local_actor
from facesearch.app import accounts as app_accounts
from facesearch.app import trail
from facesearch.errors import PermissionDeniedError

LOCAL = local_actor("ops")


def test_the_local_actor_manages_accounts_and_every_change_is_logged(
    store: AccountabilityStore,
) -> None:
    app_accounts.add_user(store, LOCAL, "ana", Role.ADMIN, PW)
    app_accounts.add_user(store, LOCAL, "ivo", "investigator", PW)
    issued = app_accounts.issue_token(store, LOCAL, "ivo")
    app_accounts.disable_user(store, LOCAL, "ivo")

    listed = {a.user.name: a for a in app_accounts.list_accounts(store, LOCAL)}
    assert sorted(listed) == ["ana", "ivo"]
    assert listed["ivo"].user.disabled
    assert listed["ivo"].tokens[0].prefix == issued.info.prefix == issued.token[:10]
    assert listed["ivo"].live_tokens == 0  # disabling revoked it
    actions = [e.action for e in trail.audit_entries(store, LOCAL, limit=None)]
    assert actions[-4:] == ["user_add", "user_add", "token_issue", "user_disable"]
    assert {e.actor for e in trail.audit_entries(store, LOCAL, limit=None)} >= {LOCAL.name}


def test_an_investigator_manages_only_their_own_tokens(store: AccountabilityStore) -> None:
    app_accounts.add_user(store, LOCAL, "ana", Role.ADMIN, PW)
    ivo = app_accounts.add_user(store, LOCAL, "ivo", Role.INVESTIGATOR, PW)

    issued = app_accounts.issue_token(store, ivo, "ivo")
    assert [t.prefix for t in app_accounts.my_tokens(store, ivo)] == [issued.info.prefix]
    assert app_accounts.revoke_tokens(store, ivo, "ivo") == 1
    with pytest.raises(PermissionDeniedError):
        app_accounts.list_accounts(store, ivo)
    with pytest.raises(PermissionDeniedError):
        app_accounts.issue_token(store, ivo, "ana")
    with pytest.raises(PermissionDeniedError):
        app_accounts.disable_user(store, ivo, "ana")
    with pytest.raises(PermissionDeniedError):
        trail.audit_head(store, ivo)


def test_an_auditor_reads_verifies_and_exports_the_trail(store: AccountabilityStore) -> None:
    auditor = app_accounts.add_user(store, LOCAL, "aud", Role.AUDITOR, PW)
    with pytest.raises(PermissionDeniedError):
        app_accounts.list_accounts(store, auditor)

    assert trail.verify_audit(store, auditor).ok
    head = trail.audit_head(store, auditor)
    out = io.StringIO()
    where = trail.AuditFilter(action=trail.parse_action("user_add"))
    assert trail.export_audit(store, auditor, "jsonl", out, where) == 1
    assert json.loads(out.getvalue())["payload"]["name"] == "aud"
    export = trail.audit_entry(store, auditor, head.seq + 1)
    assert (export.action, export.actor) == (Action.EXPORT.value, "aud")
