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
    "DEFAULT_ORG",
    "LOCAL_PREFIX",
    "PERMISSIONS",
    "Actor",
    "Permission",
    "Role",
    "allow",
    "can",
    "local_actor",
    "require",
]

LOCAL_PREFIX = "os:"


class Role(StrEnum):
    ADMIN = "admin"  # users, ingest, erasure, settings; may confirm candidates
    SUPERVISOR = "supervisor"  # oversight: dashboard, alerts, approvals; no search by default
    INVESTIGATOR = "investigator"  # search, verify, decide on candidates
    AUDITOR = "auditor"  # read the audit trail, nothing else
    OPERATOR = "operator"  # the platform: organisations, their quotas and policies, admins


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
    SUPERVISE = "supervise"  # the organisation's dashboard and alerts; approve search requests
    SHARE = "share"  # grant another organisation read-only use of a collection; withdraw it
    SET_POLICY = "set_policy"  # change the organisation's policies
    MANAGE_ORGS = "manage_orgs"  # create organisations, set their quotas (platform operator)


# What each permission lets one do, as the words after "may not" in a refusal.
DOING: MappingProxyType[Permission, str] = MappingProxyType(
    {
        Permission.SEARCH: "search the gallery",
        Permission.VERIFY: "verify two faces",
        Permission.DECIDE: "record a verdict on a candidate",
        Permission.READ_GALLERY: "read the gallery",
        Permission.INGEST: "ingest photos into the gallery",
        Permission.ERASE: "erase from the gallery",
        Permission.MANAGE_USERS: "manage users",
        Permission.MANAGE_SETTINGS: "manage the server's settings",
        Permission.READ_AUDIT: "read the audit trail",
        Permission.CURATE: "curate the people of a collection",
        Permission.SUPERVISE: "supervise the organisation's searches",
        Permission.SHARE: "share a collection with another organisation",
        Permission.SET_POLICY: "set the organisation's policies",
        Permission.MANAGE_ORGS: "manage organisations",
    }
)


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
                Permission.SHARE,
                Permission.SET_POLICY,
            }
        ),
        Role.SUPERVISOR: frozenset(
            {Permission.SUPERVISE, Permission.READ_AUDIT, Permission.READ_GALLERY}
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
        # The operator runs the platform and the organisations' first accounts; it reads no
        # organisation's searches, probes or trail.
        Role.OPERATOR: frozenset(
            {Permission.MANAGE_ORGS, Permission.MANAGE_USERS, Permission.SET_POLICY}
        ),
    }
)


def can(role: Role, permission: Permission) -> bool:
    """Whether a role holds a permission: the one place this is decided."""
    return permission in PERMISSIONS[Role(role)]


DEFAULT_ORG = "default"  # the organisation of a home made before organisations existed


@dataclass(frozen=True)
class Actor:
    """Someone acting: a user account, or the local CLI user (``os:<login>``), within an
    organisation (``org``; None: the platform operator, who belongs to none)."""

    name: str
    role: Role
    org: str | None = DEFAULT_ORG

    @property
    def is_local(self) -> bool:
        return self.name.startswith(LOCAL_PREFIX)


def require(actor: Actor, permission: Permission) -> None:
    """PermissionDeniedError unless the actor's role holds the permission."""
    if not can(actor.role, permission):
        what = DOING[Permission(permission)]
        raise PermissionDeniedError(f"{actor.name} ({actor.role.value}) may not {what}")


def allow(actor: Actor, permission: Permission) -> None:
    """PermissionDeniedError unless ``actor`` may (the local CLI actor always may)."""
    if not actor.is_local:
        require(actor, permission)


def local_actor(login: str | None = None, org: str = DEFAULT_ORG) -> Actor:
    """The person at the CLI, named after their operating-system login, acting in ``org``."""
    if login is None:
        try:
            login = getpass.getuser()
        except (OSError, KeyError):
            login = f"uid{os.getuid()}"
    return Actor(LOCAL_PREFIX + login, Role.ADMIN, org)
