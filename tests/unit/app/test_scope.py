"""``app.scope``: which collections an organisation searches, and its false match rate cap."""

from __future__ import annotations

import pytest

from facesearch.accountability import AccountabilityStore
from facesearch.accountability.orgs import OrgPolicy
from facesearch.app.scope import Scope, capped_fmr, retention_days
from facesearch.errors import NotFoundError


def _scope(
    owned: set[str], granted: frozenset[str] = frozenset(), everything: bool = False
) -> Scope:
    return Scope("police", frozenset(owned), frozenset(granted), everything)


def test_a_search_covers_the_owned_and_shared_collections_and_nothing_else() -> None:
    scope = _scope({"a", "b"}, {"shared"})
    assert scope.search_collections(None) == ("a", "b", "shared")
    assert scope.search_collections(["shared", "a", "a"]) == ("shared", "a")
    with pytest.raises(NotFoundError, match="no collection named 'other'"):
        scope.search_collections(["a", "other"])
    assert scope.sees("shared") and not scope.owns("shared")  # a share is read-only
    with pytest.raises(NotFoundError, match="no collection named 'shared'"):
        scope.check_owns("shared")


def test_an_organisation_without_collections_has_nothing_to_search() -> None:
    with pytest.raises(NotFoundError, match="nothing to search"):
        _scope(set()).search_collections(None)


def test_a_home_of_one_organisation_searches_everything_unfiltered() -> None:
    scope = _scope(set(), everything=True)
    assert scope.search_collections(None) is None
    assert scope.sees("anything") and scope.owns("anything")


def test_the_policy_caps_the_false_match_rate_of_a_search() -> None:
    strict = OrgPolicy(max_fmr=1e-4)

    def at(fmr: float) -> float:
        return {1e-4: 0.5}[fmr]

    assert capped_fmr(strict, None, None, at) == (1e-4, None)
    assert capped_fmr(strict, 1e-2, None, at) == (1e-4, None)  # looser: capped
    assert capped_fmr(strict, 1e-6, None, at) == (1e-6, None)  # stricter: kept
    assert capped_fmr(strict, None, 0.3, at) == (None, 0.5)  # a threshold below: raised
    assert capped_fmr(strict, None, 0.7, at) == (None, 0.7)
    assert capped_fmr(OrgPolicy(max_fmr=None), None, None, at) == (None, None)


def test_probes_are_kept_as_long_as_the_organisation_says(store: AccountabilityStore) -> None:
    from facesearch.accountability import local_actor

    me = local_actor("tester")
    assert retention_days(store, me, 30) == 30  # default's policy sets none: the setting
    store.orgs.add("police", policy={"probe_retention_days": 7}, by=me)
    officer = local_actor("tester", org="police")
    assert retention_days(store, officer, 30) == 7
