"""Organisations, for the CLI and the server: create them, set their quotas and policies, share
collections between them (``accountability.orgs`` keeps them and logs each change).

The platform operator (and the local CLI user) sees every organisation; anyone else sees their
own only: another organisation's name answers NotFoundError, as one that does not exist.
"""

from __future__ import annotations

from typing import Any

from facesearch.accountability import AccountabilityStore, Actor, Permission
from facesearch.accountability.orgs import Organisation, sees_all_orgs
from facesearch.app.checks import allow
from facesearch.app.local import Local
from facesearch.app.scope import scope_of
from facesearch.errors import NotFoundError
from facesearch.gallery.catalog import Catalog

__all__ = [
    "add_org",
    "change_org",
    "get_org",
    "list_orgs",
    "org_named",
    "share",
    "share_in",
    "unshare",
    "unshare_in",
]


def org_named(store: AccountabilityStore, name: str) -> str:
    """Organisation ``name`` as the store spells it (names ignore case); NotFoundError if
    there is none."""
    return store.orgs.get(name).name


def list_orgs(store: AccountabilityStore, actor: Actor) -> list[Organisation]:
    if sees_all_orgs(actor):
        return store.orgs.all()
    return [] if actor.org is None else [store.orgs.get(actor.org)]


def get_org(store: AccountabilityStore, actor: Actor, name: str) -> Organisation:
    if not sees_all_orgs(actor) and (actor.org is None or actor.org.lower() != name.lower()):
        raise NotFoundError(f"no organisation {name}")
    return store.orgs.get(name)


def add_org(
    store: AccountabilityStore,
    actor: Actor,
    name: str,
    *,
    quota_faces: int | None = None,
    policy: dict[str, Any] | None = None,
) -> Organisation:
    allow(actor, Permission.MANAGE_ORGS)
    return store.orgs.add(name, quota_faces=quota_faces, policy=policy, by=actor)


def change_org(
    store: AccountabilityStore,
    actor: Actor,
    name: str,
    *,
    policy: dict[str, Any] | None = None,
    quota_faces: int | str | None = "unchanged",
) -> Organisation:
    allow(actor, Permission.SET_POLICY)
    return store.orgs.change(name, policy=policy, quota_faces=quota_faces, by=actor)


def share_in(local: Local, collection: str, to: str) -> bool:
    """``share`` on a local home (the CLI)."""
    return share(local.store, local.engine.catalog, local.actor, collection, to)


def unshare_in(local: Local, collection: str, to: str) -> bool:
    return unshare(local.store, local.engine.catalog, local.actor, collection, to)


def share(
    store: AccountabilityStore, catalog: Catalog, actor: Actor, collection: str, to: str
) -> bool:
    """Share ``collection`` (the actor's organisation's) read-only with organisation ``to``;
    False if it was already. NotFoundError for a collection it does not own or that the
    catalog does not hold."""
    allow(actor, Permission.SHARE)
    _check_held(store, catalog, actor, collection)
    return store.orgs.grant(collection, to, by=actor)


def unshare(
    store: AccountabilityStore, catalog: Catalog, actor: Actor, collection: str, to: str
) -> bool:
    allow(actor, Permission.SHARE)
    _check_held(store, catalog, actor, collection)
    return store.orgs.withdraw(collection, to, by=actor)


def _check_held(
    store: AccountabilityStore, catalog: Catalog, actor: Actor, collection: str
) -> None:
    if collection not in {c.name for c in catalog.collections()}:
        raise NotFoundError(f"no collection {collection}")
    if not scope_of(store, catalog, actor).owns(collection):
        raise NotFoundError(f"no collection {collection}")
