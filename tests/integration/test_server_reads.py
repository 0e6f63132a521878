"""Reads of personal data through a real uvicorn server: scoped to who may see them, each one
an audit entry, rate-limited per user; failed searches logged; erased candidates refused; no
server paths in the API's answers."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image, ImageFilter

from facesearch.accountability import AccountabilityStore, local_actor
from facesearch.app.training_course import QUIZ

pytestmark = pytest.mark.lfw

READ_LIMIT = 60
CASE = "K-READ-1"


@pytest.fixture(scope="module")
def home(server_home: Any) -> Any:
    return server_home("reads", server_read_rate_limit=READ_LIMIT)


class Clock:
    """The read limiter's clock: real time, until a test stops it (``frozen``): then no
    bucket refills, whatever the speed of the machine."""

    def __init__(self) -> None:
        self.frozen: float | None = None

    def __call__(self) -> float:
        return time.monotonic() if self.frozen is None else self.frozen


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def url(home: Any, serve: Any, clock: Clock) -> Iterator[str]:
    from facesearch.server import app as app_module
    from facesearch.server.limits import RateLimiter

    def limiter(per_minute: int) -> RateLimiter:
        return RateLimiter(per_minute, clock=clock)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(app_module, "RateLimiter", limiter)  # taken when the server starts
        with serve(home.settings) as base:
            mp.undo()
            yield base


def new_user(api: httpx.Client, home: Any, name: str) -> dict[str, str]:
    """A fresh investigator (a full read budget of its own) and its auth header."""
    admin = home.auth("admin1")
    r = api.post(
        "/api/v1/users",
        headers=admin,
        data={"name": name, "role": "investigator", "password": "correct-horse-battery"},
    )
    assert r.status_code == 201, r.text
    with AccountabilityStore.open(home.home) as store:  # on the host: a user's own token
        token = store.accounts.issue_token(name, by=local_actor("tester"))
    auth = {"Authorization": f"Bearer {token}"}
    right = {f"q{n}": str(q.answer) for n, q in enumerate(QUIZ, 1)}
    r = api.post("/api/v1/training/quiz", headers=auth, data=right)  # trained before searching
    assert r.status_code == 200 and r.json()["passed"], r.text
    return auth


@pytest.fixture(scope="module")
def api(url: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=url, timeout=120) as client:
        yield client


def search(
    api: httpx.Client,
    home: Any,
    data: bytes,
    user: str = "inv1",
    auth: dict[str, str] | None = None,
    **form: Any,
) -> Any:
    fields = {"case": CASE, "purpose": "reads are scoped", **form}
    return api.post(
        "/api/v1/searches",
        headers=auth or home.auth(user),
        files={"image": ("probe.jpg", data, "image/jpeg")},
        data=fields,
    )


def best(body: dict[str, Any]) -> dict[str, Any]:
    cands = [c for f in body["faces"] for c in f["hits"] if not c["erased"]]
    return max(cands, key=lambda c: c["similarity"])


def entries_after(api: httpx.Client, home: Any, seq: int, **filters: str) -> list[dict[str, Any]]:
    """Audit entries after ``seq`` that match the filters, in order."""
    out: list[dict[str, Any]] = []
    while True:
        params = {"limit": 1000, "offset": len(out), **filters}
        r = api.get("/api/v1/audit", headers=home.auth("aud1"), params=params)
        assert r.status_code == 200, r.text
        items = r.json()["items"]
        out += items
        if len(items) < 1000:
            return [e for e in out if e["seq"] > seq]


def head(api: httpx.Client, home: Any) -> int:
    return int(api.get("/api/v1/audit/head", headers=home.auth("aud1")).json()["seq"])


def blurred(path: Path) -> bytes:
    out = io.BytesIO()
    Image.open(path).filter(ImageFilter.GaussianBlur(4)).save(out, "JPEG")
    return out.getvalue()


def sky() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (160, 120), (100, 150, 220)).save(out, "JPEG")
    return out.getvalue()


def test_a_search_and_its_probe_are_seen_only_by_author_reviewers_admins(
    api: httpx.Client, home: Any, probe_photo: Any
) -> None:
    r = search(api, home, probe_photo("Colin_Powell").read_bytes())
    assert r.status_code == 201, r.text
    body = r.json()
    sid, top, pface = body["id"], best(body), body["faces"][0]["face"]
    fid = top["face_id"]
    start = head(api, home)
    api_paths = [
        f"/api/v1/searches/{sid}",
        f"/api/v1/searches/{sid}/probe",
        f"/api/v1/searches/{sid}/probe/faces/{pface}/crop",
        f"/api/v1/searches/{sid}/candidates/{fid}",
    ]
    pages = [f"/searches/{sid}", f"/searches/{sid}/candidates/{fid}"]
    missing = sid + 100_000
    for path in api_paths + pages:
        hidden = api.get(path, headers=home.auth("inv2"))
        absent = api.get(path.replace(f"/{sid}", f"/{missing}", 1), headers=home.auth("inv2"))
        assert hidden.status_code == 404, (path, hidden.status_code)
        # the same answer as for an id that does not exist: no existence oracle
        assert hidden.json() == {
            "error": {
                **absent.json()["error"],
                "message": absent.json()["error"]["message"].replace(str(missing), str(sid)),
            }
        }
        for user in ("inv1", "admin1"):
            assert api.get(path, headers=home.auth(user)).status_code == 200, (path, user)
    decide = f"/api/v1/searches/{sid}/candidates/{fid}/decisions"
    r = api.post(decide, headers=home.auth("inv2"), data={"verdict": "rejected"})
    assert r.status_code == 404
    assert entries_after(api, home, start, actor="inv2") == []  # nothing was read

    reads = entries_after(api, home, start, action="read")
    seen = {(e["actor"], e["payload"]["what"]) for e in reads}
    for user in ("inv1", "admin1"):
        for what in ("search", "candidate", "search_page", "candidate_page"):
            assert (user, what) in seen, (user, what)
    # the probe and its crops are part of the search read (the search's entry names them)
    assert not {what for _, what in seen} & {"probe", "probe_crop"}
    assert all(e["case"] == CASE and e["payload"]["search"] == sid for e in reads)
    assert {e["payload"].get("face_id") for e in reads if "candidate" in e["payload"]["what"]} == {
        fid
    }

    # a possible match asks every other reviewer to confirm: now inv2 may see the search
    assert api.post(
        decide, headers=home.auth("inv1"), data={"verdict": "possible_match"}
    ).is_success
    assert api.get(f"/api/v1/searches/{sid}", headers=home.auth("inv2")).status_code == 200
    r = api.post(decide, headers=home.auth("inv2"), data={"verdict": "possible_match"})
    assert r.status_code == 201 and r.json()["status"] == "confirmed"
    # and having decided, inv2 still may
    assert api.get(f"/api/v1/searches/{sid}/probe", headers=home.auth("inv2")).status_code == 200
    # auditors may read searches too (oversight), each read logged like anyone's
    mark = head(api, home)
    assert api.get(f"/api/v1/searches/{sid}", headers=home.auth("aud1")).status_code == 200
    (read,) = entries_after(api, home, mark, action="read", actor="aud1")
    assert read["payload"]["what"] == "search" and read["payload"]["search"] == sid
    # ... with the candidates' images the result page shows them, but not the gallery at large
    aud = home.auth("aud1")
    assert api.get(f"/api/v1/faces/{fid}/crop?search={sid}", headers=aud).status_code == 200
    assert api.get(f"/api/v1/images/{top['image_id']}/file?search={sid}", headers=aud).is_success
    assert api.get(f"/api/v1/faces/{fid}/crop", headers=aud).status_code == 403


def test_gallery_reads_are_logged_with_their_case(
    api: httpx.Client, home: Any, probe_photo: Any
) -> None:
    body = search(api, home, probe_photo("Hugo_Chavez").read_bytes()).json()
    cand = best(body)
    start = head(api, home)
    inv = home.auth("inv1")
    assert api.get(cand["links"]["crop"], headers=inv).status_code == 200
    assert api.get(cand["links"]["image"], headers=inv).status_code == 200
    r = api.get(f"/api/v1/faces/{cand['face_id']}/crop", headers=inv, params={"case": "K-G-9"})
    assert r.status_code == 200
    assert api.get(f"/api/v1/images/{cand['image_id']}", headers=inv).status_code == 200
    assert api.get(f"/api/v1/faces/{cand['face_id']}", headers=inv).status_code == 200
    assert api.get("/api/v1/subjects/Hugo_Chavez", headers=inv).status_code == 200
    got = [
        (e["payload"]["what"], e["case"], e["payload"].get("search"))
        for e in entries_after(api, home, start, action="read", actor="inv1")
    ]
    # a candidate's crop and image, reached from its search (links carry ?search=ID), are
    # part of the read of that search; gallery reads without it are one read each
    assert got == [
        ("face_crop", "K-G-9", None),
        ("image", None, None),
        ("face", None, None),
        ("subject", None, None),
    ]
    # a search link for a face that is not its candidate is refused
    listed = {c["face_id"] for f in body["faces"] for c in f["hits"]}
    stranger = min(set(range(1, 1000)) - listed)
    other = api.get(f"/api/v1/faces/{stranger}/crop", headers=inv, params={"search": body["id"]})
    assert other.status_code == 404, other.text
    image = api.get("/api/v1/images/999999/file", headers=inv, params={"search": body["id"]})
    assert image.status_code == 404, image.text


def test_a_search_page_and_its_images_are_one_read(
    api: httpx.Client, home: Any, probe_photo: Any, clock: Clock
) -> None:
    reader = new_user(api, home, "viewer1")
    body = search(
        api, home, probe_photo("Tony_Blair").read_bytes(), auth=reader, top=100, threshold=-1
    )
    assert body.status_code == 201, body.text
    sid = body.json()["id"]
    listed = sorted(c["face_id"] for f in body.json()["faces"] for c in f["hits"])
    assert len(listed) > READ_LIMIT // 3  # more candidates than a view's share of the budget
    start = head(api, home)
    clock.frozen = time.monotonic()  # no refill: every token a view takes is gone
    try:
        views = 4
        for _ in range(views):
            page = api.get(f"/searches/{sid}", headers=reader)
            assert page.status_code == 200
            srcs = re.findall(r'<img src="([^"]+)"', page.text)
            assert len(srcs) >= len(listed)
            for src in srcs:
                r = api.get(src.replace("&amp;", "&"), headers=reader)
                assert r.status_code == 200, (src, r.status_code)
        for _ in range(views):
            assert api.get(f"/api/v1/searches/{sid}", headers=reader).status_code == 200
        reads = entries_after(api, home, start, action="read", actor="viewer1")
        assert [e["payload"]["what"] for e in reads] == ["search_page"] * views + ["search"] * views
        for e in reads:
            assert e["payload"]["search"] == sid and e["case"] == CASE
            assert sorted(e["payload"]["face_ids"]) == listed
        # the views took 2 * views of the budget; the rest is there
        left = READ_LIMIT - 2 * views
        for n in range(left):
            r = api.get(f"/api/v1/faces/{listed[n % len(listed)]}", headers=reader)
            assert r.status_code == 200, (n, r.text)
        assert api.get(f"/api/v1/faces/{listed[0]}", headers=reader).status_code == 429
        # covered reads are still checked: a face that is not a candidate is refused
        stranger = min(set(range(1, 1000)) - set(listed))
        r = api.get(f"/api/v1/faces/{stranger}/crop", headers=reader, params={"search": sid})
        assert r.status_code == 404
        # and another user's search stays hidden, with or without budget
        other = search(api, home, probe_photo("Tony_Blair").read_bytes(), user="inv1").json()
        r = api.get(
            f"/api/v1/faces/{other['faces'][0]['hits'][0]['face_id']}/crop",
            headers=reader,
            params={"search": other["id"]},
        )
        assert r.status_code == 404
        assert api.get(f"/api/v1/searches/{other['id']}/probe", headers=reader).status_code == 404
    finally:
        clock.frozen = None


def test_api_answers_hold_no_server_paths(
    api: httpx.Client, home: Any, probe_photo: Any, settings: Any
) -> None:
    body = search(api, home, probe_photo("Ariel_Sharon").read_bytes())
    cand = best(body.json())
    inv = home.auth("inv1")
    answers = [
        body.text,
        api.get(f"/api/v1/searches/{body.json()['id']}", headers=inv).text,
        api.get(f"/api/v1/faces/{cand['face_id']}", headers=inv).text,
        api.get(f"/api/v1/images/{cand['image_id']}", headers=inv).text,
        api.get("/api/v1/subjects/Ariel_Sharon", headers=inv).text,
        api.get(
            f"/api/v1/searches/{body.json()['id']}/candidates/{cand['face_id']}", headers=inv
        ).text,
    ]
    lfw_root = str(Path(settings.lfw_dir).resolve())
    for text in answers:
        assert str(home.home) not in text and "/tmp/" not in text and lfw_root not in text
    image = api.get(f"/api/v1/images/{cand['image_id']}", headers=inv).json()
    assert re.fullmatch(r"Ariel_Sharon_000\d\.jpg", image["source"]), image["source"]
    assert cand["image_path"] == image["source"]  # a search's hit names its file the same way


def test_failed_searches_are_logged(
    api: httpx.Client, home: Any, probe_photo: Any, url: str
) -> None:
    start = head(api, home)
    attempts = {
        "no_face": sky(),
        "poor_probe": blurred(probe_photo("Tony_Blair")),
        "corrupt_image": probe_photo("Tony_Blair").read_bytes()[:300],
        "unsupported_media_type": b"just some text, not a picture",
    }
    for outcome, data in attempts.items():
        r = search(api, home, data, case=f"K-F-{outcome}")
        assert r.status_code in (415, 422), r.text
        assert r.json()["error"]["code"] == outcome
    logged = entries_after(api, home, start, action="search", actor="inv1")
    assert [(e["case"], e["payload"]["outcome"]) for e in logged] == [
        (f"K-F-{o}", o) for o in attempts
    ]
    for e in logged:
        assert e["payload"]["candidates"] == [] and e["payload"]["error"]
        assert e["purpose"] == "reads are scoped"

    # and through the web UI
    from test_server_api import _hidden, login

    with httpx.Client(base_url=url, timeout=120) as browser:
        assert login(browser, "inv2", "correct-horse-battery").status_code == 303
        csrf = _hidden(browser.get("/search").text, "csrf_token")
        mark = head(api, home)
        r = browser.post(
            "/search",
            files={"photo": ("sky.jpg", sky(), "image/jpeg")},
            data={"case": "K-UI", "purpose": "ui attempt", "csrf_token": csrf},
        )
        assert r.status_code == 422 and "no face" in r.text.lower()
        r = browser.post(  # the form sent without a photo
            "/search", data={"case": "K-UI-2", "purpose": "ui attempt", "csrf_token": csrf}
        )
        assert r.status_code == 422
        ui = entries_after(api, home, mark, action="search", actor="inv2")
        assert [(e["case"], e["payload"]["outcome"]) for e in ui] == [
            ("K-UI", "no_face"),
            ("K-UI-2", "bad_input"),
        ]
        assert ui[1]["payload"]["probe_sha256"] is None
        # a failed search is shown to its author as what it is
        for e in ui:
            page = browser.get(f"/searches/{e['seq']}")
            assert page.status_code == 200 and "failed" in page.text, page.text
        recent = browser.get("/search").text
        assert "failed (no face)" in recent


def test_an_erased_candidate_cannot_be_decided(
    api: httpx.Client, home: Any, probe_photo: Any
) -> None:
    body = search(api, home, probe_photo("Serena_Williams").read_bytes()).json()
    cands = sorted((c for f in body["faces"] for c in f["hits"]), key=lambda c: -c["similarity"])
    first, second = cands[0]["face_id"], cands[1]["face_id"]
    decide = "/api/v1/searches/{}/candidates/{}/decisions"
    r = api.post(
        decide.format(body["id"], second),
        headers=home.auth("inv1"),
        data={"verdict": "possible_match"},
    )
    assert r.status_code == 201
    r = api.post(
        "/api/v1/erasures",
        headers=home.auth("admin1"),
        data={"face_id": [str(first), str(second)], "reason": "DSR erasure test"},
    )
    assert r.status_code == 201, r.text
    before = head(api, home)
    for fid, user in ((first, "inv1"), (second, "inv2")):  # a first verdict, a confirmation
        r = api.post(
            decide.format(body["id"], fid),
            headers=home.auth(user),
            data={"verdict": "possible_match"},
        )
        assert r.status_code == 409, r.text
        assert r.json()["error"]["code"] == "erased"
    assert entries_after(api, home, before, action="decision") == []
    shown = api.get(f"/api/v1/searches/{body['id']}", headers=home.auth("inv1")).json()
    assert {c["face_id"] for f in shown["faces"] for c in f["hits"] if c["erased"]} >= {
        first,
        second,
    }


def test_bulk_reads_are_rate_limited_per_user(api: httpx.Client, home: Any, clock: Clock) -> None:
    reader = new_user(api, home, "bulk1")
    start = head(api, home)
    clock.frozen = time.monotonic()  # no refill while it runs, however slow the machine
    try:
        answers = [
            api.get(f"/api/v1/images/{(n % 30) + 1}/file", headers=reader)
            for n in range(READ_LIMIT + 10)
        ]
        codes = [r.status_code for r in answers]
        # a full bucket serves READ_LIMIT reads at once; then 429
        assert codes == [200] * READ_LIMIT + [429] * 10, codes
        limited = answers[-1]
        assert limited.json()["error"]["code"] == "rate_limited"
        assert int(limited.headers["retry-after"]) == 60 // READ_LIMIT
        # another user is not held back
        assert api.get("/api/v1/images/1/file", headers=home.auth("admin1")).status_code == 200
    finally:
        clock.frozen = None
    served = entries_after(api, home, start, action="read", actor="bulk1")
    assert len(served) == READ_LIMIT  # refused reads are not logged
    assert all(e["payload"]["what"] == "image_file" for e in served)


def test_failed_verifications_are_logged(api: httpx.Client, home: Any, probe_photo: Any) -> None:
    """Second attack pass: a verification whose photo had no face, or was not an image, left
    no audit entry; every attempt is logged with its outcome, a success as 'ok'."""
    face = probe_photo("Tony_Blair").read_bytes()
    start = head(api, home)
    attempts = {
        "ok": face,
        "no_face": sky(),
        "unsupported_media_type": b"just some text, not a picture",
    }
    for outcome, other in attempts.items():
        r = api.post(
            "/api/v1/verifications",
            headers=home.auth("inv1"),
            files={"a": ("a.jpg", face, "image/jpeg"), "b": ("b.jpg", other, "image/jpeg")},
            data={"case": f"K-V-{outcome}", "purpose": "verify attempts"},
        )
        if outcome == "ok":
            assert r.status_code == 201, r.text
        else:
            assert r.status_code in (415, 422) and r.json()["error"]["code"] == outcome, r.text
    logged = entries_after(api, home, start, action="verify", actor="inv1")
    assert [(e["case"], e["payload"]["outcome"]) for e in logged] == [
        (f"K-V-{o}", o) for o in attempts
    ]
    assert all(e["payload"].get("error") for e in logged[1:])


def test_a_purpose_typed_on_two_lines_is_searched_and_logged(
    api: httpx.Client, home: Any, probe_photo: Any
) -> None:
    """Third attack pass: a textarea's line break arrives as CRLF; the search ran, then its
    audit entry was refused and the user saw 'purpose contains control characters'."""
    start = head(api, home)
    r = search(
        api,
        home,
        probe_photo("Tony_Blair").read_bytes(),
        case="K-CRLF",
        purpose="robbery at the station\r\nsuspect seen on CCTV",
    )
    assert r.status_code == 201, r.text
    (entry,) = entries_after(api, home, start, action="search", actor="inv1")
    assert entry["purpose"] == "robbery at the station\nsuspect seen on CCTV"
