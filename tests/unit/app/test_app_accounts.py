"""app.accounts and app.trail: who may manage accounts and read the trail, through the app."""

from __future__ import annotations

import io
import json

import pytest
from accountability_helpers import PW

from facesearch.accountability import AccountabilityStore, Action, Role, local_actor
from facesearch.app import accounts as app_accounts
from facesearch.app import trail
from facesearch.errors import InputError, PermissionDeniedError

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


def test_nobody_but_the_user_and_the_host_issues_a_user_s_token(
    store: AccountabilityStore,
) -> None:
    """An admin issued an investigator a token, saw it, and searched with it as them (admins
    may not search; the trail credited the investigator); the operator did so for any
    organisation's user."""
    store.orgs.add("south", by=LOCAL)
    ana = app_accounts.add_user(store, LOCAL, "ana", Role.ADMIN, PW)
    ivo = app_accounts.add_user(store, LOCAL, "ivo", Role.INVESTIGATOR, PW)
    op = app_accounts.add_user(store, LOCAL, "op", Role.OPERATOR, PW, org=None)
    for who in (ana, op):
        with pytest.raises(PermissionDeniedError, match="act as them"):
            app_accounts.issue_token(store, who, "ivo")
    assert app_accounts.tokens_of(store, ana, "ivo") == []
    assert app_accounts.issue_token(store, ana, "ana").name == "ana"  # one's own
    assert app_accounts.issue_token(store, LOCAL, "ivo").name == "ivo"  # the host
    assert app_accounts.revoke_tokens(store, ana, "ivo") == 1  # revoking stays an admin's
    assert ivo.role == Role.INVESTIGATOR


def test_the_operator_manages_admins_not_the_organisations_other_accounts(
    store: AccountabilityStore,
) -> None:
    """The operator "adds first admins" and reads no organisation's work, but set an
    investigator's password (then signed in as them) and added investigators."""
    store.orgs.add("south", by=LOCAL)
    op = app_accounts.add_user(store, LOCAL, "op", Role.OPERATOR, PW, org=None)
    app_accounts.add_user(store, LOCAL, "ivo", Role.INVESTIGATOR, PW, org="south")
    with pytest.raises(PermissionDeniedError, match="operator may not set a password"):
        app_accounts.set_password(store, op, "ivo", PW + "x")
    with pytest.raises(PermissionDeniedError, match="operator may not add"):
        app_accounts.add_user(store, op, "ina", Role.INVESTIGATOR, PW, org="south")
    with pytest.raises(InputError):  # not a role: a 422, not the 500 it was for the operator
        app_accounts.add_user(store, op, "ina", "Investigator", PW, org="south")
    app_accounts.add_user(store, op, "sam", Role.ADMIN, PW, org="south")  # a first admin
    app_accounts.set_password(store, op, "sam", PW + "y")  # an admin locked out
    app_accounts.set_password(store, op, "op", PW + "z")  # one's own
    app_accounts.disable_user(store, op, "ivo")  # cutting an account off stays possible


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
