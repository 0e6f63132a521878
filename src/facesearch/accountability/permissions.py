"""Roles, permissions and actors: who may do what, decided in one place.

Roles and what they may do are written down once, in ``PERMISSIONS``; ``can(role,
permission)`` and ``require(actor, permission)`` read it and nothing else decides.

Actors: a function acting on someone's behalf takes ``by: Actor``. A ``User`` (``users.py``)
comes from ``check_password``, ``user_for_token`` or ``session_user``; its account is re-read
(enabled? which role now?) at the moment it acts. ``local_actor()`` is the person at the CLI of
a home (``os:<login>``): whoever can run the CLI can read the file anyway, so it acts as an
admin.
"""

from __future__ import annotations

import getpass
import os
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from facesearch.errors import PermissionDeniedError

__all__ = [
    "LOCAL_PREFIX",
    "PERMISSIONS",
    "Actor",
    "Permission",
    "Role",
    "can",
    "local_actor",
    "require",
]

LOCAL_PREFIX = "os:"


class Role(StrEnum):
    ADMIN = "admin"  # users, ingest, erasure, settings; may confirm candidates
    INVESTIGATOR = "investigator"  # search, verify, decide on candidates
    AUDITOR = "auditor"  # read the audit trail, nothing else


class Permission(StrEnum):
    SEARCH = "search"  # run 1:N searches
    VERIFY = "verify"  # compare two faces 1:1
    DECIDE = "decide"  # record a verdict on a search candidate (two-person rule)
    READ_GALLERY = "read_gallery"  # see gallery images, faces and their metadata
    INGEST = "ingest"  # add images to the gallery
    ERASE = "erase"  # remove faces, images, subjects, collections
    MANAGE_USERS = "manage_users"  # add, disable, enable accounts; reset passwords, tokens
    MANAGE_SETTINGS = "manage_settings"  # change server settings
    READ_AUDIT = "read_audit"  # read, export and verify the audit trail
    CURATE = "curate"  # build a collection's people; name, merge, split them


PERMISSIONS: MappingProxyType[Role, frozenset[Permission]] = MappingProxyType(
    {
        Role.ADMIN: frozenset(
            {
                Permission.MANAGE_USERS,
                Permission.MANAGE_SETTINGS,
                Permission.INGEST,
                Permission.ERASE,
                Permission.READ_GALLERY,
                Permission.DECIDE,
                Permission.READ_AUDIT,  # the issue: "the audit trail (auditor, admin)"
                Permission.CURATE,
            }
        ),
        Role.INVESTIGATOR: frozenset(
            {
                Permission.SEARCH,
                Permission.VERIFY,
                Permission.DECIDE,
                Permission.READ_GALLERY,
                Permission.CURATE,
            }
        ),
        Role.AUDITOR: frozenset({Permission.READ_AUDIT}),
    }
)


def can(role: Role, permission: Permission) -> bool:
    """Whether a role holds a permission: the one place this is decided."""
    return permission in PERMISSIONS[Role(role)]


@dataclass(frozen=True)
class Actor:
    """Someone acting: a user account, or the local CLI user (``os:<login>``)."""

    name: str
    role: Role

    @property
    def is_local(self) -> bool:
        return self.name.startswith(LOCAL_PREFIX)


def require(actor: Actor, permission: Permission) -> None:
    """PermissionDeniedError unless the actor's role holds the permission."""
    if not can(actor.role, permission):
        what = Permission(permission).value.replace("_", " ")
        raise PermissionDeniedError(f"{actor.name} ({actor.role.value}) may not {what}")


def local_actor(login: str | None = None) -> Actor:
    """The person at the CLI, named after their operating-system login."""
    if login is None:
        try:
            login = getpass.getuser()
        except (OSError, KeyError):
            login = f"uid{os.getuid()}"
    return Actor(LOCAL_PREFIX + login, Role.ADMIN)
