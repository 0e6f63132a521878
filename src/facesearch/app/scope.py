"""Which collections an actor's organisation may use: the one place a gallery read, a search
and an erasure are scoped.

An organisation owns the collections it first ingested into (``accountability.orgs``); the
``default`` organisation (a home from before organisations) also owns every collection nobody
claimed. It may use, read-only, the collections another organisation shared with it. A
collection outside the scope answers NotFoundError, exactly as one that does not exist; the
platform operator (no organisation) sees no collection at all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace

from facesearch.accountability import AccountabilityStore, Actor
from facesearch.accountability.orgs import OrgPolicy
from facesearch.accountability.permissions import DEFAULT_ORG
from facesearch.errors import NotFoundError
from facesearch.gallery.catalog import Catalog

__all__ = ["Scope", "capped_fmr", "policy_of", "reach_of", "retention_days", "scope_of"]


@dataclass(frozen=True)
class Scope:
    org: str | None
    owned: frozenset[str]
    granted: frozenset[str]
    everything: bool  # owns every collection of the catalog (a single-organisation home)

    @property
    def visible(self) -> frozenset[str]:
        return self.owned | self.granted

    @property
    def erasable(self) -> list[str] | None:
        """The collections an erasure selects from: its own, sorted; None (every one) when
        it owns them all."""
        return None if self.everything else sorted(self.owned)

    def sees(self, collection: str) -> bool:
        return self.everything or collection in self.visible

    def owns(self, collection: str) -> bool:
        return self.everything or collection in self.owned

    def check_sees(self, collection: str) -> None:
        if not self.sees(collection):
            raise NotFoundError(f"no collection named {collection!r}")

    def check_owns(self, collection: str) -> None:
        """NotFoundError unless the organisation owns ``collection`` (a shared one is
        read-only: it is not found for changes)."""
        if not self.owns(collection):
            raise NotFoundError(f"no collection named {collection!r}")

    def search_collections(self, requested: Iterable[str] | None) -> tuple[str, ...] | None:
        """The collections a search may cover: those requested (each visible, NotFoundError
        otherwise), else every visible one (None: every collection, when it owns them all).
        NotFoundError if there is nothing to search."""
        if requested:
            names = tuple(dict.fromkeys(requested))
            for name in names:
                self.check_sees(name)
            return names
        if self.everything:
            return None
        if not self.visible:
            raise NotFoundError(
                "your organisation holds no collection and none was shared with it: there is "
                "nothing to search yet"
            )
        return tuple(sorted(self.visible))


def scope_of(store: AccountabilityStore, catalog: Catalog, actor: Actor) -> Scope:
    """The collections ``actor``'s organisation owns and was granted."""
    if actor.org is None:
        return Scope(None, frozenset(), frozenset(), everything=False)
    known = {c.name for c in catalog.collections()}  # claimed but never filled: not searched
    owned = set(store.orgs.owned(actor.org))
    granted = frozenset(store.orgs.granted(actor.org)) & known
    if actor.org.lower() == DEFAULT_ORG:
        claimed = store.orgs.claimed()
        everything = not (claimed - owned) and not granted
        owned |= known - claimed
        return Scope(actor.org, frozenset(owned & known), granted, everything=everything)
    return Scope(actor.org, frozenset(owned & known), granted, everything=False)


def reach_of(store: AccountabilityStore, catalog: Catalog, actor: Actor) -> Scope:
    """``scope_of``, except that the host's CLI (the local actor of the default organisation:
    whoever runs facesearch on the machine) reaches every collection of the deployment: it
    erases, exports a subject's data and counts for all of it. ``--org X`` at the CLI acts as
    organisation X, within its scope."""
    scope = scope_of(store, catalog, actor)
    if actor.is_local and actor.org == DEFAULT_ORG and not scope.everything:
        return replace(scope, everything=True)
    return scope


def policy_of(store: AccountabilityStore, actor: Actor) -> OrgPolicy:
    """The policies of ``actor``'s organisation (the operator's: the defaults)."""
    return OrgPolicy() if actor.org is None else store.orgs.get(actor.org).policy


def capped_fmr(
    policy: OrgPolicy,
    max_fmr: float | None,
    threshold: float | None,
    threshold_for_fmr: Callable[[float], float],
) -> tuple[float | None, float | None]:
    """``max_fmr`` and ``threshold`` of a search within the policy's loosest false match rate:
    no max_fmr, or a looser one, becomes the policy's; a threshold below the similarity at
    the policy's rate becomes that similarity."""
    if policy.max_fmr is None:
        return max_fmr, threshold
    if threshold is not None:
        return None, max(threshold, threshold_for_fmr(policy.max_fmr))
    if max_fmr is None or max_fmr > policy.max_fmr:
        return policy.max_fmr, None
    return max_fmr, None


def retention_days(store: AccountabilityStore, actor: Actor, default: int) -> int:
    """How long ``actor``'s probes are kept: the organisation's ``probe_retention_days``, else
    the deployment's setting (``default``)."""
    days = policy_of(store, actor).probe_retention_days
    return default if days is None else days
