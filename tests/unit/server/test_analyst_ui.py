"""The analyst's pages (issue 10) on the fake pipeline: the Verify page, browsing the gallery
(faces, images, subjects; filters, paging; an image's page), erasing by photo in two steps,
the false match rate in one short line per candidate card, times as <time> elements. Each
route with its role checks, CSRF, unknown ids and bad input; and the audit entries they leave.

The fake gallery holds 6 synthetic people x 4 shots (faces 1..24, images 1..24), labelled
person_0 .. person_5 in collection "default"."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from tests.fakes import GALLERY_SHOTS, PEOPLE, FakePipeline, face_photo
from tests.homes import PASSWORD

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.server import create_app

HTML = {"Accept": "text/html"}
PHOTO_TYPE = "image/png"
FACES = PEOPLE * len(GALLERY_SHOTS)


@pytest.fixture
def home(fake_homes: Any) -> Any:
    return fake_homes("analyst-ui")


@pytest.fixture
def client(home: Any) -> Iterator[TestClient]:
    with TestClient(create_app(home.settings, pipelines=FakePipeline), follow_redirects=False) as c:
        yield c


def html(home: Any, user: str) -> dict[str, str]:
    headers: dict[str, str] = home.auth(user) | HTML
    return headers


def entries(client: TestClient, home: Any, action: str) -> list[dict[str, Any]]:
    r = client.get(
        "/api/v1/audit", headers=home.auth("aud1"), params={"action": action, "limit": 500}
    )
    assert r.status_code == 200, r.text
    return sorted(r.json()["items"], key=lambda e: e["seq"])


def photos(a: tuple[int, int], b: tuple[int, int]) -> dict[str, Any]:
    return {
        "a": ("a.png", face_photo(*a), PHOTO_TYPE),
        "b": ("b.png", face_photo(*b), PHOTO_TYPE),
    }


def data_faces(text: str) -> list[int]:
    return [int(x) for x in re.findall(r'data-face="(\d+)"', text)]


# --- Verify ----------------------------------------------------------------------------------


def test_verify_page_compares_two_photos_and_is_logged_like_the_api(
    client: TestClient, home: Any
) -> None:
    page = client.get("/verify", headers=html(home, "inv1"))
    assert page.status_code == 200 and 'id="verify-form"' in page.text
    assert 'href="/verify"' in page.text  # the navigation link

    use = {"case": "K-7", "purpose": "same man on two stills?"}
    r = client.post("/verify", headers=html(home, "inv1"), files=photos((0, 1), (0, 5)), data=use)
    assert r.status_code == 200, r.text
    text = r.text
    assert 'id="verify-result"' in text and "possibly the same person" in text
    assert "a lead for a human to check, not an identification" in text
    assert "different people score this high" in text  # the false match rate in words
    assert re.search(r"false match rate (?:[≈≥]|&lt;) 1 in [\d,]+", text)  # < as HTML writes it
    assert len(re.findall(r'<img src="data:image/jpeg;base64,[A-Za-z0-9+/=]+"', text)) == 2
    seq = int(re.search(r'id="audit-entry">(\d+)<', text).group(1))  # type: ignore[union-attr]

    api = client.post(
        "/api/v1/verifications", headers=home.auth("inv1"), files=photos((0, 1), (0, 5)), data=use
    )
    assert api.status_code == 201, api.text
    logged = {e["seq"]: e for e in entries(client, home, "verify")}
    page_entry, api_entry = logged[seq], logged[api.json()["id"]]
    assert page_entry["case"] == "K-7" and page_entry["purpose"] == use["purpose"]
    assert page_entry["payload"]["outcome"] == "ok"
    assert set(page_entry["payload"]) == set(api_entry["payload"])  # the one app-layer verify
    assert page_entry["payload"]["similarity"] == api_entry["payload"]["similarity"]

    r = client.post("/verify", headers=html(home, "inv1"), files=photos((0, 1), (3, 1)), data=use)
    assert r.status_code == 200 and "not a match at this threshold" in r.text


def test_verify_page_refuses_bad_input_with_a_clear_message(client: TestClient, home: Any) -> None:
    who = html(home, "inv1")
    r = client.post("/verify", headers=who, files=photos((0, 1), (0, 2)), data={"purpose": "x"})
    assert r.status_code in (400, 422) and 'role="alert"' in r.text and "case" in r.text
    before = len(entries(client, home, "verify"))
    one = {"a": ("a.png", face_photo(0, 1), PHOTO_TYPE)}
    r = client.post("/verify", headers=who, files=one, data={"case": "K-1", "purpose": "p"})
    assert r.status_code == 422 and "second photo" in r.text
    failed = entries(client, home, "verify")[before:]
    assert [e["payload"]["outcome"] for e in failed] == ["bad_input"]  # logged, like the API
    bad = {
        "a": ("a.png", b"not an image", PHOTO_TYPE),
        "b": ("b.png", face_photo(0, 1), PHOTO_TYPE),
    }
    r = client.post("/verify", headers=who, files=bad, data={"case": "K-1", "purpose": "p"})
    assert 400 <= r.status_code < 500 and 'role="alert"' in r.text


def test_verify_page_roles_and_csrf(client: TestClient, home: Any) -> None:
    for user in ("admin1", "aud1"):  # neither may verify
        assert client.get("/verify", headers=html(home, user)).status_code == 403
        r = client.post("/verify", headers=html(home, user), files=photos((0, 1), (0, 2)))
        assert r.status_code == 403
    r = client.get("/verify", headers=HTML)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    login(client, "inv1")
    r = client.post(
        "/verify", headers=HTML, files=photos((0, 1), (0, 2)), data={"case": "K", "purpose": "p"}
    )
    assert r.status_code == 403  # a session's form without its CSRF token


def login(client: TestClient, name: str) -> str:
    """Log in with the form (a session cookie); the CSRF token of the pages."""
    page = client.get("/login")
    token = re.search(r'name="login_token" value="([^"]*)"', page.text).group(1)  # type: ignore[union-attr]
    r = client.post(
        "/login", data={"name": name, "password": "correct-horse-battery", "login_token": token}
    )
    assert r.status_code == 303, r.text
    page = client.get("/gallery", headers=HTML)
    return re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]


# --- browsing ------------------------------------------------------------------------------


def test_faces_are_listed_in_pages_with_filters(client: TestClient, home: Any) -> None:
    who = html(home, "inv1")
    r = client.get("/gallery/faces", headers=who)
    assert r.status_code == 200 and "page 1 of 1" in r.text
    assert data_faces(r.text) == list(range(1, FACES + 1))
    assert 'href="/gallery/images/1"' in r.text  # each face links to its image

    pages = [
        client.get("/gallery/faces", headers=who, params={"per_page": 5, "page": n})
        for n in (1, 2, 5)
    ]
    assert [p.status_code for p in pages] == [200, 200, 200]
    assert data_faces(pages[1].text) == [6, 7, 8, 9, 10]  # stable order: by id
    assert "page 2 of 5" in pages[1].text and 'id="prev"' in pages[1].text
    assert data_faces(pages[2].text) == [21, 22, 23, 24] and 'id="next"' not in pages[2].text
    assert "page=3" in pages[1].text and "per_page=5" in pages[1].text  # Next keeps the filters

    r = client.get("/gallery/faces", headers=who, params={"subject": "PERSON_2"})
    assert r.status_code == 200 and len(data_faces(r.text)) == len(GALLERY_SHOTS)
    assert set(re.findall(r'class="subject">([^<]+)<', r.text)) == {"person_2"}
    r = client.get("/gallery/faces", headers=who, params={"labelled": "no"})
    assert r.status_code == 200 and data_faces(r.text) == [] and 'id="none"' in r.text
    r = client.get("/gallery/faces", headers=who, params={"subject": "person_%"})
    assert data_faces(r.text) == []  # % is a character, not a wildcard


def test_listings_as_json_and_each_page_is_a_logged_read(client: TestClient, home: Any) -> None:
    api = home.auth("inv1")
    r = client.get("/api/v1/faces", headers=api, params={"per_page": 10, "page": 3, "case": "K-2"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["total"], body["pages"], body["page"]) == (FACES, 3, 3)
    assert [f["id"] for f in body["items"]] == [21, 22, 23, 24]
    read = next(e for e in entries(client, home, "read") if e["seq"] == body["read"])
    assert read["case"] == "K-2" and read["payload"]["what"] == "gallery_page"
    assert read["payload"]["face_ids"] == [21, 22, 23, 24]

    r = client.get("/api/v1/images", headers=api, params={"subject": "person_5"})
    images = r.json()["items"]
    assert r.status_code == 200 and len(images) == len(GALLERY_SHOTS)
    assert all(i["subjects"] == ["person_5"] and i["faces"] == 1 for i in images)
    r = client.get("/api/v1/subjects", headers=api, params={"collection": "default"})
    subjects = r.json()["items"]
    assert [s["name"] for s in subjects] == [f"person_{p}" for p in range(PEOPLE)]
    assert all(s["faces"] == s["images"] == len(GALLERY_SHOTS) for s in subjects)
    r = client.get("/api/v1/images", headers=api, params={"labelled": "false"})
    assert r.status_code == 200 and r.json()["total"] == 0


def test_images_and_subjects_pages(client: TestClient, home: Any) -> None:
    who = html(home, "inv1")
    r = client.get("/gallery/images", headers=who, params={"per_page": 4})
    assert r.status_code == 200 and "page 1 of 6" in r.text
    assert re.findall(r'data-image="(\d+)"', r.text) == ["1", "2", "3", "4"]
    r = client.get("/gallery/subjects", headers=who)
    assert r.status_code == 200
    assert re.findall(r'data-subject="([^"]+)"', r.text) == [f"person_{p}" for p in range(PEOPLE)]

    r = client.get("/gallery/images/5", headers=who)
    assert r.status_code == 200 and data_faces(r.text) == [5]
    assert 'src="/api/v1/images/5/file"' in r.text and "<time datetime=" in r.text
    read = entries(client, home, "read")[-1]
    assert read["payload"] == {"what": "image", "image_id": 5}


def test_browsing_refuses_unknown_ids_bad_input_and_other_roles(
    client: TestClient, home: Any
) -> None:
    who = html(home, "inv1")
    for path in ("/gallery/images/999999", "/gallery/images/0", f"/gallery/images/{2**63}"):
        r = client.get(path, headers=who)
        assert r.status_code == 404, (path, r.status_code)
    r = client.get("/gallery/faces", headers=who, params={"collection": "nope"})
    assert r.status_code == 404 and "no collection named" in r.text
    r = client.get("/gallery/faces", headers=who, params={"page": 2})
    assert r.status_code == 404 and "there is 1 page" in r.text
    for params in ({"page": 0}, {"page": "two"}, {"per_page": 49}, {"labelled": "maybe"}):
        r = client.get("/gallery/faces", headers=who, params=params)
        assert r.status_code == 422, (params, r.status_code)
        r = client.get("/api/v1/faces", headers=home.auth("inv1"), params=params)
        assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_request", params
    r = client.get("/api/v1/faces", headers=home.auth("inv1"), params={"subject": "x" * 201})
    assert r.status_code == 422
    for path in ("/gallery/faces", "/gallery/images", "/gallery/subjects", "/gallery/images/1"):
        assert client.get(path, headers=html(home, "aud1")).status_code == 403, path
    assert client.get("/api/v1/subjects", headers=home.auth("aud1")).status_code == 403
    assert client.get("/api/v1/faces").status_code == 401


# --- erase by photo ----------------------------------------------------------------------------


def test_erase_by_photo_lists_what_will_go_then_erases_it(client: TestClient, home: Any) -> None:
    admin = html(home, "admin1")
    form = client.get("/gallery/forget", headers=admin)
    assert form.status_code == 200 and 'id="forget-form"' in form.text
    photo = {"photo": ("p2.png", face_photo(2, 7), PHOTO_TYPE)}
    erases_before = len(entries(client, home, "erase"))
    r = client.post("/gallery/forget", headers=admin, files=photo, data={"reason": "DSR-12"})
    assert r.status_code == 200, r.text
    listed = data_faces(r.text)
    person_2 = [
        f["id"]
        for f in client.get(
            "/api/v1/faces", headers=home.auth("admin1"), params={"subject": "person_2"}
        ).json()["items"]
    ]
    assert sorted(listed) == person_2 and len(listed) == len(GALLERY_SHOTS)
    assert 'id="erase-button"' in r.text and "DSR-12" in r.text
    assert len(entries(client, home, "erase")) == erases_before  # nothing erased yet
    (preview,) = [
        e for e in entries(client, home, "read") if e["payload"]["what"] == "erase_preview"
    ]
    assert sorted(preview["payload"]["face_ids"]) == person_2
    token = re.search(r'name="token" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]

    assert (
        client.post(
            "/gallery/forget/confirm",
            headers=html(home, "inv1"),
            data={"token": token, "reason": "x"},
        ).status_code
        == 403
    )  # investigators may not erase; the draft is untouched
    r = client.post(
        "/gallery/forget/confirm", headers=admin, data={"token": token, "reason": "DSR-12"}
    )
    assert r.status_code == 200, r.text
    assert f"Erased {len(GALLERY_SHOTS)} faces" in r.text and 'id="vector-report"' in r.text
    assert "vector store (files)" in r.text  # the lines forget prints
    (erase,) = entries(client, home, "erase")[erases_before:]
    assert erase["payload"]["reason"] == "DSR-12" and "like_sha256" in erase["payload"]["selector"]
    assert sorted(erase["payload"]["removed"]["faces"]) == person_2
    assert (
        client.get(f"/api/v1/faces/{person_2[0]}", headers=home.auth("admin1")).status_code == 404
    )

    again = client.post(
        "/gallery/forget/confirm", headers=admin, data={"token": token, "reason": "DSR-12"}
    )
    assert again.status_code == 404  # a draft is taken once
    assert len(entries(client, home, "erase")) == erases_before + 1


def test_erase_by_photo_refuses_bad_input_and_other_roles(client: TestClient, home: Any) -> None:
    admin = html(home, "admin1")
    photo = {"photo": ("p.png", face_photo(1, 7), PHOTO_TYPE)}
    r = client.post("/gallery/forget", headers=admin, files=photo, data={"reason": " "})
    assert r.status_code == 422 and "reason is required" in r.text
    r = client.post("/gallery/forget", headers=admin, data={"reason": "r"})
    assert r.status_code == 422 and 'role="alert"' in r.text
    for rate in ("abc", "0", "1.5", "nan"):
        r = client.post(
            "/gallery/forget", headers=admin, files=photo, data={"reason": "r", "max_fmr": rate}
        )
        assert r.status_code == 422 and "false match rate" in r.text, rate
    r = client.post("/gallery/forget/confirm", headers=admin, data={"token": "nope", "reason": "r"})
    assert r.status_code == 404
    r = client.post("/gallery/forget/confirm", headers=admin, data={"reason": "r"})
    assert r.status_code == 422
    for user in ("inv1", "aud1"):
        assert client.get("/gallery/forget", headers=html(home, user)).status_code == 403
        r = client.post(
            "/gallery/forget", headers=html(home, user), files=photo, data={"reason": "r"}
        )
        assert r.status_code == 403
    assert entries(client, home, "erase") == []


def test_erase_by_photo_needs_the_csrf_token_of_a_session(client: TestClient, home: Any) -> None:
    csrf = login(client, "admin1")
    photo = {"photo": ("p.png", face_photo(1, 7), PHOTO_TYPE)}
    r = client.post("/gallery/forget", headers=HTML, files=photo, data={"reason": "r"})
    assert r.status_code == 403
    r = client.post(
        "/gallery/forget", headers=HTML, files=photo, data={"reason": "r", "csrf_token": csrf}
    )
    assert r.status_code == 200 and len(data_faces(r.text)) == len(GALLERY_SHOTS)
    token = re.search(r'name="token" value="([^"]+)"', r.text).group(1)  # type: ignore[union-attr]
    r = client.post("/gallery/forget/confirm", headers=HTML, data={"token": token, "reason": "r"})
    assert r.status_code == 403 and entries(client, home, "erase") == []


# --- the search result page ---------------------------------------------------------------------


def test_each_candidate_card_has_one_short_false_match_rate_line(
    client: TestClient, home: Any
) -> None:
    r = client.post(
        "/api/v1/searches",
        headers=home.auth("inv1"),
        files={"image": ("probe.png", face_photo(4, 9), PHOTO_TYPE)},
        data={"case": "K-3", "purpose": "who is this"},
    )
    assert r.status_code == 201, r.text
    search = r.json()
    hits = search["faces"][0]["hits"]
    assert hits
    page = client.get(f"/searches/{search['id']}", headers=html(home, "inv1")).text
    card_line = (
        r'<div class="small muted fmr" title="([^"]+)">'
        r'<abbr title="false match rate">FMR</abbr> ([^<]+)</div>'
    )
    lines = re.findall(card_line, page)
    assert len(lines) == len(hits)
    for (title, line), hit in zip(lines, hits, strict=True):
        assert re.fullmatch(r"(?:≈|&lt;) 1 in [\d,]+|≥ 1 in 2", line)  # < as HTML writes it
        assert title.startswith(hit["fmr_words"])  # the full sentence, on hover only
    shown = re.sub(r'title="[^"]*"', "", page)
    assert "different people score this high" not in shown
    assert re.search(r'<time datetime="\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ">[^<]+ UTC</time>', page)
    candidate = client.get(
        f"/searches/{search['id']}/candidates/{hits[0]['face_id']}", headers=html(home, "inv1")
    )
    assert hits[0]["fmr_words"] in candidate.text  # the full sentence stays there


def _again_forms(page: str) -> dict[str, dict[str, str]]:
    """The forms of a refused preview that post to ``/gallery/forget/again``, by id, with the
    fields each sends."""
    forms = {}
    for form_id, body in re.findall(
        r'<form method="post" action="/gallery/forget/again" class="inline" id="([^"]+)">'
        r"(.*?)</form>",
        page,
        re.S,
    ):
        forms[form_id] = dict(
            re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', body)
        )
    return forms


def test_erase_by_photo_shows_the_strangers_and_refuses_past_the_limit(fake_homes: Any) -> None:
    """The preview says how many faces of other people match that well by chance; past
    FACESEARCH_ERASE_LIKE_MAX_STRANGERS it says why the erasure cannot be made and offers no
    erase button, and the API refuses the same erasure (422) with nothing erased."""
    home = fake_homes("analyst-ui-strict", erase_like_max_strangers=1e-3)
    app = create_app(home.settings, pipelines=FakePipeline)
    with TestClient(app, follow_redirects=False) as client:
        admin = html(home, "admin1")
        photo = {"photo": ("p2.png", face_photo(2, 7), PHOTO_TYPE)}
        r = client.post("/gallery/forget", headers=admin, files=photo, data={"reason": "DSR-15"})
        assert r.status_code == 200, r.text
        assert 'id="preview-strangers"' in r.text and f"Among the {FACES} faces" in r.text
        assert 'id="preview-refused"' in r.text and "give a false match rate of" in r.text
        assert 'id="erase-button"' not in r.text and "/gallery/forget/confirm" not in r.text
        again = _again_forms(r.text)
        assert set(again) == {"stricter-form", "another-form"}, "no way on at a rate that keeps"
        stricter = again["stricter-form"]
        assert stricter["reason"] == "DSR-15" and float(stricter["max_fmr"]) < 1e-4
        retry = client.post("/gallery/forget/again", headers=admin, data=stricter)  # no photo
        assert retry.status_code == 200, retry.text
        assert 'id="preview-refused"' not in retry.text and 'id="erase-button"' in retry.text
        assert "the same photo" in retry.text and 'name="reason" value="DSR-15"' in retry.text
        taken = client.post("/gallery/forget/again", headers=admin, data=stricter)
        assert taken.status_code == 404  # a held photo is taken once
        other = _again_forms(
            client.post(
                "/gallery/forget", headers=admin, files=photo, data={"reason": "DSR-15"}
            ).text
        )
        me = local_actor("tester")
        with AccountabilityStore.open(home.home) as store:
            store.accounts.add_user("admin2", "admin", PASSWORD, by=me)
            home.tokens["admin2"] = store.accounts.issue_token("admin2", by=me)
        admin2 = client.post(
            "/gallery/forget/again", headers=html(home, "admin2"), data=other["stricter-form"]
        )
        assert admin2.status_code == 404  # another admin cannot use this admin's photo
        fresh = client.post("/gallery/forget/again", headers=admin, data=other["another-form"])
        assert fresh.status_code == 200 and 'id="forget-form"' in fresh.text
        assert ">DSR-15</textarea>" in fresh.text  # the reason typed is kept
        api = client.post(
            "/api/v1/erasures",
            headers=home.auth("admin1"),
            data={"reason": "DSR-15"},
            files={"like": ("p2.png", face_photo(2, 7), PHOTO_TYPE)},
        )
        assert api.status_code == 422, api.text
        assert "faces of other people" in api.json()["error"]["message"]
        count = client.get("/api/v1/faces", headers=home.auth("admin1"), params={"limit": 1})
        assert count.json()["total"] == FACES
        # instead: tick the faces checked to be the person; they are erased by id
        listed = data_faces(r.text)
        assert 'id="select-form"' in r.text and len(re.findall('name="face_id"', r.text)) == len(
            listed
        )
        csrf = re.search(r'name="csrf_token" value="([^"]*)"', r.text)
        form = {"reason": "DSR-15", "csrf_token": csrf.group(1) if csrf else ""}
        none = client.post("/gallery/forget/selected", headers=admin, data=form)
        assert none.status_code == 422 and "tick the faces" in none.text
        bad = client.post(
            "/gallery/forget/selected", headers=admin, data={**form, "face_id": ["1", "x"]}
        )
        assert bad.status_code == 422 and "whole numbers" in bad.text
        many = client.post(  # within the form parser's 1,000 fields, past the 900 ticks
            "/gallery/forget/selected",
            headers=admin,
            data={**form, "face_id": [str(i) for i in range(1, 902)]},
        )
        assert many.status_code == 422 and "at most 900 faces at once" in many.text
        picked = listed[:2]
        done = client.post(
            "/gallery/forget/selected", headers=admin, data={**form, "face_id": picked}
        )
        assert done.status_code == 200, done.text
        assert 'id="erased"' in done.text and "not blocklisted" in done.text
        count = client.get("/api/v1/faces", headers=home.auth("admin1"), params={"limit": 1})
        assert count.json()["total"] == FACES - 2
        (entry,) = entries(client, home, "erase")
        assert sorted(entry["payload"]["removed"]["faces"]) == sorted(int(i) for i in picked)
        assert entry["payload"]["reason"] == "DSR-15"
    relaxed = fake_homes("analyst-ui-relaxed")
    with TestClient(create_app(relaxed.settings, pipelines=FakePipeline)) as client:
        r = client.post(
            "/gallery/forget", headers=html(relaxed, "admin1"), files=photo, data={"reason": "r"}
        )
        assert 'id="preview-strangers"' in r.text and 'id="preview-refused"' not in r.text
        assert 'id="erase-button"' in r.text


def _held_form(page: str) -> dict[str, str]:
    """The fields of the form that previews a photo still held after a failed preview."""
    found = re.search(
        r'<form method="post" action="/gallery/forget/again" class="inline" id="again-form">'
        r"(.*?)</form>",
        page,
        re.S,
    )
    assert found, "no way to preview the held photo again"
    return dict(re.findall(r'<input [^>]*name="([^"]+)"[^>]* value="([^"]*)"', found.group(1)))


def test_a_failed_preview_again_keeps_the_photo_held(fake_homes: Any) -> None:
    """The same photo previewed again at a rate the calibration cannot resolve, or at a rate
    that is not a number, is refused (422) with the photo still held: the page shows the error,
    a field for the rate and "choose another photo", and the photo previews at a rate that
    works without being chosen again."""
    home = fake_homes("analyst-ui-held", erase_like_max_strangers=1e-3)
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        admin = html(home, "admin1")
        photo = {"photo": ("p2.png", face_photo(2, 7), PHOTO_TYPE)}
        r = client.post("/gallery/forget", headers=admin, files=photo, data={"reason": "DSR-16"})
        stricter = _again_forms(r.text)["stricter-form"]
        below = client.post(
            "/gallery/forget/again", headers=admin, data={**stricter, "max_fmr": "1e-30"}
        )
        assert below.status_code == 422, below.text
        assert "below what this calibration can resolve" in below.text
        assert 'id="held"' in below.text and 'id="another-form"' in below.text
        held = _held_form(below.text)
        assert held["reason"] == "DSR-16" and held["max_fmr"] == "1e-30"
        assert held["token"] != stricter["token"]  # held again under a new token
        typo = client.post("/gallery/forget/again", headers=admin, data={**held, "max_fmr": "x"})
        assert typo.status_code == 422 and "false match rate" in typo.text
        held = _held_form(typo.text)
        again = client.post(
            "/gallery/forget/again",
            headers=admin,
            data={**held, "max_fmr": stricter["max_fmr"]},
        )
        assert again.status_code == 200, again.text
        assert 'id="erase-button"' in again.text and "the same photo" in again.text
        assert client.post("/gallery/forget/again", headers=admin, data=held).status_code == 404
        assert entries(client, home, "erase") == []


def test_a_first_preview_that_fails_holds_the_photo_too(fake_homes: Any) -> None:
    """The first preview of a photo, at a rate the calibration cannot resolve or without a
    reason, answered 422 with an empty form: the browser sends no file twice, so the admin
    chose the photo again. It is held as after a refused preview, and previews from there."""
    home = fake_homes("analyst-ui-held-first", erase_like_max_strangers=1e-3)
    with TestClient(create_app(home.settings, pipelines=FakePipeline)) as client:
        admin = html(home, "admin1")
        photo = {"photo": ("p2.png", face_photo(2, 7), PHOTO_TYPE)}
        for data in ({"reason": "DSR-17", "max_fmr": "1e-30"}, {"reason": "", "max_fmr": ""}):
            r = client.post("/gallery/forget", headers=admin, files=photo, data=data)
            assert r.status_code == 422, r.text
            assert 'id="held"' in r.text and 'id="another-form"' in r.text
            assert 'The photo <span class="mono">p2.png</span> is still held' in r.text
        held = _held_form(r.text)
        again = client.post(
            "/gallery/forget/again", headers=admin, data={**held, "reason": "DSR-17"}
        )
        assert again.status_code == 200 and "the same photo" in again.text
        no_photo = client.post("/gallery/forget", headers=admin, data={"reason": "DSR-17"})
        assert no_photo.status_code == 422 and 'id="held"' not in no_photo.text
        assert entries(client, home, "erase") == []
