"""What the approval tests share: the password, the local user, a case and purpose, and an
organisation ("default") whose policy asks for approval, with its supervisors."""

from __future__ import annotations

from typing import Any

from facesearch.accountability import AccountabilityStore, Actor, Role, local_actor

PW = "correct-horse-battery-staple"
ME = local_actor("tester")
USE: dict[str, Any] = {"case": "K-7", "purpose": "armed robbery, 3 May"}


def approvals_on(store: AccountabilityStore, *names: str) -> list[Actor]:
    """Turn search approval on in ``default`` and add its supervisors ``names`` (sup1 when
    none is named)."""
    store.orgs.change("default", policy={"search_approval": True}, by=ME)
    return [
        store.accounts.add_user(name, Role.SUPERVISOR, PW, by=ME) for name in names or ("sup1",)
    ]
