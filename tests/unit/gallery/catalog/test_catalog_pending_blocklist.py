"""Catalog: pending erasure-blocklist entries, on both databases. A settlement claims one by a
compare-and-set (``blocklist_claim``), so that of two at once exactly one settles it; the
erasure renews its own (``blocklist_renew``) and records or takes back only its own, never
one being settled or settled meanwhile."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import numpy as np
import pytest

from facesearch.gallery.catalog import Catalog, RunOwner

ERASURE = RunOwner("elsewhere", "", 1, "")  # another machine's process
SETTLER = RunOwner("here", "", 2, "")


@pytest.fixture
def cat(open_catalog: Callable[[], Catalog]) -> Iterator[Catalog]:
    with open_catalog() as catalog:
        yield catalog


def test_of_two_settlements_at_once_exactly_one_claims_the_entry(cat: Catalog) -> None:
    """Before, nothing claimed an entry: two settlements that read it both logged and both
    changed the catalog (the second's change silently did nothing, or undid the first's)."""
    entry = cat.blocklist_add("sface", np.ones(128), pending=ERASURE)
    (seen,) = cat.blocklist_pending()
    others = [cat.another(), cat.another()]
    ready = threading.Barrier(2)
    won: list[str | None] = [None, None]

    def settle(i: int) -> None:
        ready.wait()
        won[i] = others[i].blocklist_claim(entry, seen.held, SETTLER)

    threads = [threading.Thread(target=settle, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for other in others:
        other.close()
    assert sum(w is not None for w in won) == 1
    (marker,) = [w for w in won if w is not None]
    (claimed,) = cat.blocklist_pending()
    assert claimed.settling and claimed.owner == SETTLER and claimed.held == marker
    assert cat.blocklist_claim(entry, seen.held, SETTLER) is None  # what was read is stale
    assert cat.blocklist_settled(entry, marker, keep=False)
    assert not cat.blocklist_settled(entry, marker, keep=False)
    assert cat.blocklist_pending() == [] and cat.blocklist("sface").shape[0] == 0


@pytest.mark.parametrize("keep", [True, False])
def test_a_claimed_entry_is_its_settlement_s_alone(cat: Catalog, keep: bool) -> None:
    """Its erasure, alive after all, neither renews, records, marks nor takes back an entry
    being settled; a settlement that could not log gives it back as it was."""
    entry = cat.blocklist_add("sface", np.ones(128), pending=ERASURE)
    (seen,) = cat.blocklist_pending()
    marker = cat.blocklist_claim(entry, seen.held, SETTLER)
    assert marker is not None
    assert not cat.blocklist_renew(entry, ERASURE)
    assert not cat.blocklist_recorded(entry) and not cat.blocklist_recorded(entry, ERASURE)
    assert not cat.blocklist_remove(entry, owner=ERASURE)
    cat.blocklist_unrecorded(entry, "the trail is full")
    assert [p.held for p in cat.blocklist_pending()] == [marker]
    assert not cat.blocklist_unclaim(entry, seen.held, seen.held)  # not its marker
    assert cat.blocklist_unclaim(entry, marker, seen.held)
    assert cat.blocklist_pending() == [seen] and cat.blocklist_pending()[0].held == seen.held
    again = cat.blocklist_claim(entry, seen.held, SETTLER)
    assert again is not None and cat.blocklist_settled(entry, again, keep=keep)
    assert cat.blocklist_pending() == []
    assert cat.blocklist("sface").shape[0] == (1 if keep else 0)
    assert not cat.blocklist_remove(entry, owner=ERASURE)  # recorded: not the erasure's now


def test_an_erasure_renews_records_and_takes_back_its_own_entry_only(cat: Catalog) -> None:
    entry = cat.blocklist_add("sface", np.ones(128), pending=ERASURE)
    (seen,) = cat.blocklist_pending()
    assert seen.renewed is None and not seen.settling
    assert not cat.blocklist_renew(entry, SETTLER)  # another process's
    assert cat.blocklist_renew(entry, ERASURE)
    (renewed,) = cat.blocklist_pending()
    assert renewed.renewed is not None and renewed.owner == ERASURE
    assert cat.blocklist_claim(entry, seen.held, SETTLER) is None  # it gave a sign of life
    assert not cat.blocklist_remove(entry, owner=SETTLER)
    assert not cat.blocklist_recorded(entry, SETTLER)
    assert cat.blocklist_recorded(entry, ERASURE) and cat.blocklist_pending() == []
    other = cat.blocklist_add("sface", -np.ones(128), pending=ERASURE)
    assert cat.blocklist_remove(other, owner=ERASURE) and not cat.blocklist_remove(other)
    assert cat.blocklist("sface").shape[0] == 1
