"""Candidate review under the two-person rule, through the API on the fake pipeline: a note is
free text like a purpose (checked, and blank when nothing in it can be seen), and a candidate
erased since its first verdict leaves the second person's queue."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import FakePipeline, face_photo, person_name
from tests.homes import PASSWORD

from facesearch.server import create_app

CASE = "K-review"


@pytest.fixture(scope="module")
def home(fake_homes: Any) -> Any:
    from facesearch.accountability import AccountabilityStore, local_actor

    made = fake_homes("candidate-review")
    me = local_actor("tester")
    with AccountabilityStore.open(made.home) as store:
        store.accounts.add_user("sup1", "supervisor", PASSWORD, by=me)
        made.tokens["sup1"] = store.accounts.issue_token("sup1", by=me)
    return made


@pytest.fixture(scope="module")
def client(home: Any) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as c:
        yield c


@pytest.fixture(scope="module")
def search(client: TestClient, home: Any) -> dict[str, Any]:
    """inv1's search: its id and its candidates' face ids."""
    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("p.png", face_photo(1, 0), "image/png")},
        data={"case": CASE, "purpose": "review test", "top": "10"},
    )
    assert r.status_code == 201, r.text
    faces = [h["face_id"] for h in r.json()["faces"][0]["hits"]]
    assert len(faces) >= 4
    return {"id": r.json()["id"], "faces": faces}


def decide(client: TestClient, home: Any, who: str, search: int, face: int, note: str) -> Any:
    return client.post(
        f"/api/v1/searches/{search}/candidates/{face}/decisions",
        headers=home.auth(who),
        data={"verdict": "possible_match", "note": note},
    )


@pytest.mark.parametrize(
    "note",
    ["ok\x01", "ok \x1b[31mred", "ok \u202eevil", "line\u2028two\x00", "lead\ufff9hidden\ufffb"],
)
def test_a_note_with_control_characters_or_direction_marks_is_refused(
    client: TestClient, home: Any, search: dict[str, Any], note: str
) -> None:
    """A note went into the hash-chained trail unchecked (a purpose, a reason and an
    approval's note are refused with such characters)."""
    r = decide(client, home, "inv1", search["id"], search["faces"][0], note)
    assert r.status_code == 422, r.text
    r = client.get(f"/api/v1/searches/{search['id']}", headers=home.auth("inv1"))
    assert r.status_code == 200 and note not in r.text


def test_an_invisible_note_is_no_note_and_the_confirmation_alerts(
    client: TestClient, home: Any, search: dict[str, Any]
) -> None:
    """A zero-width space as the second person's note confirmed without the supervisor's
    ``confirmation_without_note`` alert."""
    face = search["faces"][1]
    assert decide(client, home, "inv1", search["id"], face, "same scar").status_code == 201
    r = decide(client, home, "inv2", search["id"], face, "\u200b\u2060 \u00ad\U000e0002")
    assert r.status_code == 201, r.text
    assert r.json()["status"] == "confirmed" and r.json()["history"][-1]["note"] == ""
    alerts = client.get("/api/v1/alerts", headers=home.auth("sup1")).json()["items"]
    assert any(
        a["rule"] == "confirmation_without_note" and a["subject"] == "inv2" for a in alerts
    ), alerts


def test_a_purpose_of_invisible_characters_is_no_purpose(client: TestClient, home: Any) -> None:
    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("p.png", face_photo(1, 0), "image/png")},
        data={"case": CASE, "purpose": "\u200b"},
    )
    assert r.status_code == 422, r.text
    assert "purpose" in r.text
    for purpose in ("\u2065", "\ufff0", "\U000e0080"):  # unassigned, yet drawn as nothing
        r = client.post(
            "/api/v1/searches",
            headers=home.auth("inv1"),
            files={"image": ("p.png", face_photo(1, 0), "image/png")},
            data={"case": CASE, "purpose": purpose},
        )
        assert r.status_code == 422, (purpose, r.text)


def test_an_erased_candidate_leaves_the_second_person_s_queue(
    client: TestClient, home: Any, search: dict[str, Any]
) -> None:
    """It stayed listed for 90 days while every verdict on it answered 409 erased."""
    face = search["faces"][2]
    assert decide(client, home, "inv1", search["id"], face, "ears").status_code == 201

    def queued() -> list[int]:
        r = client.get("/api/v1/candidates", headers=home.auth("inv2"))
        assert r.status_code == 200, r.text
        return [c["face_id"] for c in r.json()["items"] if c["search_id"] == search["id"]]

    assert face in queued()
    r = client.post(
        "/api/v1/erasures",
        data={"reason": "DSR-9", "face_id": str(face)},
        headers=home.auth("admin1"),
    )
    assert r.status_code == 201, r.text
    assert face not in queued()
    assert decide(client, home, "inv2", search["id"], face, "late").status_code == 409


def test_the_probe_s_own_file_cannot_be_marked_a_possible_match(
    client: TestClient, home: Any, fake_photos: Path
) -> None:
    """Two investigators confirmed candidate #1, flagged "same file as the probe": the probe
    photo matching itself, recorded as a confirmed match."""
    own = fake_photos / person_name(1) / "shot_3.png"  # in the gallery
    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": (own.name, own.read_bytes(), "image/png")},
        data={"case": CASE, "purpose": "own file", "top": "3"},
    )
    assert r.status_code == 201, r.text
    hits = r.json()["faces"][0]["hits"]
    assert hits[0]["same_file"] is True
    r = decide(client, home, "inv1", r.json()["id"], hits[0]["face_id"], "it is him")
    assert r.status_code == 422 and "probe photo itself" in r.text, r.text
