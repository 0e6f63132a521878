"""The case registry, for the CLI and the server: open and close cases, add members, list them.

Admins open and close cases and add members, and an investigator opens a case of which they
are the first member (each change logged by ``accountability.cases``); every signed-in user
sees the cases they are a member of, admins, auditors and supervisors (who read the audit
trail) every case. Work
under a case is checked in ``checks.check_use`` (``check_case_use``).
"""

from __future__ import annotations

from dataclasses import dataclass

from facesearch.accountability import AccountabilityStore, Actor, Case, Permission, can

__all__ = [
    "OpenCaseRequest",
    "add_member",
    "close_case",
    "list_cases",
    "open_case",
    "sees_every_case",
]


@dataclass(frozen=True)
class OpenCaseRequest:
    number: str
    title: str
    legal_basis: str | None = None
    members: tuple[str, ...] = ()  # user names


def sees_every_case(actor: Actor) -> bool:
    """Admins (and the local CLI actor, an admin), auditors and supervisors (whoever reads the
    audit trail) see every case."""
    return actor.is_local or can(actor.role, Permission.READ_AUDIT)


def open_case(store: AccountabilityStore, actor: Actor, request: OpenCaseRequest) -> Case:
    return store.cases.open(
        request.number,
        request.title,
        legal_basis=request.legal_basis,
        members=request.members,
        by=actor,
    )


def close_case(store: AccountabilityStore, actor: Actor, number: str) -> Case:
    return store.cases.close(number, by=actor)


def add_member(store: AccountabilityStore, actor: Actor, number: str, name: str) -> Case:
    return store.cases.add_member(number, name, by=actor)


def list_cases(store: AccountabilityStore, actor: Actor) -> list[Case]:
    """The cases ``actor`` may see, newest first."""
    if actor.org is None:
        return []  # the platform operator belongs to no organisation and has no cases
    return store.cases.cases(actor.org, member=None if sees_every_case(actor) else actor.name)
