"""The cross-tenant matrix, continued: paths the route-by-route matrix (test_cross_tenant.py,
test_cross_tenant_forms.py) does not reach, each found leaking once: what an erasure says of
the gallery it searched, a search of a collection whose share was withdrawn since, the
gallery size the training course works with, and a kept probe photo both organisations
searched. The two organisations: cross_tenant_world.py (a world of its own for this module:
these tests change it).
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

import pytest
from tests.fakes import person_name
from tests.integration.cross_tenant_table import HTML, leaked, login
from tests.integration.cross_tenant_world import Tenant, World, png, world

from facesearch.errors import NotFoundError

__all__ = ["world"]  # the fixture


def _ingested(world: World, tenant: Tenant, person: int, shot: int) -> None:
    """A photo of ``person`` added to ``tenant``'s collection by its admin (an ingest job)."""
    client = world.client
    started = client.post(
        "/api/v1/ingest-jobs",
        headers=tenant.auth("admin"),
        files={"files": png(person, shot)},
        data={"collection": tenant.collection, "subject": person_name(person)},
    )
    assert started.status_code == 202, started.text
    job = f"/api/v1/ingest-jobs/{started.json()['id']}"
    deadline = time.monotonic() + 30
    while (done := client.get(job, headers=tenant.auth("admin")).json())["finished"] is None:
        assert time.monotonic() < deadline, "the ingest job did not finish"
        time.sleep(0.05)
    assert done["error"] is None, done


def test_an_erasure_like_a_photo_counts_only_its_own_gallery(world: World) -> None:
    """An erasure like a photo says how many faces it searched and how many strangers a
    gallery of that size holds at its threshold: for B's admin, B's own faces (those it
    searches), never a count that holds A's (nor the ``default`` organisation's)."""
    b, client = world.b, world.client
    _ingested(world, b, 8, 1)  # person 8: in no collection until now; erased below
    own = client.get(f"/api/v1/collections/{b.collection}", headers=b.auth("admin")).json()
    erased = client.post(
        "/api/v1/erasures",
        headers=b.auth("admin"),
        data={"reason": "cross-tenant count", "case": b.case},
        files={"like": png(8, 9)},
    )
    assert erased.status_code == 201, erased.text
    body = erased.json()
    assert body["faces_removed"] == 1, body
    assert body["like"]["gallery_faces"] == own["faces"], (body["like"], own)
    entry = client.get(f"/api/v1/audit/{body['id']}", headers=b.auth("aud")).json()
    assert entry["payload"]["like"]["gallery_faces"] == own["faces"], entry["payload"]["like"]


def _hits(search: dict[str, Any]) -> list[dict[str, Any]]:
    return [h for f in search["faces"] for h in f["hits"]]


def _shown(text: str, a: Tenant) -> list[str]:
    """A's names in ``text`` but the name of its collection, which B's search logged among
    the collections it searched when it ran (that record stays as it was)."""
    return leaked(text.replace(a.collection, ""), a)


def test_a_search_of_a_share_withdrawn_since_shows_nothing_of_it_now(world: World) -> None:
    """B searched A's collection while A shared it; once A withdraws the share, B's search
    (its record, page, candidates, their crops and files, persons, the case report) shows
    A's candidates as it shows erased ones: nothing of A's gallery as it is now (subjects,
    image names, crops, persons), no verdict on them. What B's search logged when it ran
    (the collections searched, face ids and scores) stays as logged."""
    a, b, client = world.a, world.b, world.client
    share = f"/api/v1/collections/{a.collection}/shares/{b.org}"
    assert client.put(share, headers=a.auth("admin")).status_code == 200
    try:
        found = client.post(
            "/api/v1/searches",
            headers=b.auth("inv1"),
            files={"image": png(a.people[0], 7)},
            data={"case": b.case, "purpose": "a shared collection"},
        )
        assert found.status_code == 201, found.text
    finally:
        assert client.delete(share, headers=a.auth("admin")).status_code == 200
    search = found.json()
    theirs = [h for h in _hits(search) if h["collection"] == a.collection]
    assert theirs and theirs[0]["subject"] == a.subject, "B's search found none of A's shared faces"
    seq, face = search["id"], theirs[0]["face_id"]
    image = theirs[0]["image_id"]
    inv, admin = b.auth("inv1"), b.auth("admin")
    wrong = []
    now = client.get(f"/api/v1/searches/{seq}", headers=inv).json()
    for hit in _hits(now):
        if hit["face_id"] in {h["face_id"] for h in theirs}:
            shown = {k: hit[k] for k in ("erased", "subject", "collection", "image_path", "person")}
            if shown != {
                "erased": True,
                "subject": None,
                "collection": None,
                "image_path": None,
                "person": None,
            }:
                wrong.append(f"search {seq}: A's face {hit['face_id']} shows {shown}")
            if "crop" in hit["links"] or "image" in hit["links"]:
                wrong.append(f"search {seq}: A's face {hit['face_id']} links {hit['links']}")
    for path, headers in (
        (f"/api/v1/searches/{seq}", inv),
        (f"/api/v1/searches/{seq}", admin),
        (f"/api/v1/searches/{seq}/candidates/{face}", inv),
    ):
        r = client.get(path, headers=headers)
        if r.status_code != 200 or (names := _shown(r.text, a)):
            wrong.append(f"GET {path}: {r.status_code} {names if r.status_code == 200 else []}")
    for path in (f"/api/v1/faces/{face}/crop", f"/api/v1/images/{image}/file"):
        r = client.get(path, headers=inv, params={"search": seq})
        if r.status_code != 404:
            wrong.append(f"GET {path}?search={seq}: {r.status_code} (an erased face: 404)")
    verdict = client.post(
        f"/api/v1/searches/{seq}/candidates/{face}/decisions",
        headers=inv,
        data={"verdict": "possible_match"},
    )
    if verdict.status_code != 409:
        wrong.append(f"a verdict on A's face: {verdict.status_code} (an erased face: 409)")
    csrf = login(client, b.user("inv1"))
    try:
        for path in (f"/searches/{seq}", f"/searches/{seq}/candidates/{face}"):
            page = client.get(path, headers=HTML)
            names = _shown(page.text, a)
            crops = re.findall(rf"/faces/{face}/crop", page.text)
            if page.status_code != 200 or names or crops:
                wrong.append(f"GET {path}: {page.status_code} {names} {crops}")
        assert csrf
    finally:
        client.cookies.clear()
    login(client, b.user("admin"))
    try:
        report = client.get(f"/cases/{b.case}/report", headers=HTML)
        names = _shown(report.text, a)
        if report.status_code != 200 or names:
            wrong.append(f"the report of case {b.case}: {report.status_code} {names}")
    finally:
        client.cookies.clear()
    assert not wrong, "\n".join(wrong)


def test_the_training_course_counts_only_the_faces_b_searches(world: World) -> None:
    """The training page works out the strangers a search expects at "this gallery's size":
    for B's users, the faces B's searches compare against (its own collections and those
    shared with it), never the deployment's count, which holds A's faces."""
    b, client = world.b, world.client
    seen = client.get("/api/v1/stats", headers=b.auth("admin")).json()["faces"]
    wrong = []
    try:
        for role in ("inv1", "aud"):
            login(client, b.user(role))
            page = client.get("/training", headers=HTML)
            assert page.status_code == 200, page.text
            said = re.search(r"This gallery holds ([\d,]+) faces", page.text)
            assert said is not None, "the course no longer says the gallery's size"
            if int(said.group(1).replace(",", "")) != seen:
                wrong.append(f"B's {role}: the course says {said.group(1)} faces, B sees {seen}")
    finally:
        client.cookies.clear()
    assert not wrong, "\n".join(wrong)


def test_b_s_erasure_of_a_probe_a_searched_too_tells_b_nothing_of_a(world: World) -> None:
    """Kept probe photos are stored by their sha256, so a photo both A and B searched is one
    stored probe. B's erasure like that person deleted B's kept probes of it but kept (for
    A's record) the one A searched too, and said so: its count left it out and B's search
    still showed it; B learnt that another organisation had searched that very photo. Now
    B's erasure takes it from B alike (counted, and B's search no longer shows it), whether
    or not A searched it; A's search keeps its probe."""
    a, b, client = world.a, world.b, world.client
    _ingested(world, b, 7, 1)  # person 7: in B's collection only
    use = {"purpose": "a probe both searched"}
    searched = {}
    for who, shot in ((b, 3), (b, 4), (a, 3)):  # A searches B's first photo of person 7 too
        r = client.post(
            "/api/v1/searches",
            headers=who.auth("inv1"),
            files={"image": png(7, shot)},
            data={**use, "case": who.case},
        )
        assert r.status_code == 201, r.text
        searched[(who.org, shot)] = r.json()["id"]
    probe = "/api/v1/searches/{}/probe"
    for (org, _), seq in searched.items():
        tenant = a if org == a.org else b
        assert client.get(probe.format(seq), headers=tenant.auth("inv1")).status_code == 200
    erased = client.post(
        "/api/v1/erasures",
        headers=b.auth("admin"),
        data={"reason": "person 7 asked", "case": b.case},
        files={"like": png(7, 9)},
    )
    assert erased.status_code == 201, erased.text
    wrong = []
    if erased.json()["probes_deleted"] != 2:
        wrong.append(f"B's erasure deleted {erased.json()['probes_deleted']} of B's 2 probes")
    for shot in (3, 4):
        seq = searched[(b.org, shot)]
        r = client.get(probe.format(seq), headers=b.auth("inv1"))
        if r.status_code != 404:
            wrong.append(f"B's search {seq} (shot {shot}) still shows its probe: {r.status_code}")
        page = client.get(f"/api/v1/searches/{seq}", headers=b.auth("inv1")).json()
        if page["probe_kept"]:
            wrong.append(f"B's search {seq} (shot {shot}) says its probe is kept")
    mine = client.get(probe.format(searched[(a.org, 3)]), headers=a.auth("inv1"))
    assert mine.status_code == 200, "A's search lost its probe to B's erasure"
    assert not wrong, "\n".join(wrong)


def test_b_s_failed_search_of_a_photo_a_keeps_shows_b_no_probe(world: World) -> None:
    """A failed search names its photo by sha256 but keeps no bytes. Its entry says no end of
    retention, which reads as "kept" for entries from before retention was written, so B's
    failed search of a photo A had searched served the bytes A keeps: B learnt that another
    organisation keeps that very photo. A failed search never has a kept probe."""
    a, b, client = world.a, world.b, world.client
    kept = client.post(
        "/api/v1/searches",
        headers=a.auth("inv1"),
        files={"image": png(8, 3)},
        data={"purpose": "a keeps it", "case": a.case},
    )
    assert kept.status_code == 201, kept.text
    failed = client.post(
        "/api/v1/searches",
        headers=b.auth("inv1"),
        files={"image": png(8, 3)},
        data={"purpose": "b fails", "case": b.case, "face": "9"},  # no face 9 in the photo
    )
    assert failed.status_code == 422, failed.text
    (entry,) = client.get(
        "/api/v1/audit",
        headers=b.auth("admin"),
        params={"action": "search", "order": "newest", "limit": 1},
    ).json()["items"]
    assert entry["payload"]["outcome"] != "ok" and entry["payload"]["probe_sha256"]
    probe = client.get(f"/api/v1/searches/{entry['seq']}/probe", headers=b.auth("inv1"))
    assert probe.status_code == 404, probe.status_code
    shown = client.get(f"/api/v1/searches/{entry['seq']}", headers=b.auth("inv1"))
    assert shown.status_code == 200 and shown.json()["probe_kept"] is False


def test_b_s_failed_search_neither_counts_in_b_s_erasure_nor_keeps_a_s_bytes(
    world: World,
) -> None:
    """A failed search names its photo by sha256 and keeps no bytes, yet it counted as
    keeping them: B's erasure like the person counted A's kept photo among B's deleted probes
    (B learnt that someone keeps it), and A's erasure left the bytes stored for B's failed
    search. Only a search that ran keeps its probe."""
    a, b, client = world.a, world.b, world.client
    photo = png(10, 3)
    kept = client.post(
        "/api/v1/searches",
        headers=a.auth("inv1"),
        files={"image": photo},
        data={"purpose": "a keeps it", "case": a.case},
    )
    assert kept.status_code == 201, kept.text
    failed = client.post(
        "/api/v1/searches",
        headers=b.auth("inv1"),
        files={"image": photo},
        data={"purpose": "b fails", "case": b.case, "face": "9"},
    )
    assert failed.status_code == 422, failed.text

    def erase_like(tenant: Any) -> Any:
        r = client.post(
            "/api/v1/erasures",
            headers=tenant.auth("admin"),
            data={"reason": "person 10 asked", "case": tenant.case},
            files={"like": png(10, 9)},
        )
        assert r.status_code == 201, r.text
        return r.json()

    assert erase_like(b)["probes_deleted"] == 0
    assert erase_like(a)["probes_deleted"] == 1
    store = client.app.state.ctx.store  # type: ignore[attr-defined]
    with pytest.raises(NotFoundError):
        store.probes.get(hashlib.sha256(photo[1]).hexdigest())
