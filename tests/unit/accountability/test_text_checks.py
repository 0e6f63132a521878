"""One check for the free text of a use (case number, purpose, reason), shared by the audited
layer and the audit trail (third attack pass: a purpose typed on two lines in the web form
arrives with CRLF; the usage check let it through, the audit entry refused it after the
search had run, and the page showed 'purpose contains control characters')."""

from __future__ import annotations

import pytest

from facesearch.accountability import AccountabilityStore, Action
from facesearch.app import check_case
from facesearch.errors import InputError

BIDI = ["\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200f", "\u061c"]


def test_a_purpose_on_two_lines_from_a_browser_is_one_purpose(store: AccountabilityStore) -> None:
    case, purpose = check_case(
        "K-1", "robbery at the station\r\nsuspect seen on CCTV", required=True
    )
    assert purpose == "robbery at the station\nsuspect seen on CCTV"
    entry = store.audit.append(
        actor="inv1", action=Action.SEARCH, case=case, purpose="a\r\nb\rc", payload={}
    )
    assert entry.purpose == "a\nb\nc"


@pytest.mark.parametrize("mark", BIDI)
def test_direction_overrides_are_refused_in_case_and_purpose(
    store: AccountabilityStore, mark: str
) -> None:
    """A case number written K-1<RLO>9102-K would show reversed in the audit trail."""
    with pytest.raises(InputError, match="direction"):
        check_case(f"K-1{mark}9102-K", "purpose", required=True)
    with pytest.raises(InputError, match="direction"):
        check_case("K-1", f"purpose {mark}x", required=True)
    with pytest.raises(InputError, match="direction"):
        store.audit.append(actor="inv1", action=Action.SEARCH, case=f"K{mark}1", payload={})


@pytest.mark.parametrize("bad", ["K\x00", "K\x1b[31m", "K\x7f", "K\x85K"])
def test_control_characters_are_refused_by_both(store: AccountabilityStore, bad: str) -> None:
    with pytest.raises(InputError, match="control"):
        check_case(bad, "purpose", required=True)
    with pytest.raises(InputError, match="control"):
        store.audit.append(actor="inv1", action=Action.SEARCH, case=bad, payload={})


def test_a_case_number_stays_on_one_line() -> None:
    with pytest.raises(InputError, match="line"):
        check_case("K-1\r\nK-2", "purpose", required=True)
