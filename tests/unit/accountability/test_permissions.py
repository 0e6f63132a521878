"""Roles and permissions: the one table, and the local CLI actor."""

from __future__ import annotations

import pytest

from facesearch.accountability import (
    PERMISSIONS,
    Actor,
    Permission,
    Role,
    can,
    local_actor,
    require,
)
from facesearch.errors import (
    PermissionDeniedError,
)

# --- roles and permissions --------------------------------------------------------------------


def test_permission_table():
    assert {p for p in Permission if can(Role.AUDITOR, p)} == {Permission.READ_AUDIT}
    assert {p for p in Permission if can(Role.INVESTIGATOR, p)} == {
        Permission.SEARCH,
        Permission.VERIFY,
        Permission.DECIDE,
        Permission.READ_GALLERY,
        Permission.CURATE,
    }
    admin = {p for p in Permission if can(Role.ADMIN, p)}
    assert {Permission.MANAGE_USERS, Permission.INGEST, Permission.ERASE} <= admin
    assert Permission.MANAGE_SETTINGS in admin and Permission.DECIDE in admin
    assert Permission.SEARCH not in admin and Permission.READ_AUDIT in admin
    assert Permission.CURATE in admin
    assert set(PERMISSIONS) == set(Role)
    assert set().union(*PERMISSIONS.values()) == set(Permission)  # every permission is used
    require(Actor("x", Role.AUDITOR), Permission.READ_AUDIT)
    with pytest.raises(PermissionDeniedError, match="may not erase"):
        require(Actor("x", Role.INVESTIGATOR), Permission.ERASE)


def test_local_actor():
    me = local_actor("jo")
    assert me == Actor("os:jo", Role.ADMIN) and me.is_local
    assert local_actor().name.startswith("os:")
