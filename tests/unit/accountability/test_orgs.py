"""Organisations (``store.orgs``): adding one, its policies and quota, and who owns, claims and
shares which collection -- each change with its audit entry, on both backends."""

from __future__ import annotations

import pytest
from accountability_helpers import ROOT

from facesearch.accountability import AccountabilityStore, Action, User
from facesearch.accountability.orgs import OrgPolicy
from facesearch.errors import InputError, NotFoundError, PermissionDeniedError


def logged(store: AccountabilityStore, action: Action) -> list[tuple[str, str | None, dict]]:
    """(actor, org, payload) of every entry of ``action``."""
    entries = store.audit.entries(action=action, limit=None)
    return [(e.actor, e.org, dict(e.payload)) for e in entries]


# --- organisations ----------------------------------------------------------------------------


def test_the_operator_adds_an_organisation_with_the_default_policy(store, orgs):
    made = store.orgs.add("Gamma", quota_faces=1000, by=orgs["opal"])
    assert (made.name, made.created_by, made.quota_faces) == ("Gamma", "opal", 1000)
    assert made.policy == OrgPolicy() and made.policy.cases_required
    assert store.orgs.get("gamma") == made  # names ignore case
    assert [o.name for o in store.orgs.all()] == ["acme", "beta", "default", "Gamma"]
    actor, org, payload = logged(store, Action.ORG_ADD)[-1]
    assert (actor, org) == ("opal", "Gamma")
    assert payload == {"name": "Gamma", "quota_faces": 1000, "policy": OrgPolicy().as_json()}


def test_the_default_organisation_of_a_new_home_enforces_cases_only_once_used(store):
    default = store.orgs.get("default")
    assert default.policy.cases_required is False and default.created_by == "system:migration"


def test_cases_required_shows_the_rule_in_force_once_the_registry_holds_a_case(store, orgs):
    """The registry holding a case enforces cases whatever the policy (``cases.refusal``):
    the organisation says so, and cases_required=false is refused, not silently kept."""
    default = store.orgs.get("default")
    assert (default.cases_required, default.as_json()["cases_required_reason"]) == (False, None)
    store.orgs.change("default", policy={"cases_required": False}, by=ROOT)  # empty: it may
    store.cases.open("K-1", "one", by=ROOT)
    default = store.orgs.get("default")
    shown = default.as_json()
    assert shown["policy"]["cases_required"] is False
    assert shown["cases_required"] is True
    assert shown["cases_required_reason"] == "the registry holds cases"
    assert store.cases.refusal("NOPE", ROOT) is not None  # the rule shown is the rule applied
    before = store.audit.head()
    for policy in ({"cases_required": False}, {"cases_required": "off", "two_person": False}):
        with pytest.raises(InputError, match=r"cannot take effect.*holds cases"):
            store.orgs.change("default", policy=policy, by=ROOT)
    assert store.audit.head() == before and store.orgs.get("default").policy.two_person is True
    acme = store.orgs.change("acme", policy={"cases_required": False}, by=orgs["ann"])
    assert (acme.cases_required, acme.cases_required_reason) == (False, None)  # no case yet
    assert store.orgs.get("beta").as_json()["cases_required_reason"] == "policy"


def test_an_organisation_name_is_taken_whatever_its_case(store, orgs):
    before = store.audit.head()
    for taken in ("ACME", "Default", "beta"):
        with pytest.raises(InputError, match="exists already"):
            store.orgs.add(taken, by=orgs["opal"])
    assert store.audit.head() == before  # nothing logged for a refusal


@pytest.mark.parametrize("name", ["", "two words", "-dash", "a" * 65, "semi;colon", "é"])
def test_a_bad_organisation_name_is_refused(store, orgs, name):
    with pytest.raises(InputError):
        store.orgs.add(name, by=orgs["opal"])
    assert len(store.orgs.all()) == 3


def test_only_the_operator_or_the_local_user_adds_an_organisation(store, orgs):
    for who in ("ann", "admin", "alice"):
        with pytest.raises(PermissionDeniedError):
            store.orgs.add("gamma", by=orgs[who])
    assert store.orgs.add("gamma", by=ROOT).created_by == ROOT.name


def test_a_bad_quota_or_policy_adds_nothing(store, orgs):
    with pytest.raises(InputError, match="quota"):
        store.orgs.add("gamma", quota_faces=-1, by=orgs["opal"])
    with pytest.raises(InputError, match="max_fmr"):
        store.orgs.add("gamma", policy={"max_fmr": 0.5}, by=orgs["opal"])
    with pytest.raises(NotFoundError):
        store.orgs.get("gamma")


# --- policies ---------------------------------------------------------------------------------

GOOD = {
    "two_person": False,
    "max_fmr": 1e-4,
    "probe_retention_days": 30,
    "account_expiry_days": 90,
    "search_approval": True,
    "cases_required": False,
    "working_hours": "06:30-22:00",
    "time_zone": "Europe/Berlin",
    "max_searches_per_day": 10,
}
BAD = [
    ("two_person", "yes"),
    ("two_person", 1),
    ("search_approval", None),
    ("cases_required", "maybe"),
    ("max_fmr", 0.5),
    ("max_fmr", 0),
    ("max_fmr", "nan"),
    ("max_fmr", "often"),
    ("probe_retention_days", 0),
    ("probe_retention_days", "a month"),
    ("account_expiry_days", -5),
    ("account_expiry_days", 100_001),
    ("max_searches_per_day", None),
    ("max_searches_per_day", 0),
    ("working_hours", "19:00-19:00"),
    ("working_hours", "00:00-00:00"),
    ("working_hours", "7-19"),
    ("working_hours", "07:00-25:00"),
    ("working_hours", "day"),
    ("time_zone", "Mars/Olympus_Mons"),
    ("time_zone", "../../etc/passwd"),
]
LAX = [  # bad values with_changes once took (2.5 days truncated, a bool as 1, minute 99)
    pytest.param(
        "probe_retention_days",
        2.5,
    ),
    pytest.param(
        "max_searches_per_day",
        True,
    ),
    pytest.param(
        "working_hours",
        "07:00-07:99",
    ),
]


def test_every_policy_takes_a_good_value():
    changed = OrgPolicy().with_changes(GOOD)
    assert changed.as_json() == GOOD
    assert OrgPolicy.from_json(changed.as_json()) == changed
    assert changed.hours() == (6 * 60 + 30, 22 * 60)
    assert OrgPolicy().with_changes({"two_person": "off"}).two_person is False
    assert OrgPolicy().with_changes({"probe_retention_days": None}).probe_retention_days is None


@pytest.mark.parametrize(("key", "value"), [*BAD, *LAX])
def test_a_bad_policy_value_is_refused_naming_the_policy(key: str, value: object):
    spelled = key.replace("_", "[_ ]")  # "time zone" names time_zone too
    with pytest.raises(InputError, match=spelled):
        OrgPolicy().with_changes({key: value})


def test_an_unknown_policy_is_refused_by_name():
    with pytest.raises(InputError, match="unknown policy 'two_people'"):
        OrgPolicy().with_changes({"two_people": True})


def test_every_policy_is_checked_by_a_test():
    assert set(GOOD) == set(OrgPolicy().as_json()) == {key for key, _ in BAD}


# --- changing an organisation -----------------------------------------------------------------


def test_the_operator_changes_policies_and_quota_in_one_entry(store, orgs):
    changed = store.orgs.change(
        "ACME", policy={"two_person": False}, quota_faces=500, by=orgs["opal"]
    )
    assert changed.policy.two_person is False and changed.quota_faces == 500
    actor, org, payload = logged(store, Action.ORG_SET)[-1]
    assert (actor, org) == ("opal", "acme")
    assert payload["quota_faces"] == {"old": None, "new": 500}
    assert payload["policy"]["old"]["two_person"] is True
    assert payload["policy"]["new"]["two_person"] is False
    store.orgs.change("acme", quota_faces=None, by=orgs["opal"])
    assert store.orgs.get("acme").quota_faces is None


def test_an_admin_changes_the_policies_of_their_own_organisation_only(store, orgs):
    changed = store.orgs.change("acme", policy={"search_approval": True}, by=orgs["ann"])
    assert changed.policy.search_approval
    assert logged(store, Action.ORG_SET)[-1][:2] == ("ann", "acme")
    with pytest.raises(NotFoundError, match="no organisation beta"):
        store.orgs.change("beta", policy={"search_approval": True}, by=orgs["ann"])
    with pytest.raises(NotFoundError, match="no organisation acme"):
        store.orgs.change("acme", policy={"two_person": False}, by=orgs["admin"])
    assert not store.orgs.get("beta").policy.search_approval
    assert store.orgs.get("acme").policy.two_person


def test_only_the_operator_sets_a_quota(store, orgs):
    before = store.audit.head()
    with pytest.raises(PermissionDeniedError):
        store.orgs.change("acme", policy={"two_person": False}, quota_faces=10, by=orgs["ann"])
    acme = store.orgs.get("acme")
    assert acme.quota_faces is None and acme.policy.two_person  # nothing of it was kept
    assert store.audit.head() == before


def test_an_investigator_changes_no_policy(store, orgs):
    with pytest.raises(PermissionDeniedError):
        store.orgs.change("acme", policy={"two_person": False}, by=orgs["ivy"])


def test_a_change_that_changes_nothing_is_not_logged(store, orgs):
    before = store.audit.head()
    store.orgs.change("acme", policy={"two_person": True}, by=orgs["ann"])
    store.orgs.change("acme", quota_faces=None, by=orgs["opal"])
    assert store.audit.head() == before


def test_a_bad_policy_change_is_refused_and_changes_nothing(store, orgs):
    with pytest.raises(InputError, match="max_searches_per_day"):
        store.orgs.change("acme", policy={"max_searches_per_day": 0}, by=orgs["ann"])
    assert store.orgs.get("acme").policy == OrgPolicy()
    with pytest.raises(NotFoundError):
        store.orgs.change("nowhere", policy={}, by=orgs["opal"])


# --- collections ------------------------------------------------------------------------------


def test_the_first_claim_wins(store, orgs):
    assert store.orgs.owner("cctv") == "default"  # unclaimed: default's, as before
    store.orgs.claim("cctv", "acme", by=orgs["ivy"])
    assert store.orgs.owner("cctv") == "acme"
    with pytest.raises(PermissionDeniedError, match="another organisation"):
        store.orgs.claim("cctv", "beta", by=orgs["ben"])
    store.orgs.claim("cctv", "ACME", by=orgs["ann"])  # the owner again: nothing happens
    assert store.orgs.owner("cctv") == "acme"
    assert logged(store, Action.COLLECTION_CLAIM) == [("ivy", "acme", {"collection": "cctv"})]
    assert store.orgs.owned("acme") == {"cctv"} and store.orgs.owned("beta") == set()
    assert store.orgs.claimed() == {"cctv"}
    with pytest.raises(NotFoundError):
        store.orgs.claim("other", "nowhere", by=orgs["opal"])


def test_the_owners_admin_grants_and_withdraws_a_collection_once(store, orgs):
    store.orgs.claim("cctv", "acme", by=orgs["ann"])
    assert store.orgs.grant("cctv", "BETA", by=orgs["ann"]) is True
    assert store.orgs.grant("cctv", "beta", by=orgs["ann"]) is False  # granted already
    assert store.orgs.granted("beta") == {"cctv": "acme"}
    assert store.orgs.granted("acme") == {}
    assert store.orgs.withdraw("cctv", "beta", by=orgs["ann"]) is True
    assert store.orgs.withdraw("cctv", "beta", by=orgs["ann"]) is False  # nothing to withdraw
    assert store.orgs.granted("beta") == {}
    assert logged(store, Action.COLLECTION_GRANT) == [
        ("ann", "acme", {"collection": "cctv", "to": "beta"})
    ]
    assert logged(store, Action.COLLECTION_WITHDRAW) == [
        ("ann", "acme", {"collection": "cctv", "from": "beta"})
    ]


def test_no_one_but_the_owners_admin_shares_a_collection(store, orgs):
    store.orgs.claim("cctv", "acme", by=orgs["ann"])
    before = store.audit.head()
    for who in ("ben", "admin"):  # other organisations' admins
        with pytest.raises(NotFoundError, match="no collection cctv"):
            store.orgs.grant("cctv", "beta", by=orgs[who])
    for who in ("ivy", "opal"):  # the owner's investigator; the operator shares nothing
        with pytest.raises(PermissionDeniedError):
            store.orgs.grant("cctv", "beta", by=orgs[who])
    with pytest.raises(InputError, match="its own organisation"):
        store.orgs.grant("cctv", "Acme", by=orgs["ann"])
    with pytest.raises(NotFoundError, match="no organisation"):
        store.orgs.grant("cctv", "nowhere", by=orgs["ann"])
    with pytest.raises(NotFoundError):
        store.orgs.withdraw("cctv", "beta", by=orgs["ben"])
    assert store.orgs.granted("beta") == {} and store.audit.head() == before


def test_an_unclaimed_collection_is_shared_by_the_default_admin(store, orgs: dict[str, User]):
    assert store.orgs.grant("old", "acme", by=orgs["admin"]) is True
    assert store.orgs.granted("acme") == {"old": "default"}
    assert logged(store, Action.COLLECTION_GRANT)[-1][:2] == ("admin", "default")
    with pytest.raises(NotFoundError):
        store.orgs.grant("old", "beta", by=orgs["ann"])


def test_forgetting_a_collection_drops_its_owner_and_grants(store, orgs):
    store.orgs.claim("cctv", "acme", by=orgs["ann"])
    store.orgs.grant("cctv", "beta", by=orgs["ann"])
    store.orgs.forget_collection("cctv")
    assert store.orgs.owner("cctv") == "default" and store.orgs.granted("beta") == {}
    assert store.orgs.claimed() == set()


def test_a_quota_that_is_not_a_count_is_refused_as_bad_input(store):
    from facesearch.accountability import local_actor
    from facesearch.errors import InputError

    me = local_actor("tester")
    store.orgs.add("acme", by=me)
    for bad in ("abc", -1, 2.5, True):
        with pytest.raises(InputError, match="face quota"):
            store.orgs.change("acme", quota_faces=bad, by=me)
    assert store.orgs.change("acme", quota_faces=10, by=me).quota_faces == 10
    assert store.orgs.change("acme", quota_faces=None, by=me).quota_faces is None


def test_a_bad_organisation_name_is_called_an_organisation_name(store):
    from facesearch.accountability import local_actor
    from facesearch.errors import InputError

    with pytest.raises(InputError, match=r"^an organisation name is 1-64 characters"):
        store.orgs.add("x" * 100, by=local_actor("tester"))


@pytest.mark.parametrize(
    ("hours", "inside", "outside"),
    [
        ("22:00-06:00", ["22:00", "23:59", "00:00", "05:59"], ["06:00", "12:00", "21:59"]),
        ("19:00-07:00", ["19:00", "03:00", "06:59"], ["07:00", "18:59"]),
        ("07:00-19:00", ["07:00", "18:59"], ["06:59", "19:00", "00:00"]),
        ("00:00-24:00", ["00:00", "12:00", "23:59"], []),
    ],
)
def test_working_hours_may_run_on_past_midnight(
    hours: str, inside: list[str], outside: list[str]
) -> None:
    """A night shift (start after end) is working hours past midnight; it was refused as
    "start before end", so an organisation working nights could not say so."""
    policy = OrgPolicy().with_changes({"working_hours": hours})
    assert policy.working_hours == hours

    def minute(text: str) -> int:
        h, m = text.split(":")
        return int(h) * 60 + int(m)

    assert all(policy.working_at(minute(t)) for t in inside)
    assert not any(policy.working_at(minute(t)) for t in outside)


@pytest.mark.parametrize(
    ("given", "kept"), [("18:00-00:00", "18:00-24:00"), ("22:30-00:00", "22:30-24:00")]
)
def test_an_evening_ending_at_midnight_may_be_written_00_00(given: str, kept: str) -> None:
    """A start after the end runs on past midnight, so 18:00-00:00 (18:00 to midnight) was
    refused with "start and end different", which they were: it is 18:00-24:00."""
    policy = OrgPolicy().with_changes({"working_hours": given})
    assert policy.working_hours == kept
    assert policy.working_at(23 * 60 + 59) and not policy.working_at(0)


@pytest.mark.parametrize("hours", ["24:00-06:00", "07:00-07:00", "00:00-00:00"])
def test_refused_working_hours_say_what_is_wrong(hours: str) -> None:
    """24:00-06:00 was told "start and end different", which they were."""
    with pytest.raises(InputError, match="a start from 00:00 to 23:59 and a different end"):
        OrgPolicy().with_changes({"working_hours": hours})
